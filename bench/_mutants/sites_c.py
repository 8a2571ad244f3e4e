"""Mutation sites of the penalty-constraint (C4) and gradient-norm-penalty (C5) claims."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import sympy as sp
import torch

from _mutants.operators import Site, _text
from proofs.gradient_norm_penalty import numeric as gnp
from proofs.gradient_norm_penalty import oracles as orc
from proofs.penalty_constraint import numeric as pen
from verify import CaseResult, CheckContext, to_torch

# --------------------------------------------------------------------------- C4: penalty ⇔ constraint

a, w = sp.Symbol("alpha", nonnegative=True), sp.Symbol("w", positive=True)
#: the ridge shrinkage α/w of θ_α = (XᵀX + (α/w)I)⁻¹Xᵀy (pen.ridge_minimizer)
SHRINKAGE = a / w


def _equivalence_checks(minimizer: Callable = pen.ridge_minimizer, multiplier: Callable = pen.kkt_multiplier):
    """The claim's check (SLSQP) and re-check (trust-constr) with these formulas."""
    check = partial(pen.equivalence_check, minimizer=minimizer, multiplier=multiplier)
    return check, lambda case, ctx: pen._equivalence(case, ctx, minimizer, multiplier, "trust-constr")


def _ridge_from(mapping: dict) -> Callable[..., np.ndarray]:
    f = sp.lambdify((a, w), SHRINKAGE.xreplace(mapping), "math")
    return lambda X, y, alpha, weight: np.linalg.solve(X.T @ X + float(f(alpha, weight)) * np.eye(X.shape[1]), X.T @ y)


def _multiplier_from(mapping: dict) -> Callable[[float], float]:
    f = sp.lambdify((a,), a.xreplace(mapping), "math")
    return lambda alpha: float(f(alpha))


v0, v1 = sp.symbols("v0 v1", nonnegative=True)


def _trend_from(lhs_index: int, rhs: sp.Expr) -> Callable[[dict], Any]:
    """A Trend whose claimed right side is ``rhs`` (in v0 = v(α₁), v1 = v(α₂)) mutated; the error bounds kept."""

    def compile_(mapping: dict) -> Any:
        f = sp.lambdify((v0, v1), rhs.xreplace(mapping), "math")

        def trend(values: list[float], errors: list[float]) -> tuple[float, float]:
            return values[lhs_index] - errors[0] - errors[1], float(f(values[0], values[1]))

        return trend

    return compile_


cn, nw = sp.Symbol("c", positive=True), sp.Symbol("norm_w", positive=True)
#: the max-norm projection's factor min(1, c/‖w‖) (pen.max_norm_projection)
PROJECTION = sp.Min(1, cn / nw)


def _projection_from(mapping: dict) -> Callable[[np.ndarray, float], np.ndarray]:
    f = sp.lambdify((cn, nw), PROJECTION.xreplace(mapping), "math")

    def projection(row: np.ndarray, c: float) -> np.ndarray:
        n = float(np.linalg.norm(row))
        return row * (float(f(c, n)) if n > 0 else 1.0)

    return projection


