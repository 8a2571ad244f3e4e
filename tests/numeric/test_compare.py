"""compare_tensors reduces to the worst entry and judges it with the one tolerance model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from verify.claims.tolerance import EPS, Comparison, Tolerance
from verify.errors import InvalidInputError, UserCodeError
from verify.numeric import compare_tensors, worst_index

F64 = torch.float64


def test_holds_and_violated_follow_the_tolerance_model():
    x = torch.linspace(-1, 1, 12, dtype=F64).reshape(3, 4)
    tol = Tolerance("float64", depth=64)
    assert compare_tensors(x + 1e-15, x, scale=1.0, tol=tol).status == "holds"
    # a violation of relative size 1e-5 of the scale is always found in float64
    assert compare_tensors(x + 1e-5, x, scale=1.0, tol=tol).status == "violated"
    # the boundary: exactly at atol holds, just above is violated
    atol = tol.atol(1.0)
    assert compare_tensors(torch.tensor([atol], dtype=F64), torch.zeros(1, dtype=F64), 1.0, tol).holds
    assert compare_tensors(torch.tensor([2 * atol], dtype=F64), torch.zeros(1, dtype=F64), 1.0, tol).violated


def test_reports_the_worst_entry():
    expected = torch.zeros(2, 3, dtype=F64)
    obtained = expected.clone()
    obtained[0, 2] = 3e-6
    obtained[1, 1] = -7e-6
    c = compare_tensors(obtained, expected, scale=2.0, tol=Tolerance())
    assert isinstance(c, Comparison)
    assert c.violated
    assert c.lhs == -7e-6 and c.rhs == 0.0
    assert c.abs_err == 7e-6 and c.rel_err == pytest.approx(3.5e-6)
    assert c.scale == 2.0 and c.atol == pytest.approx(64 * EPS["float64"] * 2.0)
    assert worst_index(obtained, expected) == (1, 1)


def test_worst_index_shapes_and_ties():
    assert worst_index(torch.tensor(1.0), torch.tensor(0.5)) == ()
    assert worst_index([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == (0,)  # all equal: the first entry
    a = torch.zeros(2, 2, 2)
    a[1, 0, 1] = 1.0
    assert worst_index(a, torch.zeros(2, 2, 2)) == (1, 0, 1)
    nan = torch.tensor([0.0, float("nan"), 5.0])
    assert worst_index(nan, torch.zeros(3)) == (1,)  # non-finite counts as the worst


def test_mixed_dtypes_devices_and_array_likes():
    a32 = torch.tensor([1.0, 2.0], dtype=torch.float32)
    c = compare_tensors(a32, np.array([1.0, 2.0]), scale=1.0, tol=Tolerance("float32"))
    assert c.holds and c.abs_err == 0.0
    c = compare_tensors(torch.tensor(3.0, dtype=F64), 3.0, scale=3.0, tol=Tolerance())
    assert c.holds and (c.lhs, c.rhs) == (3.0, 3.0)


def test_float32_tolerance_is_coarser():
    x = torch.ones(4, dtype=F64)
    y = x + 1e-6
    assert compare_tensors(y, x, 1.0, Tolerance("float64")).violated
    assert compare_tensors(y, x, 1.0, Tolerance("float32")).holds


def test_empty_tensors_compare_equal():
    c = compare_tensors(torch.zeros(0, 3), torch.zeros(0, 3), 1.0, Tolerance())
    assert c.holds and c.abs_err == 0.0
    with pytest.raises(UserCodeError, match="empty"):
        worst_index(torch.zeros(0), torch.zeros(0))


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(UserCodeError, match=r"obtained of shape \(2, 3\) and expected of shape \(3, 2\)"):
        compare_tensors(torch.zeros(2, 3), torch.zeros(3, 2), 1.0, Tolerance())
    with pytest.raises(UserCodeError, match=r"shape \(3,\).*shape \(1, 3\)"):
        worst_index(torch.zeros(3), torch.zeros(1, 3))  # no broadcasting


@pytest.mark.parametrize(("which", "value"), [("obtained", math.nan), ("expected", math.inf),
                                              ("obtained", -math.inf)])
def test_non_finite_entries_are_user_code_errors(which, value):
    good = torch.zeros(2, 3, dtype=F64)
    bad = good.clone()
    bad[1, 2] = value
    args = (bad, good) if which == "obtained" else (good, bad)
    with pytest.raises(UserCodeError, match=rf"{which} has 1 non-finite entry out of 6 \(first at index \(1, 2\)"):
        compare_tensors(*args, scale=1.0, tol=Tolerance())


def test_bad_scale_and_non_numeric_input():
    x = torch.zeros(2, dtype=F64)
    with pytest.raises(InvalidInputError, match="scale"):
        compare_tensors(x, x, scale=-1.0, tol=Tolerance())
    with pytest.raises(InvalidInputError, match="scale"):
        compare_tensors(x, x, scale=math.nan, tol=Tolerance())
    with pytest.raises(UserCodeError, match="not a numeric tensor"):
        compare_tensors("abc", x, scale=1.0, tol=Tolerance())


def test_zero_scale_demands_exact_equality():
    x = torch.ones(3, dtype=F64)
    assert compare_tensors(x, x, scale=0.0, tol=Tolerance()).holds
    assert compare_tensors(x + 1e-300, x + 1e-300, scale=0.0, tol=Tolerance()).holds
    assert compare_tensors(x * (1 + 1e-15), x, scale=0.0, tol=Tolerance()).violated
