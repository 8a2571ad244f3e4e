"""Mutants of the built-in claims that hold, for bench/mutation_score.py.

Every claim of ``verify list`` that expects ``holds`` has one or more *sites* (the formulas its check
takes, :mod:`.sites_a` … :mod:`.sites_e`); the operators of :data:`OPERATORS`
are applied to every site (:func:`.operators.mutations`) and the result is numbered in a fixed order:
:func:`all_mutants`.
A mutant is a real :class:`verify.Claim`: the original claim with the mutated formula in its check and in
its re-check (the same cases and machinery), no symbolic part and no figures, expecting ``refuted``.
Imported with ``bench/`` on ``sys.path`` (as the benchmarks run), as ``_mutants``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any

from _mutants.operators import OPERATORS, Mutation, Site
from verify import CaseResult, CheckContext, Claim, get_claim
from verify.check._confirm import recheck_name

__all__ = ["OPERATORS", "Mutant", "Site", "all_mutants", "all_sites", "holding_claims", "site_control"]


@functools.cache
def all_sites() -> tuple[Site, ...]:
    """Every site, in claim order (imports the families on first use)."""
    from _mutants import sites_a, sites_b, sites_c, sites_d, sites_e

    return tuple(sites_a.sites() + sites_b.sites() + sites_c.sites() + sites_d.sites() + sites_e.sites())


def holding_claims() -> list[str]:
    """The ids of the built-in claims that expect ``holds`` (every one has a site)."""
    from verify import all_claims

    return sorted(c.id for c in all_claims() if c.expected.value == "holds")


@dataclass
class Mutant:
    """One numbered mutant: ``M001`` …, its claim, site, operator and whether it is excluded (and why)."""

    id: str
    mutation: Mutation
    duplicate_of: str = ""

    @property
    def excluded(self) -> str:
        """Why it is left out of the score ("" when it counts): shown equivalent, weaker, or a duplicate."""
        own = self.mutation.excluded
        if own or not self.duplicate_of:
            return own
        return f"duplicate: the same formula as {self.duplicate_of}"

    @property
    def claim_id(self) -> str:
        return self.mutation.site.claim

    @property
    def site(self) -> str:
        return self.mutation.site.name

    @property
    def op(self) -> str:
        return self.mutation.op

    @property
    def description(self) -> str:
        return self.mutation.detail

    def claim(self) -> Claim:
        """The mutant as a claim: the original with the mutated formula in its check and re-check."""
        site = self.mutation.site
        original = get_claim(site.claim)
        check, recheck = site.checks(self.mutation.make())
        if self.mutation.boundary_tag:
            check, recheck = _on_tag(self.mutation.boundary_tag, site, check, recheck)
        return replace(original, id=f"{self.id.lower()}-{original.id}", title=f"{self.id}: {self.description}",
                       expected="refuted", symbolic=None, figures=None, check=check,
                       recheck=recheck if original.recheck is not None else None,
                       notes=(f"mutant {self.id} ({self.op}) of {original.id}: {self.description}",))

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "claim": self.claim_id, "site": self.site, "operator": self.op,
                "description": self.description, "boundary_tag": self.mutation.boundary_tag or None,
                "excluded": self.excluded or None}


def _on_tag(tag: str, site: Site, check: Any, recheck: Any) -> tuple[Any, Any]:
    """The mutated check (and re-check) on cases whose result carries ``tag``; the original elsewhere."""
    base_check, base_recheck = site.checks(_unmutated(site))

    def dispatch(mutated: Any, base: Any) -> Any:
        def run(case: Any, ctx: CheckContext) -> CaseResult:
            result = base(case, ctx)
            return mutated(case, ctx) if tag in result.tags else result

        run.__qualname__ = f"{recheck_name(mutated)} (mutated on {tag})"  # what a message names
        return run

    return dispatch(check, base_check), (dispatch(recheck, base_recheck) if recheck is not None else None)


def site_control(site: Site) -> Claim:
    """The claim rebuilt through the site with its formula unmutated (must not be refuted: a self-check)."""
    original = get_claim(site.claim)
    check, recheck = site.checks(_unmutated(site))
    return replace(original, id=f"{original.id}-via-{site.name.lower()}", symbolic=None, figures=None, check=check,
                   recheck=recheck if original.recheck is not None else None)


def _unmutated(site: Site) -> Any:
    return site.compile({}) if site.exprs else site.formula


@functools.cache
def all_mutants() -> tuple[Mutant, ...]:
    """Every mutant, numbered M001, M002, … in site order (excluded ones keep their number and reason)."""
    out: list[Mutant] = []
    ids: dict[int, str] = {}
    from _mutants.operators import mutations

    for site in all_sites():
        for m in mutations(site):
            mid = f"M{len(out) + 1:03d}"
            ids[id(m)] = mid
            dup = ids[id(m.duplicate_of)] if m.duplicate_of is not None else ""
            out.append(Mutant(mid, m, dup))
    return tuple(out)
