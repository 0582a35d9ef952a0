"""The whole book as one PDF, ``playbook.pdf``, linked from the footer of every page (issue 8).

No second Sphinx build is needed: when the HTML build finishes, the articles of the pages it
wrote are put together in reading order (the table of contents) into one printable page, with
every link between pages turned into a link inside that page, and headless Chromium (Debian's
``chromium``, which ``make book`` installs) prints it. Chromium keeps those links as links inside
the PDF, adds a bookmark outline from the headings and embeds the figures.

Printing takes a minute or more on a busy machine, so it runs only when ``PLAYBOOK_PDF=1`` is
set, as ``make book`` and the tests' build do (a quick local ``jupyter-book build`` skips it),
and only when the build wrote a page or the PDF is missing.
"""

from __future__ import annotations

import datetime as dt
import html as htmllib
import os
import posixpath
import re
import shutil
import time
from pathlib import Path
from urllib.parse import urlsplit

from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)

PDF_NAME = "playbook.pdf"
_PRINT_NAME = "_playbook-print.html"
_ARTICLE = re.compile(r'<article class="bd-article"[^>]*>(.*?)</article>', re.S)
_ATTRIBUTE = re.compile(r'\b(id|href|src)="([^"]*)"')
_PRINT_CSS = """
@page { size: A4; margin: 18mm 16mm 18mm 16mm; }
html { font-size: 10.5pt; }
body { background: white; }
.book-page { break-before: page; }
.book-cover { text-align: center; padding-top: 30vh; }
.book-cover h1 { font-size: 2.4rem; }
.book-contents { break-before: page; }
.book-contents li { margin: 0.15rem 0; }
a.headerlink, .toggle-details__summary, button.toggle-button, .copybtn { display: none !important; }
details.hide > summary, details.above-input > summary { display: none; }
details.hide, details.above-input { display: block; }
div.cell_output img { max-width: 100%; }
pre { white-space: pre-wrap; word-break: break-word; }
"""


def toc_order(app: Sphinx) -> list[str]:
    """Every document in reading order: a depth-first walk of the toctrees from the root."""
    order: list[str] = []

    def walk(doc: str) -> None:
        if doc in order or doc not in app.env.found_docs:
            return
        order.append(doc)
        for child in app.env.toctree_includes.get(doc, []):
            walk(child)

    walk(app.config.root_doc)
    return order


def slug(doc: str) -> str:
    return "page-" + doc.replace("/", "-")


def rewrite_article(article: str, doc: str, docs: set[str], base_url: str) -> str:
    """Make one page's article live inside the single printable page at the site's root:
    ids get the page's prefix, links between pages become links inside the document, links
    to other files of the site point at the published site, image sources resolve from the
    root."""
    prefix = slug(doc)
    folder = posixpath.dirname(doc)

    def replace(match: re.Match) -> str:
        name, value = match.group(1), htmllib.unescape(match.group(2))
        if name == "id":
            return f'id="{prefix}--{value}"'
        parts = urlsplit(value)
        if parts.scheme or parts.netloc or value.startswith(("data:", "mailto:")):
            return match.group(0)
        if not parts.path:  # "#anchor" on the same page
            return f'href="#{prefix}--{parts.fragment}"' if parts.fragment else match.group(0)
        target = posixpath.normpath(posixpath.join(folder, parts.path))
        if name == "src":
            return f'src="{htmllib.escape(target, quote=True)}"'
        if target.endswith(".html") and target[: -len(".html")] in docs:
            anchor = slug(target[: -len(".html")])
            return f'href="#{anchor}--{parts.fragment}"' if parts.fragment else f'href="#{anchor}"'
        url = base_url + target + (f"#{parts.fragment}" if parts.fragment else "")
        return f'href="{htmllib.escape(url, quote=True)}"'

    return _ATTRIBUTE.sub(replace, article)


