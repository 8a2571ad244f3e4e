"""A regularizer's report card: one Verdict per check plus a summary.

It lives in the plain-Python claims layer so that :mod:`verify.regularizers` (which
builds cards) and :mod:`verify.report` (which writes them) never import each other:
the CLI hands the card from one to the other.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from verify.claims.model import VerdictKind
from verify.claims.verdict import SCHEMA_VERSION, Verdict, to_plain
from verify.errors import InvalidInputError

__all__ = ["ReportCard"]


@dataclass
class ReportCard:
    """The outcome of checking one regularizer.

    Attributes:
        name: how the user named it (``my_regs.py::l2`` or ``pkg.mod:fn``).
        title: a human title (the function's first docstring line, or its name).
        source: where it came from (file and line, or module).
        summary: a few sentences: what passed, what failed, the safe step size.
        checks: one Verdict per check; ``verdict.claim`` is ``<check-id>`` (``well-formed``,
            ``gradient``, ``smoothness``, ``descent``, ``constraint``, ``curvature-effect``).
        settings: λ (or grid), task, device, dtype, seed, and the like.
        elapsed_s: total seconds.
    """

    name: str
    checks: list[Verdict]
    title: str = ""
    source: str = ""
    summary: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0

    #: ``strict``: inconclusive and not-applicable checks fail the card too (``--strict``)
    strict: bool = False

    @property
    def failed(self) -> list[Verdict]:
        """Checks that count against the card: refuted and error always; inconclusive and not-applicable
        only when :attr:`strict` (by default they are reported, not failed)."""
        lenient = () if self.strict else (VerdictKind.INCONCLUSIVE, VerdictKind.NOT_APPLICABLE)
        return [v for v in self.checks if not v.matches_expectation and v.verdict not in lenient]

    @property
    def undecided(self) -> list[Verdict]:
        """Inconclusive and not-applicable checks (reported; failing only when :attr:`strict`)."""
        return [v for v in self.checks if v.verdict in (VerdictKind.INCONCLUSIVE, VerdictKind.NOT_APPLICABLE)]

    @property
    def passed(self) -> bool:
        return not self.failed

    def counts(self) -> dict[str, int]:
        out = {k.value: 0 for k in VerdictKind}
        for v in self.checks:
            out[v.verdict.value] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": "regularizer-report-card",
            "name": self.name,
            "title": self.title,
            "source": self.source,
            "summary": self.summary,
            "passed": self.passed,
            "strict": self.strict,
            "counts": self.counts(),
            "settings": to_plain(self.settings),
            "elapsed_s": self.elapsed_s,
            "checks": [v.to_json() for v in self.checks],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, allow_nan=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReportCard:
        try:
            return cls(
                name=str(data["name"]), title=str(data.get("title", "")),
                source=str(data.get("source", "")), summary=str(data.get("summary", "")),
                settings=dict(data.get("settings", {})), elapsed_s=float(data.get("elapsed_s", 0.0)),
                checks=[Verdict.from_json(v) for v in data["checks"]], strict=bool(data.get("strict", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"Not a report card: {exc!s}. A card needs 'name' and a 'checks' list of verdicts.") from None
