r"""Check 1, well-formed: a finite real scalar, a gradient that reaches the parameters, double backward.

Each failure is an ``error`` verdict that names the cause and the fix; later checks that
need what failed report themselves blocked (see :func:`verify.regularizers.context.blocked`).

Sub-checks, in order, at :math:`\theta_0` and two seeded random points:

1. the value is a ``torch.Tensor`` with one real floating-point element, finite, and two calls at
   :math:`\theta_0` with torch's random state reset to the same seed give the same value (else R draws
   from a random source outside torch, such as ``numpy.random`` or Python's ``random``);
2. under a perturbation :math:`\delta` of relative size :math:`10^3 u` (:math:`u` the dtype's
   epsilon) the value changes by its first-order term :math:`\nabla R^\top\delta` up to
   :math:`10^{-3}|R|`: a value that does not (``1/λ_min`` of a singular Hessian: round-off divided by
   round-off) is numerically undefined;
3. the autograd gradient exists, is finite and is not zero where finite differences
   are not (a detached graph), and R depends on :math:`\theta` at one of the points at least (a
   constant tensor regularizes nothing);
4. the gradient carries a graph and :math:`\nabla(\nabla R^\top v)` runs (double backward),
   unless finite differences of the gradient show that the Hessian is zero anyway.

Two unseeded calls at :math:`\theta_0` that differ mark the regularizer stochastic; it is then
checked with a fixed seed per call (the same seed for every call).
"""

from __future__ import annotations

import math
import time

import torch

from verify.claims import VerdictKind
from verify.claims.usercode import USER_FAILURES
from verify.errors import UserCodeError
from verify.numeric import fd_directional, fd_hvp, fd_step
from verify.regularizers._randomness import random_source, same_value
from verify.regularizers.context import Context, make_verdict
from verify.regularizers.model import Task, UserExit, autograd_grad, exception_name, user_location

__all__ = ["check_well_formed"]

CHECK = "well-formed"
TITLE = "Well formed: a finite real scalar with first and second derivatives"
STATEMENT = (r"R(\theta)\in\mathbb{R}\text{ finite (0-dim tensor)},\quad \nabla_\theta R \text{ by autograd},"
             r"\quad \nabla_\theta(\nabla_\theta R^\top v)\text{ (double backward)}")
#: relative change under a round-off-sized perturbation above which a value is "undefined".
UNSTABLE = 1e-3
#: where stage 1 and 3 evaluate R, as messages name them
_NAMES = ("theta0", "random point 1", "random point 2")

_FIX_NAN = ("guard the operation that produces it: log(x) -> log(x + eps), sqrt(x) -> sqrt(x + eps), "
            "x / y with y that can be 0 -> x / (y + eps), or clamp the argument")


def _bare(text: str) -> str:
    """``text`` without one final period (the message adds its own), an ellipsis kept."""
    text = text.strip()
    return text[:-1] if text.endswith(".") and not text.endswith("..") else text


def _fail(ctx: Context, key: str, why: str, fix: str, started: float, numeric: dict) -> object:
    why, fix = _bare(why), _bare(fix)
    if ctx.reg is not None and ctx.reg.warnings:
        numeric["warnings"] = list(ctx.reg.warnings)
        fix += f" (it also emitted warnings: {' | '.join(ctx.reg.warnings)})"
    ctx.facts.fail_stage(key, why)
    return make_verdict(ctx, CHECK, VerdictKind.ERROR, f"{why}. Fix: {fix}.", title=TITLE,
                        statement=STATEMENT, numeric=numeric, started=started)


_FIX_INPLACE = ("compute R on the tensors it receives without modifying them: use out-of-place operations "
                "(`0.5 * p` instead of `p.data.mul_(0.5)`, `x.clamp(...)` instead of `x.clamp_(...)`), never write "
                "into `.data` or call methods ending in `_` on the parameters or the batch; to constrain the "
                "weights, project them in the training loop, outside the regularizer")


def _snapshot(task: Task, theta: torch.Tensor) -> list[torch.Tensor]:
    """Copies of what a call may modify: θ, the batch (X, y) and the task model's own parameters."""
    return [t.detach().clone() for t in (theta, task.X, task.y, *task.model.parameters())]


