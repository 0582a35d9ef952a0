"""The decision guide and the diagrams as a reader meets them: the built site served on
127.0.0.1 and driven in headless Chromium (Debian's, as in test_site.py).

Every situation of the guide is walked with the keyboard, from the first question to the
recommendation, and the recommended approach, technique and legal route are checked where the
reader sees them. No request may leave 127.0.0.1.
"""

from __future__ import annotations

import functools
import http.server
import io
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
from sitekit import run_axe

from bookcheck import ROOT, page_path, toc_files

pytestmark = [pytest.mark.build, pytest.mark.browser]

GUIDE = "sharing_methods/decision_guide.html"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]


@dataclass(frozen=True)
class Situation:
    leaf: str  # id of the recommendation
    path: tuple[str, ...]  # the answers a reader opens, in order
    approach: str
    technique: str
    legal: tuple[str, ...]


Q_RESEARCH = "Answer a research or policy question with data others hold"
Q_PUBLIC = "A public-sector body: public health, policy or official statistics"
Q_RESEARCHER = "A researcher at a university, hospital or institute"
Q_RELEASE = "Release or publish data you hold"
Q_PRODUCT = "Build or train a product as a company"
Q_HOLDER = "Make your organisation's data available as a data holder"

SITUATIONS = [
    Situation(
        "guide-care",
        ("Care for a patient with their records",),
        "primary use",
        "access control",
        ("Article 6(1)(c) or (e)", "Article 9(2)(h)", "MyHealth@EU"),
    ),
    Situation(
        "guide-release-anonymous",
        (Q_RELEASE, "Yes: a risk assessment shows no row can reasonably be tied to a person"),
        "copy and download",
        "re-identification risk",
        ("does not apply to anonymous information", "Recital 26"),
    ),
    Situation(
        "guide-release-pseudonymised",
        (Q_RELEASE, "No, or not sure: the data are pseudonymised"),
        "researcher to data",
        "keyed pseudonyms",
        ("remain personal data", "Article 6(1)", "Article 9(2)"),
    ),
    Situation(
        "guide-public-statistics",
        (Q_RESEARCH, Q_PUBLIC, "Statistics only: counts, rates, tables"),
        "researcher to data",
        "differential privacy",
        ("Article 9(2)(i) or (j)", "Article 69", "Article 53(2)"),
    ),
    Situation(
        "guide-public-records",
        (Q_RESEARCH, Q_PUBLIC, "Record-level data"),
        "secure processing environment",
        "trusted third party",
        ("Articles 67 and 68", "Article 73", "Article 6(1)(e)"),
    ),
    Situation(
        "guide-research-one-holder",
        (Q_RESEARCH, Q_RESEARCHER, "Record-level data from one holder"),
        "trusted research environment",
        "pseudonymisation",
        ("Article 9(2)(j)", "Article 89(1)", "Article 68"),
    ),
    Situation(
        "guide-research-several-holders",
        (Q_RESEARCH, Q_RESEARCHER, "One fixed analysis across several holders in one country"),
        "model to data",
        "secure aggregation",
        ("Article 6(1)", "joint controllers", "Article 26"),
    ),
    Situation(
        "guide-research-cross-border",
        (Q_RESEARCH, Q_RESEARCHER, "One fixed analysis across holders in several countries"),
        "model to data",
        "federated learning",
        ("Article 9(4)", "Article 67(3)", "Recital 80"),
    ),
    Situation(
        "guide-research-linkage",
        (Q_RESEARCH, Q_RESEARCHER, "Record linkage, free text or images"),
        "researcher to data",
        "keyed pseudonyms",
        ("9(2)(j)", "Article 66(3)"),
    ),
    Situation(
        "guide-product-one-hospital",
        (Q_PRODUCT, "Train a model on one hospital's records"),
        "researcher to data",
        "differential privacy",
        ("legitimate interests (f)", "Article 9(2)(a)", "Medical Device Regulation"),
    ),
    Situation(
        "guide-product-federated",
        (Q_PRODUCT, "Train a model with several hospitals that keep their data"),
        "federated learning",
        "secure aggregation",
        ("Article 9(2)", "Article 26", "Medical Device Regulation"),
    ),
    Situation(
        "guide-product-ehds",
        (Q_PRODUCT, "Data from the European Health Data Space"),
        "secure processing environment",
        "anonymised data",
        ("Article 67", "Article 53(1)(e)", "Article 54", "Article 61(4)"),
    ),
    Situation(
        "guide-product-synthetic",
        (Q_PRODUCT, "Test or demonstrate software without real patients"),
        "synthetic data",
        "fidelity and privacy",
        ("not personal data", "Recital 26"),
    ),
    Situation(
        "guide-holder-catalogue",
        (Q_HOLDER, "Let others find your data"),
        "FAIR Data Point",
        "SHACL",
        ("Articles 60(3) and 77",),
    ),
    Situation(
        "guide-holder-request",
        (Q_HOLDER, "Answer a request from a company or a researcher"),
        "secure environment",
        "re-identification risk",
        ("Article 28", "Article 26", "Article 35", "Article 60(2)"),
    ),
]

