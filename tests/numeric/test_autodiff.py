"""The derivative oracles agree with each other: two HVP routes, the dense Hessian, vmap vs loop.

Tolerance: rtol 1e-10 in float64 (the routes differ only in the order of floating
point operations, so they agree to ~1e-15 relative; 1e-10 leaves room for
ill-conditioned random cases), with an absolute floor of 1e-10 times the size of
the compared vector so that entries that cancel to ~0 are not judged relatively.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as TF

from verify.errors import InvalidInputError, UserCodeError
from verify.numeric import (
    MLPSpec,
    dense_hessian,
    gradient,
    hvp_double_backward,
    hvp_forward_over_reverse,
    hvp_operator,
    init_params,
    mlp_forward,
    per_sample_grads,
    per_sample_grads_loop,
    softmax_cross_entropy,
)

F64 = torch.float64
RTOL = 1e-10


@dataclass(frozen=True)
class Case:
    widths: tuple[int, ...]
    activation: str
    bias: bool = True
    scale: float = 1.0
    m: int = 6

    @property
    def id(self) -> str:
        return f"{'x'.join(map(str, self.widths))}-{self.activation}-b{int(self.bias)}-s{self.scale:g}"


# the data table of cases (curvlinops style): depths 1-3, every smooth activation, width 1 on purpose
CASES = [
    Case((1, 1), "tanh"),
    Case((1, 1, 1), "sigmoid"),
    Case((2, 1, 3), "softplus"),
    Case((3, 4, 2), "gelu"),
    Case((3, 4, 3, 2), "tanh", scale=2.5),
    Case((2, 3, 3, 3, 1), "softplus"),
    Case((4, 5, 3), "identity", bias=False),
    Case((3, 5, 4), "relu"),
    Case((3, 1, 1, 3), "sigmoid", scale=3.0),
]


def _loss(case: Case, seed: int = 0):
    """A random MLP loss theta -> scalar: softmax CE for d_out > 1, squared error for d_out = 1."""
    spec = MLPSpec(case.widths, case.activation, case.bias)
    gen = torch.Generator().manual_seed(seed + 100)
    X = torch.randn(case.m, case.widths[0], dtype=F64, generator=gen)
    if case.widths[-1] > 1:
        y = torch.randint(0, case.widths[-1], (case.m,), generator=gen)

        def f(theta: torch.Tensor) -> torch.Tensor:
            return softmax_cross_entropy(mlp_forward(spec, theta, X), y)
    else:
        y = torch.randn(case.m, 1, dtype=F64, generator=gen)

        def f(theta: torch.Tensor) -> torch.Tensor:
            return 0.5 * ((mlp_forward(spec, theta, X) - y) ** 2).mean()

    return spec, f, init_params(spec, seed=seed, scale=case.scale)


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    atol = RTOL * max(float(b.abs().max()), 1e-300)
    torch.testing.assert_close(a, b, rtol=RTOL, atol=atol)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_two_hvp_routes_and_dense_hessian_agree(case):
    spec, f, theta = _loss(case)
    H = dense_hessian(f, theta)
    assert H.shape == (spec.n_params, spec.n_params)
    _close(H, H.T)
    gen = torch.Generator().manual_seed(7)
    for _ in range(3):
        v = torch.randn(spec.n_params, dtype=F64, generator=gen)
        expected = H @ v
        _close(hvp_forward_over_reverse(f, theta, v), expected)
        _close(hvp_double_backward(f, theta, v), expected)


@pytest.mark.parametrize("route", ["fwd_rev", "double_backward"])
@pytest.mark.parametrize("case", CASES[:6], ids=lambda c: c.id)
def test_hvp_operator_reproduces_dense_columns(case, route):
    spec, f, theta = _loss(case, seed=1)
    H = dense_hessian(f, theta)
    op = hvp_operator(f, theta, route=route)
    eye = torch.eye(spec.n_params, dtype=F64)
    columns = torch.stack([op(eye[i]) for i in range(spec.n_params)], dim=1)  # the operator is reused
    _close(columns, H)


def test_gradient_and_dense_hessian_closed_form():
    theta = torch.tensor([0.5, -1.5, 2.0], dtype=F64)
    A = torch.tensor([[2.0, 1.0, 0.0], [1.0, 3.0, -1.0], [0.0, -1.0, 1.0]], dtype=F64)

    def f(t: torch.Tensor) -> torch.Tensor:
        return 0.5 * t @ A @ t + t.sum() ** 3

    s = float(theta.sum())
    torch.testing.assert_close(gradient(f, theta), A @ theta + 3 * s ** 2, rtol=1e-15, atol=1e-15)
    torch.testing.assert_close(dense_hessian(f, theta), A + 6 * s, rtol=1e-15, atol=1e-15)


def test_gradient_is_torch_func_grad_in_every_context():
    """The plain reverse-mode path (outside transforms) is bitwise torch.func.grad; inside vmap or a jvp, or
    for a theta being differentiated, it composes; a function that ignores theta has a zero gradient."""
    theta = torch.tensor([0.3, -1.2, 2.5], dtype=F64)

    def f(t: torch.Tensor) -> torch.Tensor:
        return torch.tanh(t).pow(3).sum() * t.prod()

    assert torch.equal(gradient(f, theta), torch.func.grad(f)(theta))
    assert not theta.requires_grad and not gradient(f, theta).requires_grad
    batch = torch.stack([theta, 2 * theta])
    torch.testing.assert_close(torch.func.vmap(lambda t: gradient(f, t))(batch),
                               torch.stack([torch.func.grad(f)(t) for t in batch]), rtol=1e-15, atol=0)
    v = torch.tensor([1.0, 0.0, -1.0], dtype=F64)
    hv = torch.func.jvp(lambda t: gradient(f, t), (theta,), (v,))[1]
    torch.testing.assert_close(hv, dense_hessian(f, theta) @ v, rtol=1e-13, atol=1e-13)
    leaf = theta.clone().requires_grad_(True)
    (hv2,) = torch.autograd.grad(gradient(f, leaf) @ v, leaf)  # differentiable when theta is
    torch.testing.assert_close(hv2, hv, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(gradient(lambda t: torch.tensor(4.0, dtype=F64), theta), torch.zeros(3, dtype=F64))


def test_affine_function_has_zero_hvp_on_both_routes():
    theta = torch.tensor([1.0, 2.0], dtype=F64)
    v = torch.tensor([0.3, -0.7], dtype=F64)
    for f in (lambda t: 3 * t.sum() + 1, lambda t: torch.tensor(4.0, dtype=F64)):
        for hvp in (hvp_forward_over_reverse, hvp_double_backward):
            torch.testing.assert_close(hvp(f, theta, v), torch.zeros(2, dtype=F64))
        torch.testing.assert_close(hvp_operator(f, theta, "double_backward")(v), torch.zeros(2, dtype=F64))


def test_double_backward_does_not_touch_callers_theta():
    theta = torch.tensor([1.0, 2.0], dtype=F64, requires_grad=True)
    out = hvp_double_backward(lambda t: (t ** 3).sum(), theta, torch.ones(2, dtype=F64))
    torch.testing.assert_close(out, 6 * theta.detach())
    assert theta.grad is None and not out.requires_grad


def _example_loss(spec: MLPSpec):
    def loss(theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return softmax_cross_entropy(mlp_forward(spec, theta, x), y)

    return loss


@pytest.mark.parametrize("widths", [(3, 4, 2), (1, 1, 2), (5, 8, 8, 3)])
def test_per_sample_grads_equals_loop_and_sums_to_batch_gradient(widths):
    spec = MLPSpec(widths, "tanh")
    theta = init_params(spec, seed=4)
    gen = torch.Generator().manual_seed(2)
    m = 11
    X = torch.randn(m, widths[0], dtype=F64, generator=gen)
    Y = torch.randint(0, widths[-1], (m,), generator=gen)
    loss = _example_loss(spec)
    G = per_sample_grads(loss, theta, X, Y)
    assert G.shape == (m, spec.n_params)
    torch.testing.assert_close(G, per_sample_grads_loop(loss, theta, X, Y), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(per_sample_grads(loss, theta, X, Y, chunk_size=4), G, rtol=0, atol=0)
    batch = gradient(lambda t: softmax_cross_entropy(mlp_forward(spec, t, X), Y), theta)
    torch.testing.assert_close(G.mean(0), batch, rtol=1e-12, atol=1e-14)


def test_per_sample_grads_rejects_mismatched_batch():
    spec = MLPSpec((2, 2))
    with pytest.raises(InvalidInputError, match=r"X of shape \(3, 2\) and Y of shape \(4,\)"):
        per_sample_grads(_example_loss(spec), init_params(spec), torch.zeros(3, 2, dtype=F64),
                         torch.zeros(4, dtype=torch.long))
    with pytest.raises(InvalidInputError, match="same number of examples"):
        per_sample_grads_loop(_example_loss(spec), init_params(spec), torch.zeros(3, 2, dtype=F64),
                              torch.zeros(4, dtype=torch.long))


def test_user_code_errors_are_reported():
    theta = torch.ones(3, dtype=F64)
    with pytest.raises(UserCodeError, match=r"shape \(3,\).*must return a scalar"):
        gradient(lambda t: t * 2, theta)
    with pytest.raises(UserCodeError, match=r"raised ZeroDivisionError"):
        dense_hessian(lambda t: 1 / 0, theta)
    with pytest.raises(UserCodeError, match="must return a scalar"):
        hvp_double_backward(lambda t: t, theta, theta)
    with pytest.raises(UserCodeError, match="loss_fn returned"):
        per_sample_grads(lambda t, x, y: t * x, theta, torch.ones(2, 3, dtype=F64), torch.ones(2, dtype=F64))
    # a one-element result is accepted as a scalar
    torch.testing.assert_close(gradient(lambda t: t.sum().reshape(1), theta), torch.ones(3, dtype=F64))


def test_argument_validation():
    theta = torch.ones(3, dtype=F64)
    f = lambda t: (t ** 2).sum()  # noqa: E731
    with pytest.raises(InvalidInputError, match="1-D floating-point tensor"):
        gradient(f, torch.ones(2, 2, dtype=F64))
    with pytest.raises(InvalidInputError, match="1-D floating-point tensor"):
        gradient(f, torch.ones(3, dtype=torch.long))
    with pytest.raises(InvalidInputError, match=r"v of shape \(2,\).*\(3,\)"):
        hvp_forward_over_reverse(f, theta, torch.ones(2, dtype=F64))
    with pytest.raises(InvalidInputError, match="convert with v.to"):
        hvp_double_backward(f, theta, torch.ones(3, dtype=torch.float32))
    with pytest.raises(InvalidInputError,
                       match=r"Got route='fd', but valid values are \['fwd_rev', 'double_backward'\]"):
        hvp_operator(f, theta, route="fd")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="shape of theta"):
        hvp_operator(f, theta, "double_backward")(torch.ones(4, dtype=F64))


def test_float32_routes_agree_at_float32_precision():
    spec, f, theta = _loss(Case((3, 4, 2), "tanh"))
    t32 = theta.float()
    X = torch.randn(6, 3, generator=torch.Generator().manual_seed(100))
    y = torch.randint(0, 2, (6,))
    f32 = lambda t: softmax_cross_entropy(mlp_forward(spec, t, X), y)  # noqa: E731
    v = torch.randn(spec.n_params, generator=torch.Generator().manual_seed(1))
    a, b = hvp_forward_over_reverse(f32, t32, v), hvp_double_backward(f32, t32, v)
    assert a.dtype == torch.float32
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5 * float(b.abs().max()))


def _mse_mlp(seed: int = 0):
    """A tanh MLP under F.mse_loss (reduction="mean"): torch 2.13's jvp of its grad raises ZeroTensors."""
    spec = MLPSpec((3, 4, 2), "tanh")
    gen = torch.Generator().manual_seed(seed)
    X, Y = torch.randn(5, 3, dtype=F64, generator=gen), torch.randn(5, 2, dtype=F64, generator=gen)
    v = torch.randn(spec.n_params, dtype=F64, generator=gen)
    return (lambda t: TF.mse_loss(mlp_forward(spec, t, X), Y)), init_params(spec, seed=seed), v


