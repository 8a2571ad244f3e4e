r"""Check 2, gradient: autograd against central finite differences, and a user's ``grad``/``hvp``.

At three parameter points and three seeded random unit directions :math:`v` the autograd
directional derivative :math:`\nabla R^\top v` is compared with the central difference

.. math:: D(r) = \frac{R(\theta + rv) - R(\theta - rv)}{2r},\qquad r = u^{1/3}\max(1, \|\theta\|_\infty)

(:func:`verify.fd_step`). The tolerance is the error model of the difference itself, not a
fixed number: truncation :math:`\approx |D(r) - D(2r)|/3` (Richardson: the error is
:math:`O(r^2)`) plus round-off :math:`u(|R(\theta+rv)| + |R(\theta-rv)|)/(2r)`, times a safety
factor 10, plus ``Tolerance`` (``64·eps·|∇Rᵀv|``) for autograd's own round-off. A mismatch is
re-checked with the steps :math:`r/4` and :math:`4r` before it counts (a kink inside the
stencil inflates the truncation estimate instead of producing a false counterexample). Autograd
of :math:`0.37\,R` must also be :math:`0.37\,\nabla R`: a custom backward that ignores its
incoming gradient agrees with finite differences of R alone, but not inside :math:`L + \lambda R`.

A user ``grad`` (same arguments as the regularizer; a dict name → Tensor or a flat vector) is
compared entrywise with autograd and along the directions with the finite differences; a user
``hvp`` (the regularizer's arguments plus a direction ``v``, a dict name → Tensor shaped like the
parameters) with the double-backward HVP, at :math:`v` and at :math:`3.7v` (an HVP is linear in
:math:`v`). Entrywise comparisons use ``1024·eps·max|entry|``:
a hand-written formula rounds differently from autograd.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from verify.claims import Tolerance, VerdictKind, compare_close
from verify.errors import UserCodeError
from verify.numeric import fd_step, hvp_double_backward
from verify.regularizers.context import Context, blocked, make_verdict
from verify.regularizers.model import Regularizer, SignatureError, autograd_grad, flat_from_user, user_location

__all__ = ["check_gradient"]

CHECK = "gradient"
TITLE = "Gradient: autograd agrees with central finite differences (and with a user's grad/hvp)"
STATEMENT = (r"\nabla R(\theta)^\top v = \frac{R(\theta+rv)-R(\theta-rv)}{2r} + O(r^2) + O(u/r)"
             r"\quad\text{for random } \theta,\ \|v\| = 1")
SAFETY = 10.0
USER_DEPTH = 1024.0
#: autograd of c·R must be c·∇R: a backward that ignores its incoming gradient fails this
SCALE_PROBE = 0.37


def _central(f: Any, theta: torch.Tensor, v: torch.Tensor, r: float) -> tuple[float, float]:
    plus, minus = float(f(theta + r * v).detach()), float(f(theta - r * v).detach())
    return (plus - minus) / (2 * r), abs(plus) + abs(minus)


def _fd_judge(f: Any, theta: torch.Tensor, v: torch.Tensor, ad: float, r: float, u: float,
              tol: Tolerance) -> dict[str, float | bool]:
    d1, size = _central(f, theta, v, r)
    d2, _ = _central(f, theta, v, 2 * r)
    trunc = abs(d1 - d2) / 3.0
    roundoff = u * size / (2 * r)
    bound = SAFETY * (trunc + roundoff) + tol.atol(abs(ad))
    return {"autograd": ad, "fd": d1, "abs_err": abs(ad - d1), "bound": bound, "step": r,
            "truncation_estimate": trunc, "roundoff_estimate": roundoff, "violated": abs(ad - d1) > bound}


def _compare_vectors(obtained: torch.Tensor, expected: torch.Tensor, ctx: Context,
                     dtype: str | None = None, depth: float = USER_DEPTH) -> tuple[Any, int]:
    diff = (obtained - expected).abs()
    idx = int(torch.argmax(diff))
    scale = float(torch.maximum(obtained.abs().max(), expected.abs().max()))
    return compare_close(float(obtained[idx]), float(expected[idx]), scale,
                         Tolerance(dtype or ctx.dtype_name, depth=depth)), idx


@dataclass
class _Found:
    """The comparisons so far, appended to as they run (an evaluation failure keeps the rows before it)."""

    #: autograd against central finite differences, one row per point and direction
    rows: list[dict[str, Any]] = field(default_factory=list)
    #: the user's grad/hvp against autograd
    user_rows: list[dict[str, Any]] = field(default_factory=list)
    #: points where autograd of c·R is not c·∇R
    linear_rows: list[dict[str, Any]] = field(default_factory=list)


def check_gradient(ctx: Context) -> Any:
    started = time.perf_counter()
    stop = blocked(ctx, CHECK, TITLE, STATEMENT, "grad")
    if stop is not None:
        return stop
    ctx = ctx.in_float64()  # differences of a float32 R would bound the gradient only to ~1e-3
    points = ctx.points(3, salt=2)
    dirs = ctx.directions(3, ctx.task.n, salt=3)
    try:
        user_grad, user_hvp = _user_functions(ctx)
    except SignatureError as exc:
        return make_verdict(ctx, CHECK, VerdictKind.ERROR, f"{exc}", title=TITLE, statement=STATEMENT,
                            started=started)
    found = _Found()
    try:
        for p, theta in enumerate(points):
            ctx.step(f"autograd against finite differences at point {p}")
            _compare_at(ctx, p, theta, dirs, user_grad, user_hvp, found)
    except UserCodeError as exc:
        return make_verdict(ctx, CHECK, VerdictKind.ERROR, f"Evaluating derivatives failed: {exc}", title=TITLE,
                            statement=STATEMENT, numeric={"directional_checks": found.rows}, started=started)
    rows, user_rows, linear_rows = found.rows, found.user_rows, found.linear_rows
    worst_rel = _worst_relative_error(rows)
    numeric: dict[str, Any] = {
        "directional_checks": len(rows), "points": len(points), "directions": len(dirs),
        "max_rel_err_autograd_vs_fd": worst_rel, "tolerance": f"{SAFETY:g}·(truncation + round-off of the "
        f"central difference) + {ctx.tol.describe()}", "cases": rows, "user_checks": user_rows,
        "stochastic": ctx.facts.stochastic, "scaled_output_checks": linear_rows,
    }
    problems = _problems(ctx, found)
    if problems:
        bad = [r for r in rows if r["violated"]]
        counter = {"cases": bad[:1] or linear_rows[:1] or [r for r in user_rows if r["status"] == "violated"][:1],
                   "point": "theta0 + N(0, 0.5²) seeded by the run's seed (point #0 is theta0)"}
        return make_verdict(ctx, CHECK, VerdictKind.REFUTED, "; ".join(problems) + ".", title=TITLE,
                            statement=STATEMENT, numeric=numeric, counterexample=counter, started=started)
    return _agreement(ctx, found, len(points), len(dirs), worst_rel, numeric, started)


def _user_functions(ctx: Context) -> tuple[Regularizer | None, Regularizer | None]:
    """The user's grad and hvp adapted like the regularizer (None where not given); raises SignatureError."""
    user_grad = user_hvp = None
    if ctx.grad is not None:
        user_grad = Regularizer(ctx.grad, ctx.task, ctx.seed, what="the user's grad")
    if ctx.hvp is not None:
        user_hvp = Regularizer(ctx.hvp, ctx.task, ctx.seed, extra=1, what="the user's hvp")
    return user_grad, user_hvp


