r"""The judgement of C3 on computed quantities, and the claims' per-case check and re-check.

:func:`judge` takes the :class:`~proofs.gradient_inequality.terms.GradientTerms` of a case (from either
route) and a :class:`Form` of the statement (summed or per layer, which matrix norm, the numerator
of each layer's term as a function of ‖h⁽ᵗ⁾‖²), judges every example (and layer) with the tolerance
``DEPTH·eps·scale·condition`` and returns the worst comparison with its details.
:func:`torch_check` and :func:`mpmath_recheck` give a claim its check (the torch route,
:mod:`~proofs.gradient_inequality.terms`) and its re-check (the mpmath route,
:mod:`~proofs.gradient_inequality.multiprecision`) for a form.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from proofs.gradient_inequality import FAMILY
from proofs.gradient_inequality.multiprecision import MP_DIGITS, gradient_terms_mp
from proofs.gradient_inequality.terms import GradientTerms, Norm, gradient_terms, spectral
from verify import CaseResult, CheckContext, Comparison, MLPHeadCase, Tolerance, compare_leq

#: depth factor c of the tolerance c·eps·max(lhs, rhs)·condition: sums of <= 16 terms through
#: <= 4 layers, an SVD, squares and a sum over <= 4 layers (measured at the equality cases:
#: |ratio - 1| <= 10 eps when nothing cancels)
DEPTH = FAMILY.depth


#: the numerator of layer t's term from ‖h⁽ᵗ⁾‖² (elementwise over an array of them)
Numerator = Callable[[np.ndarray], np.ndarray]


def one_plus_h_sq(h_sq: np.ndarray) -> np.ndarray:
    """1 + ‖h⁽ᵗ⁾‖²: the statement with biases (‖∇_{W⁽ᵗ⁾,b⁽ᵗ⁾} f‖² = ‖δ⁽ᵗ⁾‖²(1 + ‖h⁽ᵗ⁾‖²))."""
    return 1.0 + h_sq


def h_sq_only(h_sq: np.ndarray) -> np.ndarray:
    """‖h⁽ᵗ⁾‖²: the statement without biases (‖∇_{W⁽ᵗ⁾} f‖² = ‖δ⁽ᵗ⁾‖²‖h⁽ᵗ⁾‖²)."""
    return h_sq


@dataclass(frozen=True)
class Form:
    """Which statement a case is judged against (the claims, and the tests' wrong variants as formulas).

    Attributes:
        per_layer: judge every layer's multiplied form instead of the summed form.
        w_norm, j_norm: the matrix norm of W⁽ᵗ⁾ and J⁽ᵗ⁾ from singular values (homogeneous of degree 1).
        numerator: layer t's numerator from ‖h⁽ᵗ⁾‖² (:func:`one_plus_h_sq` in C3; a mistaken
            statement passes its own).
    """

    per_layer: bool = False
    w_norm: Norm = spectral
    j_norm: Norm = spectral
    numerator: Numerator = one_plus_h_sq


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

    Summed form: lhs = ‖∇_x f‖² Σ_t numerator(‖h⁽ᵗ⁾‖²)/(‖W⁽ᵗ⁾‖²‖J⁽ᵗ⁾‖²) over the layers with a
    non-zero denominator (numerator = 1 + ‖h⁽ᵗ⁾‖² in the statement), rhs = ‖∇_θ f‖² (in units of
    2^units_log2 where plain floats would under- or overflow; units_log2 = 0 otherwise), scale max(lhs, rhs).
    Per-layer form: ratio_t = ‖∇_x f‖² numerator(‖h⁽ᵗ⁾‖²)/(‖W⁽ᵗ⁾‖‖J⁽ᵗ⁾‖‖∇_{W⁽ᵗ⁾,b⁽ᵗ⁾} f‖)² ≤ 1
    (the multiplied form divided by its right side), scale max(ratio_t, 1). Where the right side
    is 0 (a zero denominator, or δ⁽ᵗ⁾ = 0) the multiplied form says ∇_x f = 0: judged as
    ‖∇_x f‖ ≤ 0 on the scale of the terms that cancel in it.

    The tolerance is ``DEPTH·eps·scale`` times ``details["condition"]`` ≥ 1: the first-order
    round-off of lhs and rhs, bounded with the ``*_abs`` quantities (where a sum cancels, its
    error is relative to the sum of absolute values, not to the result), over the scale.
    Unresolved layers (:class:`GradientTerms`) are left out and listed; a case with nothing
    left is ``undecidable``.
    """
    layers = _Layers.of(terms, form)
    weights = form.numerator(terms.h_sq)  # (m, l)
    results: list[tuple[Comparison, dict[str, Any]]] = []
    unresolved = []
    for i in range(terms.grad_x.mant.shape[0]):
        zero = [t for t in range(layers.count) if layers.w[t] * layers.j[i, t] == 0]
        bad = [t + 1 for t in range(layers.count) if not terms.resolved[i, t]]
        if bad:
            unresolved.append({"example": i, "layers": bad})
        for t in zero:
            if terms.resolved[i, t]:
                results.append(_input_gradient_is_zero(terms, i, t, "zero-denominator", dtype))
        live = [t for t in range(layers.count) if t not in zero]
        if form.per_layer:
            results += _per_layer(terms, layers, weights[i], i, live, dtype)
        elif not bad:
            results.append(_summed(terms, layers, weights[i], i, live, zero, dtype))
    if not results:
        return _undecidable("every example has a layer whose gradients or Jacobian are not finite or fall where "
                            f"subnormal round-off may dominate them: {unresolved}")
    comparison, details = _worst(results)
    return comparison, {**details, "unresolved": unresolved} if unresolved else details


