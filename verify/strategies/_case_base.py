"""Boundary-case tags, array helpers and the base class shared by the case dataclasses.

Private to :mod:`verify.strategies`; the public names are re-exported by ``cases``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np

from verify.errors import InvalidInputError
from verify.strategies._serialize import (
    array_repr,
)

TAGS: tuple[str, ...] = (
    "width-1",
    "rank-one",
    "tied-logits",
    "zero-weights",
    "tiny-scale",
    "large-scale",
    "k-2",
    "single-example",
)

#: One line per tag: what a case must satisfy to carry it.
TAG_DEFINITIONS: Mapping[str, str] = {
    "width-1": "some layer width is 1 (MLP widths; softmax d or k; a block of size 1)",
    "rank-one": "a weight matrix or the input matrix has numerical rank exactly 1",
    "tied-logits": "some example's two largest logits are exactly equal (exact arithmetic)",
    "zero-weights": "some weight matrix is exactly 0 (softmax: W = 0; block matrix: all 0)",
    "tiny-scale": "some non-zero weight or input matrix has max |entry| <= 1e-3",
    "large-scale": "some weight, bias, input or logit has magnitude >= 1e2",
    "k-2": "softmax regression with k = 2 classes",
    "single-example": "a batch of one example (m = 1)",
}

#: The activation names an :class:`MLPCase` may carry (those of ``verify.numeric``).
MLP_ACTIVATIONS: tuple[str, ...] = ("tanh", "sigmoid", "softplus", "gelu", "identity", "relu")


TINY_SCALE = 1e-3
LARGE_SCALE = 1e2
_EPS = float(np.finfo(np.float64).eps)
_TINIEST = float(np.finfo(np.float64).smallest_subnormal)


# --------------------------------------------------------------------------- helpers


def _frozen(value: Any, name: str, *, dtype: type = np.float64, ndim: int) -> np.ndarray:
    """A read-only copy of ``value`` as ``dtype`` with ``ndim`` dimensions."""
    a = np.asarray(value)
    allowed = "fiu" if dtype is np.float64 else "iu"
    if a.dtype.kind not in allowed:
        raise InvalidInputError(
            f"Got {name} of dtype {a.dtype}, but it must be a real "
            f"{'' if dtype is np.float64 else 'integer '}array (stored as {np.dtype(dtype)})."
        )
    if a.ndim != ndim:
        raise InvalidInputError(f"Got {name} of shape {a.shape}, but it must have {ndim} dimension(s).")
    out = np.array(a, dtype=dtype, copy=True)
    out.flags.writeable = False
    return out


def _canonical_tags(tags: Any) -> tuple[str, ...]:
    if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
        raise InvalidInputError(f"Got tags={tags!r}, but tags must be a tuple of strings from {TAGS}.")
    unknown = [t for t in tags if t not in TAGS]
    if unknown:
        raise InvalidInputError(f"Got tags {unknown!r}, but valid tags are {TAGS}.")
    return tuple(t for t in TAGS if t in set(tags))


def _is_rank_one(a: np.ndarray) -> bool:
    if a.ndim != 2 or a.size == 0 or not np.all(np.isfinite(a)):
        return False
    return int(np.linalg.matrix_rank(a)) == 1


def _is_tiny(a: np.ndarray) -> bool:
    return a.size > 0 and bool(a.any()) and float(np.max(np.abs(a))) <= TINY_SCALE


def _is_large(a: np.ndarray) -> bool:
    return a.size > 0 and bool(np.any(np.abs(a) >= LARGE_SCALE))


def _exact_dot(w: np.ndarray, x: np.ndarray) -> Fraction:
    return sum((Fraction(a) * Fraction(b) for a, b in zip(w.tolist(), x.tolist())), Fraction(0))


def _has_tied_top_logits(W: np.ndarray, X: np.ndarray) -> bool:
    """Whether some row x of X has its two largest exact logits W x equal.

    The float logits locate the candidates for the maximum (with a rigorous
    rounding bound); only those are recomputed exactly.
    """
    k, d = W.shape
    if k < 2 or X.shape[0] == 0 or not (np.all(np.isfinite(W)) and np.all(np.isfinite(X))):
        return False
    Z = X @ W.T
    R = (np.abs(X) @ np.abs(W).T) * (2.0 * (d + 2) * _EPS) + 4.0 * (d + 1) * _TINIEST
    for i in range(X.shape[0]):
        floor = float(np.max(Z[i] - R[i]))
        candidates = np.flatnonzero(Z[i] + R[i] >= floor)
        if candidates.size < 2:
            continue
        exact = [_exact_dot(W[j], X[i]) for j in candidates]
        top = max(exact)
        if sum(1 for v in exact if v == top) >= 2:
            return True
    return False


def _array_key(a: np.ndarray) -> tuple[str, tuple[int, ...], bytes]:
    return (a.dtype.str, a.shape, a.tobytes())


class _Case:
    """Bitwise equality, hashing and an exact ``repr`` for the case dataclasses."""

    _TYPE: ClassVar[str]

    def _key(self) -> tuple[Any, ...]:
        out: list[Any] = []
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                out.append(_array_key(value))
            elif isinstance(value, tuple) and value and isinstance(value[0], np.ndarray):
                out.append(tuple(_array_key(v) for v in value))
            else:
                out.append(value)
        return tuple(out)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._key() == other._key()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._key()))

    def __repr__(self) -> str:
        parts = []
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                text = array_repr(value)
            elif isinstance(value, tuple) and value and isinstance(value[0], np.ndarray):
                text = "(" + ", ".join(array_repr(v) for v in value) + ("," if len(value) == 1 else "") + ")"
            else:
                text = repr(value)
            parts.append(f"{f.name}={text}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """Make Hypothesis's "Falsifying example" print the exact repr.

        Its pretty-printer otherwise walks the dataclass fields itself and prints
        the arrays with numpy's 8-digit repr, which would not paste back exactly.
        """
        printer.text(repr(self))


# --------------------------------------------------------------------------- MLPCase
