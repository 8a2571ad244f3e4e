"""Largest Hessian eigenvalue: Lanczos (``eigsh``, which='LA') against power iteration (PyHessian's way).

Baseline: :func:`verify.numeric.power_iteration` (random unit v, v <- Hv/||Hv||,
Rayleigh quotient, stop when the relative change is below tol; this is how
PyHessian computes "the top eigenvalue"). Candidate:
:func:`verify.numeric.extreme_eigenvalue` with ``which="LA"`` and its default
tol=1e-10. Both use the same Hessian-vector product (double backward through a
graph of the gradient built once, :func:`verify.numeric.hvp_operator`); the
exact spectrum comes from ``eigvalsh`` of the dense Hessian.

The 20 cases are MLP losses with a few hundred parameters (161 to 343) at points
that are not minima (random initializations at several weight scales, and
regression targets far from the network's outputs), so the Hessians are
indefinite. What is counted, per case:

* Lanczos: the products one call with the default settings uses, and its
  relative error on lambda_max (it must be below 1e-8, else the case counts as a
  Lanczos failure).
* power, to 1e-6: the products power iteration needs before its estimate is
  within 1e-6 (relative) of the eigenvalue it converges to, the largest in
  MAGNITUDE. This is the number in the RATIO line. It is generous to the baseline:
  when |lambda_min| > lambda_max it converges to lambda_min and never reaches
  lambda_max at all, and we still count only the products to reach its own limit.
  Capped at 5000 products (shown as ">5000").
* power, own stop: what a user gets from power iteration with its stopping rule
  (relative change < 1e-6): the answer, its products, and its relative error
  against lambda_max. A slowly converging run stops early with an error far
  above 1e-6; a negative-dominant Hessian gives a negative "lambda_max".

Cases 12-19 are MSE regressions whose targets sit 30 units away from the outputs
(residual curvature dominates the Gauss-Newton part, so the spectrum is nearly
symmetric, and which end is larger depends on the sign of the offset). They are
here on purpose: random initializations give a Hessian with
|lambda_min| > lambda_max only now and then (3 of 64 configurations in a first
sweep, all deep tanh/gelu nets at weight scale 3; none of cases 0-11), and the
point is to show what power iteration does there. The offset signs were set by hand; with them 4 of the 8 cases
(12, 15, 17, 19; column |min|/max > 1) are negative-dominant.

Run: ``python3 bench/lanczos_vs_power.py`` (about 10 s on 2 CPU cores).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from verify.numeric import (
    MLPSpec,
    dense_hessian,
    extreme_eigenvalue,
    hvp_operator,
    init_params,
    mlp_forward,
    power_iteration,
    set_torch_threads,
    softmax_cross_entropy,
)

LANCZOS_TARGET = 1e-8
POWER_TARGET = 1e-6
POWER_CAP = 5000
RATIO_TARGET = 2.0
M = 32
D_IN = 8
HIDDEN = {1: 16, 2: 12, 3: 10}


@dataclass(frozen=True)
class Case:
    activation: str
    depth: int
    loss: str             # "mse" (1 output) or "ce" (3 classes)
    scale: float          # init_params scale
    offset: float = 0.0   # MSE targets: offset + N(0, 1) (0: targets N(0, 9))
    seed: int = 0


CASES = [
    # random initializations at several weight scales (cases 0-11)
    Case("tanh", 1, "mse", 1.0, seed=0),
    Case("softplus", 2, "mse", 1.0, seed=1),
    Case("gelu", 3, "ce", 1.0, seed=2),
    Case("sigmoid", 1, "ce", 3.0, seed=3),
    Case("tanh", 2, "mse", 3.0, seed=4),
    Case("tanh", 3, "mse", 3.0, seed=5),
    Case("softplus", 1, "ce", 0.1, seed=6),
    Case("gelu", 2, "ce", 0.1, seed=7),
    Case("sigmoid", 3, "mse", 0.1, seed=8),
    Case("tanh", 1, "mse", 2.0, seed=9),
    Case("tanh", 2, "ce", 2.0, seed=10),
    Case("softplus", 3, "ce", 2.0, seed=11),
    # far from a minimum: targets 30 away from the outputs (cases 12-19), offset signs set by hand;
    # 12, 15, 17 and 19 come out with |lambda_min| > lambda_max
    Case("tanh", 1, "mse", 1.0, offset=30.0, seed=0),
    Case("tanh", 2, "mse", 1.0, offset=-30.0, seed=1),
    Case("softplus", 2, "mse", 1.0, offset=30.0, seed=2),
    Case("gelu", 2, "mse", 1.0, offset=-30.0, seed=3),
    Case("sigmoid", 2, "mse", 1.0, offset=30.0, seed=4),
    Case("tanh", 3, "mse", 1.0, offset=30.0, seed=5),
    Case("gelu", 1, "mse", 1.0, offset=-30.0, seed=6),
    Case("softplus", 3, "mse", 1.0, offset=-30.0, seed=7),
]


def _loss(case: Case, index: int) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]:
    d_out = 1 if case.loss == "mse" else 3
    spec = MLPSpec((D_IN,) + (HIDDEN[case.depth],) * case.depth + (d_out,), case.activation)
    gen = torch.Generator().manual_seed(1000 + index)
    X = torch.randn(M, D_IN, dtype=torch.float64, generator=gen)
    if case.loss == "mse":
        noise = torch.randn(M, 1, dtype=torch.float64, generator=gen)
        y = case.offset + noise if case.offset else 3.0 * noise

        def f(theta: torch.Tensor) -> torch.Tensor:
            return 0.5 * ((mlp_forward(spec, theta, X) - y) ** 2).mean()
    else:
        labels = torch.randint(0, d_out, (M,), generator=gen)

        def f(theta: torch.Tensor) -> torch.Tensor:
            return softmax_cross_entropy(mlp_forward(spec, theta, X), labels)

    return f, init_params(spec, seed=case.seed, scale=case.scale)


class _Reached(Exception):
    """Raised from inside the operator once power iteration's estimate is within the target."""


