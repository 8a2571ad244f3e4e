r"""A certified bound of the curvature of an MLP regression loss along a gradient step.

Along the segment :math:`\theta(s) = \theta - s g`, :math:`s \in [0, \alpha_{\max}]`, the loss
:math:`\varphi(s) = L(\theta(s))` has :math:`\varphi''(s) = g^\top \nabla^2 L(\theta(s))\, g`. The weights are
affine in :math:`s` (:math:`W(s) = W - s\,D`, :math:`W' = -D`, :math:`W'' = 0`), so the network can be
run in Taylor mode to third order in :math:`s` (the jets of :mod:`.jets`): each pre-activation :math:`z` carries
:math:`(z, z', z'', z''')` and each activation :math:`h = \sigma(z)`

.. math:: h' = \sigma' z',\quad h'' = \sigma'' z'^2 + \sigma' z'',\quad
          h''' = \sigma''' z'^3 + 3\sigma'' z' z'' + \sigma' z''' ,

and the loss :math:`\tfrac1m\sum \tfrac12\|r\|^2` gives :math:`\varphi'' = \tfrac1m\sum r'^2 + r r''` and
:math:`\varphi''' = \tfrac1m\sum 3 r' r'' + r r'''`. Run in interval arithmetic (:mod:`.intervals`) over
an interval :math:`S` of :math:`s`, this encloses :math:`\varphi''(S)` (the natural enclosure) and
:math:`\varphi'''(S)`; the mean-value form :math:`\varphi''(S) \subseteq \varphi''(c) + \varphi'''(S)(S - c)`
is tighter on short intervals. :func:`certify_curvature` cuts the intervals whose upper bound is
above the largest value found at a point (plus a relative tolerance) into 8 until none is, or until a work
limit: the bound is then the largest upper bound over a cover of the segment, an upper bound of
:math:`\sup_S \varphi''` whatever the sampling, within ``rtol`` of it when ``converged``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from proofs.descent.intervals import EPS, TINY, Iv
from proofs.descent.jets import Jet, derivatives_over

__all__ = ["CERTIFY_RTOL", "MAX_INTERVALS", "SegmentBound", "SegmentNetwork", "certify_curvature", "divide_up"]

#: stop cutting an interval once its upper bound is within this fraction of the best point value
#: (of max(|value|, ‖g‖²/α_max): an error δM moves the lemma's normalized slack by at most α·δM/2)
CERTIFY_RTOL = 1e-3
#: the work limit: interval evaluations (an interval and its midpoint count two) per segment
MAX_INTERVALS = 1 << 14
#: the intervals the segment is first cut into
INITIAL_INTERVALS = 16
#: the pieces an open interval is cut into per round (a power of 2: halved three times). A round costs about the
#: same for 6 intervals as for 100 (numpy's per-call overhead), so fewer, wider rounds are faster: 8 pieces took
#: 2.2 rounds a case where halving took 4.0, and ended on bounds as tight (within the tolerance, lower on average)
SPLIT = 8

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


def curvature_enclosure(net: SegmentNetwork, s_lo: np.ndarray, s_hi: np.ndarray) -> tuple[Iv, Iv]:
    """Enclosures of φ''(S) and φ'''(S) over the intervals S = [s_lo, s_hi] (arrays of shape (K,)): the network
    and the loss ½‖r‖² (mean over the batch) run on Taylor jets (:mod:`.jets`)."""
    s = Iv(s_lo, s_hi)
    h = Jet.constant(net.x)
    for i, (W, b, DW, Db) in enumerate(net.layers):
        z = h @ Jet.segment(W, DW, s).swapaxes(-1, -2)
        if b is not None:
            z = z + Jet.segment(b, Db, s).expand(1)
        h = z if i == len(net.layers) - 1 else z.apply(net.activation)
    return derivatives_over(h.shift(net.t[None]).square().sum(-1).mean(-1).scale(0.5), s_lo.shape)


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
    ``rounds``: subdivision rounds; ``pieces``: intervals in the final cover.
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
    """Bound sup φ''(s) over s ∈ [0, α_max] by adaptive subdivision (``G = ‖g‖²`` sets the tolerance's floor).

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
        if spent + 2 * SPLIT * n_open > max_intervals:
            return SegmentBound(max(float(done), float(upper[open_].max())), float(lower), False, spent, rounds,
                                pieces + n_open)
        lo, hi = lo[open_], hi[open_]
        for _ in range(SPLIT.bit_length() - 1):
            mid = np.clip((lo + hi) / 2.0, lo, hi)
            lo, hi = np.concatenate([lo, mid]), np.concatenate([mid, hi])
