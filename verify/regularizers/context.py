"""What the checks share: the run's settings, the adapted regularizer, facts found so far, verdicts."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from verify.claims import Tolerance, Verdict, VerdictKind, versions
from verify.errors import VerifyError
from verify.numeric import dtype_name
from verify.regularizers.budget import Budget, budget_for
from verify.regularizers.facts import STAGES, Facts
from verify.regularizers.model import Regularizer, Task, make_task

__all__ = ["SOURCE", "Context", "TimeLimitReached", "blocked", "make_verdict"]

#: a verdict's source when the context names no function (``Context.source`` is normally the user's function)
SOURCE = "verify.check_regularizer"


class TimeLimitReached(Exception):
    """A check ran past its time limit; raised between steps by :meth:`Context.step`."""

    def __init__(self, limit: float, done: list[str], next_step: str) -> None:
        self.limit, self.done, self.next_step = limit, list(done), next_step
        super().__init__(f"time limit {limit:g} s reached before {next_step!r}")


@dataclass
class Context:
    """One run of :func:`verify.check_regularizer`.

    Attributes:
        fn: the user's regularizer; grad, hvp: optional user derivatives.
        task: the task of checks 1–4 and 6 (``mlp`` or ``softmax``).
        reg: ``fn`` adapted to ``theta -> R(theta)`` on ``task`` (None if its signature is bad).
        lam: λ of checks 3, 4 and 6; lams: the λ grid of check 5.
        source: what every verdict names as its source (the function's qualified name and file).
        facts: what earlier checks found (:class:`~verify.regularizers.facts.Facts`: ``value_ok``,
            ``grad_ok``, ``double_ok``, ``stochastic``, ``M``, ``kinked`` …), read by later checks.
        progress: called with ``"check: step"`` lines as the checks go (the CLI writes them to stderr).
        time_limit: seconds per check; :meth:`step` ends a check past it (between steps, never inside one).
        float64_factory: builds the user's model's task in float64 (``None`` for a built-in task); the
            gradient check runs in float64 whatever the run's dtype, and check 5 on the user's model in float64.
    """

    fn: Callable[..., Any]
    task: Task
    reg: Regularizer | None
    lam: float
    lams: list[float]
    seed: int
    dtype: torch.dtype
    device: torch.device
    grad: Callable[..., Any] | None = None
    hvp: Callable[..., Any] | None = None
    facts: Facts = field(default_factory=Facts)
    source: str = SOURCE
    progress: Callable[[str], None] | None = None
    time_limit: float | None = None
    float64_factory: Callable[[], Task] | None = None
    #: the dtype R returns on this context's task (set by :meth:`in_float64`; else the well-formed check's)
    returns_dtype: torch.dtype | None = None
    _convex: Task | None = None
    _task64: Task | None = None
    _check: str = ""
    _check_started: float = 0.0
    _steps: list[str] = field(default_factory=list)

    def begin(self, check: str) -> None:
        """Start timing and counting the steps of ``check``."""
        self._check, self._check_started, self._steps = check, time.perf_counter(), []
        self.step("start")

    def step(self, what: str) -> None:
        """Say that ``what`` begins; past the time limit, end the check (:class:`TimeLimitReached`)."""
        if self.time_limit is not None and time.perf_counter() - self._check_started > self.time_limit:
            raise TimeLimitReached(self.time_limit, self._steps, what)
        self._steps.append(what)
        if self.progress is not None:
            self.progress(f"{self._check}: {what}")

    @property
    def budget(self) -> Budget:
        """How much work the checks do (:mod:`verify.regularizers.budget`), by the task's size."""
        return budget_for(self.task.n)

    @property
    def dtype_name(self) -> str:
        return dtype_name(self.dtype)

    @property
    def value_dtype(self) -> torch.dtype:
        """The coarser of the run's dtype and the dtype R returns (R computed in float32 rounds like float32)."""
        other = self.returns_dtype or self.facts.value_dtype or self.dtype
        return other if torch.finfo(other).eps > torch.finfo(self.dtype).eps else self.dtype

    @property
    def u(self) -> float:
        """Unit round-off of :attr:`value_dtype` (finite-difference error models use it)."""
        return float(torch.finfo(self.value_dtype).eps)

    @property
    def tol(self) -> Tolerance:
        return Tolerance(dtype_name(self.value_dtype))

    def convex_task(self) -> Task:
        """Check 5's task in float64 (solver accuracy needs it): the user's model when one was given
        (:attr:`convex_factory`), else softmax regression."""
        if self._convex is None:
            if self.float64_factory is not None:
                self._convex = self.task64()
            elif self.task.kind == "softmax" and self.dtype == torch.float64:
                self._convex = self.task
            else:
                self._convex = make_task("softmax", seed=self.seed, dtype=torch.float64, device=self.device)
        return self._convex

    def task64(self) -> Task:
        """The run's task in float64 (the task itself when the run is in float64)."""
        if self.dtype == torch.float64:
            return self.task
        if self._task64 is None:
            self._task64 = (self.float64_factory() if self.float64_factory is not None else
                            make_task(self.task.kind, seed=self.seed, dtype=torch.float64, device=self.device))
        return self._task64

    def in_float64(self) -> Context:
        """This context on the float64 task (the same facts): for the checks that need float64."""
        if self.dtype == torch.float64:
            return self
        try:
            task = self.task64()
        except VerifyError as exc:  # a model that casts to float32 inside forward: stay in the run's dtype
            self.facts.float64_unavailable = str(exc)
            return self
        reg = None if self.reg is None else Regularizer(self.fn, task, self.seed, kind=self.reg.kind)
        returns = None
        if reg is not None:
            try:  # R on float64 parameters may still compute in float32 (an explicit cast): its own dtype counts
                returns = reg(task.theta0).dtype
            except Exception:  # the check itself meets and reports the failure
                returns = None
        return replace(self, task=task, reg=reg, dtype=torch.float64, returns_dtype=returns, _convex=self._convex,
                       _task64=task)

    def objective(self, task: Task | None = None, reg: Regularizer | None = None,
                  lam: float | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
        r""":math:`\theta \mapsto L(\theta) + \lambda R(\theta)`."""
        task = self.task if task is None else task
        reg = self.reg if reg is None else reg
        lam = self.lam if lam is None else lam
        assert reg is not None
        return lambda theta: task.loss(theta) + lam * reg(theta)

    def points(self, count: int, task: Task | None = None, salt: int = 0) -> list[torch.Tensor]:
        r"""``theta0`` and ``count - 1`` seeded random points around it (:math:`\theta_0 + \mathcal N(0, 0.5^2)`)."""
        task = self.task if task is None else task
        gen = torch.Generator().manual_seed(self.seed * 1000 + 17 + salt)
        out = [task.theta0.clone()]
        for _ in range(count - 1):
            step = 0.5 * torch.randn(task.n, generator=gen, dtype=torch.float64)
            out.append(task.theta0 + step.to(task.theta0))
        return out

    def directions(self, count: int, n: int, salt: int = 0) -> list[torch.Tensor]:
        """Seeded random unit directions ``(n,)``."""
        gen = torch.Generator().manual_seed(self.seed * 1000 + 91 + salt)
        out = []
        for _ in range(count):
            v = torch.randn(n, generator=gen, dtype=torch.float64)
            out.append((v / torch.linalg.vector_norm(v)).to(dtype=self.dtype, device=self.device))
        return out


def make_verdict(ctx: Context, check: str, kind: VerdictKind | str, message: str, *, title: str,
                 statement: str, numeric: dict[str, Any] | None = None,
                 counterexample: dict[str, Any] | None = None, hypotheses: list[str] | None = None,
                 started: float | None = None) -> Verdict:
    """A Verdict for one check (``expected`` is always ``holds``)."""
    return Verdict(
        claim=check, verdict=VerdictKind(kind), expected="holds", statement=statement, source=ctx.source,
        message=message, numeric=numeric, counterexample=counterexample, seed=ctx.seed,
        device=str(ctx.device), dtype=ctx.dtype_name, torch_threads=torch.get_num_threads(),
        versions=versions(), elapsed_s=0.0 if started is None else round(time.perf_counter() - started, 3),
        title=title, hypotheses=list(hypotheses or []),
    )


def blocked(ctx: Context, check: str, title: str, statement: str, needs: str) -> Verdict | None:
    """An ``error`` verdict when an earlier check found what ``needs`` names broken, else None.

    ``needs``: ``"value"`` (a finite scalar), ``"grad"`` (a gradient) or ``"double"`` (double backward).
    A prerequisite the time limit stopped makes it ``inconclusive`` instead (nothing was found broken).
    """
    waiting = [c for c in ("well-formed", "smoothness" if check == "descent" else "")
               if c and c in ctx.facts.timed_out]
    if waiting:
        return make_verdict(ctx, check, VerdictKind.INCONCLUSIVE,
                            f"Not run: the {waiting[0]} check, whose result this check needs, was stopped by the time "
                            "limit before it finished; raise --time-limit.", title=title, statement=statement,
                            numeric={"blocked_by": waiting[0], "needs": "its result (stopped by the time limit)"})
    for key in STAGES[:STAGES.index(needs) + 1]:
        ok, why = ctx.facts.stage(key)
        if not ok:
            what = {"value": "a finite scalar value", "grad": "a gradient that reaches the parameters",
                    "double": "double backward (second derivatives)"}[key]
            return make_verdict(
                ctx, check, VerdictKind.ERROR,
                f"Not run: this check needs {what}, which the well-formed check found broken; see that verdict "
                "for the cause and the fix.",
                title=title, statement=statement, numeric={"blocked_by": "well-formed", "needs": key, "cause": why})
    if ctx.facts.grad_wrong and check not in ("gradient", "constraint"):
        return make_verdict(
            ctx, check, VerdictKind.ERROR,
            "Not run: the gradient check found autograd's gradient of R wrong, and this check's curvature, steps "
            "and training would all be computed from it; fix the backward (see the gradient check) and run again.",
            title=title, statement=statement, numeric={"blocked_by": "gradient", "needs": "a correct gradient"})
    return None
