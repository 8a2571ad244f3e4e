"""verify: symbolic-numeric verification of deep-learning math.

Public names are re-exported here and listed in ``__all__``. Importing
:mod:`verify` is cheap: torch and sympy are imported only when a name that needs
them is first used (module ``__getattr__``, PEP 562).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # claims (plain Python)
    "CaseResult": "verify.claims",
    "CheckContext": "verify.claims",
    "Claim": "verify.claims",
    "Comparison": "verify.claims",
    "Expectation": "verify.claims",
    "Family": "verify.claims",
    "Figure": "verify.claims",
    "Mark": "verify.claims",
    "ReportCard": "verify.claims",
    "Series": "verify.claims",
    "SymbolicResult": "verify.claims",
    "SymbolicStep": "verify.claims",
    "Tolerance": "verify.claims",
    "Verdict": "verify.claims",
    "VerdictKind": "verify.claims",
    "all_claims": "verify.claims",
    "compare_close": "verify.claims",
    "compare_leq": "verify.claims",
    "compare_nonfinite": "verify.claims",
    "dump_verdicts": "verify.claims",
    "get_claim": "verify.claims",
    "library_claims": "verify.claims",
    "load_verdicts": "verify.claims",
    "register": "verify.claims",
    "versions": "verify.claims",
    # errors
    "BridgeError": "verify.errors",
    "ClaimDefinitionError": "verify.errors",
    "InvalidInputError": "verify.errors",
    "NumericError": "verify.errors",
    "UnknownClaimError": "verify.errors",
    "UserCodeError": "verify.errors",
    "VerifyError": "verify.errors",
    # symbolic (sympy)
    "find_unevaluated": "verify.symbolic",
    "in_range": "verify.symbolic",
    "prove_identity": "verify.symbolic",
    # numeric (torch)
    "ACTIVATIONS": "verify.numeric",
    "EigenEstimate": "verify.numeric",
    "MLPSpec": "verify.numeric",
    "as_tensor": "verify.numeric",
    "dtype_name": "verify.numeric",
    "extreme_eigenvalues": "verify.numeric",
    "fd_gradient": "verify.numeric",
    "fd_hvp": "verify.numeric",
    "fd_step": "verify.numeric",
    "flatten": "verify.numeric",
    "gradient": "verify.numeric",
    "init_params": "verify.numeric",
    "mlp_forward": "verify.numeric",
    "mlp_layers": "verify.numeric",
    "per_sample_grads": "verify.numeric",
    "per_sample_grads_loop": "verify.numeric",
    "power_iteration": "verify.numeric",
    "unflatten": "verify.numeric",
    "compare_tensors": "verify.numeric",
    "dense_hessian": "verify.numeric",
    "extreme_eigenvalue": "verify.numeric",
    "hvp_double_backward": "verify.numeric",
    "hvp_forward_over_reverse": "verify.numeric",
    "hvp_operator": "verify.numeric",
    "ggn_operator": "verify.numeric",
    "residual_operator": "verify.numeric",
    "GaussNewton": "verify.numeric",
    "top_eigenpairs": "verify.numeric",
    "hutchinson": "verify.numeric",
    "hutch_plus_plus": "verify.numeric",
    "xtrace": "verify.numeric",
    "spectral_density": "verify.numeric",
    "resolve_device": "verify.numeric",
    "resolve_dtype": "verify.numeric",
    "softmax_cross_entropy": "verify.numeric",
    "softmax_regression_loss": "verify.numeric",
    "stable_softmax": "verify.numeric",
    "FunctionalModel": "verify.numeric",
    "functional": "verify.numeric",
    "roundoff_spread": "verify.numeric",
    "build_module": "verify.numeric",
    "module_from_case": "verify.numeric",
    # strategies (hypothesis)
    "SoftmaxBatch": "verify.strategies",
    "SymmetricBlockMatrix": "verify.strategies",
    "MLPCase": "verify.strategies",
    "mlp_cases": "verify.strategies",
    "MLPHeadCase": "verify.strategies",
    "mlp_head_cases": "verify.strategies",
    "ModuleCase": "verify.strategies",
    "modules": "verify.strategies",
    "ARCHITECTURES": "verify.strategies",
    "case_from_json": "verify.strategies",
    "Case": "verify.strategies",
    "case_type": "verify.strategies",
    "case_types": "verify.strategies",
    "decode_case_json": "verify.strategies",
    "logits": "verify.strategies",
    "matrices": "verify.strategies",
    "scales": "verify.strategies",
    "step_sizes": "verify.strategies",
    "vectors": "verify.strategies",
    "softmax_batches": "verify.strategies",
    "symmetric_block_matrices": "verify.strategies",
    # bridge (sympy + torch)
    "to_torch": "verify.bridge",
    # engine
    "identity": "verify.authoring",
    "inequality": "verify.authoring",
    "run_claim": "verify.check",
    "run_claims": "verify.check",
    "check_regularizer": "verify.regularizers",
    "write_report": "verify.report",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'verify' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
