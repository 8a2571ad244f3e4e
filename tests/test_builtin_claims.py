"""Every built-in claim, run as a test: its verdict must match its expectation.

Runs at a modest example count by default (``--verify-examples`` changes it); the ``slow``
marker runs thousands of cases per claim.
"""

from __future__ import annotations

import pytest

from verify import all_claims, run_claim
from verify.pytest_plugin import record_verdict

CLAIMS = all_claims()
DEFAULT_EXAMPLES = 30


def _assert_matches(verdict) -> None:
    if verdict.matches_expectation:
        return
    lines = [f"{verdict.claim}: expected it to {'hold' if verdict.expected.value == 'holds' else 'be refuted'}, "
             f"got {verdict.verdict.value}", f"  {verdict.message}"]
    numeric = verdict.numeric or {}
    if numeric:
        lines.append(f"  examples {numeric.get('examples')}, max abs err {numeric.get('max_abs_err')}, "
                     f"max rel err {numeric.get('max_rel_err')}, tolerance {numeric.get('tolerance')}")
    if verdict.counterexample:
        lines.append(f"  counterexample: {verdict.counterexample.get('case')}")
    pytest.fail("\n".join(lines), pytrace=False)


@pytest.mark.parametrize("claim", CLAIMS, ids=[c.id for c in CLAIMS])
def test_builtin_claim(claim, verify_options, request):
    options = {"examples": DEFAULT_EXAMPLES, **verify_options}
    verdict = run_claim(claim, **options)
    record_verdict(request.config, verdict)
    _assert_matches(verdict)


@pytest.mark.slow
@pytest.mark.parametrize("claim", CLAIMS, ids=[c.id for c in CLAIMS])
def test_builtin_claim_thousands(claim, verify_options, request):
    verdict = run_claim(claim, **{**verify_options, "examples": 2000})
    record_verdict(request.config, verdict)
    _assert_matches(verdict)
