r"""MLPs with a scalar head :math:`f = F(h^{(l+1)})`, drawn so that C3's bound bites.

The input/parameter gradient inequality of C3 is an equality only on thin sets: widths
all 1 (any activation, any head), and linear networks whose layers share singular
frames with a linear head :math:`f = u^\top h^{(l+1)}` along the top left singular
vector of the last layer (for depth 1 that is any :math:`W`). Random wide networks sit
far below the bound (Glorot-like nets of widths 8-16: median ratio about 0.15, rarely
above 0.6), so an error of a few percent, or a factor 1.5, on the left side is never
caught there. :func:`mlp_head_cases` therefore draws three families:

``width-one``
    every width 1 (depth from the range), non-zero weights, any activation and head:
    ratio 1 (up to round-off) wherever the gradient is not 0;
``aligned``
    identity activation, depth uniform in the range (deep equality cases are the point),
    :math:`W^{(t)} = Q_{t+1}\,\Sigma_t\,Q_t^\top` with Householder frames :math:`Q_t`
    shared between consecutive layers and decreasing
    :math:`\Sigma_t`, linear head :math:`u = Q_{l+1} e_1`: every per-layer bound is an
    equality, so the summed one is too (ratio 1 up to round-off);
``random``
    :func:`~verify.strategies.mlp.mlp_cases` with a random head, a third of the linear
    heads set to the top left singular vector of the last weight matrix.

Shrinking moves toward ``width-one`` (the simplest equality case), depth 1, a linear head.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from verify.errors import InvalidInputError
from verify.strategies._case_base import _canonical_tags, _Case, _frozen
from verify.strategies._serialize import array_from_json, array_to_json, check_mapping
from verify.strategies.arrays import (
    _cached_unit,
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
from verify.strategies.mlp import mlp_cases

__all__ = ["HEADS", "MLPHeadCase", "mlp_head_cases"]

#: Scalar heads f = F(h) of the network output h = h^{(l+1)}, with u of shape (d_out,):
#: ``linear`` uᵀh, ``quadratic`` ½‖h − u‖², ``logsumexp`` log Σ_i exp(h_i + u_i).
HEADS: tuple[str, ...] = ("linear", "quadratic", "logsumexp")

#: Families of :func:`mlp_head_cases`, weighted by repetition (the first is where shrinking goes).
_FAMILIES = ("width-one", "aligned", "random", "random")
#: A third of the random linear heads are aligned with the last layer's top left singular vector.
_ALIGN_HEAD = (False, False, True)


@dataclass(frozen=True, eq=False, repr=False)
class MLPHeadCase(_Case):
    r"""An :class:`~verify.strategies.cases.MLPCase` with a scalar head :math:`f = F(h^{(l+1)}; u)`.

    Attributes:
        mlp: the network and its input batch (the activation follows every layer, the last too).
        head: one of :data:`HEADS`.
        u: the head's vector, ``(d_out,)``.
        tags: the boundary cases hit; ``None`` takes the network's.

    Example:
        >>> net = MLPCase((1, 1), "identity", True, (np.array([[2.0]]),), (np.array([0.0]),), np.array([[1.0]]))
        >>> MLPHeadCase(net, "linear", np.array([1.0])).tags
        ('width-1', 'rank-one', 'single-example')
    """

    mlp: MLPCase
    head: str
    u: np.ndarray
    tags: tuple[str, ...] | None = None

    _TYPE: ClassVar[str] = "MLPHeadCase"

    def __post_init__(self) -> None:
        if not isinstance(self.mlp, MLPCase):
            raise InvalidInputError(f"Got mlp of type {type(self.mlp).__name__}, but it must be an MLPCase.")
        if self.head not in HEADS:
            raise InvalidInputError(f"Got head={self.head!r}, but valid values are {list(HEADS)}.")
        u = _frozen(self.u, "u", ndim=1)
        if u.shape != (self.mlp.d_out,):
            raise InvalidInputError(
                f"Got u of shape {u.shape}, but widths={self.mlp.widths} needs ({self.mlp.d_out},)."
            )
        object.__setattr__(self, "u", u)
        tags = self.mlp.tags if self.tags is None else _canonical_tags(self.tags)
        object.__setattr__(self, "tags", tags)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_json` rebuilds an identical case."""
        return {"type": self._TYPE, "mlp": self.mlp.to_json(), "head": self.head,
                "u": array_to_json(self.u), "tags": list(self.tags or ())}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MLPHeadCase:
        """Inverse of :meth:`to_json` (``tags`` may be omitted: then the network's).

        Raises:
            InvalidInputError: ``data`` is not what :meth:`to_json` writes.
        """
        check_mapping(data, cls._TYPE, ["mlp", "head", "u"], ["tags"])
        tags = data.get("tags")
        return cls(mlp=MLPCase.from_json(data["mlp"]), head=data["head"],
                   u=array_from_json(data["u"], where="u", dtype="float64", ndim=1),
                   tags=None if tags is None else tuple(tags))


