"""What each page loads, trimmed so a reader on a phone gets text fast (issue 8).

The theme (pydata-sphinx-theme under sphinx-book-theme) is kept; only what it sends is changed,
page by page, as each page is rendered:

* Font Awesome's 1.5 MB SVG-replacement script is dropped. The theme's stylesheet already
  draws every ``fa-*`` icon from the Font Awesome webfonts; those are replaced by subsets that
  hold only the glyphs the site uses (a few KiB, embedded in ``playbook-icons.css``).
* MathJax is loaded only on pages that have math, and deferred.
* Sphinx's search index is loaded only on the search page (the search box on other pages is a
  plain form that opens the search page).
* sphinx-thebe (live code cells, not used by this book) is not loaded.
* Scripts that the first paint does not need are deferred, and the site's nine stylesheets
  reach the browser as one file.
* A notebook's cells below the screen are laid out only when the reader scrolls near them
  (``content-visibility`` in ``_static/playbook.css``).
"""

from __future__ import annotations

import base64
import io
import logging as stdlib_logging
import posixpath
import re
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

_SCRIPT = re.compile(r"[ \t]*<script\b([^>]*)>(.*?)</script>\n?", re.S)
_LINK = re.compile(r"[ \t]*<link\b[^>]*>\n?")
_HEAD_END = "</head>"
# Scripts that must run before the first paint: the colour mode (or the page flashes) and the
# options object that the inline configuration scripts below it extend.
_BLOCKING_OK = ("theme-mode.js", "documentation_options.js")
_SEARCH_ONLY = ("searchtools.js", "language_data.js", "searchindex.js")
_CSS_URL = re.compile(r"url\(([\"']?)(?!data:|https?:|/|#)([^\"')]+)")
_RELATIVE_URL = re.compile(r"url\((?![\"']?(?:data:|https?:|/))([\"']?)")
_FA_CLASS = re.compile(r"\bfa-[a-z0-9-]+")


def _src(attributes: str) -> str:
    match = re.search(r'\bsrc="([^"]*)"', attributes)
    return match.group(1) if match else ""


def slim(html: str, pagename: str) -> str:
    """Trim one rendered page (see the module docstring). Pure, so it can be tested alone."""
    head_end = html.find(_HEAD_END)
    if head_end < 0:
        return html
    body = html[head_end:]
    has_math = 'class="math' in body or "\\(" in body and "mathjax" in body.lower()

    def script(match: re.Match) -> str:
        attributes, inline = match.group(1), match.group(2)
        src = _src(attributes)
        name = src.split("?")[0].rsplit("/", 1)[-1]
        if name == "fontawesome.js" or name == "sphinx-thebe.js" or "THEBE_JS_URL" in inline:
            return ""
        if name in _SEARCH_ONLY and pagename != "search":
            return ""
        if "mathjax" in src.lower() and not has_math:
            return ""
        if src and name not in _BLOCKING_OK and not re.search(r"\b(defer|async)\b", attributes):
            return match.group(0).replace("<script", "<script defer", 1)
        return match.group(0)

    def link(match: re.Match) -> str:
        tag = match.group(0)
        if "sphinx-thebe.css" in tag:
            return ""
        if 'rel="preload"' in tag and "searchindex" in tag and pagename != "search":
            return ""
        return tag

    head = _SCRIPT.sub(script, html[:head_end])
    head = _LINK.sub(link, head)
    head = bundle_stylesheets(head, pagename)
    return head + _SCRIPT.sub(script, body)


BUNDLE = "_static/playbook-bundle.css"
# The site's own stylesheets in the order pages link them, collected while pages are rendered.
BUNDLE_ORDER: list[str] = []
_STYLESHEET = re.compile(r'[ \t]*<link\b(?=[^>]*\brel="stylesheet")[^>]*\bhref="([^"]+)"[^>]*>\n?')


