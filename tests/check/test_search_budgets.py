"""More examples never lose a counterexample found with fewer (issue 13, item 2), and the evidence counts
distinct cases."""

from __future__ import annotations

import pytest
from hypothesis import strategies as st

import verify
from tests.check.situations import FALSE_CLAIMS
from verify.check import run_claim
from verify.check._case_search import BLOCK, block_seed

BUDGETS = (10, 50, 100, 300)


@pytest.mark.parametrize("claim", [FALSE_CLAIMS[1], FALSE_CLAIMS[2], FALSE_CLAIMS[3]],
                         ids=lambda c: c.id)
def test_a_larger_budget_repeats_the_smaller_one_case_for_case(claim):
    for seed in range(3):
        runs = {b: run_claim(claim, seed=seed, examples=b, device="cpu") for b in BUDGETS}
        for small, large in zip(BUDGETS, BUDGETS[1:], strict=False):
            if runs[small].verdict.value == "refuted":
                assert runs[large].verdict.value == "refuted", (seed, small, large)
                assert runs[large].counterexample["case"] == runs[small].counterexample["case"]
                assert runs[large].counterexample["found_at_case"] == runs[small].counterexample["found_at_case"]
        found = [runs[b].counterexample["found_at_case"] for b in BUDGETS if runs[b].counterexample]
        assert all(f <= b for f, b in zip(found, [b for b in BUDGETS if runs[b].counterexample], strict=True))


def test_a_true_claim_decides_exactly_the_requested_cases_over_several_blocks():
    claim = verify.inequality("square-nonneg", statement="0 <= x^2", cases=st.floats(-10, 10),
                              lhs=lambda x: 0.0, rhs=lambda x: x * x)
    v = run_claim(claim, examples=2 * BLOCK + 7, device="cpu")
    assert v.verdict.value == "verified"
    assert v.numeric["examples"] == 2 * BLOCK + 7
    assert BLOCK < v.numeric["distinct_cases"] <= v.numeric["examples"]  # blocks may repeat a few simple floats


def test_blocks_have_distinct_seeds_and_the_first_keeps_the_run_seed():
    assert block_seed(7, 0) == 7
    seeds = {block_seed(s, b) for s in range(20) for b in range(1, 20)}
    assert len(seeds) == 19 * 20 and not seeds & set(range(20))


def test_evidence_says_when_most_cases_repeat_one():
    claim = verify.inequality("narrow", statement="x <= 3", cases=st.integers(0, 10**6).map(lambda i: float(i % 2)),
                              lhs=lambda x: x, rhs=lambda x: 3.0)
    v = run_claim(claim, examples=60, device="cpu")
    assert v.verdict.value == "verified" and v.numeric["distinct_cases"] == 2
    assert "Only 2 distinct cases among the" in v.message
    assert v.numeric["cases_with_ratio"] == v.numeric["examples"]
