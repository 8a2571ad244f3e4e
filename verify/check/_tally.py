"""What a search saw, as plain data: the numbers behind the ``numeric`` evidence, and their merge.

A :class:`Tally` is taken from a finished search (:meth:`Tally.of`); it holds only numbers, strings and JSON
forms of cases, so a shard's tally pickles to another process and back unchanged
(:mod:`verify.cluster`). :func:`merge_tallies` combines the tallies of a claim's shards in shard order:
counts add up, extremes are the extremes, boundary tags and distinct cases are united, ratio samples are
concatenated, the tightest case is the smallest slack (the lower shard on a tie).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Any

from verify.claims import to_plain
from verify.claims.evidence import distribution

__all__ = ["Tally", "case_fingerprint", "merge_tallies"]

_COUNTS = ("checked", "skipped", "undecidable", "dismissed", "evaluated", "blocks", "local_cases", "sampled_cases",
           "local_steps")


def case_fingerprint(case: Any) -> int | None:
    """A 64-bit digest of the case's exact JSON form (the same in every process); None when it has none.

    json encodes the lists, numbers and strings of ``to_json()`` itself and hands anything else to ``to_plain``:
    the text of ``to_plain(case)`` in half the time (a non-finite float is spelled NaN rather than "nan": equal
    cases still have equal texts, different cases different ones).
    """
    try:
        data = case.to_json() if callable(getattr(case, "to_json", None)) else case
        text = json.dumps(data, sort_keys=True, default=to_plain)
    except (TypeError, ValueError, RecursionError):
        try:  # keys json will not sort (mixed types), a to_json that fails: to_plain's own way, as always
            text = json.dumps(to_plain(case), sort_keys=True, default=repr)
        except (TypeError, ValueError, RecursionError):
            return None
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


@dataclass
class Tally:
    """The evidence-bearing numbers of one search (or of merged shards)."""

    relation: str
    examples_requested: int
    block_size: int
    checked: int = 0
    skipped: int = 0
    undecidable: int = 0
    dismissed: int = 0
    evaluated: int = 0
    blocks: int = 0
    local_cases: int = 0
    sampled_cases: int = 0
    local_steps: int = 0
    max_abs_err: float = 0.0
    max_rel_err: float = 0.0
    tightest_ratio: float | None = None
    min_slack: float | None = None
    worst: dict[str, Any] | None = None
    tags: set[str] = field(default_factory=set)
    fingerprints: set[int] = field(default_factory=set)
    unhashable: int = 0  # decided cases with no JSON form: each counts as distinct
    samples: list[float] = field(default_factory=list)
    tolerance: str = ""
    undecidable_reason: str = ""
    dismissed_worst: dict[str, Any] | None = None
    cut_short: bool = False

    @classmethod
    def of(cls, state: Any) -> Tally:
        """The tally of a search state (:class:`verify.check._case_search._Search`)."""
        from verify.check._case_search import BLOCK

        worst = None
        if state.worst is not None:
            case, res = state.worst
            worst = {"case": to_plain(case), "comparison": to_plain(res.comparison), "tags": list(res.tags),
                     "details": to_plain(res.details)}
        names = {f.name for f in fields(cls)} - {"relation", "examples_requested", "block_size", "worst",
                                                  "cut_short", "tags", "fingerprints", "samples"}
        return cls(relation=state.claim.relation, examples_requested=state.examples, block_size=BLOCK,
                   worst=worst, cut_short=state.cut_short(), tags=set(state.tags),
                   fingerprints=set(state.fingerprints), samples=list(state.samples),
                   **{name: getattr(state, name) for name in names})

    def evidence(self) -> dict[str, Any]:
        """The ``numeric`` block of the verdict."""
        return {
            "examples": self.checked,
            "examples_requested": self.examples_requested,
            "distinct_cases": len(self.fingerprints) + self.unhashable,
            "cases_with_ratio": len(self.samples) if self.relation == "inequality" else None,
            "undecidable": self.undecidable,
            "skipped_after_time_limit": self.skipped,
            "cut_short": self.cut_short,
            "max_abs_err": self.max_abs_err if self.checked else None,
            "max_rel_err": self.max_rel_err if self.checked else None,
            "tightest_ratio": self.tightest_ratio,
            "min_slack": self.min_slack,
            "tolerance": self.tolerance or None,
            "relation": self.relation,
            "boundary_cases_hit": sorted(self.tags),
            "worst_case": self.worst,
            "distribution": distribution(self.samples, self.relation),
            "within_roundoff": ({"count": self.dismissed, "largest": self.dismissed_worst}
                                if self.dismissed else None),
            "search": {"blocks": self.blocks, "block_size": self.block_size, "sampled_cases": self.sampled_cases,
                       "local_cases": self.local_cases, "local_improvements": self.local_steps},
        }


def merge_tallies(tallies: list[Tally]) -> Tally:
    """One tally from the shards' tallies, in shard order (see the module docstring)."""
    first = tallies[0]
    out = Tally(relation=first.relation, examples_requested=sum(t.examples_requested for t in tallies),
                block_size=first.block_size)
    for t in tallies:
        for name in _COUNTS + ("unhashable",):
            setattr(out, name, getattr(out, name) + getattr(t, name))
        out.max_abs_err, out.max_rel_err = max(out.max_abs_err, t.max_abs_err), max(out.max_rel_err, t.max_rel_err)
        if t.tightest_ratio is not None:
            out.tightest_ratio = (t.tightest_ratio if out.tightest_ratio is None
                                  else max(out.tightest_ratio, t.tightest_ratio))
        if t.min_slack is not None and (out.min_slack is None or t.min_slack < out.min_slack):
            out.min_slack, out.worst = t.min_slack, t.worst
        out.tags |= t.tags
        out.fingerprints |= t.fingerprints
        out.samples += t.samples
        out.tolerance = out.tolerance or t.tolerance
        out.undecidable_reason = out.undecidable_reason or t.undecidable_reason
        out.cut_short = out.cut_short or t.cut_short  # each shard judged its own cut when it finished
        if t.dismissed_worst is not None and (out.dismissed_worst is None or t.dismissed_worst["roundoff"][
                "excess_over_tolerance"] > out.dismissed_worst["roundoff"]["excess_over_tolerance"]):
            out.dismissed_worst = t.dismissed_worst
    return out
