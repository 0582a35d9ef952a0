"""The contributor path: issue forms, code of conduct, code owners, changelog and citation
metadata exist and agree, and the GitHub workflows validate against GitHub's schemas (with the
schemas vendored in the pinned check-jsonschema, so no network is needed)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bookcheck import ROOT

BIN = Path(sys.executable).parent
FORMS = ("correction", "new_chapter", "legal_update", "notebook_bug")
_RELEASE = re.compile(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$", re.M)


def latest_release(changelog: str) -> tuple[str, str]:
    """(version, date) of the newest released entry of a Keep-a-Changelog file."""
    match = _RELEASE.search(changelog)
    if not match:
        raise ValueError("CHANGELOG.md has no released entry of the form '## [X.Y.Z] - YYYY-MM-DD'")
    return match.group(1), match.group(2)


def test_contributor_files_exist():
    for path in (
        *(f".github/ISSUE_TEMPLATE/{form}.yml" for form in FORMS),
        ".github/ISSUE_TEMPLATE/config.yml",
        ".github/CODEOWNERS",
        ".github/dependabot.yml",
        ".github/pull_request_template.md",
        "CODE_OF_CONDUCT.md",
        "CHANGELOG.md",
        "CITATION.cff",
        ".zenodo.json",
    ):
        assert (ROOT / path).is_file(), f"{path} is missing"


def test_code_owners_route_law_and_code_to_their_reviewers():
    rules = [
        line.split()
        for line in (ROOT / ".github/CODEOWNERS").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    owners = {rule[0]: rule[1:] for rule in rules}
    assert any("legal" in o for o in owners["/legal/"]), owners["/legal/"]
    for path in ("/notebooks/", "/healthdatalab/"):
        assert any("technical" in o for o in owners[path]), owners[path]


def test_citation_and_archive_metadata_follow_the_latest_release():
    version, date = latest_release((ROOT / "CHANGELOG.md").read_text(encoding="utf-8"))
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert str(citation["version"]) == version, "CITATION.cff version != latest CHANGELOG release"
    assert str(citation["date-released"]) == date
    zenodo = json.loads((ROOT / ".zenodo.json").read_text(encoding="utf-8"))
    assert zenodo["version"] == version and zenodo["publication_date"] == date


def test_release_parser_reads_the_newest_entry_and_refuses_none():
    text = "# Changelog\n\n## [Unreleased]\n\n## [0.3.0] - 2027-01-02\n\n## [0.2.0] - 2026-12-01\n"
    assert latest_release(text) == ("0.3.0", "2027-01-02")
    with pytest.raises(ValueError, match="no released entry"):
        latest_release("# Changelog\n\n## [Unreleased]\n")


SCHEMAS = [
    ("vendor.github-workflows", ".github/workflows/*.yml"),
    ("custom.github-workflows-require-timeout", ".github/workflows/*.yml"),
    ("vendor.github-issue-forms", ".github/ISSUE_TEMPLATE/[!c]*.yml"),
    ("vendor.github-issue-config", ".github/ISSUE_TEMPLATE/config.yml"),
    ("vendor.dependabot", ".github/dependabot.yml"),
    ("vendor.citation-file-format", "CITATION.cff"),
]


@pytest.mark.parametrize(("schema", "pattern"), SCHEMAS, ids=[s for s, _ in SCHEMAS])
def test_github_files_validate_against_their_schema(schema, pattern):
    files = sorted(str(p) for p in ROOT.glob(pattern))
    assert files, f"no file matches {pattern}"
    result = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", schema, *files],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_fails_on_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    stepz: []\n")
    result = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(broken)],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0


def test_workflows_keep_write_permissions_to_the_jobs_that_need_them():
    for path in (ROOT / ".github/workflows").glob("*.yml"):
        workflow = yaml.safe_load(path.read_text())
        top = workflow.get("permissions", {})
        assert all(v in ("read", "none") for v in top.values()), f"{path.name}: {top}"
        for name, job in workflow["jobs"].items():
            assert "timeout-minutes" in job, f"{path.name}: job {name} has no timeout"
    deploy = yaml.safe_load((ROOT / ".github/workflows/deploy.yml").read_text())
    assert deploy["jobs"]["deploy"]["permissions"]["pages"] == "write"
    build = deploy["jobs"]["test-and-build"]
    assert "github.repository ==" in build["if"], "forks must not deploy"
    commands = [step.get("run", "") for step in build["steps"]]
    assert commands.index("make test") < commands.index("make book"), "tests run before publishing"


# The modules `make check` may import, by the distribution in requirements-check.txt that
# provides them (the standard library and the project's own test helpers need none).
_CHECK_PROVIDES = {"yaml": "PyYAML", "pybtex": "pybtex", "bs4": "beautifulsoup4",
                   "pytest": "pytest"}
_LOCAL = {"bookcheck", "conftest", "check_notebook_outputs", "test_prose"}


def _imports(path: Path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_make_check_needs_only_its_light_environment():
    """`make check` runs in .venv-check; every module its tests import must be installed there."""
    import re as _re

    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile[makefile.index("\ncheck:"):].split("\n\n")[0]
    files = {ROOT / "tests" / "bookcheck.py", ROOT / "tests" / "conftest.py",
             ROOT / "scripts" / "check_notebook_outputs.py"}
    files |= {ROOT / f for f in _re.findall(r"(tests/test_\w+\.py)", recipe)}
    pinned = {line.split("==")[0].lower() for line in
              (ROOT / "requirements-check.txt").read_text().splitlines()
              if line and not line.startswith("#")}
    missing = {}
    for path in sorted(files):
        for name in _imports(path) - _LOCAL - set(sys.stdlib_module_names):
            if _CHECK_PROVIDES.get(name, name).lower() not in pinned:
                missing.setdefault(name, []).append(path.name)
    assert not missing, f"not installed by requirements-check.txt: {missing}"


def test_the_book_skips_every_environment_the_makefile_makes():
    """`make book` after `make check` failed: Sphinx read the .rst files of packages in
    .venv-check and warned that they are in no toctree. Every venv the Makefile creates must be
    excluded from the book."""
    makefile = (ROOT / "Makefile").read_text()
    venvs = set(re.findall(r"^(?:VENV|CHECK_VENV)\s*:=\s*(\S+)", makefile, re.M))
    assert venvs == {".venv", ".venv-check"}, venvs
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert venvs <= set(config["exclude_patterns"])
