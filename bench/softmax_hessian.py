"""Softmax-CE Hessian at m=256, k=10, d=32: closed form vs torch.func autograd.

Baselines (named): ``torch.func.hessian`` of the mean loss for the mean Hessian (kd × kd), and
``vmap(torch.func.hessian)`` of the per-example loss for the m per-example Hessians.
Contenders: the lambdified entry form from verify.bridge (the claim's formula, broadcast over
examples), its einsum equivalent, and the Gram form (1/m)[blockdiag(U_aᵀX) − VᵀV] split from the derived
entry form (``proofs.softmax_ce.symbolic.gram_split``). Every timing includes allocating the output, and every
pair is checked to produce the same tensor. Timed at 1 and 2 torch threads, with numpy/scipy's BLAS at the
same count (threadpoolctl). Run: ``python bench/softmax_hessian.py [--repeats N]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from threadpoolctl import threadpool_limits

from proofs.softmax_ce.numeric import closed_form_hessian, gram_mean_hessian, per_example_hessians
from verify import softmax_cross_entropy, stable_softmax
from verify.numeric import set_torch_threads


def einsum_mean_hessian(W: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """(1/m) Σ (diag(a) − a aᵀ) ⊗ x xᵀ with two einsums (the vectorized closed form)."""
    m, (k, d) = X.shape[0], W.shape
    a = stable_softmax(X @ W.T)
    cross = torch.einsum("ia,ic,ib,ie->abce", a, a, X, X) / m
    diag = torch.einsum("ia,ib,ie->abe", a, X, X) / m
    H = -cross
    idx = torch.arange(k)
    H[idx, :, idx, :] += diag
    return H.reshape(k * d, k * d)


def time_it(fn: Callable[[], torch.Tensor], repeats: int) -> tuple[float, torch.Tensor]:
    out = fn()  # warm-up (and the bridge's code generation / cache load)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--m", type=int, default=256)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    m, k, d = args.m, args.k, args.d
    W = torch.randn(k, d, dtype=torch.float64)
    X = torch.randn(m, d, dtype=torch.float64)
    y = torch.randint(0, k, (m,))

    def mean_loss(w: torch.Tensor) -> torch.Tensor:
        return softmax_cross_entropy(X @ w.reshape(k, d).T, y)

    def example_loss(w: torch.Tensor, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return softmax_cross_entropy((w.reshape(k, d) @ x)[None], t[None])

    w = W.reshape(-1)
    print(f"softmax-CE Hessian, m={m}, k={k}, d={d} (n = kd = {k * d}), float64, median of {args.repeats}")
    for threads in (1, 2):
        set_torch_threads(threads)
        with threadpool_limits(limits=threads, user_api="blas"):
            t_auto, H_auto = time_it(lambda: torch.func.hessian(mean_loss)(w), args.repeats)
            t_bridge, H_bridge = time_it(lambda: closed_form_hessian(W, X), args.repeats)
            t_einsum, H_einsum = time_it(lambda: einsum_mean_hessian(W, X), args.repeats)
            t_gram, H_gram = time_it(lambda: gram_mean_hessian(W, X), args.repeats)
        for name, H in (("bridge", H_bridge), ("einsum", H_einsum), ("gram", H_gram)):
            torch.testing.assert_close(H, H_auto, rtol=1e-10, atol=1e-13, msg=f"{name} differs")
        print(f"mean Hessian (kd × kd), {threads} torch thread(s), {threads} BLAS thread(s):")
        print(f"  baseline torch.func.hessian(mean loss)   {t_auto * 1e3:9.2f} ms")
        print(f"  lambdified entry form (verify.bridge)    {t_bridge * 1e3:9.2f} ms   ratio {t_auto / t_bridge:6.1f}x")
        print(f"  einsum closed form                       {t_einsum * 1e3:9.2f} ms   ratio {t_auto / t_einsum:6.1f}x")
        print(f"  Gram form (split from the entry form)    {t_gram * 1e3:9.2f} ms   ratio {t_auto / t_gram:6.1f}x")
        print(f"RATIO mean Hessian torch.func.hessian/Gram form = {t_auto / t_gram:.1f}x (target >= 20x) "
              f"[{threads} thread(s)]")
    set_torch_threads(1)

    per_example = torch.func.vmap(torch.func.hessian(example_loss), in_dims=(None, 0, 0))
    t_vmap, P_auto = time_it(lambda: per_example(w, X, y), args.repeats)
    t_closed, P_closed = time_it(lambda: per_example_hessians(W, X), args.repeats)
    torch.testing.assert_close(P_closed, P_auto, rtol=1e-10, atol=1e-13)
    print(f"m per-example Hessians ({m} × {k * d} × {k * d}):")
    print(f"  baseline vmap(torch.func.hessian)        {t_vmap * 1e3:9.2f} ms")
    print(f"  lambdified entry form (verify.bridge)    {t_closed * 1e3:9.2f} ms   ratio {t_vmap / t_closed:6.1f}x")
    print(f"RATIO per-example Hessians vmap(hessian)/closed form = {t_vmap / t_closed:.1f}x")


if __name__ == "__main__":
    main()
