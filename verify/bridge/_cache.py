"""The on-disk cache of :func:`~verify.bridge.to_torch`: its key and its files.

A generated module is cached under a key hashed from the expression (a Merkle
hash of its tree, equivalent to hashing ``srepr``), the arguments, the SymPy
version and :data:`PRINTER_VERSION`; a file is written atomically, and one is
reused only if its first line names its key and it compiles.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sympy

if TYPE_CHECKING:
    import torch

from verify.bridge._codegen import _Arg, _compile

PRINTER_VERSION = "1"
"""Bump whenever generated code changes, so stale cache files are not reused."""


def _tree_digest(expr: sympy.Basic) -> str:
    """SHA-256 Merkle hash of the expression tree; stands in for ``srepr(expr)``.

    Same information as hashing ``srepr`` (class of every node, leaves by
    ``srepr``, so symbols with their assumptions), but every distinct subtree is
    hashed once: symbolic Hessians share most subtrees, so ``srepr`` text is
    exponentially longer than the DAG (a 20x20 softmax-regression Hessian:
    0.45 s for srepr, 3 ms here). Argument order is canonical in SymPy, so the
    digest is the same across processes.
    """
    memo: dict[int, tuple[bytes, Any]] = {}

    def visit(node: Any) -> bytes:
        hit = memo.get(id(node))
        if hit is not None:
            return hit[0]
        if isinstance(node, sympy.Basic) and node.args and not isinstance(node, sympy.Symbol):
            kind = f"{type(node).__module__}.{type(node).__qualname__}".encode()
            text = kind + b"(" + b",".join(visit(arg) for arg in node.args) + b")"
        else:
            text = (sympy.srepr(node) if isinstance(node, sympy.Basic) else repr(node)).encode()
        digest = hashlib.sha256(text).digest()
        memo[id(node)] = (digest, node)  # keep node alive so its id is not reused
        return digest

    return visit(expr).hex()


def _cache_key(expr: sympy.Basic, specs: list[_Arg], cse: bool, name: str) -> str:
    parts = [
        _tree_digest(expr),
        repr([(spec.name, [sympy.srepr(s) for s in spec.symbols], spec.shape) for spec in specs]),
        f"cse={cse}", f"name={name}", f"sympy={sympy.__version__}", f"printer={PRINTER_VERSION}",
    ]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem[:16]}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _load(path: Path, key: str, name: str) -> tuple[Callable[..., torch.Tensor], str] | None:
    """The cached function and its source, or ``None`` if the file is missing, foreign or damaged."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not source.startswith(f"# key: {key}\n"):
        return None
    try:
        return _compile(source, str(path), name), source
    except (SyntaxError, KeyError, ImportError, NameError):
        return None  # damaged file: the caller regenerates and overwrites it
