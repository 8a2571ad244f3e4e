"""The cases of the critical-points family and their strategies.

:class:`PolynomialCase` and :class:`LeastSquaresCase` are the stationary points of
``critical-point-classification``; each knows its loss and stationary point, the step length ε along
the eigenvectors, and its loss in exact rationals (the re-check). :class:`SemidefiniteCase` is the
family of ``semidefinite-hessian-decides``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import hypothesis.strategies as st
import numpy as np
import torch

from verify import Case, CheckContext, as_tensor, case_from_json, case_type, matrices

__all__ = [
    "LeastSquaresCase",
    "PolynomialCase",
    "SemidefiniteCase",
    "critical_point_cases",
    "decode_case",
    "least_squares_cases",
    "least_squares_solution",
    "polynomial_cases",
    "semidefinite_cases",
]

Loss = Callable[[torch.Tensor], torch.Tensor]


def _rationals(point: torch.Tensor) -> list[Fraction]:
    return [Fraction(float(v)) for v in point.detach().cpu().double()]


@case_type
class PolynomialCase(Case):
    r"""L(θ) = ½θᵀQθ + Σ T_ijk θ_i θ_j θ_k + q‖θ‖⁴, stationary at θ* = 0 with H = Q."""

    Q: np.ndarray
    T: np.ndarray
    q: float

    def loss_and_point(self, ctx: CheckContext) -> tuple[Loss, torch.Tensor]:
        """The loss of a flat vector, and the stationary point θ* = 0."""
        Q, T = as_tensor(self.Q, ctx.dtype, ctx.device), as_tensor(self.T, ctx.dtype, ctx.device)
        q = self.q
        f = lambda th: 0.5 * th @ (Q @ th) + torch.einsum("ijk,i,j,k->", T, th, th, th) + q * (th @ th) ** 2  # noqa: E731
        return f, torch.zeros(self.Q.shape[0], dtype=Q.dtype, device=Q.device)

    def step_length(self, eig: np.ndarray, theta: torch.Tensor) -> float:
        """ε with the cubic and quartic terms below a quarter of the ε² term along every unit u."""
        smallest = float(np.abs(eig).min())
        cubic = float(np.abs(self.T).sum())
        return 0.25 * smallest / (1.0 + 2.0 * cubic + 2.0 * abs(self.q))

    def exact_loss(self, point: torch.Tensor) -> Fraction:
        """L evaluated exactly on the float64 entries of ``point`` (rational arithmetic)."""
        th = _rationals(point)
        n = len(th)
        Q = [[Fraction(float(v)) for v in row] for row in self.Q]
        T = self.T
        quad = sum(th[i] * Q[i][j] * th[j] for i in range(n) for j in range(n)) / 2
        cubic = sum(Fraction(float(T[i, j, k])) * th[i] * th[j] * th[k]
                    for i in range(n) for j in range(n) for k in range(n))
        return quad + cubic + Fraction(self.q) * sum(t * t for t in th) ** 2


@case_type
class LeastSquaresCase(Case):
    """L(θ) = ‖Xθ − y‖²/(2m) with m ≥ 4n: a non-degenerate minimum at the least-squares solution."""

    X: np.ndarray
    y: np.ndarray

    def loss_and_point(self, ctx: CheckContext) -> tuple[Loss, torch.Tensor]:
        """The loss of a flat vector, and θ* = the least-squares solution rounded to float64."""
        X, y = as_tensor(self.X, ctx.dtype, ctx.device), as_tensor(self.y, ctx.dtype, ctx.device)
        theta = as_tensor(least_squares_solution(self.X, self.y), ctx.dtype, ctx.device)
        return (lambda th: ((X @ th - y) ** 2).sum() / (2 * X.shape[0])), theta

    def step_length(self, eig: np.ndarray, theta: torch.Tensor) -> float:
        """ε = 10⁻²(1 + ‖θ*‖_∞): L is quadratic, so any ε is exact up to round-off."""
        return 1e-2 * (1.0 + float(theta.abs().max()))

    def exact_loss(self, point: torch.Tensor) -> Fraction:
        """L evaluated exactly on the float64 entries of ``point`` (rational arithmetic)."""
        th = _rationals(point)
        n = len(th)
        X, y = self.X, self.y
        residuals = [sum(Fraction(float(X[r, i])) * th[i] for i in range(n)) - Fraction(float(y[r]))
                     for r in range(X.shape[0])]
        return sum(r * r for r in residuals) / (2 * X.shape[0])


def least_squares_solution(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A solution of the normal equations XᵀXθ = Xᵀy, solved in exact rationals and rounded to float64.

    Exact, so the same bits on every run, thread count and machine: a LAPACK solver (MKL's ``gelsy``
    behind ``torch.linalg.lstsq``) may round differently from one call to the next. A free variable
    of a singular XᵀX is set to 0 (any solution of the normal equations minimizes L).
    """
    m, n = X.shape
    Xq = [[Fraction(float(v)) for v in row] for row in X]
    yq = [Fraction(float(v)) for v in y]
    rows = [[sum(Xq[r][i] * Xq[r][j] for r in range(m)) for j in range(n)]
            + [sum(Xq[r][i] * yq[r] for r in range(m))] for i in range(n)]
    pivots: list[int] = []
    for col in range(n):
        pivot = next((r for r in range(len(pivots), n) if rows[r][col] != 0), None)
        if pivot is None:
            continue
        top = len(pivots)
        rows[top], rows[pivot] = rows[pivot], rows[top]
        lead = rows[top][col]
        rows[top] = [v / lead for v in rows[top]]
        for r in range(n):
            if r != top and rows[r][col] != 0:
                factor = rows[r][col]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[top])]
        pivots.append(col)
    solution = [Fraction(0)] * n
    for row, col in enumerate(pivots):
        solution[col] = rows[row][n]
    return np.array([float(v) for v in solution], dtype=np.float64)


