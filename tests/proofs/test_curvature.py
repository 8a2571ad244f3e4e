"""The curvature family (C8): every check can fail, the refutations are what the claims say, the cases reach
their boundaries, and the exact expectations agree with their high-precision re-checks."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings

from proofs.curvature import hutchinson as hut
from proofs.curvature import numeric as num
from proofs.curvature import rescaling as resc
from proofs.curvature.cases import (
    RegressionCase,
    RescaledCase,
    SymmetricCase,
    interpolation_cases,
    minimum_cases,
    model_of,
    network_cases,
    rescaled_cases,
    symmetric_cases,
)
from verify import CheckContext, MLPCase, case_from_json

CTX = CheckContext()


def _draw(strategy, count: int, seed_: int = 0) -> list:
    found = []

    @settings(max_examples=count, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @seed(seed_)
    @given(strategy)
    def collect(case):
        found.append(case)

    collect()
    return found


def _tanh_regression() -> RegressionCase:
    net = MLPCase((2, 3, 1), "tanh", True, (np.array([[0.7, -0.4], [0.2, 0.9], [-1.1, 0.3]]),
                                              np.array([[0.5, -0.8, 1.2]])),
                  (np.array([0.1, -0.2, 0.3]), np.array([0.05])), np.array([[1.0, 2.0], [-0.5, 0.3], [0.2, -1.0]]))
    return RegressionCase(net, np.array([[3.0], [-2.0], [1.5]]))  # far from interpolation: R ≠ 0


def test_the_split_check_refutes_a_hessian_without_its_residual_term():
    case = _tanh_regression()
    assert num.split_check(case, CTX).comparison.status == "holds"
    wrong = num.split_check(case, CTX, combine=num.ggn_only)
    assert wrong.comparison.status == "violated" and wrong.details["residual_size"] > 1e-2
    assert num.split_recheck(case, CTX, combine=num.ggn_only).comparison.status == "violated"


def test_the_psd_check_refutes_the_hessian_in_place_of_the_ggn():
    case = _tanh_regression()
    assert num.psd_check(case, CTX).comparison.status == "holds"
    assert num.psd_recheck(case, CTX).comparison.status == "holds"
    indefinite = num.psd_check(case, CTX, combine=num.ggn_plus_residual)
    assert indefinite.comparison.status == "violated" and indefinite.details["lambda_min"] < 0
    assert num.psd_recheck(case, CTX, combine=num.ggn_plus_residual).comparison.status == "violated"


def test_minimum_cases_are_strict_minima_with_residuals_and_the_check_confirms_them():
    violated = 0
    for case in _draw(minimum_cases(), 8):
        result = num.ggn_equals_hessian_check(case, CTX)
        assert result.details["lambda_min_H"] > 0  # a strict minimum, confirmed by the check itself
        if result.comparison.status == "violated":  # H ≠ G there, and the re-check agrees
            violated += 1
            assert num.ggn_equals_hessian_recheck(case, CTX).comparison.status == "violated"
        else:  # tiny weights: ∇²f ≈ 0, so the residual term is at round-off and H = G to working precision
            assert result.comparison.status == "holds" and result.details["max_abs_H_minus_claimed"] < 1e-12
    assert violated >= 6


def test_a_point_that_is_not_a_minimum_is_no_evidence_either_way():
    result = num.ggn_equals_hessian_check(_tanh_regression(), CTX)
    assert result.comparison.status == "undecidable" and "not stationary" in result.details["reason"]


def test_interpolation_holds_and_moving_the_targets_breaks_it():
    for case in _draw(interpolation_cases(), 10, seed_=2):
        assert num.ggn_equals_hessian_check(case, CTX, need_minimum=False).comparison.status == "holds"
    case = _tanh_regression()
    fitted = RegressionCase(case.mlp, model_of(case).output(model_of(case).theta0).detach().numpy())
    assert num.ggn_equals_hessian_check(fitted, CTX, need_minimum=False).comparison.status == "holds"
    assert num.ggn_equals_hessian_recheck(fitted, CTX, need_minimum=False).comparison.status == "holds"
    moved = RegressionCase(case.mlp, fitted.targets + 0.5)
    assert num.ggn_equals_hessian_check(moved, CTX, need_minimum=False).comparison.status == "violated"


@pytest.mark.parametrize(("distribution", "moment"), [("rademacher", "mean"), ("gaussian", "mean"),
                                                      ("rademacher", "variance"), ("gaussian", "variance")])
def test_exact_moments_match_their_high_precision_recheck_and_a_one_percent_slip_is_refuted(distribution, moment):
    for case in _draw(symmetric_cases(), 25):
        fast = hut.exact_moments(case.A, distribution)
        slow = hut.exact_moments_high_precision(case.A, distribution)
        size = float(np.abs(case.A).sum())
        assert np.allclose(fast, slow, rtol=1e-12, atol=1e-12 * (size * size + 1e-300))
        assert hut.moment_check(case, CTX, distribution=distribution, moment=moment).comparison.status == "holds"
    A = SymmetricCase(np.array([[2.0, 0.5, -1.0], [0.5, 1.0, 0.25], [-1.0, 0.25, 3.0]]))
    right = hut.closed_form(distribution, moment)
    slip = lambda T, F, D: 1.01 * right(T, F, D)  # noqa: E731
    assert hut.moment_check(A, CTX, distribution=distribution, moment=moment, formula=slip).comparison.status \
        == "violated"


def test_gaussian_probes_have_the_larger_variance_and_the_mix_up_shrinks_to_one_entry():
    A = SymmetricCase(np.array([[1.0]]))
    assert hut.exact_moments(A.A, "rademacher") == (1.0, 0.0)
    assert hut.exact_moments(A.A, "gaussian") == pytest.approx((1.0, 2.0), rel=1e-14)
    mixed = hut.moment_check(A, CTX, distribution="rademacher", moment="variance", claimed_variance="gaussian")
    assert mixed.comparison.status == "violated" and mixed.details["claimed"] == 2.0


def test_symmetric_cases_reach_their_boundaries():
    tags = {t for case in _draw(symmetric_cases(), 150) for t in case.tags}
    assert {"width-1", "rank-one", "zero-weights", "tiny-scale", "large-scale"} <= tags


def test_rescaling_keeps_the_function_and_a_wrong_rescaling_is_refuted_exactly():
    cases = _draw(rescaled_cases(), 20)
    assert {c.mlp.activation for c in cases} == {"relu", "identity"}
    for case in cases:
        assert resc.function_check(case, CTX).comparison.status == "holds"

    def wrong(case: RescaledCase) -> MLPCase:  # the next layer multiplied instead of divided
        W = list(case.mlp.weights)
        W[case.layer], W[case.layer + 1] = W[case.layer] * case.c, W[case.layer + 1] * case.c
        return MLPCase(case.mlp.widths, case.mlp.activation, case.mlp.bias, tuple(W), case.mlp.biases, case.mlp.x)

    case = next(c for c in cases if resc.function_check(c, CTX, transform=wrong).comparison.status == "violated")
    assert resc.function_recheck(case, CTX, transform=wrong).comparison.status == "violated"


def test_sharpness_moves_under_rescaling_but_not_under_the_identity():
    one = np.array([[1.0]])
    net = MLPCase((1, 1, 1), "identity", True, (one, one), (np.zeros(1), np.zeros(1)), np.zeros((1, 1)))
    case = RescaledCase(net, 0, 2.0)  # the shrunk counterexample of seed 0
    moved = resc.sharpness_check(case, CTX)
    assert moved.comparison.status == "violated"
    assert moved.details["lambda_max"] == pytest.approx(4.493959207434935, rel=1e-12)
    recheck = resc.sharpness_recheck(case, CTX)
    assert recheck.comparison.status == "violated" and "exact rationals" in recheck.details["recheck"]
    same = functools.partial(resc.sharpness_check, transform=lambda c: c.mlp)
    assert same(case, CTX).comparison.status == "holds"


def test_network_cases_mix_architectures_and_regressions_and_replay_from_json():
    cases = _draw(network_cases(), 40)
    kinds = {type(c).__name__ for c in cases}
    assert kinds == {"RegressionCase", "ModuleCase"}
    for case in cases[:10]:
        assert case_from_json(case.to_json()) == case
