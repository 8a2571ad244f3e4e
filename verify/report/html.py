"""HTML pages: one per claim, the index of all verdicts, and a regularizer's report card.

Everything a verdict carries is user-supplied as far as this module is concerned (a
claim from a user's file, or a verdicts JSON from anywhere): it is escaped, math goes
through the sanitizing MathML converter, and plots through the SVG writer, which
escapes its labels. Links are only ever to the report's own page files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from verify.claims import ReportCard, Verdict
from verify.report._commands import card_check_command, check_commands
from verify.report._generic import card_title_html, card_title_text, numeric_html, setting_rows
from verify.report._page import (
    badge,
    blas_text,
    document,
    esc,
    fmt_num,
    match_text,
    mistakes_heading,
    normalized,
    pretty_json,
    table,
    tightest_ratio_text,
    versions_text,
)
from verify.report._sources import source_html
from verify.report.mathml import math_html, text_or_math_html
from verify.report.svg import distribution_figure, figure_svg

__all__ = ["page_names", "render_card_html", "render_claim_html", "render_index_html", "verdict_order"]

_RESERVED = {"index", "verdicts", "card"}
_STEP_CLASS = {"proved": "proved", "checked": "verified", "refuted": "refuted", "failed": "error",
               "skipped": "inconclusive"}


def page_names(verdicts: Sequence[Verdict]) -> list[str]:
    """A safe, unique file stem per verdict: the claim id where it is one (``descent-lemma``),
    otherwise the id with every other character replaced, plus ``-2``, ``-3`` … on collisions.

    Collisions are numbered in :func:`verdict_order`, not in the order given, so the same verdicts
    get the same names whatever order they arrive in (pytest-xdist workers finish in any order).
    """
    names = [""] * len(verdicts)
    seen: set[str] = set()
    for i in sorted(range(len(verdicts)), key=lambda i: verdict_order(verdicts[i])):
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", str(verdicts[i].claim)).strip("._") or "claim"
        stem = stem[:100]
        if stem.lower() in _RESERVED:
            stem = f"claim-{stem}"
        name, k = stem, 2
        while name.lower() in seen:
            name, k = f"{stem}-{k}", k + 1
        seen.add(name.lower())
        names[i] = name
    return names


def verdict_order(verdict: Verdict) -> tuple[str, str]:
    """A sort key that is the same in every run: the claim id, then the verdict's JSON without its timings."""
    def untimed(obj: Any) -> Any:
        if isinstance(obj, Mapping):
            return {k: untimed(v) for k, v in obj.items() if k != "elapsed_s"}
        return [untimed(v) for v in obj] if isinstance(obj, (list, tuple)) else obj

    return str(verdict.claim), json.dumps(untimed(verdict.to_json()), sort_keys=True, default=str)


def _symbolic_section(sym: Mapping[str, Any] | None, h: int) -> str:
    out = [f"<h{h}>Derivation</h{h}>"]
    if not sym:
        return out[0] + '<p class="muted">No symbolic derivation: the claim is checked numerically only.</p>'
    steps = sym.get("steps") or []
    proved = "proved" if sym.get("proved") else "not fully proved"
    out.append(f"<p>Symbolic part: <b>{esc(proved)}</b>; sizes: {esc(sym.get('sizes', '—'))}. "
               "A step is <i>proved</i> when SymPy established it and exact spot checks at random "
               "rationals agree; <i>checked</i> when it was checked numerically only.</p>")
    rows = []
    for i, s in enumerate(steps, 1):
        status = str(s.get("status", ""))
        detail = str(s.get("detail") or "")
        rows.append(f'<tr class="step{" with-how" if detail else ""}"><td>{i}</td>'
                    f'<td><code>{esc(s.get("name", ""))}</code></td>'
                    f'<td><div class="mathcell">{math_html(str(s.get("statement") or ""))}</div></td>'
                    f'<td><span class="badge v-{_STEP_CLASS.get(status, "error")}">{esc(status)}</span></td>'
                    f"<td>{esc(s.get('sizes', ''))}</td><td>{esc(fmt_num(s.get('elapsed_s')))}&#8239;s</td></tr>"
                    + (f'<tr class="how"><td></td><td colspan="5"><span class="muted">how:</span> {esc(detail)}'
                       "</td></tr>" if detail else ""))
    out.append('<table class="steps"><colgroup><col class="n"><col class="name"><col class="math">'
               '<col class="status"><col class="sizes"><col class="time"></colgroup>'
               "<tr><th>#</th><th>step</th><th>statement</th><th>status</th><th>sizes</th><th>time</th></tr>"
               + "".join(rows) + "</table>")
    return "".join(out)


