r"""[S004]'s update rules (the lecture's AdaGrad, RMSProp and "Adam = RMSProp + momentum") as SymPy
rules, and the exact facts that set them apart from torch.optim's (C6).

The rules are :class:`~proofs.optimizers.symbolic.UpdateRule` like torch's in
:mod:`proofs.optimizers.symbolic`, so that the same numeric machinery steps them against torch.optim
(the mistakes' claims pass them as the rule under test). :func:`divergence_steps` finds, in exact
arithmetic, the first step at which a lecture rule and torch's part; the other derivations relate
the lecture's AdaGrad to torch's (equal with :math:`\eta_t = \eta/\sqrt{t+1}`, else
:math:`\sqrt{t+1}` times torch's step).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import sympy as sp

from proofs.optimizers.symbolic import (
    ADAM_MOMENTS,
    UpdateRule,
    adagrad,
    adam_moments,
    alpha,
    beta1,
    beta2,
    direction,
    effective_gradient,
    eps,
    g,
    lr,
    lr_decay,
    m,
    s,
    t,
    theta,
    unroll,
    v,
    weight_decay,
)
from verify import SymbolicStep, prove_identity

# --------------------------------------------------------------------------- the lecture's rules


def _lecture_adagrad_rule(name: str, rate: sp.Expr, rate_tex: str) -> UpdateRule:
    """The lecture's AdaGrad step with the learning rate ``rate`` (LaTeX ``rate_tex``)."""
    s_new = s + g**2
    sigma = sp.sqrt(s_new / t)
    return UpdateRule(name,
                      r"\theta_{t+1} = \theta_t - \frac{" + rate_tex
                      + r"}{\sigma_t + \epsilon} g_t,\ \sigma_t = \sqrt{\tfrac{1}{t+1}\textstyle\sum_{k=0}^t g_k^2}",
                      (s,), (sp.S.Zero,), (lr, eps), (theta - rate * g / (sigma + eps), s_new))


@functools.cache
def lecture_adagrad() -> UpdateRule:
    r"""[S004]'s AdaGrad: :math:`\theta_{t+1} = \theta_t - \frac{\eta}{\sigma_t} g_t`,
    :math:`\sigma_t = \sqrt{\frac1{t+1}\sum_{k=0}^t g_k^2}` (lecture indices from 0).

    In torch's step counter (:math:`t_\text{torch} = t + 1`) :math:`\sigma = \sqrt{s/t_\text{torch}}` with
    :math:`s` the running sum of squares. ``eps`` is torch's :math:`\epsilon` added to the lecture's
    denominator so that only the mean differs (the lecture has none: ``eps = 0`` is its formula).
    """
    return _lecture_adagrad_rule("lecture-adagrad", lr, r"\eta")


@functools.cache
def lecture_adagrad_scaled() -> UpdateRule:
    r"""The lecture's AdaGrad with :math:`\eta_t = \eta/\sqrt{t+1}`, which makes it torch's Adagrad
    (step ``lecture-adagrad-scaled``)."""
    return _lecture_adagrad_rule("lecture-adagrad-scaled", lr / sp.sqrt(t), r"\eta/\sqrt{t+1}")


@functools.cache
def lecture_rmsprop() -> UpdateRule:
    r"""[S004]'s RMSProp: :math:`\sigma_0 = |g_0|`, :math:`\sigma_t^2 = \alpha\sigma_{t-1}^2 + (1-\alpha) g_t^2`,
    :math:`\theta_{t+1} = \theta_t - \frac{\eta}{\sigma_t} g_t` (``eps`` as in :func:`lecture_adagrad`)."""
    v_new = sp.Piecewise((g**2, sp.Eq(t, 1)), (alpha * v + (1 - alpha) * g**2, True))
    return UpdateRule("lecture-rmsprop",
                      r"\sigma_0 = |g_0|,\ \sigma_t^2 = \alpha\sigma_{t-1}^2 + (1-\alpha) g_t^2,\ "
                      r"\theta_{t+1} = \theta_t - \frac{\eta}{\sigma_t + \epsilon} g_t",
                      (v,), (sp.S.Zero,), (lr, alpha, eps), (theta - lr * g / (sp.sqrt(v_new) + eps), v_new))


