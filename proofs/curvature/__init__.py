"""Curvature beyond λ_max (C8): the Gauss-Newton split, Hutchinson's trace estimator, sharpness under rescaling.

The family record and the claims table read by the registry (importing this package registers nothing).
"""

from verify import Family

#: what the claims of this family share (defined before the import below: its modules read it)
FAMILY = Family(
    key="curvature",
    title="Curvature beyond the top eigenvalue",
    source=("[Martens2020] §8 (the generalized Gauss-Newton matrix); [Hutchinson1989], [Avron2011] (trace "
            "estimators); [Dinh2017] §4 (sharpness under reparametrization); docs/sources.md#martens2020; "
            "docs/claims.md#c8"),
    hypotheses=(r"L(\theta) = \mathcal{L}(f(\theta)),\ f \in C^2 \text{ (the model's outputs on the batch)}",),
    depth=256.0,
)

from proofs.curvature.claims import CLAIMS  # noqa: E402

__all__ = ["CLAIMS", "FAMILY"]
