r"""The Gauss-Newton checks of the curvature family (C8, docs/claims.md#c8) and their re-checks.

Matrices are compared entry by entry where n ≤ ``DENSE_N`` and along ``DIRECTIONS`` seeded unit directions
beyond (each product is exact arithmetic's, so a few directions see any non-zero difference):

* :func:`split_check` — ∇²L v against Gv + Rv (:class:`verify.GaussNewton`: J and Jᵀ by reverse mode, the loss's
  output Hessian by double backward, R as the HVP of θ ↦ cᵀf); the oracle is the HVP of L itself;
* :func:`psd_check` — λ_min(G) ≥ 0 for cross-entropy and MSE; re-checked with G = JᵀH_ℓJ from the dense
  Jacobian (torch.func.jacrev) and output Hessian (torch.func.hessian), numpy eigvalsh;
* :func:`ggn_equals_hessian_check` — ∇²L = G, the statement made at local minima (refuted where the
  residuals do not vanish) and true at interpolation; a case whose θ is not a strict local minimum
  numerically (gradient above round-off, λ_min(H) ≤ 0) is undecidable, never evidence.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from proofs.curvature import FAMILY
from proofs.curvature.cases import model_of
from verify import (
    CaseResult,
    CheckContext,
    Comparison,
    GaussNewton,
    Tolerance,
    compare_close,
    compare_leq,
    extreme_eigenvalues,
)

__all__ = ["DENSE_N", "ggn_equals_hessian_check", "ggn_equals_hessian_recheck", "ggn_plus_residual", "psd_check",
           "psd_recheck", "split_check", "split_recheck"]

#: largest n compared entry by entry (beyond: along DIRECTIONS directions)
DENSE_N = 48
DIRECTIONS = 8
#: largest n whose G (or claimed matrix) is built densely for its λ_min (one batched backward pass), Lanczos beyond
DENSE_PSD = 400
#: a claimed matrix from the GGN and the residual term (their products or dense forms): (G, R) ↦ it
Combine = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def ggn_plus_residual(g: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """∇²L = G + R (the Gauss-Newton split)."""
    return g + r


def ggn_only(g: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """G alone: what "the Hessian is the GGN" states, and the matrix the PSD claim is about."""
    return g


def _product(gn: GaussNewton, combine: Combine) -> Callable[[torch.Tensor], torch.Tensor]:
    return lambda v: combine(gn.ggn(v), gn.residual(v))


def _basis(n: int, dtype: torch.dtype, device: str, seed: int) -> torch.Tensor:
    """The identity (n ≤ DENSE_N) or DIRECTIONS seeded unit directions, as columns."""
    if n <= DENSE_N:
        return torch.eye(n, dtype=dtype, device=device)
    V = torch.randn(n, DIRECTIONS, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (V / torch.linalg.vector_norm(V, dim=0)).to(dtype=dtype, device=device)


def _columns(op: Callable[[torch.Tensor], torch.Tensor], V: torch.Tensor) -> torch.Tensor:
    return torch.stack([op(v).detach() for v in V.T], dim=1)


def _compare(claimed: torch.Tensor, oracle: torch.Tensor, scale: float, tol: Tolerance,
             noise: float = 0.0) -> Comparison:
    diff = (claimed - oracle).abs()
    i = int(diff.argmax())
    return compare_close(float(claimed.reshape(-1)[i]), float(oracle.reshape(-1)[i]), scale, tol,
                         abs_err=float(diff.reshape(-1)[i]), noise=noise)


def _term_scale(fm, gn: GaussNewton) -> float:  # type: ignore[no-untyped-def]
    """c_ℓ·‖J‖_F²: the size of the terms JᵀH_ℓJ sums before they cancel, c_ℓ = 1/m for cross-entropy (p ≤ 1; a
    saturated softmax makes H_ℓ = diag p − ppᵀ a difference of nearly equal numbers), 2/N for the MSE."""
    J = gn.jacobian()
    c = 1.0 / fm.m if fm.loss_name == "cross-entropy" else 2.0 / J.shape[0]
    return c * float((J * J).sum())


def _hessian_columns(fm, theta: torch.Tensor, V: torch.Tensor, route: str) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """∇²L @ V: double backward batched over the columns (``is_grads_batched``), or one product at a time
    by ``route`` (forward over reverse for the re-checks; or where a backward formula cannot be batched)."""
    if route == "double_backward":
        leaf = theta.detach().clone().requires_grad_(True)
        try:
            with torch.enable_grad():
                (g,) = torch.autograd.grad(fm.loss(leaf), leaf, create_graph=True)
                if not g.requires_grad:  # L is affine in θ
                    return torch.zeros_like(V)
                (hv,) = torch.autograd.grad(g, leaf, V.T.contiguous(), is_grads_batched=True)
            return hv.detach().T
        except RuntimeError:
            pass
    return _columns(fm.hvp_operator(theta, route=route), V)


def _combined(combine: Combine, G: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
    """``combine`` of each column pair (a claimed product of the Gauss-Newton pieces, column by column)."""
    return torch.stack([combine(G[:, j], R[:, j]) for j in range(G.shape[1])], dim=1)


def _split(case, ctx: CheckContext, combine: Combine, route: str) -> CaseResult:  # type: ignore[no-untyped-def]
    fm = model_of(case, getattr(torch, ctx.dtype), ctx.device)
    theta = fm.theta0
    V = _basis(fm.n, theta.dtype, ctx.device, ctx.seed)
    gn = GaussNewton(fm, theta)
    H = _hessian_columns(fm, theta, V, route)
    G, R = gn.ggn_columns(V), gn.residual_columns(V)
    claimed = _combined(combine, G, R)
    scale = float(H.abs().max()) + float(G.abs().max()) + float(R.abs().max())
    tol = Tolerance(ctx.dtype, FAMILY.depth)
    comparison = _compare(claimed, H, scale, tol, noise=_term_scale(fm, gn))
    return CaseResult(comparison, case.tags, {
        "n": fm.n, "compared": "every entry" if fm.n <= DENSE_N else f"{DIRECTIONS} directions",
        "ggn_size": float(G.abs().max()), "residual_size": float(R.abs().max()), "loss": fm.loss_name,
        "hessian_route": route}, tol.describe())


def split_check(case, ctx: CheckContext, combine: Combine = ggn_plus_residual) -> CaseResult:  # type: ignore[no-untyped-def]
    """The claimed split ``combine(Gv, Rv)`` against the double-backward HVP of L."""
    return _split(case, ctx, combine, "double_backward")


def split_recheck(case, ctx: CheckContext, combine: Combine = ggn_plus_residual) -> CaseResult:  # type: ignore[no-untyped-def]
    """Again in float64 on the CPU with the Hessian by forward-over-reverse (another route)."""
    return _split(case, CheckContext("cpu", "float64", ctx.seed, ctx.examples), combine, "fwd_rev")


# --------------------------------------------------------------------------- PSD


def _psd_result(case, lam_min: float, lam_top: float, tol: Tolerance, route: str, n: int,  # type: ignore[no-untyped-def]
                noise: float):
    comparison = compare_leq(-lam_min, 0.0, max(abs(lam_top), abs(lam_min)), tol, noise=noise)
    return CaseResult(comparison, case.tags, {"lambda_min": lam_min, "lambda_max": lam_top, "n": n,
                                              "route": route}, tol.describe())


def psd_check(case, ctx: CheckContext, combine: Combine = ggn_only) -> CaseResult:  # type: ignore[no-untyped-def]
    """λ_min of the claimed PSD matrix (default G) from its dense form (n ≤ DENSE_N) or Lanczos on its products."""
    fm = model_of(case, getattr(torch, ctx.dtype), ctx.device)
    gn = GaussNewton(fm, fm.theta0)
    tol = Tolerance(ctx.dtype, FAMILY.depth)
    noise = _term_scale(fm, gn)
    if fm.n <= DENSE_PSD:
        eye = torch.eye(fm.n, dtype=fm.theta0.dtype, device=ctx.device)
        M = _combined(combine, gn.ggn_columns(eye), gn.residual_columns(eye))
        values = torch.linalg.eigvalsh((M + M.T) / 2)
        return _psd_result(case, float(values[0]), float(values[-1]), tol, "GaussNewton products, dense", fm.n,
                           noise)
    hi, lo = extreme_eigenvalues(_product(gn, combine), fm.n, dtype=fm.theta0.dtype, device=ctx.device)
    return _psd_result(case, lo.value, hi.value, tol, f"GaussNewton products, {lo.method}", fm.n, noise)


def dense_ggn(fm) -> np.ndarray:  # type: ignore[no-untyped-def]
    """G = JᵀH_ℓJ from the dense Jacobian of the outputs and the dense Hessian of the loss in the outputs."""
    theta = fm.theta0.detach()
    out = fm.output(theta)
    J = torch.func.jacrev(lambda t: fm.output(t).reshape(-1))(theta)
    H_l = torch.func.hessian(lambda z: fm.output_loss(z.reshape(out.shape)))(out.detach().reshape(-1))
    return (J.T @ H_l @ J).double().cpu().numpy()


def psd_recheck(case, ctx: CheckContext, combine: Combine = ggn_only) -> CaseResult:  # type: ignore[no-untyped-def]
    """G = JᵀH_ℓJ (and R) built densely (torch.func.jacrev, torch.func.hessian), float64, numpy eigvalsh."""
    fm = model_of(case)
    G = combine(torch.as_tensor(dense_ggn(fm)), dense_residual(fm)).numpy()
    values = np.linalg.eigvalsh((G + G.T) / 2)
    noise = _term_scale(fm, GaussNewton(fm, fm.theta0))
    return _psd_result(case, float(values[0]), float(values[-1]), Tolerance("float64", FAMILY.depth),
                       "dense JᵀH_ℓJ (jacrev, hessian), numpy eigvalsh", fm.n, noise)


# --------------------------------------------------------------------------- H = G at minima / interpolation


def _residual_noise(fm, theta: torch.Tensor) -> float:  # type: ignore[no-untyped-def]
    """(2/N)·max|f|·Σ_k max|∇²f_k|: the size R would have with residuals of f's magnitude (round-off scales it)."""
    out = fm.output(theta).reshape(-1)
    second = torch.func.hessian(lambda t: fm.output(t).reshape(-1))(theta.detach())
    return 2.0 / out.numel() * float(out.abs().max()) * float(second.abs().amax(dim=(1, 2)).sum())


