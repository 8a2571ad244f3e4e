r"""Check 5, constraint equivalent (C4): the penalty λR as a constraint R ≤ k on a convex task.

In float64, whatever dtype the other checks use (the solvers' accuracy is the question here, not the
dtype's). On softmax regression (convex J, C1) for the built-in tasks; on the user's own model when one
is given, where C4's hypotheses are met: the check is ``not-applicable`` (with the reason) when J is
not convex there (the midpoint test below, applied to J, finds a violation), when the model or R is
stochastic, or when the model has more than ``ORACLE_LIMIT`` parameters (the SLSQP oracle on
finite differences needs O(n) evaluations per gradient and O(n²) memory). Steps:

1. convexity of R, the hypothesis of C4(b): the midpoint inequality
   :math:`R(\tfrac{a+b}2) \le \tfrac{R(a)+R(b)}2` on 24 seeded pairs (``compare_leq`` at the
   scale :math:`\max(|R(a)|, |R(b)|)`); a violation makes the check ``not-applicable`` with that reason;
2. for each λ of the grid, :math:`\theta_\lambda = \arg\min J + \lambda R` by L-BFGS (scipy, autograd
   gradient, ``gtol = 1e-10``, at most 2000 iterations, from :math:`\theta_0`; for a kinked R the
   coordinates found kinked are then held fixed and the others re-minimized) and
   :math:`k(\lambda) = R(\theta_\lambda)`;
3. KKT residual :math:`\|\nabla J + \lambda \nabla R\|` at :math:`\theta_\lambda`, also with :math:`\nabla R`
   by central differences (independent of autograd: a wrong gradient makes L-BFGS optimize another
   penalty, ``refuted``); for a kinked R the
   distance of :math:`-\nabla J` to :math:`\lambda` times the box of one-sided partial derivatives of R
   on the coordinates where they differ (the minimum-norm subgradient residual; exact for a separable
   R such as L1, an approximation otherwise). It must be below :math:`\max(10^{-6}, 10^3u)` of
   :math:`\|\nabla J\| + \lambda\|\nabla R\|` (or of the gradient norm at the start if larger), else
   the optimizer did not converge (``inconclusive``);
4. the oracle (independent of autograd): scipy SLSQP with finite-difference gradients solves
   :math:`\min J` s.t. :math:`R \le k(\lambda)` at the run's λ; C4(a) says
   :math:`J(\theta_{\text{con}}) \ge J(\theta_\lambda)`: a feasible point better by more than
   :math:`\tau = 100\sqrt{u}\,(|J| + \lambda|k|)` (the accuracy of a solver on forward differences)
   refutes the equivalence. The message also reports the multiplier estimate
   :math:`-\nabla J\cdot\nabla R/\|\nabla R\|^2` at the SLSQP point, on the coordinates where R is
   differentiable there (kinks looked for at SLSQP's resolution, ``MULT_KINK_STEP``): evidence, not a
   criterion — SLSQP on finite differences is accurate in J, not in its gradients, and for a kinked R
   the criterion is the subgradient KKT residual of step 3;
5. C4(c): :math:`k(\lambda)` non-increasing and :math:`J(\theta_\lambda)` non-decreasing along the grid
   (up to :math:`\tau`), else ``refuted``.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import scipy.optimize as so
import torch

from verify.claims import Figure, Series, VerdictKind
from verify.errors import UserCodeError
from verify.numeric import fd_gradient, fd_step
from verify.regularizers._applies import midpoint_convexity, not_applicable_to_model
from verify.regularizers.context import Context, blocked, make_verdict
from verify.regularizers.model import Regularizer, Task, autograd_grad
from verify.regularizers.smoothness import one_sided_jump

__all__ = ["check_constraint"]

CHECK = "constraint"
TITLE = "Constraint equivalent (C4): the penalized optimum solves min J s.t. R ≤ k(λ), k(λ) monotone"
STATEMENT = (r"\theta_\lambda=\arg\min_\theta J+\lambda R\ \Rightarrow\ \theta_\lambda\in\arg\min\{J(\theta):"
             r"R(\theta)\le R(\theta_\lambda)\},\quad \nabla J(\theta_\lambda)+\lambda\,\partial R(\theta_\lambda)"
             r"\ni 0,\quad \lambda\mapsto R(\theta_\lambda)\ \text{non-increasing}")
HYPOTHESES = ["J = mean softmax cross-entropy of softmax regression (convex, C1)", "R convex (tested by midpoints)",
              "global minimizers (convex problem)"]
USER_HYPOTHESES = ["J = your model's loss, convex (no negative Hessian eigenvalue at 3 points, no midpoint violation: "
                   "sampled, not proved)", "R convex (tested by midpoints)", "global minimizers (convex problem)"]
KKT_REL = 1e-6
#: relative step at which the multiplier estimate looks for kinks at the SLSQP point (its resolution)
MULT_KINK_STEP = 1e-3
#: relative difference of the multiplier estimate from λ beyond which the message explains it
MULT_REL = 0.05


def kkt_rel(dtype: torch.dtype) -> float:
    """Relative KKT tolerance: 1e-6, or 1000·eps where the dtype is coarser (float32: 1.2e-4)."""
    return max(KKT_REL, 1e3 * torch.finfo(dtype).eps)


def _np(f: Any, task_theta: torch.Tensor) -> tuple[Any, Any]:
    def value(x: np.ndarray) -> float:
        return float(f(torch.as_tensor(x, dtype=task_theta.dtype, device=task_theta.device)).detach())

    def both(x: np.ndarray) -> tuple[float, np.ndarray]:
        v, g = autograd_grad(f, torch.as_tensor(x, dtype=task_theta.dtype, device=task_theta.device))
        return float(v), g.detach().cpu().numpy().astype(np.float64)
    return value, both


def check_constraint(ctx: Context) -> Any:
    started = time.perf_counter()
    stop = blocked(ctx, CHECK, TITLE, STATEMENT, "grad")
    if stop is not None:
        return stop
    assert ctx.reg is not None
    ctx = ctx.in_float64()  # the solvers' accuracy is the question: float64 whatever the run's dtype
    lams = sorted(ctx.lams)
    user = ctx.task.kind == "user"
    where = ("your model (J showed no midpoint-convexity violation: sampled, not proved)"
             if user else "the convex softmax-regression task (C1)")
    numeric: dict[str, Any] = {"task": f"check 5 runs on {where}", "dtype": "float64", "lams": lams,
                               "hypotheses": USER_HYPOTHESES if user else HYPOTHESES}

    def verdict(kind: VerdictKind, msg: str, counter: dict | None = None) -> Any:
        return make_verdict(ctx, CHECK, kind, msg, title=TITLE, statement=STATEMENT, numeric=numeric,
                            counterexample=counter, hypotheses=numeric["hypotheses"], started=started)

    if ctx.facts.stochastic:
        return verdict(VerdictKind.NOT_APPLICABLE, "Does not apply: R is stochastic, so the penalized problem has no "
                       "fixed optimum (C4 is about a deterministic R); the other checks used a fixed seed per call.")
    if user and ctx.facts.float64_unavailable:
        return verdict(VerdictKind.NOT_APPLICABLE, "Does not apply: your model does not run in float64, and the "
                       f"constraint's solvers need it ({ctx.facts.float64_unavailable.splitlines()[0][:200]}).")
    problem = not_applicable_to_model(ctx, ctx.task) if user else None
    if problem is not None:
        numeric.update(problem[1])
        return verdict(VerdictKind.NOT_APPLICABLE, f"Does not apply: {problem[0]}")
    task = ctx.convex_task()
    numeric["task"] = f"{task.describe()} — {numeric['task']}"
    reg = Regularizer(ctx.fn, task, ctx.seed, kind=ctx.reg.kind)
    try:
        ctx.step("midpoint convexity test of R")
        convex = midpoint_convexity(reg, task.theta0, ctx)
        numeric["convexity_midpoint_test"] = convex
        path = _path(task.loss, reg, task, lams, ctx, polish=convex["status"] != "violated")
    except UserCodeError as exc:
        place = "your model" if user else "the convex task"
        return verdict(VerdictKind.INCONCLUSIVE, f"Does not apply: R could not be evaluated on {place} ({exc}).")
    numeric["path"] = path
    numeric["figures"] = [Figure("Constraint level k(λ) = R(θ_λ) of the penalized optimum", [
        Series("k(λ) = R(θ_λ)", lams, [p["k"] for p in path])], x_label="λ", y_label="k(λ)", x_log=True,
        caption="C4(c): non-increasing in λ on a convex problem.").to_json()]
    u = ctx.u
    tau = [100 * math.sqrt(u) * (abs(p["J"]) + p["lam"] * abs(p["k"]) + 1e-12) for p in path]
    found = _path_problem(ctx, path, convex, tau)
    if found is None:
        found = _against_oracle(ctx, reg, task, lams, path, tau, numeric)
    return verdict(*found)


def _path_problem(ctx: Context, path: list[dict[str, Any]], convex: dict[str, Any],
                  tau: list[float]) -> tuple[VerdictKind, str, dict | None] | None:
    """Why the penalized path does not support C4 (R not convex, a wrong gradient, an optimum not found,
    k(λ) not monotone), as ``(kind, message, counterexample)``; None when it does."""
    if convex["status"] == "violated":
        return (VerdictKind.NOT_APPLICABLE,
                f"Does not apply: C4(b) needs a convex R, and R is not convex: R((a+b)/2) = "
                f"{convex['R_mid']:.6g} > (R(a)+R(b))/2 = {0.5 * (convex['R_a'] + convex['R_b']):.6g} for a "
                f"seeded pair (spread {convex['spread']}). k(λ) is reported as evidence only.", None)
    bad_fd = [p for p in path if not p.get("fd_kkt", {"ok": True})["ok"]
              and p["fd_kkt"]["residual"] > 10 * p["kkt_residual"]]
    if bad_fd:
        p = bad_fd[0]
        return (VerdictKind.REFUTED,
                f"θ_λ is not a minimizer of J + λR at λ = {p['lam']:g}: with ∇R from central finite differences "
                f"(independent of autograd) ‖∇J + λ∇R‖ = {p['fd_kkt']['residual']:.3g} > bound "
                f"{p['fd_kkt']['bound']:.3g}, although the optimizer, using autograd's gradient, reports "
                f"{p['kkt_residual']:.3g}: autograd's gradient of R is wrong (see the gradient check), so the "
                "penalty actually optimized is not λR.", {"lam": p["lam"], "fd_kkt": p["fd_kkt"]})
    bad_kkt = [p for p in path if not p["kkt_ok"]]
    if bad_kkt:
        p = bad_kkt[0]
        return (VerdictKind.INCONCLUSIVE,
                f"The penalized optimum was not found to tolerance at λ = {p['lam']:g}: KKT residual "
                f"{p['kkt_residual']:.3g} > {kkt_rel(ctx.value_dtype):.2g}·{p['kkt_scale']:.3g} "
                f"(L-BFGS: {p['solver']}); or J + λR has no minimizer (a penalty unbounded below along a "
                "direction where J is flat, e.g. a linear R).", None)
    for i in range(len(path) - 1):
        a, b = path[i], path[i + 1]
        if b["k"] > a["k"] + tau[i] or b["J"] < a["J"] - tau[i]:
            return (VerdictKind.INCONCLUSIVE,
                    f"k(λ) is not monotone: λ {a['lam']:g} → {b['lam']:g} changes k from {a['k']:.10g} to "
                    f"{b['k']:.10g} and J from {a['J']:.10g} to {b['J']:.10g}. For global minimizers that "
                    "cannot happen (C4(c)), so L-BFGS stopped at a local minimum: R is probably not convex at "
                    "a scale the sampled midpoint test does not see. The gradient and KKT checks passed, so "
                    "this is not a counterexample to the equivalence.",
                    {"lams": [a["lam"], b["lam"]], "k": [a["k"], b["k"]]})
    return None


def _against_oracle(ctx: Context, reg: Regularizer, task: Task, lams: list[float], path: list[dict[str, Any]],
                    tau: list[float], numeric: dict[str, Any]) -> tuple[VerdictKind, str, dict | None]:
    """C4(a) at the λ of the grid closest to ``ctx.lam``: SLSQP on min J s.t. R ≤ k(λ) finds no better J."""
    at = min(range(len(path)), key=lambda i: abs(math.log(path[i]["lam"]) - math.log(ctx.lam)) if ctx.lam > 0 else 0)
    try:
        ctx.step("constrained oracle (SLSQP)")
        oracle = _oracle(task.loss, reg, task, path[at])
    except UserCodeError as exc:
        return VerdictKind.INCONCLUSIVE, f"The constrained oracle (SLSQP) could not evaluate R: {exc}.", None
    numeric["oracle"] = oracle
    p = path[at]
    if oracle["R"] <= p["k"] + tau[at] and oracle["J"] < p["J"] - tau[at]:
        return (VerdictKind.REFUTED,
                f"C4(a) fails at λ = {p['lam']:g}: SLSQP (finite-difference gradients) finds θ with R = "
                f"{oracle['R']:.10g} ≤ k = {p['k']:.10g} and J = {oracle['J']:.10g} < J(θ_λ) = {p['J']:.10g} "
                f"(by more than τ = {tau[at]:.2g}): the penalized 'optimum' is not optimal for the constraint "
                "— its gradient (used by L-BFGS) is probably wrong.",
                {"lam": p["lam"], "k": p["k"], "J_penalized": p["J"], "J_constrained": oracle["J"]})
    kinked = any(p.get("subgradient") for p in path)
    ks = ", ".join(format(q["k"], ".4g") for q in path)
    place = "your model" if task.kind == "user" else "the convex task"
    msg = (f"On {place}, λ ∈ {lams}: KKT residuals ≤ {max(q['kkt_residual'] for q in path):.2g} "
           f"({'minimum-norm subgradient on kinked coordinates' if kinked else '‖∇J + λ∇R‖'}); SLSQP on "
           f"min J s.t. R ≤ k(λ={p['lam']:g}) = {p['k']:.6g} reaches J = {oracle['J']:.10g} vs J(θ_λ) = "
           f"{p['J']:.10g} ({_multiplier_text(oracle, p['lam'], task.n)}); k(λ) is non-increasing: {ks}.")
    if kinked:
        msg += (" R is kinked, so the criterion is the KKT condition with the subgradient (−∇J ∈ λ∂R, residual "
                "above), not a gradient multiplier.")
    return VerdictKind.VERIFIED, msg, None


def _multiplier_text(oracle: dict[str, Any], lam: float, n: int) -> str:
    """The SLSQP multiplier estimate against λ, with why it may differ (it is evidence, not the criterion)."""
    mult, used = oracle["multiplier"], oracle["multiplier_coordinates"]
    kinked = n - used
    where = "" if kinked == 0 else (
        f" (from the {used} of {n} coordinates where R is differentiable at the SLSQP point; the {kinked} kinked "
        f"{'one fixes' if kinked == 1 else 'ones fix'} no multiplier, only −∂J/∂θ_i ∈ λ·[left, right])")
    if mult is None:
        return f"no multiplier estimate: ∇R vanishes on every coordinate where R is differentiable{where}"
    rel = abs(mult - lam) / lam
    text = f"multiplier estimate −∇J·∇R/‖∇R‖² = {mult:.4g}{where} vs λ = {lam:g}, {100 * rel:.2g}% off"
    if rel > MULT_REL:
        text += (f"; it is evidence only: SLSQP on finite-difference gradients ({oracle['message']} after "
                 f"{oracle['iterations']} iterations) is accurate in J, to about √u, not in its gradients, and the "
                 "criteria are the KKT residual and the comparison of J")
    return text


def _kinked_mask(reg: Regularizer, theta: torch.Tensor) -> tuple[list[bool], list[tuple[float, float]]]:
    """Per coordinate: is R kinked along it at ``theta``, and its (left, right) partial derivatives."""
    u = torch.finfo(theta.dtype).eps
    h = 1e-6 * max(1.0, float(theta.abs().max()))
    mask, sides = [], []
    for i in range(theta.numel()):
        e = torch.zeros_like(theta)
        e[i] = 1.0
        jump = one_sided_jump(reg, theta, e, h, u)
        mask.append(bool(jump["kinked"]))
        sides.append((jump["fine"]["left"], jump["fine"]["right"]))
    return mask, sides


def _fd_stationarity(J: Any, reg: Regularizer, theta: torch.Tensor, lam: float, rel: float) -> dict[str, Any]:
    """‖∇J + λ∇R‖ with ∇R by central differences (independent of autograd), and its error bound.

    The bound is 10·λ·‖∇_r R − ∇_{2r} R‖ (Richardson estimate of the O(r²) error) plus round-off
    λ·u·|R|/r per entry, plus the optimizer's tolerance KKT_REL·(‖∇J‖ + λ‖∇R‖).
    """
    u = torch.finfo(theta.dtype).eps
    r = fd_step(theta.dtype, "central", max(1.0, float(theta.abs().max())))
    g1, g2 = fd_gradient(reg, theta, step=r), fd_gradient(reg, theta, step=2 * r)
    _, gJ = autograd_grad(J, theta)
    value = abs(float(reg(theta).detach()))
    resid = float(torch.linalg.vector_norm(gJ + lam * g1))
    scale = float(torch.linalg.vector_norm(gJ)) + lam * float(torch.linalg.vector_norm(g1))
    bound = (10 * lam * float(torch.linalg.vector_norm(g1 - g2)) + lam * u * value / r * math.sqrt(theta.numel())
             + rel * scale)
    return {"residual": resid, "bound": bound, "step": r, "ok": resid <= bound}


def _stationarity(J: Any, reg: Regularizer, theta: torch.Tensor, lam: float,
                  kinks: tuple[list[bool], list[tuple[float, float]]] | None) -> tuple[float, float, float]:
    """(KKT residual, its scale, R(theta)); on kinked coordinates the distance of -∂J/∂θ_i to λ[left, right]."""
    _, gJ = autograd_grad(J, theta)
    k, gR = autograd_grad(reg, theta)
    scale = float(torch.linalg.vector_norm(gJ)) + lam * float(torch.linalg.vector_norm(gR))
    resid = gJ + lam * gR
    if kinks is not None:
        for i, (kinked, (left, right)) in enumerate(zip(*kinks)):
            if kinked:
                lo, hi = min(left, right), max(left, right)
                target = -float(gJ[i])
                resid[i] = max(lam * lo - target, target - lam * hi, 0.0)
    return float(torch.linalg.vector_norm(resid)), scale, float(k)


def _active_set(J: Any, reg: Regularizer, both: Any, x: np.ndarray, lam: float, as_t: Any,
                opts: dict[str, Any], g0: float, rel: float) -> tuple[np.ndarray, float, float, float, str, int]:
    """Polish a kinked problem: hold the kinked coordinates whose subgradient condition holds, re-minimize the rest.

    Up to 4 rounds: entries within 1e-4 of 0 are set to 0 when that does not increase J + λR; a kinked
    coordinate whose condition fails is released. Returns
    (x, residual, scale, R(x), description, number of kinked coordinates).
    """
    rounds = 0
    while rounds < 4:
        rounds += 1
        snapped = x.copy()
        snapped[np.abs(x) < 1e-4 * max(1.0, float(np.abs(x).max()))] = 0.0  # kinks at 0 (L1, group norms)
        f_x, f_s = both(x)[0], both(snapped)[0]
        if f_s <= f_x + 1e-13 * abs(f_x):
            x = snapped
        kinks = _kinked_mask(reg, as_t(x))
        _, gJ = autograd_grad(J, as_t(x))
        hold = np.array([m and min(l_, r_) * lam <= -float(gJ[i]) <= max(l_, r_) * lam
                         for i, (m, (l_, r_)) in enumerate(zip(*kinks))])
        resid, scale, k = _stationarity(J, reg, as_t(x), lam, kinks)
        if resid <= rel * max(scale, g0) or hold.all():
            break
        free = ~hold

        def sub(z: np.ndarray, x=x, free=free) -> tuple[float, np.ndarray]:
            full = x.copy()
            full[free] = z
            v, g = both(full)
            return v, g[free]
        res = so.minimize(sub, x[free], jac=True, method="L-BFGS-B", options=opts)
        x = x.copy()
        x[free] = res.x
    kinks = _kinked_mask(reg, as_t(x))
    resid, scale, k = _stationarity(J, reg, as_t(x), lam, kinks)
    return (x, resid, max(scale, g0), k, f"; then {rounds} active-set round(s): kinked coordinates that satisfy their "
            "subgradient condition held fixed, the others re-minimized", int(sum(kinks[0])))


def _path(J: Any, reg: Regularizer, task: Any, lams: list[float], ctx: Context,
          polish: bool = True) -> list[dict[str, Any]]:
    start = task.theta0.detach().cpu().numpy().astype(np.float64)
    out = []
    opts = {"gtol": 1e-10, "ftol": 1e-16, "maxiter": 2000}
    as_t = lambda z: torch.as_tensor(z, dtype=task.theta0.dtype, device=task.theta0.device)
    rel = kkt_rel(ctx.value_dtype)  # R computed in float32 is only that accurate
    for lam in lams:
        ctx.step(f"penalized optimum at λ = {lam:g}")
        F = lambda t, lam=lam: J(t) + lam * reg(t)
        _, both = _np(F, task.theta0)
        g0 = float(np.linalg.norm(both(start)[1]))  # the optimizer's tolerance is relative to its start
        res = so.minimize(both, start, jac=True, method="L-BFGS-B", options=opts)
        x = res.x
        resid, scale, k = _stationarity(J, reg, as_t(x), lam, None)
        scale = max(scale, g0)
        row: dict[str, Any] = {"lam": lam, "solver": f"L-BFGS-B, {res.nit} iterations, {res.message}"}
        if polish and (ctx.facts.kinked or resid > rel * scale):
            x, resid, scale, k, note, kinked = _active_set(J, reg, both, x, lam, as_t, opts, g0, rel)
            row["solver"] += note
            if kinked:
                row["subgradient"] = {"kinked_coordinates": kinked, "method": "one-sided partial derivatives on "
                                      "kinked coordinates (exact for separable R such as L1)"}
        theta = as_t(x)
        row.update(k=k, J=float(J(theta).detach()), kkt_residual=resid, kkt_scale=scale,
                   kkt_ok=resid <= rel * max(scale, 1e-300))
        if "subgradient" not in row:
            row["fd_kkt"] = _fd_stationarity(J, reg, theta, lam, rel)
        out.append(row)
    return out


def _oracle(J: Any, reg: Regularizer, task: Any, p: dict[str, Any]) -> dict[str, Any]:
    jv, _ = _np(J, task.theta0)
    rv, _ = _np(reg, task.theta0)
    x0 = np.zeros(task.n)
    res = so.minimize(jv, x0, method="SLSQP", constraints=[{"type": "ineq", "fun": lambda x: p["k"] - rv(x)}],
                      options={"ftol": 1e-14, "maxiter": 60})
    theta = torch.as_tensor(res.x, dtype=task.theta0.dtype, device=task.theta0.device)
    _, gJ = autograd_grad(J, theta)
    _, gR = autograd_grad(reg, theta)
    # SLSQP (finite differences, few iterations) leaves coordinates that belong on a kink (0 for L1) only
    # near it, where ∇R is one side's derivative while ∂J/∂θ_i may take any value of λ·[left, right]:
    # those coordinates say nothing about the multiplier. Kinks are looked for at SLSQP's resolution.
    h = MULT_KINK_STEP * max(1.0, float(theta.abs().max()))
    kinked = [i for i in range(task.n)
              if one_sided_jump(reg, theta, torch.eye(task.n, dtype=theta.dtype, device=theta.device)[i], h,
                                float(torch.finfo(theta.dtype).eps))["kinked"]]
    smooth = torch.ones(task.n, dtype=torch.bool, device=theta.device)
    smooth[kinked] = False
    gJs, gRs = gJ[smooth], gR[smooth]
    mult = -float(gJs @ gRs) / float(gRs @ gRs) if float(gRs @ gRs) > 0 else None
    return {"J": jv(res.x), "R": rv(res.x), "multiplier": mult, "iterations": int(res.nit),
            "multiplier_coordinates": int(smooth.sum()), "kinked_coordinates": len(kinked),
            "multiplier_all_coordinates": -float(gJ @ gR) / max(float(gR @ gR), 1e-300),
            "message": str(res.message), "start": "theta = 0", "gradients": "2-point finite differences (scipy)"}