@dataclass(frozen=True)
class _Layers:
    """The norms of W⁽ᵗ⁾ ((l,) floats) and J⁽ᵗ⁾ ((m, l) mantissas with exponents ``j_exp``) of a form."""

    w: np.ndarray
    j: np.ndarray
    j_exp: np.ndarray

    @classmethod
    def of(cls, terms: GradientTerms, form: Form) -> _Layers:
        w = np.array([form.w_norm(sv) for sv in terms.w_sv])  # (l,)
        j = np.stack([form.j_norm(s.mant) for s in terms.j_sv], axis=1)  # (m, l), exponents j_sv[t].exp
        return cls(w, j, np.stack([s.exp for s in terms.j_sv], axis=1))

    @property
    def count(self) -> int:
        return int(self.w.shape[0])


def _input_gradient_is_zero(terms: GradientTerms, i: int, t: int, why: str, dtype: str
                            ) -> tuple[Comparison, dict[str, Any]]:
    """‖∇_x f‖ ≤ 0, relative to the size of the terms that cancel in it (what the multiplied form says at 0)."""
    gx, gxa = terms.grad_x, terms.grad_x_abs
    rel = _v(float(gx.mant[i]) / float(gxa.mant[i]), gx.exp[i] - gxa.exp[i]) if gxa.mant[i] > 0 else 0.0
    comparison, _ = _leq(rel, 0.0, 1.0 if gxa.mant[i] > 0 else 0.0, 0.0, dtype)
    return comparison, {"example": i, "layer": t + 1, "form": why}


def _per_layer(terms: GradientTerms, layers: _Layers, weights: np.ndarray, i: int, live: list[int], dtype: str
               ) -> list[tuple[Comparison, dict[str, Any]]]:
    """The multiplied form of every live, resolved layer of example ``i``, as ratio_t ≤ 1."""
    gx, gxa, lay, laya, ja = terms.grad_x, terms.grad_x_abs, terms.grad_layer, terms.grad_layer_abs, terms.j_abs
    w, j, j_exp = layers.w, layers.j, layers.j_exp
    out = []
    for t in (t for t in live if terms.resolved[i, t]):
        if lay.mant[i, t] == 0:
            out.append(_input_gradient_is_zero(terms, i, t, "delta-zero", dtype))
            continue
        base, base_e = float(w[t]) * float(j[i, t]) * float(lay.mant[i, t]), j_exp[i, t] + lay.exp[i, t]
        root = math.sqrt(weights[t])
        q = root * _v(gx.mant[i] / base, gx.exp[i] - base_e)  # √ratio
        q_abs = root * _v(gxa.mant[i] / base, gxa.exp[i] - base_e)
        kappa = _v(float(ja.mant[i, t]) / float(j[i, t]), ja.exp[i, t] - j_exp[i, t]) + _v(
            float(laya.mant[i, t]) / float(lay.mant[i, t]), laya.exp[i, t] - lay.exp[i, t])
        ratio = min(q * q, _CAP)
        noise = min(2 * (q * q_abs + ratio * kappa), _CAP)
        comparison, condition = _leq(ratio, 1.0, max(ratio, 1.0), noise, dtype)
        out.append((comparison, {"example": i, "layer": t + 1, "condition": condition}))
    return out


def _summed(terms: GradientTerms, layers: _Layers, weights: np.ndarray, i: int, live: list[int], zero: list[int],
            dtype: str) -> tuple[Comparison, dict[str, Any]]:
    """The summed form of example ``i`` over its live layers (every layer resolved)."""
    gx, gxa, th, tha, ja = terms.grad_x, terms.grad_x_abs, terms.grad_theta, terms.grad_theta_abs, terms.j_abs
    w, j, j_exp = layers.w, layers.j, layers.j_exp
    unit = int(th.exp[i] if th.mant[i] > 0 else gx.exp[i])
    lhs = noise = 0.0
    for t in live:
        e = gx.exp[i] - j_exp[i, t] - unit
        root = math.sqrt(weights[t])
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
    return comparison, {"example": i, "units_log2": units, "condition": condition,
                        "skipped_layers": [t + 1 for t in zero]}


# --------------------------------------------------------------------------- a claim's check and re-check


def _case_result(case: MLPHeadCase, terms: GradientTerms, dtype: str, form: Form, how: str) -> CaseResult:
    comparison, details = judge(terms, dtype, form)
    details = {"widths": list(case.mlp.widths), "activation": case.mlp.activation, "head": case.head,
               "ratio": comparison.ratio, **details}
    return CaseResult(comparison, case.tags, details,
                      how + Tolerance(dtype, DEPTH).describe() + " × details.condition (round-off bound, ≥ 1)")


def torch_check(form: Form) -> Callable[[MLPHeadCase, CheckContext], CaseResult]:
    """The check of "C3 in ``form`` holds": the torch route (vmap over the batch) in ``ctx.dtype``."""

    def check(case: MLPHeadCase, ctx: CheckContext) -> CaseResult:
        return _case_result(case, gradient_terms(case, ctx.dtype, ctx.device), ctx.dtype, form, "")

    return check


def mpmath_recheck(form: Form) -> Callable[[MLPHeadCase, CheckContext], CaseResult]:
    """Its re-check: the mpmath route (explicit loops at ``MP_DIGITS`` digits), judged in float64 alike."""

    def recheck(case: MLPHeadCase, ctx: CheckContext) -> CaseResult:
        return _case_result(case, gradient_terms_mp(case), "float64", form, f"mpmath {MP_DIGITS} digits; ")

    return recheck
