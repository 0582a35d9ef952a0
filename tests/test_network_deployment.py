"""The OMOP network study on Flower's deployment engine: a SuperLink and three SuperNodes on
127.0.0.1, each owning one hospital's DuckDB file, compared with the in-process run.

Slow (several minutes on a loaded machine: Flower starts a ClientApp process per message).
Run with ``pytest -m deployment``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "deploy" / "run_network_study.py"

pytestmark = pytest.mark.deployment


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(scope="module")
def summary() -> dict:
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "-n", "10000", "--timeout", "1200"],
        capture_output=True, text=True, timeout=1500,
    )
    assert completed.stdout, completed.stderr[-3000:]
    result = json.loads(completed.stdout)
    result["returncode"] = completed.returncode
    return result


def test_the_deployed_study_equals_the_in_process_run(summary):
    assert summary["error"] is None, summary["error"]
    # Secure by default, as the FedAvg deployment: TLS and SuperNode authentication.
    assert summary["secure"] is True
    assert summary["returncode"] == 0
    deployed, comparison = summary["deployed"], summary["comparison"]
    assert deployed["sites"] == ["Hospital A", "Hospital B", "Hospital C"]
    assert comparison["counts_equal"] is True
    assert comparison["incidence_equal"] is True
    assert comparison["rounds_equal"] is True
    assert comparison["max_coefficient_difference"] < 1e-9
    # Every characterisation cell passed each site's minimum count, so the sum has four cells.
    assert len(deployed["characterisation"]) == 4
    assert all(cell["n"] >= 30 for cell in deployed["characterisation"])
    assert len(deployed["coefficients"]) == 5



def test_the_server_app_measures_each_steps_messages(summary):
    traffic, rounds = summary["deployed"]["traffic"], summary["deployed"]["rounds"]
    statistics = traffic["query.statistics"]
    # One exchange per Newton step and one at the solution for the standard errors.
    assert statistics["exchanges"] == rounds + 1
    assert statistics["messages"] == statistics["replies"] == 3 * (rounds + 1)
    # Back: a 5-vector gradient and a 5 x 5 information matrix, as float64.
    assert statistics["bytes_per_reply"] > 30 * 8
    assert traffic["query.characterisation"]["exchanges"] == 1


def test_every_process_it_started_is_gone(summary):
    # SuperLink, three SuperNodes, flwr run, and the ServerApp/ClientApp processes below them.
    assert len(summary["pids"]) >= 5
    assert summary["alive_after_stop"] == []
    assert [pid for pid in summary["pids"] if _running(pid)] == []


def test_a_hospital_file_without_a_study_table_stops_the_run_before_anything_starts(tmp_path):
    import duckdb

    sys.path.insert(0, str(SCRIPT.parent))
    from run_deployment import DeploymentError
    from run_network_study import preflight_databases

    good, bad = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    for path in (good, bad):
        with duckdb.connect(str(path)) as con:
            for table in ("person", "condition_occurrence", "visit_occurrence", "measurement"):
                if not (path == bad and table == "measurement"):
                    con.execute(f"CREATE TABLE {table} (person_id BIGINT)")
    preflight_databases({"Hospital A": good})
    lacks = r"Hospital B: .*lacks the OMOP table\(s\) \['measurement'\]"
    with pytest.raises(DeploymentError, match=lacks):
        preflight_databases({"Hospital A": good, "Hospital B": bad})
    with pytest.raises(DeploymentError, match="Hospital C: no database file"):
        preflight_databases({"Hospital C": tmp_path / "missing.duckdb"})
    (tmp_path / "c.duckdb").write_text("not a database")
    with pytest.raises(DeploymentError, match="Hospital C: .* is not a readable DuckDB file"):
        preflight_databases({"Hospital C": tmp_path / "c.duckdb"})
