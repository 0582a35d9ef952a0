"""Make each ``{cite}`` cheap to resolve (issue 8: keep the cold build under three minutes).

sphinxcontrib-bibtex 2.7 resolves every citation by asking pybtex for its ``plaintext``
backend, and pybtex 0.26 answers each such question by scanning the entry points of every
installed distribution. With this project's environment (Flower, Ray, JAX, Splink and the rest)
one scan takes about 15 ms, and the book has over 1,200 citations: that was about 15 s of every
full build, the largest cost after executing the notebooks.

pybtex looks in its runtime registry before the entry points, and ``register_plugin`` is its
public way to fill that registry. Registering the backends found once, at start-up, turns every
later lookup into a dictionary hit; what is found is the same class the scan would have found,
so the rendered citations do not change.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from sphinx.application import Sphinx

#: The plugin group looked up once per citation (sphinxcontrib/bibtex/domain.py, resolve_xref).
GROUP = "pybtex.backends"


def register_backends() -> list[str]:
    """Register every installed pybtex backend as a runtime plugin; return their names."""
    from pybtex.plugin import register_plugin

    names = []
    for entry_point in entry_points(group=GROUP):
        register_plugin(GROUP, entry_point.name, entry_point.load(), force=True)
        names.append(entry_point.name)
    return names


def setup(app: Sphinx) -> dict:
    register_backends()
    return {"parallel_read_safe": True, "parallel_write_safe": True}
