r"""The descent lemma for gradient descent (C2), and [S000]'s three mistakes about it.

Source: [S000] ("使用二阶梯度作正则项交叉训练参数", section "L̂(A+αΔA)的一个上界的证明"),
which writes the update as ascent, expands with the Hessian at the start point and omits the
step-size condition; restated precisely as C2 in ``docs/claims.md#c2``.

Statement: if :math:`g^\top \nabla^2 L(\xi) g \le M\|g\|^2` on the segment
:math:`\{\theta - s\alpha g: s\in[0,1]\}` with :math:`g = \nabla L(\theta)`, then for every
:math:`\alpha \ge 0`

.. math:: L(\theta - \alpha g) \le L(\theta) - \alpha\left(1 - \tfrac{\alpha M}{2}\right)\|g\|^2 ,

a decrease when :math:`0 < \alpha < 2/M`. The slack is normalized by the terms that cancel,
:math:`\alpha\|g\|^2(1 + \alpha|M|/2)`, never by :math:`L(\theta)`; the round-off of evaluating
:math:`L` enters the tolerance as ``noise`` (see :func:`verify.compare_leq`).

Claims: ``descent-lemma`` (holds); ``seed000-ascent-update``, ``seed000-taylor-at-start-point``,
``descent-lemma-beyond-2-over-M`` (refuted). The problems are in :mod:`.problems`, the strategies in
:mod:`.cases`, the checks in :mod:`.numeric`, the derivations in :mod:`.symbolic`.
"""

from __future__ import annotations

from proofs.descent import FAMILY, figures
from proofs.descent import numeric as num
from proofs.descent import symbolic as sym
from proofs.descent.cases import descent_cases, log_cosh_cases, module_descent_cases, quadratic_step_cases
from proofs.descent.module_problem import start_point_check, start_point_recheck
from proofs.descent.problems import DescentCase
from verify import SymbolicResult

__all__ = ["ASCENT", "BEYOND", "DESCENT", "DESCENT_MODULES", "START_POINT", "START_POINT_MODULES"]

DESCENT = FAMILY.claim(
    id="descent-lemma", title="Descent lemma for gradient descent",
    statement=(r"g^\top\nabla^2 L(\xi)g \le M\|g\|^2\ \forall \xi\in[\theta,\theta-\alpha g] \;\Longrightarrow\; "
               r"L(\theta-\alpha g) \le L(\theta) - \alpha\left(1-\tfrac{\alpha M}{2}\right)\|g\|^2"),
    symbolic=lambda: SymbolicResult([sym.taylor_remainder(), sym.curvature_bound(), sym.step_size_condition(),
                                     sym.optimal_step(), sym.quadratic_equality()]),
    cases=descent_cases, check=num.descent_check, recheck=num.descent_recheck_dense,
    relation="inequality", decode_case=DescentCase.from_json, figures=figures.descent_figures,
    notes=("Softmax regression uses the global M of C1 with α ∈ (0, 2/M]; MLP regressions (C² activations, "
           "targets cos(i)) fix α_max first and certify M on the whole segment (interval Taylor enclosures of "
           "gᵀ∇²L(ξ)g with subdivision; undecidable only where no finite bound is found within the work limit); "
           "quadratics use the directional "
           "M = gᵀQg/‖g‖², where the lemma is an equality (slack ≈ 0), and M = λ_max(Q), where the slack is "
           "checked to equal α²(λ_max‖g‖² − gᵀQg)/2.",
           "The decrease (not the inequality) needs 0 < α < 2/M; α = 1/M decreases L by ‖g‖²/(2M).",
           "Stochastic gradients only satisfy the bound in expectation, with E‖g̃‖² in the quadratic term."),
)


# --------------------------------------------------------------------------- the source's mistakes

ASCENT = FAMILY.claim(
    id="seed000-ascent-update", title="[S000]: the update A + α∇L decreases L", expected="refuted",
    statement=r"0 < \alpha \le \tfrac1M \;\Longrightarrow\; L(\theta + \alpha\nabla L(\theta)) \le L(\theta)",
    source=FAMILY.cite("the notes write A^{t+1} ← A^t + α∇_A L̂"), hypotheses=FAMILY.hypotheses[:1],
    cases=quadratic_step_cases, check=num.ascent_check, recheck=num.ascent_recheck_exact,
    relation="inequality", decode_case=DescentCase.from_json,
    notes=("Gradient descent subtracts the gradient: θ − α∇L. The re-check recomputes the counterexample in "
           "exact rational arithmetic.",),
)

