"""The numeric part of a claim: the Hypothesis search for a counterexample, and its outcome.

:func:`_search` runs the claim's check over its generated cases in blocks of :data:`BLOCK`
(generation, targeting toward the smallest slack, shrinking a violation); a violation of a claim without
a re-check of its own counts only beyond its measured round-off (:mod:`verify.check._roundoff`), and
:func:`verify.check._confirm.confirm` re-checks the shrunk one before it counts as a counterexample.
Both return a :class:`NumericOutcome`, which :func:`verify.check.combine` turns into a verdict.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from verify.check._local import LOCAL_CASES, SAMPLED_CASES, Anchor, anchor_of, current_nodes, signature
from verify.check._roundoff import RoundoffCheck, roundoff_check
from verify.check._tally import Tally, case_fingerprint
from verify.claims import CaseResult, CheckContext, Claim, to_plain
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
        recheck: for ``counterexample``, the re-check it survived, in words.
    """

    status: str
    evidence: dict[str, Any] | None = None
    counterexample: dict[str, Any] | None = None
    message: str = ""
    recheck: str = ""


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
    roundoff: RoundoffCheck | None = None
    dismissed: int = 0
    dismissed_worst: dict[str, Any] | None = None
    evaluated: int = 0
    found_at: int | None = None
    nodes: tuple[Any, ...] | None = None
    anchors: dict[Any, Anchor] = field(default_factory=dict)
    local_cases_in_block: int = 0
    blocks: int = 0
    local_cases: int = 0
    sampled_cases: int = 0
    local_steps: int = 0
    last_gap: float = math.inf
    fingerprints: set[int] = field(default_factory=set)
    unhashable: int = 0
    last_digest: tuple[Any, int | None] | None = None  # (the case object, its fingerprint)
    budget: int | None = None  # the cases this search may evaluate: a shard's share (None: the context's)

    @property
    def examples(self) -> int:
        return self.ctx.examples if self.budget is None else self.budget

    def run_case(self, case: Any) -> None:
        self.nodes = current_nodes()
        if self._violates(case):
            raise _Violation  # one raise site: Hypothesis calls a failure flaky when its origin moves

    def has_budget(self) -> bool:
        """No failure yet, cases left, time left."""
        return self.failure is None and self.evaluated < self.examples and not self._past_deadline()

    def _past_deadline(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline

    def cut_short(self) -> bool:
        """Did the time limit stop the search before its budget was spent (and before any failure)?"""
        return self.skipped > 0 or (self.failure is None and self.evaluated < self.examples
                                    and self._past_deadline())

    def evaluate_sampled(self, case: Any, nodes: tuple[Any, ...]) -> float | None:
        """Evaluate a case of the sample phase: ``None`` for a violation that counts, else its gap
        (:func:`tightness_gap`; ``inf`` when it decided nothing)."""
        self.sampled_cases += 1
        return self._evaluate_drawn(case, nodes)

    def evaluate_local(self, case: Any, nodes: tuple[Any, ...]) -> float | None:
        """Evaluate a case of the local phase, like :meth:`evaluate_sampled`."""
        self.local_cases += 1
        self.local_cases_in_block += 1
        gap = self._evaluate_drawn(case, nodes)
        self.local_steps += gap is not None and gap < math.inf
        return gap

    def _evaluate_drawn(self, case: Any, nodes: tuple[Any, ...]) -> float | None:
        """A case drawn outside Hypothesis's run (its nodes given): ``None`` for a violation, else its gap."""
        self.nodes = nodes
        self.last_gap = math.inf
        return None if self._violates(case) else self.last_gap

    def _violates(self, case: Any) -> bool:
        if self.failure is None and self.evaluated >= self.examples:
            return False  # the budget is spent: the rest of the block's draws are not evaluated
        if self._past_deadline():
            # past the limit only the failure found before it still runs (Hypothesis replays it at the end)
            if self.failure is not None and _same_case(case, self.failure[0]):
                return True
            self.skipped += 1
            return False
        if self.failure is None:
            self.evaluated += 1
        try:
            result = self.claim.check(case, self.ctx)  # type: ignore[misc]
        except USER_FAILURES as exc:  # the claim's own code failed (or called sys.exit): an `error` verdict
            self.crash = (case, _describe_exception(exc))
            raise _ClaimCrashed from exc
        problem = _malformed(result)
        if problem:
            self.crash = (case, problem)
            raise _ClaimCrashed
        if result.comparison.status == "violated" and self.claim.recheck is None:
            # no re-check of its own: a violation counts only beyond the round-off the check is subject to
            roundoff = roundoff_check(self.claim, case, self.ctx, result)
            if not roundoff.confirmed and not roundoff.ill_conditioned:
                self._dismiss(case, result, roundoff)
                return False
            self.roundoff = roundoff
        self._record(case, result)
        if result.comparison.status == "violated":
            self.failure = (case, result)
            self.found_at = self.found_at or self.evaluated
            return True
        return False

    def _dismiss(self, case: Any, result: CaseResult, roundoff: RoundoffCheck) -> None:
        """A violation within the measured round-off: counted as decided, kept apart from the evidence's extremes."""
        self.checked += 1
        self.tags.update(result.tags)
        self.dismissed += 1
        self._fingerprint(case)
        if self.dismissed_worst is None or roundoff.excess > self.dismissed_worst["roundoff"]["excess_over_tolerance"]:
            self.dismissed_worst = {"case": to_plain(case), "comparison": to_plain(result.comparison),
                                    "roundoff": roundoff.to_json()}

    def _record(self, case: Any, result: CaseResult) -> None:
        c = result.comparison
        self.tags.update(result.tags)
        self.tolerance = result.tolerance or self.tolerance
        if c.status == "undecidable":
            self.undecidable += 1
            self.undecidable_reason = str(result.details.get("reason", "")) or self.undecidable_reason
            return
        self.checked += 1
        self._fingerprint(case)
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
        gap = tightness_gap(c)
        if (c.lhs == 0 and c.rhs == 0) or 0 <= gap < ATTAINED_SLACK:
            return  # equality attained (rank one, both sides zero): a dead end for targeting and climbing
        self.last_gap = gap
        shape = signature(case)
        if shape not in self.anchors or gap < self.anchors[shape].gap:
            anchor = anchor_of(gap, self.nodes)
            if anchor is not None:
                self.anchors[shape] = anchor
        try:
            import hypothesis

            hypothesis.target(-gap, label="violation")
        except Exception:  # target() outside a search, or called twice: not essential
            pass

    def _fingerprint(self, case: Any) -> None:
        """Remember the case by a digest of its exact JSON form, to count distinct cases."""
        digest = self._digest(case)
        if digest is None:
            self.unhashable += 1  # not JSON-able: never equal to another
        else:
            self.fingerprints.add(digest)

    def seen(self, case: Any) -> bool:
        """Was this exact case decided before?"""
        digest = self._digest(case)
        return digest is not None and digest in self.fingerprints

    def _digest(self, case: Any) -> int | None:
        """:func:`case_fingerprint`, once per case object: the local search asks :meth:`seen` and then records it."""
        if self.last_digest is None or self.last_digest[0] is not case:
            self.last_digest = (case, case_fingerprint(case))
        return self.last_digest[1]

    def evidence(self) -> dict[str, Any]:
        return Tally.of(self).evidence()


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


def tightness_gap(c: Any) -> float:
    """How far a case is from violating, the quantity the search drives down: ``1 - lhs/rhs`` where the
    ratio is defined (an inequality with ``rhs > 0``), else the slack.

    The ratio does not depend on the scale the claim normalizes its slack by: a bound off by a factor
    ``1 - δ`` fails exactly where the ratio exceeds ``1 - δ``, however small the bound is next to that scale
    (the FD remainder ``(r²/6)·M4`` is 1e-7 of ``‖Hv‖``: by the slack every case looked equally tight).
    """
    return 1.0 - c.ratio if c.ratio is not None and math.isfinite(c.ratio) else c.slack


def _malformed(result: Any) -> str:
    if not isinstance(result, CaseResult):
        return f"the check returned {type(result).__name__}, expected a verify.CaseResult"
    c = result.comparison
    if c.status == "violated" and c.slack == -math.inf and not math.isfinite(c.lhs) and math.isfinite(c.rhs):
        return ""  # verify.compare_nonfinite: the formula under test blows up where the oracle does not
    for name in ("lhs", "rhs", "scale"):
        value = getattr(c, name)
        if not math.isfinite(value):
            return f"the check produced a non-finite {name} ({value}); the claim's code yields NaN/inf here"
    return ""


#: Cases per search block. A search is a sequence of blocks: a Hypothesis run of its own (generation, then
#: a targeting pass toward the smallest gap) with a seed derived from the run's seed and the block's
#: index, then a sample phase of :data:`~verify.check._local.SAMPLED_CASES` plain draws from the strategy
#: and a local phase of :data:`~verify.check._local.LOCAL_CASES` evaluations climbing from the
#: tightest cases so far; a violation is shrunk by Hypothesis. What a block does never depends on the
#: budget, which only says where the search stops, so a run with more examples repeats the run with fewer
#: case for case before going on: more examples never lose a counterexample found with fewer.
BLOCK = 100
#: A case whose gap (:func:`tightness_gap`) is in ``[0, ATTAINED_SLACK)`` attains equality (a rank-one product, a
#: tie the bound is exact on): it crowds any ranking and climbing from it leads nowhere, so it steers nothing.
ATTAINED_SLACK = 1e-9
_HYPOTHESIS_CASES = BLOCK - SAMPLED_CASES - LOCAL_CASES
NO_VALID_CASE = "No valid case could be generated"  # an Unsatisfiable strategy (the shards' merge looks for it)


def block_seed(seed: int, block: int) -> int:
    """The Hypothesis seed of one block of a search: the run's seed for the first block, then a hash (the
    blocks of nearby seeds do not overlap)."""
    import hashlib

    if block == 0:
        return seed
    return int.from_bytes(hashlib.sha256(f"verify-search:{seed}:{block}".encode()).digest()[:8], "big")


def _search(claim: Claim, ctx: CheckContext, deadline: float | None, first: int = 0, stride: int = 1,
            state: _Search | None = None) -> NumericOutcome:
    """The search over blocks ``first``, ``first + stride``, … (all by default), into ``state`` if given."""
    import hypothesis
    state = _Search(claim, ctx, deadline) if state is None else state
    try:
        strategy = case_strategy(claim)
    except ClaimDefinitionError as exc:
        return NumericOutcome("error", state.evidence(), message=str(exc))

    from verify.strategies.determinism import module_independent_generation

    try:
        with module_independent_generation():
            from verify.check._blocks import run_blocks

            run_blocks(strategy, state, ctx.seed, first, stride)
    except _Violation:
        assert state.failure is not None
        from verify.check._confirm import confirm

        return confirm(claim, ctx, state)
    except _ClaimCrashed:
        case, what = state.crash or (None, "unknown failure")
        return NumericOutcome("error", state.evidence(), message=(
            f"The claim's check failed on a generated case: {what}. Case: {_short(to_plain(case))}"))
    except hypothesis.errors.Unsatisfiable as exc:
        return NumericOutcome("undecidable", state.evidence(), message=f"{NO_VALID_CASE}: {exc}")
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
        if state.cut_short():  # _cut_short in verify.check adds the limit and the count
            return NumericOutcome("undecidable", evidence,
                                  message="The time limit ran out before any case was decided.")
        reason = state.undecidable_reason or "the tolerance was larger than the margin in every case"
        return NumericOutcome("undecidable", evidence, message=f"No case could be decided: {reason}.")
    return NumericOutcome("agree", evidence)


def _same_case(a: Any, b: Any) -> bool:
    try:
        return bool(repr(to_plain(a)) == repr(to_plain(b)))
    except Exception:  # noqa: BLE001 - an exotic case type: treat as different
        return False


def _short(obj: Any, limit: int = 400) -> str:
    return repr(obj) if len(repr(obj)) <= limit else repr(obj)[:limit] + " …"

