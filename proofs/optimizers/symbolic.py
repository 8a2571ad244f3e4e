r"""SymPy update rules of torch.optim's SGD, Adagrad, RMSprop and Adam, and the facts proved about them (C6).

Every rule is one step of a per-coordinate recurrence: the new parameter and the new optimizer
state as SymPy expressions in the old ones, the gradient :math:`g`, torch's step counter
:math:`t = 1, 2, \dots` and the hyper-parameters (symbols named after torch's options, so that a
case's options fill them by name). Unrolling a rule over symbols :math:`g_1, \dots, g_T`
gives the recurrence over a whole gradient sequence; the derivations below prove facts about
those unrolled forms, and :mod:`proofs.optimizers.numeric` lambdifies the one-step rule
(:func:`verify.to_torch`) and steps it side by side with ``torch.optim``.

Boolean options that change the structure of the update (``nesterov``, a zero ``momentum`` in
SGD, ``centered``, ``amsgrad``, decoupled weight decay) select a rule; ``maximize`` is the
sign :math:`d = \pm 1` in front of the gradient. [S004]'s variants of these rules, and the
exact steps at which they part from torch's, are in :mod:`proofs.optimizers.lecture`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sympy as sp

from verify import SymbolicStep, prove_identity

# --------------------------------------------------------------------------- symbols

theta, g = sp.symbols("theta g", real=True)
#: torch's step counter (``state['step']`` after the increment), 1 at the first step
t = sp.Symbol("t", positive=True, integer=True)
lr, weight_decay, eps = sp.symbols("lr weight_decay eps", nonnegative=True)
#: +1, or −1 with ``maximize=True`` (torch negates the gradient)
direction = sp.Symbol("direction", real=True)
momentum, dampening, lr_decay, initial_accumulator_value = sp.symbols(
    "momentum dampening lr_decay initial_accumulator_value", nonnegative=True)
alpha, beta1, beta2 = sp.symbols("alpha beta1 beta2", nonnegative=True)
# per-coordinate optimizer state
m, b, gbar = sp.symbols("m b gbar", real=True)
v, s, vmax = sp.symbols("v s vmax", nonnegative=True)


@dataclass(frozen=True)
class UpdateRule:
    """One step of a per-coordinate optimizer recurrence.

    Attributes:
        name: identifier, e.g. ``adam-amsgrad``.
        statement: LaTeX of the step.
        state: the state symbols besides :math:`\theta` (e.g. ``(m, v)``).
        initial: the state's values before the first step, in terms of ``params``.
        params: hyper-parameter symbols, named after torch's options (``direction`` is the
            ``maximize`` sign).
        step: ``(theta_new, *state_new)`` as expressions in ``theta``, ``state``, ``g``, ``t``
            and ``params``.
    """

    name: str
    statement: str
    state: tuple[sp.Symbol, ...]
    initial: tuple[sp.Expr, ...]
    params: tuple[sp.Symbol, ...]
    step: tuple[sp.Expr, ...]

    @property
    def args(self) -> tuple[sp.Symbol, ...]:
        """The arguments of the lambdified step, in order: θ, state, g, t, params."""
        return (theta, *self.state, g, t, *self.params)

    def param_values(self, options: Mapping[str, Any]) -> list[Any]:
        """The values of ``params`` taken by name from ``options`` (torch's option names)."""
        return [options[p.name] for p in self.params]

def effective_gradient(decay: bool = True) -> sp.Expr:
    """g' = d·g + λθ: torch adds the (coupled) weight decay after negating for ``maximize``."""
    return direction * g + (weight_decay * theta if decay else 0)

# --------------------------------------------------------------------------- torch.optim (documented)


@functools.cache
def sgd(nesterov: bool = False, heavy_ball: bool = True) -> UpdateRule:
    r"""torch.optim.SGD: :math:`b_1 = g'_1`, :math:`b_t = \mu b_{t-1} + (1-\tau) g'_t`, step :math:`\gamma b_t`.

    With ``nesterov`` the step is :math:`\gamma (g'_t + \mu b_t)`; ``heavy_ball=False`` is
    ``momentum == 0``, where torch skips the buffer (and so the dampening) entirely.
    """
    gp = effective_gradient()
    if not heavy_ball:
        return UpdateRule("sgd", r"\theta_t = \theta_{t-1} - \gamma (d\,g_t + \lambda\theta_{t-1})",
                          (), (), (lr, weight_decay, direction), (theta - lr * gp,))
    b_new = sp.Piecewise((gp, sp.Eq(t, 1)), (momentum * b + (1 - dampening) * gp, True))
    update = gp + momentum * b_new if nesterov else b_new
    statement = (r"b_t = \begin{cases} g'_t & t = 1\\ \mu b_{t-1} + (1-\tau) g'_t & t > 1\end{cases},\ "
                 + (r"\theta_t = \theta_{t-1} - \gamma (g'_t + \mu b_t)" if nesterov
                    else r"\theta_t = \theta_{t-1} - \gamma b_t"))
    return UpdateRule("sgd-nesterov" if nesterov else "sgd-momentum", statement, (b,), (sp.S.Zero,),
                      (lr, momentum, dampening, weight_decay, direction), (theta - lr * update, b_new))


@functools.cache
def adagrad() -> UpdateRule:
    r"""torch.optim.Adagrad: :math:`s_t = s_{t-1} + g'^2_t` (:math:`s_0 = \tau`), step
    :math:`\frac{\gamma}{1 + (t-1)\eta} \frac{g'_t}{\sqrt{s_t} + \epsilon}`."""
    gp = effective_gradient()
    s_new = s + gp**2
    clr = lr / (1 + (t - 1) * lr_decay)
    return UpdateRule(
        "adagrad", r"s_t = s_{t-1} + g_t'^2,\ \theta_t = \theta_{t-1} - \frac{\gamma}{1+(t-1)\eta}"
                   r"\frac{g'_t}{\sqrt{s_t} + \epsilon}",
        (s,), (initial_accumulator_value,), (lr, lr_decay, weight_decay, initial_accumulator_value, eps, direction),
        (theta - clr * gp / (sp.sqrt(s_new) + eps), s_new))


@functools.cache
def rmsprop(centered: bool = False) -> UpdateRule:
    r"""torch.optim.RMSprop: :math:`v_t = \alpha v_{t-1} + (1-\alpha) g'^2_t` (:math:`v_0 = 0`),
    :math:`b_t = \mu b_{t-1} + g'_t/(\sqrt{\tilde v_t} + \epsilon)`, step :math:`\gamma b_t`, with
    :math:`\tilde v_t = v_t - \bar g_t^2` when centered (:math:`\bar g_t` the average of :math:`g'`).

    ``momentum = 0`` needs no separate rule: :math:`b_t = g'_t/(\dots)` is torch's plain step.
    """
    gp = effective_gradient()
    v_new = alpha * v + (1 - alpha) * gp**2
    if centered:
        gbar_new = alpha * gbar + (1 - alpha) * gp
        avg = sp.sqrt(v_new - gbar_new**2) + eps
        state, initial, extra = (v, gbar, b), (sp.S.Zero,) * 3, (gbar_new,)
    else:
        avg = sp.sqrt(v_new) + eps
        state, initial, extra = (v, b), (sp.S.Zero,) * 2, ()
    b_new = momentum * b + gp / avg
    root = r"\sqrt{v_t - \bar g_t^2}" if centered else r"\sqrt{v_t}"
    statement = (r"v_t = \alpha v_{t-1} + (1-\alpha) g_t'^2,\ b_t = \mu b_{t-1} + \frac{g'_t}{" + root
                 + r" + \epsilon},\ \theta_t = \theta_{t-1} - \gamma b_t")
    return UpdateRule("rmsprop-centered" if centered else "rmsprop", statement, state, initial,
                      (lr, alpha, eps, weight_decay, momentum, direction),
                      (theta - lr * b_new, v_new, *extra, b_new))


def adam_moments(gp: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    r"""Adam's moments from the gradient ``gp``: :math:`m_t = \beta_1 m_{t-1} + (1-\beta_1) g'_t` and
    :math:`v_t = \beta_2 v_{t-1} + (1-\beta_2) g'^2_t`."""
    return beta1 * m + (1 - beta1) * gp, beta2 * v + (1 - beta2) * gp**2


#: the LaTeX of :func:`adam_moments`, the start of every Adam-like statement
ADAM_MOMENTS = r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g'_t,\ v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t'^2,\ "


@functools.cache
def adam(amsgrad: bool = False, decoupled: bool = False) -> UpdateRule:
    r"""torch.optim.Adam (and AdamW = decoupled weight decay).

    :math:`m_t = \beta_1 m_{t-1} + (1-\beta_1) g'_t`, :math:`v_t = \beta_2 v_{t-1} + (1-\beta_2) g'^2_t`,
    :math:`\theta_t = \theta'_{t-1} - \frac{\gamma}{1-\beta_1^t}\, m_t \big/
    \left(\sqrt{\hat v_t}/\sqrt{1-\beta_2^t} + \epsilon\right)` with :math:`\hat v_t = \max(\hat v_{t-1}, v_t)`
    under amsgrad (else :math:`v_t`); decoupled: :math:`\theta' = (1-\gamma\lambda)\theta`, :math:`g' = dg`.
    [S004]'s "Adam = RMSProp + momentum" (no bias corrections) is
    :func:`proofs.optimizers.lecture.adam_without_bias_correction`.
    """
    if decoupled:
        start, gp = theta * (1 - lr * weight_decay), effective_gradient(decay=False)
    else:
        start, gp = theta, effective_gradient()
    m_new, v_new = adam_moments(gp)
    if amsgrad:
        vmax_new = sp.Max(vmax, v_new)
        state, extra, second = (m, v, vmax), (vmax_new,), vmax_new
    else:
        state, extra, second = (m, v), (), v_new
    theta_new = start - lr / (1 - beta1**t) * m_new / (sp.sqrt(second) / sp.sqrt(1 - beta2**t) + eps)
    name = "adam" + ("-amsgrad" if amsgrad else "") + ("-decoupled" if decoupled else "")
    statement = (ADAM_MOMENTS + r"\theta_t = \theta_{t-1} - "
                 r"\frac{\gamma}{1-\beta_1^t}\frac{m_t}{\sqrt{v_t}/\sqrt{1-\beta_2^t} + \epsilon}")
    return UpdateRule(name, statement, state, (sp.S.Zero,) * len(state),
                      (lr, beta1, beta2, eps, weight_decay, direction), (theta_new, m_new, v_new, *extra))


# --------------------------------------------------------------------------- unrolling


def unroll(rule: UpdateRule, steps: int, fixed: Mapping[sp.Symbol, Any] | None = None
           ) -> tuple[list[sp.Symbol], list[tuple[sp.Expr, ...]]]:
    """The recurrence over symbols ``g_1..g_T`` from ``theta_0`` and the rule's initial state.

    Args:
        rule: the one-step rule.
        steps: T.
        fixed: values substituted for hyper-parameters (e.g. ``{direction: 1, weight_decay: 0}``).

    Returns:
        The gradient symbols and ``[(theta_t, *state_t) for t = 0..T]``.
    """
    fixed = dict(fixed or {})
    grads = list(sp.symbols(f"g_1:{steps + 1}", real=True))
    theta0 = sp.Symbol("theta_0", real=True)
    current = (theta0, *(sp.sympify(e).subs(fixed) for e in rule.initial))
    out = [current]
    for k, gk in enumerate(grads, start=1):
        values = {theta: current[0], g: gk, t: k, **dict(zip(rule.state, current[1:])), **fixed}
        current = tuple(sp.sympify(e).xreplace(values) for e in rule.step)
        out.append(current)
    return grads, out

# --------------------------------------------------------------------------- derivations


def _timed(name: str, statement: str, status: str, sizes: str, detail: str, start: float) -> SymbolicStep:
    return SymbolicStep(name, statement, status, sizes, detail, time.perf_counter() - start)


@functools.cache
def adam_first_step(decoupled: bool = False) -> SymbolicStep:
    r"""With bias correction Adam's first step is :math:`-\gamma g'/(|g'| + \epsilon)`, for every
    :math:`\beta_1, \beta_2 \in [0, 1)` (:math:`\beta_2 = 1 - c`, :math:`c > 0`)."""
    c = sp.Symbol("c", positive=True)
    rule = adam(decoupled=decoupled)
    values = {m: 0, v: 0, t: 1, beta2: 1 - c}
    first = rule.step[0].xreplace(values)
    gp = direction * g + (0 if decoupled else weight_decay * theta)
    start = theta * (1 - lr * weight_decay) if decoupled else theta
    expected = start - lr * gp / (sp.Abs(gp) + eps)
    statement = (r"\theta_1 = (1-\gamma\lambda)\theta_0 - \gamma\frac{g_1}{|g_1| + \epsilon}" if decoupled else
                 r"\theta_1 = \theta_0 - \gamma\frac{g'_1}{|g'_1| + \epsilon},\ g'_1 = d\,g_1 + \lambda\theta_0")
    return prove_identity(first, expected, name="adam-first-step" + ("-decoupled" if decoupled else ""),
                          statement=statement + r"\quad (\beta_1, \beta_2 \in [0,1))")


@functools.cache
def adam_bias_correction() -> SymbolicStep:
    r""":math:`\hat m_t = \sum_k w_k g_k` with weights :math:`w_k = (1-\beta_1)\beta_1^{t-k}/(1-\beta_1^t)`
    summing to 1 (general t, :math:`\beta_1 \ne 1`): bias correction turns the EMA started at 0 into a
    weighted average (reindexed :math:`j = t - k`; SymPy's geometric sum, branch :math:`\beta_1 \ne 1`)."""
    j = sp.Symbol("j", integer=True, nonnegative=True)
    total = (1 - beta1) * sp.summation(beta1**j, (j, 0, t - 1))
    total = total.replace(lambda node: isinstance(node, sp.Piecewise), lambda node: node.args[-1][0])
    return prove_identity(total / (1 - beta1**t), 1, name="adam-bias-correction-weights",
                          statement=r"\sum_{k=1}^t \frac{(1-\beta_1)\beta_1^{t-k}}{1-\beta_1^t} = 1")


def _unrolled_step(rule: UpdateRule, steps: int, fixed: Mapping[sp.Symbol, Any], index: int,
                   closed: Any, name: str, statement: str) -> SymbolicStep:
    """Prove that the rule's state entry ``index`` after T steps equals ``closed(grads, T)``, T = 1..steps."""
    start = time.perf_counter()
    details, status = [], "proved"
    for T in range(1, steps + 1):
        grads, states = unroll(rule, T, fixed)
        got = prove_identity(states[T][index], closed(grads, T), name=name, statement=statement, spot_checks=2)
        details.append(f"T={T}: {got.status}")
        if got.status != "proved":
            status = got.status if status == "proved" else status
            details.append(got.detail)
    return _timed(name, statement, status, f"T=1..{steps}", "; ".join(details), start)


@functools.cache
def adam_moments_unrolled(steps: int = 4) -> SymbolicStep:
    r""":math:`m_T = (1-\beta_1)\sum_{k=1}^T \beta_1^{T-k} g_k` from the rule's recurrence (λ = 0, d = 1)."""
    return _unrolled_step(adam(), steps, {direction: 1, weight_decay: 0}, 1,
                          lambda gs, T: (1 - beta1) * sum(beta1 ** (T - k) * gs[k - 1] for k in range(1, T + 1)),
                          "adam-first-moment-unrolled", r"m_T = (1-\beta_1)\sum_{k=1}^T \beta_1^{T-k} g_k")


@functools.cache
def sgd_buffer_unrolled(steps: int = 5) -> SymbolicStep:
    r""":math:`b_T = \mu^{T-1} g_1 + (1-\tau)\sum_{k=2}^T \mu^{T-k} g_k`: the dampening spares the first gradient."""
    return _unrolled_step(sgd(), steps, {direction: 1, weight_decay: 0}, 1,
                          lambda gs, T: momentum ** (T - 1) * gs[0]
                          + (1 - dampening) * sum(momentum ** (T - k) * gs[k - 1] for k in range(2, T + 1)),
                          "sgd-momentum-buffer-unrolled",
                          r"b_T = \mu^{T-1} g_1 + (1-\tau)\sum_{k=2}^T \mu^{T-k} g_k")


@functools.cache
def adagrad_accumulator_unrolled(steps: int = 5) -> SymbolicStep:
    r""":math:`s_T = \tau + \sum_{k=1}^T g_k^2` (λ = 0)."""
    return _unrolled_step(adagrad(), steps, {direction: 1, weight_decay: 0}, 1,
                          lambda gs, T: initial_accumulator_value + sum(x**2 for x in gs),
                          "adagrad-accumulator-unrolled", r"s_T = \tau + \sum_{k=1}^T g_k^2")


@functools.cache
def rmsprop_centered_variance(steps: int = 4) -> SymbolicStep:
    r"""Centered RMSprop takes a real root: :math:`v_T - \bar g_T^2 = \sum_k w_k (g_k - \bar g_T)^2
    + \alpha^T \bar g_T^2 \ge 0` with :math:`w_k = (1-\alpha)\alpha^{T-k}` (λ = 0, d = 1)."""

    def closed(gs: Sequence[sp.Symbol], T: int) -> sp.Expr:
        w = [(1 - alpha) * alpha ** (T - k) for k in range(1, T + 1)]
        mean = sum(wk * x for wk, x in zip(w, gs))
        return sum(wk * (x - mean) ** 2 for wk, x in zip(w, gs)) + alpha**T * mean**2

    rule = rmsprop(centered=True)
    start = time.perf_counter()
    details, status = [], "proved"
    for T in range(1, steps + 1):
        grads, states = unroll(rule, T, {direction: 1, weight_decay: 0})
        _, vT, gbarT, _ = states[T]
        got = prove_identity(vT - gbarT**2, closed(grads, T), name="rmsprop-centered-variance", statement="",
                             spot_checks=2, simplifier=sp.expand)
        details.append(f"T={T}: {got.status}")
        if got.status != "proved":
            status = got.status
            details.append(got.detail)
    return _timed("rmsprop-centered-variance",
                  r"v_T - \bar g_T^2 = \sum_{k=1}^T (1-\alpha)\alpha^{T-k}(g_k - \bar g_T)^2"
                  r" + \alpha^T\bar g_T^2 \ge 0",
                  status, f"T=1..{steps}", "; ".join(details), start)
