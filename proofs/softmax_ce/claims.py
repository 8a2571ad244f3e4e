r"""Softmax cross-entropy: its Hessian, convexity and smoothness (C1), and seed 000's two mistakes.

Source: seed 000 ("使用二阶梯度作正则项交叉训练参数", section "softmax是凸函数"), which
derives the diagonal blocks :math:`\frac1m\sum_i a_n(1-a_n)x^{(i)}x^{(i)\top}` only and
concludes convexity from them; restated precisely as C1 in ``CLAIMS.md``.

For :math:`W\in\mathbb R^{k\times d}`, :math:`a_i=\operatorname{softmax}(Wx_i)` and
:math:`L(W) = -\frac1m\sum_i \log a_{i,y_i}`, with row-major :math:`\operatorname{vec}`:

.. math:: \nabla^2 L = \frac1m \sum_i (\operatorname{diag}(a_i) - a_i a_i^\top)\otimes x_i x_i^\top .

Claims: ``softmax-ce-hessian``, ``softmax-ce-convex``, ``softmax-ce-smoothness`` (hold);
``seed000-diagonal-blocks-imply-psd``, ``seed000-hessian-is-block-diagonal`` (refuted).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import mpmath
import numpy as np
import torch

from proofs.softmax_ce import FAMILY, figures
from proofs.softmax_ce import symbolic as sym
from verify import (
    CaseResult,
    CheckContext,
    Claim,
    SoftmaxBatch,
    SymbolicResult,
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
    softmax_batches,
    softmax_regression_loss,
    stable_softmax,
    symmetric_block_matrices,
    to_torch,
)

#: eigenvalues come out of Lanczos/eigvalsh, whose backward error is O(n·eps·‖H‖)
EIG_DEPTH = 256.0

HessianFormula = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _tensors(case: SoftmaxBatch, ctx: CheckContext) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    W = as_tensor(case.W, ctx.dtype, ctx.device)
    X = as_tensor(case.X, ctx.dtype, ctx.device)
    y = torch.tensor(np.array(case.y, dtype=np.int64), device=W.device)
    return W, X, y


def _loss(X: torch.Tensor, y: torch.Tensor, k: int) -> Callable[[torch.Tensor], torch.Tensor]:
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


def seed_block_diagonal(W: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """Seed 000's Hessian: only the diagonal blocks (1/m) Σ a_j(1 − a_j) x xᵀ."""
    a = stable_softmax(X @ W.T)
    blocks = torch.einsum("mj,mb,me->jbe", a * (1 - a), X, X) / X.shape[0]
    return torch.block_diag(*blocks)


