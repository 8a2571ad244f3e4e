r"""Finite differences: gradients, directional derivatives and Hessian-vector products.

These are the *formulas under test* of claim C5 (the FD Hessian-vector product of
the gradient-norm penalty) and a derivative-free cross-check of autograd. Their
error has two parts, truncation and round-off. For a step :math:`r`, a function
value of size :math:`|f|` and unit round-off :math:`u`:

.. math::

    \text{forward:}\quad
    \Bigl|\frac{f(\theta + r v) - f(\theta)}{r} - \nabla f^\top v\Bigr|
    \approx \frac r2 |f''| + \frac{2u|f|}{r} = O(r) + O(u/r),
    \qquad r^\star \propto \sqrt u,

    \text{central:}\quad
    \Bigl|\frac{f(\theta + r v) - f(\theta - r v)}{2r} - \nabla f^\top v\Bigr|
    \approx \frac{r^2}6 |f'''| + \frac{u|f|}{r} = O(r^2) + O(u/r),
    \qquad r^\star \propto u^{1/3},

(:math:`f''`, :math:`f'''` along :math:`v`). The same holds for the HVP with
:math:`f` replaced by :math:`\nabla f`: :math:`Hv = [\nabla f(\theta + rv) -
\nabla f(\theta)]/r + O(r)`, exact for a quadratic. In float64,
:math:`\sqrt u \approx 1.5\cdot10^{-8}` and :math:`u^{1/3} \approx 6\cdot10^{-6}`;
tolerances for FD results must come from this model, never from a fixed number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch

from verify.errors import InvalidInputError, UserCodeError
from verify.numeric.policy import resolve_dtype

__all__ = [
    "fd_directional",
    "fd_gradient",
    "fd_hvp",
    "fd_step",
    "roundoff_spread",
]

Scheme = Literal["forward", "central"]
_SCHEMES = ("forward", "central")


def _check_scheme(scheme: str) -> None:
    if scheme not in _SCHEMES:
        raise InvalidInputError(f"Got scheme={scheme!r}, but valid values are {list(_SCHEMES)}.")


def fd_step(dtype: str | torch.dtype, scheme: Scheme = "central", scale: float = 1.0) -> float:
    r"""The step that balances truncation and round-off error for ``dtype``.

    .. math:: r_{\text{forward}} = \sqrt{u}\cdot\text{scale}, \qquad
              r_{\text{central}} = u^{1/3}\cdot\text{scale}

    (:math:`u` the machine epsilon of ``dtype``; ``scale`` the size over which the
    function changes, e.g. :math:`\max(1, \|\theta\|_\infty)`).

    Args:
        dtype: ``"float64"``/``"float32"`` or the torch dtype.
        scheme: ``"central"`` (default) or ``"forward"``.
        scale: positive factor applied to the step.

    Returns:
        The step :math:`r`.

    Raises:
        InvalidInputError: for a bad dtype, scheme or scale.

    >>> fd_step("float64", "forward") == 2.0 ** -26
    True
    """
    _check_scheme(scheme)
    scale = float(scale)
    if not (scale > 0.0 and math.isfinite(scale)):
        raise InvalidInputError(f"Got scale={scale!r}, but the step scale must be finite and > 0.")
    eps = torch.finfo(resolve_dtype(dtype)).eps
    return (math.sqrt(eps) if scheme == "forward" else eps ** (1.0 / 3.0)) * scale


def _resolve_step(theta: torch.Tensor, step: float | None, scheme: str) -> float:
    _check_scheme(scheme)
    if step is None:
        return fd_step(theta.dtype, scheme)
    step = float(step)
    if not (step > 0.0 and math.isfinite(step)):
        raise InvalidInputError(f"Got step={step!r}, but the step must be finite and > 0 (or None for fd_step).")
    return step


def _check_theta(theta: torch.Tensor, v: torch.Tensor | None = None) -> None:
    if not isinstance(theta, torch.Tensor) or theta.dim() != 1 or not theta.dtype.is_floating_point:
        got = tuple(theta.shape) if isinstance(theta, torch.Tensor) else type(theta).__name__
        raise InvalidInputError(f"Got theta of shape {got}, but theta must be a 1-D floating tensor (n,).")
    if v is not None and (not isinstance(v, torch.Tensor) or v.shape != theta.shape):
        got = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
        raise InvalidInputError(f"Got v of shape {got}, but it must have the shape of theta {tuple(theta.shape)}.")


def _value(f: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor) -> torch.Tensor:
    out = f(theta)
    if not isinstance(out, torch.Tensor) or out.numel() != 1:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise UserCodeError(f"f returned {got}, but it must return a scalar tensor.")
    return out.detach().reshape(())


def _vector(grad_fn: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor) -> torch.Tensor:
    out = grad_fn(theta)
    if not isinstance(out, torch.Tensor) or out.shape != theta.shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise UserCodeError(
            f"grad_fn returned {got}, but it must return the gradient, shape {tuple(theta.shape)}."
        )
    return out.detach()


def fd_gradient(f: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor, *,
                step: float | None = None, scheme: Scheme = "central") -> torch.Tensor:
    r"""Gradient by coordinate-wise finite differences.

    .. math:: \partial_i f \approx \frac{f(\theta + r e_i) - f(\theta - r e_i)}{2r}
              \quad\text{or}\quad \frac{f(\theta + r e_i) - f(\theta)}{r}

    The divisor is the step actually taken after rounding :math:`\theta_i \pm r`
    (so the error is the one of the model, not of representing :math:`r`).

    Args:
        f: scalar function of ``theta``.
        theta: ``(n,)``.
        step: :math:`r`; default :func:`fd_step` for ``theta``'s dtype and ``scheme``.
        scheme: ``"central"`` (default, :math:`2n` evaluations) or ``"forward"`` (:math:`n+1`).

    Returns:
        ``(n,)``.

    Raises:
        InvalidInputError: for a bad ``theta``, step or scheme.
        UserCodeError: if ``f`` does not return a scalar.

    >>> t = torch.tensor([1.0, 2.0], dtype=torch.float64)
    >>> torch.allclose(fd_gradient(lambda t: (t ** 2).sum(), t), 2 * t)
    True
    """
    _check_theta(theta)
    r = _resolve_step(theta, step, scheme)
    base = theta.detach()
    f0 = _value(f, base) if scheme == "forward" else None
    out = torch.empty_like(base)
    for i in range(base.shape[0]):
        plus = base.clone()
        plus[i] = base[i] + r
        if scheme == "forward":
            out[i] = (_value(f, plus) - f0) / (plus[i] - base[i])
        else:
            minus = base.clone()
            minus[i] = base[i] - r
            out[i] = (_value(f, plus) - _value(f, minus)) / (plus[i] - minus[i])
    return out


def fd_directional(f: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor, v: torch.Tensor, *,
                   step: float | None = None, scheme: Scheme = "central") -> torch.Tensor:
    r"""Directional derivative :math:`\nabla f(\theta)^\top v` by finite differences.

    .. math:: \nabla f^\top v \approx \frac{f(\theta + r v) - f(\theta - r v)}{2r}
              \quad\text{or}\quad \frac{f(\theta + r v) - f(\theta)}{r}

    The displacement is :math:`r\|v\|`: the error model assumes :math:`\|v\| \approx 1`.

    Args:
        f: scalar function of ``theta``.
        theta: ``(n,)``.
        v: direction ``(n,)``.
        step: :math:`r`; default :func:`fd_step`.
        scheme: ``"central"`` (default) or ``"forward"``.

    Returns:
        A 0-d tensor.

    Raises:
        InvalidInputError: for bad ``theta``, ``v``, step or scheme.
        UserCodeError: if ``f`` does not return a scalar.
    """
    _check_theta(theta, v)
    r = _resolve_step(theta, step, scheme)
    base, direction = theta.detach(), v.detach()
    if scheme == "forward":
        return (_value(f, base + r * direction) - _value(f, base)) / r
    return (_value(f, base + r * direction) - _value(f, base - r * direction)) / (2 * r)


def fd_hvp(grad_fn: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor, v: torch.Tensor, *,
           step: float | None = None, scheme: Scheme = "central") -> torch.Tensor:
    r"""Hessian-vector product by finite differences of the gradient (claim C5).

    .. math:: Hv \approx \frac{\nabla f(\theta + r v) - \nabla f(\theta - r v)}{2r}
              \quad\text{or}\quad \frac{\nabla f(\theta + r v) - \nabla f(\theta)}{r}

    Error :math:`O(r^2) + O(u/r)` (central) or :math:`O(r) + O(u/r)` (forward);
    exact up to round-off for a quadratic :math:`f`.

    Args:
        grad_fn: ``(n,) -> (n,)``, the gradient of the loss (e.g. ``lambda t: gradient(f, t)``).
        theta: ``(n,)``.
        v: direction ``(n,)`` (the error model assumes :math:`\|v\| \approx 1`).
        step: :math:`r`; default :func:`fd_step`.
        scheme: ``"central"`` (default) or ``"forward"``.

    Returns:
        ``(n,)``.

    Raises:
        InvalidInputError: for bad ``theta``, ``v``, step or scheme.
        UserCodeError: if ``grad_fn`` returns a wrong shape.

    >>> A = torch.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=torch.float64)
    >>> hv = fd_hvp(lambda t: A @ t, torch.zeros(2, dtype=torch.float64),
    ...             torch.tensor([1.0, 0.0], dtype=torch.float64), scheme="forward")
    >>> torch.allclose(hv, A[:, 0], rtol=0, atol=1e-8)
    True
    """
    _check_theta(theta, v)
    r = _resolve_step(theta, step, scheme)
    base, direction = theta.detach(), v.detach()
    if scheme == "forward":
        return (_vector(grad_fn, base + r * direction) - _vector(grad_fn, base)) / r
    return (_vector(grad_fn, base + r * direction) - _vector(grad_fn, base - r * direction)) / (2 * r)


def roundoff_spread(f: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor, *, points: int = 9,
                    seed: int = 0, direction: torch.Tensor | None = None,
                    batched: Callable[[torch.Tensor], torch.Tensor] | None = None) -> float:
    r"""The round-off noise of ``f`` near ``theta``, measured from a difference table (Moré & Wild's ECnoise).

    ``f`` is evaluated at ``points`` equally spaced points :math:`\theta + (i - \tfrac{p-1}2)\,h\,v`
    along ``direction`` (default a seeded unit direction), :math:`h = u^{1/3}\max(\|\theta\|, 1)`; the k-th
    differences of these values cancel the smooth part (:math:`O(h^k)`) and leave the noise, whose standard
    deviation is :math:`\sigma_k = \sqrt{\gamma_k \operatorname{mean}_i (\Delta^k f_i)^2}`,
    :math:`\gamma_k = (k!)^2/(2k)!`. Returns the median of :math:`\sigma_4, \sigma_5, \sigma_6`; for a
    tensor-valued ``f`` (a gradient), of the largest entry's. For a model whose round-off has no formula
    (LayerNorm, attention, a user's module), this is the noise floor a comparison of values of ``f`` must allow.

    ``batched``, if given, is ``f`` over a stack of points in one call (``torch.func.vmap(f)``, say): the noise
    is then that of the batched evaluation, for callers that evaluate ``f`` that way.

    Reference: J. J. Moré and S. M. Wild, "Estimating computational noise", SIAM J. Sci. Comput. 33(3), 2011.
    """
    u = float(torch.finfo(theta.dtype).eps)
    h = u ** (1 / 3) * max(float(torch.linalg.vector_norm(theta)), 1.0)
    if direction is None:
        gen = torch.Generator().manual_seed(seed)
        direction = torch.randn(theta.numel(), generator=gen, dtype=torch.float64)
    v = (direction / torch.linalg.vector_norm(direction)).to(theta)
    offsets = [i - (points - 1) / 2 for i in range(points)]
    with torch.no_grad():
        at = [theta + (t * h) * v for t in offsets]
        if batched is not None:
            table = torch.as_tensor(batched(torch.stack(at))).detach().double().cpu().reshape(points, -1)
        else:
            table = torch.stack([torch.as_tensor(f(x)).detach().double().cpu().reshape(-1) for x in at])
    sigmas = []
    for k in range(1, 7):
        table = table[1:] - table[:-1]
        if k >= 4:
            gamma = math.factorial(k) ** 2 / math.factorial(2 * k)
            sigmas.append(float(torch.sqrt(gamma * (table ** 2).mean(dim=0)).max()))
    return sorted(sigmas)[1]
