"""Execute every notebook in notebooks/ and print its wall time against the runtime budget.

The guide asks each notebook to run in well under 30 seconds on one core, and the whole book
to build cold in about three minutes. This script measures that (timings do not belong in
tests: machines are noisy), slowest notebook first, with the total. ``--cells N`` also prints
each notebook's N slowest cells, to see where its time goes. Usage:
    .venv/bin/python benchmarks/bench_notebooks.py [--cells N] [name ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

import jupytext
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
BUDGET_SECONDS = 30.0
sys.path.insert(0, str(ROOT / "_ext"))
from playbook_execute import local_socket_kernel_manager, socket_folder  # noqa: E402  (as the build)


def _cell_seconds(cell) -> float:
    timing = cell.metadata.get("execution", {})
    try:
        start = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return 0.0
    return (end - start).total_seconds()


def run(path: Path) -> tuple[float, list[tuple[float, str]]]:
    """Wall time of the whole notebook, kernel start included, and each code cell's time."""
    notebook = jupytext.read(path)
    sockets = socket_folder()
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        kernel_manager_class=local_socket_kernel_manager(sockets),
        record_timing=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    try:
        client.execute(env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
    seconds = time.perf_counter() - start
    cells = [
        (_cell_seconds(cell), cell.source.strip().splitlines()[0] if cell.source.strip() else "")
        for cell in notebook.cells
        if cell.cell_type == "code"
    ]
    return seconds, cells


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="notebooks to run (default: all)")
    parser.add_argument("--cells", type=int, default=0, help="show each notebook's N slowest")
    args = parser.parse_args()
    paths = sorted(p for p in (ROOT / "notebooks").glob("*.md") if p.stem != "index")
    if args.names:
        paths = [p for p in paths if p.stem in args.names]
    results = {}
    for path in paths:
        results[path.stem] = run(path)
        print(f"  ran {path.stem}: {results[path.stem][0]:.1f} s", file=sys.stderr, flush=True)
    print(f"{'notebook':<28} {'seconds':>8} {'budget':>7}  verdict")
    over = 0
    for name, (seconds, cells) in sorted(results.items(), key=lambda item: -item[1][0]):
        verdict = "ok" if seconds < BUDGET_SECONDS else "OVER BUDGET"
        over += seconds >= BUDGET_SECONDS
        print(f"{name:<28} {seconds:8.1f} {BUDGET_SECONDS:7.0f}  {verdict}")
        for cell_seconds, first_line in sorted(cells, reverse=True)[: args.cells]:
            print(f"    {cell_seconds:6.1f} s  {first_line[:70]}")
    total = sum(seconds for seconds, _ in results.values())
    print(f"{'total':<28} {total:8.1f}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
