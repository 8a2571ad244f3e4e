r"""C3 for convolutions (docs/claims.md#c3-conv): the MLP statement transplanted, and the one with patches.

For a CNN of :func:`verify.modules` (conv layers, each followed by the activation, then a linear head and
the cross-entropy of one example as f), per example and conv layer t:

* ``conv-gradient-inequality-per-layer`` (expected refuted):
  :math:`\|\nabla_x f\|^2(1+\|h^{(t)}\|^2) \le \|A^{(t)}\|_2^2\|J^{(t)}\|_2^2\|\nabla_{K^{(t)},b^{(t)}}f\|^2`
  for every layer with :math:`A^{(t)}, J^{(t)} \ne 0`; ``conv-gradient-inequality`` its sum over layers.
  The kernel is shared across positions: :math:`\nabla_{K,b} f = D\tilde U^\top` sums one rank-one term per
  position, and they cancel where the MLP's single term cannot (an image constant over positions and a head
  whose weights alternate in sign make :math:`\nabla_{K,b} f = 0` while :math:`\nabla_x f \ne 0`);
* ``conv-gradient-inequality-patches`` (holds):
  :math:`\|\nabla_x f\|^2\sigma_P(\tilde U^{(t)})^2 \le \|A^{(t)}\|_2^2\|J^{(t)}\|_2^2\|\nabla_{K^{(t)},b^{(t)}}f\|^2`
  (vacuous when :math:`\tilde U` has fewer rows than its P columns; the strategy reaches P = 1, where it is
  the MLP inequality, and P up to :math:`Ck^2 + 1`).

The strategy draws ties on purpose: a third of the images are constant over positions in each channel, a
third of the heads are signed partial permutations (entries ±1). The check computes the terms with torch
(:func:`~proofs.gradient_inequality.conv.conv_terms`), the re-check with mpmath at 40 digits
(:func:`~proofs.gradient_inequality.conv.conv_terms_mp`); both are judged by :func:`judge_conv`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st

from proofs.gradient_inequality import FAMILY
from proofs.gradient_inequality import conv_symbolic as sym
from proofs.gradient_inequality.conv import ConvTerms, conv_terms, conv_terms_mp
from verify import (
    CaseResult,
    CheckContext,
    Comparison,
    ModuleCase,
    SymbolicResult,
    Tolerance,
    compare_leq,
    matrices,
    modules,
)

__all__ = ["CONV_CLAIMS", "Factor", "conv_cases", "conv_check", "conv_mpmath_recheck", "judge_conv", "one_plus_h_sq",
           "sigma_p_sq"]

#: what a case is judged on: ``per-layer`` and ``summed`` (statement (a)), ``patches`` (statement (b))
FORMS = ("per-layer", "summed", "patches")
_TIES = (False, False, True)


@st.composite
def _conv_cases(draw: st.DrawFn) -> ModuleCase:
    case = draw(modules(architectures=("cnn",), width=(1, 3), depth=(1, 2), batch=(1, 2), classes=(2, 3),
                        max_scale=10.0))
    x, params = np.array(case.x), dict(case.params)
    if draw(st.sampled_from(_TIES)):  # every position of a channel equal: the patches tie
        x = np.broadcast_to(x[:, :, :1, :1], x.shape).copy()
    head = f"{2 * len(case.spec_dict['channels']) + 1}.weight"
    if draw(st.sampled_from(_TIES)):  # a signed partial permutation: head weights of opposite signs
        params[head] = draw(matrices(*params[head].shape, structure="flat-spectrum", scale=1.0))
    return ModuleCase(arch="cnn", spec=case.spec_dict, params=tuple(params.items()), x=x, y=case.y)


def conv_cases() -> st.SearchStrategy[ModuleCase]:
    """CNN cases of :func:`verify.modules` (widths 1-3, one or two conv layers, one or two examples) with
    tied positions and signed heads drawn on purpose."""
    return _conv_cases()


def _eps(dtype: str) -> float:
    return float(np.finfo(np.float32 if dtype == "float32" else np.float64).eps)


def _sq_noise(sq: np.ndarray, absolute: np.ndarray, eps: float) -> np.ndarray:
    """Round-off of a squared norm ‖v‖² whose entries err by eps·|v|_abs, in units of eps: 2‖v‖·A + eps·A²."""
    return 2.0 * np.sqrt(sq) * absolute + eps * absolute ** 2


#: a layer's factor on ‖∇ₓf‖² from the terms: 1 + ‖h‖² (statement (a)) or σ_P(Ũ)² (statement (b))
Factor = Callable[[ConvTerms], np.ndarray]


def one_plus_h_sq(t: ConvTerms) -> np.ndarray:
    return 1.0 + t.h_sq


def sigma_p_sq(t: ConvTerms) -> np.ndarray:
    return t.sigma_sq


def _sides(t: ConvTerms, form: str, eps: float, factor: Factor | None = None
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lhs, rhs, noise) per example (summed) or per example and layer, in the multiplied form.

    A layer with A = 0 or J = 0 has a right side 0: the multiplied form says ∇ₓ f = 0 there (true, since
    ∇ₓ f = JᵀAᵀδ), and that is judged instead of dividing by 0. The summed form leaves such layers out of the
    sum; with none left its left side is ‖∇ₓ f‖² itself.
    """
    gx_noise = _sq_noise(t.gx_sq, t.gx_abs, eps)[:, None]
    gth_noise = _sq_noise(t.gtheta_sq, t.gtheta_abs, eps)
    norms = t.a_sq * t.j_sq
    if form == "summed":
        live = norms > 0
        weight = np.where(live, (factor or one_plus_h_sq)(t) / np.where(live, norms, 1.0), 0.0).sum(axis=1)
        weight = np.where(live.any(axis=1), weight, 1.0)
        noise = gx_noise[:, 0] * weight + gth_noise.sum(axis=1)
        return t.gx_sq * weight, t.gtheta_sq.sum(axis=1), noise
    values = (factor or (one_plus_h_sq if form == "per-layer" else sigma_p_sq))(t)
    return t.gx_sq[:, None] * values, norms * t.gtheta_sq, gx_noise * values + norms * gth_noise


