r"""Numeric building blocks of the gradient-norm penalty claims (C5): losses, oracles, FD errors.

The loss is an MLP regression :math:`L_S(\theta) = \frac1{2m}\sum_i \|f(x_i;\theta) - t_i\|^2`
with fixed targets :math:`t_{ij} = \cos(i d_{out} + j)` (as in the descent-lemma claims), so a
generated :class:`~verify.MLPCase` is a loss. Depth 1 (no hidden layer: the last layer is linear) makes
:math:`L_S` an exact quadratic in :math:`\theta`.

Oracles (torch autograd, float64):

* the exact gradient of :math:`L = L_S + \lambda\|\nabla L_S\|` by double backward;
* :math:`Hv` by forward-over-reverse or double backward (two routes);
* the directional derivatives :math:`w_3(\xi) = D^3L_S(\xi)[v,v,\cdot]` and
  :math:`w_4(\xi) = D^4L_S(\xi)[v,v,v,\cdot]` (nested :func:`torch.func.jvp`), whose sampled
  maxima on the segment bound the FD truncation error by Taylor's integral remainder:

.. math:: \Bigl\|\tfrac{\nabla L_S(\theta+rv)-\nabla L_S(\theta)}{r} - Hv\Bigr\| \le \tfrac r2
          \sup_{s\in[0,r]}\|w_3(\theta+sv)\|, \qquad
          \Bigl\|\tfrac{\nabla L_S(\theta+rv)-\nabla L_S(\theta-rv)}{2r} - Hv\Bigr\| \le \tfrac{r^2}6
          \sup_{|s|\le r}\|w_4(\theta+sv)\|.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import hypothesis.strategies as st
import mpmath
import numpy as np
import torch
from torch.func import grad, jvp, vmap

from verify import MLPCase, MLPSpec, as_tensor, case_from_json, gradient, init_params, mlp_cases, mlp_forward

Fn = Callable[[torch.Tensor], torch.Tensor]

#: smooth activations (C^4): the FD error model needs third and fourth derivatives
SMOOTH = ("tanh", "identity", "sigmoid", "softplus", "gelu")
#: the FD claims leave out gelu: torch's erf-based gelu has a first derivative Φ(z) + zφ(z) whose
#: 1 + erf(z/√2) cancels in the far tail (z ≈ −8: about 1% relative error, smooth, not round-off),
#: which finite differences of the gradient see and the analytic second derivative does not
FD_SMOOTH = ("tanh", "identity", "sigmoid", "softplus")
#: penalty weights λ and steps r/ρ drawn (simplest first)
LAMBDAS = (1.0, 0.1, 0.5, 2.0, 0.01)
STEPS = (0.05, 0.01, 0.1, 1.0, 1e-3)
#: grids of r (decreasing): forward reaches further down (round-off grows like u/r)
GRIDS = {
    ("float64", "forward"): tuple(10.0 ** (-3 - k / 2) for k in range(11)),   # 1e-3 … 1e-8
    ("float64", "central"): tuple(10.0 ** (-3 - k / 2) for k in range(7)),    # 1e-3 … 1e-6
    ("float32", "forward"): tuple(10.0 ** (-1.5 - k / 2) for k in range(6)),  # 3e-2 … 1e-4
    ("float32", "central"): tuple(10.0 ** (-1.5 - k / 2) for k in range(4)),  # 3e-2 … 1e-3
}
#: quadratic losses: FD is exact for every r, so the grid reaches large steps too
QUADRATIC_GRID = tuple(10.0 ** (1 - k) for k in range(10))      # 10 … 1e-8


@dataclass(frozen=True)
class GNPCase:
    """A loss (an MLP regression) with a penalty weight λ and a step r (ρ for SAM).

    Attributes:
        mlp: the network, its parameters θ and the input batch.
        lam: λ ≥ 0, the weight of ‖∇L_S‖.
        r: the FD step r (the SAM radius ρ).
    """

    mlp: MLPCase
    lam: float = 1.0
    r: float = 0.05

    @property
    def tags(self) -> tuple[str, ...]:
        extra = ("quadratic",) if is_quadratic(self.mlp) else ()
        return (*(self.mlp.tags or ()), *extra, self.mlp.activation)

    def to_json(self) -> dict[str, Any]:
        return {"type": "GNPCase", "mlp": self.mlp.to_json(), "lam": self.lam, "r": self.r}

    @classmethod
    def from_json(cls, data: Any) -> GNPCase:
        return cls(case_from_json(data["mlp"]), float(data["lam"]), float(data["r"]))  # type: ignore[arg-type]


def is_quadratic(mlp: MLPCase) -> bool:
    """Depth 1: the only layer is linear (the activation follows hidden layers only), so L_S is quadratic."""
    return mlp.depth == 1


def targets(m: int, d_out: int, like: torch.Tensor) -> torch.Tensor:
    """t_ij = cos(i·d_out + j): (m, d_out)."""
    return torch.cos(torch.arange(m * d_out, dtype=like.dtype, device=like.device).reshape(m, d_out))


def regression_loss(mlp: MLPCase, dtype: str = "float64", device: str = "cpu") -> tuple[Fn, torch.Tensor]:
    """``(L_S, θ)``: the mean squared error of the network on its batch, and its flat parameters."""
    spec = MLPSpec(tuple(mlp.widths), mlp.activation, mlp.bias)
    x = as_tensor(mlp.x, dtype, device)
    t = targets(x.shape[0], spec.widths[-1], x)

    def loss(theta: torch.Tensor) -> torch.Tensor:
        return 0.5 * ((mlp_forward(spec, theta, x) - t) ** 2).sum(-1).mean()

    return loss, as_tensor(mlp.flat_params(), dtype, device)


@functools.lru_cache(maxsize=512)  # cases hash by their bytes; the filter and the checks share it
def gradient_roundoff(mlp: MLPCase) -> float:
    """Round-off amplification κ of ∇L_S at θ: ‖∇L_S in float32 − ∇L_S in float64‖_∞ / ε_32.

    Both are evaluated at the same (float32-representable) point, so the difference is the
    round-off of the float32 computation only; the gradient's round-off in a dtype with unit
    round-off u is then about u·κ. Never below ‖g‖_∞ (the round-off of a single product).
    """
    f32, th32 = regression_loss(mlp, "float32")
    f64, _ = regression_loss(mlp, "float64")
    g32 = gradient(f32, th32).double()
    g64 = gradient(f64, th32.double())
    kappa = float((g32 - g64).abs().max()) / float(torch.finfo(torch.float32).eps)
    return max(kappa, float(g64.abs().max())) if math.isfinite(kappa) else math.inf


def nonzero_gradient(mlp: MLPCase) -> bool:
    """g ≠ 0 beyond round-off: ‖g‖_∞ > 10⁶·ε_64·κ (so ĝ = g/‖g‖ is well defined), and Hĝ finite."""
    f, theta = regression_loss(mlp)
    g = gradient(f, theta)
    if not bool(torch.isfinite(g).all()):
        return False
    gmax, kappa = float(g.abs().max()), gradient_roundoff(mlp)
    if not (math.isfinite(kappa) and gmax > 0.0 and gmax > 1e6 * float(torch.finfo(torch.float64).eps) * kappa):
        return False
    return bool(torch.isfinite(hvp(f, theta, g / g.norm())).all())


def gnp_cases(*, activations: tuple[str, ...] = SMOOTH, lams: tuple[float, ...] = LAMBDAS,
              steps: tuple[float, ...] = STEPS) -> st.SearchStrategy[GNPCase]:
    """Small MLP regressions (depth 1-3, widths 1-5, batch 1-4) with g ≠ 0, a λ and a step.

    Weights of magnitude ≥ 100 (the ``large-scale`` tag) are left out: the FD claims are about
    the regime where r is small against the loss's length scale, which such nets push below
    round-off.
    """
    nets = mlp_cases(depth=(1, 3), width=(1, 5), batch=(1, 4), activations=activations).filter(
        lambda c: "large-scale" not in (c.tags or ()) and "zero-weights" not in (c.tags or ())
    ).filter(nonzero_gradient)
    return st.builds(GNPCase, nets, st.sampled_from(lams), st.sampled_from(steps))


# --------------------------------------------------------------------------- derivatives


def unit_gradient(f: Fn, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(g, ĝ)`` with ĝ = g/‖g‖₂ (detached)."""
    g = gradient(f, theta).detach()
    return g, g / g.norm()


