r"""Function-preserving rescaling and sharpness (Dinh et al. 2017; C8, docs/claims.md#c8).

For a positively homogeneous activation (ReLU, linear), :math:`T_c`: :math:`W_l, b_l \mapsto cW_l, cb_l`,
:math:`W_{l+1} \mapsto W_{l+1}/c` (c > 0) leaves the network's function — hence its loss — unchanged, yet
moves :math:`\lambda_{\max}(\nabla^2 L)` arbitrarily: sharpness is not a property of the function.

* :func:`function_check` — :math:`f(T_c\theta) = f(\theta)` on the batch, float64 (the round-off scale is the
  forward pass of |W|, |b|, |x|: the rescaled layer's values are c times larger and the next layer divides them
  by c again); :func:`function_recheck` evaluates both networks in exact rationals (the stored float64 weights,
  so the rounding of cW and W/c stays, and nothing else);
* :func:`sharpness_check` — :math:`\lambda_{\max}` of the MSE loss's dense Hessian (double-backward products,
  torch eigvalsh) at θ and at :math:`T_c\theta`; :func:`sharpness_recheck` rebuilds both Hessians by
  torch.func.hessian (forward over reverse) and takes numpy's eigvalsh, and confirms the function is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import numpy as np
import torch

from proofs.curvature import FAMILY
from proofs.curvature.cases import RegressionCase, RescaledCase, _cosine_targets, model_of
from verify import CaseResult, CheckContext, Comparison, MLPCase, Tolerance, compare_close

__all__ = ["function_check", "function_recheck", "rescaler", "sharpness_check", "sharpness_recheck"]

#: a claimed function-preserving map: the case ↦ the rescaled network
Transform = Callable[[RescaledCase], MLPCase]


def _rescale(case: RescaledCase) -> MLPCase:
    return case.rescaled()


def rescaler(next_factor: Callable[[float], float]) -> Transform:
    """The rescaling with W_{l+1} multiplied by ``next_factor(c)`` (1/c is the one that keeps the function)."""
    return lambda case: case.rescaled(next_factor)


def _forward(net: MLPCase, absolute: bool = False) -> np.ndarray:
    """The network on its batch in float64 (``absolute``: with |W|, |b|, |x|, the size of every partial sum)."""
    h = np.abs(net.x) if absolute else np.asarray(net.x)
    last = len(net.weights) - 1
    for t, W in enumerate(net.weights):
        b = net.biases[t] if net.bias else 0.0
        h = h @ (np.abs(W) if absolute else W).T + (np.abs(b) if absolute else b)
        if t < last and net.activation == "relu":
            h = np.maximum(h, 0.0)
    return h


def _forward_exact(net: MLPCase, W: list[list[list[Fraction]]], b: list[list[Fraction]]) -> list[list[Fraction]]:
    out = []
    for x in net.x.tolist():
        h = [Fraction(v) for v in x]
        for t, Wt in enumerate(W):
            h = [sum((w * v for w, v in zip(row, h)), Fraction(0)) + (b[t][i] if b else 0) for i, row in enumerate(Wt)]
            if t < len(W) - 1 and net.activation == "relu":
                h = [max(v, Fraction(0)) for v in h]
        out.append(h)
    return out


def function_check(case: RescaledCase, ctx: CheckContext, transform: Transform = _rescale) -> CaseResult:
    """f(T_cθ) against f(θ) on every example and output, float64."""
    before, after = _forward(case.mlp), _forward(transform(case))
    scale = float(_forward(case.mlp, absolute=True).max())
    diff = np.abs(after - before)
    i = np.unravel_index(int(diff.argmax()), diff.shape)
    tol = Tolerance("float64", FAMILY.depth)
    comparison = compare_close(float(after[i]), float(before[i]), scale, tol, abs_err=float(diff[i]))
    return CaseResult(comparison, case.tags, {"c": case.c, "layer": case.layer, "max_abs_change": float(diff.max())},
                      tol.describe())


def function_recheck(case: RescaledCase, ctx: CheckContext, transform: Transform = _rescale) -> CaseResult:
    """Both networks in exact rationals: θ as given, and the claimed transform's weights as stored."""
    def exact(net: MLPCase) -> np.ndarray:
        W = [[[Fraction(float(v)) for v in row] for row in Wt.tolist()] for Wt in net.weights]
        b = [[Fraction(float(v)) for v in bt.tolist()] for bt in net.biases] if net.bias else []
        return np.array([[float(v) for v in row] for row in _forward_exact(net, W, b)])

    before, after = exact(case.mlp), exact(transform(case))
    diff = np.abs(after - before)
    i = np.unravel_index(int(diff.argmax()), diff.shape)
    scale = float(_forward(case.mlp, absolute=True).max())
    tol = Tolerance("float64", FAMILY.depth)
    comparison = compare_close(float(after[i]), float(before[i]), scale, tol, abs_err=float(diff[i]))
    return CaseResult(comparison, case.tags, {"c": case.c, "layer": case.layer, "recheck": "exact rationals"},
                      tol.describe())


def _loss_case(net: MLPCase) -> RegressionCase:
    return RegressionCase(net, _cosine_targets(net))


def _sharpness(net: MLPCase, route: str) -> tuple[float, float]:
    """(λ_max of the MSE loss's Hessian, max |entry|) by ``route``."""
    fm = model_of(_loss_case(net))
    if route == "torch.func.hessian":
        H = torch.func.hessian(fm.loss)(fm.theta0).numpy()
        return float(np.linalg.eigvalsh((H + H.T) / 2)[-1]), float(np.abs(H).max())
    H = fm.dense_hessian(fm.theta0)
    return float(torch.linalg.eigvalsh(H)[-1]), float(H.abs().max())


def _judge_sharpness(case: RescaledCase, transform: Transform, route: str, extra: dict) -> CaseResult:
    before, size_before = _sharpness(case.mlp, route)
    after, size_after = _sharpness(transform(case), route)
    tol = Tolerance("float64", FAMILY.depth)
    comparison = compare_close(after, before, size_before + size_after, tol)
    return CaseResult(comparison, case.tags, {"c": case.c, "layer": case.layer, "lambda_max": before,
                                              "lambda_max_rescaled": after, "route": route, **extra},
                      tol.describe())


def sharpness_check(case: RescaledCase, ctx: CheckContext, transform: Transform = _rescale) -> CaseResult:
    """λ_max(∇²L) at T_cθ against λ_max(∇²L) at θ (dense Hessians from double-backward products)."""
    return _judge_sharpness(case, transform, "double-backward HVP columns, torch eigvalsh", {})


def sharpness_recheck(case: RescaledCase, ctx: CheckContext, transform: Transform = _rescale) -> CaseResult:
    """torch.func.hessian and numpy eigvalsh, after confirming that T_c preserved the function exactly."""
    kept = function_recheck(case, ctx, transform)
    if kept.comparison.status == "violated":  # not a reparametrization of the same function: no evidence
        return CaseResult(Comparison("undecidable", 0.0, 0.0, 0.0, 0.0, 0.0, None, 0.0, 0.0), case.tags,
                          {"reason": "the transform changed the function (exact rationals)"}, kept.tolerance)
    return _judge_sharpness(case, transform, "torch.func.hessian",
                            {"recheck": "torch.func.hessian, numpy eigvalsh; function unchanged in exact rationals"})
