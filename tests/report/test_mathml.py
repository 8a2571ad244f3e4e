"""LaTeX → MathML: every built-in statement converts, failures fall back visibly, output is sanitized."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from verify.claims import all_claims, load_builtin_claims
from verify.report.mathml import MathConversionError, is_math, latex_to_mathml, math_html, text_or_math_html


def _builtin_texts() -> list[tuple[str, str]]:
    load_builtin_claims()
    out = []
    for claim in all_claims():
        out.append((f"{claim.id}: statement", claim.statement))
        out += [(f"{claim.id}: hypothesis {i}", h) for i, h in enumerate(claim.hypotheses) if is_math(h)]
    return out


def test_every_builtin_statement_and_hypothesis_converts():
    texts = _builtin_texts()
    assert len(texts) > 40
    failures = []
    for where, tex in texts:
        try:
            ET.fromstring(latex_to_mathml(tex, display=True))
        except MathConversionError as exc:
            failures.append(f"{where}: {exc} :: {tex}")
    assert not failures, "\n".join(failures)


def test_every_derivation_step_of_a_real_run_converts(real_verdicts):
    steps = [(v.claim, s["name"], s["statement"]) for v in real_verdicts for s in (v.symbolic or {}).get("steps", [])
             if s["statement"]]
    assert len(steps) > 20
    failures = []
    for claim, name, tex in steps:
        try:
            latex_to_mathml(tex)
        except MathConversionError as exc:
            failures.append(f"{claim}/{name}: {exc} :: {tex}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("tex", [
    r"\arg\min_\alpha f(\alpha)", r"\text{lr\_decay} = 0", r"\begin{aligned} a &= b \\ c &= d \end{aligned}",
    r"\operatorname*{argmax}_x \tfrac12 x", r"a \Longrightarrow b \;\, \! \quad c", r"\lVert x \rVert",
    r"\begin{cases} 1 & x > 0 \\ 0 & \text{else} \end{cases}", r"\mathbb{R}^{n} \succeq \preceq \texttt{x}",
    r"\Bigl\| \tfrac{a}{r} \Bigr\| \le \big\Vert x \big\Vert", r"\Bigl\langle x, y \Bigr\rangle \bigl\{ z \bigr\}",
])
def test_preprocessed_constructs_convert(tex):
    mathml = latex_to_mathml(tex)
    assert mathml.startswith("<math ") and "\\" not in ET.fromstring(mathml).itertext().__next__()
    assert "&amp;" not in "".join(ET.fromstring(mathml).itertext())  # no stray alignment marks


def test_unknown_macro_falls_back_visibly():
    with pytest.raises(MathConversionError, match="unknown LaTeX command"):
        latex_to_mathml(r"\frobnicate x")
    out = math_html(r"\frobnicate x")
    assert 'class="math-fallback"' in out and "math could not be rendered" in out and "<math" not in out
    assert "<code>\\frobnicate x</code>" in out


def test_output_is_sanitized():
    out = math_html(r"\text{</math><script>alert(1)</script>} + \href{javascript:alert(1)}{x}")
    assert "<script" not in out and " href=" not in out
    assert "&lt;script&gt;" in out
    tree = ET.fromstring(out)
    assert all(el.tag.split("}")[-1] in {"math", "mrow", "mtext", "mi", "mo", "mn"} for el in tree.iter())
    # a statement that breaks latex2mathml's own output must not leak markup either
    broken = math_html(r"\text{<img src=x onerror=alert(1)>")
    assert "<img" not in broken


def test_hypothesis_convention():
    assert is_math(r"W \ne 0") and is_math("x^2 + y_1 = 0")
    assert not is_math("biases present") and not is_math("the loss is convex, x = y holds")
    words = text_or_math_html("the net <b>is</b> deep")
    assert words == "the net &lt;b&gt;is&lt;/b&gt; deep"
    mixed = text_or_math_html(r"for every $x \in \mathbb{R}$ the bound holds")
    assert mixed.startswith("for every <math") and mixed.endswith("</math> the bound holds")
    assert text_or_math_html(r"\alpha \ge 0").startswith("<math")


@pytest.mark.slow
def test_every_derivation_step_of_every_builtin_claim_converts():
    """Runs each built-in claim's symbolic part (minutes on a cold cache) and converts every step."""
    load_builtin_claims()
    failures = []
    for claim in all_claims():
        if claim.symbolic is None:
            continue
        for step in claim.symbolic().steps:
            if step.statement:
                try:
                    latex_to_mathml(step.statement)
                except MathConversionError as exc:
                    failures.append(f"{claim.id}/{step.name}: {exc} :: {step.statement}")
    assert not failures, "\n".join(failures)
