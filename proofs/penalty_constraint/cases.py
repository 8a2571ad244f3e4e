r"""The cases of :mod:`proofs.penalty_constraint` (C4, docs/claims.md#c4) and the Hypothesis strategies that draw them.

* :class:`RidgeCase` (J = w‖Xθ − y‖² in one of four conventions) and :class:`SoftmaxCase` (softmax
  regression), both with Ω = ‖θ‖² and a penalty α: the convex problems. Each knows its problem — the
  small protocol the checks call: :meth:`~RidgeCase.problem` (J, ∇J, ∇²J as numpy functions),
  :meth:`~RidgeCase.penalized` (θ_α, the level k and a distance bound), :meth:`~RidgeCase.path_point`,
  :meth:`~RidgeCase.torch_objective`, :meth:`~RidgeCase.gradient_at_zero_scale`,
  :meth:`~RidgeCase.unique_minimizer` and :meth:`~RidgeCase.with_alpha`;
* :class:`PathCase`, two penalties on one of them;
* the non-convex example's cases, tuples (a, b, c, d, w, k);
* :class:`MaxNormCase`, an ``nn.Linear`` weight and a max-norm c.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import hypothesis.strategies as st
import numpy as np
import torch

from proofs.penalty_constraint.solvers import EXAMPLE, Problem, newton_penalized, ridge_problem, softmax_problem
from verify import Case, CheckContext, as_tensor, case_from_json, case_type, matrices, softmax_regression_loss, vectors

EPS64 = float(np.finfo(np.float64).eps)
#: J = w‖Xθ − y‖² per convention (w = 1/2, 1, 1/n, 1/(2n)); the penalized minimizer is
#: (XᵀX + (α/w) I)⁻¹Xᵀy and a solver given that J returns multiplier α
CONVENTIONS = ("half", "full", "mean", "half-mean")

#: a ridge closed form under test: (X, y, α, w) ↦ the claimed minimizer of w‖Xθ − y‖² + α‖θ‖²
RidgeMinimizer = Callable[[np.ndarray, np.ndarray, float, float], np.ndarray]


def j_weight(convention: str, n: int) -> float:
    """The weight w of J = w‖Xθ − y‖² in each convention."""
    return {"half": 0.5, "full": 1.0, "mean": 1.0 / n, "half-mean": 0.5 / n}[convention]


# --------------------------------------------------------------------------- the convex problems


@case_type
class RidgeCase(Case):
    """J = w‖Xθ − y‖² (convention), Ω = ‖θ‖²; X: (n, p), y: (n,).

    ``alpha > 0``: the constraint level is k = Ω(θ_α) (active). ``alpha == 0``: the constraint is
    inactive or just touching, k = k_factor·Ω(θ₀) with θ₀ = X⁺y and k_factor ≥ 1 (α* = 0).
    """

    X: np.ndarray
    y: np.ndarray
    alpha: float
    convention: str = "half"
    k_factor: float = 1.0

    def _compute_tags(self) -> tuple[str, ...]:
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

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RidgeCase:
        return cls(np.asarray(data["X"], dtype=np.float64), np.asarray(data["y"], dtype=np.float64),
                   float(data["alpha"]), str(data.get("convention", "half")), float(data.get("k_factor", 1.0)))

    @property
    def weight(self) -> float:
        return j_weight(self.convention, self.X.shape[0])

    def with_alpha(self, alpha: float) -> RidgeCase:
        return replace(self, alpha=alpha)

    def problem(self) -> Problem:
        return ridge_problem(self.X, self.y, self.weight)

    def penalized(self, minimizer: RidgeMinimizer) -> tuple[np.ndarray, float, float]:
        """(θ_α by ``minimizer``, the level k, 0): α = 0 gives θ₀ = X⁺y and k = k_factor·Ω(θ₀)."""
        X, y = self.X, self.y
        if self.alpha == 0:
            theta = np.linalg.lstsq(X, y, rcond=None)[0]
            return theta, self.k_factor * float(theta @ theta), 0.0
        theta = minimizer(X, y, self.alpha, self.weight)
        return theta, float(theta @ theta), 0.0

    def path_point(self, minimizer: RidgeMinimizer) -> tuple[np.ndarray, float]:
        """θ_α and a bound on its distance from the exact minimizer: the solve's cond(XᵀX + (α/w)I)·eps·‖θ‖."""
        theta, _, _ = self.penalized(minimizer)
        s = np.linalg.svd(self.X, compute_uv=False)
        fac = self.alpha / self.weight
        s_min = s[-1] ** 2 if self.X.shape[0] >= self.X.shape[1] else 0.0
        return theta, (s[0] ** 2 + fac) / (s_min + fac) * EPS64 * float(np.linalg.norm(theta))

    def torch_objective(self, ctx: CheckContext) -> Callable[[torch.Tensor], torch.Tensor]:
        """θ ↦ J(θ) + αΩ(θ) in torch (ctx's dtype and device)."""
        X = as_tensor(self.X, ctx.dtype, ctx.device)
        y = as_tensor(self.y, ctx.dtype, ctx.device)
        w = self.weight
        return lambda t: w * ((X @ t - y) ** 2).sum() + self.alpha * (t @ t)

    def gradient_at_zero_scale(self) -> float:
        """Size of the terms that cancel in ∇J(0) (θ_α = 0 exactly when ∇J(0) = 0)."""
        return 2 * self.weight * float(np.linalg.norm(np.abs(self.X).T @ np.abs(self.y)))

    def unique_minimizer(self) -> bool:
        """False for an inactive constraint (k_factor > 1) on a rank-deficient X: a set of minimizers."""
        return not (self.alpha == 0 and self.k_factor > 1 and np.linalg.matrix_rank(self.X) < self.X.shape[1])


