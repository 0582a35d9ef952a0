"""The built site as a reader meets it: served with gzip on localhost, driven in headless Chromium.

Debian's Chromium is used (``make test`` installs it when missing); Playwright drives it.
Every request that would leave localhost is blocked and reported. A page fails when it gains an
axe-core violation of any impact (WCAG 2.2 AA rules and best practices, light and dark mode), a
console error, a request leaving 127.0.0.1, or grows past the size budget.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlparse

import pytest
from sitekit import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    MEDIAN_BUDGET_KIB,
    PAGE_BUDGET_KIB,
    median_kib,
    run_axe,
    serve,
    transferred_bytes,
)

from bookcheck import toc_files

pytestmark = [pytest.mark.build, pytest.mark.browser]

PAGES = toc_files()
# The WCAG 2.2 AA rule set, plus axe's best practices (landmarks, headings, ...).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
SITE_ROOT = "/playbook/"  # the path html_baseurl in _config.yml publishes the site under


@pytest.fixture(scope="module")
def site(book):
    assert book.returncode == 0, "the book did not build; see test_build.py"
    with serve(book.html) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("Chromium is not installed: run `make test`, which installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def _watched_page(browser, color_scheme="light"):
    context = browser.new_context(color_scheme=color_scheme, reduced_motion="reduce")
    page = context.new_page()
    page.outside_requests = []
    page.console_errors = []

    def route(route):
        host = urlparse(route.request.url).hostname
        if host == "127.0.0.1" or route.request.url.startswith("data:"):
            route.continue_()
        else:
            page.outside_requests.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    return context, page


@pytest.fixture
def page(browser, site):
    context, page = _watched_page(browser)
    yield page
    context.close()


def problems_on_load(page, url: str) -> list[str]:
    """Everything wrong with loading ``url``: status, outside requests, console errors."""
    response = page.goto(url, wait_until="networkidle")
    found = []
    if response is None or response.status != 200:
        found.append(f"status {response and response.status}")
    if page.outside_requests:
        found.append(f"requests leaving 127.0.0.1: {page.outside_requests}")
    # Blocked outside requests also show as console errors; they are reported above as what
    # they are.
    errors = [e for e in page.console_errors if "net::ERR_FAILED" not in e]
    if errors:
        found.append(f"console errors: {errors}")
    return found


@pytest.mark.parametrize("name", PAGES)
def test_page_loads_without_errors_or_outside_requests(page, site, name):
    assert not problems_on_load(page, f"{site}/{name}.html")
    assert page.locator("article h1").first.is_visible()


def axe_violations(page) -> list[str]:
    # label-content-name-mismatch is still "experimental" in axe, so off unless named.
    options = {
        "runOnly": {"type": "tag", "values": AXE_TAGS},
        "rules": {"label-content-name-mismatch": {"enabled": True}},
    }
    results = run_axe(page, options=options)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} x{len(v['nodes'])}: "
        + "; ".join(
            " ".join(n["target"]) if isinstance(n["target"], list) else str(n["target"])
            for n in v["nodes"][:3]
        )
        for v in results["violations"]
    ]


@pytest.mark.parametrize("mode", ["light", "dark"])
@pytest.mark.parametrize("name", [*PAGES, "search", "404"])
def test_accessibility_has_no_violations_of_any_impact(browser, site, name, mode):
    context, page = _watched_page(browser, color_scheme=mode)
    try:
        page.goto(f"{site}/{name}.html", wait_until="networkidle")
        assert page.evaluate("document.documentElement.dataset.theme") == mode
        violations = axe_violations(page)
    finally:
        context.close()
    assert not violations, "\n".join(violations)


def test_pages_stay_within_the_size_budget(browser, site):
    """A first visit to each page, gzip as a real host serves it: the median page transfers at
    most 400 KiB, and no page more than PAGE_BUDGET_KIB."""
    sizes = {name: transferred_bytes(browser, f"{site}/{name}.html")[0] for name in PAGES}
    too_big = {n: round(s / 1024) for n, s in sizes.items() if s > PAGE_BUDGET_KIB * 1024}
    assert not too_big, f"pages over {PAGE_BUDGET_KIB} KiB transferred: {too_big}"
    median = median_kib(sizes)
    assert median <= MEDIAN_BUDGET_KIB, f"median page {median:.0f} KiB > {MEDIAN_BUDGET_KIB} KiB"


def test_heavy_assets_load_only_where_needed(browser, site):
    """The levers behind the budget: no Font Awesome script or full webfonts anywhere, no
    MathJax (formulas are MathML, written at build time), the search index only on the search
    page."""
    _, plain = transferred_bytes(browser, f"{site}/privacy_tech/k_anonymity.html")
    _, maths = transferred_bytes(browser, f"{site}/privacy_tech/differential_privacy.html")
    _, search = transferred_bytes(browser, f"{site}/search.html?q=consent")
    for loaded in (" ".join(plain), " ".join(maths)):
        for heavy in ("fontawesome.js", "webfonts/fa-", "mathjax", "searchindex.js", "thebe"):
            assert heavy not in loaded, f"{heavy} loaded on a page that does not need it"
    assert any("searchindex.js" in url for url in search), "the search page lost its index"


@pytest.mark.parametrize(
    "name", ["privacy_tech/differential_privacy", "notebooks/federated_analytics"]
)
def test_formulas_are_drawn_as_mathml(page, site, name):
    """Every formula reaches the reader as MathML that the browser lays out (no TeX left)."""
    page.goto(f"{site}/{name}.html", wait_until="networkidle")
    formulas = page.locator("article math")
    assert formulas.count() >= 3, f"{formulas.count()} MathML formulas on {name}"
    heights = formulas.evaluate_all("fs => fs.map(f => f.getBoundingClientRect().height)")
    assert min(heights) > 8, heights
    text = page.locator("article").inner_text()
    assert "\\(" not in text and "\\varepsilon" not in text, "TeX left in the page"


def test_search_finds_a_term(page, site):
    page.goto(f"{site}/search.html?q=pseudonymisation", wait_until="networkidle")
    results = page.locator("#search-results li")
    results.first.wait_for(timeout=15_000)
    assert results.count() >= 1
    assert "glossary" in " ".join(results.all_inner_texts()).lower() or results.count() >= 2


def test_search_box_on_a_chapter_leads_to_results(page, site):
    page.goto(f"{site}/privacy_tech/k_anonymity.html", wait_until="networkidle")
    page.keyboard.press("Control+k")
    box = page.locator("input[name=q]:visible").first
    box.fill("anonymisation")
    box.press("Enter")
    page.wait_for_url("**/search.html?q=anonymisation*")
    page.locator("#search-results li").first.wait_for(timeout=15_000)


def test_icons_are_drawn(page, site):
    """The icon subset holds the glyphs the theme uses: the menu button's icon has width."""
    page.goto(f"{site}/privacy_tech/k_anonymity.html", wait_until="networkidle")
    width = page.evaluate(
        """() => { const icons = [...document.querySelectorAll('i.fa-solid')];
                   const s = getComputedStyle(icons[0], '::before');
                   const widths = icons.map(i => i.getBoundingClientRect().width);
                   return [s.fontFamily, Math.max(...widths)]; }"""
    )
    assert "Font Awesome" in width[0] and width[1] > 4, width
    assert page.evaluate("document.fonts.check('900 16px \"Font Awesome 6 Free\"', '\\uf0c9')")