def _evidence_section(v: Verdict, h: int, generic: bool = False) -> str:
    num = v.numeric or {}
    out = [f"<h{h}>Numeric evidence</h{h}>"]
    if not num:
        return out[0] + '<p class="muted">No numeric check.</p>'
    if generic:  # a report card's check: its own quantities, not a claim search's
        return out[0] + numeric_html(num)
    rows = [
        ("relation", esc(num.get("relation", "—"))),
        ("cases decided", esc(fmt_num(num.get("examples")))),
        ("distinct cases", esc(fmt_num(num.get("distinct_cases")))),
        ("cases with a defined ratio lhs/rhs", esc(fmt_num(num.get("cases_with_ratio")))),
        ("cases the tolerance could not decide", esc(fmt_num(num.get("undecidable")))),
        ("max |lhs − rhs|", esc(fmt_num(num.get("max_abs_err")))),
        ("max relative error", esc(fmt_num(num.get("max_rel_err")))),
        ("tightest ratio lhs/rhs", esc(tightest_ratio_text(v))),
        ("smallest slack", esc(fmt_num(num.get("min_slack")))),
        ("tolerance", esc(num.get("tolerance") or "—")),
        ("boundary cases hit", esc(", ".join(map(str, num.get("boundary_cases_hit") or [])) or "none")),
        ("cut short by the time limit", esc(fmt_num(bool(num.get("cut_short"))))
         + (f" ({esc(num.get('skipped_after_time_limit'))} cases skipped)" if num.get("cut_short") else "")),
        ("dtype · device", f"{esc(v.dtype)} · {esc(v.device)}"),
        ("seed", esc(v.seed)),
    ]
    out.append(table(rows))
    worst = num.get("worst_case")
    if worst and not v.counterexample:
        out.append("<details><summary>Tightest case (smallest slack)</summary>" + pretty_json(worst) + "</details>")
    return "".join(out)


def _comparison_table(ce: Mapping[str, Any]) -> str:
    keys = ("status", "lhs", "rhs", "abs_err", "rel_err", "slack", "ratio", "scale", "atol")
    first, again = ce.get("comparison") or {}, ce.get("recheck") or {}
    head = "<tr><th></th><th>search</th><th>independent re-check (float64)</th></tr>"
    rows = "".join(f"<tr><td>{esc(k)}</td><td>{esc(fmt_num(first.get(k)))}</td>"
                   f"<td>{esc(fmt_num(again.get(k)))}</td></tr>" for k in keys if k in first or k in again)
    return f"<table>{head}{rows}</table>"


def _counterexample_section(v: Verdict, h: int, rerun: str | None = None) -> str:
    ce = v.counterexample
    if not ce:
        return ""
    if rerun is None:
        commands = "\n".join(check_commands(v))
        how = ("To reproduce it, run the claim with the same seed "
               f"({esc(v.seed)}) and settings, then replay the counterexample the JSON records:")
    else:
        commands, how = rerun, "To reproduce it, re-run this check with the same settings:"
    out = [f"<h{h}>Counterexample</h{h}>",
           '<div class="callout"><p>The case below violates the statement, and the violation survived an '
           f"independent re-check. {how}</p>",
           f'<pre class="cmd">{esc(commands)}</pre></div>',
           f"<h{h + 1}>Case</h{h + 1}>", pretty_json(ce.get("case")),
           f"<h{h + 1}>Numbers</h{h + 1}>", _comparison_table(ce)]
    extra = {k: ce[k] for k in ("tags", "details") if ce.get(k)}
    if extra:
        out.append(pretty_json(extra))
    return "".join(out)