def judge_conv(terms: ConvTerms, form: str, dtype: str, factor: Factor | None = None
               ) -> tuple[Comparison, dict[str, Any]]:
    """The worst example (and layer) of a case under ``form`` (``factor``: another left-side factor, for tests),
    with ``FAMILY.depth·eps·(scale + noise)``."""
    lhs, rhs, noise = _sides(terms, form, _eps(dtype), factor)
    worst: tuple[Comparison, dict[str, Any]] | None = None
    for index in np.ndindex(lhs.shape):
        a, b = float(lhs[index]), float(rhs[index])
        scale = max(a, b) if max(a, b) > 0 else 1.0  # 0 ≤ 0 exactly (a vacuous σ_P = 0 with D = 0) holds
        comparison = compare_leq(a, b, scale, Tolerance(dtype, FAMILY.depth), noise=float(noise[index]))
        where = {"example": int(index[0]), **({"layer": int(index[1]) + 1} if len(index) > 1 else {})}
        if worst is None or comparison.slack < worst[0].slack:
            worst = (comparison, where)
    assert worst is not None  # a cnn has at least one conv layer and one example
    comparison, where = worst
    i, t = where["example"], where.get("layer", 1) - 1
    details = {**where, "grad_x_sq": float(terms.gx_sq[i]), "grad_layer_sq": terms.gtheta_sq[i].tolist(),
               "h_sq": terms.h_sq[i].tolist(), "A_norm_sq": terms.a_sq[i].tolist(), "J_norm_sq": terms.j_sq[i].tolist(),
               "sigma_P_sq": terms.sigma_sq[i].tolist(), "computed_by": terms.how}
    if form != "summed":
        details["layer_terms"] = {"lhs": float(lhs[i, t]), "rhs": float(rhs[i, t])}
    return comparison, details


def _tags(case: ModuleCase, terms: ConvTerms) -> tuple[str, ...]:
    extra = []
    if case.x.shape[-1] > 1 and np.all(case.x == case.x[:, :, :1, :1]):  # one position ties with nothing
        extra.append("tied-positions")
    if terms.sigma1_sq is not None and np.any(terms.sigma_sq > 1e-12 * terms.sigma1_sq):  # rank P beyond round-off
        extra.append("patches-full-rank")
    spec = case.spec_dict
    if spec["size"] + 2 * spec["padding"] - spec["kernel"] + 1 == 1:
        extra.append("one-position")
    return (*(case.tags or ()), "cnn", *extra)


def conv_check(form: str, factor: Factor | None = None) -> Callable[[ModuleCase, CheckContext], CaseResult]:
    def check(case: ModuleCase, ctx: CheckContext) -> CaseResult:
        terms = conv_terms(case, ctx.dtype, ctx.device)
        comparison, details = judge_conv(terms, form, ctx.dtype, factor)
        return CaseResult(comparison, _tags(case, terms), details, f"{FAMILY.depth:g}·eps·(max(lhs, rhs) + noise)")
    return check


