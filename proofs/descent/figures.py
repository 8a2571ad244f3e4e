"""Figures for the proof report of the descent family: the change of L against the bound, on softmax regression,
and, over the cases of the run, α·M (does the certified bound guarantee a decrease?) and certified/sampled M."""

from __future__ import annotations

import math

import numpy as np

from proofs.descent.evidence import run_summary
from proofs.softmax_ce.figures import random_softmax_problem
from verify import (
    CheckContext,
    Figure,
    Mark,
    Series,
    gradient,
    softmax_regression_loss,
)

__all__ = ["descent_case_figures", "descent_figures", "descent_margin_figures"]


def descent_margin_figures(ctx: CheckContext) -> list[Figure]:
    """L(θ − αg) − L(θ) against the descent-lemma bound over α ∈ [0, 3/M], with 1/M and 2/M marked."""
    X, y, W, k, M = random_softmax_problem(ctx)
    f = lambda w: softmax_regression_loss(w, X, y, k)
    theta = W.reshape(-1)
    g = gradient(f, theta)
    g2 = float(g @ g)
    base = float(f(theta))
    alphas = np.linspace(0.0, 3.0 / M, 61)
    change = [float(f(theta - float(a) * g)) - base for a in alphas]
    bound = [-float(a) * (1.0 - float(a) * M / 2.0) * g2 for a in alphas]
    return [Figure(
        title="Descent lemma on softmax regression: change of L against the bound", series=[
            Series("L(θ − αg) − L(θ)", x=alphas.tolist(), y=change),
            Series("bound −α(1 − αM/2)‖g‖²", x=alphas.tolist(), y=bound),
        ],
        x_label="step size α", y_label="change of the loss",
        marks=[Mark(1.0 / M, "1/M"), Mark(2.0 / M, "2/M"), Mark(0.0, "no change", axis="y")],
        caption=("The loss change stays below the bound for every α (M is the global smoothness constant "
                 "of C1); the bound guarantees a decrease only for α < 2/M and is most negative at α = 1/M."),
    )]


def _g(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def _log10(values: list[float]) -> list[float]:
    return [math.log10(v) for v in values if v > 0 and math.isfinite(v)]


def descent_case_figures(ctx: CheckContext) -> list[Figure]:
    """Over the distinct cases of this run: log₁₀ α·M at the drawn step, and log₁₀ of certified/sampled M."""
    summary = run_summary(ctx)
    if summary is None:
        return []
    share = summary["share_decrease_guaranteed"]
    ratio = summary["ratio_certified_to_sampled"]
    guaranteed = (f"{summary['decrease_guaranteed']} of {summary['decided']} distinct decided cases "
                  f"({100 * share:.0f}%)" if share is not None else "no decided case")
    figures = [Figure(
        title="Does the certified bound guarantee a decrease? α·M at each case's drawn step", kind="histogram",
        series=[Series("log₁₀ α·M", x=_log10(summary["step_alpha_M"]))],
        x_label="log₁₀ α·M (α the drawn step, M certified)", y_label="cases",
        marks=[Mark(math.log10(2.0), "α·M = 2")],
        caption=(f"{guaranteed} have α·M < 2 at the drawn step, where the lemma guarantees a decrease of L; "
                 f"{summary['certified_undecidable']} of {summary['certified_cases']} cases with a segment M "
                 f"undecidable (no certified bound within the work limit, or both sides below round-off), "
                 f"{summary['certified_not_converged']} certified but not to the tolerance. The inequality itself "
                 "is checked at every step of the grid either way."),
    )]
    if ratio["mean"] is not None:
        figures.append(Figure(
            title="Certified M against the sampled estimate", kind="histogram",
            series=[Series("log₁₀ certified/sampled (33 directional points)", x=_log10(summary["ratios"]))],
            x_label="log₁₀ (certified M / sampled M)", y_label="cases", marks=[Mark(0.0, "equal")],
            caption=(f"Over {len(summary['ratios'])} cases, certified/sampled M: mean {_g(ratio['mean'])}, "
                     f"median {_g(ratio['median'])}, max {_g(ratio['max'])}, min {_g(ratio['min'])} against the "
                     "largest of gᵀ∇²L(ξ)g/‖g‖² at 33 points of the segment by autograd. A ratio > 1 is curvature "
                     "the samples missed (a peak between them) or the tolerance of the certification; it is never "
                     "below 1 beyond round-off (the samples are values the bound encloses)."),
        ))
    return figures


def descent_figures(ctx: CheckContext) -> list[Figure]:
    """The claim's figures: the margin on softmax regression, then the per-run figures about M."""
    return [*descent_margin_figures(ctx), *descent_case_figures(ctx)]