def _compare_at(ctx: Context, p: int, theta: torch.Tensor, dirs: list[torch.Tensor], user_grad: Regularizer | None,
                user_hvp: Regularizer | None, found: _Found) -> None:
    """Every comparison at point #``p``: the scale probe, the directions, the user's grad and hvp."""
    reg = ctx.reg
    assert reg is not None
    _, g = autograd_grad(reg, theta)
    _scale_probe(ctx, p, theta, g, found)
    r = fd_step(ctx.value_dtype, "central", max(1.0, float(theta.abs().max())))
    for j, v in enumerate(dirs):
        ad = float(g @ v)
        row = _fd_judge(reg, theta, v, ad, r, ctx.u, ctx.tol)
        if row["violated"]:  # re-check with two other steps before it counts
            again = [_fd_judge(reg, theta, v, ad, s, ctx.u, ctx.tol) for s in (r / 4, 4 * r)]
            row["recheck"] = again
            row["violated"] = all(a["violated"] for a in again)
        row.update(point=p, direction=j)
        found.rows.append(row)
    if user_grad is not None:
        _compare_user_grad(ctx, p, theta, g, dirs, r, user_grad, found)
    if user_hvp is not None and p < 2:
        _compare_user_hvp(ctx, p, theta, dirs, user_hvp, found)


