"""The built site served as a reader's browser meets it, shared by tests/test_site.py and
benchmarks/bench_site.py: a local HTTP server that compresses text with gzip (as any real host
does), Chromium's flags, and the measure of what one page costs a first-time visitor.

Nothing here leaves 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import http.server
import shutil
import statistics
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import fetch_axe  # noqa: E402

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
# The budget: the median page transfers at most 400 KiB with gzip.
MEDIAN_BUDGET_KIB = 400
# No single page may go far past it either (the search page carries the search index).
PAGE_BUDGET_KIB = 600

SITE_PREFIX = "/playbook/"
_COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")


class GzipHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files like ``python -m http.server`` but gzips text when the client accepts it."""

    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "application/javascript",
        ".svg": "image/svg+xml",
        ".woff2": "font/woff2",
        ".ipynb": "application/json",
    }

    def log_message(self, *args):  # keep test and benchmark output readable
        pass

    def translate_path(self, path):
        # The site is published under /playbook/ (html_baseurl); serve it there too, so the
        # 404 page's root-relative base address works as it does when deployed.
        if path.startswith(SITE_PREFIX):
            path = "/" + path[len(SITE_PREFIX) :]
        return super().translate_path(path)

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        ctype = self.guess_type(str(path))
        accepts = "gzip" in self.headers.get("Accept-Encoding", "")
        if not (path.is_file() and accepts and ctype.startswith(_COMPRESSIBLE)):
            return super().send_head()
        body = gzip.compress(path.read_bytes(), compresslevel=6, mtime=0)
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        return _Body(body)

    def send_error(self, code, message=None, explain=None):
        """A missing file gets the site's own 404 page, as the deployed site does."""
        page = Path(self.directory) / "404.html"
        if code != 404 or not page.is_file():
            return super().send_error(code, message, explain)
        body = page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _Body:
    """A file-like body for SimpleHTTPRequestHandler.copyfile."""

    def __init__(self, data: bytes):
        self._data = data
        self._done = False

    def read(self, size=-1):
        if self._done:
            return b""
        self._done = True
        return self._data

    def close(self):
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` with gzip on 127.0.0.1 (a free port); yield the base URL."""
    handler = functools.partial(GzipHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def transferred_bytes(browser, url: str) -> tuple[int, dict[str, int]]:
    """Load ``url`` in a fresh browser context (an empty cache: a first visit) and return the
    bytes transferred (headers and encoded bodies) in all, and per resource."""
    context = browser.new_context()
    page = context.new_page()
    responses = []
    page.on("requestfinished", lambda request: responses.append(request))
    try:
        page.goto(url, wait_until="networkidle")
        page.wait_for_timeout(300)  # late, script-inserted requests (MathJax fonts)
        per_resource = {}
        for request in responses:
            sizes = request.sizes()
            size = sizes["responseBodySize"] + sizes["responseHeadersSize"]
            per_resource[request.url] = per_resource.get(request.url, 0) + size
    finally:
        context.close()
    return sum(per_resource.values()), per_resource


@functools.cache
def _axe():
    from axe_playwright_python.sync_playwright import Axe

    return Axe.from_file(fetch_axe.fetch())


# The site defers the layout of off-screen notebook cells (content-visibility in
# _static/playbook.css); axe cannot judge the contrast of text that is not laid out, so every
# part of the page is rendered before it looks, as it is when the reader scrolls there.
_RENDER_ALL = "* { content-visibility: visible !important; }"


def run_axe(page, context=None, options=None) -> dict:
    """axe-core's results for ``page`` (the ``response`` dict), with the version
    scripts/fetch_axe.py pins (fetched when missing), not the older one axe-playwright-python
    bundles."""
    from axe_playwright_python.sync_playwright import DEFAULT_OPTIONS

    page.add_style_tag(content=_RENDER_ALL)
    return _axe().run(page, context=context, options=options or DEFAULT_OPTIONS).response


def median_kib(sizes: dict[str, int]) -> float:
    return statistics.median(sizes.values()) / 1024
