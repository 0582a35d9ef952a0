"""The diagrams in diagrams/: SVG a reader can read in light and dark mode, and a screen reader
can name; each one shown on a page as a figure with alt text and a caption.

The SVG files are the source (written by hand, no diagram script in the browser). Each carries
one palette for a light and one for a dark colour scheme (``prefers-color-scheme`` inside the
SVG, because an SVG embedded with ``<img>`` cannot see the page's CSS) and paints its own
background, so its text keeps its contrast on either page theme.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bookcheck import ROOT, THEMES, page_path, toc_files

DIAGRAMS = sorted((ROOT / "diagrams").glob("*.svg"))
SVG = "{http://www.w3.org/2000/svg}"
TEXT_COLOURS = ("fg", "muted")
BACKGROUNDS = ("bg", "box", "a-bg", "b-bg", "c-bg")
LINE_COLOURS = ("line", "a", "b", "c")
_VAR = re.compile(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})")
_FIGURE = re.compile(r"```\{figure\} (\S+)\n(.*?)\n```", re.S)


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, other: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours."""
    high, low = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def palettes(style: str) -> dict[str, dict[str, str]]:
    """The light palette (before the dark media query) and the dark one (inside it)."""
    light, _, dark = style.partition("@media (prefers-color-scheme: dark)")
    return {"light": dict(_VAR.findall(light)), "dark": dict(_VAR.findall(dark))}


def svg_problems(path: Path) -> list[str]:
    """What keeps a diagram from being readable, nameable and self-contained."""
    name = path.name
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as error:
        return [f"{name}: not well-formed XML ({error})"]
    if root.tag != f"{SVG}svg":
        return [f"{name}: the root element is {root.tag}, not an SVG <svg>"]
    problems = []
    if root.get("role") != "img":
        problems.append(f'{name}: the <svg> needs role="img"')
    for tag in ("title", "desc"):
        element = root.find(f"{SVG}{tag}")
        if element is None or not (element.text or "").strip():
            problems.append(f"{name}: no <{tag}> with text as a child of <svg>")
        elif element.get("id") not in (root.get("aria-labelledby") or "").split():
            problems.append(f"{name}: aria-labelledby does not name the <{tag}>")
    if not any((t.text or "").strip() for t in root.iter(f"{SVG}text")):
        problems.append(f"{name}: no <text>: labels must be real text, not paths")
    for tag in ("script", "image", "foreignObject"):
        if root.find(f".//{SVG}{tag}") is not None:
            problems.append(f"{name}: contains <{tag}>; a diagram is self-contained SVG")
    raw = path.read_text(encoding="utf-8")
    if re.search(r"(?:href|url)\s*[=(]\s*[\"']?(?:https?:)?//", raw):
        problems.append(f"{name}: refers to an outside resource")
    style = "".join(s.text or "" for s in root.iter(f"{SVG}style"))
    found = palettes(style)
    needed = {*TEXT_COLOURS, *BACKGROUNDS, *LINE_COLOURS}
    for scheme, palette in found.items():
        if missing := needed - set(palette):
            problems.append(f"{name}: the {scheme} palette lacks {sorted(missing)}")
            continue
        for text in TEXT_COLOURS:
            for background in BACKGROUNDS:
                ratio = contrast(palette[text], palette[background])
                if ratio < 4.5:
                    problems.append(
                        f"{name}: {scheme} text --{text} on --{background} has contrast "
                        f"{ratio:.2f}, below 4.5"
                    )
        for line in LINE_COLOURS:
            ratio = contrast(palette[line], palette["bg"])
            if ratio < 3:
                problems.append(
                    f"{name}: {scheme} line --{line} on --bg has contrast {ratio:.2f}, below 3"
                )
    if 'class="bg"' not in raw:
        problems.append(f"{name}: paints no background (class bg), so a page theme shows through")
    return problems


def figures() -> dict[str, list[tuple[str, str]]]:
    """Diagram file name -> [(page, figure body)] for every {figure} of diagrams/ on a page."""
    used: dict[str, list[tuple[str, str]]] = {}
    for name in toc_files():
        path = page_path(name)
        for target, body in _FIGURE.findall(path.read_text(encoding="utf-8")):
            resolved = (path.parent / target).resolve()
            if resolved.parent == (ROOT / "diagrams").resolve():
                used.setdefault(resolved.name, []).append((name, body))
    return used


def test_there_are_diagrams():
    assert len(DIAGRAMS) >= 5, [p.name for p in DIAGRAMS]


