r"""The descent lemma for gradient descent (C2), and seed 000's three mistakes about it.

Source: seed 000 ("使用二阶梯度作正则项交叉训练参数", section "L̂(A+αΔA)的一个上界的证明"),
which writes the update as ascent, expands with the Hessian at the start point and omits the
step-size condition; restated precisely as C2 in ``CLAIMS.md``.

Statement: if :math:`g^\top \nabla^2 L(\xi) g \le M\|g\|^2` on the segment
:math:`\{\theta - s\alpha g: s\in[0,1]\}` with :math:`g = \nabla L(\theta)`, then for every
:math:`\alpha \ge 0`

.. math:: L(\theta - \alpha g) \le L(\theta) - \alpha\left(1 - \tfrac{\alpha M}{2}\right)\|g\|^2 ,

a decrease when :math:`0 < \alpha < 2/M`. The slack is normalized by the terms that cancel,
:math:`\alpha\|g\|^2(1 + \alpha|M|/2)`, never by :math:`L(\theta)`; the round-off of evaluating
:math:`L` enters the tolerance as ``noise`` (see :func:`verify.compare_leq`).

Claims: ``descent-lemma`` (holds); ``seed000-ascent-update``, ``seed000-taylor-at-start-point``,
``descent-lemma-beyond-2-over-M`` (refuted).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import hypothesis.strategies as st
import mpmath
import numpy as np
import torch

from proofs.descent import FAMILY, figures
from proofs.descent import symbolic as sym
from verify import (
    ACTIVATIONS,
    CaseResult,
    CheckContext,
    Comparison,
    MLPCase,
    MLPSpec,
    SoftmaxBatch,
    SymbolicResult,
    Tolerance,
    as_tensor,
    case_from_json,
    compare_close,
    compare_leq,
    extreme_eigenvalue,
    gradient,
    hvp_operator,
    matrices,
    mlp_cases,
    mlp_forward,
    softmax_batches,
    softmax_regression_loss,
    unflatten,
    vectors,
)

#: the fixed grid of α/α_max checked in every case (plus the drawn fraction)
ALPHA_GRID = (1.0, 0.75, 0.5, 0.25, 0.1, 0.01)
#: points on the segment where the MLP curvature is sampled (directional), and where λ_max is taken
SEGMENT_POINTS, LAMBDA_POINTS = 33, 5
RECHECK_SEGMENT_POINTS = 257


@dataclass(frozen=True)
class Quadratic:
    """L(θ) = ½ θᵀQθ with Q symmetric: (n, n); θ: (n,)."""

    Q: np.ndarray
    theta: np.ndarray

    def to_json(self) -> dict[str, Any]:
        return {"type": "Quadratic", "Q": self.Q.tolist(), "theta": self.theta.tolist()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Quadratic:
        return cls(np.asarray(data["Q"], dtype=np.float64), np.asarray(data["theta"], dtype=np.float64))


@dataclass(frozen=True)
class DescentCase:
    """One problem (softmax regression, MLP regression or quadratic) and a step fraction.

    ``alpha_frac`` is α/α_max for the drawn step; ``alpha_max`` is fixed before M is measured
    (for MLPs), or derived from the global/directional M (softmax, quadratics).
    """

    problem: Any
    alpha_frac: float
    alpha_max: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return {"problem": self.problem.to_json(), "alpha_frac": self.alpha_frac, "alpha_max": self.alpha_max}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DescentCase:
        prob = data["problem"]
        problem = Quadratic.from_json(prob) if prob.get("type") == "Quadratic" else case_from_json(prob)
        return cls(problem, float(data["alpha_frac"]), float(data.get("alpha_max", 1.0)))


# --------------------------------------------------------------------------- strategies

_FRACTIONS = st.one_of(st.sampled_from([1.0, 0.5]), st.floats(1e-3, 1.0))


@st.composite
def quadratics(draw: st.DrawFn, psd: bool | None = None, nonzero_gradient: bool = False) -> Quadratic:
    """½θᵀQθ with Q PSD (C Cᵀ) or indefinite ((A + Aᵀ)/2), n = 1..4, rank-one and scaled cases."""
    n = draw(st.sampled_from([1, 2, 2, 3, 4]))
    A = draw(matrices(n, n, structure=("generic", "generic", "rank-one"),
                      scale=st.sampled_from([1.0, 1e-2, 1e2]), nonzero=True))
    make_psd = draw(st.booleans()) if psd is None else psd
    Q = A @ A.T if make_psd else (A + A.T) / 2
    theta = draw(vectors(n, scale=st.sampled_from([1.0, 1e-3, 1e2]), nonzero=True))
    if nonzero_gradient and not np.any(Q @ theta):
        Q = Q + np.eye(n)
    return Quadratic(Q, theta)


def descent_cases() -> st.SearchStrategy[DescentCase]:
    """The three families of ``descent-lemma``: softmax regression, MLP regression, quadratics."""
    smooth_mlps = mlp_cases(depth=(1, 3), width=(1, 6), batch=(1, 4), bias=True,
                            activations=("tanh", "sigmoid", "softplus", "gelu", "identity"))
    mlp = st.builds(DescentCase, smooth_mlps, _FRACTIONS, st.sampled_from([0.5, 0.05, 1.0, 5.0]))
    # MLPs are drawn twice as often: the target phase spends budget on the tight quadratics
    return st.one_of(
        st.builds(DescentCase, quadratics(), _FRACTIONS),
        mlp,
        st.builds(DescentCase, softmax_batches(k=(2, 4), d=(1, 4), m=(1, 6)), _FRACTIONS),
        mlp,
    )


# --------------------------------------------------------------------------- losses


def _targets(m: int, d_out: int, like: torch.Tensor) -> torch.Tensor:
    idx = torch.arange(m * d_out, dtype=like.dtype, device=like.device).reshape(m, d_out)
    return torch.cos(idx)


def loss_and_point(problem: Any, ctx: CheckContext) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]:
    """The loss as a function of a flat vector, and the start point θ."""
    if isinstance(problem, SoftmaxBatch):
        X = as_tensor(problem.X, ctx.dtype, ctx.device)
        y = torch.tensor(np.array(problem.y, dtype=np.int64), device=X.device)
        return (lambda w: softmax_regression_loss(w, X, y, problem.k)), as_tensor(problem.W, ctx.dtype, ctx.device
                                                                                  ).reshape(-1)
    if isinstance(problem, MLPCase):
        spec = MLPSpec(tuple(problem.widths), problem.activation, problem.bias)
        x = as_tensor(problem.x, ctx.dtype, ctx.device)
        t = _targets(x.shape[0], spec.widths[-1], x)
        return (lambda th: 0.5 * ((mlp_forward(spec, th, x) - t) ** 2).sum(-1).mean()), as_tensor(
            problem.flat_params(), ctx.dtype, ctx.device)
    Q = as_tensor(problem.Q, ctx.dtype, ctx.device)
    return (lambda th: 0.5 * th @ (Q @ th)), as_tensor(problem.theta, ctx.dtype, ctx.device)


def evaluation_noise(problem: Any, theta: torch.Tensor, ctx: CheckContext) -> float:
    """Size of the intermediate quantities whose round-off enters L(θ) (not |L| itself).

    Cross-entropy loses ``eps·max|z|`` in its log-sum-exp even when L ≈ 0; a quadratic loses
    ``eps·½|θ|ᵀ|Q||θ|``; an MLP loses ``eps·‖r‖·‖f̄‖`` with ``f̄`` the output of the network run on
    absolute values (|W|, |b|, |x|), which bounds the cancellations inside it.
    """
    if isinstance(problem, SoftmaxBatch):
        X = as_tensor(problem.X, ctx.dtype, ctx.device)
        z = X @ theta.reshape(problem.k, problem.d).T
        return float(z.abs().amax(dim=-1).mean()) + float(np.log(problem.k))
    if isinstance(problem, Quadratic):
        Q = as_tensor(problem.Q, ctx.dtype, ctx.device).abs()
        t = theta.abs()
        return float(0.5 * t @ (Q @ t))
    spec = MLPSpec(tuple(problem.widths), problem.activation, problem.bias)
    x = as_tensor(problem.x, ctx.dtype, ctx.device)
    h = x.abs()
    layers = unflatten(spec, theta.abs())
    for i, (W, b) in enumerate(layers):
        z = h @ W.T + (b if b is not None else 0.0)
        h = z if i == len(layers) - 1 else ACTIVATIONS[spec.activation](z).abs()
    out = mlp_forward(spec, theta, x)
    r = out - _targets(x.shape[0], spec.widths[-1], x)
    return float(((r.norm(dim=-1) + h.norm(dim=-1)) * h.norm(dim=-1)).mean())


def _curvature_along(f: Callable, theta: torch.Tensor, g: torch.Tensor, alpha_max: float, points: int,
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


def _global_m(problem: Any, f: Callable, theta: torch.Tensor, g: torch.Tensor, alpha_max: float,
              ctx: CheckContext, dense: bool) -> tuple[float, str, int]:
    """M and how it was obtained (the evidence says which)."""
    if isinstance(problem, SoftmaxBatch):
        X = np.asarray(problem.X)
        return 0.5 * float(np.linalg.eigvalsh(X.T @ X / X.shape[0])[-1]), "global M = ½λ_max(XᵀX/m) (C1)", 0
    if isinstance(problem, Quadratic):
        G = float(g @ g)
        return float(g @ (as_tensor(problem.Q, ctx.dtype, ctx.device) @ g)) / G, "directional M = gᵀQg/‖g‖²", 0
    points = RECHECK_SEGMENT_POINTS if dense else SEGMENT_POINTS
    M, hvps = _curvature_along(f, theta, g, alpha_max, points, LAMBDA_POINTS, ctx)
    return M, (f"segment M = max of gᵀ∇²L(ξ)g/‖g‖² at {points} points and λ_max(∇²L(ξ)) (Lanczos) at "
               f"{LAMBDA_POINTS} points of [θ, θ − α_max g]"), hvps


def _alpha_max(problem: Any, M: float, fixed: float) -> float:
    if isinstance(problem, MLPCase):
        return fixed
    return 2.0 / M if M > 0 else 1.0


def _worst(comparisons: list[tuple[float, Comparison]]) -> tuple[float, Comparison]:
    decided = [c for c in comparisons if c[1].status != "undecidable"]
    pool = decided or comparisons
    return min(pool, key=lambda c: c[1].slack)


def _lemma_at(f: Callable, theta: torch.Tensor, g: torch.Tensor, alpha: float, M: float, tol: Tolerance,
              noise: Callable[[torch.Tensor], float], quad_sign: float = 1.0) -> Comparison:
    G = float(g @ g)
    moved = theta - alpha * g
    L0, L1 = float(f(theta)), float(f(moved))
    scale = alpha * G * (1.0 + alpha * abs(M) / 2.0)
    return compare_leq(L1 - L0, -alpha * (1.0 - quad_sign * alpha * M / 2.0) * G, scale, tol,
                       noise=abs(L0) + abs(L1) + noise(theta) + noise(moved))


def _descent_check(case: DescentCase, ctx: CheckContext, dense: bool = False, m_factor: float = 1.0,
                   quad_sign: float = 1.0) -> CaseResult:
    """Check the lemma at every α of the grid; ``m_factor``/``quad_sign`` make it wrong on purpose (tests)."""
    problem = case.problem
    f, theta = loss_and_point(problem, ctx)
    g = gradient(f, theta).detach()
    tol = Tolerance(ctx.dtype, FAMILY.depth)
    family = type(problem).__name__
    if float(g @ g) == 0.0:
        return CaseResult(compare_leq(0.0, 0.0, 0.0, tol), (family, "zero-gradient"), {"reason": "g = 0"},
                          tol.describe())
    fixed_max = case.alpha_max
    M, how, hvps = _global_m(problem, f, theta, g, fixed_max, ctx, dense)
    alpha_max = _alpha_max(problem, M, fixed_max)
    M *= m_factor
    alphas = sorted({alpha_max * a for a in ALPHA_GRID} | {alpha_max * case.alpha_frac})
    noise = lambda point: evaluation_noise(problem, point, ctx)  # noqa: E731
    results = [(a, _lemma_at(f, theta, g, a, M, tol, noise, quad_sign)) for a in alphas]
    if isinstance(problem, Quadratic) and (m_factor, quad_sign) == (1.0, 1.0):
        results += _quadratic_lambda_max(problem, theta, g, alphas, tol, ctx)
    alpha, worst = _worst(results)
    if worst.violated and isinstance(problem, MLPCase) and not dense:
        # a sampled segment M can miss a sharp curvature peak between samples (tanh at large inputs):
        # before this counts, measure M again on the fine grid of the re-check and judge with it
        M, how, more = _global_m(problem, f, theta, g, fixed_max, ctx, dense=True)
        M *= m_factor
        hvps += more
        how += f" (refined after the {SEGMENT_POINTS}-point estimate was exceeded)"
        alpha, worst = _worst([(a, _lemma_at(f, theta, g, a, M, tol, noise, quad_sign)) for a in alphas])
    tags = (family, *(getattr(problem, "tags", None) or ()))
    return CaseResult(worst, tags, {"alpha": alpha, "alpha_max": alpha_max, "M": M, "M_obtained_by": how,
                                    "hvps_for_M": hvps, "grad_norm_sq": float(g @ g),
                                    "normalized_slack": worst.slack}, tol.describe())


def _quadratic_lambda_max(problem: Quadratic, theta: torch.Tensor, g: torch.Tensor, alphas: list[float],
                          tol: Tolerance, ctx: CheckContext) -> list[tuple[float, Comparison]]:
    """With M = λ_max(Q) the slack equals α²(λ_max‖g‖² − gᵀQg)/2 exactly."""
    Q = as_tensor(problem.Q, ctx.dtype, ctx.device)
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
        noise = evaluation_noise(problem, theta, ctx) + evaluation_noise(problem, moved, ctx)
        out.append((a, compare_close(slack, predicted, scale, tol, noise=noise)))
    return out


DESCENT = FAMILY.claim(
    id="descent-lemma", title="Descent lemma for gradient descent",
    statement=(r"g^\top\nabla^2 L(\xi)g \le M\|g\|^2\ \forall \xi\in[\theta,\theta-\alpha g] \;\Longrightarrow\; "
               r"L(\theta-\alpha g) \le L(\theta) - \alpha\left(1-\tfrac{\alpha M}{2}\right)\|g\|^2"),
    source=FAMILY.source, hypotheses=FAMILY.hypotheses,
    symbolic=lambda: SymbolicResult([sym.taylor_remainder(), sym.curvature_bound(), sym.step_size_condition(),
                                     sym.optimal_step(), sym.quadratic_equality()]),
    cases=descent_cases, check=_descent_check, recheck=lambda case, ctx: _descent_check(case, ctx, dense=True),
    relation="inequality", decode_case=DescentCase.from_json, figures=figures.descent_margin_figures,
    notes=("Softmax regression uses the global M of C1 with α ∈ (0, 2/M]; MLP regressions (C² activations, "
           "targets cos(i)) fix α_max first and measure M on the whole segment; quadratics use the directional "
           "M = gᵀQg/‖g‖², where the lemma is an equality (slack ≈ 0), and M = λ_max(Q), where the slack is "
           "checked to equal α²(λ_max‖g‖² − gᵀQg)/2.",
           "The decrease (not the inequality) needs 0 < α < 2/M; α = 1/M decreases L by ‖g‖²/(2M).",
           "Stochastic gradients only satisfy the bound in expectation, with E‖g̃‖² in the quadratic term."),
)


# --------------------------------------------------------------------------- the seed's mistakes


def _exact_quadratic(problem: Quadratic, point: list[Fraction]) -> Fraction:
    Q = [[Fraction(float(v)) for v in row] for row in np.asarray(problem.Q)]
    n = len(point)
    return sum(point[i] * Q[i][j] * point[j] for i in range(n) for j in range(n)) / 2


def _exact_step(problem: Quadratic, alpha: float, sign: int) -> tuple[Fraction, Fraction, Fraction]:
    """Exact L(θ), L(θ + sign·αg) and ‖g‖² in rational arithmetic (the independent re-check)."""
    Q = [[Fraction(float(v)) for v in row] for row in np.asarray(problem.Q)]
    theta = [Fraction(float(v)) for v in np.asarray(problem.theta)]
    n = len(theta)
    g = [sum(Q[i][j] * theta[j] for j in range(n)) for i in range(n)]
    a = Fraction(alpha)
    moved = [theta[i] + sign * a * g[i] for i in range(n)]
    return _exact_quadratic(problem, theta), _exact_quadratic(problem, moved), sum(x * x for x in g)


def _quadratic_step_case(psd: bool = True) -> st.SearchStrategy[DescentCase]:
    return st.builds(DescentCase, quadratics(psd=psd, nonzero_gradient=True), st.floats(1e-3, 1.0))


def _ascent_check(case: DescentCase, ctx: CheckContext, exact: bool = False) -> CaseResult:
    """The seed's update θ + α∇L with α ∈ (0, 1/M]: claimed to decrease L."""
    problem = case.problem
    Q = np.asarray(problem.Q)
    lam = float(np.linalg.eigvalsh(Q)[-1])
    alpha = case.alpha_frac / lam if lam > 0 else case.alpha_frac
    tol = Tolerance(ctx.dtype, FAMILY.depth)
    if exact:
        L0, L1, G = _exact_step(problem, alpha, +1)
        return CaseResult(compare_leq(float(L1 - L0), 0.0, alpha * float(G), Tolerance("float64", 1.0)),
                          ("Quadratic",), {"alpha": alpha, "exact": True}, "exact rationals")
    f, theta = loss_and_point(problem, ctx)
    g = gradient(f, theta).detach()
    L0, L1 = float(f(theta)), float(f(theta + alpha * g))
    noise = evaluation_noise(problem, theta, ctx) + evaluation_noise(problem, theta + alpha * g, ctx)
    return CaseResult(compare_leq(L1 - L0, 0.0, alpha * float(g @ g), tol, noise=noise),
                      ("Quadratic",), {"alpha": alpha, "M": lam}, tol.describe())


