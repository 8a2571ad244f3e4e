r"""The per-case checks of :mod:`proofs.penalty_constraint` (C4, docs/claims.md#c4), and the formulas they test.

Formulas (what a claim states; a seed's mistake or a test passes another one to the same check):

* :func:`ridge_minimizer` — θ_α = (XᵀX + (α/w)I)⁻¹Xᵀy for J = w‖Xθ − y‖²; the source's
  :func:`seed003_half_convention_minimizer` keeps (XᵀX + 2αI)⁻¹Xᵀy whatever w is;
* :func:`kkt_multiplier` — the constraint's multiplier is α itself;
* :func:`nonincreasing`, :func:`nondecreasing` — the direction of Ω and J along the penalty path;
* :func:`max_norm_projection` — P(w) = w·min(1, c/‖w‖); :func:`renorm_rows` is torch's max-norm on the
  units of ``nn.Linear`` and :func:`seed003_renorm_columns` the source's per-column one.

Checks, one per claim, each with its re-check: :func:`equivalence_check` (re-check
:func:`equivalence_recheck`, trust-constr), :func:`convention_check` (:func:`convention_recheck`, exact
rationals), :func:`path_check`, :func:`nonconvex_check` (:func:`nonconvex_recheck`, mpmath),
:func:`max_norm_check` and :func:`columns_check` (:func:`columns_recheck`, mpmath). The oracles they
compare with are in :mod:`proofs.penalty_constraint.solvers`.
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
from proofs.penalty_constraint import solvers as sv
from proofs.penalty_constraint.accuracy import minimizer_tol, pinned_tol, solver_tol
from proofs.penalty_constraint.cases import MaxNormCase, PathCase, RidgeCase, RidgeMinimizer
from verify import CaseResult, CheckContext, Comparison, Tolerance, as_tensor, compare_close, compare_leq, gradient

EPS64 = float(np.finfo(np.float64).eps)
#: torch.renorm divides by ‖w‖ + RENORM_OFFSET
RENORM_OFFSET = 1e-7
_EPS64 = float(np.finfo(np.float64).eps)

#: a direction along the penalty path: (values at α₁, α₂; their error bounds) ↦ (lhs, rhs) of the claimed lhs ≤ rhs
Trend = Callable[[list[float], list[float]], tuple[float, float]]


# --------------------------------------------------------------------------- formulas


def ridge_minimizer(X: np.ndarray, y: np.ndarray, alpha: float, w: float) -> np.ndarray:
    """θ_α = (XᵀX + (α/w)I)⁻¹Xᵀy, the minimizer of w‖Xθ − y‖² + α‖θ‖²."""
    fac = 1.0 / w
    return np.linalg.solve(X.T @ X + fac * alpha * np.eye(X.shape[1]), X.T @ y)


def seed003_half_convention_minimizer(X: np.ndarray, y: np.ndarray, alpha: float, w: float) -> np.ndarray:
    """[S003]'s (XᵀX + 2αI)⁻¹Xᵀy, the ½-convention closed form, used whatever the weight w of J."""
    return np.linalg.solve(X.T @ X + 2.0 * alpha * np.eye(X.shape[1]), X.T @ y)


def kkt_multiplier(alpha: float) -> float:
    """The multiplier of min J s.t. Ω ≤ Ω(θ_α) claimed for θ_α: the penalty α itself."""
    return alpha


def nonincreasing(values: list[float], errors: list[float]) -> tuple[float, float]:
    """v(α₂) ≤ v(α₁), both error bounds taken off the left side."""
    return values[1] - errors[1] - errors[0], values[0]


def nondecreasing(values: list[float], errors: list[float]) -> tuple[float, float]:
    """v(α₁) ≤ v(α₂), both error bounds taken off the left side."""
    return values[0] - errors[0] - errors[1], values[1]


def max_norm_projection(w: np.ndarray, c: float) -> np.ndarray:
    """P(w) = w·min(1, c/‖w‖) (w itself when w = 0)."""
    nw = float(np.linalg.norm(w))
    return w * (min(1.0, c / nw) if nw > 0 else 1.0)


def renorm_rows(weight: torch.Tensor, c: float) -> torch.Tensor:
    """torch.renorm over dim 0: each row of nn.Linear.weight (a unit's incoming weights) to norm ≤ c."""
    return torch.renorm(weight, 2, 0, c)


