"""C7: classification of critical points holds; a PSD Hessian does not decide; wrong variants are refuted."""

from __future__ import annotations

import numpy as np
import torch

from proofs.critical_points import FAMILY
from proofs.critical_points import claims as c7
from proofs.critical_points import numeric as num
from proofs.critical_points import symbolic as sym
from proofs.critical_points.cases import LeastSquaresCase, PolynomialCase, critical_point_cases
from verify import (
    CaseResult,
    CheckContext,
    Claim,
    MLPSpec,
    Tolerance,
    compare_leq,
    dense_hessian,
    gradient,
    mlp_forward,
    run_claim,
)
from verify.claims import VerdictKind


def _run(claim, examples=40):
    return run_claim(claim, examples=examples, device="cpu")


def test_classification_is_proved_for_every_inertia():
    v = _run(c7.CLASSIFICATION)
    assert v.verdict is VerdictKind.PROVED, v.message
    assert {"min", "max", "saddle", "PolynomialCase", "LeastSquaresCase"} <= set(v.numeric["boundary_cases_hit"])


def test_semidefinite_claim_is_refuted_by_minus_x4_plus_y2():
    v = _run(c7.SEMIDEFINITE)
    assert v.verdict is VerdictKind.REFUTED
    case = v.counterexample["case"]
    assert case["sign"] == -1 or case["k"] == 3
    assert v.counterexample["recheck"]["status"] == "violated"
    assert v.symbolic["steps"][0]["status"] == "refuted"


def test_symbolic_second_order_term_is_proved():
    assert sym.second_order_term().status == "proved"


def test_claiming_every_critical_point_is_a_minimum_is_refuted():
    def check(case, ctx):
        f, theta = case.loss_and_point(ctx)
        eig, vecs = torch.linalg.eigh(dense_hessian(f, theta))
        eps = case.step_length(eig.numpy(), theta)
        worst = min(float(f(theta + eps * vecs[:, j]) - f(theta)) for j in range(eig.numel()))
        return CaseResult(compare_leq(-worst, 0.0, abs(worst), Tolerance(ctx.dtype, FAMILY.depth),
                                      noise=abs(float(f(theta)))))

    v = _run(Claim(id="all-minima", statement="wrong", source="test", cases=critical_point_cases,
                   check=check, relation="inequality"))
    assert v.verdict is VerdictKind.REFUTED


class _TooLongStep(PolynomialCase):
    """A polynomial case whose step ε = 1 is far too long for its cubic term."""

    def step_length(self, eig, theta):
        return 1.0


def test_a_step_too_large_for_the_cubic_terms_is_refuted():
    Q, T = np.array([[1.0]]), np.array([[[5.0]]])  # L = t²/2 + 5t³
    assert c7.CLASSIFICATION.check(_TooLongStep(Q, T, 0.0), CheckContext()).comparison.violated  # ΔL(±1) = 0.5 ± 5
    assert c7.CLASSIFICATION.check(PolynomialCase(Q, T, 0.0), CheckContext()).comparison.holds


def test_least_squares_point_is_exact_and_the_same_every_time():
    """θ* solves the normal equations in exact rationals: the same bits on every call (LAPACK's need not be)."""
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(12, 3)), rng.normal(size=12)
    case = LeastSquaresCase(X, y)
    points = {case.loss_and_point(CheckContext())[1].numpy().tobytes() for _ in range(20)}
    assert len(points) == 1
    theta = np.frombuffer(points.pop())
    assert np.allclose(theta, np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-12, atol=0)
    results = {repr(num.classification_check(case, CheckContext()).comparison) for _ in range(5)}
    assert len(results) == 1


def test_newton_on_an_overparameterized_mlp_is_degenerate():
    """Evidence, not a claim: a stationary point of a (1, 1, 1) linear net has a singular Hessian."""
    spec = MLPSpec((1, 1, 1), "identity", bias=False)
    x, t = torch.ones(1, 1, dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64)
    f = lambda th: 0.5 * ((mlp_forward(spec, th, x) - t) ** 2).sum()  # noqa: E731
    theta = torch.tensor([2.0, 0.3], dtype=torch.float64)
    for _ in range(50):  # Newton with a pseudo-inverse
        theta = theta - torch.linalg.pinv(dense_hessian(f, theta)) @ gradient(f, theta)
    assert float(gradient(f, theta).norm()) < 1e-10
    eig = torch.linalg.eigvalsh(dense_hessian(f, theta)).numpy()
    assert num.classify(eig, 1e-8 * np.abs(eig).max()) == "degenerate"
