"""The guide "Adding a claim family" (docs/adding-a-family.md), followed as a new user would.

Its worked example, docs/examples/lse_smooth/, is a family package outside the built-in library. With
no edit anywhere else it must show up in `verify list`, `verify check`, `verify report` and pytest when
its package is named, while the built-in library stays as it is; the guide quotes the example's files
verbatim; and each of its checks can fail.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from verify.check import run_claim
from verify.claims import all_claims, library_claims
from verify.cli import main

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "adding-a-family.md"
EXAMPLE = ROOT / "docs" / "examples" / "lse_smooth"
IDS = ["lse-hessian", "lse-is-1-smooth", "lse-is-quarter-smooth"]
BUILTIN_CLAIMS = 61


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_the_guide_quotes_the_example_files_verbatim():
    blocks = re.findall(r"```python\n# docs/examples/lse_smooth/(\w+\.py)\n(.*?)```", GUIDE.read_text(), re.S)
    assert sorted(name for name, _ in blocks) == sorted(p.name for p in EXAMPLE.glob("*.py"))
    for name, text in blocks:
        assert text == (EXAMPLE / name).read_text(), f"the guide's {name} differs from the example's"


def test_the_readme_links_the_guide():
    assert "docs/adding-a-family.md" in (ROOT / "README.md").read_text()


def test_list_shows_the_family_only_when_named_and_the_builtin_library_is_unchanged():
    code, out, _ = _cli("list", "--library", str(EXAMPLE))
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == IDS
    code, out, _ = _cli("list", "--json")
    ids = [row["claim"] for row in json.loads(out)]
    assert code == 0 and len(ids) == BUILTIN_CLAIMS and not set(IDS) & set(ids)
    assert len({c.id for c in all_claims()} - set(IDS)) == BUILTIN_CLAIMS


def test_check_and_report_by_folder(tmp_path):
    out_json = tmp_path / "out.json"
    code, out, err = _cli("check", "--library", str(EXAMPLE), "--examples", "40", "--device", "cpu",
                          "--json", str(out_json), "--quiet")
    assert code == 0, out + err
    verdicts = json.loads(out_json.read_text())["verdicts"]
    assert {v["claim"]: v["verdict"] for v in verdicts} == {
        "lse-hessian": "proved", "lse-is-1-smooth": "verified", "lse-is-quarter-smooth": "refuted"}
    refuted = next(v for v in verdicts if v["verdict"] == "refuted")
    assert refuted["ref"] == f"{EXAMPLE}::lse-is-quarter-smooth"  # replays without --library
    code, out, _ = _cli("check", "--replay", str(out_json), "--device", "cpu")
    assert code == 0 and "lse-is-quarter-smooth: replayed counterexample → violated" in out
    code, out, _ = _cli("report", "--from", str(out_json), "--out", str(tmp_path / "rep"))
    assert code == 0, out
    for claim_id in IDS:
        assert (tmp_path / "rep" / f"{claim_id}.html").is_file()


def test_check_by_dotted_name_from_its_folder():
    result = subprocess.run([sys.executable, "-m", "verify.cli", "check", "lse_smooth:lse-is-quarter-smooth",
                             "--examples", "20", "--quiet"], cwd=EXAMPLE.parent, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 of 1 verdicts match" in result.stdout


def test_pytest_collects_one_test_per_claim(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--verify-examples",
                             "20", "--verify-library", str(EXAMPLE)], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "3 passed" in result.stdout and "3 of 3 verdicts match their expectation" in result.stdout


def test_an_unknown_library_is_a_usage_error(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "__init__.py").write_text("")
    code, _, err = _cli("list", "--library", str(tmp_path / "empty"))
    assert code == 2 and "holds no claim family" in err
    code, _, err = _cli("list", "--library", "no_such_package_xyz")
    assert code == 2 and "Cannot import the claim library" in err


@pytest.fixture(scope="module")
def family():
    claims = {c.id: c for c in library_claims(str(EXAMPLE))}
    import lse_smooth.numeric as numeric  # the folder's parent is on sys.path once the library is loaded

    return claims, numeric


def test_a_hessian_without_its_off_diagonal_part_is_refuted(family):
    claims, numeric = family

    def diagonal_only(case, ctx):
        z = torch.as_tensor(case, dtype=torch.float64)
        p = torch.softmax(z, -1)
        return numeric._judge_entries(torch.diag(p - p * p), numeric.autograd_hessian(z), case,
                                      numeric.Tolerance("float64", numeric.FAMILY.depth))

    wrong = claims["lse-hessian"]
    wrong = type(wrong)(id="lse-hessian-diagonal-only", statement=wrong.statement, source=wrong.source,
                        cases=wrong.cases, check=diagonal_only, recheck=diagonal_only)
    verdict = run_claim(wrong, examples=30, device="cpu")
    assert verdict.verdict.value == "refuted"


def test_a_bound_below_one_half_is_refuted_and_one_half_holds(family):
    claims, numeric = family
    smooth = claims["lse-is-1-smooth"]

    def with_bound(b):
        return type(smooth)(id=f"lse-bound-{b}".replace(".", "p"), statement="", source="", relation="inequality",
                            cases=smooth.cases, check=lambda c, ctx: numeric.smoothness_check(c, ctx, lambda k: b),
                            recheck=lambda c, ctx: numeric.smoothness_recheck(c, ctx, lambda k: b))

    assert run_claim(with_bound(0.4), examples=30, device="cpu").verdict.value == "refuted"
    assert run_claim(with_bound(0.5), examples=30, device="cpu").verdict.value == "verified"


def test_the_recheck_is_independent_arithmetic(family):
    _, numeric = family
    result = numeric.smoothness_recheck(np.array([0.0, 0.0]), None, lambda k: 0.25)
    assert result.comparison.status == "violated" and result.tolerance == "mpmath 50 digits"
    assert abs(result.details["lambda_max"] - 0.5) < 1e-15
