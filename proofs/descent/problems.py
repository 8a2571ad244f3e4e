r"""The problems of the descent family: what ``descent-lemma`` needs of a loss, for three kinds of loss.

A problem wraps one drawn case and answers, without the check asking what kind it is:

- ``loss_and_point(ctx)``: the loss as a function of a flat vector, and the start point θ;
- ``evaluation_noise(theta, ctx)``: the size of the intermediate quantities whose round-off enters L(θ);
- ``curvature_bound(f, theta, g, alpha_max, ctx, dense)``: M with :math:`g^\top\nabla^2 L(\xi) g \le M\|g\|^2`
  on the segment, how it was obtained, and the Hessian-vector products spent;
- ``alpha_max(M, fixed)``: the largest step checked; ``refines_sampled_m``: whether an M that the lemma
  exceeds was sampled (and is measured again on the fine grid before the case counts);
- ``exact_checks(theta, g, alphas, tol, ctx)``: further comparisons the problem allows (quadratics);
- ``name`` and ``tags``: what the check reports (the case type's name first).

:class:`SoftmaxRegression` (global M of C1), :class:`MLPRegression` (M sampled on the segment) and
:class:`QuadraticLoss` (directional M; :class:`Quadratic` is its case). :class:`DescentCase` is a
problem and a step fraction; its JSON holds the case's own JSON, decoded through
:func:`verify.case_from_json` and :data:`PROBLEM_TYPES`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, ClassVar

import numpy as np
import torch

from proofs.softmax_ce.numeric import case_tensors
from verify import (
    ACTIVATIONS,
    Case,
    CheckContext,
    Comparison,
    InvalidInputError,
    MLPSpec,
    Tolerance,
    as_tensor,
    case_from_json,
    case_type,
    compare_close,
    extreme_eigenvalue,
    hvp_operator,
    mlp_forward,
    softmax_regression_loss,
    unflatten,
)

__all__ = [
    "LAMBDA_POINTS",
    "PROBLEM_TYPES",
    "RECHECK_SEGMENT_POINTS",
    "SEGMENT_POINTS",
    "DescentCase",
    "DescentProblem",
    "MLPRegression",
    "Quadratic",
    "QuadraticLoss",
    "SoftmaxRegression",
    "curvature_along",
]

#: points on the segment where the MLP curvature is sampled (directional), and where λ_max is taken
SEGMENT_POINTS, LAMBDA_POINTS = 33, 5
#: the fine grid of the re-check (and of the refinement of an exceeded M)
RECHECK_SEGMENT_POINTS = 257

Loss = Callable[[torch.Tensor], torch.Tensor]


def curvature_along(f: Loss, theta: torch.Tensor, g: torch.Tensor, alpha_max: float, points: int,
                    lambda_points: int, ctx: CheckContext) -> tuple[float, int]:
    """max over sampled ξ on [θ, θ − α_max g] of gᵀ∇²L(ξ)g/‖g‖², and of λ_max(∇²L(ξ)); HVPs used."""
    G = float(g @ g)
    best, hvps = -float("inf"), 0
    for j, s in enumerate(np.linspace(0.0, 1.0, points)):
        xi = theta - float(s) * alpha_max * g
        op = hvp_operator(f, xi)
        best = max(best, float(g @ op(g)) / G)
        hvps += 1
        if lambda_points and j % max(1, (points - 1) // (lambda_points - 1)) == 0:
            est = extreme_eigenvalue(op, theta.numel(), "LA", dtype=ctx.dtype, device=ctx.device)
            best, hvps = max(best, est.value), hvps + est.matvecs
    return best, hvps


@dataclass(frozen=True)
class DescentProblem:
    """The protocol of the module docstring, with the defaults most problems share.

    Attributes:
        case: the drawn case (its JSON is what a :class:`DescentCase` stores).
    """

    case: Any
    #: a sampled M that the lemma exceeds is measured again on the fine grid before the case counts
    refines_sampled_m: ClassVar[bool] = False

    @property
    def name(self) -> str:
        """The case type's name (the first tag the check reports)."""
        return type(self.case).__name__

    @property
    def tags(self) -> tuple[str, ...]:
        """The case type's name, then the case's own boundary tags."""
        return (self.name, *(self.case.tags or ()))

    def loss_and_point(self, ctx: CheckContext) -> tuple[Loss, torch.Tensor]:
        raise NotImplementedError

    def evaluation_noise(self, theta: torch.Tensor, ctx: CheckContext) -> float:
        raise NotImplementedError

    def curvature_bound(self, f: Loss, theta: torch.Tensor, g: torch.Tensor, alpha_max: float, ctx: CheckContext,
                        dense: bool) -> tuple[float, str, int]:
        raise NotImplementedError

    def alpha_max(self, M: float, fixed: float) -> float:
        """α_max = 2/M (the end of the decrease interval), or 1 when M ≤ 0."""
        return 2.0 / M if M > 0 else 1.0

    def exact_checks(self, theta: torch.Tensor, g: torch.Tensor, alphas: list[float], tol: Tolerance,
                     ctx: CheckContext) -> list[tuple[float, Comparison]]:
        """(α, comparison) pairs beyond the lemma's own: none by default."""
        return []


