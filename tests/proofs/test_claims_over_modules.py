"""The built-in claims that hold for any twice-differentiable model, run over verify.modules() networks: their
checks can fail there (a slightly wrong formula is refuted), and the seeds' mistakes stay refuted."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import pytest

from proofs.gradient_norm_penalty import numeric as gnp
from proofs.gradient_norm_penalty.claims import GRADIENT_MODULES
from verify import run_claim


@pytest.mark.parametrize("factor", [1.001, 1.000001])
def test_gradient_norm_penalty_over_modules_refutes_a_formula_off_by_a_little(factor):
    formula = lambda hg, norm: factor * hg / norm  # noqa: E731
    mutant = replace(GRADIENT_MODULES, id="gnp-modules-mutant", expected="refuted", symbolic=None,
                     check=partial(gnp.gradient_check, formula=formula),
                     recheck=partial(gnp.gradient_recheck, formula=formula))
    verdict = run_claim(mutant, examples=100, seed=0)
    assert verdict.verdict.value == "refuted", verdict.message
    assert verdict.counterexample["case"]["mlp"]["type"] == "ModuleCase"


def test_gradient_norm_penalty_over_modules_reaches_every_architecture():
    verdict = run_claim(GRADIENT_MODULES, examples=100, seed=0)
    assert verdict.verdict.value in ("proved", "verified"), verdict.message
    assert {"mlp", "cnn", "residual", "attention"} <= set(verdict.numeric["boundary_cases_hit"])


def test_optimizer_cases_from_training_replay_from_json_with_their_architecture():
    from hypothesis import given, seed, settings

    from proofs.optimizers.cases import OptimizerCase, adam_cases
    from proofs.optimizers.module_cases import module_gradient_sequences

    seen = []

    @seed(0)
    @settings(max_examples=30, database=None, deadline=None, derandomize=False)
    @given(adam_cases(sequences=module_gradient_sequences))
    def record(case):
        seen.append(case)

    record()
    assert {c.source for c in seen} >= {"mlp", "cnn"}
    for case in seen:
        again = OptimizerCase.from_json(case.to_json())
        assert again == case and case.source in again.tags
        assert abs(case.grads).max() <= 1e8 and case.theta0.size <= 8


def test_a_wrong_rule_is_refuted_on_gradients_from_training():
    from proofs.optimizers import lecture
    from proofs.optimizers.claims import MODULE_CLAIMS

    adam = next(c for c in MODULE_CLAIMS if c.id == "optimizer-adam-modules")
    wrong = make_wrong_rule_claim(adam, lambda case: lecture.adam_without_bias_correction())
    verdict = run_claim(wrong, examples=100, seed=0)
    assert verdict.verdict.value == "refuted", verdict.message


def make_wrong_rule_claim(claim, rule_for):
    from proofs.optimizers.numeric import rule_check, rule_recheck_mp

    return replace(claim, id="adam-modules-mutant", expected="refuted", symbolic=None, check=rule_check(rule_for),
                   recheck=rule_recheck_mp(rule_for))


@pytest.mark.parametrize("wrong", ["half M", "M/4 in the bound"])
def test_descent_lemma_over_modules_refutes_a_wrong_bound_or_a_wrong_m(wrong):
    from proofs.descent import numeric as num
    from proofs.descent.claims import DESCENT_MODULES

    bound = num.descent_bound if wrong == "half M" else (lambda a, M, G: -a * (1 - a * M / 4) * G)
    m_rule = num.half_certified_m if wrong == "half M" else num.certified_m
    mutant = replace(DESCENT_MODULES, id="descent-modules-mutant", expected="refuted", symbolic=None,
                     check=partial(num.check_bound, bound=bound, dense=False, m_rule=m_rule),
                     recheck=partial(num.check_bound, bound=bound, dense=True, m_rule=m_rule))
    verdict = run_claim(mutant, examples=100, seed=0)
    assert verdict.verdict.value == "refuted", verdict.message


def test_start_point_curvature_is_refuted_over_modules_with_its_recheck_named():
    from proofs.descent.claims import START_POINT_MODULES

    verdict = run_claim(START_POINT_MODULES, examples=100, seed=0)
    assert verdict.verdict.value == "refuted", verdict.message
    assert "start_point_recheck" in verdict.message
    recheck = verdict.counterexample["recheck"]
    assert recheck["name"] == "start_point_recheck" and recheck["status"] == "violated"
    assert verdict.counterexample["details"]["alpha_M0"] <= 2.0  # inside the statement's range of steps


@pytest.mark.parametrize("wrong", ["halved enclosures", "doubled products"])
def test_descent_lemma_over_modules_refutes_a_wrong_enclosure_or_wrong_products(monkeypatch, wrong):
    """The certified M is cross-checked by autograd samples and the loss values: enclosures of half the curvature
    (a wrong interval forward) or products twice the curvature (wrong autograd) cannot pass as verified."""
    from proofs.descent import module_problem as mp
    from proofs.descent.claims import DESCENT_MODULES
    from proofs.descent.intervals import Iv

    if wrong == "halved enclosures":
        enclosure = mp.module_enclosure

        def halved(*args):
            enclose = enclosure(*args)
            return lambda lo, hi: tuple(Iv(0.5 * e.lo, 0.5 * e.hi) for e in enclose(lo, hi))
        monkeypatch.setattr(mp, "module_enclosure", halved)
    else:
        directional = mp.directional_curvatures
        monkeypatch.setattr(mp, "directional_curvatures", lambda *a: tuple(2.0 * v for v in directional(*a)))
    verdict = run_claim(DESCENT_MODULES, examples=30, seed=0)
    assert verdict.verdict.value == "refuted", verdict.message
    assert "autograd samples" in verdict.counterexample["details"]["M_obtained_by"]


@pytest.mark.parametrize("scheme", ["forward", "central"])
def test_fd_order_over_modules_refutes_a_wrong_order(scheme):
    from proofs.gradient_norm_penalty.claims import FD_ORDER_MODULES

    wrong = {"forward": lambda r, m3, m4: r * r / 2 * m3, "central": lambda r, m3, m4: r ** 3 / 6 * m4}[scheme]
    bounds = {**gnp.FD_BOUNDS, scheme: wrong}
    mutant = replace(FD_ORDER_MODULES, id="fd-modules-mutant", expected="refuted", symbolic=None,
                     check=partial(gnp.fd_order_check, bounds=bounds),
                     recheck=partial(gnp.fd_order_recheck, bounds=bounds))
    verdict = run_claim(mutant, examples=100, seed=0)
    assert verdict.verdict.value == "refuted", verdict.message
    assert verdict.counterexample["details"]["scheme"] == scheme
