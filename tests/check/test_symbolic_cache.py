"""The on-disk cache of symbolic parts: a hit skips the derivation, and any edit of the deriving code, a new
version of the libraries or a damaged file derives again (a stale `proved` would be a wrong verdict)."""

from __future__ import annotations

import importlib
import sys
import textwrap

import pytest

from verify import run_claim
from verify.check import _symbolic_cache as cache

FAMILY = '''
import hypothesis.strategies as st
from verify import CaseResult, Claim, SymbolicResult, SymbolicStep, Tolerance, compare_close

CALLS = []


def derive():
    CALLS.append(1)
    return SymbolicResult([SymbolicStep("step", "x = x", STATUS)])


def check(x, ctx):
    return CaseResult(compare_close(x, x, 1.0, Tolerance(ctx.dtype)))


STATUS = "proved"
CLAIM = Claim(id="cached-toy", statement="x = x", source="test", cases=lambda: st.floats(-1, 1), symbolic=derive,
              check=check)
'''


@pytest.fixture
def family(tmp_path, monkeypatch):
    package = tmp_path / "toyfam"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent(FAMILY))
    (package / "helpers.py").write_text("HELPER = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("VERIFY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("VERIFY_SYMBOLIC_CACHE", raising=False)
    sys.modules.pop("toyfam", None)
    module = importlib.import_module("toyfam")
    yield package, module
    sys.modules.pop("toyfam", None)


def _verdict(module):
    return run_claim(module.CLAIM, examples=3, device="cpu")


def test_a_second_run_reads_the_derivation_from_disk(family):
    _, module = family
    first, second = _verdict(module), _verdict(module)
    assert len(module.CALLS) == 1
    assert first.symbolic["steps"][0]["status"] == second.symbolic["steps"][0]["status"] == "proved"
    assert first.symbolic["steps"] == second.symbolic["steps"]


def test_editing_any_file_of_the_package_derives_again(family):
    package, module = family
    _verdict(module)
    (package / "helpers.py").write_text("HELPER = 2  # an edit\n")
    _verdict(module)
    assert len(module.CALLS) == 2


def test_an_edit_that_breaks_the_proof_is_not_hidden_by_the_cache(family):
    package, module = family
    assert _verdict(module).symbolic["steps"][0]["status"] == "proved"
    source = (package / "__init__.py").read_text().replace('STATUS = "proved"', 'STATUS = "refuted"')
    (package / "__init__.py").write_text(source)
    sys.modules.pop("toyfam", None)
    edited = importlib.import_module("toyfam")
    assert _verdict(edited).symbolic["steps"][0]["status"] == "refuted"


def test_new_library_versions_change_the_key(family, monkeypatch):
    _, module = family
    key = cache.symbolic_key(module.CLAIM)
    monkeypatch.setattr(cache, "versions", lambda: {"python": "3.12", "verify": "0.0-other", "sympy": "1.14.0"})
    assert cache.symbolic_key(module.CLAIM) != key


def test_a_damaged_file_is_derived_again_and_the_cache_can_be_turned_off(family, monkeypatch):
    _, module = family
    _verdict(module)
    path = cache.cache_dir() / f"{cache.symbolic_key(module.CLAIM)}.json"
    path.write_text("{not json")
    _verdict(module)
    assert len(module.CALLS) == 2
    monkeypatch.setenv("VERIFY_SYMBOLIC_CACHE", "0")
    _verdict(module)
    _verdict(module)
    assert len(module.CALLS) == 4


def test_closures_and_partials_are_never_cached(family):
    import dataclasses
    import functools

    _, module = family

    def make(status):
        return lambda: module.SymbolicResult([module.SymbolicStep("step", "x = x", status)])

    proved = dataclasses.replace(module.CLAIM, symbolic=make("proved"))
    refuted = dataclasses.replace(module.CLAIM, symbolic=make("refuted"))
    assert cache.symbolic_key(proved) is None
    assert run_claim(refuted, examples=3, device="cpu").symbolic["steps"][0]["status"] == "refuted"
    assert cache.symbolic_key(dataclasses.replace(module.CLAIM, symbolic=functools.partial(module.derive))) is None


def test_a_claim_file_outside_a_package_is_never_cached(tmp_path, monkeypatch):
    (tmp_path / "loose_claim.py").write_text(textwrap.dedent(FAMILY))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("VERIFY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("VERIFY_SYMBOLIC_CACHE", raising=False)
    sys.modules.pop("loose_claim", None)
    module = importlib.import_module("loose_claim")
    try:
        assert cache.symbolic_key(module.CLAIM) is None
        _verdict(module)
        _verdict(module)
        assert len(module.CALLS) == 2
    finally:
        sys.modules.pop("loose_claim", None)
