"""How a user's module is run: one fixed RNG state per call, attention by its plain formula, the losses,
and user code whose exceptions become messages naming the line."""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from verify.errors import InvalidInputError, UserCodeError

__all__ = ["at_line", "differentiable_attention", "loss_of", "seeded", "seeded_state", "user_call"]

State = tuple[torch.Tensor, "torch.Tensor | None"]


def seeded_state(seed: int, device: torch.device) -> State:
    """The RNG states ``torch.manual_seed(seed)`` makes, taken once per process (``manual_seed`` and
    ``fork_rng`` take a millisecond; the states are only ever read: ``set_rng_state`` copies them)."""
    cuda = device.type == "cuda"
    return _seeded_state(int(seed), cuda, torch.cuda.current_device() if cuda else -1)


@functools.lru_cache(maxsize=64)
def _seeded_state(seed: int, cuda: bool, index: int) -> State:
    with torch.random.fork_rng(devices=[index] if cuda else []):
        torch.manual_seed(seed)
        return torch.get_rng_state(), (torch.cuda.get_rng_state() if cuda else None)


class differentiable_attention:  # noqa: N801 (a context manager used like a function)
    """Attention by its plain formula: ``scaled_dot_product_attention`` on the math backend (the fused
    kernels have no double backward) and ``nn.MultiheadAttention``'s inference fast path off (in eval mode
    without grad it takes another route, which zeroes padded positions: a loss evaluated with and without
    grad would differ)."""

    def __enter__(self) -> None:
        self.kernel = sdpa_kernel([SDPBackend.MATH])
        self.kernel.__enter__()
        self.fastpath = torch.backends.mha.get_fastpath_enabled()
        torch.backends.mha.set_fastpath_enabled(False)

    def __exit__(self, *exc: Any) -> None:
        torch.backends.mha.set_fastpath_enabled(self.fastpath)
        self.kernel.__exit__(*exc)


class seeded:  # noqa: N801 (a context manager used like a function)
    """Run under a saved RNG state (and differentiable attention), and restore the caller's state after."""

    def __init__(self, state: State, device: torch.device) -> None:
        self.state, self.cuda = state, device.type == "cuda"

    def __enter__(self) -> None:
        self.saved = torch.get_rng_state(), (torch.cuda.get_rng_state() if self.cuda else None)
        torch.set_rng_state(self.state[0])
        if self.cuda and self.state[1] is not None:
            torch.cuda.set_rng_state(self.state[1])
        self.attention = differentiable_attention()
        self.attention.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.attention.__exit__(*exc)
        torch.set_rng_state(self.saved[0])
        if self.cuda and self.saved[1] is not None:
            torch.cuda.set_rng_state(self.saved[1])


def at_line(exc: BaseException) -> str:
    """`` at file:line in function`` of the innermost frame outside torch and verify ('' if none)."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        fname = frame.filename.replace("\\", "/")
        if "/torch/" not in fname and "/verify/numeric/" not in fname:
            return f" at {frame.filename}:{frame.lineno} in {frame.name}"
    return ""


def user_call(fn: Callable[..., Any], args: tuple[Any, ...], state: State, what: str) -> Any:
    """``fn(*args)`` under ``state``; any exception becomes a UserCodeError naming ``what`` and the line."""
    try:
        with seeded(state, torch.device("cpu")):
            return fn(*args)
    except Exception as exc:
        raise UserCodeError(f"{what} raised {type(exc).__name__}{at_line(exc)}: {exc}") from exc


def _cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(out, y if y.dtype.is_floating_point else y.long())


def _mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if out.shape != y.shape:  # broadcasting (m, 1) against (m,) would silently compare every pair
        raise InvalidInputError(f"MSE needs the output and y of one shape; got output {tuple(out.shape)} and y "
                                f"{tuple(y.shape)}. Fix: reshape y (e.g. y[:, None]) in the data function; if y "
                                "holds class labels, make them integers (y.long()) and the loss is cross-entropy.")
    return ((out - y) ** 2).mean()


def loss_of(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    return _cross_entropy if name == "cross-entropy" else _mse
