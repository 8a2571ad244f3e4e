r"""Reduce a tensor comparison to its worst entry and judge it with the tolerance model.

A formula's tensor :math:`A` (obtained) and the oracle's :math:`B` (expected) are
compared entrywise; the judgement is made on the largest absolute error

.. math:: e = \max_{i} |A_i - B_i| \le c\,\varepsilon_{\text{dtype}}\, s,

with :math:`s` the scale the caller names, through
:func:`verify.claims.tolerance.compare_close` (the one place relations are judged).
The entry where :math:`e` is attained is reported (:func:`worst_index`), in the
spirit of pytest's ``approx``: obtained vs expected at the worst index.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from verify.claims.tolerance import Comparison, Tolerance, compare_close
from verify.errors import UserCodeError

__all__ = [
    "compare_tensors",
    "worst_index",
]


def _as_cpu64(x: Any, name: str) -> torch.Tensor:
    try:
        t = x if isinstance(x, torch.Tensor) else torch.as_tensor(x)
        return t.detach().to(device="cpu", dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise UserCodeError(
            f"Got {name} of type {type(x).__name__}, which is not a numeric tensor ({exc}); "
            "return a torch.Tensor (or numbers/numpy arrays)."
        ) from exc


def _pair(obtained: Any, expected: Any) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = _as_cpu64(obtained, "obtained"), _as_cpu64(expected, "expected")
    if a.shape != b.shape:
        raise UserCodeError(
            f"Got obtained of shape {tuple(a.shape)} and expected of shape {tuple(b.shape)}, but they "
            "must have the same shape (no broadcasting): reshape the formula's result to the oracle's."
        )
    return a, b


def _first_bad(t: torch.Tensor) -> tuple[int, tuple[int, ...]]:
    bad = ~torch.isfinite(t)
    count = int(bad.sum())
    flat = int(torch.nonzero(bad.reshape(-1))[0, 0]) if count else -1
    index = tuple(int(i) for i in np.unravel_index(flat, tuple(t.shape))) if count else ()
    return count, index


def worst_index(obtained: Any, expected: Any) -> tuple[int, ...]:
    """Index of the entry with the largest absolute error ``|obtained - expected|``.

    Non-finite differences (NaN, inf) count as the largest; ties go to the first
    entry in row-major order.

    Args:
        obtained: tensor (or array-like) of any shape.
        expected: same shape.

    Returns:
        The index tuple (``()`` for 0-d tensors).

    Raises:
        UserCodeError: if the shapes differ or the tensors are empty.

    >>> worst_index(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[1.0, 2.5], [3.0, 4.0]]))
    (0, 1)
    """
    a, b = _pair(obtained, expected)
    if a.numel() == 0:
        raise UserCodeError(f"Got empty tensors of shape {tuple(a.shape)}: there is no worst entry.")
    diff = (a - b).abs()
    diff = torch.where(torch.isfinite(diff), diff, torch.full_like(diff, float("inf")))
    flat = int(torch.argmax(diff.reshape(-1)))
    return tuple(int(i) for i in np.unravel_index(flat, tuple(a.shape)))


def compare_tensors(obtained: Any, expected: Any, scale: float, tol: Tolerance) -> Comparison:
    r"""Judge ``obtained = expected`` entrywise by the worst entry.

    Both are compared in float64 on the CPU. The :class:`Comparison`'s ``lhs`` and
    ``rhs`` are the obtained and expected values at :func:`worst_index`, and
    ``abs_err`` is :math:`\max_i |A_i - B_i|`. Empty tensors compare equal.

    Args:
        obtained: the formula's tensor (any shape).
        expected: the oracle's tensor, same shape.
        scale: size of the terms that cancel (finite, ``>= 0``).
        tol: the tolerance model (dtype of the computation and depth factor).

    Returns:
        The :class:`~verify.claims.tolerance.Comparison`.

    Raises:
        UserCodeError: if the shapes differ, or either tensor has a non-finite
            entry (the message says which tensor, how many entries and the first index).
        InvalidInputError: for a negative or non-finite scale.

    >>> from verify.claims.tolerance import Tolerance
    >>> x = torch.tensor([1.0, 2.0], dtype=torch.float64)
    >>> compare_tensors(x + 1e-15, x, scale=2.0, tol=Tolerance()).status
    'holds'
    >>> compare_tensors(x + 1e-5, x, scale=2.0, tol=Tolerance()).status
    'violated'
    """
    a, b = _pair(obtained, expected)
    for name, t in (("obtained", a), ("expected", b)):
        count, index = _first_bad(t)
        if count:
            raise UserCodeError(
                f"{name} has {count} non-finite entr{'y' if count == 1 else 'ies'} out of {t.numel()} "
                f"(first at index {index}: {float(t[index])}); a comparison needs finite numbers: "
                "check the code that produced it (overflow, division by zero, log of 0)."
            )
    if a.numel() == 0:
        return compare_close(0.0, 0.0, scale, tol, abs_err=0.0)
    index = worst_index(a, b)
    abs_err = float((a - b).abs().max())
    return compare_close(float(a[index]), float(b[index]), scale, tol, abs_err=abs_err)
