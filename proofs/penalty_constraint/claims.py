r"""A norm penalty is a constraint in disguise (C4), when J and Ω are convex, and seed 003's slips.

Source: seed 003 ("深入理解深度学习——正则化(Regularization):作为约束的范数惩罚", after the Deep
Learning book §7.2), which writes the generalized Lagrangian
:math:`L(\theta, \alpha) = J(\theta) + \alpha(\Omega(\theta) - k)`, calls
:math:`\theta^* = \arg\min_\theta \max_\alpha L` the solution and concludes that penalized training with
:math:`\alpha^*` *is* the constrained problem; it then recommends per-column max-norm projection
(Srebro & Shraibman 2005). Restated precisely as C4 in ``CLAIMS.md``.

Statement (C4 b, convex J and Ω, Slater): a constrained minimizer :math:`\theta^*` of
:math:`\min J` s.t. :math:`\Omega \le k` has a multiplier :math:`\alpha^* \ge 0` with

.. math:: \theta^* \in \arg\min_\theta J(\theta) + \alpha^*\Omega(\theta), \qquad
          \alpha^*(\Omega(\theta^*) - k) = 0 ,

and for ridge (:math:`J = \tfrac12\|X\theta-y\|^2`, :math:`\Omega=\|\theta\|^2`)
:math:`\theta(\alpha) = (X^\top X + 2\alpha I)^{-1}X^\top y` with
:math:`k(\alpha) = \sum_i \sigma_i^2(u_i^\top y)^2/(\sigma_i^2+2\alpha)^2` strictly decreasing.

Claims: ``penalty-constraint-equivalence``, ``penalty-path-monotone``, ``max-norm-projection`` (hold);
``seed003-max-norm-on-columns``, ``penalty-constraint-without-convexity``,
``penalty-constraint-multiplier-convention`` (refuted). Cases, solvers and figures live in
:mod:`proofs.penalty_constraint.numeric`, the derivations in :mod:`proofs.penalty_constraint.symbolic`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import mpmath
import numpy as np
import sympy as sp
import torch

from proofs.penalty_constraint import FAMILY
from proofs.penalty_constraint import figures as fig
from proofs.penalty_constraint import numeric as num
from proofs.penalty_constraint import symbolic as sym
from verify import (
    CaseResult,
    CheckContext,
    Comparison,
    SymbolicResult,
    Tolerance,
    as_tensor,
    compare_close,
    compare_leq,
    gradient,
    softmax_regression_loss,
)

EPS64 = float(np.finfo(np.float64).eps)

CONVEX = (r"J, \Omega \text{ convex};\ \Omega = \|\theta\|^2;\ \exists\theta: \Omega(\theta) < k \ (\text{Slater})",
          r"\text{ridge: } J = w\|X\theta - y\|^2,\ w \in \{\tfrac12, 1, \tfrac1n, \tfrac1{2n}\};\ "
          r"\text{softmax regression: } J = \text{mean cross-entropy of } W")

#: torch.renorm divides by ‖w‖ + RENORM_OFFSET
RENORM_OFFSET = 1e-7


def _solver_tol() -> Tolerance:
    """The solver's accuracy as a Tolerance: rtol = SOLVER_RTOL + FAMILY.depth·eps (float64)."""
    return Tolerance("float64", FAMILY.depth + num.SOLVER_RTOL / EPS64)


def _worst(named: list[tuple[str, Comparison]]) -> tuple[str, Comparison]:
    violated = [c for c in named if c[1].violated]
    decided = [c for c in named if c[1].status != "undecidable"]
    return min(violated or decided or named, key=lambda c: c[1].slack)


def _result(named: list[tuple[str, Comparison]], tags: tuple[str, ...], details: dict[str, Any],
            tol: Tolerance, solver: str = "") -> CaseResult:
    which, worst = _worst(named)
    details = {**details, "worst_relation": which, "slacks": {n: c.slack for n, c in named}}
    described = tol.describe()
    if solver:
        described += f"; solver relations: {_solver_tol().describe()} ({solver} + KKT Newton polish)"
    return CaseResult(worst, tags, details, described)


