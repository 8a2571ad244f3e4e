r"""SymPy derivations behind the gradient-norm penalty (C5, docs/claims.md#c5), on explicit small losses.

Every step is derived with explicit symbols at small sizes (two to four parameters) and
established by :func:`verify.prove_identity` (``simplify`` plus exact spot checks):

* :math:`\nabla\|\nabla L_S\| = Hg/\|g\|` on a loss whose gradient never vanishes
  (:math:`\partial_a L = e^a + b^2 + c^2 > 0`) and on a one-unit network with the cubic activation :math:`z - z^3/3`
  (the claimed formula is an argument, :data:`HG_OVER_NORM`; [S002]'s :data:`SEED002_HALF` is refuted);
* the Taylor expansion of :math:`\nabla L_S(\theta + rv)` on a quartic, where it is exact:
  the forward quotient minus :math:`Hv` is :math:`r(\tfrac12 T_3 + \tfrac r6 T_4)` (an
  :math:`O(r)` remainder), the central one :math:`\tfrac{r^2}{6}T_4`; a quadratic makes both exact;
* Taylor's integral remainder for any :math:`C^2` function and the constants
  :math:`\tfrac r2`, :math:`\tfrac{r^2}6` of the FD error bounds;
* the mixing identity :math:`g + \tfrac\lambda r(\nabla L_S(\theta + r\hat g) - g) =
  (1-\alpha)g + \alpha\nabla L_S(\theta + r\hat g)`, :math:`\alpha = \lambda/r`, its SAM case and
  its :math:`O(\lambda r)` error.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from verify import SymbolicStep, prove_identity

a, b, c = sp.symbols("a b c", real=True)
r, lam, rho, s = sp.symbols("r lambda rho s", positive=True)
#: the two explicit losses of the ∇‖g‖ steps: parameters and L_S(θ)
_W1, _B1, _W2, _B2 = sp.symbols("w1 b1 w2 b2", real=True)


def _sigma(z: sp.Expr) -> sp.Expr:
    return z - z**3 / 3


LOSSES: dict[str, tuple[tuple[sp.Symbol, ...], sp.Expr]] = {
    "exp-poly": ((a, b, c), sp.exp(a) + a * b**2 + b**4 / 4 + a * c**2 + b * c),
    # a one-unit network x = 2 ↦ w2 σ(2 w1 + b1) + b2 with target 1/3 and the cubic activation
    # σ(z) = z − z³/3, tanh's Taylor polynomial (with tanh itself the exact spot checks take minutes)
    "cubic-net": ((_W1, _B1, _W2, _B2),
                     (_W2 * _sigma(2 * _W1 + _B1) + _B2 - sp.Rational(1, 3)) ** 2 / 2),
}
#: a quartic in two parameters for the Taylor steps (exact expansions)
_P = (a, b)
QUARTIC = a**4 / 4 + a**2 * b - a * b**3 / 3 + 2 * b**2 + a
_V = sp.symbols("v0 v1", real=True)


def _grad(expr: sp.Expr, params: tuple[sp.Symbol, ...]) -> sp.Matrix:
    return sp.Matrix([sp.diff(expr, p) for p in params])


def _hess(expr: sp.Expr, params: tuple[sp.Symbol, ...]) -> sp.Matrix:
    return sp.hessian(expr, params)


def _at(expr: sp.Matrix, params: tuple[sp.Symbol, ...], point: sp.Matrix) -> sp.Matrix:
    return expr.subs(dict(zip(params, point)), simultaneous=True)


@dataclass(frozen=True)
class NormGradientFormula:
    """A claimed ∇‖∇L_S‖ as a SymPy builder, with the name and the LaTeX of its step.

    Attributes:
        name: the step's name prefix (``norm-gradient``, ``half-factor``); the loss's key is appended.
        latex: the right-hand side in LaTeX.
        build: (H, g, ‖g‖) ↦ the claimed vector.
    """

    name: str
    latex: str
    build: Callable[[sp.Matrix, sp.Matrix, sp.Expr], sp.Matrix]


#: ∇‖g‖ = Hg/‖g‖
HG_OVER_NORM = NormGradientFormula("norm-gradient", r"\frac{H g}{\|g\|_2}", lambda H, g, norm: H * g / norm)
#: [S002]'s ∇‖g‖ = ½Hg/‖g‖
SEED002_HALF = NormGradientFormula("half-factor", r"\tfrac12\frac{H g}{\|g\|_2}",
                                   lambda H, g, norm: sp.Rational(1, 2) * H * g / norm)


@functools.cache
def norm_gradient(loss: str = "exp-poly", formula: NormGradientFormula = HG_OVER_NORM) -> SymbolicStep:
    """∇‖∇L_S‖ = the claimed ``formula`` on an explicit loss (:data:`HG_OVER_NORM` holds, :data:`SEED002_HALF` not)."""
    params, L = LOSSES[loss]
    g = _grad(L, params)
    norm = sp.sqrt((g.T * g)[0])
    lhs = _grad(norm, params)
    rhs = formula.build(_hess(L, params), g, norm)
    return prove_identity(lhs, rhs, name=f"{formula.name}-{loss}", sizes=f"n={len(params)} ({loss})",
                          statement=rf"\nabla\|\nabla L_S\|_2 = {formula.latex},\ L_S = {sp.latex(L)}")


@functools.lru_cache(maxsize=1)
def squared_norm_gradient() -> SymbolicStep:
    """The squared penalty: ∇‖g‖² = 2Hg (so λ‖g‖² gives g + 2λHg)."""
    params, L = LOSSES["exp-poly"]
    g = _grad(L, params)
    return prove_identity(_grad((g.T * g)[0], params), 2 * _hess(L, params) * g, name="squared-norm-gradient",
                          sizes="n=3 (exp-poly)", statement=r"\nabla\|\nabla L_S\|_2^2 = 2 H g")


def _directional(L: sp.Expr, order: int) -> sp.Matrix:
    """D^order L[v, …, v, ·] at θ (order − 1 copies of v), as a column vector."""
    out = []
    for p in _P:
        term = sp.diff(L, p)
        for _ in range(order - 1):
            term = sum(sp.diff(term, q) * vq for q, vq in zip(_P, _V))
        out.append(sp.expand(term))
    return sp.Matrix(out)


def _shifted_gradient(L: sp.Expr, sign: int = 1) -> sp.Matrix:
    v = sp.Matrix(_V)
    return _at(_grad(L, _P), _P, sp.Matrix(_P) + sign * r * v)


@functools.lru_cache(maxsize=1)
def gradient_taylor() -> SymbolicStep:
    """Quartic: (∇L(θ+rv) − ∇L(θ))/r − Hv = r(½T₃ + (r/6)T₄) exactly: an O(r) remainder."""
    g, hv = _grad(QUARTIC, _P), _directional(QUARTIC, 2)
    t3, t4 = _directional(QUARTIC, 3), _directional(QUARTIC, 4)
    lhs = (_shifted_gradient(QUARTIC) - g) / r - hv
    return prove_identity(lhs, r * (t3 / 2 + r * t4 / 6), name="forward-fd-taylor", sizes="n=2 (quartic)",
                          statement=(r"\frac{\nabla L_S(\theta+rv)-\nabla L_S(\theta)}{r} - Hv = "
                                     r"r\left(\tfrac12 D^3L_S[v,v] + \tfrac r6 D^4L_S[v,v,v]\right) = O(r)"))


@functools.lru_cache(maxsize=1)
def central_difference() -> SymbolicStep:
    """Quartic: (∇L(θ+rv) − ∇L(θ−rv))/(2r) − Hv = (r²/6)T₄: the even terms cancel, O(r²)."""
    hv, t4 = _directional(QUARTIC, 2), _directional(QUARTIC, 4)
    lhs = (_shifted_gradient(QUARTIC) - _shifted_gradient(QUARTIC, -1)) / (2 * r) - hv
    return prove_identity(lhs, r**2 * t4 / 6, name="central-fd-taylor", sizes="n=2 (quartic)",
                          statement=(r"\frac{\nabla L_S(\theta+rv)-\nabla L_S(\theta-rv)}{2r} - Hv = "
                                     r"\tfrac{r^2}{6} D^4L_S[v,v,v] = O(r^2)"))


@functools.lru_cache(maxsize=1)
def quadratic_fd_exact() -> SymbolicStep:
    """L = ½θᵀAθ + bᵀθ (A symmetric, n = 3): the forward quotient is Av = Hv for every r."""
    n = 3
    A = sp.Matrix(n, n, lambda i, j: sp.Symbol(f"A_{min(i, j)}{max(i, j)}", real=True))
    q = sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"q_{i}", real=True))
    th = sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"t_{i}", real=True))
    v = sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"u_{i}", real=True))
    params = tuple(th)
    L = (th.T * A * th)[0] / 2 + (q.T * th)[0]
    lhs = (_at(_grad(L, params), params, th + r * v) - _grad(L, params)) / r
    return prove_identity(lhs, _hess(L, params) * v, name="quadratic-fd-exact", sizes="n=3",
                          statement=r"L_S = \tfrac12\theta^\top A\theta + q^\top\theta:\ "
                                    r"\frac{\nabla L_S(\theta+rv)-\nabla L_S(\theta)}{r} = Hv\ \forall r > 0")


@functools.lru_cache(maxsize=1)
def integral_remainder() -> SymbolicStep:
    """φ(r) − φ(0) − rφ'(0) = ∫₀^r (r−s)φ''(s)ds for any C² φ; ∫₀^r (r−s) = r²/2, ∫₀^r (r−s)²/2 = r³/6."""
    start = time.perf_counter()
    phi = sp.Function("phi")
    first = sp.Subs(sp.Derivative(phi(s), s), s, 0)
    R = phi(r) - phi(0) - r * first - sp.Integral((r - s) * sp.diff(phi(s), s, 2), (s, 0, r))
    derivative_zero = sp.simplify(sp.diff(R, r).doit()) == 0
    start_zero = sp.simplify(R.subs(r, 0).doit()) == 0
    concrete = []
    for f in (sp.exp(s / 3) * s, s**4 - 2 * s**3 + s, sp.sin(2 * s) + s**2):
        rem = (f.subs(s, r) - f.subs(s, 0) - r * sp.diff(f, s).subs(s, 0)
               - sp.integrate((r - s) * sp.diff(f, s, 2), (s, 0, r)))
        concrete.append(prove_identity(rem, 0, name="remainder", statement="", spot_checks=2).status)
    constants = [prove_identity(sp.integrate(r - s, (s, 0, r)) / r, r / 2, name="c1", statement="").status,
                 prove_identity(2 * sp.integrate((r - s) ** 2 / 2, (s, 0, r)) / (2 * r), r**2 / 6, name="c2",
                                statement="").status]
    ok = derivative_zero and start_zero and all(x == "proved" for x in concrete + constants)
    bad = "refuted" in concrete + constants
    return SymbolicStep(
        "fd-integral-remainder",
        r"\varphi(r) = \varphi(0) + r\varphi'(0) + \int_0^r (r-s)\varphi''(s)\,ds \Rightarrow "
        r"\Bigl|\tfrac{\varphi(r)-\varphi(0)}{r} - \varphi'(0)\Bigr| \le \tfrac r2 \sup|\varphi''|;\ "
        r"\text{central: } \le \tfrac{r^2}{6}\sup|\varphi'''|",
        "proved" if ok else ("refuted" if bad else "failed"), "general (any C² φ)",
        f"R(0) = 0: {start_zero}; dR/dr = 0 (Leibniz rule): {derivative_zero}; concrete φ: {concrete}; "
        f"constants r/2, r²/6: {constants}", time.perf_counter() - start)


