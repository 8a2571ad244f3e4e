"""A fast sample of the mutation bench (bench/mutation_score.py): a few mutants across the families are refuted.

Each sampled mutant is a real claim (the built-in claim with one mutated formula in its check and re-check,
bench/mutants.md) run by the engine at seed 0 and a small budget; it must come out ``refuted``. The same
site rebuilt with its formula unmutated must not, and must give the family's own comparisons. The full bench
is a script (bench/README.md), not a test.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from _mutants import all_mutants, all_sites, site_control  # noqa: E402
from _mutants.listing import read_list  # noqa: E402

from verify import CheckContext, get_claim, run_claim  # noqa: E402

#: (claim, site, mutation): cheap mutants of seven families and of every kind of operator
SAMPLE = [
    ("softmax-ce-hessian", "entry", "-a_c + delta_ac: term -a_c → a_c"),
    ("critical-point-classification", "second-order-term", "epsilon^2 → epsilon"),
    ("mlp-gradient-inequality", "numerator", "hnorm^2 → hnorm^4"),
    ("optimizer-adam", "rule", "constant 1 in 1 - beta2^t → 10001/10000"),
    ("optimizer-rmsprop", "rule", "rule × 101/100 only on cases tagged centered"),
    ("penalty-path-monotone", "omega-bound", "omega-bound × 999/1000"),
    ("max-norm-projection", "projection", "1/norm_w → norm_w^(-2)"),
    ("gnp-alpha-one-is-sam", "mixing-weight", "mixing-weight × 10001/10000"),
]


def _mutant(claim: str, site: str, description: str):  # type: ignore[no-untyped-def]
    found = [m for m in all_mutants() if (m.claim_id, m.site, m.description) == (claim, site, description)]
    assert len(found) == 1, (claim, site, description)
    return found[0]


@pytest.mark.parametrize(("claim", "site", "description"), SAMPLE, ids=[f"{c}:{s}" for c, s, _ in SAMPLE])
def test_sampled_mutant_is_refuted(claim: str, site: str, description: str):
    mutant = _mutant(claim, site, description)
    assert not mutant.excluded
    verdict = run_claim(mutant.claim(), examples=30, seed=0, device="cpu")
    assert verdict.verdict.value == "refuted", (mutant.id, verdict.message)


def test_the_same_site_unmutated_is_not_refuted():
    site = next(s for s in all_sites() if (s.claim, s.name) == ("optimizer-adam", "rule"))
    verdict = run_claim(site_control(site), examples=30, seed=0, device="cpu")
    assert verdict.verdict.value == "verified", verdict.message


def test_equivalent_and_weaker_mutants_are_excluded_with_a_reason():
    by_desc = {(m.claim_id, m.description): m for m in all_mutants()}
    weaker = by_desc[("softmax-ce-smoothness", "bound × 1.01")]
    assert weaker.excluded.startswith("weaker than the true claim")
    scaled_null = by_desc[("softmax-ce-convex", "null-direction × 2")]
    assert scaled_null.excluded.startswith("equivalent")
    within = by_desc[("critical-point-classification", "second-order-term × 101/100")]
    assert "never violated" in within.excluded
    assert not by_desc[("critical-point-classification", "second-order-term × 2")].excluded


def test_committed_list_is_what_the_generator_gives():
    committed = read_list(ROOT / "bench" / "mutants.md")
    generated = [(m.id, m.claim_id, m.site, m.op, m.description) for m in all_mutants()]
    assert committed == generated, "regenerate: python bench/mutation_score.py --write-list bench/mutants.md"
    holding = {c.id for c in __import__("verify").all_claims() if c.expected.value == "holds"}
    assert {m.claim_id for m in all_mutants()} == holding


def _cases(claim_id: str, count: int) -> list:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    out: list = []

    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate], derandomize=False,
              suppress_health_check=list(HealthCheck))
    @hypothesis_seed(1)
    @given(case=get_claim(claim_id).cases())
    def draw(case):  # type: ignore[no-untyped-def]
        out.append(case)

    draw()
    return out


def _same(a, b) -> None:  # type: ignore[no-untyped-def]
    assert (a.status, a.lhs, a.rhs, a.scale) == (b.status, b.lhs, b.rhs, b.scale)


@pytest.mark.parametrize("claim_id", ["softmax-ce-convex", "critical-point-classification"])
def test_unmutated_sites_match_the_family(claim_id: str):
    """The site's check and re-check, rebuilt from its unmutated formula, give the family's comparisons."""
    claim = get_claim(claim_id)
    site = next(s for s in all_sites() if s.claim == claim_id)
    ours = site_control(site)
    ctx = CheckContext()
    for case in _cases(claim_id, 4):
        _same(ours.check(case, ctx).comparison, claim.check(case, ctx).comparison)
        _same(ours.recheck(case, ctx).comparison, claim.recheck(case, ctx).comparison)


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(all_sites())))
def test_every_site_unmutated_gives_the_family_comparison(index: int):
    """Each site rebuilt with its formula unmutated judges like the claim itself (up to round-off)."""
    site = all_sites()[index]
    claim, ours, ctx = get_claim(site.claim), site_control(site), CheckContext()
    for case in _cases(site.claim, 6):
        a, b = ours.check(case, ctx).comparison, claim.check(case, ctx).comparison
        assert a.status == b.status
        assert a.lhs == pytest.approx(b.lhs, rel=1e-9, abs=1e-300)
        assert a.rhs == pytest.approx(b.rhs, rel=1e-9, abs=1e-300)
