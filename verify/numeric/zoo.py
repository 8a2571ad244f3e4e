r"""The networks of :func:`verify.modules` built as ``nn.Module`` s, and :func:`functional` for a case or a model.

A case carries an architecture name, a spec and named parameters (see ``verify.strategies.ModuleCase``);
:func:`build_module` makes the module, :func:`module_from_case` loads the case's parameters into it, and
:func:`functional` gives the :class:`~verify.numeric.FunctionalModel` (loss, gradient, Hessian-vector
products, per-example gradients, :math:`\lambda_{\max}`) of a case, or of any module with a batch.

Two layers are written out instead of taken from ``torch.nn``, computing the same function with the same
parameter names: ``LayerNorm`` (torch 2.13's ``nn.LayerNorm`` has a wrong third derivative on the CPU,
18–25 % off in a double-backprop penalty's Hessian-vector products — the claims over modules differentiate
the loss up to four times) and ``SelfAttention`` (``nn.MultiheadAttention``'s parameter layout, by its
formula: no fused kernel, any derivative order, the same numbers on every device).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from verify.errors import InvalidInputError
from verify.numeric.module import FunctionalModel

__all__ = ["LayerNorm", "SelfAttention", "build_module", "functional", "module_from_case"]

class Softplus(nn.Module):
    """log(1 + eᶻ) as −logsigmoid(−z), smooth everywhere: ``nn.Softplus`` switches to the identity above z = 20
    (a kink of e⁻²⁰ ≈ 2e-9 in value and slope), which the certified curvature of the smooth function does not
    see (the same form as ``verify.numeric.mlp``'s)."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return -nn.functional.logsigmoid(-z)


_ACTIVATIONS = {"tanh": nn.Tanh, "gelu": nn.GELU, "softplus": Softplus, "sigmoid": nn.Sigmoid,
                "relu": nn.ReLU, "identity": nn.Identity}


def _activation(name: str) -> nn.Module:
    if name not in _ACTIVATIONS:
        raise InvalidInputError(f"Got activation={name!r}, but valid ones are {sorted(_ACTIVATIONS)}.")
    return _ACTIVATIONS[name]()


class LayerNorm(nn.Module):
    """``nn.LayerNorm(dim)`` over the last dimension, by its formula (same ``weight``/``bias``, eps 1e-5)."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight, self.bias = nn.Parameter(torch.ones(dim)), nn.Parameter(torch.zeros(dim))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        centred = h - h.mean(dim=-1, keepdim=True)
        variance = (centred ** 2).mean(dim=-1, keepdim=True)
        return centred / torch.sqrt(variance + self.eps) * self.weight + self.bias


class SelfAttention(nn.Module):
    """Multi-head self-attention with ``nn.MultiheadAttention``'s parameters, by its formula (batch first)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        m, t, d = h.shape
        q, k, v = (h @ self.in_proj_weight.T + self.in_proj_bias).chunk(3, dim=-1)
        split = lambda a: a.reshape(m, t, self.heads, d // self.heads).transpose(1, 2)  # noqa: E731
        q, k, v = split(q), split(k), split(v)
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // self.heads), dim=-1)
        return self.out_proj((weights @ v).transpose(1, 2).reshape(m, t, d))


class _Residual(nn.Module):
    def __init__(self, dim: int, hidden: int, blocks: int, activation: str, classes: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(nn.ModuleDict({"norm": LayerNorm(dim), "fc1": nn.Linear(dim, hidden),
                                                   "act": _activation(activation), "fc2": nn.Linear(hidden, dim)})
                                    for _ in range(blocks))
        self.head = nn.Linear(dim, classes)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        for b in self.blocks:
            h = h + b["fc2"](b["act"](b["fc1"](b["norm"](h))))
        return self.head(h)


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int, classes: int) -> None:
        super().__init__()
        self.attn, self.head = SelfAttention(dim, heads), nn.Linear(dim, classes)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.head((h + self.attn(h)).mean(dim=1))


def build_module(arch: str, spec: Mapping[str, Any]) -> nn.Module:
    """The network of an architecture and spec (parameters freshly initialized; float32 like ``torch.nn``)."""
    if arch == "mlp":
        widths, layers = list(spec["widths"]), []
        for t in range(len(widths) - 1):
            layers += [nn.Linear(widths[t], widths[t + 1]), _activation(spec["activation"])]
        return nn.Sequential(*layers[:-1])
    if arch == "cnn":
        layers, c_in, side = [], int(spec["in_channels"]), int(spec["size"])
        for c_out in spec["channels"]:
            layers += [nn.Conv2d(c_in, c_out, spec["kernel"], padding=spec["padding"]), _activation(spec["activation"])]
            c_in, side = c_out, side + 2 * spec["padding"] - spec["kernel"] + 1
        return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * side * side, spec["classes"]))
    if arch == "residual":
        return _Residual(spec["dim"], spec["hidden"], spec["blocks"], spec["activation"], spec["classes"])
    if arch == "attention":
        return _Attention(spec["dim"], spec["heads"], spec["classes"])
    raise InvalidInputError(f"Got architecture {arch!r}, but valid ones are mlp, cnn, residual and attention.")


