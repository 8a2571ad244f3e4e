"""Claims, verdicts, evidence, the registry and the tolerance model (plain Python, no torch/sympy)."""

from verify.claims.card import ReportCard
from verify.claims.environment import versions
from verify.claims.family import Family
from verify.claims.figure import Figure, Mark, Series
from verify.claims.model import (
    CaseResult,
    CheckContext,
    Claim,
    Expectation,
    SymbolicResult,
    SymbolicStep,
    VerdictKind,
)
from verify.claims.registry import (
    all_claims,
    claim_ref,
    get_claim,
    library_claims,
    load_builtin_claims,
    register,
    resolve_claims,
)
from verify.claims.replay import replay_commands, replay_line, run_options, verdict_ref
from verify.claims.tolerance import EPS, Comparison, Tolerance, compare_close, compare_leq, compare_nonfinite
from verify.claims.verdict import SCHEMA_VERSION, Verdict, dump_verdicts, load_verdicts, to_plain

__all__ = [
    "EPS",
    "SCHEMA_VERSION",
    "CaseResult",
    "CheckContext",
    "Claim",
    "Comparison",
    "Expectation",
    "Family",
    "Figure",
    "Mark",
    "ReportCard",
    "Series",
    "SymbolicResult",
    "SymbolicStep",
    "Tolerance",
    "Verdict",
    "VerdictKind",
    "all_claims",
    "claim_ref",
    "compare_close",
    "compare_leq",
    "compare_nonfinite",
    "dump_verdicts",
    "get_claim",
    "library_claims",
    "load_builtin_claims",
    "load_verdicts",
    "register",
    "replay_commands",
    "replay_line",
    "resolve_claims",
    "run_options",
    "to_plain",
    "verdict_ref",
    "versions",
]
