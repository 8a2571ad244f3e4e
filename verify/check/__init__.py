"""Run a claim: symbolic part, numeric part over generated cases, worst-case search → Verdict.

The verdict rules of ARCHITECTURE.md live in :func:`combine`, written once:

* a numeric counterexample that survives the independent re-check ⇒ ``refuted``,
  whatever the symbolic part said (a contradicting symbolic "proof" is reported);
  an exact symbolic counterexample (a step with status ``refuted``) ⇒ ``refuted``;
* symbolic proof and numeric agreement ⇒ ``proved``; numeric agreement alone ⇒ ``verified``;
* an exception or non-finite value in the claim's own code ⇒ ``error``;
  numbers that cannot decide ⇒ ``inconclusive``.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from verify.claims import (
    CaseResult,
    CheckContext,
    Claim,
    SymbolicResult,
    Verdict,
    VerdictKind,
    claim_ref,
    to_plain,
    versions,
)
from verify.claims.evidence import distribution, within_tolerance_note
from verify.errors import InvalidInputError

__all__ = ["NumericOutcome", "combine", "replay", "run_claim", "run_claims"]


@dataclass
class NumericOutcome:
    """What the numeric search found.

    Attributes:
        status: ``agree`` (no counterexample), ``counterexample`` (survived the
            re-check), ``unconfirmed`` (a violation the re-check did not confirm),
            ``error`` (the claim's code failed), ``undecidable`` (no case could be
            decided) or ``none`` (the claim has no numeric part).
        evidence: the ``numeric`` block of the verdict.
        counterexample: the shrunk case and its numbers, for ``counterexample``.
        message: the reason, for ``error``/``unconfirmed``/``undecidable``.
    """

    status: str
    evidence: dict[str, Any] | None = None
    counterexample: dict[str, Any] | None = None
    message: str = ""


def combine(symbolic: SymbolicResult | None, numeric: NumericOutcome) -> tuple[VerdictKind, str]:
    """The verdict rule: combine the symbolic and numeric parts of one claim.

    >>> combine(None, NumericOutcome("agree"))[0].value
    'verified'
    >>> combine(None, NumericOutcome("counterexample"))[0].value
    'refuted'
    """
    proved = symbolic is not None and symbolic.proved
    sym_refuted = symbolic.refuted if symbolic is not None else []
    if numeric.status == "counterexample":
        note = (" The symbolic part claimed a proof: the two parts disagree, which is a bug "
                "in the derivation or in the numeric check." if proved else "")
        return VerdictKind.REFUTED, "A counterexample survived the independent re-check." + note
    if sym_refuted:
        names = ", ".join(s.name for s in sym_refuted)
        return VerdictKind.REFUTED, f"Exact symbolic counterexample in step(s): {names}."
    if numeric.status == "error":
        return VerdictKind.ERROR, numeric.message
    if numeric.status in ("undecidable", "unconfirmed"):
        return VerdictKind.INCONCLUSIVE, numeric.message
    if numeric.status == "agree":
        if proved:
            return VerdictKind.PROVED, f"Proved symbolically ({symbolic.sizes}) and checked numerically."
        msg = "No counterexample in the generated cases."
        if symbolic is not None and not proved:
            open_steps = [s.name for s in symbolic.steps if s.status != "proved"]
            msg += f" Symbolic steps not proved: {', '.join(open_steps) or 'none given'}."
        return VerdictKind.VERIFIED, msg
    if numeric.status == "none":
        if proved:
            return VerdictKind.PROVED, f"Proved symbolically ({symbolic.sizes})."
        return VerdictKind.INCONCLUSIVE, "The symbolic derivation is incomplete and there is no numeric check."
    raise InvalidInputError(f"Unknown numeric status {numeric.status!r}.")


class _Violation(Exception):
    """Raised inside the Hypothesis search so that it shrinks a violating case."""


class _ClaimCrashed(Exception):
    """Raised inside the search when the claim's own code fails."""