def _figures_section(v: Verdict, h: int) -> str:
    num = v.numeric or {}
    figures = [f for f in (num.get("figures") or []) if isinstance(f, Mapping)]
    dist = num.get("distribution")
    if isinstance(dist, Mapping):
        hist = distribution_figure(dist, str(num.get("relation", "")), examples=num.get("examples"),
                                   counterexample=(v.counterexample or {}).get("recheck")
                                   or (v.counterexample or {}).get("comparison"))
        if hist:
            figures.append(hist)
    if not figures:
        return ""
    out = [f"<h{h}>Plots</h{h}>"]
    for fig in figures:
        caption = esc(fig.get("caption", ""))
        try:
            svg = figure_svg(fig)
        except Exception as exc:  # a malformed figure from a JSON file: say so, draw the rest
            svg = f'<p class="fig-error">Figure {esc(fig.get("title", ""))} could not be drawn: {esc(exc)}</p>'
        out.append(f'<figure class="fig">{svg}' + (f"<figcaption>{caption}</figcaption>" if caption else "")
                   + "</figure>")
    return "".join(out)


def _run_section(v: Verdict, h: int, rerun: str | None = None) -> str:
    rows = [("seed", esc(v.seed)), ("device", esc(v.device)), ("dtype", esc(v.dtype)),
            ("torch threads", esc(v.torch_threads)), ("BLAS threads", esc(blas_text(v.blas_threads))),
            ("versions", versions_text(v.versions)),
            ("elapsed", f"{esc(fmt_num(v.elapsed_s))} s"),
            ("run it again", f"<code>{esc(rerun if rerun is not None else check_commands(v)[0])}</code>")]
    return f"<h{h}>Run</h{h}>" + table(rows)


def claim_sections(v: Verdict, h: int = 2, card: ReportCard | None = None, docs: str | None = None) -> str:
    """Everything about one verdict below its title (shared by claim pages and cards).

    For a card's check (``card`` given) the source is the card's, the numeric evidence is
    the check's own quantities, and the command to re-run it is ``verify regularizer``. ``docs``: the
    link to the repository's ``docs/`` folder, for the source's citations (None: plain text).
    """
    rerun = card_check_command(card, v) if card is not None else None
    source = (card.source or card.name) if card is not None else v.source
    reported = card is not None and not card.strict and v in card.undecided
    v = normalized(v)
    hyps = "".join(f"<li>{text_or_math_html(str(x))}</li>" for x in v.hypotheses)
    head = table([
        ("verdict", f"{badge(v.verdict.value)} {match_text(v.matches_expectation, v.expected.value, reported)}"),
        ("message", esc(v.message or "—")),
        ("source", source_html(source, docs) if source else "—"),
    ])
    statement = (f'<div class="statement">{math_html(v.statement, display=True)}</div>' if v.statement
                 else '<p class="muted">No statement given.</p>')
    return "".join([
        head, f"<h{h}>Statement</h{h}>", statement,
        f"<h{h}>Hypotheses</h{h}>" + (f"<ul>{hyps}</ul>" if hyps else '<p class="muted">None stated.</p>'),
        _symbolic_section(v.symbolic, h), _evidence_section(v, h, generic=card is not None),
        _counterexample_section(v, h, rerun), _figures_section(v, h), _run_section(v, h, rerun),
    ])


