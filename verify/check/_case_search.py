"""The numeric part of a claim: the Hypothesis search for a counterexample, and its outcome.

:func:`_search` runs the claim's check over its generated cases, steering toward the
smallest slack and shrinking a violation; :func:`_confirm` re-checks a shrunk violation
independently (in float64) before it counts as a counterexample, and says so when the
counterexample cannot be replayed from its JSON. Both return a
:class:`NumericOutcome`, which :func:`verify.check.combine` turns into a verdict.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

from verify.claims import CaseResult, CheckContext, Claim, to_plain
from verify.claims.evidence import distribution
from verify.claims.usercode import USER_FAILURES, describe_failure
from verify.errors import ClaimDefinitionError

__all__ = ["NumericOutcome", "case_strategy"]


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
        except USER_FAILURES as exc:  # the claim's own code failed (or called sys.exit): an `error` verdict
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


_describe_exception = describe_failure


def case_strategy(claim: Claim) -> Any:
    """The claim's Hypothesis strategy, ``claim.cases()``, checked to be one.

    Raises:
        ClaimDefinitionError: ``cases()`` raised, or returned something else than a Hypothesis strategy
            (e.g. the unapplied factory ``verify.vectors``); the message names the claim and the fix.
    """
    from hypothesis.strategies import SearchStrategy

    try:
        strategy = claim.cases()  # type: ignore[misc]
    except USER_FAILURES as exc:
        raise ClaimDefinitionError(
            f"Claim {claim.id!r}: calling its cases= failed: {describe_failure(exc)}. Fix: cases= is a Hypothesis "
            "strategy, or a function of no arguments returning one.") from None
    if isinstance(strategy, SearchStrategy):
        return strategy
    if callable(strategy):
        name = getattr(strategy, "__name__", type(strategy).__name__)
        raise ClaimDefinitionError(
            f"Claim {claim.id!r}: cases= gives the function {name}, not a Hypothesis strategy. Fix: pass the "
            f"strategy itself, i.e. call the factory with its arguments (cases={name}(...)).")
    raise ClaimDefinitionError(
        f"Claim {claim.id!r}: cases= gives {type(strategy).__name__} ({strategy!r:.40}), not a Hypothesis "
        "strategy. Fix: return one, e.g. cases=lambda: st.integers(1, 5), or cases=verify.logits.")


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
    try:
        strategy = case_strategy(claim)
    except ClaimDefinitionError as exc:
        return NumericOutcome("error", state.evidence(), message=str(exc))

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
    except USER_FAILURES as exc:  # raised while drawing a case: a .map/.filter/@composite of the strategy
        if isinstance(exc.__context__, KeyboardInterrupt):  # an interrupt as Hypothesis starts fails its clean-up
            raise exc.__context__ from None
        return NumericOutcome("error", state.evidence(), message=(
            f"Generating a case failed in the claim's cases= strategy: {describe_failure(exc)}."))
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
    except USER_FAILURES as exc:
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
    why = _replay_problem(claim, case, ctx64)
    if why:
        counterexample["replayable"] = False
        counterexample["not_replayable_because"] = why
        return NumericOutcome("counterexample", evidence, counterexample, message=(
            f"This counterexample cannot be replayed from the JSON: {why}."))
    return NumericOutcome("counterexample", evidence, counterexample)


def _replay_problem(claim: Claim, case: Any, ctx: CheckContext) -> str:
    """Why ``--replay`` would not reproduce the counterexample ('' when it does).

    The case goes through what ``--json`` and ``--replay`` do to it (JSON out, the claim's decoder in),
    and the check runs on what comes back: it must raise nothing and still be ``violated``.
    """
    from verify.strategies import decode_case_json

    decode = claim.decode_case or decode_case_json
    plain = to_plain(case)
    rebuilt: Any = plain
    try:
        rebuilt = decode(json.loads(json.dumps(plain)))
        again = claim.check(rebuilt, ctx)  # type: ignore[misc]
        problem = _malformed(again)
    except USER_FAILURES as exc:
        problem = describe_failure(exc)
    if not problem and again.comparison.status == "violated":
        return ""
    what = (f"a {type(case).__name__} case comes back from its JSON {_short(plain, 80)} as a "
            f"{type(rebuilt).__name__}" if type(rebuilt) is not type(case) else "the case rebuilt from its JSON")
    if problem:
        return (f"{what}, and the check on it fails ({problem}); give the claim decode_case= that rebuilds "
                "the case from its JSON (or make its class a verify.case_type)")
    return (f"{what} is no longer a counterexample (status {again.comparison.status}): its JSON does not "
            "hold the case exactly; give the claim decode_case= that rebuilds it")


def _short(obj: Any, limit: int = 400) -> str:
    text = repr(obj)
    return text if len(text) <= limit else text[:limit] + " …"