_G = sp.Matrix(sp.symbols("g0:3", real=True))
_GR = sp.Matrix(sp.symbols("G0:3", real=True))  # ∇L_S(θ + r ĝ)


@functools.lru_cache(maxsize=1)
def mixing_identity() -> SymbolicStep:
    """g + (λ/r)(G_r − g) = (1 − α)g + αG_r with α = λ/r (vectors of size 3)."""
    alpha = lam / r
    return prove_identity(_G + lam / r * (_GR - _G), (1 - alpha) * _G + alpha * _GR, name="mixing-identity",
                          sizes="n=3", statement=r"g + \tfrac\lambda r\bigl(\nabla L_S(\theta+r\hat g) - g\bigr) = "
                                                 r"(1-\alpha)g + \alpha\nabla L_S(\theta+r\hat g),\ \alpha = \lambda/r")


@functools.lru_cache(maxsize=1)
def alpha_one_is_sam() -> SymbolicStep:
    """λ = r = ρ: α = 1 and the mixed direction is ∇L_S(θ + ρĝ)."""
    alpha = lam / r
    mixed = ((1 - alpha) * _G + alpha * _GR).subs({lam: rho, r: rho})
    return prove_identity(mixed, _GR, name="alpha-one-is-sam", sizes="n=3",
                          statement=r"\lambda = r = \rho:\ (1-\alpha)g + \alpha\nabla L_S(\theta+\rho\hat g) = "
                                    r"\nabla L_S(\theta+\rho\hat g)")