def conv_mpmath_recheck(form: str, factor: Factor | None = None) -> Callable[[ModuleCase, CheckContext], CaseResult]:
    def recheck(case: ModuleCase, ctx: CheckContext) -> CaseResult:
        terms = conv_terms_mp(case)
        comparison, details = judge_conv(terms, form, "float64", factor)
        return CaseResult(comparison, _tags(case, terms), details, "mpmath 40 digits, judged in float64")
    return recheck


_A = r"\|A^{(t)}\|_2^2\,\|J^{(t)}\|_2^2\,\|\nabla_{K^{(t)},b^{(t)}} f\|^2"
_HYPOTHESES = (
    r"h^{(1)} = x;\ z^{(t+1)} = K^{(t)} \star h^{(t)} + b^{(t)};\ h^{(t+1)} = g(z^{(t+1)})"
    r"\ (\text{stride } 1,\ \text{zero padding})",
    r"f = F(h^{(l+1)}) \text{ (a linear head and one example's cross-entropy)};\ "
    r"A^{(t)}\,\mathrm{vec}(h) = \mathrm{vec}(K^{(t)} \star h);\ J^{(t)} = \partial h^{(t)}/\partial x",
    r"\tilde U^{(t)} = [\mathrm{unfold}(h^{(t)});\ 1^\top] \in \mathbb{R}^{(Ck^2+1)\times P};\ "
    r"\sigma_P = 0 \text{ when } Ck^2 + 1 < P",
)


def _claim(form: str, claim_id: str, title: str, statement: str, expected: str, symbolic: Callable,
           notes: tuple[str, ...]) -> Any:
    return FAMILY.claim(
        id=claim_id, title=title, statement=statement, expected=expected, hypotheses=_HYPOTHESES,
        symbolic=lambda: SymbolicResult(symbolic()), cases=conv_cases, check=conv_check(form),
        recheck=conv_mpmath_recheck(form), relation="inequality", decode_case=ModuleCase.from_json, notes=notes,
        source=FAMILY.cite("C3 for convolutions, docs/claims.md#c3-conv (statements written before the checks)"),
    )


_WHY = ("Why the MLP proof does not carry over: it uses ‖∇_{W,b} f‖² = ‖δ‖²(1 + ‖h‖²), true because ∇_W f = δhᵀ is "
        "one rank-one term. A convolution shares its kernel across positions: ∇_{K,b} f = D Ũᵀ = Σ_p δ_p [u_p; 1]ᵀ, "
        "one term per output position p with only that position's patch u_p. Two things break the identity: "
        "locality (δ can be non-zero at one position, whose patch is a small part of h, while 1 + ‖h‖² counts every "
        "position: the shrunk counterexample) and cancellation (an image constant over positions with head weights of "
        "opposite signs gives Σ_p δ_p = 0, so ∇_{K,b} f = 0 while ∇ₓ f ≠ 0: the exact symbolic counterexample).",)

PER_LAYER = _claim(
    "per-layer", "conv-gradient-inequality-per-layer", "C3 transplanted to conv layers, layer by layer",
    r"\|\nabla_x f\|^2\bigl(1 + \|h^{(t)}\|^2\bigr) \le " + _A, "refuted", sym.weight_sharing_steps, _WHY)
SUMMED = _claim(
    "summed", "conv-gradient-inequality", "C3 transplanted to conv nets (summed over layers)",
    r"\|\nabla_x f\|^2 \sum_t \frac{1 + \|h^{(t)}\|^2}{\|A^{(t)}\|_2^2\|J^{(t)}\|_2^2} \le "
    r"\sum_t \|\nabla_{K^{(t)},b^{(t)}} f\|^2", "refuted", sym.weight_sharing_steps, _WHY)
PATCHES = _claim(
    "patches", "conv-gradient-inequality-patches", "C3 for conv layers with the patch matrix",
    r"\|\nabla_x f\|^2\,\sigma_P\bigl(\tilde U^{(t)}\bigr)^2 \le " + _A, "holds", sym.patches_steps,
    ("∇ₓ f = J⁽ᵗ⁾ᵀA⁽ᵗ⁾ᵀδ⁽ᵗ⁾ gives ‖∇ₓ f‖ ≤ ‖J‖₂‖A‖₂‖D‖_F, and ‖DŨᵀ‖_F ≥ σ_P(Ũ)‖D‖_F. At P = 1 it is the MLP "
     "inequality; it is vacuous (σ_P = 0) once P > Ck² + 1, the usual case for real images.",))

CONV_CLAIMS = (SUMMED, PER_LAYER, PATCHES)
