"""Tests for healthdatalab.membership: the attacks find leaks where leaks exist, not elsewhere."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from healthdatalab import federation as fed
from healthdatalab.cohort import generate_cohort
from healthdatalab.dp_synthesis import COHORT_DOMAIN
from healthdatalab.membership import (
    _distance_to_target,
    attribute_inference_model,
    attribute_inference_synthetic,
    most_isolated,
    shadow_attack_generator,
    shadow_attack_model,
)

COLUMNS = list(COHORT_DOMAIN)


@pytest.fixture(scope="module")
def population() -> pd.DataFrame:
    return generate_cohort(2_000, seed=8)[COLUMNS]


def copier(train: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """A 'generator' that releases its training rows: the attack must catch it."""
    return train.sample(frac=1.0, random_state=int(rng.integers(2**31))).reset_index(drop=True)


def test_most_isolated_finds_a_planted_outlier(population):
    odd = population.iloc[[0]].assign(age=99, bmi=49.5, systolic_bp=199.0, hba1c=99.0)
    table = pd.concat([population.iloc[1:300], odd.set_axis(["planted"])])
    assert most_isolated(table, COLUMNS, k=1).tolist() == ["planted"]


def test_shadow_attack_catches_a_copier(population):
    target, reference = population.iloc[[0]], population.iloc[1:]
    result = shadow_attack_generator(
        copier, reference, target, COHORT_DOMAIN, np.random.default_rng(0),
        n_train=60, shadow_runs=20, test_runs=20,
    )  # fmt: skip
    assert result.auc >= 0.95 and result.distance_auc >= 0.95


def test_distance_to_target_is_in_each_columns_own_units(population):
    """What the attack's distance feature is, stated and pinned.

    It used to come from ``distance_to_closest_record(synthetic, target)``: the Gower distance
    with the one-row target as the reference, whose ranges (all 0, replaced by 1) left every
    numeric column in its own units. The code now says so; the values are the same.
    """
    from healthdatalab.synthesis import distance_to_closest_record

    target, reference = population.iloc[[0]], population.iloc[1:]
    older = target.assign(age=target["age"] + 18, sex="F" if target["sex"].iloc[0] == "M" else "M")
    synthetic = pd.concat([older, target, reference.iloc[:300]], ignore_index=True)
    distances = _distance_to_target(synthetic, target, COHORT_DOMAIN)
    assert distances[:2] == pytest.approx([(18 + 1) / len(COLUMNS), 0.0])
    legacy = distance_to_closest_record(synthetic, target, COLUMNS)
    assert distances == pytest.approx(legacy)


def test_shadow_attack_is_near_chance_on_a_generator_that_ignores_its_data(population):
    public = population.iloc[1000:]

    def ignore(train, rng):
        return public.sample(60, random_state=int(rng.integers(2**31))).reset_index(drop=True)

    target, reference = population.iloc[[0]], population.iloc[1:1000]
    result = shadow_attack_generator(
        ignore, reference, target, COHORT_DOMAIN, np.random.default_rng(1),
        n_train=60, shadow_runs=20, test_runs=40,
    )  # fmt: skip
    assert 0.2 <= result.auc <= 0.8


def test_shadow_attack_checks_its_input(population):
    with pytest.raises(ValueError, match="one-row"):
        shadow_attack_generator(copier, population, population.iloc[:2], COHORT_DOMAIN,
                                np.random.default_rng(0))  # fmt: skip
    with pytest.raises(ValueError, match="n_train"):
        shadow_attack_generator(copier, population.iloc[1:10], population.iloc[[0]],
                                COHORT_DOMAIN, np.random.default_rng(0))  # fmt: skip
    with pytest.raises(TypeError, match="Generator"):
        shadow_attack_generator(copier, population, population.iloc[[0]], COHORT_DOMAIN, 0)


def _arrays(table):
    x, y = fed.to_arrays(table)
    return x[:, 1:], y.astype(int)


def test_model_attack_separates_an_overfitted_forest_from_a_logistic_regression():
    cohort = generate_cohort(1_800, seed=9)
    members, non_members, attacker = (_arrays(cohort.iloc[i::3]) for i in range(3))
    forest = shadow_attack_model(
        lambda: RandomForestClassifier(n_estimators=50, random_state=0),
        members, non_members, attacker, np.random.default_rng(0), shadow_models=2,
    )  # fmt: skip
    logistic = shadow_attack_model(
        lambda: LogisticRegression(max_iter=1000),
        members, non_members, attacker, np.random.default_rng(0), shadow_models=2,
    )  # fmt: skip
    assert forest.auc > 0.6 and forest.loss_auc > 0.6
    assert logistic.auc < 0.58 and logistic.loss_auc < 0.58


def test_model_attack_checks_its_input():
    x, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="same number"):
        shadow_attack_model(LogisticRegression, (x, y), (x[:2], y[:2]), (x, y),
                            np.random.default_rng(0))  # fmt: skip


def test_attribute_inference_gains_from_a_copier(population):
    members, non_members, others = (
        population.iloc[:400],
        population.iloc[400:800],
        population.iloc[800:],
    )
    known = [c for c in COLUMNS if c != "smoking"]
    result = attribute_inference_synthetic(
        copier(members, np.random.default_rng(0)), members, non_members, others,
        "smoking", known, COHORT_DOMAIN,
    )  # fmt: skip
    assert result["members"] > result["non-members"] + 0.15
    with pytest.raises(ValueError, match="must not also be known"):
        attribute_inference_synthetic(members, members, non_members, others, "smoking",
                                      ["smoking"], COHORT_DOMAIN)  # fmt: skip


def test_attribute_inference_model_uses_the_outcome():
    cohort = generate_cohort(3_000, seed=10)
    x, y = _arrays(cohort)
    smoking = list(fed.FEATURES[1:]).index("smoking")
    model = LogisticRegression(max_iter=1000).fit(x, y)
    auc = attribute_inference_model(model, x, y, smoking)
    assert 0.5 < auc < 0.7  # the outcome says a little about smoking, not much
    with pytest.raises(ValueError, match="both values"):
        attribute_inference_model(model, x[y == 1][:1], y[y == 1][:1], smoking)
