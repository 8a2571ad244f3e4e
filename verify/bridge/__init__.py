"""The one place SymPy meets torch: a printer that keeps autograd and batching.

:func:`to_torch` turns a SymPy expression or Matrix into a :class:`TorchFunction`
that evaluates over leading batch dimensions, keeps the autograd graph, and
caches its generated code on disk. :class:`TorchPrinter` is the code printer.
"""

from __future__ import annotations

from verify.bridge.lambdify import (
    PRINTER_VERSION,
    TorchFunction,
    default_cache_dir,
    generate_source,
    to_torch,
)
from verify.bridge.printer import TorchPrinter

__all__ = [
    "PRINTER_VERSION",
    "TorchFunction",
    "TorchPrinter",
    "default_cache_dir",
    "generate_source",
    "to_torch",
]
