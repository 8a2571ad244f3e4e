"""Running a claim the two ways the bench compares: the engine (``run_claim``) and naive random sampling.

:func:`engine_outcomes` asks the engine once at the largest budget when its verdict records where the
first violation appeared (``counterexample["found_at_case"]``, 1-based among the evaluated cases): a
search with more examples repeats the one with fewer, so the claim is refuted at budget b iff that index
is ≤ b. Without the field (an older engine) every budget is a run of its own.
:func:`baseline_outcomes` is plain random sampling: one Hypothesis ``@given`` run with
``phases=[Phase.generate]`` (no explicit examples, no targeting, no shrinking), the claim's own check on
each case, stopped at the first violation, which counts when the claim's re-check (or its check in
float64) confirms it. The first b cases of that run are the baseline at budget b.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

from verify import CheckContext, Claim, run_claim
from verify.claims.usercode import USER_FAILURES

#: engine verdict → outcome: refuted is a kill; error and inconclusive are reported apart
KILLED, SURVIVED, ERROR, INCONCLUSIVE = "killed", "survived", "error", "inconclusive"


@dataclass
class Outcome:
    """What one route found for one claim and seed: per budget, and where (1-based case index)."""

    by_budget: dict[int, str] = field(default_factory=dict)
    found_at: int | None = None
    seconds: float = 0.0
    runs: int = 0
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"by_budget": {str(b): o for b, o in self.by_budget.items()}, "found_at": self.found_at,
                "seconds": round(self.seconds, 3), "runs": self.runs, "note": self.note}


#: the environment variable through which bench/mutation_score.py --shards reaches its worker processes
SHARDS_ENV = "VERIFY_BENCH_SHARDS"


def _kind(verdict: Any) -> str:
    kind = verdict.verdict.value
    if kind == "refuted":
        return KILLED
    if kind in ("error", "inconclusive"):
        return ERROR if kind == "error" else INCONCLUSIVE
    return SURVIVED


def engine_outcomes(claim: Claim, budgets: list[int], seed: int, *, separate: bool = False) -> Outcome:
    """The engine's verdict at every budget: one run at the largest when the engine records where it found
    the counterexample (and ``separate`` is off), else one run per budget."""
    start = time.monotonic()
    out = Outcome()
    top = max(budgets)
    shards = int(os.environ.get(SHARDS_ENV, "0")) or None  # a sharded engine: found_at_case is a shard's own
    separate = separate or shards is not None
    verdict = run_claim(claim, examples=top, seed=seed, device="cpu", threads=1, shards=shards)
    out.runs = 1
    kind = _kind(verdict)
    out.note = verdict.message[:300] if kind in (ERROR, INCONCLUSIVE) else ""
    found = (verdict.counterexample or {}).get("found_at_case") if kind == KILLED else None
    out.found_at = found
    if not separate and _POSITION[0] and (kind != KILLED or found is not None):
        for b in budgets:
            out.by_budget[b] = kind if kind != KILLED else (KILLED if found <= b else SURVIVED)
    else:
        out.by_budget[top] = kind
        for b in sorted(set(budgets) - {top}):
            out.by_budget[b] = _kind(run_claim(claim, examples=b, seed=seed, device="cpu", threads=1, shards=shards))
            out.runs += 1
    out.seconds = time.monotonic() - start
    return out


#: whether the engine records found_at_case (set by :func:`engine_records_position`)
_POSITION = [False]


class _Stop(Exception):
    """Raised inside the Hypothesis run at the first violation (and again when Hypothesis replays it)."""


def baseline_outcomes(claim: Claim, budgets: list[int], seed: int) -> Outcome:
    """Plain random sampling with the claim's own check (see the module docstring)."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as hypothesis_seed

    from verify.strategies.determinism import module_independent_generation

    start = time.monotonic()
    top = max(budgets)
    ctx = CheckContext(device="cpu", dtype="float64", seed=seed, examples=top)
    state: dict[str, Any] = {"n": 0, "at": None, "kind": None}

    @settings(max_examples=top, database=None, deadline=None, derandomize=False, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False, print_blob=False,
              verbosity=Verbosity.quiet)
    @hypothesis_seed(seed)
    @given(case=claim.cases())  # type: ignore[misc]
    def sample(case: Any) -> None:
        if state["at"] is not None:
            raise _Stop  # Hypothesis replays the failing case once: fail again without checking
        state["n"] += 1
        try:
            result = claim.check(case, ctx)  # type: ignore[misc]
        except USER_FAILURES as exc:
            state["at"], state["kind"] = state["n"], f"{ERROR}: {type(exc).__name__}"
            raise _Stop from None
        c = result.comparison
        if not all(math.isfinite(x) for x in (c.lhs, c.rhs, c.scale)):  # as the engine: the claim's code fails
            state["at"], state["kind"] = state["n"], f"{ERROR}: non-finite value"
            raise _Stop
        if c.status == "violated":
            state["at"] = state["n"]
            state["kind"] = KILLED if _confirmed(claim, case, ctx) else INCONCLUSIVE
            raise _Stop

    try:
        with module_independent_generation():
            sample()
    except _Stop:
        pass
    except USER_FAILURES as exc:  # drawing a case failed
        state["kind"], state["at"] = f"{ERROR}: {type(exc).__name__}", state["n"] + 1
    out = Outcome(found_at=state["at"], runs=1, seconds=time.monotonic() - start)
    kind = state["kind"] or SURVIVED
    for b in budgets:
        out.by_budget[b] = kind.split(":")[0] if state["at"] is not None and state["at"] <= b else SURVIVED
    out.note = kind if kind.startswith(ERROR) else ""
    return out


def _confirmed(claim: Claim, case: Any, ctx: CheckContext) -> bool:
    """The claim's re-check (its check in float64 when it has none) also finds the case violated."""
    recheck = claim.recheck or claim.check
    try:
        again = recheck(case, CheckContext(ctx.device, "float64", ctx.seed, ctx.examples))  # type: ignore[misc]
    except USER_FAILURES:
        return False
    return again.comparison.status == "violated"


def engine_records_position() -> bool:
    """Whether this engine's verdicts say where the first violation appeared (found_at_case)."""
    from verify import get_claim

    verdict = run_claim(get_claim("seed002-half-factor"), examples=5, seed=0, device="cpu", threads=1)
    _POSITION[0] = "found_at_case" in (verdict.counterexample or {})
    return _POSITION[0]