def _mutated(task: Task, theta: torch.Tensor, saved: list[torch.Tensor]) -> list[str]:
    """What the call changed in place (names), restoring each changed tensor from its copy."""
    current = [theta, task.X, task.y, *task.model.parameters()]
    labels = ["the parameters", "the batch's inputs X", "the batch's labels y", "the model's own parameters"]
    changed: list[str] = []
    for i, (now, before) in enumerate(zip(current, saved)):
        if now.shape != before.shape or not torch.equal(now.detach(), before):
            label = labels[min(i, 3)]
            if label not in changed:
                changed.append(label)
            if now.shape == before.shape:
                with torch.no_grad():
                    now.detach().copy_(before)
    return changed


def _describe_value(out: object, where: str) -> tuple[str, str] | None:
    """(cause, fix) when ``out`` is not a finite real scalar tensor, else None."""
    if not isinstance(out, torch.Tensor):
        return (f"the regularizer returned a {type(out).__name__} ({out!r:.60}) at {where}, not a torch.Tensor",
                "return the torch expression itself (no .item(), float() or numpy): autograd needs the tensor")
    if out.numel() != 1:
        return (f"the regularizer returned a tensor of shape {tuple(out.shape)} at {where}: a "
                f"{'vector' if out.dim() == 1 else 'tensor'}, not a scalar",
                "reduce it to one number with .sum() or .mean(), e.g. `return (p ** 2).sum()`")
    if out.dtype.is_complex or not out.dtype.is_floating_point:
        return (f"the regularizer returned a {out.dtype} tensor at {where}, not a real floating-point one",
                "compute it in the parameters' dtype (float64 here)")
    value = complex(out.detach().reshape(())).real
    if not math.isfinite(value):
        return (f"the regularizer returned {value} at {where}", _FIX_NAN)
    return None


class _StageFailed(Exception):
    """Raised by a stage: stage ``key`` (``value``, ``grad`` or ``double``) failed because of ``why``; ``fix``."""

    def __init__(self, key: str, why: str, fix: str) -> None:
        super().__init__(why)
        self.key, self.why, self.fix = key, why, fix


def check_well_formed(ctx: Context) -> object:
    started = time.perf_counter()
    if ctx.reg is None:
        why, _, fix = ctx.facts.signature_why.partition(" Fix: ")
        return _fail(ctx, "value", why, fix or "define it as `def fn(model, batch): ...` or `def fn(params): ...`",
                     started, {"stage": "signature"})
    numeric: dict = {"task": ctx.task.describe(), "points": 3}
    points = ctx.points(3)
    try:
        values, notes = _evaluate_values(ctx, points, numeric)
        _check_roundoff(ctx, points, values, numeric)
        ctx.facts.value_ok = True
        _check_gradients(ctx, points, numeric)
        ctx.facts.grad_ok = True
        notes += _check_double_backward(ctx, points[0])
        ctx.facts.double_ok = True
    except _StageFailed as failed:
        return _fail(ctx, failed.key, failed.why, failed.fix, started, numeric)
    return _verified(ctx, values, notes, numeric, started)


def _evaluate_values(ctx: Context, points: list[torch.Tensor], numeric: dict) -> tuple[list[float], list[str]]:
    """Stage 1: R at each point is a finite real scalar (and two unseeded calls at θ0 tell whether it is
    stochastic); returns the values and notes for the message."""
    values = []
    for i, (theta, where) in enumerate(zip(points, _NAMES)):
        ctx.step(f"value of R at {where}")
        out = _call_once(ctx, theta, where, numeric, twice=i == 0)
        values.append(float(out.detach().reshape(())))
    numeric["values"] = values
    if out.dtype.is_floating_point:  # recorded even when it is the run's: a float64 re-run must know it
        ctx.facts.value_dtype = out.dtype
    numeric["value_dtype"] = str(out.dtype).removeprefix("torch.")
    notes = []
    if torch.finfo(out.dtype).eps > torch.finfo(ctx.dtype).eps:
        notes.append(f"R is computed in {numeric['value_dtype']} although the parameters are "
                     f"{ctx.dtype_name}: its round-off ({ctx.u:.2g}) sets the finite-difference tolerances; compute "
                     "it in the parameters' dtype for sharper checks")
    if out.dim() != 0:
        notes.append(f"it returns shape {tuple(out.shape)}; a 0-dim tensor is expected (use .reshape(()))")
    numeric["stochastic"] = ctx.facts.stochastic
    return values, notes


