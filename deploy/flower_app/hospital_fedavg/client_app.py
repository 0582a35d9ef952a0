"""The ClientApp each hospital runs: it trains on the file its SuperNode was given.

The SuperNode is started with ``--node-config 'data-path="/path/to/hospital.csv"
hospital="Hospital A"'``; the file holds that hospital's records and never leaves it. Only
coefficients (and the hospital's name, so the ServerApp can tell who answered) are sent back.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from healthdatalab.federation import make_client_app, to_arrays


@cache
def _read(path: str) -> tuple[np.ndarray, np.ndarray]:
    return to_arrays(pd.read_csv(path))


def load_partition(context) -> tuple[np.ndarray, np.ndarray]:
    """This hospital's design matrix and outcome, from the node's own data file."""
    path = context.node_config.get("data-path")
    if not path:
        raise KeyError("start the SuperNode with --node-config 'data-path=\"...\"'")
    if not Path(str(path)).is_file():
        name = context.node_config.get("hospital", "this node")
        raise FileNotFoundError(f"{name}: data file missing")
    return _read(str(path))


app = make_client_app(load_partition)
