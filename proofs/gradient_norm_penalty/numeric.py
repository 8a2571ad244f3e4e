r"""The per-case checks of :mod:`proofs.gradient_norm_penalty` (C5, docs/claims.md#c5), and the formulas they test.

Formulas (what a claim states; a seed's mistake or a test passes another one to the same check):

* :func:`norm_gradient` — ∇‖g‖ = Hg/‖g‖; the source's :func:`seed002_half_norm_gradient` keeps a ½;
* :data:`FD_QUOTIENTS` — the forward and central quotients that approximate Hv;
* :data:`FD_BOUNDS` — the bounds on their errors, (r/2)·M3 (O(r)) and (r²/6)·M4 (O(r²));
* :data:`LOSS_GRADIENT` — what those quotients difference, ∇L_S; the source's
  :data:`SEED002_PENALIZED_GRADIENT` differences ∇L of the penalized loss instead;
* :func:`sam_mixing_weight` — α = λ/r, which is 1 for λ = r = ρ.

Checks, each with its re-check: :func:`gradient_check` (:func:`gradient_recheck`: dense Hessian and
torch.func), :func:`fd_order_check` (:func:`fd_order_recheck`: dense, then mpmath),
:func:`seed002_fd_check` (:func:`seed002_plateau_recheck`: the plateau by forward mode), :func:`sam_check`
(:func:`sam_recheck`: float64 on the CPU). The oracles are in :mod:`proofs.gradient_norm_penalty.oracles`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from proofs.gradient_norm_penalty import FAMILY
from proofs.gradient_norm_penalty import oracles as orc
from proofs.gradient_norm_penalty.cases import GNPCase, is_quadratic
from proofs.gradient_norm_penalty.networks import network, sweep_gradients
from verify import (
    CaseResult,
    CheckContext,
    Comparison,
    MLPCase,
    Tolerance,
    compare_close,
    compare_leq,
    gradient,
)

#: the exact-gradient check compares two second-order routes (jvp of grad vs double backward) after a
#: division by ‖g‖: at 2000 cases a tiny-scale width-1 net (‖g‖ ~ 1e-10) showed 2.2e-13 relative
#: disagreement, 4× the 256·eps allowance; the re-check agreed it was round-off
GRAD_DEPTH = 1024.0
#: grids of r (decreasing): forward reaches further down (round-off grows like u/r)
GRIDS = {
    ("float64", "forward"): tuple(10.0 ** (-3 - k / 2) for k in range(11)),   # 1e-3 … 1e-8
    ("float64", "central"): tuple(10.0 ** (-3 - k / 2) for k in range(7)),    # 1e-3 … 1e-6
    ("float32", "forward"): tuple(10.0 ** (-1.5 - k / 2) for k in range(6)),  # 3e-2 … 1e-4
    ("float32", "central"): tuple(10.0 ** (-1.5 - k / 2) for k in range(4)),  # 3e-2 … 1e-3
}
#: quadratic losses: FD is exact for every r, so the grid reaches large steps too
QUADRATIC_GRID = tuple(10.0 ** (1 - k) for k in range(10))      # 10 … 1e-8
#: samples of w₃, w₄ on the segment: the check's and the re-check's
SEGMENT_POINTS, SEGMENT_POINTS_RECHECK = 5, 17

#: a claimed ∇‖∇L_S‖: (Hg, ‖g‖) ↦ the vector
NormGradient = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# --------------------------------------------------------------------------- formulas


def norm_gradient(hg: torch.Tensor, norm: torch.Tensor) -> torch.Tensor:
    """∇‖g‖ = Hg/‖g‖."""
    return hg / norm


def seed002_half_norm_gradient(hg: torch.Tensor, norm: torch.Tensor) -> torch.Tensor:
    """[S002]'s ∇‖g‖ = ½Hg/‖g‖ (the ½ of d√s = ds/(2√s) kept after the 2 of d(gᵀg) = 2gᵀdg cancelled it)."""
    return 0.5 * (hg / norm)


