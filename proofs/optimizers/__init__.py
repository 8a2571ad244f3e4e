"""Optimizer update rules (C6): SGD with momentum, AdaGrad, RMSProp and Adam against torch.optim,
and [S004]'s three mistakes about them.

The family record and the claims table read by the registry (importing this package registers nothing).
"""

from verify import Family

#: what the claims of this family share (defined before the import below: its modules read it)
FAMILY = Family(
    key="optimizers",
    title="Optimizer update rules against torch.optim",
    source=("[S004] §'批量和动量', 'AdaGrad', 'RMSProp', 'Adam' (lecture notes on adaptive learning rates); "
            "torch.optim documentation (the 'Algorithm' blocks of SGD, Adagrad, RMSprop, Adam, AdamW); "
            "docs/sources.md#s004; docs/claims.md#c6"),
    hypotheses=(
        r"\theta_0 \in \mathbb{R}^n,\ n = 1..4;\ g_1, \dots, g_T \in \mathbb{R}^n,\ T = 1..8 "
        r"\ (\text{zeros, } |g| \sim 10^{-12} \text{ and } 10^{8} \text{ included})",
        r"\text{per coordinate; } g'_t = d\,g_t + \lambda\theta_{t-1},\ d = -1 \text{ under maximize}",
    ),
    depth=16.0,
)

from proofs.optimizers.claims import (  # noqa: E402
    ADAGRAD,
    ADAGRAD_ROOT_MEAN,
    ADAM,
    ADAM_NO_BIAS_CORRECTION,
    MODULE_CLAIMS,
    RMSPROP,
    RMSPROP_INITIAL_SIGMA,
    SGD,
)

CLAIMS = (SGD, ADAGRAD, RMSPROP, ADAM, ADAGRAD_ROOT_MEAN, RMSPROP_INITIAL_SIGMA, ADAM_NO_BIAS_CORRECTION,
          *MODULE_CLAIMS)

__all__ = ["CLAIMS", "FAMILY"]
