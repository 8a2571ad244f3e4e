"""Scale-out: the whole built-in library serially and on a local Dask cluster of 1 and 2 workers, and a cost model.

One run, each configuration in a fresh process with cold caches (``VERIFY_CACHE_DIR`` a new folder, the symbolic
cache off), one torch thread and one BLAS thread per process:

* ``serial``: ``run_claim`` per claim (``verify check --threads 1``), no shards;
* ``workers K`` for K in ``--workers`` (default 1, 2): ``verify.cluster`` on a ``LocalCluster`` of K processes,
  the default shard count (one shard per 1000 examples).

It prints the speed-up of K = 2 over serial (the baseline named) and whether the verdicts agree, then the cost
model, built from measurements only:

* per-case cost of each claim: its shards' run times over its cases (the 1-worker run), and its symbolic
  and figures parts as the rest of its serial time;
* per-shard fixed cost ``f``: measured apart, as the mean time of a task that runs a one-case shard of a
  trivial claim (scheduling, transfer, the shard's Hypothesis set-up), and the pickled size of shard results;
* start-up: a LocalCluster of K workers until every worker has imported verify and torch.

The model (list scheduling of every task, in the driver's priority order, on K workers) predicts the measured
1- and 2-worker wall times (the error is printed), then the wall time of 34 claims (the size of the library at
f5dbfd0; the first 34 by id) at 10⁵ cases a claim on 8, 64 and 512 workers, and the shard size that keeps the
fixed cost under 5% of a shard's time.

    python bench/scale_out.py                      # 1000 examples a claim (about 15 min on 2 cores)
    python bench/scale_out.py --examples 200 --claims 'softmax-*'
"""

from __future__ import annotations

import argparse
import fnmatch
import heapq
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STARTED = time.perf_counter()  # a run's wall time counts from here: verify and torch are imported later, inside it

ROOT = Path(__file__).resolve().parent.parent
BIG_CASES, BIG_CLAIMS, WORKER_COUNTS = 10**5, 34, (8, 64, 512)
PROBE, PROBE_CASES = "softmax-ce-hessian", 300  # a holding claim whose shard is pure compute, for the contention


def _trivial():  # noqa: ANN202 - a claim whose check costs next to nothing: what a shard adds around it
    from hypothesis import strategies as st

    import verify

    return verify.inequality("scale-out-trivial", statement=r"0 \le x^2", cases=lambda: st.floats(-1, 1),
                             lhs=lambda x: 0.0, rhs=lambda x: x * x)


def _claims(pattern: str) -> list:
    from verify.claims.registry import all_claims

    return [c for c in sorted(all_claims(), key=lambda c: c.id)
            if any(fnmatch.fnmatch(c.id, p.strip()) for p in pattern.split(","))]


def _serial(args: argparse.Namespace) -> dict:
    from verify import run_claim

    rows = {}
    for claim in _claims(args.claims):
        begin = time.perf_counter()
        verdict = run_claim(claim, examples=args.examples, seed=args.seed, device="cpu", threads=1)
        rows[claim.id] = {"verdict": verdict.verdict.value, "wall_s": time.perf_counter() - begin}
        print(f"  serial  {claim.id:<48} {verdict.verdict.value:<12} {rows[claim.id]['wall_s']:7.1f} s",
              file=sys.stderr, flush=True)
    return {"wall_s": time.perf_counter() - STARTED, "claims": rows}


def _cluster(args: argparse.Namespace, workers: int) -> dict:
    from verify.cluster import open_cluster, run_claims_on_cluster

    rows: dict[str, dict] = {}

    def on_shard(claim, result) -> None:  # noqa: ANN001
        row = rows.setdefault(claim.id, {"shards": []})
        row["shards"].append({"cases": result.tally.evaluated, "budget": result.tally.examples_requested,
                              "s": result.elapsed_s, "found": result.outcome.status == "counterexample",
                              "bytes": len(pickle.dumps(result))})

    with open_cluster(workers=workers) as client:
        client.run(lambda: __import__("torch").ones(1))  # every worker has imported torch and verify
        started = time.perf_counter() - STARTED
        verdicts = run_claims_on_cluster(_claims(args.claims), client=client, examples=args.examples, seed=args.seed,
                                         device="cpu", on_shard=on_shard, progress=sys.stderr)
        for v in verdicts:
            rows.setdefault(v.claim, {"shards": []}).update(verdict=v.verdict.value, task_s=v.elapsed_s)
        ran = time.perf_counter() - STARTED
    return {"wall_s": ran, "startup_s": started, "claims": rows}