def _beyond_check(case: DescentCase, ctx: CheckContext, exact: bool = False) -> CaseResult:
    """α ∈ (2/M, 4/M) with M = λ_max(Q): claimed to decrease L (strictly inside the interval)."""
    problem = case.problem
    lam = float(np.linalg.eigvalsh(np.asarray(problem.Q))[-1])
    frac = 0.01 + 0.98 * case.alpha_frac
    alpha = (2.0 + 2.0 * frac) / lam if lam > 0 else 1.0
    tol = Tolerance(ctx.dtype, FAMILY.depth)
    if exact:
        L0, L1, G = _exact_step(problem, alpha, -1)
        return CaseResult(compare_leq(float(L1 - L0), 0.0, alpha * float(G), Tolerance("float64", 1.0)),
                          ("Quadratic",), {"alpha": alpha, "alpha_times_M": alpha * lam, "exact": True},
                          "exact rationals")
    f, theta = loss_and_point(problem, ctx)
    g = gradient(f, theta).detach()
    L0, L1 = float(f(theta)), float(f(theta - alpha * g))
    noise = evaluation_noise(problem, theta, ctx) + evaluation_noise(problem, theta - alpha * g, ctx)
    return CaseResult(compare_leq(L1 - L0, 0.0, alpha * float(g @ g), tol, noise=noise),
                      ("Quadratic",), {"alpha": alpha, "alpha_times_M": alpha * lam}, tol.describe())


