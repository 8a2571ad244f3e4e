"""The round-off re-check of claims without a re-check of their own (issue 13, item 1).

Before it, a violation of a user claim was "confirmed" by running the same check again, so round-off
refuted true claims (1 - tanh^2 = sech^2 at x = 5, softmax shift invariance, ...) with a message saying the
counterexample survived an independent re-check.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import strategies as st

import verify
from tests.check.situations import FALSE_CLAIMS, HESSIAN_BOUND, THIN_CLAIMS, TRUE_CLAIMS
from verify.check import run_claim
from verify.check._noisy import NoisyArithmetic
from verify.check._roundoff import ROUNDOFF_RECHECK, roundoff_check
from verify.claims import CaseResult, CheckContext, Claim, Tolerance, compare_leq

SEEDS = range(10)


@pytest.mark.parametrize("claim", TRUE_CLAIMS, ids=lambda c: c.id)
def test_true_claims_are_not_refuted_by_roundoff_at_seeds_0_to_9(claim):
    for seed in SEEDS:
        v = run_claim(claim, seed=seed, device="cpu")
        assert v.verdict.value == "verified", (seed, v.message, v.counterexample)


def test_hessian_bound_at_tied_large_logits_is_verified():
    for seed in (0, 1, 2):
        v = run_claim(HESSIAN_BOUND, seed=seed, device="cpu")
        assert v.verdict.value == "verified", (seed, v.message)


@pytest.mark.parametrize("claim", FALSE_CLAIMS, ids=lambda c: c.id)
def test_false_claims_stay_refuted_and_name_the_recheck(claim):
    for seed in SEEDS:
        v = run_claim(claim, seed=seed, device="cpu")
        assert v.verdict.value == "refuted", (seed, v.message)
        assert f"re-check '{ROUNDOFF_RECHECK}'" in v.message
        recheck = v.counterexample["recheck"]
        assert recheck["name"] == ROUNDOFF_RECHECK and recheck["confirmed"] and recheck["status"] == "violated"
        assert recheck["excess_over_tolerance"] > recheck["spread_factor"] * recheck["spread"]


def test_a_violation_at_roundoff_level_is_within_the_spread():
    """The recorded case: 1 - tanh(5)^2 against sech(5)^2 in Python floats differ by round-off only."""
    claim = TRUE_CLAIMS[1]
    ctx = CheckContext()
    first = claim.check(5.0, ctx)
    assert first.comparison.violated  # the default tolerance alone calls it a violation
    measured = roundoff_check(claim, 5.0, ctx, first)
    assert not measured.confirmed and measured.spread * 4 >= measured.excess
    assert measured.kinds["with noisy arithmetic"] == 6


def test_a_real_violation_of_relative_size_1e_9_is_confirmed():
    claim = FALSE_CLAIMS[-1]
    ctx = CheckContext()
    case = np.array([0.5])
    first = claim.check(case, ctx)
    measured = roundoff_check(claim, case, ctx, first)
    assert first.comparison.violated and measured.confirmed, measured.to_json()


def test_noisy_arithmetic_perturbs_and_restores_math_numpy_and_torch():
    originals = (math.tanh, np.tanh, np.linalg.norm)
    x = torch.tensor([0.3], dtype=torch.float64)
    with pytest.raises(RuntimeError), NoisyArithmetic(seed=0):
        assert math.tanh is not originals[0]
        values = {math.tanh(0.3) for _ in range(20)}
        assert len(values) > 1 and all(abs(v / originals[0](0.3) - 1) <= 4.5e-16 for v in values)
        assert torch.tanh(x).item() != originals[0](0.3) or torch.tanh(x).item() != torch.tanh(x).item()
        assert torch.zeros(3).abs().sum().item() == 0.0  # exact zeros stay exact
        raise RuntimeError("leave the context by an exception")
    assert (math.tanh, np.tanh, np.linalg.norm) == originals
    assert torch.tanh(x).item() == torch.tanh(x).item()


def test_torch_func_transforms_still_work_under_noisy_arithmetic():
    x = torch.tensor([1.0, 2.0], dtype=torch.float64)
    with NoisyArithmetic(seed=1):
        H = torch.func.hessian(lambda w: (w**3).sum())(x)
    assert torch.allclose(H, torch.diag(6 * x), rtol=1e-12)


def test_an_own_recheck_is_named_in_the_message():
    def check(x, ctx):
        return CaseResult(compare_leq(x, 0.5, 1.0, Tolerance(ctx.dtype)))

    def second_oracle_in_exact_arithmetic(x, ctx):
        return check(x, ctx)

    claim = Claim(id="x-le-half", statement="x <= 1/2", source="t", relation="inequality",
                  cases=lambda: st.floats(0, 1), check=check, recheck=second_oracle_in_exact_arithmetic)
    v = run_claim(claim, device="cpu")
    assert v.verdict.value == "refuted"
    assert "independent re-check 'second_oracle_in_exact_arithmetic'" in v.message
    assert v.counterexample["recheck"]["name"] == "second_oracle_in_exact_arithmetic"


def test_within_roundoff_violations_are_reported_on_a_verified_claim():
    v = run_claim(TRUE_CLAIMS[1], seed=0, device="cpu")
    within = v.numeric["within_roundoff"]
    assert within["count"] >= 1 and within["largest"]["roundoff"]["name"] == ROUNDOFF_RECHECK
    assert "within the round-off measured by the re-check 'round-off sensitivity'" in v.message


def test_a_constant_side_does_not_stop_a_real_violation():
    claim = verify.inequality("cos-at-zero", statement=r"\cos x \le 0.9999", cases=st.just(0.0),
                              lhs=lambda x: math.cos(x), rhs=lambda x: 0.9999)
    v = run_claim(claim, device="cpu", examples=5)
    assert v.verdict.value == "refuted" and v.counterexample["recheck"]["evaluations"] >= 7


@pytest.mark.parametrize("claim", THIN_CLAIMS, ids=lambda c: c.id)
def test_thin_set_false_claims_are_refuted_at_seeds_0_to_9(claim):
    assert all(run_claim(claim, seed=seed, device="cpu").verdict.value == "refuted" for seed in SEEDS)


def _fourth_difference(x, h=1e-4):
    f = torch.exp
    x = torch.as_tensor(x, dtype=torch.float64)
    return (f(x + 2 * h) - 4 * f(x + h) + 6 * f(x) - 4 * f(x - h) + f(x - 2 * h)) / h**4


def test_noise_the_check_amplifies_makes_a_violation_inconclusive_never_verified():
    """Randomized rounding breaks a check that relies on rounding being the same each time (a fourth
    difference with h = 1e-4 amplifies it by 1e16): its spread then swallows any violation, and a false claim
    came out `verified`. Such a violation is now neither confirmed nor dismissed."""
    claim = verify.identity("fourth-difference", statement=r"\Delta_h^4 e^x / h^4 = 1.5 e^x", expected="refuted",
                            cases=st.floats(-1, 1), lhs=_fourth_difference, rhs=lambda x: 1.5 * torch.exp(
                                torch.as_tensor(x, dtype=torch.float64)))
    v = run_claim(claim, examples=20, device="cpu")
    assert v.verdict.value == "inconclusive", v.message
    assert "could not be told from round-off" in v.message
    assert v.counterexample["recheck"]["ill_conditioned"] and v.counterexample["recheck"]["noise_amplification"] > 1e6
