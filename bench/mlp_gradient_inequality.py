"""C3's per-case computation: ``vmap`` over the batch against a per-example Python loop.

What is timed: :func:`proofs.gradient_inequality.claims.gradient_terms`, everything the
``mlp-gradient-inequality`` check computes for one case (∇_θ f and ∇_x f per example,
the Jacobians J⁽ᵗ⁾ = ∂h⁽ᵗ⁾/∂x, singular values, norms), then the judgement.
Baseline: ``batched=False``, a Python loop over the examples (``autograd.grad`` for
∇_θ f and ∇_x f, ``jacrev`` per example). Contender: ``batched=True`` (``vmap`` of
``grad``/``jacrev`` over the batch, what the claim uses). Workloads: the claim's own
cases (``verify.mlp_head_cases()``, batches of 1-8 examples, depth 1-4, widths 1-16) and
the same strategy with batches of 64. Both routes are checked to give the same numbers
(rtol 1e-12) on every case before anything is timed. One torch thread (what the engine
uses), ``time.perf_counter``, one warm-up pass, the median of 3 passes over all cases.
It also prints the distribution of the tightness ratio lhs/rhs over the claim's cases and
over random networks only (``mlp_head_cases(tight=False)``), generation phase only.

Run: ``python3 bench/mlp_gradient_inequality.py [--cases 100]``
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from _timing import median_seconds
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed

from proofs.gradient_inequality import claims as c3
from verify.numeric import set_torch_threads
from verify.strategies import mlp_head_cases

REPEATS = 3


def _draw(strategy, n: int, seed: int = 0) -> list:
    cases: list = []

    @settings(max_examples=n, database=None, deadline=None, phases=(Phase.generate,),
              suppress_health_check=list(HealthCheck))
    @hypothesis_seed(seed)
    @given(case=strategy)
    def collect(case) -> None:
        cases.append(case)

    collect()
    return cases


def _same_numbers(a: c3.GradientTerms, b: c3.GradientTerms) -> float:
    worst = 0.0
    for name in ("grad_x", "grad_theta", "grad_layer"):
        x, y = getattr(a, name).value(), getattr(b, name).value()
        # per-layer gradients span many decades (1e-59 next to 1e-8): compare against the largest entry
        scale = float(np.abs(y).max(initial=0.0)) or 1.0
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12 * scale)
        worst = max(worst, float(np.max(np.abs(x - y), initial=0.0)) / scale)
    for x, y in zip(a.j_sv, b.j_sv):
        top = float(np.abs(y.value()).max(initial=0.0)) or 1.0
        np.testing.assert_allclose(x.value(), y.value(), rtol=1e-12, atol=1e-12 * top)
    return worst




def _workload(name: str, cases: list) -> tuple[float, float]:
    worst = max(_same_numbers(c3.gradient_terms(c), c3.gradient_terms(c, batched=False)) for c in cases)
    examples = sum(c.mlp.batch for c in cases)
    t_loop = median_seconds(lambda: [c3.gradient_terms(c, batched=False) for c in cases], warmup=1, repeats=REPEATS)
    t_vmap = median_seconds(lambda: [c3.gradient_terms(c) for c in cases], warmup=1, repeats=REPEATS)
    print(f"\n{name}: {len(cases)} cases, {examples} examples; same numbers: yes (max rel diff {worst:.1e})")
    print(f"{'method':<44}{'total s':>10}{'cases / s':>12}{'ms / case':>12}")
    rows = (("per-example Python loop (baseline)", t_loop), ("vmap over the batch (the claim's route)", t_vmap))
    for label, t in rows:
        print(f"{label:<44}{t:>10.3f}{len(cases) / t:>12.1f}{t / len(cases) * 1e3:>12.2f}")
    print(f"RATIO loop/vmap = {t_loop / t_vmap:.2f}x  [{name}]")
    return t_loop, t_vmap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100)
    args = parser.parse_args()
    set_torch_threads(1)
    print(f"mlp-gradient-inequality per-case computation, float64, cpu ({os.cpu_count()} cores), 1 torch thread, "
          f"median of {REPEATS} passes after a warm-up")
    _workload("claim's cases (batch 1-8)", _draw(mlp_head_cases(), args.cases))
    _workload("batch 64", _draw(mlp_head_cases(batch=64), max(args.cases // 4, 10)))

    random_only = c3.make_claim(c3.Form(), claim_id="random-networks-only", statement="C3",
                                cases=lambda: mlp_head_cases(tight=False))
    for label, claim in (("the claim's strategy", c3.SUMMED), ("random networks only (tight=False)", random_only)):
        _print_distribution(label, c3.ratio_distribution(claim, examples=args.cases * 2, seed=0))


def _print_distribution(label: str, dist: dict) -> None:
    print(f"\nratio lhs/rhs of mlp-gradient-inequality, {label}: {dist['cases']} generated cases with rhs > 0 "
          "(seed 0, generation only)")
    print("  " + "  ".join(f"{k} {v:.4g}" for k, v in dist["quantiles"].items()))
    print("  fraction >= " + "  ".join(f"{k}: {v:.2f}" for k, v in dist["at_least"].items()))
    edges = [f"[{i / 10:.1f},{(i + 1) / 10:.1f})" for i in range(10)] + ["[1.0,inf)"]
    print("  histogram " + " ".join(f"{e} {c}" for e, c in zip(edges, dist["histogram"])))


if __name__ == "__main__":
    main()
