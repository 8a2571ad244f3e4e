r"""The numbers behind the softmax cross-entropy claims: closed forms, oracles and per-case checks.

Closed forms of the Hessian (:func:`closed_form_hessian`, the lambdified entry form; [S000]'s
:func:`seed_block_diagonal`), its two autograd routes (:func:`oracle_hessian`, dense
``torch.func.hessian``; :func:`double_backward_hessian`, the re-check's), the smoothness constant
(:func:`half_top_eigenvalue`) and the per-case checks and re-checks of the claims in
:mod:`proofs.softmax_ce.claims`. A formula under test is a function: the checks take it as an
argument (:data:`HessianFormula`, :data:`SmoothnessBound`, :data:`NullDirection`), so that a wrong one is refuted by the
same code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import mpmath
import numpy as np
import torch

from proofs.softmax_ce import FAMILY
from proofs.softmax_ce import symbolic as sym
from verify import (
    CaseResult,
    CheckContext,
    SoftmaxBatch,
    SymmetricBlockMatrix,
    Tolerance,
    as_tensor,
    compare_close,
    compare_leq,
    compare_tensors,
    dense_hessian,
    extreme_eigenvalue,
    hvp_double_backward,
    hvp_operator,
    softmax_regression_loss,
    stable_softmax,
    to_torch,
)

__all__ = [
    "EIG_DEPTH", "HessianFormula", "HessianOracle", "SmoothnessBound", "block_psd_check", "block_psd_recheck_mp",
    "case_tensors", "closed_form_hessian", "convex_check", "convex_recheck_dense", "double_backward_hessian",
    "half_top_eigenvalue", "hessian_check", "hessian_recheck", "hessian_scale", "judge_hessian", "mean_loss",
    "gram_mean_hessian", "oracle_hessian", "per_example_hessians", "seed_block_diagonal", "smoothness_check",
    "smoothness_recheck_dense",
]

#: eigenvalues come out of Lanczos/eigvalsh, whose backward error is O(n·eps·‖H‖)
EIG_DEPTH = 256.0

#: a claimed Hessian of the mean loss: (W (k, d), X (m, d)) -> (k·d, k·d) in row-major vec
HessianFormula = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: a route to the true Hessian: (W, X, y) -> (k·d, k·d)
HessianOracle = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
#: a claimed smoothness constant M from the inputs X (m, d) (float64)
SmoothnessBound = Callable[[np.ndarray], float]
#: a claimed null direction of H: (k, d, a tensor of the dtype and device) -> a unit vector of length k·d
NullDirection = Callable[[int, int, torch.Tensor], torch.Tensor]


# --------------------------------------------------------------------------- the loss and its Hessian


def case_tensors(case: SoftmaxBatch, ctx: CheckContext) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """W, X (in ``ctx.dtype`` on ``ctx.device``) and the labels y (int64) of a case."""
    W = as_tensor(case.W, ctx.dtype, ctx.device)
    X = as_tensor(case.X, ctx.dtype, ctx.device)
    y = torch.tensor(np.array(case.y, dtype=np.int64), device=W.device)
    return W, X, y


def mean_loss(X: torch.Tensor, y: torch.Tensor, k: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """vec W ↦ L(W), the mean softmax cross-entropy of (X, y) with k classes."""
    return lambda w: softmax_regression_loss(w, X, y, k)


def hessian_scale(X: torch.Tensor) -> float:
    """Size of the terms that cancel in a Hessian entry: max_i max_b x_ib² (a ≤ 1)."""
    return float((X**2).max()) if X.numel() else 0.0


@functools.lru_cache(maxsize=1)
def _entry_function():  # type: ignore[no-untyped-def]
    _, entry = sym.entry_form()
    return to_torch(entry, sym.ENTRY_ARGS, name="softmax_ce_hessian_entry")


def per_example_hessians(W: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """The lambdified entry form (δ_ac − a_c) a_a x_b x_e, broadcast to every example.

    Args:
        W: (k, d). X: (m, d).

    Returns:
        (m, k·d, k·d): the per-example Hessians in row-major vec.
    """
    k, d = W.shape
    a = stable_softmax(X @ W.T)  # (m, k)
    delta = torch.eye(k, dtype=W.dtype, device=W.device)
    entry = _entry_function()(
        a[:, :, None, None, None], a[:, None, None, :, None],
        X[:, None, :, None, None], X[:, None, None, None, :], delta[None, :, None, :, None],
    )
    return entry.expand(X.shape[0], k, d, k, d).reshape(X.shape[0], k * d, k * d)


def closed_form_hessian(W: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """Mean of :func:`per_example_hessians`: (k·d, k·d)."""
    return per_example_hessians(W, X).mean(dim=0)


@functools.lru_cache(maxsize=1)
def _gram_factor():  # type: ignore[no-untyped-def]
    _, u = sym.gram_split()
    return to_torch(u, sym.GRAM_ARGS, name="softmax_ce_gram_factor")


def gram_mean_hessian(W: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """The mean Hessian (1/m)[blockdiag_a(U_aᵀX) − VᵀV] of :func:`.symbolic.gram_split`, U = u(a, X) lambdified.

    The same matrix as :func:`closed_form_hessian` without the m per-example (k·d)² blocks: one GEMM of
    (k·d) × m × (k·d + d) gives VᵀV and the diagonal blocks' U_aᵀX together.
    """
    k, d = W.shape
    m = X.shape[0]
    a = stable_softmax(X @ W.T)  # (m, k)
    U = _gram_factor()(a[:, :, None], X[:, None, :]).expand(m, k, d)  # U[i, a, b] = u(a_ia, x_ib)
    V = U.reshape(m, k * d)
    G = V.T @ torch.cat([V, X], dim=1)  # one GEMM: VᵀV, and VᵀX = the blocks U_aᵀX stacked (k·d, d)
    H = G[:, :k * d].mul_(-1.0 / m)  # a view of G (rows of k·d + d entries), not a copy
    blocks = G[:, k * d:].reshape(k, d, d)
    H.view(k, d, k, d).diagonal(dim1=0, dim2=2).add_(blocks.permute(1, 2, 0), alpha=1.0 / m)
    return H


def seed_block_diagonal(W: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """[S000]'s Hessian: only the diagonal blocks (1/m) Σ a_j(1 − a_j) x xᵀ."""
    a = stable_softmax(X @ W.T)
    blocks = torch.einsum("mj,mb,me->jbe", a * (1 - a), X, X) / X.shape[0]
    return torch.block_diag(*blocks)


