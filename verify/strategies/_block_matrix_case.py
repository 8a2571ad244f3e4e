r""":class:`SymmetricBlockMatrix`, a generated symmetric matrix split into diagonal blocks.

Private to :mod:`verify.strategies`; import it from :mod:`verify.strategies.cases` (or
:mod:`verify.strategies`), which also registers it as a case type. Its ``tags`` are the
boundary cases of :data:`~verify.strategies.cases.TAGS` that its array hits.
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
    _is_large,
    _is_rank_one,
    _is_tiny,
)
from verify.strategies._serialize import (
    array_from_json,
    array_to_json,
    check_mapping,
    int_tuple,
    str_tuple,
)

__all__ = ["SymmetricBlockMatrix"]


@dataclass(frozen=True, eq=False, repr=False)
class SymmetricBlockMatrix(_Case):
    r"""A symmetric matrix split into diagonal blocks (the block arguments of [S000], docs/sources.md#s000).

    Used to refute "PSD diagonal blocks :math:`\Rightarrow` PSD" (e.g.
    ``[[1, 2], [2, 1]]``) and "the Hessian is block diagonal".

    Attributes:
        matrix: ``(n, n)``, exactly symmetric (``matrix == matrix.T`` bitwise).
        block_sizes: sizes of the diagonal blocks, each ``>= 1``, summing to ``n``.
        tags: the boundary cases hit; ``None`` computes them from the array.

    Example:
        >>> s = SymmetricBlockMatrix(np.array([[1.0, 2.0], [2.0, 1.0]]), (1, 1))
        >>> [b.tolist() for b in s.diagonal_blocks()], s.tags
        ([[[1.0]], [[1.0]]], ('width-1', 'rank-one'))
    """

    matrix: np.ndarray
    block_sizes: tuple[int, ...]
    tags: tuple[str, ...] | None = None

    _TYPE: ClassVar[str] = "SymmetricBlockMatrix"

    def __post_init__(self) -> None:
        M = _frozen(self.matrix, "matrix", ndim=2)
        sizes = tuple(self.block_sizes)
        if not all(isinstance(b, (int, np.integer)) and not isinstance(b, bool) and b >= 1 for b in sizes):
            raise InvalidInputError(f"Got block_sizes={self.block_sizes!r}, but they must be integers >= 1.")
        sizes = tuple(int(b) for b in sizes)
        if M.shape[0] != M.shape[1] or sum(sizes) != M.shape[0]:
            raise InvalidInputError(
                f"Got matrix of shape {M.shape} and block_sizes={sizes}, but the matrix must be "
                f"square with n = sum(block_sizes) = {sum(sizes)}."
            )
        if not np.array_equal(M, M.T):
            raise InvalidInputError("Got a matrix that is not exactly symmetric (matrix != matrix.T).")
        object.__setattr__(self, "matrix", M)
        object.__setattr__(self, "block_sizes", sizes)
        tags = self._compute_tags() if self.tags is None else _canonical_tags(self.tags)
        object.__setattr__(self, "tags", tags)

    def _compute_tags(self) -> tuple[str, ...]:
        found = set()
        if 1 in self.block_sizes:
            found.add("width-1")
        if _is_rank_one(self.matrix) or any(_is_rank_one(B) for B in self.diagonal_blocks()):
            found.add("rank-one")
        if not self.matrix.any():
            found.add("zero-weights")
        if _is_tiny(self.matrix):
            found.add("tiny-scale")
        if _is_large(self.matrix):
            found.add("large-scale")
        return tuple(t for t in TAGS if t in found)

    @property
    def n(self) -> int:
        """Size of the matrix."""
        return int(self.matrix.shape[0])

    @property
    def offsets(self) -> tuple[int, ...]:
        """Start index of each block, plus ``n`` at the end."""
        out = [0]
        for b in self.block_sizes:
            out.append(out[-1] + b)
        return tuple(out)

    def block(self, i: int, j: int) -> np.ndarray:
        """Block ``(i, j)``, shape ``(block_sizes[i], block_sizes[j])`` (a read-only view)."""
        o = self.offsets
        return self.matrix[o[i]:o[i + 1], o[j]:o[j + 1]]

    def diagonal_blocks(self) -> tuple[np.ndarray, ...]:
        """The blocks ``(i, i)``."""
        return tuple(self.block(i, i) for i in range(len(self.block_sizes)))

    def block_diagonal(self) -> np.ndarray:
        """The matrix with every off-diagonal block set to 0 (a new array)."""
        out = np.zeros_like(self.matrix)
        o = self.offsets
        for i in range(len(self.block_sizes)):
            out[o[i]:o[i + 1], o[i]:o[i + 1]] = self.block(i, i)
        return out

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_json` rebuilds an identical case."""
        return {
            "type": self._TYPE,
            "matrix": array_to_json(self.matrix),
            "block_sizes": list(self.block_sizes),
            "tags": list(self.tags or ()),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SymmetricBlockMatrix:
        """Inverse of :meth:`to_json` (``tags`` may be omitted: then recomputed).

        Raises:
            InvalidInputError: ``data`` is not what :meth:`to_json` writes.
        """
        check_mapping(data, cls._TYPE, ["matrix", "block_sizes"], ["tags"])
        tags = data.get("tags")
        return cls(
            matrix=array_from_json(data["matrix"], where="matrix", dtype="float64", ndim=2),
            block_sizes=int_tuple(data["block_sizes"], "block_sizes"),
            tags=None if tags is None else str_tuple(tags, "tags"),
        )
