r"""The two accepted signatures of a regularizer, and the adapters to a task.

A regularizer :math:`R` is evaluated on a flat parameter vector :math:`\theta \in \mathbb{R}^n`
of a task (:mod:`verify.regularizers.tasks`: a built-in one or the user's model and batch): the
user's function receives the task's ``torch.nn.Module`` whose trainable parameters are *replaced*
by views of :math:`\theta` (with
:func:`torch.func.functional_call`), so autograd reaches :math:`\theta` and gradients,
Hessian-vector products (double backward) and Lanczos apply to any user code, including
code that calls :func:`torch.autograd.grad` itself (double backprop penalties).

Every call of the user's function runs inside :func:`torch.random.fork_rng` seeded with
the run's seed: a stochastic regularizer (dropout, random projections) becomes a fixed
function of :math:`\theta` for the checks, and the caller's random state is untouched.
A call of ``sys.exit`` in the user's function becomes :class:`UserExit`, an ordinary exception:
the check in progress reports it as an ``error`` naming the call, instead of the run ending.
"""

from __future__ import annotations

import inspect
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from verify.claims.usercode import exit_site
from verify.errors import UserCodeError
from verify.numeric import differentiable_attention
from verify.regularizers.tasks import TASKS, Task, make_task

__all__ = ["TASKS", "Regularizer", "SignatureError", "Task", "UserExit", "make_task", "user_location"]


class SignatureError(UserCodeError):
    """The user's function does not have one of the accepted signatures."""


class UserExit(Exception):
    """The user's function called ``sys.exit``; :attr:`where` is the call's ``file:line in function``."""

    def __init__(self, exc: SystemExit) -> None:
        self.where = exit_site(exc)
        super().__init__(f"sys.exit({exc.code!r}) was called; a regularizer must return its value, not end the "
                         "process")


def _positional(fn: Callable[..., Any]) -> tuple[int, int, bool]:
    """(required positional, total positional, has *args) of ``fn``'s signature."""
    sig = inspect.signature(fn)
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    pos = [p for p in sig.parameters.values() if p.kind in kinds]
    required = [p for p in pos if p.default is inspect.Parameter.empty]
    varargs = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in sig.parameters.values())
    return len(required), len(pos), varargs


def signature_kind(fn: Callable[..., Any], what: str = "the regularizer", extra: int = 0) -> str:
    """``"model_batch"`` for ``fn(model, batch[, *extra])``, ``"params"`` for ``fn(params[, *extra])``.

    Raises:
        SignatureError: for any other signature (the message names the accepted ones).
    """
    try:
        required, total, varargs = _positional(fn)
    except (TypeError, ValueError) as exc:
        raise SignatureError(f"Cannot read the signature of {what} ({exc}); wrap it in a Python function "
                             "`def fn(model, batch): ...`.") from None
    n_args, n_total = required - extra, total - extra
    if n_args == 2 or (n_args == 0 and (varargs or n_total >= 2)):
        return "model_batch"
    if n_args == 1 or (n_args == 0 and n_total == 1):
        return "params"
    extra_text = " + the direction v" if extra else ""
    raise SignatureError(
        f"{what} takes {required} required positional argument(s), but it must take either "
        f"(model, batch){extra_text} -- a torch.nn.Module and a tuple (X, y) -- or (params){extra_text} -- "
        "a dict name -> Tensor of the model's parameters. Fix: define it as "
        "`def fn(model, batch): ...` or `def fn(params): ...`.")


def exception_name(exc: BaseException) -> str:
    """The exception's public name (torch's ``_LinAlgError`` is ``torch.linalg.LinAlgError``)."""
    if isinstance(exc, torch.linalg.LinAlgError):
        return "torch.linalg.LinAlgError"
    return "SystemExit" if isinstance(exc, UserExit) else type(exc).__name__


def user_location(exc: BaseException) -> str:
    """``file:line in function`` of the innermost traceback frame outside torch and verify."""
    if isinstance(exc, UserExit):
        return exc.where
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        fname = frame.filename.replace("\\", "/")
        if "/torch/" in fname or "/verify/regularizers/model.py" in fname or "/verify/numeric/" in fname:
            continue
        return f"{frame.filename}:{frame.lineno} in {frame.name}"
    return "unknown location"