def bundle_stylesheets(head: str, pagename: str) -> str:
    """Replace the page's own stylesheets (nine small render-blocking requests) by one link to
    a bundle of them, written when the build finishes (see write_bundle)."""
    folder = posixpath.dirname(pagename)
    depth = "../" * (pagename.count("/"))
    first = True

    def replace(match: re.Match) -> str:
        nonlocal first
        href = match.group(1)
        if re.match(r"^(?:[a-z]+:)?//", href) or href.startswith("data:"):
            return match.group(0)
        path = posixpath.normpath(posixpath.join(folder, href.split("?")[0]))
        if path not in BUNDLE_ORDER:
            BUNDLE_ORDER.append(path)
        if not first:
            return ""
        first = False
        return f'    <link rel="stylesheet" type="text/css" href="{depth}{BUNDLE}" />\n'

    return _STYLESHEET.sub(replace, head)


def write_bundle(outdir: Path) -> None:
    """Concatenate the stylesheets in page order, each url() rewritten to stay right from the
    bundle's folder. Nothing to do when no page was written (the last bundle still holds)."""
    if not BUNDLE_ORDER:
        return
    target = outdir / BUNDLE
    parts = []
    for path in BUNDLE_ORDER:
        source = outdir / path
        if not source.is_file():
            continue
        folder = posixpath.dirname(path)

        def rebase(match: re.Match, folder=folder) -> str:
            quote, url = match.group(1), match.group(2)
            full = posixpath.normpath(posixpath.join(folder, url))
            return f"url({quote}{posixpath.relpath(full, posixpath.dirname(BUNDLE))}{quote}"

        css = _CSS_URL.sub(rebase, source.read_text(encoding="utf-8"))
        css = re.sub(r"/\*# sourceMappingURL=[^*]*\*/", "", css)
        parts.append(f"/* {path} */\n{css}")
    target.write_text("\n".join(parts), encoding="utf-8")


# --- Font Awesome subset --------------------------------------------------------------------

# A glyph is written either as an escape ("\\f06a") or as the character itself.
_GLYPH = r'"(\\[0-9a-f]+|[\ue000-\uf8ff])"'
_CSS_CODEPOINT = re.compile(r"((?:\.fa-[a-z0-9-]+(?::before)?,?)+)\{content:" + _GLYPH + r"\}")
_CSS_ICON_VAR = re.compile(r"--pst-icon-[a-z-]+:" + _GLYPH)
_FA_FONT_FACE = re.compile(r"@font-face\{[^}]*Font Awesome[^}]*\}")
# sphinx-book-theme's "on this page" arrow, written as a literal code point in its stylesheet.
_EXTRA_CODEPOINTS = {0xF107}
_FACES = (
    # family, weight, source file of the theme's vendored Font Awesome
    ("Font Awesome 6 Free", 900, "fa-solid-900.ttf"),
    ("Font Awesome 6 Free", 400, "fa-regular-400.ttf"),
    ("Font Awesome 6 Brands", 400, "fa-brands-400.ttf"),
)


def _theme_static() -> Path:
    import pydata_sphinx_theme

    return Path(pydata_sphinx_theme.__file__).parent / "theme" / "pydata_sphinx_theme" / "static"


def _codepoint(glyph: str) -> int:
    return int(glyph[1:], 16) if glyph.startswith("\\") else ord(glyph)


def icon_codepoints(theme_css: str, class_names: set[str]) -> set[int]:
    """The code points of the ``fa-*`` classes used in pages, and of every icon the theme's
    stylesheet draws by itself (admonition titles, download links, ...)."""
    by_class: dict[str, int] = {}
    for selectors, glyph in _CSS_CODEPOINT.findall(theme_css):
        for selector in selectors.split(","):
            if selector:
                by_class[selector.removesuffix(":before").lstrip(".")] = _codepoint(glyph)
    points = {by_class[name] for name in class_names if name in by_class}
    points |= {_codepoint(glyph) for glyph in _CSS_ICON_VAR.findall(theme_css)}
    return points | _EXTRA_CODEPOINTS


