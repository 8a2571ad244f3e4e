"""Claim, the parts of its evidence, and the Verdict it ends in (plain Python).

A :class:`Claim` bundles a statement with up to three ways of checking it: a
symbolic derivation (returns :class:`SymbolicResult`), a case generator (a
Hypothesis strategy factory) with a per-case numeric check (returns
:class:`CaseResult`), and an independent re-check used before a counterexample
is reported. :func:`verify.check.run_claim` runs it and returns a :class:`Verdict`.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from verify.claims.tolerance import Comparison
from verify.errors import ClaimDefinitionError

__all__ = [
    "CaseResult",
    "CheckContext",
    "Claim",
    "Expectation",
    "SymbolicResult",
    "SymbolicStep",
    "UnloadableClaim",
    "VerdictKind",
]

#: letters, digits and dashes, neither first nor last; one letter or digit is an id too
_CLAIM_ID = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")


class Expectation(str, Enum):
    """What a claim expects of itself: it holds, or it is a known mistake (refuted)."""

    HOLDS = "holds"
    REFUTED = "refuted"


class VerdictKind(str, Enum):
    """The verdicts (docs/architecture.md, "Verdicts"); ``not-applicable`` only on regularizer cards."""

    PROVED = "proved"
    VERIFIED = "verified"
    REFUTED = "refuted"
    ERROR = "error"
    INCONCLUSIVE = "inconclusive"
    #: a regularizer card's check whose hypotheses the regularizer or the model does not meet (C4 on a
    #: non-convex R or J): said plainly, distinct from a check that ran and could not decide
    NOT_APPLICABLE = "not-applicable"

    def matches(self, expected: Expectation) -> bool:
        """``inconclusive``, ``not-applicable`` and ``error`` never match an expectation."""
        if expected is Expectation.HOLDS:
            return self in (VerdictKind.PROVED, VerdictKind.VERIFIED)
        return self is VerdictKind.REFUTED


@dataclass(frozen=True)
class CheckContext:
    """Where and how the numeric part runs; handed to every case check.

    Attributes:
        device: ``cpu`` or ``cuda[:N]`` (already resolved from ``auto``).
        dtype: ``float64`` (default) or ``float32``.
        seed: the run's seed.
        examples: the number of generated cases.
        records: plain data the claim's check keeps about the run for its figures, by
            :meth:`record` (a search split into shards, on one machine or many, merges them).
    """

    device: str = "cpu"
    dtype: str = "float64"
    seed: int = 0
    examples: int = 100
    records: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False, repr=False)

    def record(self, namespace: str, key: str, value: Any) -> None:
        """Keep ``value`` (plain data: JSON types) under ``key`` for this run; a key's first value stays.

        Shards merge their records in shard order with the same rule, so a figure made from
        :attr:`records` is the same however the search was split or where it ran.
        """
        self.records.setdefault(namespace, {}).setdefault(key, value)


@dataclass
class SymbolicStep:
    """One step of a derivation, with how it was established.

    Attributes:
        name: short identifier, e.g. ``entry-form``.
        statement: LaTeX of what the step establishes.
        status: ``proved`` (symbolically, plus exact spot checks), ``checked``
            (numerically only), ``refuted`` (an exact counterexample was found),
            ``failed`` (SymPy could not establish it) or ``skipped``.
        sizes: ``general`` or the concrete sizes it was proved for.
        detail: how (the SymPy route, the spot checks, the counterexample).
        elapsed_s: seconds spent.
    """

    name: str
    statement: str
    status: str
    sizes: str = "general"
    detail: str = ""
    elapsed_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "statement": self.statement, "status": self.status,
            "sizes": self.sizes, "detail": self.detail, "elapsed_s": self.elapsed_s,
        }


@dataclass
class SymbolicResult:
    """The outcome of a claim's symbolic part.

    ``proved`` is true iff every step has status ``proved``.
    """

    steps: list[SymbolicStep] = field(default_factory=list)
    closed_form: Any = None  # e.g. a SymPy expression the numeric part lambdifies

    @property
    def proved(self) -> bool:
        return bool(self.steps) and all(s.status == "proved" for s in self.steps)

    @property
    def failed(self) -> list[SymbolicStep]:
        return [s for s in self.steps if s.status == "failed"]

    @property
    def refuted(self) -> list[SymbolicStep]:
        return [s for s in self.steps if s.status == "refuted"]

    @property
    def sizes(self) -> str:
        sizes = sorted({s.sizes for s in self.steps})
        return "general" if sizes == ["general"] else "; ".join(sizes)

    def to_json(self) -> dict[str, Any]:
        return {
            "proved": self.proved, "sizes": self.sizes,
            "steps": [s.to_json() for s in self.steps],
        }


@dataclass
class CaseResult:
    """What a claim's numeric check says about one generated case.

    Attributes:
        comparison: the judged relation (from :func:`compare_close`/:func:`compare_leq`).
        tags: boundary cases this case hits (``width-1``, ``tied-logits`` …).
        details: extra plain numbers worth recording for the worst case.
        tolerance: how the tolerance was set (``Tolerance.describe()``).
    """

    comparison: Comparison
    tags: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    tolerance: str = ""


CaseCheck = Callable[[Any, CheckContext], CaseResult]


@dataclass
class Claim:
    """A statement about deep-learning math together with how to check it.

    Attributes:
        id: dash-separated identifier of letters and digits (``softmax-ce-hessian``).
        statement: the statement in LaTeX.
        source: where it comes from (seed file, paper, book section).
        expected: ``holds`` or ``refuted`` (a known mistake of a source document).
        hypotheses: each hypothesis in LaTeX or words.
        symbolic: ``() -> SymbolicResult``, or None.
        cases: ``() -> hypothesis strategy`` of cases, or None.
        check: ``(case, ctx) -> CaseResult``, or None.
        recheck: independent re-evaluation ``(case, ctx) -> CaseResult`` run on a
            counterexample before the verdict may be ``refuted`` (another autograd
            route, higher precision). Defaults to ``check`` in float64.
        relation: ``equality`` or ``inequality`` (what the evidence reports).
        decode_case: ``json -> case`` for replaying a JSON counterexample (default:
            :func:`verify.decode_case_json`: registered case types by ``type``, number lists as arrays).
        notes: remarks carried into the evidence.
        title: a short human title.
        figures: ``(ctx) -> list[Figure]`` computed once after the numeric search
            (error-vs-r curves, penalty paths, spectra …); stored in
            ``verdict.numeric["figures"]`` and drawn by the report writer.
        family: the key of the family package it belongs to (set by :meth:`Family.claim`), or ``""``.
    """

    id: str
    statement: str
    source: str
    expected: Expectation | str = Expectation.HOLDS
    hypotheses: tuple[str, ...] = ()
    symbolic: Callable[[], SymbolicResult] | None = None
    cases: Callable[[], Any] | None = None
    check: CaseCheck | None = None
    recheck: CaseCheck | None = None
    relation: str = "equality"
    decode_case: Callable[[Mapping[str, Any]], Any] | None = None
    notes: tuple[str, ...] = ()
    title: str = ""
    figures: Callable[[CheckContext], Any] | None = None
    family: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _CLAIM_ID.match(self.id):
            raise ClaimDefinitionError(
                f"Got claim id {self.id!r}; an id is letters, digits and dashes (no spaces, no dash first or "
                "last), e.g. 'softmax-ce-hessian' or 'c'."
            )
        try:
            self.expected = Expectation(self.expected)
        except ValueError:
            raise ClaimDefinitionError(
                f"Claim {self.id!r}: got expected={self.expected!r}, but valid values are "
                "'holds' and 'refuted'."
            ) from None
        if self.relation not in ("equality", "inequality"):
            raise ClaimDefinitionError(
                f"Claim {self.id!r}: got relation={self.relation!r}, but valid values are "
                "'equality' and 'inequality'."
            )
        if self.symbolic is None and self.check is None:
            raise ClaimDefinitionError(
                f"Claim {self.id!r} has neither a symbolic part nor a numeric check: "
                "give it symbolic=... or cases=... and check=...."
            )
        if (self.check is None) != (self.cases is None):
            raise ClaimDefinitionError(
                f"Claim {self.id!r}: a numeric check needs both cases= (a strategy factory) "
                "and check= (a per-case function); got only one of them."
            )
        for name in ("symbolic", "cases", "check", "recheck", "decode_case", "figures"):
            value = getattr(self, name)
            if value is not None and not callable(value):
                raise ClaimDefinitionError(
                    f"Claim {self.id!r}: {name}= must be callable, got {type(value).__name__}."
                )
        needs = _required_arguments(self.cases) if self.cases is not None else []
        if needs:
            name = getattr(self.cases, "__name__", "the function")
            raise ClaimDefinitionError(
                f"Claim {self.id!r}: cases={name} needs the argument(s) {', '.join(needs)}, but it is called with "
                f"none. Fix: pass the strategy, i.e. call it with its arguments (cases={name}(...)).")
        self.hypotheses = tuple(self.hypotheses)
        self.notes = tuple(self.notes)


def _required_arguments(fn: Callable[..., Any]) -> list[str]:
    """The parameters ``fn`` cannot be called without (none when its signature cannot be read)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.default is inspect.Parameter.empty
            and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]


@dataclass
class UnloadableClaim(Claim):
    """Stands for a claim that could not be loaded: its file called ``sys.exit`` when it was imported.

    :func:`verify.run_claim` turns it into an ``error`` verdict with :attr:`reason` (which names the
    call), so that the other claims of the run still run and their JSON is written.
    """

    reason: str = ""
