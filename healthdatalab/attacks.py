"""Reconstruction from aggregate statistics, the attack that motivates differential privacy.

Dinur and Nissim (2003) showed that a database which answers many subset-count queries too
accurately gives itself away: if each answer is off by much less than ``sqrt(n)``, an attacker
who asks enough random subsets can solve for almost every record's secret bit. The attack needs
no background knowledge beyond who is in the table; each released count is one linear equation
in the unknown bits.

This module keeps the pieces short enough to read:

* :func:`random_subset_queries` draws the subsets (a 0/1 matrix, one row per query);
* :func:`subset_counts` answers them exactly, as a table server without protection would;
* :func:`dp_subset_counts` answers them through OpenDP's Laplace mechanism with a stated total
  epsilon for the whole set of answers;
* :func:`reconstruct` is the attacker: a linear program (minimise the total absolute error of
  the answers, with every bit between 0 and 1) or bounded least squares, both from SciPy;
* :func:`reconstruction_accuracy` and :func:`accuracy_bound` measure the result and the limit
  that epsilon-differential privacy puts on any attacker.

The neighbouring relation throughout is *changing one person's secret bit* while the list of
people stays public, the setting of the attack. One changed bit moves every query that
contains that person by one, so the L1 sensitivity of the whole answer vector is the largest
number of queries any one person is in (:func:`query_sensitivity`).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from scipy import optimize, sparse

__all__ = [
    "accuracy_bound",
    "dp_subset_counts",
    "query_sensitivity",
    "random_subset_queries",
    "reconstruct",
    "reconstruction_accuracy",
    "subset_counts",
]

_MAX_ROWS = 5_000
_MAX_QUERIES = 50_000


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:,} and {high:,}")
    return int(value)


def _check_positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number greater than 0")
    return value


def _check_queries(queries: object) -> np.ndarray:
    if not isinstance(queries, np.ndarray) or queries.ndim != 2:
        raise TypeError("queries must be a two-dimensional numpy array (one row per query)")
    if queries.shape[0] == 0 or queries.shape[1] == 0:
        raise ValueError("queries must have at least one query and one column")
    if queries.dtype == bool:
        return queries.astype(np.int64)
    if not np.issubdtype(queries.dtype, np.integer) or not np.isin(queries, (0, 1)).all():
        raise ValueError("queries must contain only 0 and 1 (1 = the person is in the subset)")
    return queries.astype(np.int64)


def _check_secret(secret: object, n_columns: int) -> np.ndarray:
    if not isinstance(secret, np.ndarray) or secret.ndim != 1:
        raise TypeError("secret must be a one-dimensional numpy array of 0/1 values")
    if secret.shape[0] != n_columns:
        raise ValueError(
            f"secret has {secret.shape[0]} entries but the queries have {n_columns} columns"
        )
    if secret.dtype == bool:
        return secret.astype(np.int64)
    if not np.issubdtype(secret.dtype, np.integer):
        raise TypeError("secret must hold integers or booleans")
    return secret.astype(np.int64)


def random_subset_queries(
    n_rows: int, n_queries: int, rng: np.random.Generator, *, inclusion: float = 0.5
) -> np.ndarray:
    """Return ``n_queries`` random subsets of ``n_rows`` people as a 0/1 matrix.

    Each person is in each subset independently with probability ``inclusion``. Row ``i`` of
    the result is query ``i``; column ``j`` is person ``j``.
    """
    n_rows = _check_int("n_rows", n_rows, 1, _MAX_ROWS)
    n_queries = _check_int("n_queries", n_queries, 1, _MAX_QUERIES)
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator")
    inclusion = _check_positive("inclusion", inclusion)
    if inclusion >= 1:
        raise ValueError("inclusion must be strictly between 0 and 1")
    return (rng.random((n_queries, n_rows)) < inclusion).astype(np.int64)


def subset_counts(queries: np.ndarray, secret: np.ndarray) -> np.ndarray:
    """The exact answers: for each subset, how many of its people have the secret bit set."""
    queries = _check_queries(queries)
    secret = _check_secret(secret, queries.shape[1])
    if not np.isin(secret, (0, 1)).all():
        raise ValueError("secret must contain only 0 and 1")
    return queries @ secret


def query_sensitivity(queries: np.ndarray) -> int:
    """L1 sensitivity of the answer vector: the most queries any one person is in.

    Changing one person's bit changes each query containing that person by exactly one and no
    other query, so the answer vector moves by that person's number of queries in L1 norm.
    """
    queries = _check_queries(queries)
    return int(queries.sum(axis=0).max())


def dp_subset_counts(queries: np.ndarray, secret: np.ndarray, epsilon: float) -> np.ndarray:
    """Answer every query at once with epsilon-DP for the whole answer vector, through OpenDP.

    The sensitivity is :func:`query_sensitivity` (computed from the public queries, never from
    the data); OpenDP's Laplace measurement on integer vectors adds discrete Laplace noise of
    scale ``sensitivity / epsilon`` to each answer, and its privacy map is checked to give at
    most ``epsilon`` for that sensitivity. Values of ``secret`` are clamped to 0 and 1 first,
    so the sensitivity holds whatever the data hold and no error depends on them. The noise
    comes from OpenDP's own cryptographically secure sampler: it is not seeded.
    """
    import opendp.prelude as dp

    queries = _check_queries(queries)
    secret = np.clip(_check_secret(secret, queries.shape[1]), 0, 1)
    epsilon = _check_positive("epsilon", epsilon)
    sensitivity = query_sensitivity(queries)
    dp.enable_features("contrib")
    space = (
        dp.vector_domain(dp.atom_domain(T=int), size=queries.shape[0]),
        dp.l1_distance(T=int),
    )
    measurement = space >> dp.m.then_laplace(scale=sensitivity / epsilon)
    if measurement.map(sensitivity) > epsilon * (1 + 1e-9):
        raise RuntimeError("OpenDP's privacy map exceeds the requested epsilon")
    exact = [int(v) for v in queries @ secret]
    return np.asarray(measurement(exact), dtype=np.int64)


def reconstruct(queries: np.ndarray, answers: np.ndarray, *, method: str = "lp") -> np.ndarray:
    """The attacker: estimate every person's bit from the subsets and their (noisy) answers.

    ``method="lp"`` solves the linear program of Dinur and Nissim: find ``x`` in ``[0, 1]^n``
    minimising the total absolute difference between ``queries @ x`` and the answers.
    ``method="least_squares"`` minimises the squared difference instead (SciPy's bounded
    least squares). Both return the fractional estimate; round it at 0.5 to guess the bits.
    """
    queries = _check_queries(queries)
    if not isinstance(answers, np.ndarray) or answers.ndim != 1:
        raise TypeError("answers must be a one-dimensional numpy array")
    if answers.shape[0] != queries.shape[0]:
        raise ValueError(f"there are {answers.shape[0]} answers for {queries.shape[0]} queries")
    if not np.issubdtype(answers.dtype, np.number) or not np.isfinite(answers).all():
        raise ValueError("answers must be finite numbers (no missing values)")
    y = answers.astype(float)
    m, n = queries.shape
    if method == "least_squares":
        result = optimize.lsq_linear(queries.astype(float), y, bounds=(0.0, 1.0))
        return np.clip(result.x, 0.0, 1.0)
    if method != "lp":
        raise ValueError("method must be 'lp' or 'least_squares'")
    # Variables: the n bits, then each answer's error split into its positive and negative
    # parts, queries @ x - over + under = y with over, under >= 0. At the optimum at most one
    # of the two is non-zero, so their sum is |queries @ x - y|. One equation per answer
    # solves faster than the two inequalities (queries @ x - e <= y, -queries @ x - e <= -y)
    # that bound the same error; the optimum is the same.
    a = sparse.csr_matrix(queries.astype(float))
    eye = sparse.identity(m, format="csr")
    a_eq = sparse.hstack([a, -eye, eye], format="csr")
    cost = np.concatenate([np.zeros(n), np.ones(2 * m)])
    bounds = [(0.0, 1.0)] * n + [(0.0, None)] * (2 * m)
    result = optimize.linprog(cost, A_eq=a_eq, b_eq=y, bounds=bounds, method="highs")
    if result.status != 0:
        raise RuntimeError(f"the linear program did not solve: {result.message}")
    return np.clip(result.x[:n], 0.0, 1.0)


def reconstruction_accuracy(estimate: np.ndarray, secret: np.ndarray) -> float:
    """Share of people whose bit the rounded estimate gets right."""
    if not isinstance(estimate, np.ndarray) or estimate.ndim != 1:
        raise TypeError("estimate must be a one-dimensional numpy array")
    secret = _check_secret(secret, estimate.shape[0])
    if not np.isfinite(estimate).all():
        raise ValueError("estimate must be finite numbers")
    return float(np.mean((estimate >= 0.5).astype(np.int64) == secret))


def accuracy_bound(epsilon: float, prior: float) -> float:
    """The most any attacker can expect to guess right about one bit from an epsilon-DP release.

    If the attacker believes a person's bit is 1 with probability ``prior`` (independently of
    everyone else), an epsilon-DP release can multiply the odds by at most ``e^epsilon``, so the
    probability of guessing the bit right is at most
    ``max(e^eps p / (e^eps p + 1 - p), e^eps (1 - p) / (e^eps (1 - p) + p))``.
    Without any release the best guess is right with probability ``max(p, 1 - p)``.
    """
    epsilon = _check_positive("epsilon", epsilon)
    if isinstance(prior, bool) or not isinstance(prior, numbers.Real):
        raise TypeError("prior must be a number")
    prior = float(prior)
    if not 0.0 <= prior <= 1.0:
        raise ValueError("prior must be between 0 and 1")
    if epsilon > 700:
        return 1.0
    factor = math.exp(epsilon)
    best = 0.0
    for p in (prior, 1.0 - prior):
        denominator = factor * p + 1.0 - p
        best = max(best, factor * p / denominator if denominator > 0 else 0.0)
    return best