def module_from_case(case: Any, dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu") -> nn.Module:
    """The case's network with the case's parameters loaded (exactly: float64 by default)."""
    module = build_module(case.arch, case.spec_dict).to(dtype=dtype, device=device)
    names = [n for n, _ in module.named_parameters()]
    if names != [n for n, _ in case.params]:
        raise InvalidInputError(f"The {case.arch} case's parameters {[n for n, _ in case.params]} do not match the "
                                f"module's {names}: the case was written by another version of verify.")
    with torch.no_grad():
        for (_, p), (_, value) in zip(module.named_parameters(), case.params):
            p.copy_(torch.tensor(value, dtype=dtype, device=device))
    return module


def _is_case(obj: Any) -> bool:
    return all(hasattr(obj, a) for a in ("arch", "spec_dict", "params", "x", "y"))


def functional(model: Any, loss: Any = "cross-entropy", *, batch: Any = None, dtype: torch.dtype = torch.float64,
               device: torch.device | str = "cpu", **options: Any) -> FunctionalModel:
    r"""Loss, gradient, Hessian-vector products, per-example gradients and :math:`\lambda_{\max}` of a model.

    ``functional(case)`` for a case of :func:`verify.modules` (its network, batch and labels, the mean
    cross-entropy); ``functional(model, loss, batch=(X, y))`` for any ``nn.Module`` (or a function building
    one). The result's ``theta0`` is θ; ``loss(θ)``, ``grad(θ)``, ``hvp(θ, v)``, ``per_example_grads(θ)``,
    ``lambda_max(θ)`` are functions of it. Computed in float64 unless ``dtype`` says otherwise.
    """
    if _is_case(model):
        if batch is not None:
            raise InvalidInputError("A case carries its own batch: call functional(case) without batch=.")
        X = torch.tensor(model.x, dtype=dtype, device=device)
        y = torch.tensor(model.y, dtype=torch.long, device=device)
        return FunctionalModel(module_from_case(model, dtype, device), (X, y), loss, dtype=dtype, device=device,
                               name=f"the {model.arch} case", _diagnose=False, _fresh=True, **options)
    if batch is None:
        raise InvalidInputError("functional(model, loss, batch=(X, y)) needs the batch for a model; a case of "
                                "verify.modules() carries its own.")
    if "_diagnose" in options or "_fresh" in options:
        raise InvalidInputError("A user's model is always diagnosed (the checks that make its numbers trustworthy) "
                                "and copied; _diagnose and _fresh are for the networks verify builds itself.")
    return FunctionalModel(model, batch, loss, dtype=dtype, device=device, **options)
