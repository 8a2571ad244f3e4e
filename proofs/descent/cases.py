"""The strategies of the descent family: descent problems with a step fraction, and log-cosh start points."""

from __future__ import annotations

import hypothesis.strategies as st
import numpy as np

from proofs.descent.module_problem import ModuleLoss
from proofs.descent.problems import DescentCase, MLPRegression, Quadratic, QuadraticLoss, SoftmaxRegression
from verify import matrices, mlp_cases, modules, softmax_batches, vectors

__all__ = ["descent_cases", "log_cosh_cases", "module_descent_cases", "quadratic_step_cases", "quadratics"]

_FRACTIONS = st.one_of(st.sampled_from([1.0, 0.5]), st.floats(1e-3, 1.0))


@st.composite
def quadratics(draw: st.DrawFn, psd: bool | None = None, nonzero_gradient: bool = False) -> Quadratic:
    """½θᵀQθ with Q PSD (C Cᵀ) or indefinite ((A + Aᵀ)/2), n = 1..4, rank-one and scaled cases."""
    n = draw(st.sampled_from([1, 2, 2, 3, 4]))
    A = draw(matrices(n, n, structure=("generic", "generic", "rank-one"),
                      scale=st.sampled_from([1.0, 1e-2, 1e2]), nonzero=True))
    make_psd = draw(st.booleans()) if psd is None else psd
    Q = A @ A.T if make_psd else (A + A.T) / 2
    theta = draw(vectors(n, scale=st.sampled_from([1.0, 1e-3, 1e2]), nonzero=True))
    if nonzero_gradient and not np.any(Q @ theta):
        Q = Q + np.eye(n)
    return Quadratic(Q, theta)


def descent_cases() -> st.SearchStrategy[DescentCase]:
    """The three families of ``descent-lemma``: softmax regression, MLP regression, quadratics."""
    smooth_mlps = mlp_cases(depth=(1, 3), width=(1, 6), batch=(1, 4), bias=True,
                            activations=("tanh", "sigmoid", "softplus", "gelu", "identity"))
    mlp = st.builds(DescentCase, smooth_mlps.map(MLPRegression), _FRACTIONS, st.sampled_from([0.5, 0.05, 1.0, 5.0]))
    # MLPs are drawn twice as often: the target phase spends budget on the tight quadratics
    return st.one_of(
        st.builds(DescentCase, quadratics().map(QuadraticLoss), _FRACTIONS),
        mlp,
        st.builds(DescentCase, softmax_batches(k=(2, 4), d=(1, 4), m=(1, 6)).map(SoftmaxRegression), _FRACTIONS),
        mlp,
    )


def quadratic_step_cases(psd: bool = True) -> st.SearchStrategy[DescentCase]:
    """A quadratic with g ≠ 0 and a step fraction in [10⁻³, 1] (the source's mistakes about the step)."""
    return st.builds(DescentCase, quadratics(psd=psd, nonzero_gradient=True).map(QuadraticLoss), st.floats(1e-3, 1.0))


def log_cosh_cases() -> st.SearchStrategy[tuple[float, float]]:
    """(t, α/(2/M₀)) for L(t) = log cosh t, with boundary values t = 0, 2 and large |t|."""
    t = st.one_of(st.sampled_from([2.0, 1.0, 0.0, -3.0]), st.floats(-8.0, 8.0))
    return st.tuples(t, st.one_of(st.just(0.5), st.floats(1e-3, 1.0)))


def module_descent_cases() -> st.SearchStrategy[DescentCase]:
    """Networks of :func:`verify.modules` (smooth activations, parameter scales up to 10) with their mean
    cross-entropy, a step fraction and α_max fixed before M is certified (as for the MLP regressions)."""
    nets = modules(activations=("tanh", "gelu", "softplus", "sigmoid"), max_scale=10.0)
    return st.builds(DescentCase, nets.map(ModuleLoss), _FRACTIONS, st.sampled_from([0.5, 0.05, 1.0, 5.0]))