def forward_quotient(grad_fn: orc.Fn, theta: torch.Tensor, v: torch.Tensor, r: float,
                     base: torch.Tensor | None = None) -> torch.Tensor:
    """[∇(θ + rv) − ∇(θ)]/r (``base``: ∇(θ) when already computed)."""
    g0 = grad_fn(theta) if base is None else base
    return (grad_fn(theta + r * v) - g0) / r


def central_quotient(grad_fn: orc.Fn, theta: torch.Tensor, v: torch.Tensor, r: float,
                     base: torch.Tensor | None = None) -> torch.Tensor:
    """[∇(θ + rv) − ∇(θ − rv)]/(2r)."""
    return (grad_fn(theta + r * v) - grad_fn(theta - r * v)) / (2 * r)


#: the FD quotients of Hv, by scheme
FD_QUOTIENTS: dict[str, orc.Quotient] = {"forward": forward_quotient, "central": central_quotient}

#: a claimed bound on an FD quotient's error: (r, M3, M4) ↦ B(r)
FDBound = Callable[[float, float, float], float]


def forward_bound(r: float, m3: float, m4: float) -> float:
    """(r/2)·M3: Taylor's integral remainder of the forward quotient, O(r)."""
    return r / 2 * m3


def central_bound(r: float, m3: float, m4: float) -> float:
    """(r²/6)·M4: the remainder of the central quotient, O(r²)."""
    return r * r / 6 * m4


#: the error bounds C5 states, by scheme (a test passes wrong orders to the same check)
FD_BOUNDS: dict[str, FDBound] = {"forward": forward_bound, "central": central_bound}


@dataclass(frozen=True)
class Differenced:
    """What an FD quotient differences: ∇ of L_S + μ‖∇L_S‖ with μ = ``weight(λ)``.

    Attributes:
        kind: its name in the evidence (``loss``, ``penalized``).
        gradient: (L_S, λ) ↦ θ ↦ that gradient.
        weight: λ ↦ μ. With μ = 0 the quotient is exact for quadratic L_S; μ > 0 adds the round-off
            of μ∇‖g‖ to the differences.
    """

    kind: str
    gradient: Callable[[orc.Fn, float], orc.Fn]
    weight: Callable[[float], float]


def _loss_gradient(f: orc.Fn, lam: float) -> orc.Fn:
    return lambda t: gradient(f, t)


def _penalized_gradient(f: orc.Fn, lam: float) -> orc.Fn:
    return lambda t: orc.penalized_gradient(f, t, lam)


#: ∇L_S, what C5's FD quotients difference
LOSS_GRADIENT = Differenced("loss", _loss_gradient, lambda lam: 0.0)
#: ∇L of L = L_S + λ‖∇L_S‖, what [S002]'s FD line differences
SEED002_PENALIZED_GRADIENT = Differenced("penalized", _penalized_gradient, lambda lam: lam)


def sam_mixing_weight(lam: float, r: float) -> float:
    """α = λ/r of the mixed gradient (1 − α)g + α∇L_S(θ + rĝ)."""
    return lam / r


# --------------------------------------------------------------------------- shared


def _scales(f: orc.Fn, theta: torch.Tensor, g: torch.Tensor, ghat: torch.Tensor,
            hg: torch.Tensor, mlp: MLPCase) -> tuple[float, float]:
    """``(hscale, kappa_rel)``: the Hessian's size ‖Hĝ‖ + ‖Hw‖ (w = 1/√n), and κ/‖g‖_∞ ≥ 1.

    Round-off in ĝ is about ε·κ/‖g‖ (it scales like 1/‖g‖), and it reaches the compared
    vectors through H: the noise of a comparison is λ·hscale·kappa_rel.
    """
    w = torch.full_like(theta, 1.0 / math.sqrt(theta.numel()))
    hscale = float(hg.abs().max()) + float(orc.hvp_value(f, theta, w).abs().max())
    return hscale, orc.gradient_roundoff(mlp) / float(g.abs().max())


