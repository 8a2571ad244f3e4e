"""Seed sweep: every built-in claim at many seeds, each verdict against the claim's expectation.

A claim that ``holds`` must come out ``proved`` or ``verified``, one expected ``refuted`` must come out
``refuted``; anything else (a wrong verdict, ``inconclusive``, ``error``) is a mismatch. The default is
the issue-13 sweep: every built-in claim (50 since issue 16) at 200 examples over seeds 0..19 (about 40
minutes on one core for the 34 of issue 13; ``--jobs 2`` runs two worker processes).

Every run is ``verify.check.run_claim(claim, examples=, seed=, device="cpu", threads=1)``, in float64:
torch on one thread, and the BLAS libraries too (run as a script, ``OMP_NUM_THREADS``,
``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` are set to 1 before numpy and torch load), so a run gives
what ``verify check NAME --seed S --examples N`` gives; the command to replay a mismatch is printed beside it.

    python bench/seed_sweep.py                                    # 50 claims × seeds 0..19 × 200 examples
    python bench/seed_sweep.py --claims 'descent-*,gradient-norm-penalty-fd-order' --seeds 3,4,18 --jobs 2
    python bench/seed_sweep.py --seeds 0-1 --examples 20 --claims max-norm-projection,seed000-* --json /tmp/s.json

Exit status 0 iff every verdict matches its expectation (130 on Ctrl-C, after the table of what finished).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from typing import Any

#: the BLAS thread variables, set to 1 by :func:`main` before numpy and torch load (worker processes inherit them)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: what a matching verdict is, by expectation
MATCHING = {"holds": ("proved", "verified"), "refuted": ("refuted",)}


@dataclass(frozen=True)
class Outcome:
    """One (claim, seed) run."""

    claim: str
    seed: int
    expected: str
    verdict: str
    matches: bool
    elapsed_s: float
    message: str
    replay: str


def parse_seeds(text: str) -> list[int]:
    """``0-19``, ``0..19``, ``3,4,18`` or a mix (``0-2,7``) -> the seeds, in order, without repeats."""
    seeds: list[int] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        lo, sep, hi = part.partition("..") if ".." in part else part.partition("-")
        for s in (range(int(lo), int(hi) + 1) if sep else (int(lo),)):
            if s not in seeds:
                seeds.append(s)
    if not seeds:
        raise argparse.ArgumentTypeError(f"no seed in {text!r}")
    return seeds


def select_claims(patterns: str | None) -> list[Any]:
    """The built-in claims (``verify.all_claims()``, sorted by id) whose id matches one of the comma-separated globs."""
    import verify

    claims = verify.all_claims()
    if not patterns:
        return claims
    pats = [p.strip() for p in patterns.split(",") if p.strip()]
    chosen = [c for c in claims if any(fnmatch.fnmatch(c.id, p) for p in pats)]
    unmatched = [p for p in pats if not any(fnmatch.fnmatch(c.id, p) for c in claims)]
    if unmatched:
        raise SystemExit(f"seed_sweep: no built-in claim matches {', '.join(unmatched)}")
    return chosen


def limit_blas_threads() -> None:
    """Set :data:`THREAD_VARIABLES` to 1; effective when numpy and torch are not loaded yet (the script's case)."""
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"


def fix_threads() -> str:
    """One torch thread; the sentence that says so, with the BLAS variables as they are."""
    import torch

    torch.set_num_threads(1)
    blas = ", ".join(f"{v}={os.environ.get(v)}" for v in THREAD_VARIABLES)
    return f"torch threads {torch.get_num_threads()} (torch.set_num_threads(1), run_claim(threads=1)); {blas}"


def run_one(claim: Any, seed: int, examples: int) -> Outcome:
    """Check ``claim`` (a Claim, or a built-in id) at ``seed`` and compare the verdict with its expectation."""
    import verify
    from verify.check import run_claim
    from verify.claims.replay import replay_line

    if isinstance(claim, str):
        claim = verify.get_claim(claim)
    start = time.perf_counter()
    v = run_claim(claim, examples=examples, seed=seed, device="cpu", dtype="float64", threads=1)
    kind, expected = str(getattr(v.verdict, "value", v.verdict)), str(getattr(v.expected, "value", v.expected))
    return Outcome(claim.id, seed, expected, kind, kind in MATCHING[expected], time.perf_counter() - start,
                   " ".join(str(v.message).split()), replay_line(v))


def _worker_init() -> None:
    fix_threads()


def sweep(claims: list[Any], seeds: list[int], examples: int, jobs: int = 1,
          progress: Callable[[Outcome, int, int], None] | None = None) -> list[Outcome]:
    """Run every claim at every seed; ``jobs > 1`` uses worker processes (built-in claims only, by id).

    On Ctrl-C the outcomes finished so far are returned (``KeyboardInterrupt`` is not re-raised here; the
    caller sees fewer outcomes than runs).
    """
    tasks = [(c, s) for s in seeds for c in claims]
    done: list[Outcome] = []
    try:
        if jobs <= 1:
            for claim, seed in tasks:
                done.append(run_one(claim, seed, examples))
                if progress:
                    progress(done[-1], len(done), len(tasks))
        else:
            pool = ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=_worker_init)
            try:
                futures = [pool.submit(run_one, c.id, s, examples) for c, s in tasks]
                for fut in as_completed(futures):
                    done.append(fut.result())
                    if progress:
                        progress(done[-1], len(done), len(tasks))
            finally:
                pool.shutdown(wait=False, cancel_futures=True)
    except KeyboardInterrupt:
        pass
    order = {(c.id, s): i for i, (c, s) in enumerate(tasks)}
    return sorted(done, key=lambda o: order[(o.claim, o.seed)])


