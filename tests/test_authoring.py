"""User claims in a few lines: verify.inequality and verify.identity, and errors in user files."""

from __future__ import annotations

import io
import json
import math

import hypothesis.strategies as st
import numpy as np
import pytest
import torch

import verify
from verify.check import replay
from verify.cli import main


def _run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _lse(z):
    return torch.logsumexp(torch.as_tensor(z), -1)


def _bound(factor):
    return verify.inequality(
        f"lse-bound-{str(factor).replace('.', '-')}", statement=r"\mathrm{lse}(z) \le \max z + c \log k",
        cases=verify.logits, lhs=_lse, rhs=lambda z: float(np.max(z)) + factor * math.log(len(z)))


def test_a_wrong_bound_is_refuted_at_tied_logits_and_replays():
    verdict = verify.run_claim(_bound(0.5), examples=50)
    assert verdict.verdict.value == "refuted"
    case = verdict.counterexample["case"]
    assert len(set(case)) == 1  # shrunk to tied logits, where lse = max + log k
    again = replay(_bound(0.5), case)
    assert again.comparison.status == "violated"
    assert "expected it to hold, got refuted" in verdict.explain()


def test_the_right_bound_is_verified_with_equality_at_ties():
    verdict = verify.run_claim(_bound(1.0), examples=100)
    assert verdict.verdict.value == "verified", verdict.message
    assert verdict.numeric["tightest_ratio"] == pytest.approx(1.0, abs=1e-12)
    assert 0 < verdict.numeric["distribution"]["cases"] <= verdict.numeric["examples"]  # rhs <= 0: no ratio


def test_identity_on_tensors_refutes_a_wrong_gradient():
    cases = st.integers(1, 6).flatmap(lambda n: st.lists(st.floats(-3, 3), min_size=n, max_size=n))

    def autograd(x):
        t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        (torch.tanh(t) ** 2).sum().backward()
        return t.grad

    right = verify.identity("tanh-sq-grad", statement=r"\nabla \sum \tanh^2 x = 2\tanh x\,(1-\tanh^2 x)",
                            cases=cases, lhs=lambda x: 2 * np.tanh(x) * (1 - np.tanh(x) ** 2), rhs=autograd)
    wrong = verify.identity("tanh-sq-grad-wrong", statement=r"\nabla \sum \tanh^2 x = 2\tanh x",
                            cases=cases, lhs=lambda x: 2 * np.tanh(x), rhs=autograd)
    assert verify.run_claim(right, examples=50).verdict.value == "verified"
    refuted = verify.run_claim(wrong, examples=50)
    assert refuted.verdict.value == "refuted"
    assert replay(wrong, refuted.counterexample["case"]).comparison.status == "violated"


def test_float32_sides_get_a_float32_tolerance():
    claim = verify.identity("f32-sum", statement="x = x", cases=st.floats(1, 2),
                            lhs=lambda x: torch.tensor(x, dtype=torch.float32) * 3 / 3,
                            rhs=lambda x: torch.tensor(x, dtype=torch.float32))
    verdict = verify.run_claim(claim, examples=20)
    assert verdict.verdict.value == "verified"
    assert "float32" in verdict.numeric["tolerance"]


@pytest.mark.parametrize(("lhs", "needle"), [
    (lambda z: "big", "returned str"),
    (lambda z: torch.ones(3), "returned a tensor of shape (3,)"),
    (lambda z: float("nan"), "returned a non-finite value (nan)"),
    (lambda z: 1 / 0, "ZeroDivisionError"),
])
def test_broken_sides_give_an_error_verdict_naming_the_problem(lhs, needle):
    claim = verify.inequality("broken", statement="x", cases=st.floats(0, 1), lhs=lhs, rhs=lambda z: 1.0)
    verdict = verify.run_claim(claim, examples=5)
    assert verdict.verdict.value == "error"
    assert needle in verdict.message
    if "ZeroDivision" not in needle:  # a value problem names the user's function and where it is defined
        assert "lhs (<lambda> at " in verdict.message and "test_authoring.py:" in verdict.message


