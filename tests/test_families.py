"""The built-in library is its family packages' tables: proofs/<family>/ exports FAMILY and CLAIMS.

Importing a family registers nothing; the registry reads the tables. Each family's claims carry its
key, its source (or a note on it) and share one tolerance depth.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import proofs
from verify import Claim, Family, all_claims
from verify.errors import ClaimDefinitionError

ROOT = Path(__file__).resolve().parent.parent
FAMILIES = sorted(info.name for info in pkgutil.iter_modules(proofs.__path__) if info.ispkg)
BUILTIN_CLAIMS = 61


def test_the_library_is_eight_family_packages_and_nothing_else():
    assert FAMILIES == ["critical_points", "curvature", "descent", "gradient_inequality", "gradient_norm_penalty",
                        "optimizers", "penalty_constraint", "softmax_ce"]
    loose = sorted(p.name for p in (ROOT / "proofs").glob("*.py") if p.name != "__init__.py")
    assert not loose, f"modules outside a family package: {loose}"


@pytest.mark.parametrize("key", FAMILIES)
def test_each_family_exports_its_record_and_table(key):
    package = importlib.import_module(f"proofs.{key}")
    assert isinstance(package.FAMILY, Family) and package.FAMILY.key == key
    assert isinstance(package.CLAIMS, tuple) and package.CLAIMS
    for claim in package.CLAIMS:
        assert isinstance(claim, Claim) and claim.family == key
        assert claim.source.startswith(package.FAMILY.source), claim.id


def test_the_registry_reads_exactly_the_tables():
    tables = [c for key in FAMILIES for c in importlib.import_module(f"proofs.{key}").CLAIMS]
    assert len(tables) == BUILTIN_CLAIMS == len({c.id for c in tables})
    assert {c.id for c in all_claims()} == {c.id for c in tables}


def test_importing_a_family_registers_nothing():
    code = ("import proofs.descent, proofs.softmax_ce; from verify.claims import registry; "
            "print(len(registry._REGISTRY))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "0"


def test_family_records_reject_bad_keys_and_depths():
    with pytest.raises(ClaimDefinitionError, match="package name"):
        Family(key="Softmax CE", title="t", source="s")
    with pytest.raises(ClaimDefinitionError, match="depth"):
        Family(key="ok", title="t", source="s", depth=0)
    family = Family(key="ok", title="t", source="src", hypotheses=("h",))
    claim = family.claim(id="x-y", statement="s", symbolic=lambda: None)
    assert (claim.family, claim.source, claim.hypotheses) == ("ok", "src", ("h",))
    assert family.cite("§2") == "src; §2"


def _is_sympy(base) -> bool:
    import ast

    return isinstance(base, ast.Attribute) and getattr(base.value, "id", "") in ("sp", "sympy")


def _case_and_problem_classes() -> set[str]:
    """Every module-level class of proofs/ and every registered case type: what a type switch would name."""
    import ast

    from verify import case_types

    names = set(case_types()) | {"Case"}
    for path in (ROOT / "proofs").rglob("*.py"):
        names |= {n.name for n in ast.parse(path.read_text()).body
                  if isinstance(n, ast.ClassDef) and not any(_is_sympy(b) for b in n.bases)}
    return names


def test_no_type_switches_on_cases_or_problems_in_proofs():
    """Code asks a case or problem (a protocol method), never which type it is."""
    import ast

    all_claims()  # registers every family's case types
    classes = _case_and_problem_classes()
    found = []
    for path in sorted((ROOT / "proofs").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "isinstance" and len(node.args) == 2:
                named = {getattr(n, "id", getattr(n, "attr", "")) for n in ast.walk(node.args[1])}
                if named & classes:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} isinstance(..., {sorted(named & classes)})")
    assert not found, "\n".join(found)
