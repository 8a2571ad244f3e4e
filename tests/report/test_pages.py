"""What the pages say: re-run commands, undefined ratios, −0, the index's refuted list, report cards."""

from __future__ import annotations

import copy
import html
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.report.conftest import DATA, pick
from verify.claims import ReportCard, Verdict, verdict_ref
from verify.report import (
    render_card_html,
    render_card_markdown,
    render_claim_html,
    render_claim_markdown,
    render_index_html,
    render_index_markdown,
)
from verify.report._commands import card_check_command, check_commands
from verify.report._page import fmt_num


def _refuted(**over) -> Verdict:
    no_ratio = {"lhs": 1.0, "rhs": 0.0, "ratio": None, "slack": -1.0}
    base = dict(claim="c", verdict="refuted", expected="refuted", statement=r"f(x) \le g(x)", seed=7,
                numeric={"relation": "inequality", "examples": 12, "examples_requested": 50, "tightest_ratio": None,
                         "distribution": {"quantity": "ratio lhs/rhs", "cases": 11,
                                          "values": [0.1 * k for k in range(11)]}},
                counterexample={"case": {"x": 0.0}, "comparison": no_ratio, "recheck": dict(no_ratio)})
    base.update(over)
    return Verdict(**base)


def _pre_commands(page: str) -> list[str]:
    """The lines of the page's command block, unescaped as a browser shows them."""
    block = re.search(r'<pre class="cmd">(.*?)</pre>', page, re.S)
    assert block, "no command block"
    return html.unescape(block.group(1)).splitlines()


# --- 1. exactly runnable commands -----------------------------------------------------------------


@pytest.mark.parametrize("ref", ["claims/my claims.py::c", "a.py::c;rm -rf ~", "x.py::$(touch pwned)", "plain-id"])
def test_commands_use_the_quoted_ref_seed_and_examples(ref):
    v = _refuted(ref=ref, dtype="float32")
    run, replay = check_commands(v)
    argv = shlex.split(run)
    assert argv == ["verify", "check", ref, "--seed", "7", "--examples", "50", "--dtype", "float32", "--json",
                    "out.json"]
    assert shlex.split(replay) == ["verify", "check", ref, "--replay", "out.json", "--dtype", "float32"]
    page = render_claim_html(v)
    assert _pre_commands(page) == [run, replay]
    assert f"<code>{html.escape(run)}</code>" in page  # the Run section's command
    md = render_claim_markdown(v)
    assert f"```sh\n{run}\n{replay}\n```" in md and f"```sh\n{run}\n```" in md  # fenced: shown verbatim


def test_commands_fall_back_to_the_id_and_omit_what_is_unknown():
    v = _refuted(numeric={"relation": "inequality", "examples": 3})
    assert getattr(v, "ref", "") == "" and verdict_ref(v) == "c"
    assert check_commands(v) == ("verify check c --seed 7 --json out.json", "verify check c --replay out.json")
    old = Verdict.from_json({k: x for k, x in v.to_json().items() if k != "ref"})  # JSON from before refs
    assert check_commands(old)[0] == "verify check c --seed 7 --json out.json"


def test_builtin_counterexample_page_names_the_id_and_seed(real_verdicts):
    (v,) = pick(real_verdicts, "descent-lemma-beyond-2-over-M")
    lines = _pre_commands(render_claim_html(v))
    assert lines[0].startswith(f"verify check descent-lemma-beyond-2-over-M --seed {v.seed}")
    assert lines[1] == "verify check descent-lemma-beyond-2-over-M --replay out.json"