def test_malformed_definitions_are_rejected_up_front():
    with pytest.raises(verify.ClaimDefinitionError, match="lhs= must be a function"):
        verify.inequality("x", statement="s", cases=st.floats(), lhs=3, rhs=lambda z: 1.0)
    with pytest.raises(verify.ClaimDefinitionError, match="takes 3 required positional arguments"):
        verify.inequality("x", statement="s", cases=st.floats(), lhs=lambda a, b, c: 1, rhs=lambda z: 1.0)
    with pytest.raises(verify.ClaimDefinitionError, match="cases= must be a Hypothesis strategy"):
        verify.inequality("x", statement="s", cases=[1, 2], lhs=lambda z: 1, rhs=lambda z: 1.0)
    with pytest.raises(verify.ClaimDefinitionError, match="letters, digits and dashes"):
        verify.inequality("has space", statement="s", cases=st.floats(), lhs=lambda z: 1, rhs=lambda z: 1.0)


def test_identity_shape_mismatch_is_an_error():
    claim = verify.identity("shapes", statement="s", cases=st.just(1.0), lhs=lambda z: torch.ones(2),
                            rhs=lambda z: torch.ones(3))
    verdict = verify.run_claim(claim, examples=2)
    assert verdict.verdict.value == "error" and "lhs has shape (2,) and rhs (3,)" in verdict.message


USER_FILE = '''
import math
import numpy as np
import torch
import verify

half = verify.inequality(
    "lse-half", statement=r"\\mathrm{lse}(z) \\le \\max z + \\tfrac12\\log k", cases=verify.logits,
    lhs=lambda z: torch.logsumexp(torch.as_tensor(z), -1),
    rhs=lambda z: float(np.max(z)) + 0.5 * math.log(len(z)))
'''


def test_cli_prints_the_counterexample_and_replays_it(tmp_path):
    src = tmp_path / "mine.py"
    src.write_text(USER_FILE)
    out_json = tmp_path / "out.json"
    code, out, _ = _run("check", f"{src}::half", "--examples", "40", "--device", "cpu", "--json", str(out_json))
    assert code == 1
    assert "counterexample: [0.0,0.0]" in out
    assert f"replay it: verify check {src}::half" in out
    assert json.loads(out_json.read_text())["verdicts"][0]["counterexample"]["case"] == [0.0, 0.0]
    code, out, _ = _run("check", f"{src}::half", "--replay", str(out_json), "--device", "cpu")
    assert code == 0 and "violated" in out


@pytest.mark.parametrize(("text", "name", "needles"), [
    ("def broken(:\n", "x", ["mine.py", "SyntaxError", "line 1"]),
    (USER_FILE, "halve", ["has no attribute 'halve'", "Claims it defines: ['half']"]),
    (USER_FILE.replace("half = verify", "half = 3 or verify"), "half", ["is of type int, not a verify.Claim"]),
    ("raise RuntimeError('boom at import')\n", "x", ["mine.py", "RuntimeError: boom at import"]),
], ids=["syntax-error", "missing-name", "not-a-claim", "raises-at-import"])
def test_errors_in_user_files_name_the_file_and_the_problem(tmp_path, text, name, needles):
    src = tmp_path / "mine.py"
    src.write_text(text)
    code, _, err = _run("check", f"{src}::{name}", "--device", "cpu")
    assert code == 2
    for needle in needles:
        assert needle in err
    assert "Traceback" not in err


def test_missing_file_is_a_usage_error(tmp_path):
    code, _, err = _run("check", f"{tmp_path}/nope.py::x")
    assert code == 2 and "No such file" in err


