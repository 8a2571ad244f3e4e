"""The gradient-norm penalty and its finite-difference gradient (C5), and [S002]'s two mistakes.

The family record and the claims table read by the registry (importing this package registers nothing).
"""

from verify import Family

#: what the claims of this family share (defined before the import below: its modules read it)
FAMILY = Family(
    key="gradient_norm_penalty",
    title="Gradient-norm penalty: gradient, finite differences, SAM",
    source=("[S002] §'3 Paper method', after [Zhao2022] (Zhao, Zhang & Hu, 'Penalizing Gradient Norm for "
            "Efficiently Improving Generalization in Deep Learning', ICML 2022); docs/sources.md#s002; "
            "docs/claims.md#c5"),
    hypotheses=(
        r"L_S(\theta) = \tfrac1{2m}\sum_i \|f(x_i;\theta) - t_i\|^2,\ f \text{ an MLP with a } C^4 "
        r"\text{ activation (tanh, sigmoid, softplus, gelu, identity)}",
        r"g = \nabla L_S(\theta) \ne 0 \text{ (beyond round-off)},\ \hat g = g/\|g\|_2,\ \lambda \ge 0",
    ),
    depth=256.0,
)

from proofs.gradient_norm_penalty.claims import (  # noqa: E402
    FD_ORDER,
    FD_ORDER_MODULES,
    GRADIENT,
    GRADIENT_MODULES,
    HALF,
    HALF_MODULES,
    PENALIZED_FD,
    PENALIZED_FD_MODULES,
    SAM,
)

CLAIMS = (GRADIENT, FD_ORDER, SAM, HALF, PENALIZED_FD, GRADIENT_MODULES, HALF_MODULES, FD_ORDER_MODULES,
          PENALIZED_FD_MODULES)

__all__ = ["CLAIMS", "FAMILY"]
