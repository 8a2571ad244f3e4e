"""Checks of two built-in claims rewritten with the formula they hard-code as a parameter.

``softmax-ce-convex`` judges H(1⊗c) = 0 with a fixed null direction, and ``critical-point-classification``
compares ΔL with a fixed second-order term ½ε²λ; neither check takes the formula as an argument. The
functions here are the same computations (the family's public helpers, the same tolerances) with that
formula passed in, so that a mutant replaces it. tests/test_mutation_sample.py checks that with the
original formula they give the very comparison of the family's own check and re-check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from proofs.critical_points import FAMILY as CP_FAMILY
from proofs.critical_points.numeric import classify
from proofs.softmax_ce.numeric import EIG_DEPTH, case_tensors, hessian_scale, mean_loss, oracle_hessian
from verify import (
    CaseResult,
    CheckContext,
    SoftmaxBatch,
    Tolerance,
    compare_close,
    compare_leq,
    dense_hessian,
    extreme_eigenvalue,
    gradient,
    hvp_operator,
)

#: (k, d, like) -> the claimed null direction of the softmax cross-entropy Hessian (unit norm)
NullDirection = Callable[[int, int, torch.Tensor], torch.Tensor]
#: (ε, λ) -> the claimed change of L along a unit eigenvector with eigenvalue λ (½ε²λ)
Quadratic = Callable[[float, float], float]


def null_direction(k: int, d: int, like: torch.Tensor) -> torch.Tensor:
    """1 ⊗ c with c = linspace(1, 2, d), normalized (what ``softmax-ce-convex`` uses)."""
    c = torch.linspace(1.0, 2.0, d, dtype=like.dtype, device=like.device)
    v = torch.kron(torch.ones(k, dtype=like.dtype, device=like.device), c)
    return v / v.norm()


def null_direction_column_major(k: int, d: int, like: torch.Tensor) -> torch.Tensor:
    """c ⊗ 1: the null direction in column-major vec (the wrong Kronecker order)."""
    c = torch.linspace(1.0, 2.0, d, dtype=like.dtype, device=like.device)
    v = torch.kron(c, torch.ones(k, dtype=like.dtype, device=like.device))
    return v / v.norm()


def _judge_convex(case: SoftmaxBatch, ctx: CheckContext, lam_min: float, X: torch.Tensor,
                  op: Callable[[torch.Tensor], torch.Tensor], null: NullDirection) -> CaseResult:
    tol = Tolerance(ctx.dtype, EIG_DEPTH)
    scale = hessian_scale(X) * case.d
    psd = compare_leq(-lam_min, 0.0, scale, tol)
    residual = float(op(null(case.k, case.d, X)).norm())
    zero = compare_close(residual, 0.0, scale, tol)
    worse = psd if psd.slack <= zero.slack else zero
    return CaseResult(worse, case.tags, {"lambda_min": lam_min, "null_residual": residual,
                                         "judged": "psd" if worse is psd else "null-direction"}, tol.describe())


def convex_check(null: NullDirection) -> Callable[[SoftmaxBatch, CheckContext], CaseResult]:
    """``softmax-ce-convex``'s check (Lanczos λ_min on forward-over-reverse HVPs) with null direction ``null``."""

    def check(case: SoftmaxBatch, ctx: CheckContext) -> CaseResult:
        W, X, y = case_tensors(case, ctx)
        w = W.reshape(-1)
        op = hvp_operator(mean_loss(X, y, case.k), w)
        est = extreme_eigenvalue(op, w.numel(), "SA", dtype=ctx.dtype, device=ctx.device)
        return _judge_convex(case, ctx, est.value, X, op, null)

    return check


def convex_recheck(null: NullDirection) -> Callable[[SoftmaxBatch, CheckContext], CaseResult]:
    """Its re-check (dense Hessian with numpy eigvalsh, null direction by double backward)."""

    def recheck(case: SoftmaxBatch, ctx: CheckContext) -> CaseResult:
        W, X, y = case_tensors(case, ctx)
        lam_min = float(np.linalg.eigvalsh(oracle_hessian(W, X, y).detach().cpu().numpy())[0])
        op = hvp_operator(mean_loss(X, y, case.k), W.reshape(-1), route="double_backward")
        return _judge_convex(case, ctx, lam_min, X, op, null)

    return recheck


# --------------------------------------------------------------------------- critical points


def half_eps2_lambda(eps: float, lam: float) -> float:
    """½ε²λ, the second-order term of ΔL along a unit eigenvector."""
    return 0.5 * eps**2 * lam


def _float_change(case: Any, f: Callable, theta: torch.Tensor, step: torch.Tensor) -> float:
    return float(f(theta + step) - f(theta))


def _exact_change(case: Any, f: Callable, theta: torch.Tensor, step: torch.Tensor) -> float:
    return float(case.exact_loss(theta + step) - case.exact_loss(theta))


def _judge_classification(case: Any, ctx: CheckContext, change: Callable, quadratic: Quadratic) -> CaseResult:
    f, theta = case.loss_and_point(ctx)
    H = dense_hessian(f, theta).detach()
    eig, vecs = torch.linalg.eigh(H)
    eig_np = eig.cpu().numpy()
    tol = Tolerance(ctx.dtype, CP_FAMILY.depth)
    kind = classify(eig_np, 1e3 * tol.rtol * float(np.abs(eig_np).max()))
    grad_norm = float(gradient(f, theta).norm())
    eps = case.step_length(eig_np, theta)
    worst, worst_details = None, {}
    for j in range(eig.numel()):
        u = vecs[:, j]
        q = quadratic(eps, float(eig[j]))
        delta = change(case, f, theta, eps * u)
        noise = abs(float(f(theta))) + abs(float(f(theta + eps * u))) + eps * grad_norm / tol.rtol
        comparison = compare_leq(abs(delta - q), 0.5 * abs(q), abs(q), tol, noise=noise)
        if worst is None or comparison.slack < worst.slack:
            worst = comparison
            worst_details = {"direction": j, "eigenvalue": float(eig[j]), "delta_L": delta, "half_eps2_lambda": q,
                             "eps": eps}
    return CaseResult(worst, (type(case).__name__, kind),  # type: ignore[arg-type]
                      {"classification": kind, "eigenvalues": eig_np.tolist(), "grad_norm": grad_norm,
                       **worst_details}, tol.describe())


def classification_check(quadratic: Quadratic) -> Callable[[Any, CheckContext], CaseResult]:
    """``critical-point-classification``'s check (ΔL in ``ctx.dtype``) with the second-order term ``quadratic``."""
    return lambda case, ctx: _judge_classification(case, ctx, _float_change, quadratic)


def classification_recheck(quadratic: Quadratic) -> Callable[[Any, CheckContext], CaseResult]:
    """Its re-check (ΔL in exact rationals on the float64 points)."""
    return lambda case, ctx: _judge_classification(case, ctx, _exact_change, quadratic)
