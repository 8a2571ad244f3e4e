r"""Critical points from the Hessian (C7), and seed 004's semidefinite mistake.

Source: seed 004 (lecture notes on gradient descent: Taylor expansion with the Hessian and the
classification of critical points, whose case list is garbled); restated as C7 in ``CLAIMS.md``.

At a stationary point :math:`\nabla L(\theta^*) = 0` with :math:`H = \nabla^2 L(\theta^*)`:
:math:`H \succ 0` ⇒ strict local minimum, :math:`H \prec 0` ⇒ strict local maximum, indefinite
⇒ saddle, because :math:`L(\theta^* + \varepsilon u) - L(\theta^*) = \tfrac12\varepsilon^2 u^\top H u
+ O(\varepsilon^3)`. A singular semidefinite :math:`H` decides nothing: :math:`x^4+y^2`,
:math:`x^3+y^2` and :math:`-x^4+y^2` share :math:`H = \operatorname{diag}(0, 2)` at the origin.

Claims: ``critical-point-classification`` (holds), ``semidefinite-hessian-decides`` (refuted).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import hypothesis.strategies as st
import numpy as np
import sympy as sp
import torch

from proofs.critical_points import FAMILY
from verify import (
    CaseResult,
    CheckContext,
    SymbolicResult,
    SymbolicStep,
    Tolerance,
    as_tensor,
    compare_leq,
    dense_hessian,
    gradient,
    matrices,
    prove_identity,
)

# --------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class PolynomialCase:
    r"""L(θ) = ½θᵀQθ + Σ T_ijk θ_i θ_j θ_k + q‖θ‖⁴, stationary at θ* = 0 with H = Q."""

    Q: np.ndarray
    T: np.ndarray
    q: float

    def to_json(self) -> dict[str, Any]:
        return {"type": "PolynomialCase", "Q": self.Q.tolist(), "T": self.T.tolist(), "q": self.q}


@dataclass(frozen=True)
class LeastSquaresCase:
    """L(θ) = ‖Xθ − y‖²/(2m) with m ≥ 4n: a non-degenerate minimum at the least-squares solution."""

    X: np.ndarray
    y: np.ndarray

    def to_json(self) -> dict[str, Any]:
        return {"type": "LeastSquaresCase", "X": self.X.tolist(), "y": self.y.tolist()}


def decode_case(data: dict[str, Any]) -> PolynomialCase | LeastSquaresCase:
    if data["type"] == "PolynomialCase":
        return PolynomialCase(np.asarray(data["Q"], dtype=np.float64), np.asarray(data["T"], dtype=np.float64),
                              float(data["q"]))
    return LeastSquaresCase(np.asarray(data["X"], dtype=np.float64), np.asarray(data["y"], dtype=np.float64))


@st.composite
def polynomial_cases(draw: st.DrawFn) -> PolynomialCase:
    """Non-degenerate Hessians of every inertia (min, max, saddle), rotated; cubic and quartic terms."""
    kind = draw(st.sampled_from(["saddle", "min", "max"]))
    n = draw(st.sampled_from([2, 1, 3, 2, 4])) if kind != "saddle" else draw(st.sampled_from([2, 3, 4]))
    magnitudes = np.array(draw(st.lists(st.sampled_from([1.0, 0.1, 2.0, 10.0, 0.5]), min_size=n, max_size=n)))
    if kind == "saddle":  # at least one eigenvalue of each sign
        pattern = np.array([1.0] + draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=n - 2, max_size=n - 2))
                           + [-1.0])
    else:
        pattern = np.full(n, 1.0 if kind == "min" else -1.0)
    eig = magnitudes * pattern
    A = draw(matrices(n, n, scale=1.0, nonzero=True))
    rotation, _ = np.linalg.qr(A + 1e-3 * np.eye(n))
    Q = rotation @ np.diag(eig) @ rotation.T
    Q = (Q + Q.T) / 2
    T = draw(matrices(n, n * n, scale=st.sampled_from([0.0, 1.0, 0.1, 10.0]))).reshape(n, n, n)
    q = draw(st.sampled_from([0.0, 1.0, -1.0, 0.25]))
    return PolynomialCase(Q, T, q)


@st.composite
def least_squares_cases(draw: st.DrawFn) -> LeastSquaresCase:
    """Regression with many more samples than parameters (m = 4n..8n)."""
    n = draw(st.sampled_from([1, 2, 3]))
    m = draw(st.sampled_from([4 * n, 6 * n, 8 * n]))
    X = draw(matrices(m, n, structure="generic", scale=st.sampled_from([1.0, 0.1, 10.0]), nonzero=True))
    if np.linalg.matrix_rank(X) < n:
        X = X + np.eye(m, n)
    y = draw(matrices(m, 1, scale=st.sampled_from([1.0, 100.0]))).reshape(m)
    return LeastSquaresCase(X, y)


def critical_point_cases() -> st.SearchStrategy[PolynomialCase | LeastSquaresCase]:
    return st.one_of(polynomial_cases(), least_squares_cases())


# --------------------------------------------------------------------------- the check


def _loss_and_point(case: Any, ctx: CheckContext):  # type: ignore[no-untyped-def]
    if isinstance(case, PolynomialCase):
        Q, T = as_tensor(case.Q, ctx.dtype, ctx.device), as_tensor(case.T, ctx.dtype, ctx.device)
        f = lambda th: 0.5 * th @ (Q @ th) + torch.einsum("ijk,i,j,k->", T, th, th, th) + case.q * (th @ th) ** 2  # noqa: E731
        return f, torch.zeros(case.Q.shape[0], dtype=Q.dtype, device=Q.device)
    X, y = as_tensor(case.X, ctx.dtype, ctx.device), as_tensor(case.y, ctx.dtype, ctx.device)
    theta = torch.linalg.lstsq(X, y[:, None]).solution[:, 0]
    return (lambda th: ((X @ th - y) ** 2).sum() / (2 * X.shape[0])), theta


def _step_length(case: Any, eig: np.ndarray, theta: torch.Tensor) -> float:
    """ε small enough that the O(ε³) terms are below a quarter of the ε² term along every unit u."""
    smallest = float(np.abs(eig).min())
    if isinstance(case, PolynomialCase):
        cubic = float(np.abs(case.T).sum())
        return 0.25 * smallest / (1.0 + 2.0 * cubic + 2.0 * abs(case.q))
    return 1e-2 * (1.0 + float(theta.abs().max()))


def classify(eig: np.ndarray, tol: float) -> str:
    """min / max / saddle from the Hessian's eigenvalues, or ``degenerate`` within ``tol``."""
    if np.any(np.abs(eig) <= tol):
        return "degenerate"
    if np.all(eig > 0):
        return "min"
    if np.all(eig < 0):
        return "max"
    return "saddle"


