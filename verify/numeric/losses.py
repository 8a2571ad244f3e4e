r"""Numerically stable softmax, log-softmax and cross-entropy (claim C1's loss).

The naive forms :math:`e^{z_j} / \sum_c e^{z_c}` overflow at :math:`z \approx 710`
in float64 and :math:`z \approx 88` in float32. Everything here works with
shifted logits instead:

.. math::

    \operatorname{softmax}(z)_j = \frac{e^{z_j - m}}{\sum_c e^{z_c - m}}, \qquad
    \log\operatorname{softmax}(z)_j = z_j - \operatorname{logsumexp}(z), \qquad
    \operatorname{logsumexp}(z) = m + \log \sum_c e^{z_c - m},

with :math:`m = \max_c z_c`, so logits of size ``1e4`` (float64) or ``1e3``
(float32) give finite values and finite derivatives of every order. The
cross-entropy :math:`\log\sum_c e^{z_c - m} - (z_y - m)` is formed from the
shifted logits too, so two large logits do not cancel catastrophically
(``logsumexp(z) - z_y`` loses ``|z| * eps`` absolutely): it is read off
:func:`torch.log_softmax`, whose fused kernel computes exactly this form (and is
about four times cheaper per call than the same formula in separate ops, which
matters for per-example loops). In :func:`stable_softmax` the shift is excluded
from differentiation: softmax is invariant under it, so this is exact and avoids
the sub-gradient of ``max``.

All functions are pure torch and work under :func:`torch.func.vmap` and
:func:`torch.func.grad` (a single example ``(k,)`` with a 0-d label is fine).
"""

from __future__ import annotations

from typing import Literal

import torch

from verify.errors import InvalidInputError

__all__ = [
    "log_softmax",
    "softmax_cross_entropy",
    "softmax_regression_loss",
    "stable_softmax",
]

Reduction = Literal["mean", "sum", "none"]
_REDUCTIONS = ("mean", "sum", "none")


def _shift(z: torch.Tensor, dim: int) -> torch.Tensor:
    m = torch.amax(z, dim=dim, keepdim=True).detach()
    # an all -inf row (fully masked) would give -inf - -inf = nan: shift by 0 there
    return torch.where(torch.isfinite(m), m, torch.zeros_like(m))


def stable_softmax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    r"""Softmax along ``dim`` computed from shifted logits.

    .. math:: a_j = e^{z_j - m} \big/ \textstyle\sum_c e^{z_c - m}, \quad m = \max_c z_c

    Args:
        z: logits ``(..., k, ...)``.
        dim: the class dimension.

    Returns:
        Probabilities, same shape as ``z``, summing to one along ``dim``.

    >>> stable_softmax(torch.tensor([1e4, 1e4], dtype=torch.float64))
    tensor([0.5000, 0.5000], dtype=torch.float64)
    """
    e = torch.exp(z - _shift(z, dim))
    return e / e.sum(dim=dim, keepdim=True)


def log_softmax(z: torch.Tensor, dim: int = -1) -> torch.Tensor:
    r"""Log-softmax :math:`(z_j - m) - \log\sum_c e^{z_c - m}` along ``dim`` (:math:`m = \max_c z_c`).

    Args:
        z: logits ``(..., k, ...)``.
        dim: the class dimension.

    Returns:
        Log-probabilities, same shape as ``z`` (finite for finite ``z``).

    >>> log_softmax(torch.tensor([0.0, 0.0], dtype=torch.float64))
    tensor([-0.6931, -0.6931], dtype=torch.float64)
    """
    # torch's kernel computes exactly (z - m) - log(sum(exp(z - m))) in one fused pass
    return torch.log_softmax(z, dim=dim)


def _check_labels(logits: torch.Tensor, labels: torch.Tensor) -> None:
    if not isinstance(labels, torch.Tensor) or labels.dtype.is_floating_point or labels.dtype.is_complex \
            or labels.dtype == torch.bool:
        got = labels.dtype if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise InvalidInputError(
            f"Got labels of type {got}, but labels must be an integer tensor of class indices "
            "in [0, k); convert with labels.long()."
        )
    if logits.dim() < 1 or tuple(labels.shape) != tuple(logits.shape[:-1]):
        raise InvalidInputError(
            f"Got logits of shape {tuple(logits.shape)} and labels of shape {tuple(labels.shape)}, "
            "but labels must have the shape of logits without its last (class) dimension: "
            "logits (m, k) with labels (m,), or logits (k,) with a 0-d label."
        )
    k = logits.shape[-1]
    if labels.numel() == 0:
        return
    try:
        low, high = torch.aminmax(labels)
        bad = int(low) < 0 or int(high) >= k
    except RuntimeError:
        # inside torch.func.vmap the values are not concrete: skip the range check
        # (gather still raises for an out-of-range index on the CPU)
        return
    if bad:
        raise InvalidInputError(
            f"Got labels with values {sorted(set(labels.reshape(-1).tolist()))[:10]}, but with "
            f"k={k} classes valid labels are 0..{k - 1}."
        )


