"""Reaching a Dask cluster: a local one of K worker processes, or an existing one by its scheduler's address;
checking that its workers run what the client runs; shipping the claims' files to them."""

from __future__ import annotations

import ast
import contextlib
import hashlib
import logging
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from verify.cluster._tasks import ClaimSpec, code_digest, worker_facts
from verify.errors import ClusterError

__all__ = ["CHECKED_VERSIONS", "claim_specs", "check_workers", "open_client"]

#: the libraries whose versions must match between the client and every worker (their results differ otherwise)
CHECKED_VERSIONS = ("verify", "torch", "sympy", "hypothesis")
CONNECT_TIMEOUT_S = 10


def _dask() -> Any:
    try:
        import distributed
    except ImportError:
        raise ClusterError("--workers and --scheduler need Dask distributed, which is not installed. Install the "
                           "extra: pip install -c constraints.txt 'verify[dask]'.") from None
    return distributed


@contextlib.contextmanager
def open_client(workers: int | None = None, scheduler: str | None = None, threads: int = 1) -> Iterator[Any]:
    """A client of a new local cluster of ``workers`` processes, or of the cluster at ``scheduler``.

    Raises:
        ClusterError: Dask is not installed, or the scheduler cannot be reached (before any work).
    """
    distributed = _dask()
    if (workers is None) == (scheduler is None):
        raise ClusterError("Give one of --workers K (a local cluster) and --scheduler ADDRESS (an existing one).")
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(f"Cannot reach the Dask scheduler at {scheduler!r}: {exc}. Start one with "
                               "`dask scheduler` (and workers with `dask worker ADDRESS`), and give its address, e.g. "
                               "--scheduler tcp://127.0.0.1:8786.") from None
        with client:
            yield client
        return
    limits = {name: str(threads) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=logging.CRITICAL, env=limits)
    try:
        with distributed.Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def check_workers(client: Any, expected: dict[str, Any] | None = None) -> int:
    """The number of workers, after checking that each runs the client's versions and code.

    Raises:
        ClusterError: no worker is connected, or one runs other versions of verify, torch, sympy or
            hypothesis, or other verify/proofs code, than the client (``expected``: the client's facts).
    """
    from verify.claims import versions

    expected = expected or {"versions": versions(), "code": code_digest()}
    facts = client.run(worker_facts)
    if not facts:
        raise ClusterError("The cluster has no worker. Start workers with `dask worker SCHEDULER_ADDRESS`.")
    problems = []
    for address, got in sorted(facts.items()):
        for name in CHECKED_VERSIONS:
            want, have = expected["versions"].get(name), got["versions"].get(name)
            if want != have:
                problems.append(f"{address} runs {name} {have}, the client {want}")
        if got["code"] != expected["code"] and not any(address in p for p in problems):
            problems.append(f"{address} runs other verify/proofs code than the client (same version, edited files)")
    if problems:
        raise ClusterError("The cluster's workers do not run what this client runs, so their verdicts could "
                           f"differ: {'; '.join(problems)}. Install the same versions on every worker (e.g. the "
                           "same checkout with `pip install -c constraints.txt -e .`), then run again.")
    return len(facts)


def claim_specs(client: Any, claims: list[Any]) -> list[ClaimSpec]:
    """How each worker finds each claim; the files of ``FILE.py::NAME`` claims (and the sibling modules
    they import) are uploaded to every worker, present and future.

    Raises:
        ClusterError: a shipped file cannot be imported on the workers (the message names what failed).
    """
    from verify.claims import claim_ref
    from verify.claims.model import UnloadableClaim
    from verify.claims.registry import is_builtin

    specs, shipped = [], set()
    for claim in claims:
        ref = claim_ref(claim)
        path = Path(ref.partition("::")[0]) if "::" in ref else None
        if is_builtin(claim):
            specs.append(ClaimSpec(ref=claim.id, kind="builtin"))
        elif isinstance(claim, UnloadableClaim):  # its file exits on import: the stand-in travels, not the file
            specs.append(ClaimSpec(ref=ref, kind="object", claim=claim))
        elif path is not None and path.is_file():
            for item in [*_sibling_imports(path), path]:
                if item not in shipped:
                    _upload(client, item, ref)
                    shipped.add(item)
            specs.append(ClaimSpec(ref=ref, kind="file", name=path.name, attr=ref.partition("::")[2],
                                   digest=hashlib.sha256(path.read_bytes()).hexdigest()))
        else:
            _check_picklable(claim)
            specs.append(ClaimSpec(ref=ref, kind="object", claim=claim))
    return specs


def _check_picklable(claim: Any) -> None:
    """A claim that is no module attribute travels pickled (cloudpickle): say so when it cannot."""
    import cloudpickle

    try:
        cloudpickle.dumps(claim)
    except Exception as exc:  # noqa: BLE001 - any pickling failure: the same advice
        raise ClusterError(
            f"Claim {claim.id!r} cannot be sent to the workers: it is not an attribute of a module file verify could "
            f"ship, and pickling it failed ({type(exc).__name__}: {exc}). Define it at the top level of a FILE.py and "
            "name it FILE.py::NAME, or give cases= as a function returning the strategy "
            "(cases=lambda: st.floats(0, 1)): Hypothesis strategies do not always pickle.") from None


def _upload(client: Any, path: Path, ref: str) -> None:
    """Upload a module file, or a package folder as a zip, to the workers (they import it at once)."""
    try:
        if path.is_dir():
            with tempfile.TemporaryDirectory() as tmp:
                archive = Path(tmp) / f"{path.name}.zip"
                with zipfile.ZipFile(archive, "w") as zf:
                    for file in sorted(path.rglob("*.py")):
                        zf.write(file, str(file.relative_to(path.parent)))
                client.upload_file(str(archive))
        else:
            client.upload_file(str(path))
    except Exception as exc:  # noqa: BLE001 - the import on the workers failed: say what, for which claim
        raise ClusterError(f"The workers cannot import {path.name} (shipped for {ref}): {type(exc).__name__}: "
                           f"{exc}. Install what it imports on the workers, or keep the modules it imports next "
                           "to it (verify ships the file and the sibling modules it imports).") from None


def _sibling_imports(path: Path, seen: set[Path] | None = None) -> list[Path]:
    """The modules and packages next to ``path`` that it imports, directly or through each other."""
    seen = set() if seen is None else seen
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return []
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    found = []
    for name in sorted(names):
        for candidate in (path.parent / f"{name}.py", path.parent / name):
            is_module = candidate.suffix == ".py" and candidate.is_file()
            if (is_module or (candidate / "__init__.py").is_file()) and candidate not in seen:
                seen.add(candidate)
                if is_module:
                    found += _sibling_imports(candidate, seen)
                found.append(candidate)
                break
    return found
