"""Source citations on report pages: the repository's own docs, and source keys, become links.

A ``source`` field cites a source document by key (``[S000]``, ``[Dherin2022]``: entries of
``docs/sources.md``) and the statement's section by path (``docs/claims.md#c1``). On a page those
become links to the files of the repository the report was made from, relative to the report's
folder, so a reader can follow them; where that repository's ``docs/`` is not there (an installed
package), the text stays as it is.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from verify.report._page import esc

__all__ = ["docs_prefix", "source_html", "source_markdown"]

#: ``docs/claims.md#c1`` (an anchor is optional)
_DOC_PATH = re.compile(r"\bdocs/([\w.-]+\.md)(#[\w-]+)?")
#: ``[S000]`` (a source document) or ``[Dherin2022]`` (a published work): the anchors of docs/sources.md
_SOURCE_KEY = re.compile(r"\[(S\d{3}|[A-Z][A-Za-z]*\d{4})\]")
_TOKEN = re.compile(f"{_DOC_PATH.pattern}|{_SOURCE_KEY.pattern}")


def repository_docs() -> Path | None:
    """The ``docs/`` folder of the checkout ``verify`` runs from, or None (an installed package has none)."""
    docs = Path(__file__).resolve().parents[2] / "docs"
    return docs if (docs / "sources.md").is_file() else None


def docs_prefix(out_dir: Path) -> str | None:
    """The link from a page in ``out_dir`` to the repository's ``docs/`` folder (``../docs``), or None."""
    docs = repository_docs()
    return None if docs is None else Path(os.path.relpath(docs, out_dir)).as_posix()


def _targets(text: str) -> list[tuple[str, str | None]]:
    """``text`` cut into (segment, docs-relative target or None)."""
    out: list[tuple[str, str | None]] = []
    last = 0
    for m in _TOKEN.finditer(text):
        out.append((text[last:m.start()], None))
        if m.group(1):
            out.append((m.group(0), m.group(1) + (m.group(2) or "")))
        else:
            out.append((m.group(0), f"sources.md#{m.group(3).lower()}"))
        last = m.end()
    out.append((text[last:], None))
    return [(s, t) for s, t in out if s]


def source_html(text: str, prefix: str | None) -> str:
    """``text`` escaped, with its docs paths and source keys as links under ``prefix`` (none when None)."""
    if prefix is None:
        return esc(text)
    return "".join(f'<a href="{esc(prefix + "/" + target)}">{esc(seg)}</a>' if target else esc(seg)
                   for seg, target in _targets(text))


def source_markdown(text: str, prefix: str | None, escape) -> str:  # type: ignore[no-untyped-def]
    """As :func:`source_html` for Markdown; ``escape`` is the page's text escaper."""
    if prefix is None:
        return escape(text)
    return "".join(f"[{escape(seg)}]({prefix}/{target})" if target else escape(seg) for seg, target in _targets(text))