def _classification_check(case: Any, ctx: CheckContext, exact: bool = False) -> CaseResult:
    """Along each eigenvector u: |ΔL − ½ε²λ| ≤ ½·|½ε²λ| (so ΔL has the sign of λ: the classification)."""
    f, theta = _loss_and_point(case, ctx)
    H = dense_hessian(f, theta).detach()
    eig, vecs = torch.linalg.eigh(H)
    eig_np = eig.cpu().numpy()
    tol = Tolerance(ctx.dtype, FAMILY.depth)
    spread = float(np.abs(eig_np).max())
    kind = classify(eig_np, 1e3 * tol.rtol * spread)
    grad_norm = float(gradient(f, theta).norm())
    eps = _step_length(case, eig_np, theta)
    worst, worst_details = None, {}
    for j in range(eig.numel()):
        u = vecs[:, j]
        quadratic = 0.5 * eps**2 * float(eig[j])
        if exact:
            delta = float(_exact_loss(case, theta + eps * u) - _exact_loss(case, theta))
        else:
            delta = float(f(theta + eps * u) - f(theta))
        # round-off of the two evaluations, plus ε·‖g‖ from the (round-off sized) gradient at θ*, which
        # enters the tolerance as an absolute allowance: a θ* that is not stationary becomes undecidable
        noise = abs(float(f(theta))) + abs(float(f(theta + eps * u))) + eps * grad_norm / tol.rtol
        comparison = compare_leq(abs(delta - quadratic), 0.5 * abs(quadratic), abs(quadratic), tol, noise=noise)
        if worst is None or comparison.slack < worst.slack:
            worst = comparison
            worst_details = {"direction": j, "eigenvalue": float(eig[j]), "delta_L": delta,
                             "half_eps2_lambda": quadratic, "eps": eps}
    return CaseResult(worst, (type(case).__name__, kind),  # type: ignore[arg-type]
                      {"classification": kind, "eigenvalues": eig_np.tolist(), "grad_norm": grad_norm,
                       **worst_details}, tol.describe())


def _exact_loss(case: Any, point: torch.Tensor) -> Fraction:
    """L evaluated exactly on the float64 entries (rational arithmetic): the independent re-check."""
    th = [Fraction(float(v)) for v in point.detach().cpu().double()]
    n = len(th)
    if isinstance(case, PolynomialCase):
        Q = [[Fraction(float(v)) for v in row] for row in case.Q]
        T = case.T
        quad = sum(th[i] * Q[i][j] * th[j] for i in range(n) for j in range(n)) / 2
        cubic = sum(Fraction(float(T[i, j, k])) * th[i] * th[j] * th[k]
                    for i in range(n) for j in range(n) for k in range(n))
        return quad + cubic + Fraction(case.q) * sum(t * t for t in th) ** 2
    X, y = case.X, case.y
    residuals = [sum(Fraction(float(X[r, i])) * th[i] for i in range(n)) - Fraction(float(y[r]))
                 for r in range(X.shape[0])]
    return sum(r * r for r in residuals) / (2 * X.shape[0])


