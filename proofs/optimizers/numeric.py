r"""The update rules stepped numerically, and the step-by-step judgement, behind :mod:`proofs.optimizers`.

Both sides of C6: :func:`~proofs.optimizers.reference.torch_trajectory` steps ``torch.optim`` itself
(``p.grad = g_t; opt.step()``), :func:`rule_trajectory` the lambdified SymPy rule (:func:`verify.to_torch`) and
:func:`mp_trajectory` the same rule in 50-digit mpmath (``sympy.lambdify``, the re-check's
independent route). :func:`compare_trajectories` judges them per step and coordinate with the
tolerance :math:`c\,t\,\kappa_t\,A_t\,\varepsilon\,S_t`: :math:`S_t` from the rule's shadow run
(:func:`step_scale`), :math:`\kappa_t` from :func:`conditioning` and :math:`A_t` from
:func:`amplification`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np
import sympy as sp
import torch

from proofs.optimizers import FAMILY
from proofs.optimizers import symbolic as sym
from proofs.optimizers.cases import OptimizerCase
from proofs.optimizers.reference import in_dtype, torch_call_text, torch_rule, torch_trajectory
from verify import (
    CaseResult,
    CheckContext,
    Comparison,
    NumericError,
    Tolerance,
    compare_close,
    compare_nonfinite,
    to_torch,
)

#: depth factor c per step: a step is about a dozen flops, each rounding once
DEPTH_PER_STEP = FAMILY.depth  # the family's tolerance depth is per optimizer step
#: mpmath digits of the independent re-check
RECHECK_DPS = 50
#: relative size of the finite-difference perturbation that measures error amplification
AMPLIFICATION_STEP = 1e-8
#: amplification beyond this (≈ 1/AMPLIFICATION_STEP) is not resolved by the finite difference
MAX_AMPLIFICATION = 1e8


#: the rule under test for a case: :func:`torch_rule` (the documented algorithm), or a mistaken one
RuleFor = Callable[[OptimizerCase], sym.UpdateRule]


def _values(case: OptimizerCase) -> dict[str, Any]:
    return {**case.options, "direction": -1.0 if case.options["maximize"] else 1.0}


@functools.cache
def _compiled(rule: sym.UpdateRule) -> Callable[..., torch.Tensor]:
    return to_torch(sp.Matrix(rule.step), rule.args, name="optimizer_step")


@functools.cache
def _mp_compiled(rule: sym.UpdateRule) -> Callable[..., list[Any]]:
    return sp.lambdify(rule.args, list(rule.step), modules="mpmath")


@functools.cache
def _initial_compiled(rule: sym.UpdateRule) -> Callable[..., list[Any]]:
    return sp.lambdify(rule.params, [sp.sympify(e) for e in rule.initial], modules="math")


def _initial(rule: sym.UpdateRule, values: Mapping[str, Any]) -> list[float]:
    """The state before the first step (its expressions are constants and parameters: exact in floats), compiled
    once per rule (substituting with SymPy per case was a fifth of the check)."""
    return [float(x) for x in _initial_compiled(rule)(*(values[p.name] for p in rule.params))]


def _runner(rule: sym.UpdateRule, case: OptimizerCase, ctx: CheckContext, shadow: bool
            ) -> tuple[Callable[..., torch.Tensor], torch.Tensor, list[torch.Tensor], torch.Tensor, list[torch.Tensor]]:
    """The compiled step, θ₀, the initial state, the gradients and the parameter tensors."""
    values = _values(case)
    if shadow:
        values = {**values, "lr": -values["lr"], "direction": 1.0}
    dtype = getattr(torch, ctx.dtype)
    theta = torch.tensor(case.theta0, dtype=dtype, device=ctx.device)
    grads = torch.tensor(case.grads, dtype=dtype, device=ctx.device)
    if shadow:
        theta, grads = theta.abs(), grads.abs()
    params = [torch.tensor(float(x), dtype=dtype, device=ctx.device) for x in rule.param_values(values)]
    state = [torch.full_like(theta, x) for x in _initial(rule, values)]
    return _compiled(rule), theta, state, grads, params


def _advance(fn: Callable[..., torch.Tensor], theta: torch.Tensor, state: list[torch.Tensor], grads: torch.Tensor,
             params: list[torch.Tensor], first: int, last: int) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
    """Steps ``first..last`` (1-based, torch's counter) from (θ, state): the (θ_t, state_t) after each."""
    out = []
    for k in range(first, last + 1):
        step = torch.tensor(float(k), dtype=theta.dtype, device=theta.device)
        new = fn(theta, *state, grads[k - 1], step, *params)[..., :, 0]  # (n, 1 + len(state))
        theta, state = new[:, 0], [new[:, i] for i in range(1, new.shape[1])]
        out.append((theta, state))
    return out


def rule_trajectory(rule: sym.UpdateRule, case: OptimizerCase, ctx: CheckContext, *, shadow: bool = False
                    ) -> torch.Tensor:
    """θ₀..θ_T from the lambdified rule: (T+1, n), every coordinate at once.

    ``shadow=True`` runs it on :math:`|\\theta_0|, |g_t|` with :math:`-\\gamma` and ``d = +1``: every sum
    then adds absolute values, which bounds the size of the terms that cancel (the tolerance's scale).
    """
    fn, theta, state, grads, params = _runner(rule, case, ctx, shadow)
    return torch.stack([theta] + [th for th, _ in _advance(fn, theta, state, grads, params, 1, case.steps)])


def amplification(rule: sym.UpdateRule, case: OptimizerCase, ctx: CheckContext, scale: np.ndarray) -> np.ndarray:
    """A_t per coordinate: how much an error in an earlier θ_s is magnified by the time it reaches θ_t.

    Round-off committed at step s moves θ_s by about ``eps·S_s``; the steps after it carry that on
    with their derivative in θ, which is large where an adaptive step sees a tiny g' = d·g + λθ (the
    map x ↦ x/(|x| + ε) has slope 1/ε at 0). Measured by finite differences on the lambdified rule:
    restart from θ_s + δ_s, δ_s = ``AMPLIFICATION_STEP``·S_s, and take
    :math:`\\max_{s<t} |\\Delta\\theta_t|/\\delta_s` (at least 1). Returns (T+1, n).
    """
    fn, theta, state, grads, params = _runner(rule, case, ctx, shadow=False)
    path = _advance(fn, theta, state, grads, params, 1, case.steps)
    out = np.ones((case.steps + 1, case.theta0.size))
    for s in range(1, case.steps):
        th, st_s = path[s - 1]
        delta = AMPLIFICATION_STEP * np.where(scale[s] > 0, scale[s], 1.0)
        moved = _advance(fn, th + torch.as_tensor(delta, dtype=th.dtype, device=th.device), st_s, grads, params,
                         s + 1, case.steps)
        for t, (th_t, _) in enumerate(moved, start=s + 1):
            slope = np.abs((th_t - path[t - 1][0]).detach().cpu().numpy()) / delta
            out[t] = np.maximum(out[t], np.where(np.isfinite(slope), slope, MAX_AMPLIFICATION))
    return np.minimum(out, MAX_AMPLIFICATION)


def mp_trajectory(rule: sym.UpdateRule, case: OptimizerCase, dps: int = RECHECK_DPS) -> np.ndarray:
    """θ₀..θ_T from the SymPy rule in ``dps``-digit mpmath (``sympy.lambdify``, not the bridge): (T+1, n)."""
    fn = _mp_compiled(rule)
    values = _values(case)
    out = np.zeros((case.steps + 1, case.theta0.size))
    with mpmath.workdps(dps):
        params = [mpmath.mpf(float(x)) for x in rule.param_values(values)]
        initial = [mpmath.mpf(x) for x in _initial(rule, values)]
        for i, th0 in enumerate(case.theta0):
            theta, state = mpmath.mpf(float(th0)), list(initial)
            out[0, i] = float(theta)
            for k in range(case.steps):
                try:
                    new = fn(theta, *state, mpmath.mpf(float(case.grads[k, i])), mpmath.mpf(k + 1), *params)
                except ZeroDivisionError:  # mpmath raises where floats give inf or nan
                    out[k + 1:, i] = np.nan
                    break
                theta, state = new[0], list(new[1:])
                if not all(isinstance(x, mpmath.mpf) for x in new):  # a square root of a negative number
                    out[k + 1:, i] = np.nan
                    break
                out[k + 1, i] = float(theta)
    return out


def conditioning(case: OptimizerCase) -> list[float]:
    """κ_t for t = 1..T: how much the round-off of one step is amplified beyond its flop count.

    Adam: :math:`1 + \\beta_1/(1-\\beta_1) + \\beta_2/(1-\\beta_2)` bounds
    :math:`\\beta^s/(1-\\beta^s)`, the amplification of the rounding of :math:`\\beta^s` in the bias
    corrections, plus :math:`1/(2\\beta_1)` for :math:`0 < \\beta_1 < \\tfrac12`: torch updates
    :math:`m` by ``lerp(m, g, 1 - beta1)``, i.e. with the decay :math:`1 - \\mathrm{fl}(1-\\beta_1)`,
    which is :math:`\\beta_1` only to a relative :math:`\\varepsilon/(2\\beta_1)`; centered RMSprop:
    :math:`1/\\alpha^t`, since :math:`v_t - \\bar g_t^2 \\ge \\alpha^t v_t` (``rmsprop-centered-variance``);
    otherwise 1.
    """
    o = case.options
    if case.optimizer == "adam":
        b1, b2 = o["beta1"], o["beta2"]
        kappa = 1.0 + b1 / (1.0 - b1) + b2 / (1.0 - b2) + (0.5 / b1 if 0.0 < b1 < 0.5 else 0.0)
        return [kappa] * case.steps
    if case.optimizer == "rmsprop" and o.get("centered"):
        return [1.0 / o["alpha"] ** k for k in range(1, case.steps + 1)]
    return [1.0] * case.steps


@dataclass
class TrajectoryComparison:
    """Step-by-step judgement of two trajectories.

    Attributes:
        comparison: at the first diverging step, else at the tightest step.
        first_divergence_step: the first step t whose comparison is violated (None: none).
        step: the step ``comparison`` is taken at; coordinate: its coordinate.
        step_errors: per step, the largest |ours − torch| / S_t over coordinates.
        tolerance: how the tolerance was set.
    """

    comparison: Comparison
    first_divergence_step: int | None
    step: int
    coordinate: int
    step_errors: list[float]
    tolerance: str


def compare_trajectories(ours: np.ndarray, theirs: np.ndarray, scale: np.ndarray, kappa: list[float],
                         amplify: Callable[[], np.ndarray] | np.ndarray | None, dtype: str
                         ) -> TrajectoryComparison:
    """Judge θ_t(ours) = θ_t(torch) per step t ≥ 1 and coordinate, tolerance c·t·κ_t·A_t·eps·S_t.

    Args:
        ours, theirs, scale: (T+1, n).
        kappa: (T,) the conditioning of each step (:func:`conditioning`).
        amplify: (T+1, n) the error amplification A_t (:func:`amplification`), or a function returning
            it: it is only needed where a step fails with A_t = 1, since A_t ≥ 1 only widens the
            tolerance (and A_1 = 1: nothing before the first step can be amplified).
        dtype: the dtype the numbers were computed in.
    """
    first, chosen, errors = None, None, []
    for k in range(1, ours.shape[0]):
        err = np.abs(ours[k] - theirs[k])
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(scale[k] > 0, err / np.where(scale[k] > 0, scale[k], 1.0), np.where(err > 0, np.inf, 0))
        errors.append(float(ratio.max()))
        comparison, i, tol = _judge_step(ours, theirs, scale, ratio, k, DEPTH_PER_STEP * k * max(kappa[:k]), dtype,
                                         None)
        if comparison.status == "violated" and amplify is not None and k > 1:
            factors = amplify() if callable(amplify) else amplify
            comparison, i, tol = _judge_step(ours, theirs, scale, ratio, k, DEPTH_PER_STEP * k * max(kappa[:k]),
                                             dtype, factors[k])
        excess = comparison.abs_err / comparison.atol if comparison.atol > 0 else (np.inf if comparison.abs_err else 0)
        if comparison.status == "violated" and first is None:
            first, chosen = k, (comparison, k, i, tol, np.inf)
        if first is None and (chosen is None or excess > chosen[4]):
            chosen = (comparison, k, i, tol, excess)
    assert chosen is not None
    comparison, k, i, tol, _ = chosen
    return TrajectoryComparison(comparison, first, k, i, errors, tol.describe())


def _judge_step(ours: np.ndarray, theirs: np.ndarray, scale: np.ndarray, ratio: np.ndarray, k: int, depth: float,
                dtype: str, amplified: np.ndarray | None) -> tuple[Comparison, int, Tolerance]:
    """The worst coordinate of step k (relative to its own tolerance) and its comparison.

    A depth beyond 1/eps (tolerance ≥ the scale) is capped there: such a comparison is undecidable.
    """
    cap = 1.0 / Tolerance(dtype).eps
    depths = np.minimum(depth * (np.ones_like(ratio) if amplified is None else amplified), cap)
    i = int(np.argmax(ratio / depths))
    tol = Tolerance(dtype, float(depths[i]))
    return compare_close(float(ours[k, i]), float(theirs[k, i]), float(scale[k, i]), tol), i, tol


def step_scale(case: OptimizerCase, rules: list[sym.UpdateRule], ctx: CheckContext, *trajectories: np.ndarray
               ) -> np.ndarray:
    """S_t per coordinate: the largest shadow run of the rules, and at least |θ_t| of every trajectory."""
    parts = [rule_trajectory(r, case, ctx, shadow=True).detach().cpu().numpy() for r in dict.fromkeys(rules)]
    # a rule under test may blow up in its shadow run (a dropped eps): the other rules' shadows then set S_t
    shadows = np.stack([np.where(np.isfinite(p), p, -np.inf) for p in parts])
    out = np.maximum.reduce([shadows.max(axis=0)] + [np.abs(tr) for tr in trajectories])
    out = np.where(np.isfinite(shadows).any(axis=0), out, np.inf)
    return np.where(np.isfinite(out), out, np.inf)


# --------------------------------------------------------------------------- a claim's check and re-check


def finiteness_mismatch(ours: np.ndarray, theirs: np.ndarray) -> tuple[int, int] | None:
    """The first (step, coordinate) where one trajectory is finite and the other is not, or both are
    non-finite but differ (nan against inf): there the two cannot agree whatever the tolerance."""
    same = np.isfinite(ours) == np.isfinite(theirs)
    both = ~np.isfinite(ours) & ~np.isfinite(theirs)
    same &= ~both | (np.isnan(ours) & np.isnan(theirs)) | (ours == theirs)
    bad = np.argwhere(~same)
    return (int(bad[0][0]), int(bad[0][1])) if bad.size else None


def _nonfinite_result(case: OptimizerCase, rule: sym.UpdateRule, ours: np.ndarray, theirs: np.ndarray,
                      where: tuple[int, int], route: str, tags: tuple[str, ...]) -> CaseResult:
    """A violation: at step k one side is finite and the other is not (a division by zero, an overflow,
    the square root of a negative number)."""
    k, i = where
    mine, torch_value = float(ours[k, i]), float(theirs[k, i])
    if np.isfinite(mine):  # torch.optim itself blew up where the rule did not: no oracle value to compare to
        raise NumericError(f"torch.optim gives {torch_value} at step {k} where the rule gives {mine}; "
                           f"the case {torch_call_text(case)} has no finite reference trajectory")
    comparison = compare_nonfinite(mine, torch_value)
    details = {
        "rule": rule.name, "torch": torch_call_text(case), "steps": case.steps, "first_divergence_step": k,
        "judged_step": k, "coordinate": i, "theta_ours": ours[k].tolist(), "theta_torch": theirs[k].tolist(),
        "route": route, "nonfinite": f"step {k}: the rule gives {mine} where torch.optim gives {torch_value}",
    }
    return CaseResult(comparison, tags, details, "none: one side is not finite")


def _judge(case: OptimizerCase, ctx: CheckContext, rule: sym.UpdateRule, ours: np.ndarray, theirs: np.ndarray,
           route: str, tags: tuple[str, ...]) -> CaseResult:
    """Judge the trajectories of ``rule`` (``ours``) and torch.optim (``theirs``) step by step."""
    where = finiteness_mismatch(ours, theirs)
    if where is not None:
        return _nonfinite_result(case, rule, ours, theirs, where, route, tags)
    reference = torch_rule(case)
    scale = step_scale(case, [rule, reference], ctx, ours, theirs)
    measured: list[np.ndarray] = []

    def amplified() -> np.ndarray:
        if not measured:
            rules = dict.fromkeys([rule, reference])
            measured.append(np.maximum.reduce([amplification(r, case, ctx, scale) for r in rules]))
        return measured[0]

    result = compare_trajectories(ours, theirs, scale, conditioning(case), amplified, ctx.dtype)
    details = {
        "rule": rule.name, "torch": torch_call_text(case), "steps": case.steps,
        "first_divergence_step": result.first_divergence_step, "judged_step": result.step,
        "coordinate": result.coordinate, "step_errors_rel_to_scale": result.step_errors,
        "amplification": float(measured[0][result.step, result.coordinate]) if measured else 1.0,
        "theta_ours": ours[result.step].tolist(), "theta_torch": theirs[result.step].tolist(), "route": route,
    }
    return CaseResult(result.comparison, tags, details, result.tolerance)


def rule_check(rule_for: RuleFor) -> Callable[[OptimizerCase, CheckContext], CaseResult]:
    """The check of "``rule_for(case)`` steps like torch.optim": the lambdified rule against torch.optim's
    default implementation, in ``ctx.dtype`` (the case's options rounded to it, :func:`in_dtype`)."""

    def check(case: OptimizerCase, ctx: CheckContext) -> CaseResult:
        rounded = in_dtype(case, ctx.dtype)
        rule = rule_for(rounded)
        ours = rule_trajectory(rule, rounded, ctx).detach().cpu().numpy()
        theirs = torch_trajectory(rounded, ctx).detach().cpu().numpy()
        return _judge(rounded, ctx, rule, ours, theirs, "lambdified SymPy rule vs torch.optim", case.tags)

    return check


def rule_recheck_mp(rule_for: RuleFor) -> Callable[[OptimizerCase, CheckContext], CaseResult]:
    """Its re-check, in float64: the rule in ``RECHECK_DPS``-digit mpmath (:func:`mp_trajectory`) against
    torch.optim's other implementation (``foreach=True``; AdamW ↔ Adam(decoupled_weight_decay=True))."""

    def recheck(case: OptimizerCase, ctx: CheckContext) -> CaseResult:
        rule = rule_for(case)
        ctx = CheckContext(device=ctx.device, dtype="float64", seed=ctx.seed, examples=ctx.examples)
        ours = mp_trajectory(rule, case)
        theirs = torch_trajectory(case, ctx, foreach=True, other_class=True).detach().cpu().numpy()
        route = f"SymPy rule in mpmath ({RECHECK_DPS} digits) vs torch.optim foreach" + (
            ", other class" if case.options.get("decoupled") else "")
        return _judge(case, ctx, rule, ours, theirs, route, case.tags)

    return recheck
