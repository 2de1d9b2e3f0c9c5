"""Documents cited from the code and the tests are in the repository."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _sources():
    for folder in ("src", "tests"):
        yield from (ROOT / folder).rglob("*.py")


def test_cited_docs_exist():
    cited = set()
    for path in _sources():
        text = path.read_text(encoding="utf-8")
        cited |= set(re.findall(r"\b(docs/[\w./-]+\.md)", text))
    assert "docs/privacy.md" in cited  # the audit's method
    missing = sorted(c for c in cited if not (ROOT / c).is_file())
    assert missing == []


def test_no_citation_of_a_design_file_that_is_not_shipped():
    if (ROOT / "DESIGN.md").exists():
        return
    name = "DESIGN" + ".md"  # spelled so that this file does not cite it
    offenders = [
        p.name for p in _sources() if p != Path(__file__) and name in p.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_audit_section_is_in_the_privacy_page():
    page = (ROOT / "docs" / "privacy.md").read_text(encoding="utf-8")
    assert "## The statistical audit" in page and "Clopper" in page


def test_relative_links_in_the_docs_resolve():
    """Every relative link of the README and docs/ points at a file that exists."""
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://", "mailto:", "#")):
                continue
            path = target.split("#", 1)[0]
            if not (page.parent / path).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []
