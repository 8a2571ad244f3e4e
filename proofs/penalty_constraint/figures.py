r"""Figures of :mod:`proofs.penalty_constraint` (C4): the ridge path k(α), J(α), an MLP path
(evidence only: local minima), and the non-convex example's jump and local-vs-global minimizers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.optimize import minimize

from proofs.penalty_constraint.solvers import EXAMPLE, bump_dJ, bump_J, global_min_1d
from verify import Figure, Mark, Series

__all__ = ["mlp_objective", "mlp_path", "nonconvex_figures", "path_figures"]


def _ridge_path(X: np.ndarray, y: np.ndarray, alphas: np.ndarray) -> tuple[list[float], list[float]]:
    omega, J = [], []
    for a in alphas:
        theta = np.linalg.solve(X.T @ X + 2 * a * np.eye(X.shape[1]), X.T @ y)
        omega.append(float(theta @ theta))
        J.append(0.5 * float(np.sum((X @ theta - y) ** 2)))
    return omega, J


def mlp_objective(theta: np.ndarray, a: float, x: np.ndarray, target: np.ndarray) -> tuple[float, float, np.ndarray]:
    """J + αΩ of a 1-4-1 tanh MLP (θ = W₁, b₁, w₂, b₂), J = ½ mean residual²; returns (F, J, ∇F) by backprop."""
    W1, b1, w2, b2 = theta[:4], theta[4:8], theta[8:12], theta[12]
    h = np.tanh(x[:, None] * W1 + b1)
    r = h @ w2 + b2 - target
    m = x.size
    J = 0.5 * float(r @ r) / m
    dz = (r[:, None] / m * w2) * (1 - h * h)
    grad = np.concatenate([x @ dz, dz.sum(axis=0), h.T @ r / m, [r.sum() / m]]) + 2 * a * theta
    return J + a * float(theta @ theta), J, grad


def mlp_path(rng: np.random.Generator, alphas: np.ndarray) -> tuple[list[float], list[float], float]:
    """A 1-4-1 tanh MLP on 12 points of sin 2x with weight decay, BFGS warm-started along α (local minima)."""
    x = rng.uniform(-2, 2, 12)
    target = np.sin(2 * x)
    theta, omega, J, worst = rng.standard_normal(13), [], [], 0.0
    for a in alphas:
        res = minimize(lambda v, a=a: (mlp_objective(v, a, x, target)[0], mlp_objective(v, a, x, target)[2]),
                       theta, jac=True, method="BFGS", options={"gtol": 1e-9, "maxiter": 3000})
        theta = res.x
        _, j, g = mlp_objective(theta, float(a), x, target)
        omega.append(float(theta @ theta))
        J.append(j)
        worst = max(worst, float(np.linalg.norm(g)))
    return omega, J, worst


def path_figures(ctx: Any) -> list[Any]:
    """k(α) = Ω(θ_α) and J(θ_α) on a ridge problem drawn from ctx.seed (log α), and an MLP path."""
    rng = np.random.default_rng(ctx.seed)
    X, y = rng.standard_normal((8, 4)), rng.standard_normal(8)
    U, s, _ = np.linalg.svd(X, full_matrices=False)
    alphas = np.logspace(-3, 3, 49)
    omega, J = _ridge_path(X, y, alphas)
    c = U.T @ y
    svd_form = [float(np.sum(s**2 * c**2 / (s**2 + 2 * a) ** 2)) for a in alphas[::4]]
    mlp_alphas = np.logspace(-4, 0, 13)
    m_omega, m_J, m_grad = mlp_path(rng, mlp_alphas)
    caption = f"Ridge J = ½‖Xθ − y‖², X: 8×4 drawn from seed {ctx.seed}; θ_α = (XᵀX + 2αI)⁻¹Xᵀy."
    return [
        Figure("k(α) = Ω(θ_α) along the ridge path", [
            Series("Ω(θ_α) (closed form)", alphas, omega),
            Series("Σσ²(uᵀy)²/(σ²+2α)² (SVD form)", alphas[::4], svd_form, style="points")],
            x_label="α", y_label="Ω(θ_α) = ‖θ_α‖²", x_log=True, y_log=True, caption=caption),
        Figure("J(θ_α) along the ridge path", [Series("J(θ_α)", alphas, J)], x_label="α", y_label="J(θ_α)",
               x_log=True, caption=caption + " J increases with α."),
        Figure("MLP path (local minima: evidence only)", [
            Series("Ω(θ_α)", mlp_alphas, m_omega), Series("J(θ_α)", mlp_alphas, m_J)],
            x_label="α", y_label="value", x_log=True, y_log=True,
            caption=("1-4-1 tanh MLP, 12 points of sin 2x, BFGS (gtol 1e-9) warm-started along α; the minimizers "
                     "are local, so monotonicity is not claimed here. Optimization tolerance: "
                     f"max ‖∇(J + αΩ)‖ = {m_grad:.1e}.")),
    ]


def _penalized_argmin(params: tuple[float, ...], a: float, grid: np.ndarray) -> float:
    return global_min_1d(lambda t: bump_J(params, t) + a * t**2, float(grid[0]), float(grid[-1]), grid.size)[0]


def nonconvex_figures(ctx: Any) -> list[Any]:
    """The C4 example: Ω jumps along the penalized path; J + α*t² with its local and global minimizers."""
    grid = np.linspace(-2.0, 6.0, 8001)
    alphas = np.linspace(0.005, 0.6, 120)
    ts = [_penalized_argmin(EXAMPLE, a, grid) for a in alphas]
    i = int(np.argmax(np.abs(np.diff(ts))))
    lo, hi = float(alphas[i]), float(alphas[i + 1])
    t_lo = _penalized_argmin(EXAMPLE, lo, grid)
    for _ in range(40):  # bisection on the jump
        mid = (lo + hi) / 2
        if abs(_penalized_argmin(EXAMPLE, mid, grid) - t_lo) < 0.5:
            lo = mid
        else:
            hi = mid
    jump = (_penalized_argmin(EXAMPLE, lo, grid) ** 2, _penalized_argmin(EXAMPLE, hi, grid) ** 2)
    r = math.sqrt(EXAMPLE[5])
    a_star = -bump_dJ(EXAMPLE, r) / (2 * r)
    t_glob, p_glob = global_min_1d(lambda t: bump_J(EXAMPLE, t) + a_star * t**2, -2.0, 6.0)
    p_star = float(bump_J(EXAMPLE, r)) + a_star * r * r
    tt = np.linspace(-1.0, 4.0, 501)
    return [
        Figure("Penalized path of the non-convex example: Ω(t_α) jumps", [
            Series("Ω(t_α) = t_α², t_α = global argmin J + αt²", alphas, [t * t for t in ts])],
            x_label="α", y_label="Ω(t_α)", marks=[Mark(lo, f"jump at α ≈ {lo:.4f}: Ω {jump[0]:.3f} → {jump[1]:.3f}")],
            caption=("J(t) = −2e^{−(t−3)²} − e^{−(t−0.5)²/0.1}: levels k between the two sides of the jump "
                     "are reached by no α.")),
        Figure(f"J + α*t² at the KKT multiplier α* = {a_star:.4f} of k = 6.25", [
            Series("J(t) + α*t²", tt, bump_J(EXAMPLE, tt) + a_star * tt**2)],
            x_label="t", y_label="J + α*Ω",
            marks=[Mark(r, f"t* = 2.5 (constrained minimizer, local only: {p_star:.3f})"),
                   Mark(t_glob, f"global minimizer t ≈ {t_glob:.3f} ({p_glob:.3f})")],
            caption="The constrained minimizer is a strict local, not global, minimizer of the penalized objective."),
    ]
