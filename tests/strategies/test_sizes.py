"""Size arguments of the public strategies: an int is that size, ``(lo, hi)`` a range drawn from, anything else
an error naming the argument (``vectors((3, 6))`` once drew only length 3, so norm bounds that fail from
length 4 on came out verified)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import find, given, settings

import verify
from verify.errors import InvalidInputError
from verify.strategies import (
    SCALE_LADDER,
    logits,
    matrices,
    mlp_cases,
    mlp_head_cases,
    softmax_batches,
    symmetric_block_matrices,
    unit_arrays,
    vectors,
)

DRAWS = settings(max_examples=200, database=None, deadline=None)


def _draw_all(strategy, n=200) -> list:
    out = []

    @DRAWS
    @given(strategy)
    def run(x):
        out.append(x)

    run()
    return out[:n]


def test_a_length_range_draws_every_length_and_shrinks_to_the_lowest():
    lengths = {len(x) for x in _draw_all(vectors((3, 6)))}
    assert lengths == {3, 4, 5, 6}
    assert len(find(vectors((3, 6)), lambda x: True)) == 3
    assert {len(x) for x in _draw_all(vectors(4), 50)} == {4}


def test_a_row_and_column_range_draws_every_shape_within_it():
    shapes = {a.shape for a in _draw_all(matrices((2, 4), (1, 3)))}
    assert {r for r, _ in shapes} == {2, 3, 4} and {c for _, c in shapes} == {1, 2, 3}
    assert find(matrices((2, 4), (1, 3)), lambda a: True).shape == (2, 1)
    assert {a.shape for a in _draw_all(matrices(3, (2, 2)), 50)} == {(3, 2)}


def test_a_fixed_size_draws_what_it_drew_before():
    # an int and the pair (n, n) take the old code path: the same seed gives the same cases
    assert [x.tolist() for x in _draw_all(vectors(3), 30)] == [x.tolist() for x in _draw_all(vectors((3, 3)), 30)]


def test_ranges_of_the_case_strategies_are_honoured():
    for b in _draw_all(softmax_batches(k=(3, 4), d=2, m=(2, 3)), 60):
        assert 3 <= b.k <= 4 and b.d == 2 and 2 <= b.m <= 3
    for z in _draw_all(logits((3, 5)), 60):
        assert 3 <= len(z) <= 5
    for c in _draw_all(mlp_cases(depth=(2, 3), width=(2, 4), batch=3, d_in=5, d_out=(1, 2)), 60):
        assert 2 <= len(c.weights) <= 3 and c.widths[0] == 5 and 1 <= c.widths[-1] <= 2 and c.x.shape[0] == 3
        assert all(2 <= w <= 4 for w in c.widths[1:-1])
    for h in _draw_all(mlp_head_cases(depth=2, width=(2, 3), batch=(1, 2)), 60):
        assert len(h.mlp.weights) == 2 and all(w <= 3 for w in h.mlp.widths) and h.mlp.x.shape[0] <= 2
    for s in _draw_all(symmetric_block_matrices(n_blocks=(2, 3), block=2), 60):
        assert 2 <= len(s.block_sizes) <= 3 and set(s.block_sizes) == {2}


def test_zero_length_vectors_and_empty_matrices_are_allowed():
    assert {x.shape for x in _draw_all(vectors(0), 5)} == {(0,)}
    assert {a.shape for a in _draw_all(matrices(0, (0, 2)), 20)} <= {(0, 0), (0, 1), (0, 2)}


# every size argument of every public strategy, with its minimum
SIZE_ARGUMENTS = [
    ("n", 0, lambda v: vectors(v)),
    ("rows", 0, lambda v: matrices(v, 2)),
    ("cols", 0, lambda v: matrices(2, v)),
    ("k", 2, lambda v: logits(v)),
    ("k", 2, lambda v: softmax_batches(k=v)),
    ("d", 1, lambda v: softmax_batches(d=v)),
    ("m", 1, lambda v: softmax_batches(m=v)),
    ("depth", 1, lambda v: mlp_cases(depth=v)),
    ("width", 1, lambda v: mlp_cases(width=v)),
    ("batch", 1, lambda v: mlp_cases(batch=v)),
    ("d_in", 1, lambda v: mlp_cases(d_in=v)),
    ("d_out", 1, lambda v: mlp_cases(d_out=v)),
    ("depth", 1, lambda v: mlp_head_cases(depth=v)),
    ("width", 1, lambda v: mlp_head_cases(width=v)),
    ("batch", 1, lambda v: mlp_head_cases(batch=v)),
    ("n_blocks", 1, lambda v: symmetric_block_matrices(n_blocks=v)),
    ("block", 1, lambda v: symmetric_block_matrices(block=v)),
]


@pytest.mark.parametrize(("name", "minimum", "make"), SIZE_ARGUMENTS)
@pytest.mark.parametrize("bad", ["below-minimum", -1, (5, 3), 2.5, 3.0, (1, 2, 3), (2.0, 4), "3", None])
def test_a_bad_size_is_an_error_naming_the_argument(name, minimum, make, bad):
    if bad == "below-minimum":
        bad = minimum - 1
    if name in ("d_in", "d_out") and bad is None:
        return  # None means "as width" there
    with pytest.raises(InvalidInputError) as info:
        make(bad)
    message = str(info.value)
    assert f"Got {name}={bad!r}" in message and "(lo, hi)" in message
    make(minimum), make((minimum, minimum + 2))  # the accepted forms


@pytest.mark.parametrize("bad", [2.5, -1, (2, -1), "3", None])
def test_a_bad_shape_of_unit_arrays_is_an_error(bad):
    with pytest.raises(InvalidInputError, match="Got shape="):
        unit_arrays(bad)


def test_nonzero_vectors_need_a_positive_length():
    with pytest.raises(InvalidInputError, match="n=0"):
        vectors(0, nonzero=True)
    with pytest.raises(InvalidInputError, match="rows=\\(0, 2\\)"):
        matrices((0, 2), 2, nonzero=True)
    assert all(np.any(x) for x in _draw_all(vectors((1, 3), nonzero=True), 50))


def _ineq(id, cases, lhs, rhs):
    return verify.inequality(id, statement=id, cases=cases, lhs=lhs, rhs=rhs)


FALSE_NORM_BOUNDS = [
    _ineq("l2-le-sqrt3-linf", vectors((3, 6)), lambda x: float(np.linalg.norm(x)),
          lambda x: math.sqrt(3) * float(np.max(np.abs(x)))),
    _ineq("l1-le-sqrt2-l2", vectors((2, 5)), lambda x: float(np.abs(x).sum()),
          lambda x: math.sqrt(2) * float(np.linalg.norm(x))),
    _ineq("fro-le-sqrt2-spectral", matrices((2, 4), (2, 4)), lambda a: float(np.linalg.norm(a)),
          lambda a: math.sqrt(2) * float(np.linalg.norm(a, 2))),
]


@pytest.mark.parametrize("claim", FALSE_NORM_BOUNDS, ids=lambda c: c.id)
@pytest.mark.parametrize("seed", range(5))
def test_norm_bounds_false_beyond_the_lowest_size_are_refuted(claim, seed):
    verdict = verify.run_claim(claim, seed=seed)
    assert verdict.verdict.value == "refuted", verdict.message


@pytest.mark.parametrize("shape", [(1, 1), (2, 4), (4, 2), (3, 3)])
def test_flat_spectrum_matrices_have_every_singular_value_equal_to_the_scale(shape):
    for A in _draw_all(matrices(*shape, structure="flat-spectrum"), 40):
        sv = np.linalg.svd(A, compute_uv=False)
        assert sv == pytest.approx(np.full(min(shape), sv[0]), rel=1e-15) and sv[0] in SCALE_LADDER
        assert np.count_nonzero(A) == min(shape) and set(np.abs(A[A != 0])) == {sv[0]}


def test_default_matrices_reach_both_ends_of_the_spectrum():
    """Half generic, and the two extremes of bounds between matrix norms: rank one and a flat spectrum."""
    kinds = set()
    for A in _draw_all(matrices(3, 3), 200):
        sv = np.linalg.svd(A, compute_uv=False)
        if sv[0] > 0 and np.allclose(sv, sv[0], rtol=0, atol=1e-12 * sv[0]):
            kinds.add("flat")
        elif sv[0] > 0 and sv[1] <= 1e-12 * sv[0]:
            kinds.add("rank-one")
        elif sv[0] > 0:
            kinds.add("generic")
    assert kinds == {"flat", "rank-one", "generic"}
