"""The network study's Flower ClientApp, called in process (no engine): what a node replies."""

from __future__ import annotations

import sys
from pathlib import Path

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


def _context(path: Path, name: str = "Hospital A") -> Context:
    return Context(run_id=1, node_id=1, node_config={"database": str(path), "site-name": name},
                   state=RecordDict(), run_config={})


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


def test_the_query_log_outlives_the_clientapp_process(databases):
    path = databases["Hospital A"]
    context = _context(path)
    reply = client_app.app(_message("query.characterisation"), context)
    assert sum(reply.content["characterisation"]["n"]) > 0
    # Flower starts a new ClientApp process per message; the next one restores the log.
    restored = client_app.open_site(context)
    cohort = ns.Site("Hospital A", path)._query("cohort")["person_id"].astype(int)
    assert restored.log == [("characterisation", frozenset(cohort))]


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
