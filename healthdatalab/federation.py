"""Sharing without pooling: partitions per hospital, federated averaging, secret sharing,
output checks and the Flower app.

The pieces, from the data to the deployment:

* :func:`partition_by_hospital` and :func:`to_arrays` turn a cohort from
  :mod:`healthdatalab.cohort` into one design matrix per hospital.
* :func:`fit_logistic` fits the outcome model on pooled data (the centralised reference) and
  :func:`information_matrix` gives its precision (standard errors); :func:`local_update`,
  :func:`fedavg_aggregate` and :func:`fedavg` are federated averaging (FedAvg) written out by
  hand.
* :func:`share_secret`, :func:`reconstruct` and :func:`secure_sum` are additive secret sharing
  modulo the prime :data:`PRIME`: every share on its own is a uniformly random number;
  :func:`mpyc_secure_sum` computes the same kind of sum with the MPyC library, one local
  process per party.
* :func:`check_min_cell_count`, :func:`release` and :func:`suppress_small_cells` are the output
  checks of a secure environment (a minimum cell count; zeros are withheld too unless the
  caller says otherwise).
* :func:`make_client_app` and :func:`make_server_app` build the same FedAvg as a Flower
  ``ClientApp`` and ``ServerApp``, used by the simulation in the notebooks and by the
  deployment in ``deploy/``; :func:`run_flower_simulation` runs them in Flower's simulation
  engine.

Nothing here prints or reads a file the caller did not pass in.
"""

from __future__ import annotations

import json
import logging
import numbers
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from healthdatalab.cohort import TRUE_COEFFICIENTS, outcome_features

#: Names of the model's coefficients, in the order of the columns of :func:`to_arrays`.
FEATURES: tuple[str, ...] = ("intercept", *[k for k in TRUE_COEFFICIENTS if k != "intercept"])

#: The Mersenne prime 2**61 - 1: shares are numbers from 0 to PRIME - 1.
PRIME: int = 2**61 - 1

#: Default minimum cell count of the output checks: counts from 0 to 9 are withheld (zeros too,
#: as in the UK Longitudinal Linkage Collaboration's rule; see :func:`check_min_cell_count`).
MIN_CELL_COUNT: int = 10


# --------------------------------------------------------------------------------------------
# Partitions
# --------------------------------------------------------------------------------------------


def partition_by_hospital(
    cohort: pd.DataFrame, column: str = "hospital"
) -> dict[str, pd.DataFrame]:
    """Split a cohort into one table per value of ``column``, in sorted order of the values."""
    if not isinstance(cohort, pd.DataFrame):
        raise TypeError(f"cohort must be a pandas DataFrame, got {type(cohort).__name__}")
    if column not in cohort.columns:
        raise KeyError(f"the cohort has no column {column!r} to partition by")
    if len(cohort) == 0:
        raise ValueError("cannot partition an empty cohort")
    if cohort[column].isna().any():
        raise ValueError(f"column {column!r} has missing values; every row needs a hospital")
    return {
        str(name): part.reset_index(drop=True)
        for name, part in cohort.groupby(column, sort=True, observed=True)
    }