# --------------------------------------------------------------------------- exact gradient


def _gradient_compare(case: GNPCase, ctx: CheckContext, formula: NormGradient, hvp: Callable[..., torch.Tensor],
                      oracle: Callable[..., torch.Tensor], route: str) -> CaseResult:
    """g + λ·formula(Hg, ‖g‖) (Hg by ``hvp``) against ``oracle``'s ∇(L_S + λ‖∇L_S‖)."""
    f, theta = orc.regression_loss(case.mlp, ctx.dtype, ctx.device)
    g, ghat = orc.unit_gradient(f, theta)
    hg_raw = hvp(f, theta, g)
    hg = hg_raw / g.norm()
    claimed = g + case.lam * formula(hg_raw, g.norm())
    exact = oracle(f, theta, case.lam)
    hscale, kappa_rel = _scales(f, theta, g, ghat, hg, case.mlp)
    tol = Tolerance(ctx.dtype, GRAD_DEPTH)
    diff = (claimed - exact).abs()
    i = int(diff.argmax())
    scale = float(g.abs().max()) + case.lam * float(hg.abs().max())
    noise = case.lam * hscale * kappa_rel
    if network(case.mlp).measure_hvp_roundoff:
        noise += orc.gradient_roundoff(case.mlp) + case.lam * orc.hvp_roundoff(case.mlp)
    comparison = compare_close(float(claimed[i]), float(exact[i]), scale, tol, abs_err=float(diff[i]), noise=noise)
    one = torch.ones(1, dtype=torch.float64)
    return CaseResult(comparison, case.tags, {
        "grad_norm": float(g.norm()), "penalty_term_norm": case.lam * float(hg.norm()), "lam": case.lam,
        "factor": float(formula(one, one)), "route": route,  # factor: the formula's coefficient on Hg/‖g‖
    }, tol.describe())


def gradient_check(case: GNPCase, ctx: CheckContext, formula: NormGradient = norm_gradient) -> CaseResult:
    """g + λ·formula(Hg, ‖g‖) with Hg forward-over-reverse against double backward through λ‖∇L_S‖."""
    return _gradient_compare(case, ctx, formula, orc.hvp, orc.penalized_gradient,
                             "forward over reverse / double backward")


def gradient_recheck(case: GNPCase, ctx: CheckContext, formula: NormGradient = norm_gradient) -> CaseResult:
    """The same with other autograd routes: Hg from the dense Hessian, the oracle by torch.func.grad."""
    return _gradient_compare(case, ctx, formula, orc.hvp_dense, orc.penalized_gradient_func,
                             "dense Hessian / torch.func.grad")


# --------------------------------------------------------------------------- FD order


def _fd_sweep(grad_fn: orc.Fn, theta: torch.Tensor, v: torch.Tensor, hv: torch.Tensor,
              grids: dict[str, tuple[float, ...]], quotients: dict[str, orc.Quotient], bounds: dict[str, FDBound],
              sups: tuple[float, float], noise: tuple[float, float], tol: Tolerance, stop_at_violation: bool,
              ) -> tuple[list[tuple[str, float, Comparison]], dict[str, tuple[list[float], list[float]]],
                         dict[str, list[list[float]]]]:
    """For every scheme and r: ‖Q(r) − Hv‖_∞ ≤ B(r) (+ round-off), the error curves and the r above round-off.

    ``noise = (R, δ)``: the differences' round-off is about ε·R/r, and the reference ``hv`` is off by
    δ (measured, independent of r); the allowance on top of B(r) is c·ε·(‖Hv‖ + R/r) + δ.
    """
    m3, m4 = sups
    roundoff, hv_error = noise
    base = grad_fn(theta)
    scale = float(hv.abs().max())
    results: list[tuple[str, float, Comparison]] = []
    curves: dict[str, tuple[list[float], list[float]]] = {}
    curves_all: dict[str, list[list[float]]] = {}
    for scheme in ("forward", "central"):
        rs, errs = [], []
        for r in sorted(grids[scheme]):
            err = orc.fd_error(quotients[scheme], grad_fn, theta, v, hv, r, base=base)
            bound = bounds[scheme](r, m3, m4)
            allowance = tol.rtol * (scale + roundoff / r) + hv_error
            c = compare_leq(err, bound, scale, tol, noise=roundoff / r + hv_error / tol.rtol)
            if c.status != "undecidable":  # round-off allowance in the bound: the ratio stays meaningful
                c = compare_leq(err, bound + allowance, scale, tol)
            results.append((scheme, r, c))
            curves_all.setdefault(scheme, []).append([r, err])
            if c.status != "undecidable" and err > 10 * allowance:
                rs.append(r)
                errs.append(err)
            if stop_at_violation and c.status == "violated":
                break
        curves[scheme] = (rs, errs)
        if stop_at_violation and results[-1][2].status == "violated":
            break
    return results, curves, curves_all


