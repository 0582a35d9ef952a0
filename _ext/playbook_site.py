"""Small site fixes for the playbook, loaded as a local Sphinx extension from _config.yml."""

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


def setup(app: Sphinx) -> dict:
    # sphinx-book-theme 1.3 leaves the colour mode empty on a first visit; see the script.
    app.add_js_file("theme-mode.js", priority=100)
    app.add_js_file("accessibility.js")
    app.connect("html-page-context", _drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
