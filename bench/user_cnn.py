"""The bench's model and batch, in the form a user writes them (``--model``/``--data`` targets).

A conv net of about 1M parameters (1,050,826) on 64 CIFAR-shaped synthetic images (3×32×32,
10 classes): four 3×3 convolutions (32, 64, 128, 256 channels, stride 2 after the first), GELU,
2×2 average pooling, a hidden linear layer of 640 units and a linear head.
"""

import torch
from torch import nn


def build() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.GELU(),
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.GELU(),
        nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.GELU(),
        nn.Conv2d(128, 256, 3, stride=2, padding=1), nn.GELU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(1024, 640), nn.GELU(), nn.Linear(640, 10))


def small() -> nn.Module:
    """A conv net small enough for a dense Hessian (2,042 parameters): the Lanczos-vs-dense comparison."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.GELU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.GELU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(64, 10))


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(64, 3, 32, 32, generator=gen), torch.randint(0, 10, (64,), generator=gen)
