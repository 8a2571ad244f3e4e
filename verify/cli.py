"""Command line: ``verify list | check`` (contract in ARCHITECTURE.md).

Exit status of ``check``: 0 iff every verdict matches its claim's expectation;
1 if some verdict does not; 2 for bad usage (unknown claim, bad option).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from verify.errors import VerifyError

__all__ = ["main"]

EXIT_OK, EXIT_MISMATCH, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="verify", description=(
        "Symbolic-numeric verification of deep-learning math: derive each claim with SymPy, "
        "check it against torch autograd on generated cases, and report a verdict."))
    sub = parser.add_subparsers(dest="command", required=True)

    p_list = sub.add_parser("list", help="list the built-in claims")
    p_list.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p_check = sub.add_parser("check", help="check claims (default: every built-in claim)")
    p_check.add_argument("names", nargs="*", metavar="NAME",
                         help="claim id, FILE.py::NAME or package.module:NAME")
    p_check.add_argument("--examples", type=int, default=100, help="generated cases per claim (default 100)")
    p_check.add_argument("--seed", type=int, default=0, help="seed of the case search (default 0)")
    p_check.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p_check.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    p_check.add_argument("--threads", type=int, default=1,
                         help="torch threads, fixed and recorded (default 1; results depend on it)")
    p_check.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                         help="time limit of the numeric search per claim")
    p_check.add_argument("--json", dest="json_path", metavar="FILE", help="write the verdicts as JSON")
    p_check.add_argument("--replay", metavar="FILE",
                         help="replay the counterexample(s) in a verdicts JSON file instead of searching")
    p_check.add_argument("--quiet", action="store_true", help="no progress lines")
    return parser


def _cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    from verify.claims import all_claims

    claims = all_claims()
    if args.json:
        rows = [{"claim": c.id, "title": c.title, "expected": c.expected.value, "source": c.source,
                 "statement": c.statement, "symbolic": c.symbolic is not None, "numeric": c.check is not None}
                for c in claims]
        out.write(json.dumps(rows, indent=2) + "\n")
        return EXIT_OK
    width = max((len(c.id) for c in claims), default=5)
    for c in claims:
        out.write(f"{c.id:<{width}}  expects {c.expected.value:<7}  {c.title}\n")
    return EXIT_OK


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _cmd_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from verify.check import run_claims
    from verify.claims import dump_verdicts, resolve_claims

    claims = resolve_claims(args.names)
    if args.replay:
        return _replay(args, claims, out)
    total = len(claims)
    started: dict[str, float] = {}

    def on_start(claim: Any) -> None:
        started[claim.id] = time.monotonic()
        if not args.quiet:
            err.write(f"[{len(started)}/{total}] {claim.id} …\n")
            err.flush()

    def on_verdict(verdict: Any) -> None:
        mark = "ok " if verdict.matches_expectation else "BAD"
        out.write(f"{mark} {verdict.claim:<42} {verdict.verdict.value:<12} expected {verdict.expected.value:<7}"
                  f" {verdict.elapsed_s:7.1f}s\n")
        if not verdict.matches_expectation or verdict.verdict.value in ("error", "inconclusive"):
            out.write(f"    {verdict.message}\n")
        out.flush()

    verdicts = run_claims(claims, on_start=on_start, on_verdict=on_verdict, examples=args.examples,
                          seed=args.seed, device=args.device, dtype=args.dtype, threads=args.threads,
                          time_limit=args.time_limit)
    if args.json_path:
        _atomic_write(Path(args.json_path), dump_verdicts(verdicts) + "\n")
    matched = sum(v.matches_expectation for v in verdicts)
    interrupted = len(verdicts) < total
    out.write(f"{matched} of {len(verdicts)} verdicts match their expectation"
              + (f" (interrupted: {total - len(verdicts)} claims not run)" if interrupted else "") + "\n")
    return EXIT_OK if matched == len(verdicts) and not interrupted else EXIT_MISMATCH


def _replay(args: argparse.Namespace, claims: list[Any], out: TextIO) -> int:
    from verify.check import replay
    from verify.claims import load_verdicts

    verdicts = {v.claim: v for v in load_verdicts(Path(args.replay).read_text(encoding="utf-8"))}
    status = EXIT_OK
    for claim in claims:
        verdict = verdicts.get(claim.id)
        if verdict is None or not verdict.counterexample:
            out.write(f"{claim.id}: no counterexample in {args.replay}\n")
            continue
        result = replay(claim, verdict.counterexample["case"], device=args.device, dtype=args.dtype)
        c = result.comparison
        out.write(f"{claim.id}: replayed counterexample → {c.status} (lhs={c.lhs!r}, rhs={c.rhs!r}, "
                  f"abs_err={c.abs_err:.3g}, tolerance={c.atol:.3g})\n")
        if c.status != "violated":
            status = EXIT_MISMATCH
    return status


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Entry point of the ``verify`` console script; returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            return _cmd_list(args, out)
        return _cmd_check(args, out, err)
    except VerifyError as exc:
        err.write(f"verify: error: {exc}\n")
        return EXIT_USAGE
    except FileNotFoundError as exc:
        err.write(f"verify: error: {exc}\n")
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
