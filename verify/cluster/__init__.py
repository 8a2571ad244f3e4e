"""Checking claims on a Dask cluster: a local one of K worker processes, or an existing one by address.

Each claim's search is split into shards (:mod:`verify.check._shards`) whose number depends on the examples
(:func:`default_shards`) or on ``shards=``, never on the workers, so the same seed, shard count and examples
give the same verdict JSON on 64 workers and on a laptop (``verify check --shards N``). Every claim's
symbolic part and every shard are tasks, submitted at once (claims run concurrently, the earlier first);
every shard runs to completion, the client merges a claim's shards in shard order as soon as all are back,
then its figures run as one more task on the merged records. A worker that dies mid-shard has its shard
re-run elsewhere by Dask (each shard's result is taken once, by its key, so nothing counts twice). An
interrupt cancels what has not finished; the verdicts finished so far are returned.

Nothing here is imported on the serial path: ``verify check`` without ``--workers``/``--scheduler`` does not
import Dask.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from verify.cluster._progress import Progress
from verify.cluster._tasks import ClaimSpec, RunOptions, figures_task, shard_task, symbolic_task
from verify.errors import InvalidInputError

__all__ = ["SHARD_CASES", "default_shards", "open_cluster", "run_claims_on_cluster"]

#: cases per shard when no shard count is given (bench/scale_out.py measures the overhead this leaves)
SHARD_CASES = 1000


def default_shards(examples: int) -> int:
    """The shard count for ``examples`` cases: one shard per :data:`SHARD_CASES` started."""
    return max(1, -(-examples // SHARD_CASES))


@dataclass
class _ClaimRun:
    """One claim's tasks and what came back."""

    index: int
    claim: Any
    spec: ClaimSpec
    symbolic: Any = None
    crash: str = ""
    symbolic_done: bool = False
    shards: dict[int, Any] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    failed_shards: int = 0
    seconds: float = 0.0
    numeric: Any = None
    verdict: Any = None


def run_claims_on_cluster(claims: list[Any], *, workers: int | None = None, scheduler: str | None = None,
                          client: Any = None, on_verdict: Callable[[Any], None] | None = None,
                          progress: TextIO | None = None, on_shard: Callable[[Any, Any], None] | None = None,
                          examples: int = 100, seed: int = 0, device: str = "auto", dtype: str = "float64",
                          threads: int = 1, time_limit: float | None = None, shards: int | None = None) -> list[Any]:
    """Check ``claims`` on a new local cluster of ``workers`` processes, on the cluster at ``scheduler``, or
    through an open ``client`` (:func:`open_cluster`; its workers are checked once).

    Options are those of :func:`verify.run_claim` (``time_limit`` applies to each shard's search);
    ``shards`` defaults to :func:`default_shards` of ``examples``. ``on_verdict`` is called in claim order;
    ``on_shard(claim, shard_result)`` as each shard comes back (for measurements: bench/scale_out.py).
    Returns the verdicts in claim order (those finished, when interrupted).

    Raises:
        ClusterError: Dask is missing, the scheduler is unreachable, the workers run other versions, or they
            cannot import a claim's file — all before any claim runs.
        InvalidInputError: a bad option.
        ClaimDefinitionError: a claim's ``cases=`` gives no strategy.
    """
    from verify.check import check_cases
    from verify.check._shards import shard_budgets
    from verify.cluster._connect import claim_specs
    from verify.numeric import dtype_name, resolve_dtype

    if not isinstance(examples, int) or examples < 1:
        raise InvalidInputError(f"Got examples={examples!r}; it must be an integer >= 1.")
    if not isinstance(threads, int) or threads < 1:
        raise InvalidInputError(f"Got threads={threads!r}; it must be an integer >= 1.")
    _check_device(device)
    dtype_name(resolve_dtype(dtype))  # the workers resolve the device (theirs), the client checks the names
    shards = default_shards(examples) if shards is None else shards
    shard_budgets(examples, shards)
    check_cases(claims)
    options = RunOptions(examples=examples, seed=int(seed), device=device, dtype=dtype, threads=threads,
                         time_limit=time_limit, shards=shards)
    if client is None:
        with open_cluster(workers, scheduler, threads) as opened:
            return run_claims_on_cluster(claims, client=opened, on_verdict=on_verdict, progress=progress,
                                         on_shard=on_shard, **options.__dict__)
    runs = [_ClaimRun(i, claim, spec) for i, (claim, spec) in enumerate(zip(claims, claim_specs(client, claims)))]
    _Driver(client, runs, options, on_verdict, on_shard, Progress(progress, shards * len(runs), len(runs))).run()
    return [run.verdict for run in runs if run.verdict is not None]


