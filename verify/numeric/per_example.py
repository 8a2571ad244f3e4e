"""Per-example gradients: ``vmap(grad)`` of one example's loss, and the Python loop it is checked against."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.func import grad, vmap

from verify.errors import InvalidInputError
from verify.numeric.autodiff import _check_theta, _scalar
from verify.numeric.policy import _quiet_torch_func

__all__ = ["per_sample_grads", "per_sample_grads_loop"]

ExampleLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def per_sample_grads(loss_fn: ExampleLoss, theta: torch.Tensor, X: torch.Tensor, Y: torch.Tensor,
                     *, chunk_size: int | None = None) -> torch.Tensor:
    r"""Per-example gradients :math:`G_{i\cdot} = \nabla_\theta \ell(\theta; x_i, y_i)` by ``vmap(grad)``.

    Args:
        loss_fn: ``loss_fn(theta, x, y)``, the scalar loss of ONE example
            (``x = X[i]``, ``y = Y[i]``); it must be written with torch operations
            that :func:`torch.func.vmap` supports (no ``.item()``, no data-dependent
            Python control flow).
        theta: ``(n,)``.
        X: ``(m, ...)`` inputs, batched along the first dimension.
        Y: ``(m, ...)`` targets, batched along the first dimension.
        chunk_size: optional number of examples per vectorized chunk (memory).

    Returns:
        ``(m, n)``.

    Raises:
        InvalidInputError: for a bad ``theta`` or mismatched ``X``, ``Y`` lengths.
        UserCodeError: if ``loss_fn`` raises or does not return a scalar.
    """
    _check_theta(theta)
    _check_batch(X, Y)
    with _quiet_torch_func():
        return vmap(grad(_scalar(loss_fn, "loss_fn")), in_dims=(None, 0, 0), chunk_size=chunk_size)(theta, X, Y)


def per_sample_grads_loop(loss_fn: ExampleLoss, theta: torch.Tensor, X: torch.Tensor,
                          Y: torch.Tensor) -> torch.Tensor:
    r"""Per-example gradients by a Python loop of :func:`torch.autograd.grad` (the baseline).

    Same contract and output as :func:`per_sample_grads`; it is the route people
    write by hand (one backward pass per example) and the independent check of it.

    Args:
        loss_fn: ``loss_fn(theta, x, y)``, the scalar loss of one example.
        theta: ``(n,)``.
        X: ``(m, ...)``.
        Y: ``(m, ...)``.

    Returns:
        ``(m, n)``.

    Raises:
        InvalidInputError: for a bad ``theta`` or mismatched ``X``, ``Y`` lengths.
        UserCodeError: if ``loss_fn`` raises or does not return a scalar.
    """
    _check_theta(theta)
    _check_batch(X, Y)
    fn = _scalar(loss_fn, "loss_fn")
    leaf = theta.detach().requires_grad_(True)
    rows = []
    with torch.enable_grad():
        for i in range(X.shape[0]):
            loss = fn(leaf, X[i], Y[i])
            (g,) = torch.autograd.grad(loss, leaf, allow_unused=True) if loss.requires_grad else (None,)
            rows.append(torch.zeros_like(theta) if g is None else g)
    if not rows:
        return theta.new_zeros((0, theta.shape[0]))
    return torch.stack(rows)


def _check_batch(X: torch.Tensor, Y: torch.Tensor) -> None:
    if not isinstance(X, torch.Tensor) or not isinstance(Y, torch.Tensor) or X.dim() < 1 or Y.dim() < 1 \
            or X.shape[0] != Y.shape[0]:
        sx = tuple(X.shape) if isinstance(X, torch.Tensor) else type(X).__name__
        sy = tuple(Y.shape) if isinstance(Y, torch.Tensor) else type(Y).__name__
        raise InvalidInputError(
            f"Got X of shape {sx} and Y of shape {sy}, but both must be tensors batched along "
            "their first dimension with the same number of examples m."
        )
