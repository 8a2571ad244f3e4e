"""The project's own style checks: ruff over the code base, and the size limit of a module."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: the most lines a module may have: past it, split the module along a seam of its own
MODULE_LINE_LIMIT = 400
CODE_FOLDERS = ("verify", "proofs", "tests", "bench", "tools", "docs")


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (pip install -e '.[test]' installs it)")
    result = subprocess.run([ruff, "check", "--output-format", "concise", *CODE_FOLDERS],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _python_files():
    for folder in CODE_FOLDERS:
        yield from sorted((ROOT / folder).rglob("*.py"))


def test_modules_stay_under_the_line_limit():
    too_long = [f"{path.relative_to(ROOT)}: {n} lines" for path in _python_files()
                if (n := len(path.read_text(encoding="utf-8").splitlines())) > MODULE_LINE_LIMIT]
    assert not too_long, f"modules over {MODULE_LINE_LIMIT} lines (split them):\n" + "\n".join(too_long)


def test_the_limit_check_sees_the_code():
    """The walk above finds the engine and the proof library (a typo in a folder name must not pass silently)."""
    names = {path.relative_to(ROOT).as_posix() for path in _python_files()}
    assert {"verify/check/__init__.py", "proofs/descent/claims.py", "tests/test_style.py"} <= names
