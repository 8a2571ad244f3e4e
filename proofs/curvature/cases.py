"""The cases of the curvature family (C8, docs/claims.md#c8) and the strategies that draw them.

* :class:`RegressionCase` — an MLP (:class:`~verify.MLPCase`) with explicit regression targets, a model
  :func:`model_of` turns into a :class:`~verify.FunctionalModel` with the mean squared error; a network of
  :func:`verify.modules` carries its own labels (cross-entropy). :func:`network_cases` draws both.
* :func:`minimum_cases` — targets t = f(θ*) − ε r with r ⊥ range(J): θ* is a stationary point with non-zero
  residuals, and ε is halved until ∇²L(θ*) ≻ 0 (a strict local minimum); :func:`interpolation_cases` — t = f(θ*).
* :class:`SymmetricCase` — a symmetric matrix (the Hutchinson claims): generic, rank one, diagonal, tied
  eigenvalues, zero, scales from tiny to large, n from 1 to 6.
* :class:`RescaledCase` — a ReLU or linear MLP, a layer l and a factor c > 0 (the rescaling
  θ ↦ T_c θ: W_l, b_l times c, W_{l+1} over c).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import hypothesis.strategies as st
import numpy as np
import torch
from torch import nn

from verify import (
    Case,
    FunctionalModel,
    MLPCase,
    MLPSpec,
    ModuleCase,
    case_from_json,
    case_type,
    functional,
    matrices,
    mlp_cases,
    mlp_forward,
    modules,
    scales,
)

#: smooth activations (the Gauss-Newton split needs f twice differentiable)
SMOOTH = ("tanh", "softplus", "sigmoid", "gelu", "identity")
#: rescaling factors c drawn (simplest first)
FACTORS = (2.0, 0.5, 10.0, 0.1, 1e3, 1e-3)


class _FlatMLP(nn.Module):
    """An MLP whose only parameter is the flat θ of :func:`verify.mlp_forward` (so θ's order is the case's)."""

    def __init__(self, net: MLPCase) -> None:
        super().__init__()
        self.spec = MLPSpec(tuple(net.widths), net.activation, net.bias)
        self.theta = nn.Parameter(torch.as_tensor(net.flat_params(), dtype=torch.float64).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return mlp_forward(self.spec, self.theta, x)


@case_type
class RegressionCase(Case):
    """An MLP and its regression targets (m, d_out); the loss is the mean squared error over every entry."""

    mlp: MLPCase
    targets: np.ndarray

    def __post_init__(self) -> None:
        super().__post_init__()
        t = self.targets.reshape(self.mlp.x.shape[0], self.mlp.widths[-1])
        object.__setattr__(self, "targets", t)

    def _compute_tags(self) -> tuple[str, ...]:
        return self.mlp.tags

    def to_json(self) -> dict[str, Any]:
        return {"type": "RegressionCase", "mlp": self.mlp.to_json(), "targets": self.targets.tolist()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RegressionCase:
        return cls(case_from_json(data["mlp"]), np.array(data["targets"], dtype=np.float64))

    def model(self, dtype: torch.dtype, device: str) -> FunctionalModel:
        """The MLP on its inputs with the mean squared error to the targets."""
        X = torch.tensor(self.mlp.x, dtype=dtype, device=device)
        T = torch.tensor(self.targets, dtype=dtype, device=device)
        return FunctionalModel(_FlatMLP(self.mlp), (X, T), "mse", dtype=dtype, device=device,
                               name="the MLP regression", _diagnose=False)


def model_of(case: RegressionCase | ModuleCase, dtype: torch.dtype = torch.float64,
             device: str = "cpu") -> FunctionalModel:
    """The case's network, batch and loss as a :class:`~verify.FunctionalModel` (a case of
    :func:`verify.modules` through :func:`verify.functional`, a regression through its own ``model``)."""
    own = getattr(case, "model", None)
    return own(dtype, device) if own is not None else functional(case, dtype=dtype, device=device)


def _cosine_targets(net: MLPCase) -> np.ndarray:
    m, k = net.x.shape[0], net.widths[-1]
    return np.cos(np.arange(m * k, dtype=np.float64)).reshape(m, k)


def network_cases() -> st.SearchStrategy[RegressionCase | ModuleCase]:
    """Networks of :func:`verify.modules` (cross-entropy) and MLP regressions (MSE, targets cos(i)), smooth."""
    regressions = mlp_cases(depth=(1, 3), width=(1, 4), batch=(1, 4), activations=SMOOTH).map(
        lambda net: RegressionCase(net, _cosine_targets(net)))
    return st.one_of(regressions, modules(activations=("tanh", "gelu", "softplus", "sigmoid"), max_scale=10.0))


# --------------------------------------------------------------------------- stationary points


def _jacobian(net: MLPCase) -> tuple[np.ndarray, np.ndarray]:
    """(f(θ) flattened (m·k,), J (m·k, n)) in float64."""
    spec = MLPSpec(tuple(net.widths), net.activation, net.bias)
    x = torch.tensor(net.x, dtype=torch.float64)
    theta = torch.tensor(net.flat_params(), dtype=torch.float64)
    f = lambda t: mlp_forward(spec, t, x).reshape(-1)  # noqa: E731
    return f(theta).numpy(), torch.func.jacrev(f)(theta).numpy()


def _with_targets(net: MLPCase, targets: np.ndarray) -> RegressionCase:
    return RegressionCase(net, targets.reshape(net.x.shape[0], net.widths[-1]))


def local_minimum(net: MLPCase, eps: float) -> RegressionCase | None:
    """Targets that make θ a strict local minimum with residuals ε·r, r ⊥ range(J) a unit vector, halving ε
    (at most 40 times) until λ_min(∇²L) > 0 by a margin; None where J is rank-deficient or m·k ≤ n."""
    f, J = _jacobian(net)
    u, s, _ = np.linalg.svd(J, full_matrices=True)
    if J.shape[0] <= J.shape[1] or s.size == 0 or s[-1] <= 1e-6 * s[0]:
        return None
    r = u[:, -1]  # orthogonal to every column of J: Jᵀr = 0, so ∇L = (2/N)Jᵀ(f − t) = 0 at t = f − εr
    margin = 0.05 * float(np.min(s) ** 2) * 2 / J.shape[0]
    for _ in range(40):
        case = _with_targets(net, f - eps * r)
        fm = model_of(case)
        if float(torch.linalg.eigvalsh(fm.dense_hessian(fm.theta0))[0]) > margin:
            return case
        eps /= 2
    return None


def minimum_cases() -> st.SearchStrategy[RegressionCase]:
    """Strict local minima with non-zero residuals: one-input, one-output MLPs of depth 2 (widths 1-2) on 8
    examples (more outputs than parameters, so the residuals can be orthogonal to range(J))."""
    nets = mlp_cases(depth=2, width=(1, 2), batch=8, d_in=1, d_out=1, activations=("tanh", "softplus", "sigmoid"))
    nets = nets.filter(lambda n: "large-scale" not in n.tags and "zero-weights" not in n.tags)
    return st.builds(local_minimum, nets, st.sampled_from([1.0, 0.1, 3.0])).filter(lambda c: c is not None)


def interpolation_cases() -> st.SearchStrategy[RegressionCase]:
    """MLP regressions whose targets are the network's own outputs (every residual 0 up to round-off)."""
    nets = mlp_cases(depth=(1, 3), width=(1, 4), batch=(1, 6), activations=SMOOTH)
    return nets.map(lambda net: _with_targets(net, _jacobian(net)[0]))


