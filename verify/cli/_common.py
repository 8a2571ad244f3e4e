"""What the subcommands share: exit statuses, option types, writing outputs (interrupt-safe)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, TextIO

from verify.errors import InvalidInputError

EXIT_OK, EXIT_MISMATCH, EXIT_USAGE, EXIT_BROKEN_PIPE = 0, 1, 2, 141


def save_outputs_or_partial(content: Any, stop: int | None, err: TextIO, **targets: Any) -> list[Path]:
    """Write the outputs; an interrupted run's to their ``.partial`` siblings (nothing if nothing finished)."""
    from verify.report.outputs import save_outputs

    if stop is not None and not content:
        err.write("verify: interrupted before anything finished; no output written.\n")
        return []
    written = save_outputs(content, interrupted=stop is not None, **targets)
    if stop is not None and written:
        err.write(f"verify: interrupted; what finished is in {', '.join(map(str, written))} (marked interrupted), "
                  "the earlier outputs are untouched.\n")
    return written


def exit_status(ok: bool, stop: int | None) -> int:
    return 128 + stop if stop is not None else EXIT_OK if ok else EXIT_MISMATCH


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"got {text!r}; give a whole number >= 1") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"got {value}; give a whole number >= 1")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"got {text!r}; give a number of seconds > 0") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"got {text}; give a number of seconds > 0")
    return value


def float_list(text: str, option: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InvalidInputError(f"Got {option} {text!r}; give comma-separated numbers like 0.001,0.01,0.1.") from None
    if not values:
        raise InvalidInputError(f"Got {option} {text!r}; give at least one number.")
    return values
