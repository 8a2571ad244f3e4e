r"""Built-in example regularizers (importable as ``verify.regularizers.examples:l2`` and so on).

Each takes either ``(model, batch)`` (a ``torch.nn.Module`` and ``(X, y)``) or ``(params)`` (a dict
name → Tensor) and returns a 0-dim tensor; the loss they refer to is the task's mean softmax
cross-entropy. What :func:`verify.check_regularizer` reports for each (default settings):

=============================  =====================================================================
``l2``                         every check passes (weight decay :math:`\sum\|p\|^2`)
``l1``                         smoothness ``refuted``: kinked where a parameter is 0; curvature effect
                               ``mixed`` (locally it lowers the sharpness, at equal loss the model
                               trained with it is sharper)
``max_norm``                   every check passes; max-norm as the squared distance to the per-unit
                               ball (below)
``input_gradient_penalty``     double backprop; every check passes
``gradient_norm_penalty``      C5, exact :math:`\|\nabla L\|` through ``create_graph``; passes checks 1–4
                               and 6, constraint ``not-applicable`` (not convex on softmax regression)
``gradient_norm_penalty_fd``   C5's finite-difference surrogate: gradient and smoothness ``refuted``
                               (autograd holds :math:`\hat g` constant: it drops the
                               :math:`\partial\hat g/\partial\theta` term, an O(r) error)
``spectral_norm_penalty``      smoothness ``refuted`` (kinked at :math:`W = 0` and at repeated top
                               singular values)
``seed000_as_written``         well-formed ``error``: divides by a singular matrix
``seed000_trace``              curvature-effect: descending it RAISES sharpness locally (at
                               λ = 0.01 the equal-loss comparison disagrees: ``mixed``; at λ = 0.1
                               it agrees); constraint ``not-applicable`` (not convex)
``seed000_lambda_max``         curvature-effect: descending it RAISES sharpness (and the trained
                               model is sharper); constraint ``not-applicable`` (not convex)
``seed000_lambda_min``         well-formed ``error``: :math:`1/\lambda_{\min}` of a singular matrix is
                               round-off (unbounded, sign-changing)
=============================  =====================================================================

Seed 000 proposes the penalty :math:`\lambda M\|I\|^2/\nabla^2_{A}\hat L` with :math:`A` the weight
matrix feeding the softmax. Here :math:`\nabla^2_A L` is the exact C1 Hessian of the mean softmax
cross-entropy with respect to the last layer's weight :math:`W \in \mathbb{R}^{k\times h}`,

.. math:: H = \frac1m\sum_i \bigl(\operatorname{diag}(a_i) - a_ia_i^\top\bigr) \otimes h_ih_i^\top
          \quad(\text{row-major vec}),

:math:`h_i` the features entering the last layer, :math:`a_i` the softmax output; :math:`M = 1` and
:math:`\|I\|^2 = kh` (Frobenius norm of the identity). :math:`H(\mathbf 1\otimes c) = 0` for every
:math:`c`, so :math:`H` is singular (C1): "dividing by H" is undefined, :math:`\lambda_{\min}(H) = 0`,
and the scalarizations :math:`1/\operatorname{tr}H`, :math:`1/\lambda_{\max}(H)` are *decreased by
raising the curvature*, the opposite of what the descent bound needs.

Max-norm as a projection. The constraint :math:`\|w_j\| \le c` on each unit's incoming weights
(a row of ``nn.Linear.weight``) is checked through
:math:`R(\theta) = \sum_j \max(0, \|w_j\| - c)^2`, the squared distance to that set: one gradient
step of size 1/2 on it is exactly the projection :math:`w_j \leftarrow w_j\min(1, c/\|w_j\|)` (C4).
R is :math:`C^1` with a jump of its second derivative on the sphere :math:`\|w_j\| = c` (the
one-sided *first* derivatives agree there, so no kink is reported).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = [
    "BUILTIN_EXAMPLES",
    "MAX_NORM",
    "gradient_norm_penalty",
    "gradient_norm_penalty_fd",
    "input_gradient_penalty",
    "l1",
    "l2",
    "max_norm",
    "seed000_as_written",
    "seed000_lambda_max",
    "seed000_lambda_min",
    "seed000_trace",
    "spectral_norm_penalty",
]

#: radius c of the per-unit max-norm ball.
MAX_NORM = 0.5
#: step r of the finite-difference gradient-norm penalty (a SAM-like radius).
FD_RADIUS = 1e-3

Batch = tuple[torch.Tensor, torch.Tensor]


def _loss(model: nn.Module, batch: Batch) -> torch.Tensor:
    X, y = batch
    return nn.functional.cross_entropy(model(X), y)


def l2(params: dict[str, torch.Tensor]) -> torch.Tensor:
    r"""Weight decay :math:`R(\theta) = \sum_p \|p\|^2` over every parameter tensor (smooth, convex)."""
    return sum((p ** 2).sum() for p in params.values())  # type: ignore[return-value]


def l1(params: dict[str, torch.Tensor]) -> torch.Tensor:
    r"""Lasso :math:`R(\theta) = \sum_i |\theta_i|` (convex, kinked wherever a parameter is 0)."""
    return sum(p.abs().sum() for p in params.values())  # type: ignore[return-value]


def max_norm(model: nn.Module, batch: Batch) -> torch.Tensor:
    r"""Per-unit max-norm as :math:`\sum_j \max(0, \|w_j\| - c)^2`, :math:`w_j` a row of each ``nn.Linear`` weight.

    Its gradient step of size 1/2 is the exact projection onto :math:`\{\|w_j\| \le c\}`
    (``c = MAX_NORM``); see the module docstring.
    """
    total = torch.zeros((), dtype=next(model.parameters()).dtype)
    for module in model.modules():
        if isinstance(module, nn.Linear):
            norms = torch.linalg.vector_norm(module.weight, dim=1)
            total = total + torch.clamp(norms - MAX_NORM, min=0.0).pow(2).sum()
    return total


def input_gradient_penalty(model: nn.Module, batch: Batch) -> torch.Tensor:
    r"""Mean squared input gradient :math:`\frac1m\sum_i\|\nabla_{x_i}\ell_i\|^2` (double backprop).

    :math:`\ell_i` is example i's cross-entropy; the graph of :math:`\nabla_x` is kept
    (``create_graph=True``) so that the penalty can be differentiated again.
    """
    X, y = batch
    X = X.detach().requires_grad_(True)
    losses = nn.functional.cross_entropy(model(X), y, reduction="none")
    (gx,) = torch.autograd.grad(losses.sum(), X, create_graph=True)
    return (gx ** 2).sum(dim=1).mean()


def gradient_norm_penalty(model: nn.Module, batch: Batch) -> torch.Tensor:
    r"""C5, exact: :math:`\|\nabla_\theta L_S(\theta)\|` (the norm, not its square) via ``create_graph``.

    Its gradient is :math:`H g/\|g\|` (:math:`g = \nabla L_S`, :math:`H = \nabla^2 L_S`, :math:`g \ne 0`).
    """
    params = [p for p in model.parameters()]
    grads = torch.autograd.grad(_loss(model, batch), params, create_graph=True)
    return torch.sqrt(sum((g ** 2).sum() for g in grads))  # type: ignore[arg-type]


def gradient_norm_penalty_fd(model: nn.Module, batch: Batch) -> torch.Tensor:
    r"""C5's finite-difference surrogate: :math:`[L_S(\theta + r\hat g) - L_S(\theta)]/r`, :math:`\hat g` held constant.

    Its value is :math:`\|g\| + O(r)` and its autograd gradient is
    :math:`[\nabla L_S(\theta + r\hat g) - \nabla L_S(\theta)]/r = Hg/\|g\| + O(r)`: the
    gradient-norm penalty's gradient as SAM computes it, *without* the
    :math:`\partial\hat g/\partial\theta` term. So autograd's gradient is not the gradient of
    this function: the gradient check reports the O(r) mismatch (``r = FD_RADIUS``).
    """
    params = [p for p in model.parameters()]
    base = _loss(model, batch)
    grads = torch.autograd.grad(base, params, retain_graph=True)
    norm = torch.sqrt(sum((g ** 2).sum() for g in grads))
    shifted = {name: p + FD_RADIUS * g.detach() / norm.detach()
               for (name, p), g in zip(model.named_parameters(), grads)}
    moved = torch.func.functional_call(model, shifted, (batch[0],))
    return (nn.functional.cross_entropy(moved, batch[1]) - base) / FD_RADIUS


def spectral_norm_penalty(model: nn.Module, batch: Batch) -> torch.Tensor:
    r"""Sum of the layers' spectral norms :math:`\sum_t \|W^{(t)}\|_2` (``matrix_norm(ord=2)``).

    Convex; kinked at :math:`W = 0` and wherever the top singular value is repeated.
    """
    return sum(torch.linalg.matrix_norm(m.weight, ord=2) for m in model.modules()  # type: ignore[return-value]
               if isinstance(m, nn.Linear))


def _last_layer_hessian(model: nn.Module, batch: Batch) -> torch.Tensor:
    """The C1 Hessian of the mean cross-entropy w.r.t. the last ``nn.Linear``'s weight, ``(kh, kh)``."""
    X, _ = batch
    if isinstance(model, nn.Sequential) and len(model) > 1:
        features, last = model[:-1](X), model[-1]
    else:
        features, last = X, model[-1] if isinstance(model, nn.Sequential) else model
    a = torch.softmax(last(features), dim=1)
    A = torch.diag_embed(a) - a[:, :, None] * a[:, None, :]
    hh = features[:, :, None] * features[:, None, :]
    k, h = a.shape[1], features.shape[1]
    return torch.einsum("iac,ibe->abce", A, hh).reshape(k * h, k * h) / X.shape[0]