def _c4_sites() -> list[Site]:
    eq = "penalty-constraint-equivalence"
    path = "penalty-path-monotone"
    mx = "max-norm-projection"
    return [
        Site(eq, "shrinkage", lambda m: _equivalence_checks(minimizer=m), exprs=(SHRINKAGE,), compile=_ridge_from,
             tags=("half", "mean", "n<p"),
             doc="the shrinkage α/w in θ_α = (XᵀX + (α/w)I)⁻¹Xᵀy (penalty_constraint.numeric.ridge_minimizer)"),
        Site(eq, "minimizer", lambda m: _equivalence_checks(minimizer=m), formula=pen.ridge_minimizer, vector=True,
             doc="θ_α itself (ridge_minimizer's output)"),
        Site(eq, "multiplier", lambda m: _equivalence_checks(multiplier=m), exprs=(a,), compile=_multiplier_from,
             tags=("tiny-alpha", "full"), doc="the KKT multiplier α of the constraint (kkt_multiplier)"),
        Site(path, "omega-bound", lambda t: (partial(pen.path_check, omega=t), None), role="upper", exprs=(v0,),
             compile=_trend_from(1, v0), tags=("softmax", "tiny-alpha"), boundary=sp.Rational(99, 100),
             doc="Ω(θ_α₂) ≤ Ω(θ_α₁): the right side Ω(θ_α₁) (the error bounds of the check kept)"),
        Site(path, "J-bound", lambda t: (partial(pen.path_check, J=t), None), role="upper", exprs=(v1,),
             compile=_trend_from(0, v1), tags=("softmax", "tiny-alpha"), boundary=sp.Rational(99, 100),
             doc="J(θ_α₁) ≤ J(θ_α₂): the right side J(θ_α₂)"),
        Site(mx, "projection", lambda p: (partial(pen.max_norm_check, projection=p),
                                          partial(pen.max_norm_recheck, projection=p)), exprs=(PROJECTION,),
             compile=_projection_from, tags=("row-on-boundary", "width-1"),
             doc="P(w) = w·min(1, c/‖w‖) (max_norm_projection)"),
        Site(mx, "renorm", lambda r: (partial(pen.max_norm_check, renorm=r), partial(pen.max_norm_recheck, renorm=r)),
             formula=pen.renorm_rows,
             vector=True, alternatives=(("torch.renorm over dim 1 (columns)", pen.seed003_renorm_columns),),
             doc="torch.renorm(W, 2, 0, c) on the rows of nn.Linear.weight (renorm_rows)"),
    ]


# --------------------------------------------------------------------------- C5: gradient-norm penalty

hg, gn = sp.Symbol("Hg", real=True), sp.Symbol("norm_g", positive=True)
NORM_GRADIENT = hg / gn
g1, g0, r = sp.Symbol("G_plus", real=True), sp.Symbol("G_0", real=True), sp.Symbol("r", positive=True)
FORWARD = (g1 - g0) / r
gm = sp.Symbol("G_minus", real=True)
CENTRAL = (g1 - gm) / (2 * r)
m3, m4 = sp.symbols("M3 M4", nonnegative=True)
BOUNDS = {"forward": r * m3 / 2, "central": r**2 * m4 / 6}


def _norm_gradient_from(mapping: dict) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    return to_torch(NORM_GRADIENT.xreplace(mapping), (hg, gn), cache=False, name="mutant_norm_gradient")


