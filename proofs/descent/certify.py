r"""A certified bound of the curvature of an MLP regression loss along a gradient step.

Along the segment :math:`\theta(s) = \theta - s g`, :math:`s \in [0, \alpha_{\max}]`, the loss
:math:`\varphi(s) = L(\theta(s))` has :math:`\varphi''(s) = g^\top \nabla^2 L(\theta(s))\, g`. The weights are
affine in :math:`s` (:math:`W(s) = W - s\,D`, :math:`W' = -D`, :math:`W'' = 0`), so the network can be
run in Taylor mode to third order in :math:`s`: each pre-activation :math:`z` carries
:math:`(z, z', z'', z''')` and each activation :math:`h = \sigma(z)`

.. math:: h' = \sigma' z',\quad h'' = \sigma'' z'^2 + \sigma' z'',\quad
          h''' = \sigma''' z'^3 + 3\sigma'' z' z'' + \sigma' z''' ,

and the loss :math:`\tfrac1m\sum \tfrac12\|r\|^2` gives :math:`\varphi'' = \tfrac1m\sum r'^2 + r r''` and
:math:`\varphi''' = \tfrac1m\sum 3 r' r'' + r r'''`. Run in interval arithmetic (:mod:`.intervals`) over
an interval :math:`S` of :math:`s`, this encloses :math:`\varphi''(S)` (the natural enclosure) and
:math:`\varphi'''(S)`; the mean-value form :math:`\varphi''(S) \subseteq \varphi''(c) + \varphi'''(S)(S - c)`
is tighter on short intervals. :func:`certify_curvature` bisects the intervals whose upper bound is
above the largest value found at a point (plus a relative tolerance) until none is, or until a work
limit: the bound is then the largest upper bound over a cover of the segment, an upper bound of
:math:`\sup_S \varphi''` whatever the sampling, within ``rtol`` of it when ``converged``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from proofs.descent.intervals import EPS, TINY, Iv, activation_derivative, iv_matmul

__all__ = ["CERTIFY_RTOL", "MAX_INTERVALS", "SegmentBound", "SegmentNetwork", "certify_curvature", "divide_up"]

#: stop bisecting an interval once its upper bound is within this fraction of the best point value
#: (of max(|value|, ‖g‖²/α_max): an error δM moves the lemma's normalized slack by at most α·δM/2)
CERTIFY_RTOL = 1e-3
#: the work limit: interval evaluations (an interval and its midpoint count two) per segment
MAX_INTERVALS = 1 << 14
#: the intervals the segment is first cut into
INITIAL_INTERVALS = 16

Layer = tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray | None]


@dataclass(frozen=True)
class SegmentNetwork:
    """An MLP regression loss on the segment: per layer (W, b, D_W, D_b) with θ(s) = θ − s·(D_W, D_b).

    ``W`` is ``(out, in)``; ``b``, ``D_b`` are ``None`` without biases; ``x`` ``(m, d_in)``; ``t`` ``(m, d_out)``.
    """

    layers: Sequence[Layer]
    activation: str
    x: np.ndarray
    t: np.ndarray


def _add(*terms: Iv | None) -> Iv | None:
    out = None
    for term in terms:
        if term is not None:
            out = term if out is None else out + term
    return out


def _mul(a: Iv | np.ndarray | float | None, b: Iv | None) -> Iv | None:
    return None if a is None or b is None else Iv.of(b) * a


def _affine(v: np.ndarray | None, d: np.ndarray | None, s: Iv) -> tuple[Iv | None, Iv | None]:
    """v − s·d over the intervals s (shape (K,)), and its derivative −d."""
    if v is None:
        return None, None
    shape = (-1,) + (1,) * v.ndim
    value = Iv(v[None]) - Iv(s.lo.reshape(shape), s.hi.reshape(shape)) * d[None]
    return value, Iv(-d[None])


def _linear(h: list[Iv | None], W: Iv, dW: Iv, b: Iv | None, db: Iv | None) -> list[Iv | None]:
    """z = h Wᵀ + b to third order, with W'' = b'' = 0."""
    mm = lambda a, w: None if a is None else iv_matmul(a, w)  # noqa: E731
    bias = None if b is None else b[:, None, :]
    dbias = None if db is None else db[:, None, :]
    return [
        _add(mm(h[0], W), bias),
        _add(mm(h[1], W), mm(h[0], dW), dbias),
        _add(mm(h[2], W), _mul(2.0, mm(h[1], dW))),
        _add(mm(h[3], W), _mul(3.0, mm(h[2], dW))),
    ]


def _activate(name: str, z: list[Iv | None]) -> list[Iv | None]:
    s = [activation_derivative(name, k, z[0]) for k in range(4)]
    z1, z2, z3 = z[1], z[2], z[3]
    z1sq = None if z1 is None else z1.sqr()
    return [
        s[0],
        _mul(s[1], z1),
        _add(_mul(s[2], z1sq), _mul(s[1], z2)),
        _add(_mul(s[3], None if z1 is None else z1.cube()), _mul(3.0, _mul(s[2], _mul(z1, z2))), _mul(s[1], z3)),
    ]


def curvature_enclosure(net: SegmentNetwork, s_lo: np.ndarray, s_hi: np.ndarray) -> tuple[Iv, Iv]:
    """Enclosures of φ''(S) and φ'''(S) over the intervals S = [s_lo, s_hi] (arrays of shape (K,))."""
    s = Iv(s_lo, s_hi)
    K = s_lo.shape[0]
    x = np.broadcast_to(net.x, (K, *net.x.shape))
    h: list[Iv | None] = [Iv(x), None, None, None]
    for i, (W, b, DW, Db) in enumerate(net.layers):
        Ws, dW = _affine(W, DW, s)
        bs, db = _affine(b, Db, s)
        z = _linear(h, Ws, dW, bs, db)
        h = z if i == len(net.layers) - 1 else _activate(net.activation, z)
    r0, r1, r2, r3 = h[0] - net.t[None], h[1], h[2], h[3]
    inv_m = 1.0 / float(net.x.shape[0])
    mean = Iv(inv_m * (1.0 - 2 * EPS), inv_m * (1.0 + 2 * EPS))
    zero = Iv(np.zeros(r0.lo.shape))
    r1 = zero if r1 is None else r1
    phi2 = _add(r1.sqr(), _mul(r0, r2))
    phi3 = _add(_mul(3.0, _mul(r1, r2)), _mul(r0, r3)) or zero
    return phi2.sum(-1).sum(-1) * mean, phi3.sum(-1).sum(-1) * mean


def divide_up(upper: float, g: np.ndarray) -> float:
    """An upper bound of ``upper / ‖g‖²`` (‖g‖² enclosed to ``4n·eps``; the quotient rounded up)."""
    G = float(g @ g)
    spread = 4.0 * g.size * EPS * G
    quotient = upper / (G - spread if upper >= 0 else G + spread)
    return quotient + 2.0 * EPS * abs(quotient) + TINY


#: (s_lo, s_hi) ↦ enclosures of φ'' and φ''' over the intervals [s_lo, s_hi]
Enclosure = Callable[[np.ndarray, np.ndarray], tuple[Iv, Iv]]


