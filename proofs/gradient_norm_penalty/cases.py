"""The case of :mod:`proofs.gradient_norm_penalty` (C5, docs/claims.md#c5) and the strategy that draws it.

A :class:`GNPCase` is a loss (an MLP regression, see :mod:`proofs.gradient_norm_penalty.oracles`) with a
penalty weight λ and a step r; :func:`gnp_cases` draws small smooth nets whose gradient is not 0 beyond
round-off (:func:`nonzero_gradient`), so that ĝ = g/‖g‖ is well defined.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any

import hypothesis.strategies as st
import torch

from proofs.gradient_norm_penalty.networks import module_functional
from proofs.gradient_norm_penalty.oracles import gradient_roundoff, hvp_roundoff, hvp_value, regression_loss
from verify import Case, MLPCase, ModuleCase, case_from_json, case_type, gradient, mlp_cases, modules

#: smooth activations (C^4): the FD error model needs third and fourth derivatives
SMOOTH = ("tanh", "identity", "sigmoid", "softplus", "gelu")
#: the FD claims leave out gelu: torch's erf-based gelu has a first derivative Φ(z) + zφ(z) whose
#: 1 + erf(z/√2) cancels in the far tail (z ≈ −8: about 1% relative error, smooth, not round-off),
#: which finite differences of the gradient see and the analytic second derivative does not
FD_SMOOTH = ("tanh", "identity", "sigmoid", "softplus")
#: penalty weights λ and steps r/ρ drawn (simplest first)
LAMBDAS = (1.0, 0.1, 0.5, 2.0, 0.01)
STEPS = (0.05, 0.01, 0.1, 1.0, 1e-3)


def is_quadratic(mlp: MLPCase | ModuleCase) -> bool:
    """Depth 1: the only layer is linear (the activation follows hidden layers only), so L_S is quadratic.
    A network of :func:`verify.modules` (no ``depth``) has a cross-entropy loss: never quadratic."""
    return getattr(mlp, "depth", None) == 1


@case_type
class GNPCase(Case):
    """A loss (an MLP regression) with a penalty weight λ and a step r (ρ for SAM).

    Attributes:
        mlp: the network, its parameters θ and the input batch (an MLP regression, or a network of
            :func:`verify.modules` with its cross-entropy loss).
        lam: λ ≥ 0, the weight of ‖∇L_S‖.
        r: the FD step r (the SAM radius ρ).
    """

    mlp: MLPCase | ModuleCase
    lam: float = 1.0
    r: float = 0.05

    def _compute_tags(self) -> tuple[str, ...]:
        extra = ("quadratic",) if is_quadratic(self.mlp) else ()
        return (*(self.mlp.tags or ()), *extra, *self._architecture())

    def _architecture(self) -> tuple[str, ...]:
        """(activation,) of an MLP; (architecture, activation) of a network of verify.modules()."""
        arch = getattr(self.mlp, "arch", None)
        if arch is None:
            return (self.mlp.activation,)
        return (arch, self.mlp.spec_dict.get("activation", "softmax"))

    def to_json(self) -> dict[str, Any]:
        return {"type": "GNPCase", "mlp": self.mlp.to_json(), "lam": self.lam, "r": self.r}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GNPCase:
        return cls(case_from_json(data["mlp"]), float(data["lam"]), float(data["r"]))


@functools.lru_cache(maxsize=256)  # the filters of one draw share it (cases hash by their bytes)
def _gradient64(net: MLPCase | ModuleCase) -> torch.Tensor:
    f, theta = regression_loss(net)
    return gradient(f, theta)


def nonzero_gradient(mlp: MLPCase | ModuleCase) -> bool:
    """g ≠ 0 beyond round-off: ‖g‖_∞ > 10⁶·ε_64·κ (so ĝ = g/‖g‖ is well defined), and Hĝ finite."""
    f, theta = regression_loss(mlp)
    g = _gradient64(mlp)
    if not bool(torch.isfinite(g).all()):
        return False
    gmax, kappa = float(g.abs().max()), gradient_roundoff(mlp)
    if not (math.isfinite(kappa) and gmax > 0.0 and gmax > 1e6 * float(torch.finfo(torch.float64).eps) * kappa):
        return False
    return bool(torch.isfinite(hvp_value(f, theta, g / g.norm())).all())


def gnp_cases(*, activations: tuple[str, ...] = SMOOTH, lams: tuple[float, ...] = LAMBDAS,
              steps: tuple[float, ...] = STEPS) -> st.SearchStrategy[GNPCase]:
    """Small MLP regressions (depth 1-3, widths 1-5, batch 1-4) with g ≠ 0, a λ and a step.

    Weights of magnitude ≥ 100 (the ``large-scale`` tag) are left out: the FD claims are about
    the regime where r is small against the loss's length scale, which such nets push below
    round-off. They and zero layers are not drawn at all (drawing and discarding them cost 60 % of the draws); a
    layer whose drawn entries all happen to be 0 is still filtered out.
    """
    nets = mlp_cases(depth=(1, 3), width=(1, 5), batch=(1, 4), activations=activations, max_scale=10.0,
                     zero_layers=False).filter(
        lambda c: "large-scale" not in (c.tags or ()) and "zero-weights" not in (c.tags or ())
    ).filter(nonzero_gradient)
    return st.builds(GNPCase, nets, st.sampled_from(lams), st.sampled_from(steps))


def unsaturated(net: ModuleCase) -> bool:
    """Every example's cross-entropy is ≥ 1e-6, so 1 − p_y keeps ten digits in float64.

    Where the network is sure of the right class (p_y within e⁻⁴⁰ of 1) both float32 and float64 round 1 − p_y to
    0 while the other classes' p stay exact: g is off by its own size in both, κ (float32 against float64) sees
    nothing, and the two float64 routes of the check disagreed by 2.7e-7 (seen at seed 7: head bias 20, ‖g‖ = 4e-18).
    """
    fm = module_functional(net, "float64", "cpu")
    with torch.no_grad():
        return bool((fm.example_losses(fm.theta0) >= 1e-6).all())


def resolved_in_float32(net: MLPCase | ModuleCase, hvp_measured: bool = True) -> bool:
    """The gradient has two correct digits in float32 (κ·ε₃₂ ≤ 1e-2·‖g‖_∞), hence about eleven in float64, and
    (``hvp_measured``) Hĝ's round-off can be measured (float32 does not overflow): the gradient check allows for
    it; the finite-difference checks do not use it, and measuring it is half of the strategy's time.

    A saturated network (attention or softmax probabilities within e⁻¹⁵⁰ of 1) has a gradient of 1e-65 made of
    1 − p, which float32 loses entirely: κ, measured against float32, then says nothing, and the two float64
    routes of the check disagree in every digit (seen: 8e-65 against 0).
    """
    kappa = gradient_roundoff(net)
    return (math.isfinite(kappa) and kappa * float(torch.finfo(torch.float32).eps) <= 1e-2 * float(
        _gradient64(net).abs().max()) and (not hvp_measured or math.isfinite(hvp_roundoff(net))))  # cheap first


def gnp_module_cases(*, activations: tuple[str, ...] = ("tanh", "gelu", "softplus", "sigmoid"),
                     lams: tuple[float, ...] = LAMBDAS, steps: tuple[float, ...] = STEPS,
                     hvp_measured: bool = True) -> st.SearchStrategy[GNPCase]:
    """The same over networks of :func:`verify.modules` (mlp, cnn, residual + LayerNorm, attention), their loss
    the mean cross-entropy; smooth activations, parameter scales up to 10, g ≠ 0 (as :func:`gnp_cases`), resolved
    in float32 (:func:`resolved_in_float32`, with ``hvp_measured``)."""
    nets = modules(activations=activations, max_scale=10.0).filter(
        lambda c: unsaturated(c) and nonzero_gradient(c) and resolved_in_float32(c, hvp_measured))
    return st.builds(GNPCase, nets, st.sampled_from(lams), st.sampled_from(steps))
