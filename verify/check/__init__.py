"""Run a claim: symbolic part, numeric part over generated cases, worst-case search → Verdict.

The verdict rules (docs/architecture.md) live in :func:`combine`, written once:

* a numeric counterexample that survives the independent re-check ⇒ ``refuted``,
  whatever the symbolic part said (a contradicting symbolic "proof" is reported);
  an exact symbolic counterexample (a step with status ``refuted``) ⇒ ``refuted``;
* symbolic proof and numeric agreement ⇒ ``proved``; numeric agreement alone ⇒ ``verified``;
* an exception (or a ``sys.exit``) or non-finite value in the claim's own code ⇒ ``error``;
  numbers that cannot decide ⇒ ``inconclusive``.

This package's entry points are :func:`run_claim`, :func:`run_claims` and :func:`replay`;
the numeric search over generated cases, and the :class:`NumericOutcome` it yields, are in
:mod:`verify.check._case_search`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from verify.check._case_search import NumericOutcome, _describe_exception, _malformed, _search, case_strategy
from verify.check._shards import sharded_search
from verify.check._symbolic_cache import cached_symbolic
from verify.claims import (
    CaseResult,
    CheckContext,
    Claim,
    SymbolicResult,
    Verdict,
    VerdictKind,
    claim_ref,
    versions,
)
from verify.claims.evidence import repetition_note, roundoff_note, within_tolerance_note
from verify.claims.model import UnloadableClaim
from verify.claims.usercode import USER_FAILURES
from verify.errors import InvalidInputError, UserCodeError

__all__ = ["NumericOutcome", "assemble_verdict", "check_cases", "combine", "figures_part", "replay", "run_claim",
           "run_claims", "symbolic_part"]


def combine(symbolic: SymbolicResult | None, numeric: NumericOutcome) -> tuple[VerdictKind, str]:
    """The verdict rule: combine the symbolic and numeric parts of one claim.

    >>> combine(None, NumericOutcome("agree"))[0].value
    'verified'
    >>> combine(None, NumericOutcome("counterexample"))[0].value
    'refuted'
    """
    proved = symbolic is not None and symbolic.proved
    sym_refuted = symbolic.refuted if symbolic is not None else []
    if numeric.status == "counterexample":
        note = (" The symbolic part claimed a proof: the two parts disagree, which is a bug "
                "in the derivation or in the numeric check." if proved else "")
        replay_note = f" {numeric.message}" if numeric.message else ""  # e.g. why it cannot be replayed
        survived = numeric.recheck or "independent re-check"
        return VerdictKind.REFUTED, f"A counterexample survived the {survived}." + note + replay_note
    if sym_refuted:
        names = ", ".join(s.name for s in sym_refuted)
        return VerdictKind.REFUTED, f"Exact symbolic counterexample in step(s): {names}."
    if numeric.status == "error":
        return VerdictKind.ERROR, numeric.message
    if numeric.status in ("undecidable", "unconfirmed"):
        return VerdictKind.INCONCLUSIVE, numeric.message
    if numeric.status == "agree":
        if proved:
            return VerdictKind.PROVED, f"Proved symbolically ({symbolic.sizes}) and checked numerically."
        msg = "No counterexample in the generated cases."
        if symbolic is not None and not proved:
            open_steps = [s.name for s in symbolic.steps if s.status != "proved"]
            msg += f" Symbolic steps not proved: {', '.join(open_steps) or 'none given'}."
        return VerdictKind.VERIFIED, msg
    if numeric.status == "none":
        if proved:
            return VerdictKind.PROVED, f"Proved symbolically ({symbolic.sizes})."
        return VerdictKind.INCONCLUSIVE, "The symbolic derivation is incomplete and there is no numeric check."
    raise InvalidInputError(f"Unknown numeric status {numeric.status!r}.")


def run_claim(
    claim: Claim,
    *,
    examples: int = 100,
    seed: int = 0,
    device: str = "auto",
    dtype: str = "float64",
    threads: int = 1,
    time_limit: float | None = None,
    shards: int | None = None,
) -> Verdict:
    """Check one claim and return its Verdict (never raises for a failing claim).

    Args:
        claim: the claim to check.
        examples: number of generated cases for the numeric part.
        seed: seed of the case search (the same seed gives the same JSON, timings aside).
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        dtype: ``float64`` (default) or ``float32``.
        threads: torch's intra-op thread count, fixed and recorded (reduction order
            depends on it).
        time_limit: seconds for the numeric search; the rest is skipped and the
            evidence says it was cut short.
        shards: split the search into this many shards (:mod:`verify.check._shards`), run in order and
            merged; the same seed, shards and examples give the same JSON on any machine. ``None``: one
            search, as always (the JSON has no ``shards`` entry).

    Raises:
        InvalidInputError: for a bad device, dtype, example count or thread count.
    """
    from verify.numeric import blas_threads, dtype_name, resolve_device, resolve_dtype, set_torch_threads

    if not isinstance(examples, int) or examples < 1:
        raise InvalidInputError(f"Got examples={examples!r}; it must be an integer >= 1.")
    if not isinstance(threads, int) or threads < 1:
        raise InvalidInputError(f"Got threads={threads!r}; it must be an integer >= 1.")
    if shards is not None:
        from verify.check._shards import shard_budgets

        shard_budgets(examples, shards)  # a bad shard count is a usage error before any work
    dev = str(resolve_device(device))
    dt = dtype_name(resolve_dtype(dtype))
    set_torch_threads(threads)
    ctx = CheckContext(device=dev, dtype=dt, seed=int(seed), examples=examples)
    start = time.monotonic()
    with blas_threads(threads) as blas:
        symbolic, crash = symbolic_part(claim)
        numeric = NumericOutcome("none")
        if not crash and claim.check is not None:
            deadline = None if time_limit is None else time.monotonic() + float(time_limit)
            numeric = (_search(claim, ctx, deadline) if shards is None
                       else sharded_search(claim, ctx, deadline, shards))
        if not crash and numeric.status != "error":
            crash = figures_part(claim, ctx, numeric)
    return assemble_verdict(claim, ctx, symbolic, numeric, crash, time_limit=time_limit, threads=threads,
                            blas=blas, elapsed_s=time.monotonic() - start)


def symbolic_part(claim: Claim) -> tuple[SymbolicResult | None, str]:
    """The claim's symbolic result (cached on disk) and, when its code failed, why ('' otherwise)."""
    if isinstance(claim, UnloadableClaim):
        return None, claim.reason
    if claim.symbolic is None:
        return None, ""
    try:
        symbolic = cached_symbolic(claim)
    except USER_FAILURES as exc:
        return None, f"The symbolic part failed: {_describe_exception(exc)}."
    if not isinstance(symbolic, SymbolicResult):
        return None, f"the symbolic part returned {type(symbolic).__name__}, expected a SymbolicResult"
    return symbolic, ""


