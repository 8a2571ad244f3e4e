r"""The problems of the descent family: what ``descent-lemma`` needs of a loss, for three kinds of loss.

A problem wraps one drawn case and answers, without the check asking what kind it is:

- ``loss_and_point(ctx)``: the loss as a function of a flat vector, and the start point θ;
- ``evaluation_noise(theta, ctx)``: the size of the intermediate quantities whose round-off enters L(θ);
- ``curvature_bound(f, theta, g, alpha_max, ctx, dense)``: a :class:`CurvatureBound`: a *certified* M with
  :math:`g^\top\nabla^2 L(\xi) g \le M\|g\|^2` on the whole segment (by a theorem, exactly, or by an interval
  enclosure, :mod:`.certify`), or none where none could be certified within the work limit; how it was
  obtained, the Hessian-vector products spent, and the sampled estimate where the problem samples one;
- ``alpha_max(M, fixed)``: the largest step checked;
- ``exact_checks(theta, g, alphas, tol, ctx)``: further comparisons the problem allows (quadratics);
- ``name`` and ``tags``: what the check reports (the case type's name first).

:class:`SoftmaxRegression` (global M of C1), :class:`MLPRegression` (M certified on the segment) and
:class:`QuadraticLoss` (directional M; :class:`Quadratic` is its case). :class:`DescentCase` is a
problem and a step fraction; its JSON holds the case's own JSON, decoded through
:func:`verify.case_from_json` and :data:`PROBLEM_TYPES`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import torch
from torch.func import grad, jvp, vmap

from proofs.descent.certify import CERTIFY_RTOL, MAX_INTERVALS, SegmentNetwork, certify_curvature, divide_up
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
    "DENSE_RTOL",
    "LAMBDA_POINTS",
    "PROBLEM_TYPES",
    "RECHECK_SEGMENT_POINTS",
    "SEGMENT_POINTS",
    "CurvatureBound",
    "DescentCase",
    "DescentProblem",
    "MLPRegression",
    "Quadratic",
    "QuadraticLoss",
    "SoftmaxRegression",
    "curvature_along",
    "curvature_samples",
    "directional_curvatures",
]

#: points on the segment where the MLP curvature is sampled (directional): the baseline the certified M is
#: compared with; λ_max at LAMBDA_POINTS of them was the estimate of M before M was certified
#: (:func:`curvature_along`, kept for bench/descent_segment_curvature.py)
SEGMENT_POINTS, LAMBDA_POINTS = 33, 5
#: the directional scan of the re-check (a cross-check of the certified bound by autograd)
RECHECK_SEGMENT_POINTS = 257
#: the certification tolerance of the re-check (the check's is CERTIFY_RTOL)
DENSE_RTOL = CERTIFY_RTOL / 100

Loss = Callable[[torch.Tensor], torch.Tensor]


def curvature_along(f: Loss, theta: torch.Tensor, g: torch.Tensor, alpha_max: float, points: int,
                    lambda_points: int, ctx: CheckContext) -> tuple[float, int]:
    """The sampled estimate: max over sampled ξ on [θ, θ − α_max g] of gᵀ∇²L(ξ)g/‖g‖², and of λ_max(∇²L(ξ));
    HVPs used."""
    directional, lam, hvps = curvature_samples(f, theta, g, alpha_max, points, lambda_points, ctx)
    return max(directional, lam), hvps


def curvature_samples(f: Loss, theta: torch.Tensor, g: torch.Tensor, alpha_max: float, points: int,
                      lambda_points: int, ctx: CheckContext) -> tuple[float, float, int]:
    """Sampled on [θ, θ − α_max g]: max of gᵀ∇²L(ξ)g/‖g‖² at ``points`` ξ, max of λ_max(∇²L(ξ)) (Lanczos) at
    ``lambda_points`` of them (-inf without), and the HVPs used."""
    G = float(g @ g)
    directional, lam, hvps = -float("inf"), -float("inf"), 0
    for j, s in enumerate(np.linspace(0.0, 1.0, points)):
        xi = theta - float(s) * alpha_max * g
        op = hvp_operator(f, xi)
        directional = max(directional, float(g @ op(g)) / G)
        hvps += 1
        if lambda_points and j % max(1, (points - 1) // (lambda_points - 1)) == 0:
            est = extreme_eigenvalue(op, theta.numel(), "LA", dtype=ctx.dtype, device=ctx.device)
            lam, hvps = max(lam, est.value), hvps + est.matvecs
    return directional, lam, hvps


def directional_curvatures(f: Loss, theta: torch.Tensor, g: torch.Tensor, alpha_max: float,
                           s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """gᵀ∇²L(θ − s·α_max·g)g/‖g‖² at every s, and its magnitude ‖∇²L g‖/‖g‖ (what its round-off scales with):
    one forward-over-reverse product each, all points in one vmap call (one at a time where vmap cannot)."""
    steps = torch.as_tensor(s, dtype=theta.dtype, device=theta.device)
    points = theta[None] - steps[:, None] * (alpha_max * g)[None]
    try:
        products = vmap(lambda xi: jvp(grad(f), (xi,), (g,))[1])(points)
    except (RuntimeError, NotImplementedError, ValueError):  # an op vmap cannot batch
        products = torch.stack([hvp_operator(f, xi)(g) for xi in points])
    G = g @ g
    values, mags = (products @ g) / G, products.norm(dim=-1) / G.sqrt()
    return values.detach().cpu().double().numpy(), mags.detach().cpu().double().numpy()


@dataclass(frozen=True)
class CurvatureBound:
    """What a problem knows of the curvature on the segment: what ``curvature_bound`` returns.

    Attributes:
        M: a certified bound of gᵀ∇²L(ξ)g/‖g‖² on the whole segment, or None where none could be certified
            (the case is then undecidable).
        how: how M was obtained (or why none was).
        hvps: the Hessian-vector products spent.
        sampled: the sampled estimate of M (before M was certified it was the M used), where the problem has one.
        work: what the certification spent (intervals, rounds, whether it converged to its tolerance ...).
    """

    M: float | None
    how: str
    hvps: int = 0
    sampled: float | None = None
    work: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DescentProblem:
    """The protocol of the module docstring, with the defaults most problems share.

    Attributes:
        case: the drawn case (its JSON is what a :class:`DescentCase` stores).
    """

    case: Any

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
                        dense: bool) -> CurvatureBound:
        raise NotImplementedError

    def alpha_max(self, M: float, fixed: float) -> float:
        """α_max = 2/M (the end of the decrease interval), or 1 when M ≤ 0."""
        return 2.0 / M if M > 0 else 1.0

    def exact_checks(self, theta: torch.Tensor, g: torch.Tensor, alphas: list[float], tol: Tolerance,
                     ctx: CheckContext) -> list[tuple[float, Comparison]]:
        """(α, comparison) pairs beyond the lemma's own: none by default."""
        return []

    def m_contradicted(self, f: Loss, theta: torch.Tensor, g: torch.Tensor, alpha: float, M: float,
                       ctx: CheckContext) -> bool:
        """Whether the losses show M below the curvature's supremum on [θ, θ − αg]; never for a certified M."""
        return False

    def inconsistency(self, curvature: CurvatureBound, ctx: CheckContext) -> Comparison | None:
        """A violation of "M bounds the curvature the loss values imply", for an estimated M; None if none."""
        return None


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
                        dense: bool) -> CurvatureBound:
        X = np.asarray(self.case.X)
        return CurvatureBound(0.5 * float(np.linalg.eigvalsh(X.T @ X / X.shape[0])[-1]),
                              "global M = ½λ_max(XᵀX/m), a bound everywhere by the theorem of C1")


