"""The per-case checks of the critical-points family, and their independent re-checks.

``critical-point-classification``: along each eigenvector u of H, ΔL = L(θ* + εu) − L(θ*) must be
½ε²λ within half of it (:func:`classification_check`; :func:`classification_recheck_exact` evaluates
ΔL in exact rationals). ``semidefinite-hessian-decides``: L(ε, 0) ≥ L(0, 0)
(:func:`semidefinite_check`; :func:`semidefinite_recheck_exact`).
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from proofs.critical_points import FAMILY
from proofs.critical_points.cases import SemidefiniteCase
from verify import CaseResult, CheckContext, Tolerance, compare_leq, dense_hessian, gradient

__all__ = [
    "canonical_eigenbasis",
    "classification_check",
    "classification_recheck_exact",
    "classify",
    "half_eps2_lambda",
    "semidefinite_check",
    "semidefinite_recheck_exact",
]

#: (case, loss, θ*, the step εu) -> L(θ* + εu) − L(θ*)
LossChange = Callable[[Any, Callable[[torch.Tensor], torch.Tensor], torch.Tensor, torch.Tensor], float]
#: (ε, λ) -> the claimed change of L along a unit eigenvector with eigenvalue λ
SecondOrderTerm = Callable[[float, float], float]


def classify(eig: np.ndarray, tol: float) -> str:
    """min / max / saddle from the Hessian's eigenvalues, or ``degenerate`` within ``tol``."""
    if np.any(np.abs(eig) <= tol):
        return "degenerate"
    if np.all(eig > 0):
        return "min"
    if np.all(eig < 0):
        return "max"
    return "saddle"


def canonical_eigenbasis(eig: torch.Tensor, vecs: torch.Tensor, rel_gap: float = 1e-8) -> torch.Tensor:
    """The eigenvectors with the choices ``eigh`` leaves open fixed, so that every device picks the same ones.

    Within a tie (eigenvalues closer than ``rel_gap`` of the largest) any orthonormal basis of the eigenspace
    is valid, and which one ``eigh`` returns is decided by round-off: CPU and CUDA returned different ones for
    H = 2I, and ΔL along them differs once the loss has quartic terms. A tied block is replaced by the
    projections of e_1, e_2, … onto the eigenspace (the projector is well defined), orthonormalized; each
    vector's sign makes its first largest entry positive (the cubic terms make ΔL(εu) ≠ ΔL(−εu)).
    """
    n, out = eig.numel(), vecs.clone()
    scale = float(eig.abs().max()) or 1.0
    start = 0
    while start < n:
        end = start + 1
        while end < n and float(eig[end] - eig[end - 1]) <= rel_gap * scale:
            end += 1
        if end - start > 1:
            block = vecs[:, start:end]
            projector, basis = block @ block.T, []
            for i in range(n):
                w = projector[:, i].clone()
                for b in basis:
                    w = w - (b @ w) * b
                if float(w.norm()) > 1e-3 and len(basis) < end - start:
                    basis.append(w / w.norm())
            out[:, start:end] = torch.stack(basis, dim=1)
        start = end
    magnitude = out.abs()
    largest = (magnitude >= magnitude.max(dim=0).values * (1 - 1e-6)).int().argmax(dim=0)  # first of equals
    signs = torch.sign(out[largest, torch.arange(n, device=out.device)])
    return out * torch.where(signs == 0, torch.ones_like(signs), signs)


def _float_change(case: Any, f: Callable, theta: torch.Tensor, step: torch.Tensor) -> float:
    return float(f(theta + step) - f(theta))


def _exact_change(case: Any, f: Callable, theta: torch.Tensor, step: torch.Tensor) -> float:
    return float(case.exact_loss(theta + step) - case.exact_loss(theta))


def half_eps2_lambda(eps: float, lam: float) -> float:
    """½ε²λ, the second-order term of ΔL along a unit eigenvector with eigenvalue λ."""
    return 0.5 * eps**2 * lam


