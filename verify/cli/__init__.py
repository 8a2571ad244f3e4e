"""Command line: ``verify list | check | report | regularizer`` (contract in docs/architecture.md).

Exit status of ``check`` and ``report``: 0 iff every verdict matches its claim's expectation;
1 if some verdict does not; of ``regularizer``: 0 iff no check was refuted or an error (``--strict``: and
none inconclusive or not applicable), else 1;
2 for bad usage (unknown claim or function, bad option, unreadable file, an output path that
cannot be written: checked before any claim runs); 130 (SIGINT) or 143 (SIGTERM) when interrupted:
the outputs named are left as they were and what finished is in their ``.partial`` siblings
(:mod:`verify.report.outputs`); 141 when stdout's reader left early (``| head``), outputs written.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from verify.cli._common import (
    EXIT_BROKEN_PIPE,
    EXIT_MISMATCH,
    EXIT_OK,
    EXIT_USAGE,
    exit_status,
    positive_float,
    positive_int,
    save_outputs_or_partial,
)
from verify.cli.regularizer import add_regularizer_parser, run_regularizer
from verify.errors import InvalidInputError, VerifyError

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="verify", description=(
        "Symbolic-numeric verification of deep-learning math: derive each claim with SymPy, "
        "check it against torch autograd on generated cases, and report a verdict."))
    sub = parser.add_subparsers(dest="command", required=True)

    p_list = sub.add_parser("list", help="list the built-in claims (or those of --library)")
    p_list.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _library_option(p_list)

    p_check = sub.add_parser("check", help="check claims (default: every built-in claim)")
    _claim_run_options(p_check)
    p_check.add_argument("--json", dest="json_path", metavar="FILE", help="write the verdicts as JSON")
    p_check.add_argument("--replay", metavar="FILE",
                         help="replay the counterexample(s) in a verdicts JSON file instead of searching")

    p_report = sub.add_parser("report", help="check claims and write the proof report (HTML, Markdown, JSON)")
    _claim_run_options(p_report)
    p_report.add_argument("--out", default="reports", metavar="DIR",
                          help="output folder (default reports/): index.html, one page per claim, verdicts.json")
    p_report.add_argument("--from", dest="from_json", metavar="FILE",
                          help="render the verdicts of an earlier `verify check --json FILE` run instead of "
                               "checking again")

    add_regularizer_parser(sub)
    return parser


def _library_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--library", action="append", default=[], metavar="PKG",
                   help="a claim library: a family package exporting CLAIMS, or a package of them (dotted name or "
                        "folder); its claims are listed/checked instead of the built-in ones; repeatable")


def _claim_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="*", metavar="NAME", help="claim id, FILE.py::NAME or package.module:NAME")
    _library_option(p)
    p.add_argument("--examples", type=positive_int, default=100, help="generated cases per claim (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the case search (default 0)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    p.add_argument("--threads", type=positive_int, default=1,
                   help="torch threads, fixed and recorded (default 1; results depend on it)")
    p.add_argument("--time-limit", type=positive_float, default=None, metavar="SECONDS",
                   help="time limit of the numeric search per claim")
    p.add_argument("--shards", type=positive_int, default=None, metavar="N",
                   help="split each claim's search into N shards, run in order and merged (the JSON records N; the "
                        "same seed, N and examples give the same verdict on any machine)")
    p.add_argument("--workers", type=positive_int, default=None, metavar="K",
                   help="run on a local Dask cluster of K worker processes (needs the 'dask' extra); each claim's "
                        "search in shards (--shards, default one per 1000 examples), claims concurrently")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on the Dask cluster at ADDRESS (e.g. tcp://host:8786), as --workers does")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


def _cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    from verify.claims import resolve_claims

    claims = resolve_claims([], args.library)
    if args.json:
        rows = [{"claim": c.id, "family": c.family, "title": c.title, "expected": c.expected.value, "source": c.source,
                 "statement": c.statement, "symbolic": c.symbolic is not None, "numeric": c.check is not None}
                for c in claims]
        out.write(json.dumps(rows, indent=2) + "\n")
        return EXIT_OK
    width = max((len(c.id) for c in claims), default=5)
    for c in claims:
        out.write(f"{c.id:<{width}}  expects {c.expected.value:<7}  {c.title}\n")
    return EXIT_OK


def _run_claims(args: argparse.Namespace, out: TextIO, err: TextIO) -> tuple[list[Any], int]:
    """Run the named claims with progress lines; returns (verdicts, number of claims asked for)."""
    from verify.check import run_claims
    from verify.claims import resolve_claims

    claims = resolve_claims(args.names, args.library)
    given = {c.id: n for c, n in zip(claims, args.names)} if args.names else {}
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
        if verdict.counterexample and not verdict.matches_expectation:
            out.write(_counterexample_text(verdict, given.get(verdict.claim) or verdict.ref or verdict.claim))
        out.flush()

    options = dict(examples=args.examples, seed=args.seed, device=args.device, dtype=args.dtype, threads=args.threads,
                   time_limit=args.time_limit, shards=args.shards)
    if args.workers is not None or args.scheduler is not None:
        from verify.cluster import run_claims_on_cluster

        verdicts = run_claims_on_cluster(claims, workers=args.workers, scheduler=args.scheduler,
                                         on_verdict=on_verdict, progress=None if args.quiet else err, **options)
    else:
        verdicts = run_claims(claims, on_start=on_start, on_verdict=on_verdict, **options)
    return verdicts, total


def _counterexample_text(verdict: Any, name: str) -> str:
    from verify.claims import replay_line

    cx = verdict.counterexample
    c = cx.get("comparison") or {}
    case = json.dumps(cx.get("case"), separators=(",", ":"))
    if len(case) > 600:
        case = case[:600] + " …(full case in the JSON)"
    def num(key: str) -> str:
        value = c.get(key)
        return f"{value:.6g}" if isinstance(value, float) else str(value)

    details = cx.get("details") or {}
    if "lhs_complex" in details:  # verify.identity(complex_values=True): lhs and rhs are the real parts
        lz, rz = (complex(*details[k]) for k in ("lhs_complex", "rhs_complex"))
        c = {**c, "lhs": f"{lz:.6g}", "rhs": f"{rz:.6g}"}
    return (f"    counterexample: {case}\n"
            f"    lhs = {num('lhs')}, rhs = {num('rhs')}, violation {num('abs_err')} = {num('rel_err')} of the "
            f"scale {num('scale')} (tolerance {num('atol')})\n"
            + (f"    replay it: {replay_line(verdict, name)}\n" if cx.get("replayable", True) else
               f"    it cannot be replayed: {cx.get('not_replayable_because')}\n"))


def _summary_line(verdicts: list[Any], total: int, out: TextIO) -> bool:
    matched = sum(v.matches_expectation for v in verdicts)
    interrupted = len(verdicts) < total
    out.write(f"{matched} of {len(verdicts)} verdicts match their expectation"
              + (f" (interrupted: {total - len(verdicts)} claims not run)" if interrupted else "") + "\n")
    return matched == len(verdicts) and not interrupted


def _stopped(verdicts: list[Any], total: int) -> int | None:
    """The signal that cut the run short (``run_claims`` returns what finished), or None."""
    from verify.report.outputs import received_signal

    return received_signal() or (signal.SIGINT if len(verdicts) < total else None)


def _cmd_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from verify.report.outputs import check_output_file

    if args.replay:
        return _replay(args, out)
    check_output_file(args.json_path, "--json")
    verdicts, total = _run_claims(args, out, err)
    stop = _stopped(verdicts, total)
    if args.json_path:
        save_outputs_or_partial(verdicts, stop, err, json_path=args.json_path)
    return exit_status(_summary_line(verdicts, total, out), stop)


def _cmd_report(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from verify.claims import load_verdicts
    from verify.report.outputs import check_output_folder

    check_output_folder(args.out)
    stop = None
    if args.from_json:
        if args.names:
            raise InvalidInputError("Give either claim names or --from FILE, not both: --from renders "
                                    "the verdicts already in FILE.")
        verdicts = load_verdicts(Path(args.from_json).read_text(encoding="utf-8"))
        total = len(verdicts)
    else:
        verdicts, total = _run_claims(args, out, err)
        stop = _stopped(verdicts, total)
    written = save_outputs_or_partial(verdicts, stop, err, report_dir=args.out)
    ok = _summary_line(verdicts, total, out)
    for index in written:
        out.write(f"report: {index}\n")
    return exit_status(ok, stop)


def _replay(args: argparse.Namespace, out: TextIO) -> int:
    """Re-run the stored counterexamples: of the named claims, or of every verdict in the file that has one.

    Exit status 0 iff every replayed counterexample still violates the claim (it reproduces);
    1 if one no longer does (fixed, or not a counterexample on this device/dtype) or the claim's code
    fails on it (an ``error`` line naming where); 2 if a named claim has no counterexample in the file
    or nothing could be replayed.
    """
    from verify.check import replay
    from verify.claims import get_claim, load_verdicts, resolve_claims
    from verify.errors import UserCodeError

    stored = load_verdicts(Path(args.replay).read_text(encoding="utf-8"))
    by_id = {v.claim: v for v in stored}
    if args.names:
        pairs = [(claim, by_id.get(claim.id)) for claim in resolve_claims(args.names, args.library)]
    else:
        pairs = [(get_claim(v.ref or v.claim), v) for v in stored if v.counterexample]
    missing = [claim.id for claim, v in pairs if v is None or not v.counterexample]
    if missing or not pairs:
        what = ", ".join(missing) if missing else "any claim"
        raise InvalidInputError(f"{args.replay} holds no counterexample for {what}. Write one with "
                                "`verify check NAME --json FILE` (a refuted claim stores its counterexample).")
    status = EXIT_OK
    for claim, verdict in pairs:
        try:
            result = replay(claim, verdict.counterexample["case"], device=args.device, dtype=args.dtype)
        except UserCodeError as exc:  # the claim's code raised on the case: an error, as in a verdict
            out.write(f"{claim.id}: replayed counterexample → error: {exc}\n")
            status = EXIT_MISMATCH
            continue
        c = result.comparison
        out.write(f"{claim.id}: replayed counterexample → {c.status} (lhs={c.lhs!r}, rhs={c.rhs!r}, "
                  f"abs_err={c.abs_err:.3g}, tolerance={c.atol:.3g})\n")
        if c.status != "violated":
            status = EXIT_MISMATCH
    return status


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Entry point of the ``verify`` console script; returns the exit status."""
    from verify.report.outputs import PipeGuard, catch_signals, received_signal

    guarded = PipeGuard(out or sys.stdout)
    out, err = guarded, PipeGuard(err or sys.stderr)  # type: ignore[assignment]
    args = _parser().parse_args(argv)
    restore = catch_signals()  # SIGINT and SIGTERM become exceptions: partial results are saved
    try:
        status = _dispatch(args, out, err)
    except KeyboardInterrupt as exc:  # before anything finished, or while writing: no output half-written
        stop = received_signal(exc)
        err.write(f"verify: interrupted ({signal.Signals(stop).name}); no output was overwritten with partial "
                  "results.\n")
        status = 128 + stop
    except VerifyError as exc:
        err.write(f"verify: error: {exc}\n")
        status = EXIT_USAGE
    except OSError as exc:  # a missing, unreadable or unwritable path the user named
        where = f" {exc.filename!r}" if getattr(exc, "filename", None) else ""
        err.write(f"verify: error: {exc.strerror or exc}:{where}. Check the path and its permissions.\n")
        status = EXIT_USAGE
    finally:
        restore()
    guarded.flush()
    return EXIT_BROKEN_PIPE if guarded.broken and status == EXIT_OK else status


def _dispatch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.command == "list":
        return _cmd_list(args, out)
    if args.command == "report":
        return _cmd_report(args, out, err)
    if args.command == "regularizer":
        return run_regularizer(args, out, err)
    return _cmd_check(args, out, err)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
