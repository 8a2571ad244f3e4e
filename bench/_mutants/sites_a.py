"""Mutation sites of the softmax cross-entropy (C1), descent (C2) and critical-point (C7) claims."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import sympy as sp
import torch

from _mutants.operators import Site, offset_first
from proofs.critical_points.numeric import SecondOrderTerm, classification_check, classification_recheck_exact
from proofs.descent.numeric import check_bound
from proofs.softmax_ce import symbolic as softmax_sym
from proofs.softmax_ce.numeric import (
    NullDirection,
    convex_check,
    convex_recheck_dense,
    half_top_eigenvalue,
    hessian_check,
    hessian_recheck,
    null_direction,
    smoothness_check,
    smoothness_recheck_dense,
)
from verify import stable_softmax, to_torch

# --------------------------------------------------------------------------- C1: the Hessian entry


def entry_hessian(entry: Callable[..., torch.Tensor]) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The mean Hessian (k·d, k·d) from a lambdified entry (a_a, a_c, x_b, x_e, δ_ac), broadcast over examples.

    With the family's entry form this is ``closed_form_hessian`` (tests/test_mutation_sample.py checks it).
    """

    def formula(W: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        k, d = W.shape
        a = stable_softmax(X @ W.T)
        delta = torch.eye(k, dtype=W.dtype, device=W.device)
        out = entry(a[:, :, None, None, None], a[:, None, None, :, None], X[:, None, :, None, None],
                    X[:, None, None, None, :], delta[None, :, None, :, None])
        return out.expand(X.shape[0], k, d, k, d).reshape(X.shape[0], k * d, k * d).mean(dim=0)

    return formula


def _entry_site() -> Site:
    _, entry = softmax_sym.entry_form()
    args = softmax_sym.ENTRY_ARGS

    def compile_(mapping: dict) -> Any:
        return entry_hessian(to_torch(entry.xreplace(mapping), args, cache=False, name="mutant_entry"))

    return Site("softmax-ce-hessian", "entry", lambda f: (hessian_check(f), hessian_recheck(f)), exprs=(entry,),
                compile=compile_, vector=True, tags=("zero-weights", "large-scale", "k-2"),
                doc="the Hessian entry (δ_ac − a_c)·a_a·x_b·x_e of the SymPy derivation, lambdified by verify.bridge")


# --------------------------------------------------------------------------- C1: convexity, smoothness


def null_direction_column_major(k: int, d: int, like: torch.Tensor) -> torch.Tensor:
    """c ⊗ 1: the null direction in column-major vec (the wrong Kronecker order)."""
    c = torch.linspace(1.0, 2.0, d, dtype=like.dtype, device=like.device)
    v = torch.kron(c, torch.ones(k, dtype=like.dtype, device=like.device))
    return v / v.norm()


def _offset_null(null: NullDirection) -> NullDirection:
    """first entry + 1e-2·max|entries|"""
    return offset_first(null, 1e-2)


def _convex_site() -> Site:
    return Site("softmax-ce-convex", "null-direction",
                lambda f: (partial(convex_check, null=f), partial(convex_recheck_dense, null=f)),
                formula=null_direction,
                vector=True, tags=("zero-weights", "large-scale", "k-2"), boundary=_offset_null,
                scale_equivalent=("equivalent: H(s·v) = s·Hv, so a multiple of a null direction is one "
                                  "(the claim is unchanged)"),
                alternatives=(("c ⊗ 1 (column-major vec)", null_direction_column_major),),
                doc="the null direction 1 ⊗ c of H (proofs.softmax_ce.numeric.null_direction)")


def mean_eigenvalue_bound(X: np.ndarray) -> float:
    """½ of the mean eigenvalue of XᵀX/m (the trace over d) in place of the largest."""
    return 0.5 * float(np.trace(X.T @ X / X.shape[0])) / X.shape[1]


def _smoothness_site() -> Site:
    return Site("softmax-ce-smoothness", "bound",
                lambda f: (partial(smoothness_check, bound=f), partial(smoothness_recheck_dense, bound=f)),
                role="upper", formula=half_top_eigenvalue, nonneg=True, tags=("k-2", "zero-weights", "tied-logits"),
                boundary=sp.Rational(99, 100),
                alternatives=(("½ mean eigenvalue of XᵀX/m instead of the largest", mean_eigenvalue_bound),),
                doc="M = ½ λ_max(XᵀX/m), the bound on λ_max(∇²L)")


# --------------------------------------------------------------------------- C2: the descent bound

alpha = sp.Symbol("alpha", positive=True)
M = sp.Symbol("M", real=True)
gnorm = sp.Symbol("gnorm", positive=True)
DESCENT_BOUND = -alpha * (1 - alpha * M / 2) * gnorm**2


def _descent_site(claim: str = "descent-lemma", tags: tuple[str, ...] = ("Quadratic", "SoftmaxBatch", "MLPCase")
                  ) -> Site:
    def compile_(mapping: dict) -> Callable[[float, float, float], float]:
        f = sp.lambdify((alpha, M, gnorm), DESCENT_BOUND.xreplace(mapping), "math")
        return lambda a, m, G: float(f(a, m, math.sqrt(G)))

    return Site(claim, "bound",
                lambda b: (partial(check_bound, bound=b, dense=False), partial(check_bound, bound=b, dense=True)),
                role="upper", exprs=(DESCENT_BOUND,), compile=compile_, tags=tags,
                doc="the bound −α(1 − αM/2)‖g‖² on L(θ − αg) − L(θ) (proofs.descent.numeric.descent_bound, "
                    "written in SymPy with ‖g‖ as a symbol)")


# --------------------------------------------------------------------------- C7: the second-order term

eps = sp.Symbol("epsilon", positive=True)
lam = sp.Symbol("lambda", real=True)
SECOND_ORDER = eps**2 * lam / 2


def _within_margin(new: list[sp.Expr]) -> str:
    """A constant factor c with |c − 1| + ¼ ≤ c/2 never changes the check's outcome."""
    c = sp.simplify(new[0] / SECOND_ORDER)
    if c.is_number and abs(float(c) - 1) + 0.25 <= float(c) / 2:
        return (f"equivalent: the check accepts |ΔL − q| ≤ ½|q| and the step length keeps |ΔL − ½ε²λ| ≤ ¼|½ε²λ|, "
                f"so q = {c}·½ε²λ (|c − 1| + ¼ ≤ c/2) is never violated")
    return ""


def _critical_site() -> Site:
    def compile_(mapping: dict) -> SecondOrderTerm:
        f = sp.lambdify((eps, lam), SECOND_ORDER.xreplace(mapping), "math")
        return lambda e, v: float(f(e, v))

    return Site("critical-point-classification", "second-order-term",
                lambda q: (partial(classification_check, second_order=q),
                           partial(classification_recheck_exact, second_order=q)),
                exprs=(SECOND_ORDER,), compile=compile_, tags=("max", "saddle", "PolynomialCase"),
                boundary=sp.Integer(3), equivalent=_within_margin,
                doc="ΔL ≈ ½ε²λ along a unit eigenvector (proofs.critical_points.numeric.half_eps2_lambda)")


def sites() -> list[Site]:
    """The sites of C1, C2 and C7, in claim order."""
    return [_entry_site(), _convex_site(), _smoothness_site(), _descent_site(), _critical_site()]