def _penalized(case: Any, factor: float | None = None) -> tuple[np.ndarray, float, float]:
    """The penalized minimizer θ_α (the formula under test for ridge), the level k, and a distance bound."""
    if isinstance(case, num.SoftmaxCase):
        theta, dist = num.newton_penalized(num.softmax_problem(case), case.alpha)
        return theta, float(theta @ theta), dist
    X, y = case.X, case.y
    if case.alpha == 0:
        theta = np.linalg.lstsq(X, y, rcond=None)[0]
        return theta, case.k_factor * float(theta @ theta), 0.0
    fac = 1.0 / num.j_weight(case.convention, X.shape[0]) if factor is None else factor
    theta = np.linalg.solve(X.T @ X + fac * case.alpha * np.eye(X.shape[1]), X.T @ y)
    return theta, float(theta @ theta), 0.0


def _torch_objective(case: Any, ctx: CheckContext) -> Callable[[torch.Tensor], torch.Tensor]:
    X = as_tensor(case.X, ctx.dtype, ctx.device)
    if isinstance(case, num.SoftmaxCase):
        y = torch.tensor(case.y, device=X.device)
        return lambda t: softmax_regression_loss(t, X, y, case.k) + case.alpha * (t @ t)
    y = as_tensor(case.y, ctx.dtype, ctx.device)
    w = num.j_weight(case.convention, case.X.shape[0])
    return lambda t: w * ((X @ t - y) ** 2).sum() + case.alpha * (t @ t)


def _gradient_at_zero_scale(case: Any) -> float:
    """Size of the terms that cancel in ∇J(0) (θ_α = 0 exactly when ∇J(0) = 0)."""
    if isinstance(case, num.SoftmaxCase):
        return float(np.sqrt(case.k) * np.linalg.norm(np.abs(case.X).sum(axis=0))) / case.X.shape[0]
    w = num.j_weight(case.convention, case.X.shape[0])
    return 2 * w * float(np.linalg.norm(np.abs(case.X).T @ np.abs(case.y)))


def equivalence_check(case: Any, ctx: CheckContext, factor: float | None = None, mult_factor: float = 1.0,
                      method: str = "SLSQP") -> CaseResult:
    """θ_α (penalized) vs the constrained solver's minimizer, value and multiplier, and projected GD.

    ``factor`` replaces 1/w in the ridge formula and ``mult_factor`` scales the claimed multiplier
    (wrong variants, for tests).
    """
    tol, stol = Tolerance(ctx.dtype, FAMILY.depth), _solver_tol()
    prob = num.problem_of(case)
    theta, k, dist = _penalized(case, factor)
    tags = tuple(case.tags)
    g0_tol = tol.atol(_gradient_at_zero_scale(case))
    if (k <= 0 or float(np.linalg.norm(prob.grad(np.zeros(prob.dim)))) <= g0_tol
            or (case.alpha > 0 and np.sqrt(k) <= g0_tol / (2 * case.alpha))):
        vacuous = Comparison("undecidable", 0.0, 0.0, 0.0, 0.0, 0.0, None, 0.0, 0.0)
        reason = "∇J(0) = 0 up to round-off, so θ_α = 0 and k = 0: no θ with Ω(θ) < k (Slater fails)"
        return CaseResult(vacuous, (*tags, "slater-fails"), {"reason": reason}, tol.describe())
    # 1. θ_α is stationary for J + αΩ (torch autograd, eps-level)
    t = as_tensor(theta, ctx.dtype, ctx.device)
    g = gradient(_torch_objective(case, ctx), t).detach()
    grad_scale = prob.L * float(np.linalg.norm(theta)) + float(np.linalg.norm(prob.grad(np.zeros(prob.dim)))) \
        + 2 * case.alpha * float(np.linalg.norm(theta))
    named = [("penalized-stationarity", compare_close(float(g.norm()), 0.0, grad_scale, tol))]
    # 2. the constrained solver
    sol = num.constrained_solve(prob, k, method)
    J_alpha, J_star = prob.J(theta), prob.J(sol.theta)
    value_scale = prob.L * k + abs(J_alpha)
    unique = not (isinstance(case, num.RidgeCase) and case.alpha == 0 and case.k_factor > 1
                  and np.linalg.matrix_rank(case.X) < case.X.shape[1])
    if unique:
        err = float(np.linalg.norm(sol.theta - theta))
        named.append(("constrained-minimizer", compare_close(err, 0.0, np.sqrt(k), stol, abs_err=max(err - dist, 0))))
    named.append(("constrained-value", compare_close(J_star, J_alpha, value_scale, stol)))
    claimed = mult_factor * case.alpha
    named.append(("multiplier", compare_close(sol.multiplier, claimed, prob.L / 2 + case.alpha, stol)))
    # 3. projected gradient descent: J(θ_α) ≤ J(θ_T) ≤ J(θ_α) + 2Lk/(T+1)²
    theta_T, bound = num.fista_projected(prob, k)
    J_T = prob.J(theta_T)
    named.append(("pgd-not-below", compare_leq(J_alpha, J_T, value_scale, tol, noise=abs(J_T) + abs(J_alpha))))
    named.append(("pgd-reaches", compare_leq(J_T - J_alpha, bound, value_scale, tol, noise=abs(J_T) + abs(J_alpha))))
    details = {"alpha": case.alpha, "k": k, "solver_multiplier": sol.multiplier, "claimed_multiplier": claimed,
               "solver": method, "solver_status": sol.status, "solver_message": sol.message,
               "kkt_polish_steps": sol.polish_steps, "minimizer_distance": float(np.linalg.norm(sol.theta - theta)),
               "pgd_distance": float(np.linalg.norm(theta_T - theta)), "pgd_value_gap": J_T - J_alpha,
               "pgd_bound": bound, "penalized_distance_bound": dist}
    solver = f"SLSQP ftol {num.SLSQP_FTOL:g}" if method == "SLSQP" else "trust-constr gtol 1e-14"
    return _result(named, tags, details, tol, solver)


