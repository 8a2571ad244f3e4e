"""The local phase of a search block: climb from the tightest case by one-choice moves.

Hypothesis draws every case from a sequence of choices (integers, floats, booleans) with their
constraints. The local phase takes the choice sequences of the tightest cases found so far (the smallest
gap to a violation, :func:`~verify.check._case_search.tightness_gap`, among cases whose sides are not both
zero, one per shape of case, the best :data:`ANCHORS`) and
tries changing one choice at a time: every other value
of a small-range integer (a scale ladder index, a structure, a size, a tie's position), zero, the bounds,
half, double or minus a value, and the value of another choice of the same kind (a tie). The candidate is
replayed through the claim's own strategy, so it is always a valid case of the claim (filters and
bounds included), never an array edited behind the strategy's back. A candidate with a smaller gap
becomes the new anchor (first improvement); a violation is handed back so that Hypothesis shrinks it.

This moves a case along the strategy's own axes: toward a smaller scale, a tie, a rank drop, a boundary
tag. It relies on Hypothesis internals (``ConjectureData.for_choices``, choice nodes); where they are
missing the phase is skipped and the evidence says so.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

__all__ = ["ANCHORS", "LOCAL_CASES", "SAMPLED_CASES", "Anchor", "anchor_of", "current_nodes", "local_phase",
           "replay_choices", "sample_phase", "signature"]

#: Evaluations of the local phase in each block (the rest of the block is Hypothesis's generation and
#: targeting).
LOCAL_CASES = 30
#: Cases of each block drawn at random from the strategy's own distribution, before the local phase.
#: Hypothesis's generation leans toward simple cases (the smallest sizes, zeros, copies of earlier draws)
#: and its targeting climbs the tightest one; a violating set of positive measure that is neither simple
#: nor tight (``||tanh(WX)||_F <= ||W||_2 ||X||_2``, false on 5.6 % of random draws, needs two rows, two
#: columns and a small scale) is missed by both at some seeds; plain draws find it at that set's rate.
SAMPLED_CASES = 20
#: Anchors (tightest cases of distinct shapes) the local phase climbs from, in each block.
ANCHORS = 3
#: Candidate draws tried per evaluation at most (a candidate the strategy rejects costs no evaluation).
_ATTEMPTS_PER_CASE = 8
#: A choice with at most this many values is structural (a ladder index, a shape, a size): try them all.
_STRUCTURAL = 8


@dataclass(frozen=True)
class Anchor:
    """The choice sequence of a case, with each choice's kind and constraints."""

    gap: float
    values: tuple[Any, ...]
    kinds: tuple[tuple[str, Any], ...]


def current_nodes() -> tuple[Any, ...] | None:
    """The choice nodes of the case being run by Hypothesis (``None`` outside a test or without internals)."""
    try:
        from hypothesis.control import current_build_context

        return tuple(current_build_context().data.nodes)
    except Exception:  # noqa: BLE001 - internals moved, or not inside a Hypothesis test: no local phase
        return None


def anchor_of(gap: float, nodes: tuple[Any, ...] | None) -> Anchor | None:
    if not nodes:
        return None
    try:
        return Anchor(gap, tuple(n.value for n in nodes), tuple((n.type, n.constraints) for n in nodes))
    except AttributeError:
        return None


def replay_choices(strategy: Any, values: list[Any], rng: random.Random | None = None
                   ) -> tuple[Any, tuple[Any, ...]] | None:
    """The case the strategy draws from ``values``, and its nodes; ``None`` if the strategy rejects them.

    With ``rng``, choices the sequence cannot supply are drawn at random from the strategy: those past its
    end (a move to a larger shape draws more) and, from the first choice that no longer fits (a move changed
    what the strategy draws there), the rest of the case. Without it they take their simplest value, which
    makes a larger shape its zero case, a dead end for the search.
    """
    first = _draw_from(strategy, values, rng)
    if first is None or rng is None:
        return first[:2] if first is not None else None
    case, nodes, misaligned_at = first
    if misaligned_at is None:
        return case, nodes
    second = _draw_from(strategy, values[:misaligned_at], rng)
    return second[:2] if second is not None else None


def _draw_from(strategy: Any, values: list[Any], rng: random.Random | None
               ) -> tuple[Any, tuple[Any, ...], int | None] | None:
    from hypothesis.control import BuildContext
    from hypothesis.errors import StopTest
    from hypothesis.internal.conjecture.data import ConjectureData

    if rng is None:
        data = ConjectureData.for_choices(list(values) * 2)  # spare choices: a larger shape draws more
    else:  # past the prefix, the provider draws at random from a generator seeded by the search's rng
        data = ConjectureData(random=random.Random(rng.getrandbits(64)), prefix=list(values))
    try:
        with BuildContext(data, is_final=False, wrapped_test=replay_choices):  # flatmap/composite need one
            case = data.draw(strategy)
    except StopTest:  # ran out of choices, or a filter / assume rejected the draw
        return None
    misaligned = data.misaligned_at[0] if data.misaligned_at is not None else None
    return case, tuple(data.nodes), misaligned  # a choice that no longer fits is replaced: still a valid draw


