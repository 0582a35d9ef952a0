"""Publish the playbook's own FAIR Data Point with the site (see healthdatalab.fdp).

Before the pages are read, the data sets and their metadata are written to
``_build/fdp_stage`` (again only when the package code that makes them has changed); after a
successful HTML build they are copied to ``<site>/fdp/``. The ``fdp-downloads`` directive
renders the table of published files (format, size, SHA-256) on a page, from the same manifest.
The public address comes from ``html_baseurl``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

_SOURCES = ("fdp.py", "cohort.py", "anonymise.py", "synthesis.py", "metadata.py", "risk.py")


def _stage(app: Sphinx) -> Path:
    return Path(app.outdir).parent / "fdp_stage"


def _base_url(app: Sphinx) -> str:
    base = app.config.html_baseurl or "https://health-data-sharing.github.io/playbook/"
    return base.rstrip("/") + "/fdp/"


def _publish(app: Sphinx) -> None:
    if app.builder.format != "html":
        return
    import healthdatalab
    from healthdatalab import fdp

    package = Path(healthdatalab.__file__).parent
    digest = hashlib.sha256(_base_url(app).encode())
    for name in _SOURCES:
        digest.update((package / name).read_bytes())
    key, stage = digest.hexdigest(), _stage(app)
    stamp = stage / ".source-hash"
    if stamp.exists() and stamp.read_text() == key and (stage / "manifest.json").exists():
        return
    shutil.rmtree(stage, ignore_errors=True)
    fdp.publish(stage, _base_url(app))
    stamp.write_text(key)


def _copy(app: Sphinx, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html" and _stage(app).exists():
        shutil.copytree(
            _stage(app), Path(app.outdir) / "fdp", dirs_exist_ok=True,
            ignore=shutil.ignore_patterns(".source-hash"),
        )


def _size(n: int) -> str:
    return f"{n / 1024:,.0f} KiB" if n >= 1024 else f"{n} bytes"


class FdpDownloads(SphinxDirective):
    """A table of every published file: data set, format, size, SHA-256 and a download link."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        manifest = json.loads((_stage(self.env.app) / "manifest.json").read_text())
        depth = "../" * self.env.docname.count("/")
        table = nodes.table(classes=["fdp-downloads"])
        group = nodes.tgroup(cols=4)
        table += group
        for width in (30, 25, 12, 33):
            group += nodes.colspec(colwidth=width)
        head, body = nodes.thead(), nodes.tbody()
        group += head
        group += body

        def row(cells: list[nodes.Node], header: bool = False) -> nodes.row:
            r = nodes.row()
            for cell in cells:
                entry = nodes.entry()
                entry += nodes.paragraph("", "", cell) if not isinstance(cell, nodes.paragraph) \
                    else cell
                r += entry
            return r

        head += row([nodes.Text(t) for t in ("Data set", "File", "Size", "SHA-256")])
        labels = {"csv": "CSV", "parquet": "Parquet", "dictionary": "Data dictionary (CSV)"}
        for item in manifest:
            link = nodes.reference("", labels[item["kind"]],
                                   refuri=f"{depth}fdp/{item['path']}", internal=False)
            body += row([
                nodes.Text(item["dataset"]),
                link,
                nodes.Text(_size(item["byte_size"])),
                nodes.literal("", item["sha256"][:16] + "…"),
            ])
        return [table]


def _table(header: list[str], rows: list[list[nodes.Node]], widths: list[int]) -> nodes.table:
    table = nodes.table()
    group = nodes.tgroup(cols=len(header))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head, body = nodes.thead(), nodes.tbody()
    group += head
    group += body
    for cells, part in [([nodes.Text(h) for h in header], head), *[(r, body) for r in rows]]:
        row = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += nodes.paragraph("", "", cell)
            row += entry
        part += row
    return table


class FdpAssessment(SphinxDirective):
    """The RDA indicator checks of healthdatalab.fdp.assess, run on the published metadata."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from rdflib import Graph

        from healthdatalab import fdp

        graph = Graph().parse(_stage(self.env.app) / "fdp.ttl", format="turtle")
        result = fdp.assess(graph)
        rows = [[nodes.literal("", r.indicator), nodes.Text(r.check), nodes.strong("", r.result),
                 nodes.Text(r.evidence)] for r in result.itertuples()]
        return [_table(["Indicator", "What the check tests", "Result", "Evidence"], rows,
                       [16, 50, 14, 20])]


def setup(app: Sphinx) -> dict:
    app.connect("builder-inited", _publish)
    app.connect("build-finished", _copy)
    app.add_directive("fdp-downloads", FdpDownloads)
    app.add_directive("fdp-assessment", FdpAssessment)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
