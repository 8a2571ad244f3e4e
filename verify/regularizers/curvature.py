r"""Check 6, effect on curvature and gradients: train with and without R, compare.

Two full-batch gradient-descent runs from the same seeded :math:`\theta_0`, the same step
:math:`\alpha` (:math:`1/M` with M from check 3, or :math:`1/\lambda_{\max}(\nabla^2 L(\theta_0))` when
check 3 has none) and the same budget (``STEPS`` steps; 40 on the large-model budget of
:mod:`verify.regularizers.budget`): on :math:`L` and on :math:`L + \lambda R`.
At both end points (evaluated on the *loss* L, not on the penalized objective):

* sharpness :math:`\lambda_{\max}(\nabla^2 L)` (and :math:`\lambda_{\min}`), Lanczos;
* :math:`\overline{\|\nabla_x \ell_i\|^2}` and :math:`\overline{\|\nabla_\theta \ell_i\|^2}` over the
  examples (per-example input and parameter gradients, :math:`\ell_i` the example's loss) and the
  mean of their ratio :math:`\|\nabla_x \ell_i\|^2 / \|\nabla_\theta \ell_i\|^2`, the quantity claim C3
  bounds for MLPs (``proofs/gradient_inequality/``).

Training comparisons are confounded by how far each run got (sharpness usually grows during
training, and a penalty slows the loss down), so the check also measures R's *local* effect: the
rate of change of the sharpness along R's descent direction,

.. math:: \rho = \frac{d}{dt}\lambda_{\max}\bigl(\nabla^2 L(\theta - t\,\nabla R/\|\nabla R\|)\bigr)\Big|_{t=0}
          \approx \frac{\lambda_{\max}(\theta - \varepsilon d) - \lambda_{\max}(\theta + \varepsilon d)}{2\varepsilon},
          \quad \varepsilon = 10^{-3},

at :math:`\theta_0` and at both trained points (Lanczos at ``tol = 1e-10``). The local rates say R
*raises* the sharpness when the mean of the three rates is positive (minimizing it rewards
curvature) and *lowers* it otherwise (``raises_sharpness``); the message says when the three rates
do not share one sign. The comparison at equal training loss (``at_equal_loss``: both runs at the
first checkpoint where each reached the higher of the two final losses) is a second measurement;
``sharpness_effect`` is ``"mixed"`` when the two disagree — the local rates say one direction and
the equal-loss sharpness changes by more than ``AGREE`` (5%) in the other — and otherwise
``"raises"`` or ``"lowers"`` (the local rates' direction).

The verdict is descriptive (``verified`` with the numbers); the message, and the card's summary,
say plainly when the regularizer raises the sharpness and when the two measurements disagree.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from verify.claims import Figure, Series, VerdictKind
from verify.errors import InvalidInputError, NumericError, UserCodeError
from verify.regularizers.budget import FULL
from verify.regularizers.context import Context, blocked, make_verdict
from verify.regularizers.model import Task, autograd_grad
from verify.regularizers.spectra import MEASURES, agreement, density_figure, measure, spectra_budget

__all__ = ["AGREE", "check_curvature_effect", "effect_sentence", "sharpness_effect"]

CHECK = "curvature-effect"
TITLE = "Effect on curvature and gradients after training with and without R"
STATEMENT = (r"\Delta\lambda_{\max}(\nabla^2 L),\quad \Delta\overline{\|\nabla_x\ell\|^2},\quad "
             r"\Delta\overline{\|\nabla_\theta\ell\|^2},\quad "
             r"\Delta\overline{\|\nabla_x\ell\|^2/\|\nabla_\theta\ell\|^2}\ \text{(C3)}")
#: the full budget's training steps and checkpoint spacing (the large-model budget: verify.regularizers.budget)
STEPS, CHECKPOINT = FULL.train_steps, FULL.checkpoint
#: relative change of the equal-loss sharpness within which it does not contradict the local rates
AGREE = 0.05


def _train(F: Any, theta: torch.Tensor, alpha: float, steps: int, loss: Any,
           checkpoint: int = CHECKPOINT) -> tuple[torch.Tensor, list[float], list[tuple[int, torch.Tensor]]]:
    curve, kept = [], []
    for step in range(steps):
        _, g = autograd_grad(F, theta)
        curve.append(float(loss(theta).detach()))
        if step % checkpoint == 0:
            kept.append((step, theta.detach().clone()))
        theta = theta - alpha * g
        if not bool(torch.isfinite(theta).all()):
            raise NumericError(f"training diverged (non-finite parameters after {len(curve)} steps at α = {alpha:.3g})")
    curve.append(float(loss(theta).detach()))
    kept.append((steps, theta.detach().clone()))
    return theta, curve, kept


class _Sharpness:
    """λ_max(∇²L) by Lanczos; on the large-model budget each run starts from the previous run's Ritz vector
    (the points lie along two short training runs: the top eigenvector moves little, Lanczos needs about half
    the products). The full budget starts every run from the seeded random vector, as it always did."""

    def __init__(self, task: Task, ctx: Context) -> None:
        self.task, self.warm, self.last = task, ctx.budget.name != "full", None

    def __call__(self, theta: torch.Tensor, tol: float) -> float:
        found = self.task.extreme_eigenvalue(theta, tol=tol, start=self.last if self.warm else None)
        if self.warm and found.vector is not None:
            self.last = found.vector
        return found.value


def _trajectory(sharpness: _Sharpness, ctx: Context, curve: list[float], points: list[tuple[int, torch.Tensor]],
                known: dict[int, float]) -> list[tuple[int, float, float]]:
    """(step, loss, sharpness) at each kept checkpoint; ``known``: sharpness already measured, by step."""
    return [(step, curve[step], known[step] if step in known else sharpness(theta, ctx.budget.rate_tol))
            for step, theta in points]


def _matched(paths: list[list[tuple[int, float, float]]], curves: tuple[list[float], list[float]]) -> dict[str, Any]:
    """Sharpness of both runs at the first checkpoint where each reached the loss both runs reached.

    Comparing end points mixes R's effect with how far each run got (sharpness usually grows as the
    loss falls); at equal training loss the comparison is fair.
    """
    level = max(curves[0][-1], curves[1][-1])
    out: dict[str, Any] = {"loss_level": level}
    for name, path in zip(("without_R", "with_R"), paths):
        step, loss, sharp = next((row for row in path if row[1] <= level * (1 + 1e-9)), path[-1])
        out[name] = {"step": step, "loss": loss, "sharpness": sharp}
    return out


def _measure(task: Task, theta: torch.Tensor, ctx: Context, sharpness: _Sharpness) -> dict[str, Any]:
    """Loss, both ends of the spectrum (λ_max alone on the large-model budget), and the per-example
    gradient means (None where not defined)."""
    if ctx.budget.lambda_min:
        hi, lo = task.extreme_eigenvalues(theta, tol=1e-8)
        top, lowest = hi.value, lo.value
    else:
        top, lowest = sharpness(theta, ctx.budget.lanczos_tol), None
    out: dict[str, Any] = {"loss": float(task.loss(theta).detach()), "sharpness": top, "lambda_min": lowest,
                           "grad_norm": float(torch.linalg.vector_norm(task.grad(theta))),
                           "input_grad_sq_mean": None, "param_grad_sq_mean": None, "c3_ratio_mean": None}
    if task.per_example_why:
        return out
    par_sq = task.per_example_grad_sq_norms(theta)
    out["param_grad_sq_mean"] = float(par_sq.mean())
    if task.X.dtype.is_floating_point:
        in_sq = (task.input_grads(theta) ** 2).reshape(task.m, -1).sum(dim=1)
        out["input_grad_sq_mean"] = float(in_sq.mean())
        out["c3_ratio_mean"] = float((in_sq / par_sq.clamp_min(1e-300)).mean())
    return out


def _local_rate(sharpness: _Sharpness, reg: Any, theta: torch.Tensor, ctx: Context) -> float:
    """d/dt of λ_max(∇²L) along -∇R/‖∇R‖ (central difference; 0 where ∇R = 0)."""
    eps, tol = ctx.budget.rate_eps, ctx.budget.rate_tol
    _, g = autograd_grad(reg, theta)
    norm = float(torch.linalg.vector_norm(g))
    if norm == 0.0:
        return 0.0
    d = g / norm
    return (sharpness(theta - eps * d, tol) - sharpness(theta + eps * d, tol)) / (2 * eps)


def _relative(a: float, b: float) -> float:
    return (b - a) / abs(a) if a != 0 else (0.0 if b == a else math.copysign(math.inf, b - a))


def _change(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "not defined for this model"
    return f"{a:.4g} → {b:.4g} ({_relative(a, b):+.0%})"


def sharpness_effect(up: bool, equal: float) -> str:
    """``"mixed"`` when the local rates (``up``) and the equal-loss change ``equal`` disagree beyond AGREE."""
    if (up and equal < -AGREE) or (not up and equal > AGREE):
        return "mixed"
    return "raises" if up else "lowers"


def effect_sentence(up: bool, equal: float, level: float) -> str:
    """One plain sentence on R's effect on the sharpness, naming a disagreement of the two measurements."""
    says = "RAISES" if up else "lowers"
    if sharpness_effect(up, equal) != "mixed":
        return (f"Descending R {says} the sharpness λ_max(∇²L): the local rates say so, and at equal training "
                f"loss (L ≈ {level:.4g}) the model trained with R is {_amount(equal)}.")
    return (f"The two measurements disagree: the local rates say R {says} the sharpness λ_max(∇²L), but at equal "
            f"training loss (L ≈ {level:.4g}) the model trained with R is {_amount(equal)}; R's effect on the "
            "sharpness is mixed here.")