START_POINT = FAMILY.claim(
    id="seed000-taylor-at-start-point", title="[S000]: the bound with the curvature at the start point",
    expected="refuted",
    statement=(r"M_0 = \lambda_{\max}(\nabla^2 L(\theta)) > 0,\ \alpha \in (0, 2/M_0] \;\Longrightarrow\; "
               r"L(\theta-\alpha g) \le L(\theta) - \alpha\left(1-\tfrac{\alpha M_0}{2}\right)\|g\|^2"),
    source=FAMILY.cite("the notes expand with ∇²L̂ at A instead of a point on the segment"),
    hypotheses=(r"L(t) = \log\cosh t,\ g = L'(t)",),
    cases=log_cosh_cases, check=num.start_point_check, recheck=num.start_point_recheck_mpmath,
    relation="inequality",
    decode_case=lambda data: (float(data[0]), float(data[1])),
    notes=("The curvature must be bounded on the whole segment: log cosh has L'' = sech² t, largest at 0, so a "
           "step from t = 2 toward 0 sees more curvature than M₀. Re-checked with mpmath at 50 digits.",),
)

BEYOND = FAMILY.claim(
    id="descent-lemma-beyond-2-over-M", title="Gradient descent decreases L for α ∈ (2/M, 4/M)", expected="refuted",
    statement=r"\nabla^2 L \preceq M I,\ \alpha \in \left(\tfrac2M, \tfrac4M\right) \;\Longrightarrow\; "
              r"L(\theta - \alpha g) \le L(\theta)",
    source=FAMILY.cite("the notes state the bound without the condition 0 < α < 2/M"),
    hypotheses=(r"L = \tfrac12\theta^\top Q\theta,\ Q \succeq 0,\ M = \lambda_{\max}(Q)",),
    cases=quadratic_step_cases, check=num.beyond_check, recheck=num.beyond_recheck_exact,
    relation="inequality", decode_case=DescentCase.from_json,
    notes=("On L = ½Mt², L(t − αMt) = ½Mt²(1 − αM)² > L(t) once αM > 2. Re-checked in exact rationals.",),
)


# --------------------------------------------------------------------------- over architectures

_MODULES = r"L(\theta) = \tfrac1m\sum_i \mathrm{CE}(f(x_i;\theta), y_i),\ f \text{ a network of verify.modules()}"

DESCENT_MODULES = FAMILY.claim(
    id="descent-lemma-modules", title="Descent lemma for gradient descent, over architectures",
    statement=DESCENT.statement, symbolic=DESCENT.symbolic,
    hypotheses=(_MODULES + r"\ (\text{mlp, cnn, residual + LayerNorm, attention; tanh, gelu, softplus, sigmoid})",
                r"M \ge \sup_{\xi \in [\theta, \theta - \alpha_{\max} g]} g^\top\nabla^2 L(\xi) g / \|g\|^2 "
                r"\text{ (certified on the segment)}"),
    cases=module_descent_cases, check=num.descent_check, recheck=num.descent_recheck_dense,
    relation="inequality", decode_case=DescentCase.from_json, figures=figures.descent_case_figures,
    notes=("M is certified on the segment as for the MLP regressions of descent-lemma: the network (convolutions, "
           "LayerNorm, softmax attention) and the cross-entropy run in interval Taylor mode to third order in s "
           "along θ − s·g, and subdivision bounds the supremum of gᵀ∇²L(ξ)g within 10⁻³ (the re-check: 10⁻⁵ and a "
           "257-point autograd scan). The softmax's derivatives are the cumulants of z' under p, from centred "
           "differences, so a saturated softmax stays tight.",
           "Every case cross-checks the certified M against 33 autograd samples of the curvature (one above M "
           "beyond round-off is a violation, so a wrong enclosure or wrong products are refuted, not verified) and "
           "against the curvature the loss values imply (above M: the case is undecidable).",
           "α_max is drawn with the case (0.05 to 5) before M is certified, as for the MLP regressions."),
)

START_POINT_MODULES = FAMILY.claim(
    id="seed000-taylor-at-start-point-modules", expected="refuted",
    title="[S000]: the bound with the curvature at the start point, over architectures",
    statement=(r"M_0 = \frac{g^\top\nabla^2 L(\theta) g}{\|g\|^2} > 0,\ \alpha \in (0, 2/M_0] \;\Longrightarrow\; "
               r"L(\theta-\alpha g) \le L(\theta) - \alpha\left(1-\tfrac{\alpha M_0}{2}\right)\|g\|^2"),
    source=FAMILY.cite("the notes expand with ∇²L̂ at A instead of a point on the segment"),
    hypotheses=(_MODULES,),
    cases=module_descent_cases, check=start_point_check, recheck=start_point_recheck,
    relation="inequality", decode_case=DescentCase.from_json,
    notes=("On a network the curvature along −g changes over the step; where it grows, the start point's M₀ "
           "undercounts it and the bound fails. The re-check recomputes M₀ from the dense Hessian, g by "
           "torch.func.grad, and measures the round-off of the two losses (ECnoise).",),
)
