"""Softmax cross-entropy: its Hessian, convexity and smoothness (C1), and [S000]'s two mistakes.

The family record and the claims table read by the registry (importing this package registers nothing).
"""

from verify import Family

#: what the claims of this family share (defined before the import below: its modules read it)
FAMILY = Family(
    key="softmax_ce",
    title="Softmax cross-entropy: Hessian, convexity, smoothness",
    source=("[S000] §'softmax是凸函数' (the softmax cross-entropy Hessian); docs/sources.md#s000; "
            "docs/claims.md#c1"),
    hypotheses=(
        r"W \in \mathbb{R}^{k\times d},\ k \ge 2;\ X \in \mathbb{R}^{m\times d};\ y_i \in \{0,\dots,k-1\}",
        r"a_i = \operatorname{softmax}(W x_i);\ L(W) = -\tfrac1m \sum_i \log a_{i,y_i}",
        r"\operatorname{vec} \text{ is row-major (torch's } W.\mathrm{reshape}(-1))",
    ),
    depth=64.0,
)

from proofs.softmax_ce.claims import BLOCK_DIAGONAL, CONVEX, DIAGONAL_BLOCKS, HESSIAN, SMOOTHNESS  # noqa: E402

CLAIMS = (HESSIAN, CONVEX, SMOOTHNESS, DIAGONAL_BLOCKS, BLOCK_DIAGONAL)

__all__ = ["CLAIMS", "FAMILY"]