def _judge_classification(case: Any, ctx: CheckContext, change: LossChange,
                          second_order: SecondOrderTerm) -> CaseResult:
    """Along each eigenvector u: |ΔL − q| ≤ ½·|q| with q = ½ε²λ (so ΔL has the sign of λ: the classification)."""
    f, theta = case.loss_and_point(ctx)
    H = dense_hessian(f, theta).detach()
    eig, vecs = torch.linalg.eigh(H)
    vecs = canonical_eigenbasis(eig, vecs)
    eig_np = eig.cpu().numpy()
    tol = Tolerance(ctx.dtype, FAMILY.depth)
    spread = float(np.abs(eig_np).max())
    kind = classify(eig_np, 1e3 * tol.rtol * spread)
    grad_norm = float(gradient(f, theta).norm())
    eps = case.step_length(eig_np, theta)
    worst, worst_details = None, {}
    for j in range(eig.numel()):
        u = vecs[:, j]
        quadratic = second_order(eps, float(eig[j]))
        delta = change(case, f, theta, eps * u)
        # round-off of the two evaluations, plus ε·‖g‖ from the (round-off sized) gradient at θ*, which
        # enters the tolerance as an absolute allowance: a θ* that is not stationary becomes undecidable
        noise = abs(float(f(theta))) + abs(float(f(theta + eps * u))) + eps * grad_norm / tol.rtol
        comparison = compare_leq(abs(delta - quadratic), 0.5 * abs(quadratic), abs(quadratic), tol, noise=noise)
        if worst is None or comparison.slack < worst.slack:
            worst = comparison
            worst_details = {"direction": j, "eigenvalue": float(eig[j]), "delta_L": delta,
                             "half_eps2_lambda": quadratic, "eps": eps}
    return CaseResult(worst, (type(case).__name__, kind),  # type: ignore[arg-type]
                      {"classification": kind, "eigenvalues": eig_np.tolist(), "grad_norm": grad_norm,
                       **worst_details}, tol.describe())


def classification_check(case: Any, ctx: CheckContext,
                         second_order: SecondOrderTerm = half_eps2_lambda) -> CaseResult:
    """The classification along every eigenvector, with ΔL in ``ctx.dtype``."""
    return _judge_classification(case, ctx, _float_change, second_order)


def classification_recheck_exact(case: Any, ctx: CheckContext,
                                 second_order: SecondOrderTerm = half_eps2_lambda) -> CaseResult:
    """The same, with ΔL evaluated exactly on the float64 points (the independent re-check)."""
    return _judge_classification(case, ctx, _exact_change, second_order)


def semidefinite_check(case: SemidefiniteCase, ctx: CheckContext) -> CaseResult:
    """The claim "local minimum" says L(ε, 0) ≥ L(0, 0) for small ε."""
    point = torch.tensor([case.eps, 0.0], dtype=getattr(torch, ctx.dtype), device=ctx.device)
    f = lambda th: case.sign * case.a * th[0] ** case.k + case.b * th[1] ** 2  # noqa: E731
    H = dense_hessian(f, torch.zeros_like(point)).detach()
    assert float(torch.linalg.eigvalsh(H)[0]) >= 0  # the hypothesis: H ⪰ 0 at the stationary point
    value = float(f(point) - f(torch.zeros_like(point)))
    tol = Tolerance(ctx.dtype, FAMILY.depth)
    return CaseResult(compare_leq(-value, 0.0, abs(value), tol), ("semidefinite",),
                      {"L(eps,0) - L(0)": value, "hessian_at_0": H.tolist()}, tol.describe())


def semidefinite_recheck_exact(case: SemidefiniteCase, ctx: CheckContext) -> CaseResult:
    """L(ε, 0) − L(0, 0) = s·a·ε^k in exact rationals."""
    value = case.sign * Fraction(case.a) * Fraction(case.eps) ** case.k
    comparison = compare_leq(-float(value), 0.0, abs(float(value)), Tolerance("float64", 1.0))
    return CaseResult(comparison, ("semidefinite",), {"L(eps,0)": float(value)}, "exact rationals")