def _call_once(ctx: Context, theta: torch.Tensor, where: str, numeric: dict, twice: bool) -> torch.Tensor:
    """R at ``theta``, which must not modify its inputs and must be a finite real scalar; with ``twice``
    also two unseeded calls, which decide :attr:`Facts.stochastic <verify.regularizers.facts.Facts.stochastic>`."""
    reg, task = ctx.reg, ctx.task
    assert reg is not None
    saved = _snapshot(task, theta)
    try:
        first = again = None
        if twice:  # two calls with the caller's (advancing) random state, which is restored after
            with torch.random.fork_rng(devices=[theta.device.index or 0] if theta.is_cuda else []):
                first = reg.raw(theta, seeded=False)
                again = reg.raw(theta, seeded=False)
        out = reg.raw(theta)
    except Exception as exc:
        _mutated(task, theta, saved)  # restores the task's batch and model if the call changed them
        numeric["stage"] = "call"
        raise _StageFailed("value", f"the regularizer raised {exception_name(exc)} at {user_location(exc)} "
                           f"(at {where}): {exc}", _fix_for_exception(exc)) from None
    changed = _mutated(task, theta, saved)
    if changed:
        numeric["stage"] = "mutation"
        numeric["modified_inputs"] = changed
        raise _StageFailed("value", f"the regularizer modified its inputs in place: calling it at {where} changed "
                           f"{' and '.join(changed)} (e.g. p.data.mul_(0.5), p.add_(…), X.clamp_(…) or an "
                           "assignment into .data). A regularizer must only read its inputs: otherwise every later "
                           "evaluation (these checks, and training) sees values that the regularizer itself rewrote",
                           _FIX_INPLACE)
    problem = _describe_value(out, where)
    if problem is not None:
        numeric["stage"] = "value"
        raise _StageFailed("value", *problem)
    if isinstance(first, torch.Tensor) and isinstance(again, torch.Tensor) and first.shape == again.shape:
        ctx.facts.stochastic = not bool(torch.equal(again.detach(), first.detach()))
    if twice:
        _check_seeded_calls_agree(ctx, theta, out, where, numeric)
    return out


def _check_seeded_calls_agree(ctx: Context, theta: torch.Tensor, out: torch.Tensor, where: str,
                              numeric: dict) -> None:
    """Stage 1: a second call at ``theta`` with torch's random state reset to the same seed gives ``out`` again;
    else R draws from a random source that the checker's per-call torch seed does not fix."""
    assert ctx.reg is not None
    try:
        again = ctx.reg.raw(theta)
    except USER_FAILURES:
        again = None
    if same_value(out, again, ctx.u):
        return
    numeric["stage"] = "randomness"
    second = (f"{float(again.detach().reshape(()).real):.6g}" if isinstance(again, torch.Tensor) and again.numel() == 1
              else "no value (an exception or a non-scalar)")
    source = random_source(ctx.reg, theta, ctx.u)
    raise _StageFailed(
        "value", f"the regularizer draws from an unseeded random source outside torch ({source}):"
        f" two calls at {where} with torch's random state reset to the same seed give R = "
        f"{float(out.detach().reshape(())):.6g} and {second}, so R is not a function of θ that can be checked",
        "draw the noise with torch (torch.randn, torch.rand, torch.bernoulli, nn.functional.dropout …), which the "
        "checker seeds per call so that the checks see one fixed realization, or seed your own generator inside "
        "the function (e.g. np.random.default_rng(0))")


