r"""Softmax-regression batches, logit vectors, step sizes and block matrices (C1, C2).

The softmax cross-entropy Hessian :math:`H = \frac1m \sum_i A_i \otimes x_i x_i^\top`,
:math:`A = \operatorname{diag}(a) - a a^\top`, reaches its smoothness bound
:math:`\lambda_{\max}(A) = \tfrac12` only for two classes with tied logits, and
the global constant :math:`M = \tfrac12 \lambda_{\max}(X^\top X / m)` is attained
exactly at :math:`k = 2`, :math:`W = 0`. :func:`softmax_batches` therefore puts
weight on :math:`W = 0` (every logit tied), on :math:`W` with two equal rows (two
logits tied for every :math:`x`), on rank-one :math:`W` and :math:`X`, on the
smallest :math:`k`, :math:`d`, :math:`m`, and on scales from ``1e-4`` to ``1e3``
(logits up to about ``1e4``, past the float64 overflow of a naive
:math:`e^{z}` at :math:`z \approx 710`).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from verify.errors import InvalidInputError
from verify.strategies.arrays import (
    SCALE_LADDER,
    _draw_matrix,
    _favour_low,
    _int_range,
    _is_int,
    _positive_float,
    _sampled,
    scales,
    unit_arrays,
)
from verify.strategies.cases import SoftmaxBatch, SymmetricBlockMatrix

__all__ = ["logits", "softmax_batches", "step_sizes", "symmetric_block_matrices"]

#: Structure of W, weighted by repetition (the first is where shrinking goes).
_W_STRUCTURES = ("generic", "generic", "generic", "zero", "tied-rows", "rank-one")
# the ladder with 1e3 twice: logits past 1e3 (beyond exp overflow at ~710) in most short runs
_W_SCALES = _sampled(SCALE_LADDER + (1e3,))
_X_SCALES = scales(max_scale=10.0)
#: Structure of X.
_X_STRUCTURES = ("generic", "generic", "generic", "rank-one")
#: Logit-vector shapes for :func:`logits`.
_LOGIT_SHAPES = ("generic", "generic", "tie", "all-equal")
_NEAR_TIE_SHAPES = ("near-tie", "near-tie", "near-tie")
#: Relative gaps of a near tie.
_NEAR_GAPS = (1e-8, 1e-6, 1e-10)
_LOGIT_SCALES = (1.0, 0.1, 10.0, 1e-4)
_LARGE_LOGIT_SCALES = (1e2, 1e3, 5e3, 1e2, 1e3, 5e3)  # twice: weighted toward large
#: Power-of-two scales for block matrices: multiplying by them is exact, so the
#: diagonal blocks stay exactly PSD; 2**-10 < 1e-3 (tiny), 2**7 = 128 > 1e2 (large).
_BLOCK_SCALES = (1.0, 2.0**-10, 2.0**7)
#: One block matrix in four is the smallest one the arguments allow.
_SMALLEST = (False, False, False, True)


def softmax_batches(
    *,
    k: int | tuple[int, int] = (2, 6),
    d: int | tuple[int, int] = (1, 6),
    m: int | tuple[int, int] = (1, 8),
) -> SearchStrategy[SoftmaxBatch]:
    r"""Strategy of :class:`~verify.strategies.cases.SoftmaxBatch` (W, X, labels y).

    ``W`` is generic, zero, with two tied rows, or rank one (3:1:1:1), scaled by
    :func:`~verify.strategies.arrays.scales` (``1e-4`` … ``1e3``); ``X`` is generic
    or rank one (3:1), never 0 (the loss would be the constant :math:`\log k`),
    scaled by ``1e-4`` … ``10``; labels are uniform in ``[0, k)``.
    One draw in six of each of ``k``, ``d``, ``m`` is the minimum outright (on top
    of Hypothesis's own lean toward small integers). Shrinks toward ``k = 2`` (or
    the minimum), ``d = 1``, ``m = 1``, ``W = 0``, ``X = [[1]]``, ``y = 0``: small
    integers throughout.

    Args:
        k: number of classes, an int or ``(lo, hi)``, ``>= 2``.
        d: input dimension, ``>= 1``.
        m: batch size, ``>= 1``.

    Raises:
        InvalidInputError: an argument is out of range.
    """
    return _softmax_batches(_int_range("k", k, 2), _int_range("d", d, 1), _int_range("m", m, 1))


@st.composite
def _softmax_batches(draw: st.DrawFn, k: tuple[int, int], d: tuple[int, int],
                     m: tuple[int, int]) -> SoftmaxBatch:
    n_classes = draw(_favour_low(*k))
    dim = draw(_favour_low(*d))
    n = draw(_favour_low(*m))
    W = _draw_matrix(draw, n_classes, dim, _W_STRUCTURES, _W_SCALES)
    X = _draw_matrix(draw, n, dim, _X_STRUCTURES, _X_SCALES, nonzero=True)
    y = np.array([draw(st.integers(0, n_classes - 1)) for _ in range(n)], dtype=np.int64)
    return SoftmaxBatch(W=W, X=X, y=y)


def logits(
    k: int | tuple[int, int] = (2, 8),
    *,
    near_ties: bool = True,
    large: bool = True,
) -> SearchStrategy[np.ndarray]:
    r"""Strategy of float64 logit vectors ``(k,)`` with exact and near ties.

    Shapes: generic; an exact tie of the two largest entries; all entries equal;
    and (``near_ties``) the runner-up at a relative gap of ``1e-6``, ``1e-8`` or
    ``1e-10`` below the maximum (:math:`z_j = z_{\max} - g\max(|z_{\max}|, s)`,
    never rounding to a tie). Scales ``1e-4`` … ``10``, and with ``large`` up to
    ``5e3``, so magnitudes reach ``1e4``.

    Args:
        k: length, an int or ``(lo, hi)``, ``>= 2``.
        near_ties: include near ties.
        large: include magnitudes ``>= 1e2``.

    Raises:
        InvalidInputError: an argument is out of range.
    """
    k_r = _int_range("k", k, 2)
    for name, flag in (("near_ties", near_ties), ("large", large)):
        if not isinstance(flag, bool):
            raise InvalidInputError(f"Got {name}={flag!r}, but valid values are True and False.")
    shapes = _LOGIT_SHAPES + (_NEAR_TIE_SHAPES if near_ties else ())
    ladder = _LOGIT_SCALES + (_LARGE_LOGIT_SCALES if large else ())
    return _logits(k_r, shapes, ladder)


@st.composite
def _logits(draw: st.DrawFn, k: tuple[int, int], shapes: tuple[str, ...],
            ladder: tuple[float, ...]) -> np.ndarray:
    n = draw(_favour_low(*k))
    shape = draw(_sampled(shapes))
    scale = draw(_sampled(ladder))
    if shape == "all-equal":
        return np.full(n, draw(unit_arrays((1,)))[0] * scale + 0.0)
    z = draw(unit_arrays((n,))) * scale + 0.0
    if shape == "generic":
        return z
    top = int(np.argmax(z))
    j = draw(st.integers(0, n - 2))
    j = j + 1 if j >= top else j
    if shape == "tie":
        z[j] = z[top]
    else:  # near tie
        gap = draw(_sampled(_NEAR_GAPS)) * max(abs(float(z[top])), scale)
        z[j] = z[top] - gap
    return z


def step_sizes(max_value: float = 1.0, *, include_max: bool = True,
               decades: int = 6) -> SearchStrategy[float]:
    r"""Strategy of positive step sizes :math:`\alpha \in (0, \alpha_{\max}]`.

    Draws ``max_value`` itself (if ``include_max``; where shrinking goes), values
    just below it (:math:`\alpha_{\max}(1 - 10^{-j})`, :math:`j = 1..8`) and values
    spread over ``decades`` decades below it (:math:`\alpha_{\max} \cdot n \cdot
    10^{-2-e}`, :math:`n = 1..99`).

    Args:
        max_value: the largest step (e.g. ``2 / M``), a finite float > 0.
        include_max: whether ``max_value`` itself can be drawn.
        decades: how many decades below ``max_value`` to cover, ``>= 1``.

    Raises:
        InvalidInputError: an argument is out of range.
    """
    top = _positive_float("max_value", max_value)
    if not isinstance(include_max, bool):
        raise InvalidInputError(f"Got include_max={include_max!r}, but valid values are True and False.")
    if not (_is_int(decades) and 1 <= decades <= 30):
        raise InvalidInputError(f"Got decades={decades!r}, but valid values are integers 1..30.")
    near = st.integers(1, 8).map(lambda j: top * (1.0 - 10.0 ** -j))
    spread = st.builds(lambda n, e: top * (n * 10.0 ** (-2 - e)),
                       st.integers(1, 99), st.integers(0, int(decades) - 1))
    branches = ([st.just(top)] if include_max else []) + [near, spread]
    limit = top if include_max else math.nextafter(top, 0.0)
    return st.one_of(*branches).filter(lambda a: 0.0 < a <= limit)


def symmetric_block_matrices(
    *,
    n_blocks: int | tuple[int, int] = (2, 3),
    block: int | tuple[int, int] = (1, 3),
    psd_diagonal: bool = True,
) -> SearchStrategy[SymmetricBlockMatrix]:
    r"""Strategy of exactly symmetric block matrices, diagonal blocks PSD by construction.

    Diagonal block :math:`i` is :math:`C_i C_i^\top` with :math:`C_i` generic
    (:math:`b_i \times b_i`) or a single column (rank one); off-diagonal blocks are
    arbitrary small dyadic numbers (e.g. ``[[1, 2], [2, 1]]`` for two 1-blocks).
    Entries are exact: products of dyadics are exact in float64 and the whole
    matrix is multiplied by a power of two (``1``, ``2**-10`` or ``2**7``), so the
    diagonal blocks are PSD in exact arithmetic, not just up to round-off.

    Args:
        n_blocks: number of diagonal blocks, an int or ``(lo, hi)``, ``>= 1``.
        block: size of each block, ``>= 1``.
        psd_diagonal: if false, diagonal blocks are arbitrary symmetric matrices.

    Raises:
        InvalidInputError: an argument is out of range.
    """
    nb = _int_range("n_blocks", n_blocks, 1)
    bs = _int_range("block", block, 1)
    if not isinstance(psd_diagonal, bool):
        raise InvalidInputError(f"Got psd_diagonal={psd_diagonal!r}, but valid values are True and False.")
    return _symmetric_block_matrices(nb, bs, psd_diagonal)


def _mirror_upper(M: np.ndarray) -> np.ndarray:
    """The symmetric matrix with ``M``'s upper triangle (bitwise symmetric)."""
    upper = np.triu(M)
    return upper + np.triu(M, 1).T


