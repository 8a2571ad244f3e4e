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