def _check_roundoff(ctx: Context, points: list[torch.Tensor], values: list[float], numeric: dict) -> None:
    """Stage 2: the change of R under a round-off-sized perturbation not explained by the first-order term,
    relative to |R|, stays below :data:`UNSTABLE` (else R is numerically undefined)."""
    reg, u = ctx.reg, ctx.u
    assert reg is not None
    worst = 0.0
    try:
        for theta, value in zip(points, values):
            try:
                g = autograd_grad(reg, theta)[1]
            except Exception:  # the gradient sub-check below reports it
                g = torch.zeros_like(theta)
            for v in ctx.directions(3, ctx.task.n, salt=5):
                delta = 1e3 * u * max(1.0, float(torch.linalg.vector_norm(theta))) * v
                moved = float(reg(theta + delta).detach())
                linear = float(g @ delta) if bool(torch.isfinite(g).all()) else 0.0
                change = abs(moved - value - linear) / max(abs(value), abs(moved), 1e-300)
                if change > worst:
                    worst = change
                    numeric["sensitivity_case"] = {"R": value, "R_perturbed": moved, "first_order_change": linear,
                                                   "rel_perturbation": 1e3 * u}
    except UserCodeError as exc:
        raise _StageFailed("value", f"{exc} at a point within round-off of a sampled point", _FIX_NAN) from None
    numeric["max_relative_change_under_roundoff_perturbation"] = worst
    if worst > UNSTABLE and max(abs(x) for x in values) > 0:
        case = numeric["sensitivity_case"]
        raise _StageFailed(
            "value", f"the value is dominated by round-off: a perturbation of θ of relative size "
            f"{1e3 * u:.1e} changes R from {case['R']:.6g} to {case['R_perturbed']:.6g} "
            f"(relative change {worst:.2g}), so R is numerically undefined (unbounded) here — typically a "
            "division by a quantity that is zero up to round-off, such as 1/λ_min of a singular Hessian "
            "or the inverse of a singular matrix",
            "do not divide by a quantity that can vanish; reformulate the penalty so that it stays "
            "bounded (e.g. penalize the quantity itself instead of rewarding it through 1/x)")


def _check_gradients(ctx: Context, points: list[torch.Tensor], numeric: dict) -> None:
    """Stage 3: at each point the autograd gradient exists, is finite, and is not zero where finite
    differences are not (a detached graph)."""
    reg, u = ctx.reg, ctx.u
    assert reg is not None
    r = fd_step(ctx.value_dtype, "central")
    depends = []
    for theta, where in zip(points, _NAMES):
        try:
            value, g = autograd_grad(reg, theta)
            leaf = theta.detach().requires_grad_(True)
            with torch.enable_grad():
                out = reg(leaf)
                attached = out.requires_grad
                depends.append(attached and torch.autograd.grad(out, leaf, allow_unused=True)[0] is not None)
        except Exception as exc:
            raise _StageFailed("grad", f"backward failed at {where}: {type(exc).__name__}: {exc}",
                               "use differentiable torch operations (no in-place edits of the parameters)") from None
        if not bool(torch.isfinite(g).all()):
            bad = int((~torch.isfinite(g)).sum())
            raise _StageFailed("grad", f"the gradient has {bad} non-finite entries at {where} (e.g. a norm or sqrt "
                               "evaluated at 0 has no derivative there)", "use ‖θ‖² instead of ‖θ‖ or sqrt(x + eps)")
        fd = [float(fd_directional(reg, theta, v, step=r)) for v in ctx.directions(2, ctx.task.n, salt=7)]
        noise = 1e3 * u * max(abs(float(value)), 1e-300) / r
        if float(torch.linalg.vector_norm(g)) == 0.0 and max(abs(x) for x in fd) > noise:
            cause = ("the result does not require grad: it is detached from the parameters (.detach(), .item(), "
                     "torch.no_grad(), numpy or torch.tensor(...) of a value)") if not attached else \
                    "autograd gives a zero gradient although R changes with θ (part of the graph is detached)"
            raise _StageFailed("grad", f"{cause}; finite differences give directional derivatives {fd} at {where}",
                               "compute R with torch operations on the parameters the function receives")
    if not any(depends):
        raise _StageFailed("grad", "R does not depend on the parameters: at theta0 and both random points it is a "
                           "tensor that autograd does not connect to them (a constant such as torch.tensor(1.0), a "
                           "tensor created inside the function, or one computed from the batch alone), so it "
                           "regularizes nothing", "compute R from the parameters the function receives "
                           "(model.parameters(), model(X), or params[name])")


