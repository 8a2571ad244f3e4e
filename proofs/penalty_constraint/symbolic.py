r"""SymPy derivations behind the norm penalty as a constraint (C4, docs/claims.md#c4).

Ridge: :math:`J = w\|X\theta - y\|^2`, :math:`\Omega = \|\theta\|^2` with explicit symbol matrices
(small sizes). Steps:

* ``ridge-stationarity``: :math:`\theta(\alpha) = (X^\top X + \tfrac{\alpha}{w} I)^{-1}X^\top y` zeroes
  :math:`\nabla(J + \alpha\Omega)` (so the ½-convention gives :math:`(X^\top X + 2\alpha I)^{-1}`), for each
  convention w ∈ {½, 1, 1/n, 1/(2n)};
* ``kkt-system``: :math:`(\theta(\alpha), \alpha)` with :math:`k = \Omega(\theta(\alpha))` satisfies the KKT
  system of :math:`\min J` s.t. :math:`\Omega \le k` (stationarity of the Lagrangian, complementary slackness);
* ``k-svd-form``: :math:`k(\alpha) = \sum_i \sigma_i^2 (u_i^\top y)^2/(\sigma_i^2 + 2\alpha)^2` with X built from a
  rational rotation (exact SVD);
* ``dk-dalpha``: :math:`k'(\alpha) = -4\sum_i \sigma_i^2 (u_i^\top y)^2/(\sigma_i^2+2\alpha)^3 < 0` when
  :math:`X^\top y \ne 0`;
* ``path-monotone``: the two-line proof of C4(c) for any J, Ω (sum of the two optimality inequalities);
* ``multiplier-convention``: the ½-convention θ(α) solves the J = ‖Xθ − y‖² KKT system with multiplier 2α.

The claimed closed forms are arguments (:func:`ridge_coefficient`, :func:`doubled_multiplier`); a seed's
mistake passes its own (:func:`seed003_multiplier`), the step then ends ``refuted``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import sympy as sp

from verify import SymbolicStep, prove_identity

alpha = sp.Symbol("alpha", positive=True)
#: the (n, p) sizes the ridge steps are proved for
RIDGE_SIZES = ((2, 2), (3, 2))


def _symbols(n: int, p: int) -> tuple[sp.Matrix, sp.Matrix]:
    X = sp.Matrix(n, p, lambda i, j: sp.Symbol(f"x_{i}{j}", real=True))
    y = sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"y_{i}", real=True))
    return X, y


def _weight(convention: str, n: int) -> sp.Expr:
    return {"half": sp.Rational(1, 2), "full": sp.Integer(1), "mean": sp.Rational(1, n),
            "half-mean": sp.Rational(1, 2 * n)}[convention]


def ridge_theta(X: sp.Matrix, y: sp.Matrix, a: sp.Expr, factor: sp.Expr) -> sp.Matrix:
    """(XᵀX + factor·a·I)⁻¹Xᵀy (adjugate form, exact)."""
    A = X.T * X + factor * a * sp.eye(X.shape[1])
    return A.adjugate() * (X.T * y) / A.det()


def _penalized_gradient(X: sp.Matrix, y: sp.Matrix, w: sp.Expr, a: sp.Expr, theta: sp.Matrix) -> sp.Matrix:
    """∇_θ of w‖Xθ − y‖² + a‖θ‖² by differentiating the scalar in explicit symbols, at θ."""
    t = sp.Matrix(X.shape[1], 1, lambda i, _: sp.Symbol(f"t_{i}", real=True))
    F = w * ((X * t - y).T * (X * t - y))[0] + a * (t.T * t)[0]
    grad = sp.Matrix([sp.diff(F, ti) for ti in t])
    return grad.subs(dict(zip(t, theta, strict=True)), simultaneous=True)


def _cancel(e: sp.Expr) -> sp.Expr:
    return sp.cancel(sp.together(e))


def ridge_coefficient(w: sp.Expr) -> sp.Expr:
    """The coefficient c of αI in θ(α) = (XᵀX + cαI)⁻¹Xᵀy for J = w‖Xθ − y‖²: c = 1/w (2 in the ½-convention)."""
    return 1 / w


@functools.lru_cache(maxsize=8)
def ridge_stationarity(convention: str = "half", n: int = 2, p: int = 2,
                       coefficient: Callable[[sp.Expr], sp.Expr] = ridge_coefficient) -> SymbolicStep:
    """∇(J + αΩ)(θ(α)) = 0 for θ(α) = (XᵀX + c·αI)⁻¹Xᵀy with the claimed c = ``coefficient(w)`` (right: 1/w)."""
    X, y = _symbols(n, p)
    w = _weight(convention, n)
    fac = coefficient(w)
    theta = ridge_theta(X, y, alpha, fac)
    grad = _penalized_gradient(X, y, w, alpha, theta)
    label = {"half": r"\tfrac12", "full": "", "mean": r"\tfrac1n", "half-mean": r"\tfrac1{2n}"}[convention]
    return prove_identity(
        grad, sp.zeros(p, 1), name=f"ridge-stationarity-{convention}", sizes=f"n={n}, p={p}",
        simplifier=_cancel, spot_checks=3,
        statement=(rf"J = {label}\|X\theta-y\|^2:\ \nabla\big(J + \alpha\|\theta\|^2\big)\Big|_{{\theta = "
                   rf"(X^\top X + {sp.latex(fac)}\alpha I)^{{-1}}X^\top y}} = 0"))


@functools.lru_cache(maxsize=4)
def kkt_system(n: int = 2, p: int = 2) -> SymbolicStep:
    r"""Lagrangian stationarity ∇_θ[J + α(Ω − k)] = 0 and α(Ω(θ) − k) = 0 at θ(α), k = Ω(θ(α)).

    Dual feasibility α ≥ 0 is the hypothesis α > 0 (α = 0: θ₀ = X⁺y, k ≥ Ω(θ₀)); primal feasibility
    holds with equality. For convex J, Ω the KKT conditions are sufficient, so θ(α) is the constrained
    minimizer with multiplier α.
    """
    start = time.perf_counter()
    X, y = _symbols(n, p)
    theta = ridge_theta(X, y, alpha, 2)
    k = sp.Symbol("k", positive=True)
    t = sp.Matrix(p, 1, lambda i, _: sp.Symbol(f"t_{i}", real=True))
    lagrangian = ((X * t - y).T * (X * t - y))[0] / 2 + alpha * ((t.T * t)[0] - k)
    grad = sp.Matrix([sp.diff(lagrangian, ti) for ti in t]).subs(dict(zip(t, theta, strict=True)), simultaneous=True)
    stationarity = prove_identity(grad, sp.zeros(p, 1), name="kkt-stationarity", statement="",
                                  simplifier=_cancel, spot_checks=3)
    status = stationarity.status if stationarity.status in ("proved", "refuted") else "failed"
    return SymbolicStep(
        "kkt-system",
        (r"\nabla_\theta\big[J + \alpha(\Omega - k)\big] = 0,\ \Omega(\theta) \le k,\ \alpha \ge 0,\ "
         r"\alpha(\Omega(\theta) - k) = 0 \ \text{at}\ \theta(\alpha),\ k = \Omega(\theta(\alpha))"),
        status, f"n={n}, p={p}", (f"stationarity: {stationarity.detail}; complementary slackness and primal "
                                  "feasibility hold with equality by the choice k = Ω(θ(α)), with no computation"),
        time.perf_counter() - start)


def _rotation(s: sp.Symbol) -> sp.Matrix:
    """A rational rotation: (cos, sin) = ((1 − s²), 2s)/(1 + s²)."""
    c, si = (1 - s**2) / (1 + s**2), 2 * s / (1 + s**2)
    return sp.Matrix([[c, -si], [si, c]])


@functools.lru_cache(maxsize=1)
def k_svd_form() -> SymbolicStep:
    """‖θ(α)‖² = Σ σ_i²(u_iᵀy)²/(σ_i² + 2α)² for X = U diag(σ) Vᵀ with U, V rational rotations (2×2).

    θ_s = V diag(σ_i/(σ_i²+2α)) Uᵀy solves (XᵀX + 2αI)θ = Xᵀy (a positive definite system, so θ_s = θ(α)),
    and ‖θ_s‖² is the sum because VᵀV = I: three polynomial identities, no inverse.
    """
    start = time.perf_counter()
    su, sv = sp.symbols("s_u s_v", real=True)
    s1, s2 = sp.symbols("sigma_1 sigma_2", positive=True)
    y = sp.Matrix(sp.symbols("y_0 y_1", real=True))
    U, V = _rotation(su), _rotation(sv)
    X = U * sp.diag(s1, s2) * V.T
    c = U.T * y
    theta = V * sp.diag(*[s / (s**2 + 2 * alpha) for s in (s1, s2)]) * c
    form = sum(s**2 * ci**2 / (s**2 + 2 * alpha) ** 2 for s, ci in zip((s1, s2), c, strict=True))
    parts = [
        prove_identity(V.T * V, sp.eye(2), name="orthogonal", statement="", simplifier=_cancel),
        prove_identity((X.T * X + 2 * alpha * sp.eye(2)) * theta, X.T * y, name="solves", statement="",
                       simplifier=_cancel, spot_checks=3),
        prove_identity((theta.T * theta)[0], form, name="norm", statement="", simplifier=_cancel, spot_checks=3),
    ]
    statuses = [p.status for p in parts]
    status = "proved" if set(statuses) == {"proved"} else ("refuted" if "refuted" in statuses else "failed")
    return SymbolicStep(
        "k-svd-form",
        r"k(\alpha) = \|\theta(\alpha)\|^2 = \sum_i \frac{\sigma_i^2 (u_i^\top y)^2}{(\sigma_i^2 + 2\alpha)^2}",
        status, "n=p=2 (X = U diag(σ) Vᵀ, rational rotations)",
        "; ".join(f"{p.name}: {p.detail}" for p in parts), time.perf_counter() - start)


@functools.lru_cache(maxsize=4)
def dk_dalpha(r: int = 3) -> SymbolicStep:
    """k'(α) = −4 Σ σ_i²c_i²/(σ_i²+2α)³ for r = 1..``r`` terms; each term ≥ 0, > 0 when σ_i c_i ≠ 0."""
    start = time.perf_counter()
    details, ok = [], True
    for size in range(1, r + 1):
        s = sp.symbols(f"sigma_1:{size + 1}", positive=True)
        c = sp.symbols(f"c_1:{size + 1}", real=True)
        k = sum(si**2 * ci**2 / (si**2 + 2 * alpha) ** 2 for si, ci in zip(s, c, strict=True))
        terms = [si**2 * ci**2 / (si**2 + 2 * alpha) ** 3 for si, ci in zip(s, c, strict=True)]
        step = prove_identity(sp.diff(k, alpha), -4 * sum(terms), name="dk", statement="", spot_checks=2)
        nonneg = all(t.is_nonnegative for t in terms)
        positive_if = all(t.subs(ci, sp.Symbol("c", nonzero=True, real=True)).is_positive
                          for t, ci in zip(terms, c, strict=True))
        ok = ok and step.status == "proved" and nonneg and positive_if
        details.append(f"r={size}: derivative {step.status}, terms ≥ 0: {nonneg}, > 0 when c_i ≠ 0: {positive_if}")
    return SymbolicStep(
        "dk-dalpha",
        (r"k'(\alpha) = -4\sum_i \frac{\sigma_i^2 (u_i^\top y)^2}{(\sigma_i^2 + 2\alpha)^3} < 0 "
         r"\ \text{when}\ X^\top y \ne 0"),
        "proved" if ok else "failed", f"r = 1..{r} singular values", "; ".join(details),
        time.perf_counter() - start)


