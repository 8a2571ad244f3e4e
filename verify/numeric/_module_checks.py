"""What can go wrong with a user's module, found once at construction and named by layer.

:func:`check_module` runs the forward pass with hooks on every submodule, then the loss, the
gradient and one double-backward product, and turns each failure into a
:class:`~verify.errors.UserCodeError` that names the layer (``conv2 (Conv2d)``), what went wrong and
the fix: the batch rejected, an output that is not a tensor, a loss that is not a scalar, a
gradient stopped by a non-differentiable op (argmax, round, ``.detach()``), a backward broken by an
in-place op or by a custom autograd function without double backward.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from verify.errors import InvalidInputError, UserCodeError
from verify.numeric._module_runtime import at_line, seeded

__all__ = ["check_module", "coupled_examples"]

@dataclass
class _Record:
    name: str
    module: nn.Module
    params: list[torch.Tensor]
    inp: torch.Tensor | None
    out: torch.Tensor | None
    leaf: bool = True


@dataclass
class _Trace:
    """Leaf-layer records of one forward pass, and the stack of modules being run."""

    names: dict[int, str]
    records: list[_Record] = field(default_factory=list)
    stack: list[str] = field(default_factory=list)

    def label(self, module: nn.Module) -> str:
        name = self.names.get(id(module), "?")
        return f"{name} ({type(module).__name__})" if name else f"{type(module).__name__}.forward (the model itself)"

    def hooks(self, root: nn.Module) -> list[Any]:
        handles = []
        for module in root.modules():
            handles.append(module.register_forward_pre_hook(self._enter))
            handles.append(module.register_forward_hook(self._leave))
        return handles

    def _enter(self, module: nn.Module, args: Any) -> None:
        self.stack.append(self.label(module))

    def _leave(self, module: nn.Module, args: Any, output: Any) -> None:
        self.stack.pop()
        leaf = next(module.children(), None) is None
        self.records.append(_Record(self.label(module), module, list(module.parameters(recurse=not leaf)),
                                    _first_tensor(args), _first_tensor(output), leaf))

    @property
    def leaves(self) -> list[_Record]:
        return [r for r in self.records if r.leaf]


def _first_tensor(obj: Any) -> torch.Tensor | None:
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, (tuple, list)):
        return next((t for t in map(_first_tensor, obj) if t is not None), None)
    return None


def _traced_forward(fm: Any, theta: torch.Tensor) -> tuple[Any, _Trace]:
    trace = _Trace({id(m): k for k, m in fm.module.named_modules()})
    handles = trace.hooks(fm.module)
    try:
        with seeded(fm._rng, fm.device):
            out = functional_call(fm.module, fm.params(theta), (fm.X,))
    except Exception as exc:
        where = trace.stack[-1] if trace.stack else fm.name
        raise UserCodeError(
            f"{fm.name} rejected the batch: layer {where} raised {type(exc).__name__}{at_line(exc)}: {exc}. "
            f"The batch has X {tuple(fm.X.shape)} ({str(fm.X.dtype).removeprefix('torch.')}) and y "
            f"{tuple(fm.y.shape)}. Fix: give a batch of the shape the model expects (examples along dimension 0)."
        ) from exc
    finally:
        for h in handles:
            h.remove()
    return out, trace


def check_module(fm: Any) -> list[str]:
    """Raise a UserCodeError naming the layer if ``fm`` cannot give a loss, a gradient and an HVP.

    Returns the trainable parameters whose gradient is zero at θ0 (unused, or behind an op that
    blocks the gradient outside any leaf layer): the checks say so rather than refuse.
    """
    theta = fm.theta0.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out, trace = _traced_forward(fm, theta)
        if not isinstance(out, torch.Tensor) or not out.dtype.is_floating_point:
            got = type(out).__name__ if not isinstance(out, torch.Tensor) else f"a {out.dtype} tensor"
            raise UserCodeError(f"{fm.name} returned {got}; the loss needs a floating-point tensor (the logits or "
                                "predictions). Fix: wrap the model so that forward returns that tensor "
                                "(e.g. `return out[0]` for a tuple, `out.logits` for a model output object).")
        loss = _scalar_loss(fm, out)
        if not loss.requires_grad:
            raise UserCodeError(_stopped(trace, None, fm))
        try:
            (g,) = torch.autograd.grad(loss, theta, create_graph=True)
        except RuntimeError as exc:
            raise UserCodeError(_broken_backward(trace, exc, fm, double=False)) from None
        blocked = _blocking_layer(trace, loss)
        if blocked[0] and _blocks_elsewhere(fm, blocked):
            raise UserCodeError(_stopped(trace, blocked, fm))
        # coordinates autograd gives no gradient at all (an embedding's padding row, a detached branch) are left
        # out of the probe: autograd's derivative there is a convention, not something to check
        v = torch.randn(fm.n, generator=torch.Generator().manual_seed(fm.seed), dtype=torch.float64).to(g)
        v = v * (g.detach() != 0)
        try:
            hv = torch.autograd.grad(g @ v, theta, allow_unused=True)[0] if g.requires_grad else None
        except RuntimeError as exc:
            raise UserCodeError(_broken_backward(trace, exc, fm, double=True)) from None
    if bool((v != 0).any()):
        _check_second_derivatives(fm, torch.zeros_like(v) if hv is None else hv, v)
    return [name for name, t in fm.params(g.detach()).items() if not bool((t != 0).any())]


def _float64_gradient(fm: Any) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]:
    """θ -> ∇L(θ) in float64 (on a float64 copy of the module when the run is in float32), and θ0."""
    module = fm.module if fm.dtype == torch.float64 else copy.deepcopy(fm.module).double()
    X = fm.X.double() if fm.X.dtype.is_floating_point else fm.X
    y = fm.y.double() if fm.y.dtype.is_floating_point else fm.y

    def gradient(theta: torch.Tensor) -> torch.Tensor:
        leaf = theta.detach().requires_grad_(True)
        with torch.enable_grad(), seeded(fm._rng, fm.device):
            out = functional_call(module, fm.params(leaf), (X,))
            if out.dtype != torch.float64:  # a float16/bfloat16 output cannot resolve steps of 1e-7
                raise TypeError(f"the output is {out.dtype}")
            (g,) = torch.autograd.grad(fm._loss(out, y), leaf)
        return g

    return gradient, fm.theta0.detach().double()


def _check_second_derivatives(fm: Any, hv: torch.Tensor, v: torch.Tensor) -> None:
    """Autograd's Hv against central differences of float64 gradients: a backward that is not differentiable
    (``@once_differentiable``, a hand-written backward) makes second derivatives silently wrong.

    The differences are judged only where they have converged: two steps (r and r/4, r = 1e-7 of the
    scale, float64) must agree within 10 %. A piecewise-linear network (ReLU, max pooling) crosses kinks
    between the points, which makes the differences depend on the step, not on autograd: then nothing is
    concluded here (such a loss has no second derivative at the kinks anyway).
    """
    try:
        gradient, theta = _float64_gradient(fm)
        gradient(theta)
    except Exception:  # the model does not run in float64 (it casts inside forward): nothing to judge here
        return
    scale = float(torch.linalg.vector_norm(v))
    mask = (v != 0).to(v.device)
    v, hv = v.double() / scale, (hv * mask).double() / scale
    r = 1e-7 * (1.0 + float(theta.abs().max()))
    fd_r, fd_q = ((gradient(theta + h * v) - gradient(theta - h * v)) * mask / (2 * h) for h in (r, r / 4))
    size = float(torch.linalg.vector_norm(fd_r)) + float(torch.linalg.vector_norm(hv))
    converged = float(torch.linalg.vector_norm(fd_r - fd_q)) <= 0.1 * size
    if size == 0 or not converged or float(torch.linalg.vector_norm(fd_r)) == 0.0:  # kinks, or no resolution
        return
    gap = float(torch.linalg.vector_norm(fd_r - hv))
    if gap > 0.1 * size:
        raise UserCodeError(
            f"second derivatives of the loss are wrong: autograd's Hessian-vector product differs from central "
            f"differences of gradients (float64, steps {r:.1g} and {r / 4:.1g}, which agree) by {gap / size:.0%} "
            "of their size, at the model's initial parameters: autograd's gradient is not the derivative that its "
            "own second derivatives describe. A custom autograd function whose backward is not itself "
            "differentiable (@once_differentiable, non-torch ops in backward) does this, and so does a "
            "straight-through or stop-gradient construction (.detach()) that makes the gradient a surrogate. "
            "Fix: write the backward with differentiable torch ops; the curvature checks need the true gradient.")


def _scalar_loss(fm: Any, out: torch.Tensor) -> torch.Tensor:
    try:
        loss = fm._loss(out, fm.y)
    except InvalidInputError:
        raise
    except Exception as exc:
        raise UserCodeError(f"the {fm.loss_name} loss failed on the model's output {tuple(out.shape)} and y "
                            f"{tuple(fm.y.shape)} ({str(fm.y.dtype).removeprefix('torch.')}): {type(exc).__name__}: "
                            f"{exc}. Fix: cross-entropy needs logits (m, C) and integer labels in [0, C); mse "
                            "needs y of the output's shape; or pass a loss fn(output, y).") from exc
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        got = f"shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise UserCodeError(f"the loss returned {got}, not a scalar. Fix: reduce it with .mean() over the batch "
                            "(the checks assume the mean over examples).")
    if not bool(torch.isfinite(loss.detach()).all()):
        raise UserCodeError(f"the loss at the model's initial parameters is {float(loss.detach())}; the checks "
                            "need a finite loss. Fix: check the data and the initialization.")
    return loss.reshape(())


def _needs_grad(rec: _Record) -> bool:
    return any(p.requires_grad for p in rec.params) or (rec.inp is not None and rec.inp.requires_grad)


def _blocking_layer(trace: _Trace, loss: torch.Tensor) -> tuple[str, str]:
    """``(layer, how)`` where the gradient stops although later layers get one; ``("", "")`` if nowhere.

    ``how``: ``"output"`` (the layer's output has no gradient: argmax, ``.detach()``) or ``"inside"`` (a
    gradient reaches its output but zero reaches its input: round, sign).
    """
    live = {id(t): t for r in trace.leaves for t in (r.inp, r.out) if t is not None and t.requires_grad}
    if not live:
        return "", ""
    found = torch.autograd.grad(loss, list(live.values()), allow_unused=True, retain_graph=True)
    grads = dict(zip(live, found))

    def flows(t: torch.Tensor | None) -> bool:
        g = grads.get(id(t)) if t is not None else None
        return g is not None and bool((g != 0).any())

    records = trace.leaves
    suspects = [rec for k, rec in enumerate(records)
                if _needs_grad(rec) and any(flows(r.out) for r in records[k + 1:])]
    for rec in suspects:  # a layer that blocks it itself is named before the gap after a layer
        if rec.out is None or not rec.out.requires_grad:
            return rec.name, "output"
        if rec.inp is not None and rec.inp.requires_grad and flows(rec.out) and not flows(rec.inp):
            return rec.name, "inside"
    # no gradient reaching a layer's output from later layers is not an error: an unused branch, a gate that
    # is exactly zero (top-k mixtures of experts) or an op between layers; its parameters are listed as
    # receiving no gradient (FunctionalModel.unreached) and the card says so
    return "", ""


def _blocks_elsewhere(fm: Any, blocked: tuple[str, str]) -> bool:
    """Whether the layer still blocks the gradient at a seeded point near θ0 (every parameter moved by
    N(0, 0.01²)). A zero-initialized scale (ReZero, LayerScale, BatchNorm γ = 0 in a zero-init residual)
    stops the gradient only at θ0; round, sign and argmax stop it everywhere."""
    gen = torch.Generator().manual_seed(fm.seed + 7)
    theta = (fm.theta0 + 0.01 * torch.randn(fm.n, generator=gen, dtype=torch.float64).to(fm.theta0))
    theta = theta.detach().requires_grad_(True)
    with torch.enable_grad():
        out, trace = _traced_forward(fm, theta)
        loss = fm._loss(out, fm.y).reshape(())
        if not loss.requires_grad:
            return True
        return _blocking_layer(trace, loss) == blocked


_RELAX = ("Fix: use a differentiable relaxation (softmax instead of argmax, a straight-through estimator for "
          "round/sign) or apply the op after the loss.")


def _stopped(trace: _Trace, blocked: tuple[str, str] | None, fm: Any) -> str:
    if blocked is None:  # the loss itself has no gradient
        lost = next((r.name for r in trace.leaves
                     if _needs_grad(r) and (r.out is None or not r.out.requires_grad)), None)
        blocked = (lost, "output") if lost else (fm.name, "after")
    layer, how = blocked
    if how == "output":
        return (f"layer {layer} returns an output with no gradient (an integer-valued op such as argmax, or a "
                f".detach()), so the loss does not depend differentiably on what comes before it. {_RELAX}")
    if how == "inside":
        return (f"layer {layer} passes zero gradient from its output to its input, here and at a perturbed point "
                f"(a piecewise-constant op such as round, sign or floor, or a ReLU whose inputs are all negative), "
                f"so the parameters before it get no gradient. {_RELAX}")
    return (f"the gradient stops after layer {layer}: none reaches its output although the loss depends on it, so "
            f"an op between it and the next layer (in a parent module's forward) is not differentiable (argmax, "
            f"round, sign, .detach(), a comparison). {_RELAX}")


def _broken_backward(trace: _Trace, exc: RuntimeError, fm: Any, double: bool) -> str:
    what = "second derivatives (double backward)" if double else "the gradient (backward)"
    layer = _first_failing_layer(trace, double)
    where = f"layer {layer}" if layer else f"the forward of {fm.name} outside its leaf layers"
    first = str(exc).strip().splitlines()[0]
    if "not implemented" in first:
        fix = ("Fix: this op has no derivative of that order in torch; replace it by differentiable torch ops "
               "(for a fused kernel, its plain formula).")
    else:
        fix = ("Fix: replace in-place ops in the forward (ReLU(inplace=True), x += …, x.mul_(…)) by out-of-place "
               "ones, and give custom autograd functions a differentiable backward (no @once_differentiable).")
    return f"{what} of the loss fails in {where}: {first}. Hessian-vector products and curvature need it. {fix}"


def _first_failing_layer(trace: _Trace, double: bool) -> str:
    for rec in trace.records:
        if rec.out is None or not rec.out.requires_grad:
            continue
        inputs = [t for t in [rec.inp, *rec.params] if t is not None and t.requires_grad]
        if not inputs:
            continue
        try:
            gs = torch.autograd.grad(rec.out.sum(), inputs, create_graph=double, allow_unused=True, retain_graph=True)
            s = sum((g * g).sum() for g in gs if g is not None)
            if double and isinstance(s, torch.Tensor) and s.requires_grad:
                torch.autograd.grad(s, inputs, allow_unused=True, retain_graph=True)
        except RuntimeError:
            return rec.name
    return ""


def coupled_examples(fm: Any) -> str:
    """Why per-example quantities are not defined ('' when one example's output ignores the others)."""
    if fm.m == 1:
        return ""
    if fm.train_mode and any(isinstance(mod, nn.modules.batchnorm._BatchNorm) for mod in fm.module.modules()):
        return ("in train mode BatchNorm normalizes with the batch's statistics, so one example's output depends "
                "on the others; run in eval mode (the default) for per-example gradients.")
    k = min(fm.m, 3)
    try:
        with torch.no_grad():
            whole = fm.output(fm.theta0).reshape(fm.m, -1)[:k]
            single = [fm.output(fm.theta0, fm.X[i:i + 1]) for i in range(k)]
            fm._loss(single[0], fm.y[:1])  # the loss must take one example's output as it comes
            alone = torch.cat([out.reshape(1, -1) for out in single])
    except Exception as exc:
        return (f"the model does not run on one example alone ({type(exc).__name__}: {str(exc).splitlines()[0]}), "
                "so a per-example loss is not defined for it.")
    if whole.shape != alone.shape:
        return (f"the model's output for one example alone has {alone.shape[1]} entries, not {whole.shape[1]} "
                "(an output squeezed or reshaped by the batch size), so a per-example loss is not defined for it.")
    scale = float(whole.abs().max()) + 1.0
    if float((whole - alone).abs().max()) > 100 * torch.finfo(whole.dtype).eps ** 0.5 * scale:
        return ("one example's output changes with the rest of the batch (batch statistics, or random masks drawn "
                "per batch in train mode), so a per-example loss is not a function of that example alone.")
    return ""
