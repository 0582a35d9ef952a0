"""The Flower app on Flower's deployment engine: a SuperLink and three SuperNodes on 127.0.0.1.

Slow (about a minute): it starts real processes. Run with ``pytest -m deployment``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "deploy" / "run_deployment.py"

pytestmark = pytest.mark.deployment


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(scope="module")
def summary() -> dict:
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--rounds", "4"],
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert completed.stdout, completed.stderr[-3000:]
    result = json.loads(completed.stdout)
    result["returncode"] = completed.returncode
    return result


def test_deployment_matches_the_simulation_and_the_hand_written_fedavg(summary):
    assert summary["returncode"] == 0
    assert summary["matches"] is True
    assert summary["max_difference_hand"] < 1e-9
    assert summary["max_difference_simulation"] < 1e-9
    assert summary["hospitals"] == ["Hospital A", "Hospital B", "Hospital C"]
    assert len(summary["weights"]) == len(summary["features"]) == 7


def test_every_process_it_started_is_gone(summary):
    # SuperLink, three SuperNodes, flwr run, and what Flower started below them.
    assert len(summary["pids"]) >= 5
    assert summary["alive_after_stop"] == []
    assert [pid for pid in summary["pids"] if _running(pid)] == []
