r"""Float arrays that shrink toward simple values, and the shared argument checks.

An entry is :math:`s \cdot n / q`: a small integer numerator :math:`n \in [-2q, 2q]`,
one power-of-two denominator :math:`q` per array drawn from :data:`DENOMINATORS`
(fine grids most often; the unscaled values are exact dyadic numbers in
:math:`[-2, 2]`), and a scale :math:`s` drawn from :data:`SCALE_LADDER`. Hypothesis
shrinks :math:`q \to 1`, :math:`n \to 0` and :math:`s \to 1`, so a shrunk
counterexample has entries in :math:`\{-2, -1, 0, 1, 2\}` instead of numbers
like ``0.30000000000000004`` or ``1e-308`` that a wide ``st.floats`` leaves behind.

Structures: ``generic`` (independent entries, via
:func:`hypothesis.extra.numpy.arrays` with ``fill=nothing()``: its default
background fill made about a third of small matrices exactly zero),
``rank-one`` (:math:`s\,u v^\top` with non-zero :math:`u, v`), ``zero`` and
``tied-rows`` (a generic matrix with one row copied onto another, so two logits
:math:`w_i^\top x = w_j^\top x` tie for every :math:`x`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from hypothesis.strategies import SearchStrategy

from verify.errors import InvalidInputError

__all__ = [
    "DENOMINATORS",
    "SCALE_LADDER",
    "STRUCTURES",
    "matrices",
    "scales",
    "unit_arrays",
    "vectors",
]

#: Scales an array is multiplied by, simplest first (Hypothesis shrinks to 1.0).
#: ``1e-4`` gives the ``tiny-scale`` tag (entries <= 2e-4), ``1e2``/``1e3`` the
#: ``large-scale`` one.
SCALE_LADDER: tuple[float, ...] = (1.0, 0.1, 10.0, 1e-4, 1e2, 1e3)

#: Denominators of the unscaled entries, simplest first.
DENOMINATORS: tuple[int, ...] = (1, 2, 4, 8, 64, 1024)
#: How often each is drawn (fine grids most: generic matrices rarely tie by accident).
_DENOMINATOR_WEIGHTS: tuple[int, ...] = (1, 1, 1, 1, 2, 4)

#: Structures :func:`matrices` can build.
STRUCTURES: tuple[str, ...] = ("generic", "rank-one", "zero", "tied-rows", "flat-spectrum")
#: What :func:`matrices` draws by default: mostly generic, with the two extremes of the spectrum (one
#: non-zero singular value; all of them equal) as boundary cases.
DEFAULT_STRUCTURES: tuple[str, ...] = ("generic", "generic", "rank-one", "flat-spectrum")

ScaleArg = float | SearchStrategy[float] | None
StructureArg = str | Sequence[str]


# --------------------------------------------------------------------------- argument checks
# (the one place the strategies validate their arguments)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _int_range(name: str, value: Any, minimum: int) -> tuple[int, int]:
    """``value`` (an int or a pair ``(lo, hi)``) as ``(lo, hi)`` with ``minimum <= lo <= hi``."""
    if _is_int(value) and value >= minimum:
        return int(value), int(value)
    if (isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_int(v) for v in value)
            and minimum <= value[0] <= value[1]):
        return int(value[0]), int(value[1])
    raise InvalidInputError(
        f"Got {name}={value!r}, but valid values are an integer >= {minimum} or a pair "
        f"(lo, hi) of integers with {minimum} <= lo <= hi."
    )


def _choices(name: str, value: Any, valid: Sequence[str]) -> tuple[str, ...]:
    """``value`` (one name or a non-empty sequence of names) checked against ``valid``."""
    items = (value,) if isinstance(value, str) else value
    if (not isinstance(items, (tuple, list)) or not items
            or not all(isinstance(v, str) and v in valid for v in items)):
        raise InvalidInputError(
            f"Got {name}={value!r}, but valid values are one of {list(valid)} "
            "or a non-empty sequence of them."
        )
    return tuple(items)


def _positive_float(name: str, value: Any) -> float:
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer))
            or not math.isfinite(float(value)) or not float(value) >= np.finfo(np.float64).tiny):
        raise InvalidInputError(
            f"Got {name}={value!r}, but valid values are finite floats >= "
            f"{np.finfo(np.float64).tiny} (the smallest normal float64)."
        )
    return float(value)


@lru_cache(maxsize=256)
def _sampled(options: tuple[Any, ...]) -> SearchStrategy[Any]:
    return st.sampled_from(options)


#: One draw in six of a favoured size is the lower bound outright.
_LOW_FLAG = (False, False, False, False, False, True)


@lru_cache(maxsize=256)
def _uniform_int(lo: int, hi: int) -> SearchStrategy[int]:
    """Integers in ``[lo, hi]``, close to uniform; shrinks to ``lo``.

    ``st.integers`` leans hard toward its lower bound (about a third of the draws
    of ``integers(1, 8)`` are 1); ``sampled_from`` of the range does not, so the
    weight on boundary sizes is the one chosen here, not an accident of the engine.
    """
    if hi - lo > 10_000:
        return st.integers(lo, hi)
    return st.sampled_from(range(lo, hi + 1))


@st.composite
def _favoured_low(draw: st.DrawFn, lo: int, hi: int) -> int:
    if draw(_sampled(_LOW_FLAG)):
        return lo
    return draw(_uniform_int(lo, hi))


@lru_cache(maxsize=256)
def _favour_low(lo: int, hi: int) -> SearchStrategy[int]:
    """Integers in ``[lo, hi]`` with extra weight on ``lo`` (a boundary case).

    One draw in six is ``lo`` outright, the rest nearly uniform (so about a
    quarter of the draws of ``(1, 8)`` are 1); both shrink to ``lo``.
    """
    if lo == hi:
        return st.just(lo)
    return _favoured_low(lo, hi)


#: How a length or a row/column count is drawn from a range (the first is where shrinking goes).
_ENDS_FLAG = ("uniform", "hi", "uniform", "hi", "lo", "hi")


@st.composite
def _size_in(draw: st.DrawFn, lo: int, hi: int) -> int:
    """A size in ``[lo, hi]`` for :func:`vectors` and :func:`matrices`; shrinks to ``lo``.

    Half the draws are ``hi`` outright, one in six ``lo``, the rest near uniform. Hypothesis
    leans hard toward the low end of a range (in 100-example runs of ``matrices((2, 4), (2, 4))``
    most draws were 2 x 2, some runs had no 4 x 4 at all), while dimension-dependent bounds
    bite at the largest size (``||x||_2 <= sqrt(n) ||x||_inf`` is tight only at the top ``n``).
    """
    end = draw(_sampled(_ENDS_FLAG))
    return lo if end == "lo" else hi if end == "hi" else draw(_uniform_int(lo, hi))


def _scale_strategy(scale: ScaleArg) -> SearchStrategy[float]:
    if scale is None:
        return scales()
    if isinstance(scale, SearchStrategy):
        return scale
    return st.just(_positive_float("scale", scale))


# --------------------------------------------------------------------------- strategies


def scales(*, min_scale: float = 1e-4, max_scale: float = 1e3) -> SearchStrategy[float]:
    """Scales from :data:`SCALE_LADDER` within ``[min_scale, max_scale]``; shrinks to 1.0.

    Args:
        min_scale: smallest scale allowed.
        max_scale: largest scale allowed.

    Returns:
        A ``sampled_from`` strategy over the ladder's entries in range, in ladder order.

    Raises:
        InvalidInputError: the range is empty or holds no ladder entry.
    """
    return _scales(_positive_float("min_scale", min_scale), _positive_float("max_scale", max_scale))


@lru_cache(maxsize=64)
def _scales(lo: float, hi: float) -> SearchStrategy[float]:
    ladder = [s for s in SCALE_LADDER if lo <= s <= hi]
    if not ladder:
        raise InvalidInputError(
            f"Got min_scale={lo!r}, max_scale={hi!r}, but that range holds none of the "
            f"valid scales {SCALE_LADDER}."
        )
    return st.sampled_from(ladder)


# Strategies are immutable: cache them instead of rebuilding (and re-validating)
# them inside every draw.
@lru_cache(maxsize=4096)
def _numerators(shape: tuple[int, ...], q: int) -> SearchStrategy[np.ndarray]:
    return arrays(np.int64, shape, elements=st.integers(-2 * q, 2 * q), fill=st.nothing())


_DENOMINATOR_STRATEGY = st.sampled_from(
    tuple(q for q, w in zip(DENOMINATORS, _DENOMINATOR_WEIGHTS) for _ in range(w))
)


@st.composite
def _unit(draw: st.DrawFn, shape: tuple[int, ...], nonzero: bool) -> np.ndarray:
    q = draw(_DENOMINATOR_STRATEGY)
    numerators = draw(_numerators(shape, q))
    values = numerators.astype(np.float64) / q
    if nonzero and values.size and not values.any():
        values.flat[0] = 1.0
    return values


def unit_arrays(shape: int | tuple[int, ...], *, nonzero: bool = False) -> SearchStrategy[np.ndarray]:
    """Unscaled float64 arrays of dyadic entries ``n / q`` in ``[-2, 2]``.

    Args:
        shape: the array shape: an int (a vector) or a tuple of ints (a tuple is a
            shape, not a range of sizes: use :func:`vectors` or :func:`matrices` for those).
        nonzero: if true, an all-zero draw gets its first entry set to 1.

    Raises:
        InvalidInputError: ``shape`` is not an int ``>= 0`` or a tuple of them.

    Returns:
        Strategy of writable float64 arrays of ``shape``; shrinks to all zeros
        (or to :math:`e_1` with ``nonzero``).
    """
    dims = (shape,) if _is_int(shape) else tuple(shape) if isinstance(shape, (tuple, list)) else None
    if dims is None or not all(_is_int(n) and n >= 0 for n in dims):
        raise InvalidInputError(f"Got shape={shape!r}, but valid values are an integer >= 0 or a tuple of "
                                "them (the array's shape; unit_arrays draws no sizes).")
    return _cached_unit(tuple(int(n) for n in dims), bool(nonzero))


@lru_cache(maxsize=4096)
def _cached_unit(shape: tuple[int, ...], nonzero: bool) -> SearchStrategy[np.ndarray]:
    return _unit(shape, nonzero)


def vectors(n: int | tuple[int, int], *, scale: ScaleArg = None,
            nonzero: bool = False) -> SearchStrategy[np.ndarray]:
    """Float64 vectors of length ``n``: :func:`unit_arrays` times a scale.

    Args:
        n: length: an int (``>= 0``), or a pair ``(lo, hi)`` for lengths drawn in
            ``[lo, hi]`` (half the draws ``hi``, one in six ``lo``; shrinks toward ``lo``).
        scale: a float, a strategy of floats, or ``None`` for :func:`scales`.
        nonzero: never return the zero vector (not allowed with length 0).

    Raises:
        InvalidInputError: ``n`` is not an int or a pair of ints ``0 <= lo <= hi``, or
            ``nonzero`` cannot be honoured.
    """
    lo, hi = _int_range("n", n, 0)
    if not isinstance(nonzero, bool):
        raise InvalidInputError(f"Got nonzero={nonzero!r}, but valid values are True and False.")
    if nonzero and lo == 0:
        raise InvalidInputError(f"Got nonzero=True with n={n!r}, but a vector of length 0 has no non-zero "
                                "entry: valid lengths are >= 1.")
    scale_s = _scale_strategy(scale)
    if lo == hi:
        return st.builds(_scaled, unit_arrays((lo,), nonzero=nonzero), scale_s)
    return _ranged_vector(lo, hi, scale_s, nonzero)


@st.composite
def _ranged_vector(draw: st.DrawFn, lo: int, hi: int, scale: SearchStrategy[float],
                   nonzero: bool) -> np.ndarray:
    n = draw(_size_in(lo, hi))
    return _scaled(draw(_cached_unit((n,), nonzero)), draw(scale))


def _scaled(values: np.ndarray, scale: float) -> np.ndarray:
    return values * scale + 0.0  # "+ 0.0" turns -0.0 into 0.0


def _draw_matrix(draw: st.DrawFn, rows: int, cols: int, structures: tuple[str, ...],
                scale: float | SearchStrategy[float], nonzero: bool = False) -> np.ndarray:
    """Draw one matrix inside another composite (the body of :func:`matrices`).

    Arguments are trusted (already validated); ``scale`` is a float or a strategy.
    """
    if rows == 0 or cols == 0:
        return np.zeros((rows, cols))
    structure = structures[0] if len(structures) == 1 else draw(_sampled(structures))
    if structure == "zero":
        return np.zeros((rows, cols))
    s = draw(scale) if isinstance(scale, SearchStrategy) else float(scale)
    if structure == "rank-one":
        u = draw(_cached_unit((rows,), True))
        v = draw(_cached_unit((cols,), True))
        return _scaled(np.outer(u, v), s)
    if structure == "flat-spectrum":
        return _scaled(draw(_signed_partial_permutation(rows, cols)), s)
    values = draw(_cached_unit((rows, cols), nonzero))
    if structure == "tied-rows" and rows >= 2:
        i = draw(st.integers(0, rows - 1))
        j = draw(st.integers(0, rows - 2))
        j = j + 1 if j >= i else j
        values[j] = values[i]
    return _scaled(values, s)


@lru_cache(maxsize=64)
def _permutations(n: int) -> SearchStrategy[list[int]]:
    return st.permutations(range(n))


@lru_cache(maxsize=64)
def _signs(k: int) -> SearchStrategy[list[float]]:
    return st.lists(st.sampled_from((1.0, -1.0)), min_size=k, max_size=k)


@st.composite
def _signed_partial_permutation(draw: st.DrawFn, rows: int, cols: int) -> np.ndarray:
    """min(rows, cols) entries ±1, no two in a row or a column: every singular value is 1 (exactly)."""
    k = min(rows, cols)
    long_side = draw(_permutations(max(rows, cols)))[:k]
    signs = draw(_signs(k))
    out = np.zeros((rows, cols))
    for i, (j, sign) in enumerate(zip(long_side, signs, strict=True)):
        out[(i, j) if rows <= cols else (j, i)] = sign
    return out


@st.composite
def _matrix(draw: st.DrawFn, rows: int, cols: int, structures: tuple[str, ...],
            scale: SearchStrategy[float], nonzero: bool) -> np.ndarray:
    return _draw_matrix(draw, rows, cols, structures, scale, nonzero)


def matrices(rows: int | tuple[int, int], cols: int | tuple[int, int], *,
             structure: StructureArg = DEFAULT_STRUCTURES,
             scale: ScaleArg = None, nonzero: bool = False) -> SearchStrategy[np.ndarray]:
    r"""Float64 ``(rows, cols)`` matrices of a given structure, shrinking toward 0.

    Args:
        rows: number of rows: an int (``>= 0``), or a pair ``(lo, hi)`` for a number
            drawn in ``[lo, hi]`` (half the draws ``hi``, one in six ``lo``; shrinks toward ``lo``).
        cols: number of columns, likewise.
        structure: one of :data:`STRUCTURES`, or a sequence of them to sample from
            (repeat a name to weight it; the first is the one shrinking moves to). The default,
            :data:`DEFAULT_STRUCTURES`, is half ``generic``, a quarter ``rank-one`` and a quarter
            ``flat-spectrum``. ``tied-rows`` needs ``rows >= 2`` (with one row it is ``generic``).
        scale: a float, a strategy of floats, or ``None`` for :func:`scales`.
        nonzero: never draw the zero matrix (a generic draw of all zeros gets its
            first entry set to 1; not allowed with ``zero`` or an empty shape).

    Returns:
        Strategy of writable float64 arrays; ``rank-one`` ones are :math:`s\,uv^\top`
        with :math:`u, v \ne 0`, so exactly rank one whenever they are finite; ``flat-spectrum``
        ones are :math:`s\,P` with :math:`P` a signed partial permutation (``min(rows, cols)``
        entries ±1, no two in a row or a column), so all their singular values equal :math:`s`:
        the extreme case of :math:`\|A\|_F \le \sqrt{r}\,\|A\|_2` and of bounds between norms.

    Raises:
        InvalidInputError: a size is not an int or a pair of ints ``0 <= lo <= hi``,
            a structure is unknown, or ``nonzero`` cannot be honoured.
    """
    rows_r, cols_r = _int_range("rows", rows, 0), _int_range("cols", cols, 0)
    structures = _choices("structure", structure, STRUCTURES)
    if not isinstance(nonzero, bool):
        raise InvalidInputError(f"Got nonzero={nonzero!r}, but valid values are True and False.")
    if nonzero and ("zero" in structures or rows_r[0] == 0 or cols_r[0] == 0):
        raise InvalidInputError(
            f"Got nonzero=True with structure={structure!r}, rows={rows!r} and cols={cols!r}, but valid "
            "combinations exclude the 'zero' structure and (possibly) empty shapes."
        )
    if rows_r[0] == rows_r[1] and cols_r[0] == cols_r[1]:
        return _matrix(rows_r[0], cols_r[0], structures, _scale_strategy(scale), nonzero)
    return _ranged_matrix(rows_r, cols_r, structures, _scale_strategy(scale), nonzero)


@st.composite
def _ranged_matrix(draw: st.DrawFn, rows: tuple[int, int], cols: tuple[int, int], structures: tuple[str, ...],
                   scale: SearchStrategy[float], nonzero: bool) -> np.ndarray:
    return _draw_matrix(draw, draw(_size_in(*rows)), draw(_size_in(*cols)), structures, scale, nonzero)
