"""What the cases of one ``descent-lemma`` run say about M, gathered for the claim's figures.

The engine's evidence keeps the worst case only; the share of cases whose step the certified bound
guarantees to decrease L (α·M < 2), and the ratio of the certified to the sampled M, are over all
cases. :func:`note_case` records each distinct case the check decides in the run's records
(:meth:`verify.CheckContext.record`: shards, local or remote, merge them before the figures are made);
:func:`run_summary` sums them up. Plain Python: deterministic for a seed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["note_case", "run_summary"]

_NAMESPACE = "descent-cases"
#: the problems whose M is certified on the segment by interval enclosures (MLP regressions, networks of modules)
CERTIFIED_ON_SEGMENT = ("MLPCase", "ModuleCase")


def note_case(ctx: Any, case: Any, details: Mapping[str, Any]) -> None:
    """Record one decided case of the run of ``ctx`` (the first decision of a case repeated by the search)."""
    name = json.dumps(case.to_json(), sort_keys=True, default=str)
    ctx.record(_NAMESPACE, name, {
        "problem": case.problem.name,
        "undecidable": details.get("M") is None,
        "decrease_guaranteed": bool(details.get("decrease_guaranteed", False)),
        "step_alpha_M": details.get("step_alpha_M"),
        "ratio": details.get("M_ratio_certified_to_sampled"),
        "ratio_directional": details.get("M_ratio_certified_to_sampled_directional"),
        "converged": (details.get("certification") or {}).get("converged"),
    })


def _finite(values: Iterable[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]


def _stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "median": None, "max": None, "min": None}
    ordered = sorted(values)
    return {"mean": sum(values) / len(values), "median": ordered[len(ordered) // 2], "max": ordered[-1],
            "min": ordered[0]}


def run_summary(ctx: Any) -> dict[str, Any] | None:
    """Counts over the distinct cases of the run of ``ctx``; None before any case was decided."""
    cases = list(ctx.records.get(_NAMESPACE, {}).values())
    if not cases:
        return None
    decided = [c for c in cases if not c["undecidable"]]
    mlp = [c for c in cases if c["problem"] == "MLPCase"]
    certified = [c for c in cases if c["problem"] in CERTIFIED_ON_SEGMENT]
    ratios = _finite(c["ratio"] for c in decided)
    directional = _finite(c["ratio_directional"] for c in decided)
    guaranteed = sum(c["decrease_guaranteed"] for c in decided)
    return {
        "cases": len(cases),
        "decided": len(decided),
        "decrease_guaranteed": guaranteed,
        "share_decrease_guaranteed": guaranteed / len(decided) if decided else None,
        "mlp_cases": len(mlp),
        "mlp_undecidable": sum(c["undecidable"] for c in mlp),
        "mlp_not_converged": sum(c["converged"] is False for c in mlp),
        "certified_cases": len(certified),
        "certified_undecidable": sum(c["undecidable"] for c in certified),
        "certified_not_converged": sum(c["converged"] is False for c in certified),
        "ratio_certified_to_sampled": _stats(ratios),
        "ratio_certified_to_sampled_directional": _stats(directional),
        "ratios": ratios,
        "ratios_directional": directional,
        "step_alpha_M": [c["step_alpha_M"] for c in decided if isinstance(c["step_alpha_M"], float)],
    }