def convention_check(case: num.RidgeCase, ctx: CheckContext) -> CaseResult:
    """θ = (XᵀX + 2αI)⁻¹Xᵀy against the solver on min ‖Xθ − y‖² s.t. ‖θ‖² ≤ ‖θ‖²: multiplier α claimed."""
    full = num.RidgeCase(case.X, case.y, case.alpha, "full")
    return equivalence_check(full, ctx, factor=2.0)


def convention_recheck(case: num.RidgeCase, ctx: CheckContext) -> CaseResult:
    """The multiplier of θ in exact rationals: 2Xᵀ(Xθ − y) + 2μθ = 0 gives μ = −θᵀXᵀ(Xθ − y)/‖θ‖²."""
    X = sp.Matrix(case.X.shape[0], case.X.shape[1], [sp.Rational(float(v)) for v in case.X.ravel()])
    y = sp.Matrix([sp.Rational(float(v)) for v in case.y])
    a = sp.Rational(float(case.alpha))
    theta = (X.T * X + 2 * a * sp.eye(X.shape[1])).LUsolve(X.T * y)
    mu = -(theta.T * X.T * (X * theta - y))[0] / (theta.T * theta)[0]
    residual = 2 * X.T * (X * theta - y) + 2 * mu * theta
    scale = float(np.linalg.norm(case.X, 2)) ** 2 + case.alpha
    tol = Tolerance("float64", 4.0)
    return CaseResult(compare_close(float(mu), case.alpha, scale, tol), ("ridge", "exact-rationals"),
                      {"exact_multiplier": float(mu), "claimed": case.alpha, "ratio": float(mu / a),
                       "exact_residual_is_zero": all(sp.simplify(r) == 0 for r in residual)}, tol.describe())