def _close_12(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12 * float(b.abs().max()))


def test_mse_loss_hvp_falls_back_to_double_backward_and_says_so():
    f, theta, v = _mse_mlp()
    expected, dense = hvp_double_backward(f, theta, v), dense_hessian(f, theta) @ v
    out = hvp_forward_over_reverse(f, theta, v)  # raised "ZeroTensors are immutable" before the fix
    assert hvp_forward_over_reverse.last_route == "double_backward"
    _close_12(out, expected)
    _close_12(out, dense)
    g, theta2, _ = _mse_mlp(seed=1)  # a fresh f: the operator meets the failure itself
    op = hvp_operator(g, theta2)
    assert op.route == "fwd_rev"
    eye = torch.eye(theta2.numel(), dtype=F64)
    columns = torch.stack([op(e) for e in eye], dim=1)
    assert op.route == "double_backward" and "double_backward" in repr(op)
    _close_12(columns, dense_hessian(g, theta2))


def test_fallback_is_remembered_per_function(monkeypatch):
    f, theta, v = _mse_mlp()
    first = hvp_forward_over_reverse(f, theta, v)
    autodiff = importlib.import_module("verify.numeric.autodiff")
    for name in ("jvp", "_dual_product"):  # forward mode inside a transform, and outside
        monkeypatch.setattr(autodiff, name, lambda *a, **k: pytest.fail("forward mode retried on a known f"))
    assert torch.equal(hvp_forward_over_reverse(f, theta, v), first)
    assert hvp_forward_over_reverse.last_route == "double_backward"
    assert hvp_operator(f, theta).route == "double_backward"


