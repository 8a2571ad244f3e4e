"""A search in shards: reproducible from (seed, shards, examples), the serial search at one shard, merged
evidence that adds up, the smallest counterexample named with its shard, a failing shard an error."""

from __future__ import annotations

import json

import pytest
from hypothesis import strategies as st

import verify
from verify.check import run_claim
from verify.check._case_search import NumericOutcome
from verify.check._shards import ShardResult, merge, shard_budgets
from verify.check._tally import Tally
from verify.claims import CheckContext, get_claim, replay_line
from verify.errors import InvalidInputError

HOLDS = verify.inequality("square-nonneg", statement=r"0 \le x^2", cases=st.floats(-10, 10),
                          lhs=lambda x: 0.0, rhs=lambda x: x * x)
FALSE = verify.inequality("cube-below-square", statement=r"x^3 \le x^2", expected="refuted", cases=st.floats(-3, 3),
                          lhs=lambda x: x ** 3, rhs=lambda x: x * x)


def _json(verdict) -> dict:
    data = verdict.to_json()
    for key in ("elapsed_s", "versions"):
        data.pop(key, None)
    return data


def test_budgets_add_up_and_bad_counts_are_usage_errors():
    assert shard_budgets(100, 3) == [34, 33, 33] and sum(shard_budgets(1000, 7)) == 1000
    for bad in (0, 101, 2.5, True):
        with pytest.raises(InvalidInputError, match="shard count"):
            shard_budgets(100, bad)
    with pytest.raises(InvalidInputError, match="shard count"):
        run_claim(HOLDS, examples=10, shards=11, device="cpu")


def test_one_shard_is_the_serial_search_case_for_case():
    claim = get_claim("descent-lemma")
    serial = _json(run_claim(claim, examples=60, seed=3, device="cpu"))
    sharded = _json(run_claim(claim, examples=60, seed=3, device="cpu", shards=1))
    assert sharded["numeric"].pop("shards") == {"count": 1, "budgets": [60], "decided": [serial["numeric"]["examples"]],
                                                "status": ["agree"]}
    assert sharded == serial


def test_the_same_seed_shards_and_examples_give_the_same_json_and_the_counts_add_up():
    claim = get_claim("softmax-ce-convex")
    a, b = (run_claim(claim, examples=90, seed=1, device="cpu", shards=3) for _ in range(2))
    assert _json(a) == _json(b)
    n = a.numeric
    assert n["shards"]["budgets"] == [30, 30, 30] and n["examples_requested"] == 90
    assert n["examples"] == sum(n["shards"]["decided"]) and n["distinct_cases"] <= n["examples"]
    assert _json(run_claim(claim, examples=90, seed=1, device="cpu", shards=2)) != _json(a)


def test_a_counterexample_names_its_shard_and_the_replay_line_carries_the_shard_count():
    v = run_claim(FALSE, examples=60, seed=0, device="cpu", shards=3)
    assert v.verdict.value == "refuted" and "Found in shard" in v.message
    assert v.counterexample["shard"] in (0, 1, 2)
    assert "--shards 3" in replay_line(v)


def test_merge_keeps_the_smallest_counterexample_then_the_lowest_shard():
    ctx = CheckContext("cpu", "float64", 0, 30)
    tallies = []
    for i in range(3):
        t = Tally("inequality", 10, 100, checked=10, evaluated=10, tags={f"tag{i}"}, fingerprints={i, 100})
        tallies.append(t)
    found = lambda case: NumericOutcome("counterexample", None, {"case": case, "comparison": {}})  # noqa: E731
    shards = lambda outcomes: [ShardResult(i, t, o, {"ns": {"k": i, f"k{i}": i}})  # noqa: E731
                               for i, (t, o) in enumerate(zip(tallies, outcomes))]
    merged = merge(shards([found([1.0, 2.0]), found([3.0]), found([4.0])])[::-1], ctx)  # any arrival order
    assert merged.status == "counterexample" and merged.counterexample["shard"] == 1  # shortest JSON, then index
    assert merged.evidence["examples"] == 30 and merged.evidence["distinct_cases"] == 4
    assert merged.evidence["boundary_cases_hit"] == ["tag0", "tag1", "tag2"]
    assert ctx.records == {"ns": {"k": 0, "k0": 0, "k1": 1, "k2": 2}}  # a key's first record, in shard order
    agree = merge(shards([NumericOutcome("agree")] * 3), CheckContext())
    assert agree.status == "agree"
    errs = merge(shards([NumericOutcome("agree"), NumericOutcome("error", message="boom"),
                         NumericOutcome("unconfirmed", message="flaky")]), CheckContext())
    assert errs.status == "error" and errs.message == "shard 1 of 3: boom"