class SoftmaxRegression(DescentProblem):
    """Mean softmax cross-entropy of a :class:`verify.SoftmaxBatch`, θ = vec W; the global M of C1."""

    def loss_and_point(self, ctx: CheckContext) -> tuple[Loss, torch.Tensor]:
        W, X, y = case_tensors(self.case, ctx)
        k = self.case.k
        return (lambda w: softmax_regression_loss(w, X, y, k)), W.reshape(-1)

    def evaluation_noise(self, theta: torch.Tensor, ctx: CheckContext) -> float:
        """Cross-entropy loses ``eps·max|z|`` in its log-sum-exp even when L ≈ 0."""
        X = as_tensor(self.case.X, ctx.dtype, ctx.device)
        z = X @ theta.reshape(self.case.k, self.case.d).T
        return float(z.abs().amax(dim=-1).mean()) + float(np.log(self.case.k))

    def curvature_bound(self, f: Loss, theta: torch.Tensor, g: torch.Tensor, alpha_max: float, ctx: CheckContext,
                        dense: bool) -> tuple[float, str, int]:
        X = np.asarray(self.case.X)
        return 0.5 * float(np.linalg.eigvalsh(X.T @ X / X.shape[0])[-1]), "global M = ½λ_max(XᵀX/m) (C1)", 0


def _targets(m: int, d_out: int, like: torch.Tensor) -> torch.Tensor:
    idx = torch.arange(m * d_out, dtype=like.dtype, device=like.device).reshape(m, d_out)
    return torch.cos(idx)


class MLPRegression(DescentProblem):
    """½‖f(x; θ) − t‖² (mean over the batch) of a :class:`verify.MLPCase`, targets t = cos(i); M sampled."""

    refines_sampled_m: ClassVar[bool] = True

    def _spec_and_inputs(self, ctx: CheckContext) -> tuple[MLPSpec, torch.Tensor]:
        return MLPSpec(tuple(self.case.widths), self.case.activation, self.case.bias), as_tensor(
            self.case.x, ctx.dtype, ctx.device)

    def loss_and_point(self, ctx: CheckContext) -> tuple[Loss, torch.Tensor]:
        spec, x = self._spec_and_inputs(ctx)
        t = _targets(x.shape[0], spec.widths[-1], x)
        return (lambda th: 0.5 * ((mlp_forward(spec, th, x) - t) ** 2).sum(-1).mean()), as_tensor(
            self.case.flat_params(), ctx.dtype, ctx.device)

    def evaluation_noise(self, theta: torch.Tensor, ctx: CheckContext) -> float:
        """``eps·‖r‖·‖f̄‖`` with ``f̄`` the network run on absolute values (|W|, |b|, |x|)."""
        spec, x = self._spec_and_inputs(ctx)
        h = x.abs()
        layers = unflatten(spec, theta.abs())
        for i, (W, b) in enumerate(layers):
            z = h @ W.T + (b if b is not None else 0.0)
            h = z if i == len(layers) - 1 else ACTIVATIONS[spec.activation](z).abs()
        out = mlp_forward(spec, theta, x)
        r = out - _targets(x.shape[0], spec.widths[-1], x)
        return float(((r.norm(dim=-1) + h.norm(dim=-1)) * h.norm(dim=-1)).mean())

    def curvature_bound(self, f: Loss, theta: torch.Tensor, g: torch.Tensor, alpha_max: float, ctx: CheckContext,
                        dense: bool) -> tuple[float, str, int]:
        points = RECHECK_SEGMENT_POINTS if dense else SEGMENT_POINTS
        M, hvps = curvature_along(f, theta, g, alpha_max, points, LAMBDA_POINTS, ctx)
        return M, (f"segment M = max of gᵀ∇²L(ξ)g/‖g‖² at {points} points and λ_max(∇²L(ξ)) (Lanczos) at "
                   f"{LAMBDA_POINTS} points of [θ, θ − α_max g]"), hvps

    def alpha_max(self, M: float, fixed: float) -> float:
        """The α_max drawn with the case (fixed before M is measured)."""
        return fixed


