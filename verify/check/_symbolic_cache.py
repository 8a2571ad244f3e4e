"""The on-disk cache of claims' symbolic parts: a derivation is redone only when what it depends on changed.

A claim's :class:`~verify.claims.SymbolicResult` is stored as JSON under a key hashed from the claim's id and
statement, the callable's code, the source of every ``.py`` file of the top-level package that defines it (all
of ``proofs/`` for a built-in claim: a family may use another's helpers), the source of verify's symbolic layer
and claim model, and the versions of Python, verify, SymPy and mpmath. Editing any of them changes the key, so
a ``proved`` cannot outlive the code that proved it (files are re-read when their size or modification time
changes). Only derivations defined in a package are cached: a claim file's helpers may sit anywhere, and a
closure, a ``functools.partial`` or a callable object carries values its source does not show. A run that
monkeypatches a derivation in memory must turn the cache off: ``VERIFY_SYMBOLIC_CACHE=0`` (the test suite
does). Files are written atomically; a damaged or foreign file is ignored and rewritten. The folder is
``$VERIFY_CACHE_DIR/symbolic`` or ``~/.cache/verify/symbolic``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from verify.claims import SymbolicResult, SymbolicStep
from verify.claims.environment import versions

__all__ = ["cache_dir", "cached_symbolic", "symbolic_key"]

_VERIFY_ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    env = os.environ.get("VERIFY_CACHE_DIR")
    return (Path(env) / "symbolic") if env else Path.home() / ".cache" / "verify" / "symbolic"


def _sources(folder: Path, recursive: bool = False) -> list[Path]:
    if not folder.is_dir():
        return []
    found = folder.rglob("*.py") if recursive else folder.glob("*.py")
    return sorted(p for p in found if "__pycache__" not in p.parts)


def _digest(paths: list[Path]) -> str:
    """A hash of the files' contents; re-read whenever a file's size or modification time changed."""
    stamps = []
    for path in paths:
        stat = path.stat()
        stamps.append((str(path), stat.st_mtime_ns, stat.st_size))
    return _digest_of(tuple(stamps))


@functools.lru_cache(maxsize=64)
def _digest_of(stamps: tuple[tuple[str, int, int], ...]) -> str:
    h = hashlib.sha256()
    for name, _, _ in stamps:
        h.update(name.encode() + b"\0" + Path(name).read_bytes() + b"\0")
    return h.hexdigest()


def _dependencies(fn: Callable[..., Any]) -> list[Path] | None:
    """The files a claim's symbolic callable may run: its whole top-level package (a family may import another
    family's helpers). None for a callable outside a package (a claim file's helpers may sit anywhere: such a
    derivation is never cached)."""
    name = getattr(fn, "__module__", "") or ""
    top = sys.modules.get(name.split(".")[0])
    if top is None or not getattr(top, "__path__", None):
        return None
    return [p for folder in top.__path__ for p in _sources(Path(folder).resolve(), recursive=True)]


def _code_identity(fn: Callable[..., Any]) -> str | None:
    """Which function this is, by its code: None for what a key cannot pin down (a closure or default
    arguments carry values the source does not show; a ``functools.partial``, a bound method, a callable object)."""
    code = getattr(fn, "__code__", None)
    if code is None or getattr(fn, "__closure__", None) or getattr(fn, "__defaults__", None) \
            or getattr(fn, "__kwdefaults__", None) or getattr(fn, "__self__", None) is not None:
        return None
    return f"{fn.__module__}.{fn.__qualname__}:{code.co_firstlineno}:{hashlib.sha256(code.co_code).hexdigest()}" \
           f":{code.co_consts!r}:{code.co_names!r}"


def symbolic_key(claim: Any) -> str | None:
    """The cache key of ``claim``'s symbolic part; None where it cannot be pinned down (then no caching)."""
    identity = _code_identity(claim.symbolic)
    files = _dependencies(claim.symbolic) if identity else None
    if not files:
        return None
    engine = [*_sources(_VERIFY_ROOT / "symbolic", recursive=True), *_sources(_VERIFY_ROOT / "claims")]
    v = versions()
    parts = [claim.id, claim.statement, identity, _digest(files), _digest(engine),
             v.get("python", ""), v.get("verify", ""), v.get("sympy", ""), _mpmath_version()]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _mpmath_version() -> str:
    try:
        return metadata.version("mpmath")  # SymPy's numbers and the spot checks' precision come from it
    except metadata.PackageNotFoundError:
        return ""


def _load(path: Path, key: str) -> SymbolicResult | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("key") != key:
            return None
        return SymbolicResult([SymbolicStep(**step) for step in data["steps"]])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing, damaged or foreign: derive again and overwrite


def _store(path: Path, key: str, result: SymbolicResult) -> None:
    from verify.bridge._cache import _write_atomic

    try:
        _write_atomic(path, json.dumps({"key": key, "steps": [s.to_json() for s in result.steps]}))
    except OSError:
        pass  # a read-only cache folder costs time, never a verdict


def cached_symbolic(claim: Any) -> Any:
    """``claim.symbolic()``, from the cache when the key matches (what it returns is checked by the caller)."""
    if os.environ.get("VERIFY_SYMBOLIC_CACHE", "1") == "0":
        return claim.symbolic()
    key = symbolic_key(claim)
    if key is None:
        return claim.symbolic()
    path = cache_dir() / f"{key}.json"
    hit = _load(path, key)
    if hit is not None:
        return hit
    result = claim.symbolic()
    if isinstance(result, SymbolicResult) and result.closed_form is None:
        _store(path, key, result)
    return result
