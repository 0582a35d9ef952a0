"""Fail when a Jupyter notebook (.ipynb) is committed with outputs or execution counts.

The playbook's notebooks are MyST Markdown files and are executed at build time; an .ipynb
with outputs would put stale numbers (and possibly data) into the repository.
Usage: python scripts/check_notebook_outputs.py FILE.ipynb ...  (exit status 1 on a problem)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def problems(path: Path) -> list[str]:
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        return [f"{path}: cannot be read as a notebook ({error})"]
    found = []
    for number, cell in enumerate(notebook.get("cells", []), start=1):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            found.append(f"{path}: cell {number} has outputs")
        if cell.get("execution_count") is not None:
            found.append(f"{path}: cell {number} has an execution count")
    return found


def main(argv: list[str]) -> int:
    found = [p for name in argv for p in problems(Path(name))]
    for problem in found:
        print(problem)
    if found:
        print("Clear the outputs (e.g. `jupyter nbconvert --clear-output --inplace FILE`)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
