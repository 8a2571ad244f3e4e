"""descent-lemma with a certified curvature bound M (issue 13): the cases the sampled M wrongly refuted hold,
the bound is above a dense scan and a high-precision value, and a wrong M is still caught."""

from __future__ import annotations

import dataclasses
import json
import math
from functools import partial
from pathlib import Path

import hypothesis.strategies as st
import mpmath
import numpy as np
import pytest
import torch
from torch.func import jacfwd, vmap

from proofs.descent import claims as c2
from proofs.descent import numeric as num
from proofs.descent.certify import certify_curvature, curvature_enclosure
from proofs.descent.intervals import ACTIVATION_DERIVATIVES, Iv, activation_derivative
from proofs.descent.problems import CurvatureBound, DescentCase, MLPRegression
from verify import ACTIVATIONS, CheckContext, Claim, MLPCase, gradient, run_claim
from verify.claims import VerdictKind

DATA = Path(__file__).resolve().parents[1] / "data" / "descent_sampled_m_counterexamples.json"
RECORDED = json.loads(DATA.read_text())["cases"]
IDS = [f"seed{c['seed']}@{c['engine']}" for c in RECORDED]
CTX = CheckContext()


def _case(record: dict) -> DescentCase:
    return DescentCase.from_json(record["case"])


def _scan(case: DescentCase, points: int = 4001) -> float:
    """max of φ''(s)/‖g‖² at ``points`` s by torch forward mode (an independent route to the curvature)."""
    f, theta = case.problem.loss_and_point(CTX)
    g = gradient(f, theta).detach()
    s = torch.linspace(0.0, case.alpha_max, points, dtype=torch.float64)
    return float(vmap(jacfwd(jacfwd(lambda u: f(theta - u * g))))(s).max() / (g @ g))


@pytest.mark.parametrize("record", RECORDED, ids=IDS)
def test_recorded_wrong_refutations_now_hold(record):
    case = _case(record)
    before = record["details_before"]
    assert record["verdict_before"] == "refuted" and record["comparison_before"]["status"] == "violated"
    first = num.descent_check(case, CTX)
    for result in (first, num.descent_recheck_dense(case, CTX)):
        assert result.comparison.holds, (result.comparison, result.details)
        d = result.details
        assert d["M_certified"] == d["M"] and d["M"] > 10 * before["M"]  # the peak the samples missed
        assert d["certification"]["converged"] and d["decrease_guaranteed"] is (d["step_alpha_M"] < 2)
    d = first.details
    # the directional samples alone: the estimate used before also took λ_max at 5 points, so it was no lower
    assert d["M_sampled"] == d["certification"]["M_sampled_directional"] <= before["M"] * (1 + 1e-6)
    assert d["M_ratio_certified_to_sampled"] == pytest.approx(d["M"] / d["M_sampled"])


@pytest.mark.parametrize("record", RECORDED, ids=IDS)
def test_certified_bound_is_above_a_dense_scan(record):
    case = _case(record)
    f, theta = case.problem.loss_and_point(CTX)
    g = gradient(f, theta).detach()
    G = float(g @ g)
    bound = certify_curvature(case.problem.segment(theta, g, CTX), case.alpha_max, G)
    assert bound.converged and bound.upper / G >= _scan(case)
    # and within the tolerance of a value found at a point (a lower bound of the sup): not vacuous
    assert bound.lower <= bound.upper <= bound.lower * (1 + 2e-3)


@pytest.mark.parametrize("record", RECORDED, ids=IDS)
def test_a_wrong_m_is_refuted_on_the_recorded_cases(record):
    case = _case(record)
    wrong = num.check_bound(case, CTX, num.descent_bound, dense=False, m_rule=num.sampled_m)
    assert wrong.comparison.violated and wrong.details["M"] == wrong.details["M_sampled"]


def _smooth_mlp_case() -> DescentCase:
    mlp = MLPCase(widths=(2, 3, 1), activation="tanh", bias=True,
                  weights=(np.array([[1.0, -2.0], [0.5, 1.0], [2.0, 0.0]]), np.array([[1.0, -1.0, 3.0]])),
                  biases=(np.array([0.1, -0.2, 0.3]), np.array([0.5])), x=np.array([[1.0, 2.0]]))
    return DescentCase(MLPRegression(mlp), alpha_frac=0.5, alpha_max=0.05)


def test_half_the_certified_m_is_refuted():
    case = _smooth_mlp_case()
    assert num.descent_check(case, CTX).comparison.holds
    wrong = num.check_bound(case, CTX, num.descent_bound, dense=False, m_rule=num.half_certified_m)
    assert wrong.comparison.violated


