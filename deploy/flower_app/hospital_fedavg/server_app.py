"""The ServerApp: FedAvg from zero coefficients; writes the result where the run config says.

With ``expected-hospitals`` in the run config, a round without every named hospital ends the
run with an error result (``{"error": ...}``) naming the missing ones, instead of an average
over the hospitals that did answer. The result also carries the bytes of the messages each
way, per message type (``traffic``), measured as Flower serialises them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from healthdatalab.federation import FEATURES, make_server_app

TRAFFIC: dict = {}  # filled by keep_traffic just before write_result runs


def keep_traffic(summary: dict, run_config: Mapping) -> None:
    TRAFFIC.update(summary)


def write_result(history: np.ndarray, final: np.ndarray, run_config: Mapping) -> None:
    """Save the coefficients as JSON at the run config's ``result-path``, if one is set."""
    path = str(run_config.get("result-path", ""))
    if path:
        result = {"features": list(FEATURES), "weights": final.tolist(), "traffic": TRAFFIC}
        Path(path).write_text(json.dumps(result | {"history": history.tolist()}))


def write_error(message: str, run_config: Mapping) -> None:
    """Save why the run stopped at the run config's ``result-path``, if one is set."""
    path = str(run_config.get("result-path", ""))
    if path:
        Path(path).write_text(json.dumps({"error": message}))


app = make_server_app(on_finish=write_result, on_error=write_error, on_traffic=keep_traffic)
