r"""The gradient-norm penalty and its finite-difference gradient (C5), and seed 002's two mistakes.

Source: seed 002 ("Tsinghua University product: penalty gradient norm improves generalization",
section "3 Paper method"), a write-up of Zhao, Zhang, Hu, "Penalizing Gradient Norm for
Efficiently Improving Generalization in Deep Learning", ICML 2022 (arXiv 2202.03599); restated
precisely as C5 in ``CLAIMS.md``.

For :math:`L(\theta) = L_S(\theta) + \lambda\|\nabla L_S(\theta)\|_2`, :math:`g = \nabla L_S`,
:math:`H = \nabla^2 L_S`, :math:`g \ne 0`, :math:`\hat g = g/\|g\|`, :math:`\|v\| = 1`:

.. math::

    \nabla L = g + \lambda \frac{H g}{\|g\|}, \qquad
    H v = \frac{\nabla L_S(\theta + r v) - \nabla L_S(\theta)}{r} + O(r)
        = \frac{\nabla L_S(\theta + r v) - \nabla L_S(\theta - r v)}{2r} + O(r^2),

so with :math:`\alpha = \lambda / r`: :math:`\nabla L \approx (1-\alpha) g + \alpha \nabla L_S(\theta + r\hat g)`,
which for :math:`\alpha = 1`, :math:`r = \rho` is SAM's first-order direction (ĝ held constant).

Claims: ``gradient-norm-penalty-gradient``, ``gradient-norm-penalty-fd-order``,
``gnp-alpha-one-is-sam`` (hold); ``seed002-half-factor``, ``seed002-fd-uses-penalized-loss`` (refuted).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from proofs.gradient_norm_penalty import FAMILY
from proofs.gradient_norm_penalty import numeric as nm
from proofs.gradient_norm_penalty import symbolic as sym
from verify import (
    CaseResult,
    CheckContext,
    Comparison,
    SymbolicResult,
    Tolerance,
    compare_close,
    compare_leq,
    gradient,
)

#: the exact-gradient check compares two second-order routes (jvp of grad vs double backward) after a
#: division by ‖g‖: at 2000 cases a tiny-scale width-1 net (‖g‖ ~ 1e-10) showed 2.2e-13 relative
#: disagreement, 4× the 256·eps allowance; the re-check agreed it was round-off
GRAD_DEPTH = 1024.0


def _scales(f: nm.Fn, theta: torch.Tensor, g: torch.Tensor, ghat: torch.Tensor,
            hg: torch.Tensor, mlp: nm.MLPCase) -> tuple[float, float]:
    """``(hscale, kappa_rel)``: the Hessian's size ‖Hĝ‖ + ‖Hw‖ (w = 1/√n), and κ/‖g‖_∞ ≥ 1.

    Round-off in ĝ is about ε·κ/‖g‖ (it scales like 1/‖g‖), and it reaches the compared
    vectors through H: the noise of a comparison is λ·hscale·kappa_rel.
    """
    w = torch.full_like(theta, 1.0 / math.sqrt(theta.numel()))
    hscale = float(hg.abs().max()) + float(nm.hvp(f, theta, w).abs().max())
    return hscale, nm.gradient_roundoff(mlp) / float(g.abs().max())


# --------------------------------------------------------------------------- exact gradient


def _gradient_check(case: nm.GNPCase, ctx: CheckContext, factor: float = 1.0, dense: bool = False) -> CaseResult:
    """g + factor·λ·Hg/‖g‖ (Hg forward-over-reverse) against ∇(L_S + λ‖∇L_S‖) by double backward.

    ``dense`` is the re-check: Hg from the dense Hessian and the oracle from torch.func.grad of
    the penalized loss (another autograd route).
    """
    f, theta = nm.regression_loss(case.mlp, ctx.dtype, ctx.device)
    g, ghat = nm.unit_gradient(f, theta)
    hg = (nm.hvp_dense if dense else nm.hvp)(f, theta, g) / g.norm()
    formula = g + factor * case.lam * hg
    oracle = (nm.penalized_gradient_func if dense else nm.penalized_gradient)(f, theta, case.lam)
    hscale, kappa_rel = _scales(f, theta, g, ghat, hg, case.mlp)
    tol = Tolerance(ctx.dtype, GRAD_DEPTH)
    diff = (formula - oracle).abs()
    i = int(diff.argmax())
    scale = float(g.abs().max()) + case.lam * float(hg.abs().max())
    comparison = compare_close(float(formula[i]), float(oracle[i]), scale, tol, abs_err=float(diff[i]),
                               noise=case.lam * hscale * kappa_rel)
    return CaseResult(comparison, case.tags, {
        "grad_norm": float(g.norm()), "penalty_term_norm": case.lam * float(hg.norm()), "lam": case.lam,
        "factor": factor, "route": "dense Hessian / torch.func.grad" if dense else "jvp(grad) / double backward",
    }, tol.describe())


# --------------------------------------------------------------------------- FD order


def _fd_grad_fn(f: nm.Fn, lam: float, kind: str) -> nm.Fn:
    if kind == "loss":
        return lambda t: gradient(f, t)
    return lambda t: nm.penalized_gradient(f, t, lam)


def _fd_check(case: nm.GNPCase, ctx: CheckContext, kind: str = "loss", dense: bool = False,
              divisor: float = 1.0, stop_at_violation: bool = False) -> CaseResult:
    """FD(r) along v = ĝ of ∇L_S (``kind="loss"``) or of ∇L (``"penalized"``, the seed's slip) vs Hv.

    For every r of the dtype's grid (every scheme), ``‖FD(r) − Hv‖_∞ ≤ B(r)`` is judged with
    B_forward = (r/2)·M3, B_central = (r²/6)·M4 (Taylor's integral remainder with the sampled
    sups M3, M4 of the third and fourth directional derivatives; B = 0 for quadratic L_S) and the
    round-off of the differences, R/r with R = κ + ‖H‖·‖θ‖_∞ (κ the gradient's measured round-off
    amplification), allowed on top as c·ε·(‖Hv‖ + R/r): an r where that allowance swamps the
    comparison is undecidable, so the relation is judged on the range of r above round-off.
    ``divisor`` scales the FD quotient (a wrong formula, for tests). The worst r decides the case;
    the error curve, the fitted slopes and the model's r* go to the evidence.
    """
    f64, _ = nm.regression_loss(case.mlp, "float64", ctx.device)
    f, theta = nm.regression_loss(case.mlp, ctx.dtype, ctx.device)
    theta_ref = theta.double()  # the oracle runs at the very point the FD runs at
    g, ghat = nm.unit_gradient(f64, theta_ref)
    v = ghat.to(theta.dtype)
    v_ref = v.double()
    hv = (nm.hvp_dense if dense else nm.hvp)(f64, theta_ref, v_ref)
    quadratic = nm.is_quadratic(case.mlp)
    exact = quadratic and kind == "loss"  # B ≡ 0: exact for every r, so large r are checked too
    grids = {s: (nm.QUADRATIC_GRID if exact else nm.GRIDS[(ctx.dtype, s)]) for s in ("forward", "central")}
    if quadratic:
        m3 = m4 = 0.0
    else:
        r_top = max(max(grid) for grid in grids.values())
        m3, m4 = nm.segment_bounds(f64, theta_ref, v_ref, r_top, dense=dense)
    hscale, kappa_rel = _scales(f64, theta_ref, g, ghat, hv, case.mlp)
    roundoff = kappa_rel * float(g.abs().max()) + hscale * float(theta_ref.abs().max())
    if kind == "penalized":
        roundoff += case.lam * hscale * kappa_rel
    tol = Tolerance(ctx.dtype, FAMILY.depth)
    grad_fn = _fd_grad_fn(f, case.lam, kind)
    base = grad_fn(theta)
    scale = float(hv.abs().max())
    results: list[tuple[str, float, Comparison]] = []
    curves: dict[str, tuple[list[float], list[float]]] = {}
    curves_all: dict[str, list[list[float]]] = {}
    for scheme in ("forward", "central"):
        rs, errs = [], []
        for r in sorted(grids[scheme]):
            err = nm.fd_error(grad_fn, theta, v, hv, r, scheme, divisor, base=base)
            bound = r / 2 * m3 if scheme == "forward" else r * r / 6 * m4
            c = compare_leq(err, bound, scale, tol, noise=roundoff / r)
            if c.status != "undecidable":  # round-off allowance in the bound: the ratio stays meaningful
                c = compare_leq(err, bound + tol.rtol * (scale + roundoff / r), scale, tol)
            results.append((scheme, r, c))
            curves_all.setdefault(scheme, []).append([r, err])
            if c.status != "undecidable" and err > 10 * tol.rtol * (scale + roundoff / r):
                rs.append(r)
                errs.append(err)
            if stop_at_violation and c.status == "violated":
                break
        curves[scheme] = (rs, errs)
        if stop_at_violation and results[-1][2].status == "violated":
            break
    decided = [x for x in results if x[2].status != "undecidable"]
    scheme, r, worst = min(decided or results, key=lambda x: x[2].slack)
    eps = tol.eps
    details = {
        "scheme": scheme, "r": r, "kind": kind, "M3": m3, "M4": m4, "roundoff_R": roundoff,
        "r_decided": sorted({x[1] for x in decided}), "fd_errors": curves_all,
        "slope_forward": nm.loglog_slope(*curves.get("forward", ([], []))),
        "slope_central": nm.loglog_slope(*curves.get("central", ([], []))),
        "r_star_forward": 2 * math.sqrt(eps * roundoff / m3) if m3 > 0 else None,
        "r_star_central": (3 * eps * roundoff / m4) ** (1 / 3) if m4 > 0 else None,
    }
    if not decided:
        details["reason"] = "round-off swamps the FD error at every r of the grid"
    return CaseResult(worst, case.tags, details, tol.describe())


def _fd_recheck(case: nm.GNPCase, ctx: CheckContext) -> CaseResult:
    """Re-check a violation: the dense-Hessian float64 check, then the worst r again in mpmath.

    At 60 digits (hand-written backpropagation, no torch) the FD error has neither round-off nor
    the library's approximations of the activations; it is judged against the same bound B(r).
    """
    result = _fd_check(case, ctx, dense=True)
    if result.comparison.status != "violated":
        return result
    d = result.details
    f, theta = nm.regression_loss(case.mlp, "float64", ctx.device)
    _, ghat = nm.unit_gradient(f, theta)
    err = nm.mp_fd_error(case.mlp, theta, ghat, d["r"], d["scheme"])
    bound = d["r"] / 2 * d["M3"] if d["scheme"] == "forward" else d["r"] ** 2 / 6 * d["M4"]
    tol = Tolerance("float64", FAMILY.depth)
    return CaseResult(compare_leq(err, bound, result.comparison.scale, tol), case.tags,
                      {**d, "recheck": "mpmath, 60 digits"}, tol.describe())


def _plateau_recheck(case: nm.GNPCase, ctx: CheckContext) -> CaseResult:
    """The seed's FD error as r → 0, without any FD: ‖∇²L ĝ − Hĝ‖_∞ (both by torch.func jvp) vs 0.

    The quotient [∇L(θ + rĝ) − ∇L(θ)]/r tends to the directional derivative ∇²L ĝ, so a bound
    C·r (or C·r²) on its error forces ∇²L ĝ = Hĝ. Judged in float64 with the round-off of the two
    second-order products (λ·hscale·κ/‖g‖ and hscale) as noise.
    """
    f, theta = nm.regression_loss(case.mlp, "float64", ctx.device)
    g, ghat = nm.unit_gradient(f, theta)
    hv = nm.hvp_dense(f, theta, ghat)
    hpv = nm.penalized_hvp(f, theta, case.lam, ghat)
    hscale, kappa_rel = _scales(f, theta, g, ghat, hv, case.mlp)
    tol = Tolerance("float64", FAMILY.depth)
    plateau = float((hpv - hv).abs().max())
    comparison = compare_leq(plateau, 0.0, float(hv.abs().max()), tol,
                             noise=hscale + case.lam * hscale * kappa_rel)
    return CaseResult(comparison, case.tags, {"plateau": plateau, "lam": case.lam,
                                              "route": "torch.func jvp of the penalized gradient"}, tol.describe())


# --------------------------------------------------------------------------- SAM


def _sam_check(case: nm.GNPCase, ctx: CheckContext, lam_factor: float = 1.0, detach: bool = True) -> CaseResult:
    """(1 − α)g + α∇L_S(θ + rĝ) with λ = r = ρ (α = 1) against torch's SAM gradient, ĝ detached.

    ``lam_factor`` ≠ 1 makes α ≠ 1 and ``detach=False`` differentiates through ĝ: both are
    wrong on purpose (tests).
    """
    f, theta = nm.regression_loss(case.mlp, ctx.dtype, ctx.device)
    rho = case.r
    alpha = lam_factor * rho / rho
    g, ghat = nm.unit_gradient(f, theta)
    shifted = gradient(f, theta + rho * ghat)
    mixed = (1 - alpha) * g + alpha * shifted
    leaf = theta.detach().requires_grad_(True)
    with torch.enable_grad():
        (g_t,) = torch.autograd.grad(f(leaf), leaf, create_graph=not detach)
        e = rho * g_t / g_t.norm()
        (sam,) = torch.autograd.grad(f(leaf + (e.detach() if detach else e)), leaf)
    hscale, kappa_rel = _scales(f, theta, g, ghat, nm.hvp(f, theta, ghat), case.mlp)
    tol = Tolerance(ctx.dtype, FAMILY.depth)
    diff = (mixed - sam).abs()
    i = int(diff.argmax())
    scale = float(sam.abs().max()) + abs(1 - alpha) * float(g.abs().max())
    comparison = compare_close(float(mixed[i]), float(sam[i]), scale, tol, abs_err=float(diff[i]),
                               noise=rho * hscale * kappa_rel)
    return CaseResult(comparison, case.tags, {"rho": rho, "alpha": alpha, "detach": detach}, tol.describe())


def _sam_recheck(case: nm.GNPCase, ctx: CheckContext) -> CaseResult:
    return _sam_check(case, CheckContext("cpu", "float64", ctx.seed, ctx.examples))


# --------------------------------------------------------------------------- claims

_DECODE: Callable[..., nm.GNPCase] = nm.GNPCase.from_json

GRADIENT = FAMILY.claim(
    id="gradient-norm-penalty-gradient", title="Exact gradient of the gradient-norm penalty",
    statement=r"g \ne 0 \;\Longrightarrow\; \nabla_\theta\bigl(L_S + \lambda\|\nabla L_S\|_2\bigr) = "
              r"g + \lambda \frac{H g}{\|g\|_2}",
    source=FAMILY.source, hypotheses=FAMILY.hypotheses,
    symbolic=lambda: SymbolicResult([sym.norm_gradient("exp-poly"), sym.norm_gradient("cubic-net"),
                                     sym.squared_norm_gradient()]),
    cases=nm.gnp_cases, check=_gradient_check, recheck=lambda c, ctx: _gradient_check(c, ctx, dense=True),
    decode_case=_DECODE,
    notes=("Oracle: double backward (torch.autograd.grad with create_graph) through λ‖∇L_S‖; formula: Hg by "
           "forward-over-reverse. Scale ‖g‖_∞ + λ‖Hg‖_∞/‖g‖; the round-off of ĝ (ε·κ/‖g‖, so 1/‖g‖) enters "
           "the tolerance through H.",
           "The squared penalty λ‖∇L_S‖² has gradient g + 2λHg (proved symbolically).",
           "The paper's p-norm is taken with p = 2, as in the seed."),
)

FD_ORDER = FAMILY.claim(
    id="gradient-norm-penalty-fd-order", title="Finite-difference Hessian-vector product: O(r) and O(r²)",
    statement=r"\Bigl\|\tfrac{\nabla L_S(\theta+r\hat g)-\nabla L_S(\theta)}{r} - H\hat g\Bigr\| \le C_1 r,\quad "
              r"\Bigl\|\tfrac{\nabla L_S(\theta+r\hat g)-\nabla L_S(\theta-r\hat g)}{2r} - H\hat g\Bigr\| \le C_2 r^2",
    source=FAMILY.source, hypotheses=(*FAMILY.hypotheses,
                               r"C_1 = \tfrac12\sup_{[\theta,\theta+r\hat g]}\|D^3L_S[\hat g,\hat g]\|,\ "
                               r"C_2 = \tfrac16\sup_{[\theta-r\hat g,\theta+r\hat g]}\|D^4L_S[\hat g,\hat g,\hat g]\|",
                               r"r \text{ above round-off: } r \gtrsim c\,\varepsilon\,R/\|H\hat g\|"),
    symbolic=lambda: SymbolicResult([sym.gradient_taylor(), sym.central_difference(), sym.quadratic_fd_exact(),
                                     sym.integral_remainder()]),
    cases=lambda: nm.gnp_cases(activations=nm.FD_SMOOTH), check=_fd_check,
    recheck=_fd_recheck,
    relation="inequality", decode_case=_DECODE,
    notes=("Error model: forward (r/2)M3 + O(ε R/r), central (r²/6)M4 + O(ε R/r); the recommended step "
           "r* = 2√(εR/M3) (forward), (3εR/M4)^{1/3} (central) is in each case's details and marked on the figure.",
           "A forward slope of 2 is allowed: it happens where D³L_S[ĝ, ĝ] vanishes. Quadratic L_S (depth-1 nets): "
           "B ≡ 0, exact for every r up to round-off, checked for r from 10 down to 1e-8.",
           "A wrong HVP formula has an error that does not go to 0 as r → 0 (a plateau): it is refuted.",
           "GELU is left out here: torch's erf-based GELU derivative loses about 1% in the far tail "
           "(1 + erf cancels near z = −8), a smooth error that the FD of the gradient sees and the analytic "
           "second derivative does not; it is an artefact of the implementation, not of the math."),
    figures=lambda ctx: nm.fd_order_figures(ctx),
)

SAM = FAMILY.claim(
    id="gnp-alpha-one-is-sam", title="α = 1 (λ = r = ρ) gives SAM's first-order direction",
    statement=r"\alpha = \tfrac{\lambda}{r} = 1,\ r = \rho:\ (1-\alpha)g + \alpha\nabla L_S(\theta + r\hat g) = "
              r"\nabla_\theta L_S(\theta + \rho\,\mathrm{sg}[\hat g])",
    source=FAMILY.source, hypotheses=(*FAMILY.hypotheses, r"\mathrm{sg}: \hat g \text{ held constant (no } "
                                            r"\partial\hat g/\partial\theta \text{ term)}"),
    symbolic=lambda: SymbolicResult([sym.mixing_identity(), sym.alpha_one_is_sam(), sym.mixing_error()]),
    cases=lambda: nm.gnp_cases(lams=(1.0,)), check=_sam_check, recheck=_sam_recheck, decode_case=_DECODE,
    notes=("Oracle: torch autograd of L_S(θ + ρ·ĝ.detach()), the way SAM is implemented.",
           "Any α ≥ 0 is valid mathematically: the seed's 0 ≤ α ≤ 1 is a convention. The mixing formula "
           "approximates ∇L with error O(λr) (proved symbolically on a quartic)."),
)

HALF = FAMILY.claim(
    id="seed002-half-factor", title="Seed 002: ∇‖g‖ = ½Hg/‖g‖", expected="refuted",
    statement=r"\nabla_\theta\|\nabla L_S\|_2 = \tfrac12 \frac{H g}{\|g\|_2}",
    source=FAMILY.source + "; the seed's derivation keeps the ½ of the square root's derivative",
    hypotheses=FAMILY.hypotheses, symbolic=lambda: SymbolicResult([sym.norm_gradient("exp-poly", factor=0.5)]),
    cases=nm.gnp_cases, check=lambda c, ctx: _gradient_check(c, ctx, factor=0.5),
    recheck=lambda c, ctx: _gradient_check(c, ctx, factor=0.5, dense=True), decode_case=_DECODE,
    notes=("d‖g‖ = gᵀ dg/‖g‖: the ½ of d√s = ds/(2√s) cancels the 2 of d(gᵀg) = 2gᵀdg. The seed's final "
           "formula (without ½) is right; the intermediate line is not.",),
)

PENALIZED_FD = FAMILY.claim(
    id="seed002-fd-uses-penalized-loss", title="Seed 002: the FD formula with ∇L of the penalized loss",
    expected="refuted",
    statement=r"H\hat g = \frac{\nabla L(\theta + r\hat g) - \nabla L(\theta)}{r} + O(r),\ "
              r"L = L_S + \lambda\|\nabla L_S\|_2",
    source=FAMILY.source + "; the seed's FD line differentiates L where L_S is meant",
    hypotheses=(*FAMILY.hypotheses, r"\lambda > 0"),
    symbolic=lambda: SymbolicResult([sym.penalized_fd_limit()]),
    cases=lambda: nm.gnp_cases(activations=nm.FD_SMOOTH, lams=(1.0, 0.5, 0.1)),
    check=lambda c, ctx: _fd_check(c, ctx, kind="penalized", stop_at_violation=True),
    recheck=_plateau_recheck, relation="inequality",
    decode_case=_DECODE,
    notes=("As r → 0 this quotient tends to ∇²L ĝ = Hĝ + λ∇²‖g‖ ĝ: its error plateaus at λ‖∇²‖g‖ĝ‖ ≠ 0 "
           "instead of going to 0 (see the figure). The check is the one of gradient-norm-penalty-fd-order "
           "with ∇L in place of ∇L_S; the re-check computes the plateau itself, ‖∇²L ĝ − Hĝ‖_∞, by "
           "forward-mode autograd (no finite differences), so FD round-off cannot be the counterexample.",),
    figures=lambda ctx: nm.penalized_fd_figures(ctx),
)
