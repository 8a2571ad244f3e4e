r"""Derivative oracles: gradients, dense Hessians and two HVP routes (per-example gradients: :mod:`.per_example`).

For a scalar function :math:`f:\mathbb{R}^n \to \mathbb{R}` of a flat parameter
vector :math:`\theta` this module computes

* :math:`\nabla f(\theta)` (reverse mode);
* the dense Hessian :math:`\nabla^2 f(\theta)` (:func:`torch.func.hessian`,
  forward-over-reverse Jacobian of the gradient), for small :math:`n`;
* Hessian-vector products :math:`H v` by two *independent* routes, as the
  numerics policy asks for every second-order quantity:

  - forward over reverse: :math:`Hv = \frac{d}{d\varepsilon}\nabla f(\theta + \varepsilon v)\big|_0`
    (the reverse-mode gradient on :mod:`torch.autograd.forward_ad` dual numbers; :func:`torch.func.jvp` of
    :func:`torch.func.grad` inside a transform: the same formulas, the same bits);
  - double backward: :math:`Hv = \nabla_\theta \bigl(\nabla f(\theta)^\top v\bigr)`
    (:func:`torch.autograd.grad` with ``create_graph=True``, ``v`` held constant).

The user's function must return a scalar (a 0-d tensor or one element); anything
else, or an exception inside it, becomes a :class:`~verify.errors.UserCodeError`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Literal

import torch
import torch.autograd.forward_ad as fwAD
from torch.func import grad, hessian, jvp

from verify.errors import InvalidInputError, UserCodeError
from verify.numeric.policy import _quiet_torch_func

__all__ = ["dense_hessian", "gradient", "hvp_double_backward", "hvp_forward_over_reverse", "hvp_operator",
           "hvp_products"]

ScalarFn = Callable[[torch.Tensor], torch.Tensor]
Route = Literal["fwd_rev", "double_backward"]
_ROUTES = ("fwd_rev", "double_backward")
#: the message of torch's forward-AD failure that the double-backward route does not have
_FWD_AD_BUG = "ZeroTensors are immutable"
#: dual numbers do not nest: an f that runs forward mode itself gets torch.func's jvp, which does
_NESTED_FWD_AD = "Nested forward mode AD is not supported"
#: id(f) -> weak reference to each f whose forward-over-reverse HVP hit that failure
_FALLBACK: dict[int, weakref.ref] = {}


def _is_fwd_ad_bug(exc: BaseException) -> bool:
    """Torch's own failure, not the user's code (that is a UserCodeError, itself a RuntimeError)."""
    return isinstance(exc, RuntimeError) and not isinstance(exc, UserCodeError) and _FWD_AD_BUG in str(exc)


def _remember_fallback(f: object) -> None:
    key = id(f)

    def forget(ref: weakref.ref, key: int = key) -> None:
        if _FALLBACK.get(key) is ref:
            del _FALLBACK[key]

    try:
        _FALLBACK[key] = weakref.ref(f, forget)
    except TypeError:  # not weak-referenceable: not remembered (the next call retries forward mode)
        pass


def _falls_back(f: object) -> bool:
    ref = _FALLBACK.get(id(f))
    return ref is not None and ref() is f  # identity, not equality: an id can be reused


def _check_autograd_on() -> None:
    """Inside ``torch.inference_mode()`` autograd records nothing, so every derivative would come out 0."""
    if torch.is_inference_mode_enabled():
        raise InvalidInputError("Derivatives were asked for inside torch.inference_mode(), where autograd records "
                                "nothing (every gradient and Hessian-vector product would be 0). Fix: call outside "
                                "inference_mode (torch.no_grad() around it is fine).")


def _check_theta(theta: torch.Tensor) -> None:
    _check_autograd_on()
    if not isinstance(theta, torch.Tensor) or theta.dim() != 1 or not theta.dtype.is_floating_point:
        got = f"shape {tuple(theta.shape)}, dtype {theta.dtype}" if isinstance(theta, torch.Tensor) \
            else f"type {type(theta).__name__}"
        raise InvalidInputError(
            f"Got theta of {got}, but theta must be a 1-D floating-point tensor (n,); "
            "flatten the parameters first (e.g. verify.numeric.flatten)."
        )


def _check_vector(theta: torch.Tensor, v: torch.Tensor) -> None:
    _check_autograd_on()
    if not isinstance(v, torch.Tensor) or v.shape != theta.shape:
        got = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
        raise InvalidInputError(
            f"Got v of shape {got}, but it must have the shape of theta {tuple(theta.shape)}."
        )
    if v.dtype != theta.dtype or v.device != theta.device:
        raise InvalidInputError(
            f"Got v with dtype {v.dtype} on {v.device}, but theta has dtype {theta.dtype} on "
            f"{theta.device}: convert with v.to(theta)."
        )


def _scalar(f: Callable[..., torch.Tensor], name: str = "f") -> Callable[..., torch.Tensor]:
    """Wrap ``f`` so that a non-scalar result or an exception is a UserCodeError."""

    def wrapped(*args: torch.Tensor) -> torch.Tensor:
        try:
            out = f(*args)
        except (InvalidInputError, UserCodeError):
            raise
        except Exception as exc:  # the user's code raised: say so, keep the cause
            raise UserCodeError(
                f"{name} raised {type(exc).__name__} on arguments of shapes "
                f"{[tuple(getattr(a, 'shape', ())) for a in args]}: {exc}"
            ) from exc
        if not isinstance(out, torch.Tensor) or out.numel() != 1:
            got = f"shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else f"type {type(out).__name__}"
            raise UserCodeError(
                f"{name} returned a value of {got}, but it must return a scalar tensor "
                "(reduce the loss with .mean() or .sum())."
            )
        return out.reshape(())

    return wrapped


def gradient(f: ScalarFn, theta: torch.Tensor) -> torch.Tensor:
    r"""Gradient :math:`\nabla f(\theta)` (``(n,)``, zeros where ``f`` does not depend on ``theta``) by reverse mode.

    Outside any :mod:`torch.func` transform, for a ``theta`` not itself being differentiated, one
    :func:`torch.autograd.grad` on a detached leaf: the backward pass of :func:`torch.func.grad` with a third
    of its overhead on small networks. Inside a transform, :func:`torch.func.grad`, which composes with it.

    Raises InvalidInputError for a ``theta`` that is not a 1-D floating tensor, UserCodeError where ``f`` raises
    or does not return a scalar.

    >>> gradient(lambda t: (t ** 2).sum(), torch.tensor([1.0, -2.0], dtype=torch.float64))
    tensor([ 2., -4.], dtype=torch.float64)
    """
    _check_theta(theta)
    if theta.requires_grad or torch._C._functorch.maybe_current_level() is not None:
        with _quiet_torch_func():
            return grad(_scalar(f))(theta)
    leaf = theta.detach().requires_grad_(True)
    with torch.enable_grad():
        out = _scalar(f)(leaf)
        g = torch.autograd.grad(out, leaf, allow_unused=True)[0] if out.requires_grad else None
    return torch.zeros_like(theta) if g is None else g


def dense_hessian(f: ScalarFn, theta: torch.Tensor) -> torch.Tensor:
    r"""Dense Hessian :math:`\nabla^2 f(\theta)` by :func:`torch.func.hessian` (forward over reverse).

    Costs about :math:`n` forward-mode passes of the gradient: for small ``n`` only.
    The result is not symmetrized (its asymmetry is round-off evidence).

    Args:
        f: scalar function of ``theta``.
        theta: ``(n,)``.

    Returns:
        ``(n, n)``.

    Raises:
        InvalidInputError: if ``theta`` is not a 1-D floating tensor.
        UserCodeError: if ``f`` raises or does not return a scalar.

    >>> dense_hessian(lambda t: t[0] ** 2 * t[1], torch.tensor([1.0, 3.0], dtype=torch.float64))
    tensor([[6., 2.],
            [2., 0.]], dtype=torch.float64)
    """
    _check_theta(theta)
    with _quiet_torch_func():
        return hessian(_scalar(f))(theta)


def hvp_forward_over_reverse(f: ScalarFn, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    r"""Hessian-vector product :math:`Hv` as the directional derivative of the gradient.

    .. math:: H v = \frac{d}{d\varepsilon} \nabla f(\theta + \varepsilon v) \Big|_{\varepsilon=0}

    computed by one forward-mode pass through the backward pass (dual numbers, or
    :func:`torch.func.jvp` of :func:`torch.func.grad` inside a transform or where ``f`` runs forward mode itself).
    Like double backward it differentiates what autograd records: code that leaves the graph (``.detach()``,
    ``.data``) is invisible to both routes. If torch's forward mode raises
    ``ZeroTensors are immutable`` on ``f`` (``F.mse_loss`` with the default
    ``reduction="mean"``, torch 2.13), the product is computed by double backward
    as in :func:`hvp_double_backward` (then not an independent check of it), and
    later calls with the same ``f`` go there directly;
    ``hvp_forward_over_reverse.last_route`` says which route the last call ran.

    Args:
        f: scalar function of ``theta``.
        theta: ``(n,)``.
        v: ``(n,)``, same dtype and device as ``theta``.

    Returns:
        ``(n,)``.

    Raises:
        InvalidInputError: for a bad ``theta`` or ``v``.
        UserCodeError: if ``f`` raises or does not return a scalar.

    >>> t = torch.tensor([1.0, 3.0], dtype=torch.float64)
    >>> hvp_forward_over_reverse(lambda t: t[0] ** 2 * t[1], t, torch.tensor([1.0, 0.0], dtype=torch.float64))
    tensor([6., 2.], dtype=torch.float64)
    """
    _check_theta(theta)
    _check_vector(theta, v)
    op = _HVPOperator(f, theta, "fwd_rev")
    try:
        return op(v)
    finally:
        hvp_forward_over_reverse.last_route = op.route


hvp_forward_over_reverse.last_route = "fwd_rev"


def _dual_product(f: ScalarFn, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Hv by forward over reverse on dual numbers θ + εv (:mod:`torch.autograd.forward_ad`): the products of
    ``torch.func.jvp`` of ``torch.func.grad``, bit for bit, without functorch's layers (a third of the time on small
    networks, where tensors without a tangent would otherwise run ZeroTensor kernels)."""
    with _quiet_torch_func(), fwAD.dual_level(), torch.enable_grad():
        leaf = theta.detach().requires_grad_(True)
        out = _scalar(f)(fwAD.make_dual(leaf, v))
        g = torch.autograd.grad(out, leaf, allow_unused=True)[0] if out.requires_grad else None
        tangent = None if g is None else fwAD.unpack_dual(g).tangent
    return torch.zeros_like(theta) if tangent is None else tangent.detach()


