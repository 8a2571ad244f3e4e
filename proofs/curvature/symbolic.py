r"""SymPy derivations of the curvature family (C8, docs/claims.md#c8).

* :func:`gauss_newton_split` — the chain rule to second order for :math:`\ell(f(\theta))` with undefined
  :math:`f_1, f_2` of :math:`\theta \in \mathbb{R}^2`: :math:`\nabla^2 = J^\top \nabla^2\ell\, J + \sum_k
  \partial_k\ell\, \nabla^2 f_k`;
* :func:`softmax_output_hessian` — :math:`u^\top(\operatorname{diag} p - pp^\top)u = \sum_i p_i(u_i - p^\top u)^2`
  on the simplex (k = 3): the cross-entropy's Hessian in the logits is PSD, hence so is the GGN;
* :func:`hutchinson_moments` — :math:`E[z^\top Az]` and :math:`\operatorname{Var}[z^\top Az]` for a general
  symmetric 3 × 3 A, from the moments of independent Rademacher (:math:`E z^k = 1` for even k) or Gaussian
  (:math:`E z^4 = 3`) entries; returned with the closed forms in :math:`T = \operatorname{tr}A`,
  :math:`F = \|A\|_F^2`, :math:`D = \sum_i A_{ii}^2` that the checks lambdify;
* :func:`rescaling` — a ReLU layer scaled by c > 0 and the next by 1/c compute the same function;
  :func:`sharpness_moves` — the 1-1-1 linear network whose Hessian trace changes under that rescaling.
"""

from __future__ import annotations

import functools
import itertools

import sympy as sp

from verify import SymbolicStep, prove_identity

__all__ = ["MOMENT_ARGS", "gauss_newton_split", "hutchinson_moments", "minimum_not_gauss_newton", "rescaling",
           "sharpness_moves", "softmax_output_hessian"]

T_, F_, D_ = sp.symbols("T F D", real=True)
#: the arguments of the lambdified closed forms: (tr A, ‖A‖_F², Σ A_ii²)
MOMENT_ARGS = (T_, F_, D_)


@functools.lru_cache(maxsize=1)
def gauss_newton_split() -> SymbolicStep:
    """∂²ℓ(f(θ))/∂θ_i∂θ_j = Σ_ab ℓ_ab ∂_i f_a ∂_j f_b + Σ_a ℓ_a ∂_ij f_a, for undefined ℓ, f_1, f_2."""
    t1, t2 = sp.symbols("theta_1 theta_2", real=True)
    y1, y2 = sp.symbols("y_1 y_2", real=True)
    f = [sp.Function("f_1")(t1, t2), sp.Function("f_2")(t1, t2)]
    ell = sp.Function("ell")(y1, y2)
    composed = ell.subs({y1: f[0], y2: f[1]}, simultaneous=True)
    theta, ys = (t1, t2), (y1, y2)
    at_f = {y1: f[0], y2: f[1]}
    J = sp.Matrix(2, 2, lambda a, i: sp.diff(f[a], theta[i]))
    H_ell = sp.Matrix(2, 2, lambda a, b: sp.diff(ell, ys[a], ys[b]).subs(at_f, simultaneous=True))
    residual = sum((sp.diff(ell, ys[a]).subs(at_f, simultaneous=True) * sp.hessian(f[a], theta) for a in range(2)),
                   sp.zeros(2, 2))
    lhs = sp.hessian(composed, theta).applyfunc(sp.expand)
    rhs = (J.T * H_ell * J + residual).applyfunc(sp.expand)
    same = (lhs - rhs).applyfunc(sp.simplify) == sp.zeros(2, 2)
    return SymbolicStep(
        "gauss-newton-split",
        r"\nabla^2_\theta\,\ell(f(\theta)) = J^\top \nabla^2_f\ell\, J "
        r"+ \sum_k \partial_{f_k}\ell\,\nabla^2_\theta f_k",
        "proved" if same else "failed", "n=2, two outputs, undefined ℓ, f",
        "SymPy's chain rule on undefined functions; the difference simplifies to the zero matrix")