def path_check(case: num.PathCase, ctx: CheckContext, flip: str = "") -> CaseResult:
    """Ω(θ_α₂) ≤ Ω(θ_α₁) and J(θ_α₁) ≤ J(θ_α₂); ``flip`` ∈ {'omega', 'J'} reverses one (tests)."""
    tol = Tolerance(ctx.dtype, FAMILY.depth)
    prob, thetas, bounds = num.problem_of(case.problem), [], []
    for a in (case.alpha1, case.alpha2):
        problem = replace(case.problem, alpha=a)
        theta, _, dist = _penalized(problem)
        thetas.append(theta)
        if isinstance(problem, num.RidgeCase):
            s = np.linalg.svd(problem.X, compute_uv=False)
            fac = a / num.j_weight(problem.convention, problem.X.shape[0])
            s_min = s[-1] ** 2 if problem.X.shape[0] >= problem.X.shape[1] else 0.0
            dist = (s[0] ** 2 + fac) / (s_min + fac) * EPS64 * float(np.linalg.norm(theta))
        bounds.append(dist)
    om = [float(t @ t) for t in thetas]
    J = [prob.J(t) for t in thetas]
    dO = [2 * np.sqrt(o) * d + d * d for o, d in zip(om, bounds, strict=True)]
    dJ = [float(np.linalg.norm(prob.grad(t))) * d + prob.L * d * d for t, d in zip(thetas, bounds, strict=True)]
    j0 = prob.J(np.zeros(prob.dim))
    omega = (om[1] - dO[1] - dO[0], om[0]) if flip != "omega" else (om[0] - dO[0] - dO[1], om[1])
    jrel = (J[0] - dJ[0] - dJ[1], J[1]) if flip != "J" else (J[1] - dJ[0] - dJ[1], J[0])
    named = [("omega-nonincreasing", compare_leq(*omega, max(om), tol, noise=sum(om))),
             ("J-nondecreasing", compare_leq(*jrel, j0, tol, noise=sum(abs(v) for v in J) + j0))]
    details = {"alpha1": case.alpha1, "alpha2": case.alpha2, "omega": om, "J": J, "distance_bounds": bounds}
    return _result(named, tuple(case.problem.tags), details, tol)


def nonconvex_check(case: tuple[float, ...], ctx: CheckContext, precise: bool = False) -> CaseResult:
    """The constrained global minimizer t* (grid) with its KKT multiplier vs the global minimum of J + α*t²."""
    params = tuple(float(v) for v in case)
    a, b, c, d, _, k = params
    points = num.GRID_POINTS * (10 if precise else 1)
    r = float(np.sqrt(k))
    t_star, _ = num.global_min_1d(lambda t: num.bump_J(params, t), -r, r, points)
    active = abs(t_star) == r
    alpha = max(-num.bump_dJ(params, t_star) / (2 * t_star), 0.0) if active else 0.0
    P = lambda t: num.bump_J(params, t) + alpha * t * t  # noqa: E731
    p_star = float(P(np.array([t_star]))[0])
    R = np.sqrt(max(p_star + a + c, 0.0) / alpha) + 1.0 if alpha > 0 else 0.0
    R = max(R, abs(b) + 6.0, abs(d) + 6.0, r + 1.0)
    t_glob, p_glob = num.global_min_1d(P, -R, R, points)
    scale = a + c + alpha * k
    tol = Tolerance("float64" if precise else ctx.dtype, FAMILY.depth)
    if precise:
        with mpmath.workdps(40):
            mp_alpha = mpmath.mpf(alpha)
            mpP = lambda t: num.bump_J(params, mpmath.mpf(t), mpmath) + mp_alpha * mpmath.mpf(t) ** 2  # noqa: E731
            p_star, p_glob = float(mpP(t_star)), float(mpP(t_glob))
    comparison = compare_leq(p_star, p_glob, scale, tol, noise=abs(p_star) + abs(p_glob))
    tags = ("active" if active else "inactive", "c4-example" if params == num.EXAMPLE else "random")
    return CaseResult(comparison, tags, {"t_star": t_star, "alpha_star": alpha, "t_global": t_glob,
                                         "penalized_at_t_star": p_star, "penalized_global": p_glob,
                                         "grid_points": points, "search_interval": [-R, R],
                                         "mpmath_digits": 40 if precise else None}, tol.describe())


def _linear(W: np.ndarray, ctx: CheckContext) -> torch.nn.Linear:
    out, inp = W.shape
    lin = torch.nn.Linear(inp, out, bias=False, dtype=getattr(torch, ctx.dtype), device=ctx.device)
    with torch.no_grad():
        lin.weight.copy_(as_tensor(W, ctx.dtype, ctx.device))
    return lin


def _incoming_norms(lin: torch.nn.Linear, ctx: CheckContext) -> np.ndarray:
    """‖∂y_j/∂x‖ per output unit j, by autograd (a unit's incoming weights, whatever the layout)."""
    x = torch.zeros(lin.in_features, dtype=lin.weight.dtype, device=ctx.device)
    jac = torch.autograd.functional.jacobian(lambda v: lin(v), x)
    return jac.norm(dim=1).detach().cpu().numpy().astype(np.float64)


