"""Logistic regression, centralised (the pooled reference) and federated by hand (FedAvg)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from healthdatalab.federation.partitions import _check_weights, _check_xy

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
        # The gradient first, then the scaling: scaling X.T first would copy X every epoch.
        w -= learning_rate * (X.T @ (_sigmoid(X @ w) - y)) / len(y)
    return w


def fedavg_aggregate(weights: Sequence[np.ndarray], num_examples: Sequence[int]) -> np.ndarray:
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
