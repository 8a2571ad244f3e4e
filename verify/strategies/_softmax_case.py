r""":class:`SoftmaxBatch`, the generated case of claim C1: softmax-regression weights, inputs and labels.

Private to :mod:`verify.strategies`; import it from :mod:`verify.strategies.cases` (or
:mod:`verify.strategies`), which also registers it as a case type. Its ``tags`` are the
boundary cases of :data:`~verify.strategies.cases.TAGS` that its arrays hit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from verify.errors import InvalidInputError
from verify.strategies._case_base import (
    TAGS,
    _canonical_tags,
    _Case,
    _frozen,
    _has_tied_top_logits,
    _is_large,
    _is_rank_one,
    _is_tiny,
)
from verify.strategies._serialize import (
    array_from_json,
    array_to_json,
    check_mapping,
    str_tuple,
)

__all__ = ["SoftmaxBatch"]


@dataclass(frozen=True, eq=False, repr=False)
class SoftmaxBatch(_Case):
    r"""Softmax regression data (claim C1): weights, a batch and its labels.

    :math:`a_i = \operatorname{softmax}(W x_i)`, :math:`L(W) = -\frac1m \sum_i \log a_{i, y_i}`.

    Attributes:
        W: weights, ``(k, d)``.
        X: inputs, one example per row, ``(m, d)``.
        y: labels, ``(m,)`` int64 in ``[0, k)``.
        tags: the boundary cases hit; ``None`` computes them from the arrays.

    Example:
        >>> b = SoftmaxBatch(np.zeros((2, 1)), np.array([[1.0]]), np.array([0]))
        >>> (b.k, b.d, b.m), b.tags
        ((2, 1, 1), ('width-1', 'rank-one', 'tied-logits', 'zero-weights', 'k-2', 'single-example'))
    """

    W: np.ndarray
    X: np.ndarray
    y: np.ndarray
    tags: tuple[str, ...] | None = None

    _TYPE: ClassVar[str] = "SoftmaxBatch"

    def __post_init__(self) -> None:
        W = _frozen(self.W, "W", ndim=2)
        X = _frozen(self.X, "X", ndim=2)
        y = _frozen(self.y, "y", dtype=np.int64, ndim=1)
        if W.shape[0] < 1:
            raise InvalidInputError(f"Got W of shape {W.shape}, but it needs k >= 1 rows (classes).")
        if X.shape[1] != W.shape[1]:
            raise InvalidInputError(
                f"Got W of shape {W.shape} and X of shape {X.shape}, but X needs d = {W.shape[1]} columns."
            )
        if y.shape != (X.shape[0],):
            raise InvalidInputError(f"Got y of shape {y.shape}, but X of shape {X.shape} needs ({X.shape[0]},).")
        if y.size and (y.min() < 0 or y.max() >= W.shape[0]):
            raise InvalidInputError(
                f"Got labels y={y.tolist()}, but valid labels are 0..{W.shape[0] - 1} (k = {W.shape[0]})."
            )
        object.__setattr__(self, "W", W)
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", y)
        tags = self._compute_tags() if self.tags is None else _canonical_tags(self.tags)
        object.__setattr__(self, "tags", tags)

    def _compute_tags(self) -> tuple[str, ...]:
        found = set()
        if self.d == 1 or self.k == 1:
            found.add("width-1")
        if _is_rank_one(self.W) or _is_rank_one(self.X):
            found.add("rank-one")
        if _has_tied_top_logits(self.W, self.X):
            found.add("tied-logits")
        if not self.W.any():
            found.add("zero-weights")
        if _is_tiny(self.W) or _is_tiny(self.X):
            found.add("tiny-scale")
        if _is_large(self.W) or _is_large(self.X) or _is_large(self.logits):
            found.add("large-scale")
        if self.k == 2:
            found.add("k-2")
        if self.m == 1:
            found.add("single-example")
        return tuple(t for t in TAGS if t in found)

    @property
    def k(self) -> int:
        """Number of classes (rows of ``W``)."""
        return int(self.W.shape[0])

    @property
    def d(self) -> int:
        """Input dimension (columns of ``W`` and ``X``)."""
        return int(self.W.shape[1])

    @property
    def m(self) -> int:
        """Number of examples (rows of ``X``)."""
        return int(self.X.shape[0])

    @property
    def logits(self) -> np.ndarray:
        """``X @ W.T``, shape ``(m, k)`` (float64, BLAS summation order)."""
        return self.X @ self.W.T

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_json` rebuilds an identical case."""
        return {
            "type": self._TYPE,
            "W": array_to_json(self.W),
            "X": array_to_json(self.X),
            "y": array_to_json(self.y),
            "tags": list(self.tags or ()),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SoftmaxBatch:
        """Inverse of :meth:`to_json` (``tags`` may be omitted: then recomputed).

        Raises:
            InvalidInputError: ``data`` is not what :meth:`to_json` writes.
        """
        check_mapping(data, cls._TYPE, ["W", "X", "y"], ["tags"])
        tags = data.get("tags")
        return cls(
            W=array_from_json(data["W"], where="W", dtype="float64", ndim=2),
            X=array_from_json(data["X"], where="X", dtype="float64", ndim=2),
            y=array_from_json(data["y"], where="y", dtype="int64", ndim=1),
            tags=None if tags is None else str_tuple(tags, "tags"),
        )
