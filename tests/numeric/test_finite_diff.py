"""Finite differences agree with autograd, with the errors the model O(r) + O(u/r) / O(r^2) + O(u/r) predicts.

The truncation terms are checked against their exact leading coefficients
(v^T H v / 2 for forward differences, f'''[v, v, v] / 6 for central ones), which
autograd provides, so the tests pin the error model itself and not just "small".
"""

from __future__ import annotations

import math

import pytest
import torch

from verify.errors import InvalidInputError, UserCodeError
from verify.numeric import (
    MLPSpec,
    fd_directional,
    fd_gradient,
    fd_hvp,
    fd_step,
    gradient,
    hvp_double_backward,
    init_params,
    mlp_forward,
)

F64 = torch.float64
EPS64 = torch.finfo(F64).eps


def _mlp_loss(seed: int = 0, widths: tuple[int, ...] = (3, 4, 1)):
    spec = MLPSpec(widths, "tanh")
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(5, widths[0], dtype=F64, generator=gen)
    y = torch.randn(5, widths[-1], dtype=F64, generator=gen)

    def f(theta: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((mlp_forward(spec, theta, X) - y) ** 2).mean()

    theta = init_params(spec, seed=seed)
    v = torch.randn(spec.n_params, dtype=F64, generator=gen)
    return f, theta, v / v.norm()


def _slope(rs: list[float], errs: list[float]) -> float:
    """Least-squares slope of log(err) against log(r)."""
    x = torch.log(torch.tensor(rs, dtype=F64))
    y = torch.log(torch.tensor(errs, dtype=F64))
    x = x - x.mean()
    return float((x * (y - y.mean())).sum() / (x * x).sum())


def test_fd_step_values():
    assert fd_step("float64", "forward") == math.sqrt(EPS64) == 2.0 ** -26
    assert fd_step(torch.float64, "central") == pytest.approx(EPS64 ** (1 / 3), rel=1e-15)
    assert fd_step("float64") == fd_step("float64", "central")  # central is the default
    assert fd_step("float32", "forward") == pytest.approx(math.sqrt(torch.finfo(torch.float32).eps))
    assert fd_step("float64", "forward", scale=10.0) == 10 * 2.0 ** -26
    # the measured optima of docs/claims.md#c5 (tanh MLP): forward ~1e-7..1e-8, central ~1e-5 in float64
    assert 1e-9 < fd_step("float64", "forward") < 1e-7 and 1e-6 < fd_step("float64", "central") < 1e-4


@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"dtype": "float64", "scheme": "backward"},
     r"Got scheme='backward', but valid values are \['forward', 'central'\]"),
    ({"dtype": "float64", "scale": 0.0}, "scale"),
    ({"dtype": "float64", "scale": math.inf}, "scale"),
    ({"dtype": "float16"}, "valid values"),
])
def test_fd_step_rejects(kwargs, pattern):
    with pytest.raises(InvalidInputError, match=pattern):
        fd_step(**kwargs)


@pytest.mark.parametrize("seed", [0, 1])
def test_forward_difference_error_is_r_times_half_curvature(seed):
    """forward: (f(θ+rv) - f(θ))/r - gᵀv = (r/2) vᵀHv + O(r²)."""
    f, theta, v = _mlp_loss(seed)
    gv = float(gradient(f, theta) @ v)
    vhv = float(v @ hvp_double_backward(f, theta, v))
    rs = [1e-2, 3e-3, 1e-3, 3e-4, 1e-4]
    errs = []
    for r in rs:
        err = float(fd_directional(f, theta, v, step=r, scheme="forward")) - gv
        # leading coefficient, up to O(r) (third-derivative term) and round-off u|f|/r
        assert abs(err / r - vhv / 2) <= 10 * r * max(1.0, abs(vhv)) + 10 * EPS64 / r ** 2
        errs.append(abs(err))
    assert 0.9 < _slope(rs, errs) < 1.1  # error shrinks linearly with r


