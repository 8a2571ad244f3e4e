r"""Interval arithmetic on numpy arrays, rounded outward, and enclosures of the activations' derivatives.

An :class:`Iv` is a pair of float64 arrays ``lo <= hi`` that encloses a set of real numbers per entry.
Every operation encloses the exact result of the real operation on the enclosed numbers: the float
result is widened by a bound on its rounding error (``2·eps`` relative per operation, ``(n+1)·eps`` of
the sum of magnitudes for a sum of ``n`` terms, plus a tiny absolute term for underflow). A NaN
(``inf - inf``, ``0·inf``) widens to ``[-inf, inf]``, so an enclosure is never silently lost.

:func:`activation_derivative` encloses the ``k``-th derivative (``k = 0..3``) of an activation over
an interval of inputs exactly (up to the accuracy of the library functions, a few ulps, which the
widening covers): the extremes of a smooth function on ``[a, b]`` lie at ``a``, ``b`` or a critical
point inside, and the critical points of every derivative used are known in closed form (``gelu``'s
minimum is found once by Newton's method).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.special import expit, ndtr

__all__ = ["ACTIVATION_DERIVATIVES", "Iv", "activation_derivative", "iv_bmm"]

EPS = float(np.finfo(np.float64).eps)
#: absolute widening: covers underflow to zero or to a subnormal
TINY = 2.0**-1000
_HUGE = float(np.finfo(np.float64).max)
#: widening of a library function value, in units of eps times its magnitude
_FUNCTION_ULPS = 64.0


def _down(x: np.ndarray, ops: float = 1.0) -> np.ndarray:
    """x rounded down; a lower end that overflowed to +inf is above the largest float (so that is a lower bound)."""
    return np.where(x == np.inf, _HUGE, x - ((ops + 1.0) * EPS * np.abs(x) + TINY))


def _up(x: np.ndarray, ops: float = 1.0) -> np.ndarray:
    """x rounded up; an upper end that overflowed to -inf is below the most negative float."""
    return np.where(x == -np.inf, -_HUGE, x + ((ops + 1.0) * EPS * np.abs(x) + TINY))


def _clean(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A NaN lower end becomes −inf, a NaN upper end +inf (fmax/fmin return the other argument where one is NaN)."""
    return np.fmax(lo, -np.inf), np.fmin(hi, np.inf)


class Iv:
    """An array of intervals ``[lo, hi]``; numbers and arrays mix in as point intervals."""

    __slots__ = ("hi", "lo")

    def __init__(self, lo: np.ndarray | float, hi: np.ndarray | float | None = None) -> None:
        lo_arr = np.asarray(lo, dtype=np.float64)
        self.lo, self.hi = _clean(lo_arr, lo_arr if hi is None else np.asarray(hi, dtype=np.float64))

    @staticmethod
    def of(x: Iv | np.ndarray | float) -> Iv:
        return x if hasattr(x, "hi") else Iv(x)  # an Iv, or numbers

    @property
    def mag(self) -> np.ndarray:
        """max |x| over the interval."""
        return np.maximum(np.abs(self.lo), np.abs(self.hi))

    def __getitem__(self, key: object) -> Iv:
        return Iv(self.lo[key], self.hi[key])

    def __neg__(self) -> Iv:
        return Iv(-self.hi, -self.lo)

    def __add__(self, other: Iv | np.ndarray | float) -> Iv:
        o = Iv.of(other)
        with np.errstate(all="ignore"):
            return Iv(_down(self.lo + o.lo), _up(self.hi + o.hi))

    __radd__ = __add__

    def __sub__(self, other: Iv | np.ndarray | float) -> Iv:
        return self + (-Iv.of(other))

    def __rsub__(self, other: Iv | np.ndarray | float) -> Iv:
        return Iv.of(other) + (-self)

    def __mul__(self, other: Iv | np.ndarray | float) -> Iv:
        o = Iv.of(other)
        with np.errstate(all="ignore"):
            p = (self.lo * o.lo, self.lo * o.hi, self.hi * o.lo, self.hi * o.hi)
            # a NaN product (0·inf: the enclosure is lost) propagates through minimum and maximum to both ends,
            # which the constructor widens to [-inf, inf]
            lo = np.minimum(np.minimum(p[0], p[1]), np.minimum(p[2], p[3]))
            hi = np.maximum(np.maximum(p[0], p[1]), np.maximum(p[2], p[3]))
            return Iv(_down(lo), _up(hi))

    __rmul__ = __mul__

    def sqr(self) -> Iv:
        """x² (tighter than x·x: never negative)."""
        with np.errstate(all="ignore"):
            a, b = self.lo * self.lo, self.hi * self.hi
            lo = np.where((self.lo <= 0) & (self.hi >= 0), 0.0, np.minimum(a, b))
            return Iv(np.maximum(_down(lo), 0.0), _up(np.maximum(a, b)))

    def cube(self) -> Iv:
        """x³ (monotone)."""
        with np.errstate(all="ignore"):
            return Iv(_down(self.lo * self.lo * self.lo, 2.0), _up(self.hi * self.hi * self.hi, 2.0))

    def sum(self, axis: int) -> Iv:
        """The sum along ``axis``: each end widened by ``(n+1)·eps`` of the sum of its own terms' magnitudes (the
        float sum of the lower ends errs by at most that much, so an infinite upper end leaves the lower finite)."""
        n = self.lo.shape[axis]
        with np.errstate(all="ignore"):
            lo, hi = self.lo.sum(axis=axis), self.hi.sum(axis=axis)
            pad_lo = (n + 1) * EPS * np.abs(self.lo).sum(axis=axis) + n * TINY
            pad_hi = (n + 1) * EPS * np.abs(self.hi).sum(axis=axis) + n * TINY
            # an overflowed end bounds the sum only where no term of the other sign could have cancelled it
            lo_bound = np.where((lo == np.inf) & (self.lo >= 0).all(axis=axis), _HUGE, lo - pad_lo)
            hi_bound = np.where((hi == -np.inf) & (self.hi <= 0).all(axis=axis), -_HUGE, hi + pad_hi)
            return Iv(lo_bound, hi_bound)


