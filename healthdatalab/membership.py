"""Membership and attribute inference: attacks on synthetic data and on trained models.

Two questions an attacker asks about a person whose record they already know in part:

* **membership**: was this record used to fit the generator or the model?
* **attribute**: what is this person's sensitive value (here: smoking)?

Each attack returns an ROC AUC over many trials, next to a baseline, so that "the attack does
no better than chance" can be checked and not assumed.

Against a **generator** (Stadler, Oprisanu and Troncoso 2022): the attacker holds a reference
sample of the population and the target record. They fit the generator many times themselves
("shadow" runs), half of the time with the target in the training data, compute features of
each synthetic table that look at the target (how many synthetic rows share the target's
values, one column and two columns at a time; how many are at least as extreme as the target;
the distance to the closest synthetic row, see :func:`_distance_to_target`), and train a
classifier to tell "in" from "out".
The AUC is measured on fresh runs. The baseline is the distance-to-closest-record attack on
the same runs. Outliers are the targets that leak most, so :func:`most_isolated` picks them.

Against a **trained model** (Shokri et al. 2017): shadow models trained on the attacker's own
data, with known members, teach an attack classifier what the target model's confidence
looks like on members and non-members. The baseline is the loss-threshold attack (Yeom et
al. 2018), which needs no shadow model.

**Attribute inference** against synthetic data: predict the target's sensitive value from the
synthetic rows closest to it on the attributes the attacker knows; compare the AUC on members
with the AUC on non-members (the gain from being in the training data), and with the same
attack run on real population data (what anyone can infer anyway). Against a model: compare
how well the model's output for the target's known outcome explains each sensitive value.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

from healthdatalab.dp_synthesis import Bins, Categories, encode
from healthdatalab.synthesis import _prepare

__all__ = [
    "GeneratorAttack",
    "ModelAttack",
    "attribute_inference_synthetic",
    "attribute_inference_model",
    "most_isolated",
    "shadow_attack_generator",
    "shadow_attack_model",
]

Generator = Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame]


def _check_rng(rng: object) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy Generator")
    return rng


def _check_count(value: object, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}")
    return int(value)


def most_isolated(table: pd.DataFrame, columns: Sequence[str], k: int = 1) -> pd.Index:
    """Index labels of the ``k`` rows farthest (Gower distance) from every other row."""
    k = _check_count(k, "k", 1)
    if len(table) < k + 1:
        raise ValueError("the table needs more rows than k")
    encoded, p, _ = _prepare({"table": table}, "table", list(columns))
    index = NearestNeighbors(n_neighbors=2, metric="manhattan").fit(encoded["table"])
    distances = index.kneighbors(encoded["table"])[0][:, 1] / p  # [:, 0] is the row itself
    return table.index[np.argsort(-distances, kind="stable")[:k]]


# --------------------------------------------------------------------------- generators


def _target_features(
    synthetic: pd.DataFrame,
    target: pd.DataFrame,
    target_codes: pd.Series,
    domain: Mapping[str, Bins | Categories],
    windows: Mapping[str, tuple[float, float]],
) -> np.ndarray:
    """What a synthetic table says about one target record (see the module docstring).

    ``target_codes`` is ``encode(target, domain).iloc[0]``, computed once per attack.
    """
    codes = encode(synthetic, domain)
    match = {c: (codes[c].to_numpy() == target_codes[c]) for c in domain}
    features = [match[c].mean() for c in domain]
    features += [(match[a] & match[b]).mean() for a, b in combinations(domain, 2)]
    features.append(np.logical_and.reduce(list(match.values())).mean())
    for column, (low, high) in windows.items():
        values = synthetic[column].to_numpy(float)
        features.append(np.mean((values >= low) & (values <= high)))
    distances = _distance_to_target(synthetic, target, domain)
    # The closest row, and the share of near-copies (within 0.02, 0.05, 0.1 of the target).
    features += [distances.min(), *(np.mean(distances <= r) for r in (0.02, 0.05, 0.1))]
    return np.asarray(features, dtype=float)


def _distance_to_target(
    synthetic: pd.DataFrame, target: pd.DataFrame, domain: Mapping[str, Bins | Categories]
) -> np.ndarray:
    """Distance from each synthetic row to the target: the mean over the columns of the
    absolute difference of a numeric column, in its own units, and 1 for a categorical mismatch.

    Unscaled on purpose: the columns with wide ranges (blood pressure, HbA1c) weigh most, and
    against the copula's extreme outlier this separated "in" from "out" better than the Gower
    distance with each column scaled by its range in the reference sample (baseline AUC 0.82
    against 0.58 in the same seeded run of notebooks/membership_inference.md, 20 + 20 test
    runs). The thresholds 0.02, 0.05 and 0.1 therefore count rows that match the target's
    numeric values almost exactly.
    """
    parts = []
    for column, spec in domain.items():
        value = target[column].iloc[0]
        if isinstance(spec, Bins):
            parts.append(np.abs(synthetic[column].to_numpy(float) - float(value)))
        else:
            parts.append((synthetic[column].astype(object).to_numpy() != value).astype(float))
    return np.mean(parts, axis=0)


def _windows(target: pd.DataFrame, reference: pd.DataFrame, columns: list[str]) -> dict:
    """Per numeric column, the values closer to the target's than to any reference value."""
    windows = {}
    for column in columns:
        value = float(target[column].iloc[0])
        known = reference[column].to_numpy(float)
        below, above = known[known < value], known[known > value]
        low = (value + below.max()) / 2 if len(below) else -np.inf
        high = (value + above.min()) / 2 if len(above) else np.inf
        windows[column] = (low, high)
    return windows