# Every page that shows a diagram from diagrams/ (test_diagrams.py checks the sources).
DIAGRAM_PAGES = [
    f"{name}.html"
    for name in toc_files()
    if "../diagrams/" in page_path(name).read_text(encoding="utf-8")
]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(book):
    assert book.returncode == 0, "the book did not build; see test_build.py"
    handler = functools.partial(_QuietHandler, directory=str(book.html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("Chromium is not installed: run `make test`, which installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


def _open_page(browser, color_scheme="light"):
    context = browser.new_context(color_scheme=color_scheme)
    page = context.new_page()
    page.outside_requests, page.console_errors = [], []

    def route(route):
        url = route.request.url
        if urlparse(url).hostname == "127.0.0.1" or url.startswith("data:"):
            route.continue_()
        else:
            page.outside_requests.append(url)
            route.abort()

    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))
    page.on("pageerror", lambda e: page.console_errors.append(str(e)))
    return context, page


@pytest.fixture
def page(browser, site):
    context, page = _open_page(browser)
    yield page
    context.close()


def _plain(text: str) -> str:
    """Text as written in the source: Sphinx turns straight quotes into typographic ones."""
    return re.sub(r"\s+", " ", text.replace("\u2019", "'")).strip()


def _words(text: str) -> str:
    return _plain(text).lower()


def _summary(page, label: str):
    """The one <summary> whose visible text is exactly this answer."""
    summaries = page.locator("summary")
    texts = [_plain(text) for text in summaries.all_inner_texts()]
    exact = [i for i, text in enumerate(texts) if text == label]
    assert len(exact) == 1, f"expected one answer labelled {label!r}, found {len(exact)}"
    return summaries.nth(exact[0])


def _item(leaf, label: str, *, links: bool = False) -> str:
    """The line of a recommendation that starts with ``label``; without the text of its links
    unless asked, so that a link title ("Model to data: ...") cannot stand in for the advice."""
    script = "e => { const c = e.cloneNode(true); c.querySelectorAll('a').forEach(a => a.remove());"
    script += " return c.textContent; }"
    items = [
        _words(t)
        for t in (
            leaf.locator("li").all_inner_texts()
            if links
            else leaf.locator("li").evaluate_all(f"els => els.map({script})")
        )
    ]
    found = [t for t in items if t.startswith(label.lower())]
    assert len(found) == 1, f"expected one '{label}' line, found {len(found)} in {items}"
    return found[0]


def test_the_guide_covers_at_least_twelve_situations_and_the_test_walks_all(page, site):
    page.goto(f"{site}/{GUIDE}", wait_until="networkidle")
    on_page = set(page.locator("details.guide-leaf").evaluate_all("els => els.map(e => e.id)"))
    walked = {s.leaf for s in SITUATIONS}
    assert len(on_page) >= 12, sorted(on_page)
    assert on_page == walked, (
        f"situations without a walk: {sorted(on_page - walked)}; "
        f"walks without a situation: {sorted(walked - on_page)}"
    )


@pytest.mark.parametrize("situation", SITUATIONS, ids=lambda s: s.leaf)
def test_walking_a_situation_with_the_keyboard_shows_its_recommendation(page, site, situation):
    page.goto(f"{site}/{GUIDE}", wait_until="networkidle")
    leaf = page.locator(f"details#{situation.leaf}")
    assert not leaf.locator("li").first.is_visible(), "the recommendation shows before any answer"

    for label in situation.path:
        summary = _summary(page, label)
        assert summary.is_visible(), f"{label!r} is not visible when the reader reaches it"
        assert summary.evaluate("e => e.tabIndex") >= 0, f"{label!r} cannot be reached with Tab"
        summary.focus()
        page.keyboard.press("Enter")
        assert summary.evaluate("e => e.parentElement.open"), f"Enter did not open {label!r}"

    assert leaf.evaluate("e => e.open")
    approach = _item(leaf, "Approach:")
    technique = _item(leaf, "Techniques:")
    legal = _item(leaf, "Legal route:")
    reading = _item(leaf, "Read and run:", links=True)
    assert situation.approach.lower() in approach, approach
    assert situation.technique.lower() in technique, technique
    for provision in situation.legal:
        assert provision.lower() in legal, f"{provision!r} missing from: {legal}"
    # Legal claims carry a citation to the official text, and every answer leads on.
    assert leaf.locator("li", has_text="Legal route:").locator(".bibtex-citation").count() >= 1
    assert reading.count(",") >= 1 or len(reading) > 20

    # Every link in the recommendation leads to a page of the site.
    for href in leaf.locator("a").evaluate_all("els => els.map(e => e.href)"):
        target = urljoin(page.url, href)
        assert urlparse(target).hostname == "127.0.0.1", f"link leaves the site: {href}"
        response = page.request.get(target.split("#")[0])
        assert response.status == 200, f"{href} answers {response.status}"

    assert not page.outside_requests, f"requests leaving 127.0.0.1: {page.outside_requests}"
    errors = [e for e in page.console_errors if "net::ERR_FAILED" not in e]
    assert not errors, errors


def test_the_at_a_glance_table_opens_each_situation(page, site):
    page.goto(f"{site}/{GUIDE}", wait_until="networkidle")
    links = page.locator("table a[href^='#guide-']")
    assert links.count() == len(SITUATIONS)
    for i in range(links.count()):
        page.goto(f"{site}/{GUIDE}", wait_until="networkidle")
        link = page.locator("table a[href^='#guide-']").nth(i)
        target = link.get_attribute("href")[1:]
        assert target.endswith("-answer")
        leaf = page.locator(f"details#{target.removesuffix('-answer')}")
        assert leaf.count() == 1, f"{target} is not the answer of a situation"
        assert not leaf.locator("li").first.is_visible()
        link.focus()
        page.keyboard.press("Enter")
        # Chromium opens every <details> around a fragment's target: no script needed.
        leaf.locator("li").first.wait_for(state="visible", timeout=5_000)
        assert leaf.evaluate("e => e.open"), f"{target} did not open from the table"


@pytest.mark.parametrize("mode", ["light", "dark"])
def test_the_guide_with_every_answer_open_has_no_axe_violations(browser, site, mode):
    context, page = _open_page(browser, color_scheme=mode)
    try:
        page.goto(f"{site}/{GUIDE}", wait_until="networkidle")
        page.evaluate(f"document.documentElement.dataset.theme = '{mode}'")
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        # Every rule and every impact, on the guide's content (test_site.py checks the
        # theme's frame of every page).
        results = run_axe(page, context="article")
        found = [
            f"{v['id']} ({v['impact']}): {v['help']} x{len(v['nodes'])}"
            for v in results["violations"]
        ]
        assert not found, "\n".join(found)
        assert not page.outside_requests, page.outside_requests
    finally:
        context.close()


def _background(svg: Path, mode: str) -> tuple[int, int, int]:
    """The --bg colour a diagram declares for a colour scheme (see test_diagrams.py)."""
    light, _, dark = svg.read_text(encoding="utf-8").partition("prefers-color-scheme: dark")
    colour = re.search(r"--bg:(#[0-9a-fA-F]{6})", dark if mode == "dark" else light).group(1)
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


@pytest.mark.parametrize("mode", ["light", "dark"])
@pytest.mark.parametrize("name", DIAGRAM_PAGES)
def test_diagrams_load_as_images_with_alt_text(browser, site, name, mode):
    from PIL import Image

    context, page = _open_page(browser, color_scheme=mode)
    try:
        page.goto(f"{site}/{name}", wait_until="networkidle")
        images = page.locator("figure img[src$='.svg']")
        assert images.count() >= 1, f"no diagram on {name}"
        for i in range(images.count()):
            image = images.nth(i)
            image.scroll_into_view_if_needed()
            assert image.evaluate("e => e.complete && e.naturalWidth > 0"), "diagram did not load"
            assert len(image.get_attribute("alt") or "") >= 40, "diagram without alt text"
            assert image.locator("xpath=ancestor::figure//figcaption").count() == 1
            # The SVG switches its own palette with the reader's colour scheme: its painted
            # background is the one it declares for that scheme.
            source = ROOT / "diagrams" / Path(urlparse(image.evaluate("e => e.src")).path).name
            shot = Image.open(io.BytesIO(image.screenshot())).convert("RGB")
            pixel = shot.getpixel((16, 16))
            expected = _background(source, mode)
            assert all(abs(a - b) <= 3 for a, b in zip(pixel, expected, strict=True)), (
                f"{source.name} in {mode} mode paints {pixel}, expected {expected}"
            )
        assert not page.outside_requests, page.outside_requests
    finally:
        context.close()
