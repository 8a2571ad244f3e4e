r"""The per-case checks of the descent family, their independent re-checks, and the bound formulas.

- ``descent-lemma``: :func:`check_bound` judges a bound formula :math:`L(\theta-\alpha g) - L(\theta)
  \le B(\alpha, M, \|g\|^2)` at every α of the grid on any descent problem (:mod:`.problems`);
  :func:`descent_check` is it with :func:`descent_bound` and the certified M of the problem,
  :func:`descent_recheck_dense` with M certified to a finer tolerance and cross-checked by a dense scan;
  :func:`sampled_m` and :func:`half_certified_m` are wrong choices of M (for tests: the check must fail).
- ``seed000-ascent-update`` and ``descent-lemma-beyond-2-over-M``: :func:`check_step` judges a step rule
  (:func:`seed_ascent_step`, :func:`beyond_two_over_m_step`) claimed to decrease a quadratic;
  :func:`recheck_step_exact` in rationals (:func:`ascent_check`, :func:`beyond_check` and their re-checks).
- ``seed000-taylor-at-start-point``: :func:`start_point_check`, :func:`start_point_recheck_mpmath`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mpmath
import torch

from proofs.descent import FAMILY
from proofs.descent.evidence import note_case
from proofs.descent.problems import CurvatureBound, DescentCase, DescentProblem
from verify import CaseResult, CheckContext, Comparison, Tolerance, compare_leq, gradient

__all__ = [
    "ALPHA_GRID",
    "ascent_check",
    "ascent_recheck_exact",
    "beyond_check",
    "beyond_recheck_exact",
    "beyond_two_over_m_step",
    "check_bound",
    "certified_m",
    "check_step",
    "descent_bound",
    "descent_check",
    "descent_recheck_dense",
    "half_certified_m",
    "recheck_step_exact",
    "sampled_m",
    "seed_ascent_step",
    "start_point_check",
    "start_point_recheck_mpmath",
]

#: the fixed grid of α/α_max checked in every case (plus the drawn fraction)
ALPHA_GRID = (1.0, 0.75, 0.5, 0.25, 0.1, 0.01)

#: (α, M, ‖g‖²) -> the claimed upper bound on L(θ − αg) − L(θ)
Bound = Callable[[float, float, float], float]
#: the problem's CurvatureBound -> the M the lemma is judged with (None: no M, the case is undecidable)
MRule = Callable[[CurvatureBound], float | None]
#: (α/α_max as drawn, λ_max(Q)) -> (α, sign of the step θ + sign·αg, details to record)
StepRule = Callable[[float, float], tuple[float, int, dict[str, Any]]]


# --------------------------------------------------------------------------- descent-lemma


def descent_bound(alpha: float, M: float, G: float) -> float:
    """The descent lemma: L(θ − αg) − L(θ) ≤ −α(1 − αM/2)‖g‖²."""
    return -alpha * (1.0 - alpha * M / 2.0) * G


def _worst(comparisons: list[tuple[float, Comparison]]) -> tuple[float, Comparison]:
    decided = [c for c in comparisons if c[1].status != "undecidable"]
    pool = decided or comparisons
    return min(pool, key=lambda c: c[1].slack)


def _bound_at(f: Callable, theta: torch.Tensor, g: torch.Tensor, alpha: float, M: float, bound: Bound,
              tol: Tolerance, noise: Callable[[torch.Tensor], float], at_theta: tuple[float, float]) -> Comparison:
    """The bound at one α; the slack is normalized by the terms that cancel, α‖g‖²(1 + α|M|/2).
    ``at_theta``: L(θ) and its evaluation noise, the same at every α."""
    G = float(g @ g)
    moved = theta - alpha * g
    (L0, noise0), L1 = at_theta, float(f(moved))
    scale = alpha * G * (1.0 + alpha * abs(M) / 2.0)
    return compare_leq(L1 - L0, bound(alpha, M, G), scale, tol, noise=abs(L0) + abs(L1) + noise0 + noise(moved))


def certified_m(curvature: CurvatureBound) -> float | None:
    """The M the lemma is checked with: the certified bound (None where none could be certified)."""
    return curvature.M


def sampled_m(curvature: CurvatureBound) -> float | None:
    """A wrong M, for tests: the sampled estimate (misses curvature peaks between samples), else the certified."""
    return curvature.M if curvature.sampled is None else curvature.sampled


def half_certified_m(curvature: CurvatureBound) -> float | None:
    """A wrong M, for tests: half the certified bound."""
    return None if curvature.M is None else curvature.M / 2.0


def _ratio(certified: float | None, sampled: float | None) -> float | None:
    return certified / sampled if certified is not None and sampled is not None and sampled > 0 else None


def _undecided(problem: DescentProblem, tol: Tolerance, reason: str, details: dict[str, Any]) -> CaseResult:
    comparison = Comparison("undecidable", 0.0, 0.0, 0.0, 0.0, 0.0, None, 0.0, 0.0)
    return CaseResult(comparison, problem.tags, {"reason": reason, **details}, tol.describe())


def check_bound(case: DescentCase, ctx: CheckContext, bound: Bound, *, dense: bool,
                m_rule: MRule = certified_m) -> CaseResult:
    """Judge ``bound`` at every α of the grid, with M certified by the problem (``dense``: finer, cross-checked).

    ``m_rule`` picks the M judged with from the problem's :class:`CurvatureBound` (a wrong rule is how a test
    shows that the check can fail). The details record the certified and the sampled M, their ratio and α·M.
    """
    problem = case.problem
    f, theta = problem.loss_and_point(ctx)
    g = gradient(f, theta).detach()
    tol = Tolerance(ctx.dtype, FAMILY.depth)
    if float(g @ g) == 0.0:
        return CaseResult(compare_leq(0.0, 0.0, 0.0, tol), (problem.name, "zero-gradient"), {"reason": "g = 0"},
                          tol.describe())
    fixed_max = case.alpha_max
    curvature = problem.curvature_bound(f, theta, g, fixed_max, ctx, dense)
    sampled = curvature.sampled
    facts: dict[str, Any] = {"M_certified": curvature.M, "M_sampled": sampled, "M_obtained_by": curvature.how,
                             "hvps_for_M": curvature.hvps, "certification": dict(curvature.work)}
    inconsistent = problem.inconsistency(curvature, ctx)  # before an undecided M: wrong products must show
    if inconsistent is not None:
        return CaseResult(inconsistent, problem.tags, {"reason": "the curvature bound M disagrees with an independent "
                                                       "route (autograd samples, or the loss values)", **facts},
                          tol.describe())
    M = m_rule(curvature)
    if M is None:
        result = _undecided(problem, tol, f"no certified bound of the curvature: {curvature.how}", facts)
        if not dense:
            note_case(ctx, case, result.details)
        return result
    alpha_max = problem.alpha_max(M, fixed_max)
    alphas = sorted({alpha_max * a for a in ALPHA_GRID} | {alpha_max * case.alpha_frac})
    noise = lambda point: problem.evaluation_noise(point, ctx)  # noqa: E731
    at_theta = (float(f(theta)), noise(theta))
    results = [(a, _bound_at(f, theta, g, a, M, bound, tol, noise, at_theta)) for a in alphas]
    if curvature.M is not None:  # judged against the problem's own M, whatever m_rule made of it
        contradicted = [a for a, c in results if c.status == "violated"
                        and problem.m_contradicted(f, theta, g, a, curvature.M, ctx)]
        if contradicted:  # M is shown below the supremum: no step of this case can be judged with it
            result = _undecided(problem, tol, f"the loss values at α = {contradicted[0]:.6g} show the estimated M "
                                f"below the curvature's supremum: {curvature.how}", facts)
            if not dense:
                note_case(ctx, case, result.details)
            return result
    results += problem.exact_checks(theta, g, alphas, tol, ctx)
    alpha, worst = _worst(results)
    step = alpha_max * case.alpha_frac
    details = {"alpha": alpha, "alpha_max": alpha_max, "M": M, **facts,
               "M_ratio_certified_to_sampled": _ratio(curvature.M, sampled),
               "M_ratio_certified_to_sampled_directional": _ratio(curvature.M,
                                                                  curvature.work.get("M_sampled_directional")),
               "alpha_M": alpha * M, "step_alpha_M": step * M,
               "decrease_guaranteed": bool(step > 0.0 and step * M < 2.0),  # the bound < 0 at the drawn step
               "grad_norm_sq": float(g @ g), "normalized_slack": worst.slack}
    if not dense:
        note_case(ctx, case, details)
    return CaseResult(worst, problem.tags, details, tol.describe())


def descent_check(case: DescentCase, ctx: CheckContext) -> CaseResult:
    """The descent lemma with the certified M of the problem."""
    return check_bound(case, ctx, descent_bound, dense=False)


def descent_recheck_dense(case: DescentCase, ctx: CheckContext) -> CaseResult:
    """The descent lemma with M certified to a 100× finer tolerance and cross-checked by a 257-point scan."""
    return check_bound(case, ctx, descent_bound, dense=True)


# --------------------------------------------------------------------------- a step claimed to decrease a quadratic


def seed_ascent_step(alpha_frac: float, lam: float) -> tuple[float, int, dict[str, Any]]:
    """The source's update θ + α∇L with α = frac/M ∈ (0, 1/M]."""
    return (alpha_frac / lam if lam > 0 else alpha_frac), +1, {"M": lam}


