"""The built site as a reader meets it: served on localhost, driven in headless Chromium.

Debian's Chromium is used (``make test`` installs it when missing); Playwright drives it.
Every request that would leave localhost is blocked and reported.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from urllib.parse import urlparse

import pytest

from bookcheck import toc_files

pytestmark = [pytest.mark.build, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output readable
        pass


@pytest.fixture(scope="module")
def site(book):
    assert book.returncode == 0, "the book did not build; see test_build.py"
    handler = functools.partial(_QuietHandler, directory=str(book.html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("Chromium is not installed: run `make test`, which installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, site):
    context = browser.new_context()
    page = context.new_page()
    page.outside_requests = []
    page.console_errors = []

    def route(route):
        host = urlparse(route.request.url).hostname
        if host in ("127.0.0.1", "localhost") or route.request.url.startswith("data:"):
            route.continue_()
        else:
            page.outside_requests.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    yield page
    context.close()


@pytest.mark.parametrize("name", toc_files())
def test_page_loads_without_errors_or_outside_requests(page, site, name):
    response = page.goto(f"{site}/{name}.html", wait_until="networkidle")
    assert response is not None and response.status == 200
    assert page.locator("article h1").first.is_visible()
    # Blocked outside requests would show up as console errors too; report them as what they are.
    errors = [e for e in page.console_errors if "net::ERR_FAILED" not in e]
    assert not page.outside_requests, f"requests leaving localhost: {page.outside_requests}"
    assert not errors, errors


def test_search_finds_a_term(page, site):
    page.goto(f"{site}/search.html?q=pseudonymisation", wait_until="networkidle")
    results = page.locator("#search-results li")
    results.first.wait_for(timeout=15_000)
    assert results.count() >= 1
    assert "glossary" in " ".join(results.all_inner_texts()).lower() or results.count() >= 2


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


@pytest.mark.parametrize("name", toc_files())
def test_accessibility_has_no_serious_violations(page, site, name):
    from axe_playwright_python.sync_playwright import Axe

    page.goto(f"{site}/{name}.html", wait_until="networkidle")
    results = Axe().run(page)
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']} x{len(v['nodes'])}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not serious, "\n".join(serious)