def oracle_hessian(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Dense autograd Hessian (torch.func.hessian) of the mean loss in row-major vec."""
    return dense_hessian(_loss(X, y, W.shape[0]), W.reshape(-1))


def _recheck_hessian(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Independent route: double-backward Hessian-vector products with the unit vectors."""
    w = W.reshape(-1)
    eye = torch.eye(w.numel(), dtype=w.dtype, device=w.device)
    return torch.stack([hvp_double_backward(_loss(X, y, W.shape[0]), w, e) for e in eye], dim=1)


def make_hessian_claim(formula: HessianFormula, *, claim_id: str, statement: str, expected: str = "holds",
                       symbolic: Callable[[], SymbolicResult] | None = None, title: str = "",
                       notes: tuple[str, ...] = ()) -> Claim:
    """A claim "``formula(W, X)`` is the Hessian of the mean softmax cross-entropy".

    The formula is compared entrywise with the dense autograd Hessian, with
    tolerance ``FAMILY.depth·eps·max x²``; a counterexample is re-checked against the
    Hessian built from double-backward products in float64.
    """

    def judge(case: SoftmaxBatch, ctx: CheckContext, oracle: Callable[..., torch.Tensor]) -> CaseResult:
        W, X, y = _tensors(case, ctx)
        tol = Tolerance(ctx.dtype, FAMILY.depth)
        expected_h = oracle(W, X, y)
        obtained = formula(W, X)
        comparison = compare_tensors(obtained, expected_h, hessian_scale(X), tol)
        worst = torch.argmax((obtained - expected_h).abs()).item() if obtained.shape == expected_h.shape else 0
        return CaseResult(comparison, case.tags, {"k": case.k, "d": case.d, "m": case.m,
                                                  "worst_entry": divmod(int(worst), W.numel())},
                          tol.describe())

    return FAMILY.claim(
        id=claim_id, title=title, statement=statement, source=FAMILY.source, expected=expected,
        hypotheses=FAMILY.hypotheses, symbolic=symbolic, cases=softmax_batches,
        check=lambda case, ctx: judge(case, ctx, oracle_hessian),
        recheck=lambda case, ctx: judge(case, ctx, _recheck_hessian),
        decode_case=SoftmaxBatch.from_json, notes=notes,
    )


def _hessian_symbolic() -> SymbolicResult:
    step, _ = sym.entry_form()
    return SymbolicResult([step, sym.kronecker_form()])


def _eigen(case: SoftmaxBatch, ctx: CheckContext, which: str) -> tuple[float, torch.Tensor, Callable]:
    W, X, y = _tensors(case, ctx)
    w = W.reshape(-1)
    op = hvp_operator(_loss(X, y, case.k), w)
    est = extreme_eigenvalue(op, w.numel(), which, dtype=ctx.dtype, device=ctx.device)
    return est.value, X, op


def _dense_eigs(case: SoftmaxBatch, ctx: CheckContext) -> np.ndarray:
    W, X, y = _tensors(case, ctx)
    return np.linalg.eigvalsh(oracle_hessian(W, X, y).detach().cpu().numpy())


def _null_vector(k: int, d: int, like: torch.Tensor) -> torch.Tensor:
    c = torch.linspace(1.0, 2.0, d, dtype=like.dtype, device=like.device)
    v = torch.kron(torch.ones(k, dtype=like.dtype, device=like.device), c)
    return v / v.norm()


def _convex_check(case: SoftmaxBatch, ctx: CheckContext, dense: bool = False) -> CaseResult:
    if dense:
        lam_min = float(_dense_eigs(case, ctx)[0])
        W, X, y = _tensors(case, ctx)
        op = hvp_operator(_loss(X, y, case.k), W.reshape(-1), route="double_backward")
    else:
        lam_min, X, op = _eigen(case, ctx, "SA")
    tol = Tolerance(ctx.dtype, EIG_DEPTH)
    scale = hessian_scale(X) * case.d
    psd = compare_leq(-lam_min, 0.0, scale, tol)
    residual = float(op(_null_vector(case.k, case.d, X)).norm())
    null = compare_close(residual, 0.0, scale, tol)
    worse = psd if psd.slack <= null.slack else null
    return CaseResult(worse, case.tags, {"lambda_min": lam_min, "null_residual": residual,
                                         "judged": "psd" if worse is psd else "null-direction"}, tol.describe())


def _smooth_check(case: SoftmaxBatch, ctx: CheckContext, dense: bool = False, factor: float = 0.5) -> CaseResult:
    """λ_max(H) ≤ factor · λ_max(XᵀX/m); the claim's factor is ½ (tests pass a wrong one)."""
    lam_max = float(_dense_eigs(case, ctx)[-1]) if dense else _eigen(case, ctx, "LA")[0]
    Xn = np.asarray(case.X, dtype=np.float64)
    bound = factor * float(np.linalg.eigvalsh(Xn.T @ Xn / Xn.shape[0])[-1])
    tol = Tolerance(ctx.dtype, EIG_DEPTH)
    comparison = compare_leq(lam_max, bound, max(bound, 0.0), tol)
    return CaseResult(comparison, case.tags, {"lambda_max": lam_max, "M": bound}, tol.describe())


def _block_psd_check(case: SymmetricBlockMatrix, ctx: CheckContext) -> CaseResult:
    M = as_tensor(case.matrix, ctx.dtype, ctx.device)
    est = extreme_eigenvalue(lambda v: M @ v, M.shape[0], "SA", dtype=ctx.dtype, device=ctx.device)
    tol = Tolerance(ctx.dtype, EIG_DEPTH)
    scale = float(M.abs().max()) * M.shape[0] if M.numel() else 0.0
    return CaseResult(compare_leq(-est.value, 0.0, scale, tol), case.tags,
                      {"lambda_min": est.value, "block_sizes": list(case.block_sizes)}, tol.describe())


def _block_psd_recheck(case: SymmetricBlockMatrix, ctx: CheckContext) -> CaseResult:
    """Independent re-check: eigenvalues of the exact float entries with mpmath at 40 digits."""
    with mpmath.workdps(40):
        M = mpmath.matrix([[mpmath.mpf(float(v)) for v in row] for row in np.asarray(case.matrix)])
        lam_min = float(min(mpmath.eigsy(M)[0]))
    scale = float(np.abs(case.matrix).max()) * len(case.matrix)
    tol = Tolerance("float64", EIG_DEPTH)
    return CaseResult(compare_leq(-lam_min, 0.0, scale, tol), case.tags, {"lambda_min_mp40": lam_min},
                      "mpmath 40 digits; " + tol.describe())


HESSIAN = make_hessian_claim(
    closed_form_hessian, claim_id="softmax-ce-hessian", title="Softmax cross-entropy Hessian",
    statement=(r"\nabla^2_{\operatorname{vec} W} L = \frac1m \sum_{i=1}^m "
               r"\left(\operatorname{diag}(a_i) - a_i a_i^\top\right) \otimes x_i x_i^\top,"
               r"\qquad \frac{\partial^2 \ell}{\partial w_{ab}\partial w_{ce}} = (\delta_{ac}-a_c)\,a_a\,x_b\,x_e"),
    symbolic=_hessian_symbolic,
    notes=("The numeric formula is the symbolic entry form lambdified by verify.bridge, "
           "broadcast over examples; the oracle is torch.func.hessian of the mean loss.",
           "Column-major vec would give x xᵀ ⊗ A instead."),
)

CONVEX = FAMILY.claim(
    id="softmax-ce-convex", title="Softmax cross-entropy is convex in W, never strictly",
    statement=(r"\nabla^2 L(W) \succeq 0 \ \text{for all } W \quad\text{and}\quad "
               r"\nabla^2 L(W)\,(\mathbf{1}\otimes c) = 0 \ \text{for all } c \in \mathbb{R}^d"),
    source=FAMILY.source, hypotheses=FAMILY.hypotheses,
    symbolic=lambda: SymbolicResult([sym.entry_form()[0], sym.kronecker_form(), sym.variance_form(),
                                     sym.null_direction()]),
    cases=softmax_batches, check=_convex_check,
    recheck=lambda case, ctx: _convex_check(case, ctx, dense=True),
    relation="inequality", decode_case=SoftmaxBatch.from_json, figures=figures.softmax_spectrum_figures,
    notes=("It is the cross-entropy of softmax that is convex in W, not 'softmax' (the seed's wording).",
           "λ_min by Lanczos (eigsh, which='SA') on forward-over-reverse HVPs; re-checked with the dense "
           "Hessian and numpy eigvalsh.",
           "Because H(1⊗c) = 0 the Hessian is always singular: a second-order test never certifies a "
           "minimum of this loss (C7), although convexity makes every stationary point global."),
)

SMOOTHNESS = FAMILY.claim(
    id="softmax-ce-smoothness", title="Softmax cross-entropy is ½λ_max(XᵀX/m)-smooth",
    statement=(r"\lambda_{\max}\!\left(\nabla^2 L(W)\right) \le M = \tfrac12\,"
               r"\lambda_{\max}\!\left(\tfrac1m X^\top X\right),\ \text{tight at } k=2,\ W=0"),
    source=FAMILY.source, hypotheses=FAMILY.hypotheses,
    symbolic=lambda: SymbolicResult([sym.entry_form()[0], sym.kronecker_form(), sym.two_class_curvature()]),
    cases=softmax_batches, check=_smooth_check,
    recheck=lambda case, ctx: _smooth_check(case, ctx, dense=True),
    relation="inequality", decode_case=SoftmaxBatch.from_json, figures=figures.softmax_spectrum_figures,
    notes=("λ_max(A) ≤ ½ with equality only when a has two entries ½ (k = 2, tied logits); "
           "the tightest ratio λ_max/M is reported and reaches 1 at k = 2, W = 0.",),
)

DIAGONAL_BLOCKS = FAMILY.claim(
    id="seed000-diagonal-blocks-imply-psd", title="Seed 000: PSD diagonal blocks make the Hessian PSD",
    statement=(r"H = H^\top,\ H_{jj} \succeq 0 \ \forall j \;\Longrightarrow\; H \succeq 0"),
    source=FAMILY.source + "; the seed argues convexity from the diagonal blocks only",
    expected="refuted",
    hypotheses=(r"H \text{ symmetric, partitioned into blocks } H_{jl}",),
    symbolic=lambda: SymbolicResult([sym.psd_counterexample()]),
    cases=symmetric_block_matrices, check=_block_psd_check, recheck=_block_psd_recheck,
    relation="inequality", decode_case=SymmetricBlockMatrix.from_json,
    notes=("The conclusion (convexity) is true, but for another reason: the full Hessian is a sum of "
           "Kronecker products of PSD matrices (softmax-ce-convex).",),
)

BLOCK_DIAGONAL = make_hessian_claim(
    seed_block_diagonal, claim_id="seed000-hessian-is-block-diagonal", expected="refuted",
    title="Seed 000: the Hessian is block diagonal",
    statement=(r"\nabla^2_{\operatorname{vec} W} L = \operatorname{blockdiag}_j\!\left("
               r"\frac1m \sum_i a_{ij}(1-a_{ij})\, x_i x_i^\top\right)"),
    symbolic=lambda: SymbolicResult([sym.off_diagonal_block_counterexample()]),
    notes=("The seed's diagonal blocks are right; the off-diagonal blocks −(1/m)Σ a_ij a_il x xᵀ are "
           "missing.",),
)
