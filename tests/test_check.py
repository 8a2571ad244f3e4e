"""The engine: verdict rules, re-check, errors, tolerances at boundaries, determinism."""

from __future__ import annotations

import json
import math

import hypothesis.strategies as st
import pytest

from verify import (
    CaseResult,
    Claim,
    InvalidInputError,
    SymbolicResult,
    SymbolicStep,
    Tolerance,
    compare_close,
    compare_leq,
    compare_nonfinite,
    run_claim,
)
from verify.check import NumericOutcome, combine
from verify.claims import VerdictKind, dump_verdicts

TOL = Tolerance("float64")


def equality_claim(formula, claim_id="toy-equality", recheck=None, **kw) -> Claim:
    def check(x, ctx):
        got, want = formula(x), x * x
        return CaseResult(compare_close(got, want, max(abs(x * x), 1e-300), Tolerance(ctx.dtype)))

    return Claim(id=claim_id, statement="x^2 = x x", source="test", cases=lambda: st.floats(-1e3, 1e3),
                 check=check, recheck=recheck, **kw)


def test_true_identity_is_verified():
    v = run_claim(equality_claim(lambda x: x**2), examples=50, device="cpu")
    assert v.verdict is VerdictKind.VERIFIED and v.matches_expectation
    assert v.numeric["examples"] == 50


def test_false_identity_is_refuted_with_shrunk_counterexample():
    v = run_claim(equality_claim(lambda x: x**2 + 1.0), examples=50, device="cpu")
    assert v.verdict is VerdictKind.REFUTED
    assert v.counterexample["case"] == 0.0  # shrunk to the simplest failing input
    assert v.counterexample["recheck"]["status"] == "violated"


def test_relative_violation_of_1e_minus_5_is_refuted():
    v = run_claim(equality_claim(lambda x: x * x * (1 + 1e-5)), examples=50, device="cpu")
    assert v.verdict is VerdictKind.REFUTED


def test_round_off_is_not_a_counterexample():
    # (x/3)*3 squared differs from x*x by a few ulps: within c·eps·scale
    v = run_claim(equality_claim(lambda x: ((x / 3.0) * 3.0) ** 2), examples=100, device="cpu")
    assert v.verdict is VerdictKind.VERIFIED


def test_equality_at_the_boundary_of_an_inequality_holds():
    assert compare_leq(1.0, 1.0, 1.0, TOL).holds
    assert compare_leq(1.0 + 1e-15, 1.0, 1.0, TOL).holds
    assert compare_leq(1.0 + 1e-5, 1.0, 1.0, TOL).violated


def test_unconfirmed_violation_is_inconclusive():
    recheck = lambda x, ctx: CaseResult(compare_close(x * x, x * x, 1.0, TOL))
    v = run_claim(equality_claim(lambda x: x**2 + 1.0, recheck=recheck), examples=20, device="cpu")
    assert v.verdict is VerdictKind.INCONCLUSIVE
    assert "re-check" in v.message
    assert not v.matches_expectation


def test_exception_in_check_is_an_error_verdict():
    def boom(x):
        raise ValueError("bad shape (3,) vs (4,)")

    v = run_claim(equality_claim(boom), examples=5, device="cpu")
    assert v.verdict is VerdictKind.ERROR
    assert "ValueError" in v.message and "bad shape" in v.message


def test_nan_is_an_error_verdict():
    v = run_claim(equality_claim(lambda x: math.nan), examples=5, device="cpu")
    assert v.verdict is VerdictKind.ERROR and "non-finite" in v.message


def _nonfinite_claim(recheck_blows_up: bool) -> Claim:
    def check(x, ctx):  # 1/x against the oracle 0 at x = 0: the formula blows up, the oracle does not
        got = math.inf if x == 0 else x * x
        return CaseResult(compare_nonfinite(got, 0.0) if x == 0 else compare_close(got, x * x, x * x, TOL))

    def recheck(x, ctx):
        return CaseResult(compare_nonfinite(math.nan, 0.0) if recheck_blows_up else compare_close(0.0, 0.0, 0.0, TOL))

    return Claim(id="toy-nonfinite", statement="s", source="t", cases=lambda: st.sampled_from([1.0, 0.0, 2.0]),
                 check=check, recheck=recheck)


