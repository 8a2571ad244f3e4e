"""The strategies' outputs: truthful tags, exact JSON, shrinking, argument validation.

Tags are recomputed here independently of :mod:`verify.strategies.cases`: rank by
counting singular values (not ``matrix_rank``), ties from logits computed entirely
in exact rationals (no float pre-filter). The case dataclasses themselves are
tested in ``test_cases``.
"""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import find, given, settings

from verify.errors import InvalidInputError
from verify.strategies import (
    TAGS,
    MLPCase,
    SoftmaxBatch,
    SymmetricBlockMatrix,
    case_from_json,
    logits,
    matrices,
    mlp_cases,
    scales,
    softmax_batches,
    step_sizes,
    symmetric_block_matrices,
    unit_arrays,
    vectors,
)

from .conftest import arrays_of

FAST = settings(max_examples=60, database=None, derandomize=True, deadline=None)
EPS = np.finfo(np.float64).eps


# --------------------------------------------------------------------------- independent tag oracle


def _rank(a: np.ndarray) -> int:
    s = np.linalg.svd(a, compute_uv=False)
    if s.size == 0 or s[0] == 0:
        return 0
    return int(np.sum(s > s[0] * max(a.shape) * EPS))


def _rank_one(a: np.ndarray) -> bool:
    return a.size > 0 and _rank(a) == 1


def _tiny(a: np.ndarray) -> bool:
    return a.size > 0 and np.abs(a).max() > 0 and np.abs(a).max() <= 1e-3


def _large(a: np.ndarray) -> bool:
    return a.size > 0 and np.abs(a).max() >= 1e2


def _exact_tie(W: np.ndarray, X: np.ndarray) -> bool:
    for x in X.tolist():
        z = sorted((sum(Fraction(w) * Fraction(v) for w, v in zip(row, x)) for row in W.tolist()), reverse=True)
        if len(z) >= 2 and z[0] == z[1]:
            return True
    return False


def expected_mlp_tags(c: MLPCase) -> set[str]:
    tags = set()
    if min(c.widths) == 1:
        tags.add("width-1")
    if any(_rank_one(a) for a in (*c.weights, c.x)):
        tags.add("rank-one")
    if any(np.all(W == 0) for W in c.weights):
        tags.add("zero-weights")
    if any(_tiny(a) for a in (*c.weights, c.x)):
        tags.add("tiny-scale")
    if any(_large(a) for a in (*c.weights, *c.biases, c.x)):
        tags.add("large-scale")
    if c.x.shape[0] == 1:
        tags.add("single-example")
    return tags


def expected_softmax_tags(b: SoftmaxBatch) -> set[str]:
    k, d = b.W.shape
    m = b.X.shape[0]
    tags = set()
    if d == 1 or k == 1:
        tags.add("width-1")
    if _rank_one(b.W) or _rank_one(b.X):
        tags.add("rank-one")
    if _exact_tie(b.W, b.X):
        tags.add("tied-logits")
    if np.all(b.W == 0):
        tags.add("zero-weights")
    if _tiny(b.W) or _tiny(b.X):
        tags.add("tiny-scale")
    if _large(b.W) or _large(b.X) or _large(b.X @ b.W.T):
        tags.add("large-scale")
    if k == 2:
        tags.add("k-2")
    if m == 1:
        tags.add("single-example")
    return tags


def expected_block_tags(s: SymmetricBlockMatrix) -> set[str]:
    tags = set()
    if min(s.block_sizes) == 1:
        tags.add("width-1")
    if _rank_one(s.matrix) or any(_rank_one(B) for B in s.diagonal_blocks()):
        tags.add("rank-one")
    if np.all(s.matrix == 0):
        tags.add("zero-weights")
    if _tiny(s.matrix):
        tags.add("tiny-scale")
    if _large(s.matrix):
        tags.add("large-scale")
    return tags