def _power_products_to_target(matvec: Callable[[torch.Tensor], torch.Tensor], n: int, limit: float) -> int | None:
    """Products power iteration needs until its Rayleigh quotient is within POWER_TARGET of ``limit``."""
    count = 0

    def watched(v: torch.Tensor) -> torch.Tensor:
        nonlocal count
        count += 1
        hv = matvec(v)
        # power_iteration's estimate after this product is v^T H v (v is a unit vector)
        if abs(float(v @ hv) - limit) <= POWER_TARGET * abs(limit):
            raise _Reached
        return hv

    try:
        power_iteration(watched, n, tol=1e-300, max_iter=POWER_CAP, seed=0)
    except _Reached:
        return count
    return None


def main() -> None:
    set_torch_threads(1)  # products are small; one thread is fastest on a shared 2-core machine
    header = (f"{'case':>4} {'act':<8} {'depth':>5} {'loss':<4} {'n':>4} {'lam_max':>10} {'lam_min':>10} "
              f"{'|min|/max':>9} | {'Lanczos':>7} {'rel err':>8} | {'power':>6} | {'power own stop':>14} "
              f"{'mv':>5} {'rel err':>8} {'wrong':>5}")
    print("Largest Hessian eigenvalue of 20 MLP losses: Lanczos (eigsh LA, tol 1e-10) vs power iteration")
    print(f"products to reach: Lanczos 1e-8 rel. error on lam_max; power 1e-6 rel. error on its own limit "
          f"(cap {POWER_CAP})")
    print(header)
    print("-" * len(header))
    tot_lanczos = tot_power = 0
    power_wrong = lanczos_wrong = power_capped = 0
    t_lanczos = t_power = 0.0
    for i, case in enumerate(CASES):
        f, theta = _loss(case, i)
        n = theta.shape[0]
        exact = torch.linalg.eigvalsh(dense_hessian(f, theta))
        lam_max, lam_min = float(exact[-1]), float(exact[0])
        dominant = lam_min if -lam_min > lam_max else lam_max
        op = hvp_operator(f, theta, route="double_backward")

        start = time.perf_counter()
        lanczos = extreme_eigenvalue(op, n, "LA")
        t_lanczos += time.perf_counter() - start
        lanczos_err = abs(lanczos.value - lam_max) / abs(lam_max)
        lanczos_wrong += int(lanczos_err > LANCZOS_TARGET)

        start = time.perf_counter()
        needed = _power_products_to_target(op, n, dominant)
        t_power += time.perf_counter() - start
        power_capped += int(needed is None)
        tot_power += POWER_CAP if needed is None else needed
        tot_lanczos += lanczos.matvecs

        own = power_iteration(op, n, tol=POWER_TARGET, max_iter=POWER_CAP, seed=0)
        own_err = abs(own.value - lam_max) / abs(lam_max)
        wrong = abs(own.value - lam_min) < abs(own.value - lam_max)  # it answered lambda_min
        power_wrong += int(wrong)

        needed_text = f">{POWER_CAP}" if needed is None else str(needed)
        print(f"{i:>4} {case.activation:<8} {case.depth:>5} {case.loss:<4} {n:>4} {lam_max:>10.4g} {lam_min:>10.4g} "
              f"{-lam_min / lam_max:>9.3f} | {lanczos.matvecs:>7} {lanczos_err:>8.1e} | {needed_text:>6} | "
              f"{own.value:>14.6g} {own.matvecs:>5} {own_err:>8.1e} {'YES' if wrong else 'no':>5}")
    print("-" * len(header))
    print(f"total products: Lanczos {tot_lanczos}, power iteration {tot_power}"
          f"{f' ({power_capped} runs hit the cap of {POWER_CAP})' if power_capped else ''}")
    print(f"wall time (1 torch thread): Lanczos {t_lanczos:.2f} s, power iteration {t_power:.2f} s")
    print(f"RATIO power/lanczos = {tot_power / tot_lanczos:.1f}x (target >= {RATIO_TARGET:g}x)")
    print(f"power iteration wrong eigenvalue: {power_wrong}/{len(CASES)} (Lanczos: {lanczos_wrong}/{len(CASES)})")


if __name__ == "__main__":
    main()