@dataclass
class _Search:
    claim: Claim
    ctx: CheckContext
    deadline: float | None
    checked: int = 0
    skipped: int = 0
    undecidable: int = 0
    max_abs_err: float = 0.0
    max_rel_err: float = 0.0
    tightest_ratio: float | None = None
    min_slack: float | None = None
    tags: set[str] = field(default_factory=set)
    worst: tuple[Any, CaseResult] | None = None
    failure: tuple[Any, CaseResult] | None = None
    crash: tuple[Any, str] | None = None
    tolerance: str = ""
    undecidable_reason: str = ""
    samples: list[float] = field(default_factory=list)

    def run_case(self, case: Any) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.skipped += 1
            return
        try:
            result = self.claim.check(case, self.ctx)  # type: ignore[misc]
        except Exception as exc:  # the claim's own code failed: an `error` verdict
            self.crash = (case, _describe_exception(exc))
            raise _ClaimCrashed from exc
        problem = _malformed(result)
        if problem:
            self.crash = (case, problem)
            raise _ClaimCrashed
        self._record(case, result)
        if result.comparison.status == "violated":
            self.failure = (case, result)
            raise _Violation

    def _record(self, case: Any, result: CaseResult) -> None:
        c = result.comparison
        self.tags.update(result.tags)
        self.tolerance = result.tolerance or self.tolerance
        if c.status == "undecidable":
            self.undecidable += 1
            self.undecidable_reason = str(result.details.get("reason", "")) or self.undecidable_reason
            return
        self.checked += 1
        self.max_abs_err = max(self.max_abs_err, c.abs_err)
        self.max_rel_err = max(self.max_rel_err, c.rel_err)
        # inequalities: the ratio lhs/rhs (undefined when rhs <= 0: such cases are not in the histogram)
        sample = c.ratio if self.claim.relation == "inequality" else c.rel_err
        if sample is not None and math.isfinite(sample):
            self.samples.append(float(sample))
        if c.ratio is not None:
            self.tightest_ratio = c.ratio if self.tightest_ratio is None else max(self.tightest_ratio, c.ratio)
        if self.min_slack is None or c.slack < self.min_slack:
            self.min_slack = c.slack
            self.worst = (case, result)
        try:
            import hypothesis

            hypothesis.target(-c.slack, label="violation")
        except Exception:  # target() outside a search, or called twice: not essential
            pass

    def evidence(self) -> dict[str, Any]:
        worst = None
        if self.worst is not None:
            case, res = self.worst
            worst = {"case": to_plain(case), "comparison": to_plain(res.comparison),
                     "tags": list(res.tags), "details": to_plain(res.details)}
        return {
            "examples": self.checked,
            "examples_requested": self.ctx.examples,
            "undecidable": self.undecidable,
            "skipped_after_time_limit": self.skipped,
            "cut_short": self.skipped > 0,
            "max_abs_err": self.max_abs_err if self.checked else None,
            "max_rel_err": self.max_rel_err if self.checked else None,
            "tightest_ratio": self.tightest_ratio,
            "min_slack": self.min_slack,
            "tolerance": self.tolerance or None,
            "relation": self.claim.relation,
            "boundary_cases_hit": sorted(self.tags),
            "worst_case": worst,
            "distribution": distribution(self.samples, self.claim.relation),
        }