# --------------------------------------------------------------------------- symbolic part

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


# --------------------------------------------------------------------------- the seed's mistake


@dataclass(frozen=True)
class SemidefiniteCase:
    """p(x, y) = s·a·x^k + b·y², k ∈ {3, 4}: H(0) = diag(0, 2b) ⪰ 0 whatever s and k; point (ε, 0)."""

    k: int
    sign: int
    a: float
    b: float
    eps: float

    def to_json(self) -> dict[str, Any]:
        return {"k": self.k, "sign": self.sign, "a": self.a, "b": self.b, "eps": self.eps}


def _semidefinite_cases() -> st.SearchStrategy[SemidefiniteCase]:
    return st.builds(SemidefiniteCase, st.sampled_from([4, 3]), st.sampled_from([1, -1]),
                     st.sampled_from([1.0, 0.5, 2.0]), st.sampled_from([1.0, 0.1]),
                     st.sampled_from([0.1, 0.01, -0.1, 1e-3]))


def _semidefinite_check(case: SemidefiniteCase, ctx: CheckContext, exact: bool = False) -> CaseResult:
    """The claim "local minimum" says L(ε, 0) ≥ L(0, 0) for small ε."""
    if exact:
        value = case.sign * Fraction(case.a) * Fraction(case.eps) ** case.k
        comparison = compare_leq(-float(value), 0.0, abs(float(value)), Tolerance("float64", 1.0))
        return CaseResult(comparison, ("semidefinite",), {"L(eps,0)": float(value)}, "exact rationals")
    point = torch.tensor([case.eps, 0.0], dtype=getattr(torch, ctx.dtype), device=ctx.device)
    f = lambda th: case.sign * case.a * th[0] ** case.k + case.b * th[1] ** 2  # noqa: E731
    H = dense_hessian(f, torch.zeros_like(point)).detach()
    assert float(torch.linalg.eigvalsh(H)[0]) >= 0  # the hypothesis: H ⪰ 0 at the stationary point
    value = float(f(point) - f(torch.zeros_like(point)))
    tol = Tolerance(ctx.dtype, FAMILY.depth)
    return CaseResult(compare_leq(-value, 0.0, abs(value), tol), ("semidefinite",),
                      {"L(eps,0) - L(0)": value, "hessian_at_0": H.tolist()}, tol.describe())


CLASSIFICATION = FAMILY.claim(
    id="critical-point-classification", title="Critical points classified by the Hessian",
    statement=(r"\nabla L(\theta^*) = 0:\ H \succ 0 \Rightarrow \text{strict local min};\ H \prec 0 \Rightarrow "
               r"\text{strict local max};\ H \text{ indefinite} \Rightarrow \text{saddle}"),
    source=FAMILY.source, hypotheses=FAMILY.hypotheses,
    symbolic=lambda: SymbolicResult([second_order_term()]),
    cases=critical_point_cases, check=_classification_check,
    recheck=lambda case, ctx: _classification_check(case, ctx, exact=True),
    relation="inequality", decode_case=decode_case,
    notes=("Checked along every eigenvector u of H with ε small enough for the cubic and quartic terms: "
           "ΔL = ½ε²λ + O(ε³) within half of ½ε²|λ|, so the sign of ΔL is the sign of λ.",
           "Small over-parameterized MLPs at stationary points found by Newton's method have singular Hessians "
           "and classify as 'degenerate' (inconclusive): that is evidence, not a claim "
           "(tests/proofs/test_critical_points.py shows it).",
           "The softmax cross-entropy Hessian is always singular (C1: H(1⊗c) = 0), so this test never "
           "certifies its minima, although convexity makes them global."),
)

SEMIDEFINITE = FAMILY.claim(
    id="semidefinite-hessian-decides", title="Seed 004: a PSD Hessian at a stationary point means a minimum",
    expected="refuted",
    statement=r"\nabla L(\theta^*) = 0,\ \nabla^2 L(\theta^*) \succeq 0 \;\Longrightarrow\; \theta^* \text{ local min}",
    source=FAMILY.source + "; the lecture's case list does not separate the singular case",
    hypotheses=(r"L(x,y) = s\,a\,x^k + b\,y^2,\ k \in \{3,4\},\ \nabla^2 L(0) = \operatorname{diag}(0, 2b)",),
    symbolic=lambda: SymbolicResult([same_hessian_different_points()]),
    cases=_semidefinite_cases, check=_semidefinite_check,
    recheck=lambda case, ctx: _semidefinite_check(case, ctx, exact=True), relation="inequality",
    decode_case=lambda data: SemidefiniteCase(int(data["k"]), int(data["sign"]), float(data["a"]),
                                              float(data["b"]), float(data["eps"])),
    notes=("x⁴ + y² (minimum), x³ + y² and −x⁴ + y² (not extrema) share H = diag(0, 2) at 0.",),
)