def compose(app: Sphinx, outdir: Path) -> tuple[str, bool]:
    """The single printable page, and whether any page in it has math."""
    docs = toc_order(app)
    known = set(docs)
    base_url = app.config.html_baseurl or ""
    base_url = base_url if base_url.endswith("/") else base_url + "/"
    root_html = (outdir / f"{app.config.root_doc}.html").read_text(encoding="utf-8")
    styles = "\n".join(
        tag
        for tag in re.findall(r"<link\b[^>]*>", root_html)
        if 'rel="stylesheet"' in tag and "thebe" not in tag
    )
    sections, contents, has_math = [], [], False
    for doc in docs:
        page = (outdir / f"{doc}.html").read_text(encoding="utf-8")
        match = _ARTICLE.search(page)
        if match is None:
            raise ExtensionError(f"{doc}.html has no article to put into {PDF_NAME}")
        has_math = has_math or 'class="math' in match.group(1)
        title = app.env.titles[doc].astext()
        contents.append(f'<li><a href="#{slug(doc)}">{htmllib.escape(title)}</a></li>')
        body = rewrite_article(match.group(1), doc, known, base_url)
        sections.append(f'<section class="book-page" id="{slug(doc)}">\n{body}\n</section>')
    math = ""
    if has_math:
        mathjax = app.config.mathjax_path
        math = f'<script defer src="_static/{mathjax}"></script>'
    today = dt.date.today()
    title = htmllib.escape(app.config.html_title or app.config.project)
    document = f"""<!DOCTYPE html>
<html lang="{app.config.language or "en"}" data-theme="light" data-mode="light">
<head>
<meta charset="utf-8" />
<title>{title}</title>
{styles}
<style>{_PRINT_CSS}</style>
{math}
</head>
<body>
<div class="bd-article-container"><div class="bd-content">
<section class="book-cover">
<h1>{title}</h1>
<p>{htmllib.escape(app.config.author)}</p>
<p>Printed from the website on {today.day} {today:%B %Y}: {htmllib.escape(base_url)}</p>
</section>
<nav class="book-contents" aria-label="Contents"><h2>Contents</h2><ol>{"".join(contents)}</ol></nav>
{"".join(sections)}
</div></div>
</body>
</html>
"""
    return document, has_math


def print_pdf(source: Path, target: Path, has_math: bool) -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise ExtensionError(
            f"{PDF_NAME} needs Debian's chromium: run `make browser` (or `make book`, which "
            "installs it), or leave PLAYBOOK_PDF unset to skip the PDF in a quick local build"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=[
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--allow-file-access-from-files",
                "--disable-background-networking",
            ],
        )
        try:
            page = browser.new_page()
            # Nothing but the book's own files may load while printing.
            page.route(
                "**/*",
                lambda route: (
                    route.continue_()
                    if route.request.url.startswith(("file:", "data:"))
                    else route.abort()
                ),
            )
            page.goto(source.as_uri(), wait_until="load", timeout=120_000)
            if has_math:
                page.wait_for_function(
                    "window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=60_000
                )
                page.evaluate("MathJax.startup.promise")
            page.emulate_media(media="print")
            page.pdf(
                path=str(target),
                format="A4",
                print_background=True,
                outline=True,
                tagged=True,
                prefer_css_page_size=True,
            )
        finally:
            browser.close()


def _note_written(app: Sphinx, pagename, templatename, context, doctree) -> None:
    if doctree is not None:
        app.playbook_pages_written = True  # type: ignore[attr-defined]


def _make_pdf(app: Sphinx, exception) -> None:
    if exception or app.builder.name != "html" or os.environ.get("PLAYBOOK_PDF") != "1":
        return
    outdir = Path(app.outdir)
    target = outdir / PDF_NAME
    if target.exists() and not getattr(app, "playbook_pages_written", False):
        return
    start = time.perf_counter()
    document, has_math = compose(app, outdir)
    source = outdir / _PRINT_NAME
    source.write_text(document, encoding="utf-8")
    try:
        print_pdf(source, target, has_math)
    finally:
        source.unlink(missing_ok=True)
    logger.info(
        f"{PDF_NAME}: {target.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - start:.0f} s"
    )


def pdf_link(app: Sphinx, html: str, context: dict) -> str:
    """A footer link to the PDF, relative to the page."""
    href = context["pathto"](PDF_NAME, 1)
    link = (
        f'<p class="book-pdf"><a href="{href}" type="application/pdf" download>'
        "The whole playbook as a PDF</a> (for reading offline or printing)</p>"
    )
    marker = '<div class="extra_footer">'
    return html.replace(marker, marker + "\n  " + link, 1) if marker in html else html


def setup(app: Sphinx) -> None:
    from playbook_assets import PAGE_FILTERS

    if pdf_link not in PAGE_FILTERS:
        PAGE_FILTERS.append(pdf_link)
    app.connect("html-page-context", _note_written)
    app.connect("build-finished", _make_pdf, priority=900)
