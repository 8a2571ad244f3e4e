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

This module gathers the built-in case types and registers them with
:func:`~verify.strategies.case_types.case_type`; each is defined in a private sibling
module: :class:`MLPCase` in ``_mlp_case``, :class:`SoftmaxBatch` in ``_softmax_case``,
:class:`SymmetricBlockMatrix` in ``_block_matrix_case``, :class:`ModuleCase` (a network of
:func:`~verify.strategies.modules`) in ``_module_case``. The tags and their helpers are
in ``_case_base``.
"""

from __future__ import annotations

from verify.strategies._block_matrix_case import SymmetricBlockMatrix
from verify.strategies._case_base import MLP_ACTIVATIONS, TAG_DEFINITIONS, TAGS
from verify.strategies._mlp_case import MLPCase
from verify.strategies._module_case import ModuleCase
from verify.strategies._softmax_case import SoftmaxBatch
from verify.strategies.case_types import case_from_json, case_type

__all__ = [
    "MLP_ACTIVATIONS",
    "TAGS",
    "TAG_DEFINITIONS",
    "MLPCase",
    "ModuleCase",
    "SoftmaxBatch",
    "SymmetricBlockMatrix",
    "case_from_json",
]


for _builtin in (MLPCase, ModuleCase, SoftmaxBatch, SymmetricBlockMatrix):
    case_type(_builtin)
