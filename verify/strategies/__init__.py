"""Hypothesis strategies for the cases `verify` checks claims on.

Cases are frozen dataclasses of float64 numpy arrays (no torch, no sympy here:
the checker converts them), each tagged with the boundary cases it actually hits
(:data:`TAGS`), serializable with ``to_json``/``from_json`` exactly. The
strategies weight boundary cases (width 1, rank one, tied logits, zero weights,
tiny and large scales, two classes, one example) so a short seeded run reaches
them, and shrink toward small sizes and small-integer entries.
"""

from verify.strategies._module_case import ARCHITECTURES, MODULE_ACTIVATIONS, input_shape, parameter_shapes
from verify.strategies.arrays import SCALE_LADDER, STRUCTURES, matrices, scales, unit_arrays, vectors
from verify.strategies.case_types import Case, case_type, case_types, decode_case_json
from verify.strategies.cases import (
    MLP_ACTIVATIONS,
    TAG_DEFINITIONS,
    TAGS,
    MLPCase,
    ModuleCase,
    SoftmaxBatch,
    SymmetricBlockMatrix,
    case_from_json,
)
from verify.strategies.heads import HEADS, MLPHeadCase, mlp_head_cases
from verify.strategies.mlp import mlp_cases
from verify.strategies.modules import modules
from verify.strategies.softmax import logits, softmax_batches, step_sizes, symmetric_block_matrices

__all__ = [
    "ARCHITECTURES",
    "HEADS",
    "MLP_ACTIVATIONS",
    "SCALE_LADDER",
    "STRUCTURES",
    "TAGS",
    "TAG_DEFINITIONS",
    "Case",
    "MLPCase",
    "MLPHeadCase",
    "MODULE_ACTIVATIONS",
    "ModuleCase",
    "SoftmaxBatch",
    "SymmetricBlockMatrix",
    "case_from_json",
    "case_type",
    "case_types",
    "decode_case_json",
    "logits",
    "matrices",
    "mlp_cases",
    "mlp_head_cases",
    "modules",
    "input_shape",
    "parameter_shapes",
    "scales",
    "softmax_batches",
    "step_sizes",
    "symmetric_block_matrices",
    "unit_arrays",
    "vectors",
]
