"""Exact federated logistic regression, site differences and FedProx.

FedAvg (:mod:`.regression`) averages models trained locally; on hospitals with different case
mix it settles at a point that is not the pooled maximum-likelihood fit. The way research
networks fit a generalised linear model instead is **exact**: the log-likelihood of the pooled
data is a sum over hospitals, so are its gradient and Hessian. Each round every hospital returns
the gradient and Hessian of its own log-likelihood at the current coefficients; the coordinator
adds them up and takes a Newton step. After a handful of rounds the result equals the pooled fit
to rounding error (:func:`federated_newton`).

Site differences beyond case mix are modelled with one intercept per site
(``site_intercepts=True``), and measured by fitting each site alone and combining the estimates in
a fixed- and a random-effects meta-analysis with Cochran's Q and I² (:func:`meta_analysis`,
DerSimonian and Laird 1986; Higgins and Thompson 2002). :func:`fedprox` is FedAvg with a
proximal term that keeps each hospital's local model near the global one (Li et al. 2020).

Nothing here prints; every function takes arrays and returns arrays or small result objects.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from healthdatalab.federation.partitions import _check_weights, _check_xy
from healthdatalab.federation.regression import FedAvgResult, _sigmoid, fedavg_aggregate

Partition = tuple[np.ndarray, np.ndarray]


def _check_partitions(partitions: Sequence[Partition]) -> int:
    if isinstance(partitions, np.ndarray) or len(partitions) == 0:
        raise ValueError("need a non-empty list of (X, y) partitions, one per hospital")
    for X, y in partitions:
        _check_xy(X, y)
    n_features = partitions[0][0].shape[1]
    if any(X.shape[1] != n_features for X, _ in partitions):
        raise ValueError("every partition must have the same number of columns")
    return n_features


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class LocalStatistics:
    """What one hospital returns in a round: sums over its rows, never a row itself."""

    gradient: np.ndarray  # X'(y - p): gradient of the log-likelihood
    hessian: np.ndarray  # X' W X with W = p(1 - p): minus the Hessian of the log-likelihood
    log_likelihood: float
    n: int


def local_statistics(w: np.ndarray, X: np.ndarray, y: np.ndarray) -> LocalStatistics:
    """One hospital's gradient, information matrix and log-likelihood at coefficients ``w``."""
    _check_xy(X, y)
    w = _check_weights(w, X)
    z = X @ w
    p = _sigmoid(z)
    return LocalStatistics(
        gradient=X.T @ (y - p),
        hessian=(X * (p * (1 - p))[:, None]).T @ X,
        log_likelihood=float(np.sum(y * z - np.logaddexp(0.0, z))),
        n=len(y),
    )


def with_site_intercepts(partitions: Sequence[Partition]) -> list[Partition]:
    """The same partitions with the common intercept (column 0) replaced by one per site.

    Site ``k``'s design gets an indicator column for every site (1 in column ``k``, 0 in the
    others) followed by the covariates, so a site's intercept is estimated from its own
    patients while the covariate effects are shared.
    """
    _check_partitions(partitions)
    if not all(np.all(X[:, 0] == 1.0) for X, _ in partitions):
        raise ValueError("column 0 of every partition must be the intercept (all ones)")
    k = len(partitions)
    out = []
    for i, (X, y) in enumerate(partitions):
        sites = np.zeros((len(X), k))
        sites[:, i] = 1.0
        out.append((np.column_stack([sites, X[:, 1:]]), y))
    return out


@dataclass(frozen=True)
class NewtonResult:
    """The coefficients after each round (row 0: the start), and their covariance."""

    history: np.ndarray
    covariance: np.ndarray
    log_likelihood: float
    rounds: int

    @property
    def coefficients(self) -> np.ndarray:
        return self.history[-1]

    @property
    def standard_errors(self) -> np.ndarray:
        return np.sqrt(np.diag(self.covariance))


def federated_newton(
    partitions: Sequence[Partition],
    *,
    max_rounds: int = 25,
    tol: float = 1e-10,
    site_intercepts: bool = False,
) -> NewtonResult:
    """Exact federated logistic regression by Newton's method (iteratively reweighted LS).

    Each round every hospital computes :func:`local_statistics` at the current coefficients;
    the coordinator sums them and solves ``H step = g``. Stops when the largest step is below
    ``tol``. The result equals the pooled maximum-likelihood fit, because the sums are exact.
    """
    if site_intercepts:
        partitions = with_site_intercepts(partitions)
    n_features = _check_partitions(partitions)
    max_rounds = _positive_int("max_rounds", max_rounds)
    if not isinstance(tol, numbers.Real) or not tol > 0:
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    return newton_rounds(
        lambda w: [local_statistics(w, X, y) for X, y in partitions], n_features,
        max_rounds=max_rounds, tol=tol,
    )


