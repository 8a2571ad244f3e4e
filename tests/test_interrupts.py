"""Nothing lost, nothing silent: real SIGINT/SIGTERM and a broken pipe against every writer.

Each test starts a real ``verify`` (or ``pytest``) process over an earlier output, waits until
one claim has finished (its progress line), sends the signal, and checks that the earlier
output is byte for byte what it was, that what finished is in ``<output>.partial`` marked
``interrupted``, and the exit status. The child gets SIGINT's default handler back: a
background child of a non-interactive shell ignores SIGINT, and the test would prove nothing.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from verify.claims import Verdict
from verify.report import write_report

# four claims whose side sleeps, so that a run is slow enough to be interrupted after the first verdict
SLOW_CLAIMS = """
import math
import time

import numpy as np

import verify


def _slow_max(z):
    time.sleep(0.25)
    return float(np.max(z))


def _claim(name):
    return verify.inequality(name, statement=r"\\max z \\le \\max z + \\log k", cases=verify.logits,
                             lhs=_slow_max, rhs=lambda z: float(np.max(z)) + math.log(len(z)))


a, b, c, d = (_claim(f"slow-{x}") for x in "abcd")
"""
CLAIMS = [f"slow_claims.py::{x}" for x in "abcd"]
RUN = ["--examples", "3", "--device", "cpu"]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(argv: list[str], cwd: Path, sig: int, after: str, watch: str = "stdout") -> tuple[int, str, str]:
    """Run ``argv``, send ``sig`` once a line of ``watch`` contains ``after``; (exit status, stdout, stderr)."""
    # unbuffered: a progress line must reach us when it is printed, not when a buffer fills at the end of the run
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint, env=env)
    seen = []
    for line in getattr(proc, watch):
        seen.append(line)
        if after in line:
            proc.send_signal(sig)
            break
    out, err = proc.communicate(timeout=120)
    out, err = ("".join(seen) + out, err) if watch == "stdout" else (out, "".join(seen) + err)
    return proc.returncode, out, err


def _verify(*argv: str) -> list[str]:
    return [sys.executable, "-m", "verify.cli", *argv]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _old_report(folder: Path) -> dict[str, bytes]:
    old = Verdict(claim="old-claim", verdict="verified", expected="holds", statement="x = x", source="earlier run")
    write_report([old], folder)
    return _snapshot(folder)


def _assert_marked_partial(partial: Path) -> None:
    doc = json.loads((partial / "verdicts.json").read_text())
    assert doc["interrupted"] is True and doc["verdicts"], doc
    assert {v["claim"] for v in doc["verdicts"]} <= {"slow-a", "slow-b", "slow-c", "slow-d"}
    pages = sorted(partial.glob("*.html")) + sorted(partial.glob("*.md"))
    assert len(pages) >= 4
    for page in pages:
        assert "Interrupted run" in page.read_text(), page.name


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "slow_claims.py").write_text(SLOW_CLAIMS)
    return tmp_path


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_report_keeps_the_old_report_and_marks_the_partial_one(work, sig, status):
    before = _old_report(work / "rep")
    code, out, err = _interrupt(_verify("report", *CLAIMS, *RUN, "--out", "rep"), work, sig, "slow-a")
    assert code == status, out + err
    assert _snapshot(work / "rep") == before
    _assert_marked_partial(work / "rep.partial")
    assert "interrupted" in out and "rep.partial" in err and "Traceback" not in err


def test_interrupted_check_keeps_the_old_json(work, verdict_schema):
    (work / "out.json").write_text('{"earlier": "run"}\n')
    code, out, err = _interrupt(_verify("check", *CLAIMS, *RUN, "--json", "out.json"), work, signal.SIGINT, "slow-a")
    assert code == 130, out + err
    assert (work / "out.json").read_text() == '{"earlier": "run"}\n'
    doc = json.loads((work / "out.json.partial").read_text())
    assert doc["interrupted"] is True and doc["verdicts"][0]["claim"] == "slow-a"
    jsonschema.validate(doc, verdict_schema)


def test_interrupted_regularizer_keeps_its_old_outputs(work):
    (work / "slow_reg.py").write_text("import time\n\n\ndef slow_l2(params):\n    time.sleep(0.3)\n"
                                      "    return sum((p ** 2).sum() for p in params.values())\n")
    (work / "card.json").write_text("{}\n")
    before = _old_report(work / "card")
    argv = _verify("regularizer", "slow_reg.py::slow_l2", "--device", "cpu", "--json", "card.json", "--out", "card")
    code, _, err = _interrupt(argv, work, signal.SIGINT, "checking regularizer", watch="stderr")
    assert code == 130, err
    assert "interrupted (SIGINT)" in err and "Traceback" not in err
    assert (work / "card.json").read_text() == "{}\n" and _snapshot(work / "card") == before


COUNTED_REG = """
import os


