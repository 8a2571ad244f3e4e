r"""Cases and Hypothesis strategies behind :mod:`proofs.optimizers` (C6, docs/claims.md#c6).

An :class:`OptimizerCase` (a :class:`verify.Case`) is an initial parameter vector, a gradient sequence
and every option of one torch.optim optimizer (torch's defaults filled in by :func:`make_case`), with
its boundary-case tags.
The strategies draw them: :func:`gradient_sequences` (n = 1..4 coordinates, T = 1..8 steps, per-step
scales from 1e-12 to 1e8, all-zero steps), one strategy per optimizer over its hyper-parameters
(boundary values first), and the three restricted ones that the lecture's ([S004]'s) rules are
compared on.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import hypothesis.strategies as st
import numpy as np

from verify import Case, InvalidInputError, case_type, step_sizes, vectors

#: the longest gradient sequence drawn (T = 1..MAX_STEPS)
MAX_STEPS = 8

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


@case_type
class OptimizerCase(Case):
    """A parameter vector, a gradient sequence and one optimizer's options.

    Attributes:
        optimizer: ``sgd``, ``adagrad``, ``rmsprop`` or ``adam``.
        options: every option by torch's name (``beta1``/``beta2`` for ``betas``, ``decoupled`` for
            decoupled weight decay).
        theta0: (n,) the initial parameters.
        grads: (T, n) the gradient fed at steps 1..T.
        torch_class: the torch.optim class stepped (``Adam`` or ``AdamW`` when decoupled).
        source: ``""`` for a drawn gradient sequence; the architecture (``mlp``, ``cnn`` …) whose training
            run gave θ₀ and the gradients (:mod:`proofs.optimizers.module_cases`).

    ``tags`` are the boundary cases the options and numbers hit (the optimizer, T = 1 or 8, zero
    and extreme gradients, the options at their edges). The JSON has no ``"type"`` key (the
    layout verdicts have always stored): the claims decode it with :meth:`from_json`.
    """

    optimizer: str
    options: Mapping[str, Any]
    theta0: np.ndarray
    grads: np.ndarray
    torch_class: str = ""
    source: str = ""

    @property
    def steps(self) -> int:
        return int(self.grads.shape[0])

    def _compute_tags(self) -> tuple[str, ...]:
        tags = _tags(self.optimizer, self.options, self.theta0, self.grads, self.torch_class)
        return (*tags, self.source) if self.source else tags

    def to_json(self) -> dict[str, Any]:
        out = {"optimizer": self.optimizer, "options": dict(self.options), "theta0": self.theta0.tolist(),
               "grads": self.grads.tolist(), "torch_class": self.torch_class}
        return {**out, "source": self.source} if self.source else out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OptimizerCase:
        grads = np.asarray(data["grads"], dtype=np.float64)
        theta0 = np.asarray(data["theta0"], dtype=np.float64)
        return make_case(str(data["optimizer"]), dict(data["options"]), theta0, grads.reshape(-1, theta0.size),
                         str(data.get("torch_class", "")), str(data.get("source", "")))


def make_case(optimizer: str, options: Mapping[str, Any], theta0: np.ndarray, grads: np.ndarray,
              torch_class: str = "", source: str = "") -> OptimizerCase:
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
    return OptimizerCase(optimizer, full, theta0, grads, cls, source)


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

#: where a case's θ₀ and gradients come from: ``nonzero_first -> strategy of (θ₀, grads[, source])``; None
#: for :func:`gradient_sequences` (a network's training run: ``module_cases.module_gradient_sequences``)
Sequences = Callable[..., st.SearchStrategy[tuple[np.ndarray, np.ndarray]]] | None

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


def _sequence(draw: st.DrawFn, sequences: Sequences, nonzero_first: bool) -> tuple[np.ndarray, np.ndarray, str]:
    """(θ₀, grads, source) from ``sequences`` (default :func:`gradient_sequences`, source "")."""
    drawn = draw((sequences or gradient_sequences)(nonzero_first=nonzero_first))
    return (drawn[0], drawn[1], drawn[2] if len(drawn) > 2 else "")


@st.composite
def sgd_cases(draw: st.DrawFn, sequences: Sequences = None) -> OptimizerCase:
    """SGD: momentum 0 / heavy ball / Nesterov, dampening in [0, 1], weight decay, maximize."""
    theta0, grads, source = _sequence(draw, sequences, False)
    nesterov = draw(st.booleans())
    # momenta in (0, 1e-3) would only be round-off in float32 (and Nesterov needs momentum > 0)
    momentum = draw(_choice((0.9, 0.0, 0.5, 0.99), 1e-3, 0.999))
    if nesterov and momentum == 0.0:  # torch: Nesterov needs momentum > 0 and zero dampening
        momentum = 0.9
    dampening = 0.0 if nesterov else draw(_choice((0.0, 0.5, 1.0), 0.0, 1.0))
    options = {"lr": draw(_lr(1e-3)), "momentum": momentum, "dampening": dampening,
               "weight_decay": draw(_WEIGHT_DECAY), "nesterov": nesterov, "maximize": draw(st.booleans())}
    return make_case("sgd", options, theta0, grads, source=source)


@st.composite
def adagrad_cases(draw: st.DrawFn, sequences: Sequences = None) -> OptimizerCase:
    """Adagrad: lr decay, initial accumulator, ε from 1e-10 to 0.1, weight decay, maximize."""
    theta0, grads, source = _sequence(draw, sequences, False)
    options = {"lr": draw(_lr(1e-2)), "lr_decay": draw(_choice((0.0, 1e-2, 0.5, 1.0), 0.0, 1.0)),
               "weight_decay": draw(_WEIGHT_DECAY),
               "initial_accumulator_value": draw(_choice((0.0, 0.1, 1.0, 1e-6), 0.0, 1.0)),
               "eps": draw(st.sampled_from((1e-10, 1e-8, 1e-3, 0.1))), "maximize": draw(st.booleans())}
    return make_case("adagrad", options, theta0, grads, source=source)


@st.composite
def rmsprop_cases(draw: st.DrawFn, sequences: Sequences = None) -> OptimizerCase:
    """RMSprop: centered (α ≥ 0.5) or not (α = 0 included), momentum, weight decay, maximize."""
    theta0, grads, source = _sequence(draw, sequences, False)
    centered = draw(st.booleans())
    # centered needs α > 0: v − ḡ² ≥ α^t v, and at α = 0 it is pure round-off (see hypotheses)
    alpha = draw(_choice((0.99, 0.9, 0.5, 0.9999), 0.5, 0.9999) if centered
                 else _choice((0.99, 0.0, 0.9, 0.5, 0.9999), 0.0, 0.9999))
    options = {"lr": draw(_lr(1e-2)), "alpha": alpha, "eps": draw(st.sampled_from((1e-8, 1e-10, 1e-3))),
               "weight_decay": draw(_WEIGHT_DECAY), "momentum": draw(_choice((0.0, 0.9, 0.5), 0.0, 0.99)),
               "centered": centered, "maximize": draw(st.booleans())}
    return make_case("rmsprop", options, theta0, grads, source=source)


#: β₁ = 0 or β₁ ≥ 1e-3: torch's EMA is a lerp with weight 1 − β₁, which holds a tiny β₁ only to
#: a relative eps/β₁ (see :func:`proofs.optimizers.numeric.conditioning`)
_BETA1 = _choice((0.9, 0.0, 0.5, 0.99), 1e-3, 0.999)
_BETA2 = _choice((0.999, 0.0, 0.9, 0.99, 0.9999), 0.0, 0.9999)


@st.composite
def adam_cases(draw: st.DrawFn, sequences: Sequences = None) -> OptimizerCase:
    """Adam/AdamW: β's over [0, 1) with 0 and 0.9999, amsgrad, coupled or decoupled decay, maximize."""
    theta0, grads, source = _sequence(draw, sequences, False)
    decoupled = draw(st.booleans())
    options = {"lr": draw(_lr(1e-3)), "beta1": draw(_BETA1), "beta2": draw(_BETA2),
               "eps": draw(st.sampled_from((1e-8, 1e-10, 1e-3, 0.1))), "weight_decay": draw(_WEIGHT_DECAY),
               "amsgrad": draw(st.booleans()), "decoupled": decoupled, "maximize": draw(st.booleans())}
    cls = draw(st.sampled_from(("Adam", "AdamW"))) if decoupled else "Adam"
    return make_case("adam", options, theta0, grads, cls, source)


