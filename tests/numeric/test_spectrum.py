"""Extreme eigenvalues: Lanczos and the dense route agree with eigvalsh; power iteration does not.

Tolerance: Lanczos with tol=1e-10 (ARPACK's relative accuracy) is compared with
``torch.linalg.eigvalsh`` at rtol 1e-8 of the spectral radius (the Ritz value
error is below tol·|λ|; 1e-8 leaves margin); the dense route at 1e-12.
"""

from __future__ import annotations

import pytest
import torch

from verify.errors import InvalidInputError, UserCodeError
from verify.numeric import (
    EigenEstimate,
    MLPSpec,
    dense_hessian,
    extreme_eigenvalue,
    extreme_eigenvalues,
    hvp_operator,
    init_params,
    mlp_forward,
    power_iteration,
)

F64 = torch.float64


def _symmetric(eigenvalues: list[float] | torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Q diag(eigenvalues) Q^T with a random orthogonal Q."""
    lam = torch.as_tensor(eigenvalues, dtype=F64)
    n = lam.shape[0]
    q, _ = torch.linalg.qr(torch.randn(n, n, dtype=F64, generator=torch.Generator().manual_seed(seed)))
    return (q * lam) @ q.T


def _random_symmetric(n: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    a = torch.randn(n, n, dtype=F64, generator=torch.Generator().manual_seed(seed))
    return (a + a.T) / 2 + shift * torch.eye(n, dtype=F64)


SMALL = [
    torch.tensor([[2.5]], dtype=F64),
    torch.tensor([[-4.0]], dtype=F64),
    torch.tensor([[2.0, 1.0], [1.0, -3.0]], dtype=F64),
    torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=F64),
    _random_symmetric(3, seed=1),
    _symmetric([-5.0, 0.0, 1.0], seed=2),
]


@pytest.mark.parametrize("A", SMALL, ids=lambda A: f"n{A.shape[0]}")
@pytest.mark.parametrize("dense_below", [16, 0])
def test_small_sizes(A, dense_below):
    n = A.shape[0]
    exact = torch.linalg.eigvalsh(A)
    hi = extreme_eigenvalue(lambda v: A @ v, n, "LA", dense_below=dense_below)
    lo = extreme_eigenvalue(lambda v: A @ v, n, "SA", dense_below=dense_below)
    scale = float(exact.abs().max())
    assert abs(hi.value - float(exact[-1])) <= 1e-10 * scale
    assert abs(lo.value - float(exact[0])) <= 1e-10 * scale
    if n <= 2 or dense_below > n:  # eigsh cannot run for n <= 2 (k >= n): always dense
        assert hi.method == lo.method == "dense" and hi.matvecs == n
    else:
        assert hi.method == "lanczos"
    assert hi.converged and lo.converged


@pytest.mark.parametrize(("name", "A"), [
    ("random-indefinite", _random_symmetric(60, seed=3)),
    ("psd", _symmetric(torch.linspace(0.0, 10.0, 60), seed=4)),
    ("negative-dominant", _symmetric(torch.cat([torch.tensor([-9.0]), torch.linspace(-1.0, 2.0, 59)]), seed=5)),
    ("clustered-top", _symmetric(torch.cat([torch.tensor([1.0, 0.999]), torch.linspace(-0.5, 0.5, 58)]), seed=6)),
])
def test_lanczos_n60_matches_eigvalsh(name, A):
    exact = torch.linalg.eigvalsh(A)
    scale = float(exact.abs().max())
    hi, lo = extreme_eigenvalues(lambda v: A @ v, 60)
    assert hi.method == lo.method == "lanczos"
    assert abs(hi.value - float(exact[-1])) <= 1e-8 * scale, (name, hi, exact[-1])
    assert abs(lo.value - float(exact[0])) <= 1e-8 * scale, (name, lo, exact[0])
    assert 0 < hi.matvecs <= 600 and 0 < lo.matvecs <= 600


def test_dense_route_below_threshold_counts_n_products():
    A = _random_symmetric(10, seed=8)
    exact = torch.linalg.eigvalsh(A)
    hi, lo = extreme_eigenvalues(lambda v: A @ v, 10)
    assert (hi.method, hi.matvecs, lo.matvecs) == ("dense", 10, 10)
    assert abs(hi.value - float(exact[-1])) <= 1e-12 * float(exact.abs().max())
    assert abs(lo.value - float(exact[0])) <= 1e-12 * float(exact.abs().max())


def test_seeded_runs_are_reproducible():
    A = _random_symmetric(40, seed=9)
    runs = [extreme_eigenvalue(lambda v: A @ v, 40, "LA", seed=3) for _ in range(2)]
    assert runs[0] == runs[1]


def test_no_convergence_falls_back_to_dense():
    A = _random_symmetric(60, seed=10)
    est = extreme_eigenvalue(lambda v: A @ v, 60, "LA", maxiter=1, tol=1e-14)
    assert est.method == "lanczos->dense" and est.converged
    assert est.matvecs > 60  # the Lanczos products plus the n dense ones
    assert abs(est.value - float(torch.linalg.eigvalsh(A)[-1])) <= 1e-12 * float(A.abs().max()) * 60


def test_power_iteration_returns_largest_magnitude_not_largest():
    """Why power iteration is not the oracle: on an indefinite matrix with |λ_min| > λ_max > 0 it answers λ_min."""
    A = _symmetric(torch.cat([torch.tensor([-3.0]), torch.linspace(-1.0, 1.0, 59)]), seed=11)
    matvec = lambda v: A @ v  # noqa: E731
    power = power_iteration(matvec, 60, tol=1e-10)
    lanczos = extreme_eigenvalue(matvec, 60, "LA")
    assert power.method == "power" and power.converged
    assert abs(power.value - (-3.0)) < 1e-6        # the largest magnitude, negative
    assert abs(lanczos.value - 1.0) < 1e-10        # the largest algebraic, which a smoothness bound needs
    assert power.value < 0 < lanczos.value


def test_power_iteration_on_psd_finds_lambda_max():
    A = _symmetric(torch.cat([torch.tensor([5.0]), torch.linspace(0.0, 2.0, 39)]), seed=12)
    est = power_iteration(lambda v: A @ v, 40, tol=1e-12)
    assert abs(est.value - 5.0) < 1e-9 and est.converged
    assert est.matvecs > 2


def test_power_iteration_reports_non_convergence_and_zero_operator():
    A = _symmetric(torch.cat([torch.tensor([1.0, 0.9999]), torch.zeros(18)]), seed=13)
    est = power_iteration(lambda v: A @ v, 20, tol=1e-15, max_iter=5)
    assert not est.converged and est.matvecs == 5
    zero = power_iteration(lambda v: torch.zeros_like(v), 4)
    assert zero == EigenEstimate(0.0, 1, "power", True)


def test_on_an_mlp_hessian_both_ends_match_the_dense_hessian():
    spec = MLPSpec((3, 5, 4, 1), "tanh")
    theta = init_params(spec, seed=1, scale=2.0)
    X = torch.randn(8, 3, dtype=F64, generator=torch.Generator().manual_seed(0))
    y = torch.randn(8, 1, dtype=F64, generator=torch.Generator().manual_seed(1))
    f = lambda t: 0.5 * ((mlp_forward(spec, t, X) - y) ** 2).mean()  # noqa: E731
    exact = torch.linalg.eigvalsh(dense_hessian(f, theta))
    hi, lo = extreme_eigenvalues(hvp_operator(f, theta, "double_backward"), spec.n_params)
    scale = float(exact.abs().max())
    assert exact[0] < 0 < exact[-1]  # indefinite at a random point
    assert abs(hi.value - float(exact[-1])) <= 1e-8 * scale
    assert abs(lo.value - float(exact[0])) <= 1e-8 * scale


def test_float32_operator():
    A = _random_symmetric(30, seed=14)
    A32 = A.float()
    est = extreme_eigenvalue(lambda v: A32 @ v, 30, "LA", dtype="float32", tol=1e-6)
    assert abs(est.value - float(torch.linalg.eigvalsh(A)[-1])) <= 1e-5 * float(A.abs().max()) * 30


def test_bad_operators_are_user_code_errors():
    with pytest.raises(UserCodeError, match=r"must return a tensor of shape \(5,\)"):
        extreme_eigenvalue(lambda v: v[:3], 5)
    with pytest.raises(UserCodeError, match="non-finite"):
        extreme_eigenvalue(lambda v: v * float("nan"), 30)
    with pytest.raises(UserCodeError, match="non-finite"):
        power_iteration(lambda v: v * float("inf"), 3)


@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"n": 0}, "n=0"),
    ({"n": 2.0}, "n=2.0"),
    ({"n": 4, "which": "LM"}, r"Got which='LM', but valid values are \['LA', 'SA'\]"),
    ({"n": 4, "tol": -1.0}, "tol"),
    ({"n": 4, "dtype": "float16"}, "valid values"),
])
def test_argument_validation(kwargs, pattern):
    with pytest.raises(InvalidInputError, match=pattern):
        extreme_eigenvalue(lambda v: v, **kwargs)
    with pytest.raises(InvalidInputError):
        power_iteration(lambda v: v, 3, max_iter=0)
