"""The derivation: ∂²lse/∂z_i∂z_j = p_i δ_ij − p_i p_j, proved with SymPy for k = 2, 3, 4."""

from __future__ import annotations

import functools

import sympy as sp

from verify import SymbolicResult, SymbolicStep, prove_identity


def hessian_closed_form_step(k: int) -> SymbolicStep:
    """∇² lse(z) = diag(p) − p pᵀ for ``k`` logits, entry by entry (exact spot checks included)."""
    z = sp.symbols(f"z0:{k}", real=True)
    total = sum(sp.exp(zi) for zi in z)
    lse = sp.log(total)
    p = [sp.exp(zi) / total for zi in z]
    derived = sp.Matrix(k, k, lambda i, j: sp.diff(lse, z[i], z[j]))
    closed = sp.Matrix(k, k, lambda i, j: (p[i] if i == j else 0) - p[i] * p[j])
    return prove_identity(derived, closed, name=f"hessian-k{k}", sizes=f"k={k}",
                          statement=r"\nabla^2 \operatorname{lse}(z) = \operatorname{diag}(p) - pp^\top")


@functools.lru_cache(maxsize=1)
def derivation() -> SymbolicResult:
    """The closed form at k = 2, 3, 4 (cached: the steps are pure)."""
    return SymbolicResult([hessian_closed_form_step(k) for k in (2, 3, 4)])