@functools.lru_cache(maxsize=1)
def path_monotone() -> SymbolicStep:
    """(α₂−α₁)(Ω₁−Ω₂) = [J₂+α₁Ω₂ − J₁−α₁Ω₁] + [J₁+α₂Ω₁ − J₂−α₂Ω₂] ≥ 0, and J₂ − J₁ ≥ α₁(Ω₁ − Ω₂) ≥ 0."""
    J1, J2, O1, O2, a1, a2 = sp.symbols("J_1 J_2 Omega_1 Omega_2 alpha_1 alpha_2", real=True)
    opt1 = J2 + a1 * O2 - (J1 + a1 * O1)  # ≥ 0: θ₁ minimizes J + α₁Ω
    opt2 = J1 + a2 * O1 - (J2 + a2 * O2)  # ≥ 0: θ₂ minimizes J + α₂Ω
    first = prove_identity(opt1 + opt2, (a2 - a1) * (O1 - O2), name="sum", statement="")
    second = prove_identity(J2 - J1, opt1 + a1 * (O1 - O2), name="J", statement="")
    ok = first.status == second.status == "proved"
    return SymbolicStep(
        "path-monotone",
        (r"(\alpha_2-\alpha_1)(\Omega_1-\Omega_2) = "
         r"\underbrace{[F_{\alpha_1}(\theta_2)-F_{\alpha_1}(\theta_1)]}_{\ge 0}"
         r" + \underbrace{[F_{\alpha_2}(\theta_1)-F_{\alpha_2}(\theta_2)]}_{\ge 0},\ "
         r"J_2 - J_1 = [F_{\alpha_1}(\theta_2)-F_{\alpha_1}(\theta_1)] + \alpha_1(\Omega_1-\Omega_2) \ge 0"),
        "proved" if ok else ("refuted" if "refuted" in (first.status, second.status) else "failed"),
        "general (any J, Ω; global minimizers θ_i of F_α = J + αΩ)", f"{first.detail}; {second.detail}")


