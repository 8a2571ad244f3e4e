r"""Optimizer update rules (C6): SGD with momentum, AdaGrad, RMSProp and Adam against torch.optim,
and seed 004's three mistakes about them.

Sources: seed 004 (lecture notes, sections "批量和动量", "AdaGrad", "RMSProp", "Adam"), which
writes AdaGrad with a constant :math:`\eta` and the root-mean
:math:`\sigma_t = \sqrt{\frac1{t+1}\sum_{k\le t} g_k^2}`, starts RMSProp from
:math:`\sigma_0 = |g_0|` and calls Adam "RMSProp plus momentum"; and the torch.optim
documentation of ``SGD``, ``Adagrad``, ``RMSprop``, ``Adam`` and ``AdamW``
(https://pytorch.org/docs/stable/optim.html, the "Algorithm" block of each class), restated as
C6 in ``CLAIMS.md``.

Method: the update rules are SymPy recurrences (:mod:`proofs._optimizer_symbolic`), one step
per call, lambdified with :func:`verify.to_torch` and stepped side by side with ``torch.optim``
itself (``p.grad = g_t; opt.step()``) for T = 1..8 steps on generated parameters, gradient
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
``seed004-adam-is-rmsprop-plus-momentum`` (refuted).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import hypothesis.strategies as st
import mpmath
import numpy as np
import sympy as sp
import torch

from proofs import _optimizer_symbolic as sym
from verify import (
    CaseResult,
    CheckContext,
    Claim,
    Comparison,
    InvalidInputError,
    SymbolicResult,
    SymbolicStep,
    Tolerance,
    compare_close,
    register,
    step_sizes,
    to_torch,
    vectors,
)

SOURCE = ("seed 004, sections '批量和动量', 'AdaGrad', 'RMSProp', 'Adam' (lecture notes on adaptive learning "
          "rates); torch.optim documentation (SGD, Adagrad, RMSprop, Adam, AdamW: the 'Algorithm' blocks); "
          "CLAIMS.md C6")
#: depth factor c per step: a step is about a dozen flops, each rounding once
DEPTH_PER_STEP = 16.0
#: mpmath digits of the independent re-check
RECHECK_DPS = 50
MAX_STEPS = 8
#: relative size of the finite-difference perturbation that measures error amplification
AMPLIFICATION_STEP = 1e-8
#: amplification beyond this (≈ 1/AMPLIFICATION_STEP) is not resolved by the finite difference
MAX_AMPLIFICATION = 1e8
HYPOTHESES = (
    r"\theta_0 \in \mathbb{R}^n,\ n = 1..4;\ g_1, \dots, g_T \in \mathbb{R}^n,\ T = 1..8 "
    r"\ (\text{zeros, } |g| \sim 10^{-12} \text{ and } 10^{8} \text{ included})",
    r"\text{per coordinate; } g'_t = d\,g_t + \lambda\theta_{t-1},\ d = -1 \text{ under maximize}",
)

#: torch's defaults, completed per optimizer (a case stores every option explicitly)
DEFAULTS: dict[str, dict[str, Any]] = {
    "sgd": {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False,
            "maximize": False},
    "adagrad": {"lr": 1e-2, "lr_decay": 0.0, "weight_decay": 0.0, "initial_accumulator_value": 0.0,
                "eps": 1e-10, "maximize": False},
    "rmsprop": {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0,
                "centered": False, "maximize": False},
    "adam": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False,
             "decoupled": False, "maximize": False},
}
_CLASSES = ("SGD", "Adagrad", "RMSprop", "Adam", "AdamW")


@dataclass(frozen=True)
class OptimizerCase:
    """A parameter vector, a gradient sequence and one optimizer's options.

    Attributes:
        optimizer: ``sgd``, ``adagrad``, ``rmsprop`` or ``adam``.
        options: every option by torch's name (``beta1``/``beta2`` for ``betas``, ``decoupled`` for
            decoupled weight decay).
        theta0: (n,) the initial parameters.
        grads: (T, n) the gradient fed at steps 1..T.
        torch_class: the torch.optim class stepped (``Adam`` or ``AdamW`` when decoupled).
    """

    optimizer: str
    options: Mapping[str, Any]
    theta0: np.ndarray
    grads: np.ndarray
    torch_class: str = ""
    tags: tuple[str, ...] = field(default=(), compare=False)

    @property
    def steps(self) -> int:
        return int(self.grads.shape[0])

    def to_json(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer, "options": dict(self.options), "theta0": self.theta0.tolist(),
                "grads": self.grads.tolist(), "torch_class": self.torch_class}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OptimizerCase:
        grads = np.asarray(data["grads"], dtype=np.float64)
        theta0 = np.asarray(data["theta0"], dtype=np.float64)
        return make_case(str(data["optimizer"]), dict(data["options"]), theta0, grads.reshape(-1, theta0.size),
                         str(data.get("torch_class", "")))


def make_case(optimizer: str, options: Mapping[str, Any], theta0: np.ndarray, grads: np.ndarray,
              torch_class: str = "") -> OptimizerCase:
    """A case with torch's defaults filled in and its boundary-case tags computed.

    Raises:
        InvalidInputError: an unknown optimizer, option or torch class.
    """
    if optimizer not in DEFAULTS:
        raise InvalidInputError(f"Got optimizer={optimizer!r}, but valid values are {sorted(DEFAULTS)}.")
    unknown = set(options) - set(DEFAULTS[optimizer])
    if unknown:
        raise InvalidInputError(f"Got options {sorted(unknown)} for {optimizer}, but valid ones are "
                                f"{sorted(DEFAULTS[optimizer])}.")
    full = {**DEFAULTS[optimizer], **options}
    cls = torch_class or {"sgd": "SGD", "adagrad": "Adagrad", "rmsprop": "RMSprop", "adam": "Adam"}[optimizer]
    if cls not in _CLASSES:
        raise InvalidInputError(f"Got torch_class={cls!r}, but valid values are {list(_CLASSES)}.")
    theta0 = np.asarray(theta0, dtype=np.float64)
    grads = np.asarray(grads, dtype=np.float64)
    return OptimizerCase(optimizer, full, theta0, grads, cls, _tags(optimizer, full, theta0, grads, cls))


def _tags(optimizer: str, o: Mapping[str, Any], theta0: np.ndarray, grads: np.ndarray, cls: str) -> tuple[str, ...]:
    nonzero = np.abs(grads[grads != 0])
    tags = [optimizer, f"T={grads.shape[0]}" if grads.shape[0] in (1, MAX_STEPS) else "T=2..7"]
    tags += ["zero-gradient-step"] if any(not row.any() for row in grads) else []
    tags += ["tiny-gradient"] if nonzero.size and nonzero.min() <= 1e-10 else []
    tags += ["large-gradient"] if nonzero.size and nonzero.max() >= 1e6 else []
    tags += ["zero-parameter"] if not theta0.all() else []
    flags = {
        "weight-decay": o["weight_decay"] > 0, "maximize": o["maximize"], "lr=0": o["lr"] == 0.0,
        "nesterov": o.get("nesterov", False), "momentum=0": o.get("momentum", None) == 0.0,
        "dampening=1": o.get("dampening") == 1.0, "dampening in (0,1)": 0 < o.get("dampening", 0) < 1,
        "lr-decay": o.get("lr_decay", 0) > 0, "initial-accumulator": o.get("initial_accumulator_value", 0) > 0,
        "centered": o.get("centered", False), "rmsprop-momentum": optimizer == "rmsprop" and o["momentum"] > 0,
        "alpha=0": o.get("alpha") == 0.0, "amsgrad": o.get("amsgrad", False),
        "decoupled-weight-decay": o.get("decoupled", False), "AdamW": cls == "AdamW",
        "beta1=0": o.get("beta1") == 0.0, "beta2=0": o.get("beta2") == 0.0,
        "beta2>=0.9999": o.get("beta2", 0) >= 0.9999, "eps=0": o.get("eps") == 0.0,
    }
    return tuple(tags + [name for name, hit in flags.items() if hit])


# --------------------------------------------------------------------------- strategies

_THETA_SCALES = st.sampled_from((1.0, 1e-3, 1e3))
#: 1e-12 is below every default ε (so ε dominates), 1e8 makes g² ~ 1e16
_GRAD_SCALES = st.sampled_from((1.0, 1e-3, 1e3, 1e-12, 1e8))
#: near-uniform sizes and step counts (``st.integers`` leans hard toward the low end), plus one draw
#: in six of the longest sequence outright (a boundary case; shrinking still goes to T = 1)
_SIZES, _STEPS = st.sampled_from(range(1, 5)), st.sampled_from(range(1, MAX_STEPS + 1))
_LONGEST = st.sampled_from((False,) * 5 + (True,))
_ZERO_STEP = st.sampled_from((False, False, False, True))  # one step in four is an all-zero gradient
_WEIGHT_DECAY = st.one_of(st.sampled_from((0.0, 1e-2, 0.5, 1.0)), st.floats(0.0, 1.0, allow_subnormal=False))


@functools.cache
def _choice(values: tuple[float, ...], lo: float, hi: float) -> st.SearchStrategy[float]:
    """The listed (boundary and default) values first, then anything in [lo, hi]."""
    return st.one_of(st.sampled_from(values), st.floats(lo, hi, allow_subnormal=False))


@functools.cache
def _lr(default: float, zero: bool = True) -> st.SearchStrategy[float]:
    return st.one_of(st.just(default), step_sizes(1.0), *([st.just(0.0)] if zero else []))


@functools.cache
def _vectors(n: int, scale: float | None) -> st.SearchStrategy[np.ndarray]:
    """Cached :func:`verify.vectors` (θ₀'s scales when ``scale`` is None): built once, drawn often."""
    return vectors(n, scale=_THETA_SCALES if scale is None else scale)


@st.composite
def gradient_sequences(draw: st.DrawFn, nonzero_first: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(θ₀: (n,), grads: (T, n)), n = 1..4, T = 1..8; per-step scales from 1e-12 to 1e8, zero steps.

    The per-step scales and zero steps are drawn first, then each coordinate's θ₀ and gradient
    history as one block, so that Hypothesis can shrink a counterexample by dropping coordinates.
    ``nonzero_first`` makes every entry of g₁ non-zero (the lecture divides by σ₀ = |g₀|).
    """
    n = draw(_SIZES)
    steps = MAX_STEPS if draw(_LONGEST) else draw(_STEPS)
    zero = np.array([not (nonzero_first and k == 0) and draw(_ZERO_STEP) for k in range(steps)])
    scales = np.array([draw(_GRAD_SCALES) for _ in range(steps)])
    theta0, grads = np.zeros(n), np.zeros((steps, n))
    for i in range(n):
        theta0[i] = draw(_vectors(1, None))[0]
        history = draw(_vectors(steps, 1.0))
        if nonzero_first and history[0] == 0:
            history[0] = 1.0
        grads[:, i] = np.where(zero, 0.0, history * scales)
    return theta0, grads + 0.0


@st.composite
def sgd_cases(draw: st.DrawFn) -> OptimizerCase:
    """SGD: momentum 0 / heavy ball / Nesterov, dampening in [0, 1], weight decay, maximize."""
    theta0, grads = draw(gradient_sequences())
    nesterov = draw(st.booleans())
    # momenta in (0, 1e-3) would only be round-off in float32 (and Nesterov needs momentum > 0)
    momentum = draw(_choice((0.9, 0.0, 0.5, 0.99), 1e-3, 0.999))
    if nesterov and momentum == 0.0:  # torch: Nesterov needs momentum > 0 and zero dampening
        momentum = 0.9
    dampening = 0.0 if nesterov else draw(_choice((0.0, 0.5, 1.0), 0.0, 1.0))
    options = {"lr": draw(_lr(1e-3)), "momentum": momentum, "dampening": dampening,
               "weight_decay": draw(_WEIGHT_DECAY), "nesterov": nesterov, "maximize": draw(st.booleans())}
    return make_case("sgd", options, theta0, grads)


@st.composite
def adagrad_cases(draw: st.DrawFn) -> OptimizerCase:
    """Adagrad: lr decay, initial accumulator, ε from 1e-10 to 0.1, weight decay, maximize."""
    theta0, grads = draw(gradient_sequences())
    options = {"lr": draw(_lr(1e-2)), "lr_decay": draw(_choice((0.0, 1e-2, 0.5, 1.0), 0.0, 1.0)),
               "weight_decay": draw(_WEIGHT_DECAY),
               "initial_accumulator_value": draw(_choice((0.0, 0.1, 1.0, 1e-6), 0.0, 1.0)),
               "eps": draw(st.sampled_from((1e-10, 1e-8, 1e-3, 0.1))), "maximize": draw(st.booleans())}
    return make_case("adagrad", options, theta0, grads)


@st.composite
def rmsprop_cases(draw: st.DrawFn) -> OptimizerCase:
    """RMSprop: centered (α ≥ 0.5) or not (α = 0 included), momentum, weight decay, maximize."""
    theta0, grads = draw(gradient_sequences())
    centered = draw(st.booleans())
    # centered needs α > 0: v − ḡ² ≥ α^t v, and at α = 0 it is pure round-off (see hypotheses)
    alpha = draw(_choice((0.99, 0.9, 0.5, 0.9999), 0.5, 0.9999) if centered
                 else _choice((0.99, 0.0, 0.9, 0.5, 0.9999), 0.0, 0.9999))
    options = {"lr": draw(_lr(1e-2)), "alpha": alpha, "eps": draw(st.sampled_from((1e-8, 1e-10, 1e-3))),
               "weight_decay": draw(_WEIGHT_DECAY), "momentum": draw(_choice((0.0, 0.9, 0.5), 0.0, 0.99)),
               "centered": centered, "maximize": draw(st.booleans())}
    return make_case("rmsprop", options, theta0, grads)


#: β₁ = 0 or β₁ ≥ 1e-3: torch's EMA is a lerp with weight 1 − β₁, which holds a tiny β₁ only to
#: a relative eps/β₁ (see :func:`conditioning`)
_BETA1 = _choice((0.9, 0.0, 0.5, 0.99), 1e-3, 0.999)
_BETA2 = _choice((0.999, 0.0, 0.9, 0.99, 0.9999), 0.0, 0.9999)


@st.composite
def adam_cases(draw: st.DrawFn) -> OptimizerCase:
    """Adam/AdamW: β's over [0, 1) with 0 and 0.9999, amsgrad, coupled or decoupled decay, maximize."""
    theta0, grads = draw(gradient_sequences())
    decoupled = draw(st.booleans())
    options = {"lr": draw(_lr(1e-3)), "beta1": draw(_BETA1), "beta2": draw(_BETA2),
               "eps": draw(st.sampled_from((1e-8, 1e-10, 1e-3, 0.1))), "weight_decay": draw(_WEIGHT_DECAY),
               "amsgrad": draw(st.booleans()), "decoupled": decoupled, "maximize": draw(st.booleans())}
    cls = draw(st.sampled_from(("Adam", "AdamW"))) if decoupled else "Adam"
    return make_case("adam", options, theta0, grads, cls)


#: ε of the lecture comparisons: 0 first (the lecture's formula exactly; Hypothesis shrinks to it)
_LECTURE_EPS = st.sampled_from((0.0, 1e-10, 1e-8, 1e-3))


@st.composite
def lecture_adagrad_cases(draw: st.DrawFn) -> OptimizerCase:
    theta0, grads = draw(gradient_sequences(nonzero_first=True))
    return make_case("adagrad", {"lr": draw(_lr(1e-2, zero=False)), "eps": draw(_LECTURE_EPS)}, theta0, grads)


@st.composite
def lecture_rmsprop_cases(draw: st.DrawFn) -> OptimizerCase:
    theta0, grads = draw(gradient_sequences(nonzero_first=True))
    options = {"lr": draw(_lr(1e-2, zero=False)), "alpha": draw(_choice((0.99, 0.9, 0.5), 0.01, 0.999)),
               "eps": draw(_LECTURE_EPS)}
    return make_case("rmsprop", options, theta0, grads)


@st.composite
def lecture_adam_cases(draw: st.DrawFn) -> OptimizerCase:
    theta0, grads = draw(gradient_sequences())
    options = {"lr": draw(_lr(1e-3, zero=False)), "beta1": draw(_BETA1), "beta2": draw(_BETA2),
               "eps": draw(st.sampled_from((1e-8, 1e-10, 1e-3)))}
    return make_case("adam", options, theta0, grads)


# --------------------------------------------------------------------------- the rules and the oracle


def torch_rule(case: OptimizerCase) -> sym.UpdateRule:
    """The documented torch.optim algorithm for the case's optimizer and options."""
    o = case.options
    if case.optimizer == "sgd":
        return sym.sgd(nesterov=bool(o["nesterov"]), heavy_ball=o["momentum"] != 0)
    if case.optimizer == "adagrad":
        return sym.adagrad()
    if case.optimizer == "rmsprop":
        return sym.rmsprop(centered=bool(o["centered"]))
    return sym.adam(amsgrad=bool(o["amsgrad"]), decoupled=bool(o["decoupled"]))


def _values(case: OptimizerCase) -> dict[str, Any]:
    return {**case.options, "direction": -1.0 if case.options["maximize"] else 1.0}


def _torch_kwargs(case: OptimizerCase, cls: str) -> dict[str, Any]:
    o = dict(case.options)
    if case.optimizer == "adam":
        o["betas"] = (o.pop("beta1"), o.pop("beta2"))
        decoupled = o.pop("decoupled")
        if cls == "Adam":
            o["decoupled_weight_decay"] = decoupled
    return o


def torch_trajectory(case: OptimizerCase, ctx: CheckContext, *, foreach: bool = False,
                     other_class: bool = False) -> torch.Tensor:
    """θ₀..θ_T from torch.optim itself: (T+1, n).

    Args:
        foreach: torch's multi-tensor implementation instead of the single-tensor one.
        other_class: for decoupled weight decay, ``AdamW`` ↔ ``Adam(decoupled_weight_decay=True)``.
    """
    cls = case.torch_class
    if other_class and case.options.get("decoupled"):
        cls = "Adam" if cls == "AdamW" else "AdamW"
    dtype = getattr(torch, ctx.dtype)
    p = torch.nn.Parameter(torch.tensor(case.theta0, dtype=dtype, device=ctx.device))
    opt = getattr(torch.optim, cls)([p], foreach=foreach, **_torch_kwargs(case, cls))
    out = [p.detach().clone()]
    for row in case.grads:
        p.grad = torch.tensor(row, dtype=dtype, device=ctx.device)
        opt.step()
        out.append(p.detach().clone())
    return torch.stack(out)


@functools.cache
def _compiled(rule: sym.UpdateRule) -> Callable[..., torch.Tensor]:
    return to_torch(sp.Matrix(rule.step), rule.args, name="optimizer_step")


@functools.cache
def _mp_compiled(rule: sym.UpdateRule) -> Callable[..., list[Any]]:
    return sp.lambdify(rule.args, list(rule.step), modules="mpmath")


def _initial(rule: sym.UpdateRule, values: Mapping[str, Any]) -> list[float]:
    subs = {p: values[p.name] for p in rule.params}
    return [float(sp.sympify(e).subs(subs)) for e in rule.initial]


def _runner(rule: sym.UpdateRule, case: OptimizerCase, ctx: CheckContext, shadow: bool
            ) -> tuple[Callable[..., torch.Tensor], torch.Tensor, list[torch.Tensor], torch.Tensor, list[torch.Tensor]]:
    """The compiled step, θ₀, the initial state, the gradients and the parameter tensors."""
    values = _values(case)
    if shadow:
        values = {**values, "lr": -values["lr"], "direction": 1.0}
    dtype = getattr(torch, ctx.dtype)
    theta = torch.tensor(case.theta0, dtype=dtype, device=ctx.device)
    grads = torch.tensor(case.grads, dtype=dtype, device=ctx.device)
    if shadow:
        theta, grads = theta.abs(), grads.abs()
    params = [torch.tensor(float(x), dtype=dtype, device=ctx.device) for x in rule.param_values(values)]
    state = [torch.full_like(theta, x) for x in _initial(rule, values)]
    return _compiled(rule), theta, state, grads, params


def _advance(fn: Callable[..., torch.Tensor], theta: torch.Tensor, state: list[torch.Tensor], grads: torch.Tensor,
             params: list[torch.Tensor], first: int, last: int) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
    """Steps ``first..last`` (1-based, torch's counter) from (θ, state): the (θ_t, state_t) after each."""
    out = []
    for k in range(first, last + 1):
        step = torch.tensor(float(k), dtype=theta.dtype, device=theta.device)
        new = fn(theta, *state, grads[k - 1], step, *params)[..., :, 0]  # (n, 1 + len(state))
        theta, state = new[:, 0], [new[:, i] for i in range(1, new.shape[1])]
        out.append((theta, state))
    return out


def rule_trajectory(rule: sym.UpdateRule, case: OptimizerCase, ctx: CheckContext, *, shadow: bool = False
                    ) -> torch.Tensor:
    """θ₀..θ_T from the lambdified rule: (T+1, n), every coordinate at once.

    ``shadow=True`` runs it on :math:`|\\theta_0|, |g_t|` with :math:`-\\gamma` and ``d = +1``: every sum
    then adds absolute values, which bounds the size of the terms that cancel (the tolerance's scale).
    """
    fn, theta, state, grads, params = _runner(rule, case, ctx, shadow)
    return torch.stack([theta] + [th for th, _ in _advance(fn, theta, state, grads, params, 1, case.steps)])


def amplification(rule: sym.UpdateRule, case: OptimizerCase, ctx: CheckContext, scale: np.ndarray) -> np.ndarray:
    """A_t per coordinate: how much an error in an earlier θ_s is magnified by the time it reaches θ_t.

    Round-off committed at step s moves θ_s by about ``eps·S_s``; the steps after it carry that on
    with their derivative in θ, which is large where an adaptive step sees a tiny g' = d·g + λθ (the
    map x ↦ x/(|x| + ε) has slope 1/ε at 0). Measured by finite differences on the lambdified rule:
    restart from θ_s + δ_s, δ_s = ``AMPLIFICATION_STEP``·S_s, and take
    :math:`\\max_{s<t} |\\Delta\\theta_t|/\\delta_s` (at least 1). Returns (T+1, n).
    """
    fn, theta, state, grads, params = _runner(rule, case, ctx, shadow=False)
    path = _advance(fn, theta, state, grads, params, 1, case.steps)
    out = np.ones((case.steps + 1, case.theta0.size))
    for s in range(1, case.steps):
        th, st_s = path[s - 1]
        delta = AMPLIFICATION_STEP * np.where(scale[s] > 0, scale[s], 1.0)
        moved = _advance(fn, th + torch.as_tensor(delta, dtype=th.dtype, device=th.device), st_s, grads, params,
                         s + 1, case.steps)
        for t, (th_t, _) in enumerate(moved, start=s + 1):
            slope = np.abs((th_t - path[t - 1][0]).detach().cpu().numpy()) / delta
            out[t] = np.maximum(out[t], np.where(np.isfinite(slope), slope, MAX_AMPLIFICATION))
    return np.minimum(out, MAX_AMPLIFICATION)


def mp_trajectory(rule: sym.UpdateRule, case: OptimizerCase, dps: int = RECHECK_DPS) -> np.ndarray:
    """θ₀..θ_T from the SymPy rule in ``dps``-digit mpmath (``sympy.lambdify``, not the bridge): (T+1, n)."""
    fn = _mp_compiled(rule)
    values = _values(case)
    out = np.zeros((case.steps + 1, case.theta0.size))
    with mpmath.workdps(dps):
        params = [mpmath.mpf(float(x)) for x in rule.param_values(values)]
        initial = [mpmath.mpf(x) for x in _initial(rule, values)]
        for i, th0 in enumerate(case.theta0):
            theta, state = mpmath.mpf(float(th0)), list(initial)
            out[0, i] = float(theta)
            for k in range(case.steps):
                new = fn(theta, *state, mpmath.mpf(float(case.grads[k, i])), mpmath.mpf(k + 1), *params)
                theta, state = new[0], list(new[1:])
                out[k + 1, i] = float(theta)
    return out


def conditioning(case: OptimizerCase) -> list[float]:
    """κ_t for t = 1..T: how much the round-off of one step is amplified beyond its flop count.

    Adam: :math:`1 + \\beta_1/(1-\\beta_1) + \\beta_2/(1-\\beta_2)` bounds
    :math:`\\beta^s/(1-\\beta^s)`, the amplification of the rounding of :math:`\\beta^s` in the bias
    corrections, plus :math:`1/(2\\beta_1)` for :math:`0 < \\beta_1 < \\tfrac12`: torch updates
    :math:`m` by ``lerp(m, g, 1 - beta1)``, i.e. with the decay :math:`1 - \\mathrm{fl}(1-\\beta_1)`,
    which is :math:`\\beta_1` only to a relative :math:`\\varepsilon/(2\\beta_1)`; centered RMSprop:
    :math:`1/\\alpha^t`, since :math:`v_t - \\bar g_t^2 \\ge \\alpha^t v_t` (``rmsprop-centered-variance``);
    otherwise 1.
    """
    o = case.options
    if case.optimizer == "adam":
        b1, b2 = o["beta1"], o["beta2"]
        kappa = 1.0 + b1 / (1.0 - b1) + b2 / (1.0 - b2) + (0.5 / b1 if 0.0 < b1 < 0.5 else 0.0)
        return [kappa] * case.steps
    if case.optimizer == "rmsprop" and o.get("centered"):
        return [1.0 / o["alpha"] ** k for k in range(1, case.steps + 1)]
    return [1.0] * case.steps


@dataclass
class TrajectoryComparison:
    """Step-by-step judgement of two trajectories.

    Attributes:
        comparison: at the first diverging step, else at the tightest step.
        first_divergence_step: the first step t whose comparison is violated (None: none).
        step: the step ``comparison`` is taken at; coordinate: its coordinate.
        step_errors: per step, the largest |ours − torch| / S_t over coordinates.
        tolerance: how the tolerance was set.
    """

    comparison: Comparison
    first_divergence_step: int | None
    step: int
    coordinate: int
    step_errors: list[float]
    tolerance: str


def compare_trajectories(ours: np.ndarray, theirs: np.ndarray, scale: np.ndarray, kappa: list[float],
                         amplify: Callable[[], np.ndarray] | np.ndarray | None, dtype: str
                         ) -> TrajectoryComparison:
    """Judge θ_t(ours) = θ_t(torch) per step t ≥ 1 and coordinate, tolerance c·t·κ_t·A_t·eps·S_t.

    Args:
        ours, theirs, scale: (T+1, n).
        kappa: (T,) the conditioning of each step (:func:`conditioning`).
        amplify: (T+1, n) the error amplification A_t (:func:`amplification`), or a function returning
            it: it is only needed where a step fails with A_t = 1, since A_t ≥ 1 only widens the
            tolerance (and A_1 = 1: nothing before the first step can be amplified).
        dtype: the dtype the numbers were computed in.
    """
    first, chosen, errors = None, None, []
    for k in range(1, ours.shape[0]):
        err = np.abs(ours[k] - theirs[k])
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(scale[k] > 0, err / np.where(scale[k] > 0, scale[k], 1.0), np.where(err > 0, np.inf, 0))
        errors.append(float(ratio.max()))
        comparison, i, tol = _judge_step(ours, theirs, scale, ratio, k, DEPTH_PER_STEP * k * max(kappa[:k]), dtype,
                                         None)
        if comparison.status == "violated" and amplify is not None and k > 1:
            factors = amplify() if callable(amplify) else amplify
            comparison, i, tol = _judge_step(ours, theirs, scale, ratio, k, DEPTH_PER_STEP * k * max(kappa[:k]),
                                             dtype, factors[k])
        excess = comparison.abs_err / comparison.atol if comparison.atol > 0 else (np.inf if comparison.abs_err else 0)
        if comparison.status == "violated" and first is None:
            first, chosen = k, (comparison, k, i, tol, np.inf)
        if first is None and (chosen is None or excess > chosen[4]):
            chosen = (comparison, k, i, tol, excess)
    assert chosen is not None
    comparison, k, i, tol, _ = chosen
    return TrajectoryComparison(comparison, first, k, i, errors, tol.describe())


def _judge_step(ours: np.ndarray, theirs: np.ndarray, scale: np.ndarray, ratio: np.ndarray, k: int, depth: float,
                dtype: str, amplified: np.ndarray | None) -> tuple[Comparison, int, Tolerance]:
    """The worst coordinate of step k (relative to its own tolerance) and its comparison.

    A depth beyond 1/eps (tolerance ≥ the scale) is capped there: such a comparison is undecidable.
    """
    cap = 1.0 / Tolerance(dtype).eps
    depths = np.minimum(depth * (np.ones_like(ratio) if amplified is None else amplified), cap)
    i = int(np.argmax(ratio / depths))
    tol = Tolerance(dtype, float(depths[i]))
    return compare_close(float(ours[k, i]), float(theirs[k, i]), float(scale[k, i]), tol), i, tol


def _scale(case: OptimizerCase, rules: list[sym.UpdateRule], ctx: CheckContext, *trajectories: np.ndarray
           ) -> np.ndarray:
    """S_t per coordinate: the largest shadow run of the rules, and at least |θ_t| of every trajectory."""
    parts = [rule_trajectory(r, case, ctx, shadow=True).detach().cpu().numpy() for r in dict.fromkeys(rules)]
    parts += [np.abs(tr) for tr in trajectories]
    out = np.maximum.reduce(parts)
    return np.where(np.isfinite(out), out, np.inf)


RuleFor = Callable[[OptimizerCase], sym.UpdateRule]


def in_dtype(case: OptimizerCase, dtype: str) -> OptimizerCase:
    """The case with its float hyper-parameters rounded to ``dtype``, so that both sides use equal values.

    In float32 the lambdified rule holds α = 0.9999 as float32 and computes 1 − α from it, while torch
    computes ``1 - alpha`` from the Python float: a relative difference of 1e-4 that is the rounding
    of the option, not a difference between the algorithms.
    """
    if dtype == "float64":
        return case
    torch_dtype = getattr(torch, dtype)
    options = {k: torch.tensor(v, dtype=torch_dtype).item() if isinstance(v, float) else v
               for k, v in case.options.items()}
    return replace(case, options=options)


def _judge(case: OptimizerCase, ctx: CheckContext, rule_for: RuleFor, recheck: bool) -> CaseResult:
    """Step ``rule_for(case)`` and torch.optim side by side; the re-check uses mpmath and torch's other route."""
    case = in_dtype(case, "float64" if recheck else ctx.dtype)
    rule, reference = rule_for(case), torch_rule(case)
    if recheck:
        ctx = CheckContext(device=ctx.device, dtype="float64", seed=ctx.seed, examples=ctx.examples)
        ours = mp_trajectory(rule, case)
        theirs = torch_trajectory(case, ctx, foreach=True, other_class=True).detach().cpu().numpy()
    else:
        ours = rule_trajectory(rule, case, ctx).detach().cpu().numpy()
        theirs = torch_trajectory(case, ctx).detach().cpu().numpy()
    scale = _scale(case, [rule, reference], ctx, ours, theirs)
    measured: list[np.ndarray] = []

    def amplified() -> np.ndarray:
        if not measured:
            rules = dict.fromkeys([rule, reference])
            measured.append(np.maximum.reduce([amplification(r, case, ctx, scale) for r in rules]))
        return measured[0]

    result = compare_trajectories(ours, theirs, scale, conditioning(case), amplified, ctx.dtype)
    how = ("SymPy rule in mpmath (50 digits) vs torch.optim foreach" + (", other class" if
           case.options.get("decoupled") else "") if recheck else "lambdified SymPy rule vs torch.optim")
    details = {
        "rule": rule.name, "torch": f"{case.torch_class}({_kwargs_text(case)})", "steps": case.steps,
        "first_divergence_step": result.first_divergence_step, "judged_step": result.step,
        "coordinate": result.coordinate, "step_errors_rel_to_scale": result.step_errors,
        "amplification": float(measured[0][result.step, result.coordinate]) if measured else 1.0,
        "theta_ours": ours[result.step].tolist(), "theta_torch": theirs[result.step].tolist(), "route": how,
    }
    return CaseResult(result.comparison, case.tags, details, result.tolerance)


def _kwargs_text(case: OptimizerCase) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in _torch_kwargs(case, case.torch_class).items())


def make_optimizer_claim(claim_id: str, *, statement: str, cases: Callable[[], Any], rule_for: RuleFor = torch_rule,
                         expected: str = "holds", symbolic: Callable[[], SymbolicResult] | None = None,
                         title: str = "", hypotheses: tuple[str, ...] = HYPOTHESES, notes: tuple[str, ...] = (),
                         source: str = SOURCE) -> Claim:
    """A claim "``rule_for(case)`` steps like torch.optim" (the numeric oracle is torch.optim itself).

    Args:
        claim_id: the claim's id.
        statement: LaTeX.
        cases: strategy factory of :class:`OptimizerCase`.
        rule_for: the SymPy rule under test for a case (default: the documented torch rule).
        expected: ``holds`` or ``refuted``.
        symbolic: the claim's derivation, if any.
    """
    return Claim(
        id=claim_id, title=title, statement=statement, source=source, expected=expected, hypotheses=hypotheses,
        symbolic=symbolic, cases=cases,
        check=lambda case, ctx: _judge(case, ctx, rule_for, recheck=False),
        recheck=lambda case, ctx: _judge(case, ctx, rule_for, recheck=True),
        relation="equality", decode_case=OptimizerCase.from_json, notes=notes,
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
SGD = register(make_optimizer_claim(
    "optimizer-sgd-momentum", title="SGD with momentum (torch.optim.SGD)", statement=_SGD_STATEMENT,
    cases=sgd_cases,
    symbolic=lambda: SymbolicResult([sym.sgd_buffer_unrolled(), _torch_agrees("SGD")]),
    hypotheses=HYPOTHESES + (r"\gamma \ge 0,\ \mu \in [0, 1),\ \tau \in [0, 1],\ \lambda \ge 0;\ "
                             r"\text{nesterov} \Rightarrow \mu > 0,\ \tau = 0",),
    notes=("The first step sets b₁ = g'₁ without dampening (torch's buffer starts as a copy of the gradient); "
           "with μ = 0 torch skips the buffer, so the dampening never applies.",
           "PyTorch's momentum multiplies the buffer by γ at use (θ −= γb); Sutskever et al. put γ inside the "
           "buffer, which is the same only for a constant γ."),
))

ADAGRAD = register(make_optimizer_claim(
    "optimizer-adagrad", title="AdaGrad (torch.optim.Adagrad)",
    statement=(r"s_0 = \tau,\ s_t = s_{t-1} + g_t'^2,\ \theta_t = \theta_{t-1} - \frac{\gamma}{1 + (t-1)\eta}\,"
               r"\frac{g'_t}{\sqrt{s_t} + \epsilon}"),
    cases=adagrad_cases,
    symbolic=lambda: SymbolicResult([sym.adagrad_accumulator_unrolled(), sym.lecture_adagrad_scaled_equals_torch(),
                                     _torch_agrees("Adagrad")]),
    hypotheses=HYPOTHESES + (r"\gamma \ge 0,\ \eta \ge 0 \ (\text{lr\_decay}),\ \tau \ge 0,\ \epsilon > 0,\ "
                             r"\lambda \ge 0",),
    notes=("ε is outside the root and added after it; the sum of squares is not divided by t (contrast "
           "seed004-adagrad-root-mean). With η_t = η/√(t+1), ε = 0, τ = 0 and no decay the lecture's rule is "
           "this one (step lecture-adagrad-scaled).",),
))

RMSPROP = register(make_optimizer_claim(
    "optimizer-rmsprop", title="RMSProp (torch.optim.RMSprop)",
    statement=(r"v_0 = 0,\ v_t = \alpha v_{t-1} + (1-\alpha) g_t'^2,\ \tilde v_t = v_t - \bar g_t^2 "
               r"\text{ (centered) or } v_t,\ b_t = \mu b_{t-1} + \frac{g'_t}{\sqrt{\tilde v_t} + \epsilon},\ "
               r"\theta_t = \theta_{t-1} - \gamma b_t"),
    cases=rmsprop_cases,
    symbolic=lambda: SymbolicResult([sym.rmsprop_centered_variance(), _torch_agrees("RMSprop")]),
    hypotheses=HYPOTHESES + (r"\gamma \ge 0,\ \alpha \in [0, 1),\ \mu \in [0, 1),\ \epsilon > 0,\ \lambda \ge 0;"
                             r"\ \text{centered} \Rightarrow \alpha \ge \tfrac12",),
    notes=("v starts at 0, not at g₁² (contrast seed004-rmsprop-initial-sigma), and ε is outside the root.",
           "Centered RMSprop at α = 0 has v − ḡ² = 0 exactly, and torch's value is round-off (it can be a NaN): "
           "the cases keep α ≥ ½, where v − ḡ² ≥ α^t v."),
))

ADAM = register(make_optimizer_claim(
    "optimizer-adam", title="Adam and AdamW (torch.optim.Adam, torch.optim.AdamW)",
    statement=(r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g'_t,\ v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t'^2,\ "
               r"\hat v_t = \max(\hat v_{t-1}, v_t) \text{ (amsgrad) or } v_t,\ "
               r"\theta_t = \theta'_{t-1} - \frac{\gamma}{1-\beta_1^t}\,\frac{m_t}{\sqrt{\hat v_t}/\sqrt{1-\beta_2^t}"
               r" + \epsilon};\ \text{decoupled: } \theta' = (1-\gamma\lambda)\theta,\ g' = d\,g"),
    cases=adam_cases,
    symbolic=lambda: SymbolicResult([sym.adam_first_step(), sym.adam_first_step(decoupled=True),
                                     sym.adam_bias_correction(), sym.adam_moments_unrolled(), _torch_agrees("Adam")]),
    hypotheses=HYPOTHESES + (r"\gamma \ge 0,\ \beta_1, \beta_2 \in [0, 1),\ \epsilon > 0,\ \lambda \ge 0",),
    notes=("amsgrad keeps the maximum of the uncorrected v and corrects it by √(1−β₂ᵗ) afterwards.",
           "Decoupled weight decay is torch.optim.AdamW or, in torch ≥ 2.6, Adam(decoupled_weight_decay=True); "
           "the cases use both and the re-check swaps them.",
           "The first step is −γ g'/(|g'| + ε) whatever β₁, β₂ (step adam-first-step): Adam's first move has "
           "length ≈ γ in every coordinate with |g| ≫ ε."),
))


# --------------------------------------------------------------------------- seed 004's mistakes

_NONZERO_FIRST = r"g_0^i \ne 0 \text{ for every coordinate (the lecture divides by } \sigma_0 = |g_0|)"
_LECTURE_EPS_NOTE = ("The lecture has no ε; the comparison adds torch's ε to the lecture's denominator (ε = 0, the "
                     "lecture's formula exactly, is where Hypothesis shrinks to), so that the divergence is the "
                     "lecture's mean or initial σ, not ε.")

ADAGRAD_ROOT_MEAN = register(make_optimizer_claim(
    "seed004-adagrad-root-mean", title="Seed 004: AdaGrad with the root-mean σ equals torch's Adagrad",
    expected="refuted",
    statement=(r"\theta_{t+1} = \theta_t - \frac{\eta}{\sigma_t} g_t,\ \sigma_t = \sqrt{\tfrac{1}{t+1}\sum_{k=0}^t "
               r"g_k^2} \;\text{ is }\; \texttt{torch.optim.Adagrad(lr}=\eta\texttt{)}"),
    source=SOURCE + "; the lecture's AdaGrad section (constant η, root-mean σ_t, no ε)",
    cases=lecture_adagrad_cases, rule_for=lambda case: sym.lecture_adagrad(),
    symbolic=lambda: SymbolicResult([
        *sym.divergence_steps(sym.lecture_adagrad(), sym.adagrad(),
                              {sym.direction: 1, sym.weight_decay: 0, sym.lr_decay: 0,
                               sym.initial_accumulator_value: 0}, "lecture-adagrad"),
        sym.lecture_adagrad_ratio(), sym.lecture_adagrad_scaled_equals_torch()]),
    hypotheses=(HYPOTHESES[0], _NONZERO_FIRST, r"\eta > 0,\ \text{lr\_decay} = 0,\ \tau = 0,\ \lambda = 0"),
    notes=("With a constant η the lecture's step is √(t+1) times torch's (step lecture-adagrad-step-ratio), so the "
           "two agree at the first step and diverge at the second whatever ε is; η_t = η/√(t+1) repairs it "
           "(lecture-adagrad-scaled).", _LECTURE_EPS_NOTE),
))

RMSPROP_INITIAL_SIGMA = register(make_optimizer_claim(
    "seed004-rmsprop-initial-sigma", title="Seed 004: RMSProp from σ₀ = |g₀| equals torch's RMSprop",
    expected="refuted",
    statement=(r"\sigma_0 = |g_0|,\ \sigma_t = \sqrt{\alpha\sigma_{t-1}^2 + (1-\alpha) g_t^2},\ \theta_{t+1} = "
               r"\theta_t - \frac{\eta}{\sigma_t} g_t \;\text{ is }\; \texttt{torch.optim.RMSprop(lr}=\eta,"
               r"\texttt{ alpha}=\alpha\texttt{)}"),
    source=SOURCE + "; the lecture's RMSProp section (σ₀ = |g₀|)",
    cases=lecture_rmsprop_cases, rule_for=lambda case: sym.lecture_rmsprop(),
    symbolic=lambda: SymbolicResult(sym.divergence_steps(
        sym.lecture_rmsprop(), sym.rmsprop(),
        {sym.direction: 1, sym.weight_decay: 0, sym.momentum: 0, sym.alpha: sp.Rational(99, 100)},
        "lecture-rmsprop")),
    hypotheses=(HYPOTHESES[0], _NONZERO_FIRST, r"\eta > 0,\ \alpha \in (0, 1),\ \mu = 0,\ \lambda = 0"),
    notes=("torch starts from v₀ = 0, so v₁ = (1−α)g₁² and its first step is 1/√(1−α) times the lecture's "
           "(10× at α = 0.99): they diverge at the first step (α = 0 is the one value where they agree).",
           _LECTURE_EPS_NOTE),
))

ADAM_NO_BIAS_CORRECTION = register(make_optimizer_claim(
    "seed004-adam-is-rmsprop-plus-momentum", title="Seed 004: Adam is RMSProp plus momentum",
    expected="refuted",
    statement=(r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\ v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\ "
               r"\theta_t = \theta_{t-1} - \gamma\frac{m_t}{\sqrt{v_t} + \epsilon} \;\text{ is }\; "
               r"\texttt{torch.optim.Adam}"),
    source=SOURCE + "; the lecture's Adam section ('Adam 可以看作 RMSprop 加上动量')",
    cases=lecture_adam_cases, rule_for=lambda case: sym.adam(bias_correction=False),
    symbolic=lambda: SymbolicResult([
        *sym.divergence_steps(sym.adam(bias_correction=False), sym.adam(),
                              {sym.direction: 1, sym.weight_decay: 0, sym.beta1: sp.Rational(9, 10),
                               sym.beta2: sp.Rational(999, 1000)}, "adam-no-bias-correction"),
        sym.adam_bias_correction()]),
    hypotheses=(HYPOTHESES[0], r"\gamma > 0,\ \beta_1, \beta_2 \in [0, 1),\ \epsilon > 0,\ \lambda = 0"),
    notes=("RMSProp's second moment plus an EMA momentum is Adam without the bias corrections 1/(1−β₁ᵗ) and "
           "1/√(1−β₂ᵗ): its first step is (1−β₁)/√(1−β₂) ≈ 3.2 times torch's at the default betas, so they diverge "
           "at step 1 (β₁ = β₂ = 0 is the one setting where they agree).",
           "torch.optim.RMSprop(momentum=μ) is a third reading (heavy-ball momentum on g/√v) and differs as well."),
))
