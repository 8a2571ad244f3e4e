"""What runs on a worker: a claim's symbolic part, one shard of its search, its figures.

Each task loads the claim from a :class:`ClaimSpec` (once per worker process), fixes the torch and BLAS
thread counts, resolves the device on the worker (``auto`` takes that worker's GPU when it has one) and
returns plain data (:class:`verify.check._shards.ShardResult`), so the client merges the same numbers
whoever ran them.
"""

from __future__ import annotations

import hashlib
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ClaimSpec", "RunOptions", "figures_task", "shard_task", "symbolic_task", "worker_facts"]

_LOADED: dict[tuple[str, str, str], Any] = {}


@dataclass(frozen=True)
class RunOptions:
    """The options of ``verify check`` that a shard needs."""

    examples: int
    seed: int
    device: str
    dtype: str
    threads: int
    time_limit: float | None
    shards: int


@dataclass(frozen=True)
class ClaimSpec:
    """How a worker finds a claim.

    Attributes:
        ref: the name the client resolved it by (for messages).
        kind: ``builtin`` (by id), ``file`` (a shipped ``FILE.py``; ``name`` is its file name, ``attr`` the
            claim) or ``object`` (``claim`` itself, pickled with the code of its module).
        digest: for ``file``, a digest of the file and of every module shipped with it (a new one loads the
            claim afresh).
        files: for ``file``, ``(name on the worker, digest)`` of each shipped file (a worker holding another
            copy refuses it).
    """

    ref: str
    kind: str
    name: str = ""
    attr: str = ""
    digest: str = ""
    claim: Any = None
    files: tuple[tuple[str, str], ...] = ()
    folder: str = ""  # for ``file``: the folder of the file on the client (messages name the client's paths)


def load_claim(spec: ClaimSpec) -> Any:
    """The claim of ``spec`` in this process (loaded once per version of its shipped files)."""
    if spec.kind == "object":
        return spec.claim
    key = (spec.kind, spec.ref, spec.digest)
    if key not in _LOADED:
        from verify.claims import get_claim

        if spec.kind == "builtin":
            _LOADED[key] = get_claim(spec.ref)
        else:
            from verify.claims.registry import load_shipped_claim

            path = _shipped_file(spec)
            add_shipped_archives(path.parent)
            _forget_shipped_modules(path.parent)
            _LOADED[key] = load_shipped_claim(path, spec.attr, f"shipped_{spec.digest[:16]}")
    return _LOADED[key]


def add_shipped_archives(folder: Path) -> None:
    """Put the packages shipped as zips to ``folder`` (uploaded without importing them) on the import path."""
    import sys

    for archive in sorted(folder.glob("*.zip")):
        if str(archive) not in sys.path:
            sys.path.insert(0, str(archive))


def _forget_shipped_modules(folder: Path) -> None:
    """Drop the modules imported from shipped files, so that a claim shipped anew imports its neighbours as they
    are now (claims loaded before keep the module objects they hold)."""
    import importlib
    import sys

    root = folder.resolve()
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and str(Path(file).resolve()).startswith(str(root)):
            del sys.modules[name]
    importlib.invalidate_caches()


def _shipped_file(spec: ClaimSpec) -> Path:
    from distributed import get_worker

    from verify.errors import ClusterError

    folder = Path(get_worker().local_directory)
    for name, digest in spec.files:
        if shipped_digest(folder / name) != digest:
            raise ClusterError(f"The worker's copy of {name} (shipped for {spec.ref}) is not the client's: another "
                               "run shipped a different file of that name to this cluster meanwhile. Run again, or "
                               "rename the file.")
    return folder / spec.name


def shipped_digest(path: Path) -> str:
    """SHA-256 of a shipped module's bytes, or of a package's Python files (a zip's own bytes carry times)."""
    digest = hashlib.sha256()
    if path.suffix == ".zip" and path.is_file():
        import zipfile

        with zipfile.ZipFile(path) as zf:
            for name in sorted(n for n in zf.namelist() if n.endswith(".py")):
                digest.update(name.split("/", 1)[-1].encode() + b"\0" + zf.read(name))
    elif path.is_dir():
        for file in sorted(path.rglob("*.py")):
            digest.update(str(file.relative_to(path)).encode() + b"\0" + file.read_bytes())
    elif path.is_file():
        digest.update(path.read_bytes())
    else:
        return ""
    return digest.hexdigest()