def assemble_verdict(claim: Claim, ctx: CheckContext, symbolic: SymbolicResult | None, numeric: NumericOutcome,
                     crash: str, *, time_limit: float | None, threads: int, blas: int | None,
                     elapsed_s: float) -> Verdict:
    """The verdict from the claim's parts (:func:`combine`, the time limit's rule, the evidence's notes)."""
    kind, message = (VerdictKind.ERROR, crash) if crash else combine(symbolic, numeric)
    if numeric.evidence and numeric.evidence.get("cut_short"):
        kind, message = _cut_short(kind, message, numeric.evidence, time_limit, ctx.examples)
    if kind in (VerdictKind.VERIFIED, VerdictKind.PROVED) and numeric.evidence:
        message += (within_tolerance_note(numeric.evidence) + roundoff_note(numeric.evidence)
                    + repetition_note(numeric.evidence))
    return Verdict(
        claim=claim.id, verdict=kind, expected=claim.expected, statement=claim.statement,
        source=claim.source, message=message, title=claim.title, hypotheses=list(claim.hypotheses),
        symbolic=symbolic.to_json() if symbolic is not None else None,
        numeric=numeric.evidence, counterexample=numeric.counterexample,
        seed=ctx.seed, device=ctx.device, dtype=ctx.dtype, torch_threads=threads, blas_threads=blas,
        versions=versions(), elapsed_s=round(elapsed_s, 3), ref=claim_ref(claim),
    )


