"""SymPy derivations behind the descent lemma (C2, docs/claims.md#c2).

Along the segment, :math:`\\varphi(s) = L(\\theta - s g)`, so :math:`\\varphi'(0) = -\\|g\\|^2`
and :math:`\\varphi''(s) = g^\\top \\nabla^2 L(\\theta - s g)\\, g`. Everything below is about
:math:`\\varphi` (an undefined smooth function) and the symbols :math:`\\alpha, M > 0`,
:math:`G = \\|g\\|^2`.
"""

from __future__ import annotations

import functools
import time

import sympy as sp

from verify import SymbolicStep, prove_identity

alpha, s, M, G = sp.symbols("alpha s M G", positive=True)
phi = sp.Function("phi")
#: concrete smooth functions substituted for φ in the exact spot checks of the Taylor step
_CONCRETE = (sp.exp(s / 3) * s, s**4 - 2 * s**3 + s, sp.sin(2 * s) + s**2)


def _remainder(f: sp.Expr | None = None) -> sp.Expr:
    """φ(α) − φ(0) − αφ'(0) − ∫₀^α (α − s) φ''(s) ds, for φ undefined or concrete."""
    fn = phi(s) if f is None else f
    at = lambda value: fn.subs(s, value)  # noqa: E731
    first = sp.Subs(sp.Derivative(phi(s), s), s, 0) if f is None else sp.diff(fn, s).subs(s, 0)
    return at(alpha) - at(0) - alpha * first - sp.Integral((alpha - s) * sp.diff(fn, s, 2), (s, 0, alpha))


@functools.lru_cache(maxsize=1)
def taylor_remainder() -> SymbolicStep:
    """Taylor's formula with integral remainder, for an undefined φ.

    R(α) = φ(α) − φ(0) − αφ'(0) − ∫₀^α (α−s)φ''(s) ds has R(0) = 0 and R'(α) = 0
    (Leibniz rule + fundamental theorem), so R ≡ 0; exact spot checks with concrete φ.
    """
    start = time.perf_counter()
    R = _remainder()
    derivative_zero = sp.simplify(sp.diff(R, alpha).doit()) == 0
    start_zero = sp.simplify(R.subs(alpha, 0).doit()) == 0
    concrete = [prove_identity(_remainder(f).doit(), 0, name="taylor", statement="", spot_checks=2)
                for f in _CONCRETE]
    ok = derivative_zero and start_zero and all(c.status == "proved" for c in concrete)
    bad = [c for c in concrete if c.status == "refuted"]
    status = "proved" if ok else ("refuted" if bad else "failed")
    return SymbolicStep(
        "taylor-integral-remainder",
        r"\varphi(\alpha) = \varphi(0) + \alpha\varphi'(0) + \int_0^\alpha (\alpha - s)\,\varphi''(s)\,ds",
        status, "general (any C² φ)",
        f"R(0) = 0: {start_zero}; dR/dα = 0 by the Leibniz rule: {derivative_zero}; "
        f"concrete φ ∈ {[str(f) for f in _CONCRETE]}: {[c.status for c in concrete]}",
        time.perf_counter() - start)


@functools.lru_cache(maxsize=1)
def curvature_bound() -> SymbolicStep:
    """∫₀^α (α − s) M G ds = α²MG/2, so φ''(s) ≤ MG on the segment gives the lemma."""
    integral = sp.integrate((alpha - s) * M * G, (s, 0, alpha))
    bound = (-alpha * G + integral)
    return prove_identity(
        bound, -alpha * (1 - alpha * M / 2) * G, name="descent-bound",
        statement=(r"\varphi''(s) \le M\|g\|^2 \Rightarrow L(\theta-\alpha g) \le L(\theta) - \alpha\|g\|^2 + "
                   r"\int_0^\alpha (\alpha-s) M\|g\|^2 ds "
                   r"= L(\theta) - \alpha\left(1 - \tfrac{\alpha M}{2}\right)\|g\|^2"))


@functools.lru_cache(maxsize=1)
def step_size_condition() -> SymbolicStep:
    """α(αM/2 − 1) ≤ 0 ⟺ α ∈ [0, 2/M] (SymPy's inequality solver), for M > 0."""
    start = time.perf_counter()
    a = sp.Symbol("alpha", real=True)
    solution = sp.solve_univariate_inequality(a * (a * M / 2 - 1) <= 0, a, relational=False)
    expected = sp.Interval(0, 2 / M)
    status = "proved" if solution == expected else "refuted"
    return SymbolicStep("step-size-condition",
                        r"\alpha\left(\tfrac{\alpha M}{2} - 1\right) \le 0 \iff 0 \le \alpha \le \tfrac{2}{M}",
                        status, "general (M > 0)", f"solve_univariate_inequality gives {solution}",
                        time.perf_counter() - start)


@functools.lru_cache(maxsize=1)
def optimal_step() -> SymbolicStep:
    """The bound −α(1 − αM/2)G is minimized at α = 1/M, with value −G/(2M)."""
    start = time.perf_counter()
    a = sp.Symbol("alpha", real=True)
    bound = -a * (1 - a * M / 2) * G
    critical = sp.solve(sp.diff(bound, a), a)
    convex = sp.diff(bound, a, 2)
    ok = critical == [1 / M] and sp.simplify(bound.subs(a, critical[0]) + G / (2 * M)) == 0 and convex.is_positive
    return SymbolicStep("optimal-step",
                        r"\arg\min_\alpha -\alpha\left(1-\tfrac{\alpha M}{2}\right)\|g\|^2 = \tfrac1M,"
                        r"\ \text{decrease } \tfrac{\|g\|^2}{2M}",
                        "proved" if ok else "refuted", "general (M > 0)",
                        f"critical points {critical}; second derivative {convex}", time.perf_counter() - start)


@functools.lru_cache(maxsize=1)
def quadratic_equality(n: int = 2) -> SymbolicStep:
    """On L = ½θᵀQθ: L(θ − αg) = L(θ) − α‖g‖² + ½α² gᵀQg exactly (so equality with M = gᵀQg/‖g‖²)."""
    q = sp.Matrix(n, n, lambda i, j: sp.Symbol(f"q_{min(i, j)}{max(i, j)}", real=True))
    theta = sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"t_{i}", real=True))
    a = sp.Symbol("alpha", real=True)
    loss = lambda v: (v.T * q * v)[0] / 2  # noqa: E731
    g = q * theta
    lhs = loss(theta - a * g)
    rhs = loss(theta) - a * (g.T * g)[0] + a**2 * (g.T * q * g)[0] / 2
    return prove_identity(lhs, rhs, name="quadratic-equality", sizes=f"n={n}",
                          statement=(r"L = \tfrac12\theta^\top Q\theta:\ L(\theta-\alpha g) = L(\theta) - "
                                     r"\alpha\|g\|^2 + \tfrac{\alpha^2}{2} g^\top Q g"))