def to_arrays(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Design matrix (intercept column first, then :data:`FEATURES`) and the 0/1 outcome."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    if "outcome" not in frame.columns:
        raise KeyError("the table has no 'outcome' column")
    features = outcome_features(frame)[list(FEATURES[1:])].to_numpy(float)
    X = np.column_stack([np.ones(len(frame)), features])
    y = frame["outcome"].to_numpy(float)
    _check_xy(X, y)
    return X, y


def _check_xy(X: np.ndarray, y: np.ndarray) -> None:
    if not isinstance(X, np.ndarray) or not isinstance(y, np.ndarray):
        raise TypeError("X and y must be numpy arrays")
    if X.ndim != 2:
        raise ValueError(f"X must be two-dimensional (rows x features), got shape {X.shape}")
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(f"y must be one value per row of X: X has {len(X)} rows, y {y.shape}")
    if len(y) == 0:
        raise ValueError("X and y have no rows")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains missing or infinite values")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("y must contain only 0 and 1")


def _check_weights(w: np.ndarray, X: np.ndarray) -> np.ndarray:
    w = np.asarray(w, dtype=float)
    if w.shape != (X.shape[1],):
        raise ValueError(f"weights need shape ({X.shape[1]},) to match X, got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("weights contain missing or infinite values")
    return w


# --------------------------------------------------------------------------------------------
# Logistic regression, centralised and federated by hand
# --------------------------------------------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function, without overflow


def logistic_loss(w: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood (log loss) of coefficients ``w`` on ``X``, ``y``."""
    _check_xy(X, y)
    w = _check_weights(w, X)
    z = X @ w
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def accuracy(w: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
    """Share of rows whose outcome the model predicts correctly (threshold 0.5)."""
    _check_xy(X, y)
    w = _check_weights(w, X)
    return float(np.mean((X @ w > 0) == (y == 1)))


def fit_logistic(
    X: np.ndarray, y: np.ndarray, *, max_iter: int = 100, tol: float = 1e-10
) -> np.ndarray:
    """Maximum-likelihood logistic regression by Newton's method (the centralised reference)."""
    _check_xy(X, y)
    w = np.zeros(X.shape[1])
    for _ in range(max_iter):
        p = _sigmoid(X @ w)
        gradient = X.T @ (p - y)
        hessian = (X * (p * (1 - p))[:, None]).T @ X
        try:
            step = np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError as err:
            raise ValueError(
                "the model cannot be fitted: the features are collinear or the outcome is "
                "perfectly separated in these data"
            ) from err
        w = w - step
        if np.max(np.abs(step)) < tol:
            return w
    raise ValueError(f"Newton's method did not converge in {max_iter} iterations")


def information_matrix(w: np.ndarray, X: np.ndarray) -> np.ndarray:
    """The logistic model's Fisher information ``X' W X`` at coefficients ``w``.

    ``W`` is diagonal with ``p (1 - p)`` for each row's predicted probability ``p``. Its
    inverse estimates the covariance of the fitted coefficients, so
    ``sqrt(diag(inv(information_matrix(w, X))))`` are their standard errors. The matrix is a
    sum over rows: the pooled matrix is the sum of the hospitals' matrices.
    """
    if not isinstance(X, np.ndarray):
        raise TypeError("X must be a numpy array")
    if X.ndim != 2 or len(X) == 0:
        raise ValueError(f"X must be two-dimensional with at least one row, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains missing or infinite values")
    w = _check_weights(w, X)
    p = _sigmoid(X @ w)
    return (X * (p * (1 - p))[:, None]).T @ X


def local_update(
    w: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int = 1,
    learning_rate: float = 1.0,
) -> np.ndarray:
    """What one hospital does in a FedAvg round: ``epochs`` full-batch gradient steps."""
    _check_xy(X, y)
    w = _check_weights(w, X).copy()
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not isinstance(learning_rate, numbers.Real) or not learning_rate > 0:
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
    for _ in range(int(epochs)):
        w -= learning_rate * X.T @ (_sigmoid(X @ w) - y) / len(y)
    return w


def fedavg_aggregate(
    weights: Sequence[np.ndarray], num_examples: Sequence[int]
) -> np.ndarray:
    """The server's step: the average of the hospitals' weights, weighted by their rows."""
    if len(weights) == 0 or len(weights) != len(num_examples):
        raise ValueError(
            f"need one example count per weight vector and at least one of each, got "
            f"{len(weights)} weight vectors and {len(num_examples)} counts"
        )
    counts = np.asarray(num_examples, dtype=float)
    if np.any(counts <= 0) or not np.all(np.isfinite(counts)):
        raise ValueError("every example count must be positive")
    vectors = [np.asarray(w, dtype=float) for w in weights]
    if any(v.ndim != 1 or v.shape != vectors[0].shape for v in vectors):
        raise ValueError("all weight vectors must be one-dimensional and of the same length")
    stacked = np.stack(vectors)
    return counts @ stacked / counts.sum()


@dataclass(frozen=True)
class FedAvgResult:
    """Weights of the global model after every round (row 0 is the starting point)."""

    history: np.ndarray
    num_examples: tuple[int, ...]

    @property
    def weights(self) -> np.ndarray:
        """The final global coefficients."""
        return self.history[-1]


def fedavg(
    partitions: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    rounds: int = 20,
    local_epochs: int = 1,
    learning_rate: float = 1.0,
    initial: np.ndarray | None = None,
) -> FedAvgResult:
    """Federated averaging by hand: each round every hospital trains locally, then average."""
    if len(partitions) == 0:
        raise ValueError("fedavg needs at least one partition")
    if isinstance(rounds, bool) or not isinstance(rounds, numbers.Integral) or rounds < 1:
        raise ValueError(f"rounds must be a positive integer, got {rounds!r}")
    for X, y in partitions:
        _check_xy(X, y)
    n_features = partitions[0][0].shape[1]
    if any(X.shape[1] != n_features for X, _ in partitions):
        raise ValueError("every partition must have the same number of features")
    w = np.zeros(n_features) if initial is None else _check_weights(initial, partitions[0][0])
    counts = [len(y) for _, y in partitions]
    history = [w]
    for _ in range(int(rounds)):
        local = [
            local_update(w, X, y, epochs=local_epochs, learning_rate=learning_rate)
            for X, y in partitions
        ]
        w = fedavg_aggregate(local, counts)
        history.append(w)
    return FedAvgResult(history=np.asarray(history), num_examples=tuple(counts))


# --------------------------------------------------------------------------------------------
# Additive secret sharing
# --------------------------------------------------------------------------------------------


def _check_modulus(modulus: int) -> int:
    if isinstance(modulus, bool) or not isinstance(modulus, numbers.Integral) or modulus < 2:
        raise ValueError(f"modulus must be an integer of at least 2, got {modulus!r}")
    return int(modulus)


def share_secret(
    secret: int, n_shares: int, rng: np.random.Generator, *, modulus: int = PRIME
) -> list[int]:
    """Split an integer into ``n_shares`` numbers that add up to it modulo ``modulus``.

    The first ``n_shares - 1`` shares are uniform random draws; the last one makes the sum
    right. Any ``n_shares - 1`` of them are therefore uniformly distributed whatever the
    secret, so they reveal nothing about it. Negative secrets are stored as
    ``secret % modulus`` (see :func:`to_signed`).
    """
    modulus = _check_modulus(modulus)
    if isinstance(secret, bool) or not isinstance(secret, numbers.Integral):
        raise TypeError(f"secret must be an integer, got {type(secret).__name__} {secret!r}")
    if isinstance(n_shares, bool) or not isinstance(n_shares, numbers.Integral) or n_shares < 2:
        raise ValueError(f"n_shares must be an integer of at least 2, got {n_shares!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy Generator, e.g. numpy.random.default_rng(seed)")
    if modulus > 2**63:
        raise ValueError("modulus must be at most 2**63 so numpy can draw the shares")
    random_shares = [int(v) for v in rng.integers(0, modulus, size=int(n_shares) - 1)]
    last = (int(secret) - sum(random_shares)) % modulus
    return [*random_shares, last]


def reconstruct(shares: Sequence[int], *, modulus: int = PRIME) -> int:
    """Add all shares modulo ``modulus`` (a value from 0 to modulus - 1)."""
    modulus = _check_modulus(modulus)
    if len(shares) == 0:
        raise ValueError("need at least one share to reconstruct")
    for s in shares:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or not 0 <= s < modulus:
            raise ValueError(f"every share must be an integer from 0 to modulus - 1, got {s!r}")
    return sum(int(s) for s in shares) % modulus


def to_signed(value: int, *, modulus: int = PRIME) -> int:
    """Read a residue modulo ``modulus`` as a signed integer (upper half means negative)."""
    modulus = _check_modulus(modulus)
    value = int(value) % modulus
    return value - modulus if value > modulus // 2 else value


@dataclass(frozen=True)
class SecureSumResult:
    """A secure sum and what each party saw.

    ``shares[i][j]`` is the share hospital ``i`` sent to party ``j``; ``partial_sums[j]`` is
    what party ``j`` forwards to the aggregator, which only ever sees these partial sums.
    """

    total: int
    shares: tuple[tuple[int, ...], ...]
    partial_sums: tuple[int, ...]


def secure_sum(
    values: Sequence[int],
    rng: np.random.Generator,
    *,
    n_parties: int | None = None,
    modulus: int = PRIME,
) -> SecureSumResult:
    """Sum private integers by additive secret sharing among ``n_parties`` computing parties.

    By default there are as many parties as inputs (at least two). Each input is split into
    one share per party; each party adds the shares it received; the
    aggregator adds the partial sums. No party and not the aggregator sees an input. The total
    is exact as long as the true sum lies in ``(-modulus / 2, modulus / 2)``.
    """
    modulus = _check_modulus(modulus)
    if len(values) == 0:
        raise ValueError("secure_sum needs at least one value")
    n_parties = max(len(values), 2) if n_parties is None else n_parties
    bound = sum(abs(int(v)) for v in values)
    if bound >= modulus // 2:
        raise ValueError(
            f"the values are too large for modulus {modulus}: their sum could wrap around"
        )
    shares = [share_secret(int(v), n_parties, rng, modulus=modulus) for v in values]
    partial = [sum(row[j] for row in shares) % modulus for j in range(n_parties)]
    total = to_signed(reconstruct(partial, modulus=modulus), modulus=modulus)
    return SecureSumResult(
        total=total,
        shares=tuple(tuple(row) for row in shares),
        partial_sums=tuple(partial),
    )


def encode_fixed_point(value: float, *, scale: int = 2**20) -> int:
    """Turn a real number into an integer that can be secret-shared (rounded to 1/scale)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"value must be a real number, got {type(value).__name__}")
    if not np.isfinite(value):
        raise ValueError(f"value must be finite, got {value}")
    return int(round(float(value) * scale))


def decode_fixed_point(value: int, *, scale: int = 2**20) -> float:
    """Undo :func:`encode_fixed_point`."""
    return int(value) / scale


def _free_port_block(size: int, attempts: int = 50) -> int:
    """A base port such that ``size`` consecutive ports on 127.0.0.1 are free right now."""
    rng = np.random.default_rng()
    for _ in range(attempts):
        base = int(rng.integers(20_000, 60_000 - size))
        sockets = []
        try:
            for port in range(base, base + size):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError(f"found no {size} free consecutive ports on 127.0.0.1")


def mpyc_secure_sum(
    private_inputs: Sequence[Sequence[int]], *, timeout: float = 60.0
) -> list[int]:
    """Sum vectors of integers with MPyC, one local process (party) per input vector.

    Party ``i`` receives only ``private_inputs[i]``; the parties run MPyC's protocols over
    TCP on 127.0.0.1 and all learn the element-wise sums, which are returned. Every process
    is stopped by its process group, also on error or after ``timeout`` seconds. Values must
    fit in 64-bit signed integers.
    """
    vectors = [list(v) for v in private_inputs]
    if len(vectors) < 2:
        raise ValueError("a secure sum needs at least two parties")
    if len({len(v) for v in vectors}) != 1 or len(vectors[0]) == 0:
        raise ValueError("every party needs a non-empty input vector of the same length")
    for vector in vectors:
        for value in vector:
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"inputs must be integers, got {value!r}")
            if abs(int(value)) >= 2**62 // len(vectors):
                raise ValueError(f"input {value} is too large for a 64-bit secure sum")
    m = len(vectors)
    base = _free_port_block(m)
    environment = {**os.environ, "MPYC_NOGMPY": "1", "PYTHONWARNINGS": "ignore"}
    processes: list[subprocess.Popen] = []
    try:
        for i, vector in enumerate(vectors):
            command = [
                sys.executable, "-m", "healthdatalab._mpc_party",
                json.dumps([int(v) for v in vector]),
                "-M", str(m), "-I", str(i), "-B", str(base), "--no-log",
            ]  # fmt: skip
            processes.append(
                subprocess.Popen(
                    command,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=environment,
                    start_new_session=True,  # own process group, stopped below
                )
            )
        deadline = time.monotonic() + timeout
        results = []
        for process in processes:
            out, err = process.communicate(timeout=max(deadline - time.monotonic(), 0.1))
            if process.returncode != 0:
                raise RuntimeError(f"an MPyC party failed: {err.strip()[-500:]}")
            results.append(json.loads(out.strip().splitlines()[-1])["sums"])
    finally:
        for process in processes:
            if process.poll() is None:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    if any(r != results[0] for r in results):
        raise RuntimeError("the MPyC parties disagree about the sum")
    return [int(v) for v in results[0]]


# --------------------------------------------------------------------------------------------
# Output checks: a minimum cell count
# --------------------------------------------------------------------------------------------


class OutputBlockedError(Exception):
    """An output failed the output checks of the secure environment and may not leave it."""


@dataclass(frozen=True)
class OutputCheck:
    """The verdict of an output check: passed or not, and why."""

    passed: bool
    problems: tuple[str, ...] = field(default_factory=tuple)


def _as_counts(counts: pd.Series | pd.DataFrame | Mapping | Sequence) -> pd.Series:
    if isinstance(counts, pd.DataFrame):
        series = counts.stack()
    elif isinstance(counts, pd.Series):
        series = counts
    elif isinstance(counts, Mapping):
        series = pd.Series(dict(counts))
    elif isinstance(counts, Sequence) and not isinstance(counts, str):
        series = pd.Series(list(counts))
    else:
        raise TypeError(f"counts must be a table, a mapping or a list, got {type(counts)}")
    values = pd.to_numeric(series, errors="coerce")
    if values.isna().any() or (values < 0).any() or (values % 1 != 0).any():
        raise ValueError("counts must be whole numbers of zero or more (no missing values)")
    return values.astype("int64")


def check_min_cell_count(
    counts: pd.Series | pd.DataFrame | Mapping | Sequence,
    *,
    min_count: int = MIN_CELL_COUNT,
    zero_is_small: bool = True,
) -> OutputCheck:
    """Check that every cell count is at least ``min_count``.

    By default every count below ``min_count`` fails, zero included, as in the UK
    Longitudinal Linkage Collaboration's rule: a zero can disclose that nobody in a group has
    a trait. Environments whose rules release zeros pass ``zero_is_small=False``; then only
    counts from 1 to ``min_count - 1`` fail.
    """
    if isinstance(min_count, bool) or not isinstance(min_count, numbers.Integral):
        raise TypeError(f"min_count must be an integer, got {min_count!r}")
    if min_count < 1:
        raise ValueError(f"min_count must be at least 1, got {min_count}")
    if not isinstance(zero_is_small, bool):
        raise TypeError(f"zero_is_small must be True or False, got {zero_is_small!r}")
    values = _as_counts(counts)
    small = (values < min_count) & ((values > 0) | zero_is_small)
    problems = tuple(
        f"cell {label!r} has count {int(count)}, below the minimum of {min_count}"
        for label, count in values[small].items()
    )
    return OutputCheck(passed=not problems, problems=problems)


def release(
    output: object,
    counts: pd.Series | pd.DataFrame | Mapping | Sequence,
    *,
    min_count: int = MIN_CELL_COUNT,
    zero_is_small: bool = True,
) -> object:
    """Return ``output`` if the counts behind it pass :func:`check_min_cell_count`.

    Otherwise raise :class:`OutputBlockedError` listing the failing cells. As in the check,
    zero counts block the output unless ``zero_is_small=False``.
    """
    verdict = check_min_cell_count(counts, min_count=min_count, zero_is_small=zero_is_small)
    if not verdict.passed:
        raise OutputBlockedError("output blocked: " + "; ".join(verdict.problems))
    return output


def suppress_small_cells(
    counts: pd.Series | pd.DataFrame,
    *,
    min_count: int = MIN_CELL_COUNT,
    zero_is_small: bool = True,
) -> pd.Series | pd.DataFrame:
    """Replace the counts that fail :func:`check_min_cell_count` with missing values.

    By default that is every count below ``min_count``, zero included; with
    ``zero_is_small=False`` zeros are kept and only counts from 1 to ``min_count - 1`` go.
    """
    if not isinstance(counts, pd.Series | pd.DataFrame):
        raise TypeError("counts must be a pandas Series or DataFrame")
    # validates the values and the arguments
    check_min_cell_count(counts, min_count=min_count, zero_is_small=zero_is_small)
    numbers_ = counts.astype("Int64")
    small = numbers_ < min_count
    return numbers_.mask(small if zero_is_small else small & (numbers_ > 0))


# --------------------------------------------------------------------------------------------
# Federated analytics: what one hospital computes and how the aggregator combines it
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalSummary:
    """Aggregates one hospital shares about one numeric column: no individual values."""

    count: int
    total: float
    total_of_squares: float
    histogram: tuple[int, ...]


def local_summary(values: pd.Series | np.ndarray, edges: Sequence[float]) -> LocalSummary:
    """Count, sum, sum of squares and a histogram over ``edges`` of one hospital's values."""
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError("values must be one-dimensional")
    if not np.all(np.isfinite(array)):
        raise ValueError("values contain missing or infinite entries")
    edges = np.asarray(edges, dtype=float)
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError("edges must be at least two increasing numbers")
    outside = (array < edges[0]) | (array > edges[-1])
    if outside.any():
        raise ValueError(
            f"{int(outside.sum())} values fall outside the histogram edges "
            f"[{edges[0]}, {edges[-1]}]"
        )
    histogram, _ = np.histogram(array, bins=edges)
    return LocalSummary(
        count=int(array.size),
        total=float(array.sum()),
        total_of_squares=float(np.square(array).sum()),
        histogram=tuple(int(h) for h in histogram),
    )


def pool_summaries(summaries: Sequence[LocalSummary]) -> dict[str, object]:
    """Combine hospital summaries into the overall count, mean, standard deviation, histogram."""
    if len(summaries) == 0:
        raise ValueError("need at least one summary")
    if len({len(s.histogram) for s in summaries}) != 1:
        raise ValueError("all summaries must use the same histogram edges")
    n = sum(s.count for s in summaries)
    if n < 2:
        raise ValueError("need at least two values in total for a standard deviation")
    total = sum(s.total for s in summaries)
    squares = sum(s.total_of_squares for s in summaries)
    mean = total / n
    variance = (squares - n * mean**2) / (n - 1)
    return {
        "count": n,
        "mean": mean,
        "sd": float(np.sqrt(max(variance, 0.0))),
        "histogram": np.sum([s.histogram for s in summaries], axis=0),
    }


# --------------------------------------------------------------------------------------------
# The same FedAvg as a Flower app (Message API of Flower 1.21 and later)
# --------------------------------------------------------------------------------------------

#: Environment that keeps Flower and Ray from phoning home; set before they are imported.
QUIET_ENVIRONMENT: dict[str, str] = {
    "FLWR_TELEMETRY_ENABLED": "0",  # Flower's anonymous usage events
    "RAY_USAGE_STATS_ENABLED": "0",  # Ray's usage statistics
    "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0",  # opt in to Ray's future GPU default (no warning)
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
    from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
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
        return Message(
            content=RecordDict({"arrays": ArrayRecord([w]), "metrics": metrics}), reply_to=msg
        )

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
) -> object:
    """A Flower ``ServerApp`` running FedAvg from zero weights.

    The run config (``num-server-rounds``, ``local-epochs``, ``learning-rate``,
    ``min-nodes``) overrides the defaults. When the run ends, ``on_finish(history, final,
    run_config)`` receives the global weights after every round (row 0 is the start), the
    final ones and the run config.
    """
    from flwr.app import ArrayRecord, ConfigRecord, Context
    from flwr.serverapp import Grid, ServerApp
    from flwr.serverapp.strategy import FedAvg

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

        strategy = FedAvg(
            fraction_train=1.0,
            fraction_evaluate=1.0 if evaluate else 0.0,
            min_train_nodes=nodes,
            min_evaluate_nodes=nodes if evaluate else 0,
            min_available_nodes=nodes,
        )
        result = strategy.start(
            grid=grid,
            initial_arrays=ArrayRecord([np.zeros(n_features)]),
            num_rounds=rounds,
            train_config=train_config,
            evaluate_fn=record,
        )
        final = result.arrays.to_numpy_ndarrays()[0]
        if on_finish is not None:
            on_finish(np.asarray(history), final, dict(context.run_config))

    return app


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
