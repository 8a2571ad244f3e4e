"""Figures of :mod:`proofs.gradient_norm_penalty` (C5): the error of FD Hessian-vector products against r.

On one fixed tanh MLP (widths 3-8-8-1, batch 8, seeded by the run's seed): the forward and central
quotients of ∇L_S in float64 and float32 with the step r* their error model recommends, and the
seed's quotient of ∇L (penalized), whose error plateaus instead of going to 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from proofs.gradient_norm_penalty import oracles as orc
from proofs.gradient_norm_penalty.numeric import FD_QUOTIENTS, LOSS_GRADIENT, SEED002_PENALIZED_GRADIENT, Differenced
from verify import Figure, Mark, MLPSpec, Series, gradient, init_params, mlp_forward

#: r from 1 down to 1e-12, three points a decade
FIGURE_GRID = tuple(10.0 ** (-k / 3) for k in range(37))
FIGURE_WIDTHS = (3, 8, 8, 1)


def figure_loss(seed: int, dtype: str) -> tuple[orc.Fn, torch.Tensor]:
    """The fixed tanh MLP of the figures (widths 3-8-8-1, batch 8), seeded by ``seed``."""
    spec = MLPSpec(FIGURE_WIDTHS, "tanh")
    gen = torch.Generator().manual_seed(int(seed))
    x = torch.randn(8, FIGURE_WIDTHS[0], generator=gen, dtype=torch.float64).to(getattr(torch, dtype))
    theta = init_params(spec, seed=int(seed), dtype=dtype)
    t = orc.targets(8, 1, x)
    return (lambda th: 0.5 * ((mlp_forward(spec, th, x) - t) ** 2).sum(-1).mean()), theta


def _curves(seed: int, dtype: str, differenced: Differenced = LOSS_GRADIENT, lam: float = 1.0) -> dict[str, Any]:
    """FD errors of ``differenced`` over :data:`FIGURE_GRID` in ``dtype`` (reference Hv in float64, same point)."""
    f, theta = figure_loss(seed, dtype)
    f64, _ = figure_loss(seed, "float64")
    theta64 = theta.double()
    g64 = gradient(f64, theta64)
    v = (g64 / g64.norm()).to(theta.dtype)
    hv = orc.hvp(f64, theta64, v.double())
    grad_fn = differenced.gradient(f, lam)
    base = grad_fn(theta)
    errs = {s: [orc.fd_error(FD_QUOTIENTS[s], grad_fn, theta, v, hv, r, base=base) for r in FIGURE_GRID]
            for s in ("forward", "central")}
    w3, w4 = orc.directional_w3_w4(f64, theta64, v.double())
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
    return best, orc.loglog_slope(rs, es)


def fd_order_figures(ctx: Any) -> list[Any]:
    """Error of the forward and central FD Hessian-vector product vs r (float64 and float32)."""
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
    """The source's FD of ∇L (penalized) next to the right FD of ∇L_S: a plateau instead of O(r)."""
    lam = 1.0
    right = _curves(ctx.seed, "float64")
    wrong = _curves(ctx.seed, "float64", SEED002_PENALIZED_GRADIENT, lam=lam)
    f64, theta64, v = wrong["f64"], wrong["theta64"], wrong["v"]
    hpv = orc.penalized_hvp(f64, theta64, lam, v)
    plateau = float((hpv - wrong["hv"]).abs().max())
    series = [Series("∇L_S forward (right)", FIGURE_GRID, right["errs"]["forward"]),
              Series("∇L_S central (right)", FIGURE_GRID, right["errs"]["central"]),
              Series("∇L forward ([S002])", FIGURE_GRID, wrong["errs"]["forward"]),
              Series("∇L central ([S002])", FIGURE_GRID, wrong["errs"]["central"])]
    return [Figure(
        title="[S002]'s FD with ∇L of the penalized loss: the error plateaus", series=series,
        x_label="r", y_label="‖FD(r) − Hĝ‖∞", x_log=True, y_log=True,
        marks=[Mark(plateau, f"λ‖∇²‖g‖ ĝ‖∞ = {plateau:.2e}", axis="y")],
        caption=(f"λ = {lam}, float64, tanh MLP 3-8-8-1, seed {ctx.seed}. The quotient of ∇L tends to "
                 f"∇²L ĝ = Hĝ + λ∇²‖g‖ ĝ, so its error stays at {plateau:.2e} as r → 0."),
    )]