def _numerator(H: torch.Tensor) -> float:
    """:math:`M\\|I\\|^2` with :math:`M = 1` and the identity of H's size."""
    return 1.0 * H.shape[0]


def seed000_as_written(model: nn.Module, batch: Batch) -> torch.Tensor:
    r"""Seed 000 literally: :math:`M\|I\|^2 / \nabla^2_A L`, i.e. :math:`M\|I\|^2 H^{-1}`.

    The inverse is taken only after a rank test (as ``numpy.linalg.matrix_rank`` does):
    :math:`H` is singular for softmax cross-entropy (C1), so this raises
    :class:`torch.linalg.LinAlgError`; even where it did not, it would return a matrix, not a scalar.
    """
    H = _last_layer_hessian(model, batch)
    s = torch.linalg.svdvals(H.detach())
    if float(s[-1]) <= H.shape[0] * torch.finfo(H.dtype).eps * float(s[0]):
        raise torch.linalg.LinAlgError(
            f"∇²_A L is singular (smallest singular value {float(s[-1]):.2e} vs largest {float(s[0]):.2e}, "
            f"size {H.shape[0]}): the softmax cross-entropy Hessian satisfies H(1⊗c) = 0 for every c (C1), "
            "so M‖I‖²/∇²L (a matrix inverse) does not exist")
    return _numerator(H) * torch.linalg.inv(H)


