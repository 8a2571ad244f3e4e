"""tools/same_verdicts.py: what it ignores, and that it names every other difference."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import same_verdicts  # noqa: E402


def _write(path: Path, verdicts: list[dict]) -> Path:
    path.write_text(json.dumps({"schema_version": 1, "verdicts": verdicts}))
    return path


def _verdict(**over):
    base = {"claim": "c", "verdict": "verified", "elapsed_s": 1.0, "versions": {"torch": "1"},
            "numeric": {"examples": 10, "worst_case": {"lhs": 1.0, "tags": ["k-2"]}},
            "symbolic": {"steps": [{"name": "s", "elapsed_s": 0.5}]}}
    base.update(over)
    return base


def test_timings_and_versions_are_ignored(tmp_path):
    a = _write(tmp_path / "a.json", [_verdict()])
    b = _write(tmp_path / "b.json", [_verdict(elapsed_s=9.0, versions={"torch": "2"},
                                              symbolic={"steps": [{"name": "s", "elapsed_s": 7.0}]})])
    assert same_verdicts.compare(a, b, set(same_verdicts.ALWAYS_IGNORED)) == {}


def test_every_other_difference_is_named(tmp_path):
    a = _write(tmp_path / "a.json", [_verdict(), _verdict(claim="gone")])
    changed = _verdict(numeric={"examples": 10, "worst_case": {"lhs": 1.0000000000000002, "tags": ["k-2", "x"]}})
    b = _write(tmp_path / "b.json", [changed, _verdict(claim="new")])
    diff = same_verdicts.compare(a, b, set(same_verdicts.ALWAYS_IGNORED))
    assert diff["c"] == ["numeric.worst_case.lhs", "numeric.worst_case.tags"]
    assert "only in the baseline" in diff["gone"][0] and "only in this tree" in diff["new"][0]
    assert same_verdicts.compare(a, b, set(same_verdicts.ALWAYS_IGNORED), claims=["c"]).keys() == {"c"}


def test_an_int_is_not_a_float():
    assert list(same_verdicts.differences({"n": 1}, {"n": 1.0})) == ["n"]