def _at_minimum(fm, theta: torch.Tensor, H: torch.Tensor, tol: Tolerance) -> str:  # type: ignore[no-untyped-def]
    """'' where θ is a strict local minimum numerically, else why not."""
    g = float(fm.grad(theta).abs().max())
    lam = float(torch.linalg.eigvalsh((H + H.T) / 2)[0])
    if g > tol.atol(float(H.abs().max()) * (1.0 + float(theta.abs().max()))):
        return f"not stationary: ‖∇L‖_∞ = {g:.3g}"
    if not lam > tol.atol(float(H.abs().max())):
        return f"not a strict minimum: λ_min(∇²L) = {lam:.3g}"
    return ""


def dense_residual(fm) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """R = Σ_k c_k ∇²f_k, c = ∂ℒ/∂f at θ, as torch.func.hessian of θ ↦ cᵀf(θ) (no GaussNewton graph)."""
    theta = fm.theta0.detach()
    out = fm.output(theta).detach().requires_grad_(True)
    with torch.enable_grad():
        (c,) = torch.autograd.grad(fm.output_loss(out), out)
    return torch.func.hessian(lambda t: (c * fm.output(t)).sum())(theta)


def _undecided(case, details: dict, why: str, tol: Tolerance) -> CaseResult:  # type: ignore[no-untyped-def]
    undecided = Comparison("undecidable", 0.0, 0.0, 0.0, 0.0, 0.0, None, 0.0, 0.0)
    return CaseResult(undecided, case.tags, {**details, "reason": why}, tol.describe())


