"""A claim's search split into shards: the unit a scale-out schedules, run one after the other here.

A search of E examples in S shards: shard i runs the blocks i, i + S, i + 2S, … of the search's sequence
(block b's seed is ``block_seed(seed, b)``, so no two shards share one) with a budget of E // S cases, the first
E % S shards one more. What a shard computes depends only on the seed, S and its index — never on who runs it
or when — so the merged result of S shards is the same on one machine and on many; with S = 1 it is the serial
search, case for case.

Every shard runs to completion (nothing is cancelled when one finds a counterexample: the result must not depend
on timing). Merging, in shard order: counts add up, extremes are the extremes, boundary tags and distinct
cases are united, the ratio samples are concatenated, the tightest case is the smallest slack (the lower shard
on a tie). The verdict's numeric part is ``counterexample`` when any shard's counterexample survived its
re-check — the smallest by the length of its case's JSON, then the shard index, with the shard named (its
``found_at_case`` counts within that shard) and any other shard's error named beside it —, else ``error``
when any shard failed (the first), else ``unconfirmed`` when any violation went unconfirmed, else
``undecidable`` when a shard's strategy could generate no valid case or no shard decided a case, else the
merged evidence. ``shards.status`` lists every shard's own outcome.
"""

from __future__ import annotations

import json
from dataclasses import replace

from verify.check._case_search import NO_VALID_CASE, NumericOutcome, _Search, _search
from verify.claims import CheckContext, Claim
from verify.errors import InvalidInputError

__all__ = ["shard_budgets", "sharded_search"]


def shard_budgets(examples: int, shards: int) -> list[int]:
    """Each shard's number of cases: ``examples // shards``, the first ``examples % shards`` one more."""
    if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= examples:
        raise InvalidInputError(f"Got shards={shards!r} for {examples} examples; the shard count must be an "
                                "integer from 1 to the number of examples (each shard decides at least one case).")
    base, extra = divmod(examples, shards)
    return [base + (i < extra) for i in range(shards)]


def sharded_search(claim: Claim, ctx: CheckContext, deadline: float | None, shards: int) -> NumericOutcome:
    """The claim's search in ``shards`` shards, run in order, merged (see the module docstring)."""
    budgets = shard_budgets(ctx.examples, shards)
    runs = []
    for index, budget in enumerate(budgets):
        # the run's own context (claims keep per-run records under it, e.g. for their figures); the share apart
        state = _Search(claim, ctx, deadline, budget=budget)
        runs.append((state, _search(claim, ctx, deadline, first=index, stride=shards, state=state)))
    return merge(claim, ctx, runs)


def merge(claim: Claim, ctx: CheckContext, runs: list[tuple[_Search, NumericOutcome]]) -> NumericOutcome:
    """One outcome from the shards' states and outcomes, in shard order."""
    merged = _merged_state(claim, ctx, [state for state, _ in runs])
    statuses = [o.status for _, o in runs]
    evidence = {**merged.evidence(), "shards": {"count": len(runs), "budgets": [s.examples for s, _ in runs],
                                                "decided": [s.checked for s, _ in runs], "status": statuses}}
    # each shard judged its own cut against the deadline when it finished (not now, after the others ran)
    evidence["cut_short"] = any(bool((o.evidence or {}).get("cut_short")) for _, o in runs)
    many = len(runs) > 1
    found = [(len(json.dumps(o.counterexample["case"], sort_keys=True, default=repr)), i, o)
             for i, (_, o) in enumerate(runs) if o.status == "counterexample" and o.counterexample]
    if found:
        _, index, outcome = min(found, key=lambda t: (t[0], t[1]))
        others = [f"shard {i} ended '{o.status}': {o.message}" for i, (_, o) in enumerate(runs)
                  if o.status in ("error", "unconfirmed")]
        where = (f"Found in shard {index} of {len(runs)} (seed, shard count and examples reproduce it)."
                 if many else "")
        also = f" Also: {'; '.join(others)}." if others else ""
        return replace(outcome, evidence=evidence, counterexample={**outcome.counterexample, "shard": index},
                       message=f"{outcome.message} {where}{also}".strip())
    for status in ("error", "unconfirmed"):
        for index, (_, outcome) in enumerate(runs):
            if outcome.status == status:
                counterexample = ({**outcome.counterexample, "shard": index} if outcome.counterexample else None)
                prefix = f"shard {index} of {len(runs)}: " if many else ""
                return replace(outcome, evidence=evidence, counterexample=counterexample,
                               message=prefix + outcome.message)
    for _, outcome in runs:  # as in the serial search, a strategy that cannot generate decides nothing
        if outcome.status == "undecidable" and outcome.message.startswith(NO_VALID_CASE):
            return replace(outcome, evidence=evidence)
    if merged.checked == 0:
        first = next((o for _, o in runs if o.status == "undecidable" and o.message), None)
        message = first.message if first is not None else "No case could be decided."
        return NumericOutcome("undecidable", evidence, message=message)
    return NumericOutcome("agree", evidence)


def _merged_state(claim: Claim, ctx: CheckContext, states: list[_Search]) -> _Search:
    out = _Search(claim, ctx, states[0].deadline if states else None)
    for s in states:
        for name in ("checked", "skipped", "undecidable", "dismissed", "evaluated", "blocks", "local_cases",
                     "sampled_cases", "local_steps"):
            setattr(out, name, getattr(out, name) + getattr(s, name))
        out.max_abs_err, out.max_rel_err = max(out.max_abs_err, s.max_abs_err), max(out.max_rel_err, s.max_rel_err)
        if s.tightest_ratio is not None:
            out.tightest_ratio = s.tightest_ratio if out.tightest_ratio is None else max(out.tightest_ratio,
                                                                                        s.tightest_ratio)
        if s.min_slack is not None and (out.min_slack is None or s.min_slack < out.min_slack):
            out.min_slack, out.worst = s.min_slack, s.worst
        out.tags |= s.tags
        out.fingerprints |= s.fingerprints
        out.samples += s.samples
        out.tolerance = out.tolerance or s.tolerance
        out.undecidable_reason = out.undecidable_reason or s.undecidable_reason
        if s.dismissed_worst is not None and (out.dismissed_worst is None or s.dismissed_worst["roundoff"][
                "excess_over_tolerance"] > out.dismissed_worst["roundoff"]["excess_over_tolerance"]):
            out.dismissed_worst = s.dismissed_worst
    return out
