"""A report never executes or loads anything a verdict carries: everything is escaped."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from verify.claims import Verdict
from verify.report import write_report
from verify.report._page import CSP

XSS = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
SVG_BREAK = '</svg></math><script>alert(3)</script>'


def _hostile() -> Verdict:
    figure = {"kind": "line", "title": SVG_BREAK, "x_label": XSS, "y_label": "<b onmouseover=alert(4)>",
              "x_log": False, "y_log": False, "caption": XSS,
              "series": [{"label": XSS, "x": [1, 2], "y": [1, 4], "style": "line"},
                         {"label": SVG_BREAK, "x": [1], "y": [2], "style": "points"}],
              "marks": [{"axis": "x", "value": 1.5, "label": SVG_BREAK}]}
    return Verdict(
        claim="<script>alert(5)</script>```", verdict="refuted", expected="holds", title=XSS,
        statement=r"\text{" + SVG_BREAK + r"} \href{javascript:alert(6)}{x} + \frobnicate{" + XSS + "}",
        hypotheses=[XSS, r"$\href{javascript:alert(7)}{y}$ and <iframe src=//evil>", r"\text{<script>}"],
        source="javascript:alert(8)", message=SVG_BREAK,
        symbolic={"proved": False, "sizes": XSS, "steps": [
            {"name": "<iframe src=x>", "statement": r"\foo" + XSS, "status": XSS, "sizes": XSS, "detail": SVG_BREAK,
             "elapsed_s": 0.1}]},
        numeric={"examples": XSS, "relation": XSS, "tolerance": SVG_BREAK, "boundary_cases_hit": [XSS],
                 "figures": [figure], "worst_case": {"case": {XSS: SVG_BREAK}},
                 "distribution": {"quantity": XSS, "cases": 2, "values": [0.5, 1.5]}},
        counterexample={"case": {"<script>": XSS, "link": "javascript:alert(9)"},
                        "comparison": {"status": XSS, "lhs": SVG_BREAK}, "recheck": {"status": XSS},
                        "tags": [XSS], "details": {"x": SVG_BREAK}},
        device=XSS, dtype=SVG_BREAK, versions={"<script>": XSS},
    )


class _Audit(HTMLParser):
    """Collects every element and attribute a browser would build from the page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(tag, k, v or "") for k, v in attrs]


ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "nav", "a", "h1", "h2", "h3", "h4", "p", "code", "pre", "table",
    "colgroup", "col", "tr", "th", "td", "span", "div", "ul", "li", "b", "i", "small", "details", "summary", "figure",
    "figcaption", "section", "br", "svg", "rect", "line", "polyline", "circle", "text",
    "math", "mrow", "mi", "mn", "mo", "mtext", "mspace", "msub", "msup", "msubsup", "mfrac", "mstyle", "mover",
    "munder", "munderover", "msqrt", "mroot", "mtable", "mtr", "mtd", "mpadded", "mphantom",
}


def _audit(page: str) -> None:
    audit = _Audit()
    audit.feed(page)
    assert set(audit.tags) <= ALLOWED_TAGS, set(audit.tags) - ALLOWED_TAGS
    for tag, name, value in audit.attrs:
        assert not name.startswith("on"), (tag, name, value)
        assert name not in {"src", "srcset", "action", "formaction", "xlink:href", "background"}, (tag, name)
        if name == "href":
            assert re.fullmatch(r"#[\w.-]+|[\w.-]+\.(html|md|json)", value), value
    assert audit.tags.count("script") == 0 and page.count(f'content="{CSP}"') == 1


def test_hostile_verdict_is_inert(tmp_path: Path):
    out = tmp_path / "rep"
    write_report([_hostile()], out)
    pages = sorted(out.glob("*.html"))
    assert len(pages) == 2
    for page in pages:
        text = page.read_text()
        _audit(text)
        for needle in ("<script", "<img", "<iframe", "<b onmouseover"):  # as markup; as text they are fine
            assert needle not in text, (page.name, needle)
    claim = next(p for p in pages if p.name != "index.html").read_text()
    assert "&lt;script&gt;alert(5)&lt;/script&gt;" in claim  # shown, as text
    assert "math could not be rendered" in claim  # \frobnicate: escaped TeX, visibly marked
    for md in out.glob("*.md"):
        # fenced code blocks show their content literally; everything else must be escaped
        text = re.sub(r"^(`{3,})[a-z]*\n.*?\n\1$", "", md.read_text(), flags=re.S | re.M)
        assert not re.search(r"^`{3,}", text, re.M), md.name  # no fence left open or closed early
        assert "<script" not in text and "<img" not in text and "<iframe" not in text, md.name


def test_csp_forbids_scripts_and_remote_loads():
    assert "default-src 'none'" in CSP and "script-src" not in CSP and "img-src data:" in CSP