def seed003_renorm_columns(weight: torch.Tensor, c: float) -> torch.Tensor:
    """[S003]'s per-column max-norm: torch.renorm over dim 1 of nn.Linear.weight."""
    return torch.renorm(weight, 2, 1, c)


# --------------------------------------------------------------------------- shared


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
        described += f"; solver relations: {solver_tol().describe()} ({solver} + KKT Newton polish)"
    return CaseResult(worst, tags, details, described)


# --------------------------------------------------------------------------- penalty ⇔ constraint


def _equivalence(case: Any, ctx: CheckContext, minimizer: RidgeMinimizer, multiplier: Callable[[float], float],
                 method: str) -> CaseResult:
    """θ_α (penalized) vs the constrained solver's (``method``) minimizer, value and multiplier, and projected GD."""
    tol, stol = Tolerance(ctx.dtype, FAMILY.depth), solver_tol()
    prob = case.problem()
    theta, k, dist = case.penalized(minimizer)
    tags = tuple(case.tags)
    g0_tol = tol.atol(case.gradient_at_zero_scale())
    if (k <= 0 or float(np.linalg.norm(prob.grad(np.zeros(prob.dim)))) <= g0_tol
            or (case.alpha > 0 and np.sqrt(k) <= g0_tol / (2 * case.alpha))):
        vacuous = Comparison("undecidable", 0.0, 0.0, 0.0, 0.0, 0.0, None, 0.0, 0.0)
        reason = "∇J(0) = 0 up to round-off, so θ_α = 0 and k = 0: no θ with Ω(θ) < k (Slater fails)"
        return CaseResult(vacuous, (*tags, "slater-fails"), {"reason": reason}, tol.describe())
    # 1. θ_α is stationary for J + αΩ (torch autograd, eps-level)
    t = as_tensor(theta, ctx.dtype, ctx.device)
    g = gradient(case.torch_objective(ctx), t).detach()
    grad_scale = prob.L * float(np.linalg.norm(theta)) + float(np.linalg.norm(prob.grad(np.zeros(prob.dim)))) \
        + 2 * case.alpha * float(np.linalg.norm(theta))
    named = [("penalized-stationarity", compare_close(float(g.norm()), 0.0, grad_scale, tol))]
    # 1b. the claimed multiplier m is KKT-stationary there: ∇J(θ_α) + 2mθ_α = ∇(J + αΩ)(θ_α) + 2(m − α)θ_α = 0.
    # Eps-level, so it pins m to round-off where the solver's multiplier (rtol 1e-6 of L) cannot: tiny α.
    claimed = multiplier(case.alpha)
    kkt = g + 2 * (claimed - case.alpha) * t
    named.append(("kkt-stationarity", compare_close(float(kkt.norm()), 0.0,
                                                    grad_scale + 2 * abs(claimed) * float(np.linalg.norm(theta)), tol)))
    # 2. the constrained solver
    sol = sv.constrained_solve(prob, k, method)
    J_alpha, J_star = prob.J(theta), prob.J(sol.theta)
    value_scale = prob.L * k + abs(J_alpha)
    pinned = pinned_tol(case, stol)
    if case.unique_minimizer():
        # α = 0, rank-deficient X: the ball pins it (pinned_tol); otherwise only as far as the value does
        pinning = pinned if pinned is not stol else minimizer_tol(prob, theta, k, stol.atol(value_scale), stol)
        if pinning is not None:
            err = float(np.linalg.norm(sol.theta - theta))
            named.append(("constrained-minimizer", compare_close(err, 0.0, np.sqrt(k), pinning,
                                                                 abs_err=max(err - dist, 0))))
    named.append(("constrained-value", compare_close(J_star, J_alpha, value_scale, stol)))
    named.append(("multiplier", compare_close(sol.multiplier, claimed, prob.L / 2 + case.alpha, pinned)))
    # 3. projected gradient descent: J(θ_α) ≤ J(θ_T) ≤ J(θ_α) + 2Lk/(T+1)²
    theta_T, bound = sv.fista_projected(prob, k)
    J_T = prob.J(theta_T)
    named.append(("pgd-not-below", compare_leq(J_alpha, J_T, value_scale, tol, noise=abs(J_T) + abs(J_alpha))))
    named.append(("pgd-reaches", compare_leq(J_T - J_alpha, bound, value_scale, tol, noise=abs(J_T) + abs(J_alpha))))
    details = {"alpha": case.alpha, "k": k, "solver_multiplier": sol.multiplier, "claimed_multiplier": claimed,
               "solver": method, "solver_status": sol.status, "solver_message": sol.message,
               "kkt_polish_steps": sol.polish_steps, "minimizer_distance": float(np.linalg.norm(sol.theta - theta)),
               "pgd_distance": float(np.linalg.norm(theta_T - theta)), "pgd_value_gap": J_T - J_alpha,
               "pgd_bound": bound, "penalized_distance_bound": dist}
    solver = f"SLSQP ftol {sv.SLSQP_FTOL:g}" if method == "SLSQP" else "trust-constr gtol 1e-14"
    return _result(named, tags, details, tol, solver)