@functools.lru_cache(maxsize=1)
def softmax_output_hessian() -> SymbolicStep:
    """uᵀ(diag p − ppᵀ)u = Σ p_i (u_i − pᵀu)² when Σ p_i = 1 (k = 3): a variance, so ≥ 0."""
    p = sp.symbols("p_1:4", positive=True)
    u = sp.symbols("u_1:4", real=True)
    P, U = sp.Matrix(p), sp.Matrix(u)
    quadratic = (U.T * (sp.diag(*p) - P * P.T) * U)[0]
    mean = sum(pi * ui for pi, ui in zip(p, u))
    variance = sum(pi * (ui - mean) ** 2 for pi, ui in zip(p, u))
    return prove_identity(quadratic, variance, name="softmax-output-hessian-variance", sizes="k=3",
                          constraint=(p[2], 1 - p[0] - p[1]),
                          statement=(r"u^\top(\operatorname{diag}p - pp^\top)u = \sum_i p_i\,(u_i - p^\top u)^2 "
                                     r"\ge 0 \quad (\textstyle\sum_i p_i = 1)"),
                          simplifier=lambda e: sp.expand(e.subs(p[2], 1 - p[0] - p[1])))


def _moment(power: int, distribution: str) -> int:
    if power % 2:
        return 0
    return 1 if distribution == "rademacher" else sp.factorial2(power - 1)


def _expectation(expr: sp.Expr, z: tuple[sp.Symbol, ...], distribution: str) -> sp.Expr:
    """E over independent z_i of a polynomial in z, monomial by monomial."""
    poly = sp.Poly(sp.expand(expr), *z)
    return sp.expand(sum(coeff * sp.Mul(*(_moment(k, distribution) for k in powers))
                         for powers, coeff in poly.terms()))


@functools.lru_cache(maxsize=4)
def hutchinson_moments(distribution: str, claimed_variance: str = "") -> tuple[SymbolicStep, SymbolicStep,
                                                                                sp.Expr, sp.Expr]:
    """(mean step, variance step, the mean in (T, F, D), the variance in (T, F, D)) for n = 3.

    ``claimed_variance``: ``"gaussian"`` states the Gaussian variance 2F for these probes (the mistake).
    """
    n = 3
    a = {(i, j): sp.Symbol(f"a_{min(i, j)}{max(i, j)}", real=True) for i, j in itertools.product(range(n), repeat=2)}
    A = sp.Matrix(n, n, lambda i, j: a[(i, j)])
    z = sp.symbols(f"z_1:{n + 1}", real=True)
    Z = sp.Matrix(z)
    q = (Z.T * A * Z)[0]
    mean = _expectation(q, z, distribution)
    variance = sp.expand(_expectation(q ** 2, z, distribution) - mean ** 2)
    T = A.trace()
    F = sum(A[i, j] ** 2 for i in range(n) for j in range(n))
    D = sum(A[i, i] ** 2 for i in range(n))
    closed_mean = T_
    closed_var = 2 * F_ if distribution == "gaussian" or claimed_variance == "gaussian" else 2 * (F_ - D_)
    values = {T_: T, F_: F, D_: D}
    probes = "Rademacher" if distribution == "rademacher" else "Gaussian"
    mean_step = prove_identity(mean, closed_mean.subs(values), name=f"hutchinson-mean-{distribution}", sizes="n=3",
                               statement=rf"E[z^\top A z] = \operatorname{{tr}}A\ \ ({probes}\ z)")
    var_tex = r"2\|A\|_F^2" if closed_var == 2 * F_ else r"2(\|A\|_F^2 - \textstyle\sum_i A_{ii}^2)"
    var_step = prove_identity(variance, closed_var.subs(values), name=f"hutchinson-variance-{distribution}",
                              sizes="n=3, A symmetric",
                              statement=rf"\operatorname{{Var}}[z^\top A z] = {var_tex}\ \ ({probes}\ z)")
    return mean_step, var_step, closed_mean, closed_var


