"""Input-gradient vs parameter-gradient inequality for MLPs (C3), and [S001]'s mistake.

The family record and the claims table read by the registry (importing this package registers nothing).
"""

from verify import Family

#: what the claims of this family share (defined before the import below: its modules read it)
FAMILY = Family(
    key="gradient_inequality",
    title="Input gradients bounded by parameter gradients in MLPs",
    source=("[S001] inequality (1), after [Dherin2022] (Dherin, Munn & Barrett, 'The Geometric Occam's Razor "
            "Implicit in Deep Learning'); docs/sources.md#s001; docs/claims.md#c3"),
    hypotheses=(
        r"h^{(1)} = x;\ z^{(t+1)} = W^{(t)}h^{(t)} + b^{(t)};\ h^{(t+1)} = g(z^{(t+1)}),\ t = 1..l",
        r"f = F(h^{(l+1)}) \text{ any differentiable scalar function};\ "
        r"\delta^{(t)} = \partial f/\partial z^{(t+1)};\ J^{(t)} = \partial h^{(t)}/\partial x,\ J^{(1)} = I",
        r"\text{biases present};\ g \text{ differentiable at the point (ReLU: almost everywhere)}",
        r"W^{(t)} \ne 0,\ J^{(t)} \ne 0 \text{ (else the multiplied per-layer form)}",
    ),
    depth=512.0,
)

from proofs.gradient_inequality.claims import DOUBLED, FROBENIUS, NO_BIAS_KEEPS_ONE, PER_LAYER, SUMMED  # noqa: E402
from proofs.gradient_inequality.conv_claims import CONV_CLAIMS  # noqa: E402

CLAIMS = (SUMMED, PER_LAYER, FROBENIUS, NO_BIAS_KEEPS_ONE, DOUBLED, *CONV_CLAIMS)

__all__ = ["CLAIMS", "FAMILY"]
