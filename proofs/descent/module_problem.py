r"""The descent lemma (C2) and [S000]'s start-point curvature on networks of :func:`verify.modules`.

:class:`ModuleLoss` is the problem of a :class:`verify.ModuleCase`: its mean cross-entropy as a function of θ
(:func:`verify.functional`). Its M is **certified on the segment**: the network and the cross-entropy run in
interval Taylor mode along θ − s·g (:mod:`.module_segment`, :mod:`.jets`: convolutions, LayerNorm, softmax
attention and the log-sum-exp included), and :func:`.certify.certify_curvature` subdivides [0, α_max] until the
enclosures of gᵀ∇²L(θ − s·g)g bound their supremum within a tolerance, as for the MLP regressions of
``descent-lemma``. Two independent routes check the certified M on every case (:meth:`ModuleLoss.inconsistency`):
the directional curvatures by autograd at 33 points of the segment (257 in the re-check), and the curvature the
loss values imply, 2(L(θ − αg) − L(θ) + α‖g‖²)/(α²‖g‖²) minus its round-off, a weighted mean of the curvature on
[θ, θ − αg] and so a lower bound of its supremum. A sample above the certified M beyond round-off is a violation
(a wrong enclosure or wrong products cannot pass as verified); the loss values' curvature above it makes the case
undecidable.

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
from torch.func import jvp, vmap

from proofs.descent import FAMILY
from proofs.descent.certify import CERTIFY_RTOL, MAX_INTERVALS, certify_curvature, divide_up
from proofs.descent.module_segment import module_enclosure
from proofs.descent.problems import (
    DENSE_RTOL,
    PROBLEM_TYPES,
    CurvatureBound,
    DescentCase,
    DescentProblem,
    Loss,
    directional_curvatures,
)
from verify import (
    CaseResult,
    CheckContext,
    Comparison,
    FunctionalModel,
    ModuleCase,
    Tolerance,
    compare_leq,
    functional,
    roundoff_spread,
)

__all__ = ["ModuleLoss", "start_point_check", "start_point_recheck"]

#: the directional samples by autograd that cross-check the certified M (the check's, the re-check's)
POINTS, RECHECK_POINTS = 33, 257
#: a sample (or the curvature the losses imply) above the certified M by more than this many eps of the terms'
#: size (:func:`_logit_scale`) is an inconsistency: seen at most 0.45 eps (500 cases, float64 and float32); a wrong
#: enclosure errs by a share of the value itself
CONSISTENCY_ULPS = 1e4


@functools.lru_cache(maxsize=64)
def _functional(case: ModuleCase, dtype: str, device: str) -> FunctionalModel:
    return functional(case, dtype=getattr(torch, dtype), device=device)


def _named(case: ModuleCase, flat: torch.Tensor) -> dict[str, np.ndarray]:
    """A flat float64 copy of θ (or g) cut into the case's named parameters (their order is the module's)."""
    values, out, start = flat.detach().to("cpu", torch.float64).numpy(), {}, 0
    for name, value in case.params:
        shape = np.shape(value)
        size = int(np.prod(shape))
        out[name] = values[start:start + size].reshape(shape)
        start += size
    return out


def _logit_scale(fm: FunctionalModel, theta: torch.Tensor, g: torch.Tensor, alpha_max: float,
                 s: np.ndarray) -> float:
    """max over the points of mean_i max_k (z'_ik² + |z''_ik|)/‖g‖², z(t) the logits along θ − t·g: the size of the
    terms a softmax's curvature is summed from. Autograd errs by eps of it (where p saturates, 1 − p is computed
    as a difference), so a sample may exceed the true curvature by that much; the enclosures do not cancel."""
    def derivatives(xi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        along = lambda t: fm.output(xi - t * g)  # noqa: E731
        zero, one = torch.zeros((), dtype=xi.dtype, device=xi.device), torch.ones((), dtype=xi.dtype, device=xi.device)
        first = lambda t: jvp(along, (t,), (one,))[1]  # noqa: E731
        return first(zero), jvp(first, (zero,), (one,))[1]

    steps = torch.as_tensor(s, dtype=theta.dtype, device=theta.device)
    points = theta[None] - steps[:, None] * (alpha_max * g)[None]
    with torch.no_grad():
        try:
            z1, z2 = vmap(derivatives)(points)
        except (RuntimeError, NotImplementedError, ValueError):
            pairs = [derivatives(p) for p in points]
            z1, z2 = torch.stack([a for a, _ in pairs]), torch.stack([b for _, b in pairs])
        terms = (z1 ** 2 + z2.abs()).amax(dim=-1).mean(dim=-1) / (g @ g)
    return float(terms.max())


class ModuleLoss(DescentProblem):
    """The mean cross-entropy of a :class:`verify.ModuleCase`; M certified on the segment (see the module)."""

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
        """M certified by interval Taylor enclosures with subdivision; the re-check (``dense``) certifies to a 100×
        finer tolerance with 4× the work and takes the max with its 257 autograd samples (which can only raise
        M). The samples and the curvature the loss values imply are kept for :meth:`inconsistency`."""
        rtol, limit = (DENSE_RTOL, 4 * MAX_INTERVALS) if dense else (CERTIFY_RTOL, MAX_INTERVALS)
        g64 = g.detach().to("cpu", torch.float64).numpy()
        G = float(g64 @ g64)
        enclose = module_enclosure(self.case, _named(self.case, theta), _named(self.case, g))
        bound = certify_curvature(enclose, alpha_max, G, rtol, limit)
        s = np.linspace(0.0, 1.0, RECHECK_POINTS if dense else POINTS)
        samples, mags = directional_curvatures(f, theta, g, alpha_max, s)
        fm = _functional(self.case, ctx.dtype, str(ctx.device))
        implied = self._implied_curvature(f, theta, g, alpha_max, s[1:], ctx)
        work = {"intervals": bound.intervals, "rounds": bound.rounds, "pieces": bound.pieces,
                "converged": bound.converged, "rtol": rtol, "limit": limit, "M_lower": bound.lower / G,
                "M_sampled_directional": float(samples.max()), "sample_magnitude": float(mags.max()),
                "M_implied_by_losses": implied, "points": int(s.size)}
        if not bound.finite:
            return CurvatureBound(None, f"no finite bound within {limit} interval evaluations", s.size,
                                  float(samples.max()), work)
        certified = divide_up(bound.upper, g64)
        work["M_enclosure"] = certified
        # the logits' term size widens the consistency allowance; needed only where a route lands above M
        plain = CONSISTENCY_ULPS * Tolerance(ctx.dtype).eps * (float(mags.max()) + abs(certified))
        above = max(float(samples.max()), implied) > certified + plain
        work["logit_term_scale"] = _logit_scale(fm, theta, g, alpha_max, s) if above else None
        converged = "within" if bound.converged else "not converged to"
        how = (f"segment M certified: sup of gᵀ∇²L(ξ)g/‖g‖² on [θ, θ − α_max g] by interval Taylor enclosures of the "
               f"network and the cross-entropy, {bound.pieces} pieces ({converged} {rtol:g} of the best point "
               f"value), cross-checked by {s.size} autograd samples and the loss values")
        if dense:
            certified = max(certified, float(samples.max()))
        return CurvatureBound(certified, how, s.size, float(samples.max()), work)

    def inconsistency(self, curvature: CurvatureBound, ctx: CheckContext) -> Comparison | None:
        """A violation when an autograd sample exceeds the enclosure's M beyond round-off: the enclosure (or the
        products) is wrong, and a wrong M must not pass as verified. Where only the curvature the loss values
        imply exceeds it, the case is undecidable: that route's noise model leaves out the gradient's own error."""
        work = curvature.work
        if "M_enclosure" not in work:
            return None
        M = work["M_enclosure"]
        scale = work["sample_magnitude"] + (work["logit_term_scale"] or 0.0) + abs(M)
        allowance = CONSISTENCY_ULPS * Tolerance(ctx.dtype).eps * scale
        if work["M_sampled_directional"] > M + allowance:
            return compare_leq(work["M_sampled_directional"], M, scale, Tolerance(ctx.dtype, FAMILY.depth))
        if work["M_implied_by_losses"] > M + allowance:
            return Comparison("undecidable", work["M_implied_by_losses"], M, 0.0, 0.0, 0.0, None, scale, allowance)
        return None

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
        with np.errstate(all="ignore"):  # a·a·G can underflow: that step implies nothing
            mean = 2.0 * (L1 - L0 + a * G) / (a * a * G)
            noise = 2.0 * 64 * eps * (noise0 + np.abs(L1) + a * G + noise1) / (a * a * G)
            lower = mean - noise
        lower = lower[np.isfinite(lower)]  # a non-finite value (an overflow, 0/0) implies nothing
        return float(lower.max()) if lower.size else -math.inf

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
