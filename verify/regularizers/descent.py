r"""Check 4, descent safety: gradient descent on L + λR with the measured M (claim C2).

With :math:`F = L + \lambda R`, :math:`g = \nabla F(\theta)` and :math:`M` from check 3, every step
of gradient descent with :math:`\alpha = 1/M` is tested against the descent lemma

.. math:: F(\theta - \alpha g) \le F(\theta) - \alpha\bigl(1 - \tfrac{\alpha M}{2}\bigr)\|g\|^2,

judged by :func:`verify.compare_leq` at the scale :math:`\alpha\|g\|^2` (the terms that cancel, C2)
with :math:`|F(\theta)|` as round-off noise. A violation means the sampled M is not a curvature
bound along the trajectory: the "safe" step 2/M is not safe (``refuted``; the evidence re-measures
the curvature :math:`g^\top\nabla^2F(\xi)g/\|g\|^2` along the offending segment). With
:math:`\alpha = 2.5/M` the lemma no longer promises a decrease: the evidence says whether F
actually rose (information, not a failure).
"""

from __future__ import annotations

import time
from typing import Any

import torch

from verify.claims import Figure, Mark, Series, Tolerance, VerdictKind, compare_leq
from verify.errors import UserCodeError
from verify.numeric import hvp_double_backward, roundoff_spread
from verify.regularizers.context import Context, blocked, make_verdict
from verify.regularizers.model import autograd_grad

__all__ = ["check_descent"]

CHECK = "descent"
TITLE = "Descent safety: gradient descent on L + λR with α = 1/M obeys the descent lemma"
STATEMENT = (r"F(\theta-\alpha g) \le F(\theta) - \alpha\left(1-\tfrac{\alpha M}{2}\right)\|g\|^2,\quad "
             r"F = L+\lambda R,\ g = \nabla F(\theta),\ \alpha = 1/M")
STEPS = 25


def _run(F: Any, theta: torch.Tensor, alpha: float, steps: int) -> tuple[list[float], list[tuple[float, float]]]:
    """Values of F along GD, and (F(θ), ‖g‖²) per step."""
    values, info = [], []
    for _ in range(steps):
        f0, g = autograd_grad(F, theta)
        values.append(float(f0))
        info.append((float(f0), float(g @ g)))
        theta = theta - alpha * g
    values.append(float(F(theta).detach()))
    return values, info


def _segment_curvature(F: Any, theta: torch.Tensor, g: torch.Tensor, alpha: float, points: int = 8) -> float:
    gg = float(g @ g)
    worst = -float("inf")
    for s in torch.linspace(0.0, 1.0, points).tolist():
        hv = hvp_double_backward(F, theta - s * alpha * g, g)
        worst = max(worst, float(g @ hv) / gg)
    return worst