def icon_stylesheet(codepoints: set[int]) -> str:
    """@font-face rules that replace the theme's Font Awesome faces with embedded subsets."""
    from fontTools import subset

    # fontTools reports each pruned table at INFO level; a build prints only what needs reading.
    stdlib_logging.getLogger("fontTools").setLevel(stdlib_logging.WARNING)
    webfonts = _theme_static() / "vendor" / "fontawesome" / "webfonts"
    rules = []
    for family, weight, filename in _FACES:
        options = subset.Options()
        options.flavor = "woff"  # zlib-compressed; woff2 would need brotli
        options.layout_features = []
        options.name_IDs = []
        options.notdef_outline = True
        font = subset.load_font(str(webfonts / filename), options)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=sorted(codepoints))
        subsetter.subset(font)
        buffer = io.BytesIO()
        subset.save_font(font, buffer, options)
        data = base64.b64encode(buffer.getvalue()).decode()
        rules.append(
            f'@font-face{{font-display:block;font-family:"{family}";font-style:normal;'
            f'font-weight:{weight};src:url(data:font/woff;base64,{data}) format("woff")}}'
        )
    return "/* Font Awesome Free 6 (SIL OFL 1.1), subset to the icons this site uses. */\n" + (
        "\n".join(rules) + "\n"
    )


def _write_icon_css(app: Sphinx, exception) -> None:
    if exception or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    classes: set[str] = set()
    for page in outdir.rglob("*.html"):
        classes |= set(_FA_CLASS.findall(page.read_text(encoding="utf-8", errors="replace")))
    theme_css = (_theme_static() / "styles" / "pydata-sphinx-theme.css").read_text("utf-8")
    theme_css += (outdir / "_static" / "styles" / "sphinx-book-theme.css").read_text("utf-8")
    css = icon_stylesheet(icon_codepoints(theme_css, classes))
    (outdir / "_static" / "playbook-icons.css").write_text(css, encoding="utf-8")
    _trim_theme_css(outdir, classes)
    write_bundle(outdir)


def drop_unused_icon_rules(css: str, class_names: set[str]) -> str:
    """The theme's stylesheet names the glyph of each of Font Awesome's ~2,000 icons; keep the
    rules of the icons the site uses (a third of the stylesheet, 19 KiB gzipped)."""

    def keep(match: re.Match) -> str:
        names = {s.removesuffix(":before").lstrip(".") for s in match.group(1).split(",") if s}
        return match.group(0) if names & class_names else ""

    # The full webfonts' faces go too: the subsets in playbook-icons.css replace them, and a
    # glyph missing from a subset must not pull in a 150 KiB font.
    return _FA_FONT_FACE.sub("", _CSS_CODEPOINT.sub(keep, css))


def _trim_theme_css(outdir: Path, classes: set[str]) -> None:
    """Rewrite the output copies (never the installed theme) of two render-blocking stylesheets:
    the icon rules nobody uses go, and theme.css holds basic.css itself instead of importing it
    (one request less before the first paint)."""
    styles = outdir / "_static" / "styles"
    source = _theme_static() / "styles" / "pydata-sphinx-theme.css"
    target = styles / "pydata-sphinx-theme.css"
    target.write_text(drop_unused_icon_rules(source.read_text("utf-8"), classes), "utf-8")
    theme, basic = styles / "theme.css", outdir / "_static" / "basic.css"
    if (
        theme.is_file()
        and basic.is_file()
        and '@import "../basic.css";' in theme.read_text("utf-8")
    ):
        # basic.css sits one folder up: its relative url()s must keep pointing there.
        css = re.sub(
            r"url\((?![\"']?(?:data:|https?:|/))([\"']?)", r"url(\1../", basic.read_text("utf-8")
        )
        theme.write_text(css, encoding="utf-8")


def _wrap_renderer(app: Sphinx) -> None:
    if app.builder.format != "html" or getattr(app.builder.templates, "_playbook", False):
        return
    templates = app.builder.templates
    render = templates.render

    def render_slim(template: str, context: dict) -> str:
        html = render(template, context)
        for hook in PAGE_FILTERS:
            html = hook(app, html, context)
        return html

    templates.render = render_slim
    templates._playbook = True


def _slim_filter(app: Sphinx, html: str, context: dict) -> str:
    return slim(html, context.get("pagename", ""))


# Functions (app, html, context) -> html applied in order to every rendered page.
PAGE_FILTERS = [_slim_filter]


def setup(app: Sphinx) -> None:
    app.add_css_file("playbook-icons.css", priority=900)
    app.add_css_file("playbook.css", priority=900)
    app.connect("builder-inited", _wrap_renderer)
    # After the theme's own build-finished handlers: pydata-sphinx-theme rewrites pygments.css
    # there, and the bundle must hold that version.
    app.connect("build-finished", _write_icon_css, priority=850)
