"""``check_regularizer``: run the six checks on a user's regularizer and assemble the report card."""

from __future__ import annotations

import inspect
import math
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import torch

from verify.claims import ReportCard, Verdict, VerdictKind
from verify.errors import InvalidInputError
from verify.numeric import resolve_device, resolve_dtype
from verify.regularizers.constraint import check_constraint
from verify.regularizers.context import Context, TimeLimitReached, make_verdict
from verify.regularizers.curvature import AGREE, check_curvature_effect
from verify.regularizers.descent import check_descent
from verify.regularizers.facts import Facts
from verify.regularizers.gradient import check_gradient
from verify.regularizers.model import TASKS, Regularizer, SignatureError
from verify.regularizers.smoothness import check_smoothness
from verify.regularizers.tasks import Task, make_task, user_task
from verify.regularizers.wellformed import check_well_formed

__all__ = ["CHECKS", "check_regularizer"]

#: check id -> function, in the order they run.
CHECKS: dict[str, Callable[[Context], Any]] = {
    "well-formed": check_well_formed,
    "gradient": check_gradient,
    "smoothness": check_smoothness,
    "descent": check_descent,
    "constraint": check_constraint,
    "curvature-effect": check_curvature_effect,
}
_NEEDS = {"descent": ["smoothness"], "curvature-effect": ["smoothness"]}


#: λ of checks 3, 4 and 6 when neither ``lam`` nor ``lams`` is given.
DEFAULT_LAM = 1e-2


def _lam(lam: Any) -> float:
    try:
        value = float(lam)
    except (TypeError, ValueError):
        raise InvalidInputError(f"Got lam={lam!r}; λ must be a number >= 0.") from None
    if not (math.isfinite(value) and value >= 0):
        raise InvalidInputError(f"Got lam={lam!r}; λ must be finite and >= 0.")
    return value


