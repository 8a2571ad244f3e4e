"""Cost of the segment-curvature estimate of ``descent-lemma`` in Hessian-vector products per check.

Baseline (named): the dense route, λ_max of the full Hessian at every sampled point of the segment,
built from n HVPs per point (what a check without Lanczos would do). Contender: what the claim does —
one directional product gᵀ∇²L(ξ)g per sampled point plus Lanczos λ_max at a few of them.
Both estimates of M are printed (the contender's must not be below the directional maximum).
Run: ``python bench/descent_segment_curvature.py``.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from proofs.descent.problems import LAMBDA_POINTS, SEGMENT_POINTS, curvature_along
from verify import CheckContext, MLPSpec, dense_hessian, gradient, init_params, mlp_forward


def main() -> None:
    ctx = CheckContext()
    rows = []
    for widths, act in [((4, 8, 1), "tanh"), ((6, 12, 12, 2), "softplus"), ((8, 16, 16, 4), "gelu"),
                        ((10, 24, 24, 3), "tanh")]:
        spec = MLPSpec(widths, act, True)
        theta = init_params(spec, seed=1, scale=1.5)
        x = torch.linspace(-1, 1, 5 * widths[0], dtype=torch.float64).reshape(5, widths[0])
        t = torch.cos(torch.arange(5 * widths[-1], dtype=torch.float64)).reshape(5, widths[-1])
        f = lambda th, spec=spec, x=x, t=t: 0.5 * ((mlp_forward(spec, th, x) - t) ** 2).sum(-1).mean()  # noqa: E731
        g = gradient(f, theta).detach()
        start = time.perf_counter()
        M, hvps = curvature_along(f, theta, g, 0.5, SEGMENT_POINTS, LAMBDA_POINTS, ctx)
        t_claim = time.perf_counter() - start
        start = time.perf_counter()
        dense = max(float(torch.linalg.eigvalsh(dense_hessian(f, theta - s * 0.5 * g))[-1])
                    for s in np.linspace(0, 1, SEGMENT_POINTS))
        t_dense = time.perf_counter() - start
        n = theta.numel()
        rows.append((spec.widths, act, n, hvps, n * SEGMENT_POINTS, M, dense, t_claim, t_dense))
    print(f"segment-curvature estimate: {SEGMENT_POINTS} points, Lanczos λ_max at {LAMBDA_POINTS} of them")
    print(f"{'widths':<18}{'act':<10}{'n':>6}{'HVPs (claim)':>14}{'HVPs (dense)':>14}{'M claim':>12}"
          f"{'M dense':>12}{'ms claim':>10}{'ms dense':>10}")
    for widths, act, n, h, hd, M, Md, tc, td in rows:
        print(f"{str(widths):<18}{act:<10}{n:>6}{h:>14}{hd:>14}{M:>12.5g}{Md:>12.5g}{tc * 1e3:>10.1f}{td * 1e3:>10.1f}")
    total, total_dense = sum(r[3] for r in rows), sum(r[4] for r in rows)
    print(f"HVPs per check (mean): claim {total / len(rows):.0f}, dense baseline {total_dense / len(rows):.0f}")
    print(f"RATIO dense/claim HVPs = {total_dense / total:.1f}x; "
          f"wall time ratio = {sum(r[8] for r in rows) / sum(r[7] for r in rows):.1f}x")


if __name__ == "__main__":
    main()
