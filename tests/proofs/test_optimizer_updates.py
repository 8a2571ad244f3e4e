"""C6: the SymPy update rules step like torch.optim; [S004]'s three variants diverge at the first step
recorded; wrong rules (β placement, dampening, ε, bias correction) are refuted by the same machinery."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import sympy as sp

from proofs.optimizers import claims as c6
from proofs.optimizers import lecture, numeric
from proofs.optimizers import symbolic as sym
from verify import CheckContext, InvalidInputError, VerdictKind, dump_verdicts, prove_identity, run_claim
from verify.check import replay

EXAMPLES = 30
CTX = CheckContext()


def _run(claim, examples=EXAMPLES, **kw):
    return run_claim(claim, examples=examples, device="cpu", **kw)


# --------------------------------------------------------------------------- explicit cases


def test_adam_first_step_is_lr_times_sign_and_matches_torch():
    case = c6.make_case("adam", {"lr": 0.1}, np.zeros(3), np.array([[1.0, -2.0, 0.0]]))
    ours = c6.rule_trajectory(c6.torch_rule(case), case, CTX).numpy()
    theirs = c6.torch_trajectory(case, CTX).numpy()
    expected = -0.1 * np.array([1.0, -2.0, 0.0]) / (np.abs([1.0, -2.0, 0.0]) + 1e-8)
    np.testing.assert_allclose(ours[1], expected, rtol=1e-15, atol=0)
    np.testing.assert_allclose(theirs[1], expected, rtol=1e-15, atol=0)


def test_lecture_adagrad_takes_sqrt2_times_torchs_second_step():
    case = c6.make_case("adagrad", {"lr": 1.0, "eps": 0.0}, np.zeros(1), np.array([[1.0], [1.0]]))
    lecture_path = c6.rule_trajectory(lecture.lecture_adagrad(), case, CTX).numpy()[:, 0]
    torch_path = c6.torch_trajectory(case, CTX).numpy()[:, 0]
    np.testing.assert_allclose(lecture_path, [0.0, -1.0, -2.0], rtol=1e-15)
    np.testing.assert_allclose(torch_path, [0.0, -1.0, -1.0 - 1 / np.sqrt(2)], rtol=1e-15)
    result = c6.ADAGRAD_ROOT_MEAN.check(case, CTX)
    assert result.comparison.violated and result.details["first_divergence_step"] == 2
    assert c6.ADAGRAD_ROOT_MEAN.recheck(case, CTX).comparison.violated


@pytest.mark.parametrize("torch_class", ["Adam", "AdamW"])
def test_decoupled_weight_decay_through_both_classes(torch_class):
    case = c6.make_case("adam", {"lr": 0.5, "weight_decay": 0.1, "decoupled": True, "amsgrad": True},
                        np.array([1.0, -3.0]), np.array([[0.5, 0.0], [-2.0, 1e-12], [0.0, 1e8]]), torch_class)
    result = c6.ADAM.check(case, CTX)
    assert result.comparison.holds and result.details["first_divergence_step"] is None
    assert c6.ADAM.recheck(case, CTX).comparison.holds  # the other class, foreach, mpmath


def test_ill_conditioned_weight_decay_is_not_a_counterexample():
    """θ passes near 0 where g' = λθ ~ ε: the step map's slope is ~γλ/ε, measured and put in the tolerance."""
    case = c6.make_case("adam", {"lr": 1.0, "beta1": 0.0, "beta2": 1.192092896e-07, "eps": 1e-10,
                                 "weight_decay": 0.265625}, np.array([2.0]), np.zeros((7, 1)))
    result = c6.ADAM.check(case, CTX)
    assert result.comparison.holds
    assert max(result.details["step_errors_rel_to_scale"]) > 1e-14  # beyond the unamplified tolerance
    scale = np.full((8, 1), 2.0)
    assert c6.amplification(c6.torch_rule(case), case, CTX, scale).max() > 100


def test_case_json_round_trip_and_validation():
    case = c6.make_case("sgd", {"momentum": 0.9, "nesterov": True}, np.array([1.0]), np.array([[2.0], [0.0]]))
    again = c6.OptimizerCase.from_json(json.loads(json.dumps(case.to_json())))
    assert again.to_json() == case.to_json() and "nesterov" in again.tags and "zero-gradient-step" in again.tags
    with pytest.raises(InvalidInputError, match="valid ones are"):
        c6.make_case("sgd", {"betas": (0.9, 0.99)}, np.zeros(1), np.zeros((1, 1)))


# --------------------------------------------------------------------------- the claims


@pytest.mark.parametrize(("claim", "step"), [(c6.ADAGRAD_ROOT_MEAN, 2), (c6.RMSPROP_INITIAL_SIGMA, 1),
                                             (c6.ADAM_NO_BIAS_CORRECTION, 1)], ids=lambda x: str(getattr(x, "id", x)))
def test_seed_mistakes_are_refuted_at_their_first_divergent_step(claim, step):
    v = _run(claim)
    assert v.verdict is VerdictKind.REFUTED and v.matches_expectation, v.message
    ce = v.counterexample
    assert ce["recheck"]["status"] == "violated"
    assert ce["details"]["first_divergence_step"] == step
    assert ce["details"]["step_errors_rel_to_scale"][step - 1] > 1e-3  # macroscopic, not round-off
    # the counterexample replays from its JSON, and the symbolic steps agree on where they diverge
    assert replay(claim, json.loads(json.dumps(ce["case"]))).comparison.violated
    statuses = {s["name"]: s["status"] for s in v.symbolic["steps"]}
    first_refuted = min(int(n.rsplit("-", 1)[1]) for n, s in statuses.items() if "-step-" in n and s == "refuted")
    assert first_refuted == step
    json.loads(dump_verdicts([v]))


def test_torch_claims_hit_their_boundary_cases():
    v = _run(c6.ADAM, examples=40)
    assert v.verdict is VerdictKind.VERIFIED, v.message
    assert {"amsgrad", "decoupled-weight-decay", "AdamW", "weight-decay", "maximize", "zero-gradient-step",
            "tiny-gradient", "large-gradient", "T=1", "T=8"} <= set(v.numeric["boundary_cases_hit"])
    assert v.numeric["max_rel_err"] < 1e-13


# --------------------------------------------------------------------------- wrong rules are refuted


def _plain_cases(optimizer, **options):
    return lambda: c6.gradient_sequences().map(lambda tg: c6.make_case(optimizer, options, *tg))


def _edit(rule, name, *replacements):
    return dataclasses.replace(rule, name=name, step=tuple(e.xreplace(dict(replacements)) for e in rule.step))


def _gp():
    return sym.direction * sym.g + sym.weight_decay * sym.theta


def _sgd_dampened_first_step():
    rule = sym.sgd()
    piecewise = rule.step[1]
    return _edit(rule, "sgd-dampened-first-step", (piecewise, piecewise.args[1][0]))


def _adagrad_eps_inside_root():
    rule = sym.adagrad()
    s_new = sym.s + _gp() ** 2
    return _edit(rule, "adagrad-eps-inside", (sp.sqrt(s_new) + sym.eps, sp.sqrt(s_new + sym.eps)))


def _adagrad_decay_off_by_one():
    return _edit(sym.adagrad(), "adagrad-decay-t", (sym.t - 1, sym.t))


def _rmsprop_swapped_alpha():
    rule = sym.rmsprop()
    v_new = sym.alpha * sym.v + (1 - sym.alpha) * _gp() ** 2
    return _edit(rule, "rmsprop-swapped-alpha", (v_new, (1 - sym.alpha) * sym.v + sym.alpha * _gp() ** 2))


def _adam_swapped_beta1():
    rule = sym.adam()
    m_new = sym.beta1 * sym.m + (1 - sym.beta1) * _gp()
    return _edit(rule, "adam-swapped-beta1", (m_new, (1 - sym.beta1) * sym.m + sym.beta1 * _gp()))


def _adam_amsgrad_on_corrected_v():
    rule = sym.adam(amsgrad=True)
    v_new = sym.beta2 * sym.v + (1 - sym.beta2) * _gp() ** 2
    bc2 = 1 - sym.beta2**sym.t
    m_new = sym.beta1 * sym.m + (1 - sym.beta1) * _gp()
    vhat = sp.Max(sym.vmax, v_new / bc2)
    theta_new = sym.theta - sym.lr / (1 - sym.beta1**sym.t) * m_new / (sp.sqrt(vhat) + sym.eps)
    return dataclasses.replace(rule, name="adam-amsgrad-corrected-max", step=(theta_new, m_new, v_new, vhat))


WRONG = [
    ("sgd", {"momentum": 0.9, "dampening": 0.5}, _sgd_dampened_first_step),
    ("adagrad", {"eps": 1e-3}, _adagrad_eps_inside_root),
    ("adagrad", {"lr_decay": 0.5}, _adagrad_decay_off_by_one),
    ("rmsprop", {}, _rmsprop_swapped_alpha),
    ("adam", {}, _adam_swapped_beta1),
    ("adam", {"amsgrad": True}, _adam_amsgrad_on_corrected_v),
]


@pytest.mark.parametrize(("optimizer", "options", "wrong"), WRONG, ids=[w[2].__name__.strip("_") for w in WRONG])
def test_wrong_rules_are_refuted(optimizer, options, wrong):
    rule = wrong()
    claim = c6.make_optimizer_claim(f"wrong-{rule.name}", statement="wrong", cases=_plain_cases(optimizer, **options),
                                    rule_for=lambda case: rule)
    v = _run(claim)
    assert v.verdict is VerdictKind.REFUTED, v.message
    assert v.counterexample["recheck"]["status"] == "violated"
    assert v.counterexample["details"]["rule"] == rule.name


def _adagrad_without_eps():
    rule = sym.adagrad()
    return _edit(rule, "adagrad-no-eps", (sym.eps, sp.S.Zero))


def test_a_rule_that_blows_up_where_torch_does_not_is_refuted():
    # without eps the step is 0/0 at a zero gradient; torch.optim stays at θ: a counterexample, not an error
    rule = _adagrad_without_eps()
    claim = c6.make_optimizer_claim("wrong-no-eps", statement="wrong", cases=_plain_cases("adagrad"),
                                    rule_for=lambda case: rule)
    v = _run(claim)
    assert v.verdict is VerdictKind.REFUTED, v.message
    assert "gives nan where the oracle gives" in v.message and "rule_recheck_mp" in v.message
    assert v.counterexample["recheck"]["status"] == "violated"
    assert "torch.optim gives" in v.counterexample["details"]["nonfinite"]


def test_finiteness_mismatch_finds_the_first_step():
    ours = np.array([[0.0, 1.0], [1.0, np.nan], [np.inf, np.nan]])
    theirs = np.array([[0.0, 1.0], [1.0, 2.0], [np.inf, np.nan]])
    assert numeric.finiteness_mismatch(ours, theirs) == (1, 1)
    assert numeric.finiteness_mismatch(theirs, theirs) is None
    assert numeric.finiteness_mismatch(np.array([[np.inf]]), np.array([[np.nan]])) == (0, 0)


def test_the_correct_rules_pass_the_same_cases():
    for optimizer, options, _ in WRONG:
        claim = c6.make_optimizer_claim("right", statement="", cases=_plain_cases(optimizer, **options))
        assert _run(claim, examples=15).verdict is VerdictKind.VERIFIED


# --------------------------------------------------------------------------- symbolic steps


def test_symbolic_facts_are_proved():
    steps = [sym.adam_first_step(), sym.adam_first_step(decoupled=True), sym.adam_bias_correction(),
             sym.adam_moments_unrolled(), sym.sgd_buffer_unrolled(), sym.adagrad_accumulator_unrolled(),
             sym.rmsprop_centered_variance(), lecture.lecture_adagrad_scaled_equals_torch(),
             lecture.lecture_adagrad_ratio()]
    for step in steps:
        assert step.status == "proved", step


def test_wrong_symbolic_facts_are_refuted():
    no_correction = lecture.adam_without_bias_correction().step[0].xreplace({sym.m: 0, sym.v: 0, sym.t: 1})
    gp = _gp()
    assert prove_identity(no_correction, sym.theta - sym.lr * gp / (sp.Abs(gp) + sym.eps), name="x",
                          statement="").status == "refuted"
    unscaled = lecture.lecture_adagrad().step[0].xreplace({sym.eps: 0})
    torch_step = sym.adagrad().step[0].xreplace({sym.direction: 1, sym.weight_decay: 0, sym.lr_decay: 0, sym.eps: 0})
    c = sp.Symbol("c", positive=True)
    assert prove_identity(unscaled.subs(sym.s, c - sym.g**2), torch_step.subs(sym.s, c - sym.g**2),
                          name="x", statement="", fixed={sym.t: 2}).status == "refuted"
