r"""C3's per-example quantities by the independent route: explicit loops in mpmath.

The re-check of :mod:`proofs.gradient_inequality`: forward and backward passes written out by
hand at ``MP_DIGITS`` digits (no torch, no autograd), returning the same
:class:`~proofs.gradient_inequality.terms.GradientTerms` as the torch route so that both are judged alike.
"""

from __future__ import annotations

from typing import Any

import mpmath
import numpy as np

from proofs.gradient_inequality.terms import GradientTerms, Pow2
from verify import MLPHeadCase

#: working precision of the re-check
MP_DIGITS = 40


def _mp_activation(name: str, z: mpmath.mpf) -> tuple[mpmath.mpf, mpmath.mpf]:
    """(g(z), g'(z)) at mpmath precision; relu'(0) = 0 as in torch."""
    if name == "tanh":
        t = mpmath.tanh(z)
        return t, 1 - t**2
    if name == "sigmoid":
        s = 1 / (1 + mpmath.exp(-z))
        return s, s * (1 - s)
    if name == "softplus":
        return mpmath.log1p(mpmath.exp(z)), 1 / (1 + mpmath.exp(-z))
    if name == "gelu":
        cdf = (1 + mpmath.erf(z / mpmath.sqrt(2))) / 2
        return z * cdf, cdf + z * mpmath.exp(-(z**2) / 2) / mpmath.sqrt(2 * mpmath.pi)
    if name == "identity":
        return z, mpmath.mpf(1)
    if name == "relu":
        return (z, mpmath.mpf(1)) if z > 0 else (mpmath.mpf(0), mpmath.mpf(0))
    raise ValueError(f"Got activation={name!r}, which the mpmath route does not know.")


def _mp_head_gradient(head: str, h: list, u: list) -> list:
    if head == "linear":
        return list(u)
    if head == "quadratic":
        return [a - b for a, b in zip(h, u)]
    e = [mpmath.exp(a + b) for a, b in zip(h, u)]
    total = mpmath.fsum(e)
    return [v / total for v in e]


def _mp_split(value: mpmath.mpf) -> tuple[float, int]:
    """An mpmath number ≥ 0 as (mantissa in [1/2, 1), exponent); only the mantissa is rounded."""
    if value == 0:
        return 0.0, 0
    mantissa, exponent = mpmath.frexp(value)
    return float(mantissa), int(exponent)


def _mp_norm(values: list) -> tuple[float, int]:
    return _mp_split(mpmath.sqrt(mpmath.fsum(v**2 for v in values)))


def _mp_svd(rows: list[list]) -> tuple[list[float], int]:
    """Singular values as mantissas relative to one exponent (that of the largest)."""
    sv = list(mpmath.svd_r(mpmath.matrix(rows), compute_uv=False))
    _, exponent = _mp_split(max(sv))
    return [float(mpmath.ldexp(s, -exponent)) for s in sv], exponent


def gradient_terms_mp(case: MLPHeadCase, digits: int = MP_DIGITS) -> GradientTerms:
    """The same quantities by explicit forward/backward loops in mpmath (no torch, no autograd).

    Backprop by hand: δ⁽ˡ⁾ = g'(z⁽ˡ⁺¹⁾) ⊙ ∇F, δ⁽ᵗ⁻¹⁾ = g'(z⁽ᵗ⁾) ⊙ W⁽ᵗ⁾ᵀδ⁽ᵗ⁾, ∇_W f = δhᵀ, ∇_b f = δ,
    ∇_x f = W⁽¹⁾ᵀδ⁽¹⁾; J⁽ᵗ⁺¹⁾ = diag(g'(z⁽ᵗ⁺¹⁾)) W⁽ᵗ⁾ J⁽ᵗ⁾; singular values by ``mpmath.svd_r``.
    At 40 digits round-off is negligible, so each ``*_abs`` field is the quantity itself, and
    mpmath's exponent range is unbounded, so every example is ``resolved``.
    """
    net = case.mlp
    depth = net.depth
    rows: list[dict[str, Any]] = []
    with mpmath.workdps(digits):
        mp = lambda a: [mpmath.mpf(float(v)) for v in a]  # exact: every float64 is an mpf
        Ws = [[mp(row) for row in W] for W in net.weights]
        bs = [mp(b) for b in net.biases] if net.bias else [mp(np.zeros(w)) for w in net.widths[1:]]
        w_sv = [np.array([float(s) for s in mpmath.svd_r(mpmath.matrix(W), compute_uv=False)]) for W in Ws]
        for x in net.x:
            hs, slopes = [mp(x)], []
            for W, b in zip(Ws, bs):
                pairs = [_mp_activation(net.activation, mpmath.fsum(w * a for w, a in zip(row, hs[-1])) + bi)
                         for row, bi in zip(W, b)]
                hs.append([p[0] for p in pairs])
                slopes.append([p[1] for p in pairs])
            delta = [s * d for s, d in zip(slopes[-1], _mp_head_gradient(case.head, hs[-1], mp(case.u)))]
            blocks: list[list] = [[] for _ in range(depth)]
            for t in range(depth - 1, -1, -1):
                blocks[t] = [d * a for d in delta for a in hs[t]] + (list(delta) if net.bias else [])
                back = [mpmath.fsum(Ws[t][i][j] * delta[i] for i in range(len(delta))) for j in range(len(hs[t]))]
                delta = back if t == 0 else [s * v for s, v in zip(slopes[t - 1], back)]
            J = [[mpmath.mpf(int(i == j)) for j in range(net.d_in)] for i in range(net.d_in)]
            j_sv, j_fro = [], []
            for t in range(depth):
                j_sv.append(_mp_svd(J))
                j_fro.append(_mp_norm([v for row in J for v in row]))
                if t < depth - 1:
                    J = [[slopes[t][i] * mpmath.fsum(Ws[t][i][k] * J[k][j] for k in range(len(J)))
                          for j in range(net.d_in)] for i in range(len(Ws[t]))]
            rows.append({"grad_x": _mp_norm(delta), "grad_theta": _mp_norm([v for b in blocks for v in b]),
                         "grad_layer": [_mp_norm(b) for b in blocks], "j_fro": j_fro, "j_sv": j_sv,
                         "h_sq": [float(mpmath.fsum(a**2 for a in hs[t])) for t in range(depth)]})
    pow2 = lambda key: Pow2(np.array([[p[0] for p in r[key]] if isinstance(r[key], list) else r[key][0]
                                      for r in rows]),
                            np.array([[p[1] for p in r[key]] if isinstance(r[key], list) else r[key][1]
                                      for r in rows]))
    return GradientTerms(
        grad_x=pow2("grad_x"), grad_x_abs=pow2("grad_x"), grad_theta=pow2("grad_theta"),
        grad_theta_abs=pow2("grad_theta"), grad_layer=pow2("grad_layer"), grad_layer_abs=pow2("grad_layer"),
        h_sq=np.array([r["h_sq"] for r in rows]), w_sv=tuple(w_sv),
        j_sv=tuple(Pow2(np.array([r["j_sv"][t][0] for r in rows]), np.array([r["j_sv"][t][1] for r in rows]))
                   for t in range(depth)),
        j_abs=pow2("j_fro"), resolved=np.ones((len(rows), depth), dtype=bool),
    )
