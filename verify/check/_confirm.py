"""Confirm a shrunk violation before it counts as a counterexample, and say which re-check ran.

A claim's own ``recheck`` (another oracle, higher precision) runs on the case in float64; a claim without
one was judged against its measured round-off (:mod:`verify.check._roundoff`) when the violation was seen.
Either way the counterexample must come back from its JSON (``--replay``) still violated, or say why not.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from verify.check._case_search import NumericOutcome, _describe_exception, _malformed, _Search, _short
from verify.claims import CheckContext, Claim, to_plain
from verify.claims.usercode import USER_FAILURES, describe_failure

__all__ = ["confirm", "recheck_name"]


def confirm(claim: Claim, ctx: CheckContext, state: _Search) -> NumericOutcome:
    """Re-check the shrunk counterexample before calling it one, and say which re-check ran.

    A claim's own ``recheck`` (another oracle, higher precision) runs in float64; a claim without one was
    already judged against its measured round-off (:mod:`verify.check._roundoff`) when the violation was seen.
    """
    case, result = state.failure  # type: ignore[misc]
    evidence = state.evidence()
    counterexample = {"case": to_plain(case), "comparison": to_plain(result.comparison),
                      "tags": list(result.tags), "details": to_plain(result.details),
                      "found_at_case": state.found_at}
    if claim.recheck is None:
        assert state.roundoff is not None
        # the comparison block that reports read, with the round-off measurement beside it
        roundoff = state.roundoff
        counterexample["recheck"] = {**to_plain(result.comparison), **roundoff.to_json()}
        if roundoff.ill_conditioned:
            counterexample["recheck"]["status"] = "undecidable"
            return NumericOutcome("unconfirmed", evidence, counterexample, message=(
                f"A violation ({roundoff.violation:.3g}) could not be told from round-off: the re-check "
                f"'{roundoff.to_json()['name']}' re-ran the check with every rounding perturbed by 2 ulps and the "
                f"result moved by {roundoff.spread:.3g}, {roundoff.amplification:.2g} times the perturbation of "
                "the largest value computed: the check amplifies rounding (finite differences, high "
                "derivatives, an ill-conditioned solve) too much for this re-check. Give the claim a "
                "recheck= (another oracle, or mpmath) to decide it."))
        recheck = roundoff.describe()
    else:
        name = recheck_name(claim.recheck)
        ctx64 = replace(ctx, dtype="float64", records={})  # a re-check keeps no records for the figures
        try:
            again = claim.recheck(case, ctx64)
        except USER_FAILURES as exc:
            return NumericOutcome("error", evidence, message=(
                f"The re-check '{name}' of a counterexample failed: {_describe_exception(exc)}."))
        problem = _malformed(again)
        if problem:
            return NumericOutcome("error", evidence, message=f"The re-check '{name}' of a counterexample failed: "
                                                             f"{problem}.")
        counterexample["recheck"] = {"name": name, **to_plain(again.comparison)}
        if again.comparison.status != "violated":
            return NumericOutcome("unconfirmed", evidence, counterexample, message=(
                f"A violation in the search did not survive the independent re-check '{name}' "
                f"(re-check status {again.comparison.status}, slack {again.comparison.slack:.3g}): "
                "it is round-off, not a counterexample."))
        c = again.comparison
        recheck = f"independent re-check '{name}' (" + (
            f"the formula under test gives {c.lhs} where the oracle gives {c.rhs:.6g}" if c.slack == -float("inf")
            else f"slack {c.slack:.3g}") + ")"
    why = _replay_problem(claim, case, replace(ctx, dtype="float64"))
    if why:
        counterexample["replayable"] = False
        counterexample["not_replayable_because"] = why
        return NumericOutcome("counterexample", evidence, counterexample, recheck=recheck, message=(
            f"This counterexample cannot be replayed from the JSON: {why}."))
    return NumericOutcome("counterexample", evidence, counterexample, recheck=recheck)


def recheck_name(fn: Any) -> str:
    """A re-check's name for messages: ``hessian_recheck`` for the closure ``hessian_recheck.<locals>.recheck``.

    >>> def mpmath_recheck():
    ...     def recheck(case, ctx): ...
    ...     return recheck
    >>> recheck_name(mpmath_recheck())
    'mpmath_recheck'
    """
    import functools

    while isinstance(fn, functools.partial):
        fn = fn.func
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or type(fn).__name__
    parts = qualname.split(".<locals>.")
    # a factory's closure is named after the factory; any other function after itself
    return parts[-2] if len(parts) > 1 and parts[-1] in ("recheck", "check", "inner", "wrapper") else parts[-1]


def _replay_problem(claim: Claim, case: Any, ctx: CheckContext) -> str:
    """Why ``--replay`` would not reproduce the counterexample ('' when it does).

    The case goes through what ``--json`` and ``--replay`` do to it (JSON out, the claim's decoder in),
    and the check runs on what comes back: it must raise nothing and still be ``violated``.
    """
    from verify.strategies import decode_case_json

    decode = claim.decode_case or decode_case_json
    plain = to_plain(case)
    rebuilt: Any = plain
    try:
        rebuilt = decode(json.loads(json.dumps(plain)))
        again = claim.check(rebuilt, ctx)  # type: ignore[misc]
        problem = _malformed(again)
    except USER_FAILURES as exc:
        problem = describe_failure(exc)
    if not problem and again.comparison.status == "violated":
        return ""
    what = (f"a {type(case).__name__} case comes back from its JSON {_short(plain, 80)} as a "
            f"{type(rebuilt).__name__}" if type(rebuilt) is not type(case) else "the case rebuilt from its JSON")
    if problem:
        return (f"{what}, and the check on it fails ({problem}); give the claim decode_case= that rebuilds "
                "the case from its JSON (or make its class a verify.case_type)")
    return (f"{what} is no longer a counterexample (status {again.comparison.status}): its JSON does not "
            "hold the case exactly; give the claim decode_case= that rebuilds it")
