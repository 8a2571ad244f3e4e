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
import time
from dataclasses import dataclass, field, replace
from typing import Any

from verify.check._case_search import NO_VALID_CASE, NumericOutcome, _Search, _search
from verify.check._tally import Tally, merge_tallies
from verify.claims import CheckContext, Claim
from verify.errors import InvalidInputError

__all__ = ["ShardResult", "merge", "run_shard", "shard_budgets", "sharded_search"]


def shard_budgets(examples: int, shards: int) -> list[int]:
    """Each shard's number of cases: ``examples // shards``, the first ``examples % shards`` one more."""
    if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= examples:
        raise InvalidInputError(f"Got shards={shards!r} for {examples} examples; the shard count must be an "
                                "integer from 1 to the number of examples (each shard decides at least one case).")
    base, extra = divmod(examples, shards)
    return [base + (i < extra) for i in range(shards)]


@dataclass
class ShardResult:
    """One shard's search, as plain data (it travels between processes unchanged).

    Attributes:
        index: the shard's index.
        tally: what its search saw.
        outcome: its own outcome (status, counterexample, message, re-check).
        records: what the claim's check kept in ``ctx.records`` for the figures.
        device: where it ran.
        elapsed_s: its wall time.
        blas_threads: the BLAS thread limit it ran under (None: no BLAS library found).
    """

    index: int
    tally: Tally
    outcome: NumericOutcome
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    device: str = "cpu"
    elapsed_s: float = 0.0
    blas_threads: int | None = None


def run_shard(claim: Claim, ctx: CheckContext, deadline: float | None, index: int, count: int) -> ShardResult:
    """Shard ``index`` of ``count``: blocks index, index + count, … on its budget, under a context of its own."""
    start = time.monotonic()
    own = replace(ctx, records={})
    state = _Search(claim, own, deadline, budget=shard_budgets(ctx.examples, count)[index])
    outcome = _search(claim, own, deadline, first=index, stride=count, state=state)
    outcome = replace(outcome, evidence=None)  # the tally carries it
    return ShardResult(index, Tally.of(state), outcome, own.records, own.device,
                       round(time.monotonic() - start, 3))


def sharded_search(claim: Claim, ctx: CheckContext, deadline: float | None, shards: int) -> NumericOutcome:
    """The claim's search in ``shards`` shards, run in order here, merged (see the module docstring)."""
    shard_budgets(ctx.examples, shards)
    return merge([run_shard(claim, ctx, deadline, index, shards) for index in range(shards)], ctx)


def merge(results: list[ShardResult], ctx: CheckContext) -> NumericOutcome:
    """One outcome from the shards' results, in shard order; their records go into ``ctx.records``."""
    results = sorted(results, key=lambda r: r.index)
    for r in results:  # a key's first record wins, as when the shards run in one process
        for namespace, entries in r.records.items():
            into = ctx.records.setdefault(namespace, {})
            for key, value in entries.items():
                into.setdefault(key, value)
    merged = merge_tallies([r.tally for r in results])
    runs = [r.outcome for r in results]
    statuses = [o.status for o in runs]
    evidence = {**merged.evidence(), "shards": {"count": len(runs), "budgets": [r.tally.examples_requested
                                                                                for r in results],
                                                "decided": [r.tally.checked for r in results], "status": statuses}}
    many = len(runs) > 1
    found = [(len(json.dumps(o.counterexample["case"], sort_keys=True, default=repr)), i, o)
             for i, o in enumerate(runs) if o.status == "counterexample" and o.counterexample]
    if found:
        _, index, outcome = min(found, key=lambda t: (t[0], t[1]))
        others = [f"shard {i} ended '{o.status}': {o.message}" for i, o in enumerate(runs)
                  if o.status in ("error", "unconfirmed")]
        where = (f"Found in shard {index} of {len(runs)} (seed, shard count and examples reproduce it)."
                 if many else "")
        also = f" Also: {'; '.join(others)}." if others else ""
        return replace(outcome, evidence=evidence, counterexample={**outcome.counterexample, "shard": index},
                       message=f"{outcome.message} {where}{also}".strip())
    for status in ("error", "unconfirmed"):
        for index, outcome in enumerate(runs):
            if outcome.status == status:
                counterexample = ({**outcome.counterexample, "shard": index} if outcome.counterexample else None)
                prefix = f"shard {index} of {len(runs)}: " if many else ""
                return replace(outcome, evidence=evidence, counterexample=counterexample,
                               message=prefix + outcome.message)
    for outcome in runs:  # as in the serial search, a strategy that cannot generate decides nothing
        if outcome.status == "undecidable" and outcome.message.startswith(NO_VALID_CASE):
            return replace(outcome, evidence=evidence)
    if merged.checked == 0:
        first = next((o for o in runs if o.status == "undecidable" and o.message), None)
        message = first.message if first is not None else "No case could be decided."
        return NumericOutcome("undecidable", evidence, message=message)
    return NumericOutcome("agree", evidence)