@st.composite
def _symmetric_block_matrices(draw: st.DrawFn, n_blocks: tuple[int, int], block: tuple[int, int],
                              psd_diagonal: bool) -> SymmetricBlockMatrix:
    if draw(_sampled(_SMALLEST)):  # the smallest case, e.g. [[1, 2], [2, 1]]
        nb, sizes = n_blocks[0], [block[0]] * n_blocks[0]
    else:
        nb = draw(_favour_low(*n_blocks))
        sizes = [draw(_favour_low(*block)) for _ in range(nb)]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    M = np.zeros((offsets[-1], offsets[-1]))
    for i, b in enumerate(sizes):
        rows = slice(offsets[i], offsets[i + 1])
        if psd_diagonal:
            cols = b if draw(_sampled(("generic", "rank-one"))) == "generic" else 1
            C = draw(unit_arrays((b, cols)))
            M[rows, rows] = _mirror_upper(C @ C.T)
        else:
            M[rows, rows] = _mirror_upper(draw(unit_arrays((b, b))))
        for j in range(i + 1, nb):
            other = slice(offsets[j], offsets[j + 1])
            off = draw(unit_arrays((b, sizes[j])))
            M[rows, other] = off
            M[other, rows] = off.T
    scale = draw(_sampled(_BLOCK_SCALES))
    return SymmetricBlockMatrix(matrix=M * scale + 0.0, block_sizes=tuple(sizes))