def equivalence_check(case: Any, ctx: CheckContext, minimizer: RidgeMinimizer = ridge_minimizer,
                      multiplier: Callable[[float], float] = kkt_multiplier) -> CaseResult:
    """θ_α from ``minimizer`` (ridge) or Newton (softmax) against SLSQP with multiplier ``multiplier(α)``, and PGD."""
    return _equivalence(case, ctx, minimizer, multiplier, "SLSQP")


def equivalence_recheck(case: Any, ctx: CheckContext) -> CaseResult:
    """The equivalence again with another constrained solver: scipy's trust-constr."""
    return _equivalence(case, ctx, ridge_minimizer, kkt_multiplier, "trust-constr")


def convention_check(case: RidgeCase, ctx: CheckContext) -> CaseResult:
    """θ = (XᵀX + 2αI)⁻¹Xᵀy against the solver on min ‖Xθ − y‖² s.t. ‖θ‖² ≤ ‖θ‖²: multiplier α claimed."""
    full = replace(case, convention="full", k_factor=1.0)
    return _equivalence(full, ctx, seed003_half_convention_minimizer, kkt_multiplier, "SLSQP")


def convention_recheck(case: RidgeCase, ctx: CheckContext) -> CaseResult:
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


# --------------------------------------------------------------------------- the penalty path


def path_check(case: PathCase, ctx: CheckContext, omega: Trend = nonincreasing, J: Trend = nondecreasing) -> CaseResult:
    """Ω(θ_α₂) ≤ Ω(θ_α₁) and J(θ_α₁) ≤ J(θ_α₂) (the directions ``omega`` and ``J``) for α₁ ≤ α₂."""
    tol = Tolerance(ctx.dtype, FAMILY.depth)
    prob, thetas, bounds = case.problem.problem(), [], []
    for a in (case.alpha1, case.alpha2):
        theta, dist = case.problem.with_alpha(a).path_point(ridge_minimizer)
        thetas.append(theta)
        bounds.append(dist)
    om = [float(t @ t) for t in thetas]
    Js = [prob.J(t) for t in thetas]
    dO = [2 * np.sqrt(o) * d + d * d for o, d in zip(om, bounds, strict=True)]
    dJ = [float(np.linalg.norm(prob.grad(t))) * d + prob.L * d * d for t, d in zip(thetas, bounds, strict=True)]
    j0 = prob.J(np.zeros(prob.dim))
    named = [("omega-nonincreasing", compare_leq(*omega(om, dO), max(om), tol, noise=sum(om))),
             ("J-nondecreasing", compare_leq(*J(Js, dJ), j0, tol, noise=sum(abs(v) for v in Js) + j0))]
    details = {"alpha1": case.alpha1, "alpha2": case.alpha2, "omega": om, "J": Js, "distance_bounds": bounds}
    return _result(named, tuple(case.problem.tags), details, tol)


# --------------------------------------------------------------------------- without convexity


def _nonconvex_minima(params: tuple[float, ...], points: int) -> dict[str, Any]:
    """The constrained global minimizer t* (grid of ``points``), its KKT multiplier α*, and the global minimum of
    J + α*t² on an interval that holds it."""
    a, b, c, d, _, k = params
    r = float(np.sqrt(k))
    t_star, _ = sv.global_min_1d(lambda t: sv.bump_J(params, t), -r, r, points)
    active = abs(t_star) == r
    alpha = max(-sv.bump_dJ(params, t_star) / (2 * t_star), 0.0) if active else 0.0
    P = lambda t: sv.bump_J(params, t) + alpha * t * t  # noqa: E731
    p_star = float(P(np.array([t_star]))[0])
    R = np.sqrt(max(p_star + a + c, 0.0) / alpha) + 1.0 if alpha > 0 else 0.0
    R = max(R, abs(b) + 6.0, abs(d) + 6.0, r + 1.0)
    t_glob, p_glob = sv.global_min_1d(P, -R, R, points)
    return {"t_star": t_star, "active": active, "alpha": alpha, "p_star": p_star, "t_glob": t_glob,
            "p_glob": p_glob, "R": R, "scale": a + c + alpha * k}


