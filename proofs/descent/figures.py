"""Figures for the proof report of the descent family: the change of L against the bound, on softmax regression."""

from __future__ import annotations

import numpy as np

from proofs.softmax_ce.figures import random_softmax_problem
from verify import (
    CheckContext,
    Figure,
    Mark,
    Series,
    gradient,
    softmax_regression_loss,
)

__all__ = ["descent_margin_figures"]


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