@dataclass(frozen=True)
class SegmentBound:
    """The certified ``upper`` bound of sup φ'' on the segment (and the best point value ``lower``).

    ``converged``: ``upper`` is within the tolerance of ``lower``; ``intervals``: evaluations spent;
    ``rounds``: bisection rounds; ``pieces``: intervals in the final cover.
    """

    upper: float
    lower: float
    converged: bool
    intervals: int
    rounds: int
    pieces: int

    @property
    def finite(self) -> bool:
        return bool(np.isfinite(self.upper))


def _upper_bounds(enclose: Enclosure, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upper bounds of φ'' on each [lo, hi] (natural and mean-value forms), and guaranteed point values."""
    mid = np.clip((lo + hi) / 2.0, lo, hi)
    k = lo.shape[0]
    phi2, phi3 = enclose(np.concatenate([lo, mid]), np.concatenate([hi, mid]))
    natural, at_mid = phi2.hi[:k], phi2[k:]
    with np.errstate(all="ignore"):
        radius = np.maximum(mid - lo, hi - mid)  # |S − c| (c is the rounded midpoint)
        mean_value = at_mid.hi + phi3.mag[:k] * radius
        mean_value = mean_value + 4.0 * EPS * np.abs(mean_value) + TINY  # rounded up
        upper = np.fmin(natural, mean_value)
    return np.where(np.isnan(upper), np.inf, upper), at_mid.lo


def certify_curvature(net: SegmentNetwork | Enclosure, alpha_max: float, G: float, rtol: float = CERTIFY_RTOL,
                      max_intervals: int = MAX_INTERVALS) -> SegmentBound:
    """Bound sup φ''(s) over s ∈ [0, α_max] by adaptive bisection (``G = ‖g‖²`` sets the tolerance's floor).

    ``net`` is an MLP regression's :class:`SegmentNetwork`, or any function enclosing φ'' and φ''' over intervals
    of s (:func:`.module_segment.module_enclosure` for the networks of ``verify.modules``).
    """
    enclose = net if callable(net) else functools.partial(curvature_enclosure, net)
    edges = np.linspace(0.0, alpha_max, INITIAL_INTERVALS + 1)
    edges[-1] = alpha_max
    lo, hi = edges[:-1], edges[1:]
    lower, done, spent, rounds, pieces = -np.inf, -np.inf, 0, 0, 0
    floor = G / alpha_max if alpha_max > 0 else G
    while True:
        upper, at_mid = _upper_bounds(enclose, lo, hi)
        spent += 2 * lo.shape[0]
        rounds += 1
        finite_mid = at_mid[np.isfinite(at_mid)]
        if finite_mid.size:
            lower = max(lower, float(finite_mid.max()))
        tol = rtol * max(abs(lower), floor) if np.isfinite(lower) else 0.0
        open_ = upper > lower + tol
        closed = upper[~open_]
        if closed.size:
            done = max(done, float(closed.max()))
            pieces += int(closed.size)
        n_open = int(open_.sum())
        if n_open == 0:
            return SegmentBound(float(done), float(lower), True, spent, rounds, pieces)
        if spent + 4 * n_open > max_intervals:
            return SegmentBound(max(float(done), float(upper[open_].max())), float(lower), False, spent, rounds,
                                pieces + n_open)
        lo, hi = lo[open_], hi[open_]
        mid = np.clip((lo + hi) / 2.0, lo, hi)
        lo, hi = np.concatenate([lo, mid]), np.concatenate([mid, hi])
