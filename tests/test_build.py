"""The book builds strictly (warnings are errors), runs every notebook, and fails when it should."""

import re
import shutil
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from bookcheck import ROOT, toc_files
from conftest import build_book

pytestmark = pytest.mark.build


def test_book_builds_with_zero_warnings(book):
    lines = book.log.splitlines()
    hits = [i for i, line in enumerate(lines) if re.search(r"WARNING|ERROR", line)]
    assert book.returncode == 0, book.log[-5000:]
    # Show each warning with the lines around it, so the cause is visible in CI output.
    context = ["\n".join(lines[max(0, i - 6) : i + 4]) for i in hits]
    assert not hits, "\n---\n".join(context)


def test_every_toc_page_becomes_html(book):
    missing = [name for name in toc_files() if not (book.html / f"{name}.html").exists()]
    assert not missing, missing
    assert (book.html / "index.html").exists()


def test_notebooks_were_executed_and_asserted(book):
    """Each notebook page shows outputs produced at build time (not committed ones)."""
    for name in toc_files():
        if not name.startswith("notebooks/") or name == "notebooks/index":
            continue
        soup = BeautifulSoup(
            (book.html / f"{name}.html").read_text(encoding="utf-8"), "html.parser"
        )
        assert soup.select(".cell_output"), f"{name}: no executed output on the page"
        assert not soup.select(".output.traceback"), f"{name}: a traceback is on the page"


def test_notebooks_can_be_downloaded_as_ipynb(book):
    """Readers get a runnable .ipynb from the download button of every notebook page."""
    import nbformat

    for name in toc_files():
        if not name.startswith("notebooks/") or name == "notebooks/index":
            continue
        html = (book.html / f"{name}.html").read_text(encoding="utf-8")
        leaf = name.split("/")[-1]
        assert f"_sources/notebooks/{leaf}.ipynb" in html, f"{name}: no .ipynb download button"
        notebook = nbformat.read(book.html / "_sources" / f"{name}.ipynb", as_version=4)
        nbformat.validate(notebook)
        assert any(cell.cell_type == "code" for cell in notebook.cells)


def test_pages_show_when_their_law_was_checked(book):
    """Front matter ``law_checked`` reaches the reader as a line under the title."""
    from bookcheck import front_matter, page_path

    stamped = 0
    for name in toc_files():
        meta = front_matter(page_path(name).read_text(encoding="utf-8")) or {}
        if "law_checked" not in meta:
            continue
        checked = meta["law_checked"]
        html = (book.html / f"{name}.html").read_text(encoding="utf-8")
        expected = f"Law last checked against the official texts on {checked.day} {checked:%B %Y}."
        assert expected in html, name
        stamped += 1
    assert stamped >= 5  # every legal page, at least


def test_bibliography_lists_the_cited_sources(book):
    html = (book.html / "bibliography.html").read_text(encoding="utf-8")
    assert "Regulation (EU) 2025/327" in html
    assert "10.1038/sdata.2016.18" in html


# The build must refuse a broken book: a tiny book with the real configuration.


def _mini_book(tmp_path: Path, page: str) -> Path:
    book = tmp_path / "book"
    book.mkdir()
    shutil.copy(ROOT / "_config.yml", book / "_config.yml")
    shutil.copy(ROOT / "references.bib", book / "references.bib")
    for folder in ("_ext", "_static"):
        shutil.copytree(ROOT / folder, book / folder)
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n  - file: page\n")
    (book / "intro.md").write_text("# Mini book\n")
    (book / "page.md").write_text(page)
    return book


NOTEBOOK_HEADER = """---
jupytext:
  text_representation: {extension: .md, format_name: myst}
kernelspec: {display_name: Python 3, language: python, name: python3}
---
# A notebook
"""


def test_a_failing_notebook_cell_fails_the_build(tmp_path):
    book = _mini_book(
        tmp_path,
        NOTEBOOK_HEADER + "```{code-cell} ipython3\nassert 1 + 1 == 3, 'arithmetic broke'\n```\n",
    )
    result = build_book(book, timeout=300)
    assert result.returncode != 0
    assert "arithmetic broke" in result.log


