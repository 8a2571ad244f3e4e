"""The Markdown version of the pages: same content, math as ``$...$``, plots as a small table.

User-supplied text is HTML-escaped here too (a Markdown viewer passes inline HTML
through) and table cells have their pipes escaped.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from verify.claims import ReportCard, Verdict
from verify.report._commands import card_check_command, check_commands
from verify.report._generic import card_title_markdown, numeric_markdown, setting_rows
from verify.report._page import blas_text, fmt_num, mistakes_heading, normalized, tightest_ratio_text
from verify.report._sources import source_markdown
from verify.report.mathml import is_math, math_markdown
from verify.report.svg import distribution_figure

__all__ = ["render_card_markdown", "render_claim_markdown", "render_index_markdown"]


def _t(text: Any) -> str:
    """Escape text for Markdown prose: HTML specials, and nothing that starts a table cell."""
    return html.escape(" ".join(str(text).split()), quote=False).replace("|", "\\|")


def _code(text: Any) -> str:
    """Inline code whose delimiter is longer than any backtick run in it (escaped like prose)."""
    body = _t(text)
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    tick = "`" * (longest + 1)
    return f"{tick} {body} {tick}" if longest else f"{tick}{body}{tick}"


def _code_block(obj: Any, lang: str = "json") -> str:
    """A fenced block, its fence longer than any backtick run inside (so it cannot be closed early)."""
    text = obj if lang != "json" else json.dumps(obj, indent=2, ensure_ascii=False, default=str)
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}{lang}\n{text}\n{fence}"


def _math(text: str, display: bool = False, *, cell: bool = False) -> str:
    """Math as ``$...$`` with ``<``/``>`` as ``\\lt``/``\\gt`` (no raw angle brackets); words escaped.

    In a table cell (``cell=True``) norms and bars become ``\\Vert``/``\\vert`` so no pipe splits the row.
    """
    clean = " ".join(text.split())
    if "$" in clean or not is_math(clean):
        return _t(clean)
    clean = clean.replace("<", r"\lt ").replace(">", r"\gt ")
    if cell:
        clean = re.sub(r"(?<!\\)\|", r"\\vert ", clean.replace(r"\|", r"\Vert "))
    return math_markdown(clean, display=display)


def _series_rows(fig: Mapping[str, Any]) -> list[str]:
    rows = []
    for s in fig.get("series") or []:
        xs = [v for v in (s.get("x") or []) if isinstance(v, (int, float))]
        ys = [v for v in (s.get("y") or []) if isinstance(v, (int, float))]
        xr = f"{fmt_num(min(xs))} … {fmt_num(max(xs))}" if xs else "—"
        yr = f"{fmt_num(min(ys))} … {fmt_num(max(ys))}" if ys else "—"
        rows.append(f"| {_t(fig.get('title', ''))} | {_t(s.get('label', ''))} | {len(xs)} | {xr} | {yr} |")
    return rows


def _figure_rows(num: Mapping[str, Any], ce: Mapping[str, Any] | None) -> list[str]:
    figures = [f for f in (num.get("figures") or []) if isinstance(f, Mapping)]
    dist = num.get("distribution")
    captions = []
    if isinstance(dist, Mapping):
        hist = distribution_figure(dist, str(num.get("relation", "")), examples=num.get("examples"),
                                   counterexample=(ce or {}).get("recheck") or (ce or {}).get("comparison"))
        if hist:
            figures.append(hist)
            captions.append(f"{hist['title']}: {hist['caption']}.")
    rows = []
    for fig in figures:
        try:
            rows += _series_rows(fig)
        except Exception as exc:  # a malformed figure from a JSON file
            rows.append(f"| {_t(fig.get('title', ''))} | could not be read: {_t(exc)} | | | |")
    if not rows:
        return []
    return ["", "## Plots (in the HTML page; data ranges here)", "", "| figure | series | points | x | y |",
            "|---|---|---|---|---|", *rows, *(["", *map(_t, captions)] if captions else [])]


def _claim_body(v: Verdict, h: str = "##", card: ReportCard | None = None, docs: str | None = None) -> list[str]:
    rerun = card_check_command(card, v) if card is not None else None
    source = (card.source or card.name) if card is not None else v.source
    reported = card is not None and not card.strict and v in card.undecided
    v = normalized(v)
    match = ("reported, not failed (strict mode fails it)" if reported else
             "as expected" if v.matches_expectation else "**MISMATCH**")
    lines = [f"**Verdict:** {v.verdict.value} ({match}; expected {v.expected.value})", "",
             f"**Message:** {_t(v.message or '—')}", "",
             f"**Source:** {source_markdown(source, docs, _t) if source else '—'}", "",
             f"{h} Statement", "", _math(v.statement, display=True) if v.statement else "_No statement given._", "",
             f"{h} Hypotheses", ""]
    lines += [f"- {_math(str(x))}" for x in v.hypotheses] or ["_None stated._"]
    lines += ["", f"{h} Derivation", ""]
    sym = v.symbolic or {}
    if sym:
        lines += [f"Symbolic part: {'proved' if sym.get('proved') else 'not fully proved'}; "
                  f"sizes: {_t(sym.get('sizes', '—'))}.", "",
                  "| # | step | statement | status | sizes | how |", "|---|---|---|---|---|---|"]
        lines += [f"| {i} | {_code(s.get('name', ''))} | {_math(str(s.get('statement') or ''), cell=True)} | "
                  f"{_t(s.get('status', ''))} | {_t(s.get('sizes', ''))} | {_t(s.get('detail', ''))} |"
                  for i, s in enumerate(sym.get("steps") or [], 1)]
    else:
        lines.append("_No symbolic derivation: the claim is checked numerically only._")
    num = v.numeric or {}
    lines += ["", f"{h} Numeric evidence", ""]
    if num and card is not None:  # a report card's check: its own quantities
        lines += numeric_markdown(num)
    elif num:
        lines += ["| quantity | value |", "|---|---|"]
        for label, key in (("relation", "relation"), ("cases decided", "examples"),
                           ("distinct cases", "distinct_cases"), ("cases with a defined ratio", "cases_with_ratio"),
                           ("undecidable cases", "undecidable"), ("max abs error", "max_abs_err"),
                           ("max relative error", "max_rel_err"), ("tightest ratio", "tightest_ratio"),
                           ("smallest slack", "min_slack"), ("tolerance", "tolerance"),
                           ("cut short", "cut_short")):
            value = tightest_ratio_text(v) if key == "tightest_ratio" else fmt_num(num.get(key))
            lines.append(f"| {label} | {_t(value)} |")
        hit = ", ".join(map(str, num.get("boundary_cases_hit") or [])) or "none"
        lines.append(f"| boundary cases hit | {_t(hit)} |")
    else:
        lines.append("_No numeric check._")
    commands = rerun if rerun is not None else "\n".join(check_commands(v))
    if v.counterexample:
        lines += ["", f"{h} Counterexample", "",
                  (f"Reproduce with the same seed ({v.seed}) and settings:" if rerun is None
                   else "Reproduce by re-running this check with the same settings:"), "",
                  _code_block(commands, "sh"),
                  "", "Case:", "", _code_block(v.counterexample.get("case")), "", "Numbers (search, re-check):", "",
                  _code_block({k: v.counterexample.get(k) for k in ("comparison", "recheck", "tags", "details")})]
    lines += _figure_rows(num, v.counterexample)
    versions = ", ".join(f"{k} {val}" for k, val in v.versions.items()) or "—"
    lines += ["", f"{h} Run", "", f"seed {v.seed} · device {_t(v.device)} · dtype {_t(v.dtype)} · "
              f"torch threads {v.torch_threads} · BLAS threads {blas_text(v.blas_threads)} · {fmt_num(v.elapsed_s)} s",
              "", f"versions: {_t(versions)}", "",
              "Run it again:", "", _code_block(commands.splitlines()[0], "sh")]
    return lines


def render_claim_markdown(verdict: Verdict, *, docs: str | None = None) -> str:
    """The Markdown page of one claim (``docs``: the link to the repository's docs folder, or None)."""
    v = verdict
    return "\n".join([f"# {_t(v.title or v.claim)}", "", f"Claim {_code(v.claim)}", "", *_claim_body(v, docs=docs),
                      ""])


def render_index_markdown(verdicts: Sequence[Verdict], names: Sequence[str], *, title: str | None = None) -> str:
    """The index as Markdown: a table of every claim, linking to its ``.md`` page."""
    ok = sum(v.matches_expectation for v in verdicts)
    lines = [f"# {_t(title or 'verify report')}", "", f"{ok} of {len(verdicts)} verdicts match their expectation.", "",
             "| claim | verdict | expected | as expected |", "|---|---|---|---|"]
    for v, n in zip(verdicts, names):
        lines.append(f"| [{_t(v.claim)}]({n}.md) | {v.verdict.value} | {v.expected.value} | "
                     f"{'yes' if v.matches_expectation else '**NO**'} |")
    found = [(v, n) for v, n in zip(verdicts, names) if v.expected.value == "refuted" and v.verdict.value == "refuted"]
    if any(v.expected.value == "refuted" for v in verdicts):
        lines += ["", f"## {mistakes_heading(verdicts)[0]}", ""]
        lines += [f"- [{_t(v.claim)}]({n}.md): {_t(v.title)}" for v, n in found] or ["_None was refuted in this run._"]
    return "\n".join(lines) + "\n"


def render_card_markdown(card: ReportCard) -> str:
    """A regularizer's report card as Markdown."""
    status = "passed" if card.passed else "FAILED"
    lines = [f"# {card_title_markdown(card.title or card.name)}", "", f"Regularizer {_code(card.name)} — {status}", "",
             f"**Summary:** {_t(card.summary or '—')}", "", f"**Source:** {_t(card.source or '—')}", ""]
    if card.settings:
        lines += ["| setting | value |", "|---|---|"]
        lines += [f"| {_t(k)} | {_t(val)} |" for k, val in setting_rows(card.settings)]
    for v in card.checks:
        lines += ["", f"## Check: {_t(v.title or v.claim)}", "", *_claim_body(v, h="###", card=card)]
    return "\n".join(lines) + "\n"
