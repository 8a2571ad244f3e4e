"""Evidence summaries computed from the cases of a search (plain Python, no torch)."""

from __future__ import annotations

from typing import Any

__all__ = ["distribution", "repetition_note", "roundoff_note", "within_tolerance_note"]


def distribution(samples: list[float], relation: str) -> dict[str, Any] | None:
    """The per-case ratio (inequalities) or relative error (equalities), for a histogram.

    Kept whole up to 400 cases; beyond that, 401 evenly spaced order statistics (the
    quantiles), so that the JSON stays small and is still deterministic for a seed.
    """
    if not samples:
        return None
    ordered = sorted(samples)
    n = len(ordered)
    if n > 400:
        ordered = [ordered[round(i * (n - 1) / 400)] for i in range(401)]
    return {
        "quantity": "ratio lhs/rhs" if relation == "inequality" else "relative error",
        "cases": n,
        "values": [float(f"{v:.6g}") for v in ordered],
        "quantiles": {q: ordered[round(float(q) * (len(ordered) - 1))] for q in ("0", "0.5", "0.9", "0.99", "1")},
    }


def within_tolerance_note(evidence: dict[str, Any]) -> str:
    """Say so when the tightest case went past the relation by less than the round-off tolerance."""
    slack = evidence.get("min_slack")
    if evidence.get("relation") != "inequality" or not isinstance(slack, float) or slack >= 0:
        return ""  # an equality's slack is minus its error: always <= 0, nothing to remark
    worst = (evidence.get("worst_case") or {}).get("comparison") or {}
    atol, scale = worst.get("atol"), worst.get("scale")
    within = (f" (tolerance {atol / scale:.2g} of the scale)" if isinstance(atol, float) and isinstance(scale, float)
              and scale > 0 else "")
    return (f" In the tightest case the relation is exceeded by {-slack:.2g} of the scale, within the round-off "
            f"tolerance{within}: equality there, or a violation too small to tell from round-off in this dtype.")


def repetition_note(evidence: dict[str, Any]) -> str:
    """Say so when most decided cases repeat one another: the evidence is thinner than the case count."""
    decided, distinct = evidence.get("examples"), evidence.get("distinct_cases")
    if not isinstance(decided, int) or not isinstance(distinct, int) or decided < 4 or 2 * distinct >= decided:
        return ""
    return (f" Only {distinct} distinct cases among the {decided} decided: most cases repeat one, so the evidence "
            "is thinner than the count (a narrow strategy, or the search returning to its tightest case).")


def roundoff_note(evidence: dict[str, Any]) -> str:
    """Say how many violations the round-off re-check found within the measured round-off."""
    within = evidence.get("within_roundoff")
    if not isinstance(within, dict) or not within.get("count"):
        return ""
    largest = (within.get("largest") or {}).get("roundoff") or {}
    detail = (f" (the largest {largest['violation']:.3g} against a measured spread {largest['spread']:.3g})"
              if isinstance(largest.get("violation"), float) and isinstance(largest.get("spread"), float) else "")
    return (f" {within['count']} apparent violation(s) were within the round-off measured by the re-check "
            f"'round-off sensitivity'{detail} and do not count.")