def render_claim_html(verdict: Verdict, *, index_href: str = "index.html", docs: str | None = None) -> str:
    """The self-contained page of one claim (``docs``: the link to the repository's docs, see claim_sections)."""
    v = verdict
    title = v.title or v.claim
    body = (f'<nav><a href="{esc(index_href)}">&#8592; all claims</a></nav>'
            f"<h1>{esc(title)}</h1><p><code>{esc(v.claim)}</code></p>" + claim_sections(v, docs=docs))
    return document(f"{title} — verify", body)


def _summary_cell(v: Verdict) -> str:
    v = normalized(v)
    num = v.numeric or {}
    if v.counterexample:
        slack = (v.counterexample.get("recheck") or {}).get("slack")
        return "counterexample" + (f", slack {esc(fmt_num(slack))}" if slack is not None else "")
    if num.get("relation") == "inequality" and num.get("tightest_ratio") is not None:
        return f"tightest ratio {esc(fmt_num(num.get('tightest_ratio')))}"
    if num.get("max_rel_err") is not None:
        return f"max rel. error {esc(fmt_num(num.get('max_rel_err')))}"
    if num.get("min_slack") is not None:
        return f"smallest slack {esc(fmt_num(num.get('min_slack')))}"
    return "—"


def _index_rows(items: list[tuple[Verdict, str]]) -> str:
    items = sorted(items, key=lambda p: (p[0].matches_expectation, str(p[0].claim)))
    rows = []
    for v, name in items:
        cls = "" if v.matches_expectation else ' class="mismatch"'
        num = normalized(v).numeric or {}
        rows.append(f'<tr{cls}><td><a href="{esc(name)}.html">{esc(v.claim)}</a><br>'
                    f'<span class="muted">{esc(v.title)}</span></td><td>{badge(v.verdict.value)}</td>'
                    f"<td>{match_text(v.matches_expectation, v.expected.value)}</td>"
                    f"<td>{esc(fmt_num(num.get('examples')))}</td><td>{_summary_cell(v)}</td>"
                    f"<td>{esc(fmt_num(v.elapsed_s))}&#8239;s</td></tr>")
    return ("<table><tr><th>claim</th><th>verdict</th><th>against expectation</th><th>cases</th>"
            "<th>evidence</th><th>time</th></tr>" + "".join(rows) + "</table>")


def _run_metadata(verdicts: Sequence[Verdict]) -> str:
    def values(attr: str) -> str:
        return ", ".join(sorted({esc(getattr(v, attr)) for v in verdicts})) or "—"
    versions = {}
    for v in verdicts:
        for k, x in v.versions.items():
            versions.setdefault(k, set()).add(str(x))
    vtext = ", ".join(f"{esc(k)} {esc(' / '.join(sorted(x)))}" for k, x in versions.items()) or "—"
    total = sum(v.elapsed_s for v in verdicts)
    return "<h2>Run</h2>" + table([("seeds", values("seed")), ("devices", values("device")),
                                   ("dtypes", values("dtype")), ("torch threads", values("torch_threads")),
                                   ("versions", vtext), ("total time", f"{esc(fmt_num(total))} s")])