@case_type
class SoftmaxCase(Case):
    """J = mean softmax cross-entropy of W: (k, d) on X: (m, d), labels y: (m,) (integers); Ω = ‖W‖²."""

    X: np.ndarray
    y: np.ndarray
    k: int
    alpha: float

    def __post_init__(self) -> None:
        super().__post_init__()
        labels = np.array(self.y, dtype=np.int64, copy=True)  # labels stay integers (the base made floats)
        labels.flags.writeable = False
        object.__setattr__(self, "y", labels)

    def _compute_tags(self) -> tuple[str, ...]:
        m, d = self.X.shape
        out = ["softmax"] + (["width-1"] if d == 1 else []) + (["single-example"] if m == 1 else [])
        return tuple(out + (["k-2"] if self.k == 2 else []))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SoftmaxCase:
        return cls(np.asarray(data["X"], dtype=np.float64), np.asarray(data["y"], dtype=np.int64), int(data["k"]),
                   float(data["alpha"]))

    def with_alpha(self, alpha: float) -> SoftmaxCase:
        return replace(self, alpha=alpha)

    def problem(self) -> Problem:
        return softmax_problem(self.X, self.y, self.k)

    def penalized(self, minimizer: RidgeMinimizer | None = None) -> tuple[np.ndarray, float, float]:
        """(θ_α by Newton's method, k = Ω(θ_α), its certified distance): no closed form, ``minimizer`` is ridge's."""
        theta, dist = newton_penalized(self.problem(), self.alpha)
        return theta, float(theta @ theta), dist

    def path_point(self, minimizer: RidgeMinimizer | None = None) -> tuple[np.ndarray, float]:
        theta, _, dist = self.penalized(minimizer)
        return theta, dist

    def torch_objective(self, ctx: CheckContext) -> Callable[[torch.Tensor], torch.Tensor]:
        X = as_tensor(self.X, ctx.dtype, ctx.device)
        y = torch.tensor(np.array(self.y), device=X.device)
        return lambda t: softmax_regression_loss(t, X, y, self.k) + self.alpha * (t @ t)

    def gradient_at_zero_scale(self) -> float:
        return float(np.sqrt(self.k) * np.linalg.norm(np.abs(self.X).sum(axis=0))) / self.X.shape[0]

    def unique_minimizer(self) -> bool:
        return True


@dataclass(frozen=True, eq=False)
class PathCase:
    """Two penalties α₁ ≤ α₂ on one convex problem (``problem.alpha`` is ignored); its JSON has no type key."""

    problem: RidgeCase | SoftmaxCase
    alpha1: float
    alpha2: float

    def to_json(self) -> dict[str, Any]:
        return {"problem": self.problem.to_json(), "alpha1": self.alpha1, "alpha2": self.alpha2}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PathCase:
        return cls(case_from_json(data["problem"]), float(data["alpha1"]), float(data["alpha2"]))


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


# --------------------------------------------------------------------------- the non-convex example


def nonconvex_cases(include_example: bool = True) -> st.SearchStrategy[tuple[float, ...]]:
    """Two-bump J with the constraint t² ≤ k: random (a, b, c, d, w, k), and the C4 example."""
    rand = st.tuples(st.floats(0.5, 3.0), st.floats(0.0, 4.0), st.floats(0.2, 2.0), st.floats(-1.0, 2.0),
                     st.floats(0.05, 1.0), st.floats(0.1, 16.0))
    return st.one_of(rand, st.just(EXAMPLE)) if include_example else rand


def nonconvex_from_json(data: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in data)


# --------------------------------------------------------------------------- max-norm


@case_type
class MaxNormCase(Case):
    """An nn.Linear weight W: (out, in) (row j = unit j's incoming weights) and a max-norm c > 0."""

    W: np.ndarray
    c: float

    def _compute_tags(self) -> tuple[str, ...]:
        norms = np.linalg.norm(self.W, axis=1)
        out = ["width-1"] if 1 in self.W.shape else []
        out += ["zero-row"] if np.any(norms == 0) else []
        out += ["row-on-boundary"] if np.any(norms == self.c) else []
        out += ["rank-one"] if min(self.W.shape) > 1 and np.linalg.matrix_rank(self.W) == 1 else []
        out += ["all-inside"] if np.all(norms <= self.c) else []
        return tuple(out)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MaxNormCase:
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
