r"""Small random networks over architectures, with a batch and labels: :func:`modules`.

A statement about "any network" is usually checked on MLPs alone; :func:`modules` draws the families
researchers train — an MLP, a CNN (conv layers then a linear head), a residual network with LayerNorm
(pre-norm blocks :math:`h + W_2\,\sigma(W_1\,\mathrm{LN}(h))`), and a self-attention layer (with a
residual, mean-pooled, then a linear head) — as :class:`~verify.strategies.ModuleCase` values: the spec and
the parameters, never a pickled module, so a counterexample replays from its JSON.

Boundary cases are drawn on purpose: one network in three has a width, channel count or model dimension
forced to 1; one in four has a weight array that is exactly zero and one in four a rank-one one; each
parameter array has its own scale from :data:`~verify.strategies.SCALE_LADDER` (tiny ``1e-4`` to large
``1e3``); one batch in six has one example. Everything shrinks toward the first architecture
(``mlp``), one layer, width 1, the first activation, one example and small-integer entries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from verify.strategies._module_case import (
    ARCHITECTURES,
    MODULE_ACTIVATIONS,
    ModuleCase,
    input_shape,
    parameter_shapes,
)
from verify.strategies.arrays import (
    _choices,
    _draw_matrix,
    _favour_low,
    _int_range,
    _positive_float,
    _sampled,
    _uniform_int,
    scales,
    unit_arrays,
)

__all__ = ["modules"]

#: The structure of the one special weight array of a network, weighted by repetition.
_SPECIALS = ("generic", "generic", "rank-one", "zero")
_NARROW = (False, False, True)
#: smooth first: shrinking moves to tanh; ReLU is in the default set (networks use it), not first
_DEFAULT_ACTIVATIONS = ("tanh", "gelu", "softplus", "sigmoid", "relu")


def modules(*, architectures: str | Sequence[str] = ARCHITECTURES,
            activations: str | Sequence[str] = _DEFAULT_ACTIVATIONS,
            width: int | tuple[int, int] = (1, 4), depth: int | tuple[int, int] = (1, 2),
            batch: int | tuple[int, int] = (1, 4), classes: int | tuple[int, int] = (2, 3),
            max_scale: float = 1e3) -> SearchStrategy[ModuleCase]:
    """Strategy of :class:`~verify.strategies.ModuleCase`: a small network, a batch and labels.

    Args:
        architectures: names from :data:`~verify.strategies.ARCHITECTURES` (the first is where shrinking goes).
        activations: names from :data:`~verify.strategies.MODULE_ACTIVATIONS` (attention has none of its own).
        width: hidden widths, channel counts and model dimensions, ``>= 1``.
        depth: hidden layers (mlp), conv layers (cnn) or residual blocks, ``>= 1``.
        batch: examples, ``>= 1``.
        classes: output classes, ``>= 2`` (cross-entropy of one class is the constant 0).
        max_scale: the largest scale of a parameter array (``1e3`` reaches ``large-scale``; claims about the
            regime of small steps lower it).

    Raises:
        InvalidInputError: an argument out of range (checked here, once).
    """
    archs = _choices("architectures", architectures, ARCHITECTURES)
    acts = _choices("activations", activations, MODULE_ACTIVATIONS)
    width_r, depth_r = _int_range("width", width, 1), _int_range("depth", depth, 1)
    batch_r, classes_r = _int_range("batch", batch, 1), _int_range("classes", classes, 2)
    weight_scales = scales(max_scale=_positive_float("max_scale", max_scale))
    return _modules(archs, acts, width_r, depth_r, batch_r, classes_r, weight_scales)


def _spec(draw: st.DrawFn, arch: str, activation: str, width: tuple[int, int], depth: tuple[int, int],
          k: int) -> dict[str, Any]:
    """The architecture's sizes; one of its widths is forced to 1 in one draw in three (if the range allows)."""
    narrow = width[0] == 1 and draw(_sampled(_NARROW))
    layers = draw(_favour_low(*depth))

    def sizes(count: int) -> list[int]:
        out = [draw(_uniform_int(*width)) for _ in range(count)]
        if narrow:
            out[draw(_uniform_int(0, count - 1))] = 1
        return out

    if arch == "mlp":
        return {"widths": (*sizes(layers + 1), k), "activation": activation}
    if arch == "cnn":
        in_channels, *channels = sizes(min(layers, 2) + 1)
        side = draw(_uniform_int(1, 4))
        padding = draw(_uniform_int(0, 1))
        # each conv changes the side by 2p + 1 - kernel: the last one must still be >= 1
        kernel = draw(_uniform_int(1, min(3, 2 * padding + 1 + (side - 1) // len(channels))))
        return {"in_channels": in_channels, "size": side, "channels": tuple(channels), "kernel": kernel,
                "padding": padding, "activation": activation, "classes": k}
    if arch == "residual":
        dim, hidden = sizes(2)
        return {"dim": dim, "hidden": hidden, "blocks": min(layers, 2), "activation": activation, "classes": k}
    dim = sizes(1)[0]
    heads = draw(_sampled(tuple(h for h in (1, 2) if dim % h == 0)))
    return {"dim": dim, "heads": heads, "seq": draw(_favour_low(1, 3)), "classes": k}


#: arrays with more entries are drawn from a seeded generator (see :func:`_unit`)
_ENTRYWISE_LIMIT = 24
_SEEDS = st.integers(0, 2**16)


def _unit(draw: st.DrawFn, shape: tuple[int, ...]) -> np.ndarray:
    """Entries n/q in [-2, 2] like :func:`~verify.strategies.unit_arrays`; a large array from a seeded generator.

    Drawn entry by entry, a CNN's head and image batch were hundreds of choices: Hypothesis discarded such
    draws as too large, and in 100 examples only 6 networks were CNNs and two thirds had one example. A
    seed and a denominator are two choices, and they shrink to seed 0, q = 1: entries in {-2, ..., 2}.
    """
    if int(np.prod(shape)) <= _ENTRYWISE_LIMIT:
        return draw(unit_arrays(shape))
    q = draw(_sampled((1, 2, 4, 8, 64, 1024)))
    rng = np.random.default_rng(draw(_SEEDS))
    return rng.integers(-2 * q, 2 * q + 1, size=shape).astype(np.float64) / q


def _parameter(draw: st.DrawFn, shape: tuple[int, ...], kind: str, structure: str,
               weight_scales: SearchStrategy[float]) -> np.ndarray:
    if kind == "norm":  # LayerNorm gains: around 1 (what training starts from), sometimes scaled
        return 1.0 + _unit(draw, shape) * 0.25
    scale = draw(weight_scales)
    if kind == "bias":
        return _unit(draw, shape) * scale + 0.0
    rows, cols = shape[0], int(np.prod(shape[1:]))
    if structure == "generic" and rows * cols > _ENTRYWISE_LIMIT:
        return _unit(draw, shape) * scale + 0.0
    return _draw_matrix(draw, rows, cols, (structure,), scale).reshape(shape)


@st.composite
def _modules(draw: st.DrawFn, archs: tuple[str, ...], activations: tuple[str, ...], width: tuple[int, int],
             depth: tuple[int, int], batch: tuple[int, int], classes: tuple[int, int],
             weight_scales: SearchStrategy[float]) -> ModuleCase:
    arch = draw(_sampled(archs))
    activation = draw(_sampled(activations))
    k, m = draw(_favour_low(*classes)), draw(_favour_low(*batch))
    spec = _spec(draw, arch, activation, width, depth, k)
    shapes = parameter_shapes(arch, spec)
    weights = [i for i, (_, _, kind) in enumerate(shapes) if kind == "weight"]
    special, where = draw(_sampled(_SPECIALS)), draw(_sampled(tuple(weights)))
    params = tuple((name, _parameter(draw, shape, kind, special if i == where else "generic", weight_scales))
                   for i, (name, shape, kind) in enumerate(shapes))
    x = _unit(draw, (m, *input_shape(arch, spec))) * draw(scales(max_scale=10.0)) + 0.0
    y = np.array([draw(_uniform_int(0, k - 1)) for _ in range(m)], dtype=np.int64)
    return ModuleCase(arch=arch, spec=spec, params=params, x=x, y=y)
