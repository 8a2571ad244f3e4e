"""Per-example gradients of an MLP from one batched backward pass equal vmap(grad) and the loop of backward passes,
and the function refuses what it cannot do."""

from __future__ import annotations

import pytest
import torch

from verify import InvalidInputError
from verify.numeric import (
    MLPSpec,
    init_params,
    mlp_forward,
    mlp_per_example_grads,
    per_sample_grads,
    per_sample_grads_loop,
    softmax_cross_entropy,
)

CE = lambda z, y: softmax_cross_entropy(z, y, reduction="none")  # noqa: E731


@pytest.mark.parametrize("widths, activation, bias", [((3, 5, 4, 2), "tanh", True), ((1, 1), "identity", True),
                                                       ((4, 3, 3), "gelu", False), ((2, 6, 1, 3), "softplus", True)])
def test_batched_backward_equals_vmap_and_the_loop(widths, activation, bias):
    spec = MLPSpec(widths, activation, bias)
    theta = init_params(spec, seed=1, scale=2.0)
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(7, widths[0], dtype=torch.float64, generator=gen)
    Y = torch.randint(0, widths[-1], (7,), generator=gen)

    def loss(t, x, y):
        return softmax_cross_entropy(mlp_forward(spec, t, x), y)

    fast = mlp_per_example_grads(spec, theta, X, Y, CE)
    torch.testing.assert_close(fast, per_sample_grads(loss, theta, X, Y), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(fast, per_sample_grads_loop(loss, theta, X, Y), rtol=1e-12, atol=1e-14)
    assert not theta.requires_grad


def test_a_mean_loss_or_a_wrong_batch_is_refused_by_name():
    spec = MLPSpec((2, 2), "tanh")
    theta = init_params(spec)
    X, Y = torch.zeros(3, 2, dtype=torch.float64), torch.zeros(3, dtype=torch.long)
    with pytest.raises(InvalidInputError, match="one loss per example"):
        mlp_per_example_grads(spec, theta, X, Y, lambda z, y: softmax_cross_entropy(z, y))
    with pytest.raises(InvalidInputError, match="the batch must be"):
        mlp_per_example_grads(spec, theta, X[:, :1], Y, CE)