def _fd_compare(case: GNPCase, ctx: CheckContext, differenced: Differenced, hvp: Callable[..., torch.Tensor],
                points: int, quotients: dict[str, orc.Quotient], stop_at_violation: bool,
                bounds: dict[str, FDBound] = FD_BOUNDS) -> CaseResult:
    """FD quotients along v = ĝ of ``differenced`` vs Hv (by ``hvp``), over the dtype's grid of r.

    For every r (every scheme), ``‖FD(r) − Hv‖_∞ ≤ B(r)`` is judged with B_forward = (r/2)·M3,
    B_central = (r²/6)·M4 (``bounds``; Taylor's integral remainder with the sups M3, M4 of the third and
    fourth directional derivatives, sampled at ``points`` points; B = 0 for quadratic L_S). Allowed on top:
    the round-off of the differences, R/r with R = κ + ‖H‖·‖θ‖_∞ (κ the gradient's measured round-off
    amplification), as c·ε·(‖Hv‖ + R/r), and the reference's own error δ = ‖Hv (``hvp``) − Hv (mpmath)‖_∞,
    measured (:func:`~proofs.gradient_norm_penalty.oracles.mp_directional`; it does not shrink with r).
    M3, M4 come from torch only where its w₃, w₄ agree with mpmath's at θ, else from mpmath
    (:func:`~proofs.gradient_norm_penalty.oracles.checked_segment_bounds`). An r
    where that allowance swamps the comparison is undecidable, so the relation is judged on the range of
    r above round-off. The worst r decides the case; the error curve, the fitted slopes and the model's
    r* go to the evidence.
    """
    f64, _ = orc.regression_loss(case.mlp, "float64", ctx.device)
    f, theta = orc.regression_loss(case.mlp, ctx.dtype, ctx.device)
    theta_ref = theta.double()  # the oracle runs at the very point the FD runs at
    g, ghat = orc.unit_gradient(f64, theta_ref)
    v = ghat.to(theta.dtype)
    v_ref = v.double()
    hv = hvp(f64, theta_ref, v_ref)
    hv_mp, w3_mp, w4_mp = network(case.mlp).directional(case.mlp, theta_ref, v_ref)
    hv_error = float((hv - hv_mp[0].to(hv)).abs().max())
    quadratic = is_quadratic(case.mlp)
    weight = differenced.weight(case.lam)
    exact = quadratic and weight == 0  # B ≡ 0: exact for every r, so large r are checked too
    grids = {s: (QUADRATIC_GRID if exact else GRIDS[(ctx.dtype, s)]) for s in ("forward", "central")}
    if quadratic:
        m3, m4, sups = 0.0, 0.0, "quadratic: B = 0"
    else:
        r_top = max(max(grid) for grid in grids.values())
        m3, m4, sups = network(case.mlp).segment_bounds(f64, case.mlp, theta_ref, v_ref, r_top, points,
                                                        (w3_mp[0].to(hv), w4_mp[0].to(hv)))
        if not (math.isfinite(m3) and math.isfinite(m4)):
            undecided = Comparison("undecidable", 0.0, 0.0, 0.0, 0.0, 0.0, None, 0.0, 0.0)
            return CaseResult(undecided, case.tags, {"reason": f"no bound of w3, w4: {sups}"},
                              Tolerance(ctx.dtype, FAMILY.depth).describe())
    hscale, kappa_rel = _scales(f64, theta_ref, g, ghat, hv, case.mlp)
    roundoff = kappa_rel * float(g.abs().max()) + hscale * float(theta_ref.abs().max())
    if weight:
        roundoff += weight * hscale * kappa_rel
    tol = Tolerance(ctx.dtype, FAMILY.depth)
    # ∇L_S at all the sweep's points in one vmap call (the penalized gradient is differenced point by point)
    grad_fn = (sweep_gradients(f, theta, v, grids) if differenced.kind == "loss"
               else differenced.gradient(f, case.lam))
    measured = network(case.mlp).gradient_noise
    if measured is not None:  # no round-off-free route: the gradient's noise is measured, not only modelled
        roundoff = max(roundoff, 4.0 * measured(grad_fn, theta, v) / tol.rtol)
    results, curves, curves_all = _fd_sweep(grad_fn, theta, v, hv, grids, quotients,
                                            bounds, (m3, m4), (roundoff, hv_error), tol, stop_at_violation)
    decided = [x for x in results if x[2].status != "undecidable"]
    scheme, r, worst = min(decided or results, key=lambda x: x[2].slack)
    eps = tol.eps
    details = {
        "scheme": scheme, "r": r, "kind": differenced.kind, "M3": m3, "M4": m4, "roundoff_R": roundoff,
        "hv_error": hv_error, "sups_route": sups,
        "r_decided": sorted({x[1] for x in decided}), "fd_errors": curves_all,
        "slope_forward": orc.loglog_slope(*curves.get("forward", ([], []))),
        "slope_central": orc.loglog_slope(*curves.get("central", ([], []))),
        "r_star_forward": 2 * math.sqrt(eps * roundoff / m3) if m3 > 0 else None,
        "r_star_central": (3 * eps * roundoff / m4) ** (1 / 3) if m4 > 0 else None,
    }
    if not decided:
        details["reason"] = "round-off swamps the FD error at every r of the grid"
    return CaseResult(worst, case.tags, details, tol.describe())