def _amount(equal: float) -> str:
    if abs(equal) <= AGREE:
        return f"about as sharp ({equal:+.0%}, within ±{AGREE:.0%})"
    return f"{abs(equal):.0%} {'sharper' if equal > 0 else 'flatter'}"


def check_curvature_effect(ctx: Context) -> Any:
    started = time.perf_counter()
    stop = blocked(ctx, CHECK, TITLE, STATEMENT, "grad")
    if stop is not None:
        return stop
    task = ctx.task
    F = ctx.objective()
    try:
        M = ctx.facts.M
        how = "1/M with M from the smoothness check"
        if not (M and M > 0 and math.isfinite(M)):
            hi, _ = task.extreme_eigenvalues(task.theta0, tol=1e-8)
            M, how = hi.value, "1/λ_max(∇²L(θ0)) (the smoothness check has no M)"
        alpha = 1.0 / M
        steps, every = ctx.budget.train_steps, ctx.budget.checkpoint
        ctx.step(f"training without R ({steps} steps)")
        base, curve_base, kept_base = _train(task.loss, task.theta0.clone(), alpha, steps, task.loss, every)
        ctx.step(f"training with λR ({steps} steps)")
        regd, curve_reg, kept_reg = _train(F, task.theta0.clone(), alpha, steps, task.loss, every)
        measured, sharpness = [], _Sharpness(task, ctx)
        for where, t in (("θ0", task.theta0), ("trained without R", base), ("trained with R", regd)):
            ctx.step(f"spectrum and per-example gradients at {where}")
            measured.append(_measure(task, t, ctx, sharpness))
        before, without, with_r = measured
        paths = []
        known: dict[int, float] = {} if ctx.budget.name == "full" else {0: before["sharpness"]}
        for label, (c, k), end in (("without", (curve_base, kept_base), without),
                                   ("with", (curve_reg, kept_reg), with_r)):
            ctx.step(f"sharpness at the checkpoints of the run {label} R")
            reuse = known if ctx.budget.name == "full" else {**known, steps: end["sharpness"]}
            paths.append(_trajectory(sharpness, ctx, c, k, reuse))
        matched = _matched(paths, (curve_base, curve_reg))
        ctx.step("trace, top-k spectrum and spectral density at equal training loss")
        measures = _measures_at(task, ctx, matched, (kept_base, kept_reg))
        assert ctx.reg is not None
        ctx.step("local rates of the sharpness along −∇R")
        rates = [_local_rate(sharpness, ctx.reg, t, ctx) for t in (task.theta0, base, regd)]
    except (UserCodeError, NumericError) as exc:
        return make_verdict(ctx, CHECK, VerdictKind.ERROR, f"Training or measuring failed: {exc}", title=TITLE,
                            statement=STATEMENT, started=started)
    trained_up = with_r["sharpness"] > without["sharpness"]
    matched_up = matched["with_R"]["sharpness"] > matched["without_R"]["sharpness"]
    up = sum(rates) > 0
    equal = _relative(matched["without_R"]["sharpness"], matched["with_R"]["sharpness"])
    effect = sharpness_effect(up, equal)
    facts = ctx.facts
    facts.sharpness_without, facts.sharpness_with = without["sharpness"], with_r["sharpness"]
    facts.raises_sharpness, facts.sharpness_effect, facts.trained_sharper = up, effect, trained_up
    facts.sharpness_rates, facts.equal_loss_change, facts.equal_loss_level = rates, equal, matched["loss_level"]
    numeric: dict[str, Any] = {
        "steps": steps, "checkpoint_every": every, "budget": ctx.budget.name, "alpha": alpha, "alpha_from": how,
        "lam": ctx.lam, "at_theta0": before,
        "without_R": without, "with_R": with_r, "raises_sharpness": up, "sharpness_effect": effect,
        "trained_sharper_with_R": trained_up, "at_equal_loss": matched, "sharper_at_equal_loss": matched_up,
        "equal_loss_relative_change": equal, "agreement_band": AGREE,
        "sharpness_rate_along_minus_grad_R": {"theta0": rates[0], "trained_without_R": rates[1],
                                              "trained_with_R": rates[2], "eps": ctx.budget.rate_eps,
                                              "lanczos_tol": ctx.budget.rate_tol},
        "sharpness_change": with_r["sharpness"] - without["sharpness"],
        "measures_at_equal_loss": {k: v for k, v in measures.items() if k != "density_figure"},
        "figures": [*_figures(ctx.lam, curve_base, curve_reg, paths, every),
                    *([measures["density_figure"]] if "density_figure" in measures else [])],
    }
    facts.measures_sentence = (measures["agreement"]["sentence"] if "agreement" in measures
                               else _measures_sentence(measures))
    if task.per_example_why:
        numeric["per_example"] = f"not defined: {task.per_example_why}"
    msg = _message(up, equal, rates, alpha, matched, without, with_r, steps) + " " + _measures_sentence(measures)
    if task.per_example_why:
        msg += f" Per-example gradients are not defined here: {task.per_example_why}"
    if ctx.facts.stochastic:
        msg += " (R is stochastic: one fixed realization of its noise was used at every step.)"
    return make_verdict(ctx, CHECK, VerdictKind.VERIFIED, msg, title=TITLE, statement=STATEMENT, numeric=numeric,
                        started=started)


