"""The oracles give the same numbers on CUDA as on the CPU (float64).

Tolerance: rtol 1e-10 of the largest entry. CPU and GPU kernels reduce in a
different order, so results differ by a few ulps times the depth of the
computation (~1e-14 relative); 1e-10 still catches any real device bug.
"""

from __future__ import annotations

import pytest
import torch

from verify.numeric import (
    MLPSpec,
    dense_hessian,
    extreme_eigenvalues,
    hvp_double_backward,
    hvp_forward_over_reverse,
    hvp_operator,
    init_params,
    mlp_forward,
    per_sample_grads,
    power_iteration,
    resolve_device,
    softmax_cross_entropy,
)

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine"),
]

F64 = torch.float64
RTOL = 1e-10


def _problem(device: torch.device, widths: tuple[int, ...] = (4, 6, 5, 3), activation: str = "tanh"):
    spec = MLPSpec(widths, activation)
    gen = torch.Generator().manual_seed(0)  # data drawn on the CPU, then moved: same numbers everywhere
    X = torch.randn(16, widths[0], dtype=F64, generator=gen).to(device)
    y = torch.randint(0, widths[-1], (16,), generator=gen).to(device)
    theta = init_params(spec, seed=1, scale=2.0, device=device)

    def f(t: torch.Tensor) -> torch.Tensor:
        return softmax_cross_entropy(mlp_forward(spec, t, X), y)

    v = torch.randn(spec.n_params, dtype=F64, generator=gen).to(device)
    return spec, f, theta, v, X, y


def _close(gpu: torch.Tensor, cpu: torch.Tensor) -> None:
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=RTOL, atol=RTOL * float(cpu.abs().max()))


def test_auto_device_is_cuda_here():
    assert resolve_device("auto").type == "cuda"


@pytest.mark.parametrize("activation", ["tanh", "softplus", "gelu"])
def test_dense_hessian_and_hvps_agree_across_devices(activation):
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    _, f_c, th_c, v_c, _, _ = _problem(cpu, activation=activation)
    _, f_g, th_g, v_g, _, _ = _problem(gpu, activation=activation)
    _close(th_g, th_c)  # init_params draws on the CPU: identical parameters
    H_c = dense_hessian(f_c, th_c)
    _close(dense_hessian(f_g, th_g), H_c)
    _close(hvp_forward_over_reverse(f_g, th_g, v_g), H_c @ v_c)
    _close(hvp_double_backward(f_g, th_g, v_g), H_c @ v_c)
    for route in ("fwd_rev", "double_backward"):
        _close(hvp_operator(f_g, th_g, route)(v_g), H_c @ v_c)


def test_extreme_eigenvalues_agree_across_devices():
    spec, f_c, th_c, _, _, _ = _problem(torch.device("cpu"))
    _, f_g, th_g, _, _, _ = _problem(torch.device("cuda"))
    exact = torch.linalg.eigvalsh(dense_hessian(f_c, th_c))
    scale = float(exact.abs().max())
    hi_c, lo_c = extreme_eigenvalues(hvp_operator(f_c, th_c, "double_backward"), spec.n_params)
    hi_g, lo_g = extreme_eigenvalues(hvp_operator(f_g, th_g, "double_backward"), spec.n_params, device="cuda")
    for est_c, est_g, truth in ((hi_c, hi_g, float(exact[-1])), (lo_c, lo_g, float(exact[0]))):
        assert abs(est_g.value - est_c.value) <= 1e-8 * scale
        assert abs(est_g.value - truth) <= 1e-8 * scale
    p_c = power_iteration(hvp_operator(f_c, th_c), spec.n_params, tol=1e-10)
    p_g = power_iteration(hvp_operator(f_g, th_g), spec.n_params, tol=1e-10, device="cuda")
    assert abs(p_g.value - p_c.value) <= 1e-6 * scale


def test_dense_route_on_cuda_for_tiny_sizes():
    A = torch.tensor([[2.0, 1.0], [1.0, -3.0]], dtype=F64, device="cuda")
    hi, lo = extreme_eigenvalues(lambda v: A @ v, 2, device="cuda")
    exact = torch.linalg.eigvalsh(A.cpu())
    assert abs(hi.value - float(exact[-1])) <= 1e-14 and abs(lo.value - float(exact[0])) <= 1e-14


def test_per_sample_grads_agree_across_devices():
    spec, _, th_c, _, X_c, y_c = _problem(torch.device("cpu"))
    _, _, th_g, _, X_g, y_g = _problem(torch.device("cuda"))

    def loss(t: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return softmax_cross_entropy(mlp_forward(spec, t, x), y)

    _close(per_sample_grads(loss, th_g, X_g, y_g), per_sample_grads(loss, th_c, X_c, y_c))


def test_a_users_module_gives_the_same_numbers_on_cuda():
    """The module path (FunctionalModel: conv, BatchNorm in eval mode, attention on the math kernel)."""
    from torch import nn

    from verify.numeric import FunctionalModel

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.norm = nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4)
            self.attn, self.head = nn.MultiheadAttention(4, 2, batch_first=True), nn.Linear(4, 3)

        def forward(self, x):
            h = self.norm(torch.tanh(self.conv(x))).flatten(2).transpose(1, 2)  # (m, 16 tokens, 4)
            return self.head(self.attn(h, h, h, need_weights=False)[0].mean(1))

    gen = torch.Generator().manual_seed(0)
    batch = (torch.randn(6, 3, 8, 8, generator=gen), torch.randint(0, 3, (6,), generator=gen))
    cpu = FunctionalModel(Net, batch, device="cpu")
    gpu = FunctionalModel(Net, batch, device="cuda")
    theta = cpu.theta0
    v = torch.randn(cpu.n, dtype=F64, generator=gen)
    pairs = [(cpu.loss(theta), gpu.loss(theta.cuda())), (cpu.grad(theta), gpu.grad(theta.cuda())),
             (cpu.hvp_operator(theta)(v), gpu.hvp_operator(theta.cuda())(v.cuda())),
             (cpu.per_example_grads(theta), gpu.per_example_grads(theta.cuda()))]
    for a, b in pairs:
        assert torch.allclose(a, b.cpu(), rtol=0, atol=RTOL * float(a.abs().max()))
    assert gpu.extreme_eigenvalue(theta.cuda(), tol=1e-10).value == pytest.approx(
        cpu.extreme_eigenvalue(theta, tol=1e-10).value, rel=1e-8)