def _log_cosh_case() -> st.SearchStrategy[tuple[float, float]]:
    """(t, α/(2/M₀)) for L(t) = log cosh t, with boundary values t = 0, 2 and large |t|."""
    t = st.one_of(st.sampled_from([2.0, 1.0, 0.0, -3.0]), st.floats(-8.0, 8.0))
    return st.tuples(t, st.one_of(st.just(0.5), st.floats(1e-3, 1.0)))


def _start_point_check(case: tuple[float, float], ctx: CheckContext, precise: bool = False) -> CaseResult:
    """M₀ = L''(t) = sech²(t) at the start only; α = frac·2/M₀; the bound claimed with M₀."""
    t0, frac = float(case[0]), float(case[1])
    if precise:
        with mpmath.workdps(50):
            t = mpmath.mpf(t0)
            M0 = mpmath.sech(t) ** 2
            g = mpmath.tanh(t)
            alpha = mpmath.mpf(frac) * 2 / M0
            L0, L1 = mpmath.log(mpmath.cosh(t)), mpmath.log(mpmath.cosh(t - alpha * g))
            lhs, rhs = float(L1 - L0), float(-alpha * (1 - alpha * M0 / 2) * g * g)
            scale = float(alpha * g * g * (1 + alpha * M0 / 2))
        return CaseResult(compare_leq(lhs, rhs, scale, Tolerance("float64", 1.0)), ("log-cosh",),
                          {"t": t0, "alpha": float(alpha), "M0": float(M0)}, "mpmath 50 digits")
    t = torch.tensor(t0, dtype=getattr(torch, ctx.dtype), device=ctx.device)
    f = lambda v: torch.log(torch.cosh(v)) if v.abs() < 20 else v.abs() - torch.log(torch.tensor(2.0, dtype=v.dtype))  # noqa: E731
    M0 = float(1.0 / torch.cosh(t) ** 2)
    g = float(torch.tanh(t))
    alpha = frac * 2.0 / M0
    tol = Tolerance(ctx.dtype, FAMILY.depth)
    L0, L1 = float(f(t)), float(f(t - alpha * g))
    comparison = compare_leq(L1 - L0, -alpha * (1 - alpha * M0 / 2) * g * g, alpha * g * g * (1 + alpha * M0 / 2),
                             tol, noise=abs(L0) + abs(L1))
    return CaseResult(comparison, ("log-cosh",), {"t": t0, "alpha": alpha, "M0": M0}, tol.describe())


