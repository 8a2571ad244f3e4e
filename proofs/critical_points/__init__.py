"""Critical points from the Hessian (C7), and [S004]'s semidefinite mistake.

The family record and the claims table read by the registry (importing this package registers nothing).
"""

from verify import Family

#: what the claims of this family share (defined before the import below: its modules read it)
FAMILY = Family(
    key="critical_points",
    title="Critical points classified by the Hessian",
    source=("[S004] (lecture notes: Taylor expansion with the Hessian, classification of critical points); "
            "docs/sources.md#s004; docs/claims.md#c7"),
    hypotheses=(
        r"L \in C^3 \text{ near } \theta^*,\ \nabla L(\theta^*) = 0,\ H = \nabla^2 L(\theta^*) \text{ non-singular}",
    ),
    depth=256.0,
)

from proofs.critical_points.claims import CLASSIFICATION, SEMIDEFINITE  # noqa: E402

CLAIMS = (CLASSIFICATION, SEMIDEFINITE)

__all__ = ["CLAIMS", "FAMILY"]