def test_central_difference_error_is_r_squared_times_third_derivative():
    """central: (f(θ+rv) - f(θ-rv))/(2r) - gᵀv = (r²/6) f'''[v,v,v] + O(r⁴)."""
    f, theta, v = _mlp_loss(2)
    gv = float(gradient(f, theta) @ v)
    h = 1e-4  # f'''[v,v,v] by a central difference of the exact vᵀH(θ)v (error ~h²)
    d3 = (float(v @ hvp_double_backward(f, theta + h * v, v)) - float(v @ hvp_double_backward(f, theta - h * v, v))) \
        / (2 * h)
    rs = [1e-1, 5e-2, 2e-2, 1e-2]
    errs = []
    for r in rs:
        err = float(fd_directional(f, theta, v, step=r, scheme="central")) - gv
        assert abs(err / r ** 2 - d3 / 6) <= 2 * r ** 2 * max(1.0, abs(d3)) + 1e-6
        errs.append(abs(err))
    assert 1.9 < _slope(rs, errs) < 2.1


def test_round_off_dominates_for_tiny_steps():
    """O(u/r): far below the optimal step the error grows again; fd_step sits near the minimum."""
    f, theta, v = _mlp_loss(3)
    gv = float(gradient(f, theta) @ v)
    err = {r: abs(float(fd_directional(f, theta, v, step=r, scheme="forward")) - gv)
           for r in (1e-4, fd_step(F64, "forward"), 1e-13)}
    assert err[1e-13] > 10 * err[fd_step(F64, "forward")]
    assert err[1e-4] > 10 * err[fd_step(F64, "forward")]
    assert err[1e-13] <= 20 * EPS64 * max(1.0, abs(float(f(theta)))) / 1e-13  # the u|f|/r bound


@pytest.mark.parametrize("scheme", ["central", "forward"])
def test_fd_gradient_matches_autograd_within_the_model(scheme):
    f, theta, _ = _mlp_loss(4, widths=(2, 3, 3, 1))
    exact = gradient(f, theta)
    approx = fd_gradient(f, theta, scheme=scheme)
    r = fd_step(F64, scheme)
    # model bound with O(1) derivative constants: forward r + u/r ~ 3e-8, central r² + u/r ~ 7e-11
    bound = (r + 4 * EPS64 / r) if scheme == "forward" else (r ** 2 + 4 * EPS64 / r)
    scale = max(1.0, float(exact.abs().max()), abs(float(f(theta))))
    assert float((approx - exact).abs().max()) <= 10 * bound * scale


def test_fd_gradient_uses_the_step_actually_taken():
    """θ_i + r is rounded; dividing by the step actually taken keeps a linear function exact."""
    theta = torch.tensor([1e8, -3.0], dtype=F64)
    r = 1e-3
    taken = float((theta[0] + r) - theta[0])
    assert abs(taken - r) > 1e-8 * r  # dividing by r itself would be off by more than 1e-8 relative
    for scheme in ("central", "forward"):
        g = fd_gradient(lambda t: 2.0 * t[0], theta, scheme=scheme, step=r)
        assert g.tolist() == [2.0, 0.0]


def test_fd_hvp_is_exact_for_a_quadratic():
    """C5: Hv = [∇L(θ+rv) - ∇L(θ)]/r is exact for quadratic L, for every r (up to round-off u‖∇L‖/r)."""
    gen = torch.Generator().manual_seed(5)
    B = torch.randn(6, 6, dtype=F64, generator=gen)
    A = B @ B.T - 2 * torch.eye(6, dtype=F64)
    b = torch.randn(6, dtype=F64, generator=gen)
    theta = torch.randn(6, dtype=F64, generator=gen)
    v = torch.randn(6, dtype=F64, generator=gen)
    v = v / v.norm()
    grad_fn = lambda t: A @ t + b  # noqa: E731
    for scheme in ("forward", "central"):
        for r in (1.0, 1e-2, 1e-5, 1e-8):
            hv = fd_hvp(grad_fn, theta, v, step=r, scheme=scheme)
            atol = 50 * EPS64 * float(grad_fn(theta).abs().max() + r * (A @ v).abs().max()) / r
            torch.testing.assert_close(hv, A @ v, rtol=0, atol=atol)