def oracle_hessian(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Dense autograd Hessian (torch.func.hessian) of the mean loss in row-major vec."""
    return dense_hessian(mean_loss(X, y, W.shape[0]), W.reshape(-1))


def double_backward_hessian(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Independent route: double-backward Hessian-vector products with the unit vectors."""
    w = W.reshape(-1)
    eye = torch.eye(w.numel(), dtype=w.dtype, device=w.device)
    return torch.stack([hvp_double_backward(mean_loss(X, y, W.shape[0]), w, e) for e in eye], dim=1)


def judge_hessian(case: SoftmaxBatch, ctx: CheckContext, formula: HessianFormula,
                  oracle: HessianOracle) -> CaseResult:
    """``formula(W, X)`` against ``oracle(W, X, y)`` entrywise, tolerance ``FAMILY.depth·eps·max x²``."""
    W, X, y = case_tensors(case, ctx)
    tol = Tolerance(ctx.dtype, FAMILY.depth)
    expected_h = oracle(W, X, y)
    obtained = formula(W, X)
    comparison = compare_tensors(obtained, expected_h, hessian_scale(X), tol)
    worst = torch.argmax((obtained - expected_h).abs()).item() if obtained.shape == expected_h.shape else 0
    return CaseResult(comparison, case.tags, {"k": case.k, "d": case.d, "m": case.m,
                                              "worst_entry": divmod(int(worst), W.numel())},
                      tol.describe())


def hessian_check(formula: HessianFormula) -> Callable[[SoftmaxBatch, CheckContext], CaseResult]:
    """The check of "``formula`` is the Hessian": against the dense autograd Hessian (:func:`oracle_hessian`)."""

    def check(case: SoftmaxBatch, ctx: CheckContext) -> CaseResult:
        return judge_hessian(case, ctx, formula, oracle_hessian)

    return check


def hessian_recheck(formula: HessianFormula) -> Callable[[SoftmaxBatch, CheckContext], CaseResult]:
    """Its re-check: against the Hessian built from double-backward products (:func:`double_backward_hessian`)."""

    def recheck(case: SoftmaxBatch, ctx: CheckContext) -> CaseResult:
        return judge_hessian(case, ctx, formula, double_backward_hessian)

    return recheck


# --------------------------------------------------------------------------- the spectrum: convexity, smoothness


def _lanczos(case: SoftmaxBatch, ctx: CheckContext, which: str) -> tuple[float, torch.Tensor, Callable]:
    """An extreme eigenvalue by Lanczos on double-backward HVPs (the graph of ∇L built once, a backward pass per
    product: 20× cheaper here than forward over reverse), with X and the HVP operator."""
    W, X, y = case_tensors(case, ctx)
    w = W.reshape(-1)
    op = hvp_operator(mean_loss(X, y, case.k), w, route="double_backward")
    est = extreme_eigenvalue(op, w.numel(), which, dtype=ctx.dtype, device=ctx.device)
    return est.value, X, op


def _dense_eigs(case: SoftmaxBatch, ctx: CheckContext) -> np.ndarray:
    W, X, y = case_tensors(case, ctx)
    return np.linalg.eigvalsh(oracle_hessian(W, X, y).detach().cpu().numpy())


def null_direction(k: int, d: int, like: torch.Tensor) -> torch.Tensor:
    """1 ⊗ c with c = linspace(1, 2, d), normalized: a null direction of H (row-major vec of W)."""
    c = torch.linspace(1.0, 2.0, d, dtype=like.dtype, device=like.device)
    v = torch.kron(torch.ones(k, dtype=like.dtype, device=like.device), c)
    return v / v.norm()


def _judge_convex(case: SoftmaxBatch, ctx: CheckContext, lam_min: float, X: torch.Tensor,
                  op: Callable[[torch.Tensor], torch.Tensor], null: NullDirection) -> CaseResult:
    """λ_min ≥ 0 and H·null = 0, judged on whichever is tighter."""
    tol = Tolerance(ctx.dtype, EIG_DEPTH)
    scale = hessian_scale(X) * case.d
    psd = compare_leq(-lam_min, 0.0, scale, tol)
    residual = float(op(null(case.k, case.d, X)).norm())
    null = compare_close(residual, 0.0, scale, tol)
    worse = psd if psd.slack <= null.slack else null
    return CaseResult(worse, case.tags, {"lambda_min": lam_min, "null_residual": residual,
                                         "judged": "psd" if worse is psd else "null-direction"}, tol.describe())


def convex_check(case: SoftmaxBatch, ctx: CheckContext, null: NullDirection = null_direction) -> CaseResult:
    """``softmax-ce-convex``: λ_min by Lanczos, the null direction ``null`` through the same HVP operator."""
    lam_min, X, op = _lanczos(case, ctx, "SA")
    return _judge_convex(case, ctx, lam_min, X, op, null)


def convex_recheck_dense(case: SoftmaxBatch, ctx: CheckContext,
                         null: NullDirection = null_direction) -> CaseResult:
    """Its re-check: λ_min of the dense Hessian (numpy eigvalsh), the null direction by forward over reverse (the
    check's products are double backward)."""
    lam_min = float(_dense_eigs(case, ctx)[0])
    W, X, y = case_tensors(case, ctx)
    op = hvp_operator(mean_loss(X, y, case.k), W.reshape(-1), route="fwd_rev")
    return _judge_convex(case, ctx, lam_min, X, op, null)


def half_top_eigenvalue(X: np.ndarray) -> float:
    """The smoothness constant of the claim: M = ½ λ_max(XᵀX/m)."""
    return 0.5 * float(np.linalg.eigvalsh(X.T @ X / X.shape[0])[-1])


def _judge_smoothness(case: SoftmaxBatch, ctx: CheckContext, lam_max: float, bound: SmoothnessBound) -> CaseResult:
    """λ_max(H) ≤ M = ``bound(X)``."""
    M = bound(np.asarray(case.X, dtype=np.float64))
    tol = Tolerance(ctx.dtype, EIG_DEPTH)
    comparison = compare_leq(lam_max, M, max(M, 0.0), tol)
    return CaseResult(comparison, case.tags, {"lambda_max": lam_max, "M": M}, tol.describe())


def smoothness_check(case: SoftmaxBatch, ctx: CheckContext,
                     bound: SmoothnessBound = half_top_eigenvalue) -> CaseResult:
    """λ_max(H) (Lanczos) ≤ ``bound(X)``; the claim's bound is :func:`half_top_eigenvalue`."""
    return _judge_smoothness(case, ctx, _lanczos(case, ctx, "LA")[0], bound)


def smoothness_recheck_dense(case: SoftmaxBatch, ctx: CheckContext,
                             bound: SmoothnessBound = half_top_eigenvalue) -> CaseResult:
    """Its re-check: λ_max of the dense Hessian (numpy eigvalsh) ≤ ``bound(X)``."""
    return _judge_smoothness(case, ctx, float(_dense_eigs(case, ctx)[-1]), bound)


# --------------------------------------------------------------------------- [S000]: PSD diagonal blocks


def block_psd_check(case: SymmetricBlockMatrix, ctx: CheckContext) -> CaseResult:
    """``seed000-diagonal-blocks-imply-psd``: λ_min ≥ 0 by Lanczos on the matrix."""
    M = as_tensor(case.matrix, ctx.dtype, ctx.device)
    est = extreme_eigenvalue(lambda v: M @ v, M.shape[0], "SA", dtype=ctx.dtype, device=ctx.device)
    tol = Tolerance(ctx.dtype, EIG_DEPTH)
    scale = float(M.abs().max()) * M.shape[0] if M.numel() else 0.0
    return CaseResult(compare_leq(-est.value, 0.0, scale, tol), case.tags,
                      {"lambda_min": est.value, "block_sizes": list(case.block_sizes)}, tol.describe())


def block_psd_recheck_mp(case: SymmetricBlockMatrix, ctx: CheckContext) -> CaseResult:
    """Its re-check: eigenvalues of the exact float entries with mpmath at 40 digits."""
    with mpmath.workdps(40):
        M = mpmath.matrix([[mpmath.mpf(float(v)) for v in row] for row in np.asarray(case.matrix)])
        lam_min = float(min(mpmath.eigsy(M)[0]))
    scale = float(np.abs(case.matrix).max()) * len(case.matrix)
    tol = Tolerance("float64", EIG_DEPTH)
    return CaseResult(compare_leq(-lam_min, 0.0, scale, tol), case.tags, {"lambda_min_mp40": lam_min},
                      "mpmath 40 digits; " + tol.describe())