def seed000_trace(model: nn.Module, batch: Batch) -> torch.Tensor:
    r"""Seed 000 scalarized by the trace: :math:`M\|I\|^2/\operatorname{tr}\nabla^2_A L` (rewards curvature)."""
    H = _last_layer_hessian(model, batch)
    return _numerator(H) / torch.diagonal(H).sum()


def seed000_lambda_max(model: nn.Module, batch: Batch) -> torch.Tensor:
    r"""Seed 000 scalarized by the top eigenvalue: :math:`M\|I\|^2/\lambda_{\max}(\nabla^2_A L)` (rewards curvature)."""
    H = _last_layer_hessian(model, batch)
    return _numerator(H) / torch.linalg.eigvalsh(0.5 * (H + H.T))[-1]


def seed000_lambda_min(model: nn.Module, batch: Batch) -> torch.Tensor:
    r"""Seed 000 scalarized by the bottom eigenvalue: :math:`M\|I\|^2/\lambda_{\min}(\nabla^2_A L)`.

    :math:`\lambda_{\min}(H) = 0` exactly for softmax cross-entropy (C1), so the computed value is
    :math:`M\|I\|^2` divided by round-off: unbounded, of either sign.
    """
    H = _last_layer_hessian(model, batch)
    return _numerator(H) / torch.linalg.eigvalsh(0.5 * (H + H.T))[0]


BUILTIN_EXAMPLES: dict[str, Callable[..., torch.Tensor]] = {
    "l2": l2,
    "l1": l1,
    "max_norm": max_norm,
    "input_gradient_penalty": input_gradient_penalty,
    "gradient_norm_penalty": gradient_norm_penalty,
    "gradient_norm_penalty_fd": gradient_norm_penalty_fd,
    "spectral_norm_penalty": spectral_norm_penalty,
    "seed000_as_written": seed000_as_written,
    "seed000_trace": seed000_trace,
    "seed000_lambda_max": seed000_lambda_max,
    "seed000_lambda_min": seed000_lambda_min,
}
