"""Shared pieces of the HTML pages: the document shell, badges, tables, number formatting.

Every page carries a Content-Security-Policy that forbids scripts, remote loads and
everything but inline styles and ``data:`` images, so even a bug in the escaping could
not make a report execute or fetch anything.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

CSS = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1100px;padding:1em 2em;
color:#1b1b1b;background:#fafafa}
h1{font-size:1.6em;margin:.4em 0}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
h3{font-size:1.05em}
table{border-collapse:collapse;margin:.5em 0;background:#fff;max-width:100%}
td,th{border:1px solid #ddd;padding:.3em .6em;vertical-align:top;text-align:left;overflow-wrap:break-word}
table.steps{table-layout:fixed;width:100%}.steps col.n{width:2.4em}.steps col.name{width:11em}
.steps col.status{width:6.2em}.steps col.sizes{width:9.5em}.steps col.time{width:6.2em}
.steps td code{overflow-wrap:anywhere}.steps .mathcell{overflow-x:auto;max-width:100%;padding-bottom:.2em}
.steps tr.how td{border-top:none;color:#444;font-size:.9em;background:#fcfcfc}.steps tr.with-how td{border-bottom:none}
.steps tr.step td:last-child{white-space:nowrap}
.scroll{overflow-x:auto}.scroll table{width:100%}th{background:#f0f0f0}
table.generic td{font-size:.95em}table.generic table{margin:0}pre.cmd{white-space:pre-wrap;overflow-wrap:anywhere}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}
pre{background:#fff;border:1px solid #ddd;padding:.6em;overflow:auto;max-height:28em}
.badge{display:inline-block;padding:.1em .6em;border-radius:.8em;font-weight:600;color:#fff;font-size:.9em}
.v-proved{background:#1e7d32}.v-verified{background:#2e8b57}.v-refuted{background:#b3261e}
.v-error{background:#6a1b9a}.v-inconclusive{background:#8a6d00}.v-not-applicable{background:#607d8b}
.ok{color:#1e7d32;font-weight:600}.bad{color:#b3261e;font-weight:700}
tr.mismatch td{background:#fdecea}
.statement{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.8em 1em;overflow-x:auto;font-size:1.1em}
.math-fallback{background:#fff4e5;border:1px dashed #d9822b;padding:0 .3em}
.math-fallback small{color:#8a4b00}.fig-error{background:#fff4e5;padding:.3em}
math{font-size:1.05em}
.fig{margin:1em 0}.fig figcaption{color:#555;font-size:.9em}
.meta>tbody>tr>td:first-child{color:#555}
.muted{color:#666}.callout{background:#fff;border-left:4px solid #b3261e;padding:.5em 1em}
nav a{margin-right:1em}
"""

VERDICT_WORD = {"proved": "proved", "verified": "verified", "refuted": "refuted", "error": "error",
                "inconclusive": "inconclusive", "not-applicable": "not applicable"}


def esc(text: Any) -> str:
    """HTML-escape any value (quotes included)."""
    return html.escape(str(text), quote=True)


def document(title: str, body: str) -> str:
    """A complete self-contained HTML page."""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta name=\"referrer\" content=\"no-referrer\">"
            f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>\n{body}\n</body></html>\n")


def badge(verdict: str) -> str:
    cls = verdict if verdict in VERDICT_WORD else "error"
    return f'<span class="badge v-{cls}">{esc(verdict)}</span>'


def match_text(matches: bool, expected: str, reported: bool = False) -> str:
    """``reported``: a card's inconclusive or not-applicable check, which does not fail a non-strict card."""
    if reported:
        return f'<span class="muted">reported, not failed (strict mode fails it; expected {esc(expected)})</span>'
    if matches:
        return f'<span class="ok">as expected</span> <span class="muted">(expected {esc(expected)})</span>'
    return f'<span class="bad">MISMATCH</span> <span class="muted">(expected {esc(expected)})</span>'


def fmt_num(v: Any) -> str:
    """Numbers as short text (None → —); strings such as ``"nan"`` pass through escaped."""
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if v == 0:
            return "0"  # -0.0 too
        return f"{v:.4g}" if v == 0 or 1e-3 <= abs(v) < 1e5 else f"{v:.3e}"
    return str(v)


def table(rows: Iterable[tuple[str, str]], cls: str = "meta") -> str:
    """A two-column table; both cells are HTML already (escape before calling)."""
    body = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="{cls}">{body}</table>'