def assert_json_round_trip(case) -> None:
    text = json.dumps(case.to_json(), allow_nan=False)  # strict JSON: plain lists, floats, strings
    back = type(case).from_json(json.loads(text))
    assert back == case
    assert case_from_json(json.loads(text)) == case
    assert back.tags == case.tags
    for a, b in zip(arrays_of(case), arrays_of(back), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    assert repr(back) == repr(case)


# --------------------------------------------------------------------------- generated cases


@FAST
@given(case=mlp_cases())
def test_mlp_cases_are_consistent_truthful_and_round_trip(case: MLPCase) -> None:
    assert set(case.tags) == expected_mlp_tags(case)
    assert case.tags == tuple(t for t in TAGS if t in case.tags)
    assert 1 <= case.depth <= 4 and len(case.weights) == case.depth
    for t, W in enumerate(case.weights):
        assert W.dtype == np.float64 and W.shape == (case.widths[t + 1], case.widths[t])
        assert np.all(np.isfinite(W))
    assert case.biases == () if not case.bias else all(b.shape == (w,) for b, w in zip(case.biases, case.widths[1:]))
    assert case.x.shape == (case.batch, case.d_in) and 1 <= case.batch <= 8
    assert case.flat_params().shape == (case.n_params,)
    assert_json_round_trip(case)


@FAST
@given(batch=softmax_batches())
def test_softmax_batches_are_consistent_truthful_and_round_trip(batch: SoftmaxBatch) -> None:
    assert set(batch.tags) == expected_softmax_tags(batch)
    assert 2 <= batch.k <= 6 and 1 <= batch.d <= 6 and 1 <= batch.m <= 8
    assert batch.y.dtype == np.int64 and batch.y.shape == (batch.m,)
    assert np.all((batch.y >= 0) & (batch.y < batch.k))
    assert np.all(np.isfinite(batch.logits))
    assert_json_round_trip(batch)


@FAST
@given(s=symmetric_block_matrices())
def test_block_matrices_are_symmetric_with_psd_diagonal_blocks(s: SymmetricBlockMatrix) -> None:
    assert set(s.tags) == expected_block_tags(s)
    assert np.array_equal(s.matrix, s.matrix.T)
    assert 2 <= len(s.block_sizes) <= 3 and all(1 <= b <= 3 for b in s.block_sizes)
    for B in s.diagonal_blocks():
        # exact construction; eigvalsh's own error is ~n eps ||B||
        assert np.linalg.eigvalsh(B).min() >= -10 * EPS * max(1.0, np.abs(B).max())
    assert np.array_equal(s.block_diagonal() + (s.matrix - s.block_diagonal()), s.matrix)
    assert_json_round_trip(s)


@FAST
@given(s=symmetric_block_matrices(n_blocks=2, block=(2, 2), psd_diagonal=False))
def test_block_matrices_without_psd_diagonal(s: SymmetricBlockMatrix) -> None:
    assert s.block_sizes == (2, 2) and np.array_equal(s.matrix, s.matrix.T)


@FAST
@given(case=mlp_cases(depth=2, width=(3, 5), d_in=1, d_out=(2, 2), batch=3, bias=True,
                      activations=("relu", "gelu")))
def test_mlp_cases_respect_their_arguments(case: MLPCase) -> None:
    assert case.depth == 2 and case.widths[0] == 1 and case.widths[-1] == 2
    assert 3 <= case.widths[1] <= 5  # only d_in's range contains 1, so no hidden width is forced to 1
    assert case.bias and len(case.biases) == 2 and case.batch == 3
    assert case.activation in ("relu", "gelu")


@FAST
@given(case=mlp_cases(depth=(1, 3), width=(1, 4), max_scale=10.0, zero_layers=False))
def test_mlp_cases_can_leave_out_large_weights_and_zero_layers(case: MLPCase) -> None:
    """Entries are n/q·s with |n/q| ≤ 2, a rank-one layer's a product of two (≤ 4s): a scale cap of 10 keeps every
    weight and bias at most 40 (never ``large-scale``, ≥ 100; the inputs' scales stop at 10 anyway)."""
    assert max(float(np.abs(a).max(initial=0.0)) for a in (*case.weights, *case.biases)) <= 40.0
    assert "large-scale" not in case.tags


def test_zero_layers_false_leaves_out_drawn_zero_layers() -> None:
    """A 3×3 layer is 0 by chance only when nine drawn entries all are (Hypothesis favours zeros: about one
    network in ten): with the zero structure left out, far fewer zero layers than with it (seen: 19 against 66 in
    the same 200 derandomized draws)."""
    counts = {}
    for flag in (True, False):
        seen = []

        @settings(max_examples=200, database=None, derandomize=True, deadline=None)
        @given(case=mlp_cases(depth=2, width=3, zero_layers=flag))
        def draw(case: MLPCase) -> None:
            seen.append(any(not w.any() for w in case.weights))

        draw()
        counts[flag] = sum(seen)
    assert counts[True] >= 40 and counts[False] <= counts[True] // 2, counts


def test_mlp_cases_reject_a_bad_cap_or_flag() -> None:
    with pytest.raises(InvalidInputError, match="zero_layers"):
        mlp_cases(zero_layers="no")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="max_scale"):
        mlp_cases(max_scale=1e-6)


@FAST
@given(z=logits())
def test_logits_shape_and_magnitude(z: np.ndarray) -> None:
    assert z.dtype == np.float64 and z.ndim == 1 and 2 <= z.size <= 8
    assert np.all(np.isfinite(z)) and np.abs(z).max() <= 1e4


@FAST
@given(z=logits(4, near_ties=False, large=False))
def test_logits_without_near_ties_or_large_values(z: np.ndarray) -> None:
    top2 = np.sort(z)[-2:]
    assert z.size == 4 and np.abs(z).max() < 1e2
    assert top2[0] == top2[1] or top2[1] - top2[0] >= 0.5e-4 / 1024  # no near ties: about the grid spacing


@FAST
@given(alpha=step_sizes(0.5))
def test_step_sizes_are_in_range(alpha: float) -> None:
    assert isinstance(alpha, float) and 0.0 < alpha <= 0.5


@FAST
@given(alpha=step_sizes(3.0, include_max=False, decades=2))
def test_step_sizes_can_exclude_the_max(alpha: float) -> None:
    assert 3.0 * 1e-3 <= alpha < 3.0


