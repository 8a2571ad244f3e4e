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
    result = pytester.runpytest("--verify-seed", "5", "--verify-examples", "7",
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
