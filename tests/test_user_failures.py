"""Nothing silent on bad user input (issue 14): sys.exit in user code, bad ``cases=``, replayable
counterexamples, one-letter ids and ``depth``, the loop-closure idiom."""

from __future__ import annotations

import io
import json

import hypothesis.strategies as st
import numpy as np
import pytest

import verify
from verify.claims import Tolerance, to_plain
from verify.cli import main
from verify.strategies import decode_case_json


def _run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text("import sys\nimport hypothesis.strategies as st\nimport verify\n" + text)
    return path


GOOD = 'good = verify.inequality("good", statement="s", cases=st.floats(0, 1), lhs=lambda x: x, rhs=lambda x: 2.0)\n'


# --- row 3: sys.exit in a claim side or at import -------------------------------------------------------------


def test_sys_exit_in_a_claim_side_is_an_error_naming_the_call_and_the_json_is_written(tmp_path):
    src = _write(tmp_path, "exits.py", GOOD + 'bad = verify.inequality("bad", statement="s", cases=st.floats(0, 1),\n'
                 '    lhs=lambda x: sys.exit(0), rhs=lambda x: 1.0)\n')
    out_json = tmp_path / "out.json"
    code, out, _ = _run("check", f"{src}::bad", f"{src}::good", "--examples", "5", "--device", "cpu",
                        "--json", str(out_json))
    assert code == 1, out
    verdicts = {v["claim"]: v for v in json.loads(out_json.read_text())["verdicts"]}
    assert verdicts["good"]["verdict"] == "verified"
    assert verdicts["bad"]["verdict"] == "error"
    assert "sys.exit(0) was called" in verdicts["bad"]["message"] and "exits.py:6" in verdicts["bad"]["message"]


def test_sys_exit_at_import_is_an_error_verdict_and_the_other_claims_still_run(tmp_path):
    good = _write(tmp_path, "fine.py", GOOD)
    bad = _write(tmp_path, "exits_on_import.py", "sys.exit(3)\n")
    out_json = tmp_path / "out.json"
    code, out, err = _run("check", f"{bad}::my_claim", f"{good}::good", "--examples", "5", "--device", "cpu",
                          "--json", str(out_json))
    assert code == 1, out + err
    verdicts = {v["claim"]: v for v in json.loads(out_json.read_text())["verdicts"]}
    assert verdicts["good"]["verdict"] == "verified"
    message = verdicts["my-claim"]["message"]
    assert verdicts["my-claim"]["verdict"] == "error" and verdicts["my-claim"]["ref"] == f"{bad}::my_claim"
    assert "sys.exit(3)" in message and "exits_on_import.py:4" in message and "__main__" in message


# --- row 5: bad cases= ----------------------------------------------------------------------------------------


def test_an_unapplied_strategy_factory_is_rejected_at_definition():
    needle = r"cases=vectors needs the argument\(s\) n.*vectors\(\.\.\.\)"
    with pytest.raises(verify.ClaimDefinitionError, match=needle):
        verify.inequality("v", statement="s", cases=verify.vectors, lhs=lambda z: 0.0, rhs=lambda z: 1.0)


@pytest.mark.parametrize("cases, needle", [("lambda: 42", "gives int (42), not a Hypothesis strategy"),
                                           ("lambda: verify.vectors", "gives the function vectors")])
def test_cases_giving_no_strategy_is_a_usage_error_before_any_claim_runs(tmp_path, cases, needle):
    src = _write(tmp_path, "bad_cases.py", GOOD + f'bad = verify.inequality("bad", statement="s", cases={cases},\n'
                 '    lhs=lambda z: 0.0, rhs=lambda z: 1.0)\n')
    code, out, err = _run("check", f"{src}::good", f"{src}::bad", "--examples", "5", "--device", "cpu")
    assert code == 2 and out == ""  # not even the good claim ran
    assert err.count("\n") == 1 and "Claim 'bad'" in err and needle in err and "Fix:" in err


def test_cases_giving_no_strategy_is_an_error_verdict_from_run_claim():
    claim = verify.inequality("bad", statement="s", cases=lambda: 42, lhs=lambda z: 0.0, rhs=lambda z: 1.0)
    verdict = verify.run_claim(claim, examples=3)
    assert verdict.verdict.value == "error" and "not a Hypothesis strategy" in verdict.message


def test_a_map_raising_during_generation_is_an_error_verdict_naming_it():
    def boom(x):
        raise ValueError("boom in map")

    claim = verify.inequality("mapped", statement="s", cases=st.integers().map(boom), lhs=lambda z: 0.0,
                              rhs=lambda z: 1.0)
    verdict = verify.run_claim(claim, examples=3)
    assert verdict.verdict.value == "error"
    assert "Generating a case failed" in verdict.message and "boom in map" in verdict.message
    assert "test_user_failures.py" in verdict.message