def max_norm_check(case: num.MaxNormCase, ctx: CheckContext, always_scale: bool = False,
                   renorm_dim: int = 0) -> CaseResult:
    """P(w) per row: feasible, optimal (certificate), = SLSQP's projection, = torch.renorm rows ± offset."""
    tol, stol, c = Tolerance(ctx.dtype, FAMILY.depth), _solver_tol(), case.c
    W = np.asarray(case.W, dtype=np.float64)
    lin = _linear(W, ctx)
    with torch.no_grad():
        lin.weight.copy_(torch.renorm(lin.weight, 2, renorm_dim, c))
    R = lin.weight.detach().cpu().numpy().astype(np.float64)
    incoming = _incoming_norms(lin, ctx)
    named, multipliers = [], []
    for j, w in enumerate(W):
        nw = float(np.linalg.norm(w))
        p = w * (c / nw if always_scale and nw > 0 else min(1.0, c / nw) if nw > 0 else 1.0)
        scale = max(nw, c)
        named.append((f"row{j}-feasible", compare_leq(float(np.linalg.norm(p)), c, c, tol)))
        cert = c * float(np.linalg.norm(w - p)) - float((w - p) @ p)
        named.append((f"row{j}-optimality", compare_leq(cert, 0.0, scale * c, tol)))
        prob = num.Problem(lambda v, w=w: 0.5 * float((v - w) @ (v - w)), lambda v, w=w: v - w,
                           lambda v: np.eye(v.size), 1.0, w.size)
        sol = num.constrained_solve(prob, c * c)
        err = float(np.linalg.norm(sol.theta - p))
        named.append((f"row{j}-solver", compare_close(err, 0.0, scale, stol)))
        multipliers.append(sol.multiplier)
        offset = c * RENORM_OFFSET / nw if nw > c else 0.0
        named.append((f"row{j}-renorm", compare_leq(float(np.linalg.norm(R[j] - p)), offset, scale, tol)))
        named.append((f"unit{j}-incoming", compare_leq(float(incoming[j]), c, c, tol)))
    details = {"c": c, "row_norms": np.linalg.norm(W, axis=1).tolist(), "unit_multipliers": multipliers,
               "incoming_norms_after_renorm": incoming.tolist()}
    return _result(named, case.tags, details, tol, f"SLSQP ftol {num.SLSQP_FTOL:g}")


def columns_check(case: num.MaxNormCase, ctx: CheckContext) -> CaseResult:
    """torch.renorm over columns (dim 1), then every unit's incoming-weight norm ≤ c (claimed)."""
    tol, c = Tolerance(ctx.dtype, FAMILY.depth), case.c
    lin = _linear(np.asarray(case.W), ctx)
    with torch.no_grad():
        lin.weight.copy_(torch.renorm(lin.weight, 2, 1, c))
    incoming = _incoming_norms(lin, ctx)
    j = int(np.argmax(incoming))
    return CaseResult(compare_leq(float(incoming[j]), c, c, tol), case.tags,
                      {"c": c, "unit": j, "incoming_norms": incoming.tolist(),
                       "column_norms_after": np.linalg.norm(lin.weight.detach().cpu().numpy(), axis=0).tolist()},
                      tol.describe())


def columns_recheck(case: num.MaxNormCase, ctx: CheckContext) -> CaseResult:
    """Column scaling min(1, c/‖col‖) in mpmath (50 digits), then the largest row norm vs c."""
    with mpmath.workdps(50):
        W = mpmath.matrix([[mpmath.mpf(float(v)) for v in row] for row in np.asarray(case.W)])
        c = mpmath.mpf(case.c)
        for j in range(W.cols):
            nrm = mpmath.sqrt(sum(W[i, j] ** 2 for i in range(W.rows)))
            s = min(mpmath.mpf(1), c / nrm) if nrm > 0 else mpmath.mpf(1)
            for i in range(W.rows):
                W[i, j] *= s
        rows = [float(mpmath.sqrt(sum(W[i, j] ** 2 for j in range(W.cols)))) for i in range(W.rows)]
    tol = Tolerance("float64", 4.0)
    return CaseResult(compare_leq(max(rows), case.c, case.c, tol), case.tags, {"row_norms": rows},
                      "mpmath 50 digits; " + tol.describe())