def beyond_two_over_m_step(alpha_frac: float, lam: float) -> tuple[float, int, dict[str, Any]]:
    """Gradient descent θ − αg with α strictly inside (2/M, 4/M), M = λ_max(Q)."""
    frac = 0.01 + 0.98 * alpha_frac
    alpha = (2.0 + 2.0 * frac) / lam if lam > 0 else 1.0
    return alpha, -1, {"alpha_times_M": alpha * lam}


def check_step(case: DescentCase, ctx: CheckContext, rule: StepRule) -> CaseResult:
    """The step of ``rule`` on a quadratic, claimed to decrease L: L(θ + sign·αg) ≤ L(θ)."""
    problem = case.problem
    alpha, sign, details = rule(case.alpha_frac, problem.case.lambda_max())
    tol = Tolerance(ctx.dtype, FAMILY.depth)
    f, theta = problem.loss_and_point(ctx)
    g = gradient(f, theta).detach()
    moved = theta + sign * alpha * g
    L0, L1 = float(f(theta)), float(f(moved))
    noise = problem.evaluation_noise(theta, ctx) + problem.evaluation_noise(moved, ctx)
    return CaseResult(compare_leq(L1 - L0, 0.0, alpha * float(g @ g), tol, noise=noise),
                      problem.tags, {"alpha": alpha, **details}, tol.describe())