# --- row 6: counterexamples replay ----------------------------------------------------------------------------


def test_decoding_keeps_ints_and_complex_numbers():
    assert decode_case_json([1, 2, 3]).dtype == np.int64
    assert decode_case_json([[1.0, 2.0], [3.0, "nan"]]).dtype == np.float64
    mixed = decode_case_json([3, 0.5])  # a tuple (n, x) stays a list: n is an int again
    assert mixed == [3, 0.5] and isinstance(mixed[0], int)
    assert decode_case_json(json.loads(json.dumps(to_plain(1 - 2j)))) == 1 - 2j
    assert decode_case_json(to_plain(np.array([1j, 2.0]))).dtype == np.complex128
    assert decode_case_json([True, False]) == [True, False]


REPLAY = '''
class Point:
    def __init__(self, x):
        self.x = x

ints = verify.inequality("ints", statement="s", cases=st.lists(st.integers(0, 5), min_size=1),
                         lhs=lambda c: float(sum(1 for k in c for _ in range(k))), rhs=lambda c: 3.0)
cplx = verify.inequality("cplx", statement="s", cases=st.complex_numbers(max_magnitude=10, allow_nan=False),
                         lhs=lambda z: abs(z), rhs=lambda z: 5.0)
obj = verify.inequality("obj", statement="s", cases=st.builds(Point, st.floats(0, 10)),
                        lhs=lambda p: p.x, rhs=lambda p: 5.0)
'''


def test_counterexamples_replay_or_say_why_not(tmp_path):
    src = _write(tmp_path, "replays.py", REPLAY)
    out_json = tmp_path / "out.json"
    names = [f"{src}::{n}" for n in ("ints", "cplx", "obj")]
    code, out, _ = _run("check", *names, "--examples", "50", "--device", "cpu", "--json", str(out_json))
    assert code == 1
    verdicts = {v["claim"]: v for v in json.loads(out_json.read_text())["verdicts"]}
    assert all(v["verdict"] == "refuted" for v in verdicts.values())
    assert "replayable" not in verdicts["ints"]["counterexample"]
    assert verdicts["cplx"]["counterexample"]["case"] == {"complex": [6.0, 0.0]}
    obj = verdicts["obj"]
    assert obj["counterexample"]["replayable"] is False and "cannot be replayed" in obj["message"]
    assert "Point case" in obj["counterexample"]["not_replayable_because"] and "decode_case=" in obj["message"]
    assert "it cannot be replayed: a Point case" in out

    code, out, _ = _run("check", names[0], names[1], "--replay", str(out_json), "--device", "cpu")
    assert code == 0 and out.count("→ violated") == 2, out
    code, out, _ = _run("check", names[2], "--replay", str(out_json), "--device", "cpu")
    assert code == 1 and "obj: replayed counterexample → error:" in out and "AttributeError" in out


# --- row 10: one-letter ids, depth ----------------------------------------------------------------------------


def test_a_one_letter_id_is_fine_and_a_bad_depth_is_rejected_at_definition():
    claim = verify.inequality("c", statement="s", cases=st.floats(0, 1), lhs=lambda x: x, rhs=lambda x: 2.0)
    assert claim.id == "c" and verify.run_claim(claim, examples=3).verdict.value == "verified"
    for bad_id in ("-", "a-", "-a"):
        with pytest.raises(verify.ClaimDefinitionError, match="no dash first or last"):
            verify.inequality(bad_id, statement="s", cases=st.floats(), lhs=lambda x: x, rhs=lambda x: 2.0)
    for depth in (0, -1.0, float("inf"), float("nan"), "8", True):
        for make in (verify.inequality, verify.identity):
            with pytest.raises(verify.ClaimDefinitionError, match="depth=.*positive finite number"):
                make("d", statement="s", cases=st.floats(), lhs=lambda x: x, rhs=lambda x: x, depth=depth)
        with pytest.raises(ValueError, match="positive finite number"):
            Tolerance("float64", depth)


# --- row 11: the loop-closure idiom ---------------------------------------------------------------------------


def test_a_side_with_defaulted_parameters_is_called_with_the_case_only():
    claims = [verify.inequality(f"times-{k}", statement="s", cases=st.floats(0, 1), lhs=lambda x, k=k: k * x,
                                rhs=lambda x, k=k: k * 1.0) for k in (1, 2)]
    assert [verify.run_claim(c, examples=5).verdict.value for c in claims] == ["verified", "verified"]
    with_ctx = verify.inequality("ctx", statement="s", cases=st.floats(0, 1),
                                 lhs=lambda x, ctx, scale=2.0: scale * x if ctx.dtype == "float64" else 9.0,
                                 rhs=lambda x: 2.0)
    assert verify.run_claim(with_ctx, examples=5).verdict.value == "verified"
