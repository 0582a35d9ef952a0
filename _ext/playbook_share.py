"""What a search engine, a link preview and a lost reader need (issue 8): a meta description and
Open Graph tags on every page, ``sitemap.xml`` and ``robots.txt``, and a 404 page. All of it is
text in the page; nothing makes a reader's browser contact another site.

A page's description is its front matter's ``description:`` when it has one, otherwise the text
of its "In short" box (or, failing that, its first paragraph), cut at a word to about 160
characters.
"""

from __future__ import annotations

import html as htmllib
import re
from pathlib import Path
from urllib.parse import urlparse
from xml.sax.saxutils import escape

from docutils import nodes
from sphinx.application import Sphinx

DESCRIPTION_CHARS = 160
NOT_FOUND = "404"


def shorten(text: str, limit: int = DESCRIPTION_CHARS) -> str:
    """Collapse whitespace and cut at the last word that fits, adding an ellipsis if cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:-–")
    return cut + "…"


def _in_short_text(doctree: nodes.document) -> str:
    for admonition in doctree.findall(nodes.admonition):
        title = next(iter(admonition.findall(nodes.title)), None)
        if title is not None and title.astext().strip().lower() == "in short":
            parts = [c for c in admonition.children if not isinstance(c, nodes.title)]
            return " ".join(part.astext() for part in parts)
    return ""


def _first_paragraph(doctree: nodes.document) -> str:
    for paragraph in doctree.findall(nodes.paragraph):
        if paragraph.astext().strip() and "law-checked" not in paragraph.get("classes", []):
            return paragraph.astext()
    return ""


def _describe(app: Sphinx, doctree: nodes.document) -> None:
    metadata = app.env.metadata.setdefault(app.env.docname, {})
    if not str(metadata.get("description", "")).strip():
        text = " ".join((_in_short_text(doctree) or _first_paragraph(doctree)).split())
        # The In short box opens with "Who this is for: ..."; a description reads better as
        # "For ...".
        text = re.sub(r"^Who this is for:\s*", "For ", text)
        metadata["description"] = shorten(text)
    else:
        metadata["description"] = shorten(str(metadata["description"]))


def _plain(text: str) -> str:
    return htmllib.unescape(re.sub(r"<[^>]+>", "", text or "")).strip()


def _site_name(app: Sphinx) -> str:
    return app.config.html_title or app.config.project


def _base_url(app: Sphinx) -> str:
    base = app.config.html_baseurl or ""
    return base if base.endswith("/") or not base else base + "/"


def head_tags(app: Sphinx, context: dict) -> str:
    pagename = context.get("pagename", "")
    metadata = app.env.metadata.get(pagename, {})
    description = metadata.get("description") or shorten(
        f"{_site_name(app)}: an open, executable handbook on sharing health data responsibly."
    )
    title = _plain(context.get("title", "")) or _site_name(app)
    tags = {
        "description": description,
        "og:type": "website" if pagename == app.config.root_doc else "article",
        "og:site_name": _site_name(app),
        "og:title": title,
        "og:description": description,
        "og:locale": "en_GB",
    }
    base = _base_url(app)
    if base and pagename != NOT_FOUND:
        tags["og:url"] = base + app.builder.get_target_uri(pagename)
    if pagename == NOT_FOUND:
        tags["robots"] = "noindex"
    lines = []
    for key, value in tags.items():
        attribute = "property" if key.startswith("og:") else "name"
        lines.append(f'<meta {attribute}="{key}" content="{htmllib.escape(value, quote=True)}" />')
    return "\n    ".join(lines)


def _page_filter(app: Sphinx, html: str, context: dict) -> str:
    tags = head_tags(app, context)
    if context.get("pagename") == NOT_FOUND:
        # A host serves this page at whatever address was missing; the base address makes its
        # links and styles resolve from the site's root there.
        root = urlparse(_base_url(app)).path or "/"
        tags = f'<base href="{root}" />\n    ' + tags
        # The theme writes an empty page-title heading for a page without a document.
        html = re.sub(r"<h1>\s*</h1>", "", html, count=1)
    marker = '<meta charset="utf-8" />'
    if marker in html:
        return html.replace(marker, marker + "\n    " + tags, 1)
    return html.replace("<head>", "<head>\n    " + tags, 1)


def _not_found_page(app: Sphinx):
    if app.builder.format != "html" or app.builder.name != "html":
        return
    body = (
        '<section id="page-not-found">\n<h1>Page not found</h1>\n'
        "<p>There is no page at this address. It may have moved when the playbook was "
        "reorganised, or the link may contain a typing error.</p>\n"
        "<ul>\n"
        f'<li><a href="{app.config.root_doc}.html">Go to the welcome page</a> and follow the '
        "themes from there.</li>\n"
        '<li><a href="search.html">Search the playbook</a> for the topic you were after.</li>\n'
        "</ul>\n</section>\n"
    )
    yield NOT_FOUND, {"title": "Page not found", "body": body}, "page.html"


def _write_sitemap(app: Sphinx, exception) -> None:
    if exception or app.builder.name != "html":
        return
    base = _base_url(app)
    outdir = Path(app.outdir)
    urls = [
        f"  <url><loc>{escape(base + app.builder.get_target_uri(doc))}</loc></url>"
        for doc in sorted(app.env.found_docs)
    ]
    (outdir / "sitemap.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        + "\n".join(urls)
        + "\n</urlset>\n",
        encoding="utf-8",
    )
    (outdir / "robots.txt").write_text(
        f"User-agent: *\nAllow: /\nSitemap: {base}sitemap.xml\n", encoding="utf-8"
    )


def setup(app: Sphinx) -> None:
    from playbook_assets import PAGE_FILTERS

    if _page_filter not in PAGE_FILTERS:
        PAGE_FILTERS.append(_page_filter)
    app.connect("doctree-read", _describe)
    app.connect("html-collect-pages", _not_found_page)
    app.connect("build-finished", _write_sitemap)