@pytest.mark.slow
def test_printed_commands_run_and_replay(real_verdicts, tmp_path):
    """The two lines a page prints, run in a shell as they are: the replay finds the counterexample again."""
    v = copy.deepcopy(pick(real_verdicts, "seed004-rmsprop-initial-sigma")[0])
    v.numeric["examples_requested"] = 5
    bindir = str(Path(sys.executable).parent)
    for line in _pre_commands(render_claim_html(v)):
        done = subprocess.run(line, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                              env={"PATH": bindir + ":/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
        assert done.returncode == 0, done.stdout + done.stderr
    assert "replayed counterexample → violated" in done.stdout
    saved = json.loads((tmp_path / "out.json").read_text())
    saved = saved["verdicts"][0] if isinstance(saved, dict) else saved[0]
    assert saved["verdict"] == "refuted" and saved["seed"] == v.seed
    assert saved["numeric"]["examples_requested"] == 5


# --- 3. negative zero, 4. undefined ratios -------------------------------------------------------


def test_negative_zero_is_zero():
    assert fmt_num(-0.0) == "0" and fmt_num(0.0) == "0" and fmt_num(-1e-9) == "-1.000e-09"
    v = Verdict(claim="z", verdict="verified", expected="holds", numeric={"relation": "inequality", "min_slack": -0.0})
    assert "-0<" not in render_claim_html(v) and "| smallest slack | 0 |" in render_claim_markdown(v)


def test_pages_show_distinct_cases_and_cases_with_a_ratio():
    """The search's own count of distinct cases, beside the cases decided (most may repeat one)."""
    v = Verdict(claim="d", verdict="verified", expected="holds",
                numeric={"relation": "inequality", "examples": 100, "distinct_cases": 37, "cases_with_ratio": 31})
    md, page = render_claim_markdown(v), render_claim_html(v)
    assert "| distinct cases | 37 |" in md and "| cases with a defined ratio | 31 |" in md
    assert re.search(r"distinct cases</t[hd]>\s*<td[^>]*>37<", page), page


def test_undefined_tightest_ratio_is_explained_and_counted():
    page, md = render_claim_html(_refuted()), render_claim_markdown(_refuted())
    for text in (page, md):
        assert "undefined: rhs ≤ 0 in the tightest case" in text
        assert "1 more case had an undefined ratio (rhs ≤ 0) and cannot be shown" in text
        assert "the counterexample has no ratio (rhs = 0 ≤ 0), so it is not in the histogram" in text
    # other cases had ratios: the largest is not passed off as the tightest
    mixed = _refuted(numeric={**_refuted().numeric, "tightest_ratio": 0.8})
    assert "undefined: rhs ≤ 0 in the tightest case (largest ratio among the other cases: 0.8)" in render_claim_html(
        mixed)


def test_defined_counterexample_ratio_is_marked_in_the_histogram():
    ce = {"case": {}, "comparison": {"lhs": 3.0, "rhs": 2.0, "ratio": 1.5}, "recheck": {"lhs": 3.0, "rhs": 2.0,
                                                                                         "ratio": 1.5}}
    num = {**_refuted().numeric, "tightest_ratio": 1.5, "examples": 11}
    page = render_claim_html(_refuted(numeric=num, counterexample=ce))
    assert ">counterexample</text>" in page and "undefined" not in page and "more case" not in page
    holds = Verdict(claim="h", verdict="verified", expected="holds",
                    numeric={"relation": "inequality", "examples": 11, "tightest_ratio": 0.9, "distribution":
                             {"cases": 11, "values": [0.9] * 11}})
    assert "undefined" not in render_claim_html(holds) and ">0.9<" in render_claim_html(holds)
    # the smallest-slack case of a claim that holds may have rhs ≤ 0: the largest ratio is still the tightest
    tight = {"case": {}, "comparison": {"lhs": -1.0, "rhs": -1.0, "ratio": None, "slack": 0.0}}
    holds.numeric["worst_case"] = tight
    assert "undefined" not in render_claim_html(holds) and ">0.9<" in render_claim_html(holds)
    no_ratio = Verdict(claim="n", verdict="verified", expected="holds",
                       numeric={"relation": "inequality", "examples": 4, "tightest_ratio": None})
    assert "undefined: rhs ≤ 0 in every case" in render_claim_html(no_ratio)


# --- 2. the derivation table ---------------------------------------------------------------------


def test_step_details_get_their_own_row_and_math_its_own_scroller(real_verdicts):
    (v,) = pick(real_verdicts, "descent-lemma")
    page = render_claim_html(v)
    steps = page[page.index('<table class="steps">'):]
    steps = steps[:steps.index("</table>")]
    assert "<th>how</th>" not in steps and steps.count('<tr class="how">') == len(v.symbolic["steps"])
    assert steps.count('<div class="mathcell">') == len(v.symbolic["steps"])
    first = v.symbolic["steps"][0]
    assert f'<td colspan="5"><span class="muted">how:</span> {html.escape(first["detail"])}</td>' in steps
    assert '<div class="scroll"><table class="steps">' not in page  # the table no longer scrolls as a whole


# --- 6. the index's list of refuted claims --------------------------------------------------------


def _user(claim: str, expected: str, verdict: str) -> Verdict:
    return Verdict(claim=claim, verdict=verdict, expected=expected, source="my_claims.py:3",
                   ref=f"my_claims.py::{claim}")


def test_index_of_user_claims_has_no_source_documents_section():
    only_holds = [_user("a", "holds", "verified"), _user("b", "holds", "proved")]
    for text in (render_index_html(only_holds), render_index_markdown(only_holds, ["a", "b"])):
        assert "Mistakes found" not in text and "in the source documents" not in text
    with_refuted = [*only_holds, _user("wrong", "refuted", "refuted")]
    for text in (render_index_html(with_refuted), render_index_markdown(with_refuted, ["a", "b", "wrong"])):
        assert "Mistakes found (claims expected to be refuted)" in text and "in the source documents" not in text
        assert "wrong" in text
    missed = [_user("wrong", "refuted", "verified")]
    assert "None was refuted in this run" in render_index_html(missed)


def test_index_of_builtin_claims_names_the_source_documents(real_verdicts):
    verdicts = pick(real_verdicts, "descent-lemma", "descent-lemma-beyond-2-over-M")
    assert "Mistakes found in the source documents" in render_index_html(verdicts)
    assert "## Mistakes found in the source documents" in render_index_markdown(verdicts, ["a", "b"])


# --- 5. report cards -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def card() -> ReportCard:
    """A real card: `verify regularizer l2` (seed 0, float64), stored without indentation."""
    return ReportCard.from_json(json.loads((DATA / "card_l2.json").read_text(encoding="utf-8")))


def test_card_checks_show_their_own_numbers(card):
    page = render_card_html(card)
    assert "cases decided" not in page and "tightest ratio" not in page  # the claim-search table is not used
    smooth = page[page.index('id="check-smoothness"'):page.index('id="check-descent"')]
    m = next(v for v in card.checks if v.claim == "smoothness").numeric["M"]
    assert f"<td>M</td><td>{fmt_num(m)}</td>" in smooth and "safe step 2 over M" in smooth
    assert "lambda max" in smooth and "L+λR" in smooth  # nested per-point curvature as a table
    descent = page[page.index('id="check-descent"'):page.index('id="check-constraint"')]
    assert "(26 values)" in descent  # F along 25 steps: shortened to its ends
    assert "<td>figures</td>" not in page and "<td>distribution</td>" not in page
    md = render_card_markdown(card)
    assert "| M | 1.642 |" in md and "| cases decided |" not in md and "(26 values)" in md


def test_card_reads_for_a_user(card):
    page, md = render_card_html(card), render_card_markdown(card)
    for text in (page, md):
        assert "issue 6" not in text and "verify.check_regularizer" not in text  # what the checks record
        assert "user_grad" not in text and "task_description" not in text and ":math:" not in text
        assert "your analytic gradient (--grad) checked" in text and "λ (regularization strength)" in text
    assert page.count(html.escape(card.source)) >= 1 + len(card.checks)  # the card's source, for every check
    title = page[page.index("<h1>"):page.index("</h1>")]
    assert "<math" in title and "Weight decay" in title
    assert "<title>Weight decay R(\\theta)" in page
    assert md.startswith("# Weight decay $R(\\theta) = \\sum_p \\|p\\|^2$ over")


def test_card_rerun_command_is_the_regularizer_cli(card):
    gradient = next(v for v in card.checks if v.claim == "gradient")
    cmd = card_check_command(card, gradient)
    assert shlex.split(cmd) == ["verify", "regularizer", "l2", "--lam", "0.01", "--task", "mlp", "--checks",
                                "gradient", "--seed", "0", "--out", "card"]
    assert html.escape(cmd) in render_card_html(card)
    odd = ReportCard(name="my regs.py::r", checks=[gradient], settings={"lam": 0.5, "lams": [1.0, 2.0],
                                                                      "user_grad": True, "dtype": "float32"})
    argv = shlex.split(card_check_command(odd, gradient))
    assert argv[2] == "my regs.py::r" and argv[3:5] == ["--lams", "1.0,2.0"] and "--lam" not in argv
    assert argv[argv.index("--dtype") + 1] == "float32" and "--grad" in argv


# --- 6. sources a reader can follow ------------------------------------------------------------------


def test_source_citations_link_into_the_repository_docs(real_verdicts, tmp_path):
    """A built-in claim's page links its source key and its docs section to the repository's docs files."""
    from verify.report import write_report

    (v,) = pick(real_verdicts, "seed000-ascent-update")
    assert "[S000]" in v.source and "docs/claims.md#c2" in v.source
    out = tmp_path / "rep"
    write_report([v], out)
    page = (out / f"{v.claim}.html").read_text()
    links = dict((html.unescape(text), href) for href, text in re.findall(r'<a href="([^"]+)">([^<]+)</a>', page))
    docs = Path(__file__).resolve().parents[2] / "docs"
    for text, target in (("[S000]", docs / "sources.md"), ("docs/claims.md#c2", docs / "claims.md")):
        href = links[text]
        assert (out / href.split("#")[0]).resolve() == target.resolve() and target.is_file()
    anchor = links["[S000]"].split("#")[1]
    assert f'<a id="{anchor}"></a>' in (docs / "sources.md").read_text()
    md = (out / f"{v.claim}.md").read_text()
    assert f"[\\[S000\\]]({links['[S000]']})" in md or f"[[S000]]({links['[S000]']})" in md


def test_without_the_repository_docs_the_source_stays_text():
    from verify.report._sources import source_html

    assert source_html("[S000] §x; docs/claims.md#c2", None) == "[S000] §x; docs/claims.md#c2"
    assert source_html("my_claims.py:3", "../docs") == "my_claims.py:3"
