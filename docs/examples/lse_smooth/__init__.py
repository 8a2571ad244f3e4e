"""Log-sum-exp is 1-smooth: the worked example of the guide ``docs/adding-a-family.md``.

Not part of the built-in library: name it with ``--library docs/examples/lse_smooth``.
This file is the family's front door: the family record, and the claims table the registry reads.
"""

from verify import Family

#: what the claims of this family share (defined before the import below: its modules read it)
FAMILY = Family(
    key="lse_smooth",
    title="Log-sum-exp is 1-smooth",
    source=("Boyd and Vandenberghe, Convex Optimization (2004), §3.1.5: the Hessian of log-sum-exp; "
            "worked example of docs/adding-a-family.md"),
    hypotheses=(r"z \in \mathbb{R}^k,\ k \ge 2,\ \operatorname{lse}(z) = \log\sum_j e^{z_j},\ "
                r"p = \operatorname{softmax}(z)",),
    depth=64.0,
)

from .claims import HESSIAN, QUARTER_SMOOTH, SMOOTH  # noqa: E402

CLAIMS = (HESSIAN, SMOOTH, QUARTER_SMOOTH)

__all__ = ["CLAIMS", "FAMILY"]
