"""Figures for the proof report of C1 and C2 (data for plots; the report draws them).

Each function takes the run's :class:`verify.CheckContext` and returns a list of
:class:`verify.Figure`, computed on one fixed problem seeded from ``ctx.seed`` so that
the same seed gives the same figure.
"""

from __future__ import annotations

import numpy as np
import torch

from verify import (
    CheckContext,
    Figure,
    Mark,
    Series,
    dense_hessian,
    gradient,
    softmax_regression_loss,
)

__all__ = ["descent_margin_figures", "softmax_spectrum_figures"]


def _softmax_problem(ctx: CheckContext, m: int = 40, d: int = 3, k: int = 3):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(ctx.seed)
    X = torch.tensor(rng.standard_normal((m, d)), dtype=torch.float64)
    y = torch.tensor(rng.integers(0, k, size=m), dtype=torch.int64)
    W = torch.tensor(rng.standard_normal((k, d)), dtype=torch.float64)
    M = 0.5 * float(torch.linalg.eigvalsh(X.T @ X / m).max())
    return X, y, W, k, M


def softmax_spectrum_figures(ctx: CheckContext) -> list[Figure]:
    """The Hessian spectrum of softmax cross-entropy at a random W and at W = 0, against M."""
    X, y, W, k, M = _softmax_problem(ctx)
    f = lambda w: softmax_regression_loss(w, X, y, k)
    series = []
    for label, point in (("random W", W.reshape(-1)), ("W = 0", torch.zeros_like(W).reshape(-1))):
        H = dense_hessian(f, point)
        eig = torch.linalg.eigvalsh(0.5 * (H + H.T)).tolist()
        series.append(Series(label, x=list(range(1, len(eig) + 1)), y=eig, style="points"))
    return [Figure(
        title="Hessian spectrum of softmax cross-entropy (m = 40, d = 3, k = 3)", series=series,
        x_label="eigenvalue index (ascending)", y_label="eigenvalue",
        marks=[Mark(M, "M = ½λ_max(XᵀX/m)", axis="y"), Mark(0.0, "0", axis="y")],
        caption=("Every eigenvalue lies in [0, M]; d of them are exactly 0 (the directions 1⊗c), "
                 "so the Hessian is singular at every W."),
    )]


def descent_margin_figures(ctx: CheckContext) -> list[Figure]:
    """L(θ − αg) − L(θ) against the descent-lemma bound over α ∈ [0, 3/M], with 1/M and 2/M marked."""
    X, y, W, k, M = _softmax_problem(ctx)
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
