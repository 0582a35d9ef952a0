"""Checks of the book's sources that the tests share: pages, front matter, citations.

Each check returns a list of problems (empty when all is well), so a test can assert on it and
show every problem at once, and a test of the check itself can feed it a broken page.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import yaml
from pybtex.database import parse_file

ROOT = Path(__file__).resolve().parent.parent
THEMES = ("sharing_methods", "fair_principles", "privacy_tech", "legal")
AUDIENCES = {"smes", "hospitals", "researchers", "developers", "ctos", "policy-makers"}
PAGE_THEMES = {*THEMES, "notebooks", "overview", "reference"}
_CITE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")
_FRONT = re.compile(r"\A---\n(.*?)\n---\n", re.S)


def toc_files(root: Path = ROOT) -> list[str]:
    """Every file named in _toc.yml, without extension, in reading order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(toc.get("parts"))
    walk(toc.get("chapters"))
    return files


def page_path(name: str, root: Path = ROOT) -> Path:
    for suffix in (".md", ".ipynb"):
        if (root / f"{name}{suffix}").exists():
            return root / f"{name}{suffix}"
    raise FileNotFoundError(f"_toc.yml names {name!r}, but neither {name}.md nor .ipynb exists")


def front_matter(text: str) -> dict | None:
    match = _FRONT.match(text)
    if not match:
        return None
    data = yaml.safe_load(match.group(1))
    return data if isinstance(data, dict) else None


def front_matter_problems(path: Path, today: dt.date | None = None) -> list[str]:
    """What is wrong with a page's front matter (see CONTRIBUTING.md, 'Front matter')."""
    today = today or dt.date.today()
    meta = front_matter(path.read_text(encoding="utf-8"))
    where = path.name if not path.is_relative_to(ROOT) else str(path.relative_to(ROOT))
    if meta is None:
        return [f"{where}: no YAML front matter (--- ... ---) at the top of the page"]
    problems = []
    audience = meta.get("audience")
    if not isinstance(audience, list) or not audience:
        problems.append(f"{where}: 'audience' must be a non-empty list")
    elif unknown := set(audience) - AUDIENCES:
        problems.append(f"{where}: unknown audience {sorted(unknown)}; use {sorted(AUDIENCES)}")
    theme = meta.get("theme")
    if theme not in PAGE_THEMES:
        problems.append(f"{where}: 'theme' must be one of {sorted(PAGE_THEMES)}, got {theme!r}")
    folder = path.parent.name
    if folder in (*THEMES, "notebooks") and theme != folder:
        problems.append(f"{where}: page in {folder}/ has theme {theme!r}")
    if theme == "legal":
        checked = meta.get("law_checked")
        if not isinstance(checked, dt.date):
            problems.append(f"{where}: legal pages need 'law_checked: YYYY-MM-DD'")
        elif checked > today:
            problems.append(f"{where}: law_checked {checked} lies in the future")
    return problems


def cite_keys(text: str) -> set[str]:
    keys = set()
    for group in _CITE.findall(text):
        keys.update(k.strip() for k in group.split(",") if k.strip())
    return keys


def bib_keys(path: Path = ROOT / "references.bib") -> set[str]:
    return set(parse_file(str(path)).entries)


def unknown_citations(pages: list[Path], known: set[str]) -> list[str]:
    problems = []
    for page in pages:
        for key in sorted(cite_keys(page.read_text(encoding="utf-8")) - known):
            problems.append(f"{page.name}: {{cite}} key {key!r} is not in references.bib")
    return problems


# TeX that the bibliography style did not turn into text: a command (\textasciitilde), an
# escaped character (\_, \&, \#), or inline maths ($k$).
_TEX_LEFTOVER = re.compile(r"\\[A-Za-z]+|\\[^A-Za-z\s]|\$[^$\s][^$]*\$|textasciitilde")


def bibliography_problems(html: str) -> list[str]:
    """TeX artefacts in the rendered bibliography's text and backslashes in its links."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    body = soup.select_one("main") or soup
    problems = []
    for link in body.select("a[href]"):
        if "\\" in link["href"]:
            problems.append(f"backslash in link {link['href']!r}")
    for item in body.find_all("p"):
        text = item.get_text(" ", strip=True)
        for leftover in sorted(set(_TEX_LEFTOVER.findall(text))):
            problems.append(f"TeX artefact {leftover!r} in: {text[:120]}")
    return sorted(set(problems))


def closing_section_problems(path: Path) -> list[str]:
    """A chapter closes with a 'Checklist' or 'What to do next' section holding list items."""
    text = path.read_text(encoding="utf-8")
    headings = list(re.finditer(r"^## (.+)$", text, re.M))
    if not headings:
        return [f"{path.name}: no section headings, so no closing checklist"]
    last = headings[-1]
    if last.group(1).strip() not in {"Checklist", "What to do next"}:
        return [f"{path.name}: last section is {last.group(1)!r}, not 'Checklist'"]
    if not re.search(r"^\s*- ", text[last.end() :], re.M):
        return [f"{path.name}: the closing section has no list items"]
    return []
