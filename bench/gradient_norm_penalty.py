"""Gradient of the gradient-norm penalty (C5): finite-difference mixing against double backward.

Objective :math:`L = L_S + \\lambda\\|\\nabla L_S\\|`. Baseline: the exact gradient
:math:`g + \\lambda H g/\\|g\\|` by double backward (``create_graph=True``, what one writes
by hand). Candidate: the training gradient of Zhao, Zhang & Hu (2022),
:math:`(1-\\alpha) g + \\alpha \\nabla L_S(\\theta + r\\hat g)` with :math:`\\alpha = \\lambda/r`,
which costs two plain gradients. Workload: 512 examples through an MLP with widths
(64, 256, 256, 10), tanh, softmax cross-entropy, on the CPU, in float32 (how one trains)
and float64. The candidate's relative error against the baseline is printed beside the
time ratio, at the recommended r of C5's error model (float32: 1e-3 forward; float64: 1e-7).
Timing: ``time.perf_counter``, 2 warm-up calls, the median of 7 repeats, one torch thread.

Run: ``python3 bench/gradient_norm_penalty.py``
"""

from __future__ import annotations

import torch
from _timing import median_seconds

from verify.numeric import MLPSpec, init_params, mlp_forward, set_torch_threads, softmax_cross_entropy

M = 512
WIDTHS = (64, 256, 256, 10)
LAM = 0.05
R = {torch.float32: 1e-3, torch.float64: 1e-7}





def _run(dtype: torch.dtype) -> tuple[float, float, float, float]:
    spec = MLPSpec(WIDTHS, "tanh")
    theta0 = init_params(spec, seed=0).to(dtype)
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(M, WIDTHS[0], generator=gen).to(dtype)
    Y = torch.randint(0, WIDTHS[-1], (M,), generator=gen)
    loss = lambda t: softmax_cross_entropy(mlp_forward(spec, t, X), Y)

    def grad_of(t: torch.Tensor) -> torch.Tensor:
        t = t.detach().requires_grad_(True)
        return torch.autograd.grad(loss(t), t)[0]

    def exact() -> torch.Tensor:
        t = theta0.detach().requires_grad_(True)
        g = torch.autograd.grad(loss(t), t, create_graph=True)[0]
        objective = loss(t) + LAM * g.norm()
        return torch.autograd.grad(objective, t)[0]

    def finite_difference() -> torch.Tensor:
        r = R[dtype]
        g = grad_of(theta0)
        alpha = LAM / r
        return (1 - alpha) * g + alpha * grad_of(theta0 + r * g / g.norm())

    a, b = exact(), finite_difference()
    rel_err = float((a - b).norm() / a.norm())
    t_exact = median_seconds(exact)
    t_fd = median_seconds(finite_difference)
    return t_exact, t_fd, t_exact / t_fd, rel_err


def main() -> None:
    set_torch_threads(1)
    params = sum(a * b + b for a, b in zip(WIDTHS[:-1], WIDTHS[1:]))
    print(f"gradient of L_S + {LAM}·‖∇L_S‖, MLP {WIDTHS} ({params} parameters), {M} examples, 1 thread")
    print(f"{'dtype':<8} {'double backward':>16} {'FD mixing':>10} {'ratio':>7} {'FD rel. error':>14}")
    for dtype in (torch.float32, torch.float64):
        t_exact, t_fd, ratio, err = _run(dtype)
        name = str(dtype).removeprefix("torch.")
        print(f"{name:<8} {t_exact * 1e3:>13.1f} ms {t_fd * 1e3:>7.1f} ms {ratio:>6.2f}× {err:>14.2e}")


if __name__ == "__main__":
    main()