def test_a_formula_that_blows_up_where_the_oracle_does_not_is_refuted_once_rechecked():
    v = run_claim(_nonfinite_claim(recheck_blows_up=True), examples=20, device="cpu")
    assert v.verdict is VerdictKind.REFUTED, v.message
    assert "gives nan where the oracle gives 0" in v.message
    v = run_claim(_nonfinite_claim(recheck_blows_up=False), examples=20, device="cpu")
    assert v.verdict is VerdictKind.INCONCLUSIVE, v.message


def test_compare_nonfinite_needs_a_non_finite_obtained_and_a_finite_expected():
    assert compare_nonfinite(math.inf, 1.0).violated and compare_nonfinite(math.inf, 1.0).slack == -math.inf
    for bad in ((1.0, 1.0), (math.nan, math.inf)):
        with pytest.raises(InvalidInputError, match="compare_close"):
            compare_nonfinite(*bad)


def test_wrong_return_type_is_an_error_verdict():
    claim = Claim(id="toy-wrong-type", statement="s", source="t", cases=lambda: st.just(1.0),
                  check=lambda x, ctx: 1.0)
    v = run_claim(claim, examples=2, device="cpu")
    assert v.verdict is VerdictKind.ERROR and "CaseResult" in v.message


def test_symbolic_exception_is_an_error_verdict():
    def sym():
        raise RuntimeError("sympy gave up")

    claim = Claim(id="toy-sym-error", statement="s", source="t", symbolic=sym)
    v = run_claim(claim, device="cpu")
    assert v.verdict is VerdictKind.ERROR and "sympy gave up" in v.message


def test_time_limit_zero_is_inconclusive_and_cut_short():
    v = run_claim(equality_claim(lambda x: x**2), examples=10, device="cpu", time_limit=0.0)
    assert v.verdict is VerdictKind.INCONCLUSIVE
    assert v.numeric["cut_short"]


PROVED = SymbolicResult([SymbolicStep("s", "x", "proved")])
CHECKED = SymbolicResult([SymbolicStep("s", "x", "checked")])
SYM_REFUTED = SymbolicResult([SymbolicStep("s", "x", "refuted")])


@pytest.mark.parametrize(("symbolic", "numeric", "expected"), [
    (PROVED, "agree", "proved"),
    (None, "agree", "verified"),
    (CHECKED, "agree", "verified"),
    (PROVED, "counterexample", "refuted"),
    (None, "counterexample", "refuted"),
    (SYM_REFUTED, "agree", "refuted"),
    (SYM_REFUTED, "none", "refuted"),
    (PROVED, "none", "proved"),
    (CHECKED, "none", "inconclusive"),
    (PROVED, "error", "error"),
    (PROVED, "undecidable", "inconclusive"),
    (None, "unconfirmed", "inconclusive"),
])
def test_combine_rule(symbolic, numeric, expected):
    kind, message = combine(symbolic, NumericOutcome(numeric, message="why"))
    assert kind.value == expected
    if symbolic is PROVED and numeric == "counterexample":
        assert "disagree" in message


def test_same_seed_same_json_timings_aside():
    def strip(v):
        doc = json.loads(dump_verdicts([v]))["verdicts"][0]
        doc.pop("elapsed_s")
        return doc

    claim = equality_claim(lambda x: x**2 + 1e-3)
    a, b = (run_claim(claim, examples=30, seed=7, device="cpu") for _ in range(2))
    assert strip(a) == strip(b)
    noisy = equality_claim(lambda x: ((x / 3.0) * 3.0) ** 2)
    c, d = (run_claim(noisy, examples=30, seed=s, device="cpu") for s in (7, 8))
    assert strip(c)["numeric"] != strip(d)["numeric"]  # another seed, other cases


def test_bad_options_raise_clear_errors():
    from verify import InvalidInputError

    with pytest.raises(InvalidInputError, match="examples"):
        run_claim(equality_claim(lambda x: x**2), examples=0)
    with pytest.raises(InvalidInputError, match="valid"):
        run_claim(equality_claim(lambda x: x**2), dtype="float8")


