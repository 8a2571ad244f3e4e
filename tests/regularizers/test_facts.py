"""The typed facts the checks share (no check is run: these are fast)."""

from __future__ import annotations

import dataclasses

import torch

from verify.claims import VerdictKind
from verify.regularizers import examples
from verify.regularizers.context import Context, blocked
from verify.regularizers.facts import NOT_CHECKED, Facts
from verify.regularizers.model import Regularizer, make_task


def _context(**facts) -> Context:
    task = make_task("mlp")
    return Context(fn=examples.l2, task=task, reg=Regularizer(examples.l2, task, 0), lam=1e-2, lams=[1e-3, 1e-2],
                   seed=0, dtype=torch.float64, device=torch.device("cpu"), facts=Facts(**facts))


def test_defaults_mean_not_established():
    f = Facts()
    assert not (f.value_ok or f.grad_ok or f.double_ok or f.stochastic or f.kinked or f.grad_wrong)
    assert f.value_why == f.grad_why == f.double_why == NOT_CHECKED
    assert f.M is None and f.value_dtype is None and f.sharpness_with is None
    assert f.signature_why == "bad signature"
    assert Facts().sharpness_rates is not f.sharpness_rates  # no shared mutable default
    assert all(field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING
               for field in dataclasses.fields(Facts))


def test_a_failed_stage_blocks_the_stages_with_no_cause_yet():
    f = Facts(value_ok=True)
    f.fail_stage("grad", "no gradient")
    assert f.stage("grad") == (False, "no gradient")
    assert f.stage("double") == (False, "blocked by: no gradient")
    assert f.stage("value") == (True, "blocked by: no gradient")  # established stays established
    f.fail_stage("double", "later")
    assert f.stage("grad") == (False, "no gradient") and f.stage("double") == (False, "later")


def test_blocked_reads_the_stages_in_order():
    v = blocked(_context(), "descent", "t", "s", "double")
    assert v is not None and v.verdict is VerdictKind.ERROR
    assert v.numeric == {"blocked_by": "well-formed", "needs": "value", "cause": NOT_CHECKED}
    v = blocked(_context(value_ok=True, grad_ok=True, double_why="x"), "descent", "t", "s", "double")
    assert v is not None and v.numeric["needs"] == "double" and v.numeric["cause"] == "x"
    assert blocked(_context(value_ok=True, grad_ok=True), "gradient", "t", "s", "grad") is None
    ctx = _context(value_ok=True, grad_ok=True, double_ok=True, grad_wrong=True)
    assert blocked(ctx, "gradient", "t", "s", "double") is None
    assert blocked(ctx, "smoothness", "t", "s", "double").numeric["blocked_by"] == "gradient"


def test_value_dtype_is_the_coarser_of_the_run_and_the_value():
    assert _context().value_dtype == torch.float64
    assert _context(value_dtype=torch.float32).value_dtype == torch.float32