def _measures_at(task: Task, ctx: Context, matched: dict[str, Any], kept: tuple[list, list]) -> dict[str, Any]:
    """λ_max, trace, top-k and the spectral density of both models at equal training loss, and their agreement."""
    budget = spectra_budget(ctx.budget.name)
    out: dict[str, Any] = {"budget": budget.to_json(), "measures": list(MEASURES)}
    try:  # extra evidence: a failure here is reported, it does not take the check's verdict with it
        for name, points in zip(("without_R", "with_R"), kept):
            theta = dict(points)[matched[name]["step"]]
            out[name] = measure(task, theta, matched[name]["sharpness"], budget, ctx.seed)
    except (InvalidInputError, NumericError, UserCodeError) as exc:
        out["not_measured"] = f"{type(exc).__name__}: {exc}"
        return out
    out["agreement"] = agreement(out["without_R"], out["with_R"])
    out["density_figure"] = density_figure(out["without_R"], out["with_R"], ctx.lam)
    return out


def _measures_sentence(measures: dict[str, Any]) -> str:
    if "not_measured" in measures:
        return f"The trace, top-k spectrum and spectral density were not measured ({measures['not_measured']})."
    a, b = measures["without_R"], measures["with_R"]
    k = len(a["top_k"]["values"])
    return (f"At equal training loss: trace {a['trace']['value']:.4g} ± {a['trace']['error']:.2g} → "
            f"{b['trace']['value']:.4g} ± {b['trace']['error']:.2g} (Hutch++, {a['trace']['matvecs']} products), "
            f"top-{k} mean {a['top_k_mean']:.4g} → {b['top_k_mean']:.4g}. {measures['agreement']['sentence']}")