@case_type
class SemidefiniteCase(Case):
    """p(x, y) = s·a·x^k + b·y², k ∈ {3, 4}: H(0) = diag(0, 2b) ⪰ 0 whatever s and k; point (ε, 0).

    Its JSON has no ``"type"`` key (the format of the stored verdicts): ``{"k", "sign", "a", "b", "eps"}``.
    """

    k: int
    sign: int
    a: float
    b: float
    eps: float

    def to_json(self) -> dict[str, Any]:
        return {"k": self.k, "sign": self.sign, "a": self.a, "b": self.b, "eps": self.eps}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SemidefiniteCase:
        return cls(int(data["k"]), int(data["sign"]), float(data["a"]), float(data["b"]), float(data["eps"]))


def decode_case(data: Mapping[str, Any]) -> PolynomialCase | LeastSquaresCase:
    """A case of ``critical-point-classification`` from its JSON."""
    return case_from_json(data)


# --------------------------------------------------------------------------- strategies


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
    A = draw(matrices(n, n, structure="generic", scale=1.0, nonzero=True))
    rotation, _ = np.linalg.qr(A + 1e-3 * np.eye(n))
    Q = rotation @ np.diag(eig) @ rotation.T
    Q = (Q + Q.T) / 2
    T = draw(matrices(n, n * n, structure="generic", scale=st.sampled_from([0.0, 1.0, 0.1, 10.0]))).reshape(n, n, n)
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
    y = draw(matrices(m, 1, structure="generic", scale=st.sampled_from([1.0, 100.0]))).reshape(m)
    return LeastSquaresCase(X, y)


def critical_point_cases() -> st.SearchStrategy[PolynomialCase | LeastSquaresCase]:
    """The cases of ``critical-point-classification``: polynomials of every inertia, least squares."""
    return st.one_of(polynomial_cases(), least_squares_cases())


def semidefinite_cases() -> st.SearchStrategy[SemidefiniteCase]:
    """s·a·x^k + b·y² with k ∈ {4, 3}, s = ±1, and a point (ε, 0) on either side of 0."""
    return st.builds(SemidefiniteCase, st.sampled_from([4, 3]), st.sampled_from([1, -1]),
                     st.sampled_from([1.0, 0.5, 2.0]), st.sampled_from([1.0, 0.1]),
                     st.sampled_from([0.1, 0.01, -0.1, 1e-3]))
