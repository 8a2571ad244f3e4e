"""The descent lemma for gradient descent (C2), and [S000]'s three mistakes about it.

The family record and the claims table read by the registry (importing this package registers nothing).
"""

from verify import Family

#: what the claims of this family share (defined before the import below: its modules read it)
FAMILY = Family(
    key="descent",
    title="The descent lemma for gradient descent",
    source=("[S000] §'L̂(A+αΔA)的一个上界的证明' (a descent bound for SGD); docs/sources.md#s000; "
            "docs/claims.md#c2"),
    hypotheses=(
        r"L \in C^2 \text{ near the segment } S = \{\theta - s\alpha g : s \in [0,1]\},"
        r"\ g = \nabla L(\theta),\ \alpha \ge 0",
        r"g^\top \nabla^2 L(\xi)\, g \le M \|g\|^2 \ \forall \xi \in S "
        r"\ (\text{implied by } \nabla^2 L \preceq M I \text{ on } S)",
    ),
    depth=256.0,
)

from proofs.descent.claims import (  # noqa: E402
    ASCENT,
    BEYOND,
    DESCENT,
    DESCENT_MODULES,
    START_POINT,
    START_POINT_MODULES,
)

CLAIMS = (DESCENT, ASCENT, START_POINT, BEYOND, DESCENT_MODULES, START_POINT_MODULES)

__all__ = ["CLAIMS", "FAMILY"]
