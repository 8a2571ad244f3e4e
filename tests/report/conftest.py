"""Fixtures for the report tests: real verdicts from a `verify check --examples 5 --json` run.

``data/verdicts.json`` was written by ``verify check --examples 5 --seed 0 --json`` over every
built-in claim (then stored without indentation); it carries every derivation step's statement.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from verify.claims import Verdict, load_verdicts

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def real_verdicts() -> list[Verdict]:
    return load_verdicts((DATA / "verdicts.json").read_text(encoding="utf-8"))


def pick(verdicts: list[Verdict], *ids: str) -> list[Verdict]:
    by_id = {v.claim: v for v in verdicts}
    return [by_id[i] for i in ids]