def test_the_engine_refutes_the_sampled_m_and_verifies_the_certified_one():
    """Through run_claim (search, shrink, JSON round trip, re-check) on the recorded cases."""
    small = [_case(r) for r in RECORDED if max(r["case"]["problem"]["widths"]) <= 2]  # 1-1-1, 1-2-1: cheap
    cases = lambda: st.sampled_from(small)  # noqa: E731
    wrong = Claim(id="descent-sampled-m", statement="wrong M", source="test", cases=cases, relation="inequality",
                  check=partial(num.check_bound, bound=num.descent_bound, dense=False, m_rule=num.sampled_m),
                  recheck=partial(num.check_bound, bound=num.descent_bound, dense=True, m_rule=num.sampled_m),
                  decode_case=DescentCase.from_json)
    assert run_claim(wrong, examples=4, seed=0).verdict is VerdictKind.REFUTED
    right = dataclasses.replace(c2.DESCENT, symbolic=None, cases=cases)
    verdict = run_claim(right, examples=4, seed=0)
    assert verdict.verdict is VerdictKind.VERIFIED, verdict.message
    captions = " ".join(f["caption"] for f in verdict.numeric["figures"])
    assert "α·M < 2" in captions and "certified/sampled M" in captions


def test_no_certified_bound_makes_the_case_undecidable():
    class Uncertified(MLPRegression):
        def curvature_bound(self, f, theta, g, alpha_max, ctx, dense):
            return CurvatureBound(None, "no finite bound within 0 interval evaluations")

    base = _smooth_mlp_case()
    result = num.descent_check(DescentCase(Uncertified(base.problem.case), 0.5, 0.05), CTX)
    assert result.comparison.status == "undecidable" and "no certified bound" in result.details["reason"]


@pytest.mark.parametrize("name", sorted(ACTIVATION_DERIVATIVES))
def test_activation_enclosures_contain_the_derivatives(name):
    """σ⁽ᵏ⁾ by torch autograd at points inside random intervals lies in the enclosure of the interval."""
    rng = np.random.default_rng(0)
    centre = rng.normal(size=400) * np.repeat([0.3, 2.0, 10.0, 60.0], 100)
    width = np.abs(rng.normal(size=400)) * np.repeat([1e-3, 0.5, 3.0, 20.0], 100)
    lo, hi = centre - width, centre + width
    points = torch.tensor((lo[:, None] + (hi - lo)[:, None] * np.linspace(0, 1, 33)[None]).ravel())
    derivative = ACTIVATIONS[name]
    for k in range(4):
        actual = torch.func.vmap(derivative)(points).detach().numpy().reshape(400, 33)
        enclosure = activation_derivative(name, k, Iv(lo, hi))
        tol = 1e-12 * (1 + np.abs(actual))  # autograd's own round-off
        assert np.all(enclosure.lo[:, None] <= actual + tol), (name, k)
        assert np.all(actual - tol <= enclosure.hi[:, None]), (name, k)
        derivative = torch.func.grad(derivative)


def test_the_enclosure_contains_the_exact_curvature():
    """φ''(s) at a few points, with 50-digit mpmath derivatives of the network, lies in the point enclosures."""
    case = _smooth_mlp_case()
    problem = case.problem
    f, theta = problem.loss_and_point(CTX)
    g = gradient(f, theta).detach()
    net = problem.segment(theta, g, CTX)

    def phi(s):
        h = [mpmath.mpf(float(v)) for v in net.x[0]]
        for i, (W, b, DW, Db) in enumerate(net.layers):
            z = [sum((mpmath.mpf(float(W[j, k])) - s * float(DW[j, k])) * h[k] for k in range(W.shape[1]))
                 + mpmath.mpf(float(b[j])) - s * float(Db[j]) for j in range(W.shape[0])]
            h = z if i == len(net.layers) - 1 else [mpmath.tanh(v) for v in z]
        return sum((v - mpmath.mpf(float(t))) ** 2 for v, t in zip(h, net.t[0], strict=True)) / 2

    s = np.array([0.0, 0.013, 0.05])
    phi2, _ = curvature_enclosure(net, s, s)
    with mpmath.workdps(50):
        exact = [float(mpmath.diff(phi, mpmath.mpf(float(v)), 2)) for v in s]
    assert np.all(phi2.lo <= exact) and np.all(np.array(exact) <= phi2.hi)
    assert np.all(phi2.hi - phi2.lo <= 1e-12 * np.abs(exact))
    bound = certify_curvature(net, case.alpha_max, float(g @ g))
    assert bound.converged and bound.upper >= max(exact) and math.isfinite(bound.upper)
