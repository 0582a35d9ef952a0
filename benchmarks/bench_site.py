"""How long the book takes to build and how much each page costs a reader. Prints figures.

1. Build times, in a throw-away copy of the tracked sources (so this checkout's build and its
   notebook cache stay untouched): a cold build with every notebook executed (no cache), a
   rebuild with nothing changed, and a rebuild after editing one page. The command is the
   README's (`make book`): ``jupyter-book build . --builder html -n -W --keep-going``.
2. Each page's transferred size (headers and bodies, gzip as a real host serves it) for a
   first-time visitor in headless Chromium, and the median against the 400 KiB budget.
3. Lighthouse (npm ``lighthouse``, mobile defaults, Debian Chromium) performance and
   accessibility for the welcome page, a chapter and a notebook page, best of two runs.
   Lighthouse is installed into benchmarks/.lighthouse with npm when it is missing.

Usage:
    .venv/bin/python benchmarks/bench_site.py             # everything (about ten minutes)
    .venv/bin/python benchmarks/bench_site.py --no-build  # sizes and Lighthouse of _build/html
    .venv/bin/python benchmarks/bench_site.py --html DIR  # ... of another built site
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from sitekit import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_FLAGS,
    MEDIAN_BUDGET_KIB,
    median_kib,
    serve,
    transferred_bytes,
)

from bookcheck import toc_files  # noqa: E402

BIN = Path(sys.executable).parent
BUILD = ["build", ".", "--builder", "html", "-n", "-W", "--keep-going"]
LIGHTHOUSE_VERSION = "12.8.2"
LIGHTHOUSE_DIR = ROOT / "benchmarks" / ".lighthouse"
LIGHTHOUSE_PAGES = ("intro", "privacy_tech/k_anonymity", "notebooks/k_anonymity")
EDITED_PAGE = "sharing_methods/index.md"


def _copy_sources(target: Path) -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, tracked.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    vendor = ROOT / "_static" / "vendor"  # MathJax, fetched by the Makefile, not tracked
    if vendor.is_dir():
        shutil.copytree(vendor, target / "_static" / "vendor")


def _timed_build(source: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(source), "PLAYBOOK_PDF": "1"}  # as `make book`
    start = time.perf_counter()
    result = subprocess.run(
        [str(BIN / "jupyter-book"), *BUILD], cwd=source, env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        print(result.stdout[-3000:], result.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"build failed in {source}")
    return seconds


def build_times(keep: Path | None) -> Path:
    work = Path(tempfile.mkdtemp(prefix="bench_site_")) if keep is None else keep
    _copy_sources(work)
    jobs = os.environ.get("PLAYBOOK_JOBS") or f"default, {min(2, os.cpu_count() or 1)}"
    print(f"notebook kernels at once (PLAYBOOK_JOBS): {jobs}; load average {os.getloadavg()}")
    cold = _timed_build(work)
    print(f"cold build, every notebook executed : {cold:7.1f} s", flush=True)
    unchanged = _timed_build(work)
    print(f"rebuild, nothing changed            : {unchanged:7.1f} s", flush=True)
    page = work / EDITED_PAGE
    page.write_text(page.read_text(encoding="utf-8") + "\nOne more sentence.\n", "utf-8")
    edited = _timed_build(work)
    print(f"rebuild, one page edited            : {edited:7.1f} s", flush=True)
    return work / "_build" / "html"


def page_sizes(html: Path) -> None:
    from playwright.sync_api import sync_playwright

    pages = [*toc_files(), "search", "genindex", "404"]
    sizes = {}
    with serve(html) as site, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        for name in pages:
            if (html / f"{name}.html").is_file():
                sizes[name], _ = transferred_bytes(browser, f"{site}/{name}.html")
        browser.close()
    print(f"\n{'page':<48} {'KiB (gzip)':>10}")
    for name, size in sizes.items():
        print(f"{name:<48} {size / 1024:10.1f}")
    median = median_kib(sizes)
    verdict = "ok" if median <= MEDIAN_BUDGET_KIB else "OVER BUDGET"
    print(
        f"{'median of ' + str(len(sizes)) + ' pages':<48} {median:10.1f}  "
        f"(budget {MEDIAN_BUDGET_KIB}: {verdict})",
        flush=True,
    )


def _lighthouse() -> Path:
    binary = LIGHTHOUSE_DIR / "node_modules" / ".bin" / "lighthouse"
    if not binary.exists():
        LIGHTHOUSE_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(LIGHTHOUSE_DIR),
                f"lighthouse@{LIGHTHOUSE_VERSION}",
            ],
            check=True,
        )
    return binary


def lighthouse(html: Path, runs: int = 2) -> None:
    binary = _lighthouse()
    env = {**os.environ, "CHROME_PATH": CHROMIUM}
    flags = " ".join(f for f in CHROMIUM_FLAGS if f != "--disable-gpu")
    print(f"\nLighthouse {LIGHTHOUSE_VERSION}, mobile defaults, best of {runs} runs")
    print(f"{'page':<28} {'performance':>11} {'accessibility':>13}  FCP / LCP / TBT (ms)")
    with serve(html) as site, tempfile.TemporaryDirectory() as tmp:
        for name in LIGHTHOUSE_PAGES:
            best = None
            for run in range(runs):
                report = Path(tmp) / f"{name.replace('/', '_')}_{run}.json"
                subprocess.run(
                    [
                        str(binary),
                        f"{site}/{name}.html",
                        "--quiet",
                        "--output=json",
                        f"--output-path={report}",
                        "--only-categories=performance,accessibility",
                        f"--chrome-flags={flags}",
                    ],
                    env=env,
                    check=True,
                )
                data = json.loads(report.read_text())
                scores = (
                    data["categories"]["performance"]["score"],
                    data["categories"]["accessibility"]["score"],
                )
                audits = data["audits"]
                timing = tuple(
                    round(audits[a]["numericValue"])
                    for a in (
                        "first-contentful-paint",
                        "largest-contentful-paint",
                        "total-blocking-time",
                    )
                )
                if best is None or scores > best[0]:
                    best = (scores, timing)
            (performance, accessibility), timing = best
            print(
                f"{name:<28} {performance:11.2f} {accessibility:13.2f}  "
                f"{timing[0]} / {timing[1]} / {timing[2]}",
                flush=True,
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--no-build",
        action="store_true",
        help="measure this checkout's _build/html instead of timing builds",
    )
    parser.add_argument("--html", type=Path, help="measure this built site (no build timing)")
    parser.add_argument("--no-lighthouse", action="store_true")
    parser.add_argument("--workdir", type=Path, help="build copy here (kept) instead of /tmp")
    args = parser.parse_args()
    if CHROMIUM is None:
        raise SystemExit("Chromium is not installed: `make browser` installs Debian's chromium")
    if args.html:
        html = args.html
    elif args.no_build:
        html = ROOT / "_build" / "html"
    else:
        html = build_times(args.workdir)
    page_sizes(html)
    if not args.no_lighthouse:
        lighthouse(html)
    return 0


if __name__ == "__main__":
    sys.exit(main())