def _mid_rad(x: Iv) -> tuple[np.ndarray, np.ndarray]:
    """A midpoint c and a radius r, rounded up, with [lo, hi] ⊆ [c − r, c + r]."""
    with np.errstate(all="ignore"):
        c = (x.lo + x.hi) / 2.0
        return c, _up(np.maximum(x.hi - c, c - x.lo))


def iv_bmm(a: Iv, b: Iv) -> Iv:
    """``a @ b`` (numpy's batched, broadcasting matmul) in midpoint-radius form, by BLAS.

    With a = [c ± r], b = [d ± t] entrywise, a·b ⊆ c·d ± (|c|·t + r·(|d| + t)); summing ``q`` terms in any
    order errs by at most γ_q·(|c|@|d|), γ_q = q·eps/(1 − q·eps) (Higham, Thm 3.5), and the radius's own
    rounding is covered by widening it by (q + 4)·eps relative. A NaN or an infinity widens to [-inf, inf].
    """
    c, r = _mid_rad(a)
    d, t = _mid_rad(b)
    q = a.lo.shape[-1]
    gamma = 2.0 * (q + 4) * EPS
    with np.errstate(all="ignore"):
        centre = c @ d
        ac, ad = np.abs(c), np.abs(d)
        radius = (ac @ t + r @ (ad + t) + gamma * (ac @ ad)) * (1.0 + gamma) + (q + 1) * TINY
        return Iv(_down(centre - radius), _up(centre + radius))


# --------------------------------------------------------------------------- activations