@functools.lru_cache(maxsize=1)
def mixing_error() -> SymbolicStep:
    """Quartic: (1 − α)g + α∇L(θ+rv) − (g + λHv) = λr(½T₃ + (r/6)T₄): error O(λr)."""
    alpha = lam / r
    g, hv = _grad(QUARTIC, _P), _directional(QUARTIC, 2)
    t3, t4 = _directional(QUARTIC, 3), _directional(QUARTIC, 4)
    lhs = (1 - alpha) * g + alpha * _shifted_gradient(QUARTIC) - (g + lam * hv)
    return prove_identity(lhs, lam * r * (t3 / 2 + r * t4 / 6), name="mixing-error", sizes="n=2 (quartic)",
                          statement=(r"(1-\alpha)g + \alpha\nabla L_S(\theta+rv) - (g + \lambda Hv) = "
                                     r"\lambda r\left(\tfrac12 D^3L_S[v,v] + \tfrac r6 D^4L_S[v,v,v]\right)"))


@functools.lru_cache(maxsize=1)
def penalized_fd_limit() -> SymbolicStep:
    """The source's quotient of ∇L, L = L_S + λ‖∇L_S‖, tends to ∇²L ĝ as r → 0; claimed: Hĝ (refuted)."""
    params, L = LOSSES["exp-poly"]
    g = _grad(L, params)
    norm = sp.sqrt((g.T * g)[0])
    ghat = g / norm
    limit = _hess(L + lam * norm, params) * ghat  # d/dr ∇L(θ + r ĝ) at r = 0
    return prove_identity(limit, _hess(L, params) * ghat, name="penalized-fd-limit", sizes="n=3 (exp-poly)",
                          simplifier=lambda e: e,
                          statement=(r"\lim_{r\to0}\frac{\nabla L(\theta+r\hat g)-\nabla L(\theta)}{r} = "
                                     r"\nabla^2 L\,\hat g \overset{?}{=} H\hat g,\ L = L_S + \lambda\|\nabla L_S\|"))
