"""LaTeX → MathML for the report pages (latex2mathml, sanitized), with a visible fallback.

Chromium renders MathML natively, so a page needs no script or font to show math.
:func:`latex_to_mathml` preprocesses what latex2mathml cannot do (``aligned``,
``\\arg``, ``\\text{lr\\_decay}`` …), converts, then *re-serializes* the result from a
parsed tree keeping only MathML presentation elements and harmless attributes: a
statement cannot smuggle ``<script>`` through ``\\text{...}`` or a link through
``\\href``. Anything left unconverted (an unknown macro shows as ``\\foo`` in the
output) makes the conversion fail, and :func:`math_html` then shows the TeX as
escaped code with a visible "math could not be rendered" note.

Convention for hypotheses (and any user text that may or may not be math), see
:func:`text_or_math_html`: ``$...$`` segments are inline math inside words;
otherwise a string with a backslash, or made only of math-like characters, is math;
anything else is words.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET

__all__ = ["MathConversionError", "is_math", "latex_to_mathml", "math_html", "math_markdown", "text_or_math_html"]

_NS = "{http://www.w3.org/1998/Math/MathML}"

#: MathML presentation elements we let through (MathML Core plus what latex2mathml emits).
_ELEMENTS = frozenset({
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msub", "msup", "msubsup", "munder",
    "mover", "munderover", "mfrac", "msqrt", "mroot", "mstyle", "mtable", "mtr", "mtd", "mpadded",
    "mphantom", "menclose", "semantics", "annotation", "mmultiscripts", "mprescripts", "none",
})
#: attributes kept (values are escaped on output; everything else, e.g. ``href``, is dropped).
_ATTRIBUTES = frozenset({
    "display", "mathvariant", "stretchy", "fence", "form", "separator", "lspace", "rspace", "minsize",
    "maxsize", "movablelimits", "accent", "accentunder", "width", "height", "depth", "voffset",
    "linethickness", "displaystyle", "scriptlevel", "columnalign", "rowalign", "columnlines", "rowlines",
    "columnspacing", "rowspacing", "notation", "largeop", "symmetric",
})
#: MathML Core (Chromium) ignores most mathvariant values: say it with CSS instead.
_VARIANT_STYLE = {
    "bold": "font-weight:bold;font-style:normal", "bold-italic": "font-weight:bold;font-style:italic",
    "monospace": "font-family:monospace;font-style:normal", "sans-serif": "font-family:sans-serif",
    "italic": "font-style:italic",
}

_OPERATOR_NAMES = ("arg", "argmin", "argmax", "sgn", "sign", "rank", "tr", "trace", "diag",
                   "softmax", "erf", "supp", "Var", "Cov", "relu")
_SIMPLE_MACROS = {
    r"\tfrac": r"\frac", r"\dfrac": r"\frac", r"\Longrightarrow": r"\Rightarrow",
    r"\Longleftarrow": r"\Leftarrow", r"\Longleftrightarrow": r"\Leftrightarrow", r"\implies": r"\Rightarrow",
    r"\impliedby": r"\Leftarrow", r"\!": "", r"\lVert": r"\|", r"\rVert": r"\|", r"\lvert": "|", r"\rvert": "|",
    r"\operatorname*": r"\operatorname", r"\nonumber": "", r"\notag": "", r"\displaystyle": "",
}
_DELIMITERS = {r"\|": "‖", r"\Vert": "‖", r"\lVert": "‖", r"\rVert": "‖", r"\vert": "|", r"\lvert": "|",
               r"\rvert": "|", r"\{": "{", r"\}": "}", r"\lbrace": "{", r"\rbrace": "}", r"\langle": "⟨",
               r"\rangle": "⟩", r"\lfloor": "⌊", r"\rfloor": "⌋", r"\lceil": "⌈", r"\rceil": "⌉"}
#: ``\Bigl\|``: latex2mathml sizes only literal delimiters, so name the character itself
_SIZED = re.compile(r"(\\(?:big|Big|bigg|Bigg)[lrm]?)\s*(" + "|".join(
    re.escape(d) + ("(?![A-Za-z])" if d[-1].isalpha() else "") for d in sorted(_DELIMITERS, key=len, reverse=True))
    + ")")
_ENV = re.compile(r"\\begin\{(aligned|align\*?|gathered|gather\*?|split|eqnarray\*?)\}(.*?)\\end\{\1\}", re.S)
_TEXT_ESCAPES = re.compile(r"\\([_%&#$])")


class MathConversionError(ValueError):
    """latex2mathml could not turn a statement into clean MathML."""


def _preprocess(tex: str) -> str:
    """Rewrite what latex2mathml lacks into what it knows."""
    out = _ENV.sub(_aligned_to_array, tex)
    out = _SIZED.sub(lambda m: m.group(1) + _DELIMITERS[m.group(2)], out)
    # order: longest macro first, and only whole macro names (\tfrac, not \tfracx)
    for macro in sorted(_SIMPLE_MACROS, key=len, reverse=True):
        pattern = re.escape(macro) + (r"(?![A-Za-z])" if macro[-1].isalpha() else "")
        out = re.sub(pattern, lambda _m, r=_SIMPLE_MACROS[macro]: r, out)
    for name in _OPERATOR_NAMES:
        out = re.sub(r"\\" + name + r"(?![A-Za-z])", lambda _m, n=name: r"\operatorname{" + n + "}", out)
    out = re.sub(r"\\(text|texttt|textrm|mathrm|textit|textbf)\{([^{}]*)\}",
                 lambda m: "\\" + m.group(1) + "{" + html.escape(_TEXT_ESCAPES.sub(r"\1", m.group(2)), quote=False)
                 + "}", out)
    out = re.sub(r"\\(label|tag)\{[^{}]*\}", "", out)
    return out


def _aligned_to_array(match: re.Match[str]) -> str:
    body = match.group(2)
    columns = max((row.count("&") + 1 for row in body.split(r"\\")), default=1)
    spec = "".join("r" if i % 2 == 0 else "l" for i in range(columns))
    return r"\begin{array}{" + spec + "}" + body + r"\end{array}"


def _serialize(node: ET.Element, parts: list[str]) -> None:
    tag = node.tag.removeprefix(_NS)
    if tag not in _ELEMENTS:
        raise MathConversionError(f"unexpected element <{tag}> in the MathML")
    attrs = {k: v for k, v in node.attrib.items() if k in _ATTRIBUTES}
    variant = attrs.get("mathvariant")
    if variant in _VARIANT_STYLE:
        attrs["style"] = _VARIANT_STYLE[variant]
    if attrs.get("width") == "negativethinmathspace":
        attrs["width"] = "-0.167em"
    if tag == "math":
        attrs = {"display": attrs.get("display", "inline")}
    parts.append("<" + tag + "".join(f' {k}="{html.escape(v, quote=True)}"' for k, v in sorted(attrs.items())) + ">")
    text = node.text or ""
    if ("\\" in text and tag not in ("mtext", "ms")) or re.search(r"\\[A-Za-z]", text):
        raise MathConversionError(f"unknown LaTeX command {text.strip()!r}")
    parts.append(html.escape(text, quote=False))
    for child in node:
        _serialize(child, parts)
        parts.append(html.escape(child.tail or "", quote=False))
    parts.append(f"</{tag}>")


def latex_to_mathml(tex: str, *, display: bool = False) -> str:
    """Convert LaTeX to sanitized MathML markup (a ``<math>`` element).

    Raises:
        MathConversionError: if latex2mathml fails or leaves a command unconverted.
    """
    from latex2mathml.converter import convert

    source = _preprocess(tex).strip()
    if not source:
        raise MathConversionError("empty statement")
    try:
        raw = convert(source, display="block" if display else "inline")
        tree = ET.fromstring(raw)
    except Exception as exc:  # latex2mathml raises many kinds; any of them means "cannot render"
        raise MathConversionError(f"{type(exc).__name__}: {exc}") from None
    parts: list[str] = []
    _serialize(tree, parts)
    mathml = "".join(parts)
    # the alttext lets a reader copy the statement's TeX; escaped like every attribute
    return mathml.replace("<math ", f'<math alttext="{html.escape(tex, quote=True)}" ', 1)


def math_html(tex: str, *, display: bool = False) -> str:
    """MathML for ``tex``, or the escaped TeX in a visible fallback box (never raises)."""
    try:
        return latex_to_mathml(tex, display=display)
    except MathConversionError as exc:
        tag = "div" if display else "span"
        return (f'<{tag} class="math-fallback" title="{html.escape(str(exc), quote=True)}">'
                f'<code>{html.escape(tex, quote=False)}</code> '
                f'<small>(math could not be rendered: {html.escape(str(exc), quote=False)})</small></{tag}>')


_DOLLAR = re.compile(r"\$([^$]+)\$")
_PROSE = re.compile(r"[A-Za-z]{3,}[,.;:]?\s+[A-Za-z]{3,}")


def is_math(text: str) -> bool:
    r"""Whether a string without ``$`` is LaTeX (has a backslash or is not prose).

    >>> is_math(r"W \ne 0"), is_math("biases present"), is_math("x^2 + y")
    (True, False, True)
    """
    if "\\" in text:
        return True
    return bool(re.search(r"[\^_=<>]", text)) and not _PROSE.search(text)


def text_or_math_html(text: str) -> str:
    """Render a hypothesis: ``$...$`` segments as math in words, else math or words as a whole."""
    if "$" in text and _DOLLAR.search(text):
        out, last = [], 0
        for m in _DOLLAR.finditer(text):
            out.append(html.escape(text[last:m.start()], quote=False))
            out.append(math_html(m.group(1)))
            last = m.end()
        out.append(html.escape(text[last:], quote=False))
        return "".join(out)
    return math_html(text) if is_math(text) else html.escape(text, quote=False)


def math_markdown(text: str, *, display: bool = False) -> str:
    """The Markdown form: LaTeX in ``$...$`` (``$$...$$`` for display), words as they are."""
    clean = " ".join(text.split())
    if "$" in clean or not is_math(clean):
        return clean
    return f"$${clean}$$" if display else f"${clean}$"
