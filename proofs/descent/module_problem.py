r"""The descent lemma (C2) and [S000]'s start-point curvature on networks of :func:`verify.modules`.

:class:`ModuleLoss` is the problem of a :class:`verify.ModuleCase`: its mean cross-entropy as a function of θ
(:func:`verify.functional`). Its M is **estimated, not certified**: the interval enclosures of
:mod:`.certify` exist for MLP regressions only (conv, LayerNorm, attention and the cross-entropy have no Taylor-
mode interval forward here). The estimate (:func:`curvature_profile`) samples the directional curvature
gᵀ∇²L(ξ)g/‖g‖² at 33 points of the segment, bisects every interval where a peak could hide (the larger end
value plus the change across it and a second-difference term above the largest sample), and takes that bound
as M; the re-check starts from 257 points with a 100× finer tolerance. The loss values along the segment give
lower bounds of the supremum that do not depend on the samples, 2(L(θ − αg) − L(θ) + α‖g‖²)/(α²‖g‖²): where one
exceeds M the samples missed a peak, the grid is made 8× finer, and a case still inconsistent is undecidable
(seen on a long segment of a GELU CNN: 33 samples gave M = 15.6, the loss values implied far more), as is a
violation at a step where the loss values alone show M too low (:meth:`ModuleLoss.m_contradicted`). The products
themselves are tested at θ against the second difference of the loss values (:func:`_hvp_against_losses`): a
disagreement is a violation, so wrong curvature cannot pass as verified. If the lemma holds with M it holds with
every M above the true supremum (the bound increases with M); the evidence names M as estimated.

:func:`start_point_check` judges [S000]'s version, which takes M₀ = gᵀ∇²L(θ)g/‖g‖² at the start point and
α ∈ (0, 2/M₀]: no supremum is involved, so its counterexamples are exact computations; the re-check recomputes
M₀ from the dense Hessian and the gradient by ``torch.func.grad``, and the loss difference in float64 with its
round-off measured (:func:`verify.numeric.roundoff_spread`).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch.func import grad, jvp, vmap

from proofs.descent import FAMILY
from proofs.descent.problems import PROBLEM_TYPES, CurvatureBound, DescentCase, DescentProblem, Loss
from verify import (
    CaseResult,
    CheckContext,
    Comparison,
    FunctionalModel,
    ModuleCase,
    Tolerance,
    compare_leq,
    functional,
    hvp_operator,
    roundoff_spread,
)

__all__ = ["ModuleLoss", "start_point_check", "start_point_recheck"]

#: the first directional samples on the segment (the check's, the re-check's), the refinement tolerance and the
#: work limit in Hessian-vector products
POINTS, RECHECK_POINTS = 33, 257
RTOL, RECHECK_RTOL = 1e-3, 1e-5
LIMIT, RECHECK_LIMIT = 1024, 8192


@functools.lru_cache(maxsize=64)
def _functional(case: ModuleCase, dtype: str, device: str) -> FunctionalModel:
    return functional(case, dtype=getattr(torch, dtype), device=device)


def _directional(f: Loss, theta: torch.Tensor, g: torch.Tensor, alpha_max: float, s: np.ndarray) -> np.ndarray:
    """gᵀ∇²L(θ − s·α_max·g)g/‖g‖² at every s (one forward-over-reverse product each, batched by vmap)."""
    steps = torch.as_tensor(s, dtype=theta.dtype, device=theta.device)
    points = theta[None] - steps[:, None] * (alpha_max * g)[None]
    G = g @ g
    try:
        values = vmap(lambda xi: jvp(grad(f), (xi,), (g,))[1] @ g)(points) / G
    except (RuntimeError, NotImplementedError, ValueError):  # an op vmap cannot batch: one point at a time
        values = torch.stack([hvp_operator(f, xi)(g) @ g for xi in points]) / G
    return values.detach().cpu().numpy()


def _allowances(s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Per interval [s_i, s_{i+1}]: how far above its larger end value a peak inside could reach: the change
    across it, plus c·h²/8 with c the largest |second divided difference| at its ends (a parabola through
    equal end values peaks exactly c·h²/8 above them)."""
    h, dv = np.diff(s), np.diff(v)
    slopes = dv / h
    dd = np.zeros_like(v)
    if v.size > 2:
        dd[1:-1] = np.abs(2.0 * np.diff(slopes) / (s[2:] - s[:-2]))
        dd[0], dd[-1] = dd[1], dd[-2]
    return np.abs(dv) + np.maximum(dd[:-1], dd[1:]) * h ** 2 / 8.0