def mismatch_table(outcomes: Iterable[Outcome]) -> str:
    """The mismatches as a Markdown table (seed, claim, expected, verdict, message, replay command)."""
    rows = [o for o in outcomes if not o.matches]
    if not rows:
        return "no mismatches"
    lines = ["| seed | claim | expected | verdict | message | replay |", "|---|---|---|---|---|---|"]
    for o in rows:
        msg = o.message if len(o.message) <= 160 else o.message[:157] + "..."
        lines.append(f"| {o.seed} | `{o.claim}` | {o.expected} | {o.verdict} | {msg} | `{o.replay}` |")
    return "\n".join(lines)


def summary(outcomes: list[Outcome], total: int, wall_s: float, threads: str) -> str:
    matched = sum(o.matches for o in outcomes)
    lines = [f"matched {matched} of {total}" + (f" ({total - len(outcomes)} not run: interrupted)"
                                                if len(outcomes) < total else ""),
             f"wall time {wall_s:.1f} s (claims' own time {sum(o.elapsed_s for o in outcomes):.1f} s)",
             threads]
    slow = sorted(outcomes, key=lambda o: -o.elapsed_s)[:3]
    if slow:
        lines.append("slowest: " + ", ".join(f"{o.claim} seed {o.seed} {o.elapsed_s:.1f} s" for o in slow))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=parse_seeds, default=list(range(20)), help="e.g. 0-19 (default), 3,4,18")
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--claims", default=None, help="comma-separated ids or globs of built-in claims (default all)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (each on one thread)")
    parser.add_argument("--json", default=None, metavar="FILE", help="write every outcome and the summary")
    parser.add_argument("--quiet", action="store_true", help="no line per run, only mismatches and the summary")
    args = parser.parse_args(argv)
    if "torch" not in sys.modules and "numpy" not in sys.modules:
        limit_blas_threads()
    claims = select_claims(args.claims)
    threads = fix_threads()
    total = len(claims) * len(args.seeds)
    print(f"seed sweep: {len(claims)} claims × {len(args.seeds)} seeds ({args.seeds[0]}…{args.seeds[-1]}) × "
          f"{args.examples} examples = {total} verdicts; CPU, float64; {threads}; jobs {args.jobs}", flush=True)

    def progress(o: Outcome, k: int, n: int) -> None:
        if not args.quiet or not o.matches:
            mark = "ok " if o.matches else "BAD"
            print(f"[{k}/{n}] {mark} seed {o.seed:>3} {o.claim:<44} {o.verdict:<12} expected {o.expected:<8} "
                  f"{o.elapsed_s:6.1f}s", flush=True)

    start = time.perf_counter()
    outcomes = sweep(claims, args.seeds, args.examples, args.jobs, progress)
    wall = time.perf_counter() - start
    text = summary(outcomes, total, wall, threads)
    print("\nmismatches:\n" + mismatch_table(outcomes) + "\n\n" + text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"seeds": args.seeds, "examples": args.examples, "claims": [c.id for c in claims],
                       "total": total, "matched": sum(o.matches for o in outcomes), "wall_s": wall,
                       "threads": threads, "interrupted": len(outcomes) < total,
                       "outcomes": [asdict(o) for o in outcomes]}, fh, indent=1)
    if len(outcomes) < total:
        return 130
    return 0 if all(o.matches for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
