"""The seed sweep (bench/seed_sweep.py): every built-in claim at 200 examples over seeds 0..19 matches its expectation.

The sweep itself is slow (about 40 minutes on one core) and marked ``slow`` (off by default; run it with
``pytest -m slow tests/test_seed_sweep.py``, ``SEED_SWEEP_JOBS=2`` for two worker processes). The fast
tests check the script's plumbing on tiny budgets, including that a mismatch is reported.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import seed_sweep  # noqa: E402

from verify import Claim, inequality, vectors  # noqa: E402


def test_seed_lists_parse():
    assert seed_sweep.parse_seeds("0-3") == [0, 1, 2, 3]
    assert seed_sweep.parse_seeds("3,4,18") == [3, 4, 18]
    assert seed_sweep.parse_seeds("0..2,7,1") == [0, 1, 2, 7]


def test_claim_selection_by_glob():
    all_claims = seed_sweep.select_claims(None)
    assert len(all_claims) == 61 and [c.id for c in all_claims] == sorted(c.id for c in all_claims)
    assert {c.id for c in seed_sweep.select_claims("seed000-*")} >= {"seed000-ascent-update",
                                                                        "seed000-diagonal-blocks-imply-psd"}
    with pytest.raises(SystemExit):
        seed_sweep.select_claims("no-such-claim")


def test_a_small_sweep_matches_and_writes_json(tmp_path, capsys):
    out = tmp_path / "sweep.json"
    status = seed_sweep.main(["--claims", "max-norm-projection,seed000-diagonal-blocks-imply-psd", "--seeds", "0-1",
                              "--examples", "10", "--json", str(out)])
    text = capsys.readouterr().out
    assert status == 0 and "matched 4 of 4" in text and "torch threads 1" in text and "no mismatches" in text
    data = json.loads(out.read_text())
    assert data["total"] == data["matched"] == 4 and not data["interrupted"]
    assert [(o["seed"], o["claim"]) for o in data["outcomes"]] == [
        (0, "max-norm-projection"), (0, "seed000-diagonal-blocks-imply-psd"),
        (1, "max-norm-projection"), (1, "seed000-diagonal-blocks-imply-psd")]


def test_a_wrong_verdict_is_a_mismatch():
    """A false claim expected to hold comes out refuted: listed, with its replay command."""
    wrong = inequality("max-below-half-max", statement=r"\|x\|_\infty \le \tfrac12 \|x\|_\infty", cases=vectors(3),
                       lhs=lambda x: float(abs(x).max()), rhs=lambda x: 0.5 * float(abs(x).max()))
    assert isinstance(wrong, Claim)
    (outcome,) = seed_sweep.sweep([wrong], [0], 10)
    assert not outcome.matches and outcome.verdict == "refuted" and outcome.expected == "holds"
    table = seed_sweep.mismatch_table([outcome])
    assert "max-below-half-max" in table and "--seed 0" in table


@pytest.mark.slow
def test_every_builtin_claim_matches_at_200_examples_over_seeds_0_to_19(monkeypatch):
    for name in seed_sweep.THREAD_VARIABLES:  # worker processes (SEED_SWEEP_JOBS > 1) start with one BLAS thread
        monkeypatch.setenv(name, "1")
    claims = seed_sweep.select_claims(None)
    outcomes = seed_sweep.sweep(claims, list(range(20)), 200, jobs=int(os.environ.get("SEED_SWEEP_JOBS", "1")))
    assert len(outcomes) == 680
    bad = [o for o in outcomes if not o.matches]
    assert not bad, seed_sweep.mismatch_table(bad)
