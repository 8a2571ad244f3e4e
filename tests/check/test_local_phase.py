"""The local phase climbs in Hypothesis's choice space, so its cases are always valid draws of the claim's
strategy (issue 13, item 2)."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import strategies as st

import verify
from verify.check import run_claim
from verify.check._local import Anchor, moves, replay_choices, signature


def _anchor_for(strategy, values):
    drawn = replay_choices(strategy, values)
    assert drawn is not None
    _, nodes = drawn
    return Anchor(0.5, tuple(n.value for n in nodes), tuple((n.type, n.constraints) for n in nodes))


def test_every_move_replays_to_a_valid_case_of_the_strategy():
    strategy = st.tuples(st.floats(-3, 3), st.integers(1, 5)).filter(lambda t: t[0] < 1.0)
    anchor = _anchor_for(strategy, [0.5, 3])
    cases = [replay_choices(strategy, [*anchor.values[:i], v, *anchor.values[i + 1:]])
             for i, v in moves(anchor, random.Random(0))]
    valid = [c for c, _ in filter(None, cases)]
    assert valid and all(-3 <= x < 1.0 and 1 <= n <= 5 for x, n in valid)


def test_structural_choices_are_tried_first():
    strategy = st.tuples(st.sampled_from([1.0, 0.1, 10.0]), st.integers(-1000, 1000))
    anchor = _anchor_for(strategy, [0, 17])
    order = moves(anchor, random.Random(0))
    first = [i for i, _ in reversed(order)][:2]  # popped from the end
    assert first == [0, 0]  # both other ladder entries before any value move


def test_a_bound_at_the_edge_of_the_domain_is_not_refuted_by_moves_outside_it():
    claim = verify.inequality("edge", statement="x <= 3", cases=st.floats(-3, 3), lhs=lambda x: x, rhs=lambda x: 3.0)
    assert run_claim(claim, examples=300, device="cpu").verdict.value == "verified"


def test_the_local_phase_runs_and_is_reported():
    claim = verify.inequality("norm-ratio", statement=r"\|x\|_2 \le 2\|x\|_\infty", cases=verify.vectors((1, 4)),
                              lhs=lambda x: np.linalg.norm(x), rhs=lambda x: 2 * np.abs(x).max())
    v = run_claim(claim, examples=200, device="cpu")
    assert v.verdict.value == "verified"
    assert v.numeric["search"]["blocks"] == 2 and v.numeric["search"]["local_cases"] > 0


def test_signature_separates_shapes():
    assert signature((np.zeros((2, 1)), np.zeros((1, 2)))) != signature((np.zeros((2, 2)), np.zeros((2, 2))))
    assert signature(1.0) == signature(2.0)


def test_a_local_violation_whose_replay_hypothesis_rejects_is_still_reported(monkeypatch):
    # the shrinking run replays the local phase's choices; when Hypothesis rejects them (a filter on the
    # replay, 1 of 1 cases invalid) it raises Unsatisfiable: the violation found must not be lost
    from hypothesis.errors import Unsatisfiable

    import verify.check._blocks as blocks

    def rejecting(*_args, **_kw):
        def run():
            raise Unsatisfiable("Unable to satisfy assumptions of shrink")
        return run

    def local_finds_it(state, strategy, rng):  # the local phase reaches the one violating case
        case, nodes = replay_choices(strategy, [0.9995])
        assert state.evaluate_local(case, nodes) is None
        return [0.9995]

    monkeypatch.setattr(blocks, "_shrink_search", rejecting)
    monkeypatch.setattr(blocks, "local_phase", local_finds_it)
    claim = verify.inequality("thin-dip", statement="x <= 1 - a dip of width 1e-6 at 0.9995", cases=st.floats(0, 1),
                              lhs=lambda x: x, rhs=lambda x: 1.0 - 0.6 * max(0.0, 1.0 - abs(x - 0.9995) * 1e6))
    v = run_claim(claim, examples=300, device="cpu")
    assert v.verdict.value == "refuted", v.message
    assert v.counterexample["case"] == 0.9995


def _tiny_bound_claim():
    """lhs = 1e-9·(1 − (x − 0.3)²) ≤ 1e-9·0.99 on x in [-100, 100], judged on the scale 1: false only for
    |x − 0.3| < 0.1, while every case within 1 of 0.3 has a slack under 1e-9 (counted as attained)."""
    from fractions import Fraction

    def sides(x, exact=False):
        x = Fraction(x) if exact else x
        one = Fraction(1) if exact else 1.0
        return (one - (x - Fraction(3, 10) if exact else x - 0.3) ** 2) / 10**9, Fraction(99, 100) / 10**9

    def check(x, ctx):
        lhs, rhs = sides(x)
        return verify.CaseResult(verify.compare_leq(lhs, float(rhs), 1.0, verify.Tolerance()))

    def recheck(x, ctx):  # exact rational arithmetic
        lhs, rhs = sides(x, exact=True)
        return verify.CaseResult(verify.compare_leq(float(lhs), float(rhs), 1.0, verify.Tolerance()))

    return verify.Claim(id="tiny-bound", statement="s", source="test", cases=lambda: st.floats(-100, 100),
                        check=check, recheck=recheck, expected="refuted")


def test_a_bound_small_next_to_the_claims_scale_is_climbed_by_its_ratio(monkeypatch):
    """The search climbs 1 − lhs/rhs, not the claim's slack: a bound 1e-7 of the scale the claim judges it on
    (the central FD remainder against ‖Hv‖) looks attained by the slack long before the ratio crosses 1 −
    1e-4 (mutant M549 of gradient-norm-penalty-fd-order survived at 4 of 5 seeds)."""
    claim = _tiny_bound_claim()
    assert all(run_claim(claim, seed=s, examples=300, device="cpu").verdict.value == "refuted" for s in range(3))
    import verify.check._case_search as search

    monkeypatch.setattr(search, "tightness_gap", lambda c: c.slack)  # the search as it was: by the slack
    assert any(run_claim(claim, seed=s, examples=300, device="cpu").verdict.value == "verified" for s in range(3))


def test_the_sample_phase_draws_from_the_strategy_and_is_reported():
    claim = verify.inequality("norm-ratio", statement=r"\|x\|_2 \le 2\|x\|_\infty", cases=verify.vectors((1, 4)),
                              lhs=lambda x: np.linalg.norm(x), rhs=lambda x: 2 * np.abs(x).max())
    v = run_claim(claim, examples=100, device="cpu")
    assert v.numeric["search"]["sampled_cases"] == 20


def test_a_move_to_a_larger_shape_draws_the_new_choices_at_random_not_as_zeros():
    strategy = st.integers(1, 4).flatmap(lambda n: st.lists(st.floats(1, 2), min_size=n, max_size=n))
    case, _ = replay_choices(strategy, [4, 1.5], random.Random(0))  # the size grew from 1 to 4
    assert len(case) == 4 and case[0] == 1.5 and len(set(case[1:])) > 1
