"""Writing outputs so that nothing is lost: one rule for every writer of verify.

Every output (a report folder, a ``--json`` file, a regularizer's card, ``pytest
--verify-report``) is written atomically, and its target is checked before any work
(:func:`check_output_file`, :func:`check_output_folder`). When the run was interrupted
(Ctrl-C, or SIGTERM turned into an exception by :func:`catch_signals`), the named output is
never touched: what finished goes to the sibling ``<path>.partial`` (folder ``rep.partial/``,
file ``out.json.partial``), marked ``interrupted: true``, and replaces only an older partial
output of ours. A second interrupt during that write leaves both as they were.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from verify.claims import ReportCard, Verdict, dump_verdicts
from verify.errors import InvalidInputError
from verify.report.writer import check_target, is_our_report, partial_path, write_report

__all__ = ["Interrupted", "PipeGuard", "catch_signals", "check_output_file", "check_output_folder",
           "partial_path", "received_signal", "save_outputs", "write_text_atomic"]

_received: list[int] = []


class Interrupted(KeyboardInterrupt):
    """SIGTERM turned into an interrupt, so that partial results are saved; ``signum`` says which signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def catch_signals() -> Callable[[], None]:
    """Turn SIGINT into KeyboardInterrupt and SIGTERM into :class:`Interrupted`, and remember them.

    Returns the function that puts the previous handlers back. A signal that is ignored (a background
    job's SIGINT) or handled by someone else is left alone; outside the main thread nothing is installed.
    """
    _received.clear()
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: object) -> None:
        _received.append(signum)
        raise KeyboardInterrupt if signum == signal.SIGINT else Interrupted(signum)

    previous = {}
    for sig, default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL)):
        if signal.getsignal(sig) is default:
            previous[sig] = signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def received_signal(exc: BaseException | None = None) -> int | None:
    """The first signal since :func:`catch_signals`; else SIGINT for a plain KeyboardInterrupt ``exc``."""
    if _received:
        return _received[0]
    if exc is not None:
        return getattr(exc, "signum", signal.SIGINT)
    return None


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place (never half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a results file is as readable as the report pages
        os.replace(tmp, path)
    except BaseException:  # an interrupt too: the old file stays as it was
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _json_text(content: Sequence[Verdict] | ReportCard, interrupted: bool) -> str:
    if isinstance(content, ReportCard):
        doc = {**content.to_json(), **({"interrupted": True} if interrupted else {})}
        return json.dumps(doc, indent=2, allow_nan=False) + "\n"
    return dump_verdicts(content, interrupted=interrupted) + "\n"


def _is_our_partial_file(path: Path) -> bool:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("interrupted") is True


def save_outputs(content: Sequence[Verdict] | ReportCard, *, json_path: str | os.PathLike[str] | None = None,
                 report_dir: str | os.PathLike[str] | None = None, interrupted: bool = False) -> list[Path]:
    """Write ``content`` as JSON to ``json_path`` and as a report into ``report_dir``; return what was written.

    ``interrupted``: the run was cut short, so write the ``.partial`` siblings instead, marked, and leave
    the named outputs untouched. An interrupt while the complete outputs are written sends the rest to
    their ``.partial`` siblings the same way, then propagates.
    """
    def write_json(partial: bool) -> Path:
        if not partial:
            return write_text_atomic(json_path, _json_text(content, False))  # type: ignore[arg-type]
        target = partial_path(json_path)  # type: ignore[arg-type]
        if target.exists() and not _is_our_partial_file(target):
            raise InvalidInputError(f"{target} exists and is not a partial output of verify; not replacing it.")
        return write_text_atomic(target, _json_text(content, True))

    jobs = ([write_json] if json_path is not None else []) + (
        [lambda partial: write_report(content, report_dir, interrupted=partial)] if report_dir is not None else [])
    written = []
    for i, job in enumerate(jobs):
        try:
            written.append(job(interrupted))
        except KeyboardInterrupt:
            if not interrupted:
                for rest in jobs[i:]:
                    rest(True)
            raise
    return written


def _check_creatable(folder: Path, what: str) -> None:
    """The nearest existing ancestor of ``folder`` is a folder we can create files in."""
    ancestor = Path(os.path.abspath(folder))
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InvalidInputError(f"{what}: {str(ancestor)!r} is a file, so nothing can be created under it; "
                                "give a path in a folder.")
    try:
        fd, probe = tempfile.mkstemp(dir=ancestor, prefix=".verify-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InvalidInputError(f"{what}: cannot create files in {str(ancestor)!r} ({exc.strerror or exc}); "
                                "choose a writable folder.") from None


def check_output_file(path: str | None, option: str) -> None:
    """Refuse, before any work, a file path that could not be written (nor its ``.partial`` sibling)."""
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise InvalidInputError(f"{option} {path!r} is a folder; give a file name such as {path.rstrip('/')}/out.json.")
    _check_creatable(p.parent, f"{option} {path!r}")
    partial = partial_path(p)
    if (partial.exists() or partial.is_symlink()) and not (partial.is_file() and _is_our_partial_file(partial)):
        raise InvalidInputError(f"{option} {path!r}: {str(partial)!r} exists and is not a partial output of verify "
                                "(an interrupted run writes there); move it away or choose another name.")


def check_output_folder(path: str | None, option: str = "--out") -> None:
    """Refuse, before any work, a report folder that could not be written (nor its ``.partial`` sibling)."""
    if path is None:
        return
    check_target(Path(path))
    _check_creatable(Path(os.path.abspath(path)).parent, f"{option} {path!r}")
    partial = partial_path(path)
    if not is_our_report(partial):
        raise InvalidInputError(f"{option} {path!r}: {str(partial)!r} exists and is not a report verify wrote "
                                "(an interrupted run writes there); move it away or choose another folder.")


class PipeGuard:
    """A text stream that survives its reader leaving (``verify check … | head``).

    The first BrokenPipeError marks it ``broken`` and drops all later output; a real stdout is
    pointed at /dev/null so that the interpreter's last flush cannot raise again.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream, self.broken = stream, False

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                self.stream.write(text)
            except BrokenPipeError:
                self._lost()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._lost()

    def _lost(self) -> None:
        self.broken = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass  # not a real file (a StringIO): nothing is flushed at exit

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)
