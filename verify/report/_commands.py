"""The shell commands a page prints to re-run a claim or a report-card check, exactly.

A claim's commands come from :func:`verify.claims.replay_commands`, the builder the CLI and
``Verdict.explain`` use too (one test renders all three for the same verdict). Every value that came
from a verdict is passed through :func:`shlex.quote`, so a name with spaces or shell metacharacters
stays one argument; the pages escape the text again for HTML.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from verify.claims import ReportCard, Verdict, replay_commands

__all__ = ["card_check_command", "check_commands"]

_DEFAULT_FACTORS = (0.1, 1.0, 10.0)


def check_commands(v: Verdict) -> tuple[str, str]:
    """``(run, replay)`` of a claim page: :func:`verify.claims.replay_commands`, the CLI's and ``explain``'s too."""
    return replay_commands(v)


def _float_text(x: Any) -> str:
    return repr(float(x)) if isinstance(x, (int, float)) and not isinstance(x, bool) else shlex.quote(str(x))


def card_check_command(card: ReportCard, check: Verdict) -> str:
    """The ``verify regularizer`` command that re-runs one check of a card with the card's settings."""
    s = card.settings if isinstance(card.settings, Mapping) else {}
    parts = ["verify regularizer", shlex.quote(str(card.name))]
    lam, lams = s.get("lam"), s.get("lams")
    default_grid = (isinstance(lam, (int, float)) and isinstance(lams, Sequence) and len(lams) == 3
                    and all(isinstance(x, (int, float)) and math.isclose(x, lam * f, rel_tol=1e-12)
                            for x, f in zip(lams, _DEFAULT_FACTORS)))
    if isinstance(lams, Sequence) and not isinstance(lams, str) and lams and not default_grid:
        parts.append("--lams " + shlex.quote(",".join(_float_text(x) for x in lams)))
    elif lam is not None:
        parts.append(f"--lam {_float_text(lam)}")
    if s.get("task") == "user":  # the user's own model: the names the CLI was given, else placeholders
        parts.append(f"--model {shlex.quote(str(s.get('model_spec') or 'YOUR_FILE.py::MODEL'))}")
        parts.append(f"--data {shlex.quote(str(s.get('data_spec') or 'YOUR_FILE.py::DATA'))}")
        if s.get("loss_spec"):
            parts.append(f"--loss {shlex.quote(str(s['loss_spec']))}")
        if s.get("train_mode"):
            parts.append("--train-mode")
    elif s.get("task"):
        parts.append(f"--task {shlex.quote(str(s['task']))}")
    parts.append(f"--checks {shlex.quote(str(check.claim))}")
    parts.append(f"--seed {shlex.quote(str(s.get('seed', check.seed)))}")
    dtype = str(s.get("dtype", check.dtype))
    if dtype != "float64":
        parts.append(f"--dtype {shlex.quote(dtype)}")
    device = str(s.get("device", check.device))
    if device not in ("cpu", ""):
        parts.append(f"--device {shlex.quote(device)}")
    if s.get("user_grad"):
        parts.append("--grad YOUR_FILE.py::GRAD")
    if s.get("user_hvp"):
        parts.append("--hvp YOUR_FILE.py::HVP")
    return " ".join(parts) + " --out card"