def _nonconvex_result(params: tuple[float, ...], m: dict[str, Any], tol: Tolerance, points: int,
                      digits: int | None) -> CaseResult:
    p_star, p_glob = m["p_star"], m["p_glob"]
    comparison = compare_leq(p_star, p_glob, m["scale"], tol, noise=abs(p_star) + abs(p_glob))
    tags = ("active" if m["active"] else "inactive", "c4-example" if params == sv.EXAMPLE else "random")
    return CaseResult(comparison, tags, {"t_star": m["t_star"], "alpha_star": m["alpha"], "t_global": m["t_glob"],
                                         "penalized_at_t_star": p_star, "penalized_global": p_glob,
                                         "grid_points": points, "search_interval": [-m["R"], m["R"]],
                                         "mpmath_digits": digits}, tol.describe())


def nonconvex_check(case: tuple[float, ...], ctx: CheckContext) -> CaseResult:
    """The constrained global minimizer t* (grid) with its KKT multiplier vs the global minimum of J + α*t²."""
    params = tuple(float(v) for v in case)
    m = _nonconvex_minima(params, sv.GRID_POINTS)
    return _nonconvex_result(params, m, Tolerance(ctx.dtype, FAMILY.depth), sv.GRID_POINTS, None)


def nonconvex_recheck(case: tuple[float, ...], ctx: CheckContext) -> CaseResult:
    """The same on a 10× finer grid, with both objective values evaluated in mpmath at 40 digits (float64)."""
    params = tuple(float(v) for v in case)
    points = sv.GRID_POINTS * 10
    m = _nonconvex_minima(params, points)
    with mpmath.workdps(40):
        mp_alpha = mpmath.mpf(m["alpha"])
        mpP = lambda t: sv.bump_J(params, mpmath.mpf(t), mpmath) + mp_alpha * mpmath.mpf(t) ** 2  # noqa: E731
        m["p_star"], m["p_glob"] = float(mpP(m["t_star"])), float(mpP(m["t_glob"]))
    return _nonconvex_result(params, m, Tolerance("float64", FAMILY.depth), points, 40)


# --------------------------------------------------------------------------- max-norm


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


def _renormed(W: np.ndarray, c: float, ctx: CheckContext,
              renorm: Callable[[torch.Tensor, float], torch.Tensor]) -> torch.nn.Linear:
    lin = _linear(W, ctx)
    with torch.no_grad():
        lin.weight.copy_(renorm(lin.weight, c))
    return lin


def max_norm_check(case: MaxNormCase, ctx: CheckContext,
                   projection: Callable[[np.ndarray, float], np.ndarray] = max_norm_projection,
                   renorm: Callable[[torch.Tensor, float], torch.Tensor] = renorm_rows) -> CaseResult:
    """P(w) per row: feasible, optimal (certificate), = SLSQP's projection, = ``renorm`` rows ± torch's offset."""
    tol, stol, c = Tolerance(ctx.dtype, FAMILY.depth), solver_tol(), case.c
    W = np.asarray(case.W, dtype=np.float64)
    lin = _renormed(W, c, ctx, renorm)
    R = lin.weight.detach().cpu().numpy().astype(np.float64)
    incoming = _incoming_norms(lin, ctx)
    named, multipliers = [], []
    for j, w in enumerate(W):
        nw = float(np.linalg.norm(w))
        p = projection(w, c)
        scale = max(nw, c)
        named.append((f"row{j}-feasible", compare_leq(float(np.linalg.norm(p)), c, c, tol)))
        cert = c * float(np.linalg.norm(w - p)) - float((w - p) @ p)
        named.append((f"row{j}-optimality", compare_leq(cert, 0.0, scale * c, tol)))
        sol = sv.constrained_solve(sv.projection_problem(w), c * c)
        err = float(np.linalg.norm(sol.theta - p))
        named.append((f"row{j}-solver", compare_close(err, 0.0, scale, stol)))
        multipliers.append(sol.multiplier)
        # a row whose float norm rounds to c may be above it exactly, and torch (its own norm) scales it
        offset = c * RENORM_OFFSET / nw if nw > c * (1.0 - 8.0 * _EPS64) else 0.0
        named.append((f"row{j}-renorm", compare_leq(float(np.linalg.norm(R[j] - p)), offset, scale, tol)))
        named.append((f"unit{j}-incoming", compare_leq(float(incoming[j]), c, c, tol)))
    details = {"c": c, "row_norms": np.linalg.norm(W, axis=1).tolist(), "unit_multipliers": multipliers,
               "incoming_norms_after_renorm": incoming.tolist()}
    return _result(named, case.tags, details, tol, f"SLSQP ftol {sv.SLSQP_FTOL:g}")