def render_index_html(verdicts: Sequence[Verdict], *, title: str | None = None,
                      names: Sequence[str] | None = None) -> str:
    """The index page: every claim with its verdict against its expectation."""
    verdicts = list(verdicts)
    names = list(names) if names is not None else page_names(verdicts)
    title = title or "verify report"
    counts: dict[str, int] = {}
    for v in verdicts:
        counts[v.verdict.value] = counts.get(v.verdict.value, 0) + 1
    bad = [(v, n) for v, n in zip(verdicts, names) if not v.matches_expectation]
    found = [(v, n) for v, n in zip(verdicts, names) if v.expected.value == "refuted" and v.verdict.value == "refuted"]
    out = [f"<h1>{esc(title)}</h1>",
           f"<p><b>{len(verdicts) - len(bad)} of {len(verdicts)}</b> verdicts match their expectation"
           + (f'; <span class="bad">{len(bad)} do not</span>' if bad else "") + ". "
           + " · ".join(f"{badge(k)} {n}" for k, n in sorted(counts.items())) + "</p>"]
    if bad:
        out.append('<div class="callout"><b>Not as expected:</b><ul>' + "".join(
            f'<li><a href="{esc(n)}.html">{esc(v.claim)}</a>: {esc(v.verdict.value)} '
            f"(expected {esc(v.expected.value)}) — {esc(v.message)}</li>" for v, n in bad) + "</ul></div>")
    if any(v.expected.value == "refuted" for v in verdicts):
        heading, intro = mistakes_heading(verdicts)
        out.append(f"<h2>{esc(heading)}</h2>")
        if found:
            out.append(f"<p>{esc(intro)}</p><ul>" + "".join(
                f'<li><a href="{esc(n)}.html">{esc(v.claim)}</a> — {esc(v.title)}</li>' for v, n in found) + "</ul>")
        else:
            out.append('<p class="muted">None was refuted in this run.</p>')
    holds = [(v, n) for v, n in zip(verdicts, names) if v.expected.value == "holds"]
    mistakes = [(v, n) for v, n in zip(verdicts, names) if v.expected.value != "holds"]
    if holds:
        out.append(f"<h2>Claims expected to hold ({len(holds)})</h2>" + _index_rows(holds))
    if mistakes:
        out.append(f"<h2>Claims expected to be refuted ({len(mistakes)})</h2>" + _index_rows(mistakes))
    out.append(_run_metadata(verdicts))
    out.append('<p class="muted">Also: <a href="verdicts.json">verdicts.json</a> · '
               '<a href="index.md">index.md</a> · each page as <code>&lt;claim&gt;.md</code>.</p>')
    return document(title, "".join(out))


def render_card_html(card: ReportCard, *, title: str | None = None) -> str:
    """A regularizer's report card on one page: summary, then a section per check."""
    title_html = esc(title) if title else card_title_html(card.title or card.name)
    title = title or card_title_text(card.title or card.name)
    names = page_names(card.checks)
    status = '<span class="ok">passed</span>' if card.passed else '<span class="bad">FAILED</span>'
    counts = " · ".join(f"{badge(k)} {n}" for k, n in card.counts().items() if n)
    settings = table([(esc(k), esc(v)) for k, v in setting_rows(card.settings)]) if card.settings else ""
    mismatch = ' class="mismatch"'
    undecided = [] if card.strict else card.undecided
    rows = "".join(f'<tr{"" if v.matches_expectation or v in undecided else mismatch}><td><a href="#check-{esc(n)}">'
                   f"{esc(v.claim)}</a></td><td>{badge(v.verdict.value)}</td>"
                   f"<td>{match_text(v.matches_expectation, v.expected.value, v in undecided)}</td>"
                   f"<td>{esc(v.message)}</td></tr>" for v, n in zip(card.checks, names))
    out = [f"<h1>{title_html}</h1>", f"<p><code>{esc(card.name)}</code> — {status} {counts}</p>",
           table([("summary", esc(card.summary or "—")), ("source", esc(card.source or "—")),
                  ("total time", f"{esc(fmt_num(card.elapsed_s))} s")]),
           "<h2>Settings</h2>" + (settings or '<p class="muted">None recorded.</p>'),
           "<h2>Checks</h2><table><tr><th>check</th><th>verdict</th><th>against expectation</th>"
           f"<th>message</th></tr>{rows}</table>"]
    for v, n in zip(card.checks, names):
        out.append(f'<section id="check-{esc(n)}"><h2>Check: {esc(v.title or v.claim)}</h2>'
                   + claim_sections(v, h=3, card=card) + "</section>")
    out.append('<p class="muted">Also: <a href="card.json">card.json</a> · <a href="index.md">index.md</a></p>')
    return document(f"{title} — verify report card", "".join(out))
