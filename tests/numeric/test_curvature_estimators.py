"""The Gauss-Newton split and the curvature estimators against dense computation on small models.

Each estimator is checked where its answer is known exactly (low rank, diagonal, the definition computed the
slow way) and against the dense spectrum of real network Hessians; a wrong variant is shown to fail.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, seed, settings

from verify import modules
from verify.errors import InvalidInputError
from verify.numeric import FunctionalModel, functional
from verify.numeric.estimators import hutch_plus_plus, hutchinson, spectral_density, top_eigenpairs, xtrace
from verify.numeric.ggn import GaussNewton, ggn_operator, residual_operator

F64 = torch.float64


def _networks(count: int, activations=("tanh", "gelu")) -> list:
    found = []

    @settings(max_examples=count, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @seed(3)
    @given(modules(activations=activations))
    def collect(case):
        found.append(case)

    collect()
    return found


def _dense(op, n: int) -> torch.Tensor:
    return torch.stack([op(e) for e in torch.eye(n, dtype=F64)], dim=1)


NETWORKS = _networks(12)


@pytest.mark.parametrize("case", NETWORKS, ids=lambda c: f"{c.arch}")
def test_hessian_is_ggn_plus_residual_term_on_every_architecture(case):
    fm = functional(case)
    gn = GaussNewton(fm, fm.theta0)
    H, G, R = fm.dense_hessian(fm.theta0), _dense(gn.ggn, fm.n), _dense(gn.residual, fm.n)
    # round-off is relative to the terms JᵀH_ℓJ sums (a saturated softmax makes G tiny by cancellation)
    terms = float((gn.jacobian() ** 2).sum()) / fm.m
    scale = float(H.abs().max()) + float(G.abs().max()) + terms + 1e-300
    assert float((H - G - R).abs().max()) <= 1e-12 * scale
    # cross-entropy is convex in the logits: G is PSD (to round-off) and symmetric
    assert float(torch.linalg.eigvalsh((G + G.T) / 2)[0]) >= -1e-11 * scale
    assert float((G - G.T).abs().max()) <= 1e-11 * scale
    torch.testing.assert_close(gn.ggn_columns(torch.eye(fm.n, dtype=F64)), G, rtol=1e-12, atol=1e-14 * scale)


def test_ggn_of_least_squares_is_the_hessian_and_a_wrong_split_is_caught():
    X = torch.tensor([[1.0, 2.0], [0.5, -1.0], [3.0, 0.0]], dtype=F64)
    y = torch.tensor([[1.0], [0.0], [2.0]], dtype=F64)
    fm = FunctionalModel(torch.nn.Linear(2, 1), (X, y), "mse")  # affine in θ: R = 0, G = H
    G = _dense(ggn_operator(fm, fm.theta0), fm.n)
    torch.testing.assert_close(G, fm.dense_hessian(fm.theta0), rtol=1e-13, atol=1e-13)
    assert float(_dense(residual_operator(fm, fm.theta0), fm.n).abs().max()) == 0.0
    # a tanh network: R ≠ 0 away from interpolation, and G alone misses it
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
    fm = FunctionalModel(net, (X, 5 * y), "mse")
    H, G = fm.dense_hessian(fm.theta0), _dense(ggn_operator(fm, fm.theta0), fm.n)
    assert float((H - G).abs().max()) > 1e-3 * float(H.abs().max())


def test_residual_term_vanishes_at_interpolation():
    torch.manual_seed(1)
    X = torch.randn(4, 2, dtype=F64)
    net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2)).double()
    with torch.no_grad():
        y = net(X)  # the targets are the outputs: every residual is 0
    fm = FunctionalModel(net, (X, y), "mse")
    H, G = fm.dense_hessian(fm.theta0), _dense(ggn_operator(fm, fm.theta0), fm.n)
    torch.testing.assert_close(H, G, rtol=1e-12, atol=1e-14)


def _symmetric(n: int, seed_: int, rank: int | None = None) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed_)
    if rank is not None:
        U = torch.randn(n, rank, generator=g, dtype=F64)
        return U @ U.T
    B = torch.randn(n, n, generator=g, dtype=F64)
    return (B + B.T) / 2 + n * torch.eye(n, dtype=F64) / 4


def _xtrace_by_definition(A: torch.Tensor, m: int, seed_: int) -> float:
    """Leave-one-out by m separate QR factorizations (the definition, O(m) times the work)."""
    omega = torch.randn(A.shape[0], m, generator=torch.Generator().manual_seed(seed_), dtype=F64)
    Y, terms = A @ omega, []
    for i in range(m):
        Qi, _ = torch.linalg.qr(torch.cat([Y[:, :i], Y[:, i + 1:]], dim=1))
        P = Qi @ Qi.T
        u = omega[:, i] - P @ omega[:, i]
        terms.append(float(torch.trace(P @ A) + u @ A @ u))
    return float(np.mean(terms))


@pytest.mark.parametrize("seed_", [0, 1, 2])
def test_xtrace_downdating_equals_its_definition(seed_):
    A = _symmetric(30, seed_)
    est = xtrace(lambda v: A @ v, 30, 16, seed=seed_)
    assert est.matvecs == 16 and est.method == "xtrace"
    assert est.value == pytest.approx(_xtrace_by_definition(A, 8, seed_), rel=1e-11, abs=1e-11)


def test_sketching_estimators_are_exact_on_low_rank_and_hutchinson_on_diagonals():
    L = _symmetric(25, 4, rank=3)
    exact = float(torch.trace(L))
    assert xtrace(lambda v: L @ v, 25, 10).value == pytest.approx(exact, rel=1e-12)
    assert xtrace(lambda v: L @ v, 25, 10).error <= 1e-10 * exact
    assert hutch_plus_plus(lambda v: L @ v, 25, 12).value == pytest.approx(exact, rel=1e-12)
    D = torch.diag(torch.arange(1.0, 8.0, dtype=F64))
    est = hutchinson(lambda v: D @ v, 7, 5)
    assert est.value == 28.0 and est.error == 0.0
    # Gaussian probes are not exact on a diagonal: the same check fails for them
    assert hutchinson(lambda v: D @ v, 7, 5, distribution="gaussian").value != pytest.approx(28.0, rel=1e-6)


def test_trace_estimators_on_network_hessians_land_within_a_few_standard_errors():
    for case in NETWORKS[:6]:
        fm = functional(case)
        H = fm.dense_hessian(fm.theta0)
        exact, op = float(torch.trace(H)), fm.hvp_operator(fm.theta0)
        for est in (hutchinson(op, fm.n, 30), hutch_plus_plus(op, fm.n, 30), xtrace(op, fm.n, 30)):
            assert abs(est.value - exact) <= 6 * est.error + 1e-9 * float(H.abs().sum()), (case.arch, est)


def test_top_eigenpairs_match_eigh_with_small_residuals():
    A = _symmetric(60, 7)
    pairs = top_eigenpairs(lambda v: A @ v, 60, 4)
    want = torch.linalg.eigvalsh(A).flip(0)[:4].numpy()
    np.testing.assert_allclose(pairs.values, want, rtol=1e-9)
    assert pairs.method.startswith("lanczos") and np.all(pairs.residuals <= 1e-7 * abs(want[0]))
    assert pairs.rest <= want[3] + 1e-6
    small = top_eigenpairs(lambda v: A[:5, :5] @ v, 5, 5)
    assert small.method == "dense" and small.values.tolist() == sorted(small.values.tolist(), reverse=True)
    with pytest.raises(InvalidInputError, match="only 5 eigenvalues"):
        top_eigenpairs(lambda v: A[:5, :5] @ v, 5, 6)


def test_top_eigenpairs_find_every_copy_of_a_repeated_eigenvalue_and_survive_a_zero_operator():
    q, _ = torch.linalg.qr(torch.randn(60, 60, generator=torch.Generator().manual_seed(3), dtype=F64))
    values = torch.cat([torch.tensor([5.0, 5.0, 5.0, 4.0], dtype=F64), torch.linspace(-3.0, 3.9, 56, dtype=F64)])
    A = (q * values) @ q.T
    pairs = top_eigenpairs(lambda v: A @ v, 60, 4)
    np.testing.assert_allclose(pairs.values, [5.0, 5.0, 5.0, 4.0], rtol=1e-8)
    assert "deflation" in pairs.method and pairs.rest <= 4.0 + 1e-6
    zero = top_eigenpairs(lambda v: 0 * v, 30, 3)
    assert zero.method == "dense" and zero.values.tolist() == [0.0, 0.0, 0.0]


def test_lanczos_quadrature_reproduces_each_probes_moments():
    A = _symmetric(12, 9)
    density = spectral_density(lambda v: A @ v, 12, probes=2, steps=12, seed=5)
    # Lanczos from unit q with 12 steps: Σ w θ^p = qᵀA^p q exactly for p ≤ 23; compare p = 1..4
    q = torch.randn(12, 2, generator=torch.Generator().manual_seed(5), dtype=F64)
    q = q / torch.linalg.vector_norm(q, dim=0)
    for j in range(2):
        for p in range(1, 5):
            want = float(q[:, j] @ torch.linalg.matrix_power(A, p) @ q[:, j])
            got = float((density.weights[j] * density.nodes[j] ** p).sum())
            assert got == pytest.approx(want, rel=1e-9)
    grid = np.linspace(-40, 40, 8001)
    assert np.trapezoid(density.on_grid(grid, 0.5), grid) == pytest.approx(1.0, abs=1e-6)
    tiny = spectral_density(lambda v: 1e-13 * (A @ v), 12, probes=1, steps=12, seed=5)  # any scale: 12 nodes
    assert len(set(np.round(tiny.nodes[0] / 1e-13, 6))) == 12


def test_bad_budgets_are_usage_errors():
    with pytest.raises(InvalidInputError, match="matvecs"):
        xtrace(lambda v: v, 3, 3)
    with pytest.raises(InvalidInputError, match="distribution"):
        hutchinson(lambda v: v, 3, 2, distribution="uniform")


def test_jacobian_in_chunks_is_torch_func_jacrev():
    fm = functional(NETWORKS[0])
    gn = GaussNewton(fm, fm.theta0)
    want = torch.func.jacrev(lambda t: fm.output(t).reshape(-1))(fm.theta0)
    for chunk in (1, 3, 256):
        assert torch.equal(gn.jacobian(chunk=chunk), want)
