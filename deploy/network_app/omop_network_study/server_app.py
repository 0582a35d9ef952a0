"""The ServerApp: the study's coordinator. It sends each step to every hospital's node,
receives only checked aggregates, and combines them as the in-process
:func:`~healthdatalab.federation.network_study.run_network` does.

Steps: characterisation and incidence (one message each), then the logistic regression by
exact federated Newton steps, one ``statistics`` message per round carrying the current
coefficients. A step with a missing, failed or refused reply stops the study with an error that
names the hospital (or the node, before its name is known); there is no partial result. The
result, or the error, is written as JSON at the run config's ``result-path``; the result also
carries the bytes of the messages each way, per step (``traffic``), measured as Flower
serialises them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from flwr.app import Array, ArrayRecord, Context, Message, RecordDict
from flwr.serverapp import Grid, ServerApp

from healthdatalab.federation.flower_app import TrafficMeter
from healthdatalab.federation.glm import LocalStatistics, newton_rounds
from healthdatalab.federation.network_study import COVARIATES, _combine
from omop_network_study import CHARACTERISATION, INCIDENCE, STATISTICS

app = ServerApp()


class StudyError(RuntimeError):
    """A step of the study could not be completed at every hospital."""


class Network:
    """The hospitals' nodes as the coordinator sees them: ask a question, get every answer."""

    def __init__(self, grid: Grid, expected: int, wait: float) -> None:
        self.grid, self.wait = TrafficMeter(grid), wait
        deadline = time.monotonic() + wait
        nodes = sorted(grid.get_node_ids())
        while len(nodes) < expected:
            if time.monotonic() > deadline:
                raise StudyError(
                    f"only {len(nodes)} of {expected} hospitals' nodes connected in {wait:g} s"
                )
            time.sleep(1.0)
            nodes = sorted(grid.get_node_ids())
        self.nodes = nodes
        self.names: dict[int, str] = {}

    def _who(self, node: int) -> str:
        return self.names.get(node, f"node {node}")

    def ask(self, message_type: str, content: RecordDict | None = None) -> list[RecordDict]:
        """Every node's reply to one question, in the order of the hospitals' names."""
        messages = [
            Message(content=content or RecordDict(), dst_node_id=node, message_type=message_type)
            for node in self.nodes
        ]
        replies = {m.metadata.src_node_id: m
                   for m in self.grid.send_and_receive(messages, timeout=self.wait)}
        missing = [self._who(node) for node in self.nodes if node not in replies]
        if missing:
            raise StudyError(f"'{message_type}': no reply from {', '.join(missing)}")
        answers = {}
        for node, msg in replies.items():
            if msg.has_error():
                raise StudyError(
                    f"'{message_type}' failed at {self._who(node)}: {msg.error.reason}"
                )
            name = str(msg.content["site"]["name"])
            self.names[node] = name
            if "refusal" in msg.content:
                raise StudyError(f"'{message_type}' refused: {msg.content['refusal']['reason']}")
            answers[name] = msg.content
        return [answers[name] for name in sorted(answers)]


def _table(reply: RecordDict) -> pd.Series:
    cells = reply["characterisation"]
    index = pd.MultiIndex.from_arrays([cells["sex"], cells["age_band"]],
                                      names=["sex", "age_band"])
    return pd.Series(np.asarray(cells["n"], dtype=np.int64), index=index, name="n")


def _incidence(reply: RecordDict) -> pd.Series:
    metrics = reply["incidence"]
    return pd.Series({"persons": int(metrics["persons"]), "events": int(metrics["events"]),
                      "person_years": float(metrics["person_years"])})


def _statistics(reply: RecordDict) -> LocalStatistics:
    return LocalStatistics(
        gradient=reply["arrays"]["gradient"].numpy(),
        hessian=reply["arrays"]["hessian"].numpy(),
        log_likelihood=float(reply["metrics"]["log_likelihood"]),
        n=int(reply["metrics"]["n"]),
    )


def run_study(network: Network) -> dict:
    """The study on the network; the same combination as ``run_network``."""
    characterisations = [_table(r) for r in network.ask(CHARACTERISATION)]
    incidences = [_incidence(r) for r in network.ask(INCIDENCE)]
    sites = sorted(network.names.values())
    table, incidence = _combine(characterisations, incidences)

    def statistics(w: np.ndarray) -> list[LocalStatistics]:
        content = RecordDict({"arrays": ArrayRecord(array_dict={"w": Array(w)})})
        return [_statistics(r) for r in network.ask(STATISTICS, content)]

    fit = newton_rounds(statistics, len(COVARIATES))
    return {
        "sites": sites,
        "characterisation": [
            {"sex": sex, "age_band": band, "n": int(n)} for (sex, band), n in table.items()
        ],
        "incidence": {key: float(value) for key, value in incidence.items()},
        "per_site": {name: {key: float(v) for key, v in inc.items()}
                     for name, inc in zip(sites, incidences, strict=True)},
        "coefficients": dict(zip(COVARIATES, fit.coefficients.tolist(), strict=True)),
        "rounds": fit.rounds,
        "traffic": network.grid.summary(),
    }


@app.main()
def main(grid: Grid, context: Context) -> None:
    config = context.run_config
    path = str(config.get("result-path", ""))
    try:
        network = Network(grid, int(config.get("min-nodes", 3)),
                          float(config.get("wait-seconds", 120.0)))
        result = run_study(network)
    except Exception as err:
        if path:
            Path(path).write_text(json.dumps({"error": f"{type(err).__name__}: {err}"}))
        raise
    if path:
        Path(path).write_text(json.dumps(result))