def _validate(fn: Any, lam: Any, lams: Any, task: Any, grad: Any, hvp: Any, seed: Any,
              checks: Any) -> tuple[float, list[float], list[str]]:
    if not callable(fn):
        raise InvalidInputError(f"Got fn of type {type(fn).__name__}, but the regularizer must be callable: "
                                "`def fn(model, batch): ...` or `def fn(params): ...`.")
    for what, f in (("grad", grad), ("hvp", hvp)):
        if f is not None and not callable(f):
            raise InvalidInputError(f"Got {what} of type {type(f).__name__}; it must be a function or None.")
    if lams is None:
        lam = DEFAULT_LAM if lam is None else _lam(lam)
        grid = [lam * f for f in (0.1, 1.0, 10.0)] if lam > 0 else [1e-3, 1e-2, 1e-1]
    else:
        if isinstance(lams, (str, bytes)):
            raise InvalidInputError(f"Got lams={lams!r}; give a list of positive numbers (the λ grid).")
        try:
            grid = [float(x) for x in lams]
        except (TypeError, ValueError):
            raise InvalidInputError(f"Got lams={lams!r}; give a list of positive numbers (the λ grid).") from None
        if len(grid) < 2 or not all(math.isfinite(x) and x > 0 for x in grid):
            raise InvalidInputError(f"Got lams={lams!r}; the λ grid needs at least two finite numbers > 0.")
        # λ of the other checks: the user's, else the grid's middle value (lower median)
        lam = sorted(grid)[(len(grid) - 1) // 2] if lam is None else _lam(lam)
    if task is not None and task not in TASKS:
        raise InvalidInputError(f"Got task={task!r}, but valid values are {list(TASKS)}.")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInputError(f"Got seed={seed!r}; the seed must be an integer >= 0.")
    if checks is None:
        wanted = list(CHECKS)
    else:
        wanted = [checks] if isinstance(checks, str) else list(checks)
        if not wanted:
            raise InvalidInputError(f"Got checks={checks!r}: an empty list selects no check. Name at least one of "
                                    f"the valid check ids {list(CHECKS)}, or leave checks out to run all six.")
        unknown = [c for c in wanted if c not in CHECKS]
        if unknown:
            raise InvalidInputError(f"Got checks={checks!r}, but {unknown} {'is' if len(unknown) == 1 else 'are'} "
                                    f"not a check id; valid check ids are {list(CHECKS)}.")
        wanted = list(dict.fromkeys(wanted))
    return lam, sorted(grid), wanted


def _describe(fn: Callable[..., Any]) -> tuple[str, str, str]:
    """(``module:qualname``, title from the docstring, ``qualname in FILE, line N``)."""
    qualname = getattr(fn, "__qualname__", None) or type(fn).__name__
    name = f"{getattr(fn, '__module__', None) or '?'}:{qualname}"
    doc = inspect.getdoc(fn) or ""
    title = doc.strip().splitlines()[0] if doc.strip() else getattr(fn, "__name__", name)
    try:
        source = f"{qualname} in {inspect.getsourcefile(fn)}, line {inspect.getsourcelines(fn)[1]}"
    except (TypeError, OSError):
        source = name
    return name, title, source


def _task(task: str | None, model: Any, batch: Any, loss: Any, train_mode: bool, seed: int, dt: torch.dtype,
          dev: torch.device) -> tuple[Task, Callable[[], Task] | None]:
    """The run's task, and how to build it in float64 when it is the user's model."""
    if model is None and batch is None:
        if loss is not None or train_mode:
            raise InvalidInputError("loss= and train_mode= apply to your own model: give model= and batch= too.")
        return make_task(task or "mlp", seed=seed, dtype=dt, device=dev), None
    if model is None or batch is None:
        missing = "batch" if batch is None else "model"
        raise InvalidInputError(f"Got {'model' if missing == 'batch' else 'batch'}= without {missing}=; your own "
                                "model needs both: model (an nn.Module or a function returning one) and batch "
                                "((X, y) or a function returning it).")
    if task is not None:
        raise InvalidInputError(f"Got task={task!r} and model=: give one or the other (task names a built-in "
                                "model and batch).")
    the_task = user_task(model, batch, loss, seed=seed, dtype=dt, device=dev, train_mode=train_mode)
    # the float64 twin starts from the task's own copy and batch: the user's factories run once
    return the_task, (lambda: user_task(the_task.module, the_task.batch, loss, seed=seed, dtype=torch.float64,
                                        device=dev, train_mode=train_mode))


def check_regularizer(fn: Callable[..., Any], *, lam: float | None = None, lams: Sequence[float] | None = None,
                      task: str | None = None, model: Any = None, batch: Any = None, loss: Any = None,
                      train_mode: bool = False, grad: Callable[..., Any] | None = None,
                      hvp: Callable[..., Any] | None = None, device: str = "auto", dtype: str = "float64",
                      seed: int = 0, checks: Sequence[str] | None = None, name: str | None = None,
                      strict: bool = False, time_limit: float | None = None, threads: int = 1,
                      progress: Callable[[str], None] | None = None) -> ReportCard:
    """Check a regularizer; see :mod:`verify.regularizers` for the signature and the checks.

    Never raises for a broken regularizer (that is an ``error`` verdict naming the cause and the fix).

    Args:
        fn: the regularizer, ``fn(model, batch)`` or ``fn(params)`` (see the package docstring).
        lam: λ of checks 3, 4 and 6. ``None`` (default) means 1e-2, or, when ``lams`` is given, the
            grid's middle value (the lower median of the sorted grid: 1e-3 for ``[1e-3, 1e-1]``); the
            card's settings (``lam_from``) and summary say which.
        lams: the λ grid of check 5 (default ``lam × [0.1, 1, 10]``, or ``[1e-3, 1e-2, 1e-1]`` when λ = 0).
        task: a built-in task (:data:`~verify.regularizers.tasks.TASKS`; default ``"mlp"``), or none with
            ``model`` and ``batch``. Check 5 uses softmax regression, or the user's model where it is convex.
        model: your ``nn.Module`` (deep-copied, never changed) or a function returning one (called
            under ``seed``).
        batch: ``(X, y)`` with the examples along dimension 0, or a function returning it.
        loss: ``"cross-entropy"``, ``"mse"`` or ``fn(output, y) -> 0-dim tensor`` (mean over examples);
            default cross-entropy for integer ``y``, MSE for floating ``y``.
        train_mode: keep the model in train mode (batch statistics, dropout with a fixed seed per call);
            default eval mode. Per-example quantities are then reported as not defined where the batch
            couples the examples.
        grad: optional user gradient of R (same arguments; dict name → Tensor or flat vector).
        hvp: optional user Hessian-vector product (arguments plus ``v``, a dict name → Tensor).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
        dtype: ``"float64"`` (default) or ``"float32"``.
        seed: seeds the task, the sampled points and every call of ``fn``.
        checks: a non-empty subset of :data:`CHECKS` ids to report (the checks they depend on still run);
            ``None`` (default) runs all six.
        name: how the user named ``fn`` (shown on the card); default ``module:qualname``.
        strict: inconclusive and not-applicable checks fail the card (by default they are reported only).
        time_limit: seconds per check; a check past it ends ``inconclusive`` with the steps it finished
            (the limit is looked at between steps).
        progress: called with one line per step (``"smoothness: Lanczos at point 2"``).
        threads: torch's intra-op threads during the run (default 1; the caller's setting is restored).

    Returns:
        The :class:`verify.ReportCard`: one Verdict per check (``expected`` is ``holds``), a summary
        (failures, the safe step size 2/M, whether R raises the sharpness), the settings.

    Raises:
        InvalidInputError: for bad options (fn not callable, negative λ, a λ grid of fewer than two positive
            numbers, an empty or unknown ``checks``, unknown task/dtype/device, a model without a batch).
        UserCodeError: the model, the batch or the loss cannot be used (the message names the layer and the fix).
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InvalidInputError(f"Got threads={threads!r}; give a whole number >= 1.")
    if time_limit is not None and not (isinstance(time_limit, (int, float)) and time_limit > 0):
        raise InvalidInputError(f"Got time_limit={time_limit!r}; give seconds > 0 per check, or None.")
    lam_given = lam is not None
    lam, grid, wanted = _validate(fn, lam, lams, task, grad, hvp, seed, checks)
    lam_from = ("given (lam)" if lam_given else "middle of the grid (lams), since lam was not given"
                if lams is not None else f"default ({DEFAULT_LAM:g})")
    dt, dev = resolve_dtype(dtype), resolve_device(device)
    started = time.perf_counter()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        the_task, float64_factory = _task(task, model, batch, loss, train_mode, seed, dt, dev)
        auto_name, title, source = _describe(fn)
        ctx = Context(fn=fn, task=the_task, reg=None, lam=lam, lams=grid, seed=seed, dtype=dt, device=dev,
                      grad=grad, hvp=hvp, source=f"{name or auto_name}: {source}" if name else source,
                      progress=progress, time_limit=time_limit, float64_factory=float64_factory)
        try:
            ctx.reg = Regularizer(fn, the_task, seed)
        except SignatureError as exc:
            ctx.facts.signature_why = str(exc)
        run = set(wanted) | {"well-formed"}
        for c in wanted:
            run |= set(_NEEDS.get(c, []))
        verdicts: dict[str, Verdict] = {}

        def card() -> ReportCard:
            settings = {"lam": lam, "lam_from": lam_from, "lams": grid, "task": the_task.kind,
                        "device": str(dev), "dtype": str(dt).removeprefix("torch."),
                        "seed": seed, "torch_threads": threads, "user_grad": grad is not None,
                        "user_hvp": hvp is not None, "task_description": the_task.describe(), "checks": wanted,
                        **_model_settings(the_task), "strict": strict, "time_limit_s": time_limit,
                        "budget": ctx.budget.to_json()}
            finished = [verdicts[c] for c in CHECKS if c in wanted and c in verdicts]
            return ReportCard(name=name or auto_name, checks=finished, title=title, source=source,
                              settings=settings, elapsed_s=round(time.perf_counter() - started, 3), strict=strict)

        try:
            for check_id, check in CHECKS.items():
                if check_id in run:
                    verdicts[check_id] = _safe(check, ctx, check_id)
        except KeyboardInterrupt as exc:
            partial = card()
            partial.summary = f"Interrupted: {len(partial.checks)} of {len(wanted)} checks finished."
            exc.partial_card = partial  # type: ignore[attr-defined]  # the CLI saves it as a .partial output
            raise
    finally:
        torch.set_num_threads(previous_threads)
    done = card()
    done.summary = _summary(done, ctx, lam_from)
    return done


def _model_settings(task: Task) -> dict[str, Any]:
    """What the card says about the model: parameters, frozen ones, loss, mode, per-example quantities."""
    return {"parameters": task.n, "examples": task.m, "loss": task.loss_name, "frozen_parameters": task.frozen,
            "no_gradient_at_theta0": task.unreached, "train_mode": task.train_mode,
            "stochastic_model": task.stochastic, "per_example": task.per_example_why or "defined"}


def _safe(check: Callable[[Context], Any], ctx: Context, check_id: str) -> Verdict:
    started = time.perf_counter()
    try:
        ctx.begin(check_id)
        return check(ctx)
    except TimeLimitReached as stop:
        ctx.facts.timed_out.append(check_id)
        done = ", ".join(stop.done) or "none"
        return make_verdict(ctx, check_id, VerdictKind.INCONCLUSIVE,
                            f"Stopped by the time limit ({stop.limit:g} s per check) before the step "
                            f"'{stop.next_step}'; steps finished: {done}. Nothing is concluded from a partial check: "
                            "raise --time-limit, or use a smaller batch or model.", title=check_id, statement="",
                            numeric={"time_limit_s": stop.limit, "steps_finished": stop.done,
                                     "stopped_before": stop.next_step}, started=started)
    except Exception as exc:  # a bug here or odd user code: an error verdict, never a crash
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return make_verdict(ctx, check_id, VerdictKind.ERROR,
                            f"The check could not complete: {tb}. If the regularizer is well formed, this is a "
                            "bug in verify: please report it with this card.", title=check_id,
                            statement="", numeric={"exception": tb}, started=started)


def _first_sentences(text: str, limit: int = 240) -> str:
    """Whole sentences of ``text`` up to about ``limit`` characters (at least one)."""
    out = ""
    for sentence in text.rstrip(".").split(". "):
        if out and len(out) + len(sentence) > limit:
            break
        out += sentence + ". "
    return out.strip()


def _summary(card: ReportCard, ctx: Context, lam_from: str = "") -> str:
    parts = []
    ok = [v.claim for v in card.checks if v.matches_expectation]
    bad = [v for v in card.checks if not v.matches_expectation]
    parts.append(f"{len(ok)} of {len(card.checks)} checks passed" + (f" ({', '.join(ok)})" if ok else "") + ".")
    blocked = [v.claim for v in bad if (v.numeric or {}).get("blocked_by")]
    for v in bad:
        if v.claim not in blocked:
            parts.append(f"{v.claim}: {v.verdict.value} — {_first_sentences(v.message.split('. Fix:')[0])}")
    if blocked:
        parts.append(f"Not run because of that: {', '.join(blocked)}.")
    if card.undecided and not card.strict:
        parts.append("Inconclusive and not-applicable checks are reported, not failed (strict mode fails them).")
    task = ctx.task
    if task.frozen:
        parts.append(f"{len(task.frozen)} frozen parameter tensors (requires_grad=False) are not part of θ: "
                     f"{', '.join(task.frozen[:6])}{' …' if len(task.frozen) > 6 else ''}.")
    if task.unreached:
        parts.append(f"No gradient of the loss reaches {', '.join(task.unreached[:6])} at θ0 (unused parameters, "
                     "or an op outside the leaf layers that blocks the gradient).")
    if ctx.facts.float64_unavailable:
        parts.append("Your model does not run in float64, so the gradient, descent and constraint checks ran in "
                     f"{ctx.dtype_name} ({_first_sentences(ctx.facts.float64_unavailable, 160)})")
    if task.train_mode:
        parts.append("The model ran in train mode" + (" and is stochastic: one fixed seed per call" if
                                                     task.stochastic else "") + ".")
    if lam_from.startswith("middle"):
        parts.append(f"λ = {ctx.lam:g} (middle of the grid {ctx.lams}) for the smoothness, descent and curvature "
                     "checks; pass lam to choose another.")
    M = ctx.facts.M
    if M and M > 0 and not ctx.facts.kinked:
        parts.append(f"Estimated curvature bound M ≈ {M:.4g} for L + λR (λ = {ctx.lam:g}): safe step size 2/M ≈ "
                     f"{2 / M:.4g}.")
    elif M and ctx.facts.kinked:
        parts.append("R is kinked: no global curvature bound M exists (no provably safe step size).")
    if ctx.facts.stochastic:
        parts.append("R is stochastic: the checks used one fixed seed per call.")
    if ctx.facts.sharpness_with is not None:
        parts.append(_sharpness_summary(ctx.facts))
    if ctx.facts.measures_sentence:
        parts.append(ctx.facts.measures_sentence)
    return " ".join(parts)


def _sharpness_summary(facts: Facts) -> str:
    a, b = facts.sharpness_without, facts.sharpness_with
    rates = ", ".join(f"{r:+.3g}" for r in facts.sharpness_rates)
    equal, level = facts.equal_loss_change, facts.equal_loss_level
    trained = f"after training: {a:.4g} without R, {b:.4g} with R"
    if facts.sharpness_effect == "mixed":
        says = "RAISES" if facts.raises_sharpness else "lowers"
        other = f"{abs(equal):.0%} {'sharper' if equal > 0 else 'flatter'}"
        return (("WARNING: " if facts.raises_sharpness else "")
                + f"R's effect on the sharpness is mixed: the local rates say R {says} the sharpness λ_max(∇²L) "
                f"(rates {rates} at θ0, trained without, "
                f"trained with R), but at equal training loss (L ≈ {level:.4g}) the model trained with R is "
                f"{other}: the two measurements disagree ({trained}).")
    if facts.raises_sharpness:
        return (f"WARNING: this regularizer RAISES the sharpness λ_max(∇²L): moving down its gradient increases "
                f"λ_max on average, at rates {rates} (θ0, trained without, trained with R); it rewards curvature "
                f"instead of penalizing it. At equal training loss (L ≈ {level:.4g}) the sharpness changes by "
                f"{equal:+.0%} with R; {trained}.")
    return (f"Moving down its gradient lowers the sharpness λ_max(∇²L) (rates {rates}), and at equal training loss "
            f"(L ≈ {level:.4g}) the sharpness changes by {equal:+.0%} with R (no contradiction beyond ±{AGREE:.0%}); "
            f"{trained}.")