# --------------------------------------------------------------------------- symmetric matrices


@case_type
class SymmetricCase(Case):
    """A symmetric matrix A (n × n, n ≤ 6: every sign vector and a 3-point Gauss-Hermite grid are enumerable)."""

    A: np.ndarray

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "A", np.atleast_2d(self.A))

    def _compute_tags(self) -> tuple[str, ...]:
        A, tags = self.A, []
        big = float(np.abs(A).max()) if A.size else 0.0
        if A.shape[0] == 1:
            tags.append("width-1")
        if big == 0.0:
            tags.append("zero-weights")
        elif np.linalg.matrix_rank(A) == 1:
            tags.append("rank-one")
        if 0.0 < big <= 1e-3:
            tags.append("tiny-scale")
        if big >= 1e2:
            tags.append("large-scale")
        return tuple(tags)

    def to_json(self) -> dict[str, Any]:
        return {"type": "SymmetricCase", "A": self.A.tolist()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SymmetricCase:
        return cls(np.array(data["A"], dtype=np.float64))


@st.composite
def symmetric_cases(draw: st.DrawFn, max_n: int = 6) -> SymmetricCase:
    """Symmetric A: generic (B + Bᵀ)/2, rank one ±s·uuᵀ, diagonal, tied eigenvalues (Q diag(λ, λ, …) Qᵀ), zero."""
    n = draw(st.integers(1, max_n))
    kind = draw(st.sampled_from(["generic", "diagonal", "rank-one", "tied", "generic", "zero"]))
    s = draw(scales(min_scale=1e-4, max_scale=1e3))
    if kind == "zero":
        return SymmetricCase(np.zeros((n, n)))
    if kind == "rank-one":
        u = draw(matrices(n, 1, structure="generic", scale=1.0, nonzero=True))
        return SymmetricCase(draw(st.sampled_from([1.0, -1.0])) * s * (u @ u.T))
    if kind == "diagonal":
        return SymmetricCase(s * np.diag(draw(matrices(1, n, structure="generic", scale=1.0))[0]))
    B = draw(matrices(n, n, structure="generic", scale=1.0, nonzero=True))
    if kind == "tied":
        q, _ = np.linalg.qr(B)
        values = np.full(n, 1.0)
        values[: n // 2] = draw(st.sampled_from([-1.0, 2.0, 0.0]))
        return SymmetricCase(s * (q * values) @ q.T)
    return SymmetricCase(s * (B + B.T) / 2)


# --------------------------------------------------------------------------- rescaling


@case_type
class RescaledCase(Case):
    """A positively homogeneous MLP (relu or identity), the layer l it rescales and the factor c > 0."""

    mlp: MLPCase
    layer: int
    c: float

    def _compute_tags(self) -> tuple[str, ...]:
        return self.mlp.tags

    def to_json(self) -> dict[str, Any]:
        return {"type": "RescaledCase", "mlp": self.mlp.to_json(), "layer": self.layer, "c": self.c}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RescaledCase:
        return cls(case_from_json(data["mlp"]), int(data["layer"]), float(data["c"]))

    def rescaled(self, next_factor: Callable[[float], float] = lambda c: 1 / c) -> MLPCase:
        """T_c: W_l and b_l times c, W_{l+1} times ``next_factor(c)`` = 1/c (b_{l+1} unchanged)."""
        W, b, k, c = list(self.mlp.weights), list(self.mlp.biases), self.layer, self.c
        W[k], W[k + 1] = W[k] * c, W[k + 1] * next_factor(c)
        if b:
            b[k] = b[k] * c
        return MLPCase(self.mlp.widths, self.mlp.activation, self.mlp.bias, tuple(W), tuple(b), self.mlp.x)


def _away_from_kinks(net: MLPCase) -> bool:
    """Every ReLU pre-activation is ≥ 1e-6 of its layer's scale away from 0 (the Hessian exists there)."""
    if net.activation != "relu":
        return True
    h = np.asarray(net.x, dtype=np.float64)
    for t, W in enumerate(net.weights[:-1]):
        z = h @ W.T + (net.biases[t] if net.bias else 0.0)
        if np.any(np.abs(z) <= 1e-6 * (np.abs(z).max() + 1e-300)) or not np.any(z > 0):
            return False
        h = np.maximum(z, 0.0)
    return True


@functools.lru_cache(maxsize=1)
def _rescalable_nets() -> st.SearchStrategy[MLPCase]:
    return mlp_cases(depth=(2, 3), width=(1, 4), batch=(1, 4), activations=("identity", "relu")).filter(
        lambda n: "zero-weights" not in n.tags and _away_from_kinks(n))


@st.composite
def rescaled_cases(draw: st.DrawFn) -> RescaledCase:
    net = draw(_rescalable_nets())
    layer = draw(st.integers(0, len(net.weights) - 2))
    return RescaledCase(net, layer, draw(st.sampled_from(FACTORS)))