def _targets(m: int, d_out: int, like: torch.Tensor) -> torch.Tensor:
    idx = torch.arange(m * d_out, dtype=like.dtype, device=like.device).reshape(m, d_out)
    return torch.cos(idx)


class MLPRegression(DescentProblem):
    """½‖f(x; θ) − t‖² (mean over the batch) of a :class:`verify.MLPCase`, targets t = cos(i); M certified."""

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

    def segment(self, theta: torch.Tensor, g: torch.Tensor, ctx: CheckContext) -> SegmentNetwork:
        """The network on the segment θ − s·g in float64 numpy (for :func:`certify_curvature`)."""
        spec, x = self._spec_and_inputs(ctx)
        t = _targets(x.shape[0], spec.widths[-1], x)
        npy = lambda v: None if v is None else v.detach().to("cpu", torch.float64).numpy()  # noqa: E731
        layers = [(npy(W), npy(b), npy(dW), npy(db))
                  for (W, b), (dW, db) in zip(unflatten(spec, theta), unflatten(spec, g), strict=True)]
        return SegmentNetwork(layers, spec.activation, npy(x), npy(t))

    def curvature_bound(self, f: Loss, theta: torch.Tensor, g: torch.Tensor, alpha_max: float, ctx: CheckContext,
                        dense: bool) -> CurvatureBound:
        """M certified by interval Taylor enclosures of gᵀ∇²L(ξ)g with subdivision (:mod:`.certify`).

        The directional samples (33 points, batched) are kept as the baseline the certified M is compared
        with; the re-check (``dense``) certifies to a 100× finer tolerance and takes the max with a 257-point
        directional scan by autograd, which can only raise M.
        """
        g64 = g.detach().to("cpu", torch.float64).numpy()
        G = float(g64 @ g64)
        rtol, limit = (DENSE_RTOL, 4 * MAX_INTERVALS) if dense else (CERTIFY_RTOL, MAX_INTERVALS)
        bound = certify_curvature(self.segment(theta, g, ctx), alpha_max, G, rtol, limit)
        work = {"intervals": bound.intervals, "rounds": bound.rounds, "pieces": bound.pieces,
                "converged": bound.converged, "rtol": rtol, "limit": limit, "M_lower": bound.lower / G}
        points = RECHECK_SEGMENT_POINTS if dense else SEGMENT_POINTS
        samples, _ = directional_curvatures(f, theta, g, alpha_max, np.linspace(0.0, 1.0, points))
        directional = sampled = float(samples.max())
        hvps = points
        work["M_sampled_directional"] = directional
        if not bound.finite:
            return CurvatureBound(None, f"no finite bound within {limit} interval evaluations", hvps, sampled, work)
        certified = divide_up(bound.upper, g64)
        how = (f"segment M certified: sup of gᵀ∇²L(ξ)g/‖g‖² on [θ, θ − α_max g] by interval Taylor enclosures, "
               f"{bound.pieces} pieces ({'within' if bound.converged else 'not converged to'} {rtol:g} of the best "
               "point value)")
        if dense:
            how += f", max with a {points}-point autograd scan"
            certified = max(certified, directional)
        return CurvatureBound(certified, how, hvps, sampled, work)

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
                        dense: bool) -> CurvatureBound:
        G = float(g @ g)
        return CurvatureBound(float(g @ (as_tensor(self.case.Q, ctx.dtype, ctx.device) @ g)) / G,
                              "directional M = gᵀQg/‖g‖², exact: the curvature is constant")

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