def _describe_exception(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" (at {frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _malformed(result: Any) -> str:
    if not isinstance(result, CaseResult):
        return f"the check returned {type(result).__name__}, expected a verify.CaseResult"
    c = result.comparison
    for name in ("lhs", "rhs", "scale"):
        value = getattr(c, name)
        if not math.isfinite(value):
            return f"the check produced a non-finite {name} ({value}); the claim's code yields NaN/inf here"
    return ""


def _search(claim: Claim, ctx: CheckContext, deadline: float | None) -> NumericOutcome:
    import hypothesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    state = _Search(claim, ctx, deadline)
    strategy = claim.cases()  # type: ignore[misc]

    @settings(
        max_examples=max(ctx.examples, 1), database=None, deadline=None, derandomize=False,
        suppress_health_check=list(HealthCheck), report_multiple_bugs=False, print_blob=False,
        verbosity=hypothesis.Verbosity.quiet,
        phases=(Phase.explicit, Phase.generate, Phase.target, Phase.shrink),
    )
    @hypothesis_seed(ctx.seed)
    @given(case=strategy)
    def search(case: Any) -> None:
        state.run_case(case)

    from verify.strategies.determinism import module_independent_generation

    try:
        with module_independent_generation():
            search()
    except _Violation:
        assert state.failure is not None
        return _confirm(claim, ctx, state)
    except _ClaimCrashed:
        case, what = state.crash or (None, "unknown failure")
        return NumericOutcome("error", state.evidence(), message=(
            f"The claim's check failed on a generated case: {what}. Case: {_short(to_plain(case))}"))
    except hypothesis.errors.Unsatisfiable as exc:
        return NumericOutcome("undecidable", state.evidence(), message=f"No valid case could be generated: {exc}")
    except hypothesis.errors.FlakyFailure as exc:
        if state.crash is not None:
            case, what = state.crash
            return NumericOutcome("error", state.evidence(), message=(
                f"The claim's check failed once on a case and not when replayed: {what}. "
                f"Case: {_short(to_plain(case))}"))
        return NumericOutcome("unconfirmed", state.evidence(), message=(
            f"A violation did not reproduce when replayed (flaky): {exc}. The check is not deterministic."))
    evidence = state.evidence()
    if state.checked == 0:
        reason = state.undecidable_reason or "the tolerance was larger than the margin in every case"
        if state.skipped:
            reason = f"the time limit ran out before any case was decided ({state.skipped} skipped)"
        return NumericOutcome("undecidable", evidence, message=f"No case could be decided: {reason}.")
    return NumericOutcome("agree", evidence)


def _confirm(claim: Claim, ctx: CheckContext, state: _Search) -> NumericOutcome:
    """Re-check the shrunk counterexample independently before calling it one."""
    case, result = state.failure  # type: ignore[misc]
    recheck = claim.recheck or claim.check
    ctx64 = replace(ctx, dtype="float64")
    evidence = state.evidence()
    try:
        again = recheck(case, ctx64)  # type: ignore[misc]
    except Exception as exc:
        return NumericOutcome("error", evidence, message=(
            f"The re-check of a counterexample failed: {_describe_exception(exc)}."))
    problem = _malformed(again)
    if problem:
        return NumericOutcome("error", evidence, message=f"The re-check of a counterexample failed: {problem}.")
    counterexample = {
        "case": to_plain(case),
        "comparison": to_plain(result.comparison),
        "recheck": to_plain(again.comparison),
        "tags": list(result.tags),
        "details": to_plain(result.details),
    }
    if again.comparison.status != "violated":
        return NumericOutcome("unconfirmed", evidence, counterexample, message=(
            "A violation in the search did not survive the independent re-check "
            f"(re-check status {again.comparison.status}, slack {again.comparison.slack:.3g}): "
            "it is round-off, not a counterexample."))
    return NumericOutcome("counterexample", evidence, counterexample)


def _short(obj: Any, limit: int = 400) -> str:
    text = repr(obj)
    return text if len(text) <= limit else text[:limit] + " …"


def run_claim(
    claim: Claim,
    *,
    examples: int = 100,
    seed: int = 0,
    device: str = "auto",
    dtype: str = "float64",
    threads: int = 1,
    time_limit: float | None = None,
) -> Verdict:
    """Check one claim and return its Verdict (never raises for a failing claim).

    Args:
        claim: the claim to check.
        examples: number of generated cases for the numeric part.
        seed: seed of the case search (the same seed gives the same JSON, timings aside).
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        dtype: ``float64`` (default) or ``float32``.
        threads: torch's intra-op thread count, fixed and recorded (reduction order
            depends on it).
        time_limit: seconds for the numeric search; the rest is skipped and the
            evidence says it was cut short.

    Raises:
        InvalidInputError: for a bad device, dtype, example count or thread count.
    """
    from verify.numeric import dtype_name, resolve_device, resolve_dtype, set_torch_threads

    if not isinstance(examples, int) or examples < 1:
        raise InvalidInputError(f"Got examples={examples!r}; it must be an integer >= 1.")
    if not isinstance(threads, int) or threads < 1:
        raise InvalidInputError(f"Got threads={threads!r}; it must be an integer >= 1.")
    dev = str(resolve_device(device))
    dt = dtype_name(resolve_dtype(dtype))
    set_torch_threads(threads)
    ctx = CheckContext(device=dev, dtype=dt, seed=int(seed), examples=examples)
    start = time.monotonic()
    symbolic: SymbolicResult | None = None
    numeric = NumericOutcome("none")
    crash = ""
    if claim.symbolic is not None:
        try:
            symbolic = claim.symbolic()
            if not isinstance(symbolic, SymbolicResult):
                crash = f"the symbolic part returned {type(symbolic).__name__}, expected a SymbolicResult"
                symbolic = None
        except Exception as exc:
            crash = f"The symbolic part failed: {_describe_exception(exc)}."
    if not crash and claim.check is not None:
        deadline = None if time_limit is None else time.monotonic() + float(time_limit)
        numeric = _search(claim, ctx, deadline)
    if not crash and claim.figures is not None and numeric.status != "error":
        crash = _add_figures(claim, ctx, numeric)
    if crash:
        kind, message = VerdictKind.ERROR, crash
    else:
        kind, message = combine(symbolic, numeric)
    if numeric.evidence and numeric.evidence.get("cut_short"):
        message += f" Cut short by the time limit ({time_limit:g} s)."
    if kind in (VerdictKind.VERIFIED, VerdictKind.PROVED) and numeric.evidence:
        message += within_tolerance_note(numeric.evidence)
    return Verdict(
        claim=claim.id, verdict=kind, expected=claim.expected, statement=claim.statement,
        source=claim.source, message=message, title=claim.title, hypotheses=list(claim.hypotheses),
        symbolic=symbolic.to_json() if symbolic is not None else None,
        numeric=numeric.evidence, counterexample=numeric.counterexample,
        seed=int(seed), device=dev, dtype=dt, torch_threads=threads, versions=versions(),
        elapsed_s=round(time.monotonic() - start, 3), ref=claim_ref(claim),
    )


def _add_figures(claim: Claim, ctx: CheckContext, numeric: NumericOutcome) -> str:
    """Compute the claim's figures into ``numeric["figures"]``; a failure is the claim's bug."""
    from verify.claims import Figure

    try:
        figures = list(claim.figures(ctx))  # type: ignore[misc]
    except Exception as exc:
        return f"The claim's figures failed: {_describe_exception(exc)}."
    bad = [type(f).__name__ for f in figures if not isinstance(f, Figure)]
    if bad:
        return f"The claim's figures returned {', '.join(bad)}; expected a list of verify.Figure."
    if numeric.evidence is None:
        numeric.evidence = {}
    numeric.evidence["figures"] = [f.to_json() for f in figures]
    return ""


def run_claims(claims: list[Claim], *, on_verdict: Callable[[Verdict], None] | None = None,
               on_start: Callable[[Claim], None] | None = None, **options: Any) -> list[Verdict]:
    """Run several claims in order; an interrupt returns the verdicts finished so far."""
    verdicts: list[Verdict] = []
    try:
        for claim in claims:
            if on_start is not None:
                on_start(claim)
            verdict = run_claim(claim, **options)
            verdicts.append(verdict)
            if on_verdict is not None:
                on_verdict(verdict)
    except KeyboardInterrupt:
        pass
    return verdicts


def replay(claim: Claim, case_json: dict[str, Any], *, device: str = "cpu", dtype: str = "float64") -> CaseResult:
    """Re-run a claim's check on a counterexample from the JSON (``counterexample.case``).

    Raises:
        InvalidInputError: if the claim cannot decode cases.
    """
    from verify.numeric import dtype_name, resolve_device, resolve_dtype
    from verify.strategies import decode_case_json

    if claim.check is None:
        raise InvalidInputError(f"Claim {claim.id!r} cannot replay cases: it has no numeric check.")
    ctx = CheckContext(device=str(resolve_device(device)), dtype=dtype_name(resolve_dtype(dtype)))
    decode = claim.decode_case or decode_case_json  # registered case types by "type", number lists as arrays
    return claim.check(decode(case_json), ctx)