def test_same_seed_same_cases_whatever_local_modules_are_imported(tmp_path, monkeypatch):
    """Hypothesis mixes constants of imported local modules into generation; the engine must not."""
    import importlib
    import json

    import hypothesis.strategies as st

    from verify import inequality, run_claim

    claim = inequality("float-bound", statement="x \\le 20", cases=st.lists(st.floats(-10, 10), min_size=1),
                       lhs=lambda xs: max(xs), rhs=lambda xs: 20.0)

    def plain(v):
        doc = v.to_json()
        doc.pop("elapsed_s")
        return json.dumps(doc, sort_keys=True)

    before = plain(run_claim(claim, examples=200, seed=3))
    consts = ", ".join(f"{i * 0.6180339887 + 0.123:.10f}" for i in range(400))
    ints = ", ".join(map(str, range(7, 900, 7)))
    (tmp_path / "many_constants.py").write_text(f"VALUES = [{consts}]\nINTS = [{ints}]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.import_module("many_constants")
    assert plain(run_claim(claim, examples=200, seed=3)) == before


def _slow_true_claim(symbolic=None) -> Claim:
    """x² = x·x, with each case taking 0.1 s: a 1 s limit decides a few of 40 cases (4 s of work), never all."""
    import time as _time

    def check(x, ctx):
        _time.sleep(0.1)
        return CaseResult(compare_close(x * x, x**2, 1.0, Tolerance(ctx.dtype)))

    return Claim(id="slow-true", statement="x^2 = x x", source="t", cases=lambda: st.floats(-2, 2), check=check,
                 symbolic=symbolic)


@pytest.mark.parametrize("symbolic", [None, lambda: PROVED], ids=["numeric-only", "with-proof"])
def test_a_search_cut_short_by_the_time_limit_is_never_verified(symbolic):
    """A true claim whose search the limit cuts short is inconclusive (it was `ok verified` before), and says
    how many cases were decided."""
    v = run_claim(_slow_true_claim(symbolic), examples=40, device="cpu", time_limit=1.0)
    assert v.numeric["cut_short"] and 0 < v.numeric["examples"] < 40
    assert v.verdict is VerdictKind.INCONCLUSIVE, v.message
    assert f"{v.numeric['examples']} cases decided" in v.message and "of the 40 requested" in v.message


def test_a_counterexample_found_before_the_time_limit_still_refutes():
    def check(x, ctx):
        import time as _time

        _time.sleep(0.05)
        return CaseResult(compare_leq(x, 0.5, 1.0, Tolerance(ctx.dtype)))

    claim = Claim(id="slow-false", statement="x <= 0.5", source="t", relation="inequality",
                  cases=lambda: st.sampled_from([1.0, 0.0]), check=check)
    v = run_claim(claim, examples=40, device="cpu", time_limit=0.5)
    assert v.verdict is VerdictKind.REFUTED  # the time limit never turns a counterexample into anything else


@pytest.mark.parametrize("threads", [1, 2])
def test_blas_runs_on_the_requested_threads_inside_a_check_and_the_verdict_records_it(threads):
    """torch.set_num_threads does not reach numpy's and scipy's BLAS; run_claim limits it too (threadpoolctl)."""
    import numpy as np  # noqa: F401 - loads the BLAS numpy links
    from threadpoolctl import threadpool_info

    if not any(info["user_api"] == "blas" for info in threadpool_info()):
        pytest.skip("numpy here links no BLAS library threadpoolctl can limit (the verdict then records None)")
    seen = set()

    def check(x, ctx):
        seen.update(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas")
        return CaseResult(compare_close(x, x, 1.0, Tolerance(ctx.dtype)))

    claim = Claim(id="toy-blas", statement="x = x", source="test", cases=lambda: st.floats(-1, 1), check=check)
    v = run_claim(claim, examples=5, device="cpu", threads=threads)
    assert seen == {threads} and v.blas_threads == threads
    assert json.loads(json.dumps(v.to_json()))["blas_threads"] == threads