EQUIVALENCE = FAMILY.claim(
    id="penalty-constraint-equivalence", title="Norm penalty ⇔ norm constraint (convex J, Ω)",
    statement=(r"\theta_\alpha = \arg\min_\theta J + \alpha\Omega,\ k = \Omega(\theta_\alpha) \;\Longrightarrow\; "
               r"\theta_\alpha = \arg\min_{\Omega(\theta)\le k} J(\theta) \text{ with KKT multiplier } \alpha;\ "
               r"\text{ridge: } \theta_\alpha = (X^\top X + \tfrac{\alpha}{w} I)^{-1}X^\top y"),
    source=FAMILY.source, hypotheses=CONVEX,
    symbolic=lambda: SymbolicResult(sym.equivalence_steps()),
    cases=num.equivalence_cases, check=equivalence_check,
    recheck=lambda case, ctx: equivalence_check(case, ctx, method="trust-constr"),
    decode_case=num.problem_from_json,
    notes=(f"Oracle: scipy SLSQP (ftol {num.SLSQP_FTOL:g}) on the constrained problem, rescaled to the unit ball "
           "and polished by Newton steps on the KKT system; its minimizer, value and multiplier are judged at "
           f"{num.SOLVER_RTOL:g} relative to their scales (the solver's accuracy), everything else at c·eps·scale. "
           "The re-check uses trust-constr.",
           f"Accelerated projected gradient descent ({num.FISTA_STEPS} steps from 0) must satisfy "
           "J(θ_α) ≤ J(θ_T) ≤ J(θ_α) + 2Lk/(T+1)² (Beck–Teboulle), i.e. reach the same optimum.",
           "A solver given the same J as the penalty returns multiplier α under every convention; the ridge "
           "closed form is (XᵀX + (α/w)I)⁻¹Xᵀy for J = w‖Xθ − y‖².",
           "α = 0 cases: k = k_factor·Ω(X⁺y) ≥ Ω(θ₀), the constraint is inactive (or just touching) and α* = 0; "
           "for rank-deficient X and k_factor > 1 the minimizer is not unique and only values are compared."),
)

PATH = FAMILY.claim(
    id="penalty-path-monotone", title="Along the penalty path Ω decreases and J increases",
    statement=(r"\alpha_1 \le \alpha_2 \;\Longrightarrow\; \Omega(\theta_{\alpha_1}) \ge \Omega(\theta_{\alpha_2}),\ "
               r"J(\theta_{\alpha_1}) \le J(\theta_{\alpha_2}),\ \theta_\alpha \in \arg\min J + \alpha\Omega"),
    source=FAMILY.source, hypotheses=(r"\theta_\alpha \text{ a global minimizer of } J + \alpha\Omega "
                               r"(\text{checked on convex ridge and softmax regression})",),
    symbolic=lambda: SymbolicResult(sym.path_steps()),
    cases=num.path_cases, check=path_check, relation="inequality", decode_case=num.path_from_json,
    figures=fig.path_figures,
    notes=("Ridge minimizers from the closed form (solve error ≤ cond·eps, in the tolerance's noise); softmax "
           "minimizers by Newton's method, whose certified distance ‖∇F‖/(2α) is subtracted from the margin.",
           "On MLPs the penalized minimizers are only local: the figure shows such a path as evidence only."),
)

MAX_NORM = FAMILY.claim(
    id="max-norm-projection", title="Max-norm: w·min(1, c/‖w‖) is the projection; torch.renorm on rows",
    statement=(r"P(w) = w \min\!\big(1, \tfrac{c}{\|w\|}\big) = \arg\min_{\|v\|\le c}\|v - w\|,\ "
               r"\texttt{torch.renorm}(W, 2, 0, c)_j = P(W_{j,:}) \pm \tfrac{c\,10^{-7}}{\|W_{j,:}\|}"),
    source=FAMILY.source, hypotheses=(r"W \in \mathbb{R}^{\text{out}\times\text{in}} \text{ of } \texttt{nn.Linear};\ "
                               r"c > 0",),
    cases=num.max_norm_cases, check=max_norm_check, relation="inequality", decode_case=num.MaxNormCase.from_json,
    notes=("Optimality certificate: sup over the ball of ⟨w − P, z − P⟩ = c‖w − P‖ − ⟨w − P, P⟩ ≤ 0 (exact, eps); "
           f"SLSQP's projection judged at {num.SOLVER_RTOL:g}; each unit's own multiplier (‖w‖/c − 1)/2 recorded.",
           "A unit's incoming weights are read off autograd (row j of ∂(Wx)/∂x), independent of the layout "
           "assumption: they are the rows of nn.Linear.weight."),
)

