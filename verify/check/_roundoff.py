"""The round-off re-check: is a violation larger than the round-off the check itself is subject to?

A claim without a re-check of its own (a user claim) cannot be re-checked by running the same code
again: that reproduces the same rounding. Instead the check is re-run on *variants* and the spread of
the violation across them measures how much of it round-off can explain:

* **noisy arithmetic** (Monte Carlo arithmetic, Parker 1997; the idea behind Verificarlo and CADNA):
  every rounding torch operation's result is multiplied by ``1 + u`` with ``|u| <= 2`` ulps of its
  dtype (a seeded draw per run), so a cancellation such as ``1 - tanh(x)**2`` near saturation shows
  the size of its error. Exact operations (views, indexing, max, abs, comparisons, constructors) are
  left alone, and a relative change keeps exact zeros, ties of equal inputs and integer results;
* **ulp-scaled cases**: every float of the case is multiplied by ``1 + k * 2**-52`` (one common factor:
  ties, symmetry, zeros and rank are kept) for ``k = ±1, ±16, ±256, ...`` up to the first ``k`` that
  changes both computed sides (a flat function such as ``tanh`` at 8 needs ``k = 65536``) or ``2**32``;
  this reaches the round-off of code the noisy arithmetic cannot see (``math``, numpy);
* the check once more as it is (a nondeterministic check shows up as spread).

The spread is the largest change of the violation over the variants. The violation is confirmed when
every variant is still violated and its size beyond the tolerance exceeds :data:`SPREAD_FACTOR` times
the spread; otherwise it is within round-off.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from verify.check._noisy import NOISE_ULPS, NoisyArithmetic
from verify.claims import CaseResult, CheckContext, Claim
from verify.claims.usercode import USER_FAILURES

__all__ = ["ROUNDOFF_RECHECK", "RoundoffCheck", "roundoff_check"]

#: The name the messages and the JSON give this re-check.
ROUNDOFF_RECHECK = "round-off sensitivity"
#: A violation counts when it exceeds this many times the measured spread.
SPREAD_FACTOR = 4.0
#: Noisy-arithmetic runs.
NOISY_RUNS = 6
#: Beyond this amplification of the noise (spread over the perturbation of the largest value handled), the
#: noisy runs do not measure round-off: the check relies on rounding being the same each time (finite
#: differences of a function evaluated twice, high derivatives), or is too ill-conditioned to tell. A
#: violation there is neither confirmed nor dismissed: it is inconclusive.
AMPLIFICATION_LIMIT = 1e6
#: The ulp multiples the case is scaled by (each with both signs), smallest first, up to the first that
#: changes both computed sides.
CASE_ULPS = (1, 16, 256, 4096, 65536, 2**20, 2**24, 2**28, 2**32)

@dataclass
class RoundoffCheck:
    """The outcome of the round-off re-check of one violating case.

    Attributes:
        confirmed: the violation exceeds the measured round-off (and every variant is violated).
        violation: the size of the violation (``lhs - rhs`` for inequalities, ``|lhs - rhs|`` for identities).
        excess: how far it is beyond the tolerance.
        spread: the largest change of the violation across the variants.
        evaluations: how many variants ran; ``violated``: in how many the relation was still violated.
        failed: variants whose check raised or gave no result (not counted).
        kinds: how many variants of each kind ran.
        amplification: the noisy runs' spread over the noise they applied (see :data:`AMPLIFICATION_LIMIT`).
    """

    confirmed: bool
    violation: float
    excess: float
    spread: float
    evaluations: int
    violated: int
    failed: int
    kinds: dict[str, int]
    amplification: float = 0.0

    @property
    def ill_conditioned(self) -> bool:
        """The noisy runs blew the noise up by more than :data:`AMPLIFICATION_LIMIT`: no judgement possible."""
        return not self.confirmed and self.amplification > AMPLIFICATION_LIMIT

    def to_json(self) -> dict[str, Any]:
        return {"name": ROUNDOFF_RECHECK, "confirmed": self.confirmed, "violation": self.violation,
                "excess_over_tolerance": self.excess, "spread": self.spread, "spread_factor": SPREAD_FACTOR,
                "evaluations": self.evaluations, "violated_in": self.violated, "failed_variants": self.failed,
                "variants": dict(self.kinds), "noise_amplification": self.amplification,
                "ill_conditioned": self.ill_conditioned}

    def describe(self) -> str:
        """One sentence for the verdict's message."""
        verdict = "exceeds" if self.confirmed else "does not exceed"
        kinds = ", ".join(f"{n} {what}" for what, n in self.kinds.items() if n)
        return (f"re-check '{ROUNDOFF_RECHECK}': {self.evaluations} re-evaluations ({kinds}); the violation "
                f"{self.violation:.3g} ({self.excess:.3g} beyond the tolerance) {verdict} {SPREAD_FACTOR:g}x the "
                f"measured round-off spread {self.spread:.3g}; still violated in {self.violated} of "
                f"{self.evaluations}")