@pytest.mark.parametrize("scheme", ["central", "forward"])
def test_fd_hvp_matches_autograd_on_an_mlp(scheme):
    f, theta, v = _mlp_loss(6, widths=(3, 5, 2))
    exact = hvp_double_backward(f, theta, v)
    approx = fd_hvp(lambda t: gradient(f, t), theta, v, scheme=scheme)
    r = fd_step(F64, scheme)
    bound = (r + 4 * EPS64 / r) if scheme == "forward" else (r ** 2 + 4 * EPS64 / r)
    assert float((approx - exact).abs().max()) <= 10 * bound * max(1.0, float(exact.abs().max()))


def test_float32_central_gradient_has_float32_sized_error():
    f, theta, _ = _mlp_loss(7)
    exact = gradient(f, theta)
    approx = fd_gradient(lambda t: f(t.double()).float(), theta.float())
    assert approx.dtype == torch.float32
    r = fd_step(torch.float32, "central")
    eps32 = torch.finfo(torch.float32).eps
    assert float((approx.double() - exact).abs().max()) <= 10 * (r ** 2 + 4 * eps32 / r)


def test_user_code_and_argument_errors():
    theta = torch.ones(3, dtype=F64)
    v = torch.ones(3, dtype=F64)
    with pytest.raises(UserCodeError, match=r"f returned \(3,\), but it must return a scalar"):
        fd_gradient(lambda t: t, theta)
    with pytest.raises(UserCodeError, match=r"grad_fn returned \(2,\)"):
        fd_hvp(lambda t: t[:2], theta, v)
    with pytest.raises(InvalidInputError, match=r"v of shape \(2,\)"):
        fd_directional(lambda t: t.sum(), theta, torch.ones(2, dtype=F64))
    with pytest.raises(InvalidInputError, match="step"):
        fd_gradient(lambda t: t.sum(), theta, step=-1e-3)
    with pytest.raises(InvalidInputError, match="scheme"):
        fd_hvp(lambda t: t, theta, v, scheme="backward")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="1-D floating tensor"):
        fd_gradient(lambda t: t.sum(), torch.ones(2, 2, dtype=F64))


def test_roundoff_spread_measures_what_a_formula_cannot():
    from verify.numeric import roundoff_spread

    theta = torch.linspace(-1, 1, 50, dtype=torch.float64)

    def clean(t):
        return (t ** 2).sum()

    def cancelling(t):  # 1e8 + f − 1e8: the sum loses ~8 digits, whatever its size
        return (1e8 + (t ** 2).sum()) - 1e8

    u = torch.finfo(torch.float64).eps
    small = roundoff_spread(clean, theta)
    large = roundoff_spread(cancelling, theta)
    assert small <= 64 * u * float(clean(theta))
    assert 1e-10 < large < 1e-7  # the cancellation loses ulp(1e8) ≈ 1.5e-8: seen, not invented
    assert large > 1e3 * max(small, u)


def test_roundoff_spread_of_a_batched_evaluation_sees_the_same_points():
    from verify.numeric import roundoff_spread

    theta = torch.linspace(-1, 1, 50, dtype=torch.float64)
    calls = []

    def cancelling(t):
        return (1e8 + (t ** 2).sum(-1)) - 1e8

    def batched(points):
        calls.append(points.shape)
        return cancelling(points)

    one_by_one = roundoff_spread(cancelling, theta)
    together = roundoff_spread(cancelling, theta, batched=batched)
    assert calls == [(9, 50)]  # one call with all nine points
    assert together == one_by_one  # row by row the same arithmetic: the same table