def softmax_cross_entropy(logits: torch.Tensor, labels: torch.Tensor,
                          reduction: Reduction = "mean") -> torch.Tensor:
    r"""Cross-entropy of softmax, :math:`\ell_i = \log\sum_c e^{z_{ic} - m_i} - (z_{i,y_i} - m_i)`.

    This is :math:`\operatorname{logsumexp}(z_i) - z_{i,y_i}` evaluated without
    cancellation (:math:`m_i = \max_c z_{ic}`).

    Args:
        logits: ``(m, k)`` or ``(k,)`` (more leading dimensions are allowed).
        labels: integer class indices, shape ``logits.shape[:-1]``.
        reduction: ``"mean"`` over all examples (default), ``"sum"``, or
            ``"none"`` for the per-example losses of shape ``logits.shape[:-1]``.

    Returns:
        A 0-d tensor, or ``logits.shape[:-1]`` for ``reduction="none"``.

    Raises:
        InvalidInputError: for an unknown reduction, non-integer labels, a shape
            mismatch or labels outside ``[0, k)``.

    >>> z = torch.tensor([[1e4, 0.0], [0.0, 0.0]], dtype=torch.float64)
    >>> softmax_cross_entropy(z, torch.tensor([0, 1]), reduction="none")
    tensor([0.0000, 0.6931], dtype=torch.float64)
    """
    if reduction not in _REDUCTIONS:
        raise InvalidInputError(
            f"Got reduction={reduction!r}, but valid values are {list(_REDUCTIONS)}."
        )
    _check_labels(logits, labels)
    # -log_softmax(z)_y = log(sum(exp(z - m))) - (z_y - m): z_y - m is exact near the max
    # (Sterbenz), so two large logits do not cancel
    # (0 - x rather than -x: a loss of exactly 0 is +0.0, not -0.0, in reports)
    losses = 0.0 - torch.gather(log_softmax(logits, dim=-1), -1, labels.unsqueeze(-1)).squeeze(-1)
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def softmax_regression_loss(W: torch.Tensor, X: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
    r"""Mean softmax cross-entropy of a linear classifier (claim C1).

    .. math:: L(W) = -\frac1m \sum_{i=1}^m \log \operatorname{softmax}(W x_i)_{y_i},
              \qquad W \in \mathbb{R}^{k \times d}

    Args:
        W: ``(k, d)`` or the flat row-major vector ``(k * d,)`` (``W.reshape(-1)``).
        X: ``(m, d)`` rows :math:`x_i` (or one example ``(d,)``).
        y: integer labels ``(m,)`` (or 0-d for one example).
        k: number of classes.

    Returns:
        The 0-d mean loss.

    Raises:
        InvalidInputError: if ``k < 1`` or ``W`` does not hold ``k * d`` entries, or
            for bad labels (see :func:`softmax_cross_entropy`).

    >>> X = torch.ones(3, 2, dtype=torch.float64)
    >>> float(softmax_regression_loss(torch.zeros(4, dtype=torch.float64), X, torch.tensor([0, 1, 1]), 2))
    0.6931471805599453
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidInputError(f"Got k={k!r}, but the number of classes k must be an integer >= 1.")
    if X.dim() not in (1, 2):
        raise InvalidInputError(
            f"Got X of shape {tuple(X.shape)}, but X must be (m, d) or one example (d,)."
        )
    d = X.shape[-1]
    if W.numel() != k * d or W.dim() not in (1, 2) or (W.dim() == 2 and tuple(W.shape) != (k, d)):
        raise InvalidInputError(
            f"Got W of shape {tuple(W.shape)}, but with k={k} classes and X of shape "
            f"{tuple(X.shape)} (d={d}) W must be ({k}, {d}) or flat ({k * d},)."
        )
    logits = X @ W.reshape(k, d).T
    return softmax_cross_entropy(logits, y, reduction="mean")
