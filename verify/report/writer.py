"""Write a report folder atomically: render into a temporary folder, then swap it in.

The swap renames the previous report aside, renames the new one into place and only
then deletes the old one, so an interrupted run (an exception or Ctrl-C while
rendering) leaves the previous report as it was, and a rerun replaces it whole (no
stale pages of claims that are gone). A folder is only ever replaced when it is a
report we wrote (it holds the marker file :data:`MARKER`), is empty, or holds nothing
but a ``README.md`` (the repository's committed ``reports/README.md``) and a
``verdicts.json`` (what ``verify check --json reports/verdicts.json`` wrote); a top-level
``README.md`` is carried over into every new report. Anything else is refused.

The results of an interrupted run (``interrupted=True``) go to the sibling ``<out>.partial``
instead, with a banner on every page and ``"interrupted": true`` in the JSON, so the report
in ``out`` stays as it was (the rule of every writer: :mod:`verify.report.outputs`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from verify.claims import ReportCard, Verdict, dump_verdicts
from verify.errors import InvalidInputError
from verify.report._page import esc
from verify.report._sources import docs_prefix
from verify.report.html import page_names, render_card_html, render_claim_html, render_index_html
from verify.report.markdown import render_card_markdown, render_claim_markdown, render_index_markdown

__all__ = ["MARKER", "check_target", "is_our_report", "partial_path", "write_report"]

#: the file that marks a folder as a report written by :func:`write_report`.
MARKER = ".verify-report"
_MARKER_TEXT = ("This folder was written by `verify report`; every run replaces it whole.\n"
                "Files added by hand are lost on the next run (a top-level README.md is kept).\n")
_KEPT = ("README.md",)
#: a folder holding only these is taken as ours: the committed ``reports/README.md``, and the
#: ``reports/verdicts.json`` that ``make check`` (``verify check --json``) wrote before reports existed
_ADOPTABLE = {"README.md", "verdicts.json"}


def check_target(out: str | os.PathLike[str]) -> None:
    """Raise :class:`InvalidInputError` now if :func:`write_report` would refuse ``out`` (call before long work)."""
    _check_target(Path(out))


def partial_path(path: str | os.PathLike[str]) -> Path:
    """Where the partial output of an interrupted run goes: ``<path>.partial`` beside ``path``."""
    p = Path(path)
    if p.name in ("", ".", ".."):
        p = Path(os.path.abspath(p))
    return p.with_name(p.name + ".partial")


def is_our_report(out: str | os.PathLike[str]) -> bool:
    """Whether :func:`write_report` may replace ``out``: absent, or a folder it wrote (or may adopt)."""
    out = Path(out)
    if not out.exists() and not out.is_symlink():
        return True
    if out.is_symlink() or not out.is_dir():
        return False
    entries = {p.name for p in out.iterdir()}
    return MARKER in entries or entries <= _ADOPTABLE


def _check_target(out: Path) -> None:
    if is_our_report(out):
        return
    if out.is_symlink() or not out.is_dir():
        raise InvalidInputError(
            f"Report folder {str(out)!r} exists and is not a folder (or is a symbolic link); "
            "pass --out a new folder name or a folder an earlier `verify report` wrote.")
    entries = {p.name for p in out.iterdir()}
    shown = ", ".join(sorted(entries)[:5]) + (" …" if len(entries) > 5 else "")
    raise InvalidInputError(
        f"Refusing to replace {str(out)!r}: it holds files ({shown}) but no {MARKER} marker, so it is not a "
        "report `verify report` wrote, and writing would delete them. Pass --out an empty or new folder, "
        f"or one an earlier report wrote.")


def _validate(items: object) -> list[Verdict] | ReportCard:
    if isinstance(items, ReportCard):
        return items
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise InvalidInputError(
            f"Got {type(items).__name__}; write_report takes a list of verify.Verdict or a verify.ReportCard.")
    verdicts = list(items)
    bad = sorted({type(v).__name__ for v in verdicts if not isinstance(v, Verdict)})
    if bad:
        raise InvalidInputError(f"write_report got items of type {', '.join(bad)}; pass verify.Verdict objects "
                                "(from run_claim, or load_verdicts on a `verify check --json` file).")
    return verdicts


def _writer(tmp: Path, complete_name: str | None) -> Callable[[str, str], None]:
    """Write a file of the report; with ``complete_name`` (an interrupted run) every page gets the banner."""
    what = (f"this partial report holds only what finished before the interrupt; the report in {complete_name}/ "
            "(if any) was left as it was.")

    def put(name: str, text: str) -> None:
        if complete_name is not None and name.endswith(".html"):
            text = text.replace("<body>\n", f'<body>\n<p class="callout" role="alert"><b>Interrupted run:</b> '
                                f"{esc(what)}</p>\n", 1)
        elif complete_name is not None and name.endswith(".md"):
            text = f"> **Interrupted run:** {what}\n\n{text}"
        (tmp / name).write_text(text, encoding="utf-8")

    return put


def _render_verdicts(verdicts: list[Verdict], put: Callable[[str, str], None], out: Path, title: str | None,
                     progress: Callable[[str], None] | None, interrupted: bool) -> None:
    names = page_names(verdicts)
    docs = docs_prefix(out)  # where the pages will be, not the temporary folder they are written to
    for v, name in zip(verdicts, names):
        put(f"{name}.html", render_claim_html(v, docs=docs))
        put(f"{name}.md", render_claim_markdown(v, docs=docs))
        if progress is not None:
            progress(name)
    put("verdicts.json", dump_verdicts(verdicts, interrupted=interrupted))
    put("index.md", render_index_markdown(verdicts, names, title=title))
    put("index.html", render_index_html(verdicts, title=title, names=names))


def _render_card(card: ReportCard, put: Callable[[str, str], None], title: str | None, interrupted: bool) -> None:
    put("card.json", json.dumps({**card.to_json(), **({"interrupted": True} if interrupted else {})},
                                indent=2, allow_nan=False))
    put("index.md", render_card_markdown(card))
    put("index.html", render_card_html(card, title=title))


def write_report(items: Sequence[Verdict] | ReportCard, out_dir: str | os.PathLike[str], *,
                 title: str | None = None, progress: Callable[[str], None] | None = None,
                 interrupted: bool = False) -> Path:
    """Write a self-contained HTML + Markdown report and return the path of its ``index.html``.

    Args:
        items: verdicts (claims) or a regularizer's :class:`~verify.ReportCard`.
        out_dir: the report folder; created, or replaced whole if an earlier report wrote it.
        title: the index page's title (default ``verify report``, or the card's title).
        progress: called with each claim page's file stem as it is written.
        interrupted: the run was cut short: write into the sibling ``<out_dir>.partial``
            instead (replacing only a partial report of ours), with a banner on every page and
            ``"interrupted": true`` in the JSON; ``out_dir`` is not touched.

    For verdicts the folder gets ``index.html``, ``index.md``, ``verdicts.json``
    (exactly :func:`verify.dump_verdicts`) and ``<claim>.html`` / ``<claim>.md`` per
    claim; for a card ``index.html`` (summary and a section per check), ``index.md``
    and ``card.json``.

    Raises:
        InvalidInputError: if ``items`` is neither, or ``out_dir`` is a folder (or file)
            this function did not write; nothing is changed then.
    """
    content = _validate(items)
    out = Path(os.path.abspath(partial_path(out_dir) if interrupted else out_dir))
    _check_target(out)
    parent = out.parent
    parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(parent, out.name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=parent))
    try:
        (tmp / MARKER).write_text(_MARKER_TEXT, encoding="utf-8")  # first: a killed run's leftover is ours
        put = _writer(tmp, out.name.removesuffix(".partial") if interrupted else None)
        if isinstance(content, ReportCard):
            _render_card(content, put, title, interrupted)
        else:
            _render_verdicts(content, put, out, title, progress, interrupted)
        for name in _KEPT:
            if (out / name).is_file():
                shutil.copy2(out / name, tmp / name)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a report is meant to be read
        _swap(tmp, out)
    except BaseException:  # an interrupt too: the previous report stays as it was
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out / "index.html"


def _remove_stale(parent: Path, name: str, age_s: float = 600.0) -> None:
    """Delete what a run killed outright (SIGKILL, power loss) left beside the report: our
    temporary folders (they hold the marker) older than ``age_s``, so a concurrent run's are spared."""
    now = time.time()
    for path in parent.glob(f".{name}.*-*"):
        if (path.name.startswith((f".{name}.new-", f".{name}.old-")) and path.is_dir() and not path.is_symlink()
                and (path / MARKER).is_file() and now - path.stat().st_mtime > age_s):
            shutil.rmtree(path, ignore_errors=True)


def _swap(new: Path, out: Path) -> None:
    """Put ``new`` in place of ``out``; SIGINT/SIGTERM wait until both renames are done (no report is missing)."""
    if not out.exists():
        os.replace(new, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=new.parent))
    old.rmdir()
    blocked = _block_signals()
    try:
        os.replace(out, old)
        try:
            os.replace(new, out)
        except BaseException:
            os.replace(old, out)
            raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        if blocked is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)  # a pending interrupt is delivered now


def _block_signals() -> set[signal.Signals] | None:
    if not hasattr(signal, "pthread_sigmask"):  # Windows
        return None
    return signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
