r"""The model a regularizer is checked on: a built-in seeded task or the user's own module and batch.

A :class:`Task` is a :class:`verify.numeric.FunctionalModel` (the module, the batch, the loss as
functions of :math:`\theta`) plus a name and a description for the card. Built-in tasks
(:data:`TASKS`), all seeded classification problems with mean softmax cross-entropy:

* ``mlp``: ``Linear(5, 8) → Tanh → Linear(8, 3)`` on 64 Gaussian points (75 parameters);
* ``softmax``: ``Linear(5, 3)``, softmax regression (18 parameters, convex: C1);
* ``cnn``: two stride-2 3×3 convolutions (4 and 8 channels, GELU), average pooling and a linear head,
  on 32 images 3×16×16 (435 parameters);
* ``resnet``: ``Linear(5, 8)``, two pre-LayerNorm residual blocks ``x + W₂ GELU(W₁ LN(x))``, LayerNorm
  and a linear head (411 parameters);
* ``attention``: one pre-LayerNorm transformer block (two-head self-attention, GELU MLP 8 → 16 → 8)
  over 32 sequences of 6 tokens embedded in ℝ⁸, mean-pooled, linear head (627 parameters).

Labels come from a random linear teacher on the flattened inputs plus Gumbel noise, so the classes
overlap and the loss has no zero.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from verify.errors import InvalidInputError
from verify.numeric import FunctionalModel

__all__ = ["TASKS", "Task", "make_task", "user_task"]

TASKS = ("mlp", "softmax", "cnn", "resnet", "attention")
N_CLASSES = 3

_SHAPES = {"mlp": (64, (5,)), "softmax": (64, (5,)), "cnn": (32, (3, 16, 16)), "resnet": (64, (5,)),
           "attention": (32, (6, 8))}


class Task(FunctionalModel):
    """A :class:`FunctionalModel` with a name (``"mlp"`` … or ``"user"``) and the card's description."""

    kind: str = "user"
    summary: str = ""

    @property
    def model(self) -> nn.Module:
        """The module handed to ``fn(model, batch)`` (its own parameters are constants; θ replaces them)."""
        return self.module

    def logits(self, theta: torch.Tensor, X: torch.Tensor | None = None) -> torch.Tensor:
        return self.output(theta, X)

    def describe(self) -> str:
        return f"{self.summary}: {super().describe()}" if self.summary else super().describe()


class _Block(nn.Module):
    """``x + W₂ GELU(W₁ LN(x))``: a pre-LayerNorm residual block."""

    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.norm, self.up, self.down = nn.LayerNorm(width), nn.Linear(width, hidden), nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.down(nn.functional.gelu(self.up(self.norm(x))))


class _Attention(nn.Module):
    """One pre-LayerNorm transformer block over ``(m, T, d)`` tokens, mean-pooled, then a linear head."""

    def __init__(self, width: int = 8, heads: int = 2, classes: int = N_CLASSES) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.mlp = _Block(width, 2 * width)
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return self.head(self.mlp(x).mean(dim=1))


def _architecture(name: str) -> nn.Module:
    if name == "mlp":
        return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, N_CLASSES))
    if name == "softmax":
        return nn.Sequential(nn.Linear(5, N_CLASSES))
    if name == "cnn":
        return nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.GELU(),
                             nn.Conv2d(4, 8, 3, stride=2, padding=1), nn.GELU(),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, N_CLASSES))
    if name == "resnet":
        return nn.Sequential(nn.Linear(5, 8), _Block(8, 8), _Block(8, 8), nn.LayerNorm(8), nn.Linear(8, N_CLASSES))
    return _Attention()


def _seeded_init(model: nn.Module, gen: torch.Generator) -> None:
    """PyTorch's default init scale (uniform ±1/√fan_in, LayerNorm 1 and 0), drawn from ``gen`` in a fixed order."""
    with torch.no_grad():
        for module in model.modules():
            own = dict(module.named_parameters(recurse=False))
            if isinstance(module, nn.LayerNorm):
                own["weight"].fill_(1.0)
                own["bias"].fill_(0.0)
                continue
            for name, p in own.items():
                weight = own.get(name.replace("bias", "weight"), p)
                fan_in = weight.shape[-1] if isinstance(module, nn.MultiheadAttention) else (
                    weight.shape[1] * math.prod(weight.shape[2:]))
                bound = 1.0 / math.sqrt(fan_in)
                p.copy_(torch.rand(p.shape, generator=gen, dtype=torch.float64) * 2 * bound - bound)


def _seeded_batch(name: str, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    m, shape = _SHAPES[name]
    X = torch.randn(m, *shape, generator=gen, dtype=torch.float64)
    d = math.prod(shape)
    teacher = torch.randn(N_CLASSES, d, generator=gen, dtype=torch.float64) * math.sqrt(5 / d)
    gumbel = -torch.log(-torch.log(torch.rand(m, N_CLASSES, generator=gen, dtype=torch.float64)))
    y = torch.argmax(X.reshape(m, d) @ teacher.T + gumbel, dim=1)
    y[:N_CLASSES] = torch.arange(N_CLASSES)  # every class present
    return X, y


_SUMMARIES = {"mlp": "tanh MLP 5 → 8 → 3", "softmax": "softmax regression 5 → 3 (convex)",
              "cnn": "conv net 3×16×16 → conv 4 → conv 8 → pool → 3", "resnet": "residual MLP with LayerNorm 5 → 8 → 3",
              "attention": "self-attention block over 6 tokens of width 8 → 3"}


def make_task(name: str, *, seed: int = 0, dtype: torch.dtype = torch.float64,
              device: torch.device | str = "cpu") -> Task:
    """The seeded built-in task ``name`` (one of :data:`TASKS`).

    Raises:
        InvalidInputError: for an unknown task name.
    """
    if name not in TASKS:
        raise InvalidInputError(f"Got task={name!r}, but valid values are {list(TASKS)}.")
    gen = torch.Generator().manual_seed(int(seed))
    if name in ("mlp", "softmax"):  # the original draw order: data first (keeps earlier runs' numbers)
        X, y = _seeded_batch(name, gen)
    with torch.random.fork_rng(devices=[]):  # module constructors draw from the global RNG
        model = _architecture(name).to(torch.float64)
    _seeded_init(model, gen)
    if name not in ("mlp", "softmax"):
        X, y = _seeded_batch(name, gen)
    task = Task(model, (X, y), "cross-entropy", seed=seed, dtype=dtype, device=device, name=f"the {name} task")
    task.kind, task.summary = name, _SUMMARIES[name]
    return task


def user_task(model: Any, batch: Any, loss: Any = None, *, seed: int = 0, dtype: torch.dtype = torch.float64,
              device: torch.device | str = "cpu", train_mode: bool = False, name: str = "your model") -> Task:
    """The user's module (or factory) and batch (or data function) as a :class:`Task`."""
    task = Task(model, batch, loss, seed=seed, dtype=dtype, device=device, train_mode=train_mode, name=name)
    task.kind = "user"
    return task
