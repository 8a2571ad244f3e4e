r"""Random multilayer perceptrons with weights and an input batch (claim C3).

The input-gradient/parameter-gradient inequality of C3 is an equality for
widths ``[1, 1]`` and, for depth 1, along the top singular vector of a rank-one
:math:`W`; a generator that rarely draws narrow or rank-one networks never sees
the bound bite. So :func:`mlp_cases` draws these on purpose: one depth and one
batch size in six is the minimum outright (on top of Hypothesis's own lean
toward small integers), a third of the networks get one width forced to 1, half
of them one special layer (rank one or zero), each layer its own scale from
:data:`~verify.strategies.arrays.SCALE_LADDER` (tiny ``1e-4`` to large ``1e3``).
Everything shrinks toward depth 1, width 1, ``tanh``, no bias, one example and
small-integer entries.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from verify.errors import InvalidInputError
from verify.strategies.arrays import (
    _choices,
    _draw_matrix,
    _favour_low,
    _int_range,
    _sampled,
    _uniform_int,
    scales,
    unit_arrays,
)
from verify.strategies.cases import MLP_ACTIVATIONS, MLPCase

__all__ = ["mlp_cases"]

#: Structure of the one "special" layer per network, weighted by repetition.
_LAYER_STRUCTURES = ("generic", "generic", "rank-one", "zero")
#: Structure of the input batch.
_INPUT_STRUCTURES = ("generic", "generic", "generic", "rank-one")
#: Whether to force one width to 1 (when the ranges allow it).
_NARROW = (False, False, True)
_INPUT_SCALES = scales(max_scale=10.0)


def mlp_cases(
    *,
    depth: int | tuple[int, int] = (1, 4),
    width: int | tuple[int, int] = (1, 16),
    activations: str | Sequence[str] = MLP_ACTIVATIONS,
    bias: bool | None = None,
    batch: int | tuple[int, int] = (1, 8),
    d_in: int | tuple[int, int] | None = None,
    d_out: int | tuple[int, int] | None = None,
    max_scale: float = 1e3,
    zero_layers: bool = True,
) -> SearchStrategy[MLPCase]:
    """Strategy of :class:`~verify.strategies.cases.MLPCase` (float64 weights and inputs).

    Args:
        depth: number of layers ``l`` (weight matrices): an int or ``(lo, hi)``, ``>= 1``.
        width: hidden widths (and ``d_in``/``d_out`` when those are ``None``), ``>= 1``.
        activations: the activation names to draw from (the first is the one
            shrinking moves to); a subset of :data:`~verify.strategies.cases.MLP_ACTIVATIONS`.
        bias: ``True``/``False`` for networks with/without biases, ``None`` for both.
        batch: number of input rows, ``>= 1``.
        d_in: input dimension, ``None`` for ``width``.
        d_out: output dimension, ``None`` for ``width``.
        max_scale: the largest scale of a layer's weights and biases (entries up to twice it, a rank-one layer's
            up to four times): 10 leaves out the ``large-scale`` tag's weights (≥ 100) at the source, cheaper than
            filtering drawn networks on it (and with them the scale-100 layers whose entries all happened to be
            small, which such a filter kept).
        zero_layers: whether one layer may be drawn exactly 0 (``False``: a layer is 0 only where every drawn
            entry is, as for any matrix; filter on the ``zero-weights`` tag to exclude those too).

    Returns:
        Strategy of cases with ``widths = (d_in, d_1, ..., d_out)``, weights
        ``(out, in)``, biases (or ``()``), inputs ``(batch, d_in)`` and truthful tags.

    Raises:
        InvalidInputError: an argument is out of range (checked once, here).
    """
    depth_r = _int_range("depth", depth, 1)
    width_r = _int_range("width", width, 1)
    batch_r = _int_range("batch", batch, 1)
    d_in_r = width_r if d_in is None else _int_range("d_in", d_in, 1)
    d_out_r = width_r if d_out is None else _int_range("d_out", d_out, 1)
    acts = _choices("activations", activations, MLP_ACTIVATIONS)
    if bias is not None and not isinstance(bias, bool):
        raise InvalidInputError(f"Got bias={bias!r}, but valid values are True, False and None (both).")
    if not isinstance(zero_layers, bool):
        raise InvalidInputError(f"Got zero_layers={zero_layers!r}, but valid values are True and False.")
    weight_scales = scales(max_scale=max_scale)
    structures = _LAYER_STRUCTURES if zero_layers else tuple(s for s in _LAYER_STRUCTURES if s != "zero")
    return _mlp_cases(depth_r, width_r, batch_r, d_in_r, d_out_r, acts, bias, weight_scales, structures)


@st.composite
def _mlp_cases(draw: st.DrawFn, depth: tuple[int, int], width: tuple[int, int],
               batch: tuple[int, int], d_in: tuple[int, int], d_out: tuple[int, int],
               activations: tuple[str, ...], bias: bool | None, weight_scales: SearchStrategy[float],
               structures: tuple[str, ...]) -> MLPCase:
    # Everything about layer t (its output width, scale, W, b) is drawn in one
    # contiguous run, so the shrinker can delete a whole layer and lower the depth.
    layers = draw(_favour_low(*depth))
    ranges = [d_in, *([width] * (layers - 1)), d_out]
    can_be_one = [i for i, r in enumerate(ranges) if r[0] == 1]
    narrow = draw(_sampled(tuple(can_be_one))) if can_be_one and draw(_sampled(_NARROW)) else -1
    activation = draw(_sampled(activations))
    has_bias = draw(st.booleans()) if bias is None else bias
    n = draw(_favour_low(*batch))
    special = draw(_sampled(structures))
    where = draw(_uniform_int(0, layers - 1))
    widths = [1 if narrow == 0 else draw(_uniform_int(*ranges[0]))]
    weights, biases = [], []
    for t in range(layers):
        widths.append(1 if narrow == t + 1 else draw(_uniform_int(*ranges[t + 1])))
        scale = draw(weight_scales)
        structure = (special if t == where else "generic",)
        weights.append(_draw_matrix(draw, widths[t + 1], widths[t], structure, scale))
        if has_bias:
            biases.append(draw(unit_arrays(widths[t + 1])) * scale + 0.0)
    x = _draw_matrix(draw, n, widths[0], _INPUT_STRUCTURES, _INPUT_SCALES)
    return MLPCase(
        widths=tuple(widths),
        activation=activation,
        bias=has_bias,
        weights=tuple(weights),
        biases=tuple(biases),
        x=x,
    )
