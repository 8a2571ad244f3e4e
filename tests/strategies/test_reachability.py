"""Boundary cases are reachable: each is generated within 50 derandomized examples.

A checker that never draws width-1 layers, rank-one weights or tied logits never
sees the bounds of C1 and C3 bite, so the strategies weight those draws on
purpose. Each test collects what a seeded 50-example run generates and asserts
afterwards (a ``@given`` body that merely records never fails, so all 50 run).

The seed of a derandomized run is derived from the test function, so these
assertions must not depend on one lucky seed: each one held in 100 of 100
random seeds (50 examples each) when it was written. Logits past ``1e3`` are
generated too, but in about 1 run in 10 not within 50 examples, so only the
``large-scale`` threshold ``1e2`` is asserted.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings

from verify.strategies import logits, mlp_cases, softmax_batches, step_sizes, symmetric_block_matrices

FIRST_50 = settings(max_examples=50, database=None, derandomize=True, deadline=None)


def _collect(strategy) -> list:
    seen: list = []

    @FIRST_50
    @given(value=strategy)
    def record(value) -> None:
        seen.append(value)

    record()
    assert len(seen) == 50
    return seen


def _tags(cases) -> set[str]:
    return {tag for case in cases for tag in case.tags}


def test_mlp_boundary_cases_are_reached() -> None:
    cases = _collect(mlp_cases())
    expected = {"width-1", "rank-one", "zero-weights", "tiny-scale", "large-scale", "single-example"}
    assert expected <= _tags(cases), f"missing {expected - _tags(cases)}"
    # the equality case of C3 (widths [1, 1]) and both bias settings, every activation
    assert any(c.widths == (1, 1) for c in cases)
    assert {c.bias for c in cases} == {True, False}
    assert len({c.activation for c in cases}) >= 4
    # and not only boundary cases: some deep and wide networks, some wide multi-example batches
    assert any(c.depth >= 3 and max(c.widths) >= 8 for c in cases)
    assert any(c.batch >= 4 and max(c.widths) >= 8 for c in cases)


def test_softmax_boundary_cases_are_reached() -> None:
    batches = _collect(softmax_batches())
    expected = {"width-1", "rank-one", "tied-logits", "zero-weights", "tiny-scale", "large-scale", "k-2",
                "single-example"}
    assert expected <= _tags(batches), f"missing {expected - _tags(batches)}"
    # the tight case of the smoothness bound M = lambda_max(X^T X / m) / 2
    assert any(b.k == 2 and not b.W.any() for b in batches)
    # two tied logits with W != 0 (tied rows); large logits; and generic batches too
    assert any("tied-logits" in b.tags and b.W.any() for b in batches)
    assert max(np.abs(b.logits).max() for b in batches) >= 1e2
    assert any(b.k >= 4 and b.m >= 4 for b in batches)
    assert any(b.k >= 3 and b.m >= 2 and "tied-logits" not in b.tags for b in batches)


def test_logit_ties_near_ties_and_large_values_are_reached() -> None:
    vectors = _collect(logits())
    top2 = [(*np.sort(z)[-2:], np.abs(z).max()) for z in vectors]
    assert any(a == b for a, b, _ in top2)
    gaps = [(b - a) / size for a, b, size in top2 if a != b]
    assert any(0 < g <= 1e-6 for g in gaps), "no near tie"
    assert max(np.abs(z).max() for z in vectors) >= 1e2
    assert any(z.size == 2 for z in vectors)


def test_step_sizes_reach_the_max_and_several_decades() -> None:
    alphas = _collect(step_sizes(2.0))
    assert 2.0 in alphas
    assert any(2.0 * 0.999 <= a < 2.0 for a in alphas)
    assert min(alphas) <= 2.0 * 1e-4
    assert all(0 < a <= 2.0 for a in alphas)


def test_block_matrix_counterexamples_are_reached() -> None:
    matrices = _collect(symmetric_block_matrices())
    assert "width-1" in _tags(matrices) and "rank-one" in _tags(matrices)
    not_psd = [s for s in matrices if np.linalg.eigvalsh(s.matrix).min() < -1e-9 * max(1.0, np.abs(s.matrix).max())]
    assert not_psd, "PSD diagonal blocks => PSD is never refuted"
    assert any(s.n == 2 for s in not_psd)
