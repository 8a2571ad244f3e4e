"""A norm penalty is a constraint in disguise (C4), when J and Ω are convex, and [S003]'s slips.

The family record and the claims table read by the registry (importing this package registers nothing).
"""

from verify import Family

#: what the claims of this family share (defined before the import below: its modules read it)
FAMILY = Family(
    key="penalty_constraint",
    title="Norm penalties as constraints",
    source=("[S003] (norm penalties as constraints, after [GBC2016] §7.2; max-norm: [Srebro2005]); "
            "docs/sources.md#s003; docs/claims.md#c4"),
    hypotheses=(),
    depth=256.0,
)

from proofs.penalty_constraint.claims import COLUMNS, CONVENTION, EQUIVALENCE, MAX_NORM, NONCONVEX, PATH  # noqa: E402

CLAIMS = (EQUIVALENCE, PATH, MAX_NORM, COLUMNS, NONCONVEX, CONVENTION)

__all__ = ["CLAIMS", "FAMILY"]
