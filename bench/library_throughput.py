"""Throughput of the whole built-in library, serial: per claim, cases per second and where the time goes.

Runs every built-in claim (or those matching ``--claims``) at ``--examples`` cases (default 1000), seed
``--seed``, one torch thread and one BLAS thread (threadpoolctl, for the current code and the baseline alike),
in a fresh process; then the same for a baseline commit (default f5dbfd0, before the search issue) checked out
in a git worktree, in the same run, and prints the ratio of the wall times (baseline / current; > 1 is faster).

Where the time goes, per claim: ``symbolic`` (the claim's SymPy part), ``check`` (the claim's numeric check and
its oracle, while searching), ``shrink`` (the check after the first violation: Hypothesis shrinking it),
``recheck`` (the independent re-check), ``figures``, and ``engine`` (the rest: case generation, targeting,
bookkeeping). A claim's numbers come from wrapping its callables, so the engine's own code is not touched; the
wrapped derivations are closures, which the on-disk symbolic cache never serves, so ``symbolic`` is what the
derivations cost. ``--cli`` also times what a user runs, ``verify check --examples N --threads 1`` on the whole
library in a fresh process, twice: with an empty cache folder (derivations run and are stored), then again (they
are read back).

    python bench/library_throughput.py                          # the library at 1000 examples vs f5dbfd0
    python bench/library_throughput.py --cli                    # and `verify check` as a user runs it
    python bench/library_throughput.py --examples 100 --baseline none --claims 'descent-*'
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("symbolic", "check", "shrink", "recheck", "figures")


class _Clock:
    """Seconds per part of one claim's run; a violating check switches ``check`` time to ``shrink``."""

    def __init__(self) -> None:
        self.parts = dict.fromkeys(PARTS, 0.0)
        self.violated = False

    def wrap(self, fn, part: str):  # noqa: ANN001, ANN201 - any callable of a claim
        if fn is None:
            return None

        def timed(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            name = "shrink" if part == "check" and self.violated else part
            start = time.perf_counter()
            try:
                result = fn(*args, **kwargs)
            finally:
                self.parts[name] += time.perf_counter() - start
            comparison = getattr(result, "comparison", None)
            if part == "check" and getattr(comparison, "status", None) == "violated":
                self.violated = True
            return result

        return timed


def _worker(examples: int, seed: int, pattern: str) -> list[dict]:
    """Run the claims of the ``verify`` on sys.path; one dict per claim."""
    from threadpoolctl import threadpool_limits

    from verify import run_claim
    from verify.claims.registry import all_claims, load_builtin_claims

    load_builtin_claims()
    rows = []
    with threadpool_limits(limits=1, user_api="blas"):
        for claim in sorted(all_claims(), key=lambda c: c.id):
            if not any(fnmatch.fnmatch(claim.id, p.strip()) for p in pattern.split(",")):
                continue
            clock = _Clock()
            timed = replace(claim, symbolic=clock.wrap(claim.symbolic, "symbolic"),
                            check=clock.wrap(claim.check, "check"), recheck=clock.wrap(claim.recheck, "recheck"),
                            figures=clock.wrap(claim.figures, "figures"))
            start = time.perf_counter()
            verdict = run_claim(timed, examples=examples, seed=seed, device="cpu", threads=1)
            wall = time.perf_counter() - start
            cases = int((verdict.numeric or {}).get("examples", 0))
            rows.append({"claim": claim.id, "verdict": verdict.verdict.value, "cases": cases, "wall_s": wall,
                         "parts": {**clock.parts, "engine": max(0.0, wall - sum(clock.parts.values()))}})
            print(f"  {claim.id:<48} {verdict.verdict.value:<12} {cases:>5} cases {wall:7.1f} s", file=sys.stderr,
                  flush=True)
    return rows


def _run(root: Path, args: argparse.Namespace) -> list[dict]:
    """The worker in a fresh interpreter with ``root`` first on the path (its ``verify``, its ``proofs``)."""
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(ROOT / "bench" / "library_throughput.py"), "--worker", "--examples",
               str(args.examples), "--seed", str(args.seed), "--claims", args.claims]
    out = subprocess.run(command, cwd=root, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _table(rows: list[dict], title: str) -> float:
    total = sum(r["wall_s"] for r in rows)
    print(f"\n{title}: {len(rows)} claims, {total:.1f} s wall ({total / 60:.2f} min)")
    print(f"{'claim':<48} {'verdict':<12} {'cases':>5} {'wall s':>7} {'cases/s':>8}  "
          + " ".join(f"{p:>8}" for p in (*PARTS, "engine")))
    for r in sorted(rows, key=lambda r: -r["wall_s"]):
        rate = r["cases"] / r["wall_s"] if r["wall_s"] > 0 else 0.0
        shares = " ".join(f"{100 * r['parts'][p] / r['wall_s']:7.0f}%" if r["wall_s"] > 0 else "       -"
                          for p in (*PARTS, "engine"))
        print(f"{r['claim']:<48} {r['verdict']:<12} {r['cases']:>5} {r['wall_s']:7.1f} {rate:8.1f}  {shares}")
    parts = {p: sum(r["parts"][p] for r in rows) for p in (*PARTS, "engine")}
    print("all claims: " + ", ".join(f"{p} {100 * v / total:.0f}%" for p, v in parts.items()) if total else "")
    return total


def _cli_runs(args: argparse.Namespace) -> dict[str, float]:
    """Wall seconds of ``verify check`` over the whole library, with an empty symbolic cache and then with it full."""
    walls = {}
    with tempfile.TemporaryDirectory(prefix="verify-cache-") as cache:
        env = {**os.environ, "VERIFY_CACHE_DIR": cache, "OMP_NUM_THREADS": "1"}
        command = [sys.executable, "-m", "verify.cli", "check", "--examples", str(args.examples), "--seed",
                   str(args.seed), "--threads", "1", "--quiet"]
        for label in ("cold cache", "warm cache"):
            start = time.perf_counter()
            done = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
            walls[label] = time.perf_counter() - start
            last = (done.stdout.strip().splitlines() or [""])[-1]
            print(f"verify check --examples {args.examples} --threads 1 ({label}): {walls[label]:.1f} s wall "
                  f"({walls[label] / 60:.2f} min), exit {done.returncode}: {last}")
    return walls


def _baseline(commit: str, args: argparse.Namespace) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="verify-baseline-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), commit], check=True)
        try:
            return _run(tree, args)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--claims", default="*", help="comma-separated globs on claim ids (default: all)")
    parser.add_argument("--baseline", default="f5dbfd0", help="a commit to compare with, or 'none'")
    parser.add_argument("--json", help="write both runs' rows here")
    parser.add_argument("--cli", action="store_true", help="also time `verify check` on the whole library (twice)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.examples, args.seed, args.claims)))
        return
    print(f"library throughput: {args.examples} examples a claim, seed {args.seed}, serial, 1 torch thread, "
          f"1 BLAS thread (threadpoolctl), {os.cpu_count()} cores on this machine")
    current = _run(ROOT, args)
    total = _table(current, "current")
    result = {"current": current}
    if args.baseline != "none":
        base = _baseline(args.baseline, args)
        base_total = _table(base, f"baseline {args.baseline}")
        common = {r["claim"] for r in base} & {r["claim"] for r in current}
        now = sum(r["wall_s"] for r in current if r["claim"] in common)
        then = sum(r["wall_s"] for r in base if r["claim"] in common)
        print(f"\nRATIO baseline/current, whole libraries: {base_total / total:.2f} ({base_total:.1f} s for "
              f"{len(base)} claims vs {total:.1f} s for {len(current)})")
        print(f"RATIO baseline/current, the {len(common)} claims in both: {then / now:.2f} ({then:.1f} s vs "
              f"{now:.1f} s)")
        changed = [(r["claim"], b["verdict"], r["verdict"]) for r in current for b in base
                   if r["claim"] == b["claim"] and r["verdict"] != b["verdict"]]
        print("verdicts that differ: " + (", ".join(f"{c} {b}→{n}" for c, b, n in changed) or "none"))
        result["baseline"] = base
    if args.cli:
        print()
        result["cli"] = _cli_runs(args)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
