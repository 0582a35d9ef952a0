"""The agreement templates the law chapter offers: present in the sources, linked from the
chapter, and delivered as downloads by the built site."""

import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from bookcheck import ROOT

CHAPTER = ROOT / "legal" / "agreements.md"
TEMPLATES = {
    "processor_agreement.md",
    "joint_controller_arrangement.md",
    "data_use_agreement.md",
    "consortium_agreement.md",
}
_DOWNLOAD = re.compile(r"\{download\}`[^`<]*<([^>`]+)>`")


def download_targets(page: Path) -> list[Path]:
    """The files a page links with the MyST ``{download}`` role, resolved against the page."""
    text = page.read_text(encoding="utf-8")
    return [(page.parent / target).resolve() for target in _DOWNLOAD.findall(text)]


def test_download_targets_are_found_in_a_page(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("See {download}`the form <forms/a.md>` and {download}`b <../b.md>`.\n")
    assert download_targets(page) == [
        (tmp_path / "forms" / "a.md").resolve(),
        (tmp_path.parent / "b.md").resolve(),
    ]


def test_the_chapter_links_every_template_and_each_exists():
    targets = download_targets(CHAPTER)
    assert {t.name for t in targets} == TEMPLATES
    missing = [str(t.relative_to(ROOT)) for t in targets if not t.is_file()]
    assert not missing, f"download targets missing from the sources: {missing}"


def test_templates_are_not_book_pages():
    """The templates are downloads, not chapters: the book must not render them as pages."""
    config = (ROOT / "_config.yml").read_text(encoding="utf-8")
    assert "legal/templates/*" in config
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    assert "legal/templates" not in toc


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_each_template_cites_the_gdpr_and_leaves_blanks(name):
    text = (ROOT / "legal" / "templates" / name).read_text(encoding="utf-8")
    assert "not legal advice" in text
    assert "2016/679" in text, f"{name}: does not name the GDPR it is drafted along"
    assert "`[" in text, f"{name}: no [bracketed] blanks for the reader to fill in"


@pytest.mark.build
def test_the_built_site_delivers_every_template(book):
    html = (book.html / "legal" / "agreements.html").read_text(encoding="utf-8")
    links = BeautifulSoup(html, "html.parser").select("a.reference.download")
    hrefs = [a["href"] for a in links]
    assert {Path(h).name for h in hrefs} == TEMPLATES, hrefs
    for href in hrefs:
        delivered = (book.html / "legal" / href).resolve()
        assert delivered.is_file(), f"{href}: linked but not in the built site"
        source = ROOT / "legal" / "templates" / delivered.name
        assert delivered.read_bytes() == source.read_bytes(), f"{href}: not the current template"