def counted_l2(params):
    counted_l2.calls = getattr(counted_l2, "calls", 0) + 1
    if counted_l2.calls > int(os.environ.get("STOP_AFTER_CALLS", "1000000000")):
        raise KeyboardInterrupt  # as Ctrl-C would, once the first check has finished
    return sum((p ** 2).sum() for p in params.values())
"""


def test_an_interrupted_regularizer_saves_the_checks_that_finished(work, monkeypatch):
    """In process, deterministic: interrupted during the second check, the first goes to the marked partials."""
    from verify.cli import main
    from verify.regularizers import check_regularizer

    (work / "counted_reg.py").write_text(COUNTED_REG)
    monkeypatch.syspath_prepend(str(work))
    import counted_reg

    check_regularizer(counted_reg.counted_l2, checks=["well-formed"], device="cpu")
    monkeypatch.setenv("STOP_AFTER_CALLS", str(counted_reg.counted_l2.calls))  # the calls one check makes
    monkeypatch.chdir(work)
    (work / "card.json").write_text("{}\n")
    before = _old_report(work / "card")
    out, err = io.StringIO(), io.StringIO()
    code = main(["regularizer", "counted_reg.py::counted_l2", "--device", "cpu", "--checks", "well-formed,gradient",
                 "--json", "card.json", "--out", "card"], out=out, err=err)
    assert code == 130, err.getvalue()
    assert (work / "card.json").read_text() == "{}\n" and _snapshot(work / "card") == before
    doc = json.loads((work / "card.json.partial").read_text())
    assert doc["interrupted"] is True and [c["claim"] for c in doc["checks"]] == ["well-formed"]
    assert "Interrupted run" in (work / "card.partial" / "index.html").read_text()


PYTEST_FILE = """
import pytest
import slow_claims


@pytest.mark.parametrize("name", "abcd")
def test_claim(name, verify_check):
    verify_check(getattr(slow_claims, name), examples=3)
"""


def test_interrupted_pytest_keeps_the_old_report(work):
    (work / "test_slow.py").write_text(PYTEST_FILE)
    before = _old_report(work / "rep")
    argv = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "--verify-report", "rep", "test_slow.py"]
    code, out, err = _interrupt(argv, work, signal.SIGINT, "PASSED")
    assert code == 130, out + err
    assert _snapshot(work / "rep") == before
    _assert_marked_partial(work / "rep.partial")
    assert "rep.partial" in out


def test_broken_pipe_still_writes_the_json_and_fails(work):
    """`verify check … --json out.json | head -c 20` under pipefail: the JSON is written, the status is not 0."""
    command = " ".join(_verify("check", *CLAIMS[:2], *RUN, "--json", "out.json")) + " | head -c 20"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=work, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0 and len(result.stdout) == 20
    doc = json.loads((work / "out.json").read_text())
    assert [v["claim"] for v in doc["verdicts"]] == ["slow-a", "slow-b"]
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr


def test_an_interrupt_while_writing_the_complete_outputs_sends_the_rest_to_partials(tmp_path, monkeypatch):
    from verify.report import outputs

    before = _old_report(tmp_path / "rep")
    done = Verdict(claim="slow-a", verdict="verified", expected="holds", statement="x", source="s")
    real = outputs.write_report

    def interrupted_once(content, out, *, interrupted=False):
        if not interrupted:
            raise KeyboardInterrupt  # Ctrl-C as the finished report was being written
        return real(content, out, interrupted=True)

    monkeypatch.setattr(outputs, "write_report", interrupted_once)
    with pytest.raises(KeyboardInterrupt):
        outputs.save_outputs([done], json_path=tmp_path / "out.json", report_dir=tmp_path / "rep")
    assert "interrupted" not in json.loads((tmp_path / "out.json").read_text())  # written whole before it
    assert _snapshot(tmp_path / "rep") == before
    assert json.loads((tmp_path / "rep.partial" / "verdicts.json").read_text())["interrupted"] is True