#: ε of the lecture comparisons: 0 first (the lecture's formula exactly; Hypothesis shrinks to it)
_LECTURE_EPS = st.sampled_from((0.0, 1e-10, 1e-8, 1e-3))


@st.composite
def lecture_adagrad_cases(draw: st.DrawFn, sequences: Sequences = None) -> OptimizerCase:
    theta0, grads, source = _sequence(draw, sequences, True)
    options = {"lr": draw(_lr(1e-2, zero=False)), "eps": draw(_LECTURE_EPS)}
    return make_case("adagrad", options, theta0, grads, source=source)


@st.composite
def lecture_rmsprop_cases(draw: st.DrawFn, sequences: Sequences = None) -> OptimizerCase:
    theta0, grads, source = _sequence(draw, sequences, True)
    options = {"lr": draw(_lr(1e-2, zero=False)), "alpha": draw(_choice((0.99, 0.9, 0.5), 0.01, 0.999)),
               "eps": draw(_LECTURE_EPS)}
    return make_case("rmsprop", options, theta0, grads, source=source)


@st.composite
def lecture_adam_cases(draw: st.DrawFn, sequences: Sequences = None) -> OptimizerCase:
    theta0, grads, source = _sequence(draw, sequences, False)
    options = {"lr": draw(_lr(1e-3, zero=False)), "beta1": draw(_BETA1), "beta2": draw(_BETA2),
               "eps": draw(st.sampled_from((1e-8, 1e-10, 1e-3)))}
    return make_case("adam", options, theta0, grads, source=source)