def curvature_profile(f: Loss, theta: torch.Tensor, g: torch.Tensor, alpha_max: float, points: int, rtol: float,
                      limit: int) -> tuple[float, float, int, bool, np.ndarray]:
    """(M, the largest sample, HVPs spent, converged, the points s): M = max over intervals of the larger end
    value plus the interval's allowance (:func:`_allowances`), refined by bisecting every interval whose bound
    exceeds the largest sample by more than ``rtol`` of the samples' size, until none does or ``limit`` products
    are spent."""
    s = np.linspace(0.0, 1.0, points)
    v = _directional(f, theta, g, alpha_max, s)
    spent = points
    while True:
        upper = np.maximum(v[:-1], v[1:]) + _allowances(s, v)
        allowance = rtol * max(float(np.abs(v).max()), np.finfo(np.float64).tiny)
        wide = np.flatnonzero(upper > v.max() + allowance)
        if wide.size == 0 or spent + wide.size > limit:
            return float(upper.max()), float(v.max()), spent, wide.size == 0, s
        mids = (s[wide] + s[wide + 1]) / 2
        order = np.argsort(np.concatenate([s, mids]))
        s, v = np.concatenate([s, mids])[order], np.concatenate([v, _directional(f, theta, g, alpha_max, mids)])[order]
        spent += mids.size


def _hvp_against_losses(case: ModuleCase, device: str) -> tuple[float, float, float]:
    """(gᵀ∇²L(θ)g/‖g‖² by the product, the same from loss values, the allowance for their difference), in
    float64 whatever the run's dtype (float32's round-off would swamp the second differences).

    φ(s) = L(θ − s·g); second differences [φ(h) − 2φ(0) + φ(−h)]/h² at a step of length 1e-3·max(1, ‖θ‖_∞)
    and at half of it, Richardson-extrapolated; the allowance is twice their disagreement (the truncation error
    of the coarser one, far above Richardson's) plus the round-off of the values (cross-entropy loses
    eps·max|z|) over h², plus 1e-6 of the size. NaN (no test) where that allowance exceeds a quarter of the
    value: the loss is not smooth enough at that scale to say anything.
    """
    fm = _functional(case, "float64", device)
    f, theta = fm.loss, fm.theta0
    g = fm.grad(theta)
    G = float(g @ g)
    if G == 0.0:
        return 0.0, math.nan, math.inf
    hvp = float(g @ hvp_operator(f, theta)(g)) / G
    with torch.no_grad():
        phi0 = float(f(theta))
        logits = fm.output(theta)

        def second_difference(h: float) -> float:
            return (float(f(theta - h * g)) - 2 * phi0 + float(f(theta + h * g))) / (h * h * G)

        h = 1e-3 * max(1.0, float(theta.abs().max())) / math.sqrt(G)
        coarse, fine = second_difference(h), second_difference(h / 2)
    richardson = (4 * fine - coarse) / 3
    size = abs(phi0) + float(logits.abs().amax(dim=-1).mean()) + math.log(logits.shape[-1])
    roundoff = 64 * float(torch.finfo(torch.float64).eps) * size / ((h / 2) ** 2 * G)
    allowance = 2 * abs(coarse - fine) + roundoff + 1e-6 * abs(richardson)
    if not (math.isfinite(hvp) and math.isfinite(richardson)) or allowance > 0.25 * abs(richardson):
        return hvp, math.nan, math.inf
    return hvp, richardson, allowance


