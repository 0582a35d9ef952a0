"""The lawful-route decision tree works in headless Chromium: a reader opens one path through it,
by mouse and by keyboard, and reaches the right route, and nothing leaves 127.0.0.1.

Uses the served site and the browser of tests/test_site.py.
"""

from __future__ import annotations

import pytest
from test_site import browser, page, site  # noqa: F401  (fixtures shared with the site tests)

pytestmark = [pytest.mark.build, pytest.mark.browser]

# Anonymous? no; a study with participants? no; consent? no; public-health research? yes;
# consent impossible or disproportionate? yes; objections checked? yes.
PATH = [
    "route-q1-no",
    "route-q2-no",
    "route-q3-no",
    "route-q4-yes",
    "route-q5-yes",
    "route-q6-yes",
]


def _is_open(tab, name: str) -> bool:
    return tab.locator(f"details#{name}").evaluate("d => d.open")


def test_a_path_through_the_tree_reaches_its_route(page, site):  # noqa: F811
    page.goto(f"{site}/legal/lawful_route_nl.html", wait_until="networkidle")
    leaf = page.locator("details#route-q6-yes")
    assert not _is_open(page, "route-q1-no")
    assert not leaf.is_visible(), "the route must be hidden until the reader gets there"

    for step, name in enumerate(PATH):
        summary = page.locator(f"details#{name} > summary")
        assert summary.is_visible(), f"step {step + 1}: the answer {name} is not shown"
        if step % 2:  # every other step by keyboard only: Tab focus, then Enter
            summary.focus()
            page.keyboard.press("Enter")
        else:
            summary.click()
        assert _is_open(page, name), f"step {step + 1}: {name} did not open"

    text = leaf.inner_text()
    assert "Route: the research exception without consent" in text
    for condition in ("UAVG Article 24", "Article 7:458", "Article 6(1)", "What to record"):
        assert condition in text, condition
    # The sibling answers on the path stay closed, so only one route is shown.
    for closed in ("route-q6-no", "route-q5-no", "route-q4-no", "route-q1-yes"):
        assert not _is_open(page, closed), closed
    assert not page.outside_requests, f"requests leaving 127.0.0.1: {page.outside_requests}"
    assert not [e for e in page.console_errors if "net::ERR_FAILED" not in e]