@dataclass(frozen=True)
class GeneratorAttack:
    """Result of :func:`shadow_attack_generator` for one target."""

    auc: float  #: the shadow-model attack on fresh runs
    distance_auc: float  #: baseline: minus the distance to the closest synthetic row
    test_runs: int


def shadow_attack_generator(
    generate: Generator,
    reference: pd.DataFrame,
    target: pd.DataFrame,
    domain: Mapping[str, Bins | Categories],
    rng: np.random.Generator,
    *,
    n_train: int = 200,
    shadow_runs: int = 40,
    test_runs: int = 30,
) -> GeneratorAttack:
    """Membership of one ``target`` row in the training data of ``generate``.

    ``generate(train, rng)`` must fit a generator on ``train`` and return a synthetic table.
    Every run draws ``n_train`` rows from ``reference`` (the attacker's sample of the
    population, which must not contain the target); in half the runs one of them is replaced
    by the target. A random forest learns "in" from the features of ``shadow_runs`` runs and
    scores ``test_runs`` fresh ones.
    """
    rng = _check_rng(rng)
    n_train = _check_count(n_train, "n_train", 2)
    shadow_runs = _check_count(shadow_runs, "shadow_runs", 4)
    test_runs = _check_count(test_runs, "test_runs", 4)
    if not isinstance(target, pd.DataFrame) or len(target) != 1:
        raise ValueError("target must be a one-row DataFrame")
    if len(reference) < n_train:
        raise ValueError("reference must hold at least n_train rows")
    numeric = [c for c, spec in domain.items() if isinstance(spec, Bins)]
    windows = _windows(target, reference, numeric)
    target_codes = encode(target, domain).iloc[0]
    features, labels = [], []
    runs = shadow_runs + test_runs
    for run in range(runs):
        member = run % 2 == 0
        rows = rng.choice(len(reference), size=n_train, replace=False)
        train = reference.iloc[rows]
        if member:
            train = pd.concat([train.iloc[1:], target], ignore_index=True)
        synthetic = generate(train.reset_index(drop=True), rng)
        features.append(_target_features(synthetic, target, target_codes, domain, windows))
        labels.append(int(member))
    x, y = np.vstack(features), np.asarray(labels)
    attack = RandomForestClassifier(n_estimators=100, min_samples_leaf=2, random_state=0)
    attack.fit(x[:shadow_runs], y[:shadow_runs])
    scores = attack.predict_proba(x[shadow_runs:])[:, 1]
    return GeneratorAttack(
        auc=float(roc_auc_score(y[shadow_runs:], scores)),
        distance_auc=float(roc_auc_score(y[shadow_runs:], -x[shadow_runs:, -4])),
        test_runs=test_runs,
    )


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class ModelAttack:
    """Result of :func:`shadow_attack_model`."""

    auc: float  #: shadow-model attack, all members against all non-members
    loss_auc: float  #: baseline: the loss-threshold attack (confidence on the true label)
    outlier_auc: float  #: shadow-model attack restricted to the most isolated records
    outlier_loss_auc: float


