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
        digest: for ``file``, the SHA-256 of the file's bytes (a worker holding another copy refuses it).
    """

    ref: str
    kind: str
    name: str = ""
    attr: str = ""
    digest: str = ""
    claim: Any = None


def load_claim(spec: ClaimSpec) -> Any:
    """The claim of ``spec`` in this process (loaded once)."""
    if spec.kind == "object":
        return spec.claim
    key = (spec.kind, spec.ref, spec.digest)
    if key not in _LOADED:
        from verify.claims import get_claim

        if spec.kind == "builtin":
            _LOADED[key] = get_claim(spec.ref)
        else:
            path = _shipped_file(spec)
            _LOADED[key] = get_claim(f"{path}::{spec.attr}")
    return _LOADED[key]


def _shipped_file(spec: ClaimSpec) -> Path:
    from distributed import get_worker

    from verify.errors import ClusterError

    path = Path(get_worker().local_directory) / spec.name
    if not path.is_file():
        raise ClusterError(f"The worker has no copy of {spec.name} (shipped for {spec.ref}).")
    if hashlib.sha256(path.read_bytes()).hexdigest() != spec.digest:
        raise ClusterError(f"The worker's copy of {spec.name} differs from the client's {spec.ref}: another run "
                           "shipped a different file of that name to this cluster. Rename the file.")
    return path


def _context(options: RunOptions) -> Any:
    from verify.claims import CheckContext
    from verify.numeric import dtype_name, resolve_device, resolve_dtype, set_torch_threads

    set_torch_threads(options.threads)
    return CheckContext(device=str(resolve_device(options.device)), dtype=dtype_name(resolve_dtype(options.dtype)),
                        seed=options.seed, examples=options.examples)


def symbolic_task(spec: ClaimSpec) -> tuple[Any, str, float]:
    """The claim's symbolic result, why its code failed ('' if it did not), and the seconds it took."""
    from verify.check import symbolic_part

    start = time.monotonic()
    symbolic, crash = symbolic_part(load_claim(spec))
    return symbolic, crash, time.monotonic() - start


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
    return replace(result, blas_threads=blas)


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
    return (None, crash, seconds) if crash else ((numeric.evidence or {}).get("figures"), "", seconds)


def worker_facts() -> dict[str, Any]:
    """What a worker runs: the recorded library versions and a digest of verify's and proofs' code."""
    from verify.claims import versions

    return {"versions": versions(), "code": code_digest()}


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