def moves(anchor: Anchor, rng: random.Random) -> list[tuple[int, Any]]:
    """The one-choice moves from the anchor, to be popped from the end: first (last in the list) the
    structural ones, every value of a choice with at most :data:`_STRUCTURAL` values (a scale, a shape, a
    structure, a size), then the value moves (bounds, zero, one step, half, double, minus, a tie with a
    peer), each group in a seeded random order."""
    from hypothesis.internal.conjecture.choice import choice_permitted

    structural: list[tuple[int, Any]] = []
    values: list[tuple[int, Any]] = []
    for i, ((kind, constraints), value) in enumerate(zip(anchor.kinds, anchor.values, strict=True)):
        peers = [v for (k, c), v in zip(anchor.kinds, anchor.values, strict=True) if k == kind and c == constraints]
        small = kind == "integer" and _span(constraints) <= _STRUCTURAL
        for candidate in dict.fromkeys(_candidates(kind, constraints, value, peers, small)):
            if candidate != value and _permitted(choice_permitted, candidate, constraints):
                (structural if small or kind == "boolean" else values).append((i, candidate))
    rng.shuffle(structural)
    rng.shuffle(values)
    return values + structural


def _span(constraints: dict[str, Any]) -> float:
    lo, hi = constraints.get("min_value"), constraints.get("max_value")
    return math.inf if lo is None or hi is None else hi - lo + 1


def _permitted(choice_permitted: Any, value: Any, constraints: Any) -> bool:
    try:
        return bool(choice_permitted(value, constraints))
    except Exception:  # noqa: BLE001 - a constraint form this version does not know
        return False


def _candidates(kind: str, constraints: dict[str, Any], value: Any, peers: list[Any], small: bool) -> list[Any]:
    if kind == "boolean":
        return [not value]
    if kind == "integer":
        lo, hi = constraints.get("min_value"), constraints.get("max_value")
        if small:
            return list(range(lo, hi + 1))
        return [*(b for b in (lo, hi) if b is not None), 0, value + 1, value - 1, -value, value // 2, value * 2,
                *peers]
    if kind == "float" and isinstance(value, float) and math.isfinite(value):
        return [0.0, value / 2, value * 2, -value, *peers]
    return []


def signature(case: Any) -> Any:
    """The shape of a case (array shapes, lengths, field names), to keep one anchor per shape: a local
    optimum of one shape (a rank-one product at a tiny scale) must not hide the others."""
    import dataclasses

    shape = getattr(case, "shape", None)
    if shape is not None:
        return tuple(shape)
    if isinstance(case, list | tuple):
        return tuple(signature(c) for c in case)
    if isinstance(case, dict):
        return tuple((k, signature(v)) for k, v in sorted(case.items(), key=lambda kv: repr(kv[0])))
    if dataclasses.is_dataclass(case) and not isinstance(case, type):
        return (type(case).__name__, *(signature(getattr(case, f.name)) for f in dataclasses.fields(case)))
    return type(case).__name__


def sample_phase(state: Any, strategy: Any, rng: random.Random) -> list[Any] | None:
    """Evaluate :data:`SAMPLED_CASES` new cases drawn at random from the strategy (seeded by ``rng``).

    They join the evidence and the anchors like any case. Returns the choice sequence of a violating
    case (for Hypothesis to shrink), or ``None``.
    """
    drawn = attempts = 0
    while drawn < SAMPLED_CASES and attempts < _ATTEMPTS_PER_CASE * SAMPLED_CASES and state.has_budget():
        attempts += 1
        try:
            draw = _draw_from(strategy, [], rng)
        except (ImportError, TypeError, AttributeError):  # Hypothesis internals moved: no sample phase
            return None
        if draw is None or state.seen(draw[0]):  # rejected by a filter, or a repeat: costs no evaluation
            continue
        case, nodes, _ = draw
        drawn += 1
        if state.evaluate_sampled(case, nodes) is None:
            return [n.value for n in nodes]
    return None


def local_phase(state: Any, strategy: Any, rng: random.Random) -> list[Any] | None:
    """Climb from the tightest anchors of up to :data:`ANCHORS` shapes, :data:`LOCAL_CASES` evaluations in all.

    Returns the choice sequence of a violating case (for Hypothesis to shrink), or ``None``.
    """
    anchors = sorted(state.anchors.values(), key=lambda a: a.gap)[:ANCHORS]
    for n, anchor in enumerate(anchors):
        share = (LOCAL_CASES - state.local_cases_in_block) // (len(anchors) - n)
        found = _climb(state, strategy, rng, anchor, share)
        if found is not None:
            return found
    return None


def _climb(state: Any, strategy: Any, rng: random.Random, anchor: Anchor, budget: int) -> list[Any] | None:
    try:
        pending = moves(anchor, rng)
    except ImportError:
        return None
    evaluations = attempts = 0
    while pending and evaluations < budget and attempts < _ATTEMPTS_PER_CASE * budget:
        if not state.has_budget():
            return None
        i, value = pending.pop()
        attempts += 1
        values = list(anchor.values)
        values[i] = value
        drawn = replay_choices(strategy, values, rng)
        if drawn is None:
            continue
        case, nodes = drawn
        if state.seen(case):  # the move did not change the case (an unused choice), or went back
            continue
        evaluations += 1
        gap = state.evaluate_local(case, nodes)
        if gap is None:  # a violation that counts
            return values
        if gap < anchor.gap:  # improved: climb on from there
            anchor = anchor_of(gap, nodes) or anchor
            pending = moves(anchor, rng)
    return None