class ModuleLoss(DescentProblem):
    """The mean cross-entropy of a :class:`verify.ModuleCase`; M estimated on the segment (see the module)."""

    @property
    def tags(self) -> tuple[str, ...]:
        return (self.name, self.case.arch, *(self.case.tags or ()))

    def loss_and_point(self, ctx: CheckContext) -> tuple[Loss, torch.Tensor]:
        fm = _functional(self.case, ctx.dtype, str(ctx.device))
        return fm.loss, fm.theta0.clone()

    def evaluation_noise(self, theta: torch.Tensor, ctx: CheckContext) -> float:
        """Cross-entropy loses ``eps·max|z|`` in its log-sum-exp; the logits' own round-off is of their size."""
        fm = _functional(self.case, ctx.dtype, str(ctx.device))
        with torch.no_grad():
            z = fm.output(theta)
        return float(z.abs().amax(dim=-1).mean()) + math.log(z.shape[-1])

    def curvature_bound(self, f: Loss, theta: torch.Tensor, g: torch.Tensor, alpha_max: float, ctx: CheckContext,
                        dense: bool) -> CurvatureBound:
        points, rtol, limit = (RECHECK_POINTS, RECHECK_RTOL, RECHECK_LIMIT) if dense else (POINTS, RTOL, LIMIT)
        work: dict = {"hvp_against_losses": _hvp_against_losses(self.case, str(ctx.device))}
        while True:
            M, sampled, spent, converged, s = curvature_profile(f, theta, g, alpha_max, points, rtol, limit)
            implied = self._implied_curvature(f, theta, g, alpha_max, s[1:], ctx)
            if implied <= M or points * 8 > limit:
                break
            points *= 8  # the loss values saw a peak the samples missed: start from a finer grid
        work.update({"converged": converged, "rtol": rtol, "limit": limit, "M_implied_by_losses": implied,
                     "points": points})
        if not implied <= M:  # a peak narrower than the grid (or a non-finite value); the products at θ are still
            # tested against the losses (inconsistency), before this case is called undecidable
            return CurvatureBound(None, f"the loss values along the segment imply a curvature of {implied:.6g}, above "
                                  f"the sampled bound {M:.6g} even from {points} points: a peak narrower than the "
                                  "grid", spent, sampled, work)
        how = (f"estimated, not certified: directional curvatures at {spent} points of the segment, bisected where "
               f"a peak could hide ({'within' if converged else 'not within'} {rtol:g}), consistent with the "
               "curvature the loss values imply; interval enclosures exist for MLP regressions only")
        return CurvatureBound(M, how, spent, sampled, work)

    def inconsistency(self, curvature: CurvatureBound, ctx: CheckContext) -> Comparison | None:
        """A violation when the Hessian-vector product at θ disagrees with the second difference of the loss values
        along g (two steps that agree, Richardson-extrapolated): the curvature the estimate is built from is wrong.
        A systematic error of the products (a test halves them) must not pass as verified; a peak the samples
        miss on the segment only makes the case undecidable."""
        hvp, fd, allowance = curvature.work["hvp_against_losses"]
        if not math.isfinite(fd) or abs(hvp - fd) <= allowance:
            return None
        return compare_leq(abs(hvp - fd), allowance, abs(hvp) + abs(fd), Tolerance(ctx.dtype, FAMILY.depth))

    def m_contradicted(self, f: Loss, theta: torch.Tensor, g: torch.Tensor, alpha: float, M: float,
                       ctx: CheckContext) -> bool:
        """At the very step judged: a violation of the lemma there *is* a weighted mean curvature above M, which
        shows the estimate missed a peak (or the products are wrong), not that the lemma fails."""
        return self._implied_curvature(f, theta, g, 1.0, np.array([alpha]), ctx) > M

    def _implied_curvature(self, f: Loss, theta: torch.Tensor, g: torch.Tensor, alpha_max: float, s: np.ndarray,
                           ctx: CheckContext) -> float:
        """The largest, beyond round-off, of the weighted mean curvatures 2(L(θ − αg) − L(θ) + α‖g‖²)/(α²‖g‖²)
        over α = s·α_max: each is ≤ the supremum on [θ, θ − αg] (Taylor's integral remainder), whatever M is."""
        G, L0 = float(g @ g), float(f(theta))
        eps, noise0 = Tolerance(ctx.dtype).eps, abs(L0) + self.evaluation_noise(theta, ctx)
        fm = _functional(self.case, ctx.dtype, str(ctx.device))
        a = torch.as_tensor(s * alpha_max, dtype=theta.dtype, device=theta.device)
        points = theta[None] - a[:, None] * g[None]
        with torch.no_grad():
            try:  # every point in one batched call; one at a time where vmap cannot run the module
                L1, logits = vmap(f)(points), vmap(fm.output)(points)
            except (RuntimeError, NotImplementedError, ValueError):
                L1, logits = torch.stack([f(p) for p in points]), torch.stack([fm.output(p) for p in points])
        L1, a = L1.detach().cpu().double().numpy(), a.detach().cpu().double().numpy()
        noise1 = logits.abs().amax(dim=-1).mean(dim=-1).cpu().double().numpy() + math.log(logits.shape[-1])
        mean = 2.0 * (L1 - L0 + a * G) / (a * a * G)
        noise = 2.0 * 64 * eps * (noise0 + np.abs(L1) + a * G + noise1) / (a * a * G)
        if not a.size:
            return -math.inf
        lower = mean - noise
        return float(lower.max()) if np.all(np.isfinite(lower)) else math.inf  # non-finite: nothing is implied

    def alpha_max(self, M: float, fixed: float) -> float:
        """The α_max drawn with the case."""
        return fixed