def _fixed_cost(args: argparse.Namespace) -> dict:
    """What a shard adds (1-case shards of a trivial claim on one worker), and how much slower a task runs when
    two run at once on this machine (the same shard of a real claim alone, then two copies on two workers)."""
    from verify.claims import get_claim
    from verify.cluster import open_cluster, run_claims_on_cluster

    trivial = _trivial()
    shards = args.probe_shards
    times: list[float] = []
    with open_cluster(workers=1) as client:
        client.run(lambda: __import__("torch").ones(1))
        run_claims_on_cluster([trivial], client=client, examples=4, shards=4, device="cpu")  # warm
        start = time.perf_counter()
        run_claims_on_cluster([trivial], client=client, examples=shards, shards=shards, device="cpu",
                              on_shard=lambda c, r: times.append(r.elapsed_s))
        wall = time.perf_counter() - start
    probe = get_claim(PROBE)
    with open_cluster(workers=2) as client:
        run_claims_on_cluster([probe, probe], client=client, examples=20, shards=1, device="cpu")  # warm both
        solo: list[float] = []
        pair: list[float] = []
        for _ in range(5):
            run_claims_on_cluster([probe], client=client, examples=PROBE_CASES, shards=1, device="cpu",
                                  on_shard=lambda c, r: solo.append(r.elapsed_s))
            run_claims_on_cluster([probe, probe], client=client, examples=PROBE_CASES, shards=1, device="cpu",
                                  on_shard=lambda c, r: pair.append(r.elapsed_s))
    return {"per_shard_s": wall / shards, "inside_shard_s": statistics.mean(times), "shards": shards,
            "contention": statistics.median(pair) / statistics.median(solo)}


def _run(mode: str, args: argparse.Namespace, cache: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "VERIFY_CACHE_DIR": str(cache), "VERIFY_SYMBOLIC_CACHE": "0"}
    command = [sys.executable, str(Path(__file__).resolve()), "--mode", mode, "--examples", str(args.examples),
               "--seed", str(args.seed), "--claims", args.claims, "--probe-shards", str(args.probe_shards)]
    out = subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _makespan(durations: list[float], workers: int) -> float:
    """List scheduling in the given order: each task to the worker that frees first."""
    free = [0.0] * workers
    for d in durations:
        heapq.heappush(free, heapq.heappop(free) + d)
    return max(free)


class _Claim:
    """One claim's costs from the 1-worker run: its shards' times, its symbolic and figures part, and how a shard's
    time grows with its budget (a shard that found a counterexample stops there: its time does not grow)."""

    def __init__(self, row: dict, inside: float) -> None:
        self.shards = row["shards"]
        self.rest_s = max(0.0, row["task_s"] - sum(s["s"] for s in self.shards))  # symbolic part and figures
        self.stops = any(s["found"] for s in self.shards)
        cases = sum(s["cases"] for s in self.shards)
        self.per_case = max(0.0, sum(s["s"] for s in self.shards) - inside * len(self.shards)) / max(1, cases)
        self.inside = inside

    def shard_s(self, budget: int) -> float:
        if self.stops:
            return statistics.mean(s["s"] for s in self.shards)
        return self.inside + budget * self.per_case


def _tasks_measured(claims: dict[str, _Claim], order: list[str], sched: float, slower: float) -> list[float]:
    """The tasks of the measured run in the driver's order: per claim, its symbolic part, then its shards (their
    1-worker times, ``slower`` times longer when workers share the machine's cores)."""
    out = []
    for c in order:
        out += [sched + slower * claims[c].rest_s] + [sched + slower * s["s"] for s in claims[c].shards]
    return out


def _tasks_at(claims: dict[str, _Claim], order: list[str], sched: float, cases: int, shards: int) -> list[float]:
    budget = cases // shards
    out = []
    for c in order:
        out += [sched + claims[c].rest_s] + [sched + claims[c].shard_s(budget)] * shards
    return out