def compact_json(obj: Any, indent: int = 0) -> str:
    """Indented JSON that keeps lists of numbers (matrix rows) on one line.

    >>> print(compact_json({"Q": [[1.0, 0.0], [0.0, 2.0]]}))
    {
      "Q": [[1.0, 0.0], [0.0, 2.0]]
    }
    """
    pad = "  " * (indent + 1)
    if isinstance(obj, Mapping) and obj:
        items = [f"{pad}{json.dumps(str(k), ensure_ascii=False)}: {compact_json(v, indent + 1)}"
                 for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(obj, (list, tuple)) and obj:
        one_line = json.dumps(obj, ensure_ascii=False, default=str)
        if len(one_line) <= 100 and all(not isinstance(v, Mapping) for v in obj):
            return one_line
        items = [pad + compact_json(v, indent + 1) for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + "  " * indent + "]"
    return json.dumps(obj, ensure_ascii=False, default=str)


def pretty_json(obj: Any) -> str:
    """Readable JSON in an escaped ``<pre>`` block."""
    return f"<pre>{esc(compact_json(obj))}</pre>"


def blas_text(threads: int | None) -> str:
    """The BLAS thread count a verdict recorded ("not limited" where no BLAS library was found to limit)."""
    return "not limited" if threads is None else str(threads)


def versions_text(versions: Mapping[str, Any]) -> str:
    return ", ".join(f"{esc(k)} {esc(v)}" for k, v in versions.items()) or "—"


def normalized(v: Any) -> Any:
    """A copy of a verdict whose evidence has the shapes the pages expect.

    A verdicts JSON can come from anywhere: a block that is not a mapping (or a step,
    figure or distribution of the wrong type) is wrapped or dropped here, once, so that
    rendering never crashes on it; what is dropped from plots is still in verdicts.json.
    """
    import copy

    out = copy.copy(v)
    sym = v.symbolic if isinstance(v.symbolic, Mapping) else ({"steps": [], "raw": v.symbolic} if v.symbolic else None)
    if sym is not None:
        steps = sym.get("steps") if isinstance(sym.get("steps"), list) else []
        sym = {**sym, "steps": [s if isinstance(s, Mapping) else {"name": str(s)} for s in steps]}
    num = v.numeric if isinstance(v.numeric, Mapping) else ({"raw": v.numeric} if v.numeric else None)
    if num is not None:
        figures = num.get("figures") if isinstance(num.get("figures"), list) else []
        num = {**num, "figures": [f for f in figures if isinstance(f, Mapping)],
               "distribution": num.get("distribution") if isinstance(num.get("distribution"), Mapping) else None,
               "boundary_cases_hit": num.get("boundary_cases_hit") if isinstance(
                   num.get("boundary_cases_hit"), list) else []}
    ce = v.counterexample
    if ce is not None and not isinstance(ce, Mapping):
        ce = {"case": ce}
    if ce is not None:
        ce = {**ce, **{k: ce[k] if isinstance(ce.get(k), Mapping) else {} for k in ("comparison", "recheck")}}
    out.symbolic, out.numeric, out.counterexample = sym, num, ce
    out.hypotheses = [str(h) for h in v.hypotheses] if isinstance(v.hypotheses, (list, tuple)) else [str(v.hypotheses)]
    out.versions = {str(k): str(x) for k, x in v.versions.items()} if isinstance(v.versions, Mapping) else {}
    return out


def _counterexample_comparison(v: Any) -> Mapping[str, Any]:
    """The counterexample's comparison (the independent re-check's, else the search's), or ``{}``."""
    ce = v.counterexample if isinstance(v.counterexample, Mapping) else {}
    for block in (ce.get("recheck"), ce.get("comparison")):
        if isinstance(block, Mapping) and block:
            return block
    return {}


def tightest_ratio_text(v: Any) -> str:
    """The "tightest ratio lhs/rhs" value as plain text, saying why when it is undefined.

    The ratio exists only where rhs > 0. A counterexample with rhs ≤ 0 has none (and the
    largest ratio of the other cases must not pass for the tightest); a search whose every
    case had rhs ≤ 0 has none at all.
    """
    num = v.numeric or {}
    ratio = num.get("tightest_ratio")
    if num.get("relation") != "inequality":
        return fmt_num(ratio)
    tight = _counterexample_comparison(v)
    if tight and "ratio" in tight and tight.get("ratio") is None:
        lhs = tight.get("lhs")
        why = ("lhs is not finite in the tightest case" if isinstance(lhs, str) and lhs in ("nan", "inf", "-inf")
               else "rhs ≤ 0 in the tightest case")
        return f"undefined: {why}" + (f" (largest ratio among the other cases: {fmt_num(ratio)})"
                                      if ratio is not None else "")
    if ratio is None and isinstance(num.get("examples"), int) and num["examples"] > 0:
        return "undefined: rhs ≤ 0 in every case"
    return fmt_num(ratio)


def mistakes_heading(verdicts: Sequence[Any]) -> tuple[str, str]:
    """The heading (and its first sentence) of the index's list of refuted claims.

    "in the source documents" only where some claim expected to be refuted cites one of the
    project's source documents (a key ``[S000]`` … in its source, see docs/sources.md); a user's own
    claims get a neutral heading.
    """
    expected = [v for v in verdicts if v.expected.value == "refuted"]
    if any(re.search(r"\[S\d{3}\]", str(v.source)) for v in expected):
        return ("Mistakes found in the source documents", "Statements of the source documents (docs/sources.md) "
                "that the checks refuted, as expected, each with a counterexample on its page:")
    return ("Mistakes found (claims expected to be refuted)",
            "Claims expected to be refuted that the checks refuted, each with a counterexample on its page:")
