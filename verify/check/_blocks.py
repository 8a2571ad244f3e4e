"""Hypothesis runs of one search block, and the loop over blocks (see ``BLOCK``)."""

from __future__ import annotations

from typing import Any

from verify.check._case_search import _HYPOTHESIS_CASES, _Search, _Violation, block_seed
from verify.check._local import local_phase, sample_phase


def _settings(max_examples: int, phases: tuple[Any, ...], database: Any = None) -> Any:
    import hypothesis
    from hypothesis import HealthCheck, settings

    return settings(max_examples=max_examples, database=database, deadline=None, derandomize=False,
                    suppress_health_check=list(HealthCheck), report_multiple_bugs=False, print_blob=False,
                    verbosity=hypothesis.Verbosity.quiet, phases=phases)


def _block_search(strategy: Any, state: _Search, seed: int) -> Any:
    from hypothesis import Phase, given
    from hypothesis import seed as hypothesis_seed

    @_settings(_HYPOTHESIS_CASES, (Phase.explicit, Phase.generate, Phase.target, Phase.shrink))
    @hypothesis_seed(seed)
    @given(case=strategy)
    def search(case: Any) -> None:
        state.run_case(case)

    return search


def _shrink_search(strategy: Any, state: _Search, values: list[Any], seed: int) -> Any:
    """A Hypothesis run that starts from the local phase's violating choices and shrinks them."""
    from hypothesis import Phase, given
    from hypothesis import seed as hypothesis_seed
    from hypothesis.database import InMemoryExampleDatabase, choices_to_bytes

    database, key = InMemoryExampleDatabase(), b"verify-local-phase"
    database.save(key, choices_to_bytes(values))

    @_settings(1, (Phase.reuse, Phase.shrink), database)
    @hypothesis_seed(seed)
    @given(case=strategy)
    def shrink(case: Any) -> None:
        state.run_case(case)

    shrink._hypothesis_internal_database_key = key  # type: ignore[attr-defined]
    return shrink


def run_blocks(strategy: Any, state: _Search, seed: int, first: int = 0, stride: int = 1) -> None:
    """Run blocks until the budget is spent, a violation is found, or the strategy has nothing new.

    The blocks are ``first``, ``first + stride``, … of the search's sequence (a shard of
    :mod:`verify.check._shards` takes every ``stride``-th one, so that no two shards share a block's seed).
    """
    import random

    block = first
    while state.has_budget():
        start = state.evaluated
        state.blocks += 1
        _block_search(strategy, state, block_seed(seed, block))()
        exhausted = state.evaluated - start < _HYPOTHESIS_CASES and state.has_budget()
        state.local_cases_in_block = 0
        rng = random.Random(block_seed(seed, block))
        found = sample_phase(state, strategy, rng) if state.has_budget() else None
        if found is None and state.has_budget():
            found = local_phase(state, strategy, rng)
        if found is not None:
            from hypothesis.errors import Unsatisfiable

            try:
                _shrink_search(strategy, state, found, block_seed(seed, block))()
            except Unsatisfiable:  # Hypothesis rejected the replayed choices (a filter): keep it unshrunk
                pass
            raise _Violation  # the shrinking run ended without replaying the failure: report it as found
        if exhausted or state.evaluated == start:
            return  # Hypothesis ran out of new cases: further blocks would repeat them
        block += stride


