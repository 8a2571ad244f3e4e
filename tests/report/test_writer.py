"""write_report: the files it writes, atomic replacement, refusal of foreign folders, report cards."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

import verify.report.writer as writer
from tests.report.conftest import pick
from verify.claims import ReportCard, Verdict, dump_verdicts, load_verdicts
from verify.errors import InvalidInputError
from verify.report import MARKER, write_report

IDS = ("descent-lemma", "descent-lemma-beyond-2-over-M", "softmax-ce-hessian")


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".new-" in p.name or ".old-" in p.name)


def test_writes_pages_json_and_markdown(real_verdicts, tmp_path, verdict_schema):
    verdicts = pick(real_verdicts, *IDS)
    out = tmp_path / "rep"
    index = write_report(verdicts, out, title="My run")
    assert index == out / "index.html"
    names = {p.name for p in out.iterdir()}
    assert names == {"index.html", "index.md", "verdicts.json", MARKER} | {f"{i}.{ext}" for i in IDS
                                                                         for ext in ("html", "md")}
    text = (out / "verdicts.json").read_text()
    assert text == dump_verdicts(verdicts)
    assert [v.to_json() for v in load_verdicts(text)] == [v.to_json() for v in verdicts]
    jsonschema.validate(json.loads(text), verdict_schema)
    page = (out / "index.html").read_text()
    assert "<title>My run</title>" in page and 'href="descent-lemma.html"' in page
    assert "Mistakes found in the source documents" in page and "descent-lemma-beyond-2-over-M" in page
    claim = (out / "descent-lemma-beyond-2-over-M.html").read_text()
    assert "verify check descent-lemma-beyond-2-over-M --replay out.json" in claim
    assert "Counterexample" in claim and "<svg" in claim
    md = (out / "descent-lemma.md").read_text()
    assert md.startswith("# Descent lemma") and "$$" in md and "| taylor-integral-remainder" not in md
    assert "`taylor-integral-remainder`" in md
    assert _leftovers(tmp_path) == []


def test_rerun_replaces_stale_pages(real_verdicts, tmp_path):
    out = tmp_path / "rep"
    write_report(pick(real_verdicts, *IDS), out)
    (out / "by-hand.txt").write_text("added after the report")
    write_report(pick(real_verdicts, "softmax-ce-hessian"), out)
    names = {p.name for p in out.iterdir()}
    assert names == {"index.html", "index.md", "verdicts.json", MARKER, "softmax-ce-hessian.html",
                     "softmax-ce-hessian.md"}
    assert len(load_verdicts((out / "verdicts.json").read_text())) == 1
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_interrupted_run_leaves_previous_report_intact(real_verdicts, tmp_path, monkeypatch, exc):
    out = tmp_path / "rep"
    write_report(pick(real_verdicts, *IDS), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    calls = []

    def failing(v: Verdict, **_options) -> str:
        calls.append(v.claim)
        if len(calls) == 2:
            raise exc
        return "partial"

    monkeypatch.setattr(writer, "render_claim_markdown", failing)
    with pytest.raises(type(exc)):
        write_report(pick(real_verdicts, "softmax-ce-hessian", "descent-lemma"), out)
    assert len(calls) == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert _leftovers(tmp_path) == []


def test_refuses_a_foreign_folder(real_verdicts, tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(InvalidInputError, match=r"Refusing to replace .*thesis\.tex.*--out"):
        write_report(pick(real_verdicts, *IDS), out)
    assert [p.name for p in out.iterdir()] == ["thesis.tex"] and (out / "thesis.tex").read_text() == "precious"
    a_file = tmp_path / "file.html"
    a_file.write_text("x")
    with pytest.raises(InvalidInputError, match="not a folder"):
        write_report(pick(real_verdicts, *IDS), a_file)
    assert a_file.read_text() == "x" and _leftovers(tmp_path) == []


def test_readme_only_folder_is_ours_and_its_readme_is_kept(real_verdicts, tmp_path):
    out = tmp_path / "reports"
    out.mkdir()
    (out / "README.md").write_text("# reports/\ncommitted readme\n")
    (out / "verdicts.json").write_text("{}")  # what `make check` wrote before reports existed
    write_report(pick(real_verdicts, *IDS), out)
    write_report(pick(real_verdicts, "descent-lemma"), out)
    assert (out / "README.md").read_text() == "# reports/\ncommitted readme\n"
    assert (out / MARKER).is_file() and (out / "descent-lemma.html").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert write_report([], empty).is_file()


def test_leftovers_of_a_killed_run_are_removed(real_verdicts, tmp_path):
    import os

    stale, fresh, foreign = tmp_path / ".rep.new-abc123", tmp_path / ".rep.old-def456", tmp_path / ".rep.new-mine"
    for folder in (stale, fresh, foreign):
        folder.mkdir()
    (stale / MARKER).write_text("")
    (fresh / MARKER).write_text("")
    os.utime(stale, (1, 1))
    write_report(pick(real_verdicts, "descent-lemma"), tmp_path / "rep")
    assert not stale.exists() and fresh.exists() and foreign.exists()  # a concurrent run's, and not ours


def test_rejects_other_items(tmp_path):
    with pytest.raises(InvalidInputError, match="list of verify.Verdict or a verify.ReportCard"):
        write_report("descent-lemma", tmp_path / "x")
    with pytest.raises(InvalidInputError, match="items of type dict"):
        write_report([{"claim": "x"}], tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_unusual_claim_ids_get_safe_unique_file_names(real_verdicts, tmp_path):
    base = pick(real_verdicts, "descent-lemma")[0]
    odd = [Verdict(**{**base.__dict__, "claim": c}) for c in ("my_file.py::claim", "../../etc/passwd", "index",
                                                               "my_file.py::claim")]
    out = tmp_path / "rep"
    write_report(odd, out)
    pages = sorted(p.name for p in out.glob("*.html"))
    assert pages == ["claim-index.html", "etc_passwd.html", "index.html", "my_file.py_claim-2.html",
                     "my_file.py_claim.html"]
    assert not (tmp_path / "etc").exists()


def test_malformed_evidence_does_not_crash_the_report(tmp_path):
    odd = Verdict(claim="odd", verdict="error", expected="holds", statement="", symbolic="not a dict",
                  numeric={"figures": ["bad", {"title": "t", "series": "abc"}], "distribution": [1, 2],
                           "boundary_cases_hit": "x", "examples": "nan"},
                  counterexample=[1, 2], hypotheses=["x = 1"], versions={"torch": None})
    out = tmp_path / "rep"
    write_report([odd], out)
    page = (out / "odd.html").read_text()
    assert "could not be drawn" in page and "No statement given" in page
    assert "could not be read" in (out / "odd.md").read_text()
    assert 'class="mismatch"' in (out / "index.html").read_text()


def _card() -> ReportCard:
    good = Verdict(claim="gradient", verdict="verified", expected="holds", title="Gradient matches autograd",
                   statement=r"\nabla R(\theta) = g(\theta)", message="No counterexample in 20 cases.",
                   numeric={"examples": 20, "max_abs_err": 1e-15, "max_rel_err": 2e-16, "relation": "equality",
                            "distribution": {"quantity": "relative error", "cases": 3, "values": [0.0, 1e-16, 2e-16]},
                            "figures": [{"kind": "line", "title": "descent margin vs α", "x_label": "α",
                                         "y_label": "margin", "x_log": False, "y_log": False, "caption": "",
                                         "series": [{"label": "margin", "x": [0, 1, 2, 3], "y": [0, 1, 0, -3],
                                                     "style": "line"}],
                                         "marks": [{"axis": "x", "value": 2.0, "label": "2/M"}]}]})
    bad = Verdict(claim="smoothness", verdict="refuted", expected="holds", title="Smoothness constant",
                  statement=r"\|\nabla^2 R\| \le M", message="A counterexample survived the independent re-check.",
                  counterexample={"case": {"theta": [1.0, 2.0]}, "comparison": {"lhs": 3.0, "rhs": 1.0},
                                  "recheck": {"lhs": 3.0, "rhs": 1.0}})
    return ReportCard(name="my_regs.py::l2", checks=[good, bad], title="L2 penalty", source="my_regs.py:3",
                      summary="gradient ok; smoothness refuted", settings={"lambda": 0.1, "device": "cpu"},
                      elapsed_s=1.5)


def test_report_card(tmp_path):
    card = _card()
    out = tmp_path / "card"
    index = write_report(card, out)
    assert {p.name for p in out.iterdir()} == {"index.html", "index.md", "card.json", MARKER}
    assert (out / "card.json").read_text() == card.dumps()
    assert ReportCard.from_json(json.loads((out / "card.json").read_text())).to_json() == card.to_json()
    page = index.read_text()
    assert "L2 penalty" in page and "FAILED" in page and 'id="check-gradient"' in page
    assert 'href="#check-smoothness"' in page and page.count("<svg") == 2 and "2/M" in page
    assert "verify regularizer my_regs.py::l2 --checks smoothness --seed 0 --out card" in page
    assert "verify check smoothness" not in page and 'class="math-fallback"' not in page
    md = (out / "index.md").read_text()
    assert "## Check: Smoothness constant" in md and "FAILED" in md and "descent margin vs α" in md


def test_an_interrupted_run_writes_a_marked_partial_beside_the_report(real_verdicts, tmp_path):
    out = tmp_path / "rep"
    write_report(pick(real_verdicts, *IDS), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    index = write_report(pick(real_verdicts, "descent-lemma"), out, interrupted=True)
    partial = tmp_path / "rep.partial"
    assert index == partial / "index.html"
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert json.loads((partial / "verdicts.json").read_text())["interrupted"] is True
    for page in [*partial.glob("*.html"), *partial.glob("*.md")]:
        assert "Interrupted run:" in page.read_text() and "report in rep/" in page.read_text(), page.name
    write_report(_card(), tmp_path / "card", interrupted=True)
    card = tmp_path / "card.partial"
    assert json.loads((card / "card.json").read_text())["interrupted"] is True
    assert "Interrupted run:" in (card / "index.html").read_text() and not (tmp_path / "card").exists()
    assert _leftovers(tmp_path) == []


def test_a_second_interrupt_while_writing_the_partial_changes_nothing(real_verdicts, tmp_path, monkeypatch):
    out = tmp_path / "rep"
    write_report(pick(real_verdicts, *IDS), out)
    write_report(pick(real_verdicts, "descent-lemma"), out, interrupted=True)  # an older partial of ours
    before = {folder: {p.name: p.read_bytes() for p in folder.iterdir()} for folder in (out, tmp_path / "rep.partial")}

    def interrupted_again(v: Verdict, **_options) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(writer, "render_claim_markdown", interrupted_again)
    with pytest.raises(KeyboardInterrupt):
        write_report(pick(real_verdicts, *IDS), out, interrupted=True)
    assert {folder: {p.name: p.read_bytes() for p in folder.iterdir()} for folder in before} == before
    assert _leftovers(tmp_path) == []


def test_a_foreign_partial_folder_is_never_replaced(real_verdicts, tmp_path):
    (tmp_path / "rep.partial").mkdir()
    (tmp_path / "rep.partial" / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match="Refusing to replace"):
        write_report(pick(real_verdicts, *IDS), tmp_path / "rep", interrupted=True)
    assert (tmp_path / "rep.partial" / "notes.txt").read_text() == "mine"


def test_page_names_do_not_depend_on_the_order_verdicts_arrive_in(real_verdicts):
    """The same claim checked twice (two tests, pytest -n 2): each verdict keeps its page name in every run."""
    from itertools import permutations

    from verify.report import page_names

    base, other = pick(real_verdicts, "descent-lemma", "softmax-ce-hessian")
    verdicts = [Verdict(**{**base.__dict__, "message": "from test_a"}),
                Verdict(**{**base.__dict__, "message": "from test_b"}), other]
    expected = {v.message: name for v, name in zip(verdicts, page_names(verdicts))}
    assert sorted(expected.values()) == ["descent-lemma", "descent-lemma-2", "softmax-ce-hessian"]
    for order in permutations(verdicts):
        run = [Verdict(**{**v.__dict__, "elapsed_s": 7.0 * i}) for i, v in enumerate(order)]  # timings vary
        assert {v.message: name for v, name in zip(run, page_names(run))} == expected