def _graph_of_gradient(f: ScalarFn, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(leaf, g)`` with ``g = grad f(leaf)`` carrying its own graph, or ``g=None`` if f is affine."""
    leaf = theta.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = _scalar(f)(leaf)
        if not loss.requires_grad:  # f does not depend on theta: H = 0
            return leaf, None
        (g,) = torch.autograd.grad(loss, leaf, create_graph=True, allow_unused=True)
    if g is None or not g.requires_grad:  # f is affine in theta: H = 0
        return leaf, None
    return leaf, g


def _double_backward_product(leaf: torch.Tensor, g: torch.Tensor | None, v: torch.Tensor) -> torch.Tensor:
    if g is None:
        return torch.zeros_like(leaf).detach()
    (hv,) = torch.autograd.grad(g, leaf, grad_outputs=v, retain_graph=True, allow_unused=True)
    return torch.zeros_like(leaf).detach() if hv is None else hv.detach()


def hvp_double_backward(f: ScalarFn, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    r"""Hessian-vector product :math:`Hv` by double backward (Pearlmutter's trick in reverse mode).

    .. math:: H v = \nabla_\theta \bigl( \nabla f(\theta)^\top v \bigr), \quad v \text{ held constant}

    computed with :func:`torch.autograd.grad` twice (``create_graph=True`` on the
    first). Independent of :func:`hvp_forward_over_reverse`: no forward mode.

    Args:
        f: scalar function of ``theta``.
        theta: ``(n,)``; it is detached, so the result carries no graph.
        v: ``(n,)``, same dtype and device as ``theta``.

    Returns:
        ``(n,)`` (zeros where ``f`` is affine in ``theta``).

    Raises:
        InvalidInputError: for a bad ``theta`` or ``v``.
        UserCodeError: if ``f`` raises or does not return a scalar.

    >>> t = torch.tensor([1.0, 3.0], dtype=torch.float64)
    >>> hvp_double_backward(lambda t: t[0] ** 2 * t[1], t, torch.tensor([1.0, 0.0], dtype=torch.float64))
    tensor([6., 2.], dtype=torch.float64)
    """
    _check_theta(theta)
    _check_vector(theta, v)
    leaf, g = _graph_of_gradient(f, theta)
    return _double_backward_product(leaf, g, v)


def hvp_operator(f: ScalarFn, theta: torch.Tensor, route: Route = "fwd_rev") -> Callable[[torch.Tensor], torch.Tensor]:
    r"""The map :math:`v \mapsto \nabla^2 f(\theta)\, v` at a fixed ``theta``, for many products.

    ``route="double_backward"`` builds the graph of :math:`g = \nabla f(\theta)`
    once and differentiates :math:`g^\top v` for each ``v`` (one backward pass per
    product, the forward and first backward pass are shared). ``route="fwd_rev"``
    runs one forward-mode pass through the gradient per product (as
    :func:`hvp_forward_over_reverse`; nothing can be shared across tangents without tracing); where torch's
    forward mode fails on
    ``f`` (see :func:`hvp_forward_over_reverse`) it falls back to double backward
    for the rest of its products. The operator's ``route`` attribute is the
    route its products run by.

    Args:
        f: scalar function of ``theta``.
        theta: ``(n,)``; held fixed (a copy is not taken: do not modify it in place).
        route: ``"fwd_rev"`` (default) or ``"double_backward"``.

    Returns:
        A function ``(n,) -> (n,)``, suitable as ``matvec`` for
        :func:`verify.numeric.extreme_eigenvalue`.

    Raises:
        InvalidInputError: for an unknown route or a bad ``theta`` (and, when the
            operator is called, a ``v`` of the wrong shape, dtype or device).
        UserCodeError: if ``f`` raises or does not return a scalar.
    """
    if route not in _ROUTES:
        raise InvalidInputError(f"Got route={route!r}, but valid values are {list(_ROUTES)}.")
    _check_theta(theta)
    return _HVPOperator(f, theta, route)


_PRODUCTS = [0]  # Hessian-vector products computed by operators in this process (for benchmarks)


def hvp_products() -> int:
    """How many products :func:`hvp_operator`'s operators have computed in this process so far."""
    return _PRODUCTS[0]


class _HVPOperator:
    """``v -> Hv`` by ``route``; ``"fwd_rev"`` switches to double backward for good on torch's forward-AD bug."""

    def __init__(self, f: ScalarFn, theta: torch.Tensor, route: Route) -> None:
        self._f, self._theta = f, theta
        self.route: Route = "double_backward" if _falls_back(f) else route
        self._graph = _graph_of_gradient(f, theta) if self.route == "double_backward" else None
        self._grad_f = grad(_scalar(f))

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        _check_vector(self._theta, v)
        _PRODUCTS[0] += 1
        if self.route == "fwd_rev":
            try:
                if not (v.requires_grad or self._theta.requires_grad
                        or torch._C._functorch.maybe_current_level() is not None):
                    try:
                        return _dual_product(self._f, self._theta, v)
                    except UserCodeError as exc:  # f runs forward mode itself: dual numbers do not nest
                        if _NESTED_FWD_AD not in str(exc):
                            raise
                with _quiet_torch_func():  # inside a transform (vmap over v, say): torch.func composes with it
                    return jvp(self._grad_f, (self._theta,), (v,))[1]
            except RuntimeError as exc:
                if not _is_fwd_ad_bug(exc):
                    raise
                _remember_fallback(self._f)
                self.route = "double_backward"
        if self._graph is None:
            self._graph = _graph_of_gradient(self._f, self._theta)
        return _double_backward_product(*self._graph, v)

    def __repr__(self) -> str:
        return f"<Hessian-vector operator, route {self.route!r}>"
