r"""The gradient-norm penalty and its finite-difference gradient (C5), and [S002]'s two mistakes.

Source: [S002] ("Tsinghua University product: penalty gradient norm improves generalization",
section "3 Paper method"), a write-up of Zhao, Zhang, Hu, "Penalizing Gradient Norm for
Efficiently Improving Generalization in Deep Learning", ICML 2022 (arXiv 2202.03599); restated
precisely as C5 in ``docs/claims.md#c5``.

For :math:`L(\theta) = L_S(\theta) + \lambda\|\nabla L_S(\theta)\|_2`, :math:`g = \nabla L_S`,
:math:`H = \nabla^2 L_S`, :math:`g \ne 0`, :math:`\hat g = g/\|g\|`, :math:`\|v\| = 1`:

.. math::

    \nabla L = g + \lambda \frac{H g}{\|g\|}, \qquad
    H v = \frac{\nabla L_S(\theta + r v) - \nabla L_S(\theta)}{r} + O(r)
        = \frac{\nabla L_S(\theta + r v) - \nabla L_S(\theta - r v)}{2r} + O(r^2),

so with :math:`\alpha = \lambda / r`: :math:`\nabla L \approx (1-\alpha) g + \alpha \nabla L_S(\theta + r\hat g)`,
which for :math:`\alpha = 1`, :math:`r = \rho` is SAM's first-order direction (ĝ held constant).

Claims: ``gradient-norm-penalty-gradient``, ``gradient-norm-penalty-fd-order``,
``gnp-alpha-one-is-sam`` (hold); ``seed002-half-factor``, ``seed002-fd-uses-penalized-loss`` (refuted).
The case and its strategy live in :mod:`proofs.gradient_norm_penalty.cases`, the loss and the autograd and
mpmath oracles in :mod:`proofs.gradient_norm_penalty.oracles`, the per-case checks and the formulas they test
in :mod:`proofs.gradient_norm_penalty.numeric`, the derivations in :mod:`proofs.gradient_norm_penalty.symbolic`
and the figures in :mod:`proofs.gradient_norm_penalty.figures`.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from proofs.gradient_norm_penalty import FAMILY
from proofs.gradient_norm_penalty import cases as cs
from proofs.gradient_norm_penalty import figures as fig
from proofs.gradient_norm_penalty import numeric as num
from proofs.gradient_norm_penalty import symbolic as sym
from verify import SymbolicResult, case_from_json

GRADIENT = FAMILY.claim(
    id="gradient-norm-penalty-gradient", title="Exact gradient of the gradient-norm penalty",
    statement=r"g \ne 0 \;\Longrightarrow\; \nabla_\theta\bigl(L_S + \lambda\|\nabla L_S\|_2\bigr) = "
              r"g + \lambda \frac{H g}{\|g\|_2}",
    symbolic=lambda: SymbolicResult([sym.norm_gradient("exp-poly"), sym.norm_gradient("cubic-net"),
                                     sym.squared_norm_gradient()]),
    cases=cs.gnp_cases, check=num.gradient_check, recheck=num.gradient_recheck,
    decode_case=case_from_json,
    notes=("Oracle: double backward (torch.autograd.grad with create_graph) through λ‖∇L_S‖; formula: Hg by "
           "forward-over-reverse. Scale ‖g‖_∞ + λ‖Hg‖_∞/‖g‖; the round-off of ĝ (ε·κ/‖g‖, so 1/‖g‖) enters "
           "the tolerance through H.",
           "The squared penalty λ‖∇L_S‖² has gradient g + 2λHg (proved symbolically).",
           "The paper's p-norm is taken with p = 2, as in the source."),
)

FD_ORDER = FAMILY.claim(
    id="gradient-norm-penalty-fd-order", title="Finite-difference Hessian-vector product: O(r) and O(r²)",
    statement=r"\Bigl\|\tfrac{\nabla L_S(\theta+r\hat g)-\nabla L_S(\theta)}{r} - H\hat g\Bigr\| \le C_1 r,\quad "
              r"\Bigl\|\tfrac{\nabla L_S(\theta+r\hat g)-\nabla L_S(\theta-r\hat g)}{2r} - H\hat g\Bigr\| \le C_2 r^2",
    hypotheses=(*FAMILY.hypotheses,
                r"C_1 = \tfrac12\sup_{[\theta,\theta+r\hat g]}\|D^3L_S[\hat g,\hat g]\|,\ "
                r"C_2 = \tfrac16\sup_{[\theta-r\hat g,\theta+r\hat g]}\|D^4L_S[\hat g,\hat g,\hat g]\|",
                r"r \text{ above round-off: } r \gtrsim c\,\varepsilon\,R/\|H\hat g\|"),
    symbolic=lambda: SymbolicResult([sym.gradient_taylor(), sym.central_difference(), sym.quadratic_fd_exact(),
                                     sym.integral_remainder()]),
    cases=lambda: cs.gnp_cases(activations=cs.FD_SMOOTH), check=num.fd_order_check, recheck=num.fd_order_recheck,
    relation="inequality", decode_case=case_from_json,
    notes=("Error model: forward (r/2)M3 + O(ε R/r), central (r²/6)M4 + O(ε R/r); the recommended step "
           "r* = 2√(εR/M3) (forward), (3εR/M4)^{1/3} (central) is in each case's details and marked on the figure.",
           "The reference Hĝ (autograd) is itself off where torch's second derivative of an activation cancels "
           "(softplus = −logsigmoid(−z): σ(u) − 1 at u = −z ≫ 0); that error δ, measured against Hĝ in mpmath, "
           "does not shrink with r and is allowed on top. M3, M4 come from mpmath where torch's w₃, w₄ at θ "
           "disagree with it (there they can vanish altogether, z < −37).",
           "A forward slope of 2 is allowed: it happens where D³L_S[ĝ, ĝ] vanishes. Quadratic L_S (depth-1 nets): "
           "B ≡ 0, exact for every r up to round-off, checked for r from 10 down to 1e-8.",
           "A wrong HVP formula has an error that does not go to 0 as r → 0 (a plateau): it is refuted.",
           "GELU is left out here: torch's erf-based GELU derivative loses about 1% in the far tail "
           "(1 + erf cancels near z = −8), a smooth error that the FD of the gradient sees and the analytic "
           "second derivative does not; it is an artefact of the implementation, not of the math."),
    figures=fig.fd_order_figures,
)

SAM = FAMILY.claim(
    id="gnp-alpha-one-is-sam", title="α = 1 (λ = r = ρ) gives SAM's first-order direction",
    statement=r"\alpha = \tfrac{\lambda}{r} = 1,\ r = \rho:\ (1-\alpha)g + \alpha\nabla L_S(\theta + r\hat g) = "
              r"\nabla_\theta L_S(\theta + \rho\,\mathrm{sg}[\hat g])",
    hypotheses=(*FAMILY.hypotheses, r"\mathrm{sg}: \hat g \text{ held constant (no } "
                                     r"\partial\hat g/\partial\theta \text{ term)}"),
    symbolic=lambda: SymbolicResult([sym.mixing_identity(), sym.alpha_one_is_sam(), sym.mixing_error()]),
    cases=lambda: cs.gnp_cases(lams=(1.0,)), check=num.sam_check, recheck=num.sam_recheck, decode_case=case_from_json,
    notes=("Oracle: torch autograd of L_S(θ + ρ·ĝ.detach()), the way SAM is implemented.",
           "Any α ≥ 0 is valid mathematically: the source's 0 ≤ α ≤ 1 is a convention. The mixing formula "
           "approximates ∇L with error O(λr) (proved symbolically on a quartic)."),
)

HALF = FAMILY.claim(
    id="seed002-half-factor", title="[S002]: ∇‖g‖ = ½Hg/‖g‖", expected="refuted",
    statement=r"\nabla_\theta\|\nabla L_S\|_2 = \tfrac12 \frac{H g}{\|g\|_2}",
    source=FAMILY.cite("the post's derivation keeps the ½ of the square root's derivative"),
    symbolic=lambda: SymbolicResult([sym.norm_gradient("exp-poly", sym.SEED002_HALF)]),
    cases=cs.gnp_cases, check=partial(num.gradient_check, formula=num.seed002_half_norm_gradient),
    recheck=partial(num.gradient_recheck, formula=num.seed002_half_norm_gradient), decode_case=case_from_json,
    notes=("d‖g‖ = gᵀ dg/‖g‖: the ½ of d√s = ds/(2√s) cancels the 2 of d(gᵀg) = 2gᵀdg. The source's final "
           "formula (without ½) is right; the intermediate line is not.",),
)

PENALIZED_FD = FAMILY.claim(
    id="seed002-fd-uses-penalized-loss", title="[S002]: the FD formula with ∇L of the penalized loss",
    expected="refuted",
    statement=r"H\hat g = \frac{\nabla L(\theta + r\hat g) - \nabla L(\theta)}{r} + O(r),\ "
              r"L = L_S + \lambda\|\nabla L_S\|_2",
    source=FAMILY.cite("the post's finite-difference line differentiates L where L_S is meant"),
    hypotheses=(*FAMILY.hypotheses, r"\lambda > 0"),
    symbolic=lambda: SymbolicResult([sym.penalized_fd_limit()]),
    cases=lambda: cs.gnp_cases(activations=cs.FD_SMOOTH, lams=(1.0, 0.5, 0.1)),
    check=num.seed002_fd_check, recheck=num.seed002_plateau_recheck, relation="inequality",
    decode_case=case_from_json,
    notes=("As r → 0 this quotient tends to ∇²L ĝ = Hĝ + λ∇²‖g‖ ĝ: its error plateaus at λ‖∇²‖g‖ĝ‖ ≠ 0 "
           "instead of going to 0 (see the figure). The check is the one of gradient-norm-penalty-fd-order "
           "with ∇L in place of ∇L_S; the re-check computes the plateau itself, ‖∇²L ĝ − Hĝ‖_∞, by "
           "forward-mode autograd (no finite differences), so FD round-off cannot be the counterexample.",),
    figures=fig.penalized_fd_figures,
)


# --------------------------------------------------------------------------- over architectures

#: the hypothesis that changes when L_S is a network of verify.modules() with its cross-entropy
_MODULE_HYPOTHESIS = (r"L_S(\theta) = \tfrac1m\sum_i \mathrm{CE}(f(x_i;\theta), y_i),\ f \text{ an MLP, CNN, "
                      r"residual net with LayerNorm or self-attention layer (verify.modules), activation tanh, "
                      r"gelu, softplus or sigmoid}")
_MODULE_NOTE = ("Over architectures: the cases are networks of verify.modules() (mlp, cnn, residual + LayerNorm, "
                "attention; widths 1, zero and rank-one weights, tiny scales, one example) with their mean "
                "cross-entropy as L_S; the check and the re-check are the ones of the MLP claim.",)


def _over_modules(claim, claim_id: str, title: str, cases=cs.gnp_module_cases, notes: tuple[str, ...] = ()):
    return replace(claim, id=claim_id, title=title, cases=cases, hypotheses=(_MODULE_HYPOTHESIS, *claim.hypotheses[1:]),
                   notes=(*claim.notes, *_MODULE_NOTE, *notes), figures=None)


GRADIENT_MODULES = _over_modules(GRADIENT, "gradient-norm-penalty-gradient-modules",
                                 "Exact gradient of the gradient-norm penalty, over architectures")
HALF_MODULES = _over_modules(HALF, "seed002-half-factor-modules", "[S002]: ∇‖g‖ = ½Hg/‖g‖, over architectures")

_FD_MODULE_NOTE = ("Over architectures there is no mpmath backpropagation: the reference Hĝ, w₃ and w₄ at θ come from "
                   "Richardson-extrapolated central differences of torch's float64 gradients, torch's sampled sups of "
                   "w₃, w₄ (reverse mode over reverse mode) are used only where they agree with those (1e-3 plus "
                   "their spread; else the case is undecidable), and the re-check stops at the dense-Hessian stage. "
                   "Activations tanh, softplus, sigmoid (GELU left out as for MLPs).",)
FD_ORDER_MODULES = _over_modules(
    FD_ORDER, "gradient-norm-penalty-fd-order-modules",
    "Finite-difference Hessian-vector product: O(r) and O(r²), over architectures",
    cases=lambda: cs.gnp_module_cases(activations=cs.FD_SMOOTH[:1] + cs.FD_SMOOTH[2:], hvp_measured=False),
    notes=_FD_MODULE_NOTE)
PENALIZED_FD_MODULES = _over_modules(
    PENALIZED_FD, "seed002-fd-uses-penalized-loss-modules",
    "[S002]: the FD formula with ∇L of the penalized loss, over architectures",
    cases=lambda: cs.gnp_module_cases(activations=cs.FD_SMOOTH[:1] + cs.FD_SMOOTH[2:], lams=(1.0, 0.5, 0.1),
                                      hvp_measured=False),
    notes=_FD_MODULE_NOTE)