def roundoff_check(claim: Claim, case: Any, ctx: CheckContext, first: CaseResult) -> RoundoffCheck:
    """Re-run ``claim.check`` on round-off variants of ``case`` and judge ``first``'s violation against them."""
    kinds = {"repeat": 1, "with noisy arithmetic": NOISY_RUNS, "on ulp-scaled cases": 0}
    plain = [_run(claim, case, ctx)]
    largest = 0.0
    for run in range(NOISY_RUNS):
        with NoisyArithmetic(seed=run) as noisy:
            plain.append(_run(claim, case, ctx))
        largest = max(largest, noisy.largest)
    pairs: list[tuple[CaseResult | None, CaseResult | None]] = []
    for k in CASE_ULPS:
        up, down = (scale_floats(case, 1.0 + sign * k * 2.0**-52) for sign in (1, -1))
        if up is None or down is None:
            break
        pairs.append((_run(claim, up, ctx), _run(claim, down, ctx)))
        kinds["on ulp-scaled cases"] += 2
        if _both_moved(first, pairs[-1]):
            break
    checked = _judge(claim.relation, first, plain, pairs, kinds)
    checked.amplification = _amplification(claim.relation, first, plain[1:], largest)
    return checked


def _amplification(relation: str, first: CaseResult, noisy: list[CaseResult | None], largest: float) -> float:
    """How many times the noisy runs' spread exceeds the perturbation they applied, relative to the largest
    value the computation handled (the sides and scale stand in where torch.func hides the intermediates)."""
    c0 = first.comparison
    spread = max((_change(relation, c0, r.comparison) for r in noisy if r is not None), default=0.0)
    size = max(largest, abs(c0.lhs), abs(c0.rhs), c0.scale)
    unit = NOISE_ULPS * 2.0**-52 * size
    return spread / unit if unit > 0 else (math.inf if spread > 0 else 0.0)


def _both_moved(first: CaseResult, pair: tuple[CaseResult | None, CaseResult | None]) -> bool:
    """Did the perturbations of one rung change both computed sides (or make the check fail)?

    A side that stays put is either flat there at this resolution (``tanh(8)``: go on scaling) or does not
    depend on the case (a constant: the ladder ends at its last rung).
    """
    if pair[0] is None or pair[1] is None:
        return True
    a = first.comparison
    return (any(r.comparison.lhs != a.lhs for r in pair)  # type: ignore[union-attr]
            and any(r.comparison.rhs != a.rhs for r in pair))  # type: ignore[union-attr]


def _judge(relation: str, first: CaseResult, plain: list[CaseResult | None],
           pairs: list[tuple[CaseResult | None, CaseResult | None]], kinds: dict[str, int]) -> RoundoffCheck:
    """The spread is the largest change of the violation over all variants.

    On a scaled case the change also holds the claim's own first-order change, ``k`` ulps times the
    violation's derivative, which is negligible on the rung where both sides first move (``k = 1`` unless a
    side is flat or constant there); a symmetric second difference would cancel it but also cancels the
    round-off of a side stepping along its rounding grid, so it is not used.
    """
    c0 = first.comparison
    done = [r for r in plain if r is not None] + [r for pair in pairs for r in pair if r is not None]
    spread = max((_change(relation, c0, r.comparison) for r in done), default=math.inf)
    violated = sum(r.comparison.status == "violated" for r in done)
    v0 = _violation(relation, c0)
    excess = v0 - c0.atol
    confirmed = bool(done) and violated == len(done) and excess > SPREAD_FACTOR * spread
    failed = sum(r is None for r in plain) + sum(r is None for pair in pairs for r in pair)
    return RoundoffCheck(confirmed, v0, excess, spread, len(done), violated, failed, kinds)


def _change(relation: str, c0: Any, c: Any) -> float:
    """How much the violation moved; for an identity both the signed difference at the worst entry and the
    worst error count (the worst entry may change, and a sign flip hides in ``|lhs - rhs|``)."""
    signed = abs((c.lhs - c.rhs) - (c0.lhs - c0.rhs))
    return signed if relation == "inequality" else max(signed, abs(c.abs_err - c0.abs_err))


def _violation(relation: str, c: Any) -> float:
    return c.lhs - c.rhs if relation == "inequality" else c.abs_err


def _run(claim: Claim, case: Any, ctx: CheckContext) -> CaseResult | None:
    from verify.check._case_search import _malformed

    try:
        result = claim.check(case, ctx)  # type: ignore[misc]
    except USER_FAILURES:  # a variant the check cannot take (e.g. a case type's own validation): not counted
        return None
    return None if _malformed(result) else result


# --------------------------------------------------------------------------- the variants


def scale_floats(case: Any, factor: float) -> Any:
    """``case`` with every float (Python, numpy, torch) multiplied by ``factor``; ``None`` if it cannot be rebuilt.

    Integers, booleans and strings are kept: labels, sizes and flags are not measurements.
    """
    try:
        return _scaled(case, factor)
    except (TypeError, ValueError, AttributeError, RuntimeError):
        return None
    except USER_FAILURES:  # a case type's own validation refused the scaled values
        return None


def _scaled(value: Any, factor: float) -> Any:
    import numpy as np
    import torch

    if isinstance(value, bool | int | str | bytes) or value is None:
        return value
    if isinstance(value, float):
        return value * factor
    if isinstance(value, np.ndarray):
        return value * factor if value.dtype.kind in "fc" else value
    if isinstance(value, np.floating | np.complexfloating):
        return type(value)(value * factor)
    if isinstance(value, torch.Tensor):
        return value * factor if (value.is_floating_point() or value.is_complex()) else value
    if isinstance(value, complex):
        return value * factor
    if isinstance(value, dict):
        return {k: _scaled(v, factor) for k, v in value.items()}
    if isinstance(value, tuple):
        items = [_scaled(v, factor) for v in value]
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    if isinstance(value, list):
        return [_scaled(v, factor) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _scaled(getattr(value, f.name), factor) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    raise TypeError(f"cannot scale a {type(value).__name__}")