def _client_paths(spec: ClaimSpec, text: str) -> str:
    """``text`` (a message naming a place in shipped code) with the client's paths for the worker's copies."""
    if spec.kind != "file" or not text:
        return text
    from distributed import get_worker

    return text.replace(str(Path(get_worker().local_directory)), spec.folder)


def _context(options: RunOptions) -> Any:
    from verify.claims import CheckContext
    from verify.numeric import dtype_name, resolve_device, resolve_dtype, set_torch_threads

    set_torch_threads(options.threads)
    return CheckContext(device=str(resolve_device(options.device)), dtype=dtype_name(resolve_dtype(options.dtype)),
                        seed=options.seed, examples=options.examples)


def symbolic_task(spec: ClaimSpec, options: RunOptions) -> tuple[Any, str, float, str, int | None]:
    """The claim's symbolic result, why its code failed ('' if it did not), the seconds it took, and the device
    and BLAS thread limit of this worker (what a verdict without a numeric part records)."""
    from verify.check import symbolic_part
    from verify.numeric import blas_threads

    start = time.monotonic()
    ctx = _context(options)
    with blas_threads(options.threads) as blas:
        symbolic, crash = symbolic_part(load_claim(spec))
    return symbolic, _client_paths(spec, crash), time.monotonic() - start, ctx.device, blas


def shard_task(spec: ClaimSpec, options: RunOptions, index: int) -> Any:
    """Shard ``index`` of the claim's search; a time limit counts from the shard's start."""
    from dataclasses import replace

    from verify.check._shards import run_shard
    from verify.numeric import blas_threads

    ctx = _context(options)
    deadline = None if options.time_limit is None else time.monotonic() + options.time_limit
    with blas_threads(options.threads) as blas, warnings.catch_warnings():
        # the worker's event loop (another thread) draws from the global `random` module, which Hypothesis
        # mistakes for a strategy using it; the search draws from its own seeded generators
        warnings.filterwarnings("ignore", "Do not use the `random` module inside strategies")
        result = run_shard(load_claim(spec), ctx, deadline, index, options.shards)
    outcome = replace(result.outcome, message=_client_paths(spec, result.outcome.message))
    return replace(result, outcome=outcome, blas_threads=blas)


def figures_task(spec: ClaimSpec, options: RunOptions, records: dict[str, Any],
                 evidence: dict[str, Any] | None) -> tuple[list[Any] | None, str, float]:
    """The claim's figures from the merged records: (their JSON, '', seconds) or (None, why they failed, seconds)."""
    from verify.check import NumericOutcome, figures_part
    from verify.numeric import blas_threads

    start = time.monotonic()
    ctx = _context(options)
    ctx.records.update(records)
    numeric = NumericOutcome("agree", dict(evidence or {}))
    with blas_threads(options.threads):
        crash = figures_part(load_claim(spec), ctx, numeric)
    seconds = time.monotonic() - start
    if crash:
        return None, _client_paths(spec, crash), seconds
    return (numeric.evidence or {}).get("figures"), "", seconds


def worker_facts(dask_worker: Any = None) -> dict[str, Any]:
    """What a worker runs: the recorded library versions, a digest of verify's and proofs' code, its threads
    (shards running side by side in one process would share process-wide state) and its CUDA devices."""
    import torch

    from verify.claims import versions

    threads = getattr(getattr(dask_worker, "state", None), "nthreads", None)
    return {"versions": versions(), "code": code_digest(), "nthreads": threads,
            "cuda": torch.cuda.device_count() if torch.cuda.is_available() else 0}


def code_digest() -> str:
    """SHA-256 over the Python files of ``verify`` and ``proofs``: the same version number with edited code
    would give other verdicts."""
    import proofs
    import verify

    digest = hashlib.sha256()
    for package in (verify, proofs):
        root = Path(package.__file__).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root.parent)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
