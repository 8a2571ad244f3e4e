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
