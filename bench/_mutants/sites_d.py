"""Mutation sites of the claims over architectures (issue 16): C3 for convolutions, and C2, C5, C6 over networks of
verify.modules(). Listed after every earlier site, so the numbers of the earlier mutants stay as published."""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from _mutants.operators import Site
from _mutants.sites_a import _descent_site
from _mutants.sites_b import C6_RULES, _c6_site
from _mutants.sites_c import CENTRAL, FORWARD, _bound_site, _norm_gradient_site, _quotient_site
from proofs.gradient_inequality.conv_claims import conv_check, conv_mpmath_recheck

SIGMA = sp.Symbol("sigma_P", nonnegative=True)
#: the left side's factor of conv-gradient-inequality-patches, σ_P(Ũ)² (conv_claims.sigma_p_sq)
PATCH_FACTOR = SIGMA**2


def _conv_patches_site() -> Site:
    def compile_(mapping: dict) -> Any:
        f = sp.lambdify((SIGMA,), PATCH_FACTOR.xreplace(mapping), "numpy")
        return lambda t: np.array(np.broadcast_to(f(np.sqrt(t.sigma_sq)), t.sigma_sq.shape), dtype=np.float64)

    return Site("conv-gradient-inequality-patches", "patch-factor",
                lambda fac: (conv_check("patches", fac), conv_mpmath_recheck("patches", fac)), role="lower",
                exprs=(PATCH_FACTOR,), compile=compile_, tags=("one-position", "patches-full-rank"),
                doc="the factor σ_P(Ũ⁽ᵗ⁾)² on ‖∇ₓf‖² (gradient_inequality.conv_claims.sigma_p_sq, σ_P as a symbol)")


FD_MODULES = "gradient-norm-penalty-fd-order-modules"


def sites() -> list[Site]:
    """The sites of the claims added by issue 16, in the order they were added (so numbers stay)."""
    return [_descent_site("descent-lemma-modules", ("cnn", "attention", "single-example")),
            _conv_patches_site(),
            _norm_gradient_site("gradient-norm-penalty-gradient-modules", ("cnn", "attention", "residual")),
            *[_c6_site(f"{claim}-modules", claim) for claim in C6_RULES],
            _quotient_site("forward", FORWARD, FD_MODULES, ("cnn", "attention")),
            _quotient_site("central", CENTRAL, FD_MODULES, ("cnn", "attention")),
            _bound_site("forward", FD_MODULES, ("cnn", "attention")),
            _bound_site("central", FD_MODULES, ("cnn", "attention"))]