def test_fast_route_still_runs_where_it_works(monkeypatch):
    _, f, theta = _loss(Case((3, 4, 2), "tanh"))
    v = torch.ones(theta.numel(), dtype=F64)
    expected = dense_hessian(f, theta) @ v
    autodiff = importlib.import_module("verify.numeric.autodiff")
    monkeypatch.setattr(autodiff, "_graph_of_gradient", lambda *a: pytest.fail("double backward ran"))
    _close(hvp_forward_over_reverse(f, theta, v), expected)
    assert hvp_forward_over_reverse.last_route == "fwd_rev"
    op = hvp_operator(f, theta)
    _close(op(v), expected)
    assert op.route == "fwd_rev"


def test_only_the_zero_tensor_failure_falls_back(monkeypatch):
    theta = torch.ones(2, dtype=F64)

    def user_raises(t: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("ZeroTensors are immutable (the user's own)")

    with pytest.raises(UserCodeError, match="the user's own"):
        hvp_forward_over_reverse(user_raises, theta, theta)
    assert hvp_forward_over_reverse.last_route == "fwd_rev"
    autodiff = importlib.import_module("verify.numeric.autodiff")

    def other_failure(*args, **kwargs):
        raise RuntimeError("some other forward-mode failure")

    for name in ("jvp", "_dual_product"):
        monkeypatch.setattr(autodiff, name, other_failure)
    with pytest.raises(RuntimeError, match="some other"):
        hvp_operator(lambda t: (t ** 3).sum(), theta)(theta)
    with pytest.raises(RuntimeError, match="some other"):  # under vmap: torch.func's jvp
        torch.func.vmap(hvp_operator(lambda t: (t ** 3).sum(), theta))(torch.eye(2, dtype=F64))


def test_deprecation_warning_is_filtered_under_W_error():
    """torch 2.13's torch.func warns on first forward-mode use; our functions must survive -W error."""
    code = (
        "import torch\n"
        "from verify.numeric import hvp_forward_over_reverse, dense_hessian, hvp_operator\n"
        "t = torch.ones(3, dtype=torch.float64)\n"
        "f = lambda t: (t ** 3).sum()\n"
        "assert torch.equal(hvp_forward_over_reverse(f, t, t), 6 * t)\n"
        "assert dense_hessian(f, t).shape == (3, 3)\n"
        "assert torch.equal(hvp_operator(f, t)(t), 6 * t)\n"
    )
    subprocess.run([sys.executable, "-W", "error", "-c", code], check=True)


def test_forward_over_reverse_is_the_same_on_dual_numbers_and_under_vmap():
    """Outside transforms the product runs on forward_ad dual numbers, inside (vmap over v) on torch.func's jvp:
    the same forward-mode formulas, so the same bits."""
    _, f, theta = _loss(Case((3, 4, 2), "tanh"))
    eye = torch.eye(theta.numel(), dtype=F64)
    op = hvp_operator(f, theta)
    one_by_one = torch.stack([op(e) for e in eye])
    assert torch.equal(torch.func.vmap(op)(eye), one_by_one)
    assert torch.equal(one_by_one[0], torch.func.jvp(torch.func.grad(f), (theta,), (eye[0],))[1])


def test_derivatives_inside_inference_mode_are_refused_not_zero():
    """autograd records nothing under torch.inference_mode(): every route would agree on H = 0."""
    theta = torch.tensor([1.0, -2.0], dtype=F64)
    op = hvp_operator(lambda t: (t ** 3).sum(), theta)  # built outside, called inside
    with torch.inference_mode():
        for call in (lambda: hvp_forward_over_reverse(lambda t: (t ** 3).sum(), theta, theta),
                     lambda: hvp_double_backward(lambda t: (t ** 3).sum(), theta, theta),
                     lambda: gradient(lambda t: (t ** 3).sum(), theta), lambda: op(theta)):
            with pytest.raises(InvalidInputError, match="inference_mode"):
                call()


def test_a_loss_that_runs_forward_mode_itself_gets_torch_funcs_jvp():
    """Dual numbers do not nest; torch.func's jvp does: f = ½(d/dε Σ(t + ε)²)² = 2(Σt)², so Hv = 4(Σv)·1."""
    def f(t: torch.Tensor) -> torch.Tensor:
        d = torch.func.jvp(lambda u: (u ** 2).sum(), (t,), (torch.ones_like(t),))[1]
        return 0.5 * d ** 2

    theta, v = torch.tensor([1.0, -2.0, 0.5], dtype=F64), torch.tensor([1.0, 0.0, 2.0], dtype=F64)
    expected = torch.full_like(theta, 4.0 * float(v.sum()))
    torch.testing.assert_close(hvp_forward_over_reverse(f, theta, v), expected, rtol=1e-12, atol=1e-12)
    assert hvp_forward_over_reverse.last_route == "fwd_rev"
