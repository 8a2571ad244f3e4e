"""Stable softmax / log-softmax / cross-entropy: agreement with torch, no overflow, torch.func support."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.func import grad, hessian, vmap

from verify.errors import InvalidInputError
from verify.numeric import log_softmax, softmax_cross_entropy, softmax_regression_loss, stable_softmax
from verify.numeric.policy import _quiet_torch_func

F64 = torch.float64
GEN = torch.Generator().manual_seed(0)


def test_softmax_and_log_softmax_match_torch():
    z = torch.randn(7, 5, dtype=F64, generator=GEN) * 3
    torch.testing.assert_close(stable_softmax(z), torch.softmax(z, -1), rtol=1e-15, atol=1e-16)
    torch.testing.assert_close(stable_softmax(z, dim=0), torch.softmax(z, 0), rtol=1e-15, atol=1e-16)
    torch.testing.assert_close(log_softmax(z), torch.log_softmax(z, -1), rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(log_softmax(z, dim=0), torch.log_softmax(z, 0), rtol=1e-14, atol=1e-15)
    # an independent route: float32 results against the float64 formula z - logsumexp(z)
    reference = z - torch.logsumexp(z, -1, keepdim=True)
    torch.testing.assert_close(log_softmax(z.float()).double(), reference, rtol=4e-7, atol=4e-7)
    torch.testing.assert_close(stable_softmax(z.float()).double(), reference.exp(), rtol=4e-7, atol=1e-7)


@pytest.mark.parametrize(("dtype", "size"), [(torch.float64, 1e4), (torch.float32, 1e3)])
def test_no_overflow_at_large_logits(dtype, size):
    z = torch.tensor([[size, size - 1.0, -size], [-size, -size, -size], [size, size, size]], dtype=dtype)
    a = stable_softmax(z)
    assert torch.isfinite(a).all() and torch.isfinite(log_softmax(z)).all()
    torch.testing.assert_close(a.sum(-1), torch.ones(3, dtype=dtype))
    torch.testing.assert_close(a[2], torch.full((3,), 1 / 3, dtype=dtype))
    labels = torch.tensor([0, 1, 2])
    losses = softmax_cross_entropy(z, labels, reduction="none")
    assert torch.isfinite(losses).all()
    torch.testing.assert_close(losses[0], torch.tensor(math.log1p(math.exp(-1.0)), dtype=dtype))
    torch.testing.assert_close(losses[1:], torch.full((2,), math.log(3.0), dtype=dtype))
    # gradient and Hessian stay finite too
    g = grad(lambda w: softmax_cross_entropy(w, labels))(z)
    assert torch.isfinite(g).all()
    with _quiet_torch_func():
        h = hessian(lambda w: softmax_cross_entropy(w[None], labels[:1]))(z[0])
    assert torch.isfinite(h).all()


def test_naive_form_would_overflow():
    """Documents why the shift is needed: exp(1e4) is inf in float64."""
    z = torch.tensor([1e4, 0.0], dtype=F64)
    assert not torch.isfinite(torch.exp(z) / torch.exp(z).sum()).all()
    assert torch.isfinite(stable_softmax(z)).all()


def test_fully_masked_row_does_not_nan_the_others():
    z = torch.tensor([[-math.inf, -math.inf], [0.0, -math.inf]], dtype=F64)
    a = stable_softmax(z)
    torch.testing.assert_close(a[1], torch.tensor([1.0, 0.0], dtype=F64))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_torch(reduction):
    z = torch.randn(9, 4, dtype=F64, generator=GEN) * 5
    y = torch.randint(0, 4, (9,), generator=GEN)
    torch.testing.assert_close(softmax_cross_entropy(z, y, reduction), F.cross_entropy(z, y, reduction=reduction),
                               rtol=1e-14, atol=1e-15)


def test_cross_entropy_single_example_and_leading_dims():
    z = torch.randn(2, 3, 5, dtype=F64, generator=GEN)
    y = torch.randint(0, 5, (2, 3), generator=GEN)
    per = softmax_cross_entropy(z, y, reduction="none")
    assert per.shape == (2, 3)
    torch.testing.assert_close(softmax_cross_entropy(z[1, 2], y[1, 2]), per[1, 2])


def test_cross_entropy_under_vmap_grad():
    z = torch.randn(6, 3, dtype=F64, generator=GEN)
    y = torch.randint(0, 3, (6,), generator=GEN)
    per_example = vmap(grad(softmax_cross_entropy))(z, y)
    expected = torch.softmax(z, -1) - F.one_hot(y, 3).to(F64)  # a - e_y
    torch.testing.assert_close(per_example, expected, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize(("labels", "pattern"), [
    (torch.tensor([0.0, 1.0]), "integer tensor"),
    (torch.tensor([True, False]), "integer tensor"),
    ([0, 1], "integer tensor"),
    (torch.tensor([0, 1, 1]), r"labels of shape \(3,\)"),
    (torch.tensor([0, 3]), r"valid labels are 0..2"),
    (torch.tensor([-1, 0]), r"valid labels are 0..2"),
])
def test_cross_entropy_rejects_bad_labels(labels, pattern):
    z = torch.zeros(2, 3, dtype=F64)
    with pytest.raises(InvalidInputError, match=pattern):
        softmax_cross_entropy(z, labels)


def test_cross_entropy_rejects_bad_reduction():
    with pytest.raises(InvalidInputError, match=r"Got reduction='avg', but valid values are \['mean', 'sum', 'none'\]"):
        softmax_cross_entropy(torch.zeros(2, 3, dtype=F64), torch.tensor([0, 1]), "avg")  # type: ignore[arg-type]


def test_softmax_regression_loss_flat_and_matrix():
    k, d, m = 3, 4, 10
    W = torch.randn(k, d, dtype=F64, generator=GEN)
    X = torch.randn(m, d, dtype=F64, generator=GEN)
    y = torch.randint(0, k, (m,), generator=GEN)
    expected = F.cross_entropy(X @ W.T, y)
    torch.testing.assert_close(softmax_regression_loss(W, X, y, k), expected, rtol=1e-14, atol=0)
    torch.testing.assert_close(softmax_regression_loss(W.reshape(-1), X, y, k), expected, rtol=1e-14, atol=0)
    # one example
    torch.testing.assert_close(softmax_regression_loss(W, X[0], y[0], k), F.cross_entropy(X[:1] @ W.T, y[:1]))
    # C1: L(W + 1 c^T) = L(W)  (softmax is shift invariant)
    c = torch.randn(d, dtype=F64, generator=GEN)
    torch.testing.assert_close(softmax_regression_loss(W + c, X, y, k), expected, rtol=1e-13, atol=0)


def test_softmax_regression_loss_gradient_formula():
    """C1: grad_W L = (1/m) sum_i (a_i - e_{y_i}) x_i^T (row-major vec)."""
    k, d, m = 4, 3, 8
    W = torch.randn(k * d, dtype=F64, generator=GEN)
    X = torch.randn(m, d, dtype=F64, generator=GEN)
    y = torch.randint(0, k, (m,), generator=GEN)
    g = grad(softmax_regression_loss)(W, X, y, k)
    a = torch.softmax(X @ W.reshape(k, d).T, -1)
    expected = ((a - F.one_hot(y, k).to(F64)).T @ X / m).reshape(-1)
    torch.testing.assert_close(g, expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(("W", "k", "pattern"), [
    (torch.zeros(5, dtype=F64), 2, r"must be \(2, 3\) or flat \(6,\)"),
    (torch.zeros(3, 2, dtype=F64), 2, r"must be \(2, 3\)"),
    (torch.zeros(6, dtype=F64), 0, r"k=0"),
])
def test_softmax_regression_loss_rejects(W, k, pattern):
    with pytest.raises(InvalidInputError, match=pattern):
        softmax_regression_loss(W, torch.zeros(4, 3, dtype=F64), torch.zeros(4, dtype=torch.long), k)
