"""The Verdict a claim ends in, and its JSON form (the contract of docs/architecture.md).

The JSON of a verdict is deterministic for a given seed, timings aside:
``elapsed_s`` (and ``elapsed_s`` inside steps) are the only fields that vary.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from verify.claims.model import Expectation, VerdictKind
from verify.claims.replay import replay_line
from verify.errors import InvalidInputError

__all__ = ["SCHEMA_VERSION", "Verdict", "dump_verdicts", "load_verdicts", "to_plain"]

SCHEMA_VERSION = "1.0"


def to_plain(obj: Any) -> Any:
    """Turn a case, numpy array or dataclass into plain JSON values.

    Objects with a ``to_json()`` method use it; numpy arrays become nested lists;
    non-finite floats become the strings ``"nan"``, ``"inf"``, ``"-inf"``; a complex number becomes
    ``{"complex": [re, im]}`` (``decode_case_json`` reads both back). Anything else is written as its
    ``repr`` (a counterexample of such a case says that it cannot be replayed).
    """
    if hasattr(obj, "to_json") and callable(obj.to_json):
        return to_plain(obj.to_json())
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, float):
        if math.isnan(obj):
            return "nan"
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
        return obj
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, complex):
        return {"complex": [to_plain(obj.real), to_plain(obj.imag)]}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy arrays and scalars, torch tensors
        return to_plain(obj.tolist())
    return repr(obj)


@dataclass
class Verdict:
    """The outcome of checking one claim, with its evidence.

    Attributes mirror ``tests/data/verdicts.schema.json``: ``symbolic`` and
    ``numeric`` are plain dicts (or None), ``counterexample`` a replayable dict.
    """

    claim: str
    verdict: VerdictKind
    expected: Expectation
    statement: str = ""
    source: str = ""
    message: str = ""
    symbolic: dict[str, Any] | None = None
    numeric: dict[str, Any] | None = None
    counterexample: dict[str, Any] | None = None
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float64"
    torch_threads: int = 1
    blas_threads: int | None = None
    versions: dict[str, str] = field(default_factory=dict)
    elapsed_s: float = 0.0
    title: str = ""
    hypotheses: list[str] = field(default_factory=list)
    ref: str = ""

    def __post_init__(self) -> None:
        self.verdict = VerdictKind(self.verdict)
        self.expected = Expectation(self.expected)

    @property
    def matches_expectation(self) -> bool:
        return self.verdict.matches(self.expected)

    def summary(self) -> str:
        """One line: claim, verdict, expectation and the message."""
        mark = "ok" if self.matches_expectation else "MISMATCH"
        return (f"{self.claim}: {self.verdict.value} (expected {self.expected.value}) [{mark}]"
                + (f" {self.message}" if self.message else ""))

    def explain(self, name: str | None = None) -> str:
        """A readable account of a mismatch, in the style of pytest's ``approx`` failure text.

        What was expected, what came out, the worst numbers (obtained vs bound or oracle,
        error against tolerance and scale), the counterexample and how to replay it.
        """
        want = "hold" if self.expected is Expectation.HOLDS else "be refuted"
        lines = [f"claim {self.claim!r}: expected it to {want}, got {self.verdict.value}"]
        if self.statement:
            lines.append(f"  statement : {self.statement}")
        if self.message:
            lines.append(f"  why       : {self.message}")
        numeric = self.numeric or {}
        if numeric:
            lines.append(f"  cases     : {numeric.get('examples')} decided, {numeric.get('undecidable', 0)} "
                         f"undecidable; max abs err {_fmt(numeric.get('max_abs_err'))}, max rel err "
                         f"{_fmt(numeric.get('max_rel_err'))}; tolerance {numeric.get('tolerance')}")
        cx = self.counterexample or {}
        comparison = cx.get("comparison") or (numeric.get("worst_case") or {}).get("comparison")
        if comparison:
            relation = "lhs <= rhs" if (numeric.get("relation") or "") == "inequality" else "lhs == rhs"
            where = "counterexample" if cx else "tightest case"
            lines += [f"  {where} ({relation}):",
                      f"    obtained  lhs = {_fmt(comparison.get('lhs'))}",
                      f"    expected  rhs = {_fmt(comparison.get('rhs'))}",
                      f"    error       = {_fmt(comparison.get('abs_err'))} (relative to scale "
                      f"{_fmt(comparison.get('scale'))}: {_fmt(comparison.get('rel_err'))}; tolerance "
                      f"{_fmt(comparison.get('atol'))})"]
        if cx:
            case = json.dumps(cx.get("case"), separators=(",", ":"))
            lines.append(f"    case      = {case if len(case) <= 800 else case[:800] + ' …'}")
            lines.append(f"  replay    : {replay_line(self, name)}")
        lines.append(f"  run       : seed {self.seed}, {self.dtype} on {self.device}, {self.elapsed_s:.1f} s")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "claim": self.claim,
            "ref": self.ref or self.claim,
            "title": self.title,
            "verdict": self.verdict.value,
            "expected": self.expected.value,
            "matches_expectation": self.matches_expectation,
            "statement": self.statement,
            "hypotheses": list(self.hypotheses),
            "source": self.source,
            "message": self.message,
            "symbolic": to_plain(self.symbolic),
            "numeric": to_plain(self.numeric),
            "counterexample": to_plain(self.counterexample),
            "seed": self.seed,
            "device": self.device,
            "dtype": self.dtype,
            "torch_threads": self.torch_threads,
            "blas_threads": self.blas_threads,
            "versions": dict(self.versions),
            "elapsed_s": self.elapsed_s,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Verdict:
        """Inverse of :meth:`to_json` (extra keys are ignored)."""
        try:
            return cls(
                claim=data["claim"], verdict=data["verdict"], expected=data["expected"],
                statement=data.get("statement", ""), source=data.get("source", ""),
                message=data.get("message", ""), symbolic=data.get("symbolic"),
                numeric=data.get("numeric"), counterexample=data.get("counterexample"),
                seed=int(data.get("seed", 0)), device=data.get("device", "cpu"),
                dtype=data.get("dtype", "float64"), torch_threads=int(data.get("torch_threads", 1)),
                blas_threads=None if data.get("blas_threads") is None else int(data["blas_threads"]),
                versions=dict(data.get("versions", {})), elapsed_s=float(data.get("elapsed_s", 0.0)),
                title=data.get("title", ""), hypotheses=list(data.get("hypotheses", [])),
                ref=str(data.get("ref") or ""),
            )
        except (KeyError, ValueError) as exc:
            raise InvalidInputError(
                f"Not a verdict: {exc!s}. A verdict needs at least 'claim', 'verdict' "
                "(proved/verified/refuted/error/inconclusive/not-applicable) and 'expected' (holds/refuted)."
            ) from None


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "n/a" if value is None else str(value)


def dump_verdicts(verdicts: Iterable[Verdict], *, interrupted: bool = False) -> str:
    """Serialize verdicts as the ``{"schema_version", "verdicts": [...]}`` document; ``interrupted``
    adds ``"interrupted": true`` (the partial results of an interrupted run)."""
    doc = {"schema_version": SCHEMA_VERSION, **({"interrupted": True} if interrupted else {}),
           "verdicts": [v.to_json() for v in verdicts]}
    return json.dumps(doc, indent=2, sort_keys=False, allow_nan=False)


def load_verdicts(text: str) -> list[Verdict]:
    """Parse what :func:`dump_verdicts` wrote."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"Not JSON: {exc}. Pass the file `verify check --json` wrote.") from None
    if not isinstance(doc, dict) or "verdicts" not in doc:
        raise InvalidInputError("Not a verdicts document: expected an object with a 'verdicts' list.")
    return [Verdict.from_json(v) for v in doc["verdicts"]]
