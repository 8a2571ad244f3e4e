r"""Check 3, smoothness: curvature of R and of L + λR, kinks, and the safe step size 2/M.

Curvature: Lanczos :math:`\lambda_{\max}` and :math:`\lambda_{\min}`
(:func:`verify.extreme_eigenvalues` on the double-backward Hessian-vector product) of
:math:`\nabla^2 R` and :math:`\nabla^2(L + \lambda R)` at :math:`\theta_0` and two seeded random
points. :math:`M = \max \lambda_{\max}(\nabla^2(L+\lambda R))` over those points (the curvature
the descent lemma needs, C2) and the safe step size :math:`2/M`. It is an estimate from
sampled points, not a global bound: check 4 tests it along a gradient-descent trajectory. The
double-backward HVP of R is first compared with central differences of its gradient at
:math:`\theta_0` (the two routes; error-model bound as in check 2, re-checked with steps
:math:`r/4`, :math:`4r`): a mismatch is ``refuted`` (the curvature could not be trusted).

Kinks, from one-sided finite differences. With
:math:`J(h) = \frac{R(\theta+hv) - R(\theta)}{h} - \frac{R(\theta) - R(\theta-hv)}{h}` (right minus
left derivative along :math:`v`), a smooth :math:`R` has :math:`J(h) = h\,v^\top\nabla^2R\,v + O(h^2)`,
so :math:`J(h/8) \approx J(h)/8`; at a kink :math:`J` tends to the jump of the directional
derivative, :math:`J(h/8) \approx J(h)`. A kink is reported when :math:`|J(h/8)| > \tfrac12 |J(h)|`
and :math:`|J(h/8)|` exceeds ten times its round-off bound. Candidate points: :math:`\theta = 0`
(where norms are kinked), :math:`\theta_0` with half of its entries set to zero (``|w|`` at 0), and
points found by scanning two random lines :math:`\theta + tv`, :math:`t \in [-1, 1]`: the largest
jump of :math:`t \mapsto \nabla R(\theta + tv)^\top v` between grid points is bisected down to
:math:`h/100` (a ReLU-type kink is found when one of these lines crosses it; kinks away from the
probed points and lines are not excluded). Only jumps of the first derivative count as kinks: a
:math:`C^1` function whose second derivative jumps (``relu(x)**2``, the max-norm distance) is
reported smooth, with M measured where the points fall.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from verify.claims import Figure, Series, VerdictKind
from verify.errors import NumericError, UserCodeError
from verify.numeric import extreme_eigenvalues, fd_hvp, fd_step, hvp_double_backward, hvp_operator
from verify.regularizers.context import Context, blocked, make_verdict
from verify.regularizers.model import autograd_grad

__all__ = ["check_smoothness", "one_sided_jump"]

CHECK = "smoothness"
TITLE = "Smoothness: no kinks, and the curvature bound M of L + λR (safe step 2/M)"
STATEMENT = (r"\partial^+_v R = \partial^-_v R\ \text{(no kinks)},\qquad "
             r"\nabla^2(L+\lambda R)(\theta) \preceq M I,\qquad \alpha_{\text{safe}} < 2/M")
GRID = 48


def one_sided_jump(f: Any, theta: torch.Tensor, v: torch.Tensor, h: float, u: float) -> dict[str, Any]:
    """One-sided directional derivatives at ``theta`` along ``v`` with steps ``h`` and ``h/8``."""
    out: dict[str, Any] = {"h": h}
    r0 = float(f(theta).detach())
    for key, step in (("coarse", h), ("fine", h / 8)):
        rp, rm = float(f(theta + step * v).detach()), float(f(theta - step * v).detach())
        right, left = (rp - r0) / step, (r0 - rm) / step
        out[key] = {"left": left, "right": right, "jump": right - left,
                    "noise": 10 * 4 * u * (abs(rp) + abs(rm) + 2 * abs(r0)) / step}
    c, f8 = out["coarse"]["jump"], out["fine"]["jump"]
    out["kinked"] = bool(abs(f8) > 0.5 * abs(c) and abs(f8) > out["fine"]["noise"] and abs(f8) > 0)
    return out


def _directional(reg: Any, theta: torch.Tensor, v: torch.Tensor) -> float:
    return float(autograd_grad(reg, theta)[1] @ v)


def _scan_line(reg: Any, theta: torch.Tensor, v: torch.Tensor, h: float) -> tuple[float, int]:
    """Bisect the largest jump of the directional derivative along ``theta + t v``; returns (t*, evaluations)."""
    ts = torch.linspace(-1.0, 1.0, GRID, dtype=torch.float64).tolist()
    ds = [_directional(reg, theta + t * v, v) for t in ts]
    jumps = [abs(ds[i + 1] - ds[i]) for i in range(GRID - 1)]
    i = max(range(GRID - 1), key=lambda j: jumps[j])
    a, b, da, db = ts[i], ts[i + 1], ds[i], ds[i + 1]
    count = GRID
    while b - a > h / 100:
        m = 0.5 * (a + b)
        dm = _directional(reg, theta + m * v, v)
        count += 1
        if abs(dm - da) >= abs(db - dm):
            b, db = m, dm
        else:
            a, da = m, dm
    return 0.5 * (a + b), count


def _hvp_crosscheck(ctx: Context) -> list[dict[str, Any]]:
    """Double-backward HVP of R against central differences of its gradient (the two routes), at θ0."""
    reg, theta = ctx.reg, ctx.task.theta0
    u, tol = ctx.u, ctx.tol
    grad_fn = lambda t: autograd_grad(reg, t)[1]
    rows = []
    for j, v in enumerate(ctx.directions(2, ctx.task.n, salt=31)):
        ad = hvp_double_backward(reg, theta, v)
        r0 = fd_step(ctx.value_dtype, "central", max(1.0, float(theta.abs().max())))
        row: dict[str, Any] = {"direction": j, "norm_autograd": float(torch.linalg.vector_norm(ad))}
        for r in (r0, r0 / 4, 4 * r0):
            f1, f2 = fd_hvp(grad_fn, theta, v, step=r), fd_hvp(grad_fn, theta, v, step=2 * r)
            size = float(torch.linalg.vector_norm(grad_fn(theta + r * v))) + float(
                torch.linalg.vector_norm(grad_fn(theta - r * v)))
            bound = (10 * (float(torch.linalg.vector_norm(f1 - f2)) / 3 + u * size / (2 * r))
                     + tol.atol(float(torch.linalg.vector_norm(ad))))
            err = float(torch.linalg.vector_norm(ad - f1))
            row.setdefault("steps", []).append({"step": r, "abs_err": err, "bound": bound})
            if err <= bound:
                break
        row["violated"] = all(s["abs_err"] > s["bound"] for s in row["steps"]) and len(row["steps"]) == 3
        rows.append(row)
    return rows


def _finite(reg: Any, theta: torch.Tensor) -> bool:
    try:
        reg(theta)
        return True
    except UserCodeError:
        return False


def _kinks(ctx: Context) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    reg, task = ctx.reg, ctx.task
    u = ctx.u
    probes: list[dict[str, Any]] = []
    gen = torch.Generator().manual_seed(ctx.seed + 404)
    half = task.theta0.clone()
    half[(torch.rand(task.n, generator=gen, dtype=torch.float64) < 0.5).to(half.device)] = 0.0
    candidates: list[tuple[str, torch.Tensor, torch.Tensor]] = []
    dirs = ctx.directions(4, task.n, salt=21)
    candidates.append(("theta = 0", torch.zeros_like(task.theta0), dirs[0]))
    candidates.append(("theta0 with half of its entries set to 0", half, dirs[1]))
    for j, base in enumerate(ctx.points(3, salt=9)[1:]):
        h = 1e-4 * max(1.0, float(base.abs().max()))
        if not _finite(reg, base):
            continue
        t, evals = _scan_line(reg, base, dirs[2 + j], h)
        candidates.append((f"line scan #{j + 1}: random point + t·v at t = {t:.12g}", base + t * dirs[2 + j],
                           dirs[2 + j]))
    ctx.step("one-sided differences (kinks)")
    for where, theta, v in candidates:
        h = 1e-4 * max(1.0, float(theta.abs().max()))
        if not (_finite(reg, theta) and _finite(reg, theta + h * v) and _finite(reg, theta - h * v)):
            probes.append({"where": where, "skipped": "R is not finite there"})
            continue
        res = one_sided_jump(reg, theta, v, h, u)
        res["where"] = where
        idx = int(torch.argmin(theta.abs()))
        res["nearest_zero_coordinate"] = {"name": task.coordinate(idx), "value": float(theta[idx])}
        probes.append(res)
        if res["kinked"]:
            return res, probes
    return None, probes


def _spectra(ctx: Context, rows: list[dict[str, Any]]) -> None:
    """Lanczos extremes of the Hessians of R, L + λR and L at θ0 and two random points (the large-model
    budget: R and L + λR at θ0 and one random point), a row per point appended to ``rows``."""
    reg, task = ctx.reg, ctx.task
    assert reg is not None
    F = ctx.objective()
    budget = ctx.budget
    functions = [("R", reg), ("L+lamR", F)] + ([("L", task.loss)] if budget.spectrum_of_L else [])
    for p, theta in enumerate(ctx.points(budget.spectra_points)):
        ctx.step(f"Lanczos on {', '.join(k for k, _ in functions)} at point {p}")
        row: dict[str, Any] = {"point": p}
        for key, f in functions:
            hi, lo = extreme_eigenvalues(hvp_operator(f, theta, route="double_backward"), task.n,
                                         dtype=ctx.dtype, device=ctx.device, tol=budget.lanczos_tol,
                                         seed=ctx.seed)
            row[key] = {"lambda_max": hi.value, "lambda_min": lo.value, "method": hi.method,
                        "matvecs": hi.matvecs + lo.matvecs}
        rows.append(row)


def _kink_message(kink: dict[str, Any], M: float, curv: str) -> str:
    """The ``refuted`` message: where the one-sided derivatives differ, and M away from the kink."""
    fine = kink["fine"]
    zero = kink["nearest_zero_coordinate"]
    near = ("" if kink["where"] == "theta = 0"
            else f" (parameter closest to 0: {zero['name']} = {zero['value']:.3g})")
    return (f"Not smooth: one-sided derivatives differ by {fine['jump']:.6g} (left {fine['left']:.6g}, right "
            f"{fine['right']:.6g}) at {kink['where']}, and the difference does not shrink with the step "
            f"(h = {kink['h']:.2g}: {kink['coarse']['jump']:.6g}; h/8: {fine['jump']:.6g}), so R has a kink "
            f"there{near}. Its Hessian is unbounded near the kink: no global "
            f"M exists. Away from kinks M ≈ {M:.4g} (step 2/M ≈ {2 / M:.4g}). {curv}.")


def check_smoothness(ctx: Context) -> Any:
    started = time.perf_counter()
    stop = blocked(ctx, CHECK, TITLE, STATEMENT, "double")
    if stop is not None:
        return stop
    rows: list[dict[str, Any]] = []
    try:
        _spectra(ctx, rows)
        kink, probes = _kinks(ctx)
        routes = _hvp_crosscheck(ctx)
    except (UserCodeError, NumericError) as exc:
        return make_verdict(ctx, CHECK, VerdictKind.ERROR, f"Curvature could not be measured: {exc}",
                            title=TITLE, statement=STATEMENT, numeric={"curvature": rows}, started=started)
    M = max(r["L+lamR"]["lambda_max"] for r in rows)
    M_abs = max(max(abs(r["L+lamR"]["lambda_max"]), abs(r["L+lamR"]["lambda_min"])) for r in rows)
    if not (M > 0 and math.isfinite(M)):
        M = M_abs
    ctx.facts.M = M
    ctx.facts.kinked = kink is not None
    numeric: dict[str, Any] = {
        "lam": ctx.lam, "M": M, "safe_step_2_over_M": 2.0 / M if M > 0 else None,
        "gradient_lipschitz_max_abs_eigenvalue": M_abs, "curvature": rows, "kink_probes": probes,
        "M_obtained_by": f"max λ_max(∇²(L+λR)) over {len(rows)} points (Lanczos, tol {ctx.budget.lanczos_tol:g})",
        "figures": [_spectrum_figure(rows)], "hvp_double_backward_vs_fd": routes,
    }
    curv = "; ".join(
        f"point {r['point']}: λ(∇²R) ∈ [{r['R']['lambda_min']:.3g}, {r['R']['lambda_max']:.3g}], "
        f"λ(∇²(L+λR)) ∈ [{r['L+lamR']['lambda_min']:.3g}, {r['L+lamR']['lambda_max']:.3g}]" for r in rows)
    bad = [r for r in routes if r["violated"]]
    if bad:
        b = bad[0]["steps"][0]
        msg = (f"autograd's second derivative of R is wrong: at θ0 the double-backward Hessian-vector product "
               f"differs from central differences of the gradient by {b['abs_err']:.3g} (bound {b['bound']:.3g}, "
               "confirmed with steps r/4 and 4r), so the curvature (and M) computed from it cannot be trusted — "
               "a custom autograd.Function whose backward is differentiable but not the derivative of the gradient, "
               "or a detached piece of the gradient's graph (a quantity held constant with .detach()).")
        ctx.facts.M = None
        return make_verdict(ctx, CHECK, VerdictKind.REFUTED, msg, title=TITLE, statement=STATEMENT,
                            numeric=numeric, counterexample={"hvp_routes": bad[0]}, started=started)
    if kink is not None:
        counter = {"where": kink["where"], "one_sided_derivatives": kink["fine"], "coarse": kink["coarse"],
                   "nearest_zero_coordinate": kink["nearest_zero_coordinate"]}
        return make_verdict(ctx, CHECK, VerdictKind.REFUTED, _kink_message(kink, M, curv), title=TITLE,
                            statement=STATEMENT, numeric=numeric, counterexample=counter, started=started)
    msg = (f"No kink found at the probed points and along two random lines ({len(probes)} one-sided probes; "
           f"a kink elsewhere is not excluded). M ≈ {M:.4g} (largest curvature of L + λR, "
           f"λ = {ctx.lam:g}), safe step size 2/M ≈ {2 / M:.4g}. {curv}.")
    return make_verdict(ctx, CHECK, VerdictKind.VERIFIED, msg, title=TITLE, statement=STATEMENT,
                        numeric=numeric, started=started)


def _spectrum_figure(rows: list[dict[str, Any]]) -> dict[str, Any]:
    xs = [float(r["point"]) for r in rows]
    series = [Series(f"{end} {key}", xs, [r[key][f"lambda_{end}"] for r in rows], style="points")
              for key in ("R", "L+lamR") for end in ("max", "min")]
    return Figure("Hessian spectrum extremes at the sampled points", series, x_label="point (0 = θ0)",
                  y_label="eigenvalue", caption="Lanczos λ_max and λ_min of ∇²R and ∇²(L+λR)").to_json()
