"""The FD sweep's batched gradients (:class:`proofs.gradient_norm_penalty.networks.GradientTable`)."""

from __future__ import annotations

import hypothesis.strategies as st
import torch
from hypothesis import HealthCheck, given, settings

from proofs.gradient_norm_penalty import numeric as num
from proofs.gradient_norm_penalty import oracles as orc
from proofs.gradient_norm_penalty.cases import GNPCase, gnp_cases, gnp_module_cases
from proofs.gradient_norm_penalty.networks import sweep_gradients
from verify import gradient

_FEW = settings(max_examples=8, database=None, derandomize=True, deadline=None,
                suppress_health_check=list(HealthCheck))
_GRIDS = {s: num.GRIDS[("float64", s)] for s in ("forward", "central")}


def _direction(theta: torch.Tensor) -> torch.Tensor:
    v = torch.linspace(-1, 1, theta.numel(), dtype=theta.dtype)
    return v / v.norm() if theta.numel() > 1 else torch.ones_like(theta)


@_FEW
@given(st.one_of(gnp_cases(), gnp_module_cases()))
def test_prefetched_points_are_the_gradients_and_other_points_are_computed_alone(case: GNPCase):
    f, theta = orc.regression_loss(case.mlp)
    v = _direction(theta)
    table = sweep_gradients(f, theta, v, _GRIDS)
    prefetched = len(table._values)
    assert prefetched <= 1 + 2 * len(set(_GRIDS["forward"]) | set(_GRIDS["central"]))  # θ, θ ± r·v (deduplicated)
    for r in (1e-3, 1e-6):
        for point in (theta + r * v, theta - r * v):  # as the quotients form them: hits
            torch.testing.assert_close(table(point), gradient(f, point), rtol=1e-9, atol=1e-12)
    assert len(table._values) == prefetched
    other = theta + 0.5e-3 * v  # a point no grid holds (a mutated quotient's): computed alone
    assert torch.equal(table(other), gradient(f, other))
    assert len(table._values) == prefetched + 1
