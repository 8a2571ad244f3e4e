"""Torch oracles: functional MLPs, any module as a function of θ (:class:`FunctionalModel`), losses,
autodiff routes, spectra, finite differences.

The ground truth every claim is compared with (float64 by default, CPU or CUDA).
This package never imports SymPy; it imports only :mod:`verify.errors` and
:mod:`verify.claims` from the rest of :mod:`verify`.
"""

from verify.numeric.autodiff import (
    dense_hessian,
    gradient,
    hvp_double_backward,
    hvp_forward_over_reverse,
    hvp_operator,
    hvp_products,
)
from verify.numeric.batchgrad import mlp_per_example_grads
from verify.numeric.compare import compare_tensors, worst_index
from verify.numeric.estimators import (
    Density,
    Eigenpairs,
    TraceEstimate,
    hutch_plus_plus,
    hutchinson,
    spectral_density,
    top_eigenpairs,
    xtrace,
)
from verify.numeric.finite_diff import fd_directional, fd_gradient, fd_hvp, fd_step, roundoff_spread
from verify.numeric.ggn import GaussNewton, ggn_operator, residual_operator
from verify.numeric.losses import log_softmax, softmax_cross_entropy, softmax_regression_loss, stable_softmax
from verify.numeric.mlp import (
    ACTIVATIONS,
    MLPSpec,
    activation,
    flatten,
    init_params,
    mlp_forward,
    mlp_layers,
    unflatten,
)
from verify.numeric.module import (
    DENSE_LIMIT,
    EXACT_EIGEN_LIMIT,
    LOSSES,
    MEMORY_BUDGET,
    FunctionalModel,
    differentiable_attention,
    per_example_chunk,
)
from verify.numeric.per_example import per_sample_grads, per_sample_grads_loop
from verify.numeric.policy import (
    as_tensor,
    blas_threads,
    dtype_name,
    resolve_device,
    resolve_dtype,
    set_torch_threads,
    torch_threads,
)
from verify.numeric.spectrum import EigenEstimate, extreme_eigenvalue, extreme_eigenvalues, power_iteration
from verify.numeric.zoo import LayerNorm, SelfAttention, build_module, functional, module_from_case

__all__ = [
    "Density",
    "Eigenpairs",
    "GaussNewton",
    "TraceEstimate",
    "ggn_operator",
    "hutch_plus_plus",
    "hutchinson",
    "residual_operator",
    "spectral_density",
    "top_eigenpairs",
    "xtrace",
    "ACTIVATIONS",
    "DENSE_LIMIT",
    "EXACT_EIGEN_LIMIT",
    "LayerNorm",
    "SelfAttention",
    "MEMORY_BUDGET",
    "FunctionalModel",
    "LOSSES",
    "EigenEstimate",
    "MLPSpec",
    "activation",
    "as_tensor",
    "compare_tensors",
    "build_module",
    "dense_hessian",
    "differentiable_attention",
    "dtype_name",
    "extreme_eigenvalue",
    "extreme_eigenvalues",
    "fd_directional",
    "fd_gradient",
    "fd_hvp",
    "fd_step",
    "functional",
    "flatten",
    "gradient",
    "hvp_double_backward",
    "hvp_forward_over_reverse",
    "hvp_operator",
    "hvp_products",
    "module_from_case",
    "init_params",
    "log_softmax",
    "mlp_forward",
    "mlp_layers",
    "per_example_chunk",
    "mlp_per_example_grads",
    "per_sample_grads",
    "per_sample_grads_loop",
    "power_iteration",
    "resolve_device",
    "resolve_dtype",
    "roundoff_spread",
    "blas_threads",
    "set_torch_threads",
    "softmax_cross_entropy",
    "softmax_regression_loss",
    "stable_softmax",
    "torch_threads",
    "unflatten",
    "worst_index",
]
