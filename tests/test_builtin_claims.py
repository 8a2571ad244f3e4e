"""Every built-in claim, run as a test: its verdict must match its expectation.

Runs at a modest example count by default (``--verify-examples`` changes it); the ``slow``
marker runs thousands of cases per claim. ``--verify-report DIR`` writes their report,
also under pytest-xdist (``-n 2``).
"""

from __future__ import annotations

import pytest

from verify import all_claims

CLAIMS = all_claims()
DEFAULT_EXAMPLES = 30


@pytest.mark.parametrize("claim", CLAIMS, ids=[c.id for c in CLAIMS])
def test_builtin_claim(claim, verify_check):
    verify_check(claim, examples=DEFAULT_EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("claim", CLAIMS, ids=[c.id for c in CLAIMS])
def test_builtin_claim_thousands(claim, verify_check):
    verify_check(claim, examples=2000)
