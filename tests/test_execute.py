"""The kernels the build starts: shut down without a traceback, reachable only through files.

CI once failed on two ``ZMQError: Socket operation on non-socket`` tracebacks that kernels
printed while shutting down, after the book itself had built without a warning: ipykernel
7.2 published its last "idle" status on an IOPub socket that another thread had just closed.
ipykernel 7.4 catches exactly that case; it also warns on every kernel reached over TCP
without CurveZMQ keys, so the build starts its kernels on Unix-domain sockets instead.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import stat
from pathlib import Path

import zmq

from conftest import ROOT


def _execute_extension():
    spec = importlib.util.spec_from_file_location(
        "playbook_execute", ROOT / "_ext" / "playbook_execute.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_send_racing_the_iopub_close_is_not_a_traceback():
    """The shutdown race, made deterministic: the socket is closed after the closed-check."""
    from ipykernel.iostream import IOPubThread

    context = zmq.Context()
    socket = context.socket(zmq.PUB)
    thread = IOPubThread(socket)
    try:
        socket.close()  # what close() on another thread does between check and send
        assert not thread.closed  # the check _really_send makes still passes
        thread._really_send([b"status", b"idle"])  # ipykernel 7.2 raised ZMQError here
    finally:
        context.destroy(linger=0)  # also closes the event pipe the thread made


def test_build_kernels_listen_on_unix_sockets_in_their_folder(tmp_path):
    folder = tmp_path / "sockets"
    folder.mkdir(mode=0o700)
    manager_class = _execute_extension().local_socket_kernel_manager(folder)

    async def start_run_stop():
        managers = [manager_class(kernel_name="python3") for _ in range(2)]
        for manager in managers:
            await manager.start_kernel()
        try:
            infos = []
            for manager in managers:
                client = manager.client()
                client.start_channels()
                await client.wait_for_ready(timeout=60)
                reply = await client.execute_interactive("x = 6 * 7", timeout=60)
                assert reply["content"]["status"] == "ok"
                client.stop_channels()
                infos.append(json.loads(Path(manager.connection_file).read_text()))
                sockets = {
                    path: (stat.S_ISSOCK(path.stat().st_mode), len(str(path).encode()))
                    for path in folder.iterdir()
                }
            return infos, sockets
        finally:
            for manager in managers:
                await manager.shutdown_kernel(now=False)

    infos, sockets = asyncio.run(start_run_stop())
    assert [info["transport"] for info in infos] == ["ipc", "ipc"]
    # Two kernels started together do not share a socket name (jupyter_client's default
    # "kernel-ipc" would make them read each other's messages).
    assert infos[0]["ip"] != infos[1]["ip"]
    assert all(Path(info["ip"]).parent == folder for info in infos)
    # Five sockets a kernel (shell, IOPub, stdin, control, heartbeat), each within the 107
    # bytes a Unix socket path may have.
    assert len(sockets) == 10
    assert all(is_socket and size < 108 for is_socket, size in sockets.values()), sockets
    assert not list(folder.iterdir()), "a kernel left its socket files behind"


def test_socket_folder_is_private_and_short_enough_even_with_a_long_tmpdir(tmp_path, monkeypatch):
    import tempfile

    execute = _execute_extension()
    long_tmp = tmp_path / ("t" * 90)
    long_tmp.mkdir()
    for base in (None, long_tmp):
        if base is not None:
            monkeypatch.setenv("TMPDIR", str(base))
            monkeypatch.setattr(tempfile, "tempdir", None)  # re-read $TMPDIR
        folder = execute.socket_folder()
        try:
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700
            longest = folder / ("f" * 16 + "-5")
            assert len(str(longest).encode()) <= execute._SOCKET_PATH_MAX
            if base is not None:
                assert folder.parent == Path("/tmp")
        finally:
            folder.rmdir()
