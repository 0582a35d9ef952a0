"""Execute the notebooks that are not yet in the execution cache in parallel, before Sphinx
reads them one after the other (issue 8: keep the cold build under three minutes as notebooks
are added).

myst-nb's ``cache`` mode executes each notebook when it reads it, one at a time, so a cold build
waits for the sum of the notebooks' run times. Here, just before reading, every notebook to be
read is parsed with myst-nb's own reader (so the cache key is the one myst-nb looks up), those
without a cached result run in a pool of ``PLAYBOOK_JOBS`` kernels, and each success is
stored in the cache. myst-nb then finds them there. A notebook that
failed beside another one runs once more on its own; a notebook that failed on its own is not
stored, and myst-nb runs it in the ordinary way and reports the failing cell, so a failing
assertion still fails the build exactly as before.

Two kernels by default on a machine with two cores or more (``PLAYBOOK_JOBS=1 make book``
runs one at a time; ``PLAYBOOK_JOBS=N`` sets the pool). On this shared
machine, under heavy load, the Flower/Ray notebook once failed to start its Ray node while
another notebook ran beside it; Ray's raylet now gets 120 s for that
(``healthdatalab/federation/flower_app.py``), and a notebook that still fails in the pool only
costs time: it runs again alone, as above.

Every kernel the build starts listens on Unix-domain sockets in a private folder (mode 0700,
removed afterwards), not on TCP ports of 127.0.0.1: nothing else on the machine can connect to
it, and ipykernel (7.3 and later) has no reason to warn, as it does for each kernel on TCP
without CurveZMQ keys, into the build log. So that no kernel is started the other way, this
pool runs every notebook that is not cached, even one alone, and retries a failure itself; only
a notebook that failed on its own is run by myst-nb (over TCP), and that build fails anyway.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)


def _jobs() -> int:
    value = os.environ.get("PLAYBOOK_JOBS", "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    return min(2, os.cpu_count() or 1)


def local_socket_kernel_manager(folder: Path) -> type:
    """A kernel manager class whose kernels listen on Unix-domain sockets inside ``folder``.

    Each kernel gets its own name in the folder: jupyter_client's default name for IPC sockets
    is shared by kernels started at the same time, which then read each other's messages.
    """
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import CaselessStrEnum, default

    class LocalSocketKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

        @default("ip")
        def _ip_default(self) -> str:
            # Short, so that "<ip>-<n>" stays within the 107 bytes a socket path may have.
            return str(folder / uuid.uuid4().hex[:16])

    return LocalSocketKernelManager


#: A Unix socket's path may have 107 bytes; a kernel's are "<folder>/<16 hex digits>-<n>".
_SOCKET_PATH_MAX = 107


def socket_folder() -> Path:
    """A new private folder (mode 0700) for the kernels' sockets, in the temporary directory,
    or in /tmp when $TMPDIR is too long a path for the sockets inside it."""
    base = tempfile.gettempdir()
    if len(os.fsencode(base)) + len("/playbook-kernels-12345678/") + 16 + 4 > _SOCKET_PATH_MAX:
        base = "/tmp"
    return Path(tempfile.mkdtemp(prefix="playbook-kernels-", dir=base))


def _to_execute(app: Sphinx, docnames: list[str], cache) -> list[tuple[Path, object]]:
    from myst_nb.core.read import create_nb_reader

    nb_config = app.env.mystnb_config
    pending = []
    for docname in docnames:
        path = Path(app.env.doc2path(docname))
        if path.suffix not in (".md", ".ipynb"):
            continue
        content = path.read_text(encoding="utf-8")
        reader = create_nb_reader(str(path), app.env.myst_config, nb_config, content)
        if reader is None:
            continue  # a plain Markdown page
        notebook = reader.read(content)
        if nb_config.execution_excludepatterns and any(
            path.match(pattern) for pattern in nb_config.execution_excludepatterns
        ):
            continue
        try:
            cache.match_cache_notebook(notebook)
        except KeyError:
            pending.append((path, notebook, reader.read_fmt))
    return pending


def _pre_execute(app: Sphinx, env, docnames: list[str]) -> None:
    config = getattr(env, "mystnb_config", None)
    if config is None or config.execution_mode != "cache":
        return
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn
    from jupyter_cache.executors.utils import single_nb_execution

    cache = get_cache(config.execution_cache_path)
    pending = _to_execute(app, sorted(docnames), cache)
    if not pending:
        return
    jobs = min(_jobs(), len(pending))
    logger.info(f"executing {len(pending)} notebooks ({jobs} kernels at a time)")
    start = time.perf_counter()
    sockets = socket_folder()
    manager_class = local_socket_kernel_manager(sockets)

    def run(item):
        """The executed copy of the notebook, or None if a cell failed or the kernel died."""
        path, notebook, _ = item
        cwd = str(path.parent) if not config.execution_in_temp else None
        try:
            result = single_nb_execution(
                copy.deepcopy(notebook),
                cwd=cwd,
                timeout=config.execution_timeout,
                allow_errors=config.execution_allow_errors,
                meta_override=True,
                kernel_manager_class=manager_class,
            )
        except Exception as error:  # noqa: BLE001  (myst-nb's own run below reports it)
            logger.info(f"{path.name}: {type(error).__name__} while executing")
            return None
        return result if result.err is None else None

    try:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(run, pending))
        # A notebook can fail for want of resources beside another one (the Flower/Ray notebook
        # under load once did): each such failure runs once more, alone, still on local sockets.
        # A notebook that failed alone is not retried: myst-nb runs it and reports the cell.
        for index, item in enumerate(pending):
            if results[index] is None and jobs > 1:
                logger.info(f"{item[0].name}: failed; running it once more on its own")
                results[index] = run(item)
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
    for (path, _, read_fmt), result in zip(pending, results, strict=True):
        if result is None:
            logger.info(f"{path.name}: failed; myst-nb runs it to report the failing cell")
            continue
        kwargs = {"read_data": read_fmt} if read_fmt is not None else {}
        record = cache.add_nb_to_project(str(path), **kwargs)
        cache.cache_notebook_bundle(
            CacheBundleIn(result.nb, record.uri, data={"execution_seconds": result.time}),
            check_validity=False,
            overwrite=True,
        )
        logger.info(f"{path.name}: executed in {result.time:.1f} s")
    logger.info(f"notebook execution done in {time.perf_counter() - start:.1f} s")


def setup(app: Sphinx) -> None:
    # After myst-nb's builder-inited handler has made env.mystnb_config.
    app.connect("env-before-read-docs", _pre_execute)
