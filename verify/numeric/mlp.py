r"""Functional multilayer perceptrons with one flat parameter vector.

An MLP with widths :math:`(d_0, d_1, \dots, d_l)` (input :math:`d_0`, output
:math:`d_l`, depth :math:`l`) computes, in the notation of claim C3,

.. math::

    h^{(1)} = x, \qquad z^{(t+1)} = W^{(t)} h^{(t)} + b^{(t)}, \qquad
    h^{(t+1)} = g\bigl(z^{(t+1)}\bigr), \qquad t = 1, \dots, l,

with :math:`W^{(t)} \in \mathbb{R}^{d_t \times d_{t-1}}` (``(out, in)``, as
:class:`torch.nn.Linear` stores it). Whether :math:`g` is applied after the last
layer is the keyword ``activate_last``: :func:`mlp_forward` defaults to a linear
last layer (the usual network producing logits), :func:`mlp_layers` to applying
:math:`g` everywhere (the setting of the input/parameter gradient inequality).

All parameters live in one flat vector :math:`\theta` (row-major
:math:`\operatorname{vec} W^{(1)}, b^{(1)}, \operatorname{vec} W^{(2)}, \dots`),
so that gradients, Hessians and HVPs with respect to :math:`\theta` are plain
vectors and matrices. Every function is pure torch and works under
:func:`torch.func.vmap`, :func:`torch.func.grad` and :func:`torch.func.jacfwd`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import torch
import torch.nn.functional as F

from verify.errors import InvalidInputError
from verify.numeric.policy import resolve_device, resolve_dtype

__all__ = [
    "ACTIVATIONS",
    "MLPSpec",
    "activation",
    "flatten",
    "init_params",
    "mlp_forward",
    "mlp_layers",
    "unflatten",
]

Activation = Callable[[torch.Tensor], torch.Tensor]


def _identity(z: torch.Tensor) -> torch.Tensor:
    return z


def _softplus(z: torch.Tensor) -> torch.Tensor:
    # -logsigmoid(-z) = log(1 + e^z), exact in float64 for every z and with finite
    # first and second derivatives everywhere; torch's F.softplus switches to the
    # identity above z = 20 (error e^-20 ~ 2e-9), and logaddexp(z, 0) has a NaN
    # second derivative for z << 0.
    return -F.logsigmoid(-z)


def _gelu(z: torch.Tensor) -> torch.Tensor:
    return F.gelu(z)  # the exact (erf) form, not the tanh approximation


#: The activations by name (read-only). ``relu`` is differentiable only almost
#: everywhere: its second derivative is 0 wherever it exists.
ACTIVATIONS: Mapping[str, Activation] = MappingProxyType({
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "softplus": _softplus,
    "gelu": _gelu,
    "identity": _identity,
    "relu": torch.relu,
})


def activation(name: str) -> Activation:
    r"""The elementwise activation called ``name``.

    Args:
        name: one of :data:`ACTIVATIONS` (``tanh``, ``sigmoid``, ``softplus``
            :math:`\log(1+e^z)`, ``gelu`` (erf form), ``identity``, ``relu``).

    Returns:
        A function ``(...) -> (...)`` applied elementwise.

    Raises:
        InvalidInputError: for an unknown name.

    >>> float(activation("softplus")(torch.tensor(0.0, dtype=torch.float64)))  # log 2
    0.6931471805599453
    """
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise InvalidInputError(
            f"Got activation={name!r}, but valid values are {list(ACTIVATIONS)}."
        ) from None


@dataclass(frozen=True)
class MLPSpec:
    """Architecture of a fully connected network.

    Args:
        widths: ``(d_in, h_1, ..., d_out)``; at least two entries, all ``>= 1``.
        activation: a name from :data:`ACTIVATIONS`.
        bias: whether every layer has a bias (claim C3 needs it).

    Raises:
        InvalidInputError: for fewer than two widths, a width ``< 1``, a non-integer
            width, an unknown activation or a non-boolean ``bias``.

    >>> spec = MLPSpec((3, 4, 2))
    >>> spec.depth, spec.n_params   # 3*4 + 4 + 4*2 + 2
    (2, 26)
    """

    widths: tuple[int, ...]
    activation: str = "tanh"
    bias: bool = True

    def __post_init__(self) -> None:
        widths = self.widths
        if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence):
            raise InvalidInputError(
                f"Got widths={widths!r}, but widths must be a tuple (d_in, h_1, ..., d_out) of "
                "integers, e.g. (3, 16, 1)."
            )
        widths = tuple(widths)
        if len(widths) < 2:
            raise InvalidInputError(
                f"Got widths={widths!r} ({len(widths)} entries), but an MLP needs at least "
                "(d_in, d_out): depth = len(widths) - 1 must be >= 1."
            )
        for i, w in enumerate(widths):
            if isinstance(w, bool) or not isinstance(w, int) or w < 1:
                raise InvalidInputError(
                    f"Got widths[{i}]={w!r} in widths={widths!r}, but every width must be an "
                    "integer >= 1."
                )
        object.__setattr__(self, "widths", widths)
        if self.activation not in ACTIVATIONS:
            raise InvalidInputError(
                f"Got activation={self.activation!r}, but valid values are {list(ACTIVATIONS)}."
            )
        if not isinstance(self.bias, bool):
            raise InvalidInputError(f"Got bias={self.bias!r}, but bias must be True or False.")

    @property
    def depth(self) -> int:
        """Number of linear layers :math:`l`."""
        return len(self.widths) - 1

    @property
    def shapes(self) -> list[tuple[tuple[int, int], tuple[int] | None]]:
        """``[(W shape (out, in), b shape (out,) or None), ...]`` layer by layer."""
        return [
            ((d_out, d_in), (d_out,) if self.bias else None)
            for d_in, d_out in zip(self.widths[:-1], self.widths[1:])
        ]

    @property
    def n_params(self) -> int:
        """Length of the flat parameter vector :math:`\\theta`."""
        return sum(w[0] * w[1] + (b[0] if b else 0) for w, b in self.shapes)


def _check_theta(spec: MLPSpec, theta: torch.Tensor) -> None:
    if not isinstance(theta, torch.Tensor):
        raise InvalidInputError(
            f"Got theta of type {type(theta).__name__}, but theta must be a 1-D torch.Tensor "
            f"of length {spec.n_params}; build one with init_params(spec) or flatten(spec, layers)."
        )
    if theta.dim() != 1 or theta.shape[0] != spec.n_params:
        raise InvalidInputError(
            f"Got theta of shape {tuple(theta.shape)}, but {spec} needs a flat vector of shape "
            f"({spec.n_params},); flatten per-layer tensors with flatten(spec, layers)."
        )


def unflatten(spec: MLPSpec, theta: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """Split a flat parameter vector into per-layer ``(W, b)`` views.

    Args:
        spec: the architecture.
        theta: ``(n_params,)``.

    Returns:
        ``[(W1 (d1, d0), b1 (d1,) or None), ...]``: views of ``theta``, so autograd
        and torch.func transforms flow through them.

    Raises:
        InvalidInputError: if ``theta`` is not a tensor of shape ``(n_params,)``.
    """
    _check_theta(spec, theta)
    # torch.split, not slicing: under vmap(grad) the backward of k slices builds k
    # zero-padded (batch, n) tensors and adds them, the backward of one split is a
    # single cat (measured 10x faster for per-sample gradients).
    pieces = iter(torch.split(theta, _piece_sizes(spec)))
    layers: list[tuple[torch.Tensor, torch.Tensor | None]] = []
    for (d_out, d_in), b_shape in spec.shapes:
        weight = next(pieces).view(d_out, d_in)
        bias = next(pieces) if b_shape is not None else None
        layers.append((weight, bias))
    return layers


def _piece_sizes(spec: MLPSpec) -> list[int]:
    sizes: list[int] = []
    for (d_out, d_in), b_shape in spec.shapes:
        sizes.append(d_out * d_in)
        if b_shape is not None:
            sizes.append(d_out)
    return sizes


def flatten(spec: MLPSpec, layers: Sequence[tuple[torch.Tensor, torch.Tensor | None]]) -> torch.Tensor:
    """Concatenate per-layer ``(W, b)`` into the flat vector (inverse of :func:`unflatten`).

    Args:
        spec: the architecture.
        layers: ``[(W (out, in), b (out,) or None), ...]``, one pair per layer.

    Returns:
        ``theta``: ``(n_params,)``, row-major ``vec W1, b1, vec W2, b2, ...``.

    Raises:
        InvalidInputError: if the number of layers or a shape does not match ``spec``.
    """
    if len(layers) != spec.depth:
        raise InvalidInputError(
            f"Got {len(layers)} layers, but {spec} has depth {spec.depth}: pass one (W, b) pair "
            "per layer."
        )
    parts: list[torch.Tensor] = []
    for t, ((weight, bias), (w_shape, b_shape)) in enumerate(zip(layers, spec.shapes), start=1):
        if tuple(weight.shape) != w_shape:
            raise InvalidInputError(
                f"Got W{t} of shape {tuple(weight.shape)}, but layer {t} of {spec} needs shape "
                f"{w_shape} (out, in) like nn.Linear; transpose it if it is (in, out)."
            )
        parts.append(weight.reshape(-1))
        if b_shape is None:
            if bias is not None:
                raise InvalidInputError(
                    f"Got a bias for layer {t}, but {spec} has bias=False: pass (W, None)."
                )
        else:
            if bias is None or tuple(bias.shape) != b_shape:
                got = None if bias is None else tuple(bias.shape)
                raise InvalidInputError(
                    f"Got b{t} of shape {got}, but layer {t} of {spec} needs a bias of shape {b_shape}."
                )
            parts.append(bias.reshape(-1))
    return torch.cat(parts)


def init_params(spec: MLPSpec, seed: int = 0, dtype: str | torch.dtype = "float64",
                device: str | torch.device = "cpu", scale: float = 1.0) -> torch.Tensor:
    r"""Seeded Glorot-normal parameters.

    Every entry of :math:`W^{(t)}` and :math:`b^{(t)}` is drawn from
    :math:`\mathcal N(0, \sigma_t^2)` with
    :math:`\sigma_t = \text{scale}\cdot\sqrt{2 / (d_{t-1} + d_t)}` (biases are
    random too, so a generic point is not a symmetric one). The numbers are drawn
    on the CPU in float64 from a :class:`torch.Generator` seeded with ``seed`` and
    then cast, so a seed gives the same network on every device and dtype.

    Args:
        spec: the architecture.
        seed: the generator seed.
        dtype: ``"float64"`` (default) or ``"float32"``.
        device: device name (``"cpu"`` default, ``"auto"``, ``"cuda"``).
        scale: multiplies every standard deviation (large scales give saturated,
            strongly curved networks); must be finite and ``>= 0``.

    Returns:
        ``theta``: ``(n_params,)``.

    Raises:
        InvalidInputError: for a bad dtype, device or scale.
    """
    scale = float(scale)
    if not (scale >= 0.0 and scale < float("inf")):
        raise InvalidInputError(f"Got scale={scale!r}, but scale must be finite and >= 0.")
    resolved_dtype = resolve_dtype(dtype)
    resolved_device = resolve_device(device)
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    parts: list[torch.Tensor] = []
    for (d_out, d_in), b_shape in spec.shapes:
        std = scale * (2.0 / (d_in + d_out)) ** 0.5
        parts.append(torch.randn(d_out * d_in, generator=generator, dtype=torch.float64) * std)
        if b_shape is not None:
            parts.append(torch.randn(d_out, generator=generator, dtype=torch.float64) * std)
    return torch.cat(parts).to(dtype=resolved_dtype, device=resolved_device)


def _check_input(spec: MLPSpec, theta: torch.Tensor, x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() not in (1, 2) or x.shape[-1] != spec.widths[0]:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise InvalidInputError(
            f"Got x of shape {shape}, but {spec} takes x of shape ({spec.widths[0]},) or "
            f"(batch, {spec.widths[0]})."
        )
    if x.dtype != theta.dtype:
        raise InvalidInputError(
            f"Got x of dtype {x.dtype} and theta of dtype {theta.dtype}; they must match: "
            f"convert with x.to({theta.dtype})."
        )


def mlp_layers(spec: MLPSpec, theta: torch.Tensor, x: torch.Tensor, *,
               activate_last: bool = True) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    r"""Every layer's input and pre-activation, and the output.

    .. math::

        h^{(1)} = x, \quad z^{(t+1)} = W^{(t)} h^{(t)} + b^{(t)}, \quad
        h^{(t+1)} = g\bigl(z^{(t+1)}\bigr), \quad t = 1, \dots, l.

    With ``activate_last=True`` (the default here: the setting of claim C3, where
    :math:`f` is any scalar function of :math:`h^{(l+1)} = g(z^{(l+1)})`) the
    activation follows the last layer too; with ``False`` the output is
    :math:`h^{(l+1)} = z^{(l+1)}`, the same as :func:`mlp_forward`'s default.

    Args:
        spec: the architecture.
        theta: ``(n_params,)``.
        x: ``(d_in,)`` or ``(batch, d_in)``.
        activate_last: whether :math:`g` follows the last layer too.

    Returns:
        ``(hs, zs)``. ``hs`` has ``spec.depth + 1`` entries: ``hs[t-1]`` is
        :math:`h^{(t)}` of shape ``(..., d_{t-1})``, the input of layer :math:`t`
        for :math:`t = 1, \dots, l`, and ``hs[-1]`` is the output
        :math:`h^{(l+1)}` of shape ``(..., d_out)``. ``zs`` has ``spec.depth``
        entries: ``zs[t-1]`` is :math:`z^{(t+1)}` of shape ``(..., d_t)``.

    Raises:
        InvalidInputError: for a wrong shape or dtype of ``theta`` or ``x``.

    >>> spec = MLPSpec((2, 3, 1))
    >>> hs, zs = mlp_layers(spec, init_params(spec), torch.ones(2, dtype=torch.float64))
    >>> [tuple(h.shape) for h in hs], [tuple(z.shape) for z in zs]
    ([(2,), (3,), (1,)], [(3,), (1,)])
    """
    layers = unflatten(spec, theta)
    _check_input(spec, theta, x)
    g = activation(spec.activation)
    hs: list[torch.Tensor] = [x]
    zs: list[torch.Tensor] = []
    for t, (weight, bias) in enumerate(layers, start=1):
        # F.linear rather than h @ W.T + b: same numbers, but under vmap(grad) its
        # weight gradients come out batch-major, so no transposing copy is needed
        # when they are gathered into per-sample gradients (measured 2x faster).
        z = F.linear(hs[-1], weight, bias)
        zs.append(z)
        hs.append(g(z) if (t < spec.depth or activate_last) else z)
    return hs, zs


def mlp_forward(spec: MLPSpec, theta: torch.Tensor, x: torch.Tensor, *,
                activate_last: bool = False) -> torch.Tensor:
    r"""Output of the network.

    .. math:: f(x) = W^{(l)} g\bigl(\cdots g(W^{(1)} x + b^{(1)}) \cdots\bigr) + b^{(l)}

    The activation follows every hidden layer; the last layer is linear unless
    ``activate_last=True`` (then the output is :math:`g(z^{(l+1)})`, as in
    :func:`mlp_layers`).

    Args:
        spec: the architecture.
        theta: ``(n_params,)``.
        x: ``(d_in,)`` or ``(batch, d_in)``.
        activate_last: apply the activation after the last layer too.

    Returns:
        ``(d_out,)`` or ``(batch, d_out)``.

    Raises:
        InvalidInputError: for a wrong shape or dtype of ``theta`` or ``x``.

    >>> spec = MLPSpec((2, 1), activation="identity")
    >>> theta = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)   # W = [[1, 2]], b = [0.5]
    >>> mlp_forward(spec, theta, torch.tensor([1.0, 1.0], dtype=torch.float64))
    tensor([3.5000], dtype=torch.float64)
    """
    hs, _ = mlp_layers(spec, theta, x, activate_last=activate_last)
    return hs[-1]
