"""The FedAvg of :mod:`.regression` as a Flower ``ClientApp`` and ``ServerApp``."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from healthdatalab.federation.partitions import FEATURES, _check_xy
from healthdatalab.federation.regression import accuracy, local_update, logistic_loss

# --------------------------------------------------------------------------------------------
# The same FedAvg as a Flower app (Message API of Flower 1.21 and later)
# --------------------------------------------------------------------------------------------

#: Environment that keeps Flower and Ray from phoning home; set before they are imported.
QUIET_ENVIRONMENT: dict[str, str] = {
    "FLWR_TELEMETRY_ENABLED": "0",  # Flower's anonymous usage events
    "RAY_USAGE_STATS_ENABLED": "0",  # Ray's usage statistics
    "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0",  # opt in to Ray's future GPU default (no warning)
    # On a busy machine Ray's raylet can take longer than its default wait for its own agents
    # to start, and the simulation then fails before the first round.
    "RAY_raylet_start_wait_time_s": "120",
    # The raylet also waits for its metrics agent to write its port, 30 s by default: with two
    # notebooks executing at once on a loaded machine that wait ran out ("Timed out waiting for
    # file .../metrics_agent_port"), seen in a cold build on 2026-11-30.
    "RAY_agent_register_timeout_ms": "120000",
}

for _name, _value in QUIET_ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)

#: The loader a ClientApp calls to get its hospital's data: (context) -> (X, y).
PartitionLoader = Callable[["object"], tuple[np.ndarray, np.ndarray]]


def _run_setting(context: object, key: str, default: float) -> float:
    config = getattr(context, "run_config", {}) or {}
    return config.get(key, default)


def make_client_app(
    load_partition: PartitionLoader,
    *,
    local_epochs: int = 1,
    learning_rate: float = 1.0,
) -> object:
    """A Flower ``ClientApp`` that trains and evaluates the logistic model on local data.

    ``load_partition(context)`` returns the hospital's ``(X, y)``: in the simulation it picks
    a partition by ``context.node_config["partition-id"]``; in a deployment it reads the file
    the SuperNode was given. The server may override ``local-epochs`` and ``learning-rate``
    in the message's config record.
    """
    from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp

    app = ClientApp()

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        X, y = load_partition(context)
        w = msg.content["arrays"].to_numpy_ndarrays()[0]
        config = msg.content["config"] if "config" in msg.content else {}
        epochs = int(config.get("local-epochs", local_epochs))
        rate = float(config.get("learning-rate", learning_rate))
        w = local_update(w, X, y, epochs=epochs, learning_rate=rate)
        metrics = MetricRecord({"num-examples": len(y), "train-loss": logistic_loss(w, X, y)})
        content = {"arrays": ArrayRecord([w]), "metrics": metrics}
        hospital = getattr(context, "node_config", {}).get("hospital")
        if hospital:  # a deployed SuperNode says whose reply this is (see make_server_app)
            content["site"] = ConfigRecord({"hospital": str(hospital)})
        return Message(content=RecordDict(content), reply_to=msg)

    @app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        X, y = load_partition(context)
        w = msg.content["arrays"].to_numpy_ndarrays()[0]
        metrics = MetricRecord(
            {
                "num-examples": len(y),
                "eval-loss": logistic_loss(w, X, y),
                "eval-accuracy": accuracy(w, X, y),
            }
        )
        return Message(content=RecordDict({"metrics": metrics}), reply_to=msg)

    return app


def make_server_app(
    *,
    n_features: int = len(FEATURES),
    num_rounds: int = 20,
    local_epochs: int = 1,
    learning_rate: float = 1.0,
    min_nodes: int = 2,
    evaluate: bool = False,
    on_finish: Callable[[np.ndarray, np.ndarray, Mapping], None] | None = None,
    on_error: Callable[[str, Mapping], None] | None = None,
    on_traffic: Callable[[dict, Mapping], None] | None = None,
) -> object:
    """A Flower ``ServerApp`` running FedAvg from zero weights.

    The run config (``num-server-rounds``, ``local-epochs``, ``learning-rate``,
    ``min-nodes``) overrides the defaults. When the run ends, ``on_finish(history, final,
    run_config)`` receives the global weights after every round (row 0 is the start), the
    final ones and the run config.

    If the run config names the hospitals (``expected-hospitals``, comma separated), every
    training round must have a good reply from each of them (the ClientApp reports its
    ``hospital`` from the node config): a round that misses one stops the run before anything
    is averaged, and ``on_error(message, run_config)`` receives a message naming the missing
    hospitals, instead of a silent average over the others.
    """
    from flwr.app import ArrayRecord, ConfigRecord, Context
    from flwr.serverapp import Grid, ServerApp
    from flwr.serverapp.strategy import FedAvg

    class AllHospitalsFedAvg(FedAvg):
        """FedAvg that refuses to average a round in which an expected hospital is missing."""

        def __init__(self, expected: list[str], **kwargs) -> None:
            super().__init__(**kwargs)
            self.expected = expected

        def aggregate_train(self, server_round, replies):
            replies = list(replies)
            if self.expected:
                missing = missing_hospitals(self.expected, replies)
                if missing:
                    raise MissingHospitalError(
                        f"round {server_round}: no valid reply from {', '.join(missing)} "
                        f"(expected {', '.join(self.expected)}); nothing was averaged"
                    )
            return super().aggregate_train(server_round, replies)

    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        rounds = int(_run_setting(context, "num-server-rounds", num_rounds))
        nodes = int(_run_setting(context, "min-nodes", min_nodes))
        train_config = ConfigRecord(
            {
                "local-epochs": int(_run_setting(context, "local-epochs", local_epochs)),
                "learning-rate": float(_run_setting(context, "learning-rate", learning_rate)),
            }
        )
        history: list[np.ndarray] = []

        def record(server_round: int, arrays: ArrayRecord) -> None:
            history.append(arrays.to_numpy_ndarrays()[0].copy())

        expected = [
            name.strip()
            for name in str(_run_setting(context, "expected-hospitals", "")).split(",")
            if name.strip()
        ]
        strategy = AllHospitalsFedAvg(
            expected,
            fraction_train=1.0,
            fraction_evaluate=1.0 if evaluate else 0.0,
            min_train_nodes=nodes,
            min_evaluate_nodes=nodes if evaluate else 0,
            min_available_nodes=nodes,
        )
        meter = TrafficMeter(grid)
        try:
            result = strategy.start(
                grid=meter,
                initial_arrays=ArrayRecord([np.zeros(n_features)]),
                num_rounds=rounds,
                train_config=train_config,
                evaluate_fn=record,
            )
        except MissingHospitalError as error:
            if on_error is None:
                raise
            on_error(str(error), dict(context.run_config))
            return
        final = result.arrays.to_numpy_ndarrays()[0]
        if on_traffic is not None:
            on_traffic(meter.summary(), dict(context.run_config))
        if on_finish is not None:
            on_finish(np.asarray(history), final, dict(context.run_config))

    return app


def message_bytes(message: object) -> int:
    """Bytes of a Flower message as Flower 1.41 serialises it for the SuperLink.

    Flower splits a ``Message`` into objects (the message, its ``RecordDict``, each record,
    each array and its chunks) and pushes each object's bytes; this is their sum. The gRPC,
    HTTP/2 and TLS framing around them is not counted.
    """
    from flwr.supercore.inflatable.inflatable_object import get_all_nested_objects

    return sum(len(obj.deflate()) for obj in get_all_nested_objects(message).values())


class TrafficMeter:
    """A Flower ``Grid`` that counts the bytes of every message sent and every reply received.

    Wrap the ``Grid`` a ``ServerApp`` receives and hand the wrapper to the strategy (or call
    ``send_and_receive`` on it); everything else passes through. :meth:`summary` gives, per
    message type, the number of exchanges (calls), messages, replies, bytes each way and the
    seconds spent waiting for the replies.
    """

    def __init__(self, grid: object) -> None:
        self._grid = grid
        self._counts: dict[str, dict[str, float]] = {}

    def __getattr__(self, name: str) -> object:
        return getattr(self._grid, name)

    def _kind(self, message_type: str) -> dict[str, float]:
        return self._counts.setdefault(message_type, {
            "exchanges": 0, "messages": 0, "replies": 0, "bytes_sent": 0, "bytes_received": 0,
            "seconds": 0.0})

    def send_and_receive(self, messages, *args, **kwargs):
        messages = list(messages)
        start = time.perf_counter()
        replies = list(self._grid.send_and_receive(messages, *args, **kwargs))
        seconds = time.perf_counter() - start
        for message in messages:  # measured after sending, with the metadata Flower set
            kind = self._kind(message.metadata.message_type)
            kind["messages"] += 1
            kind["bytes_sent"] += message_bytes(message)
        for message_type in {m.metadata.message_type for m in messages}:
            self._kind(message_type)["exchanges"] += 1
            self._kind(message_type)["seconds"] += seconds
        for reply in replies:
            kind = self._kind(reply.metadata.message_type)
            kind["replies"] += 1
            kind["bytes_received"] += message_bytes(reply)
        return replies

    def summary(self) -> dict[str, dict[str, float]]:
        """Per message type: totals, and mean bytes per message each way."""
        out = {}
        for name, kind in self._counts.items():
            out[name] = dict(kind)
            out[name]["bytes_per_message_sent"] = kind["bytes_sent"] / max(kind["messages"], 1)
            out[name]["bytes_per_reply"] = kind["bytes_received"] / max(kind["replies"], 1)
        return out


class MissingHospitalError(RuntimeError):
    """A federated round went without the reply of a hospital that had to take part."""


def missing_hospitals(expected: Sequence[str], replies: Sequence[object]) -> list[str]:
    """The hospitals in ``expected`` with no error-free reply that names them.

    A reply names its hospital in a ``site`` config record (``hospital``); a reply that
    carries an error (the ClientApp failed, for example because its data file is gone) counts
    as missing, as does a hospital that sent nothing.
    """
    answered = set()
    for reply in replies:
        if reply.has_error() or "site" not in reply.content:
            continue
        answered.add(str(reply.content["site"].get("hospital", "")))
    return [name for name in expected if name not in answered]


@contextmanager
def quiet_flower(level: int = logging.ERROR) -> Iterator[None]:
    """Show only Flower log records at ``level`` or above while the block runs.

    Flower logs every round at INFO level and announces deprecations at WARNING level, and Ray
    suggests installing ipywidgets when it is imported in a notebook; on a book page that
    reads like an error. Real errors still show.
    """
    import flwr.supercore.logger  # noqa: F401  (Flower sets its own level on import)

    loggers = [logging.getLogger("flwr"), logging.getLogger("ray.widgets.util")]
    before = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(level)
    try:
        yield
    finally:
        for logger, old_level in zip(loggers, before, strict=True):
            logger.setLevel(old_level)


@dataclass(frozen=True)
class FlowerRun:
    """Result of :func:`run_flower_simulation`."""

    history: np.ndarray
    weights: np.ndarray
    seconds: float


def run_flower_simulation(
    partitions: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    rounds: int = 20,
    local_epochs: int = 1,
    learning_rate: float = 1.0,
    num_cpus: int = 2,
) -> FlowerRun:
    """Run the Flower apps in Flower's simulation engine, one virtual SuperNode per partition.

    Uses ``flwr.simulation.run_simulation`` (Ray backend); the ServerApp runs in this process,
    so its result comes back directly. Each ClientApp may use all ``num_cpus`` CPUs, so one Ray
    worker serves the virtual SuperNodes in turn: on a small machine that starts fastest, and
    these clients are far too quick to gain from running in parallel.
    """
    if len(partitions) < 1:
        raise ValueError("need at least one partition")
    for X, y in partitions:
        _check_xy(X, y)
    from flwr.simulation import run_simulation

    data = [(np.asarray(X), np.asarray(y)) for X, y in partitions]

    def load(context: object) -> tuple[np.ndarray, np.ndarray]:
        return data[int(context.node_config["partition-id"])]

    outcome: dict[str, np.ndarray] = {}

    def keep(history: np.ndarray, final: np.ndarray, run_config: Mapping) -> None:
        outcome["history"], outcome["weights"] = history, final

    server = make_server_app(
        n_features=data[0][0].shape[1],
        num_rounds=rounds,
        local_epochs=local_epochs,
        learning_rate=learning_rate,
        min_nodes=len(data),
        on_finish=keep,
    )
    client = make_client_app(load, local_epochs=local_epochs, learning_rate=learning_rate)
    start = time.perf_counter()
    run_simulation(
        server_app=server,
        client_app=client,
        num_supernodes=len(data),
        backend_config={
            "client_resources": {"num_cpus": num_cpus, "num_gpus": 0.0},
            "init_args": {
                "num_cpus": num_cpus,
                "logging_level": "ERROR",
                "log_to_driver": False,
            },
        },
    )
    seconds = time.perf_counter() - start
    if "weights" not in outcome:
        raise RuntimeError("the Flower simulation ended without a result; see its log")
    return FlowerRun(history=outcome["history"], weights=outcome["weights"], seconds=seconds)


def run_dp_fedavg(
    partitions: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    noise_multiplier: float,
    clipping_norm: float = 1.0,
    rounds: int = 20,
    local_epochs: int = 10,
    learning_rate: float = 2.0,
    seed: int | None = None,
) -> np.ndarray:
    """FedAvg whose every aggregation is Flower's ``DifferentialPrivacyServerSideFixedClipping``.

    The wrapper's own ``aggregate_train`` clips each hospital's update (local model minus
    global model) to ``clipping_norm``, lets FedAvg average the clipped models and adds
    Gaussian noise with standard deviation ``noise_multiplier * clipping_norm / hospitals``.
    The hospitals' replies are Flower ``Message`` objects with the metadata a SuperLink would
    give them; the local training is :func:`local_update`. No engine is started: it adds nothing
    to the arithmetic. Every hospital reports the same ``num-examples`` so that FedAvg's mean is
    the unweighted one the noise is calibrated to (see :mod:`.dp_accounting`).

    Flower draws the noise from NumPy's global generator. ``seed`` seeds it for reproducible
    figures (the generator's earlier state is restored afterwards); a real deployment must not
    seed it.
    """
    if len(partitions) < 1:
        raise ValueError("need at least one partition")
    for X, y in partitions:
        _check_xy(X, y)
    from flwr.app import ArrayRecord, Message, MetricRecord, RecordDict
    from flwr.app.metadata import Metadata
    from flwr.serverapp.strategy import DifferentialPrivacyServerSideFixedClipping, FedAvg

    strategy = DifferentialPrivacyServerSideFixedClipping(
        FedAvg(), noise_multiplier=noise_multiplier, clipping_norm=clipping_norm,
        num_sampled_clients=len(partitions))
    saved = np.random.get_state()
    if seed is not None:
        np.random.seed(seed)
    try:
        w = np.zeros(partitions[0][0].shape[1])
        for server_round in range(1, rounds + 1):
            strategy.current_arrays = ArrayRecord([w])  # the model the updates start from
            replies = []
            for hospital, (X, y) in enumerate(partitions, start=1):
                local = local_update(w, X, y, epochs=local_epochs, learning_rate=learning_rate)
                content = RecordDict({"arrays": ArrayRecord([local]),
                                      "metrics": MetricRecord({"num-examples": 1})})
                replies.append(Message(content=content, metadata=Metadata(
                    run_id=1, message_id="", src_node_id=hospital, dst_node_id=0,
                    reply_to_message_id="", group_id=str(server_round), created_at=0.0,
                    ttl=3600.0, message_type="train")))
            arrays, _ = strategy.aggregate_train(server_round, replies)
            if arrays is None:
                raise RuntimeError(f"round {server_round}: the DP wrapper refused to aggregate")
            w = arrays.to_numpy_ndarrays()[0]
    finally:
        if seed is not None:
            np.random.set_state(saved)
    return w
