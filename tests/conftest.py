"""Shared fixtures: the book is built once per test session and shared by the tests that need it."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# --all re-reads every page, so warnings of unchanged pages are reported too (notebook
# outputs still come from the execution cache).
STRICT = ["--all", "--builder", "html", "-n", "-W", "--keep-going"]


@dataclass
class Build:
    returncode: int
    log: str
    html: Path


def build_book(source: Path, timeout: int = 1500, env: dict | None = None) -> Build:
    """Run the README's build (strict: warnings are errors) on a book folder."""
    result = subprocess.run(
        [str(BIN / "jupyter-book"), "build", str(source), *STRICT],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    return Build(result.returncode, result.stdout + result.stderr, source / "_build" / "html")


@pytest.fixture(scope="session")
def book() -> Build:
    """The whole book, built with every notebook executed (cached between runs)."""
    # PLAYBOOK_BUILT_SITE=DIR tests an already built site instead (used to show that the site
    # tests fail on a page given a fault on purpose, without building the book again).
    built = os.environ.get("PLAYBOOK_BUILT_SITE")
    if built:
        return Build(0, "", Path(built))
    # As `make book` builds it, with the whole-book PDF (_ext/playbook_pdf.py).
    return build_book(ROOT, env={"PLAYBOOK_PDF": "1"})