ASCENT = FAMILY.claim(
    id="seed000-ascent-update", title="Seed 000: the update A + α∇L decreases L", expected="refuted",
    statement=r"0 < \alpha \le \tfrac1M \;\Longrightarrow\; L(\theta + \alpha\nabla L(\theta)) \le L(\theta)",
    source=FAMILY.source + "; the seed writes A^{t+1} ← A^t + α∇_A L̂", hypotheses=FAMILY.hypotheses[:1],
    cases=_quadratic_step_case, check=_ascent_check, recheck=lambda c, ctx: _ascent_check(c, ctx, exact=True),
    relation="inequality", decode_case=DescentCase.from_json,
    notes=("Gradient descent subtracts the gradient: θ − α∇L. The re-check recomputes the counterexample in "
           "exact rational arithmetic.",),
)

START_POINT = FAMILY.claim(
    id="seed000-taylor-at-start-point", title="Seed 000: the bound with the curvature at the start point",
    expected="refuted",
    statement=(r"M_0 = \lambda_{\max}(\nabla^2 L(\theta)) > 0,\ \alpha \in (0, 2/M_0] \;\Longrightarrow\; "
               r"L(\theta-\alpha g) \le L(\theta) - \alpha\left(1-\tfrac{\alpha M_0}{2}\right)\|g\|^2"),
    source=FAMILY.source + "; the seed expands with ∇²L̂ at A instead of a point on the segment",
    hypotheses=(r"L(t) = \log\cosh t,\ g = L'(t)",),
    cases=_log_cosh_case, check=_start_point_check, recheck=lambda c, ctx: _start_point_check(c, ctx, precise=True),
    relation="inequality",
    decode_case=lambda data: (float(data[0]), float(data[1])),
    notes=("The curvature must be bounded on the whole segment: log cosh has L'' = sech² t, largest at 0, so a "
           "step from t = 2 toward 0 sees more curvature than M₀. Re-checked with mpmath at 50 digits.",),
)

BEYOND = FAMILY.claim(
    id="descent-lemma-beyond-2-over-M", title="Gradient descent decreases L for α ∈ (2/M, 4/M)", expected="refuted",
    statement=r"\nabla^2 L \preceq M I,\ \alpha \in \left(\tfrac2M, \tfrac4M\right) \;\Longrightarrow\; "
              r"L(\theta - \alpha g) \le L(\theta)",
    source=FAMILY.source + "; the seed states the bound without the condition 0 < α < 2/M",
    hypotheses=(r"L = \tfrac12\theta^\top Q\theta,\ Q \succeq 0,\ M = \lambda_{\max}(Q)",),
    cases=_quadratic_step_case, check=_beyond_check, recheck=lambda c, ctx: _beyond_check(c, ctx, exact=True),
    relation="inequality", decode_case=DescentCase.from_json,
    notes=("On L = ½Mt², L(t − αMt) = ½Mt²(1 − αM)² > L(t) once αM > 2. Re-checked in exact rationals.",),
)
