r"""Optimizer update rules (C6): SGD with momentum, AdaGrad, RMSProp and Adam against torch.optim,
and [S004]'s three mistakes about them.

Sources: [S004] (lecture notes, sections "批量和动量", "AdaGrad", "RMSProp", "Adam"), which
writes AdaGrad with a constant :math:`\eta` and the root-mean
:math:`\sigma_t = \sqrt{\frac1{t+1}\sum_{k\le t} g_k^2}`, starts RMSProp from
:math:`\sigma_0 = |g_0|` and calls Adam "RMSProp plus momentum"; and the torch.optim
documentation of ``SGD``, ``Adagrad``, ``RMSprop``, ``Adam`` and ``AdamW``
(https://pytorch.org/docs/stable/optim.html, the "Algorithm" block of each class), restated as
C6 in ``docs/claims.md#c6``.

Method: the update rules are SymPy recurrences (torch's in :mod:`proofs.optimizers.symbolic`,
the lecture's in :mod:`proofs.optimizers.lecture`), one step per call, lambdified with
:func:`verify.to_torch` and stepped side by side with ``torch.optim`` itself (``p.grad = g_t;
opt.step()``) for T = 1..8 steps on generated parameters, gradient
sequences (zeros, tiny and large gradients) and hyper-parameters (boundary values included).
Each step :math:`t` is judged per coordinate with the tolerance
:math:`c\,t\,\kappa\,A_t\,\varepsilon\, S_t`, where :math:`S_t = |\theta_0| + \sum_{s\le t} \gamma_s U_s`
is the size of the parameter plus the step magnitudes, obtained by running the rule on
:math:`|\theta_0|, |g_s|` with :math:`-\gamma` (every term of every sum counted with its absolute
value); :math:`\kappa` is the conditioning of the step (Adam's bias corrections
:math:`1/(1-\beta^t)`, centered RMSprop's :math:`v - \bar g^2 \ge \alpha^t v`) and :math:`A_t \ge 1` the
amplification of earlier round-off by later steps, measured by finite differences only where a
step fails without it (an adaptive step is steep where :math:`g' = d\,g + \lambda\theta \sim \epsilon`). In
float32 both sides get the hyper-parameters rounded to float32. A counterexample is re-checked by
evaluating the SymPy rule in 50-digit mpmath (``sympy.lambdify``, not the bridge) against
torch.optim's other implementation (``foreach=True``; ``AdamW`` ↔
``Adam(decoupled_weight_decay=True)``); its details record the first step at which the two diverge.

Claims: ``optimizer-sgd-momentum``, ``optimizer-adagrad``, ``optimizer-rmsprop``,
``optimizer-adam`` (hold); ``seed004-adagrad-root-mean``, ``seed004-rmsprop-initial-sigma``,
``seed004-adam-is-rmsprop-plus-momentum`` (refuted). This module holds their definitions; the
cases are in :mod:`proofs.optimizers.cases`, the stepping, judgement, check and re-check in
:mod:`proofs.optimizers.numeric`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import sympy as sp

from proofs.optimizers import FAMILY, lecture
from proofs.optimizers import symbolic as sym
from proofs.optimizers.cases import (
    DEFAULTS,
    MAX_STEPS,
    OptimizerCase,
    adagrad_cases,
    adam_cases,
    gradient_sequences,
    lecture_adagrad_cases,
    lecture_adam_cases,
    lecture_rmsprop_cases,
    make_case,
    rmsprop_cases,
    sgd_cases,
)
from proofs.optimizers.module_cases import module_gradient_sequences
from proofs.optimizers.numeric import (
    AMPLIFICATION_STEP,
    DEPTH_PER_STEP,
    MAX_AMPLIFICATION,
    RECHECK_DPS,
    RuleFor,
    TrajectoryComparison,
    amplification,
    compare_trajectories,
    conditioning,
    mp_trajectory,
    rule_check,
    rule_recheck_mp,
    rule_trajectory,
    step_scale,
)
from proofs.optimizers.reference import in_dtype, torch_call_text, torch_rule, torch_trajectory
from verify import (
    Claim,
    SymbolicResult,
    SymbolicStep,
)

#: the claims and their factory, and (from the private modules) the cases and numeric routes they use
__all__ = [
    "ADAGRAD", "ADAGRAD_ROOT_MEAN", "ADAM", "ADAM_NO_BIAS_CORRECTION", "AMPLIFICATION_STEP", "DEFAULTS",
    "DEPTH_PER_STEP", "MAX_AMPLIFICATION", "MAX_STEPS", "MODULE_CLAIMS", "RECHECK_DPS", "RMSPROP",
    "RMSPROP_INITIAL_SIGMA", "SGD", "OptimizerCase", "RuleFor", "TrajectoryComparison",
    "adagrad_cases", "adam_cases", "amplification", "compare_trajectories", "conditioning", "gradient_sequences",
    "in_dtype", "lecture_adagrad_cases", "lecture_adam_cases", "lecture_rmsprop_cases", "make_case",
    "make_optimizer_claim", "mp_trajectory", "rmsprop_cases", "rule_check", "rule_recheck_mp", "rule_trajectory",
    "sgd_cases", "step_scale", "torch_call_text", "torch_rule", "torch_trajectory",
]


def make_optimizer_claim(claim_id: str, *, statement: str, cases: Callable[[], Any], rule_for: RuleFor = torch_rule,
                         **fields: Any) -> Claim:
    """A claim "``rule_for(case)`` steps like torch.optim" (the numeric oracle is torch.optim itself).

    Args:
        claim_id: the claim's id.
        statement: LaTeX.
        cases: strategy factory of :class:`OptimizerCase`.
        rule_for: the SymPy rule under test for a case (default: the documented torch rule; a seed's
            mistake passes its own).
        fields: the rest of the claim (``title``, ``expected``, ``symbolic``, ``notes``; ``source`` and
            ``hypotheses`` default to the family's).
    """
    return FAMILY.claim(
        id=claim_id, statement=statement, cases=cases, check=rule_check(rule_for), recheck=rule_recheck_mp(rule_for),
        relation="equality", decode_case=OptimizerCase.from_json, **fields,
    )


def _torch_agrees(name: str) -> SymbolicStep:
    """The statement itself is about torch's code: established numerically only, never proved."""
    return SymbolicStep(
        "torch-optim-implements-rule", rf"\texttt{{torch.optim.{name}}} \text{{ steps by the rule above}}",
        "checked", "generated cases",
        "torch.optim is the oracle here: that its code follows the rule is established by stepping it side by "
        "side with the lambdified rule (the numeric part), not by a derivation")


# --------------------------------------------------------------------------- the four torch.optim claims

_SGD_STATEMENT = (r"g'_t = d\,g_t + \lambda\theta_{t-1},\ b_1 = g'_1,\ b_t = \mu b_{t-1} + (1-\tau) g'_t,\ "
                  r"\theta_t = \theta_{t-1} - \gamma\begin{cases} g'_t + \mu b_t & \text{nesterov}\\ b_t & \mu > 0\\ "
                  r"g'_t & \mu = 0\end{cases}")
SGD = make_optimizer_claim(
    "optimizer-sgd-momentum", title="SGD with momentum (torch.optim.SGD)", statement=_SGD_STATEMENT,
    cases=sgd_cases,
    symbolic=lambda: SymbolicResult([sym.sgd_buffer_unrolled(), _torch_agrees("SGD")]),
    hypotheses=FAMILY.hypotheses + (r"\gamma \ge 0,\ \mu \in [0, 1),\ \tau \in [0, 1],\ \lambda \ge 0;\ "
                             r"\text{nesterov} \Rightarrow \mu > 0,\ \tau = 0",),
    notes=("The first step sets b₁ = g'₁ without dampening (torch's buffer starts as a copy of the gradient); "
           "with μ = 0 torch skips the buffer, so the dampening never applies.",
           "PyTorch's momentum multiplies the buffer by γ at use (θ −= γb); Sutskever et al. put γ inside the "
           "buffer, which is the same only for a constant γ."),
)

ADAGRAD = make_optimizer_claim(
    "optimizer-adagrad", title="AdaGrad (torch.optim.Adagrad)",
    statement=(r"s_0 = \tau,\ s_t = s_{t-1} + g_t'^2,\ \theta_t = \theta_{t-1} - \frac{\gamma}{1 + (t-1)\eta}\,"
               r"\frac{g'_t}{\sqrt{s_t} + \epsilon}"),
    cases=adagrad_cases,
    symbolic=lambda: SymbolicResult([sym.adagrad_accumulator_unrolled(),
                                     lecture.lecture_adagrad_scaled_equals_torch(),
                                     _torch_agrees("Adagrad")]),
    hypotheses=FAMILY.hypotheses + (r"\gamma \ge 0,\ \eta \ge 0 \ (\text{lr\_decay}),\ \tau \ge 0,\ \epsilon > 0,\ "
                             r"\lambda \ge 0",),
    notes=("ε is outside the root and added after it; the sum of squares is not divided by t (contrast "
           "seed004-adagrad-root-mean). With η_t = η/√(t+1), ε = 0, τ = 0 and no decay the lecture's rule is "
           "this one (step lecture-adagrad-scaled).",),
)

RMSPROP = make_optimizer_claim(
    "optimizer-rmsprop", title="RMSProp (torch.optim.RMSprop)",
    statement=(r"v_0 = 0,\ v_t = \alpha v_{t-1} + (1-\alpha) g_t'^2,\ \tilde v_t = v_t - \bar g_t^2 "
               r"\text{ (centered) or } v_t,\ b_t = \mu b_{t-1} + \frac{g'_t}{\sqrt{\tilde v_t} + \epsilon},\ "
               r"\theta_t = \theta_{t-1} - \gamma b_t"),
    cases=rmsprop_cases,
    symbolic=lambda: SymbolicResult([sym.rmsprop_centered_variance(), _torch_agrees("RMSprop")]),
    hypotheses=FAMILY.hypotheses + (r"\gamma \ge 0,\ \alpha \in [0, 1),\ \mu \in [0, 1),\ \epsilon > 0,\ \lambda \ge 0;"
                             r"\ \text{centered} \Rightarrow \alpha \ge \tfrac12",),
    notes=("v starts at 0, not at g₁² (contrast seed004-rmsprop-initial-sigma), and ε is outside the root.",
           "Centered RMSprop at α = 0 has v − ḡ² = 0 exactly, and torch's value is round-off (it can be a NaN): "
           "the cases keep α ≥ ½, where v − ḡ² ≥ α^t v."),
)

ADAM = make_optimizer_claim(
    "optimizer-adam", title="Adam and AdamW (torch.optim.Adam, torch.optim.AdamW)",
    statement=(r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g'_t,\ v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t'^2,\ "
               r"\hat v_t = \max(\hat v_{t-1}, v_t) \text{ (amsgrad) or } v_t,\ "
               r"\theta_t = \theta'_{t-1} - \frac{\gamma}{1-\beta_1^t}\,\frac{m_t}{\sqrt{\hat v_t}/\sqrt{1-\beta_2^t}"
               r" + \epsilon};\ \text{decoupled: } \theta' = (1-\gamma\lambda)\theta,\ g' = d\,g"),
    cases=adam_cases,
    symbolic=lambda: SymbolicResult([sym.adam_first_step(), sym.adam_first_step(decoupled=True),
                                     sym.adam_bias_correction(), sym.adam_moments_unrolled(), _torch_agrees("Adam")]),
    hypotheses=FAMILY.hypotheses + (r"\gamma \ge 0,\ \beta_1, \beta_2 \in [0, 1),\ \epsilon > 0,\ \lambda \ge 0",),
    notes=("amsgrad keeps the maximum of the uncorrected v and corrects it by √(1−β₂ᵗ) afterwards.",
           "Decoupled weight decay is torch.optim.AdamW or, in torch ≥ 2.6, Adam(decoupled_weight_decay=True); "
           "the cases use both and the re-check swaps them.",
           "The first step is −γ g'/(|g'| + ε) whatever β₁, β₂ (step adam-first-step): Adam's first move has "
           "length ≈ γ in every coordinate with |g| ≫ ε."),
)


# --------------------------------------------------------------------------- [S004]'s mistakes

_NONZERO_FIRST = r"g_0^i \ne 0 \text{ for every coordinate (the lecture divides by } \sigma_0 = |g_0|)"
_LECTURE_EPS_NOTE = ("The lecture has no ε; the comparison adds torch's ε to the lecture's denominator (ε = 0, the "
                     "lecture's formula exactly, is where Hypothesis shrinks to), so that the divergence is the "
                     "lecture's mean or initial σ, not ε.")

ADAGRAD_ROOT_MEAN = make_optimizer_claim(
    "seed004-adagrad-root-mean", title="[S004]: AdaGrad with the root-mean σ equals torch's Adagrad",
    expected="refuted",
    statement=(r"\theta_{t+1} = \theta_t - \frac{\eta}{\sigma_t} g_t,\ \sigma_t = \sqrt{\tfrac{1}{t+1}\sum_{k=0}^t "
               r"g_k^2} \;\text{ is }\; \texttt{torch.optim.Adagrad(lr}=\eta\texttt{)}"),
    source=FAMILY.cite("the lecture's AdaGrad section (constant η, root-mean σ_t, no ε)"),
    cases=lecture_adagrad_cases, rule_for=lambda case: lecture.lecture_adagrad(),
    symbolic=lambda: SymbolicResult([
        *lecture.divergence_steps(lecture.lecture_adagrad(), sym.adagrad(),
                              {sym.direction: 1, sym.weight_decay: 0, sym.lr_decay: 0,
                               sym.initial_accumulator_value: 0}, "lecture-adagrad"),
        lecture.lecture_adagrad_ratio(), lecture.lecture_adagrad_scaled_equals_torch()]),
    hypotheses=(FAMILY.hypotheses[0], _NONZERO_FIRST, r"\eta > 0,\ \text{lr\_decay} = 0,\ \tau = 0,\ \lambda = 0"),
    notes=("With a constant η the lecture's step is √(t+1) times torch's (step lecture-adagrad-step-ratio), so the "
           "two agree at the first step and diverge at the second whatever ε is; η_t = η/√(t+1) repairs it "
           "(lecture-adagrad-scaled).", _LECTURE_EPS_NOTE),
)

RMSPROP_INITIAL_SIGMA = make_optimizer_claim(
    "seed004-rmsprop-initial-sigma", title="[S004]: RMSProp from σ₀ = |g₀| equals torch's RMSprop",
    expected="refuted",
    statement=(r"\sigma_0 = |g_0|,\ \sigma_t = \sqrt{\alpha\sigma_{t-1}^2 + (1-\alpha) g_t^2},\ \theta_{t+1} = "
               r"\theta_t - \frac{\eta}{\sigma_t} g_t \;\text{ is }\; \texttt{torch.optim.RMSprop(lr}=\eta,"
               r"\texttt{ alpha}=\alpha\texttt{)}"),
    source=FAMILY.cite("the lecture's RMSProp section (σ₀ = |g₀|)"),
    cases=lecture_rmsprop_cases, rule_for=lambda case: lecture.lecture_rmsprop(),
    symbolic=lambda: SymbolicResult(lecture.divergence_steps(
        lecture.lecture_rmsprop(), sym.rmsprop(),
        {sym.direction: 1, sym.weight_decay: 0, sym.momentum: 0, sym.alpha: sp.Rational(99, 100)},
        "lecture-rmsprop")),
    hypotheses=(FAMILY.hypotheses[0], _NONZERO_FIRST, r"\eta > 0,\ \alpha \in (0, 1),\ \mu = 0,\ \lambda = 0"),
    notes=("torch starts from v₀ = 0, so v₁ = (1−α)g₁² and its first step is 1/√(1−α) times the lecture's "
           "(10× at α = 0.99): they diverge at the first step (α = 0 is the one value where they agree).",
           _LECTURE_EPS_NOTE),
)

ADAM_NO_BIAS_CORRECTION = make_optimizer_claim(
    "seed004-adam-is-rmsprop-plus-momentum", title="[S004]: Adam is RMSProp plus momentum",
    expected="refuted",
    statement=(r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\ v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\ "
               r"\theta_t = \theta_{t-1} - \gamma\frac{m_t}{\sqrt{v_t} + \epsilon} \;\text{ is }\; "
               r"\texttt{torch.optim.Adam}"),
    source=FAMILY.cite("the lecture's Adam section ('Adam 可以看作 RMSprop 加上动量')"),
    cases=lecture_adam_cases, rule_for=lambda case: lecture.adam_without_bias_correction(),
    symbolic=lambda: SymbolicResult([
        *lecture.divergence_steps(lecture.adam_without_bias_correction(), sym.adam(),
                              {sym.direction: 1, sym.weight_decay: 0, sym.beta1: sp.Rational(9, 10),
                               sym.beta2: sp.Rational(999, 1000)}, "adam-no-bias-correction"),
        sym.adam_bias_correction()]),
    hypotheses=(FAMILY.hypotheses[0], r"\gamma > 0,\ \beta_1, \beta_2 \in [0, 1),\ \epsilon > 0,\ \lambda = 0"),
    notes=("RMSProp's second moment plus an EMA momentum is Adam without the bias corrections 1/(1−β₁ᵗ) and "
           "1/√(1−β₂ᵗ): its first step is (1−β₁)/√(1−β₂) ≈ 3.2 times torch's at the default betas, so they diverge "
           "at step 1 (β₁ = β₂ = 0 is the one setting where they agree).",
           "torch.optim.RMSprop(momentum=μ) is a third reading (heavy-ball momentum on g/√v) and differs as well."),
)


# --------------------------------------------------------------------------- over architectures

_MODULE_HYPOTHESIS = (r"\theta_0, g_1, \dots, g_T \text{ (T = 1..8): up to 8 coordinates of a network of "
                      r"verify.modules() (mlp, cnn, residual + LayerNorm, attention) and its gradients along T "
                      r"gradient-descent steps}")
_MODULE_NOTE = ("Over architectures: θ₀ and the gradients come from training a network of verify.modules() (its "
                "cross-entropy, gradient descent with step 0.01–1), so they have the correlations, scales and exact "
                "zeros of real training; a block of up to 8 consecutive coordinates is kept (the rules act "
                "coordinate by coordinate) and the case stores the numbers, so it replays without the network.",)


def _over_modules(claim: Any, strategy: Callable[..., Any]) -> Any:
    return replace(claim, id=f"{claim.id}-modules", title=f"{claim.title}, over architectures",
                   cases=lambda: strategy(sequences=module_gradient_sequences),
                   hypotheses=(_MODULE_HYPOTHESIS, *claim.hypotheses[1:]), notes=(*claim.notes, *_MODULE_NOTE))


MODULE_CLAIMS = tuple(_over_modules(claim, strategy) for claim, strategy in (
    (SGD, sgd_cases), (ADAGRAD, adagrad_cases), (RMSPROP, rmsprop_cases), (ADAM, adam_cases),
    (ADAGRAD_ROOT_MEAN, lecture_adagrad_cases), (RMSPROP_INITIAL_SIGMA, lecture_rmsprop_cases),
    (ADAM_NO_BIAS_CORRECTION, lecture_adam_cases)))
