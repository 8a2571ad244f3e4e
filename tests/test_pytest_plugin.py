"""The pytest plugin: options reach the fixtures, the marker exists, verdicts are summarized."""

from __future__ import annotations

import subprocess
import sys


def test_options_fixtures_and_summary(pytester):
    pytester.makepyfile(
        """
        import hypothesis.strategies as st
        import pytest
        from verify import CaseResult, Claim, Tolerance, compare_close, run_claim
        from verify.pytest_plugin import record_verdict

        CLAIM = Claim(id="plugin-toy", statement="x = x", source="test", cases=lambda: st.floats(0, 1),
                      check=lambda x, ctx: CaseResult(compare_close(x, x, 1.0, Tolerance(ctx.dtype))))

        @pytest.mark.verify_claim("plugin-toy")
        def test_claim(verify_options, verify_device, verify_dtype, request):
            assert verify_options == {"seed": 5, "device": "cpu", "dtype": "float32", "examples": 7}
            assert (verify_device, verify_dtype) == ("cpu", "float32")
            verdict = run_claim(CLAIM, **verify_options)
            assert verdict.numeric["examples"] == 7
            record_verdict(request.config, verdict)
        """
    )
    result = pytester.runpytest_subprocess("--verify-seed", "5", "--verify-examples", "7",
                                "--verify-dtype", "float32", "--strict-markers", "-W", "ignore::DeprecationWarning")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*verify verdicts*", "plugin-toy: verified (expected holds) [[]ok[]]*"])


def test_plugin_is_registered_through_the_entry_point():
    from importlib.metadata import entry_points

    names = {ep.value for ep in entry_points(group="pytest11")}
    assert "verify.pytest_plugin" in names


def test_loading_the_plugin_imports_no_torch():
    code = "import sys, verify.pytest_plugin; print('torch' in sys.modules, 'sympy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


USER_CLAIMS = """
import math

import torch

import verify

half = verify.inequality(
    "lse-half-bound", statement=r"\\mathrm{lse}(z) \\le \\max z + \\tfrac12 \\log k", cases=verify.logits,
    lhs=lambda z: torch.logsumexp(torch.as_tensor(z), -1),
    rhs=lambda z: float(z.max()) + 0.5 * math.log(len(z)))
full = verify.inequality(
    "lse-bound", statement=r"\\mathrm{lse}(z) \\le \\max z + \\log k", cases=verify.logits,
    lhs=lambda z: torch.logsumexp(torch.as_tensor(z), -1),
    rhs=lambda z: float(z.max()) + math.log(len(z)))
"""


def test_verify_check_fails_with_a_readable_account(pytester):
    pytester.makepyfile(user_claims=USER_CLAIMS)
    pytester.makepyfile(
        """
        import user_claims

        def test_half(verify_check):
            verify_check(user_claims.half, examples=50)

        def test_full(verify_check):
            verdict = verify_check(user_claims.full, examples=50)
            assert verdict.verdict.value == "verified"
        """
    )
    # in a subprocess: an in-process run that imports torch a second time breaks torch's C module
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*claim 'lse-half-bound': expected it to hold, got refuted*",
        "*counterexample (lhs <= rhs):*",
        "*obtained  lhs = 0.693147*",
        "*expected  rhs = 0.346574*",
        "*case      = [[]0.0,0.0[]]*",
        "*replay    : verify check */user_claims.py::half --seed 0 --examples 50 --json out.json*",
        "*lse-bound: verified (expected holds) [[]ok[]]*",
        "*1 of 2 verdicts match their expectation*",
    ])


def test_verdicts_from_xdist_workers_reach_one_report(pytester, tmp_path):
    pytest_xdist = __import__("pytest").importorskip("xdist", reason="pytest-xdist is in the test extra")
    assert pytest_xdist
    pytester.makepyfile(user_claims=USER_CLAIMS)
    pytester.makepyfile(
        """
        import pytest
        import user_claims

        @pytest.mark.parametrize("name", ["half", "full"])
        def test_claim(name, verify_check):
            claim = getattr(user_claims, name)
            claim.expected = claim.expected.__class__("refuted" if name == "half" else "holds")
            verify_check(claim, examples=20)
        """
    )
    out = tmp_path / "report"
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning",
                                           "--verify-report", str(out))
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*verify verdicts*", "*2 of 2 verdicts match their expectation*",
                                 f"*verify report: {out}*"])
    from verify import load_verdicts

    verdicts = load_verdicts((out / "verdicts.json").read_text())
    assert sorted(v.claim for v in verdicts) == ["lse-bound", "lse-half-bound"]
    assert {v.claim: v.verdict.value for v in verdicts} == {"lse-bound": "verified", "lse-half-bound": "refuted"}
    assert (out / "index.html").is_file()


def test_bad_verify_options_stop_the_session_at_once(pytester):
    pytester.makepyfile("def test_nothing():\n    pass\n")
    (pytester.path / "a_file").write_text("x")
    for argv, needle in ((["--verify-examples", "0"], "--verify-examples 0"),
                         (["--verify-device", "tpu"], "valid values are auto, cpu, cuda"),
                         (["--verify-report", "a_file"], "is a file")):
        result = pytester.runpytest(*argv)
        assert result.ret == 4  # usage error
        result.stderr.fnmatch_lines([f"*{needle}*"])


def test_verdicts_recorded_in_fixtures_reach_the_summary_and_the_report(pytester, tmp_path):
    """In setup (passing or failing) and in teardown: each verdict is counted once."""
    pytester.makepyfile(user_claims=USER_CLAIMS)
    pytester.makepyfile(
        """
        import pytest
        import user_claims

        @pytest.fixture
        def half_checked(verify_check):
            return verify_check(user_claims.half, examples=10)  # refuted though expected to hold: setup fails

        @pytest.fixture
        def full_checked(verify_check):
            return verify_check(user_claims.full, examples=10)

        @pytest.fixture
        def full_checked_after(verify_check):
            yield
            verify_check(user_claims.full, examples=11)

        def test_half(half_checked):
            pass

        def test_full(full_checked):
            assert full_checked.verdict.value == "verified"

        def test_after(full_checked_after):
            pass
        """
    )
    out = tmp_path / "report"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning",
                                           "--verify-report", str(out))
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*verify verdicts*", "*2 of 3 verdicts match their expectation*"])
    from verify import load_verdicts

    verdicts = load_verdicts((out / "verdicts.json").read_text())
    assert sorted(v.claim for v in verdicts) == ["lse-bound", "lse-bound", "lse-half-bound"]
    assert (out / "lse-bound-2.html").is_file() and (out / "lse-half-bound.html").is_file()