def mlp_head_cases(
    *,
    depth: int | tuple[int, int] = (1, 4),
    width: int | tuple[int, int] = (1, 16),
    activations: str | Sequence[str] = MLP_ACTIVATIONS,
    bias: bool | None = True,
    batch: int | tuple[int, int] = (1, 8),
    heads: str | Sequence[str] = HEADS,
    tight: bool = True,
) -> SearchStrategy[MLPHeadCase]:
    """Strategy of :class:`MLPHeadCase`: networks of :func:`mlp_cases` plus a head, tight cases on purpose.

    Args:
        depth, width, activations, bias, batch: as for :func:`~verify.strategies.mlp.mlp_cases`
            (``width`` also bounds ``d_in`` and ``d_out``).
        heads: the heads to draw from (a subset of :data:`HEADS`).
        tight: draw the ``width-one`` and ``aligned`` families (module docstring) besides
            ``random`` ones, and align a third of the random linear heads; ``False`` gives only
            random networks and heads (what a naive checker samples).

    Returns:
        Strategy of cases whose tags are the network's.

    Raises:
        InvalidInputError: an argument is out of range (checked once, here).
    """
    depth_r = _int_range("depth", depth, 1)
    width_r = _int_range("width", width, 1)
    batch_r = _int_range("batch", batch, 1)
    acts = _choices("activations", activations, MLP_ACTIVATIONS)
    head_names = _choices("heads", heads, HEADS)
    if bias is not None and not isinstance(bias, bool):
        raise InvalidInputError(f"Got bias={bias!r}, but valid values are True, False and None (both).")
    if not isinstance(tight, bool):
        raise InvalidInputError(f"Got tight={tight!r}, but valid values are True and False.")
    families = tuple(f for f in _FAMILIES if tight or f == "random")
    if width_r[0] > 1:
        families = tuple(f for f in families if f != "width-one")
    if "identity" not in acts or "linear" not in head_names:
        families = tuple(f for f in families if f != "aligned")
    return _mlp_head_cases(families, depth_r, width_r, batch_r, acts, bias, head_names, tight)


def _top_left_singular_vector(W: np.ndarray) -> np.ndarray | None:
    if not W.any() or not np.all(np.isfinite(W)):
        return None
    return np.linalg.svd(W)[0][:, 0] + 0.0


def _householder(draw: st.DrawFn, n: int) -> np.ndarray:
    """An orthogonal ``(n, n)`` reflection I − 2vvᵀ/vᵀv from a non-zero dyadic v."""
    v = draw(_cached_unit((n,), True))
    return np.eye(n) - 2.0 * np.outer(v, v) / float(v @ v)


@st.composite
def _aligned(draw: st.DrawFn, depth: tuple[int, int], width: tuple[int, int], batch: tuple[int, int],
             bias: bool | None) -> MLPHeadCase:
    layers = draw(_uniform_int(*depth))  # deep equality cases are the point of this family
    widths = [draw(_uniform_int(*width)) for _ in range(layers + 1)]
    frames = [_householder(draw, n) for n in widths]
    has_bias = draw(st.booleans()) if bias is None else bias
    weights, biases = [], []
    for t in range(layers):
        r = min(widths[t], widths[t + 1])
        sigma = np.sort(np.abs(draw(_cached_unit((r,), True))))[::-1] * draw(scales())
        weights.append(frames[t + 1][:, :r] @ np.diag(sigma) @ frames[t][:, :r].T + 0.0)
        if has_bias:
            biases.append(draw(unit_arrays(widths[t + 1])) * draw(scales()) + 0.0)
    x = _draw_matrix(draw, draw(_favour_low(*batch)), widths[0], ("generic",), scales(max_scale=10.0))
    net = MLPCase(tuple(widths), "identity", has_bias, tuple(weights), tuple(biases), x)
    return MLPHeadCase(net, "linear", frames[-1][:, 0] + 0.0)


@st.composite
def _width_one(draw: st.DrawFn, depth: tuple[int, int], batch: tuple[int, int], activations: tuple[str, ...],
               bias: bool | None) -> MLPCase:
    layers = draw(_favour_low(*depth))
    activation = draw(_sampled(activations))
    has_bias = draw(st.booleans()) if bias is None else bias
    weights, biases = [], []
    for _ in range(layers):
        scale = draw(scales())
        weights.append(draw(_cached_unit((1, 1), True)) * scale + 0.0)
        if has_bias:
            biases.append(draw(unit_arrays(1)) * scale + 0.0)
    x = _draw_matrix(draw, draw(_favour_low(*batch)), 1, ("generic",), scales(max_scale=10.0))
    return MLPCase((1,) * (layers + 1), activation, has_bias, tuple(weights), tuple(biases), x)


@st.composite
def _mlp_head_cases(draw: st.DrawFn, families: tuple[str, ...], depth: tuple[int, int],
                    width: tuple[int, int], batch: tuple[int, int], activations: tuple[str, ...],
                    bias: bool | None, heads: tuple[str, ...], tight: bool) -> MLPHeadCase:
    family = draw(_sampled(families))
    if family == "aligned":
        return draw(_aligned(depth, width, batch, bias))
    if family == "width-one":
        net = draw(_width_one(depth, batch, activations, bias))
    else:
        net = draw(mlp_cases(depth=depth, width=width, activations=activations, bias=bias, batch=batch))
    head = draw(_sampled(heads))
    u = draw(_cached_unit((net.d_out,), True)) * draw(scales(max_scale=10.0)) + 0.0
    if tight and head == "linear" and draw(_sampled(_ALIGN_HEAD)):
        top = _top_left_singular_vector(net.weights[-1])
        u = u if top is None else top
    return MLPHeadCase(net, head, u)