def fd_order_check(case: GNPCase, ctx: CheckContext, quotients: dict[str, orc.Quotient] = FD_QUOTIENTS,
                   bounds: dict[str, FDBound] = FD_BOUNDS) -> CaseResult:
    """The forward and central quotients of ∇L_S along ĝ against Hĝ (double backward): O(r), O(r²)."""
    return _fd_compare(case, ctx, LOSS_GRADIENT, orc.hvp_value, SEGMENT_POINTS, quotients, stop_at_violation=False,
                       bounds=bounds)


def fd_order_recheck(case: GNPCase, ctx: CheckContext, bounds: dict[str, FDBound] = FD_BOUNDS) -> CaseResult:
    """Re-check a violation: Hĝ from the dense Hessian, M3, M4 from 17 samples; then the worst r in mpmath.

    At 60 digits (hand-written backpropagation, no torch) the FD error has neither round-off nor
    the library's approximations of the activations; it is judged against the same bound B(r).
    """
    result = _fd_compare(case, ctx, LOSS_GRADIENT, orc.hvp_dense, SEGMENT_POINTS_RECHECK, FD_QUOTIENTS,
                         stop_at_violation=False, bounds=bounds)
    if result.comparison.status != "violated":
        return result
    d = result.details
    f, theta = orc.regression_loss(case.mlp, "float64", ctx.device)
    _, ghat = orc.unit_gradient(f, theta)
    exact = network(case.mlp).fd_error
    if exact is None:  # no round-off-free route for this architecture: the dense stage is the re-check
        return CaseResult(result.comparison, case.tags, {**d, "recheck": "dense Hessian (no mpmath route)"},
                          result.tolerance)
    err = exact(case.mlp, theta, ghat, d["r"], d["scheme"])
    bound = bounds[d["scheme"]](d["r"], d["M3"], d["M4"])
    tol = Tolerance("float64", FAMILY.depth)
    return CaseResult(compare_leq(err, bound, result.comparison.scale, tol), case.tags,
                      {**d, "recheck": "mpmath, 60 digits"}, tol.describe())