def penalized_gradient(f: Fn, theta: torch.Tensor, lam: float) -> torch.Tensor:
    """Exact ∇(L_S + λ‖∇L_S‖) by double backward (torch.autograd, create_graph)."""
    leaf = theta.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = f(leaf)
        (g,) = torch.autograd.grad(loss, leaf, create_graph=True)
        (out,) = torch.autograd.grad(loss + lam * g.norm(), leaf)
    return out.detach()


def penalized_gradient_func(f: Fn, theta: torch.Tensor, lam: float) -> torch.Tensor:
    """The same gradient by the other route: torch.func.grad of θ ↦ L_S(θ) + λ‖grad(L_S)(θ)‖."""
    inner = grad(f)
    return grad(lambda t: f(t) + lam * torch.linalg.vector_norm(inner(t)))(theta.detach())


def penalized_hvp(f: Fn, theta: torch.Tensor, lam: float, v: torch.Tensor) -> torch.Tensor:
    """∇²L v for L = L_S + λ‖∇L_S‖, by torch.func.jvp of the penalized gradient (no double backward)."""
    inner = grad(f)
    return jvp(grad(lambda t: f(t) + lam * torch.linalg.vector_norm(inner(t))), (theta,), (v,))[1]


def hvp(f: Fn, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Hv by forward over reverse (torch.func.jvp of torch.func.grad)."""
    return jvp(grad(f), (theta,), (v,))[1]


def hvp_dense(f: Fn, theta: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Hv from the dense Hessian (torch.func.hessian): the re-check route."""
    return torch.func.hessian(f)(theta) @ v


def directional_w3_w4(f: Fn, xi: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(D³L(ξ)[v,v,·], D⁴L(ξ)[v,v,v,·])`` by nested jvp of the gradient."""
    def hv(t: torch.Tensor) -> torch.Tensor:
        return jvp(grad(f), (t,), (v,))[1]

    def w3(t: torch.Tensor) -> torch.Tensor:
        return jvp(hv, (t,), (v,))[1]

    return jvp(w3, (xi,), (v,))


def segment_bounds(f: Fn, theta: torch.Tensor, v: torch.Tensor, r_top: float,
                   dense: bool = False) -> tuple[float, float]:
    """``(M3, M4)``: sampled sups of ‖w₃‖_∞ on [θ, θ + r_top v] and of ‖w₄‖_∞ on [θ − r_top v, θ + r_top v].

    w₃, w₄ are evaluated (one vmap) at s ∈ {0, ±r_top/2, ±r_top} (``dense``: 17 points). For w
    affine on the segment the norm is convex and its sup is at an end point; the jumps and second
    differences added by :func:`_sup` are the margin for the curvature of w between samples (the
    grids keep r_top small against the loss's length scale).
    """
    points = 17 if dense else 5
    s = torch.linspace(-r_top, r_top, points, dtype=theta.dtype, device=theta.device)
    w3, w4 = vmap(lambda t: directional_w3_w4(f, theta + t * v, v))(s)
    return _sup(w3[points // 2:]), _sup(w4)


def _sup(w: torch.Tensor) -> float:
    """max_k ‖w(s_k)‖_∞ + the largest jump of ‖w‖ + the largest second difference ‖Δ²w‖_∞ (w: (points, n)).

    A C² function deviates from its chord between samples by at most h²/8·sup‖w''‖ ≈ ½‖Δ²w‖.
    """
    norms = w.abs().amax(dim=1)
    jump = float((norms[1:] - norms[:-1]).abs().max())
    second = float((w[2:] - 2 * w[1:-1] + w[:-2]).abs().max())
    return float(norms.max()) + jump + second


def fd_error(grad_fn: Fn, theta: torch.Tensor, v: torch.Tensor, hv: torch.Tensor, r: float,
             scheme: str, divisor: float = 1.0, base: torch.Tensor | None = None) -> float:
    """‖FD(r) − Hv‖_∞ with FD the forward or central difference of ``grad_fn`` along v.

    ``divisor`` multiplies the denominator (1 for the right formula; tests pass a wrong one);
    ``base`` is ``grad_fn(theta)`` when already computed.
    """
    if scheme == "forward":
        g0 = grad_fn(theta) if base is None else base
        fd = (grad_fn(theta + r * v) - g0) / (divisor * r)
    else:
        fd = (grad_fn(theta + r * v) - grad_fn(theta - r * v)) / (divisor * 2 * r)
    return float((fd.double() - hv).abs().max())


def loglog_slope(rs: list[float], errs: list[float]) -> float | None:
    """Least-squares slope of log err against log r (None with fewer than 2 usable points)."""
    pts = [(math.log10(r), math.log10(e)) for r, e in zip(rs, errs) if e > 0 and math.isfinite(e)]
    if len(pts) < 2:
        return None
    x = np.array([p[0] for p in pts])
    y = np.array([p[1] for p in pts])
    return float(np.polyfit(x, y, 1)[0])


# --------------------------------------------------------------------------- high precision (re-check)

_MP_ACT = {
    "tanh": (mpmath.tanh, lambda z: 1 - mpmath.tanh(z) ** 2),
    "sigmoid": (lambda z: 1 / (1 + mpmath.exp(-z)), lambda z: mpmath.exp(-z) / (1 + mpmath.exp(-z)) ** 2),
    "softplus": (lambda z: mpmath.log(1 + mpmath.exp(z)), lambda z: 1 / (1 + mpmath.exp(-z))),
    "gelu": (lambda z: z * mpmath.ncdf(z), lambda z: mpmath.ncdf(z) + z * mpmath.npdf(z)),
    "identity": (lambda z: z, lambda z: mpmath.mpf(1)),
}


def mp_gradient(mlp: MLPCase, theta: list[Any]) -> list[Any]:
    """∇L_S at θ (a list of mpf) by hand-written backpropagation in mpmath (the precision of mp.dps).

    Independent of torch: no autograd, no library approximation of the activations.
    """
    act, dact = _MP_ACT[mlp.activation]
    shapes = [(W.shape, mlp.bias) for W in mlp.weights]
    layers, k = [], 0
    for (d_out, d_in), has_b in shapes:
        W = [[theta[k + i * d_in + j] for j in range(d_in)] for i in range(d_out)]
        k += d_out * d_in
        b = theta[k:k + d_out] if has_b else [0] * d_out
        k += d_out if has_b else 0
        layers.append((W, b))
    m, d_out = mlp.x.shape[0], mlp.widths[-1]
    t = targets(m, d_out, torch.zeros(1, dtype=torch.float64)).tolist()
    grads = [([[mpmath.mpf(0)] * len(W[0]) for _ in W], [mpmath.mpf(0)] * len(W)) for W, _ in layers]
    for i in range(m):
        hs, zs = [[mpmath.mpf(float(v)) for v in mlp.x[i]]], []
        for depth, (W, b) in enumerate(layers):
            z = [mpmath.fsum(W[o][j] * hs[-1][j] for j in range(len(hs[-1]))) + b[o] for o in range(len(W))]
            zs.append(z)
            hs.append(z if depth == len(layers) - 1 else [act(v) for v in z])
        delta = [(hs[-1][o] - t[i][o]) / m for o in range(d_out)]
        for depth in range(len(layers) - 1, -1, -1):
            W = layers[depth][0]
            gW, gb = grads[depth]
            for o in range(len(W)):
                gb[o] += delta[o]
                for j in range(len(W[0])):
                    gW[o][j] += delta[o] * hs[depth][j]
            if depth:
                back = [mpmath.fsum(W[o][j] * delta[o] for o in range(len(W))) for j in range(len(W[0]))]
                delta = [back[j] * dact(zs[depth - 1][j]) for j in range(len(back))]
    out: list[Any] = []
    for (gW, gb), (_, has_b) in zip(grads, shapes):
        out += [v for row in gW for v in row] + (gb if has_b else [])
    return out


def mp_fd_error(mlp: MLPCase, theta: torch.Tensor, v: torch.Tensor, r: float, scheme: str,
                dps: int = 60) -> float:
    """‖FD(r) − Hv‖_∞ in mpmath at ``dps`` digits; Hv by a central difference with step 10^(−dps/3)."""
    with mpmath.workdps(dps):
        th = [mpmath.mpf(float(x)) for x in theta.tolist()]
        vv = [mpmath.mpf(float(x)) for x in v.tolist()]

        def at(step: Any) -> list[Any]:
            return mp_gradient(mlp, [a + step * b for a, b in zip(th, vv)])

        h = mpmath.mpf(10) ** (-(dps // 3))
        hv = [(p - q) / (2 * h) for p, q in zip(at(h), at(-h))]
        rr = mpmath.mpf(r)
        if scheme == "forward":
            fd = [(p - q) / rr for p, q in zip(at(rr), at(0))]
        else:
            fd = [(p - q) / (2 * rr) for p, q in zip(at(rr), at(-rr))]
        return float(max(abs(a - b) for a, b in zip(fd, hv)))


# --------------------------------------------------------------------------- figures

#: r from 1 down to 1e-12, three points a decade
FIGURE_GRID = tuple(10.0 ** (-k / 3) for k in range(37))
FIGURE_WIDTHS = (3, 8, 8, 1)


def figure_loss(seed: int, dtype: str) -> tuple[Fn, torch.Tensor]:
    """The fixed tanh MLP of the figures (widths 3-8-8-1, batch 8), seeded by ``seed``."""
    spec = MLPSpec(FIGURE_WIDTHS, "tanh")
    gen = torch.Generator().manual_seed(int(seed))
    x = torch.randn(8, FIGURE_WIDTHS[0], generator=gen, dtype=torch.float64).to(getattr(torch, dtype))
    theta = init_params(spec, seed=int(seed), dtype=dtype)
    t = targets(8, 1, x)
    return (lambda th: 0.5 * ((mlp_forward(spec, th, x) - t) ** 2).sum(-1).mean()), theta


def _curves(seed: int, dtype: str, kind: str = "loss", lam: float = 1.0) -> dict[str, Any]:
    """FD errors over :data:`FIGURE_GRID` in ``dtype`` (reference Hv in float64 at the same point)."""
    f, theta = figure_loss(seed, dtype)
    f64, _ = figure_loss(seed, "float64")
    theta64 = theta.double()
    g64 = gradient(f64, theta64)
    v = (g64 / g64.norm()).to(theta.dtype)
    hv = hvp(f64, theta64, v.double())
    grad_fn = (lambda t: gradient(f, t)) if kind == "loss" else (lambda t: penalized_gradient(f, t, lam))
    base = grad_fn(theta)
    errs = {s: [fd_error(grad_fn, theta, v, hv, r, s, base=base) for r in FIGURE_GRID] for s in ("forward", "central")}
    w3, w4 = directional_w3_w4(f64, theta64, v.double())
    g32 = gradient(figure_loss(seed, "float32")[0], theta64.float()).double()
    kappa = max(float((g32 - gradient(f64, theta64.float().double())).abs().max()) / 2.0**-23,
                float(g64.abs().max()))
    eps = float(torch.finfo(theta.dtype).eps)
    m3, m4 = float(w3.abs().max()), float(w4.abs().max())
    return {"errs": errs, "hv": hv, "f64": f64, "theta64": theta64, "v": v.double(),
            "r_star": {"forward": 2 * math.sqrt(eps * kappa / m3), "central": (3 * eps * kappa / m4) ** (1 / 3)}}


def _summary(errs: list[float], r_star: float, order: int) -> tuple[float, float | None]:
    """(measured argmin r, slope fitted over r in [10 r*, 1e-1] where truncation dominates)."""
    best = FIGURE_GRID[int(np.argmin(errs))]
    rs = [r for r in FIGURE_GRID if 10 * r_star <= r <= 0.1]
    es = [e for r, e in zip(FIGURE_GRID, errs) if 10 * r_star <= r <= 0.1]
    return best, loglog_slope(rs, es)


def fd_order_figures(ctx: Any) -> list[Any]:
    """Error of the forward and central FD Hessian-vector product vs r (float64 and float32)."""
    from verify import Figure, Mark, Series

    series, marks, notes = [], [], []
    for dtype in ("float64", "float32"):
        data = _curves(ctx.seed, dtype)
        for scheme, order in (("forward", 1), ("central", 2)):
            errs = data["errs"][scheme]
            r_star = data["r_star"][scheme]
            best, slope = _summary(errs, r_star, order)
            series.append(Series(f"{dtype} {scheme}", FIGURE_GRID, errs))
            marks.append(Mark(r_star, f"r* {dtype} {scheme} = {r_star:.1e}"))
            slope_text = "n/a" if slope is None else f"{slope:.2f}"
            notes.append(f"{dtype} {scheme}: model r* = {r_star:.1e}, measured best r = {best:.1e} "
                         f"(error {min(errs):.1e}), fitted slope {slope_text} (expected {order})")
    return [Figure(
        title="FD Hessian-vector product: error vs r (tanh MLP 3-8-8-1, v = ĝ)", series=series,
        x_label="r", y_label="‖FD(r) − Hĝ‖∞", x_log=True, y_log=True, marks=marks,
        caption=("Error model O(r^p) + O(εR/r): truncation to the right, round-off to the left. "
                 + "; ".join(notes) + f". Seed {ctx.seed}."),
    )]


def penalized_fd_figures(ctx: Any) -> list[Any]:
    """The seed's FD of ∇L (penalized) next to the right FD of ∇L_S: a plateau instead of O(r)."""
    from verify import Figure, Mark, Series

    lam = 1.0
    right = _curves(ctx.seed, "float64")
    wrong = _curves(ctx.seed, "float64", kind="penalized", lam=lam)
    f64, theta64, v = wrong["f64"], wrong["theta64"], wrong["v"]
    hpv = penalized_hvp(f64, theta64, lam, v)
    plateau = float((hpv - wrong["hv"]).abs().max())
    series = [Series("∇L_S forward (right)", FIGURE_GRID, right["errs"]["forward"]),
              Series("∇L_S central (right)", FIGURE_GRID, right["errs"]["central"]),
              Series("∇L forward (seed 002)", FIGURE_GRID, wrong["errs"]["forward"]),
              Series("∇L central (seed 002)", FIGURE_GRID, wrong["errs"]["central"])]
    return [Figure(
        title="Seed 002's FD with ∇L of the penalized loss: the error plateaus", series=series,
        x_label="r", y_label="‖FD(r) − Hĝ‖∞", x_log=True, y_log=True,
        marks=[Mark(plateau, f"λ‖∇²‖g‖ ĝ‖∞ = {plateau:.2e}", axis="y")],
        caption=(f"λ = {lam}, float64, tanh MLP 3-8-8-1, seed {ctx.seed}. The quotient of ∇L tends to "
                 f"∇²L ĝ = Hĝ + λ∇²‖g‖ ĝ, so its error stays at {plateau:.2e} as r → 0."),
    )]