def test_a_notebook_failing_once_is_run_again_quietly(tmp_path):
    """A notebook that fails once beside another (as the Flower/Ray one did under load) runs
    again alone in the build's own pool, on local sockets: the build passes with a clean log.
    Left to myst-nb, the second run would start a TCP kernel, whose warning fails the build's
    zero-warning test."""
    cell = (
        "from pathlib import Path\n"
        "marker = Path('ran-once')\n"
        "if not marker.exists():\n"
        "    marker.write_text('')\n"
        "    raise RuntimeError('out of resources, this time only')\n"
    )
    book = _mini_book(tmp_path, NOTEBOOK_HEADER + f"```{{code-cell}} ipython3\n{cell}```\n")
    # A second notebook, so that the first one fails beside another (two kernels at a time).
    (book / "other.md").write_text(NOTEBOOK_HEADER + "```{code-cell} ipython3\n1 + 1\n```\n")
    with (book / "_toc.yml").open("a") as toc:
        toc.write("  - file: other\n")
    result = build_book(book, timeout=300, env={"PLAYBOOK_JOBS": "2"})
    assert result.returncode == 0, result.log[-3000:]
    assert (book / "ran-once").exists()  # so the first run did fail
    assert "running it once more on its own" in result.log
    noise = [line for line in result.log.splitlines() if re.search(r"WARNING|ERROR", line)]
    assert not noise, noise


def test_an_unknown_citation_fails_the_build(tmp_path):
    book = _mini_book(tmp_path, "# Page\n\nA claim {cite}`nosuchkey2099`.\n")
    result = build_book(book, timeout=300)
    assert result.returncode != 0
    assert "nosuchkey2099" in result.log


def test_a_notebook_that_passes_builds(tmp_path):
    """The control case: the same mini book builds when the notebook is sound."""
    book = _mini_book(
        tmp_path, NOTEBOOK_HEADER + "```{code-cell} ipython3\nassert 1 + 1 == 2\n```\n"
    )
    result = build_book(book, timeout=300)
    assert result.returncode == 0, result.log[-3000:]
    # Nothing in the log either, the kernel's own lines included (it writes to the build's
    # stderr): a kernel on TCP would warn there, and ipykernel 7.2 could print a ZMQError
    # traceback while shutting down (tests/test_execute.py).
    noise = [line for line in result.log.splitlines() if re.search(r"WARNING|ERROR", line)]
    assert not noise, noise


def test_bibliography_has_no_tex_artefacts_or_escaped_links(book):
    """Names, titles and links read as text: no \\textasciitilde, no \\_ in a DOI link."""
    from bookcheck import bibliography_problems

    html = (book.html / "bibliography.html").read_text(encoding="utf-8")
    problems = bibliography_problems(html)
    assert not problems, "\n".join(problems)


def test_legal_dates_come_from_the_timeline(book):
    """The timeline page carries the chart and a row per milestone; pages link dates to rows."""
    html = (book.html / "legal" / "timeline.html").read_text(encoding="utf-8")
    soup = BeautifulSoup(html, "html.parser")
    svg = soup.select_one("figure.law-timeline-figure svg")
    assert svg is not None and svg.find("title") and svg.find("desc")
    assert not soup.select("figure.law-timeline-figure script")
    assert soup.select_one("tr#lawdate-ehds-in-force") is not None
    ehds = BeautifulSoup(
        (book.html / "legal" / "ehds.html").read_text(encoding="utf-8"), "html.parser"
    )
    link = ehds.select_one('a.lawdate[href="timeline.html#lawdate-ehds-in-force"]')
    assert link is not None and link.get_text() == "25 March 2025"


def test_citations_resolve_without_scanning_entry_points(monkeypatch):
    """pybtex 0.26 scans every installed distribution's entry points each time
    sphinxcontrib-bibtex resolves a {cite}; _ext/playbook_bibtex.py registers the backends once,
    so a lookup finds the same class without a scan (issue 8: build time)."""
    import sys

    import pybtex.plugin
    from pybtex.backends.plaintext import Backend

    sys.path.insert(0, str(ROOT / "_ext"))
    import playbook_bibtex

    monkeypatch.setitem(pybtex.plugin._RUNTIME_PLUGINS, playbook_bibtex.GROUP, {})
    scans = []
    real_entry_points = pybtex.plugin.entry_points

    def counting_entry_points(**kwargs):
        scans.append(kwargs)
        return real_entry_points(**kwargs)

    monkeypatch.setattr(pybtex.plugin, "entry_points", counting_entry_points)
    assert pybtex.plugin.find_plugin("pybtex.backends", "plaintext") is Backend
    assert scans, "without registration, a lookup scans the entry points"
    assert "plaintext" in playbook_bibtex.register_backends()
    scans.clear()
    for _ in range(3):
        assert pybtex.plugin.find_plugin("pybtex.backends", "plaintext") is Backend
    assert scans == []