def _lemma_steps(F: Any, theta: torch.Tensor, alpha: float, M: float, tol: Tolerance,
                 rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Gradient descent with step α from ``theta``, each step judged against the descent lemma (a row per step
    appended to ``rows``); returns the tightest step, with the segment's curvature if it violates the lemma
    (the run stops there)."""
    worst: dict[str, Any] | None = None
    spread = 0.0
    for step in range(STEPS):
        f0, g = autograd_grad(F, theta)
        if step == 0:  # F's own round-off, measured (no formula covers a user's module): the noise floor
            spread = roundoff_spread(F, theta)
        gg = float(g @ g)
        f1 = float(F(theta - alpha * g).detach())
        rhs = float(f0) - alpha * (1 - alpha * M / 2) * gg
        cmp = compare_leq(f1, rhs, alpha * gg, tol, noise=max(abs(float(f0)), 3 * spread / tol.atol(1.0)))
        rows.append({"step": step, "F": float(f0), "F_next": f1, "bound": rhs, "slack": cmp.slack,
                     "status": cmp.status, **({"measured_roundoff_of_F": spread} if step == 0 else {})})
        if worst is None or cmp.slack < worst["slack"]:
            worst = {"step": step, "slack": cmp.slack, "status": cmp.status, "F": float(f0), "F_next": f1,
                     "bound": rhs, "grad_norm_sq": gg}
            if cmp.violated:
                worst["segment_curvature"] = _segment_curvature(F, theta, g, alpha)
                break
        theta = theta - alpha * g
    return worst


def _rise_text(curve_25: list[float], rises: list[int]) -> str:
    """What F did with α = 2.5/M, beyond the lemma's guarantee (``rises``: the steps where it rose)."""
    return (f"with α = 2.5/M the guarantee no longer applies and F rose at {len(rises)} of {STEPS} steps "
            f"(first at step {rises[0]}; F: {curve_25[0]:.6g} → {curve_25[-1]:.6g})" if rises else
            f"with α = 2.5/M the guarantee no longer applies; here F still decreased at every one of {STEPS} "
            f"steps ({curve_25[0]:.6g} → {curve_25[-1]:.6g}): 2/M is a sufficient, not a necessary, limit")


def check_descent(ctx: Context) -> Any:
    started = time.perf_counter()
    stop = blocked(ctx, CHECK, TITLE, STATEMENT, "double")
    if stop is not None:
        return stop
    # the lemma's margin α(1 − αM/2)‖g‖² is below float32 round-off of F on real models: float64 always
    ctx = ctx.in_float64()
    M = ctx.facts.M
    if M is None or not M > 0:
        return make_verdict(ctx, CHECK, VerdictKind.ERROR, "Not run: the smoothness check produced no curvature "
                            "bound M (see its verdict).", title=TITLE, statement=STATEMENT,
                            numeric={"blocked_by": "smoothness"}, started=started)
    F = ctx.objective()
    tol = ctx.tol
    alpha = 1.0 / M
    rows: list[dict[str, Any]] = []
    try:
        ctx.step(f"descent lemma along {STEPS} steps at α = 1/M")
        worst = _lemma_steps(F, ctx.task.theta0.clone(), alpha, M, tol, rows)
        ctx.step("gradient descent at α = 1/M")
        curve_1, _ = _run(F, ctx.task.theta0.clone(), alpha, STEPS)
        ctx.step("gradient descent at α = 2.5/M")
        curve_25, _ = _run(F, ctx.task.theta0.clone(), 2.5 * alpha, STEPS)
        ctx.step("margin figure")
        margin_fig = _margin_figure(F, ctx.task.theta0.clone(), M)
    except UserCodeError as exc:
        return make_verdict(ctx, CHECK, VerdictKind.ERROR, f"Evaluating L + λR failed: {exc}", title=TITLE,
                            statement=STATEMENT, numeric={"steps": rows}, started=started)
    rises = [i for i in range(len(curve_25) - 1) if curve_25[i + 1] > curve_25[i]]
    rise_text = _rise_text(curve_25, rises)
    numeric: dict[str, Any] = {
        "M": M, "alpha": alpha, "steps_checked": len(rows), "min_slack": worst["slack"] if worst else None,
        "tightest_step": worst, "tolerance": (f"{tol.describe()} with scale α‖g‖² and noise the larger of |F(θ)| "
                                              "and 3× F's measured round-off (a difference table)"),
        "rises_at_2.5_over_M": len(rises), "F_at_1_over_M": curve_1, "F_at_2.5_over_M": curve_25,
        "steps": rows,
        "figures": [margin_fig, Figure(
            "L + λR along gradient descent", [Series("α = 1/M", list(range(len(curve_1))), curve_1),
                                              Series("α = 2.5/M", list(range(len(curve_25))), curve_25)],
            x_label="step", y_label="L + λR").to_json()],
    }
    if worst is not None and worst["status"] == "violated":
        seg = worst["segment_curvature"]
        why = (f"the curvature along that segment reaches {seg:.4g} > M, so α = 1/M (and 2/M) is not provably safe"
               if seg > M else
               f"yet the curvature measured along that segment is {seg:.4g} ≤ M: the values of F and its gradient "
               "disagree there (a gradient that is not F's, or F not twice differentiable on the segment)")
        msg = (f"The measured M = {M:.4g} is not a curvature bound along gradient descent: at step {worst['step']} "
               f"F(θ − αg) = {worst['F_next']:.10g} exceeds the descent-lemma bound {worst['bound']:.10g} "
               f"(slack {worst['slack']:.3g} of α‖g‖²); {why}. Also, {rise_text}.")
        return make_verdict(ctx, CHECK, VerdictKind.REFUTED, msg, title=TITLE, statement=STATEMENT,
                            numeric=numeric, counterexample=worst, started=started)
    if any(r["status"] == "undecidable" for r in rows) and all(r["status"] != "holds" for r in rows):
        return make_verdict(ctx, CHECK, VerdictKind.INCONCLUSIVE, "Round-off of F swamps α‖g‖² at every step.",
                            title=TITLE, statement=STATEMENT, numeric=numeric, started=started)
    held = [r for r in rows if r["status"] == "holds"]
    tight = min(held, key=lambda r: r["slack"])
    undecided = len(rows) - len(held)
    where = (f"all {len(rows)} steps" if not undecided else
             f"{len(held)} of {len(rows)} steps ({undecided} undecidable: F's round-off exceeds the margin there)")
    msg = (f"The descent lemma held at {where} of gradient descent with α = 1/M = {alpha:.4g} "
           f"(M = {M:.4g}; tightest slack {tight['slack']:.3g} of α‖g‖² at step {tight['step']}); F went "
           f"{curve_1[0]:.6g} → {curve_1[-1]:.6g}. Then {rise_text}.")
    if ctx.facts.kinked:
        msg += " R has kinks (check 3), so the lemma's C² hypothesis fails near them: this is evidence only."
    return make_verdict(ctx, CHECK, VerdictKind.VERIFIED, msg, title=TITLE, statement=STATEMENT,
                        numeric=numeric, started=started)


def _margin_figure(F: Any, theta: torch.Tensor, M: float) -> dict[str, Any]:
    f0, g = autograd_grad(F, theta)
    gg = float(g @ g)
    alphas = [3.0 / M * (i + 1) / 24 for i in range(24)]
    actual = [float(F(theta - a * g).detach()) - float(f0) for a in alphas]
    bound = [-a * (1 - a * M / 2) * gg for a in alphas]
    return Figure("Change of L + λR after one gradient step from θ0", [
        Series("F(θ − αg) − F(θ)", alphas, actual), Series("descent-lemma bound −α(1 − αM/2)‖g‖²", alphas, bound)],
        x_label="step size α", y_label="change of F", marks=[Mark(1.0 / M, "1/M"), Mark(2.0 / M, "2/M")],
        caption="Below zero = the step decreased F; the bound is guaranteed only where M bounds the curvature."
    ).to_json()
