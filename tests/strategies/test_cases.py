"""The case dataclasses: construction and its validation, exact JSON and ``repr``, frozen arrays, tags.

The strategies that generate these cases are tested in ``test_generated_cases``.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings

from verify.errors import InvalidInputError
from verify.strategies import (
    MLP_ACTIVATIONS,
    MLPCase,
    SoftmaxBatch,
    SymmetricBlockMatrix,
    case_from_json,
    softmax_batches,
)

from .conftest import arrays_of


def test_flat_params_order_is_w1_b1_w2_b2() -> None:
    W1 = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    W2 = np.array([[7.0, 8.0, 9.0]])
    case = MLPCase((2, 3, 1), "tanh", True, (W1, W2), (np.array([10.0, 11.0, 12.0]), np.array([13.0])),
                   np.zeros((1, 2)))
    assert case.flat_params().tolist() == [1, 2, 3, 4, 5, 6, 10, 11, 12, 7, 8, 9, 13]
    nobias = MLPCase((2, 3, 1), "tanh", False, (W1, W2), (), np.zeros((1, 2)))
    assert nobias.flat_params().tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert nobias.n_params == 9 and case.n_params == 13


def test_round_trip_keeps_empty_dims_signed_zeros_and_non_finite_values() -> None:
    cases = [
        MLPCase((3, 1), "relu", False, (np.array([[-0.0, 1e-310, 5e-324]]),), (), np.zeros((0, 3))),
        MLPCase((1, 2), "identity", True, (np.array([[np.inf], [-np.inf]]),), (np.array([np.nan, 0.1]),),
                np.array([[0.1 + 0.2]])),
        SoftmaxBatch(np.zeros((3, 0)), np.zeros((4, 0)), np.array([0, 1, 2, 0])),
        SoftmaxBatch(np.array([[1.0]]), np.zeros((0, 1)), np.zeros(0, dtype=np.int64)),
        SymmetricBlockMatrix(np.array([[1.0, 2.0], [2.0, 1.0]]), (1, 1)),
    ]
    for case in cases:
        back = case_from_json(json.loads(json.dumps(case.to_json())))
        for a, b in zip(arrays_of(case), arrays_of(back), strict=True):
            assert a.shape == b.shape and a.dtype == b.dtype
            assert np.array_equal(a, b, equal_nan=True)
            assert np.array_equal(np.signbit(a), np.signbit(b))
    finite = [c for c in cases if all(np.all(np.isfinite(a)) for a in arrays_of(c))]
    for case in finite:
        assert case_from_json(json.loads(json.dumps(case.to_json()))) == case
    assert cases[1].to_json()["weights"][0]["data"] == ["inf", "-inf"]


def test_repr_is_exact_and_pasteable() -> None:
    case = MLPCase((2, 1), "gelu", True, (np.array([[0.1 + 0.2, -1e-300]]),), (np.array([1 / 3]),),
                   np.array([[2.0, -0.0]]))
    namespace = {"np": np, "MLPCase": MLPCase}
    assert eval(repr(case), namespace) == case  # noqa: S307 - the point of the test
    empty = SoftmaxBatch(np.zeros((2, 0)), np.zeros((0, 0)), np.zeros(0, dtype=np.int64))
    assert eval(repr(empty), {"np": np, "SoftmaxBatch": SoftmaxBatch}) == empty  # noqa: S307


def test_falsifying_examples_print_the_exact_repr() -> None:
    @settings(max_examples=20, database=None, derandomize=True, deadline=None)
    @given(b=softmax_batches())
    def prop(b: SoftmaxBatch) -> None:
        assert not b.W.any()

    with pytest.raises(AssertionError) as info:
        prop()
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "SoftmaxBatch(W=np.array([[" in notes and "dtype=np.int64" in notes, notes


def test_cases_are_frozen_read_only_and_hashable() -> None:
    W = np.array([[1.0, 2.0]])
    b = SoftmaxBatch(np.vstack([W, W]), np.array([[1.0, 1.0]]), np.array([1]))
    W[0, 0] = 99.0  # the case holds a copy
    assert b.W[0, 0] == 1.0
    with pytest.raises(ValueError):
        b.W[0, 0] = 5.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.W = np.zeros((2, 2))  # type: ignore[misc]
    assert b == SoftmaxBatch.from_json(b.to_json()) and hash(b) == hash(SoftmaxBatch.from_json(b.to_json()))
    assert b != SoftmaxBatch(np.vstack([W, W]), np.array([[1.0, 1.0]]), np.array([1]))
    assert b.tags == ("rank-one", "tied-logits", "k-2", "single-example")


def test_tags_given_are_canonicalised_and_checked() -> None:
    s = SymmetricBlockMatrix(np.eye(2), (1, 1), tags=("rank-one", "width-1"))
    assert s.tags == ("width-1", "rank-one")
    with pytest.raises(InvalidInputError, match="'wide'"):
        SymmetricBlockMatrix(np.eye(2), (1, 1), tags=("wide",))


def test_tied_logits_use_exact_arithmetic() -> None:
    # 0.1 + 0.2 and 0.3 differ in float64 (and so in exact arithmetic on the stored values)
    W = np.array([[0.1, 0.2], [0.3, 0.0]])
    assert "tied-logits" not in SoftmaxBatch(W, np.array([[1.0, 1.0]]), np.array([0])).tags
    W = np.array([[0.5, 0.25], [0.25, 0.5]])
    assert "tied-logits" in SoftmaxBatch(W, np.array([[3.0, 3.0]]), np.array([0])).tags
    # a tie between the two smallest logits does not count
    W = np.array([[0.0], [0.0], [1.0]])
    assert "tied-logits" not in SoftmaxBatch(W, np.array([[1.0]]), np.array([0])).tags


@pytest.mark.parametrize(("build", "match"), [
    (lambda: MLPCase((2, 1), "swish", False, (np.zeros((1, 2)),), (), np.zeros((1, 2))), "swish"),
    (lambda: MLPCase((2, 1), "tanh", False, (np.zeros((2, 1)),), (), np.zeros((1, 2))), r"\(1, 2\)"),
    (lambda: MLPCase((2, 1), "tanh", False, (np.zeros((1, 2)),), (np.zeros(1),), np.zeros((1, 2))), "bias=False"),
    (lambda: MLPCase((2, 1), "tanh", True, (np.zeros((1, 2)),), (), np.zeros((1, 2))), "bias=True"),
    (lambda: MLPCase((2, 0), "tanh", False, (np.zeros((0, 2)),), (), np.zeros((1, 2))), "widths"),
    (lambda: MLPCase((2, 1), "tanh", False, (np.zeros((1, 2)),), (), np.zeros((1, 3))), "x of shape"),
    (lambda: SoftmaxBatch(np.zeros((2, 1)), np.zeros((1, 1)), np.array([2])), "valid labels are 0..1"),
    (lambda: SoftmaxBatch(np.zeros((2, 1)), np.zeros((1, 1)), np.array([0.0])), "integer"),
    (lambda: SoftmaxBatch(np.zeros((2, 1)), np.zeros((1, 2)), np.array([0])), "columns"),
    (lambda: SymmetricBlockMatrix(np.array([[0.0, 1.0], [2.0, 0.0]]), (1, 1)), "symmetric"),
    (lambda: SymmetricBlockMatrix(np.eye(3), (1, 1)), "sum"),
])
def test_constructor_validation(build, match) -> None:
    with pytest.raises(InvalidInputError, match=match):
        build()


@pytest.mark.parametrize(("data", "match"), [
    ({"type": "Nope"}, "valid case types"),
    ([1, 2], "valid case types"),
    ({"type": "SoftmaxBatch", "W": {}}, "missing"),
    ({"type": "SymmetricBlockMatrix", "matrix": {"dtype": "float64", "shape": [1, 1], "data": [1.0, 2.0]},
      "block_sizes": [1]}, "exactly 1"),
    ({"type": "SymmetricBlockMatrix", "matrix": {"dtype": "float32", "shape": [1, 1], "data": [1.0]},
      "block_sizes": [1]}, "float32"),
    ({"type": "SymmetricBlockMatrix", "matrix": {"dtype": "float64", "shape": [1, 1], "data": ["x"]},
      "block_sizes": [1]}, "'x'"),
    ({"type": "SymmetricBlockMatrix", "matrix": {"dtype": "float64", "shape": [1], "data": [1.0]},
      "block_sizes": [1]}, "2 dimension"),
    ({"type": "SymmetricBlockMatrix", "matrix": {"dtype": "float64", "shape": [1, 1], "data": [1.0]},
      "block_sizes": [1], "extra": 1}, "unexpected"),
])
def test_from_json_validation(data, match) -> None:
    with pytest.raises(InvalidInputError, match=match):
        case_from_json(data)


def test_tags_may_be_omitted_from_json() -> None:
    b = SoftmaxBatch(np.zeros((2, 1)), np.array([[1.0]]), np.array([0]))
    data = b.to_json()
    del data["tags"]
    assert SoftmaxBatch.from_json(data) == b


def test_activation_names_match_the_numeric_oracle() -> None:
    mlp = pytest.importorskip("verify.numeric.mlp")
    assert set(MLP_ACTIVATIONS) == set(mlp.ACTIVATIONS)