def test_a_shard_result_is_plain_data_that_pickles_unchanged():
    import pickle

    from verify.check._shards import run_shard

    result = run_shard(FALSE, CheckContext("cpu", "float64", 3, 40), None, 1, 2)
    assert result.outcome.status == "counterexample"
    again = pickle.loads(pickle.dumps(result))
    assert again == result and merge([again], CheckContext()).counterexample == merge([result],
                                                                                      CheckContext()).counterexample


def test_a_shard_whose_check_fails_makes_the_verdict_an_error():
    def lhs(x: float) -> float:
        if x > 2.5:
            raise ValueError("the lhs fails above 2.5")
        return 0.0

    crashing = verify.inequality("crash-above", statement="0 \\le 1", cases=st.floats(0, 3), lhs=lhs,
                                 rhs=lambda x: 1.0)
    v = run_claim(crashing, examples=60, seed=0, device="cpu", shards=3)
    assert v.verdict.value == "error" and "shard" in v.message and "2.5" in v.message


def test_the_cli_takes_shards_and_records_them(tmp_path):
    from verify.cli import main

    out = tmp_path / "v.json"
    assert main(["check", "seed000-ascent-update", "--shards", "2", "--examples", "20", "--quiet",
                 "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    verdict = (data["verdicts"] if isinstance(data, dict) else data)[0]
    assert verdict["numeric"]["shards"]["count"] == 2


def test_one_shard_refutes_like_the_serial_search():
    serial = _json(run_claim(FALSE, examples=40, seed=2, device="cpu"))
    one = _json(run_claim(FALSE, examples=40, seed=2, device="cpu", shards=1))
    assert one["numeric"].pop("shards")["status"] == ["counterexample"]
    assert one["counterexample"].pop("shard") == 0
    assert one == serial


def test_a_strategy_that_generates_nothing_is_undecidable_as_in_the_serial_search():
    nothing = verify.inequality("nothing", statement="0 \\le 1", cases=st.floats(0, 1).filter(lambda x: False),
                                lhs=lambda x: 0.0, rhs=lambda x: 1.0)
    serial = run_claim(nothing, examples=20, seed=0, device="cpu")
    for shards in (1, 3):
        v = run_claim(nothing, examples=30, seed=0, device="cpu", shards=shards)
        assert v.verdict.value == serial.verdict.value == "inconclusive"
        assert v.message.startswith("No valid case could be generated")


def test_cut_short_is_each_shards_own_judgement_not_the_clock_at_merge_time():
    from verify.check._case_search import _Search

    ctx = CheckContext("cpu", "float64", 0, 30)
    states = [_Search(HOLDS, ctx, deadline=0.0, budget=10) for _ in range(3)]  # a deadline long past
    for s in states:
        s.checked = s.evaluated = 10
    tallies = [Tally.of(s) for s in states]  # taken as each shard finished its budget
    merged = merge([ShardResult(i, t, NumericOutcome("agree")) for i, t in enumerate(tallies)], ctx)
    assert merged.status == "agree" and merged.evidence["cut_short"] is False
    tallies[0].cut_short = True
    one_cut = merge([ShardResult(i, t, NumericOutcome("agree")) for i, t in enumerate(tallies)], CheckContext())
    assert one_cut.evidence["cut_short"] is True
