r"""Input-gradient vs parameter-gradient inequality for MLPs (C3), and [S001]'s mistake.

Source: [S001] (苏剑林, "输入梯度惩罚与参数梯度惩罚的一个不等式", inequality (1)), after
Dherin, Munn & Barrett, "The Geometric Occam's Razor Implicit in Deep Learning" (2022);
restated precisely as C3 in ``docs/claims.md#c3``.

For :math:`h^{(1)} = x`, :math:`z^{(t+1)} = W^{(t)}h^{(t)} + b^{(t)}`,
:math:`h^{(t+1)} = g(z^{(t+1)})` (the activation follows the last layer too),
:math:`f = F(h^{(l+1)})`, :math:`\delta^{(t)} = \partial f/\partial z^{(t+1)}` and
:math:`J^{(t)} = \partial h^{(t)}/\partial x`:

.. math::

    \nabla_x f = J^{(t)\top}W^{(t)\top}\delta^{(t)},\qquad
    \|\nabla_{W^{(t)},b^{(t)}} f\|^2 = \|\delta^{(t)}\|^2\bigl(1 + \|h^{(t)}\|^2\bigr),

    \|\nabla_x f\|^2 \sum_{t=1}^{l} \frac{1 + \|h^{(t)}\|^2}{\|W^{(t)}\|_2^2\,\|J^{(t)}\|_2^2}
    \le \|\nabla_\theta f\|^2 .

Claims: ``mlp-gradient-inequality``, ``mlp-gradient-inequality-per-layer``,
``mlp-gradient-inequality-frobenius`` (hold); ``mlp-gradient-inequality-no-bias-keeps-one``
([S001] without biases) and ``mlp-gradient-inequality-doubled`` (refuted).

Numerics. Each case is a network, a batch and a head (:func:`verify.mlp_head_cases`,
which generates the equality cases on purpose). Per example (``vmap`` over the batch):
:math:`\nabla_\theta f` (:func:`verify.per_sample_grads`), :math:`\nabla_x f`
(``vmap(grad)``), :math:`J^{(t)}` (``vmap(jacrev)``), singular values of
:math:`W^{(t)}` and :math:`J^{(t)}` (``torch.linalg.svdvals``; the spectral norm is the
largest, as in ``matrix_norm(ord=2)``). A case is judged on its worst example (and, per
layer, its worst layer); the tolerance is ``DEPTH·eps·max(lhs, rhs)``, the size of the two
terms that cancel, times a round-off bound ("condition" ≥ 1, in the details) computed from
the same quantities with ``|W|``, ``|g'|`` (where a sum inside backprop cancels, its error is
relative to the sum of absolute values). Saturated activations push gradients towards
1e-300: the bound is homogeneous of degree 2 in f, so f is multiplied by an exact power of
two that keeps backprop out of the subnormal range, norms are kept as mantissa × 2^exponent,
and a layer whose numbers still fall where subnormal round-off could dominate is left out
(``details.unresolved``; a case with nothing left is ``undecidable``). Layers with
:math:`W^{(t)} = 0` or :math:`J^{(t)} = 0` are left out of the sum (``details.skipped_layers``);
for them the multiplied per-layer form says :math:`\nabla_x f = 0`, which is judged instead.
The re-check recomputes everything with explicit forward/backward loops in mpmath at
40 digits (no torch, no autograd).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from proofs.gradient_inequality import FAMILY
from proofs.gradient_inequality import symbolic as sym
from proofs.gradient_inequality.judge import (
    Form,
    Numerator,
    h_sq_only,
    judge,
    mpmath_recheck,
    one_plus_h_sq,
    torch_check,
)
from proofs.gradient_inequality.multiprecision import MP_DIGITS, gradient_terms_mp
from proofs.gradient_inequality.terms import (
    GradientTerms,
    Norm,
    Pow2,
    case_functions,
    frobenius,
    gradient_terms,
    resolution_floor,
    spectral,
)
from verify import (
    CheckContext,
    Claim,
    MLPHeadCase,
    SymbolicResult,
    mlp_head_cases,
)

#: the claims and their factory, and (from the private modules) the quantities and judgement they use
__all__ = [
    "DOUBLED", "FROBENIUS", "MP_DIGITS", "NO_BIAS_KEEPS_ONE", "PER_LAYER", "SUMMED",
    "Form", "GradientTerms", "Norm", "Numerator", "Pow2", "case_functions", "doubled_one_plus_h_sq", "frobenius",
    "gradient_terms", "gradient_terms_mp", "h_sq_only", "judge", "make_claim", "mpmath_recheck", "one_plus_h_sq",
    "ratio_distribution", "resolution_floor", "spectral", "torch_check",
]


def make_claim(form: Form, *, claim_id: str, statement: str, expected: str = "holds", bias: bool = True,
               symbolic: Callable[[], SymbolicResult] | None = None, title: str = "",
               notes: tuple[str, ...] = (), cases: Callable[[], Any] | None = None) -> Claim:
    """A claim "C3 in ``form`` holds" over :func:`verify.mlp_head_cases` (biases on or off).

    The check uses torch (vmap over the batch, :func:`~proofs.gradient_inequality.judge.torch_check`);
    the re-check of a counterexample the mpmath route, judged the same way
    (:func:`~proofs.gradient_inequality.judge.mpmath_recheck`).
    """
    return FAMILY.claim(
        id=claim_id, title=title, statement=statement, expected=expected,
        hypotheses=(FAMILY.hypotheses if bias
                    else FAMILY.hypotheses[:2] + (r"\text{no biases}",) + FAMILY.hypotheses[3:]),
        symbolic=symbolic, cases=cases or (lambda: mlp_head_cases(bias=bias)),
        check=torch_check(form), recheck=mpmath_recheck(form),
        relation="inequality", decode_case=MLPHeadCase.from_json, notes=notes,
    )


def ratio_distribution(claim: Claim, *, examples: int = 200, seed: int = 0, dtype: str = "float64",
                       device: str = "cpu") -> dict[str, Any]:
    """The distribution of the tightness ratio lhs/rhs over ``examples`` generated cases.

    The engine keeps only the largest ratio (``tightest_ratio``); this runs the claim's
    check over its own strategy (seeded like the engine) and summarizes every ratio.

    Returns:
        ``cases`` (with a ratio), ``quantiles`` (min, 10, 25, 50, 75, 90, 99 %, max),
        ``at_least`` (fraction of cases with ratio ≥ 0.5, 0.9, 0.999) and ``histogram``
        (counts over [0, 0.1), …, [0.9, 1.0), [1.0, ∞)).
    """
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    ctx = CheckContext(device=device, dtype=dtype, seed=seed, examples=examples)
    ratios: list[float] = []

    @settings(max_examples=examples, database=None, deadline=None, phases=(Phase.generate,),
              suppress_health_check=list(HealthCheck))
    @hypothesis_seed(seed)
    @given(case=claim.cases())  # type: ignore[misc]
    def collect(case: Any) -> None:
        ratio = claim.check(case, ctx).comparison.ratio  # type: ignore[misc]
        if ratio is not None:
            ratios.append(ratio)

    collect()
    r = np.array(ratios)
    if not r.size:
        return {"cases": 0, "quantiles": {}, "at_least": {}, "histogram": []}
    levels = {"min": 0, "p10": 10, "p25": 25, "p50": 50, "p75": 75, "p90": 90, "p99": 99, "max": 100}
    edges = [*np.linspace(0.0, 1.0, 11), np.inf]
    return {
        "cases": int(r.size),
        "quantiles": {k: float(np.percentile(r, q)) for k, q in levels.items()},
        "at_least": {str(a): float((r >= a).mean()) for a in (0.5, 0.9, 0.999)},
        "histogram": [int(c) for c in np.histogram(r, bins=edges)[0]],
    }


# --------------------------------------------------------------------------- the claims

_LHS = r"\|\nabla_x f\|^2 \sum_{t=1}^{l} \frac{1 + \|h^{(t)}\|^2}{\|W^{(t)}\|_2^2\,\|J^{(t)}\|_2^2}"
_EQUALITY = ("Equality cases generated on purpose (verify.mlp_head_cases): widths all 1 (any activation and "
             "head), and identity networks whose layers share singular frames with a linear head along the "
             "top left singular vector of the last layer (depth 1: any W). tightest_ratio reaches 1 there.",)
_ZERO = ("Layers with W⁽ᵗ⁾ = 0 or J⁽ᵗ⁾ = 0 are left out of the sum (details.skipped_layers); for them the "
         "multiplied form ‖∇_x f‖²(1 + ‖h⁽ᵗ⁾‖²) ≤ 0, i.e. ∇_x f = 0, is judged instead.",
         "ReLU is differentiable only almost everywhere; torch takes relu'(0) = 0, and the chain-rule "
         "identities (hence the bound) hold for that choice as for any other value of g'(0).")

SUMMED = make_claim(
    Form(), claim_id="mlp-gradient-inequality", title="Input-gradient vs parameter-gradient inequality for MLPs",
    statement=_LHS + r" \le \|\nabla_\theta f\|^2",
    symbolic=lambda: SymbolicResult(sym.steps("summed")),
    notes=(*_EQUALITY, *_ZERO,
           "The seed writes ‖∇_x h⁽ᵗ⁾‖ without naming the matrix norm: it must be the spectral norm "
           "(or any larger one, e.g. Frobenius: mlp-gradient-inequality-frobenius)."),
)

PER_LAYER = make_claim(
    Form(per_layer=True), claim_id="mlp-gradient-inequality-per-layer",
    title="Input-gradient vs parameter-gradient inequality, layer by layer",
    statement=(r"\|\nabla_x f\|^2\left(1 + \|h^{(t)}\|^2\right) \le \|W^{(t)}\|_2^2\,\|J^{(t)}\|_2^2\,"
               r"\|\nabla_{W^{(t)},b^{(t)}} f\|^2 \quad (t = 1, \dots, l)"),
    symbolic=lambda: SymbolicResult(sym.steps("per-layer")),
    notes=(*_EQUALITY, "Each case is judged on its worst example and worst layer t; the ratio is that layer's "
           "lhs/rhs (the multiplied form divided by its right side).", _ZERO[1]),
)

FROBENIUS = make_claim(
    Form(w_norm=frobenius, j_norm=frobenius), claim_id="mlp-gradient-inequality-frobenius",
    title="Input-gradient vs parameter-gradient inequality with Frobenius norms (looser)",
    statement=(r"\|\nabla_x f\|^2 \sum_{t=1}^{l} \frac{1 + \|h^{(t)}\|^2}{\|W^{(t)}\|_F^2\,\|J^{(t)}\|_F^2}"
               r" \le \|\nabla_\theta f\|^2"),
    symbolic=lambda: SymbolicResult(sym.steps("frobenius")),
    notes=("Valid because ‖A‖₂ ≤ ‖A‖_F (frobenius-bound); looser, with equality only where every W⁽ᵗ⁾ and "
           "J⁽ᵗ⁾ has rank one, e.g. widths all 1.", *_ZERO),
)

NO_BIAS_KEEPS_ONE = make_claim(
    Form(), claim_id="mlp-gradient-inequality-no-bias-keeps-one", expected="refuted", bias=False,
    title="[S001]: the inequality for networks without biases, '1 +' kept",
    statement=_LHS + r" \le \|\nabla_\theta f\|^2,\quad \theta = (W^{(1)}, \dots, W^{(l)}) \text{ (no biases)}",
    symbolic=lambda: SymbolicResult([sym.no_bias_counterexample()]),
    notes=("Without biases ‖∇_{W⁽ᵗ⁾} f‖² = ‖δ⁽ᵗ⁾‖²‖h⁽ᵗ⁾‖²: the '1 +' must go (then the bound holds).",),
)

def doubled_one_plus_h_sq(h_sq: np.ndarray) -> np.ndarray:
    """2(1 + ‖h⁽ᵗ⁾‖²): twice C3's left side, the mistaken statement of ``mlp-gradient-inequality-doubled``."""
    return 2.0 * (1.0 + h_sq)


DOUBLED = make_claim(
    Form(numerator=doubled_one_plus_h_sq), claim_id="mlp-gradient-inequality-doubled", expected="refuted",
    title="C3 with twice the left side",
    statement=r"2\," + _LHS + r" \le \|\nabla_\theta f\|^2",
    symbolic=lambda: SymbolicResult([sym.doubled_counterexample()]),
    notes=("Random wide networks sit far below the bound (median ratio well under 1/2), so only the "
           "generated equality cases refute this.",),
)