@pytest.mark.parametrize("path", DIAGRAMS, ids=lambda p: p.name)
def test_diagram_is_accessible_self_contained_svg(path):
    problems = svg_problems(path)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", DIAGRAMS, ids=lambda p: p.name)
def test_diagram_is_a_figure_with_alt_text_and_caption(path):
    uses = figures().get(path.name)
    assert uses, f"{path.name} is not shown on any page in _toc.yml"
    for page, body in uses:
        alt = re.search(r"^:alt: (.+)$", body, re.M)
        assert alt and len(alt.group(1)) >= 40, f"{page}: {path.name} needs a descriptive :alt:"
        # The theme dims images in dark mode unless they handle it themselves, as these do.
        assert re.search(r"^:class: .*\bdark-light\b", body, re.M), (
            f"{page}: {path.name} needs ':class: dark-light' (it has its own dark palette)"
        )
        caption = "\n".join(line for line in body.splitlines() if not line.startswith(":"))
        assert len(caption.strip()) >= 40, f"{page}: {path.name} needs a caption"


def test_every_theme_shows_a_diagram():
    pages = {page for uses in figures().values() for page, _ in uses}
    without = [theme for theme in THEMES if not any(p.startswith(f"{theme}/") for p in pages)]
    assert not without, f"themes without a diagram: {without}"


def test_every_figure_on_a_page_points_to_an_existing_diagram():
    for name in toc_files():
        path = page_path(name)
        for target, _ in _FIGURE.findall(path.read_text(encoding="utf-8")):
            if target.endswith(".svg"):
                assert (path.parent / target).exists(), f"{name}: {target} does not exist"


# The checks must be able to fail: feed them broken diagrams.

_GOOD_STYLE = (
    "<style>svg{--bg:#ffffff;--fg:#1b1f24;--muted:#4b5563;--line:#4b5563;--box:#f3f4f6;"
    "--a:#1d4ed8;--a-bg:#e8effd;--b:#15803d;--b-bg:#e7f6ec;--c:#b45309;--c-bg:#fdf1e3}"
    "@media (prefers-color-scheme: dark){svg{--bg:#1f2329;--fg:#eef0f3;--muted:#c2c8d0;"
    "--line:#aab2bd;--box:#2b3038;--a:#8fb4ff;--a-bg:#23314d;--b:#6fd39a;--b-bg:#1f3a2b;"
    "--c:#f2b46b;--c-bg:#3d2e1d}}</style>"
)


def _svg(tmp_path, body, style=_GOOD_STYLE, attributes='role="img" aria-labelledby="t d"'):
    path = tmp_path / "d.svg"
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" {attributes}>{body}{style}'
        '<rect class="bg" width="9" height="9"/><text>label</text></svg>',
        encoding="utf-8",
    )
    return path


_NAMED = '<title id="t">A title</title><desc id="d">A description</desc>'
_LABELLED = 'role="img" aria-labelledby="t d"'


def test_a_good_diagram_passes(tmp_path):
    assert svg_problems(_svg(tmp_path, _NAMED)) == []


@pytest.mark.parametrize(
    ("body", "style", "attributes", "expected"),
    [
        ('<desc id="d">x</desc>', _GOOD_STYLE, _LABELLED, "no <title>"),
        (_NAMED, _GOOD_STYLE, 'aria-labelledby="t d"', 'needs role="img"'),
        (_NAMED, _GOOD_STYLE, 'role="img" aria-labelledby="t"', "does not name the <desc>"),
        (_NAMED + "<script>1</script>", _GOOD_STYLE, _LABELLED, "<script>"),
        (
            _NAMED + '<use href="https://example.org/x.svg#a"/>',
            _GOOD_STYLE,
            _LABELLED,
            "outside resource",
        ),
        (
            _NAMED,
            _GOOD_STYLE.replace("--muted:#c2c8d0", "--muted:#3a3f46"),
            _LABELLED,
            "dark text --muted on --bg has contrast",
        ),
        (
            _NAMED,
            _GOOD_STYLE.split("@media")[0] + "</style>",
            _LABELLED,
            "the dark palette lacks",
        ),
    ],
)
def test_diagram_check_names_the_problem(tmp_path, body, style, attributes, expected):
    problems = svg_problems(_svg(tmp_path, body, style, attributes))
    assert any(expected in p for p in problems), problems


def test_contrast_matches_wcag():
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
