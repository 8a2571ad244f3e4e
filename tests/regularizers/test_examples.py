"""The built-in examples produce the verdicts the issue describes (cards shared per module)."""

from __future__ import annotations

import json

import jsonschema
import pytest
import torch

from verify.claims import VerdictKind
from verify.regularizers import BUILTIN_EXAMPLES, CHECKS, check_regularizer, examples
from verify.regularizers.context import Context
from verify.regularizers.curvature import AGREE, _local_rate, _Sharpness
from verify.regularizers.model import Regularizer, make_task

from .conftest import by_id, run

V, R, E, INC = VerdictKind.VERIFIED, VerdictKind.REFUTED, VerdictKind.ERROR, VerdictKind.INCONCLUSIVE
NA = VerdictKind.NOT_APPLICABLE


@pytest.fixture(scope="module")
def l2_card():
    return run(examples.l2)


@pytest.fixture(scope="module")
def trace_card():
    return run(examples.seed000_trace, checks=["curvature-effect"])


@pytest.fixture(scope="module")
def lambda_max_card():
    return run(examples.seed000_lambda_max, checks=["curvature-effect", "constraint"])


def test_l2_passes_every_check(l2_card):
    assert [v.claim for v in l2_card.checks] == list(CHECKS)
    assert l2_card.passed, l2_card.summary
    checks = by_id(l2_card)
    assert all(v.verdict is V for v in l2_card.checks)
    M = checks["smoothness"].numeric["M"]
    assert 0.5 < M < 5 and "2/M" in l2_card.summary
    # the k(λ) path decreases and the SLSQP oracle agrees with the penalized optimum
    path = checks["constraint"].numeric["path"]
    assert all(a["k"] > b["k"] for a, b in zip(path, path[1:]))
    oracle = checks["constraint"].numeric["oracle"]
    assert oracle["multiplier"] == pytest.approx(l2_card.settings["lam"], rel=1e-3)
    # weight decay lowers the sharpness locally
    assert not checks["curvature-effect"].numeric["raises_sharpness"]
    assert "RAISES" not in l2_card.summary
    # ... and at equal training loss it is not sharper beyond the ±5% band: the measurements agree
    assert checks["curvature-effect"].numeric["sharpness_effect"] == "lowers"
    assert checks["curvature-effect"].message.startswith("Descending R lowers the sharpness")
    assert "disagree" not in l2_card.summary


def test_card_json_is_valid_and_has_figures(l2_card, verdict_schema):
    doc = json.loads(l2_card.dumps())
    assert doc["kind"] == "regularizer-report-card" and doc["passed"] is True
    jsonschema.validate({"schema_version": doc["schema_version"], "verdicts": doc["checks"]}, verdict_schema)
    figures = {f["title"] for v in doc["checks"] for f in (v["numeric"] or {}).get("figures", [])}
    assert any("k(λ)" in t for t in figures) and any("with and without" in t for t in figures)
    k_fig = next(f for v in doc["checks"] for f in (v["numeric"] or {}).get("figures", []) if "k(λ)" in f["title"])
    assert k_fig["x_log"] is True
    figs = [f for v in doc["checks"] for f in (v["numeric"] or {}).get("figures", [])]
    descent = next(f for f in figs if "one gradient" in f["title"])
    assert {m["label"] for m in descent["marks"]} == {"1/M", "2/M"}


def test_l1_is_kinked():
    card = run(examples.l1, checks=["smoothness"])
    v = card.checks[0]
    assert v.verdict is R
    assert "Not smooth: one-sided derivatives differ by" in v.message
    fine = v.counterexample["one_sided_derivatives"]
    assert fine["left"] < 0 < fine["right"]
    assert "no global curvature bound" in card.summary


def test_spectral_norm_is_kinked_at_zero():
    v = run(examples.spectral_norm_penalty, checks=["smoothness"]).checks[0]
    assert v.verdict is R and "theta = 0" in v.message


@pytest.mark.parametrize("name", ["seed000_as_written", "seed000_lambda_min"])
def test_seed000_undefined_versions_are_errors(name):
    card = run(BUILTIN_EXAMPLES[name])
    checks = by_id(card)
    assert checks["well-formed"].verdict is E
    assert all(checks[c].verdict is E and checks[c].numeric["blocked_by"] == "well-formed"
               for c in CHECKS if c != "well-formed")
    msg = checks["well-formed"].message
    if name == "seed000_as_written":
        assert "singular" in msg and "LinAlgError" in msg and "H(1⊗c) = 0" in msg
    else:
        assert "dominated by round-off" in msg and "1/λ_min" in msg
    assert not card.passed


def test_local_sharpness_rate_signs_at_theta0():
    """The cheap part of the curvature check: descending the trace scalarization raises λ_max, L2 lowers it."""
    task = make_task("mlp")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rates = {}
        for fn in (examples.seed000_trace, examples.l2):
            ctx = Context(fn=fn, task=task, reg=Regularizer(fn, task, 0), lam=1e-2, lams=[1e-3, 1e-2], seed=0,
                          dtype=torch.float64, device=torch.device("cpu"))
            rates[fn.__name__] = _local_rate(_Sharpness(task, ctx), ctx.reg, task.theta0, ctx)
    finally:
        torch.set_num_threads(previous)
    assert rates["seed000_trace"] > 0 > rates["l2"], rates


