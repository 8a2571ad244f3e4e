"""``descent-lemma`` with the certified curvature bound M: verdicts, undecidable MLP cases, certified/sampled M.

For each seed, runs the claim (``run_claim``, one torch thread) and records the details of every distinct case
the check decided. Prints per seed and in total: the verdict, wall time and the time spent certifying M; the
MLP cases and how many were undecidable for want of a certified bound (no finite bound within the work
limit; goal ≤ 5 %), undecidable by round-off with a certified bound (``r-off``), or certified but not
converged to the tolerance; the share of decided cases whose drawn step the certified bound
guarantees to decrease L (α·M < 2); and the ratio certified/sampled M against the named baseline, the sampled
estimate the check used before (33 directional points and λ_max by Lanczos at 5), and against its directional
samples alone. A certified M below a directional sample would be a bug: the count is printed (must be 0).

Run: ``python bench/descent_certified_bound.py [--seeds 0-19] [--examples 200]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time

from proofs.descent import numeric as num
from proofs.descent import problems
from proofs.descent.claims import DESCENT
from verify import run_claim

_CERTIFY = problems.certify_curvature
_spent = [0.0]


def _timed_certify(*args, **kwargs):
    start = time.perf_counter()
    try:
        return _CERTIFY(*args, **kwargs)
    finally:
        _spent[0] += time.perf_counter() - start


def _no_bound(case: dict) -> bool:
    """Undecidable for want of a certified M (no finite bound within the work limit)."""
    return case["status"] == "undecidable" and "M" not in case and case.get("reason") != "g = 0"


def _roundoff(case: dict) -> bool:
    """Undecidable with a certified M: the round-off of L exceeds 1% of the scale (the engine's rule)."""
    return case["status"] == "undecidable" and "M" in case


def _seeds(text: str) -> list[int]:
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",")]


def _stats(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (f"mean {statistics.fmean(values):.4g}, median {statistics.median(values):.4g}, "
            f"max {max(values):.4g}, min {min(values):.4g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-19")
    parser.add_argument("--examples", type=int, default=200)
    args = parser.parse_args()
    problems.certify_curvature = _timed_certify  # time the certification inside the check
    rows, every = [], []
    for seed in _seeds(args.seeds):
        seen: dict[str, dict] = {}

        def check(case, ctx, seen=seen):
            result = num.descent_check(case, ctx)
            seen.setdefault(json.dumps(case.to_json(), sort_keys=True, default=str),
                            {"problem": case.problem.name, "status": result.comparison.status,
                             "certification": {}, **result.details})
            return result

        claim = dataclasses.replace(DESCENT, check=check)
        _spent[0] = 0.0
        start = time.perf_counter()
        verdict = run_claim(claim, examples=args.examples, seed=seed, device="cpu", threads=1)
        wall = time.perf_counter() - start
        cases = list(seen.values())
        every += cases
        rows.append((seed, verdict.verdict.value, verdict.matches_expectation, wall, _spent[0], cases))
    print(f"descent-lemma, {args.examples} examples, one torch thread; baseline = the sampled M "
          f"(the largest of {problems.SEGMENT_POINTS} directional points)")
    print(f"{'seed':>4} {'verdict':<9} {'ok':<3} {'wall s':>7} {'cert s':>7} {'cases':>6} {'MLP':>4} {'no M':>5} "
          f"{'r-off':>5} {'unconv':>6} {'αM<2':>6} {'ratio mean':>11} {'ratio max':>10}")
    for seed, kind, ok, wall, cert, cases in rows:
        mlp = [c for c in cases if c["problem"] == "MLPCase"]
        decided = [c for c in cases if "M" in c]
        ratios = [c["M_ratio_certified_to_sampled"] for c in mlp if c.get("M_ratio_certified_to_sampled")]
        share = sum(c["decrease_guaranteed"] for c in decided) / max(len(decided), 1)
        print(f"{seed:>4} {kind:<9} {'yes' if ok else 'NO':<3} {wall:>7.1f} {cert:>7.2f} {len(cases):>6} {len(mlp):>4} "
              f"{sum(_no_bound(c) for c in mlp):>5} {sum(_roundoff(c) for c in mlp):>5} "
              f"{sum(c['certification'].get('converged') is False for c in mlp):>6} {100 * share:>5.0f}% "
              f"{statistics.fmean(ratios) if ratios else float('nan'):>11.4g} "
              f"{max(ratios, default=float('nan')):>10.4g}")
    mlp = [c for c in every if c["problem"] == "MLPCase"]
    decided = [c for c in every if "M" in c]  # not the zero-gradient cases (g = 0: nothing to bound)
    undecidable = sum(_no_bound(c) for c in mlp)
    below = sum(c["M"] < c["certification"]["M_sampled_directional"] for c in mlp if "M" in c)
    wall, cert = sum(r[3] for r in rows), sum(r[4] for r in rows)
    print(f"verdicts matching expectation: {sum(r[2] for r in rows)} of {len(rows)} "
          f"({', '.join(sorted({r[1] for r in rows}))})")
    print(f"distinct cases: {len(every)}, MLP {len(mlp)}; MLP undecidable {undecidable} "
          f"({100 * undecidable / max(len(mlp), 1):.2f}%, goal ≤ 5%) for want of a certified bound, "
          f"{sum(_roundoff(c) for c in mlp)} with a certified bound but round-off above 1% of the scale; "
          f"certified but not converged {sum(c['certification'].get('converged') is False for c in mlp)}")
    print(f"decided cases with α·M < 2 at the drawn step (decrease guaranteed): "
          f"{sum(c['decrease_guaranteed'] for c in decided)} of {len(decided)} "
          f"({100 * sum(c['decrease_guaranteed'] for c in decided) / max(len(decided), 1):.1f}%); "
          f"MLP {sum(c['decrease_guaranteed'] for c in mlp if 'M' in c)} of {sum('M' in c for c in mlp)}")
    print("RATIO certified/sampled M (baseline: the sampled M), MLP: "
          + _stats([c["M_ratio_certified_to_sampled"] for c in mlp if c.get("M_ratio_certified_to_sampled")]))
    print("ratio certified/sampled directional M, MLP: "
          + _stats([c["M_ratio_certified_to_sampled_directional"] for c in mlp
                    if c.get("M_ratio_certified_to_sampled_directional")]))
    print(f"MLP cases where the certified M is more than 10x the sampled M: "
          f"{sum((c.get('M_ratio_certified_to_sampled') or 0) > 10 for c in mlp)}; certified M below a directional "
          f"sample (a bug): {below}")
    print(f"wall time {wall:.1f} s in all ({wall / len(rows):.1f} s per seed), of which certifying M {cert:.1f} s "
          f"({100 * cert / wall:.1f}%)")


if __name__ == "__main__":
    main()
