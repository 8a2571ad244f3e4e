r"""The oracles behind :mod:`proofs.penalty_constraint` (C4, docs/claims.md#c4): problems and their solvers.

Everything here is independent of the closed forms under test:

* :class:`Problem` — J, ∇J, ∇²J (numpy, float64) and a bound L on ‖∇²J‖, built by :func:`ridge_problem`
  and :func:`softmax_problem`;
* :func:`constrained_solve` — scipy SLSQP on :math:`\min J` s.t. :math:`\Omega \le k`, run on a
  rescaled problem (θ = √k·u, so the ball is the unit ball) and polished by Newton steps on the
  KKT system; returns the minimizer and the multiplier SLSQP reports (its sign convention:
  :math:`\nabla J = \lambda \nabla(k - \Omega)`, λ ≥ 0, i.e. :math:`\nabla J + \lambda\nabla\Omega = 0`).
* :func:`fista_projected` — accelerated projected gradient descent onto the ball, with the
  rigorous value bound :math:`J(\theta_T) - J^* \le 2L\|\theta_0-\theta^*\|^2/(T+1)^2`.
* :func:`newton_penalized` — Newton's method on the strongly convex :math:`J + \alpha\Omega`
  (softmax regression), with its certified distance :math:`\|\nabla F\|/(2\alpha)`.
* the non-convex 1-D example (:data:`EXAMPLE`, :func:`bump_J`) and its global (grid) search
  :func:`global_min_1d`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize, minimize_scalar

#: SLSQP's ``ftol`` and the relative accuracy the solver's minimizer and multiplier are judged with
SLSQP_FTOL = 1e-14
SOLVER_RTOL = 1e-6
#: iterations of accelerated projected gradient descent
FISTA_STEPS = 200

# --------------------------------------------------------------------------- problems as functions


@dataclass
class Problem:
    """J, ∇J, ∇²J (numpy, float64) of a case, and L, a bound on ‖∇²J‖."""

    J: Callable[[np.ndarray], float]
    grad: Callable[[np.ndarray], np.ndarray]
    hess: Callable[[np.ndarray], np.ndarray]
    L: float
    dim: int


def ridge_problem(X: np.ndarray, y: np.ndarray, w: float) -> Problem:
    """J = w‖Xθ − y‖²."""
    H = 2.0 * w * X.T @ X
    return Problem(lambda t: float(w * np.sum((X @ t - y) ** 2)), lambda t: 2.0 * w * X.T @ (X @ t - y),
                   lambda t: H, float(np.linalg.norm(H, 2)), X.shape[1])


def _softmax_probs(Z: np.ndarray) -> np.ndarray:
    Z = Z - Z.max(axis=1, keepdims=True)
    E = np.exp(Z)
    return E / E.sum(axis=1, keepdims=True)


def softmax_problem(X: np.ndarray, y: np.ndarray, k: int) -> Problem:
    """J = mean softmax cross-entropy of W: (k, d) (flattened) on X: (m, d), integer labels y: (m,)."""
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


def projection_problem(w: np.ndarray) -> Problem:
    """J(v) = ½‖v − w‖²: its constrained minimizer over a ball is the projection of w."""
    return Problem(lambda v: 0.5 * float((v - w) @ (v - w)), lambda v: v - w, lambda v: np.eye(v.size), 1.0, w.size)


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
