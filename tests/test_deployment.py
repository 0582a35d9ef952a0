"""The Flower app on Flower's deployment engine: a SuperLink and three SuperNodes on 127.0.0.1.

Slow (minutes on a busy machine): it starts real processes. Run with ``pytest -m deployment``.
By default the runner uses TLS with certificates made for the run and SuperNode
authentication; the fault tests show that each way a deployment can go wrong ends in a clear,
named error, a JSON summary and no processes left behind.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "deploy" / "run_deployment.py"
SMALL = ["-n", "3000", "--rounds", "2", "--skip-simulation"]

pytestmark = pytest.mark.deployment


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _run(*arguments: str, timeout: float = 900) -> tuple[dict, subprocess.CompletedProcess]:
    """Run the runner; past ``timeout`` it gets SIGTERM, so it still cleans up and reports."""
    command = [sys.executable, str(SCRIPT), *arguments]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.terminate()
        stdout, stderr = process.communicate(timeout=120)
    completed = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    assert completed.stdout, completed.stderr[-3000:]
    return json.loads(completed.stdout), completed


def _no_survivors(summary: dict) -> None:
    assert summary["alive_after_stop"] == []
    assert [pid for pid in summary["pids"] if _running(pid)] == []


def _write_hospitals(directory: Path, n: int = 3000) -> None:
    from healthdatalab import federation as fed
    from healthdatalab.cohort import generate_cohort

    runner = _load_runner()
    for name, part in fed.partition_by_hospital(generate_cohort(n, seed=1)).items():
        part[runner.COLUMNS].to_csv(runner.data_file(directory, name), index=False)


def _load_runner():
    spec = importlib.util.spec_from_file_location("run_deployment", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def summary() -> dict:
    result, completed = _run("--rounds", "4", "--probe-unregistered")
    result["returncode"] = completed.returncode
    return result


def test_deployment_matches_the_simulation_and_the_hand_written_fedavg(summary):
    assert summary["returncode"] == 0
    assert summary["ok"] is True and summary["error"] is None
    assert summary["matches"] is True
    assert summary["max_difference_hand"] < 1e-9
    assert summary["max_difference_simulation"] < 1e-9
    assert summary["hospitals"] == ["Hospital A", "Hospital B", "Hospital C"]
    assert len(summary["weights"]) == len(summary["features"]) == 7



def test_the_server_app_measures_every_rounds_messages(summary):
    train = summary["traffic"]["train"]
    assert train["exchanges"] == 4 and train["messages"] == train["replies"] == 12
    # Seven float64 coefficients each way, inside Flower's message structure.
    assert 7 * 8 < train["bytes_per_message_sent"] < 4096
    assert 7 * 8 < train["bytes_per_reply"] < 4096

def test_tls_and_supernode_authentication_are_on_and_an_unregistered_node_is_refused(summary):
    assert summary["secure"] is True
    assert summary["unregistered_node_refused"] is True


def test_every_process_it_started_is_gone(summary):
    # SuperLink, four SuperNodes (one refused), flwr run, and what Flower started below them.
    assert len(summary["pids"]) >= 6
    _no_survivors(summary)


def test_a_missing_data_file_stops_the_run_before_anything_starts(tmp_path):
    _write_hospitals(tmp_path)
    (tmp_path / "hospital_b.csv").unlink()
    (tmp_path / "hospital_c.csv").write_text("age,sex\n50,F\n")
    result, completed = _run(*SMALL, "--data-dir", str(tmp_path), "--insecure")
    assert completed.returncode == 1
    assert result["ok"] is False
    assert result["error"].startswith("pre-flight check failed")
    assert "Hospital B: data file missing" in result["error"]
    assert "Hospital C: data file lacks columns" in result["error"]
    assert "Hospital A" not in result["error"]
    assert result["pids"] == []  # nothing was started
    assert result["secure"] is False
    assert "--insecure: no TLS and no SuperNode authentication" in completed.stderr


def test_a_port_held_by_another_listener_is_named_before_anything_starts():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        result, completed = _run(*SMALL, "--port", str(port))
    assert completed.returncode == 1
    assert result["ok"] is False
    assert (
        f"port {port} for the SuperLink is already in use by pid {os.getpid()}" in (result["error"])
    )
    assert result["pids"] == []


def test_a_listener_that_is_not_our_process_is_not_taken_for_the_superlink():
    runner = _load_runner()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        ours = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            with pytest.raises(runner.DeploymentError, match="held by another process"):
                runner.wait_for_port(port, ours, "SuperLink", timeout=30)
        finally:
            ours.kill()
            ours.wait()


def _start_watched(*arguments: str) -> tuple[subprocess.Popen, dict[str, int]]:
    """Start the runner; return it and the SuperNode pids once the run has been submitted."""
    runner = subprocess.Popen(
        [sys.executable, str(SCRIPT), *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    nodes: dict[str, int] = {}
    for line in runner.stderr:
        if "started the SuperNode of" in line:
            name = line.split("started the SuperNode of ")[1].split(" (pid")[0]
            nodes[name] = int(line.rsplit("pid ", 1)[1].rstrip(")\n"))
        if "run submitted" in line or "error:" in line:
            break
    return runner, nodes


def test_a_supernode_killed_mid_run_is_named_within_seconds():
    runner, nodes = _start_watched("-n", "3000", "--rounds", "200", "--skip-simulation")
    try:
        assert set(nodes) == {"Hospital A", "Hospital B", "Hospital C"}
        detected = float("inf")
        killed_at = time.monotonic()
        os.killpg(nodes["Hospital B"], signal.SIGKILL)
        for line in runner.stderr:
            if "error:" in line:
                detected = time.monotonic() - killed_at
                break
        stdout, _ = runner.communicate(timeout=300)
    finally:
        if runner.poll() is None:
            runner.kill()
    result = json.loads(stdout)
    assert runner.returncode == 1
    assert result["ok"] is False
    assert "SuperNode of Hospital B" in result["error"]
    assert "exited with code -9 during the run" in result["error"]
    assert detected < 30  # the runner polls every 0.3 s; the old runner waited for its timeout
    _no_survivors(result)


def test_a_round_without_one_hospital_is_an_error_naming_it(tmp_path):
    _write_hospitals(tmp_path)
    runner, nodes = _start_watched(*SMALL, "--data-dir", str(tmp_path))
    try:
        assert len(nodes) == 3
        (tmp_path / "hospital_b.csv").unlink()  # the node's data disappears after pre-flight
        stdout, _ = runner.communicate(timeout=600)
    finally:
        if runner.poll() is None:
            runner.kill()
    result = json.loads(stdout)
    assert runner.returncode == 1
    assert result["ok"] is False
    assert "the ServerApp stopped the run" in result["error"]
    assert "no valid reply from Hospital B" in result["error"]
    assert "nothing was averaged" in result["error"]
    assert "weights" not in result
    _no_survivors(result)