@functools.lru_cache(maxsize=1)
def rescaling() -> SymbolicStep:
    """w₂·relu(c(w₁x + b₁))/c = w₂·relu(w₁x + b₁) for c > 0 (relu is positively homogeneous)."""
    w1, b1, w2, x = sp.symbols("w_1 b_1 w_2 x", real=True)
    c = sp.Symbol("c", positive=True)
    z = w1 * x + b1
    lhs = (w2 / c) * sp.Max(0, c * z)
    rhs = w2 * sp.Max(0, z)
    same = sp.simplify(sp.refine(lhs - rhs, sp.Q.positive(c))) == 0 or all(
        sp.simplify(lhs.subs(z, v) - rhs.subs(z, v)) == 0 for v in (sp.Symbol("s", positive=True),
                                                                    -sp.Symbol("s", positive=True), 0))
    return SymbolicStep("rescaling-preserves-function",
                        r"\tfrac{w_2}{c}\,\mathrm{relu}(c(w_1x+b_1)) = w_2\,\mathrm{relu}(w_1x+b_1),\ c > 0",
                        "proved" if same else "failed", "one unit",
                        "relu(c z) = c relu(z) for c > 0, checked on z > 0, z < 0 and z = 0")


@functools.lru_cache(maxsize=1)
def sharpness_moves() -> SymbolicStep:
    """L = ½(w₂w₁x − t)²: tr∇²L = (w₁² + w₂²)x² at (w₁, w₂) but (c²w₁² + w₂²/c²)x² at (cw₁, w₂/c)."""
    w1, w2, x, t = sp.symbols("w_1 w_2 x t", real=True)
    c = sp.Symbol("c", positive=True)
    loss = (w2 * w1 * x - t) ** 2 / 2
    H = sp.hessian(loss, (w1, w2))
    moved = H.subs({w1: c * w1, w2: w2 / c}, simultaneous=True)
    change = sp.factor(sp.simplify(moved.trace() - H.trace()))
    point = {w1: 1, w2: 1, x: 1, t: 0, c: 2}
    lam = [max(sp.Matrix(m.subs(point)).eigenvals()) for m in (H, moved)]
    refutes = change != 0 and lam[0] != lam[1]
    return SymbolicStep("sharpness-not-invariant",
                        r"L=\tfrac12(w_2w_1x-t)^2:\ \operatorname{tr}\nabla^2L(cw_1, w_2/c) - "
                        r"\operatorname{tr}\nabla^2L(w_1,w_2) = " + sp.latex(change),
                        "refuted" if refutes else "failed", "1-1-1 linear network",
                        f"at w₁ = w₂ = x = 1, t = 0, c = 2: λ_max {lam[0]} becomes {lam[1]}")


@functools.lru_cache(maxsize=1)
def minimum_not_gauss_newton() -> SymbolicStep:
    """f(θ) = θ², L = (f − t)² with t < 0: θ = 0 is a strict minimum (L'' = −4t > 0) but G = 2f'(0)² = 0."""
    th = sp.Symbol("theta", real=True)
    t = sp.Symbol("t", negative=True)
    f = th ** 2
    loss = (f - t) ** 2
    grad0 = sp.diff(loss, th).subs(th, 0)
    hess0 = sp.simplify(sp.diff(loss, th, 2).subs(th, 0))
    ggn0 = (2 * sp.diff(f, th) ** 2).subs(th, 0)
    refutes = grad0 == 0 and sp.ask(sp.Q.positive(hess0)) and ggn0 == 0
    return SymbolicStep("minimum-not-gauss-newton",
                        r"f=\theta^2,\ L=(f-t)^2,\ t<0:\ L'(0)=0,\ L''(0) = " + sp.latex(hess0) + r" > 0 = G(0)",
                        "refuted" if refutes else "failed", "one parameter",
                        f"L'(0) = {grad0}, L''(0) = {hess0}, G(0) = 2 f'(0)² = {ggn0}")
