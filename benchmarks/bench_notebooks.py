"""Execute every notebook in notebooks/ and print its wall time against the runtime budget.

The guide asks each notebook to run in well under a minute on two cores. This script measures
that (timings do not belong in tests: machines are noisy). Usage:
    .venv/bin/python benchmarks/bench_notebooks.py [name ...]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import jupytext
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
BUDGET_SECONDS = 60.0


def run(path: Path) -> float:
    notebook = jupytext.read(path)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def main(names: list[str]) -> int:
    paths = sorted(p for p in (ROOT / "notebooks").glob("*.md") if p.stem != "index")
    if names:
        paths = [p for p in paths if p.stem in names]
    print(f"{'notebook':<28} {'seconds':>8} {'budget':>7}  verdict")
    over = 0
    for path in paths:
        seconds = run(path)
        verdict = "ok" if seconds < BUDGET_SECONDS else "OVER BUDGET"
        over += seconds >= BUDGET_SECONDS
        print(f"{path.stem:<28} {seconds:8.1f} {BUDGET_SECONDS:7.0f}  {verdict}", flush=True)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