PROBLEM_TYPES["ModuleCase"] = ModuleLoss


def _start_point(case: DescentCase, ctx: CheckContext, dense: bool) -> CaseResult:
    """L(θ − αg) − L(θ) ≤ −α(1 − αM₀/2)‖g‖² with M₀ the directional curvature at θ, α = frac·2/M₀."""
    problem = case.problem
    fm = _functional(problem.case, ctx.dtype, str(ctx.device))
    theta = fm.theta0
    g = torch.func.grad(fm.loss)(theta) if dense else fm.grad(theta)
    G = float(g @ g)
    tol = Tolerance(ctx.dtype, FAMILY.depth)
    Hg = fm.dense_hessian(theta) @ g if dense else fm.hvp(theta, g)
    M0 = float(g @ Hg) / G if G > 0 else 0.0
    # the statement assumes M₀ > 0: one positive by round-off only would make α = 2/M₀ arbitrary
    floor = 1e-8 * float(Hg.norm()) / math.sqrt(G) if G > 0 else 0.0
    if G == 0.0 or M0 <= floor:
        comparison = Comparison("undecidable", 0.0, 0.0, 0.0, 0.0, 0.0, None, 0.0, 0.0)
        return CaseResult(comparison, problem.tags, {"reason": "g = 0, or M₀ ≤ 1e-8·‖Hg‖/‖g‖ (not positive beyond "
                                                               "round-off)", "M0": M0}, tol.describe())
    alpha = case.alpha_frac * 2.0 / M0
    moved = theta - alpha * g
    L0, L1 = float(fm.loss(theta)), float(fm.loss(moved))
    bound = -alpha * (1.0 - alpha * M0 / 2.0) * G
    noise = abs(L0) + abs(L1) + problem.evaluation_noise(theta, ctx) + problem.evaluation_noise(moved, ctx)
    details = {"M0": M0, "alpha": alpha, "alpha_M0": alpha * M0, "L0": L0, "L1": L1, "grad_norm_sq": G,
               "route": "dense Hessian, torch.func.grad" if dense else "Hessian-vector product, reverse mode"}
    if dense:  # the round-off of L(θ) and L(θ − αg), measured (not modelled) by a difference table
        spread = roundoff_spread(fm.loss, theta) + roundoff_spread(fm.loss, moved)
        details["measured_roundoff"] = spread
        noise += spread / tol.eps
    comparison = compare_leq(L1 - L0, bound, alpha * G * (1.0 + alpha * M0 / 2.0), tol, noise=noise)
    return CaseResult(comparison, problem.tags, details, tol.describe())


def start_point_check(case: DescentCase, ctx: CheckContext) -> CaseResult:
    return _start_point(case, ctx, dense=False)


def start_point_recheck(case: DescentCase, ctx: CheckContext) -> CaseResult:
    """The same from the dense Hessian and torch.func.grad, with the loss difference's round-off measured."""
    return _start_point(case, ctx, dense=True)