def newton_rounds(
    statistics: Callable[[np.ndarray], Sequence[LocalStatistics]],
    n_features: int,
    *,
    max_rounds: int = 25,
    tol: float = 1e-10,
) -> NewtonResult:
    """The coordinator's loop: ask every site for ``statistics(w)``, sum, take a Newton step.

    ``statistics`` stands for the network: in process it calls each partition, in a network
    study each site's node (:mod:`.network_study`).
    """
    w = np.zeros(n_features)
    history = [w]
    for round_ in range(1, max_rounds + 1):
        stats = statistics(w)
        gradient = sum(s.gradient for s in stats)
        hessian = sum(s.hessian for s in stats)
        try:
            step = np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError as err:
            raise ValueError(
                "the pooled model cannot be fitted: the columns are collinear or the outcome is "
                "perfectly separated"
            ) from err
        w = w + step
        history.append(w)
        if np.max(np.abs(step)) < tol:
            final = statistics(w)
            return NewtonResult(
                history=np.asarray(history),
                covariance=np.linalg.inv(sum(s.hessian for s in final)),
                log_likelihood=float(sum(s.log_likelihood for s in final)),
                rounds=round_,
            )
    raise ValueError(f"federated Newton did not converge in {max_rounds} rounds")


@dataclass(frozen=True)
class MetaAnalysis:
    """Fixed- and random-effects pooling of per-site estimates of one coefficient."""

    fixed: float
    fixed_se: float
    random: float
    random_se: float
    tau2: float  # between-site variance (DerSimonian-Laird)
    q: float  # Cochran's Q
    i2: float  # share of the variation due to heterogeneity, 0 to 1
    k: int


def meta_analysis(estimates: Sequence[float], standard_errors: Sequence[float]) -> MetaAnalysis:
    """Inverse-variance fixed effect and DerSimonian-Laird random effects, with Q and I².

    ``I² = max(0, (Q - (k - 1)) / Q)`` (Higgins and Thompson 2002).
    """
    b = np.asarray(estimates, dtype=float)
    se = np.asarray(standard_errors, dtype=float)
    if b.ndim != 1 or b.shape != se.shape or len(b) < 2:
        raise ValueError("need one standard error per estimate, and at least two sites")
    if not (np.all(np.isfinite(b)) and np.all(np.isfinite(se)) and np.all(se > 0)):
        raise ValueError("estimates must be finite and standard errors finite and positive")
    w = 1 / se**2
    fixed = float(np.sum(w * b) / np.sum(w))
    q = float(np.sum(w * (b - fixed) ** 2))
    k = len(b)
    c = float(np.sum(w) - np.sum(w**2) / np.sum(w))
    tau2 = max(0.0, (q - (k - 1)) / c)
    w_star = 1 / (se**2 + tau2)
    random = float(np.sum(w_star * b) / np.sum(w_star))
    i2 = max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0
    return MetaAnalysis(
        fixed=fixed,
        fixed_se=float(np.sqrt(1 / np.sum(w))),
        random=random,
        random_se=float(np.sqrt(1 / np.sum(w_star))),
        tau2=tau2,
        q=q,
        i2=i2,
        k=k,
    )


def site_estimates(partitions: Sequence[Partition]) -> tuple[np.ndarray, np.ndarray]:
    """Each site's own fit: coefficients and standard errors, one row per site."""
    _check_partitions(partitions)
    coefficients, errors = [], []
    for X, y in partitions:
        result = federated_newton([(X, y)])
        coefficients.append(result.coefficients)
        errors.append(result.standard_errors)
    return np.asarray(coefficients), np.asarray(errors)


def fedprox(
    partitions: Sequence[Partition],
    *,
    mu: float,
    rounds: int = 20,
    local_epochs: int = 1,
    learning_rate: float = 1.0,
) -> FedAvgResult:
    """FedProx: FedAvg whose local objective adds ``mu / 2 * ||w - w_global||²``.

    With ``mu = 0`` it is FedAvg. A larger ``mu`` keeps the local models closer to the global
    one, which limits client drift when hospitals differ.
    """
    n_features = _check_partitions(partitions)
    rounds = _positive_int("rounds", rounds)
    local_epochs = _positive_int("local_epochs", local_epochs)
    if not isinstance(mu, numbers.Real) or not mu >= 0:
        raise ValueError(f"mu must be a non-negative number, got {mu!r}")
    if not isinstance(learning_rate, numbers.Real) or not learning_rate > 0:
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
    if learning_rate * mu >= 1:
        raise ValueError(
            f"learning_rate * mu must be below 1, got {learning_rate * mu:g}: the proximal step "
            "would overshoot the global model and the local training diverges"
        )
    w = np.zeros(n_features)
    counts = [len(y) for _, y in partitions]
    history = [w]
    for _ in range(rounds):
        local = []
        for X, y in partitions:
            v = w.copy()
            for _ in range(local_epochs):
                v -= learning_rate * (X.T @ (_sigmoid(X @ v) - y) / len(y) + mu * (v - w))
            local.append(v)
        w = fedavg_aggregate(local, counts)
        history.append(w)
    return FedAvgResult(history=np.asarray(history), num_examples=tuple(counts))