def test_navigation_reaches_every_theme(page, site):
    page.goto(f"{site}/intro.html", wait_until="networkidle")
    for theme in (
        "Sharing methods",
        "FAIR principles",
        "Privacy-enhancing technologies",
        "Law and regulation",
    ):
        link = page.locator("nav.bd-links a", has_text=theme).first
        assert link.is_visible(), theme


def test_missing_page_gets_the_404_page(page, site):
    """A host serves 404.html at any missing address, however deep; its styles and links still
    resolve from the site's root."""
    response = page.goto(f"{site}{SITE_ROOT}legal/no_such_page.html", wait_until="networkidle")
    assert response.status == 404
    assert page.locator("h1", has_text="Page not found").first.is_visible()
    assert not page.outside_requests and not [e for e in page.console_errors if "404" not in e], (
        page.console_errors
    )
    styled = page.evaluate("getComputedStyle(document.body).fontFamily")
    assert "Times" not in styled, "the 404 page lost the theme's stylesheet"
    page.locator("a", has_text="Go to the welcome page").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"{SITE_ROOT}intro.html")
    assert page.locator("article h1").first.is_visible()


class _Head(HTMLParser):
    def __init__(self):
        super().__init__()
        self.meta: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        key = attrs.get("name") or attrs.get("property")
        if tag == "meta" and key:
            self.meta[key] = attrs.get("content", "")


@pytest.mark.parametrize("name", PAGES)
def test_every_page_has_a_description_and_open_graph_tags(book, name):
    head = _Head()
    head.feed((book.html / f"{name}.html").read_text(encoding="utf-8"))
    description = head.meta.get("description", "")
    assert 40 <= len(description) <= 161, f"description: {description!r}"
    for key in ("og:title", "og:description", "og:type", "og:url", "og:site_name"):
        assert head.meta.get(key), f"{key} missing"
    assert head.meta["og:url"].endswith(f"/{name}.html")
    assert not re.search(
        r"https?://", " ".join(v for k, v in head.meta.items() if k not in ("og:url",))
    ), head.meta


def test_sitemap_lists_every_page(book):
    sitemap = (book.html / "sitemap.xml").read_text(encoding="utf-8")
    listed = set(re.findall(r"<loc>[^<]*?/playbook/([^<]+)\.html</loc>", sitemap))
    assert set(PAGES) <= listed, sorted(set(PAGES) - listed)
    assert "Sitemap:" in (book.html / "robots.txt").read_text(encoding="utf-8")


def test_whole_book_pdf_is_linked_from_every_page_with_working_links_and_figures(book):
    pdf = book.html / "playbook.pdf"
    assert pdf.is_file(), "make book did not write playbook.pdf"
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    pages = len(re.findall(rb"/Type\s*/Page\b", data))
    internal_links = len(re.findall(rb"/Dest\b", data))
    images = len(re.findall(rb"/Subtype\s*/Image\b", data))
    assert pages >= 2 * len(PAGES), f"{pages} PDF pages for {len(PAGES)} web pages"
    assert internal_links >= len(PAGES), f"only {internal_links} links inside the PDF"
    assert images >= 10, f"only {images} images in the PDF"
    for name in PAGES:
        html = (book.html / f"{name}.html").read_text(encoding="utf-8")
        depth = name.count("/")
        assert f'href="{"../" * depth}playbook.pdf"' in html, f"{name}: no link to the PDF"