@FAST
@given(a=matrices(3, 4, structure="rank-one"), b=matrices(2, 2, structure="zero", scale=7.0),
       c=matrices(3, 2, structure="tied-rows", scale=scales(min_scale=1.0, max_scale=1.0)),
       v=vectors(5, nonzero=True), u=unit_arrays((2, 3)))
def test_array_structures(a, b, c, v, u) -> None:
    assert a.shape == (3, 4) and _rank(a) == 1
    assert b.shape == (2, 2) and not b.any()
    assert any(np.array_equal(c[i], c[j]) for i in range(3) for j in range(i + 1, 3))
    assert v.shape == (5,) and v.any()
    assert u.shape == (2, 3) and np.abs(u).max() <= 2 and np.array_equal(u * 1024, np.round(u * 1024))


# --------------------------------------------------------------------------- shrinking and find()


SHRINK = settings(database=None, derandomize=True, deadline=None, max_examples=500)


def test_find_a_width_one_mlp() -> None:
    case = find(mlp_cases(width=(1, 16)), lambda c: c.depth >= 2 and 1 in c.widths[1:-1], settings=SHRINK)
    assert 1 in case.widths[1:-1] and "width-1" in case.tags


def test_psd_diagonal_blocks_do_not_make_a_psd_matrix() -> None:
    s = find(symmetric_block_matrices(), lambda s: np.linalg.eigvalsh(s.matrix).min() < -1e-9, settings=SHRINK)
    assert s.n <= 3
    assert np.linalg.eigvalsh(s.matrix).min() < 0
    assert all(np.linalg.eigvalsh(B).min() >= 0 for B in s.diagonal_blocks())
    assert np.array_equal(s.matrix, np.round(s.matrix))  # small integers, e.g. [[0, 1], [1, 0]]


def test_softmax_tight_case_shrinks_to_a_tiny_batch() -> None:
    # A property failing exactly at the tight case of the smoothness bound (k = 2, W = 0).
    b = find(softmax_batches(), lambda b: b.k == 2 and not b.W.any(), settings=SHRINK)
    assert (b.k, b.d, b.m) == (2, 1, 1)
    assert np.array_equal(b.X, np.round(b.X)) and np.abs(b.X).max() <= 2
    assert {"tied-logits", "zero-weights", "k-2", "single-example"} <= set(b.tags)


def test_mlp_shrinks_to_one_layer_of_width_one() -> None:
    case = find(mlp_cases(), lambda c: not c.bias and any(W.any() for W in c.weights), settings=SHRINK)
    assert case.widths == (1, 1) and case.weights[0].tolist() == [[1.0]]


# --------------------------------------------------------------------------- argument validation


@pytest.mark.parametrize(("make", "bad"), [
    (lambda: mlp_cases(depth=0), "depth=0"),
    (lambda: mlp_cases(width=(3, 2)), "width=(3, 2)"),
    (lambda: mlp_cases(batch=(1, 2, 3)), "batch=(1, 2, 3)"),
    (lambda: mlp_cases(d_in=True), "d_in=True"),
    (lambda: mlp_cases(activations=("tanh", "swish")), "activations=('tanh', 'swish')"),
    (lambda: mlp_cases(activations=()), "activations=()"),
    (lambda: mlp_cases(bias="yes"), "bias='yes'"),
    (lambda: softmax_batches(k=1), "k=1"),
    (lambda: softmax_batches(m=(0, 3)), "m=(0, 3)"),
    (lambda: softmax_batches(d=2.0), "d=2.0"),
    (lambda: logits(1), "k=1"),
    (lambda: logits(near_ties=1), "near_ties=1"),
    (lambda: step_sizes(0.0), "max_value=0.0"),
    (lambda: step_sizes(float("inf")), "max_value=inf"),
    (lambda: step_sizes(1.0, decades=0), "decades=0"),
    (lambda: step_sizes(1.0, include_max="no"), "include_max='no'"),
    (lambda: symmetric_block_matrices(n_blocks=0), "n_blocks=0"),
    (lambda: symmetric_block_matrices(psd_diagonal=None), "psd_diagonal=None"),
    (lambda: matrices(2, 2, structure="banded"), "structure='banded'"),
    (lambda: matrices(-1, 2), "rows=-1"),
    (lambda: scales(min_scale=2e3), "min_scale=2000.0"),
    (lambda: scales(max_scale=-1.0), "max_scale=-1.0"),
    (lambda: vectors(3, scale=float("nan")), "scale=nan"),
])
def test_argument_validation_quotes_the_bad_value_and_the_valid_ones(make, bad) -> None:
    with pytest.raises(InvalidInputError) as info:
        make()
    message = str(info.value)
    assert f"Got {bad}" in message and "valid" in message
    assert isinstance(info.value, ValueError)


def test_strategies_draw_without_error_with_fixed_sizes() -> None:
    @settings(max_examples=10, database=None, derandomize=True, deadline=None)
    @given(c=mlp_cases(depth=1, width=1, batch=1), b=softmax_batches(k=2, d=1, m=1))
    def run(c, b):
        assert c.widths == (1, 1) and (b.k, b.d, b.m) == (2, 1, 1)

    run()
