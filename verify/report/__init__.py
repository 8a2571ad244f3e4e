"""Proof reports: verdicts (or a regularizer's report card) → self-contained HTML, Markdown, JSON.

``write_report(items, out_dir)`` writes a folder atomically: an ``index.html`` of every
verdict against its expectation, one page per claim with the statement in MathML, the
derivation steps, the evidence table, the counterexample and inline SVG plots, the same
pages in Markdown, and ``verdicts.json``. Pages load nothing and run nothing (a
Content-Security-Policy forbids it); everything from a verdict is escaped. This layer
never imports torch or sympy. :mod:`verify.report.outputs` holds the rule every writer of
verify follows: targets checked before the work, an interrupted run's results in ``<path>.partial``.
"""

from verify.report.html import page_names, render_card_html, render_claim_html, render_index_html
from verify.report.markdown import render_card_markdown, render_claim_markdown, render_index_markdown
from verify.report.mathml import latex_to_mathml, math_html
from verify.report.svg import figure_svg
from verify.report.writer import MARKER, check_target, write_report

__all__ = [
    "MARKER",
    "check_target",
    "figure_svg",
    "latex_to_mathml",
    "math_html",
    "page_names",
    "render_card_html",
    "render_card_markdown",
    "render_claim_html",
    "render_claim_markdown",
    "render_index_html",
    "render_index_markdown",
    "write_report",
]
