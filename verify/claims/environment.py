"""The library versions a verdict records (one function for the engine, the regularizer checker and reports)."""

from __future__ import annotations

import platform
from importlib import metadata

__all__ = ["RECORDED_DISTRIBUTIONS", "versions"]

#: the distributions whose versions can change a verdict's numbers
RECORDED_DISTRIBUTIONS = ("verify", "torch", "sympy", "numpy", "scipy", "hypothesis")


def versions() -> dict[str, str]:
    """``{"python": ..., "torch": ..., ...}``: what ran, as recorded in every verdict."""
    out = {"python": platform.python_version()}
    for dist in RECORDED_DISTRIBUTIONS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out
