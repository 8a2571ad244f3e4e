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
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from verify.cluster._progress import Progress
from verify.cluster._tasks import RunOptions
from verify.errors import InvalidInputError

__all__ = ["SHARD_CASES", "default_shards", "open_cluster", "run_claims_on_cluster"]

#: cases per shard when no shard count is given (bench/scale_out.py measures the overhead this leaves)
SHARD_CASES = 1000


def default_shards(examples: int) -> int:
    """The shard count for ``examples`` cases: one shard per :data:`SHARD_CASES` started."""
    return max(1, -(-examples // SHARD_CASES))


def run_claims_on_cluster(claims: list[Any], *, workers: int | None = None, scheduler: str | None = None,
                          client: Any = None, on_verdict: Callable[[Any], None] | None = None,
                          progress: TextIO | None = None, on_shard: Callable[[Any, Any], None] | None = None,
                          examples: int = 100, seed: int = 0, device: str = "auto", dtype: str = "float64",
                          threads: int = 1, time_limit: float | None = None, shards: int | None = None) -> list[Any]:
    """Check ``claims`` on a new local cluster of ``workers`` processes, on the cluster at ``scheduler``, or
    through an open ``client`` (:func:`open_cluster`; its workers are checked again at each call, cheaply).

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
    from verify.cluster._connect import check_workers, claim_specs
    from verify.cluster._driver import ClaimRun, Driver
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
        verdicts: list[Any] = []
        try:
            with open_cluster(workers, scheduler, threads) as opened:
                verdicts = run_claims_on_cluster(claims, client=opened, on_verdict=on_verdict, progress=progress,
                                                 on_shard=on_shard, **options.__dict__)
        except KeyboardInterrupt:  # while the cluster closed: what finished stands (the caller sees the signal)
            if not verdicts:
                raise
        return verdicts
    check_workers(client, device=device)
    runs = [ClaimRun(i, claim, spec) for i, (claim, spec) in enumerate(zip(claims, claim_specs(client, claims)))]
    driver = Driver(client, runs, options, on_verdict, on_shard, Progress(progress, shards * len(runs), len(runs)))
    driver.run()
    return [run.verdict for run in runs[:driver.emitted]]  # interrupted: the verdicts printed so far


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