def max_norm_recheck(case: MaxNormCase, ctx: CheckContext,
                     projection: Callable[[np.ndarray, float], np.ndarray] = max_norm_projection,
                     renorm: Callable[[torch.Tensor, float], torch.Tensor] = renorm_rows) -> CaseResult:
    """The exact relations of :func:`max_norm_check` in mpmath (50 digits): ``projection``'s P(w) feasible and
    optimal (certificate), ``renorm``'s rows against the exact w·min(1, c/‖w‖) ± torch's offset, each unit's
    incoming norm after ``renorm``. No solver: the float64 values under test are judged exactly."""
    tol, c = Tolerance("float64", FAMILY.depth), case.c
    W = np.asarray(case.W, dtype=np.float64)
    lin = _renormed(W, c, replace(ctx, dtype="float64"), renorm)
    R = lin.weight.detach().cpu().numpy().astype(np.float64)
    incoming = _incoming_norms(lin, ctx)
    named = []
    with mpmath.workdps(50):
        cm = mpmath.mpf(c)
        for j, w in enumerate(W):
            wm = [mpmath.mpf(float(v)) for v in w]
            pm = [mpmath.mpf(float(v)) for v in projection(w, c)]
            nw = mpmath.sqrt(mpmath.fsum(v * v for v in wm))
            scale = float(max(nw, cm))
            norm_p = mpmath.sqrt(mpmath.fsum(v * v for v in pm))
            named.append((f"row{j}-feasible", compare_leq(float(norm_p), c, c, tol)))
            d = [a - b for a, b in zip(wm, pm, strict=True)]
            inner = mpmath.fsum(a * b for a, b in zip(d, pm, strict=True))
            cert = cm * mpmath.sqrt(mpmath.fsum(v * v for v in d)) - inner
            named.append((f"row{j}-optimality", compare_leq(float(cert), 0.0, scale * c, tol)))
            exact = [v * (cm / nw if nw > cm else 1) for v in wm]
            err = mpmath.sqrt(mpmath.fsum((mpmath.mpf(float(r)) - e) ** 2 for r, e in zip(R[j], exact, strict=True)))
            offset = float(cm * RENORM_OFFSET / nw) if nw > cm else 0.0
            named.append((f"row{j}-renorm", compare_leq(float(err), offset, scale, tol)))
            named.append((f"unit{j}-incoming", compare_leq(float(incoming[j]), c, c, tol)))
    result = _result(named, case.tags, {"c": c, "incoming_norms_after_renorm": incoming.tolist()}, tol)
    return replace(result, tolerance="mpmath 50 digits; " + result.tolerance)


def columns_check(case: MaxNormCase, ctx: CheckContext) -> CaseResult:
    """The source's torch.renorm over columns (dim 1), then every unit's incoming-weight norm ≤ c (claimed)."""
    tol, c = Tolerance(ctx.dtype, FAMILY.depth), case.c
    lin = _renormed(np.asarray(case.W), c, ctx, seed003_renorm_columns)
    incoming = _incoming_norms(lin, ctx)
    j = int(np.argmax(incoming))
    return CaseResult(compare_leq(float(incoming[j]), c, c, tol), case.tags,
                      {"c": c, "unit": j, "incoming_norms": incoming.tolist(),
                       "column_norms_after": np.linalg.norm(lin.weight.detach().cpu().numpy(), axis=0).tolist()},
                      tol.describe())


def columns_recheck(case: MaxNormCase, ctx: CheckContext) -> CaseResult:
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
