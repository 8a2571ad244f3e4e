r"""The judgement of C3 on computed quantities, behind :mod:`proofs.mlp_gradient_inequality`.

:func:`judge` takes the :class:`~proofs.gradient_inequality.terms.GradientTerms` of a case (from either
route) and a :class:`Form` of the statement (summed or per layer, which matrix norm, the "1", a
factor on the left side), judges every example (and layer) with the tolerance
``DEPTH·eps·scale·condition`` and returns the worst comparison with its details.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from proofs.gradient_inequality import FAMILY
from proofs.gradient_inequality.terms import GradientTerms, Norm, spectral
from verify import Comparison, Tolerance, compare_leq

#: depth factor c of the tolerance c·eps·max(lhs, rhs)·condition: sums of <= 16 terms through
#: <= 4 layers, an SVD, squares and a sum over <= 4 layers (measured at the equality cases:
#: |ratio - 1| <= 10 eps when nothing cancels)
DEPTH = FAMILY.depth


@dataclass(frozen=True)
class Form:
    """Which statement a case is judged against (the claims and the tests' wrong variants).

    Attributes:
        per_layer: judge every layer's multiplied form instead of the summed form.
        w_norm, j_norm: the matrix norm of W⁽ᵗ⁾ and J⁽ᵗ⁾ from singular values (homogeneous of degree 1).
        one: the "1" in 1 + ‖h⁽ᵗ⁾‖².
        factor: multiplies the left side.
    """

    per_layer: bool = False
    w_norm: Norm = spectral
    j_norm: Norm = spectral
    one: float = 1.0
    factor: float = 1.0


#: Values past this are reported as this (a violation by a factor 1e300 needs no more digits).
_CAP = 1e300


def _v(mant: float, exp: int | np.integer) -> float:
    """mant · 2^exp as a Python float (no numpy overflow warnings), capped at ``_CAP``."""
    exp = int(exp)
    return _CAP if exp > 1100 else min(math.ldexp(float(mant), exp), _CAP)


def _undecidable(reason: str) -> tuple[Comparison, dict[str, Any]]:
    return (Comparison(status="undecidable", lhs=0.0, rhs=0.0, abs_err=0.0, rel_err=0.0, slack=0.0, ratio=None,
                       scale=0.0, atol=0.0), {"reason": reason})


def _worst(comparisons: list[tuple[Comparison, dict[str, Any]]]) -> tuple[Comparison, dict[str, Any]]:
    """The least slack among the decidable ones (scale > 0); 0 ≤ 0 only if nothing else is there."""
    live = [c for c in comparisons if c[0].scale > 0 and c[0].status != "undecidable"] or comparisons
    return min(live, key=lambda c: c[0].slack)


def _leq(lhs: float, rhs: float, scale: float, noise: float, dtype: str) -> tuple[Comparison, float]:
    """compare_leq with the depth factor widened by the round-off ``noise`` (in units of depth·eps)."""
    condition = 1.0 + (noise / scale if scale > 0 else 0.0)
    depth = min(DEPTH * condition, _CAP)
    return compare_leq(lhs, rhs, scale, Tolerance(dtype, depth)), float(condition)


def judge(terms: GradientTerms, dtype: str, form: Form = Form()) -> tuple[Comparison, dict[str, Any]]:
    """Judge every example of a case (and every layer, for the per-layer form); return the worst.

    Summed form: lhs = factor·‖∇_x f‖² Σ_t (one + ‖h⁽ᵗ⁾‖²)/(‖W⁽ᵗ⁾‖²‖J⁽ᵗ⁾‖²) over the layers with a
    non-zero denominator, rhs = ‖∇_θ f‖² (in units of 2^units_log2 where plain floats would under-
    or overflow; units_log2 = 0 otherwise), scale max(lhs, rhs).
    Per-layer form: ratio_t = factor·‖∇_x f‖²(one + ‖h⁽ᵗ⁾‖²)/(‖W⁽ᵗ⁾‖‖J⁽ᵗ⁾‖‖∇_{W⁽ᵗ⁾,b⁽ᵗ⁾} f‖)² ≤ 1
    (the multiplied form divided by its right side), scale max(ratio_t, 1). Where the right side
    is 0 (a zero denominator, or δ⁽ᵗ⁾ = 0) the multiplied form says ∇_x f = 0: judged as
    ‖∇_x f‖ ≤ 0 on the scale of the terms that cancel in it.

    The tolerance is ``DEPTH·eps·scale`` times ``details["condition"]`` ≥ 1: the first-order
    round-off of lhs and rhs, bounded with the ``*_abs`` quantities (where a sum cancels, its
    error is relative to the sum of absolute values, not to the result), over the scale.
    Unresolved layers (:class:`GradientTerms`) are left out and listed; a case with nothing
    left is ``undecidable``.
    """
    w = np.array([form.w_norm(sv) for sv in terms.w_sv])  # (l,)
    j = np.stack([form.j_norm(s.mant) for s in terms.j_sv], axis=1)  # (m, l), exponents j_sv[t].exp
    j_exp = np.stack([s.exp for s in terms.j_sv], axis=1)
    gx, gxa, th, tha = terms.grad_x, terms.grad_x_abs, terms.grad_theta, terms.grad_theta_abs
    lay, laya, ja = terms.grad_layer, terms.grad_layer_abs, terms.j_abs
    results, unresolved = [], []
    for i in range(gx.mant.shape[0]):
        one_h = form.one + terms.h_sq[i]
        zero = [t for t in range(w.shape[0]) if w[t] * j[i, t] == 0]
        bad = [t + 1 for t in range(w.shape[0]) if not terms.resolved[i, t]]
        if bad:
            unresolved.append({"example": i, "layers": bad})

        def input_gradient_is_zero(t: int, why: str) -> None:
            rel = _v(float(gx.mant[i]) / float(gxa.mant[i]), gx.exp[i] - gxa.exp[i]) if gxa.mant[i] > 0 else 0.0
            comparison, _ = _leq(rel, 0.0, 1.0 if gxa.mant[i] > 0 else 0.0, 0.0, dtype)
            results.append((comparison, {"example": i, "layer": t + 1, "form": why}))

        for t in zero:
            if terms.resolved[i, t]:
                input_gradient_is_zero(t, "zero-denominator")
        live = [t for t in range(w.shape[0]) if t not in zero]
        if form.per_layer:
            for t in (t for t in live if terms.resolved[i, t]):
                if lay.mant[i, t] == 0:
                    input_gradient_is_zero(t, "delta-zero")
                    continue
                base, base_e = float(w[t]) * float(j[i, t]) * float(lay.mant[i, t]), j_exp[i, t] + lay.exp[i, t]
                root = math.sqrt(form.factor * one_h[t])
                q = root * _v(gx.mant[i] / base, gx.exp[i] - base_e)  # √ratio
                q_abs = root * _v(gxa.mant[i] / base, gxa.exp[i] - base_e)
                kappa = _v(float(ja.mant[i, t]) / float(j[i, t]), ja.exp[i, t] - j_exp[i, t]) + _v(
                    float(laya.mant[i, t]) / float(lay.mant[i, t]), laya.exp[i, t] - lay.exp[i, t])
                ratio = min(q * q, _CAP)
                noise = min(2 * (q * q_abs + ratio * kappa), _CAP)
                comparison, condition = _leq(ratio, 1.0, max(ratio, 1.0), noise, dtype)
                results.append((comparison, {"example": i, "layer": t + 1, "condition": condition}))
        elif not bad:
            unit = int(th.exp[i] if th.mant[i] > 0 else gx.exp[i])
            lhs = noise = 0.0
            for t in live:
                e = gx.exp[i] - j_exp[i, t] - unit
                root = math.sqrt(form.factor * one_h[t])
                den = float(w[t]) * float(j[i, t])
                s, s_abs = root * _v(float(gx.mant[i]) / den, e), root * _v(float(gxa.mant[i]) / den, e)
                kappa = _v(float(ja.mant[i, t]) / float(j[i, t]), ja.exp[i, t] - j_exp[i, t])
                lhs += s * s
                noise += 2 * (s * s_abs + s * s * kappa)
            rhs = _v(float(th.mant[i]) ** 2, 2 * (th.exp[i] - unit))
            noise += 2 * _v(float(th.mant[i]) * float(tha.mant[i]), th.exp[i] + tha.exp[i] - 2 * unit)
            units = 2 * unit
            if all(-1000 < math.frexp(v)[1] + units < 1000 for v in (lhs, rhs, noise) if 0 < v < _CAP):
                # plain values where they stay normal floats (the rescaling is exact)
                lhs, rhs, noise, units = math.ldexp(lhs, units), math.ldexp(rhs, units), math.ldexp(noise, units), 0
            lhs, noise = min(lhs, _CAP), min(noise, _CAP)
            comparison, condition = _leq(lhs, rhs, max(lhs, rhs), noise, dtype)
            results.append((comparison, {"example": i, "units_log2": units, "condition": condition,
                                         "skipped_layers": [t + 1 for t in zero]}))
    if not results:
        return _undecidable("every example has a layer whose gradients or Jacobian are not finite or fall where "
                            f"subnormal round-off may dominate them: {unresolved}")
    comparison, details = _worst(results)
    return comparison, {**details, "unresolved": unresolved} if unresolved else details