def _confidence_features(model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    p = model.predict_proba(x)[:, 1]
    p_true = np.where(y == 1, p, 1 - p)
    return np.column_stack([p_true, y])


def shadow_attack_model(
    make_model: Callable[[], object],
    members: tuple[np.ndarray, np.ndarray],
    non_members: tuple[np.ndarray, np.ndarray],
    attacker: tuple[np.ndarray, np.ndarray],
    rng: np.random.Generator,
    *,
    shadow_models: int = 4,
    outliers: np.ndarray | None = None,
) -> ModelAttack:
    """Membership inference against a classifier trained on ``members`` (Shokri et al.).

    ``make_model()`` returns a fresh, unfitted scikit-learn classifier with ``predict_proba``;
    the same recipe trains the target model on ``members`` and each shadow model on a random
    half of the attacker's data. ``outliers`` is a boolean mask over the members followed by
    the non-members that marks the records to report separately.
    """
    rng = _check_rng(rng)
    shadow_models = _check_count(shadow_models, "shadow_models", 1)
    (xm, ym), (xn, yn), (xa, ya) = members, non_members, attacker
    if len(xm) != len(xn):
        raise ValueError("members and non_members must have the same number of rows")
    target = make_model().fit(xm, ym)
    features, labels = [], []
    for _ in range(shadow_models):
        order = rng.permutation(len(xa))
        half = len(xa) // 2
        inside, outside = order[:half], order[half : 2 * half]
        shadow = make_model().fit(xa[inside], ya[inside])
        features += [
            _confidence_features(shadow, xa[inside], ya[inside]),
            _confidence_features(shadow, xa[outside], ya[outside]),
        ]
        labels += [np.ones(half), np.zeros(half)]
    attack = RandomForestClassifier(n_estimators=200, min_samples_leaf=5, random_state=0)
    attack.fit(np.vstack(features), np.concatenate(labels))
    x_eval = np.vstack([_confidence_features(target, xm, ym), _confidence_features(target, xn, yn)])
    y_eval = np.r_[np.ones(len(xm)), np.zeros(len(xn))]
    scores = attack.predict_proba(x_eval)[:, 1]
    mask = np.zeros(len(y_eval), bool) if outliers is None else np.asarray(outliers, bool)
    if mask.shape != y_eval.shape:
        raise ValueError("outliers must mark every member and non-member, in that order")

    def auc(score: np.ndarray, where: np.ndarray) -> float:
        labels_here = y_eval[where]
        if len(set(labels_here)) < 2:
            return float("nan")
        return float(roc_auc_score(labels_here, score[where]))

    everyone = np.ones(len(y_eval), bool)
    return ModelAttack(
        auc=auc(scores, everyone),
        loss_auc=auc(x_eval[:, 0], everyone),
        outlier_auc=auc(scores, mask),
        outlier_loss_auc=auc(x_eval[:, 0], mask),
    )


# --------------------------------------------------------------------------- attributes


def _knn_share(
    source: pd.DataFrame,
    targets: pd.DataFrame,
    known: list[str],
    sensitive: str,
    domain: Mapping[str, Bins | Categories],
    k: int,
) -> np.ndarray:
    """Share of sensitive = 1 among the k rows of ``source`` closest to each target."""
    known_domain = {c: domain[c] for c in known}
    a = encode(source, known_domain).to_numpy(float)
    b = encode(targets, known_domain).to_numpy(float)
    index = NearestNeighbors(n_neighbors=min(k, len(a)), metric="hamming").fit(a)
    neighbours = index.kneighbors(b, return_distance=False)
    values = source[sensitive].to_numpy(float)
    return values[neighbours].mean(axis=1)


def attribute_inference_synthetic(
    synthetic: pd.DataFrame,
    members: pd.DataFrame,
    non_members: pd.DataFrame,
    population: pd.DataFrame,
    sensitive: str,
    known: Sequence[str],
    domain: Mapping[str, Bins | Categories],
    *,
    k: int = 5,
) -> dict[str, float]:
    """AUC of guessing a 0/1 ``sensitive`` column from the ``k`` nearest synthetic rows.

    Returns the AUC on ``members`` (rows the generator was fitted on), on ``non_members``, and
    the baseline: the same attack on the members with ``population`` rows (real people who
    are not the targets) in place of the synthetic ones, which is what one could infer anyway.
    """
    known = list(known)
    if sensitive in known:
        raise ValueError("the sensitive column must not also be known to the attacker")
    k = _check_count(k, "k", 1)
    result = {}
    for name, targets, source in (
        ("members", members, synthetic),
        ("non-members", non_members, synthetic),
        ("baseline (population data)", members, population),
    ):
        truth = targets[sensitive].to_numpy(int)
        if len(set(truth)) < 2:
            raise ValueError("each group of targets needs both values of the sensitive column")
        scores = _knn_share(source, targets, known, sensitive, domain, k)
        result[name] = float(roc_auc_score(truth, scores))
    return result


def attribute_inference_model(
    model,
    x: np.ndarray,
    y: np.ndarray,
    column: int,
) -> float:
    """AUC of guessing a 0/1 feature ``column`` of ``x`` from a model and the known outcome.

    For each record the attacker knows every other feature and the outcome ``y``; they score
    "the value is 1" by how much more likely the model says the observed outcome is with the
    value 1 than with 0 (the log-likelihood ratio; a prior would shift every score equally
    and leave the AUC unchanged).
    """
    x = np.asarray(x, dtype=float)
    one, zero = x.copy(), x.copy()
    one[:, column], zero[:, column] = 1.0, 0.0
    p1, p0 = model.predict_proba(one)[:, 1], model.predict_proba(zero)[:, 1]
    likelihood1 = np.where(y == 1, p1, 1 - p1)
    likelihood0 = np.where(y == 1, p0, 1 - p0)
    scores = np.log(likelihood1 + 1e-12) - np.log(likelihood0 + 1e-12)
    truth = x[:, column].astype(int)
    if len(set(truth)) < 2:
        raise ValueError("the records need both values of the sensitive feature")
    return float(roc_auc_score(truth, scores))
