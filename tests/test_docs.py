"""The documentation lives in the repository: nothing cites a file outside it, and every citation resolves.

A user who clones the project has `docs/` and nothing else: sources are cited by key (`[S000]`,
`[Dherin2022]`: entries of docs/sources.md) and statements by section (`docs/claims.md#c1`).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from verify import all_claims

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
#: names of documents that exist only outside the repository (built from parts: this file must not match)
OUTSIDE = re.compile("|".join([r"\b(?:CLAIMS|ARCHITECTURE|STYLE)" + r"\.md\b", r"\.\./" + "shared", r"\bshared/",
                               r"\bseeds" + "/"]))
KEY = re.compile(r"\[(S\d{3}|[A-Z][A-Za-z]*\d{4})\]")
DOC_REF = re.compile(r"\bdocs/([\w.-]+\.md)#([\w-]+)")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _tracked_text_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    out = []
    for name in listed:
        path = ROOT / name
        if path.is_file() and path.suffix in {".py", ".md", ".toml", ".json", ".txt", ".cfg", ".yml", ""}:
            out.append(path)
    return out


def _anchors(path: Path) -> set[str]:
    """Explicit ``<a id="x">`` anchors and GitHub-style heading slugs of a Markdown file."""
    text = path.read_text(encoding="utf-8")
    ids = set(re.findall(r'<a id="([\w-]+)"></a>', text))
    for heading in re.findall(r"^#+\s+(.+)$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        ids.add(slug)
    return ids


def test_no_file_refers_to_a_document_outside_the_repository():
    found = []
    for path in _tracked_text_files():
        if path == Path(__file__).resolve():
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:100]}")
    assert not found, "references to documents outside the repository:\n" + "\n".join(found)


def test_the_check_above_can_fail():
    assert OUTSIDE.search("see " + "CLAIMS" + ".md C2") and OUTSIDE.search("../" + "shared/x")
    assert not OUTSIDE.search("docs/claims.md#c2 and a shared library")


@pytest.mark.parametrize("name", ["architecture.md", "claims.md", "sources.md", "tolerance.md", "adding-a-family.md"])
def test_the_readme_links_each_doc(name):
    assert (DOCS / name).is_file()
    assert f"](docs/{name})" in (ROOT / "README.md").read_text(encoding="utf-8")


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md")), ROOT / "bench" / "README.md"]


def test_relative_links_in_the_docs_resolve():
    broken = []
    for page in _markdown_files():
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target) or target.startswith("#") and not target[1:]:
                continue
            file_part, _, anchor = target.partition("#")
            dest = (page.parent / file_part).resolve() if file_part else page
            if not dest.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{page.relative_to(ROOT)}: {target} (no such anchor)")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("claim", all_claims(), ids=lambda c: c.id)
def test_each_builtin_source_cites_entries_that_exist(claim):
    keys = KEY.findall(claim.source)
    refs = DOC_REF.findall(claim.source)
    assert keys, f"{claim.id}: the source cites no key of docs/sources.md: {claim.source!r}"
    assert any(f == "claims.md" for f, _ in refs), f"{claim.id}: the source names no section of docs/claims.md"
    sources, claims_doc = _anchors(DOCS / "sources.md"), _anchors(DOCS / "claims.md")
    assert all(k.lower() in sources for k in keys), f"{claim.id}: {keys} not all in docs/sources.md"
    for file, anchor in refs:
        assert anchor in _anchors(DOCS / file), f"{claim.id}: docs/{file}#{anchor} does not exist"
    assert claim.id in claims_doc, f"{claim.id} has no entry (anchor) in docs/claims.md"