def _cut_short(kind: VerdictKind, message: str, evidence: dict[str, Any], time_limit: float | None,
               examples: int) -> tuple[VerdictKind, str]:
    """A search the time limit cut short is at most ``inconclusive``: an unfinished search proves nothing.

    A counterexample it found is still one (``refuted`` stays), and an ``error`` stays an error.
    """
    decided = evidence.get("examples", 0)
    note = (f" Cut short by the time limit ({time_limit:g} s): {decided} of {examples} requested cases were "
            "decided.")
    if kind in (VerdictKind.VERIFIED, VerdictKind.PROVED):
        return VerdictKind.INCONCLUSIVE, (f"No counterexample in the {decided} cases decided before the time "
                                          f"limit ({time_limit:g} s) of the {examples} requested: an unfinished "
                                          "search cannot verify the claim. Raise --time-limit or lower --examples.")
    return kind, message + note


def figures_part(claim: Claim, ctx: CheckContext, numeric: NumericOutcome) -> str:
    """Compute the claim's figures into ``numeric["figures"]``; a failure is the claim's bug (returned)."""
    from verify.claims import Figure

    if claim.figures is None:
        return ""
    try:
        figures = list(claim.figures(ctx))  # type: ignore[misc]
    except USER_FAILURES as exc:
        return f"The claim's figures failed: {_describe_exception(exc)}."
    bad = [type(f).__name__ for f in figures if not isinstance(f, Figure)]
    if bad:
        return f"The claim's figures returned {', '.join(bad)}; expected a list of verify.Figure."
    if numeric.evidence is None:
        numeric.evidence = {}
    numeric.evidence["figures"] = [f.to_json() for f in figures]
    return ""


def run_claims(claims: list[Claim], *, on_verdict: Callable[[Verdict], None] | None = None,
               on_start: Callable[[Claim], None] | None = None, **options: Any) -> list[Verdict]:
    """Run several claims in order; an interrupt returns the verdicts finished so far.

    Raises:
        ClaimDefinitionError: before any claim runs, when a claim's ``cases=`` gives no Hypothesis
            strategy (see :func:`check_cases`).
    """
    check_cases(claims)
    verdicts: list[Verdict] = []
    try:
        for claim in claims:
            if on_start is not None:
                on_start(claim)
            verdict = run_claim(claim, **options)
            verdicts.append(verdict)
            if on_verdict is not None:
                on_verdict(verdict)
    except KeyboardInterrupt:
        pass
    return verdicts


def check_cases(claims: list[Claim]) -> None:
    """Check, before a run, that every claim's ``cases=`` gives a Hypothesis strategy.

    Raises:
        ClaimDefinitionError: naming the first claim whose ``cases=`` does not, and the fix.
    """
    for claim in claims:
        if claim.cases is not None:
            case_strategy(claim)


def replay(claim: Claim, case_json: dict[str, Any], *, device: str = "cpu", dtype: str = "float64") -> CaseResult:
    """Re-run a claim's check on a counterexample from the JSON (``counterexample.case``).

    Raises:
        InvalidInputError: if the claim cannot decode cases, or the stored case is malformed.
        UserCodeError: decoding the case or the claim's check failed (raised, called ``sys.exit``, or
            returned no ``CaseResult``); the message says where.
    """
    from verify.numeric import dtype_name, resolve_device, resolve_dtype
    from verify.strategies import decode_case_json

    if isinstance(claim, UnloadableClaim):
        raise UserCodeError(claim.reason)
    if claim.check is None:
        raise InvalidInputError(f"Claim {claim.id!r} cannot replay cases: it has no numeric check.")
    ctx = CheckContext(device=str(resolve_device(device)), dtype=dtype_name(resolve_dtype(dtype)))
    decode = claim.decode_case or decode_case_json  # registered case types by "type", number lists as arrays
    try:
        case = decode(case_json)
    except InvalidInputError:  # the stored case is malformed, or its case type is not registered
        raise
    except USER_FAILURES as exc:
        raise UserCodeError(f"decoding the counterexample of {claim.id!r} failed: {_describe_exception(exc)}") \
            from None
    try:
        result = claim.check(case, ctx)
        problem = _malformed(result)
    except USER_FAILURES as exc:
        problem = _describe_exception(exc)
    if problem:
        raise UserCodeError(f"the check of {claim.id!r} failed on its replayed counterexample: {problem}")
    return result