COLUMNS = FAMILY.claim(
    id="seed003-max-norm-on-columns", title="Seed 003: per-column max-norm on nn.Linear bounds each unit",
    expected="refuted",
    statement=(r"\tilde W = \texttt{torch.renorm}(W, 2, 1, c)\ (\text{each column}) \;\Longrightarrow\; "
               r"\Big\|\tfrac{\partial (\tilde W x)_j}{\partial x}\Big\| \le c \ \forall j"),
    source=FAMILY.source + "; the seed: '约束神经网络层的权重矩阵每列的范数'", hypotheses=MAX_NORM.hypotheses,
    cases=lambda: num.max_norm_cases(binding=True), check=columns_check, recheck=columns_recheck, relation="inequality",
    decode_case=num.MaxNormCase.from_json,
    notes=("In the book's convention (h = Wᵀx) a unit's weights are a column; torch's nn.Linear computes "
           "x Wᵀ, so a unit's incoming weights are a row and the column constraint bounds outgoing weights. "
           "The re-check redoes the column scaling in mpmath (50 digits) without torch's 1e-7 offset.",),
)

NONCONVEX = FAMILY.claim(
    id="penalty-constraint-without-convexity", title="Penalty ⇔ constraint without convexity",
    expected="refuted",
    statement=(r"t^* \in \arg\min_{t^2 \le k} J(t),\ \alpha^* \text{ its KKT multiplier} \;\Longrightarrow\; "
               r"t^* \in \arg\min_t J(t) + \alpha^* t^2"),
    source=FAMILY.source + "; the seed drops the convexity hypothesis",
    hypotheses=(r"J(t) = -a e^{-(t-b)^2} - c\,e^{-(t-d)^2/w} \text{ (non-convex)},\ \Omega = t^2",),
    cases=num.nonconvex_cases, check=nonconvex_check,
    recheck=lambda case, ctx: nonconvex_check(case, ctx, precise=True), relation="inequality",
    decode_case=lambda data: tuple(float(v) for v in data), figures=fig.nonconvex_figures,
    notes=("Both minimizations are global: a grid of "
           f"{num.GRID_POINTS} points plus a bounded refinement (1-D); α* = −J'(t*)/(2t*) when the constraint is "
           "active. The re-check evaluates both objective values in mpmath at 40 digits on a 10× finer grid.",
           "C4 example: a = 2, b = 3, c = 1, d = 0.5, w = 0.1, k = 6.25: t* = 2.5, α* ≈ 0.3115, J + α*t² is 0.389 "
           "at t* but −0.928 at t ≈ 0.486."),
)

CONVENTION = FAMILY.claim(
    id="penalty-constraint-multiplier-convention",
    title="Seed 003 convention slip: ½-convention θ(α) has multiplier α for J = ‖Xθ − y‖²", expected="refuted",
    statement=(r"\theta = (X^\top X + 2\alpha I)^{-1}X^\top y,\ k = \|\theta\|^2 \;\Longrightarrow\; \theta = "
               r"\arg\min_{\|\theta\|^2 \le k} \|X\theta - y\|^2 \text{ with multiplier } \alpha"),
    source=FAMILY.source + "; mixing the ½-convention closed form with J = ‖Xθ − y‖²",
    hypotheses=(r"X^\top y \ne 0,\ \alpha > 0",),
    symbolic=lambda: SymbolicResult([sym.multiplier_convention(1), sym.multiplier_convention(2)]),
    cases=lambda: num.ridge_problems(conventions=("full",), inactive=False), check=convention_check,
    recheck=convention_recheck, decode_case=num.problem_from_json,
    notes=("θ is the constrained solution, but its multiplier is 2α: stationarity 2Xᵀ(Xθ − y) + 2μθ = 0 holds "
           "with μ = 2α (proved symbolically; μ = α is refuted by an exact rational point). The re-check computes "
           "the multiplier in exact rationals.",),
)
