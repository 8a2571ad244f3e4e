"""Per-sample gradients: one batched backward pass and ``torch.func.vmap(grad)`` against a Python loop.

Baseline: a bare Python loop of ``torch.autograd.grad`` over the examples (no input validation in the
loop; :func:`verify.numeric.per_sample_grads_loop` adds validation). Candidates:
:func:`verify.numeric.mlp_per_example_grads` (one batched backward pass, δᵢhᵢᵀ per layer) and
:func:`verify.numeric.per_sample_grads` (vmap).
Workload: 256 examples through an MLP with widths (32, 64, 64, 10), tanh, softmax
cross-entropy, float64 on the CPU. Both results are checked to be the same tensor
before anything is timed. Timing: ``time.perf_counter``, 2 warm-up calls, the
median of 7 repeats, with one torch thread (what the test suite uses per worker)
and with two; numpy/scipy's BLAS limited to the same count (threadpoolctl).

Run: ``python3 bench/per_sample_grads.py``
"""

from __future__ import annotations

import os

import torch
from _timing import median_seconds
from threadpoolctl import threadpool_limits

from verify.numeric import (
    MLPSpec,
    init_params,
    mlp_forward,
    mlp_per_example_grads,
    per_sample_grads,
    per_sample_grads_loop,
    set_torch_threads,
    softmax_cross_entropy,
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

    def bare_loop() -> torch.Tensor:
        t = theta.detach().requires_grad_()
        return torch.stack([torch.autograd.grad(loss(t, X[i], Y[i]), t)[0] for i in range(M)])

    def ce(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return softmax_cross_entropy(z, y, reduction="none")

    batched = mlp_per_example_grads(spec, theta, X, Y, ce)
    fast = per_sample_grads(loss, theta, X, Y)
    slow = per_sample_grads_loop(loss, theta, X, Y)
    for name, got in (("batched backward", batched), ("vmap", fast), ("bare loop", bare_loop())):
        torch.testing.assert_close(got, slow, rtol=1e-12, atol=1e-14, msg=f"{name} differs")

    print(f"per-sample gradients: m={M}, widths={WIDTHS}, tanh, softmax CE, n_params={spec.n_params}, "
          f"float64, cpu ({os.cpu_count()} cores)")
    print(f"same tensor: yes (shape {tuple(fast.shape)}, all four routes agree to 1e-12)")
    print(f"median of {REPEATS} after {WARMUP} warm-up")
    print(f"{'threads':<9}{'method':<44}{'total ms':>10}{'us / example':>15}")
    results = {}
    for threads in (1, 2):
        previous = set_torch_threads(threads)
        try:
            with threadpool_limits(limits=threads, user_api="blas"):
                times = {name: median_seconds(fn, warmup=WARMUP, repeats=REPEATS) for name, fn in (
                    ("bare loop of autograd.grad (baseline)", bare_loop),
                    ("loop with validation (per_sample_grads_loop)", lambda: per_sample_grads_loop(loss, theta, X, Y)),
                    ("vmap(grad) (per_sample_grads)", lambda: per_sample_grads(loss, theta, X, Y)),
                    ("batched backward (mlp_per_example_grads)", lambda: mlp_per_example_grads(spec, theta, X, Y, ce)),
                )}
        finally:
            set_torch_threads(previous)
        results[threads] = times
        for name, t in times.items():
            print(f"{threads:<9}{name:<44}{t * 1e3:>10.2f}{t / M * 1e6:>15.1f}")
    for threads, times in results.items():
        base = times["bare loop of autograd.grad (baseline)"]
        print(f"RATIO bare loop/batched backward = {base / times['batched backward (mlp_per_example_grads)']:.1f}x "
              f"(target >= {TARGET:g}x); bare loop/vmap = {base / times['vmap(grad) (per_sample_grads)']:.1f}x  "
              f"[{threads} torch thread(s), {threads} BLAS thread(s)]")


if __name__ == "__main__":
    main()
