"""The oracle side of C6: ``torch.optim`` itself, stepped on a case, and the rule it documents.

:func:`torch_trajectory` steps the optimizer class (``p.grad = g_t; opt.step()``); :func:`torch_rule`
names the SymPy rule of :mod:`proofs.optimizers.symbolic` that torch documents for the case's options.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from proofs.optimizers import symbolic as sym
from proofs.optimizers.cases import OptimizerCase
from verify import CheckContext


def torch_rule(case: OptimizerCase) -> sym.UpdateRule:
    """The documented torch.optim algorithm for the case's optimizer and options."""
    o = case.options
    if case.optimizer == "sgd":
        return sym.sgd(nesterov=bool(o["nesterov"]), heavy_ball=o["momentum"] != 0)
    if case.optimizer == "adagrad":
        return sym.adagrad()
    if case.optimizer == "rmsprop":
        return sym.rmsprop(centered=bool(o["centered"]))
    return sym.adam(amsgrad=bool(o["amsgrad"]), decoupled=bool(o["decoupled"]))


def torch_kwargs(case: OptimizerCase, cls: str) -> dict[str, Any]:
    """The keyword arguments of torch.optim class ``cls`` for the case (``betas``; Adam's decoupled flag)."""
    o = dict(case.options)
    if case.optimizer == "adam":
        o["betas"] = (o.pop("beta1"), o.pop("beta2"))
        decoupled = o.pop("decoupled")
        if cls == "Adam":
            o["decoupled_weight_decay"] = decoupled
    return o


def torch_trajectory(case: OptimizerCase, ctx: CheckContext, *, foreach: bool = False,
                     other_class: bool = False) -> torch.Tensor:
    """θ₀..θ_T from torch.optim itself: (T+1, n).

    Args:
        foreach: torch's multi-tensor implementation instead of the single-tensor one.
        other_class: for decoupled weight decay, ``AdamW`` ↔ ``Adam(decoupled_weight_decay=True)``.
    """
    cls = case.torch_class
    if other_class and case.options.get("decoupled"):
        cls = "Adam" if cls == "AdamW" else "AdamW"
    dtype = getattr(torch, ctx.dtype)
    p = torch.nn.Parameter(torch.tensor(case.theta0, dtype=dtype, device=ctx.device))
    opt = getattr(torch.optim, cls)([p], foreach=foreach, **torch_kwargs(case, cls))
    out = [p.detach().clone()]
    for row in case.grads:
        p.grad = torch.tensor(row, dtype=dtype, device=ctx.device)
        opt.step()
        out.append(p.detach().clone())
    return torch.stack(out)


def in_dtype(case: OptimizerCase, dtype: str) -> OptimizerCase:
    """The case with its float hyper-parameters rounded to ``dtype``, so that both sides use equal values.

    In float32 the lambdified rule holds α = 0.9999 as float32 and computes 1 − α from it, while torch
    computes ``1 - alpha`` from the Python float: a relative difference of 1e-4 that is the rounding
    of the option, not a difference between the algorithms.
    """
    if dtype == "float64":
        return case
    torch_dtype = getattr(torch, dtype)
    options = {k: torch.tensor(v, dtype=torch_dtype).item() if isinstance(v, float) else v
               for k, v in case.options.items()}
    return replace(case, options=options)


def torch_call_text(case: OptimizerCase) -> str:
    """The torch.optim call of the case, for the details: ``Adam(lr=0.001, betas=(0.9, 0.999), ...)``."""
    kwargs = ", ".join(f"{k}={v!r}" for k, v in torch_kwargs(case, case.torch_class).items())
    return f"{case.torch_class}({kwargs})"
