"""C2: the descent lemma holds (tight on quadratics); the seed's three mistakes and wrong variants are refuted."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from proofs.descent import claims as c2
from proofs.descent import numeric as num
from proofs.descent import symbolic as sym
from proofs.descent.cases import descent_cases
from proofs.descent.problems import SEGMENT_POINTS, DescentCase, MLPRegression, Quadratic, QuadraticLoss
from verify import CheckContext, Claim, MLPCase, prove_identity, run_claim
from verify.claims import VerdictKind

EXAMPLES = 40


def _run(claim, examples=EXAMPLES, **kw):
    return run_claim(claim, examples=examples, device="cpu", **kw)


def test_descent_lemma_is_proved_and_tight_on_quadratics():
    v = _run(c2.DESCENT)
    assert v.verdict is VerdictKind.PROVED, v.message
    hit = set(v.numeric["boundary_cases_hit"])
    assert {"SoftmaxBatch", "MLPCase", "Quadratic"} <= hit
    assert abs(v.numeric["min_slack"]) < 1e-6  # equality on quadratics with the directional M


def test_mlp_curvature_is_measured_on_the_whole_segment():
    mlp = MLPCase(widths=(2, 3, 1), activation="tanh", bias=True,
                  weights=(np.array([[1.0, -2.0], [0.5, 1.0], [2.0, 0.0]]), np.array([[1.0, -1.0, 3.0]])),
                  biases=(np.array([0.1, -0.2, 0.3]), np.array([0.5])), x=np.array([[1.0, 2.0]]))
    case = DescentCase(MLPRegression(mlp), alpha_frac=0.5, alpha_max=1.0)
    result = c2.DESCENT.check(case, CheckContext())
    assert result.comparison.holds
    assert "segment M" in result.details["M_obtained_by"] and result.details["hvps_for_M"] >= SEGMENT_POINTS


@pytest.mark.parametrize("claim", [c2.ASCENT, c2.START_POINT, c2.BEYOND], ids=lambda c: c.id)
def test_seed_mistakes_are_refuted_with_rechecked_counterexamples(claim):
    v = _run(claim)
    assert v.verdict is VerdictKind.REFUTED and v.matches_expectation
    assert v.counterexample["recheck"]["status"] == "violated"


def test_log_cosh_counterexample_from_the_issue():
    result = c2.START_POINT.check((2.0, 0.5), CheckContext())  # t = 2, α = 1/M₀
    assert result.comparison.violated
    assert c2.START_POINT.recheck((2.0, 0.5), CheckContext()).comparison.violated


def _half_m(alpha, M, G):
    """The lemma with M/2 in place of M: too optimistic."""
    return num.descent_bound(alpha, 0.5 * M, G)


def _wrong_sign(alpha, M, G):
    """−α(1 + αM/2)‖g‖²: the quadratic term with the wrong sign."""
    return -alpha * (1.0 + alpha * M / 2.0) * G


@pytest.mark.parametrize("bound", [_half_m, _wrong_sign], ids=["half-M", "wrong-sign"])
def test_wrong_variants_of_the_lemma_are_refuted(bound):
    claim = Claim(id="wrong-descent", statement="wrong", source="test", cases=descent_cases,
                  check=lambda case, ctx: num.check_bound(case, ctx, bound, dense=False), relation="inequality")
    assert _run(claim).verdict is VerdictKind.REFUTED


def test_descent_case_json_keeps_the_problem_s_own_json():
    mlp = MLPCase(widths=(1, 1), activation="tanh", bias=False, weights=(np.array([[2.0]]),), biases=(),
                  x=np.array([[1.0]]))
    quad = DescentCase(QuadraticLoss(Quadratic(np.eye(2), np.ones(2))), 0.5)
    for case in (DescentCase(MLPRegression(mlp), 0.25, 5.0), quad):
        data = case.to_json()
        assert data["problem"] == case.problem.case.to_json() and set(data) == {"problem", "alpha_frac", "alpha_max"}
        again = DescentCase.from_json(data)
        assert type(again.problem) is type(case.problem) and again.to_json() == data
    assert quad.to_json()["problem"] == {"type": "Quadratic", "Q": [[1.0, 0.0], [0.0, 1.0]], "theta": [1.0, 1.0]}


def test_symbolic_steps_are_proved():
    for step in (sym.taylor_remainder(), sym.curvature_bound(), sym.step_size_condition(), sym.optimal_step(),
                 sym.quadratic_equality()):
        assert step.status == "proved", step


def test_a_wrong_remainder_is_refuted_by_the_spot_checks():
    s, a = sym.s, sym.alpha
    f = s**4 - 2 * s**3 + s
    wrong = f.subs(s, a) - f.subs(s, 0) - a * sp.diff(f, s).subs(s, 0) - sp.integrate((a - s) * sp.diff(f, s, 2) / 2,
                                                                                       (s, 0, a))
    assert prove_identity(wrong, 0, name="wrong", statement="").status == "refuted"
