"""Gradient sequences from training a network of :func:`verify.modules`, for the C6 claims over architectures.

The update rules of C6 act coordinate by coordinate, so a rule applied to a model's parameter vector is the
rule applied to each coordinate's gradient history. :func:`module_gradient_sequences` trains a drawn network
(an MLP, a CNN, a residual net with LayerNorm or an attention layer, with its cross-entropy) by T gradient
steps and returns a block of its coordinates: θ₀ and the gradients g_t = ∇L(θ_{t-1}) met on the way, which
have the structure of real training (correlated across steps, the model's own scales, exact zeros where a
weight is dead) instead of independent draws. The case stores the numbers, so it replays without the model.
"""

from __future__ import annotations

import functools

import hypothesis.strategies as st
import numpy as np
import torch
from hypothesis import assume

from proofs.optimizers.cases import _LONGEST, _STEPS, MAX_STEPS
from verify import ModuleCase, functional, modules

__all__ = ["module_gradient_sequences", "training_gradients"]

#: the most coordinates a case keeps (the re-check runs the rule in 50-digit mpmath per coordinate)
MAX_COORDINATES = 8
#: the largest gradient entry kept: C6's cases reach |g| ~ 1e8; a run that diverges (step 1 on a sharp network)
#: is cut before its first larger gradient
MAX_GRADIENT = 1e8
#: the step size of the training run that produces the gradients (simplest first)
_TRAINING_LR = st.sampled_from((0.1, 1.0, 0.01))
_NETWORKS = modules(width=(1, 3), depth=(1, 1), batch=(1, 3), max_scale=10.0)


@functools.lru_cache(maxsize=4096)  # the four claims over architectures draw the same networks for a seed
def training_gradients(case: ModuleCase, steps: int, lr: float) -> tuple[np.ndarray, np.ndarray]:
    """(θ₀, (T, n) gradients) of up to ``steps`` gradient-descent steps on the case's mean cross-entropy
    (float64), cut before the first gradient with an entry beyond ``MAX_GRADIENT`` (or not finite). The arrays
    are read-only: the cache hands the same ones to every caller."""
    f = functional(case)
    theta, grads = f.theta0.clone(), []
    for _ in range(steps):
        g = f.grad(theta)
        if not bool(torch.isfinite(g).all()) or float(g.abs().max()) > MAX_GRADIENT:
            break
        grads.append(g)
        theta = theta - lr * g
    theta0 = f.theta0.numpy().copy()
    gradients = torch.stack(grads).numpy() if grads else np.zeros((0, f.n))
    theta0.setflags(write=False)
    gradients.setflags(write=False)
    return theta0, gradients


@st.composite
def module_gradient_sequences(draw: st.DrawFn, nonzero_first: bool = False) -> tuple[np.ndarray, np.ndarray, str]:
    """(θ₀ block, gradient block, architecture): up to ``MAX_COORDINATES`` consecutive coordinates of a
    network's parameters and their gradients along T = 1..8 training steps.

    ``nonzero_first`` keeps only coordinates whose first gradient is not 0 (the lecture divides by |g₀|).
    """
    case = draw(_NETWORKS)
    steps = MAX_STEPS if draw(_LONGEST) else draw(_STEPS)
    theta0, grads = training_gradients(case, steps, draw(_TRAINING_LR))
    assume(grads.shape[0] > 0)  # the first gradient is already beyond MAX_GRADIENT
    keep = np.flatnonzero(grads[0] != 0) if nonzero_first else np.arange(theta0.size)
    assume(keep.size > 0)  # no coordinate moves at the first step: nothing for the lecture's rule to divide by
    start = draw(st.integers(0, keep.size - 1))
    block = keep[start:start + draw(st.integers(1, MAX_COORDINATES))]
    return theta0[block] + 0.0, grads[:, block] + 0.0, case.arch