def _scale_probe(ctx: Context, p: int, theta: torch.Tensor, g: torch.Tensor, found: _Found) -> None:
    """Autograd of :data:`SCALE_PROBE`·R must be SCALE_PROBE·∇R (a backward that ignores its incoming gradient
    does not scale)."""
    reg = ctx.reg
    assert reg is not None
    _, g_scaled = autograd_grad(lambda t: SCALE_PROBE * reg(t), theta)
    # the bug this catches is an O(1) relative error (a factor 1/c); R's own round-off, amplified by
    # cancellation inside R (a difference quotient), must not trip it: judge at sqrt(u) of the scale
    cmp, idx = _compare_vectors(g_scaled, SCALE_PROBE * g, ctx, dtype=ctx.tol.dtype, depth=1.0 / math.sqrt(ctx.u))
    if cmp.status == "violated":
        found.linear_rows.append({"point": p, "coordinate": ctx.task.coordinate(idx), "autograd_of_cR": cmp.lhs,
                                  "c_times_autograd": cmp.rhs, "c": SCALE_PROBE, "rel_err": cmp.rel_err})


def _compare_user_grad(ctx: Context, p: int, theta: torch.Tensor, g: torch.Tensor, dirs: list[torch.Tensor],
                       r: float, user_grad: Regularizer, found: _Found) -> None:
    """The user's grad against autograd entrywise, and along ``dirs`` against finite differences."""
    task = ctx.task
    mine = flat_from_user(_call_user(user_grad, theta), task, "the user's grad")
    cmp, idx = _compare_vectors(mine, g, ctx)
    fd_cmp = [_fd_judge(ctx.reg, theta, v, float(mine @ v), r, ctx.u, ctx.tol) for v in dirs]
    found.user_rows.append({"what": "grad", "point": p, "coordinate": task.coordinate(idx),
                            "user": cmp.lhs, "autograd": cmp.rhs, "rel_err": cmp.rel_err,
                            "status": cmp.status, "fd_disagrees": any(c["violated"] for c in fd_cmp)})


def _compare_user_hvp(ctx: Context, p: int, theta: torch.Tensor, dirs: list[torch.Tensor], user_hvp: Regularizer,
                      found: _Found) -> None:
    """The user's hvp against the double-backward HVP along the first two directions, at v and at 3.7·v."""
    task = ctx.task
    for v in dirs[:2]:
        vdict = {k: t.detach() for k, t in task.params(v).items()}
        mine = flat_from_user(_call_user(user_hvp, theta, vdict), task, "the user's hvp")
        ref = hvp_double_backward(ctx.reg, theta, v)
        cmp, idx = _compare_vectors(mine, ref, ctx)
        # an HVP is linear in v: the user's hvp at 3.7·v must be 3.7 times the one at v
        vdict3 = {k: 3.7 * t for k, t in vdict.items()}
        mine3 = flat_from_user(_call_user(user_hvp, theta, vdict3), task, "the user's hvp")
        cmp3, idx3 = _compare_vectors(mine3, 3.7 * ref, ctx)
        if cmp.status != "violated" and cmp3.status == "violated":
            cmp, idx = cmp3, idx3
        found.user_rows.append({"what": "hvp", "point": p, "coordinate": task.coordinate(idx),
                                "user": cmp.lhs, "autograd": cmp.rhs, "rel_err": cmp.rel_err,
                                "status": cmp.status})


