"""Links inside the book resolve: glossary terms, {doc} targets, Markdown links and downloads.

These checks read the page sources only (no Sphinx build, no notebooks, no browser), so
``make check`` can run them for a contributor who edited a page in the browser. The strict
build catches the same errors too, later and more slowly.
"""

from __future__ import annotations

import re
from pathlib import Path

from bookcheck import ROOT, page_path, toc_files

_GLOSSARY_BLOCK = re.compile(r"^:::\{glossary\}\n(.*?)^:::", re.S | re.M)
_TERM = re.compile(r"\{term\}`([^`]+)`")
_DOC = re.compile(r"\{doc\}`([^`]+)`")
_DOWNLOAD = re.compile(r"\{download\}`([^`]+)`")
_MD_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _target(role_text: str) -> str:
    """The target of a role written as ``text <target>`` or just ``target``."""
    match = re.search(r"<([^>]+)>\s*$", role_text)
    return (match.group(1) if match else role_text).strip()


def glossary_terms(path: Path = ROOT / "glossary.md") -> set[str]:
    block = _GLOSSARY_BLOCK.search(path.read_text(encoding="utf-8"))
    if not block:
        return set()
    return {
        line.strip().lower()
        for line in block.group(1).splitlines()
        if line.strip() and not line.startswith((" ", "\t"))
    }


_INLINE = re.compile(r"\{[\w:-]+\}`[^`]*`|``.+?``|`[^`\n]*`")


def _without_code(text: str) -> str:
    """The page without fenced code blocks and without inline code that is not a role."""
    text = re.sub(r"^(```|~~~).*?^\1", "", text, flags=re.S | re.M)
    return _INLINE.sub(lambda m: m.group(0) if m.group(0).startswith("{") else "", text)


def link_problems(page: Path, terms: set[str], root: Path = ROOT) -> list[str]:
    """Every link on ``page`` that points nowhere."""
    text = _without_code(page.read_text(encoding="utf-8"))
    where = str(page.relative_to(root))
    problems = []
    for role in _TERM.findall(text):
        if _target(role).lower() not in terms:
            problems.append(f"{where}: {{term}} '{_target(role)}' is not in glossary.md")
    for role in _DOC.findall(text):
        target = _target(role)
        base = root if target.startswith("/") else page.parent
        stem = (base / target.lstrip("/")).resolve()
        if not any(stem.with_name(stem.name + s).exists() for s in (".md", ".ipynb")):
            problems.append(f"{where}: {{doc}} '{target}' names no page")
    for role in _DOWNLOAD.findall(text):
        target = _target(role)
        base = root if target.startswith("/") else page.parent
        if not (base / target.lstrip("/")).exists():
            problems.append(f"{where}: {{download}} '{target}' names no file")
    for href in _MD_LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", href) or href.startswith("#"):
            continue  # a web address, mailto: or an anchor on the same page
        path = href.split("#", 1)[0]
        if path and not (page.parent / path).exists():
            problems.append(f"{where}: link '{href}' names no file")
    return problems


PAGES = [page_path(name) for name in toc_files()]


def test_every_link_inside_the_book_resolves():
    terms = glossary_terms()
    assert terms, "glossary.md has no {glossary} block"
    problems = [p for page in PAGES for p in link_problems(page, terms)]
    assert not problems, "\n".join(problems)


def test_link_check_names_each_broken_link(tmp_path):
    (tmp_path / "legal").mkdir()
    (tmp_path / "legal" / "ehds.md").write_text("# EHDS\n")
    (tmp_path / "legal" / "form.md").write_text("a template\n")
    page = tmp_path / "legal" / "page.md"
    page.write_text(
        "A {term}`FAIR` and a {term}`missing term <Nowhere>`; see {doc}`ehds`, "
        "{doc}`the map </legal/nomap>`, [the permit](ehds.md#steps), [gone](gone.md), "
        "[web](https://example.org/x.md), {download}`form.md` and {download}`lost.md`.\n"
        "Inline code is not a link: `{term}` and `[x](nothere.md)`.\n"
        "```python\n[not a link](inside_code.md)\n```\n"
    )
    problems = link_problems(page, {"fair"}, root=tmp_path)
    assert problems == [
        "legal/page.md: {term} 'Nowhere' is not in glossary.md",
        "legal/page.md: {doc} '/legal/nomap' names no page",
        "legal/page.md: {download} 'lost.md' names no file",
        "legal/page.md: link 'gone.md' names no file",
    ]
