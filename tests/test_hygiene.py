"""Repository hygiene the pre-commit hooks enforce, checked again in CI."""

import json
import subprocess
import sys
from pathlib import Path

from bookcheck import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from check_notebook_outputs import problems  # noqa: E402

BIN = Path(sys.executable).parent


def tracked(pattern: str) -> list[Path]:
    out = subprocess.run(["git", "ls-files", pattern], cwd=ROOT, capture_output=True, text=True)
    return [ROOT / line for line in out.stdout.splitlines()]


def test_ruff_is_clean():
    result = subprocess.run([BIN / "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_spelling_is_clean():
    files = [str(p) for p in tracked("*.md") + tracked("*.py") + tracked("*.yml")]
    result = subprocess.run([BIN / "codespell", *files], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_no_notebook_is_committed_with_outputs():
    found = [p for nb in tracked("*.ipynb") for p in problems(nb)]
    assert not found, found


def test_output_check_catches_outputs(tmp_path):
    notebook = {
        "cells": [
            {"cell_type": "markdown", "source": "# t", "metadata": {}},
            {
                "cell_type": "code",
                "source": "1",
                "outputs": [{"output_type": "execute_result"}],
                "execution_count": 1,
                "metadata": {},
            },
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = tmp_path / "x.ipynb"
    path.write_text(json.dumps(notebook))
    assert problems(path) == [
        f"{path}: cell 2 has outputs",
        f"{path}: cell 2 has an execution count",
    ]
    notebook["cells"][1].update(outputs=[], execution_count=None)
    path.write_text(json.dumps(notebook))
    assert problems(path) == []


def test_build_output_and_caches_are_ignored():
    ignored = (ROOT / ".gitignore").read_text()
    for entry in ("_build/", ".jupyter_cache/", ".venv/", "__pycache__/"):
        assert entry in ignored
    assert not [p for p in tracked("*") if "_build/" in str(p) or "__pycache__" in str(p)]
