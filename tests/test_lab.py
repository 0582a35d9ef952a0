"""Running the notebooks locally, one of the book's three uses: ``make lab`` starts JupyterLab on
127.0.0.1 (also as root, as in a container), a MyST Markdown notebook opens as a notebook through
jupytext, and its kernel imports this checkout's ``healthdatalab``."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import websocket

from bookcheck import ROOT

pytestmark = pytest.mark.deployment


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str, data: dict | None = None) -> dict:
    request = urllib.request.Request(
        url,
        data=None if data is None else json.dumps(data).encode(),
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
        method="GET" if data is None else "POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def lab():
    port, token = _free_port(), secrets.token_hex(16)
    args = f"--no-browser --port={port} --ServerApp.token={token} --ServerApp.port_retries=0"
    # -o: do not remake the environment here; `make test` has just made it.
    process = subprocess.Popen(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "lab", f"LAB_ARGS={args}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                _get(f"{base}/api/status", token)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    output = process.stdout.read()
                    raise AssertionError("JupyterLab did not start:\n" + output) from None
                time.sleep(0.5)
        yield base, token
    finally:
        import os
        import signal

        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _run(base: str, token: str, kernel_id: str, code: str) -> str:
    ws = websocket.create_connection(
        f"{base.replace('http', 'ws')}/api/kernels/{kernel_id}/channels?token={token}", timeout=60
    )
    msg_id = uuid.uuid4().hex
    ws.send(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "username": "test",
                    "session": uuid.uuid4().hex,
                    "msg_type": "execute_request",
                    "version": "5.3",
                },
                "parent_header": {},
                "metadata": {},
                "content": {"code": code, "silent": False},
                "channel": "shell",
            }
        )
    )
    out = []
    try:
        while True:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                raise AssertionError("\n".join(msg["content"]["traceback"]))
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return "".join(out)
    finally:
        ws.close()


def test_lab_listens_on_loopback_only():
    command = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "lab"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    assert "--ip=127.0.0.1" in command


def test_a_myst_notebook_opens_as_a_notebook_and_imports_the_package(lab):
    base, token = lab
    model = _get(f"{base}/api/contents/synthetic_cohort.md?type=notebook&content=1", token)
    assert model["type"] == "notebook"
    cells = model["content"]["cells"]
    assert any(c["cell_type"] == "code" and "healthdatalab" in c["source"] for c in cells)
    session = _get(
        f"{base}/api/sessions",
        token,
        {"path": "synthetic_cohort.md", "type": "notebook", "kernel": {"name": "python3"}},
    )
    printed = _run(
        base,
        token,
        session["kernel"]["id"],
        "import healthdatalab, pathlib\nprint(pathlib.Path(healthdatalab.__file__).resolve())",
    )
    assert Path(printed.strip()).is_relative_to(ROOT), printed
    # The kernel listens on Unix-domain sockets in a private folder, as the build's kernels do.
    printed = _run(
        base,
        token,
        session["kernel"]["id"],
        "import os\nfrom ipykernel.kernelapp import IPKernelApp\n"
        "app = IPKernelApp.instance()\nfolder = os.path.dirname(app.ip)\n"
        "print(app.transport, oct(os.stat(folder).st_mode & 0o777))",
    )
    assert printed.split() == ["ipc", "0o700"], printed
