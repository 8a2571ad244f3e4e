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

__all__ = ["Jet", "cross_entropy", "derivatives_over", "softmax"]

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
        """q²: (q², 2qq', 2(q'² + qq''), 2(3q'q'' + qq''')), the squares enclosed as squares (never negative)."""
        q0, q1, q2, q3 = self.c
        q1sq = None if q1 is None else q1.sqr()
        out = [_times(q0, q1), _total([q1sq, _times(q0, q2)]), _total([_times(3.0, _times(q1, q2)), _times(q0, q3)])]
        return Jet([q0.sqr(), *(None if x is None else x * 2.0 for x in out)])

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


def derivatives_over(loss: Jet, shape: tuple[int, ...]) -> tuple[Iv, Iv]:
    """The second and third derivatives of a scalar jet, one entry per interval: a coefficient that does not
    depend on s has a leading axis of 1 and is broadcast; a missing one is 0."""
    out = []
    for x in loss.c[2:]:
        x = Iv(np.zeros(shape)) if x is None else x
        out.append(Iv(np.broadcast_to(x.lo, shape).copy(), np.broadcast_to(x.hi, shape).copy()))
    return out[0], out[1]


def _pairwise(x: Iv) -> Iv:
    """x_k − x_j over the last axis, (..., n) → (..., n, n), with the diagonal exactly 0 (not [−w, w])."""
    diff = x[..., :, None] - x[..., None, :]
    eye = np.eye(x.lo.shape[-1], dtype=bool)
    return Iv(np.where(eye, 0.0, diff.lo), np.where(eye, 0.0, diff.hi))


def _expect(p: Iv, x: Coefficient) -> Coefficient:
    """E_p[x] = Σ_k p_k x_k over the last axis."""
    return None if x is None else (x * p).sum(-1)


def _centred(p: Iv, x: Coefficient) -> Coefficient:
    """x_k − E_p[x], written Σ_j p_j (x_k − x_j): tight where p concentrates on one class, where x_k and its
    mean, computed apart, would cancel."""
    return None if x is None else (_pairwise(x) * p[..., None, :]).sum(-1)


def _expand(x: Coefficient) -> Coefficient:
    return None if x is None else Iv(x.lo[..., None], x.hi[..., None])


def _log_softmax_derivatives(z: Jet) -> tuple[Iv, list[Coefficient]]:
    """p = softmax(z) over the last axis, and the derivatives of u = log p = z − lse(z) in s:

    u' = D1,  u'' = D2 − E[D1²],  u''' = D3 − 3·E[D1·D2] − E[D1³],  with Di = z⁽ⁱ⁾ − E_p[z⁽ⁱ⁾]

    (lse's derivatives are the cumulants of z' under p), each from centred differences, so a saturated
    softmax stays tight; p_k = 1/Σ_j exp(z_j − z_k) encloses each probability without dividing two enclosures
    of one sum.
    """
    p = activation_derivative("reciprocal", 0, activation_derivative("exp", 0, -_pairwise(z.c[0])).sum(-1))
    p = Iv(np.maximum(p.lo, 0.0), np.minimum(p.hi, 1.0))
    d1, d2, d3 = (_centred(p, x) for x in z.c[1:])
    variance = _expect(p, None if d1 is None else d1.sqr())
    covariance = _expect(p, None if d1 is None or d2 is None else d1 * d2)
    skew = _expect(p, None if d1 is None else d1.cube())
    u2 = _total([d2, None if variance is None else -_expand(variance)])
    u3 = _total([d3, _times(-3.0, _expand(covariance)), None if skew is None else -_expand(skew)])
    return p, [d1, u2, u3]


def softmax(z: Jet) -> Jet:
    """softmax over the last axis: (p, p·u', p·(u'² + u''), p·(u'³ + 3u'u'' + u''')) with u = log p."""
    p, (u1, u2, u3) = _log_softmax_derivatives(z)
    u1sq = None if u1 is None else u1.sqr()
    u1cube = None if u1 is None else u1.cube()
    return Jet([p, _times(p, u1), _times(p, _total([u1sq, u2])),
                _times(p, _total([u1cube, _times(3.0, _times(u1, u2)), u3]))])


def cross_entropy(logits: Jet, labels: np.ndarray) -> Jet:
    """The mean over the batch of −log p_y = lse(z) − z_y, logits (K, m, classes) → (K,): (−log p_y, −u_y', ...)."""
    p, us = _log_softmax_derivatives(logits)
    pick = lambda x: x[:, np.arange(labels.shape[0]), labels]  # noqa: E731
    value = -activation_derivative("log", 0, pick(p))
    return Jet([value, *(None if u is None else -pick(u) for u in us)]).mean(-1)