@case_type
class Quadratic(Case):
    """L(θ) = ½ θᵀQθ with Q symmetric: (n, n); θ: (n,)."""

    Q: np.ndarray
    theta: np.ndarray

    def exact_loss(self, point: list[Fraction]) -> Fraction:
        """½ pᵀQp in rationals (Q's float64 entries exactly)."""
        Q = [[Fraction(float(v)) for v in row] for row in np.asarray(self.Q)]
        n = len(point)
        return sum(point[i] * Q[i][j] * point[j] for i in range(n) for j in range(n)) / 2

    def exact_step(self, alpha: float, sign: int) -> tuple[Fraction, Fraction, Fraction]:
        """Exact L(θ), L(θ + sign·αg) and ‖g‖² in rational arithmetic (the independent re-check)."""
        Q = [[Fraction(float(v)) for v in row] for row in np.asarray(self.Q)]
        theta = [Fraction(float(v)) for v in np.asarray(self.theta)]
        n = len(theta)
        g = [sum(Q[i][j] * theta[j] for j in range(n)) for i in range(n)]
        a = Fraction(alpha)
        moved = [theta[i] + sign * a * g[i] for i in range(n)]
        return self.exact_loss(theta), self.exact_loss(moved), sum(x * x for x in g)

    def lambda_max(self) -> float:
        """The largest eigenvalue of Q (float64)."""
        return float(np.linalg.eigvalsh(np.asarray(self.Q))[-1])


class QuadraticLoss(DescentProblem):
    """½θᵀQθ of a :class:`Quadratic`; the directional M = gᵀQg/‖g‖², where the lemma is an equality."""

    @property
    def tags(self) -> tuple[str, ...]:
        """Only the type's name: the boundary tags of the arrays were never reported for quadratics."""
        return (self.name,)

    def loss_and_point(self, ctx: CheckContext) -> tuple[Loss, torch.Tensor]:
        Q = as_tensor(self.case.Q, ctx.dtype, ctx.device)
        return (lambda th: 0.5 * th @ (Q @ th)), as_tensor(self.case.theta, ctx.dtype, ctx.device)

    def evaluation_noise(self, theta: torch.Tensor, ctx: CheckContext) -> float:
        """``eps·½|θ|ᵀ|Q||θ|``."""
        Q = as_tensor(self.case.Q, ctx.dtype, ctx.device).abs()
        t = theta.abs()
        return float(0.5 * t @ (Q @ t))

    def curvature_bound(self, f: Loss, theta: torch.Tensor, g: torch.Tensor, alpha_max: float, ctx: CheckContext,
                        dense: bool) -> tuple[float, str, int]:
        G = float(g @ g)
        return float(g @ (as_tensor(self.case.Q, ctx.dtype, ctx.device) @ g)) / G, "directional M = gᵀQg/‖g‖²", 0

    def exact_checks(self, theta: torch.Tensor, g: torch.Tensor, alphas: list[float], tol: Tolerance,
                     ctx: CheckContext) -> list[tuple[float, Comparison]]:
        """With M = λ_max(Q) the slack equals α²(λ_max‖g‖² − gᵀQg)/2 exactly."""
        Q = as_tensor(self.case.Q, ctx.dtype, ctx.device)
        lam = float(torch.linalg.eigvalsh(Q)[-1])
        G, gQg = float(g @ g), float(g @ (Q @ g))
        f = lambda th: 0.5 * th @ (Q @ th)  # noqa: E731
        out = []
        for a in alphas:
            moved = theta - a * g
            L0, L1 = float(f(theta)), float(f(moved))
            slack = (L0 - a * (1 - a * lam / 2) * G) - L1
            predicted = a * a * (lam * G - gQg) / 2
            scale = a * G * (1 + a * abs(lam))
            noise = self.evaluation_noise(theta, ctx) + self.evaluation_noise(moved, ctx)
            out.append((a, compare_close(slack, predicted, scale, tol, noise=noise)))
        return out


#: case type name -> the problem class that wraps it (how a DescentCase's JSON is decoded)
PROBLEM_TYPES: dict[str, type[DescentProblem]] = {
    "SoftmaxBatch": SoftmaxRegression,
    "MLPCase": MLPRegression,
    "Quadratic": QuadraticLoss,
}


@dataclass(frozen=True)
class DescentCase:
    """One problem (softmax regression, MLP regression or quadratic) and a step fraction.

    ``alpha_frac`` is α/α_max for the drawn step; ``alpha_max`` is fixed before M is measured
    (for MLPs), or derived from the global/directional M (softmax, quadratics).
    """

    problem: DescentProblem
    alpha_frac: float
    alpha_max: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return {"problem": self.problem.case.to_json(), "alpha_frac": self.alpha_frac, "alpha_max": self.alpha_max}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DescentCase:
        prob = data["problem"]
        kind = prob.get("type") if isinstance(prob, Mapping) else None
        if kind not in PROBLEM_TYPES:
            raise InvalidInputError(f"Got a descent problem of type {kind!r}; valid types are {sorted(PROBLEM_TYPES)}.")
        problem = PROBLEM_TYPES[kind](case_from_json(prob))
        return cls(problem, float(data["alpha_frac"]), float(data.get("alpha_max", 1.0)))
