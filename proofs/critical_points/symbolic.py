"""SymPy derivations of the critical-points family (C7, docs/claims.md#c7).

The second-order term of L at a stationary point (for a general cubic in two variables), and the
three functions x⁴ + y², x³ + y², −x⁴ + y² that share the Hessian diag(0, 2) at the origin.
"""

from __future__ import annotations

import functools

import sympy as sp

from verify import SymbolicStep, prove_identity

__all__ = ["same_hessian_different_points", "second_order_term"]

x_, y_, e_ = sp.symbols("x y epsilon", real=True)


@functools.lru_cache(maxsize=1)
def second_order_term() -> SymbolicStep:
    """For a cubic polynomial with zero gradient at 0: L(εu) − L(0) = ½ε² uᵀHu + O(ε³)."""
    u1, u2 = sp.symbols("u_1 u_2", real=True)
    coeffs = sp.symbols("a b c t0:4 c0", real=True)
    a, b, c, *t, c0 = coeffs
    f = c0 + (a * x_**2 + 2 * b * x_ * y_ + c * y_**2) / 2 + t[0] * x_**3 + t[1] * x_**2 * y_ + t[2] * x_ * y_**2 \
        + t[3] * y_**3
    H = sp.hessian(f, (x_, y_)).subs({x_: 0, y_: 0})
    u = sp.Matrix([u1, u2])
    moved = sp.expand(f.subs({x_: e_ * u1, y_: e_ * u2}, simultaneous=True) - c0)
    second = moved.coeff(e_, 2)
    return prove_identity(second, (u.T * H * u)[0] / 2, name="second-order-term", sizes="n=2, cubic",
                          statement=(r"\nabla L(\theta^*) = 0 \Rightarrow L(\theta^*+\varepsilon u) - L(\theta^*) "
                                     r"= \tfrac12\varepsilon^2 u^\top H u + O(\varepsilon^3)"))


@functools.lru_cache(maxsize=1)
def same_hessian_different_points() -> SymbolicStep:
    """x⁴+y², x³+y², −x⁴+y²: same gradient 0 and Hessian diag(0, 2) at 0; min, saddle, saddle."""
    funcs = (x_**4 + y_**2, x_**3 + y_**2, -(x_**4) + y_**2)
    hessians = [sp.hessian(f, (x_, y_)).subs({x_: 0, y_: 0}) for f in funcs]
    grads = [[sp.diff(f, v).subs({x_: 0, y_: 0}) for v in (x_, y_)] for f in funcs]
    along = [sp.factor(f.subs({x_: e_, y_: 0})) for f in funcs]
    same = all(h == sp.diag(0, 2) for h in hessians) and all(g == [0, 0] for g in grads)
    # −x⁴ + y² at (ε, 0) is −ε⁴ < 0 = L(0): not a minimum although H ⪰ 0
    refutes = sp.simplify(along[2] + e_**4) == 0
    return SymbolicStep(
        "semidefinite-counterexample",
        r"-x^4+y^2:\ \nabla L(0)=0,\ \nabla^2 L(0) = \operatorname{diag}(0,2) \succeq 0,\ L(\varepsilon,0) = "
        r"-\varepsilon^4 < L(0)",
        "refuted" if same and refutes else "failed", "n=2",
        f"Hessians at 0: {[h.tolist() for h in hessians]}; L(ε, 0): {along}")