def test_replay_without_names_replays_what_the_file_holds_and_refs_are_recorded(tmp_path):
    src = tmp_path / "mine.py"
    src.write_text(USER_FILE)
    out_json = tmp_path / "out.json"
    _run("check", f"{src}::half", "--examples", "40", "--device", "cpu", "--json", str(out_json))
    doc = json.loads(out_json.read_text())["verdicts"][0]
    assert doc["ref"] == f"{src}::half"
    assert doc["numeric"]["examples_requested"] == 40
    code, out, _ = _run("check", "--replay", str(out_json), "--device", "cpu")
    assert code == 0 and out.startswith("lse-half: replayed counterexample → violated")
    # a named claim without a counterexample in the file is a usage error, not a silent pass
    code, _, err = _run("check", "seed000-ascent-update", "--replay", str(out_json))
    assert code == 2 and "no counterexample for seed000-ascent-update" in err


def test_bad_paths_and_values_fail_before_any_work(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    code, out, err = _run("check", "seed000-ascent-update", "--json", str(folder))
    assert code == 2 and "is a folder" in err and out == ""
    assert list(folder.iterdir()) == [] and not list(tmp_path.glob(".*.tmp"))
    code, _, err = _run("report", "--from", str(folder), "--out", str(tmp_path / "r"))
    assert code == 2 and "Traceback" not in err and "verify: error:" in err
    for argv in (["--examples", "0"], ["--threads", "0"], ["--time-limit", "-1"]):
        with pytest.raises(SystemExit) as exc:
            _run("check", "seed000-ascent-update", *argv)
        assert exc.value.code == 2


def test_user_files_import_their_neighbours_and_functions_need_no_arguments(tmp_path):
    (tmp_path / "helpers_mod.py").write_text("FACTOR = 0.5\n")
    (tmp_path / "mine.py").write_text(USER_FILE.replace("0.5 * math.log", "helpers_mod.FACTOR * math.log")
                                      .replace("import verify\n", "import verify\nimport helpers_mod\n", 1)
                                      + "\ndef needs_args(a, b):\n    return half\n")
    code, out, _ = _run("check", f"{tmp_path / 'mine.py'}::half", "--examples", "30", "--device", "cpu")
    assert code == 1 and "counterexample: [0.0,0.0]" in out
    code, _, err = _run("check", f"{tmp_path / 'mine.py'}::needs_args")
    assert code == 2 and "calling it with no arguments raised TypeError" in err


def test_claim_ids_must_not_collide(tmp_path):
    src = tmp_path / "mine.py"
    src.write_text(USER_FILE + "\nsame = verify.inequality('lse-half', statement='x', cases=verify.logits,\n"
                   "    lhs=lambda z: 0.0, rhs=lambda z: 1.0)\n"
                   "builtin = verify.inequality('softmax-ce-hessian', statement='x', cases=verify.logits,\n"
                   "    lhs=lambda z: 0.0, rhs=lambda z: 1.0)\n")
    code, _, err = _run("check", f"{src}::half", f"{src}::same")
    assert code == 2 and "both have the id 'lse-half'" in err
    code, _, err = _run("check", f"{src}::builtin")
    assert code == 2 and "built-in claim's id" in err


def test_a_float32_constant_does_not_loosen_a_float64_comparison():
    claim = verify.inequality("mixed", statement="1 + 10^{-5} \\le 1", cases=st.floats(0.5, 2),
                              lhs=lambda x: 1 + 1e-5, rhs=lambda x: torch.tensor(1.0))
    verdict = verify.run_claim(claim, examples=5)
    assert verdict.verdict.value == "refuted"
    assert "float64" in verdict.numeric["tolerance"]


def test_empty_tensors_are_no_evidence_for_an_identity():
    claim = verify.identity("empty", statement="[] = []", cases=st.just(0), lhs=lambda z: torch.ones(0),
                            rhs=lambda z: torch.zeros(0))
    verdict = verify.run_claim(claim, examples=3)
    assert verdict.verdict.value == "inconclusive" and "empty" in verdict.message