def _model(serial: dict, clusters: dict[int, dict], fixed: dict, args: argparse.Namespace) -> None:
    from verify.cluster import default_shards

    one = clusters[min(clusters)]
    order = sorted(one["claims"])
    inside, sched = fixed["inside_shard_s"], max(0.0, fixed["per_shard_s"] - fixed["inside_shard_s"])
    claims = {c: _Claim(one["claims"][c], inside) for c in order}
    sizes = [s["bytes"] / max(1, s["cases"]) for r in one["claims"].values() for s in r["shards"]]
    per_case = [claims[c].per_case for c in order if not claims[c].stops]
    print(f"\ncost model: a shard costs {1000 * inside:.1f} ms of set-up inside it and {1000 * sched:.1f} ms of "
          f"scheduling and transfer around it (1-case shards of a trivial claim, {fixed['shards']} tasks on 1 worker); "
          f"its result pickles to {statistics.median(sizes):.0f} bytes a case (median); per-case cost of the claims "
          f"without a counterexample {1000 * statistics.median(per_case):.2f} ms median "
          f"({1000 * min(per_case):.3f}–{1000 * max(per_case):.1f} ms); a refuted claim's shard stops at its "
          "counterexample, its time does not grow with the budget")
    cores = os.cpu_count() or 1
    print(f"  two tasks at once on this {cores}-core machine run {fixed['contention']:.2f}x as long as one alone "
          f"({PROBE}, {PROBE_CASES} cases); the model applies it when the workers, the scheduler and the client "
          "share the cores, and not on a cluster of 8 to 512 workers with a core each")
    for k, run in sorted(clusters.items()):
        slower = 1.0 if k == 1 else fixed["contention"]
        predicted = run["startup_s"] + _makespan(_tasks_measured(claims, order, sched, slower), k)
        error = (predicted - run["wall_s"]) / run["wall_s"]
        print(f"  {k} worker(s): predicted {predicted:7.1f} s, measured {run['wall_s']:7.1f} s (start-up "
              f"{run['startup_s']:.1f} s): error {100 * error:+.0f}%")
    big = order[:BIG_CLAIMS]
    big_shards = default_shards(BIG_CASES)
    serial_big = sum(claims[c].rest_s + big_shards * claims[c].shard_s(BIG_CASES // big_shards) for c in big)
    print(f"\npredicted wall time, {len(big)} claims x {BIG_CASES} cases ({big_shards} shards a claim; start-up as "
          f"measured for {max(clusters)} workers): serial {serial_big / 3600:.1f} h")
    for k in WORKER_COUNTS:
        wall = clusters[max(clusters)]["startup_s"] + _makespan(_tasks_at(claims, big, sched, BIG_CASES, big_shards), k)
        print(f"  {k:>4} workers: {wall / 60:8.1f} min ({serial_big / wall:.0f}x serial)")
    overhead = inside + sched
    cheap, typical = min(per_case), statistics.median(per_case)
    here = args.examples // default_shards(args.examples)
    print(f"shard size for a fixed cost under 5% of a shard: >= {19 * overhead / typical:.0f} cases for the median "
          f"claim, >= {19 * overhead / cheap:.0f} for the cheapest (default: {here} here, {BIG_CASES // big_shards} "
          f"at {BIG_CASES})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--claims", default="*", help="comma-separated globs on claim ids (default: all)")
    parser.add_argument("--workers", default="1,2", help="cluster sizes to run (comma-separated)")
    parser.add_argument("--probe-shards", type=int, default=200, help="tasks of the fixed-cost probe")
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        result = (_serial(args) if args.mode == "serial" else _fixed_cost(args) if args.mode == "fixed"
                  else _cluster(args, int(args.mode)))
        print(json.dumps(result))
        return
    print(f"scale-out: {args.examples} examples a claim, seed {args.seed}, claims {args.claims!r}; 1 torch and 1 BLAS "
          f"thread per process; {os.cpu_count()} cores on this machine; baseline: the serial run")
    with tempfile.TemporaryDirectory(prefix="verify-scale-out-") as tmp:
        serial = _run("serial", args, Path(tmp) / "serial")
        clusters = {k: _run(str(k), args, Path(tmp) / f"w{k}") for k in map(int, args.workers.split(","))}
        fixed = _run("fixed", args, Path(tmp) / "fixed")
    print(f"\nserial: {serial['wall_s']:.1f} s for {len(serial['claims'])} claims")
    for k, run in sorted(clusters.items()):
        differ = [c for c, r in run["claims"].items() if r.get("verdict") != serial["claims"][c]["verdict"]]
        print(f"workers {k}: {run['wall_s']:.1f} s (start-up {run['startup_s']:.1f} s); RATIO serial/workers-{k} = "
              f"{serial['wall_s'] / run['wall_s']:.2f}; verdicts that differ from serial: {differ or 'none'}")
    _model(serial, clusters, fixed, args)


if __name__ == "__main__":
    main()
