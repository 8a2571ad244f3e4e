"""The command line: list, check, exit codes, JSON, unknown names, replay."""

from __future__ import annotations

import io
import json
from pathlib import Path

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


def test_report_runs_claims_and_writes_pages(tmp_path, verdict_schema):
    out = tmp_path / "report"
    code, text, err = run("report", "softmax-ce-smoothness", "seed000-diagonal-blocks-imply-psd",
                          "--examples", "10", "--device", "cpu", "--out", str(out))
    assert code == 0, text + err
    assert f"report: {out / 'index.html'}" in text
    for name in ("index.html", "softmax-ce-smoothness.html", "seed000-diagonal-blocks-imply-psd.md",
                 "verdicts.json"):
        assert (out / name).is_file(), name
    doc = json.loads((out / "verdicts.json").read_text())
    jsonschema.validate(doc, verdict_schema)
    page = (out / "seed000-diagonal-blocks-imply-psd.html").read_text()
    assert "refuted" in page and "--replay" in page

    # --from renders an earlier run without checking again; names and --from together are refused
    again = tmp_path / "again"
    code, text, _ = run("report", "--from", str(out / "verdicts.json"), "--out", str(again))
    assert code == 0 and (again / "softmax-ce-smoothness.html").is_file()
    code, _, err = run("report", "softmax-ce-smoothness", "--from", str(out / "verdicts.json"))
    assert code == 2 and "not both" in err


def test_report_refuses_a_foreign_folder(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    code, _, err = run("report", "--from", str(_tiny_verdicts(tmp_path)), "--out", str(foreign))
    assert code == 2 and "notes.txt" in err
    assert (foreign / "notes.txt").read_text() == "keep me"


def _tiny_verdicts(tmp_path):
    path = tmp_path / "v.json"
    code, _, _ = run("check", "softmax-ce-smoothness", "--examples", "3", "--device", "cpu", "--json", str(path),
                     "--quiet")
    assert code == 0
    return path


REGULARIZERS = """
import torch


def weight_decay(model, batch):
    return sum((p ** 2).sum() for p in model.parameters())


def returns_nan(params):
    return torch.tensor(float("nan"))


def wrong_grad(model, batch):
    return {name: p for name, p in model.named_parameters()}  # misses the factor 2
"""


def test_regularizer_command_card_json_and_page(tmp_path):
    src = tmp_path / "regs.py"
    src.write_text(REGULARIZERS)
    card_json, page = tmp_path / "card.json", tmp_path / "card"
    code, out, err = run("regularizer", f"{src}::weight_decay", "--checks", "well-formed,gradient", "--device", "cpu",
                         "--json", str(card_json), "--out", str(page))
    assert code == 0, out + err
    assert "ok  well-formed" in out and "2 of 2 checks passed" in out
    doc = json.loads(card_json.read_text())
    assert doc["name"] == f"{src}::weight_decay" and doc["passed"] is True
    assert (page / "index.html").is_file()

    code, out, _ = run("regularizer", f"{src}::weight_decay", "--grad", f"{src}::wrong_grad",
                       "--checks", "well-formed,gradient", "--device", "cpu")
    assert code == 1 and "BAD gradient" in out and "refuted" in out


def test_regularizer_command_errors(tmp_path):
    src = tmp_path / "regs.py"
    src.write_text(REGULARIZERS)
    code, out, _ = run("regularizer", f"{src}::returns_nan", "--device", "cpu")
    assert code == 1 and "BAD well-formed" in out and "error" in out
    code, _, err = run("regularizer", f"{src}::nope", "--device", "cpu")
    assert code == 2 and "nope" in err and "weight_decay" in err
    code, _, err = run("regularizer", f"{src}::weight_decay", "--lams", "0.1,x")
    assert code == 2 and "comma-separated numbers" in err


def test_unwritable_outputs_are_refused_before_any_claim_runs(tmp_path):
    """`--out afile.txt/sub`, `--json /proc/x.json`: a usage error at once, not after every claim ran."""
    a_file = tmp_path / "afile.txt"
    a_file.write_text("x")
    src = tmp_path / "regs.py"
    src.write_text(REGULARIZERS)
    (tmp_path / "taken.json.partial").write_text("not ours")
    claim = ["softmax-ce-smoothness", "--examples", "3", "--device", "cpu"]
    cases = [(["report", *claim, "--out", str(a_file / "sub")], "is a file"),
             (["check", *claim, "--json", str(a_file / "x.json")], "is a file"),
             (["check", *claim, "--json", str(tmp_path / "taken.json")], "taken.json.partial"),
             (["regularizer", f"{src}::weight_decay", "--out", str(a_file / "card")], "is a file")]
    if Path("/proc/self").is_dir():  # Linux: nothing can be created in /proc, not even by root
        cases += [(["report", *claim, "--out", "/proc/x"], "cannot create files in '/proc'"),
                  (["check", *claim, "--json", "/proc/x.json"], "cannot create files in '/proc'")]
    for argv, needle in cases:
        code, out, err = run(*argv)
        assert code == 2 and needle in err, (argv, err)
        assert err.count("\n") == 1 and "[1/1]" not in err and "checking regularizer" not in err and not out, argv
    assert a_file.read_text() == "x" and (tmp_path / "taken.json.partial").read_text() == "not ours"