def _judge_equal(case, fm, H: torch.Tensor, claimed: torch.Tensor, G: torch.Tensor, tol: Tolerance,  # type: ignore[no-untyped-def]
                 need_minimum: bool, details: dict, gn: GaussNewton) -> CaseResult:
    theta = fm.theta0
    details = {"n": fm.n, "max_abs_H_minus_claimed": float((H - claimed).abs().max()),
               "lambda_min_H": float(torch.linalg.eigvalsh((H + H.T) / 2)[0]), **details}
    why = _at_minimum(fm, theta, H, tol) if need_minimum else ""
    if why:
        return _undecided(case, details, why, tol)
    scale = float(H.abs().max()) + float(G.abs().max())
    noise = _residual_noise(fm, theta) + _term_scale(fm, gn)
    return CaseResult(_compare(claimed, H, scale, tol, noise=noise), case.tags, details, tol.describe())


def ggn_equals_hessian_check(case, ctx: CheckContext, need_minimum: bool = True,  # type: ignore[no-untyped-def]
                             combine: Combine = ggn_only) -> CaseResult:
    """∇²L against ``combine(G, R)`` (default G) entry by entry, H from double-backward products; where
    ``need_minimum``, only at a verified strict local minimum."""
    fm = model_of(case, getattr(torch, ctx.dtype), ctx.device)
    eye = torch.eye(fm.n, dtype=fm.theta0.dtype, device=ctx.device)
    gn = GaussNewton(fm, fm.theta0)
    H = _hessian_columns(fm, fm.theta0, eye, "double_backward")
    G, R = gn.ggn_columns(eye), gn.residual_columns(eye)
    return _judge_equal(case, fm, H, combine(G, R), G, Tolerance(ctx.dtype, FAMILY.depth), need_minimum,
                        {"hessian_route": "double_backward"}, gn)


def ggn_equals_hessian_recheck(case, ctx: CheckContext, need_minimum: bool = True,  # type: ignore[no-untyped-def]
                               combine: Combine = ggn_only) -> CaseResult:
    """The same in float64 on the CPU: H by forward over reverse, G = JᵀH_ℓJ and R built densely by torch.func."""
    fm = model_of(case)
    H = _hessian_columns(fm, fm.theta0, torch.eye(fm.n, dtype=torch.float64), "fwd_rev")
    G, R = torch.as_tensor(dense_ggn(fm)), dense_residual(fm)
    return _judge_equal(case, fm, H, combine(G, R), G, Tolerance("float64", FAMILY.depth), need_minimum,
                        {"recheck": "H by forward-over-reverse, G = JᵀH_ℓJ and R dense (jacrev, hessian), float64"},
                        GaussNewton(fm, fm.theta0))  # only for the round-off scale ‖J‖_F²
