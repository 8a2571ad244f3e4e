"""When check 5 (C4) applies: the midpoint convexity test, and why it does not apply to a user's model."""

from __future__ import annotations

import math
from typing import Any

import torch

from verify.claims import Tolerance, compare_leq
from verify.regularizers.context import Context
from verify.regularizers.tasks import Task

__all__ = ["ORACLE_LIMIT", "midpoint_convexity", "not_applicable_to_model"]


def midpoint_convexity(reg: Any, theta0: torch.Tensor, ctx: Context) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(ctx.seed + 505)
    worst: dict[str, Any] = {"slack": math.inf}
    tol = Tolerance(ctx.dtype_name)
    for i in range(24):
        s = (0.3, 1.0, 3.0)[i % 3]
        a = theta0 + (s * torch.randn(theta0.numel(), generator=gen, dtype=torch.float64)).to(theta0)
        b = theta0 + (s * torch.randn(theta0.numel(), generator=gen, dtype=torch.float64)).to(theta0)
        ra, rb, rm = (float(reg(t).detach()) for t in (a, b, 0.5 * (a + b)))
        cmp = compare_leq(rm, 0.5 * (ra + rb), max(abs(ra), abs(rb), abs(rm)), tol)
        if cmp.slack < worst["slack"]:
            worst = {"slack": cmp.slack, "status": cmp.status, "R_a": ra, "R_b": rb, "R_mid": rm, "pair": i,
                     "spread": s}
    return worst


#: the largest model the SLSQP oracle (finite-difference gradients, dense quasi-Newton) is run on
ORACLE_LIMIT = 2000
#: λ_min(∇²J) below −NEGATIVE_CURVATURE·max|λ| proves J non-convex (Lanczos at tol 1e-10 is 1e-8-accurate)
NEGATIVE_CURVATURE = 1e-6


def not_applicable_to_model(ctx: Context, task: Task) -> tuple[str, dict[str, Any]] | None:
    """Why C4 does not apply to the user's model (not convex, stochastic, too large), or None.

    Non-convexity of J is proved by a negative Hessian eigenvalue (Lanczos, float64) at θ0 or one of
    two seeded points, or by a violated midpoint inequality; finding neither is evidence, not proof.
    """
    if task.stochastic:
        return "your model is stochastic in train mode, so J + λR has no fixed optimum.", {}
    if task.n > ORACLE_LIMIT:
        return (f"your model has n = {task.n} parameters; the constraint oracle (SLSQP on finite differences) "
                f"is run up to n = {ORACLE_LIMIT}, and C4 also needs a convex J, which a deep model's loss is "
                "not.", {})
    ctx.step("smallest Hessian eigenvalue of J at θ0 and its random points")
    task64 = ctx.task64()
    for where, theta in zip(("θ0", "random point 1", "random point 2"), ctx.points(3, task64, salt=404)):
        hi, lo = task64.extreme_eigenvalues(theta, tol=1e-10)
        spread = max(abs(hi.value), abs(lo.value))
        if lo.value < -NEGATIVE_CURVATURE * spread:  # Lanczos is accurate to ~tol·spread: this is no round-off
            return (f"C4 needs a convex loss J, and J is not convex on your model: ∇²J has the eigenvalue "
                    f"{lo.value:.4g} < 0 at {where} (largest {hi.value:.4g}; Lanczos in float64). A penalty and a "
                    "constraint need not have the same minimizers there.",
                    {"J_hessian_at": where, "J_lambda_min": lo.value, "J_lambda_max": hi.value})
    ctx.step("midpoint convexity test of J")
    convex_j = midpoint_convexity(task.loss, task.theta0, ctx)
    if convex_j["status"] == "violated":
        return (f"C4 needs a convex loss J, and J is not convex on your model: J((a+b)/2) = {convex_j['R_mid']:.6g} "
                f"> (J(a)+J(b))/2 = {0.5 * (convex_j['R_a'] + convex_j['R_b']):.6g} for a seeded pair (spread "
                f"{convex_j['spread']}). A penalty and a constraint need not have the same minimizers there.",
                {"J_midpoint_test": convex_j})
    return None
