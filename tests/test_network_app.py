"""The network study's Flower ClientApp, called in process (no engine): what a node replies."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest

pytest.importorskip("flwr")
from flwr.app import Array, ArrayRecord, Context, Message, RecordDict  # noqa: E402
from flwr.app.metadata import Metadata  # noqa: E402

from healthdatalab import omop  # noqa: E402
from healthdatalab.cohort import generate_cohort  # noqa: E402
from healthdatalab.federation import network_study as ns  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deploy" / "network_app"))
from omop_network_study import client_app  # noqa: E402


@pytest.fixture(scope="module")
def databases(tmp_path_factory):
    folder = tmp_path_factory.mktemp("network_app")
    return omop.write_hospital_dbs(generate_cohort(10_000, seed=11), folder)


def _context(path: Path, name: str = "Hospital A", run_id: int = 1) -> Context:
    """A fresh Context, as Flower gives the node for each new run (empty ``state``)."""
    config = {"database": str(path), "site-name": name,
              "query-log": str(Path(path).with_suffix(".query-log.json"))}
    return Context(run_id=run_id, node_id=1, node_config=config, state=RecordDict(),
                   run_config={})


def _message(message_type: str, content: RecordDict | None = None) -> Message:
    metadata = Metadata(run_id=1, message_id="m", src_node_id=0, dst_node_id=1,
                        reply_to_message_id="", group_id="", created_at=0.0, ttl=3600.0,
                        message_type=message_type)
    return Message(content=content or RecordDict(), metadata=metadata)


def test_statistics_reply_equals_the_site_in_process(databases):
    path = databases["Hospital B"]
    w = np.array([-8.0, 0.5, 0.3, 0.05, 0.2])
    content = RecordDict({"arrays": ArrayRecord(array_dict={"w": Array(w)})})
    reply = client_app.app(_message("query.statistics", content), _context(path, "Hospital B"))
    assert not reply.has_error()
    expected = ns.Site("Hospital B", path).statistics(w)
    np.testing.assert_array_equal(reply.content["arrays"]["gradient"].numpy(), expected.gradient)
    np.testing.assert_array_equal(reply.content["arrays"]["hessian"].numpy(), expected.hessian)
    assert reply.content["metrics"]["n"] == expected.n
    assert "refusal" not in reply.content


def test_the_query_log_outlives_the_clientapp_process_and_the_run(databases, tmp_path):
    path = tmp_path / "hospital_a.duckdb"
    shutil.copy(databases["Hospital A"], path)
    reply = client_app.app(_message("query.characterisation"), _context(path, run_id=1))
    assert sum(reply.content["characterisation"]["n"]) > 0
    # One patient's diagnosis leaves the database; the coordinator starts a new run, whose
    # ClientApp gets an empty context.state. The two tables would differ by that patient.
    with duckdb.connect(str(path)) as con:
        con.execute(f"""DELETE FROM condition_occurrence WHERE condition_concept_id = {ns.T2DM}
                        AND person_id = (SELECT MIN(person_id) FROM condition_occurrence
                                         WHERE condition_concept_id = {ns.T2DM})""")
    reply = client_app.app(_message("query.characterisation"), _context(path, run_id=2))
    assert "characterisation" not in reply.content
    assert "differencing" in reply.content["refusal"]["reason"]


def test_a_steep_statistics_request_is_refused_by_the_node(databases):
    path = databases["Hospital B"]
    w = np.array([-3e8, 0.0, 0.0, 1e7, 0.0])  # a step at BMI 30: sums over a half-space
    content = RecordDict({"arrays": ArrayRecord(array_dict={"w": Array(w)})})
    reply = client_app.app(_message("query.statistics", content), _context(path, "Hospital B"))
    assert "arrays" not in reply.content
    assert "linear predictor" in reply.content["refusal"]["reason"]


def test_a_database_error_does_not_carry_a_data_value_to_the_coordinator(databases, tmp_path):
    """Flower forwards the text of any exception a ClientApp raises; DuckDB's conversion error
    quotes the offending value. Here a text value sits in a column the study reads as a
    number."""
    path = tmp_path / "hospital_c.duckdb"
    shutil.copy(databases["Hospital C"], path)
    secret = "Jan Jansen, HIV positive"
    with duckdb.connect(str(path)) as con:
        con.execute("ALTER TABLE person ALTER gender_concept_id TYPE VARCHAR")
        con.execute(f"UPDATE person SET gender_concept_id = '{secret}' "
                    "WHERE person_id = (SELECT MIN(person_id) FROM person)")
    content = RecordDict({"arrays": ArrayRecord(array_dict={"w": Array(np.zeros(5))})})
    reply = client_app.app(_message("query.statistics", content), _context(path, "Hospital C"))
    reason = reply.content["refusal"]["reason"]
    assert "failed at the site (ConversionException)" in reason
    assert "Jansen" not in reason and "HIV" not in reason


def test_a_small_site_refuses_and_names_no_count(tmp_path):
    small = omop.write_hospital_dbs(generate_cohort(300, seed=11), tmp_path)["Hospital A"]
    reply = client_app.app(_message("query.characterisation"), _context(small))
    reason = reply.content["refusal"]["reason"]
    assert "below the minimum count of 10" in reason
    assert "characterisation" not in reply.content
    table = ns.Site("x", small)._query("characterisation")["n"]
    assert not any(f" {int(n)} " in f" {reason} " for n in table if int(n) != 10)


def test_a_node_without_its_database_setting_is_an_error(databases):
    context = Context(run_id=1, node_id=1, node_config={}, state=RecordDict(), run_config={})
    with pytest.raises(KeyError, match="node-config"):
        client_app.open_site(context)
    # the query log is required too: without it every new run would start with an empty log
    config = {"database": str(databases["Hospital A"]), "site-name": "Hospital A"}
    context = Context(run_id=1, node_id=1, node_config=config, state=RecordDict(),
                      run_config={})
    with pytest.raises(KeyError, match="query-log"):
        client_app.open_site(context)