def _figures(lam: float, curve_base: list[float], curve_reg: list[float], paths: list[Any],
             every: int) -> list[dict[str, Any]]:
    """The training-loss curves, and the sharpness against the training loss, without and with λR."""
    return [Figure("Training loss L with and without the regularizer", [
        Series("without R", list(range(len(curve_base))), curve_base),
        Series(f"with λR (λ = {lam:g})", list(range(len(curve_reg))), curve_reg)],
        x_label="gradient-descent step", y_label="L (loss only)", y_log=True).to_json(),
        Figure("Sharpness against training loss", [
            Series("without R", [r[1] for r in paths[0]], [r[2] for r in paths[0]]),
            Series(f"with λR (λ = {lam:g})", [r[1] for r in paths[1]], [r[2] for r in paths[1]])],
            x_label="training loss L (falls to the left)", y_label="λ_max(∇²L)", x_log=True,
            caption=(f"Checkpoints every {every} steps. At equal training loss the comparison is not "
                     "confounded by how far each run got.")).to_json()]


def _message(up: bool, equal: float, rates: list[float], alpha: float, matched: dict[str, Any],
             without: dict[str, Any], with_r: dict[str, Any], steps: int = STEPS) -> str:
    """The ``verified`` message: the effect, the local rates, and the trained models compared."""
    same_sign = all(r > 0 for r in rates) or all(r < 0 for r in rates)
    local = ", ".join(f"{r:+.3g}" for r in rates)
    msg = (f"{effect_sentence(up, equal, matched['loss_level'])} Local rates d/dt λ_max(∇²L) along −∇R/‖∇R‖ = "
           f"{local} (at θ0, trained without R, trained with R; mean {sum(rates) / 3:+.3g}"
           f"{'' if same_sign else ', signs differ between the points'}). After {steps} full-batch GD steps "
           f"(α = {alpha:.4g}, same seed and budget) the sharpness is "
           f"{_change(without['sharpness'], with_r['sharpness'])} "
           f"(without → with R); at equal training loss L ≈ {matched['loss_level']:.4g} it is "
           f"{_change(matched['without_R']['sharpness'], matched['with_R']['sharpness'])} (steps "
           f"{matched['without_R']['step']} and {matched['with_R']['step']}). Input-gradient mean ‖∇_xℓ‖²: "
           f"{_change(without['input_grad_sq_mean'], with_r['input_grad_sq_mean'])}; parameter-gradient mean "
           f"‖∇_θℓ‖²: {_change(without['param_grad_sq_mean'], with_r['param_grad_sq_mean'])}; C3 ratio "
           f"‖∇_xℓ‖²/‖∇_θℓ‖²: {_change(without['c3_ratio_mean'], with_r['c3_ratio_mean'])}; final loss L: "
           f"{_change(without['loss'], with_r['loss'])}.")
    if up:
        msg += " Minimizing this regularizer rewards curvature: locally it makes the model sharper, not flatter."
    return msg
