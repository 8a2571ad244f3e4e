r"""Per-example gradients of an MLP from one batched backward pass.

For a layer :math:`z = W h + b` the gradient of example :math:`i`'s loss is
:math:`\nabla_W \ell_i = \delta_i h_i^\top`, :math:`\nabla_b \ell_i = \delta_i` with
:math:`\delta_i = \partial \ell_i / \partial z_i`. Since :math:`z_i` reaches no other example's loss,
:math:`\delta_i` is also the gradient of :math:`\sum_j \ell_j` with respect to row :math:`i` of the batched
:math:`z`: one forward pass over the batch and one ``torch.autograd.grad`` of the summed loss with respect to
every layer's pre-activation give every :math:`\delta`, and the per-example gradients are outer products
written straight into the ``(m, n)`` result (BackPACK's BatchGrad and Opacus compute the same from module hooks).
:func:`verify.numeric.per_sample_grads` (``vmap(grad)``) is the general route for any loss; this one is for
the MLPs of :mod:`verify.numeric.mlp` with a per-example loss, and the tests compare the two.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from verify.errors import InvalidInputError
from verify.numeric.mlp import ACTIVATIONS, MLPSpec, unflatten

__all__ = ["mlp_per_example_grads"]

#: ``(logits (m, k), targets (m, ...)) -> (m,)``: one loss per example
BatchLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def mlp_per_example_grads(spec: MLPSpec, theta: torch.Tensor, X: torch.Tensor, Y: torch.Tensor,
                          loss_fn: BatchLoss) -> torch.Tensor:
    r"""``(m, n)``: row i is :math:`\nabla_\theta \ell(f(x_i; \theta), y_i)` in ``theta``'s layout.

    Args:
        spec: the architecture (the last layer linear, as :func:`~verify.numeric.mlp_forward`).
        theta: ``(n,)``.
        X: ``(m, d_in)``. Y: ``(m, ...)`` targets.
        loss_fn: the per-example losses of a batch, e.g.
            ``lambda z, y: softmax_cross_entropy(z, y, reduction="none")``; example i's loss may depend on
            row i of the logits only (what makes per-example gradients well defined).

    Raises:
        InvalidInputError: for a batch that is not ``(m, d_in)``, or a loss that is not one value per example.
    """
    if X.ndim != 2 or X.shape[1] != spec.widths[0] or Y.shape[:1] != X.shape[:1]:
        raise InvalidInputError(f"Got X {tuple(X.shape)} and Y {tuple(Y.shape)}, but the batch must be X (m, "
                                f"{spec.widths[0]}) and Y (m, ...).")
    activation = ACTIVATIONS[spec.activation]
    layers = unflatten(spec, theta.detach())
    inputs, pre = [], []
    with torch.enable_grad():
        h = X.detach()
        for t, (W, b) in enumerate(layers):
            inputs.append(h)
            z = h @ W.T + (b if b is not None else 0.0)
            if t == 0:
                z.requires_grad_()  # the first pre-activation starts the graph; the weights stay out of it
            pre.append(z)
            h = z if t == len(layers) - 1 else activation(z)
        losses = loss_fn(h, Y)
        if losses.shape != X.shape[:1]:
            raise InvalidInputError(f"loss_fn returned shape {tuple(losses.shape)}; it must give one loss per "
                                    f"example, shape ({X.shape[0]},) (e.g. reduction='none').")
        deltas = torch.autograd.grad(losses.sum(), pre)
    out = X.new_empty(X.shape[0], theta.numel())
    start = 0
    for (W, b), h, delta in zip(layers, inputs, deltas, strict=True):
        d_out, d_in = W.shape
        block = out[:, start:start + d_out * d_in].view(-1, d_out, d_in)
        torch.mul(delta[:, :, None], h.detach()[:, None, :], out=block)
        start += d_out * d_in
        if b is not None:
            out[:, start:start + d_out] = delta
            start += d_out
    return out
