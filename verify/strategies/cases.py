r"""The generated test cases: frozen dataclasses of float64 arrays and plain values.

Every case carries ``tags``, the boundary cases it hits, computed from its actual
arrays (never from the flags a strategy drew), so a verdict can report which
boundary cases a run really exercised. The vocabulary is :data:`TAGS`, each tag
defined in :data:`TAG_DEFINITIONS`:

``width-1``
    some layer width is 1 (MLP: an entry of ``widths``; softmax regression:
    ``d == 1`` or ``k == 1``; block matrix: a block of size 1).
``rank-one``
    a weight matrix or the input matrix has numerical rank exactly one
    (``numpy.linalg.matrix_rank`` with its default tolerance :math:`\sigma_1
    \max(r, c)\,\varepsilon`). A non-zero matrix with one row or one column is
    rank one, so this tag often comes with ``width-1`` and ``single-example``.
    Block matrix: the whole matrix or one of its diagonal blocks.
``tied-logits``
    softmax regression only: some example's two largest logits
    :math:`w_j^\top x_i` are equal in exact arithmetic on the stored float64
    values (decided with :class:`fractions.Fraction`, so the tag does not depend
    on the summation order a BLAS picks). ``W = 0`` ties every logit.
``zero-weights``
    MLP: some :math:`W^{(t)} = 0`; softmax regression: ``W = 0``; block matrix:
    the matrix is 0.
``tiny-scale``
    some non-zero weight matrix or input matrix (block matrix: the matrix) has
    all entries of magnitude :math:`\le 10^{-3}`.
``large-scale``
    some entry of magnitude :math:`\ge 10^{2}` among the weights, biases and
    inputs (softmax regression: also among the logits :math:`XW^\top`).
``k-2``
    softmax regression with two classes.
``single-example``
    a batch of one example (``m == 1``, MLP ``batch == 1``).

The cases compare bitwise (``==`` checks dtype, shape and the bytes of every
array, so ``-0.0 != 0.0``), hash, keep their arrays read-only, and their ``repr``
is an exact expression that can be pasted back (given ``import numpy as np``).
``to_json``/``from_json`` round-trip exactly; :func:`case_from_json` reads any of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from verify.errors import InvalidInputError
from verify.strategies._case_base import (
    MLP_ACTIVATIONS,
    TAG_DEFINITIONS,
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
    int_tuple,
    str_tuple,
)
from verify.strategies.case_types import case_from_json, case_type

__all__ = [
    "MLP_ACTIVATIONS",
    "TAGS",
    "TAG_DEFINITIONS",
    "MLPCase",
    "SoftmaxBatch",
    "SymmetricBlockMatrix",
    "case_from_json",
]

#: The boundary-case vocabulary, in the canonical order tags are stored in.

@dataclass(frozen=True, eq=False, repr=False)
class MLPCase(_Case):
    r"""A multilayer perceptron with its parameters and an input batch (claim C3).

    Layer :math:`t = 1..l` computes :math:`z^{(t+1)} = W^{(t)} h^{(t)} + b^{(t)}`,
    :math:`h^{(t+1)} = g(z^{(t+1)})` with :math:`W^{(t)}` of shape ``(out, in)``
    as :class:`torch.nn.Linear` stores it (whether :math:`g` follows the last
    layer is the oracle's choice; see :mod:`verify.numeric.mlp`).

    Attributes:
        widths: ``(d_in, d_1, ..., d_out)``, length ``depth + 1``, all ``>= 1``.
        activation: one of :data:`MLP_ACTIVATIONS`.
        bias: whether the layers have biases.
        weights: ``W⁽ᵗ⁾`` of shape ``(widths[t+1], widths[t])``, one per layer.
        biases: ``b⁽ᵗ⁾`` of shape ``(widths[t+1],)`` when ``bias`` is true; the
            empty tuple ``()`` when it is false (there are no bias arrays at all).
        x: inputs, ``(batch, d_in)``.
        tags: the boundary cases hit (see the module docstring); ``None`` (the
            default) computes them from the arrays.

    Example:
        >>> case = MLPCase((2, 1), "tanh", True, (np.array([[3.0, 4.0]]),),
        ...                (np.array([5.0]),), np.array([[1.0, 0.0]]))
        >>> case.flat_params().tolist()
        [3.0, 4.0, 5.0]
        >>> case.tags
        ('width-1', 'rank-one', 'single-example')
    """

    widths: tuple[int, ...]
    activation: str
    bias: bool
    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    x: np.ndarray
    tags: tuple[str, ...] | None = None

    _TYPE: ClassVar[str] = "MLPCase"

    def __post_init__(self) -> None:
        widths = tuple(self.widths)
        if len(widths) < 2 or not all(
            isinstance(w, (int, np.integer)) and not isinstance(w, bool) and w >= 1 for w in widths
        ):
            raise InvalidInputError(
                f"Got widths={self.widths!r}, but widths must be at least two integers >= 1 "
                "(d_in, ..., d_out)."
            )
        widths = tuple(int(w) for w in widths)
        if self.activation not in MLP_ACTIVATIONS:
            raise InvalidInputError(
                f"Got activation={self.activation!r}, but valid values are {list(MLP_ACTIVATIONS)}."
            )
        if not isinstance(self.bias, (bool, np.bool_)):
            raise InvalidInputError(f"Got bias={self.bias!r}, but it must be True or False.")
        depth = len(widths) - 1
        if len(self.weights) != depth:
            raise InvalidInputError(
                f"Got {len(self.weights)} weight matrices for widths={widths}, but it needs {depth}."
            )
        weights = tuple(_frozen(W, f"weights[{t}]", ndim=2) for t, W in enumerate(self.weights))
        for t, W in enumerate(weights):
            if W.shape != (widths[t + 1], widths[t]):
                raise InvalidInputError(
                    f"Got weights[{t}] of shape {W.shape}, but widths={widths} needs "
                    f"{(widths[t + 1], widths[t])} (out, in)."
                )
        if self.bias:
            if len(self.biases) != depth:
                raise InvalidInputError(
                    f"Got {len(self.biases)} bias vectors with bias=True, but it needs {depth}."
                )
            biases = tuple(_frozen(b, f"biases[{t}]", ndim=1) for t, b in enumerate(self.biases))
            for t, b in enumerate(biases):
                if b.shape != (widths[t + 1],):
                    raise InvalidInputError(
                        f"Got biases[{t}] of shape {b.shape}, but widths={widths} needs {(widths[t + 1],)}."
                    )
        else:
            if len(self.biases) != 0:
                raise InvalidInputError(
                    f"Got {len(self.biases)} bias vectors with bias=False, but biases must be () then."
                )
            biases = ()
        x = _frozen(self.x, "x", ndim=2)
        if x.shape[1] != widths[0]:
            raise InvalidInputError(
                f"Got x of shape {x.shape}, but widths={widths} needs (batch, {widths[0]})."
            )
        object.__setattr__(self, "widths", widths)
        object.__setattr__(self, "bias", bool(self.bias))
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "biases", biases)
        object.__setattr__(self, "x", x)
        tags = self._compute_tags() if self.tags is None else _canonical_tags(self.tags)
        object.__setattr__(self, "tags", tags)

    def _compute_tags(self) -> tuple[str, ...]:
        found = set()
        if 1 in self.widths:
            found.add("width-1")
        if any(_is_rank_one(W) for W in (*self.weights, self.x)):
            found.add("rank-one")
        if any(not W.any() for W in self.weights):
            found.add("zero-weights")
        if any(_is_tiny(W) for W in (*self.weights, self.x)):
            found.add("tiny-scale")
        if any(_is_large(a) for a in (*self.weights, *self.biases, self.x)):
            found.add("large-scale")
        if self.batch == 1:
            found.add("single-example")
        return tuple(t for t in TAGS if t in found)

    @property
    def depth(self) -> int:
        """Number of layers ``l`` (weight matrices)."""
        return len(self.widths) - 1

    @property
    def d_in(self) -> int:
        """Input dimension ``widths[0]``."""
        return self.widths[0]

    @property
    def d_out(self) -> int:
        """Output dimension ``widths[-1]``."""
        return self.widths[-1]

    @property
    def batch(self) -> int:
        """Number of input rows."""
        return int(self.x.shape[0])

    @property
    def n_params(self) -> int:
        """Length of :meth:`flat_params`."""
        return sum(W.size for W in self.weights) + sum(b.size for b in self.biases)

    def flat_params(self) -> np.ndarray:
        """All parameters as one float64 vector: row-major ``W1, b1, W2, b2, …``.

        The layout of ``verify.numeric.mlp.flatten`` (biases skipped when
        ``bias`` is false). Returns a new writable array of length :attr:`n_params`.
        """
        parts: list[np.ndarray] = []
        for t, W in enumerate(self.weights):
            parts.append(W.reshape(-1))
            if self.bias:
                parts.append(self.biases[t])
        return np.concatenate(parts).astype(np.float64, copy=True)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_json` rebuilds an identical case."""
        return {
            "type": self._TYPE,
            "widths": list(self.widths),
            "activation": self.activation,
            "bias": self.bias,
            "weights": [array_to_json(W) for W in self.weights],
            "biases": [array_to_json(b) for b in self.biases],
            "x": array_to_json(self.x),
            "tags": list(self.tags or ()),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MLPCase:
        """Inverse of :meth:`to_json` (``tags`` may be omitted: then recomputed).

        Raises:
            InvalidInputError: ``data`` is not what :meth:`to_json` writes.
        """
        check_mapping(data, cls._TYPE, ["widths", "activation", "bias", "weights", "biases", "x"], ["tags"])
        if not isinstance(data["weights"], list) or not isinstance(data["biases"], list):
            raise InvalidInputError("Got MLPCase JSON whose 'weights'/'biases' are not lists.")
        tags = data.get("tags")
        return cls(
            widths=int_tuple(data["widths"], "widths"),
            activation=data["activation"],
            bias=data["bias"],
            weights=tuple(array_from_json(W, where=f"weights[{t}]", dtype="float64", ndim=2)
                          for t, W in enumerate(data["weights"])),
            biases=tuple(array_from_json(b, where=f"biases[{t}]", dtype="float64", ndim=1)
                         for t, b in enumerate(data["biases"])),
            x=array_from_json(data["x"], where="x", dtype="float64", ndim=2),
            tags=None if tags is None else str_tuple(tags, "tags"),
        )


# --------------------------------------------------------------------------- SoftmaxBatch


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


# --------------------------------------------------------------------------- SymmetricBlockMatrix


@dataclass(frozen=True, eq=False, repr=False)
class SymmetricBlockMatrix(_Case):
    r"""A symmetric matrix split into diagonal blocks (the seed-000 block arguments).

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


for _builtin in (MLPCase, SoftmaxBatch, SymmetricBlockMatrix):
    case_type(_builtin)