def _check_double_backward(ctx: Context, theta: torch.Tensor) -> list[str]:
    """Stage 4: ∇(∇Rᵀv) runs at θ0, unless finite differences of the gradient show that the Hessian is zero
    anyway; returns the notes for the message."""
    reg, u = ctx.reg, ctx.u
    assert reg is not None
    r = fd_step(ctx.value_dtype, "central")
    v = ctx.directions(1, ctx.task.n, salt=11)[0]
    leaf = theta.detach().requires_grad_(True)
    try:
        with torch.enable_grad():
            value = reg(leaf)
            (g,) = torch.autograd.grad(value, leaf, create_graph=True, allow_unused=True) \
                if value.requires_grad else (None,)
            hv = None
            if g is not None and g.requires_grad:
                (hv,) = torch.autograd.grad(g @ v, leaf, allow_unused=True)
    except Exception as exc:
        raise _StageFailed("double", f"double backward failed: {type(exc).__name__}: {exc}",
                           "make the backward differentiable (no @once_differentiable, no torch.no_grad() in "
                           "backward); second derivatives are needed for curvature and smoothness") from None
    if hv is None:
        fd = fd_hvp(lambda t: autograd_grad(reg, t)[1], theta, v, step=r)
        size = float(torch.linalg.vector_norm(fd))
        gsize = float(torch.linalg.vector_norm(autograd_grad(reg, theta)[1]))
        if size > 1e3 * u * max(gsize, 1e-300) / r:
            raise _StageFailed("double", f"the gradient carries no graph, but finite differences of it give "
                               f"‖Hv‖ ≈ {size:.3g}: double backward is not available",
                               "a custom autograd.Function must have a differentiable backward (drop "
                               "@once_differentiable and compute backward with torch ops)")
        return ["R is affine in θ (its Hessian is zero)"]
    if not bool(torch.isfinite(hv).all()):
        raise _StageFailed("double", "the Hessian-vector product has non-finite entries at θ0", _FIX_NAN)
    return []


def _verified(ctx: Context, values: list[float], notes: list[str], numeric: dict, started: float) -> object:
    """The ``verified`` verdict: R(θ0), whether R is stochastic, and the notes (dtype, shape, warnings)."""
    assert ctx.reg is not None
    message = (f"R(θ0) = {values[0]:.6g}: a finite real scalar; its gradient reaches the parameters and double "
               "backward works.")
    if ctx.facts.stochastic:
        message += (" R is stochastic (two calls at the same θ differ): the other checks run with a fixed seed per "
                    f"call (seed {ctx.seed}), i.e. on one fixed realization of the noise.")
    if ctx.reg.warnings:
        notes.append("it emitted warnings: " + " | ".join(ctx.reg.warnings))
        numeric["warnings"] = list(ctx.reg.warnings)
    if notes:
        message += " Note: " + "; ".join(notes) + "."
    return make_verdict(ctx, CHECK, VerdictKind.VERIFIED, message, title=TITLE, statement=STATEMENT,
                        numeric=numeric, started=started)


def _fix_for_exception(exc: BaseException) -> str:
    if isinstance(exc, UserExit):
        return "remove the sys.exit() call: return R's value, and raise an exception to signal a problem"
    text = f"{type(exc).__name__}: {exc}".lower()
    if "in-place" in text or "inplace" in text:
        return f"the regularizer modifies its inputs in place; {_FIX_INPLACE}"
    if "singular" in text or "linalg" in text or "invertible" in text:
        return ("the matrix being inverted is singular, so the expression is undefined; do not invert it "
                "(scalarize differently, or regularize the matrix, e.g. H + εI, and say so)")
    if "shape" in text or "size" in text or "dimension" in text:
        return ("the function receives batch = (X, y) with X of shape (m, d) and integer labels y of shape (m,), "
                "and the task's model (nn.Sequential of nn.Linear/nn.Tanh); check the shapes it assumes")
    return "run it by hand on the task's model and batch and fix the exception"