@pytest.mark.slow
def test_seed000_trace_raises_sharpness(trace_card):
    v = trace_card.checks[0]
    assert v.claim == "curvature-effect" and v.verdict is V
    assert v.numeric["raises_sharpness"]
    rates = v.numeric["sharpness_rate_along_minus_grad_R"]
    assert all(rates[k] > 0 for k in ("theta0", "trained_without_R", "trained_with_R"))
    assert "RAISES" in trace_card.summary
    # at λ = 0.01 the trained-with-R model is flatter at equal loss: the card says the two disagree
    equal = v.numeric["equal_loss_relative_change"]
    assert v.numeric["sharpness_effect"] == ("mixed" if equal < -AGREE else "raises")
    assert ("the two measurements disagree" in trace_card.summary) is (equal < -AGREE)


def test_seed000_lambda_max_raises_sharpness_and_is_not_convex(lambda_max_card):
    checks = by_id(lambda_max_card)
    assert checks["curvature-effect"].numeric["raises_sharpness"]
    assert checks["curvature-effect"].numeric["trained_sharper_with_R"]
    # the equal-loss comparison agrees with the local rates (sharper by more than 5%)
    assert checks["curvature-effect"].numeric["equal_loss_relative_change"] > AGREE
    assert checks["curvature-effect"].numeric["sharpness_effect"] == "raises"
    assert checks["curvature-effect"].message.startswith("Descending R RAISES the sharpness")
    assert "WARNING" in lambda_max_card.summary and "RAISES" in lambda_max_card.summary
    assert checks["constraint"].verdict is NA and "not convex" in checks["constraint"].message


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BUILTIN_EXAMPLES))
def test_every_example_runs_without_crashing(name):
    card = run(BUILTIN_EXAMPLES[name])
    assert [v.claim for v in card.checks] == list(CHECKS)
    assert all("could not complete" not in v.message for v in card.checks), card.summary
    json.loads(card.dumps())


@pytest.mark.slow
def test_l1_constraint_uses_subgradients():
    v = run(examples.l1, checks=["constraint"]).checks[0]
    assert v.verdict is V, v.message
    assert any(p.get("subgradient") for p in v.numeric["path"])
    # the multiplier is estimated where R is differentiable, and the message says what the criterion is
    oracle = v.numeric["oracle"]
    assert oracle["kinked_coordinates"] > 0 and abs(oracle["multiplier"] - 0.01) < 0.05 * 0.01, oracle
    assert "kinked ones fix no multiplier" in v.message or "kinked one fixes no multiplier" in v.message
    assert "the criterion is the KKT condition with the subgradient" in v.message


def test_fd_gradient_norm_penalty_gradient_is_refuted_exact_one_verified():
    fd = run(examples.gradient_norm_penalty_fd, checks=["gradient"]).checks[0]
    assert fd.verdict is R  # autograd drops the ∂ĝ/∂θ term: an O(r) mismatch
    case = fd.counterexample["cases"][0]
    assert 0 < case["abs_err"] / abs(case["fd"]) < 10 * examples.FD_RADIUS
    exact = by_id(run(examples.gradient_norm_penalty, checks=["gradient", "smoothness"]))
    assert exact["gradient"].verdict is V and exact["smoothness"].verdict is V


def test_double_backprop_and_max_norm_pass_their_checks():
    igp = by_id(run(examples.input_gradient_penalty, checks=["gradient", "smoothness"]))
    assert igp["gradient"].verdict is V and igp["smoothness"].verdict is V
    assert run(examples.max_norm, checks=["smoothness"]).checks[0].verdict is V


@pytest.mark.slow
def test_max_norm_passes_the_constraint_check():
    v = run(examples.max_norm, checks=["constraint"]).checks[0]
    assert v.verdict is V, v.message


def test_relu_kink_found_by_line_scan_and_relu_cubed_is_smooth():
    def hinge(params):
        return sum(torch.relu(p.abs() - 0.2).sum() for p in params.values())

    def hinge_cubed(params):
        return sum(torch.relu(p.abs() - 0.2).pow(3).sum() for p in params.values())

    kinked = run(hinge, checks=["smoothness"]).checks[0]
    assert kinked.verdict is R and "line scan" in kinked.message
    assert run(hinge_cubed, checks=["smoothness"]).checks[0].verdict is V


@pytest.mark.slow
def test_trained_with_seed000_trace_is_sharper_at_equal_loss():
    """At λ = 0.1 the trace scalarization makes training end sharper at the same training loss."""
    card = check_regularizer(examples.seed000_trace, lam=0.1, device="cpu",
                             checks=["well-formed", "curvature-effect"])
    v = by_id(card)["curvature-effect"]
    matched = v.numeric["at_equal_loss"]
    assert v.numeric["sharper_at_equal_loss"], matched
    assert matched["with_R"]["sharpness"] > 1.1 * matched["without_R"]["sharpness"]
    assert v.numeric["sharpness_effect"] == "raises"
    l2 = by_id(check_regularizer(examples.l2, lam=0.1, device="cpu",
                                 checks=["well-formed", "curvature-effect"]))["curvature-effect"]
    assert not l2.numeric["sharper_at_equal_loss"], l2.numeric["at_equal_loss"]
