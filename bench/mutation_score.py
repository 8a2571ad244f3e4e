"""Mutation score: how many wrong variants of the built-in true claims the engine refutes, against a naive baseline.

Every built-in claim that expects ``holds`` has sites (the formulas its check takes); the operators of
``_mutants.OPERATORS`` are applied to every site, which gives the mutants listed in bench/mutants.md
(regenerate it with ``--write-list bench/mutants.md``). A mutant is a real ``verify.Claim``: the original
with the mutated formula in its check and its re-check. For every counted mutant and seed this runs

* the engine, ``verify.check.run_claim`` (killed = ``refuted``), once at the largest budget when the verdict
  records where the first violation appeared (``found_at_case``), else once per budget;
* the baseline in the same run: plain random sampling with the same budget (a Hypothesis ``@given`` with
  ``phases=[Phase.generate]``, no targeting, stopped at the first violation, the same check, the violation
  confirmed by the claim's re-check);

and, as controls, the unmutated true claims at the same budgets and seeds (any ``refuted`` there is a false
refutation). torch runs on one thread (``torch.set_num_threads(1)``, and BLAS through threadpoolctl when it
is installed), on the CPU in float64.

    python bench/mutation_score.py --jobs 2             # every mutant, seeds 0..4, budgets 30 100 300
    python bench/mutation_score.py --sample 20 --seeds 0 --budgets 30,100 --json /tmp/mut.json
    python bench/mutation_score.py --mutants 'optimizer-*,M01?' --no-controls
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
import time
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
if __name__ in ("__main__", "__mp_main__"):  # before numpy and torch load: BLAS on one thread (workers inherit)
    for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_name] = "1"

from _mutants import OPERATORS, all_mutants, all_sites, holding_claims, site_control  # noqa: E402
from _mutants.runner import KILLED, baseline_outcomes, engine_outcomes, engine_records_position  # noqa: E402


def _ints(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("..") if ".." in part else part.partition("-")
        out += list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]
    return out


def _fix_threads() -> str:
    import torch

    torch.set_num_threads(1)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
        blas = "BLAS limited to 1 thread by threadpoolctl"
    except ImportError:
        blas = "threadpoolctl not installed (BLAS threads as set by the environment: " + ", ".join(
            f"{v}={os.environ.get(v, 'unset')}" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"))
        blas += ")"
    return f"torch threads {torch.get_num_threads()}; {blas}"


def select(patterns: str | None, sample: int | None) -> list[Any]:
    """The counted mutants matching ``patterns`` (globs on id, claim, site or operator), every k-th for ``sample``."""
    chosen = [m for m in all_mutants() if not m.excluded]
    if patterns:
        pats = [p.strip() for p in patterns.split(",") if p.strip()]
        chosen = [m for m in chosen if any(fnmatch.fnmatch(x, p) for p in pats
                                           for x in (m.id, m.claim_id, f"{m.claim_id}/{m.site}", m.op))]
    if sample and sample < len(chosen):
        step = len(chosen) / sample
        chosen = [chosen[int(i * step)] for i in range(sample)]
    return chosen


def _rate(results: list[dict], route: str, b: int) -> tuple[int, int]:
    pairs = [r[route]["by_budget"][str(b)] for r in results if r.get(route)]
    return sum(p == KILLED for p in pairs), len(pairs)


def summarize(results: list[dict], controls: list[dict], budgets: list[int]) -> dict[str, Any]:
    """Kill rates per budget (engine, baseline, their ratio and difference) and false refutations."""
    rows = {}
    for b in budgets:
        ek, n = _rate(results, "engine", b)
        bk, bn = _rate(results, "baseline", b)
        other = Counter(r["engine"]["by_budget"][str(b)] for r in results if r["engine"]["by_budget"][str(b)] != KILLED)
        claims = [c for c in controls if not c.get("site_control")]
        sites = [c for c in controls if c.get("site_control")]
        fr_e = sum(c["engine"]["by_budget"][str(b)] == KILLED for c in claims)
        fr_b = sum(c["baseline"]["by_budget"][str(b)] == KILLED for c in claims if c.get("baseline"))
        rows[b] = {"pairs": n, "engine_killed": ek, "engine_rate": ek / n if n else None,
                   "engine_refuted_or_error": ek + other.get("error", 0),
                   "baseline_killed": bk, "baseline_rate": bk / bn if bn else None,
                   "ratio": (ek / bk if bk else None), "difference_points": (100 * (ek - bk) / n if n and bn else None),
                   "engine_not_killed": dict(other), "false_refutations_engine": fr_e,
                   "false_refutations_baseline": fr_b, "control_pairs": len(claims),
                   "site_control_refutations": sum(c["engine"]["by_budget"][str(b)] == KILLED for c in sites),
                   "site_control_pairs": len(sites)}
    return rows


def lost_counterexamples(results: list[dict], budgets: list[int]) -> list[tuple[str, int, int, int]]:
    """(mutant, seed, b, b') where the engine killed at budget b but not at a larger b' (with
    ``--separate-budgets`` each budget is a run of its own, so this measures that more cases never lose one)."""
    lost = []
    for r in results:
        by = r["engine"]["by_budget"]
        for i, b in enumerate(budgets):
            later = [c for c in budgets[i + 1:] if by[str(c)] != KILLED]
            if by[str(b)] == KILLED and later:
                lost.append((r["mutant"], r["seed"], b, later[0]))
                break
    return lost


def _print_summary(rows: dict, results: list[dict], budgets: list[int]) -> None:
    print(f"\n{'budget':>6}  {'engine killed':>20}  {'baseline killed':>20}  {'ratio':>6}  {'diff':>7}  "
          f"{'false refutations (engine / baseline)':>38}")
    for b, r in rows.items():
        e = f"{r['engine_killed']}/{r['pairs']} ({100 * (r['engine_rate'] or 0):.1f}%)"
        base = f"{r['baseline_killed']}/{r['pairs']} ({100 * (r['baseline_rate'] or 0):.1f}%)" \
            if r["baseline_rate"] is not None else "—"
        ratio = f"{r['ratio']:.2f}" if r["ratio"] else "—"
        diff = f"{r['difference_points']:+.1f}pt" if r["difference_points"] is not None else "—"
        fr = f"{r['false_refutations_engine']} / {r['false_refutations_baseline']} of {r['control_pairs']}"
        print(f"{b:>6}  {e:>20}  {base:>20}  {ratio:>6}  {diff:>7}  {fr:>38}")
        if r["engine_not_killed"]:
            print(f"{'':>8}engine, not killed: {r['engine_not_killed']} (refuted or error: "
                  f"{r['engine_refuted_or_error']}/{r['pairs']}; an error is a mutated formula the check cannot "
                  "evaluate, e.g. NaN)")
        if r["site_control_pairs"]:
            print(f"{'':>8}sites rebuilt unmutated, refuted: {r['site_control_refutations']} of "
                  f"{r['site_control_pairs']}")
    lost = lost_counterexamples(results, budgets)
    print(f"\nkilled at a budget but not at a larger one (more cases losing a counterexample): {len(lost)}"
          + "".join(f"\n  {m} seed {s}: killed at {b}, not at {c}" for m, s, b, c in lost))
    top = str(max(budgets))
    per_claim: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for res in results:
        c = per_claim[res["claim"]]
        c[0] += res["engine"]["by_budget"][top] == KILLED
        c[1] += bool(res.get("baseline")) and res["baseline"]["by_budget"][top] == KILLED
        c[2] += 1
    print(f"\nper claim at {top} examples (engine / baseline killed, of mutant×seed pairs):")
    for claim, (e, bl, n) in sorted(per_claim.items()):
        print(f"  {claim:42s} {e:>4} / {bl:>4} of {n}")
    survivors = sorted({(r["mutant"], r["claim"], r["description"]) for r in results
                        if r["engine"]["by_budget"][top] != KILLED})
    print(f"\nnot killed by the engine at {top} examples (at some seed): {len(survivors)}")
    for mid, claim, desc in survivors:
        seeds = [r["seed"] for r in results if r["mutant"] == mid and r["engine"]["by_budget"][top] != KILLED]
        print(f"  {mid} {claim}: {desc} (seeds {seeds})")


_BY_ID: dict[str, Any] = {}


def _mutant(mid: str) -> Any:
    if not _BY_ID:
        _BY_ID.update({m.id: m for m in all_mutants()})
    return _BY_ID[mid]


def mutant_row(mid: str, seed: int, budgets: list[int], baseline: bool, separate: bool) -> dict[str, Any]:
    """One mutant at one seed: the engine's outcome per budget and, unless skipped, the baseline's."""
    m = _mutant(mid)
    claim = m.claim()
    row = {"mutant": m.id, "claim": m.claim_id, "site": m.site, "operator": m.op, "description": m.description,
           "seed": seed, "engine": engine_outcomes(claim, budgets, seed, separate=separate).to_json()}
    if baseline:
        row["baseline"] = baseline_outcomes(claim, budgets, seed).to_json()
    return row


def control_row(cid: str, seed: int, budgets: list[int], baseline: bool, separate: bool) -> dict[str, Any]:
    """An unmutated claim at one seed: a built-in claim id, or ``site:N`` for site N rebuilt unmutated."""
    from verify import get_claim

    if cid.startswith("site:"):
        claim = site_control(all_sites()[int(cid[5:])])
        return {"claim": claim.id, "seed": seed, "site_control": True,
                "engine": engine_outcomes(claim, budgets, seed, separate=separate).to_json()}
    claim = replace(get_claim(cid), symbolic=None, figures=None)
    row = {"claim": cid, "seed": seed, "engine": engine_outcomes(claim, budgets, seed, separate=separate).to_json()}
    if baseline:
        row["baseline"] = baseline_outcomes(claim, budgets, seed).to_json()
    return row


def _progress(row: dict[str, Any], done: int, total: int, top: int) -> None:
    e, bl = row["engine"], row.get("baseline")
    if "mutant" in row:
        text = (f"{row['mutant']} {row['claim']:36s} seed {row['seed']}: engine {e['by_budget'][str(top)]} "
                f"at {e['found_at']} ({e['seconds']:.1f}s)")
        if bl:
            text += f", baseline {bl['by_budget'][str(top)]} at {bl['found_at']} ({bl['seconds']:.1f}s)"
    else:
        text = f"control {row['claim']:48s} seed {row['seed']}: engine {e['by_budget'][str(top)]} ({e['seconds']:.1f}s)"
    print(f"[{done}/{total}] {text}", file=sys.stderr, flush=True)


def _run_tasks(tasks: list[tuple[Any, ...]], jobs: int, top: int) -> list[dict[str, Any]]:
    """Run (function, *args) tasks, in ``jobs`` spawned one-thread worker processes when ``jobs > 1``;
    the rows come back in task order."""
    rows: list[Any] = [None] * len(tasks)
    if jobs <= 1:
        for i, (fn, *fargs) in enumerate(tasks):
            rows[i] = fn(*fargs)
            _progress(rows[i], i + 1, len(tasks), top)
        return rows
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    pool = ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=_fix_threads)
    try:
        futures = {pool.submit(fn, *fargs): i for i, (fn, *fargs) in enumerate(tasks)}
        for n, fut in enumerate(as_completed(futures), 1):
            rows[futures[fut]] = fut.result()
            _progress(rows[futures[fut]], n, len(tasks), top)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return rows


def run(args: argparse.Namespace) -> int:
    budgets, seeds = sorted(set(_ints(args.budgets))), _ints(args.seeds)
    threads = _fix_threads()
    chosen = select(args.mutants, args.sample)
    position = engine_records_position()
    counted = [m for m in all_mutants() if not m.excluded]
    print(f"{len(all_mutants())} mutants, {len(counted)} counted ({len(all_mutants()) - len(counted)} excluded, "
          f"see bench/mutants.md); running {len(chosen)} × seeds {seeds} at budgets {budgets}")
    print(f"threads: {threads}; jobs {args.jobs} (each a process on one thread)")
    print("engine: " + ("records found_at_case: one run per mutant and seed at the largest budget"
                        if position and not args.separate_budgets else "one run per budget"))
    flags = (budgets, not args.no_baseline, args.separate_budgets)
    start = time.monotonic()
    results = _run_tasks([(mutant_row, m.id, seed, *flags) for m in chosen for seed in seeds], args.jobs,
                         budgets[-1])
    mutants_s = time.monotonic() - start
    control_ids: list[str] = []
    if not args.no_controls:
        control_ids += sorted({m.claim_id for m in chosen}) if args.mutants or args.sample else holding_claims()
    if args.site_controls:
        claim_ids = {m.claim_id for m in chosen}
        control_ids += [f"site:{i}" for i, s in enumerate(all_sites()) if s.claim in claim_ids]
    controls = _run_tasks([(control_row, cid, seed, *flags) for cid in control_ids for seed in seeds], args.jobs,
                          budgets[-1])
    total = time.monotonic() - start
    rows = summarize(results, controls, budgets)
    _print_summary(rows, results, budgets)
    e_s = sum(r["engine"]["seconds"] for r in results)
    b_s = sum(r["baseline"]["seconds"] for r in results if r.get("baseline"))
    c_s = total - mutants_s
    print(f"\ntime: {total:.0f} s in all — mutants {mutants_s:.0f} s (engine {e_s:.0f} s, baseline {b_s:.0f} s), "
          f"controls {c_s:.0f} s; {mutants_s / max(len(results), 1):.2f} s wall per mutant×seed")
    top = max(budgets)
    if rows[top]["ratio"]:
        print(f"RATIO engine/baseline kill rate at {top} examples: {rows[top]['ratio']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "budgets": budgets, "seeds": seeds, "threads": threads, "engine_records_position": position,
            "mutants_total": len(all_mutants()), "mutants_counted": len(counted), "selected": [m.id for m in chosen],
            "summary": {str(b): r for b, r in rows.items()}, "results": results, "controls": controls,
            "lost_counterexamples": lost_counterexamples(results, budgets),
            "seconds": {"total": total, "mutants": mutants_s, "engine": e_s, "baseline": b_s, "controls": c_s},
        }, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budgets", default="30,100,300", help="examples per run (default 30,100,300)")
    parser.add_argument("--seeds", default="0-4", help="seeds: 0-4, 0..4 or 0,3,7 (default 0-4)")
    parser.add_argument("--mutants", help="comma-separated globs on mutant id, claim id, claim/site or operator")
    parser.add_argument("--sample", type=int, help="run every k-th counted mutant so that about N run")
    parser.add_argument("--json", help="write every result and the summary to this file")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes, each on one thread (default 1)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the random-sampling baseline")
    parser.add_argument("--no-controls", action="store_true", help="skip the unmutated claims (false refutations)")
    parser.add_argument("--site-controls", action="store_true",
                        help="also run each site's claim rebuilt with its formula unmutated (a self-check)")
    parser.add_argument("--shards", type=int, default=0,
                        help="run the engine with run_claim(shards=N) (one run per budget); default: no shards")
    parser.add_argument("--separate-budgets", action="store_true",
                        help="one engine run per budget even when the engine records found_at_case")
    parser.add_argument("--list", action="store_true", help="print the mutants (id, claim, operator, status) and stop")
    parser.add_argument("--write-list", metavar="PATH", help="write the operator and mutant list (Markdown) and stop")
    args = parser.parse_args(argv)
    if args.shards:
        from _mutants.runner import SHARDS_ENV

        os.environ[SHARDS_ENV] = str(args.shards)  # the workers inherit it
    if args.write_list:
        from _mutants.listing import write_list

        write_list(Path(args.write_list), all_sites(), all_mutants(), OPERATORS)
        return 0
    if args.list:
        for m in all_mutants():
            print(f"{m.id}  {m.claim_id:40s} {m.op:15s} {m.description}" + (f"  [excluded: {m.excluded}]"
                                                                           if m.excluded else ""))
        return 0
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
