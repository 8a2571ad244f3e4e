"""Trace and top-k estimators against dense computation on small networks (issue 19).

For each operator — the loss Hessian and the GGN of a few networks of ``verify.modules()`` and of the
regularizer checker's ``mlp`` task — the exact trace and spectrum come from the dense matrix. Then, for each
product budget, every trace estimator runs at ``--seeds`` seeds and the bench prints the median relative error,
the fraction of runs whose reported error (one standard error) covers the truth within 2σ, and the ratio of
Hutchinson's median error (the named baseline: Rademacher probes, the same budget) to each contender's. Top-k:
the largest Lanczos residual ‖Hv − λv‖ and the largest eigenvalue error, relative to |λ_max|.
One torch thread, one BLAS thread. Run: ``python bench/curvature_estimators.py [--seeds N] [--budgets 10,30,100]``.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch
from hypothesis import HealthCheck, given, seed, settings
from threadpoolctl import threadpool_limits

from verify import functional, ggn_operator, hutch_plus_plus, hutchinson, modules, top_eigenpairs, xtrace
from verify.numeric import set_torch_threads
from verify.regularizers.model import make_task

ESTIMATORS = {"hutchinson": lambda op, n, b, s: hutchinson(op, n, b, seed=s),
              "hutch++": lambda op, n, b, s: hutch_plus_plus(op, n, b, seed=s),
              "xtrace": lambda op, n, b, s: xtrace(op, n, b, seed=s)}


def _networks(count: int) -> list:
    found: list = []

    @settings(max_examples=200, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @seed(11)
    @given(modules(activations=("tanh", "gelu"), width=(3, 4), depth=(1, 2), batch=(3, 4), max_scale=3.0))
    def collect(case):
        fm = functional(case)
        if len(found) < count and 40 <= fm.n <= 400 and case.arch not in {c[0] for c in found}:
            found.append((case.arch, case))

    collect()
    return [c for _, c in found]


def operators(count: int) -> list[tuple[str, object, int, torch.Tensor]]:
    """(name, product, n, dense matrix) for each network's Hessian and GGN, and the regularizer's mlp task."""
    out = []
    task = make_task("mlp", seed=0, dtype=torch.float64, device="cpu")
    out.append((f"mlp task Hessian (n={task.n})", task.hvp_operator(task.theta0), task.n,
                task.dense_hessian(task.theta0)))
    for case in _networks(count):
        fm = functional(case)
        H = fm.dense_hessian(fm.theta0)
        G_op = ggn_operator(fm, fm.theta0)
        G = torch.stack([G_op(e) for e in torch.eye(fm.n, dtype=torch.float64)], dim=1)
        out.append((f"{case.arch} Hessian (n={fm.n})", fm.hvp_operator(fm.theta0), fm.n, H))
        out.append((f"{case.arch} GGN (n={fm.n})", G_op, fm.n, (G + G.T) / 2))
    return out


def _ratio(baseline: float, contender: float) -> str:
    """baseline/contender, or "exact" where the contender is at round-off (its sketch spans the range)."""
    return "exact (round-off)" if contender <= 1e-12 else f"{baseline / contender:.1f}×"


def trace_table(ops: list, budgets: list[int], seeds: int) -> None:
    print(f"trace: median |estimate − tr H| / ‖H‖_* over {seeds} seeds, [coverage: |error| ≤ 2 × reported error]; "
          "RATIO = Hutchinson's median error / the contender's (same budget; 'exact' where the contender's sketch "
          "spans the operator's range)")
    for name, op, n, dense in ops:
        exact = float(torch.trace(dense))
        scale = float(torch.linalg.eigvalsh(dense).abs().sum())  # the nuclear norm: relative errors stay finite
        print(f"  {name}: tr = {exact:.6g}, ‖H‖_* = {scale:.4g}")
        for budget in budgets:
            row, medians = [], {}
            for est_name, est in ESTIMATORS.items():
                errs, covered = [], 0
                for s in range(seeds):
                    got = est(op, n, budget, s)
                    errs.append(abs(got.value - exact) / scale)
                    covered += abs(got.value - exact) <= 2 * got.error + 1e-12 * scale
                medians[est_name] = statistics.median(errs)
                row.append(f"{est_name} {medians[est_name]:.2e} [{covered / seeds:.0%}]")
            ratios = ", ".join(f"{k} {_ratio(medians['hutchinson'], v)}" for k, v in medians.items()
                               if k != "hutchinson")
            print(f"    {budget:4d} products: " + "; ".join(row) + f"; RATIO {ratios}")


def topk_table(ops: list, k: int) -> None:
    print(f"top-{k} by Lanczos (tol 1e-10): max residual ‖Hv − λv‖/|λ_max|, max |λ − λ_dense|/|λ_max|, products")
    for name, op, n, dense in ops:
        want = np.sort(np.linalg.eigvalsh(dense.numpy()))[::-1][:k]
        got = top_eigenpairs(op, n, k, tol=1e-10)
        top = abs(float(want[0]))
        print(f"  {name}: residual {float(got.residuals.max()) / top:.1e}, eigenvalue error "
              f"{float(np.abs(got.values - want).max()) / top:.1e}, {got.matvecs} products ({got.method})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budgets", default="10,30,100")
    parser.add_argument("--networks", type=int, default=3)
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()
    set_torch_threads(1)
    with threadpool_limits(1):
        print("threads: torch 1, BLAS 1 (threadpoolctl)")
        ops = operators(args.networks)
        trace_table(ops, [int(b) for b in args.budgets.split(",")], args.seeds)
        topk_table(ops, args.k)


if __name__ == "__main__":
    main()
