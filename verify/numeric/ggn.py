r"""The generalized Gauss-Newton matrix of a model and the rest of its Hessian, as matrix-free products.

For a loss :math:`L(\theta) = \mathcal{L}(f(\theta))` of the model's outputs :math:`f(\theta)` on the batch
(every output entry of every example stacked, :math:`J = \partial f/\partial\theta`), the chain rule splits
the Hessian in two:

.. math:: \nabla^2 L = \underbrace{J^\top \nabla^2_f\mathcal{L}\, J}_{G \text{ (GGN)}}
          + \underbrace{\textstyle\sum_k \frac{\partial\mathcal{L}}{\partial f_k} \nabla^2_\theta f_k}_{R}.

:func:`ggn_operator` is :math:`v \mapsto Gv` and :func:`residual_operator` is :math:`v \mapsto Rv`, both for
any :class:`~verify.numeric.FunctionalModel` and any loss it takes (cross-entropy, MSE, a user's function of
the output): :math:`Jv` and :math:`J^\top u` by reverse mode on one retained graph (:math:`Jv` as the
gradient in :math:`u` of :math:`(J^\top u)\cdot v`), :math:`\nabla^2_f\mathcal{L}` by double backward in the
output space, :math:`R v` as the Hessian-vector product of :math:`\theta \mapsto c^\top f(\theta)` with
:math:`c = \partial\mathcal{L}/\partial f` held constant. Neither uses the Hessian-vector product of
:math:`L` itself, so :math:`Hv = Gv + Rv` is a check of three routes against a fourth (the Gauss-Newton
claims in ``proofs/curvature/``). For a loss convex in the outputs (cross-entropy, MSE)
:math:`\nabla^2_f\mathcal{L} \succeq 0`, hence :math:`G \succeq 0`; for cross-entropy it is the Fisher
information of the model's predictive distribution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

__all__ = ["GaussNewton", "ggn_operator", "residual_operator"]

Matvec = Callable[[torch.Tensor], torch.Tensor]


class GaussNewton:
    """The graphs behind :math:`Gv` and :math:`Rv` at one θ, built once and reused by every product."""

    def __init__(self, fm: Any, theta: torch.Tensor) -> None:
        self.leaf = theta.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            self.out = fm.output(self.leaf)
            self.z = self.out.detach().requires_grad_(True)
            (self.dz,) = torch.autograd.grad(fm.output_loss(self.z), self.z, create_graph=True)
            self.u = torch.zeros_like(self.out, requires_grad=True)
            (self.jtu,) = torch.autograd.grad(self.out, self.leaf, self.u, create_graph=True)
            # R = Σ_k c_k ∇²f_k with c = ∂L/∂f fixed: the Hessian of θ ↦ cᵀf(θ)
            (self.cj,) = torch.autograd.grad(self.out, self.leaf, self.dz.detach(), create_graph=True)

    def jvp(self, v: torch.Tensor) -> torch.Tensor:
        """:math:`Jv` (the output's shape)."""
        (jv,) = torch.autograd.grad(self.jtu, self.u, v, retain_graph=True)
        return jv

    def vjp(self, u: torch.Tensor) -> torch.Tensor:
        """:math:`J^\\top u` (θ's shape)."""
        (out,) = torch.autograd.grad(self.out, self.leaf, u, retain_graph=True)
        return out

    def loss_hvp(self, w: torch.Tensor) -> torch.Tensor:
        """:math:`\\nabla^2_f\\mathcal{L}\\, w` in the output space (0 for a loss linear in the outputs)."""
        if not self.dz.requires_grad:
            return torch.zeros_like(w)
        (hw,) = torch.autograd.grad(self.dz, self.z, w, retain_graph=True, allow_unused=True)
        return torch.zeros_like(w) if hw is None else hw

    def ggn(self, v: torch.Tensor) -> torch.Tensor:
        return self.vjp(self.loss_hvp(self.jvp(v))).detach()

    def ggn_columns(self, V: torch.Tensor) -> torch.Tensor:
        """``G @ V`` for ``V`` of shape (n, k): the three backward passes batched over the columns (autograd's
        ``is_grads_batched``), one column at a time where a backward formula cannot be batched."""
        if not self.dz.requires_grad:  # a loss linear in the outputs: H_ℓ = 0
            return torch.zeros_like(V)
        try:
            (jv,) = torch.autograd.grad(self.jtu, self.u, V.T.contiguous(), retain_graph=True, is_grads_batched=True)
            (hw,) = torch.autograd.grad(self.dz, self.z, jv, retain_graph=True, is_grads_batched=True)
            (out,) = torch.autograd.grad(self.out, self.leaf, hw, retain_graph=True, is_grads_batched=True)
            return out.detach().T
        except RuntimeError:
            return torch.stack([self.ggn(v) for v in V.T], dim=1)

    def jacobian(self, chunk: int = 256) -> torch.Tensor:
        """J = ∂f/∂θ, (outputs, n): backward passes batched over ``chunk`` rows of the output basis at a time
        (memory: the (outputs, n) result and chunk × outputs for the basis)."""
        N, rows = self.out.numel(), []
        for start in range(0, N, chunk):
            basis = torch.zeros(min(chunk, N - start), N, dtype=self.out.dtype, device=self.out.device)
            basis[:, start:start + basis.shape[0]].fill_diagonal_(1.0)
            basis = basis.reshape(-1, *self.out.shape)
            try:
                (block,) = torch.autograd.grad(self.out, self.leaf, basis, retain_graph=True, is_grads_batched=True)
            except RuntimeError:
                block = torch.stack([self.vjp(e) for e in basis])
            rows.append(block.detach())
        return torch.cat(rows)

    def residual_columns(self, V: torch.Tensor) -> torch.Tensor:
        """``R @ V`` for ``V`` of shape (n, k), batched like :meth:`ggn_columns`."""
        if not self.cj.requires_grad:
            return torch.zeros_like(V)
        try:
            (rv,) = torch.autograd.grad(self.cj, self.leaf, V.T.contiguous(), retain_graph=True,
                                        is_grads_batched=True)
            return rv.detach().T
        except RuntimeError:
            return torch.stack([self.residual(v) for v in V.T], dim=1)

    def residual(self, v: torch.Tensor) -> torch.Tensor:
        if not self.cj.requires_grad:  # f is affine in θ: every ∇²f_k is 0
            return torch.zeros_like(v)
        (rv,) = torch.autograd.grad(self.cj, self.leaf, v, retain_graph=True, allow_unused=True)
        return torch.zeros_like(v) if rv is None else rv.detach()


def ggn_operator(fm: Any, theta: torch.Tensor) -> Matvec:
    r""":math:`v \mapsto J^\top \nabla^2_f\mathcal{L}\, J v` at ``theta`` for a
    :class:`~verify.numeric.FunctionalModel` (one graph built here, three backward passes a product).

    >>> import torch
    >>> from verify.numeric import FunctionalModel
    >>> X, y = torch.eye(2, dtype=torch.float64), torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    >>> fm = FunctionalModel(torch.nn.Linear(2, 1, bias=False), (X, y), "mse")
    >>> G = ggn_operator(fm, fm.theta0)   # MSE mean over 2 entries: G = (2/2)·XᵀX = I
    >>> G(torch.tensor([1.0, -3.0], dtype=torch.float64))
    tensor([ 1., -3.], dtype=torch.float64)
    """
    return GaussNewton(fm, theta).ggn


def residual_operator(fm: Any, theta: torch.Tensor) -> Matvec:
    r""":math:`v \mapsto \sum_k (\partial\mathcal{L}/\partial f_k)\, \nabla^2_\theta f_k\, v` at ``theta``: the part
    of the Hessian the GGN leaves out (zero where the residuals :math:`\partial\mathcal{L}/\partial f` vanish)."""
    return GaussNewton(fm, theta).residual