#: (value, magnitude for its rounding error) of one derivative at points z
Evaluator = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def _tanh(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    e = np.exp(-2.0 * np.abs(z))
    return np.tanh(z), 4.0 * e / (1.0 + e) ** 2


def _sigmoid(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s1 = expit(z) * expit(-z)
    return expit(z), s1, np.tanh(z / 2.0)


def _gelu(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Φ(z), φ(z), and the factor by which the rounding of Φ is amplified (1 + z² for z < 0, where Φ is an erfc).

    φ = exp(−z²/2)/√(2π) carries the rounding of z²/2 amplified by exp: its magnitudes get a factor 1 + z².
    """
    return ndtr(z), np.exp(-z * z / 2.0) / math.sqrt(2.0 * math.pi), np.where(z < 0, 1.0 + z * z, 1.0)


def _softplus0(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    v = np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))
    return v, np.abs(v)


def _gelu_minimum() -> float:
    """The minimum of gelu(z) = zΦ(z): the root of Φ(z) + zφ(z) = 0 (Newton, float64)."""
    z = -0.75
    for _ in range(50):
        phi = math.exp(-z * z / 2.0) / math.sqrt(2.0 * math.pi)
        step = (float(ndtr(z)) + z * phi) / (phi * (2.0 - z * z))
        z -= step
        if abs(step) < 1e-17:
            break
    return z


_T1 = math.atanh(1.0 / math.sqrt(3.0))
_T2 = math.atanh(math.sqrt(2.0 / 3.0))
_L1 = math.log(2.0 + math.sqrt(3.0))
_L2 = math.log(5.0 + 2.0 * math.sqrt(6.0))
_G3 = (math.sqrt((7.0 - math.sqrt(33.0)) / 2.0), math.sqrt((7.0 + math.sqrt(33.0)) / 2.0))


def _abs_pair(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return v, np.abs(v)


#: name -> k -> (evaluator, critical points of that derivative)
ACTIVATION_DERIVATIVES: dict[str, tuple[tuple[Evaluator, tuple[float, ...]], ...]] = {
    "tanh": (
        (lambda z: _abs_pair(_tanh(z)[0]), ()),
        (lambda z: _abs_pair(_tanh(z)[1]), (0.0,)),
        (lambda z: (lambda t, s: (-2.0 * t * s, 2.0 * np.abs(t) * s))(*_tanh(z)), (-_T1, _T1)),
        (lambda z: (lambda t, s: (-2.0 * s * (1.0 - 3.0 * t * t), 2.0 * s * (1.0 + 3.0 * t * t)))(*_tanh(z)),
         (-_T2, 0.0, _T2)),
    ),
    "sigmoid": (
        (lambda z: _abs_pair(expit(z)), ()),
        (lambda z: _abs_pair(_sigmoid(z)[1]), (0.0,)),
        (lambda z: (lambda s, s1, th: (-s1 * th, s1 * np.abs(th)))(*_sigmoid(z)), (-_L1, _L1)),
        (lambda z: (lambda s, s1, th: (s1 * (1.0 - 6.0 * s1), s1 * (1.0 + 6.0 * s1)))(*_sigmoid(z)),
         (-_L2, 0.0, _L2)),
    ),
    "softplus": (
        (_softplus0, ()),
        (lambda z: _abs_pair(expit(z)), ()),
        (lambda z: _abs_pair(_sigmoid(z)[1]), (0.0,)),
        (lambda z: (lambda s, s1, th: (-s1 * th, s1 * np.abs(th)))(*_sigmoid(z)), (-_L1, _L1)),
    ),
    "gelu": (
        (lambda z: (lambda P, p, a: (z * P, np.abs(z) * P * a))(*_gelu(z)), (_gelu_minimum(),)),
        (lambda z: (lambda P, p, a: (P + z * p, P * a + np.abs(z) * p * (1.0 + z * z)))(*_gelu(z)),
         (-math.sqrt(2.0), math.sqrt(2.0))),
        (lambda z: (lambda P, p, a: (p * (2.0 - z * z), p * (2.0 + z * z) * (1.0 + z * z)))(*_gelu(z)),
         (-2.0, 0.0, 2.0)),
        (lambda z: (lambda P, p, a: (p * (z**3 - 4.0 * z), p * (np.abs(z) ** 3 + 4.0 * np.abs(z)) * (1.0 + z * z)))(
            *_gelu(z)), (-_G3[1], -_G3[0], _G3[0], _G3[1])),
    ),
    "identity": (
        (lambda z: (z, np.zeros_like(z)), ()),
        (lambda z: (np.ones_like(z), np.zeros_like(z)), ()),
        (lambda z: (np.zeros_like(z), np.zeros_like(z)), ()),
        (lambda z: (np.zeros_like(z), np.zeros_like(z)), ()),
    ),
}


def _power(p: float, k: int) -> Evaluator:
    """The k-th derivative of x^p: p(p − 1)···(p − k + 1)·x^(p − k), monotone on x > 0."""
    factor = math.prod(p - i for i in range(k))
    return lambda z: _abs_pair(factor * np.power(z, p - k))


def _log(k: int) -> Evaluator:
    """log, then its k-th derivative (d/dx)^(k−1) x^(−1)."""
    return (lambda z: _abs_pair(np.log(z))) if k == 0 else _power(-1.0, k - 1)


#: functions of the softmax, the cross-entropy and LayerNorm: every derivative is monotone (no critical points)
#: on the domain; ``x > 0`` for all but ``exp``, outside which an enclosure is the whole line
ELEMENTARY: dict[str, tuple[tuple[Evaluator, tuple[float, ...]], ...]] = {
    "exp": tuple((lambda z: _abs_pair(np.exp(z)), ()) for _ in range(4)),
    "log": tuple((_log(k), ()) for k in range(4)),
    "reciprocal": tuple((_power(-1.0, k), ()) for k in range(4)),
    "rsqrt": tuple((_power(-0.5, k), ()) for k in range(4)),
}
_POSITIVE_DOMAIN = ("log", "reciprocal", "rsqrt")


def activation_derivative(name: str, k: int, z: Iv) -> Iv:
    """An enclosure of σ⁽ᵏ⁾(z) over every z in the intervals (σ the activation called ``name``).

    Raises:
        KeyError: for an activation without known derivatives (``relu`` is not C²).
    """
    evaluate, critical = (ELEMENTARY if name in ELEMENTARY else ACTIVATION_DERIVATIVES)[name][k]
    with np.errstate(all="ignore"):
        lo, hi = np.full(z.lo.shape, np.inf), np.full(z.lo.shape, -np.inf)
        candidates = [(z.lo, None), (z.hi, None)] + [(np.full(z.lo.shape, c), (z.lo < c) & (c < z.hi))
                                                     for c in critical]
        for point, inside in candidates:
            value, mag = evaluate(point)
            pad = _FUNCTION_ULPS * EPS * mag + TINY
            # an overflow to ±inf means the true value lies beyond the largest float, still a bound on one side
            v_lo = np.where(value == np.inf, _HUGE, value - pad)
            v_hi = np.where(value == -np.inf, -_HUGE, value + pad)
            if inside is not None:
                v_lo, v_hi = np.where(inside, v_lo, np.inf), np.where(inside, v_hi, -np.inf)
            lo, hi = np.minimum(lo, v_lo), np.maximum(hi, v_hi)
        if name in _POSITIVE_DOMAIN:  # 1/x on [-1, 1] is not [-1, 1]: outside the domain nothing is known
            lo, hi = np.where(z.lo > 0, lo, -np.inf), np.where(z.lo > 0, hi, np.inf)
    return Iv(lo, hi)
