"""The shell commands a page prints to re-run a claim or a report-card check, exactly.

A claim is named by its *reference* (``Verdict.ref``: the built-in id, or
``path/to/file.py::NAME`` for a user's claim), falling back to the id for verdicts
written before references existed. Every value that came from a verdict is passed
through :func:`shlex.quote`, so a name with spaces or shell metacharacters stays one
argument; the pages escape the text again for HTML.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from verify.claims import ReportCard, Verdict

__all__ = ["card_check_command", "check_commands", "claim_ref"]

_DEFAULT_FACTORS = (0.1, 1.0, 10.0)


def claim_ref(v: Verdict) -> str:
    """What to pass to ``verify check``: the verdict's reference, else its claim id."""
    ref = getattr(v, "ref", "")
    return ref if isinstance(ref, str) and ref.strip() else str(v.claim)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _run_options(v: Verdict) -> str:
    num = v.numeric if isinstance(v.numeric, Mapping) else {}
    parts = [f"--seed {shlex.quote(str(v.seed))}"]
    examples = _int(num.get("examples_requested"))
    if examples is not None and examples > 0:
        parts.append(f"--examples {examples}")
    if str(v.dtype) != "float64":
        parts.append(f"--dtype {shlex.quote(str(v.dtype))}")
    if str(v.device) not in ("cpu", ""):
        parts.append(f"--device {shlex.quote(str(v.device))}")
    if _int(v.torch_threads) not in (None, 1):
        parts.append(f"--threads {v.torch_threads}")
    return " ".join(parts)


def check_commands(v: Verdict) -> tuple[str, str]:
    r"""``(run, replay)``: re-run the claim as it was run and save the JSON, then replay its counterexample.

    >>> v = Verdict(claim="c", verdict="refuted", expected="holds", seed=3, ref="my claims.py::c",
    ...             numeric={"examples_requested": 50})
    >>> print("\n".join(check_commands(v)))
    verify check 'my claims.py::c' --seed 3 --examples 50 --json out.json
    verify check 'my claims.py::c' --replay out.json
    """
    ref = shlex.quote(claim_ref(v))
    return (f"verify check {ref} {_run_options(v)} --json out.json", f"verify check {ref} --replay out.json")


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
    if s.get("task"):
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