class _Call(nn.Module):
    """Runs ``fn(self.net, batch, *extra)`` so that functional_call swaps ``net``'s parameters."""

    def __init__(self, net: nn.Module, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.net = net
        self.fn = fn

    def forward(self, batch: tuple[torch.Tensor, torch.Tensor], *extra: Any) -> Any:
        return self.fn(self.net, batch, *extra)


class Regularizer:
    """A user function adapted to ``theta -> R(theta)`` on a task (raw output, seeded per call).

    Args:
        fn: the user's regularizer.
        task: the task.
        seed: the seed set (in a forked RNG) before every call.
        kind: ``"model_batch"`` or ``"params"`` (detected from the signature when None).
    """

    def __init__(self, fn: Callable[..., Any], task: Task, seed: int, kind: str | None = None,
                 extra: int = 0, what: str = "the regularizer") -> None:
        self.fn, self.task, self.seed = fn, task, int(seed)
        self.kind = signature_kind(fn, what, extra) if kind is None else kind
        self._module = _Call(task.model, fn)
        self.warnings: list[str] = []
        self._cuda = task.theta0.device.type == "cuda"
        with torch.random.fork_rng(devices=[torch.cuda.current_device()] if self._cuda else []):
            torch.manual_seed(self.seed)  # slow (milliseconds): done once, the states are reused
            self._state = torch.get_rng_state()
            self._cuda_state = torch.cuda.get_rng_state() if self._cuda else None

    def raw(self, theta: torch.Tensor, *extra: Any, seeded: bool = True) -> Any:
        """The user's return value at ``theta`` (exceptions propagate unchanged).

        ``seeded``: run with the RNG state of ``torch.manual_seed(seed)`` and restore the caller's after.
        """
        if not seeded:
            return self._call(theta, *extra)
        saved = torch.get_rng_state()
        saved_cuda = torch.cuda.get_rng_state() if self._cuda else None
        torch.set_rng_state(self._state)
        if self._cuda:
            torch.cuda.set_rng_state(self._cuda_state)
        try:
            return self._call(theta, *extra)
        finally:
            torch.set_rng_state(saved)
            if self._cuda:
                torch.cuda.set_rng_state(saved_cuda)

    def _call(self, theta: torch.Tensor, *extra: Any) -> Any:
        # the parameters always require grad (as a model's do), so that user code may call
        # torch.autograd.grad on them (double backprop penalties) even where only the value is wanted
        if not theta.requires_grad:
            theta = theta.detach().requires_grad_(True)
        with torch.enable_grad(), differentiable_attention(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                return self._call_user(theta, *extra)
            except SystemExit as exc:
                raise UserExit(exc) from None
            finally:
                for w in caught:  # user warnings are evidence, not failures (pytest's -W error aside)
                    text = f"{w.category.__name__}: {w.message}"
                    if text not in self.warnings and len(self.warnings) < 5:
                        self.warnings.append(text)

    def _call_user(self, theta: torch.Tensor, *extra: Any) -> Any:
        if self.kind == "params":
            return self.fn(self.task.params(theta), *extra)
        return functional_call(self._module, self.task.params(theta, prefix="net."),
                               (self.task.batch, *extra))

    def __call__(self, theta: torch.Tensor) -> torch.Tensor:
        """``R(theta)`` as a 0-d tensor; anything else raises :class:`UserCodeError`."""
        try:
            out = self.raw(theta)
        except UserCodeError:
            raise
        except Exception as exc:
            raise UserCodeError(f"the regularizer raised {exception_name(exc)} at {user_location(exc)}: {exc}") \
                from exc
        return as_scalar(out)


def as_scalar(out: Any) -> torch.Tensor:
    """Check a regularizer's value: a finite real tensor with one element, returned as 0-d."""
    if not isinstance(out, torch.Tensor):
        raise UserCodeError(f"the regularizer returned a {type(out).__name__}, not a torch.Tensor")
    if out.numel() != 1:
        raise UserCodeError(f"the regularizer returned a tensor of shape {tuple(out.shape)}, not a scalar")
    if not out.dtype.is_floating_point:
        raise UserCodeError(f"the regularizer returned a {out.dtype} tensor, not a real floating-point one")
    out = out.reshape(())
    if not bool(torch.isfinite(out.detach())):
        raise UserCodeError(f"the regularizer returned {float(out.detach())}")
    return out


def autograd_grad(f: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor,
                  create_graph: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """``(f(theta), grad f(theta))`` by reverse mode (zeros where ``f`` does not depend on ``theta``)."""
    leaf = theta.detach().requires_grad_(True)
    with torch.enable_grad():
        value = f(leaf)
        if not value.requires_grad:
            return value.detach(), torch.zeros_like(leaf)
        (g,) = torch.autograd.grad(value, leaf, create_graph=create_graph, allow_unused=True)
    if g is None:
        g = torch.zeros_like(leaf)
    return (value if create_graph else value.detach()), (g if create_graph else g.detach())


def flat_from_user(out: Any, task: Task, what: str) -> torch.Tensor:
    """A user's gradient-like output (dict name -> Tensor, or flat ``(n,)``) as a flat vector."""
    if isinstance(out, dict):
        missing = [n for n in task.names if n not in out]
        if missing:
            raise UserCodeError(f"{what} returned a dict without the entries {missing} "
                                f"(expected keys {task.names})")
        for n, s in zip(task.names, task.shapes):
            if not isinstance(out[n], torch.Tensor) or tuple(out[n].shape) != tuple(s):
                got = tuple(out[n].shape) if isinstance(out[n], torch.Tensor) else type(out[n]).__name__
                raise UserCodeError(f"{what} returned {n!r} of shape {got}, expected {tuple(s)}")
        return task.flat({n: out[n].detach().to(task.theta0) for n in task.names})
    if isinstance(out, torch.Tensor) and out.numel() == task.n:
        return out.detach().reshape(-1).to(task.theta0)
    got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    raise UserCodeError(f"{what} returned {got}; expected a dict name -> Tensor with keys {task.names} "
                        f"or a flat tensor of {task.n} entries")