@functools.cache
def adam_without_bias_correction() -> UpdateRule:
    r"""[S004]'s "Adam is RMSProp plus momentum": torch's Adam moments without the bias corrections,
    :math:`\theta_t = \theta_{t-1} - \gamma\, m_t/(\sqrt{v_t} + \epsilon)` (not a torch option)."""
    m_new, v_new = adam_moments(effective_gradient())
    theta_new = theta - lr * m_new / (sp.sqrt(v_new) + eps)
    statement = ADAM_MOMENTS + r"\theta_t = \theta_{t-1} - " + r"\gamma\frac{m_t}{\sqrt{v_t} + \epsilon}"
    return UpdateRule("adam-no-bias-correction", statement, (m, v), (sp.S.Zero,) * 2,
                      (lr, beta1, beta2, eps, weight_decay, direction), (theta_new, m_new, v_new))


# --------------------------------------------------------------------------- against torch's rules


@functools.cache
def lecture_adagrad_scaled_equals_torch() -> SymbolicStep:
    r"""With :math:`\eta_t = \eta/\sqrt{t+1}` the lecture's AdaGrad is torch's (ε = 0, τ = 0, no lr decay).

    Both rules carry the same state :math:`s_t` (the sum of squares), so equal one-step maps give
    equal trajectories by induction; proved for general :math:`t` on the step map.
    """
    torch_rule = adagrad()
    lecture = lecture_adagrad_scaled()
    values = {direction: 1, weight_decay: 0, lr_decay: 0, eps: 0}
    return prove_identity(lecture.step[0].xreplace(values), torch_rule.step[0].xreplace(values),
                          name="lecture-adagrad-scaled",
                          statement=(r"\eta_t = \frac{\eta}{\sqrt{t+1}}:\ \theta_t - \frac{\eta_t}{\sigma_t} g_t = "
                                     r"\theta_t - \frac{\eta\, g_t}{\sqrt{\sum_{k\le t} g_k^2}}\ "
                                     r"(\text{torch's Adagrad},\ \epsilon = 0)"),
                          fixed={s: sp.Rational(3, 2), t: 3})


@functools.cache
def lecture_adagrad_ratio() -> SymbolicStep:
    r"""With a constant η the lecture's step is :math:`\sqrt{t+1}` times torch's (ε = 0); general t.

    Written with :math:`c = s_{t-1} + g_t^2 > 0` (the lecture divides by it), so that the spot checks
    never divide by zero.
    """
    values = {direction: 1, weight_decay: 0, lr_decay: 0, eps: 0}
    c = sp.Symbol("c", positive=True)
    ours = (lecture_adagrad().step[0].xreplace(values) - theta).subs(s, c - g**2)
    theirs = (adagrad().step[0].xreplace(values) - theta).subs(s, c - g**2)
    return prove_identity(ours / theirs, sp.sqrt(t), name="lecture-adagrad-step-ratio",
                          statement=r"\frac{\eta g_t/\sigma_t}{\eta g_t/\sqrt{\sum_{k\le t} g_k^2}} = \sqrt{t+1}")


#: a positive ε in the exact divergence steps: every spot check is defined (g = 0 included), and
#: "agree at step 1" is proved for every ε > 0 (SymPy's simplification does not need ε ≠ 0)
epsilon_positive = sp.Symbol("epsilon", positive=True)
#: the learning rate of the exact divergence steps, positive like torch's
gamma_positive = sp.Symbol("gamma", positive=True)


def divergence_steps(lecture: UpdateRule, reference: UpdateRule, fixed: Mapping[sp.Symbol, Any], name: str,
                     steps: int = 2) -> list[SymbolicStep]:
    """``θ_t`` of a lecture rule vs torch's for t = 1..steps, in exact arithmetic, with ε > 0 symbolic.

    Each step is ``proved`` (agree for all gradients and every ε > 0) or ``refuted`` (an exact
    rational point where they differ): the first refuted one is the first step at which they diverge.
    """
    fixed = {**fixed, eps: epsilon_positive, lr: gamma_positive}
    _, ours = unroll(lecture, steps, fixed)
    _, theirs = unroll(reference, steps, fixed)
    out = []
    for k in range(1, steps + 1):
        statement = (rf"\theta_{k}^{{\text{{lecture}}}} = \theta_{k}^{{\text{{torch}}}}"
                     r"\ (\forall g,\ \epsilon > 0)")
        # exact spot checks first (cheap); simplify only what they do not refute
        quick = prove_identity(ours[k][0], theirs[k][0], name=f"{name}-step-{k}", sizes=f"step {k}",
                               statement=statement, simplifier=lambda e: e)
        out.append(quick if quick.status == "refuted" else
                   prove_identity(ours[k][0], theirs[k][0], name=f"{name}-step-{k}", sizes=f"step {k}",
                                  statement=statement))
    return out
