r"""Problems, cases and solvers behind :mod:`proofs.penalty_constraint` (C4 of CLAIMS.md).

Everything here is the *oracle* side, independent of the closed forms under test:

* :func:`constrained_solve` — scipy SLSQP on :math:`\min J` s.t. :math:`\Omega \le k`, run on a
  rescaled problem (θ = √k·u, so the ball is the unit ball) and polished by Newton steps on the
  KKT system; returns the minimizer and the multiplier SLSQP reports (its sign convention:
  :math:`\nabla J = \lambda \nabla(k - \Omega)`, λ ≥ 0, i.e. :math:`\nabla J + \lambda\nabla\Omega = 0`).
* :func:`fista_projected` — accelerated projected gradient descent onto the ball, with the
  rigorous value bound :math:`J(\theta_T) - J^* \le 2L\|\theta_0-\theta^*\|^2/(T+1)^2`.
* :func:`newton_penalized` — Newton's method on the strongly convex :math:`J + \alpha\Omega`
  (softmax regression), with its certified distance :math:`\|\nabla F\|/(2\alpha)`.
* the non-convex 1-D example and its global (grid) search.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import hypothesis.strategies as st
import numpy as np
from scipy.optimize import minimize, minimize_scalar

from verify import matrices, vectors

#: SLSQP's ``ftol`` and the relative accuracy the solver's minimizer and multiplier are judged with
SLSQP_FTOL = 1e-14
SOLVER_RTOL = 1e-6
#: iterations of accelerated projected gradient descent
FISTA_STEPS = 200
#: J = w‖Xθ − y‖² per convention (w = 1/2, 1, 1/n, 1/(2n)); the penalized minimizer is
#: (XᵀX + (α/w) I)⁻¹Xᵀy and a solver given that J returns multiplier α
CONVENTIONS = ("half", "full", "mean", "half-mean")


def j_weight(convention: str, n: int) -> float:
    """The weight w of J = w‖Xθ − y‖² in each convention."""
    return {"half": 0.5, "full": 1.0, "mean": 1.0 / n, "half-mean": 0.5 / n}[convention]


# --------------------------------------------------------------------------- cases


@dataclass(frozen=True, eq=False)
class RidgeCase:
    """J = w‖Xθ − y‖² (convention), Ω = ‖θ‖²; X: (n, p), y: (n,).

    ``alpha > 0``: the constraint level is k = Ω(θ_α) (active). ``alpha == 0``: the constraint is
    inactive or just touching, k = k_factor·Ω(θ₀) with θ₀ = X⁺y and k_factor ≥ 1 (α* = 0).
    """

    X: np.ndarray
    y: np.ndarray
    alpha: float
    convention: str = "half"
    k_factor: float = 1.0

    @property
    def tags(self) -> tuple[str, ...]:
        n, p = self.X.shape
        s = np.linalg.svd(self.X, compute_uv=False)
        out = ["ridge", self.convention]
        out += ["rank-one"] if np.linalg.matrix_rank(self.X) == 1 and min(n, p) > 1 else []
        out += ["n<p"] if n < p else []
        out += ["width-1"] if p == 1 else []
        out += ["tiny-scale"] if s[0] <= 1e-2 else []
        out += ["large-scale"] if s[0] >= 1e2 else []
        out += ["inactive-alpha-0"] if self.alpha == 0 else []
        out += ["tiny-alpha"] if 0 < self.alpha <= 1e-3 * s[0] ** 2 * j_weight(self.convention, n) else []
        return tuple(out)

    def to_json(self) -> dict[str, Any]:
        return {"type": "RidgeCase", "X": self.X.tolist(), "y": self.y.tolist(), "alpha": self.alpha,
                "convention": self.convention, "k_factor": self.k_factor}


@dataclass(frozen=True, eq=False)
class SoftmaxCase:
    """J = mean softmax cross-entropy of W: (k, d) on X: (m, d), labels y: (m,); Ω = ‖W‖²."""

    X: np.ndarray
    y: np.ndarray
    k: int
    alpha: float

    @property
    def tags(self) -> tuple[str, ...]:
        m, d = self.X.shape
        out = ["softmax"] + (["width-1"] if d == 1 else []) + (["single-example"] if m == 1 else [])
        return tuple(out + (["k-2"] if self.k == 2 else []))

    def to_json(self) -> dict[str, Any]:
        return {"type": "SoftmaxCase", "X": self.X.tolist(), "y": [int(v) for v in self.y], "k": self.k,
                "alpha": self.alpha}


@dataclass(frozen=True, eq=False)
class PathCase:
    """Two penalties α₁ ≤ α₂ on one convex problem (``problem.alpha`` is ignored)."""

    problem: Any
    alpha1: float
    alpha2: float

    def to_json(self) -> dict[str, Any]:
        return {"problem": self.problem.to_json(), "alpha1": self.alpha1, "alpha2": self.alpha2}


def problem_from_json(data: dict[str, Any]) -> Any:
    """Inverse of ``RidgeCase.to_json`` / ``SoftmaxCase.to_json``."""
    X = np.asarray(data["X"], dtype=np.float64)
    if data.get("type") == "SoftmaxCase":
        return SoftmaxCase(X, np.asarray(data["y"], dtype=np.int64), int(data["k"]), float(data["alpha"]))
    return RidgeCase(X, np.asarray(data["y"], dtype=np.float64), float(data["alpha"]),
                     str(data.get("convention", "half")), float(data.get("k_factor", 1.0)))


def path_from_json(data: dict[str, Any]) -> PathCase:
    return PathCase(problem_from_json(data["problem"]), float(data["alpha1"]), float(data["alpha2"]))


_X_SCALES = st.sampled_from([1.0, 1e-3, 1e3, 0.1])
_LOG_ALPHA = st.one_of(st.sampled_from([0.0, -4.0, 2.0, -2.0]), st.floats(-4.0, 2.0))


@st.composite
def ridge_problems(draw: st.DrawFn, conventions: tuple[str, ...] = CONVENTIONS, inactive: bool = True,
                   alpha: bool = True) -> RidgeCase:
    """Ridge problems: n = 1..5, p = 1..4 (n < p included), rank-one X, scales 1e-3..1e3.

    α is drawn relative to the curvature, α/w = 10^e σ_max² with e ∈ [−4, 2]; with ``inactive``,
    α = 0 and k = k_factor·Ω(θ₀) (k_factor = 1: the constraint just touches, α* = 0).
    """
    n = draw(st.sampled_from([1, 2, 3, 4, 5, 2]))
    p = draw(st.sampled_from([1, 2, 3, 4, 3]))
    X = draw(matrices(n, p, structure=("generic", "generic", "rank-one"), scale=_X_SCALES, nonzero=True))
    v = draw(vectors(p, scale=1.0, nonzero=True))
    e = draw(vectors(n, scale=st.sampled_from([0.0, 1.0, 0.1])))
    s_max = float(np.linalg.norm(X, 2))
    y = X @ v / max(s_max, 1e-300) + e  # keeps Xᵀy ≠ 0 (Slater: k > 0) in all but measure-zero draws
    convention = draw(st.sampled_from(conventions))
    if inactive and draw(st.integers(0, 4)) == 0:
        return RidgeCase(X, y, 0.0, convention, draw(st.sampled_from([1.0, 1.5, 4.0])))
    a = 10.0 ** draw(_LOG_ALPHA) if alpha else 1.0
    return RidgeCase(X, y, a * s_max**2 * j_weight(convention, n), convention)


@st.composite
def softmax_problems(draw: st.DrawFn) -> SoftmaxCase:
    """Softmax regression, k = 2..3 classes, d = 1..3, m = 1..5; α ∈ [1e-2, 10]·½λ_max(XᵀX/m)."""
    k = draw(st.sampled_from([2, 3]))
    d = draw(st.sampled_from([1, 2, 3]))
    m = draw(st.sampled_from([1, 2, 3, 5]))
    X = draw(matrices(m, d, structure=("generic", "rank-one"), scale=st.sampled_from([1.0, 0.1, 3.0]),
                      nonzero=True))
    y = np.array([draw(st.integers(0, k - 1)) for _ in range(m)], dtype=np.int64)
    curv = 0.5 * float(np.linalg.norm(X, 2)) ** 2 / m
    return SoftmaxCase(X, y, k, 10.0 ** draw(st.floats(-2.0, 1.0)) * curv)


def equivalence_cases() -> st.SearchStrategy[Any]:
    return st.one_of(ridge_problems(), softmax_problems(), ridge_problems())


@st.composite
def path_cases(draw: st.DrawFn) -> PathCase:
    """Ridge (any convention) or softmax problems with α₁ ≤ α₂ (equal, nearly equal, far apart)."""
    problem = draw(st.one_of(ridge_problems(inactive=False), softmax_problems()))
    ratio = draw(st.one_of(st.sampled_from([1.0, 1.0 + 1e-9, 10.0]), st.floats(1.0, 100.0)))
    return PathCase(problem, problem.alpha, problem.alpha * ratio)


# --------------------------------------------------------------------------- problems as functions


@dataclass
class Problem:
    """J, ∇J, ∇²J (numpy, float64) of a case, and L, a bound on ‖∇²J‖."""

    J: Callable[[np.ndarray], float]
    grad: Callable[[np.ndarray], np.ndarray]
    hess: Callable[[np.ndarray], np.ndarray]
    L: float
    dim: int


def ridge_problem(case: RidgeCase) -> Problem:
    X, y = case.X, case.y
    w = j_weight(case.convention, X.shape[0])
    H = 2.0 * w * X.T @ X
    return Problem(lambda t: float(w * np.sum((X @ t - y) ** 2)), lambda t: 2.0 * w * X.T @ (X @ t - y),
                   lambda t: H, float(np.linalg.norm(H, 2)), X.shape[1])


def _softmax_probs(Z: np.ndarray) -> np.ndarray:
    Z = Z - Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)


def softmax_problem(case: SoftmaxCase) -> Problem:
    X, y, k = case.X, case.y, case.k
    m, d = X.shape
    Y = np.eye(k)[y]

    def J(t: np.ndarray) -> float:
        Z = X @ t.reshape(k, d).T
        zmax = Z.max(axis=1)
        return float(np.mean(zmax + np.log(np.exp(Z - zmax[:, None]).sum(axis=1)) - Z[np.arange(m), y]))

    def grad(t: np.ndarray) -> np.ndarray:
        P = _softmax_probs(X @ t.reshape(k, d).T)
        return ((P - Y).T @ X / m).reshape(-1)

    def hess(t: np.ndarray) -> np.ndarray:
        P = _softmax_probs(X @ t.reshape(k, d).T)
        H = np.zeros((k * d, k * d))
        for i in range(m):
            S = np.diag(P[i]) - np.outer(P[i], P[i])
            H += np.kron(S, np.outer(X[i], X[i]))
        return H / m

    return Problem(J, grad, hess, 0.5 * float(np.linalg.norm(X, 2)) ** 2 / m, k * d)


def problem_of(case: Any) -> Problem:
    return softmax_problem(case) if isinstance(case, SoftmaxCase) else ridge_problem(case)


# --------------------------------------------------------------------------- solvers


@dataclass
class ConstrainedSolution:
    theta: np.ndarray
    multiplier: float
    status: int
    message: str
    iterations: int
    polish_steps: int


def constrained_solve(prob: Problem, k: float, method: str = "SLSQP") -> ConstrainedSolution:
    r"""min J(θ) s.t. ‖θ‖² ≤ k by scipy (SLSQP or trust-constr), then Newton on the KKT system.

    Solved in u = θ/√k (unit ball) with J/J_s, J_s = L·k, so the problem is well scaled; the
    multiplier is mapped back: λ = λ_u·J_s/k. The polish solves ∇J + 2λθ = 0, ‖θ‖² = k by Newton
    when the constraint is active with λ > 0 (a few steps; stops when the residual stops shrinking).
    """
    r = math.sqrt(k)
    js = max(prob.L * k, 1e-300)
    f = lambda u: prob.J(r * u) / js  # noqa: E731
    g = lambda u: r * prob.grad(r * u) / js  # noqa: E731
    u0 = np.zeros(prob.dim)
    if method == "SLSQP":
        con = {"type": "ineq", "fun": lambda u: 1.0 - u @ u, "jac": lambda u: -2.0 * u}
        res = minimize(f, u0, jac=g, constraints=[con], method="SLSQP",
                       options={"ftol": SLSQP_FTOL, "maxiter": 1000})
        res = minimize(f, res.x, jac=g, constraints=[con], method="SLSQP",
                       options={"ftol": SLSQP_FTOL, "maxiter": 1000})
        lam_u = float(np.asarray(res.multipliers).reshape(-1)[0])
    else:
        from scipy.optimize import NonlinearConstraint

        con = NonlinearConstraint(lambda u: u @ u, -np.inf, 1.0, jac=lambda u: 2.0 * u[None, :],
                                  hess=lambda u, v: 2.0 * v[0] * np.eye(prob.dim))
        res = minimize(f, u0, jac=g, hess=lambda u: r * r * prob.hess(r * u) / js, constraints=[con],
                       method="trust-constr", options={"gtol": 1e-14, "xtol": 1e-15, "maxiter": 3000})
        lam_u = float(np.asarray(res.v[0]).reshape(-1)[0])
    theta, lam = r * np.asarray(res.x, dtype=np.float64), max(lam_u, 0.0) * js / k
    theta, lam, steps = _kkt_polish(prob, theta, lam, k)
    return ConstrainedSolution(theta, lam, int(getattr(res, "status", 0)), str(res.message),
                               int(getattr(res, "nit", 0)), steps)


def _interior_polish(prob: Problem, theta: np.ndarray, k: float) -> tuple[np.ndarray, int]:
    """Inactive constraint (or λ ≈ 0): Newton steps on ∇J = 0 (least-squares), kept while feasible and improving."""
    steps, g = 0, prob.grad(theta)
    for _ in range(8):
        cand = theta + np.linalg.lstsq(prob.hess(theta), -g, rcond=None)[0]
        g_cand = prob.grad(cand)
        if not (cand @ cand <= k * (1 + 64 * np.finfo(float).eps) and np.linalg.norm(g_cand) < np.linalg.norm(g)):
            break
        theta, g, steps = cand, g_cand, steps + 1
    return theta, steps


def _kkt_polish(prob: Problem, theta: np.ndarray, lam: float, k: float) -> tuple[np.ndarray, float, int]:
    if theta @ theta < k * (1 - 1e-6) or lam <= SOLVER_RTOL * prob.L:
        theta, steps = _interior_polish(prob, theta, k)
        return theta, lam, steps

    def residual(t: np.ndarray, m: float) -> np.ndarray:
        return np.concatenate([prob.grad(t) + 2 * m * t, [(t @ t - k) / 2]])

    res = residual(theta, lam)
    steps = 0
    for _ in range(8):
        n = theta.size
        K = np.zeros((n + 1, n + 1))
        K[:n, :n] = prob.hess(theta) + 2 * lam * np.eye(n)
        K[:n, n] = 2 * theta
        K[n, :n] = theta
        try:
            step = np.linalg.solve(K, -res)
        except np.linalg.LinAlgError:
            break
        t_new, l_new = theta + step[:n], lam + step[n]
        res_new = residual(t_new, l_new)
        if not np.linalg.norm(res_new) < np.linalg.norm(res) or l_new < 0:
            break
        theta, lam, res, steps = t_new, l_new, res_new, steps + 1
    return theta, lam, steps


def project_ball(theta: np.ndarray, k: float) -> np.ndarray:
    nrm = math.sqrt(float(theta @ theta))
    r = math.sqrt(k)
    return theta if nrm <= r else theta * (r / nrm)


def fista_projected(prob: Problem, k: float, steps: int = FISTA_STEPS) -> tuple[np.ndarray, float]:
    r"""Accelerated projected gradient from θ₀ = 0; returns θ_T and the bound 2L k/(T+1)².

    The bound on J(θ_T) − J* holds for convex L-smooth J (Beck & Teboulle 2009, Thm 4.4), with
    ‖θ₀ − θ*‖² ≤ k.
    """
    theta = np.zeros(prob.dim)
    z, t = theta.copy(), 1.0
    step = 1.0 / prob.L
    for _ in range(steps):
        new = project_ball(z - step * prob.grad(z), k)
        t_new = (1 + math.sqrt(1 + 4 * t * t)) / 2
        z = new + ((t - 1) / t_new) * (new - theta)
        theta, t = new, t_new
    return theta, 2.0 * prob.L * k / (steps + 1) ** 2


def newton_penalized(prob: Problem, alpha: float, iters: int = 60) -> tuple[np.ndarray, float]:
    """Minimize F = J + α‖θ‖² (strongly convex, 2α) by damped Newton; returns θ and ‖∇F‖/(2α)."""
    theta = np.zeros(prob.dim)
    F = lambda t: prob.J(t) + alpha * float(t @ t)  # noqa: E731
    gF = lambda t: prob.grad(t) + 2 * alpha * t  # noqa: E731
    g, stalled = gF(theta), 0
    for _ in range(iters):
        if not np.linalg.norm(g) > 0 or stalled >= 2:
            break
        step = np.linalg.solve(prob.hess(theta) + 2 * alpha * np.eye(prob.dim), -g)
        s = 1.0
        # Armijo backtracking far from the optimum; near it F stops resolving the decrease, so a step
        # that shrinks the gradient norm is accepted as well (pure Newton, quadratic convergence)
        while s > 1e-10:
            cand = theta + s * step
            g_cand = gF(cand)
            if F(cand) <= F(theta) + 1e-4 * s * float(g @ step) or np.linalg.norm(g_cand) < np.linalg.norm(g):
                break
            s /= 2
        if np.linalg.norm(g_cand) < np.linalg.norm(g):
            theta, g, stalled = cand, g_cand, 0
        else:
            stalled += 1
            if F(cand) < F(theta):
                theta, g = cand, g_cand
    return theta, float(np.linalg.norm(gF(theta))) / (2 * alpha)


# --------------------------------------------------------------------------- the non-convex example

#: (a, b, c, d, w, k): J(t) = −a e^{−(t−b)²} − c e^{−(t−d)²/w}, Ω = t², constraint t² ≤ k
EXAMPLE = (2.0, 3.0, 1.0, 0.5, 0.1, 6.25)
GRID_POINTS = 20001


def bump_J(params: tuple[float, ...], t: Any, lib: Any = np) -> Any:
    a, b, c, d, w = params[:5]
    return -a * lib.exp(-((t - b) ** 2)) - c * lib.exp(-((t - d) ** 2) / w)


def bump_dJ(params: tuple[float, ...], t: float) -> float:
    a, b, c, d, w = params[:5]
    return 2 * a * (t - b) * math.exp(-((t - b) ** 2)) + 2 * c * (t - d) / w * math.exp(-((t - d) ** 2) / w)


def global_min_1d(f: Callable[[np.ndarray], np.ndarray], lo: float, hi: float,
                  points: int = GRID_POINTS) -> tuple[float, float]:
    """Global minimum of f on [lo, hi]: a fine grid, then a bounded refinement around the best node."""
    grid = np.linspace(lo, hi, points)
    values = f(grid)
    i = int(np.argmin(values))
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, points - 1)]
    best_t, best_v = float(grid[i]), float(values[i])
    if b > a:
        res = minimize_scalar(lambda s: float(f(np.array([s]))[0]), bounds=(a, b), method="bounded",
                              options={"xatol": 1e-13})
        if float(res.fun) < best_v:
            best_t, best_v = float(res.x), float(res.fun)
    for edge in (lo, hi):  # the ends of the interval exactly (active constraints)
        v = float(f(np.array([edge]))[0])
        if v < best_v:
            best_t, best_v = edge, v
    return best_t, best_v


def nonconvex_cases(include_example: bool = True) -> st.SearchStrategy[tuple[float, ...]]:
    """Two-bump J with the constraint t² ≤ k: random (a, b, c, d, w, k), and the C4 example."""
    rand = st.tuples(st.floats(0.5, 3.0), st.floats(0.0, 4.0), st.floats(0.2, 2.0), st.floats(-1.0, 2.0),
                     st.floats(0.05, 1.0), st.floats(0.1, 16.0))
    return st.one_of(rand, st.just(EXAMPLE)) if include_example else rand


# --------------------------------------------------------------------------- max-norm


@dataclass(frozen=True, eq=False)
class MaxNormCase:
    """An nn.Linear weight W: (out, in) (row j = unit j's incoming weights) and a max-norm c > 0."""

    W: np.ndarray
    c: float

    @property
    def tags(self) -> tuple[str, ...]:
        norms = np.linalg.norm(self.W, axis=1)
        out = ["width-1"] if 1 in self.W.shape else []
        out += ["zero-row"] if np.any(norms == 0) else []
        out += ["row-on-boundary"] if np.any(norms == self.c) else []
        out += ["rank-one"] if min(self.W.shape) > 1 and np.linalg.matrix_rank(self.W) == 1 else []
        out += ["all-inside"] if np.all(norms <= self.c) else []
        return tuple(out)

    def to_json(self) -> dict[str, Any]:
        return {"type": "MaxNormCase", "W": self.W.tolist(), "c": self.c}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MaxNormCase:
        return cls(np.asarray(data["W"], dtype=np.float64), float(data["c"]))


@st.composite
def max_norm_cases(draw: st.DrawFn, binding: bool = False) -> MaxNormCase:
    """out = 1..4 units, in = 1..5 inputs; zero rows, rank-one W, c at, below and above the row norms.

    ``binding``: only c below the largest row norm and at least two inputs, where a constraint on the
    columns can differ from one on the rows (above it both leave W unchanged); the search of the
    columns claim spends its cases there instead of on draws that cannot tell the two apart.
    """
    out = draw(st.sampled_from([2, 1, 3, 4]))
    inp = draw(st.sampled_from([2, 3, 5] if binding else [2, 1, 3, 5]))
    W = draw(matrices(out, inp, structure=("generic", "generic", "rank-one", "zero"), scale=_X_SCALES))
    if out > 1 and draw(st.integers(0, 3)) == 0:
        W[draw(st.integers(0, out - 1))] = 0.0
    ref = float(np.linalg.norm(W, axis=1).max()) or 1.0
    fracs = (st.one_of(st.sampled_from([0.5, 0.75, 0.25]), st.floats(0.05, 0.99)) if binding
             else st.one_of(st.sampled_from([1.0, 0.5, 2.0]), st.floats(0.01, 3.0)))
    return MaxNormCase(W, draw(fracs) * ref)
