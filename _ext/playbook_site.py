"""Small site fixes for the playbook, loaded as a local Sphinx extension from _config.yml."""

import datetime as dt
import re
import sys
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx


def _unique(scripts):
    seen, unique = set(), []
    for script in scripts:
        # Sphinx stores an inline script once with filename None and once with "". A file is
        # kept once whatever its attributes (MathJax arrives once deferred, once not).
        filename = getattr(script, "filename", str(script)) or ""
        key = filename or repr(getattr(script, "attributes", {}))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    return unique


def _drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    """Jupyter Book 1 registers some scripts twice (sphinx-thebe's inline configuration among
    them); the second copy makes the browser throw "Identifier ... has already been declared"."""
    if "script_files" in context:
        context["script_files"] = _unique(context["script_files"])
    if hasattr(app.builder, "script_files"):
        app.builder.script_files[:] = _unique(app.builder.script_files)


# A header cell with no text: MyST tables' empty corner cell, pandas' blank index header.
_EMPTY_HEADER = re.compile(r"<th(\s[^>]*)?>(?:\s|&nbsp;|&#160;|<p>\s*</p>)*</th>")
_PRIMARY_SIDEBAR = '<div id="pst-primary-sidebar" class="bd-sidebar-primary bd-sidebar">'


def accessible_markup(html: str) -> str:
    """Fixes to markup the theme and MyST write, made in the page itself so they hold before
    any script runs (axe-core, WCAG 2.2 AA and best practices):

    * an empty corner cell of a table's header row is a data cell, not a header without text;
    * the primary sidebar (site title, navigation) is a labelled landmark, so no content sits
      outside every landmark;
    * a hidden notebook cell's toggle and the search button are named by their visible text.
    """
    html = _EMPTY_HEADER.sub(lambda m: f"<td{m.group(1) or ''}></td>", html)
    # myst-nb names a hidden cell's toggle "Toggle hidden content" although it shows "Show code
    # cell source": the name must contain the visible text, so the text alone names it.
    html = html.replace('<summary aria-label="Toggle hidden content">', "<summary>")
    # The search button shows "Search Ctrl+K" but was named "Search" only.
    html = html.replace(
        'title="Search" aria-label="Search" data-bs-placement', 'title="Search" data-bs-placement'
    )
    return html.replace(
        _PRIMARY_SIDEBAR,
        _PRIMARY_SIDEBAR[:-1] + ' role="complementary" aria-label="Site navigation">',
        1,
    )


def _accessible_filter(app, html: str, context: dict) -> str:
    return accessible_markup(html)


def _show_law_checked(app, doctree):
    """Legal pages carry ``law_checked`` in their front matter; show it to readers under the
    title, so a reader can see how current the page is."""
    checked = app.env.metadata.get(app.env.docname, {}).get("law_checked")
    if not checked:
        return
    try:
        date = dt.date.fromisoformat(str(checked))
    except ValueError:
        return  # tests/test_structure.py reports a malformed date
    stamp = nodes.paragraph(classes=["law-checked"])
    stamp += nodes.emphasis(
        text=f"Law last checked against the official texts on {date.day} {date:%B %Y}."
    )
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is not None:
        title_index = section.first_child_matching_class(nodes.title)
        section.insert(0 if title_index is None else title_index + 1, stamp)


def setup(app: Sphinx) -> dict:
    sys.path.insert(0, str(Path(__file__).parent))  # the sibling modules below
    import playbook_assets
    import playbook_bibtex
    import playbook_execute
    import playbook_math
    import playbook_pdf
    import playbook_share

    playbook_assets.setup(app)
    if playbook_math._filter not in playbook_assets.PAGE_FILTERS:
        # Before the assets filter, which then finds no TeX and drops MathJax.
        playbook_assets.PAGE_FILTERS.insert(0, playbook_math._filter)
    if _accessible_filter not in playbook_assets.PAGE_FILTERS:
        playbook_assets.PAGE_FILTERS.append(_accessible_filter)
    playbook_share.setup(app)
    playbook_pdf.setup(app)
    playbook_execute.setup(app)
    playbook_bibtex.setup(app)
    # sphinx-book-theme 1.3 leaves the colour mode empty on a first visit; see the script.
    app.add_js_file("theme-mode.js", priority=100)
    app.add_js_file("accessibility.js")
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    app.connect("doctree-read", _show_law_checked)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
