"""The README's user-claim walkthrough works as written: same commands, same output (timings aside)."""

from __future__ import annotations

import io
import re
import shlex
from pathlib import Path

from verify.cli import main

README = Path(__file__).resolve().parent.parent / "README.md"
TIMING = re.compile(r"\d+\.\ds$")


def _block_after(text: str, marker: str) -> str:
    start = text.index(marker)
    fence = text.index("```", start)
    body_start = text.index("\n", fence) + 1
    return text[body_start:text.index("```", body_start)]


def _sessions(block: str) -> list[tuple[list[str], list[str]]]:
    """``$ command`` lines with the output lines that follow each."""
    runs: list[tuple[list[str], list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            runs.append((shlex.split(line[2:]), []))
        else:
            runs[-1][1].append(line)
    return runs


def _normalize(lines: list[str]) -> list[str]:
    return [TIMING.sub("<t>", line.rstrip()) for line in lines if line.strip()]


def _run_block(block: str) -> None:
    for argv, expected in _sessions(block):
        assert argv[0] == "verify"
        out, err = io.StringIO(), io.StringIO()
        code = main(argv[1:], out=out, err=err)
        assert code in (0, 1), err.getvalue()
        assert _normalize(out.getvalue().splitlines()) == _normalize(expected), err.getvalue()


def test_readme_user_claim_walkthrough(tmp_path, monkeypatch):
    text = README.read_text(encoding="utf-8")
    source = _block_after(text, "<!-- readme-example: my_claims.py -->")
    monkeypatch.chdir(tmp_path)
    Path("my_claims.py").write_text(source)
    _run_block(_block_after(text, "<!-- readme-run: refuted -->"))
    # the fix the README describes
    fixed = source.replace("0.5 * math.log(len(z))", "math.log(len(z))").replace(r"\tfrac12 \log k", r"\log k")
    assert fixed != source
    Path("my_claims.py").write_text(fixed)
    _run_block(_block_after(text, "<!-- readme-run: verified -->"))


def test_readme_claims_over_architectures(tmp_path, monkeypatch):
    """The modules example runs as written: convexity of a network's loss refuted on the shrunk network, the
    batch Jensen inequality verified on every architecture."""
    text = README.read_text(encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    Path("my_module_claims.py").write_text(_block_after(text, "<!-- readme-example: my_module_claims.py -->"))
    _run_block(_block_after(text, "<!-- readme-run: modules -->"))
    import json

    jensen = json.loads(Path("out.json").read_text())["verdicts"][1]
    assert set(jensen["numeric"]["boundary_cases_hit"]) >= {"mlp", "cnn", "residual", "attention", "width-1",
                                                             "zero-weights", "single-example"}


def test_readme_regularizer_example(tmp_path, monkeypatch):
    """The README abbreviates the messages (…): the check, its verdict and the totals must match."""
    text = README.read_text(encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    Path("my_regs.py").write_text(_block_after(text, "<!-- readme-example: my_regs.py -->"))
    [(argv, expected)] = _sessions(_block_after(text, "<!-- readme-run: regularizer -->"))
    out, err = io.StringIO(), io.StringIO()
    assert main(argv[1:], out=out, err=err) == 0, out.getvalue() + err.getvalue()
    got = out.getvalue().splitlines()

    assert _verdict_columns(got) == _verdict_columns(expected)
    assert expected[-1] in got
    assert (tmp_path / "card" / "index.html").is_file()


def _verdict_columns(lines):
    return [line.split()[:3] for line in lines if line.startswith(("ok ", "BAD ", "-- "))]


def test_readme_own_model_walkthrough(tmp_path, monkeypatch):
    """A new user's CNN, data and regularizer in their own files, one command: as the README shows."""
    text = README.read_text(encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    Path("my_regs.py").write_text(_block_after(text, "<!-- readme-example: my_regs.py -->"))
    Path("my_model.py").write_text(_block_after(text, "<!-- readme-example: my_model.py -->"))
    [(argv, expected)] = _sessions(_block_after(text, "<!-- readme-run: own-model -->"))
    out, err = io.StringIO(), io.StringIO()
    assert main(argv[1:], out=out, err=err) == 0, out.getvalue() + err.getvalue()
    got = out.getvalue().splitlines()
    assert _verdict_columns(got) == _verdict_columns(expected)
    assert expected[-1] in got
    # the numbers the README quotes are the ones the run prints
    for quoted in ("R(θ0) = 20.0414", "M ≈ 98.86", "-0.08371 < 0 at θ0", "1.143 → 1.095 (-4%)"):
        assert quoted in out.getvalue(), quoted
