r"""Softmax cross-entropy: its Hessian, convexity and smoothness (C1), and [S000]'s two mistakes.

Source: [S000] ("使用二阶梯度作正则项交叉训练参数", section "softmax是凸函数"), which
derives the diagonal blocks :math:`\frac1m\sum_i a_n(1-a_n)x^{(i)}x^{(i)\top}` only and
concludes convexity from them; restated precisely as C1 in ``docs/claims.md#c1``.

For :math:`W\in\mathbb R^{k\times d}`, :math:`a_i=\operatorname{softmax}(Wx_i)` and
:math:`L(W) = -\frac1m\sum_i \log a_{i,y_i}`, with row-major :math:`\operatorname{vec}`:

.. math:: \nabla^2 L = \frac1m \sum_i (\operatorname{diag}(a_i) - a_i a_i^\top)\otimes x_i x_i^\top .

Claims: ``softmax-ce-hessian``, ``softmax-ce-convex``, ``softmax-ce-smoothness`` (hold);
``seed000-diagonal-blocks-imply-psd``, ``seed000-hessian-is-block-diagonal`` (refuted).

This module holds the claim definitions; the closed forms, oracles and per-case checks they pass
are in :mod:`proofs.softmax_ce.numeric`, the derivations in :mod:`proofs.softmax_ce.symbolic`.
"""

from __future__ import annotations

from collections.abc import Callable

from proofs.softmax_ce import FAMILY, figures
from proofs.softmax_ce import symbolic as sym
from proofs.softmax_ce.numeric import (
    HessianFormula,
    block_psd_check,
    block_psd_recheck_mp,
    closed_form_hessian,
    convex_check,
    convex_recheck_dense,
    hessian_check,
    hessian_recheck,
    seed_block_diagonal,
    smoothness_check,
    smoothness_recheck_dense,
)
from verify import (
    Claim,
    SoftmaxBatch,
    SymbolicResult,
    SymmetricBlockMatrix,
    softmax_batches,
    symmetric_block_matrices,
)

__all__ = ["BLOCK_DIAGONAL", "CONVEX", "DIAGONAL_BLOCKS", "HESSIAN", "SMOOTHNESS", "make_hessian_claim"]


def make_hessian_claim(formula: HessianFormula, *, claim_id: str, statement: str, expected: str = "holds",
                       symbolic: Callable[[], SymbolicResult] | None = None, title: str = "",
                       notes: tuple[str, ...] = ()) -> Claim:
    """A claim "``formula(W, X)`` is the Hessian of the mean softmax cross-entropy".

    The formula is compared entrywise with the dense autograd Hessian, with
    tolerance ``FAMILY.depth·eps·max x²`` (:func:`~proofs.softmax_ce.numeric.hessian_check`); a
    counterexample is re-checked against the Hessian built from double-backward products in
    float64 (:func:`~proofs.softmax_ce.numeric.hessian_recheck`).
    """
    return FAMILY.claim(
        id=claim_id, title=title, statement=statement, expected=expected, symbolic=symbolic, cases=softmax_batches,
        check=hessian_check(formula), recheck=hessian_recheck(formula), decode_case=SoftmaxBatch.from_json,
        notes=notes,
    )


def _hessian_symbolic() -> SymbolicResult:
    step, _ = sym.entry_form()
    return SymbolicResult([step, sym.kronecker_form(), sym.gram_split()[0]])


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
    symbolic=lambda: SymbolicResult([sym.entry_form()[0], sym.kronecker_form(), sym.variance_form(),
                                     sym.null_direction()]),
    cases=softmax_batches, check=convex_check, recheck=convex_recheck_dense,
    relation="inequality", decode_case=SoftmaxBatch.from_json, figures=figures.softmax_spectrum_figures,
    notes=("It is the cross-entropy of softmax that is convex in W, not 'softmax' (the source's wording).",
           "λ_min by Lanczos (eigsh, which='SA') on double-backward HVPs; re-checked with the dense "
           "Hessian (forward over reverse) and numpy eigvalsh.",
           "Because H(1⊗c) = 0 the Hessian is always singular: a second-order test never certifies a "
           "minimum of this loss (C7), although convexity makes every stationary point global."),
)

SMOOTHNESS = FAMILY.claim(
    id="softmax-ce-smoothness", title="Softmax cross-entropy is ½λ_max(XᵀX/m)-smooth",
    statement=(r"\lambda_{\max}\!\left(\nabla^2 L(W)\right) \le M = \tfrac12\,"
               r"\lambda_{\max}\!\left(\tfrac1m X^\top X\right),\ \text{tight at } k=2,\ W=0"),
    symbolic=lambda: SymbolicResult([sym.entry_form()[0], sym.kronecker_form(), sym.two_class_curvature()]),
    cases=softmax_batches, check=smoothness_check, recheck=smoothness_recheck_dense,
    relation="inequality", decode_case=SoftmaxBatch.from_json, figures=figures.softmax_spectrum_figures,
    notes=("λ_max(A) ≤ ½ with equality only when a has two entries ½ (k = 2, tied logits); "
           "the tightest ratio λ_max/M is reported and reaches 1 at k = 2, W = 0.",),
)

DIAGONAL_BLOCKS = FAMILY.claim(
    id="seed000-diagonal-blocks-imply-psd", title="[S000]: PSD diagonal blocks make the Hessian PSD",
    statement=(r"H = H^\top,\ H_{jj} \succeq 0 \ \forall j \;\Longrightarrow\; H \succeq 0"),
    source=FAMILY.cite("the notes argue convexity from the diagonal blocks only"),
    expected="refuted",
    hypotheses=(r"H \text{ symmetric, partitioned into blocks } H_{jl}",),
    symbolic=lambda: SymbolicResult([sym.psd_counterexample()]),
    cases=symmetric_block_matrices, check=block_psd_check, recheck=block_psd_recheck_mp,
    relation="inequality", decode_case=SymmetricBlockMatrix.from_json,
    notes=("The conclusion (convexity) is true, but for another reason: the full Hessian is a sum of "
           "Kronecker products of PSD matrices (softmax-ce-convex).",),
)

BLOCK_DIAGONAL = make_hessian_claim(
    seed_block_diagonal, claim_id="seed000-hessian-is-block-diagonal", expected="refuted",
    title="[S000]: the Hessian is block diagonal",
    statement=(r"\nabla^2_{\operatorname{vec} W} L = \operatorname{blockdiag}_j\!\left("
               r"\frac1m \sum_i a_{ij}(1-a_{ij})\, x_i x_i^\top\right)"),
    symbolic=lambda: SymbolicResult([sym.off_diagonal_block_counterexample()]),
    notes=("The source's diagonal blocks are right; the off-diagonal blocks −(1/m)Σ a_ij a_il x xᵀ are "
           "missing.",),
)
