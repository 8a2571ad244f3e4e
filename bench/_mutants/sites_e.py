"""Mutation sites of the curvature family (issue 19, C8). Listed after every earlier site, so the numbers of the
earlier mutants stay as published."""

from __future__ import annotations

from functools import partial
from typing import Any

import sympy as sp

from _mutants.operators import Site
from proofs.curvature import hutchinson as hut
from proofs.curvature import numeric as num
from proofs.curvature import rescaling as resc
from proofs.curvature import symbolic as sym

C = sp.Symbol("c", positive=True)
#: the factor of W_{l+1} in the rescaling T_c (1/c keeps the function)
NEXT_FACTOR = 1 / C


def _split_site() -> Site:
    return Site("gauss-newton-decomposition", "split",
                lambda f: (partial(num.split_check, combine=f), partial(num.split_recheck, combine=f)),
                formula=num.ggn_plus_residual, vector=True, tags=("width-1", "single-example"),
                alternatives=(("G alone (the residual term dropped)", num.ggn_only),
                              ("G − R (the residual term's sign)", lambda g, r: g - r)),
                doc="Hv = Gv + Rv from the GaussNewton products (proofs.curvature.numeric.ggn_plus_residual)")


def _psd_site() -> Site:
    return Site("ggn-psd-convex-loss", "matrix",
                lambda f: (partial(num.psd_check, combine=f), partial(num.psd_recheck, combine=f)),
                formula=num.ggn_only, tags=("width-1",),
                scale_equivalent="equivalent: a positive multiple of a PSD matrix is PSD",
                alternatives=(("the Hessian G + R", num.ggn_plus_residual), ("G − R", lambda g, r: g - r)),
                boundary_equivalent={"width-1": "equivalent: a positive multiple of a PSD matrix is PSD"},
                doc="the matrix claimed PSD, G (proofs.curvature.numeric.psd_check's split)")


def _interpolation_site() -> Site:
    def checks(f: Any) -> tuple[Any, Any]:
        return (partial(num.ggn_equals_hessian_check, need_minimum=False, combine=f),
                partial(num.ggn_equals_hessian_recheck, need_minimum=False, combine=f))

    return Site("hessian-equals-ggn-at-interpolation", "ggn", checks, formula=num.ggn_only, vector=True,
                tags=("width-1", "single-example"),
                doc="∇²L = G at f(θ*) = t (proofs.curvature.numeric.ggn_equals_hessian_check's combine)")


T, F, D = sym.MOMENT_ARGS


def _zero_moments(distribution: str, moment: str) -> dict[str, str]:
    """The boundary tags on which the moment is exactly 0, so that scaling it changes nothing."""
    out = {"zero-weights": "equivalent: A = 0 makes every moment 0, and 1.01 × 0 = 0"}
    if distribution == "rademacher" and moment == "variance":
        out["width-1"] = "equivalent: for n = 1, zᵀAz = A₁₁z² = A₁₁ for every sign: the variance is 0 and 1.01 × 0 = 0"
    return out


def _moment_site(claim: str, distribution: str, moment: str) -> Site:
    expr = sym.hutchinson_moments(distribution)[2 if moment == "mean" else 3]

    def compile_(mapping: dict) -> Any:
        f = sp.lambdify((T, F, D), expr.xreplace(mapping), "math")
        return lambda t, fr, d: float(f(t, fr, d))

    kw = dict(distribution=distribution, moment=moment)
    return Site(claim, moment, lambda f: (partial(hut.moment_check, formula=f, **kw),
                                          partial(hut.moment_recheck, formula=f, **kw)),
                exprs=(expr,), compile=compile_, tags=("width-1", "rank-one", "zero-weights"),
                boundary_equivalent=_zero_moments(distribution, moment),
                doc=f"the {moment} of zᵀAz in (T, F, D) = (tr A, ‖A‖_F², Σ A_ii²), {distribution} probes "
                    "(proofs.curvature.symbolic.hutchinson_moments)")


def _rescaling_site() -> Site:
    def compile_(mapping: dict) -> Any:
        f = sp.lambdify((C,), NEXT_FACTOR.xreplace(mapping), "math")
        return lambda c: float(f(c))

    def checks(factor: Any) -> tuple[Any, Any]:
        transform = resc.rescaler(factor)
        return partial(resc.function_check, transform=transform), partial(resc.function_recheck, transform=transform)

    return Site("rescaling-preserves-function", "next-factor", checks, exprs=(NEXT_FACTOR,), compile=compile_,
                tags=("width-1", "single-example"),
                doc="W_{l+1} ↦ W_{l+1}·(1/c) in T_c (proofs.curvature.cases.RescaledCase.rescaled)")


def sites() -> list[Site]:
    """The sites of C8, in claim order."""
    return [_split_site(), _psd_site(), _interpolation_site(),
            _moment_site("hutchinson-unbiased-rademacher", "rademacher", "mean"),
            _moment_site("hutchinson-unbiased-gaussian", "gaussian", "mean"),
            _moment_site("hutchinson-variance-rademacher", "rademacher", "variance"),
            _moment_site("hutchinson-variance-gaussian", "gaussian", "variance"),
            _rescaling_site()]