def _check_device(device: str) -> None:
    import re

    if not isinstance(device, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        raise InvalidInputError(f"Got device={device!r}; valid values are auto, cpu, cuda and cuda:N (on a cluster, "
                                "auto takes each worker's own GPU when it has one).")


@contextlib.contextmanager
def open_cluster(workers: int | None = None, scheduler: str | None = None, threads: int = 1) -> Iterator[Any]:
    """A Dask client of a new local cluster of ``workers`` processes or of the cluster at ``scheduler``, its
    workers checked to run the client's versions and code (closed, with a local cluster, on leaving).

    Raises:
        ClusterError: Dask is missing, the scheduler is unreachable, or the workers run other versions.
    """
    from verify.cluster._connect import check_workers, open_client

    with open_client(workers, scheduler, threads) as client:
        check_workers(client)
        yield client


class _Driver:
    """Submits every task, takes results as they come, merges and emits verdicts in claim order."""

    def __init__(self, client: Any, runs: list[_ClaimRun], options: RunOptions,
                 on_verdict: Callable[[Any], None] | None, on_shard: Callable[[Any, Any], None] | None,
                 progress: Progress) -> None:
        self.client, self.runs, self.options = client, runs, options
        self.on_verdict, self.on_shard, self.progress = on_verdict, on_shard, progress
        self.owner: dict[str, tuple[_ClaimRun, str, int]] = {}
        self.submitted: list[Any] = []
        self.emitted = 0

    def run(self) -> None:
        from distributed import as_completed

        token = uuid.uuid4().hex[:8]
        futures = []
        for run in self.runs:
            priority = -run.index  # the earlier claims first: verdicts come in order
            key = f"verify-{token}-{run.index}-{run.claim.id}"
            futures.append(self._submit(run, "symbolic", 0, symbolic_task, run.spec, key=f"{key}-symbolic",
                                        priority=priority + 1))
            if run.claim.check is not None and not run.crash:
                futures += [self._submit(run, "shard", i, shard_task, run.spec, self.options, i,
                                         key=f"{key}-shard-{i}", priority=priority)
                            for i in range(self.options.shards)]
        self.pending = as_completed(futures)
        try:
            for future in self.pending:
                self._take(future)
        except KeyboardInterrupt:  # the verdicts finished so far stay in self.runs
            self.client.cancel(self.submitted)

    def _submit(self, run: _ClaimRun, role: str, index: int, fn: Callable[..., Any], *args: Any, key: str,
                priority: int) -> Any:
        future = self.client.submit(fn, *args, key=key, priority=priority, pure=False)
        self.owner[future.key] = (run, role, index)
        self.submitted.append(future)
        return future

    def _take(self, future: Any) -> None:
        run, role, index = self.owner.pop(future.key)
        try:
            result = future.result()
        except Exception as exc:  # noqa: BLE001 - the task could not run: the claim's verdict says why
            result = None
            run.failed.append(_task_failure(role, index, self.options.shards, exc))
            run.failed_shards += role == "shard"
        if role == "symbolic":
            run.symbolic_done = True
            if result is not None:
                run.symbolic, run.crash, seconds = result
                run.seconds += seconds
        elif role == "shard":
            self.progress.shard_done()
            if result is not None:
                run.shards[index] = result
                run.seconds += result.elapsed_s
                if self.on_shard is not None:
                    self.on_shard(run.claim, result)
        else:
            self._finish(run, result)
            return
        if run.symbolic_done and len(run.shards) + run.failed_shards == self._expected_shards(run):
            self._merge(run)

    def _expected_shards(self, run: _ClaimRun) -> int:
        return self.options.shards if run.claim.check is not None else 0

    def _merge(self, run: _ClaimRun) -> None:
        from verify.check import NumericOutcome
        from verify.check._shards import merge

        ctx = self._context(run)
        # as in the serial run, a failed symbolic part leaves the numeric part out of the verdict
        run.numeric = (merge(list(run.shards.values()), ctx) if run.shards and not run.failed and not run.crash
                       else NumericOutcome("none"))
        needs_figures = (run.claim.figures is not None and not run.crash and not run.failed
                         and run.numeric.status != "error")
        if needs_figures:
            key = f"verify-{uuid.uuid4().hex[:8]}-{run.index}-{run.claim.id}-figures"
            self.pending.add(self._submit(run, "figures", 0, figures_task, run.spec, self.options, ctx.records,
                                          run.numeric.evidence, key=key, priority=10 - run.index))
        else:
            self._finish(run, None)

    def _context(self, run: _ClaimRun) -> Any:
        from verify.claims import CheckContext
        from verify.numeric import dtype_name, resolve_dtype

        devices = sorted({r.device for r in run.shards.values()})
        device = ",".join(devices) or (self.options.device if self.options.device != "auto" else "cpu")
        return CheckContext(device=device, dtype=dtype_name(resolve_dtype(self.options.dtype)),
                            seed=self.options.seed, examples=self.options.examples)

    def _finish(self, run: _ClaimRun, figures: tuple[list[Any] | None, str, float] | None) -> None:
        from verify.check import assemble_verdict

        crash = run.crash or "; ".join(run.failed)
        if figures is not None:
            listed, why, seconds = figures
            run.seconds += seconds
            crash = crash or why
            if listed is not None:
                run.numeric.evidence = {**(run.numeric.evidence or {}), "figures": listed}
        blas = {r.blas_threads for r in run.shards.values()}
        run.verdict = assemble_verdict(run.claim, self._context(run), run.symbolic, run.numeric, crash,
                                       time_limit=self.options.time_limit, threads=self.options.threads,
                                       blas=blas.pop() if len(blas) == 1 else None, elapsed_s=run.seconds)
        self.progress.claim_done(run.claim.id, run.verdict.verdict.value, len(run.shards))
        while self.emitted < len(self.runs) and self.runs[self.emitted].verdict is not None:
            if self.on_verdict is not None:
                self.on_verdict(self.runs[self.emitted].verdict)
            self.emitted += 1


def _task_failure(role: str, index: int, shards: int, exc: BaseException) -> str:
    """Why a task did not return, for the claim's ``error`` verdict."""
    what = f"shard {index} of {shards}" if role == "shard" else f"the {role} part"
    if type(exc).__name__ == "KilledWorker":
        return (f"{what} could not finish: the worker running it died each time it was tried ({exc}). The claim's "
                "code may exhaust the worker's memory or end its process.")
    if isinstance(exc, ImportError):
        return (f"{what} could not run: the workers cannot import what the claim needs ({exc}). Give the claim as "
                "FILE.py::NAME so that verify ships the file, or install the module on the workers.")
    return f"{what} could not run on the cluster: {type(exc).__name__}: {exc}"
