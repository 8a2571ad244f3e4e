"""Reaching a Dask cluster: a local one of K worker processes, or an existing one by its scheduler's address;
checking that its workers run what the client runs; shipping the claims' files to them."""

from __future__ import annotations

import ast
import contextlib
import hashlib
import logging
import tempfile
import weakref
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from verify.cluster._tasks import ClaimSpec, code_digest, shipped_digest, worker_facts
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
                               "`dask scheduler` (and workers with `dask worker ADDRESS --nthreads 1`), and give its "
                               "address, e.g. --scheduler tcp://127.0.0.1:8786.") from None
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


def check_workers(client: Any, expected: dict[str, Any] | None = None, device: str = "auto") -> int:
    """The number of workers, after checking that each runs the client's versions and code, one task at a time,
    and has the CUDA device ``device`` names.

    Raises:
        ClusterError: no worker is connected, a worker cannot run verify, or one runs other versions of verify,
            torch, sympy or hypothesis, or other verify/proofs code, than the client (``expected``: the client's
            facts), runs several threads, or lacks the GPU asked for.
    """
    from verify.claims import versions

    expected = expected or {"versions": versions(), "code": code_digest()}
    try:
        facts = client.run(worker_facts)
    except Exception as exc:  # noqa: BLE001 - e.g. verify not installed on a worker
        raise ClusterError(f"A worker cannot run verify ({type(exc).__name__}: {exc}). Install the same checkout "
                           "with `pip install -c constraints.txt -e .` on every worker.") from None
    if not facts:
        raise ClusterError("The cluster has no worker. Start workers with `dask worker SCHEDULER_ADDRESS "
                           "--nthreads 1`.")
    problems = []
    for address, got in sorted(facts.items()):
        problems += _worker_problems(address, got, expected, device)
    if problems:
        raise ClusterError("The cluster's workers cannot give this client's verdicts: "
                           f"{'; '.join(problems)}. Install the same versions on every worker (e.g. the same "
                           "checkout with `pip install -c constraints.txt -e .`), start each with --nthreads 1, then "
                           "run again.")
    return len(facts)


def _worker_problems(address: str, got: dict[str, Any], expected: dict[str, Any], device: str) -> list[str]:
    problems = [f"{address} runs {name} {got['versions'].get(name)}, the client {expected['versions'].get(name)}"
                for name in CHECKED_VERSIONS if got["versions"].get(name) != expected["versions"].get(name)]
    if not problems and got["code"] != expected["code"]:
        problems.append(f"{address} runs other verify/proofs code than the client (same version, edited files)")
    if got.get("nthreads") not in (None, 1):
        problems.append(f"{address} runs {got['nthreads']} threads (shards side by side in one process share its "
                        "global state: give `dask worker --nthreads 1`)")
    if device.startswith("cuda"):
        index = int(device.partition(":")[2] or 0)
        if got.get("cuda", 0) <= index:
            problems.append(f"{address} has no CUDA device {index} for --device {device} (give --device auto to "
                            "use each worker's GPU where it has one)")
    return problems


def claim_specs(client: Any, claims: list[Any]) -> list[ClaimSpec]:
    """How each worker finds each claim; the files of ``FILE.py::NAME`` claims (and the sibling modules
    they import) are uploaded to every worker, present and future, once per version.

    Raises:
        ClusterError: two shipped files share a name, or a shipped file cannot be imported on the workers (the
            message names what failed), or a claim that is no module attribute cannot be pickled.
    """
    from verify.claims import claim_ref
    from verify.claims.model import UnloadableClaim
    from verify.claims.registry import is_builtin

    specs, wanted = [], {}
    for claim in claims:
        ref = claim_ref(claim)
        path = Path(ref.partition("::")[0]) if "::" in ref else None
        if is_builtin(claim):
            specs.append(ClaimSpec(ref=claim.id, kind="builtin"))
        elif isinstance(claim, UnloadableClaim):  # its file exits on import: the stand-in travels, not the file
            specs.append(ClaimSpec(ref=ref, kind="object", claim=claim))
        elif path is not None and path.is_file():
            files = [*_sibling_imports(path), path]
            for item in files:
                _want(wanted, item, ref)
            shipped = tuple((_shipped_name(item), shipped_digest(item)) for item in files)
            digest = hashlib.sha256(repr(shipped).encode()).hexdigest()
            specs.append(ClaimSpec(ref=ref, kind="file", name=path.name, attr=ref.partition("::")[2], digest=digest,
                                   files=shipped, folder=str(path.resolve().parent)))
        else:
            _check_picklable(claim)
            specs.append(ClaimSpec(ref=ref, kind="object", claim=claim))
    _ship(client, wanted)
    return specs


def _shipped_name(path: Path) -> str:
    return f"{path.name}.zip" if path.is_dir() else path.name


def _want(wanted: dict[str, tuple[Path, str]], path: Path, ref: str) -> None:
    name = _shipped_name(path)
    if name in wanted and wanted[name][0].resolve() != path.resolve():
        raise ClusterError(f"Two files to ship are both named {name}: {wanted[name][0]} and {path} (for {ref}). On "
                           "the workers they would land in one folder; rename one of them.")
    wanted[name] = (path, ref)


#: what each client has uploaded: file name -> digest (a file is sent again only when it changed)
_UPLOADED: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()


def _ship(client: Any, wanted: dict[str, tuple[Path, str]]) -> None:
    """Upload the files that changed since this client last sent them, then check that the workers import them."""
    sent = _UPLOADED.setdefault(client, {})
    for name, (path, _) in wanted.items():
        digest = shipped_digest(path)
        if sent.get(name) != digest:
            _upload(client, path)
            sent[name] = digest
    modules = [(path.stem if path.is_file() else path.name, ref) for path, ref in wanted.values()]
    if modules:
        failures = client.run(_import_failures, [m for m, _ in modules])
        for address, failed in sorted(failures.items()):
            for module, why in failed:
                ref = next(r for m, r in modules if m == module)
                raise ClusterError(f"The worker {address} cannot import {module} (shipped for {ref}): {why}. Install "
                                   "what it imports on the workers, or keep the modules it imports next to it "
                                   "(verify ships the file and the sibling modules and packages it imports).")


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


def _upload(client: Any, path: Path) -> None:
    """Upload a module file, or a package folder as a zip, to every worker (not imported at upload)."""
    if path.is_dir():
        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / f"{path.name}.zip"
            with zipfile.ZipFile(archive, "w") as zf:
                for file in sorted(path.rglob("*.py")):
                    zf.write(file, str(file.relative_to(path.parent)))
            client.upload_file(str(archive), load=False)
    else:
        client.upload_file(str(path), load=False)


def _import_failures(modules: list[str], dask_worker: Any = None) -> list[tuple[str, str]]:
    """On a worker: import each shipped module afresh; the ones that fail, and why."""
    import importlib
    import sys

    from verify.cluster._tasks import add_shipped_archives

    failed = []
    add_shipped_archives(Path(dask_worker.local_directory))
    importlib.invalidate_caches()
    for name in modules:
        sys.modules.pop(name, None)
        try:
            importlib.import_module(name)
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: a file that exits on import cannot be used
            failed.append((name, f"{type(exc).__name__}: {exc}"))
        finally:
            sys.modules.pop(name, None)  # the claim is loaded by path later, under its own name
    return failed


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
