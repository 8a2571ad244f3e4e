"""Figures for the proof report of the softmax cross-entropy family (data for plots; the report draws them).

Each function takes the run's :class:`verify.CheckContext` and returns a list of :class:`verify.Figure`,
computed on one fixed problem seeded from ``ctx.seed`` so that the same seed gives the same figure.
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
    softmax_regression_loss,
)

__all__ = ["random_softmax_problem", "softmax_spectrum_figures"]


def random_softmax_problem(ctx: CheckContext, m: int = 40, d: int = 3, k: int = 3):  # type: ignore[no-untyped-def]
    """A seeded softmax regression (X, y, W, k, M = ½λ_max(XᵀX/m)) for the figures of C1 and C2."""
    rng = np.random.default_rng(ctx.seed)
    X = torch.tensor(rng.standard_normal((m, d)), dtype=torch.float64)
    y = torch.tensor(rng.integers(0, k, size=m), dtype=torch.int64)
    W = torch.tensor(rng.standard_normal((k, d)), dtype=torch.float64)
    M = 0.5 * float(torch.linalg.eigvalsh(X.T @ X / m).max())
    return X, y, W, k, M


def softmax_spectrum_figures(ctx: CheckContext) -> list[Figure]:
    """The Hessian spectrum of softmax cross-entropy at a random W and at W = 0, against M."""
    X, y, W, k, M = random_softmax_problem(ctx)
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
