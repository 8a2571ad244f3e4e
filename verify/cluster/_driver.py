"""The client's side of a run on a cluster: submit every task, take results as they come, merge a claim's shards
when all are back, make its figures, and hand out verdicts in claim order."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from verify.cluster._progress import Progress
from verify.cluster._tasks import ClaimSpec, RunOptions, figures_task, shard_task, symbolic_task
from verify.errors import ClusterError

__all__ = ["ClaimRun", "Driver"]


@dataclass
class ClaimRun:
    """One claim's tasks and what came back."""

    index: int
    claim: Any
    spec: ClaimSpec
    symbolic: Any = None
    crash: str = ""
    symbolic_done: bool = False
    device: str = ""  # where the symbolic task ran: the verdict's device when there are no shards
    blas: int | None = None
    shard_futures: list[Any] = field(default_factory=list)
    shards: dict[int, Any] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    failed_shards: int = 0
    seconds: float = 0.0
    numeric: Any = None
    merged: bool = False
    verdict: Any = None


class Driver:
    """Runs :class:`ClaimRun` s on a Dask client; ``emitted`` verdicts have been handed to ``on_verdict``."""

    def __init__(self, client: Any, runs: list[ClaimRun], options: RunOptions,
                 on_verdict: Callable[[Any], None] | None, on_shard: Callable[[Any, Any], None] | None,
                 progress: Progress) -> None:
        self.client, self.runs, self.options = client, runs, options
        self.on_verdict, self.on_shard, self.progress = on_verdict, on_shard, progress
        self.owner: dict[str, tuple[ClaimRun, str, int]] = {}
        self.submitted: list[Any] = []
        self.emitted = 0
        self.token = uuid.uuid4().hex[:8]

    def run(self) -> None:
        """Until every claim has its verdict; an interrupt cancels what is left (and returns)."""
        from distributed import as_completed

        self.pending = as_completed()
        try:
            for run in self.runs:
                self._submit_claim(run)
            for future in self.pending:
                self._take(future)
        except KeyboardInterrupt:  # the verdicts handed out so far stand
            self.client.cancel(self.submitted)
        except OSError as exc:  # the scheduler went away (CommClosedError is an OSError)
            raise ClusterError(f"Lost the Dask cluster mid-run ({type(exc).__name__}: {exc}); "
                               f"{self.emitted} of {len(self.runs)} claims had finished. Run again.") from None

    def _submit_claim(self, run: ClaimRun) -> None:
        priority = -run.index  # the earlier claims first: verdicts come in order
        key = f"verify-{self.token}-{run.index}-{run.claim.id}"
        self._submit(run, "symbolic", 0, symbolic_task, run.spec, self.options, key=f"{key}-symbolic",
                     priority=priority + 1)
        if run.claim.check is not None:
            run.shard_futures = [self._submit(run, "shard", i, shard_task, run.spec, self.options, i,
                                              key=f"{key}-shard-{i}", priority=priority)
                                 for i in range(self.options.shards)]

    def _submit(self, run: ClaimRun, role: str, index: int, fn: Callable[..., Any], *args: Any, key: str,
                priority: int) -> Any:
        future = self.client.submit(fn, *args, key=key, priority=priority, pure=False)
        self.owner[future.key] = (run, role, index)
        self.submitted.append(future)
        self.pending.add(future)
        return future

    def _take(self, future: Any) -> None:
        run, role, index = self.owner.pop(future.key)
        if run.merged and role != "figures":
            return  # a shard cancelled after its claim's symbolic part failed
        try:
            result = future.result()
        except Exception as exc:  # noqa: BLE001 - the task could not run: the claim's verdict says why
            result = None
            run.failed.append(_task_failure(role, index, self.options.shards, exc))
            run.failed_shards += role == "shard"
        if role == "figures":
            self._finish(run, result)
            return
        if role == "symbolic":
            self._take_symbolic(run, result)
        else:
            self.progress.shard_done()
            if result is not None:
                run.shards[index] = result
                run.seconds += result.elapsed_s
                if self.on_shard is not None:
                    self.on_shard(run.claim, result)
        if run.symbolic_done and (run.crash or len(run.shards) + run.failed_shards == len(run.shard_futures)):
            self._merge(run)

    def _take_symbolic(self, run: ClaimRun, result: Any) -> None:
        run.symbolic_done = True
        if result is None:
            return
        run.symbolic, run.crash, seconds, run.device, run.blas = result
        run.seconds += seconds
        if run.crash:  # as in one process: a failed symbolic part means no numeric part
            self.client.cancel(run.shard_futures)

    def _merge(self, run: ClaimRun) -> None:
        from verify.check import NumericOutcome
        from verify.check._shards import merge

        run.merged = True
        ctx = self._context(run)
        run.numeric = (merge(list(run.shards.values()), ctx) if run.shards and not run.failed and not run.crash
                       else NumericOutcome("none"))
        if run.claim.figures is not None and not run.crash and not run.failed and run.numeric.status != "error":
            key = f"verify-{self.token}-{run.index}-{run.claim.id}-figures"
            self._submit(run, "figures", 0, figures_task, run.spec, self.options, ctx.records,
                         run.numeric.evidence, key=key, priority=10 - run.index)
        else:
            self._finish(run, None)

    def _context(self, run: ClaimRun) -> Any:
        from verify.claims import CheckContext
        from verify.numeric import dtype_name, resolve_dtype

        devices = sorted({r.device for r in run.shards.values()}) or [run.device or "cpu"]
        return CheckContext(device=",".join(devices), dtype=dtype_name(resolve_dtype(self.options.dtype)),
                            seed=self.options.seed, examples=self.options.examples)

    def _finish(self, run: ClaimRun, figures: tuple[list[Any] | None, str, float] | None) -> None:
        from verify.check import assemble_verdict

        crash = run.crash or "; ".join(run.failed)
        if figures is not None:
            listed, why, seconds = figures
            run.seconds += seconds
            crash = crash or why
            if listed is not None:
                run.numeric.evidence = {**(run.numeric.evidence or {}), "figures": listed}
        blas = {r.blas_threads for r in run.shards.values()} or {run.blas}
        run.verdict = assemble_verdict(run.claim, self._context(run), run.symbolic, run.numeric, crash,
                                       time_limit=self.options.time_limit, threads=self.options.threads,
                                       blas=blas.pop() if len(blas) == 1 else None, elapsed_s=run.seconds)
        self.progress.claim_done(run.claim.id, run.verdict.verdict.value, len(run.shards))
        while self.emitted < len(self.runs) and self.runs[self.emitted].verdict is not None:
            self.emitted += 1  # first: an interrupt while it is printed keeps it, as run_claims does
            if self.on_verdict is not None:
                self.on_verdict(self.runs[self.emitted - 1].verdict)


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