def _r(step: float, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(step, dtype=like.dtype, device=like.device)


def _quotient(scheme: str, expr: sp.Expr) -> Callable[..., torch.Tensor]:
    if scheme == "forward":
        fn = to_torch(expr, (g1, g0, r), cache=False, name="mutant_forward")
        return lambda grad_fn, theta, v, step, base=None: fn(
            grad_fn(theta + step * v), grad_fn(theta) if base is None else base, _r(step, theta))
    fn = to_torch(expr, (g1, gm, r), cache=False, name="mutant_central")
    return lambda grad_fn, theta, v, step, base=None: fn(
        grad_fn(theta + step * v), grad_fn(theta - step * v), _r(step, theta))


def _fd_checks(quotients: dict | None = None, bounds: dict | None = None):  # any C5 FD claim: the same check
    """fd-order's check, and the torch stage of its re-check (dense Hessian, 17 samples) with these formulas."""
    q = quotients or gnp.FD_QUOTIENTS
    extra = {"bounds": bounds} if bounds is not None else {}
    check = partial(gnp.fd_order_check, quotients=q, **extra)
    def fd_dense_recheck(case: Any, ctx: CheckContext) -> CaseResult:
        return gnp._fd_compare(case, ctx, gnp.LOSS_GRADIENT, orc.hvp_dense, gnp.SEGMENT_POINTS_RECHECK, q,
                               stop_at_violation=False, **extra)

    return check, fd_dense_recheck


QUOTIENT_TEXT = {"forward": "[∇(θ+rv) − ∇θ]/r", "central": "[∇(θ+rv) − ∇(θ−rv)]/(2r)"}


def _quotient_site(scheme: str, expr: sp.Expr, claim: str = "gradient-norm-penalty-fd-order",
                   tags: tuple[str, ...] = ("softplus", "identity")) -> Site:
    def compile_(mapping: dict) -> dict:
        return {**gnp.FD_QUOTIENTS, scheme: _quotient(scheme, expr.xreplace(mapping))}

    return Site(claim, f"{scheme}-quotient", lambda q: _fd_checks(quotients=q),
                exprs=(expr,), compile=compile_, tags=tags,
                doc=f"the {scheme} quotient of Hv ({QUOTIENT_TEXT[scheme]})")


def _weaker_for_small_steps(scheme: str, new: sp.Expr) -> str:
    """A bound that only grows for r ≤ 1 is a weaker claim: B ≠ 0 only on non-quadratic losses, judged at
    r ≤ 1e-3 (``GRIDS``); quadratic losses have M3 = M4 = 0, where both bounds are 0 for every r."""
    u = sp.Symbol("u", nonnegative=True)
    grows = sp.factor(sp.simplify((new - BOUNDS[scheme]).subs(r, 1 / (1 + u))))
    at_zero = sp.simplify(new.subs({m3: 0, m4: 0}))
    if grows.is_nonnegative and at_zero == 0:
        return (f"weaker than the true claim on its steps: with r = 1/(1 + u), u ≥ 0 (every judged r ≤ 1e-3 ≤ 1), "
                f"the bound grows by {_text(grows)} ≥ 0 (SymPy), and it is 0 where M3 = M4 = 0 (quadratic "
                "losses, judged up to r = 10); so the mutant holds")
    return ""


def _bound_site(scheme: str, claim: str = "gradient-norm-penalty-fd-order", tags: tuple[str, ...] = ("sigmoid",)
                ) -> Site:
    def compile_(mapping: dict) -> dict:
        f = sp.lambdify((r, m3, m4), BOUNDS[scheme].xreplace(mapping), "math")
        return {**gnp.FD_BOUNDS, scheme: lambda step, a3, a4: float(f(step, a3, a4))}

    return Site(claim, f"{scheme}-bound", lambda b: _fd_checks(bounds=b), role="upper",
                exprs=(BOUNDS[scheme],), compile=compile_, boundary=sp.Rational(1, 100), tags=tags,
                equivalent=lambda new: _weaker_for_small_steps(scheme, new[0]),
                doc=f"the error bound {'(r/2)·M3' if scheme == 'forward' else '(r²/6)·M4'} of the {scheme} quotient")


def _sam_checks(weight: Callable[[float, float], float]):
    def sam_float64_recheck(case: Any, ctx: CheckContext) -> CaseResult:
        return gnp.sam_check(case, CheckContext("cpu", "float64", ctx.seed, ctx.examples), mixing_weight=weight)

    return partial(gnp.sam_check, mixing_weight=weight), sam_float64_recheck


def _sam_weight_from(mapping: dict) -> Callable[[float, float], float]:
    f = sp.lambdify((a, r), (a / r).xreplace(mapping), "math")
    return lambda lam, step: float(f(lam, step))


def _c5_sites() -> list[Site]:
    out = [_norm_gradient_site("gradient-norm-penalty-gradient", ("softplus", "gelu", "identity")),
           _quotient_site("forward", FORWARD), _quotient_site("central", CENTRAL)]
    if hasattr(gnp, "FD_BOUNDS"):
        out += [_bound_site("forward"), _bound_site("central")]
    out.append(Site("gnp-alpha-one-is-sam", "mixing-weight", _sam_checks, exprs=(a / r,), compile=_sam_weight_from,
                    fixed={a: r}, tags=("sigmoid", "gelu"),
                    doc="α = λ/r (sam_mixing_weight), called with λ = r = ρ"))
    return out


def _norm_gradient_site(claim: str, tags: tuple[str, ...]) -> Site:
    return Site(claim, "norm-gradient",
                lambda f: (partial(gnp.gradient_check, formula=f), partial(gnp.gradient_recheck, formula=f)),
                exprs=(NORM_GRADIENT,), compile=_norm_gradient_from, vector=True, tags=tags,
                doc="∇‖g‖ = Hg/‖g‖ (gradient_norm_penalty.numeric.norm_gradient), lambdified by verify.bridge")


def sites() -> list[Site]:
    """The sites of C4 and C5, in claim order."""
    return _c4_sites() + _c5_sites()