def recheck_step_exact(case: DescentCase, ctx: CheckContext, rule: StepRule) -> CaseResult:
    """The same step in exact rational arithmetic (the independent re-check)."""
    problem = case.problem
    alpha, sign, details = rule(case.alpha_frac, problem.case.lambda_max())
    L0, L1, G = problem.case.exact_step(alpha, sign)
    return CaseResult(compare_leq(float(L1 - L0), 0.0, alpha * float(G), Tolerance("float64", 1.0)),
                      problem.tags, {"alpha": alpha, **details, "exact": True}, "exact rationals")


def ascent_check(case: DescentCase, ctx: CheckContext) -> CaseResult:
    """``seed000-ascent-update``: θ + αg with α ∈ (0, 1/M] claimed to decrease L."""
    return check_step(case, ctx, seed_ascent_step)


def ascent_recheck_exact(case: DescentCase, ctx: CheckContext) -> CaseResult:
    """``seed000-ascent-update`` in exact rationals."""
    return recheck_step_exact(case, ctx, seed_ascent_step)


def beyond_check(case: DescentCase, ctx: CheckContext) -> CaseResult:
    """``descent-lemma-beyond-2-over-M``: θ − αg with α ∈ (2/M, 4/M) claimed to decrease L."""
    return check_step(case, ctx, beyond_two_over_m_step)


def beyond_recheck_exact(case: DescentCase, ctx: CheckContext) -> CaseResult:
    """``descent-lemma-beyond-2-over-M`` in exact rationals."""
    return recheck_step_exact(case, ctx, beyond_two_over_m_step)


# --------------------------------------------------------------------------- the curvature at the start point


def start_point_check(case: tuple[float, float], ctx: CheckContext) -> CaseResult:
    """M₀ = L''(t) = sech²(t) at the start only; α = frac·2/M₀; the bound claimed with M₀."""
    t0, frac = float(case[0]), float(case[1])
    t = torch.tensor(t0, dtype=getattr(torch, ctx.dtype), device=ctx.device)
    f = lambda v: torch.log(torch.cosh(v)) if v.abs() < 20 else v.abs() - torch.log(torch.tensor(2.0, dtype=v.dtype))  # noqa: E731
    M0 = float(1.0 / torch.cosh(t) ** 2)
    g = float(torch.tanh(t))
    alpha = frac * 2.0 / M0
    tol = Tolerance(ctx.dtype, FAMILY.depth)
    L0, L1 = float(f(t)), float(f(t - alpha * g))
    comparison = compare_leq(L1 - L0, -alpha * (1 - alpha * M0 / 2) * g * g, alpha * g * g * (1 + alpha * M0 / 2),
                             tol, noise=abs(L0) + abs(L1))
    return CaseResult(comparison, ("log-cosh",), {"t": t0, "alpha": alpha, "M0": M0}, tol.describe())


def start_point_recheck_mpmath(case: tuple[float, float], ctx: CheckContext) -> CaseResult:
    """The same in mpmath at 50 digits (the independent re-check)."""
    t0, frac = float(case[0]), float(case[1])
    with mpmath.workdps(50):
        t = mpmath.mpf(t0)
        M0 = mpmath.sech(t) ** 2
        g = mpmath.tanh(t)
        alpha = mpmath.mpf(frac) * 2 / M0
        L0, L1 = mpmath.log(mpmath.cosh(t)), mpmath.log(mpmath.cosh(t - alpha * g))
        lhs, rhs = float(L1 - L0), float(-alpha * (1 - alpha * M0 / 2) * g * g)
        scale = float(alpha * g * g * (1 + alpha * M0 / 2))
    return CaseResult(compare_leq(lhs, rhs, scale, Tolerance("float64", 1.0)), ("log-cosh",),
                      {"t": t0, "alpha": float(alpha), "M0": float(M0)}, "mpmath 50 digits")