def _worst_relative_error(rows: list[dict[str, Any]]) -> float:
    worst = 0.0
    for row in rows:
        worst = max(worst, row["abs_err"] / max(abs(row["autograd"]), abs(row["fd"]), 1e-300))
    return worst


def _problems(ctx: Context, found: _Found) -> list[str]:
    """One sentence per kind of disagreement; a wrong autograd gradient sets ``ctx.facts.grad_wrong``."""
    problems: list[str] = []
    bad = [r for r in found.rows if r["violated"]]
    if found.linear_rows:
        b = found.linear_rows[0]
        problems.append(
            f"autograd's gradient ignores the incoming gradient: at point #{b['point']}, entry {b['coordinate']} of "
            f"∇({SCALE_PROBE}·R) is {b['autograd_of_cR']:.10g} but {SCALE_PROBE}·∇R is {b['c_times_autograd']:.10g} — "
            "a custom autograd.Function whose backward returns the local derivative without multiplying it by "
            "its grad_output argument (inside L + λR such an R is optimized as if λ were 1)")
        ctx.facts.grad_wrong = True
    if bad:
        b = max(bad, key=lambda r: r["abs_err"] / r["bound"])
        problems.append(
            f"autograd's gradient is wrong: along direction #{b['direction']} at point #{b['point']} autograd "
            f"gives ∇Rᵀv = {b['autograd']:.10g} but central differences give {b['fd']:.10g} (error "
            f"{b['abs_err']:.3g} > bound {b['bound']:.3g}, confirmed with steps r/4 and 4r) — a custom "
            "autograd.Function with a wrong backward, or a detached piece of the graph")
        ctx.facts.grad_wrong = True
    for row in found.user_rows:
        if row["status"] == "violated" or row.get("fd_disagrees"):
            problems.append(
                f"the user's {row['what']} is wrong: at point #{row['point']}, entry {row['coordinate']} is "
                f"{row['user']:.10g} but autograd gives {row['autograd']:.10g} (relative error "
                f"{row['rel_err']:.3g} of the largest entry)")
            break
    return problems


def _agreement(ctx: Context, found: _Found, n_points: int, n_dirs: int, worst_rel: float,
               numeric: dict[str, Any], started: float) -> Any:
    """``verified``, or ``inconclusive`` when the finite-difference bound is too loose in every direction."""
    rows = found.rows
    undecided = [r for r in rows if r["bound"] > 1e-2 * max(abs(r["autograd"]), abs(r["fd"]), 1e-300)
                 and r["abs_err"] > 0]
    msg = (f"autograd agrees with central finite differences in {len(rows)} directional checks "
           f"({n_points} points × {n_dirs} unit directions, {ctx.dtype_name}); largest relative error "
           f"{worst_rel:.2g}, each within its error-model bound.")
    if found.user_rows:
        msg += f" The user's {' and '.join(sorted({r['what'] for r in found.user_rows}))} agree with autograd."
    if len(undecided) == len(rows):
        return make_verdict(ctx, CHECK, VerdictKind.INCONCLUSIVE,
                            "The finite-difference error bound exceeds 1% of the derivative in every direction "
                            "(R too rough or too noisy for finite differences in this dtype).", title=TITLE,
                            statement=STATEMENT, numeric=numeric, started=started)
    return make_verdict(ctx, CHECK, VerdictKind.VERIFIED, msg, title=TITLE, statement=STATEMENT,
                        numeric=numeric, started=started)


def _call_user(fn: Regularizer, theta: torch.Tensor, *extra: Any) -> Any:
    try:
        return fn.raw(theta.detach(), *extra)
    except Exception as exc:
        raise UserCodeError(f"{fn.fn.__name__ if hasattr(fn.fn, '__name__') else 'user function'} raised "
                            f"{type(exc).__name__} at {user_location(exc)}: {exc}") from exc
