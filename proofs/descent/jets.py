r"""Third-order Taylor jets in s of interval arrays: any network run on the segment θ(s) = θ − s·d.

A :class:`Jet` holds enclosures of a quantity q(s) and of its first three derivatives in s, (q, q', q'', q'''),
over intervals S of s: every coefficient has a leading axis of length K (one entry per interval) or 1 (what does
not depend on s); ``None`` is an exact zero, so inputs and constants cost nothing. Sums and structural
operations (reshape, transpose, indexing, zero padding, sliding windows) act on each coefficient exactly;
products follow Leibniz, (ab)''' = a'''b + 3a''b' + 3a'b'' + ab''', for elementwise and matrix products
alike; a function f of a jet follows the chain rule to third order (Faà di Bruno),

    h' = f'(z) z',  h'' = f''(z) z'² + f'(z) z'',  h''' = f'''(z) z'³ + 3 f''(z) z' z'' + f'(z) z''',

with f⁽ᵏ⁾ enclosed over the enclosure of z (:func:`.intervals.activation_derivative`). Every step encloses the
real operation on everything its inputs enclose, so a loss computed with jets encloses (φ, φ', φ'', φ''') over
each S. The weights are affine in s (θ(s) = θ − s·d: θ' = −d, θ'' = 0), which is what makes a network's jet
cheap: :meth:`Jet.segment`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from proofs.descent.intervals import EPS, Iv, activation_derivative, iv_bmm

__all__ = ["Jet", "cross_entropy", "softmax"]

Coefficient = Iv | None
_LEIBNIZ = ((1,), (1, 1), (1, 2, 1), (1, 3, 3, 1))


def _total(terms: Sequence[Coefficient]) -> Coefficient:
    out = None
    for term in terms:
        if term is not None:
            out = term if out is None else out + term
    return out


def _times(a: Coefficient | float, b: Coefficient) -> Coefficient:
    if a is None or b is None:
        return None
    return b if isinstance(a, (int, float)) and a == 1 else b * a


def _leibniz(op: Callable[[Iv, Iv], Iv], a: Sequence[Coefficient], b: Sequence[Coefficient]) -> list[Coefficient]:
    """The coefficients of a bilinear op(a, b) of two jets: Σ_i C(n, i) op(a⁽ⁱ⁾, b⁽ⁿ⁻ⁱ⁾)."""
    out: list[Coefficient] = []
    for n, weights in enumerate(_LEIBNIZ):
        terms = [_times(float(w), op(a[i], b[n - i])) for i, w in enumerate(weights)
                 if a[i] is not None and b[n - i] is not None]
        out.append(_total(terms))
    return out


def _reciprocal(n: int) -> Iv:
    """1/n enclosed (its float is within eps/2 relative)."""
    q = 1.0 / n
    return Iv(q * (1.0 - 2.0 * EPS), q * (1.0 + 2.0 * EPS))


class Jet:
    """(q, q', q'', q''') over K intervals of s; see the module."""

    __slots__ = ("c",)

    def __init__(self, c: Sequence[Coefficient]) -> None:
        self.c = list(c)

    # ------------------------------------------------------------------ making jets
    @staticmethod
    def constant(x: np.ndarray) -> Jet:
        """A quantity that does not depend on s (a leading axis of 1 is added)."""
        return Jet([Iv(np.asarray(x, dtype=np.float64)[None]), None, None, None])

    @staticmethod
    def segment(theta: np.ndarray, d: np.ndarray, s: Iv) -> Jet:
        """θ − s·d over the intervals s (shape (K,)): values (K, *θ.shape), derivative −d, no higher ones."""
        s_b = Iv(s.lo.reshape((-1,) + (1,) * theta.ndim), s.hi.reshape((-1,) + (1,) * theta.ndim))
        return Jet([Iv(theta[None]) - s_b * d[None], Iv(-d[None]), None, None])

    # ------------------------------------------------------------------ exact structural operations
    def map(self, fn: Callable[[np.ndarray], np.ndarray]) -> Jet:
        """``fn`` on every coefficient's bounds: only for exact, order-preserving rearrangements (and zero padding)."""
        return Jet([None if x is None else Iv(fn(x.lo), fn(x.hi)) for x in self.c])

    def reshape(self, *shape: int) -> Jet:
        """The trailing shape (the leading K axis kept)."""
        return self.map(lambda a: a.reshape(a.shape[0], *shape))

    def swapaxes(self, i: int, j: int) -> Jet:
        return self.map(lambda a: np.swapaxes(a, i, j))

    def expand(self, axis: int) -> Jet:
        """A new axis of length 1 at ``axis`` (as numpy counts it: 1 is just after the K axis)."""
        return self.map(lambda a: np.expand_dims(a, axis))

    def __getitem__(self, key: object) -> Jet:
        return self.map(lambda a: a[key])

    def zero_pad(self, p: int) -> Jet:
        """``p`` zeros on both sides of the last two axes (a convolution's padding)."""
        if p == 0:
            return self
        return self.map(lambda a: np.pad(a, [(0, 0)] * (a.ndim - 2) + [(p, p), (p, p)]))

    def patches(self, k: int) -> Jet:
        """(..., c, H, W) → (..., H', W', c·k·k): the k×k windows, channel-major like a conv weight's flattening."""
        def unfold(a: np.ndarray) -> np.ndarray:
            w = np.lib.stride_tricks.sliding_window_view(a, (k, k), axis=(-2, -1))  # (..., c, H', W', k, k)
            w = np.moveaxis(w, -5, -3)  # (..., H', W', c, k, k)
            return w.reshape(*w.shape[:-3], -1)
        return self.map(unfold)

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other: Jet) -> Jet:
        return Jet([_total([x, y]) for x, y in zip(self.c, other.c, strict=True)])

    def __neg__(self) -> Jet:
        return Jet([None if x is None else -x for x in self.c])

    def __sub__(self, other: Jet) -> Jet:
        return self + (-other)

    def shift(self, point: np.ndarray | float) -> Jet:
        """q − point for a constant ``point`` (broadcast against the value)."""
        return Jet([self.c[0] - point, *self.c[1:]])

    def scale(self, factor: Iv | float) -> Jet:
        """factor·q for a constant factor (an interval, to carry a rounded constant's error)."""
        return Jet([None if x is None else x * factor for x in self.c])

    def __mul__(self, other: Jet) -> Jet:
        return Jet(_leibniz(lambda x, y: x * y, self.c, other.c))

    def __matmul__(self, other: Jet) -> Jet:
        return Jet(_leibniz(iv_bmm, self.c, other.c))

    def square(self) -> Jet:
        """q², its value enclosed as a square (never negative)."""
        out = _leibniz(lambda x, y: x * y, self.c, self.c)
        return Jet([self.c[0].sqr(), *out[1:]])

    def sum(self, axis: int, keepdims: bool = False) -> Jet:
        """The sum along ``axis`` (negative)."""
        def total(x: Iv) -> Iv:
            out = x.sum(axis)
            return Iv(np.expand_dims(out.lo, axis), np.expand_dims(out.hi, axis)) if keepdims else out
        return Jet([None if x is None else total(x) for x in self.c])

    def mean(self, axis: int, keepdims: bool = False) -> Jet:
        n = self.c[0].lo.shape[axis]
        return self.sum(axis, keepdims) if n == 1 else self.sum(axis, keepdims).scale(_reciprocal(n))

    def apply(self, name: str) -> Jet:
        """f(q) for an activation of :mod:`.intervals` or ``exp``, ``log``, ``reciprocal``, ``rsqrt``."""
        z0, z1, z2, z3 = self.c
        if z1 is None and z2 is None and z3 is None:
            return Jet([activation_derivative(name, 0, z0), None, None, None])
        f = [activation_derivative(name, k, z0) for k in range(4)]
        z1sq = None if z1 is None else z1.sqr()
        z1cube = None if z1 is None else z1.cube()
        return Jet([
            f[0],
            _times(f[1], z1),
            _total([_times(f[2], z1sq), _times(f[1], z2)]),
            _total([_times(f[3], z1cube), _times(3.0, _times(f[2], _times(z1, z2))), _times(f[1], z3)]),
        ])


def _row_max(z: Jet, axis: int) -> np.ndarray:
    """A constant to subtract before exp (the largest midpoint along ``axis``; any constant is exact here)."""
    with np.errstate(all="ignore"):
        c = np.max((z.c[0].lo + z.c[0].hi) / 2.0, axis=axis, keepdims=True)
    return np.where(np.isfinite(c), c, 0.0)


def softmax(z: Jet, axis: int = -1) -> Jet:
    """exp(z − c)/Σ exp(z − c) with c the row's largest midpoint (so no exp overflows where z is finite)."""
    e = z.shift(_row_max(z, axis)).apply("exp")
    return e * e.sum(axis, keepdims=True).apply("reciprocal")


def cross_entropy(logits: Jet, labels: np.ndarray) -> Jet:
    """The mean over the batch of log Σ_k exp(z_k) − z_y, logits (K, m, classes) → (K,)."""
    c = _row_max(logits, -1)
    lse = logits.shift(c).apply("exp").sum(-1).apply("log").shift(-c[..., 0])
    picked = logits.map(lambda a: a[:, np.arange(labels.shape[0]), labels])
    return (lse - picked).mean(-1)
