"""Per-sample gradients: ``torch.func.vmap(grad)`` against a Python loop of backward passes.

Baseline: :func:`verify.numeric.per_sample_grads_loop` (one ``torch.autograd.grad``
per example, what one writes by hand). Candidate: :func:`verify.numeric.per_sample_grads`.
Workload: 256 examples through an MLP with widths (32, 64, 64, 10), tanh, softmax
cross-entropy, float64 on the CPU. Both results are checked to be the same tensor
before anything is timed. Timing: ``time.perf_counter``, 2 warm-up calls, the
median of 7 repeats, with one torch thread (what the test suite uses per worker)
and with torch's default thread count.

Run: ``python3 bench/per_sample_grads.py``
"""

from __future__ import annotations

import os

import torch
from _timing import median_seconds

from verify.numeric import (
    MLPSpec,
    init_params,
    mlp_forward,
    per_sample_grads,
    per_sample_grads_loop,
    set_torch_threads,
    softmax_cross_entropy,
    torch_threads,
)

M = 256
WIDTHS = (32, 64, 64, 10)
WARMUP = 2
REPEATS = 7
TARGET = 15.0




def main() -> None:
    spec = MLPSpec(WIDTHS, "tanh")
    theta = init_params(spec, seed=0)
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(M, WIDTHS[0], dtype=torch.float64, generator=gen)
    Y = torch.randint(0, WIDTHS[-1], (M,), generator=gen)

    def loss(t: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return softmax_cross_entropy(mlp_forward(spec, t, x), y)

    fast = per_sample_grads(loss, theta, X, Y)
    slow = per_sample_grads_loop(loss, theta, X, Y)
    max_diff = float((fast - slow).abs().max())
    torch.testing.assert_close(fast, slow, rtol=1e-12, atol=1e-14)  # same tensor up to reduction order

    print(f"per-sample gradients: m={M}, widths={WIDTHS}, tanh, softmax CE, n_params={spec.n_params}, "
          f"float64, cpu ({os.cpu_count()} cores)")
    print(f"same tensor: yes (shape {tuple(fast.shape)}, max |vmap - loop| = {max_diff:.1e})")
    print(f"median of {REPEATS} after {WARMUP} warm-up")
    print(f"{'torch threads':<15}{'method':<36}{'total ms':>10}{'us / example':>15}")
    default_threads = torch_threads()
    results = {}
    for threads in sorted({1, default_threads}):
        previous = set_torch_threads(threads)
        try:
            t_loop = median_seconds(lambda: per_sample_grads_loop(loss, theta, X, Y), warmup=WARMUP, repeats=REPEATS)
            t_vmap = median_seconds(lambda: per_sample_grads(loss, theta, X, Y), warmup=WARMUP, repeats=REPEATS)
        finally:
            set_torch_threads(previous)
        results[threads] = (t_loop, t_vmap)
        print(f"{threads:<15}{'loop of autograd.grad (baseline)':<36}{t_loop * 1e3:>10.2f}{t_loop / M * 1e6:>15.1f}")
        print(f"{threads:<15}{'vmap(grad) (verify.numeric)':<36}{t_vmap * 1e3:>10.2f}{t_vmap / M * 1e6:>15.1f}")
    for threads, (t_loop, t_vmap) in results.items():
        print(f"RATIO loop/vmap = {t_loop / t_vmap:.1f}x (target >= {TARGET:g}x)  [torch threads = {threads}]")


if __name__ == "__main__":
    main()
