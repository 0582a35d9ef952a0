"""The book's sources: every page listed, described by front matter, and cited correctly."""

import datetime as dt
from pathlib import Path

import pytest

from bookcheck import (
    ROOT,
    THEMES,
    bib_keys,
    cite_keys,
    front_matter_problems,
    page_path,
    toc_files,
    unknown_citations,
)

PAGES = [page_path(name) for name in toc_files()]


def test_toc_names_existing_pages_once():
    names = toc_files()
    assert len(names) == len(set(names)), "a page is listed twice in _toc.yml"
    assert all(p.exists() for p in PAGES)


def test_every_notebook_is_in_the_toc():
    listed = {p.resolve() for p in PAGES}
    notebooks = [p for p in (ROOT / "notebooks").glob("*.md")]
    missing = [p.name for p in notebooks if p.resolve() not in listed]
    assert not missing, f"notebooks not in _toc.yml (they would never be built): {missing}"


def test_every_theme_page_is_in_the_toc():
    listed = {p.resolve() for p in PAGES}
    pages = [p for theme in THEMES for p in (ROOT / theme).glob("*.md")]
    missing = [str(p.relative_to(ROOT)) for p in pages if p.resolve() not in listed]
    assert not missing, f"pages not in _toc.yml: {missing}"


def test_every_page_has_front_matter():
    problems = [problem for page in PAGES for problem in front_matter_problems(page)]
    assert not problems, "\n".join(problems)


def test_every_citation_key_resolves():
    problems = unknown_citations(PAGES, bib_keys())
    assert not problems, "\n".join(problems)


def test_every_theme_chapter_cites_a_source():
    uncited = [
        str(p.relative_to(ROOT))
        for p in PAGES
        if p.parent.name in THEMES and not cite_keys(p.read_text(encoding="utf-8"))
    ]
    assert not uncited, f"chapter pages without a single citation: {uncited}"


def test_every_bib_entry_has_a_doi_or_url():
    from pybtex.database import parse_file

    entries = parse_file(str(ROOT / "references.bib")).entries
    lacking = [key for key, e in entries.items() if not ({"doi", "url"} & set(e.fields))]
    assert not lacking, f"entries a reader cannot follow (no doi or url): {lacking}"


# The checks above must be able to fail: feed them broken pages.


def _page(tmp_path: Path, folder: str, text: str) -> Path:
    (tmp_path / folder).mkdir(exist_ok=True)
    path = tmp_path / folder / "page.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_front_matter_check_rejects_a_page_without_it(tmp_path):
    page = _page(tmp_path, "privacy_tech", "# A page\n\nNo front matter.\n")
    assert front_matter_problems(page) == [
        "page.md: no YAML front matter (--- ... ---) at the top of the page"
    ]


@pytest.mark.parametrize(
    ("folder", "meta", "expected"),
    [
        (
            "privacy_tech",
            "audience: []\ntheme: privacy_tech",
            "'audience' must be a non-empty list",
        ),
        (
            "privacy_tech",
            "audience: [lawyers]\ntheme: privacy_tech",
            "unknown audience ['lawyers']",
        ),
        (
            "privacy_tech",
            "audience: [smes]\ntheme: legal\nlaw_checked: 2026-01-01",
            "has theme 'legal'",
        ),
        ("legal", "audience: [smes]\ntheme: legal", "need 'law_checked: YYYY-MM-DD'"),
        ("legal", "audience: [smes]\ntheme: legal\nlaw_checked: 2999-01-01", "lies in the future"),
        ("legal", "audience: [smes]\ntheme: sharing", "'theme' must be one of"),
    ],
)
def test_front_matter_check_names_the_problem(tmp_path, folder, meta, expected):
    page = _page(tmp_path, folder, f"---\n{meta}\n---\n# Title\n")
    problems = front_matter_problems(page, today=dt.date(2026, 11, 23))
    assert any(expected in p for p in problems), problems


def test_a_complete_legal_page_passes(tmp_path):
    page = _page(
        tmp_path,
        "legal",
        "---\naudience: [smes]\ntheme: legal\nlaw_checked: 2026-11-01\n---\n# T\n",
    )
    assert front_matter_problems(page, today=dt.date(2026, 11, 23)) == []


def test_citation_check_reports_unknown_keys(tmp_path):
    page = _page(
        tmp_path, "legal", "See {cite}`gdpr2016,nosuchkey2099` and {cite:t}`alsomissing`.\n"
    )
    assert cite_keys(page.read_text()) == {"gdpr2016", "nosuchkey2099", "alsomissing"}
    problems = unknown_citations([page], {"gdpr2016"})
    assert problems == [
        "page.md: {cite} key 'alsomissing' is not in references.bib",
        "page.md: {cite} key 'nosuchkey2099' is not in references.bib",
    ]


def test_bibliography_check_finds_tex_artefacts_and_escaped_links():
    from bookcheck import bibliography_problems

    broken = (
        "<main><p>Pedro de Gusm\\\\textasciitilde ao. Optimal $k$-anonymity. "
        '<a href="https://doi.org/10.1162/dint\\_a\\_00032">doi</a></p></main>'
    )
    problems = bibliography_problems(broken)
    assert "backslash in link 'https://doi.org/10.1162/dint\\\\_a\\\\_00032'" in problems
    assert any("'$k$'" in p for p in problems)
    assert any("textasciitilde" in p for p in problems)
    clean = (
        '<main><p>Pedro de Gusmão. <a href="https://doi.org/10.1162/dint_a_00032">d</a></p></main>'
    )
    assert bibliography_problems(clean) == []


def test_bib_links_have_no_tex_escapes():
    """A DOI or URL is used verbatim in the link: an escaped underscore breaks it."""
    from pybtex.database import parse_file

    entries = parse_file(str(ROOT / "references.bib")).entries
    escaped = [
        f"{key}: {field}"
        for key, entry in entries.items()
        for field in ("doi", "url")
        if "\\" in entry.fields.get(field, "")
    ]
    assert not escaped, f"backslashes in links (write _ not \\_): {escaped}"


def test_sharing_and_privacy_chapters_end_with_a_checklist():
    from bookcheck import closing_section_problems

    folders = ("sharing_methods", "privacy_tech")
    pages = [p for folder in folders for p in (ROOT / folder).glob("*.md")]
    assert len(pages) >= 20
    problems = [problem for page in pages for problem in closing_section_problems(page)]
    assert not problems, "\n".join(problems)


def test_closing_section_check_names_the_problem(tmp_path):
    from bookcheck import closing_section_problems

    page = _page(tmp_path, "privacy_tech", "# T\n\n## Checklist\n\n- [ ] one\n\n## Notes\n\ntext\n")
    assert closing_section_problems(page) == ["page.md: last section is 'Notes', not 'Checklist'"]
    page.write_text("# T\n\n## Checklist\n\nNothing to check.\n", encoding="utf-8")
    assert closing_section_problems(page) == ["page.md: the closing section has no list items"]
    page.write_text("# T\n\n## What to do next\n\n- Read on.\n", encoding="utf-8")
    assert closing_section_problems(page) == []
