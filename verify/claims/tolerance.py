"""The tolerance model: the one place where ``lhs = rhs`` and ``lhs <= rhs`` are judged.

A relation is judged with an absolute tolerance

.. math:: \\tau = c \\cdot \\varepsilon_{\\text{dtype}} \\cdot s

where :math:`s` is the *scale* of the terms that actually cancel (named by each
claim, e.g. :math:`\\alpha\\|g\\|^2` for the descent lemma, not :math:`L(\\theta)`),
:math:`\\varepsilon` is the unit round-off of the dtype the numbers were computed
in and :math:`c` the depth factor of the computation (stated in the evidence).

Equality at a boundary case therefore never becomes a counterexample, while a
real violation of relative size ``1e-5`` of the scale in float64 always does
(``c * eps`` is about ``1.4e-14`` for the default ``c = 64``).

This module is plain Python (no torch, no numpy): callers reduce tensors to
floats first (see :func:`verify.numeric.compare_tensors`).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Literal

from verify.errors import InvalidInputError

__all__ = [
    "DECIDABLE_LIMIT",
    "EPS",
    "Comparison",
    "Tolerance",
    "compare_close",
    "compare_leq",
]

#: Unit round-off (machine epsilon) per dtype name.
EPS: dict[str, float] = {
    "float64": 2.220446049250313e-16,
    "float32": 1.1920928955078125e-07,
    "bfloat16": 0.0078125,
    "float16": 0.0009765625,
}

#: A tolerance larger than this fraction of the scale cannot decide anything:
#: the comparison is ``undecidable`` (verdict ``inconclusive``), never ``holds``.
DECIDABLE_LIMIT = 1e-2

Status = Literal["holds", "violated", "undecidable"]


@dataclass(frozen=True)
class Tolerance:
    """Absolute tolerance ``depth * eps(dtype) * scale``.

    Args:
        dtype: name of the dtype the compared numbers were computed in.
        depth: the factor :math:`c` for the depth of the computation.

    >>> Tolerance("float64", depth=64).atol(1.0) == 64 * EPS["float64"]
    True
    """

    dtype: str = "float64"
    depth: float = 64.0

    def __post_init__(self) -> None:
        if self.dtype not in EPS:
            raise InvalidInputError(
                f"Got dtype={self.dtype!r}, but valid values are {sorted(EPS)}."
            )
        if isinstance(self.depth, bool) or not isinstance(self.depth, numbers.Real) or not (
                self.depth > 0 and math.isfinite(self.depth)):
            raise InvalidInputError(f"Got depth={self.depth!r}; it must be a positive finite number.")

    @property
    def eps(self) -> float:
        """Unit round-off of :attr:`dtype`."""
        return EPS[self.dtype]

    @property
    def rtol(self) -> float:
        """The tolerance relative to the scale, ``depth * eps``."""
        return self.depth * self.eps

    def atol(self, scale: float) -> float:
        """Absolute tolerance for terms of size ``scale``."""
        return self.rtol * abs(scale)

    def describe(self) -> str:
        """Human-readable formula, recorded in the evidence."""
        return f"{self.depth:g}·eps({self.dtype})·scale = {self.rtol:.3g}·scale"


@dataclass(frozen=True)
class Comparison:
    """The judgement of one relation on one case (plain floats only).

    Attributes:
        status: ``holds``, ``violated`` or ``undecidable``.
        lhs: left side (for equalities: the largest-error entry of the formula).
        rhs: right side (for equalities: the oracle's value at that entry).
        abs_err: ``|lhs - rhs|`` for equalities, ``max(lhs - rhs, 0)`` for inequalities.
        rel_err: ``abs_err / scale``.
        slack: ``(rhs - lhs) / scale``: negative means the relation is violated.
        ratio: ``lhs / rhs`` for inequalities with ``rhs > 0`` (tightness), else None.
        scale: the scale the tolerance was measured against.
        atol: the absolute tolerance used.
    """

    status: Status
    lhs: float
    rhs: float
    abs_err: float
    rel_err: float
    slack: float
    ratio: float | None
    scale: float
    atol: float

    @property
    def holds(self) -> bool:
        return self.status == "holds"

    @property
    def violated(self) -> bool:
        return self.status == "violated"


def _checked_scale(scale: float) -> float:
    scale = float(scale)
    if not math.isfinite(scale) or scale < 0:
        raise InvalidInputError(
            f"Got scale={scale!r}; a scale must be finite and >= 0 (the size of the terms that cancel)."
        )
    return scale


def _status(excess: float, atol: float, scale: float, tol: Tolerance) -> Status:
    if not math.isfinite(excess):
        return "undecidable"
    # with scale 0 only an exact comparison (atol 0) can decide: round-off of cancelling terms
    # (noise > 0) with nothing to measure it against leaves the relation undecided
    if tol.rtol > DECIDABLE_LIMIT or atol > DECIDABLE_LIMIT * scale:
        return "undecidable"
    return "violated" if excess > atol else "holds"


def _noise(noise: float) -> float:
    noise = float(noise)
    if not math.isfinite(noise) or noise < 0:
        raise InvalidInputError(f"Got noise={noise!r}; it must be finite and >= 0.")
    return noise


def compare_close(obtained: float, expected: float, scale: float, tol: Tolerance,
                  abs_err: float | None = None, noise: float = 0.0) -> Comparison:
    """Judge ``obtained = expected`` up to ``tol.atol(scale)``.

    Args:
        obtained: the value of the formula under test (at the worst entry).
        expected: the oracle's value (at the same entry).
        scale: size of the terms that cancel; the tolerance is relative to it.
        tol: the tolerance model.
        abs_err: the largest absolute error if already reduced (defaults to
            ``|obtained - expected|``).
        noise: size of quantities whose round-off enters the compared values but
            which cancel exactly (e.g. :math:`|L(\theta)|` in
            :math:`L(\theta-\alpha g) - L(\theta)`): the tolerance becomes
            ``rtol * (scale + noise)`` while slack stays normalized by ``scale``. When
            that exceeds ``DECIDABLE_LIMIT * scale`` the comparison is ``undecidable``.

    >>> compare_close(1.0 + 1e-15, 1.0, 1.0, Tolerance()).status
    'holds'
    >>> compare_close(1.0 + 1e-5, 1.0, 1.0, Tolerance()).status
    'violated'
    """
    scale = _checked_scale(scale)
    err = abs(float(obtained) - float(expected)) if abs_err is None else float(abs_err)
    atol = tol.atol(scale + _noise(noise))
    denom = scale if scale > 0 else 1.0
    return Comparison(
        status=_status(err, atol, scale, tol),
        lhs=float(obtained), rhs=float(expected), abs_err=err, rel_err=err / denom,
        slack=-err / denom, ratio=None, scale=scale, atol=atol,
    )


def compare_leq(lhs: float, rhs: float, scale: float, tol: Tolerance, noise: float = 0.0) -> Comparison:
    """Judge ``lhs <= rhs`` up to ``tol.atol(scale + noise)`` (``noise`` as in :func:`compare_close`).

    >>> compare_leq(1.0, 1.0, 1.0, Tolerance()).status      # equality is not a violation
    'holds'
    >>> compare_leq(1.0 + 1e-5, 1.0, 1.0, Tolerance()).status
    'violated'
    >>> compare_leq(1e-12, 0.0, 1e-12, Tolerance(), noise=1e6).status   # round-off of 1e6 swamps it
    'undecidable'
    """
    scale = _checked_scale(scale)
    lhs, rhs = float(lhs), float(rhs)
    excess = lhs - rhs
    atol = tol.atol(scale + _noise(noise))
    denom = scale if scale > 0 else 1.0
    ratio = lhs / rhs if rhs > 0 and math.isfinite(lhs) else None
    return Comparison(
        status=_status(excess, atol, scale, tol),
        lhs=lhs, rhs=rhs, abs_err=max(excess, 0.0) if math.isfinite(excess) else math.inf,
        rel_err=max(excess, 0.0) / denom if math.isfinite(excess) else math.inf,
        slack=-excess / denom if math.isfinite(excess) else -math.inf, ratio=ratio,
        scale=scale, atol=atol,
    )


def compare_nonfinite(obtained: float, expected: float) -> Comparison:
    """The formula under test is not finite (a division by zero, an overflow, the square root of a negative
    number) where the oracle is: a violation whatever the tolerance, with slack ``-inf``.

    The engine takes a non-finite side only from this comparison (it is otherwise a defect of the claim's
    code); the claim's re-check must still confirm it.

    >>> compare_nonfinite(float("nan"), 0.0).status
    'violated'
    """
    obtained, expected = float(obtained), float(expected)
    if not math.isfinite(expected) or math.isfinite(obtained):
        raise InvalidInputError(f"compare_nonfinite({obtained!r}, {expected!r}) needs a non-finite obtained value "
                                "and a finite expected one; compare finite values with compare_close.")
    return Comparison(status="violated", lhs=obtained, rhs=expected, abs_err=math.inf, rel_err=math.inf,
                      slack=-math.inf, ratio=None, scale=abs(expected), atol=0.0)
