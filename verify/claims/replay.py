"""The one place that writes the commands re-running a verdict: the CLI, ``Verdict.explain`` and reports use it.

A claim is named by its *reference* (``Verdict.ref``: a built-in id, ``path/to/file.py::NAME``,
``package.module:NAME`` or a library's ``FOLDER::ID``), falling back to the id for verdicts written
before references existed. The options are those that change the search — seed always; examples,
dtype, device and torch threads when they are not the defaults — so the run command reproduces the
same cases. Every value is passed through :func:`shlex.quote`, so a name with spaces or shell
metacharacters stays one argument.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

__all__ = ["DEFAULT_EXAMPLES", "replay_commands", "replay_line", "run_options", "verdict_ref"]

#: ``verify check``'s default number of generated cases (not repeated in a command)
DEFAULT_EXAMPLES = 100


def verdict_ref(verdict: Any) -> str:
    """What to pass to ``verify check`` to find the verdict's claim again: its reference, else its id."""
    ref = getattr(verdict, "ref", "")
    return ref if isinstance(ref, str) and ref.strip() else str(verdict.claim)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def run_options(verdict: Any) -> list[str]:
    """``--seed S`` and, when not the defaults, ``--examples``, ``--dtype``, ``--device``, ``--threads``,
    ``--shards``."""
    numeric = verdict.numeric if isinstance(verdict.numeric, Mapping) else {}
    parts = [f"--seed {shlex.quote(str(verdict.seed))}"]
    examples = _int(numeric.get("examples_requested"))
    if examples is not None and examples > 0 and examples != DEFAULT_EXAMPLES:
        parts.append(f"--examples {examples}")
    if str(verdict.dtype) != "float64":
        parts.append(f"--dtype {shlex.quote(str(verdict.dtype))}")
    if str(verdict.device) not in ("cpu", ""):
        parts.append(f"--device {shlex.quote(str(verdict.device))}")
    if _int(verdict.torch_threads) not in (None, 1):
        parts.append(f"--threads {verdict.torch_threads}")
    shards = numeric.get("shards") if isinstance(numeric.get("shards"), Mapping) else {}
    if _int(shards.get("count")) is not None:
        parts.append(f"--shards {shards['count']}")
    return parts


def replay_commands(verdict: Any, name: str | None = None) -> tuple[str, str]:
    r"""``(run, replay)``: re-run the claim as it was run and save the JSON, then replay its counterexample.

    ``name`` overrides the verdict's reference (the name the user typed).

    >>> from verify.claims.verdict import Verdict
    >>> v = Verdict(claim="c", verdict="refuted", expected="holds", seed=3, ref="my claims.py::c",
    ...             numeric={"examples_requested": 50})
    >>> print("\n".join(replay_commands(v)))
    verify check 'my claims.py::c' --seed 3 --examples 50 --json out.json
    verify check 'my claims.py::c' --replay out.json
    """
    ref = shlex.quote(name or verdict_ref(verdict))
    # a replay evaluates in float64 on the CPU unless told otherwise: carry the run's dtype and device over
    arithmetic = [o for o in run_options(verdict) if o.startswith(("--dtype", "--device"))]
    return (f"verify check {ref} {' '.join(run_options(verdict))} --json out.json",
            " ".join(["verify check", ref, "--replay out.json", *arithmetic]))


def replay_line(verdict: Any, name: str | None = None) -> str:
    """The two commands of :func:`replay_commands` as one shell line (``run && replay``)."""
    return " && ".join(replay_commands(verdict, name))
