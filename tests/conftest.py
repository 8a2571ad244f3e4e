"""Shared fixtures. Hypothesis runs derandomized under the `ci` profile (the default here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", database=None, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

DATA = Path(__file__).parent / "data"


@pytest.fixture(autouse=True)
def _bridge_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep generated code out of the user's home during tests (one cache per session); symbolic parts are
    derived every time (a test that monkeypatches a derivation must reach it: tests/check/test_symbolic_cache.py
    turns the cache on for itself)."""
    monkeypatch.setenv("VERIFY_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "bridge-cache"))
    monkeypatch.setenv("VERIFY_SYMBOLIC_CACHE", "0")


@pytest.fixture(scope="session")
def verdict_schema() -> dict:
    import json

    return json.loads((DATA / "verdicts.schema.json").read_text())

pytest_plugins = ["pytester"]
