"""Layering (docs/architecture.md): a lower layer never imports a higher one.

Two checks: a static one over every ``import`` in ``verify/`` and ``proofs/`` (ast), and
a dynamic one that imports each light layer in a subprocess and inspects ``sys.modules``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# layer -> the verify layers it may import
ALLOWED = {
    "errors": set(),
    "claims": {"errors"},
    "symbolic": {"errors", "claims"},
    "numeric": {"errors", "claims"},
    "strategies": {"errors", "claims"},
    "bridge": {"errors", "claims", "symbolic", "numeric", "strategies"},
    "check": {"errors", "claims", "symbolic", "numeric", "strategies", "bridge"},
    "authoring": {"errors", "claims", "numeric", "strategies"},
    "regularizers": {"errors", "claims", "symbolic", "numeric", "strategies", "bridge", "check"},
    "report": {"errors", "claims", "symbolic", "numeric", "strategies", "bridge", "check"},
    "cluster": {"errors", "claims", "numeric", "check"},
    "pytest_plugin": {"errors", "claims", "symbolic", "numeric", "strategies", "bridge", "check",
                      "report", "regularizers", "authoring", "cluster"},
    "cli": {"errors", "claims", "symbolic", "numeric", "strategies", "bridge", "check", "report",
            "regularizers", "authoring", "cluster"},
}
FORBIDDEN_THIRD_PARTY = {"claims": {"torch", "sympy", "numpy"}, "symbolic": {"torch"}, "numeric": {"sympy"},
                         "strategies": {"torch", "sympy"}, "report": {"torch"}}


def _layer_of(path: Path) -> str:
    rel = path.relative_to(ROOT / "verify")
    return rel.parts[0].removesuffix(".py")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_static_layering():
    problems = []
    for path in sorted((ROOT / "verify").rglob("*.py")):
        if path.name == "__init__.py" and path.parent == ROOT / "verify":
            continue  # the public facade re-exports lazily from every layer
        layer = _layer_of(path)
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "verify" and len(parts) > 1 and parts[1] != layer:
                if parts[1] not in ALLOWED.get(layer, set()):
                    problems.append(f"{path.relative_to(ROOT)} ({layer}) imports {name}")
            if parts[0] in FORBIDDEN_THIRD_PARTY.get(layer, set()):
                problems.append(f"{path.relative_to(ROOT)} ({layer}) imports {parts[0]}")
    assert not problems, "\n".join(problems)


def test_proofs_use_only_public_names():
    import verify

    problems = []
    for path in sorted((ROOT / "proofs").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("verify"):
                if node.module != "verify":
                    problems.append(f"{path.relative_to(ROOT)} imports from {node.module}")
                problems += [f"{path.relative_to(ROOT)} imports private verify.{a.name}" for a in node.names
                             if a.name not in verify.__all__]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("module", "absent"), [
    ("verify", {"torch", "sympy", "hypothesis", "numpy"}),
    ("verify.claims", {"torch", "sympy", "numpy", "hypothesis"}),
    ("verify.symbolic", {"torch"}),
    ("verify.numeric", {"sympy"}),
    ("verify.strategies", {"torch", "sympy"}),
    ("verify.report", {"torch", "sympy", "numpy"}),
    ("verify.pytest_plugin", {"torch", "sympy", "numpy"}),
    ("verify.cli", {"torch", "sympy"}),
])
def test_import_does_not_pull_heavy_modules(module, absent):
    code = f"import sys, {module}; print(sorted(m for m in {sorted(absent)!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", f"importing {module} imported {out.stdout.strip()}"


def test_every_public_name_imports():
    import verify

    assert len(verify.__all__) == len(set(verify.__all__))
    for name in verify.__all__:
        assert getattr(verify, name) is not None, name
