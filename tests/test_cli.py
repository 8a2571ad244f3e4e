"""The command line: list, check, exit codes, JSON, unknown names, replay."""

from __future__ import annotations

import io
import json

import jsonschema

from verify.cli import main


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_list_table_and_json():
    code, out, _ = run("list")
    assert code == 0 and "softmax-ce-hessian" in out
    code, out, _ = run("list", "--json")
    rows = json.loads(out)
    assert {r["claim"] for r in rows} >= {"softmax-ce-convex", "seed000-hessian-is-block-diagonal"}


def test_unknown_claim_is_a_usage_error_with_close_matches():
    code, _, err = run("check", "softmax-ce-convx")
    assert code == 2
    assert "Unknown claim 'softmax-ce-convx'" in err and "softmax-ce-convex" in err


def test_check_writes_schema_valid_json_and_exit_zero(tmp_path, verdict_schema):
    path = tmp_path / "out.json"
    code, out, err = run("check", "softmax-ce-hessian", "seed000-hessian-is-block-diagonal",
                         "--examples", "15", "--device", "cpu", "--json", str(path))
    assert code == 0, out + err
    doc = json.loads(path.read_text())
    jsonschema.validate(doc, verdict_schema)
    verdicts = {v["claim"]: v for v in doc["verdicts"]}
    assert verdicts["softmax-ce-hessian"]["verdict"] == "proved"
    assert verdicts["seed000-hessian-is-block-diagonal"]["verdict"] == "refuted"
    assert verdicts["seed000-hessian-is-block-diagonal"]["counterexample"]["case"]
    assert "[1/2] softmax-ce-hessian" in err  # progress lines

    code, out, _ = run("check", "seed000-hessian-is-block-diagonal", "--replay", str(path), "--device", "cpu")
    assert code == 0 and "violated" in out


def test_mismatch_gives_exit_one(tmp_path):
    src = tmp_path / "claims.py"
    src.write_text(
        "import hypothesis.strategies as st\n"
        "from verify import Claim, CaseResult, Tolerance, compare_close\n"
        "WRONG = Claim(id='wrong-square', statement='(x+1)^2 = x^2 + 1', source='test',\n"
        "  cases=lambda: st.floats(-10, 10),\n"
        "  check=lambda x, ctx: CaseResult(compare_close((x + 1) ** 2, x * x + 1, x * x + 1, Tolerance())))\n"
    )
    code, out, _ = run("check", f"{src}::WRONG", "--examples", "20", "--device", "cpu")
    assert code == 1 and "refuted" in out and "BAD" in out


def test_bad_device_is_a_clear_usage_error():
    code, _, err = run("check", "softmax-ce-hessian", "--device", "tpu")
    assert code == 2 and "tpu" in err