def doubled_multiplier(a: sp.Expr) -> sp.Expr:
    """The multiplier of the ½-convention θ(α) for J = ‖Xθ − y‖²: 2α."""
    return 2 * a


def seed003_multiplier(a: sp.Expr) -> sp.Expr:
    """[S003]'s multiplier for the same θ(α) and J = ‖Xθ − y‖²: α (the ½-convention's, kept for a J without ½)."""
    return a


@functools.lru_cache(maxsize=4)
def multiplier_convention(multiplier: Callable[[sp.Expr], sp.Expr] = doubled_multiplier, n: int = 2,
                          p: int = 2) -> SymbolicStep:
    """The ½-convention θ(α) is stationary for ‖Xθ − y‖² + μ‖θ‖² with the claimed μ = ``multiplier(α)``.

    It holds iff μ = 2α (:func:`doubled_multiplier`); the step is named by μ/α (``multiplier-2alpha``).
    """
    X, y = _symbols(n, p)
    theta = ridge_theta(X, y, alpha, 2)
    mu = multiplier(alpha)
    ratio = sp.simplify(mu / alpha)
    grad = _penalized_gradient(X, y, sp.Integer(1), mu, theta)
    return prove_identity(
        grad, sp.zeros(p, 1), name=f"multiplier-{ratio}alpha", sizes=f"n={n}, p={p}",
        simplifier=_cancel, spot_checks=3,
        statement=(rf"\nabla\big(\|X\theta-y\|^2 + {ratio}\alpha\|\theta\|^2\big)"
                   r"\Big|_{\theta=(X^\top X+2\alpha I)^{-1}X^\top y} = 0"))


def equivalence_steps() -> list[SymbolicStep]:
    steps = [ridge_stationarity(conv, n, p) for conv in ("half", "full", "mean", "half-mean")
             for (n, p) in RIDGE_SIZES[:1]]
    steps.append(ridge_stationarity("half", *RIDGE_SIZES[1]))
    steps += [kkt_system(*size) for size in RIDGE_SIZES]
    steps.append(SymbolicStep(
        "convex-general",
        r"J, \Omega \text{ convex, Slater} \;\Rightarrow\; \theta_\alpha \text{ solves } "
        r"\min_{\Omega \le \Omega(\theta_\alpha)} J \text{ with multiplier } \alpha",
        "checked", sizes="softmax regression, numerically",
        detail=("SymPy carries the ridge instances above; for softmax regression (no closed-form minimizer) the "
                "equivalence is checked numerically only (SLSQP, trust-constr and projected gradient descent), "
                "so the claim as a whole is verified, not proved.")))
    return steps


def path_steps() -> list[SymbolicStep]:
    return [path_monotone(), k_svd_form(), dk_dalpha()]
