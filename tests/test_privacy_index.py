"""The privacy theme's index says which chapter links to which notebook; each claim must hold."""

import re

from bookcheck import ROOT, toc_files

INDEX = ROOT / "privacy_tech" / "index.md"
_ROW = re.compile(r"^\| \{doc\}`([a-z_]+)` \| (.+?) \|$", re.M)
_NOTEBOOK = re.compile(r"\{doc\}`\.\./notebooks/([a-z_]+)`")


def index_claims(text: str) -> dict[str, str | None]:
    """Chapter name -> notebook the index says it links to (None for 'none')."""
    claims = {}
    for chapter, cell in _ROW.findall(text):
        notebook = _NOTEBOOK.search(cell)
        claims[chapter] = notebook.group(1) if notebook else None
    return claims


def links_to(chapter_text: str, notebook: str) -> bool:
    return re.search(rf"\{{doc\}}`(?:\.\./|/)notebooks/{notebook}`", chapter_text) is not None


def test_index_lists_every_privacy_chapter():
    claims = index_claims(INDEX.read_text(encoding="utf-8"))
    chapters = {
        name.split("/")[1]
        for name in toc_files()
        if name.startswith("privacy_tech/") and name != "privacy_tech/index"
    }
    assert chapters == set(claims), (
        f"missing from the index table: {sorted(chapters - set(claims))}; "
        f"in the table but not a chapter: {sorted(set(claims) - chapters)}"
    )


def test_each_chapter_links_to_the_notebook_the_index_names():
    claims = index_claims(INDEX.read_text(encoding="utf-8"))
    assert sum(nb is not None for nb in claims.values()) >= 5
    broken = [
        f"{chapter} -> {notebook}"
        for chapter, notebook in claims.items()
        if notebook is not None
        and not links_to((ROOT / "privacy_tech" / f"{chapter}.md").read_text("utf-8"), notebook)
    ]
    assert not broken, f"the index claims a notebook link the chapter lacks: {broken}"
    for notebook in filter(None, claims.values()):
        assert (ROOT / "notebooks" / f"{notebook}.md").exists(), notebook


def test_the_check_catches_a_missing_link():
    text = "| {doc}`comparison` | {doc}`../notebooks/k_anonymity` |\n| {doc}`x_y` | none |\n"
    assert index_claims(text) == {"comparison": "k_anonymity", "x_y": None}
    assert links_to("See {doc}`/notebooks/k_anonymity`.", "k_anonymity")
    assert links_to("See {doc}`../notebooks/k_anonymity`.", "k_anonymity")
    assert not links_to("See {doc}`/notebooks/k_anonymity_extra`.", "k_anonymity")
    assert not links_to("No notebook here.", "k_anonymity")