def seed002_fd_check(case: GNPCase, ctx: CheckContext, stop_at_violation: bool = True) -> CaseResult:
    """The source's FD line: the quotients of ∇L (penalized) along ĝ against Hĝ, stopping at the first violation."""
    return _fd_compare(case, ctx, SEED002_PENALIZED_GRADIENT, orc.hvp_value, SEGMENT_POINTS, FD_QUOTIENTS,
                       stop_at_violation)


def seed002_plateau_recheck(case: GNPCase, ctx: CheckContext) -> CaseResult:
    """The source's FD error as r → 0, without any FD: ‖∇²L ĝ − Hĝ‖_∞ (both by torch.func jvp) vs 0.

    The quotient [∇L(θ + rĝ) − ∇L(θ)]/r tends to the directional derivative ∇²L ĝ, so a bound
    C·r (or C·r²) on its error forces ∇²L ĝ = Hĝ. Judged in float64 with the round-off of the two
    second-order products (λ·hscale·κ/‖g‖ and hscale) as noise.
    """
    f, theta = orc.regression_loss(case.mlp, "float64", ctx.device)
    g, ghat = orc.unit_gradient(f, theta)
    hv = orc.hvp_dense(f, theta, ghat)
    hpv = orc.penalized_hvp(f, theta, case.lam, ghat)
    hscale, kappa_rel = _scales(f, theta, g, ghat, hv, case.mlp)
    tol = Tolerance("float64", FAMILY.depth)
    plateau = float((hpv - hv).abs().max())
    comparison = compare_leq(plateau, 0.0, float(hv.abs().max()), tol,
                             noise=hscale + case.lam * hscale * kappa_rel)
    return CaseResult(comparison, case.tags, {"plateau": plateau, "lam": case.lam,
                                              "route": "torch.func jvp of the penalized gradient"}, tol.describe())


# --------------------------------------------------------------------------- SAM


def sam_check(case: GNPCase, ctx: CheckContext, mixing_weight: Callable[[float, float], float] = sam_mixing_weight,
              perturbation: orc.Perturbation = orc.sam_perturbation) -> CaseResult:
    """(1 − α)g + α∇L_S(θ + rĝ) with λ = r = ρ, α = ``mixing_weight(λ, r)``, against torch's SAM gradient
    (its ε = ``perturbation``: ρĝ held constant)."""
    f, theta = orc.regression_loss(case.mlp, ctx.dtype, ctx.device)
    rho = case.r
    alpha = mixing_weight(rho, rho)
    g, ghat = orc.unit_gradient(f, theta)
    shifted = gradient(f, theta + rho * ghat)
    mixed = (1 - alpha) * g + alpha * shifted
    sam, detached = orc.sam_gradient(f, theta, rho, perturbation)
    hscale, kappa_rel = _scales(f, theta, g, ghat, orc.hvp_value(f, theta, ghat), case.mlp)
    tol = Tolerance(ctx.dtype, FAMILY.depth)
    diff = (mixed - sam).abs()
    i = int(diff.argmax())
    scale = float(sam.abs().max()) + abs(1 - alpha) * float(g.abs().max())
    comparison = compare_close(float(mixed[i]), float(sam[i]), scale, tol, abs_err=float(diff[i]),
                               noise=rho * hscale * kappa_rel)
    return CaseResult(comparison, case.tags, {"rho": rho, "alpha": alpha, "detach": detached}, tol.describe())


def sam_recheck(case: GNPCase, ctx: CheckContext) -> CaseResult:
    """The SAM check again in float64 on the CPU."""
    return sam_check(case, CheckContext("cpu", "float64", ctx.seed, ctx.examples))
