"""Tests for healthdatalab.synthesis: the copula generator and the evaluation measures."""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthdatalab import synthesis
from healthdatalab.synthesis import (
    GaussianCopulaSynthesizer,
    closer_to_training_share,
    correlation_difference,
    distance_to_closest_record,
    exact_copies,
    marginal_distances,
    membership_inference_auc,
    utility_auc,
)


def make_table(n: int, seed: int) -> pd.DataFrame:
    """A small cohort-like table: correlated numbers, categories and a logistic outcome."""
    rng = np.random.default_rng(seed)
    age = rng.integers(20, 90, n)
    bmi = np.round(22 + 0.08 * (age - 50) + rng.normal(0, 3, n), 1)
    sex = rng.choice(["F", "M"], n)
    diagnosis = rng.choice(["E11", "I10", "J44", "K21"], n, p=[0.4, 0.3, 0.2, 0.1])
    logit = -1 + 0.06 * (age - 55) + 0.1 * (bmi - 25) + 0.5 * (sex == "M")
    outcome = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "age": age,
            "sex": pd.Series(sex, dtype="string"),
            "diagnosis": pd.Series(diagnosis, dtype="string"),
            "bmi": bmi,
            "outcome": outcome,
        }
    )


@pytest.fixture(scope="module")
def split():
    table = make_table(1200, seed=1)
    return table.iloc[:600].reset_index(drop=True), table.iloc[600:].reset_index(drop=True)


@pytest.fixture(scope="module")
def synthetic(split):
    train, _ = split
    return GaussianCopulaSynthesizer().fit(train).sample(600, np.random.default_rng(2))


# --------------------------------------------------------------------------- generator


def test_sample_has_the_requested_size_columns_and_types(split, synthetic):
    train, _ = split
    assert synthetic.shape == (600, train.shape[1])
    assert list(synthetic.columns) == list(train.columns)
    assert (synthetic.dtypes == train.dtypes).all()
    assert set(synthetic["diagnosis"]) <= set(train["diagnosis"])
    assert synthetic["age"].between(train["age"].min(), train["age"].max()).all()
    # BMI keeps one decimal, as in the training data
    assert np.allclose(synthetic["bmi"], synthetic["bmi"].round(1))


def test_same_seed_same_sample(split):
    model = GaussianCopulaSynthesizer().fit(split[0])
    a = model.sample(50, np.random.default_rng(9))
    b = model.sample(50, np.random.default_rng(9))
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(model.sample(50, np.random.default_rng(10)))


def test_marginals_and_correlation_are_kept(split, synthetic):
    train, _ = split
    distances = marginal_distances(train, synthetic)
    assert distances.loc["diagnosis", "measure"] == "total variation"
    assert distances.loc["bmi", "measure"] == "Kolmogorov-Smirnov"
    assert (distances["distance"] < 0.1).all(), distances
    real_corr = train[["age", "bmi"]].corr().iloc[0, 1]
    assert real_corr > 0.2
    difference = correlation_difference(train, synthetic)
    assert abs(difference.loc["age", "bmi"]) < 0.1


def test_an_independent_generator_loses_the_correlation(split):
    train, _ = split
    rng = np.random.default_rng(0)
    shuffled = train.apply(lambda col: col.sample(frac=1, random_state=rng).to_numpy())
    difference = correlation_difference(train, shuffled)
    assert abs(difference.loc["age", "bmi"]) > 0.2


def test_categorical_option_treats_a_numeric_column_as_categories(split):
    train, _ = split
    model = GaussianCopulaSynthesizer(categorical=["outcome"]).fit(train)
    assert model.marginals_["outcome"]["kind"] == "categorical"
    sample = model.sample(200, np.random.default_rng(0))
    assert set(sample["outcome"]) <= {0, 1}


def test_constant_column_is_reproduced(split):
    train = split[0].assign(country="NL")
    sample = GaussianCopulaSynthesizer().fit(train).sample(30, np.random.default_rng(0))
    assert (sample["country"] == "NL").all()


def test_generator_bad_input(split):
    train, _ = split
    with pytest.raises(TypeError, match="DataFrame"):
        GaussianCopulaSynthesizer().fit(train.to_numpy())
    with pytest.raises(ValueError, match="empty"):
        GaussianCopulaSynthesizer().fit(train.iloc[:0])
    with_nan = train.copy()
    with_nan.loc[0, "bmi"] = np.nan
    with pytest.raises(ValueError, match="missing values"):
        GaussianCopulaSynthesizer().fit(with_nan)
    with pytest.raises(KeyError, match="weight"):
        GaussianCopulaSynthesizer(categorical=["weight"]).fit(train)
    with pytest.raises(TypeError, match="dates"):
        GaussianCopulaSynthesizer().fit(train.assign(when=pd.Timestamp("2026-01-01")))
    with pytest.raises(RuntimeError, match="fit"):
        GaussianCopulaSynthesizer().sample(5, np.random.default_rng(0))
    model = GaussianCopulaSynthesizer().fit(train)
    with pytest.raises(ValueError, match="positive whole number"):
        model.sample(0, np.random.default_rng(0))
    with pytest.raises(TypeError, match="Generator"):
        model.sample(5, 0)


@settings(max_examples=25, deadline=None)
@given(
    n_train=st.integers(min_value=3, max_value=60),
    n_sample=st.integers(min_value=1, max_value=80),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_any_fit_samples_the_requested_shape_within_the_training_range(n_train, n_sample, seed):
    train = make_table(n_train, seed=seed % 1000)
    sample = GaussianCopulaSynthesizer().fit(train).sample(n_sample, np.random.default_rng(seed))
    assert sample.shape == (n_sample, train.shape[1])
    assert list(sample.columns) == list(train.columns)
    assert not sample.isna().any().any()
    for column in ("age", "bmi", "outcome"):
        assert sample[column].between(train[column].min(), train[column].max()).all()
    assert set(sample["sex"]) <= set(train["sex"])


# --------------------------------------------------------------------------- fidelity


def test_marginal_distances_known_values():
    real = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "c": ["a", "a", "b", "b"]})
    same = real.copy()
    shifted = pd.DataFrame({"x": [11.0, 12.0, 13.0, 14.0], "c": ["a", "a", "a", "c"]})
    assert (marginal_distances(real, same)["distance"] == 0).all()
    far = marginal_distances(real, shifted)["distance"]
    assert far["x"] == 1.0  # no overlap at all
    # shares a: 0.5 vs 0.75, b: 0.5 vs 0, c: 0 vs 0.25 -> (0.25 + 0.5 + 0.25) / 2
    assert far["c"] == pytest.approx(0.5)


def test_fidelity_bad_input(split, synthetic):
    train, _ = split
    with pytest.raises(KeyError, match="weight"):
        marginal_distances(train, synthetic, columns=["weight"])
    with pytest.raises(KeyError, match="synthetic"):
        marginal_distances(train, synthetic.drop(columns="bmi"))
    with pytest.raises(ValueError, match="two numeric"):
        correlation_difference(train, synthetic, columns=["bmi", "sex"])


# --------------------------------------------------------------------------- utility


def test_tstr_is_close_to_trtr_for_the_copula(split, synthetic):
    train, holdout = split
    features = ["age", "sex", "bmi", "diagnosis"]
    trtr = utility_auc(train, holdout, "outcome", features)
    tstr = utility_auc(synthetic, holdout, "outcome", features)
    assert trtr > 0.65
    assert abs(trtr - tstr) < 0.05


def test_random_labels_give_chance_auc(split):
    train, holdout = split
    noise = train.assign(outcome=np.random.default_rng(0).integers(0, 2, len(train)))
    auc = utility_auc(noise, holdout, "outcome", ["age", "bmi"])
    assert 0.35 < auc < 0.65


def test_utility_bad_input(split):
    train, holdout = split
    with pytest.raises(ValueError, match="one class"):
        utility_auc(train.assign(outcome=0), holdout, "outcome", ["age"])
    with pytest.raises(ValueError, match="0/1"):
        utility_auc(train.assign(outcome=train["outcome"] * 2), holdout, "outcome", ["age"])
    with pytest.raises(ValueError, match="must not also be a feature"):
        utility_auc(train, holdout, "outcome", ["age", "outcome"])
    with pytest.raises(KeyError, match="weight"):
        utility_auc(train, holdout, "outcome", ["weight"])
    with pytest.raises(TypeError, match="list"):
        utility_auc(train, holdout, "outcome", "age")


# --------------------------------------------------------------------------- privacy


def test_distance_to_closest_record_known_values():
    reference = pd.DataFrame({"x": [0.0, 10.0], "c": ["a", "b"]})
    query = pd.DataFrame({"x": [0.0, 5.0, 10.0], "c": ["a", "a", "a"]})
    # range of x is 10; Gower = (|dx| / 10 + mismatch) / 2
    np.testing.assert_allclose(
        distance_to_closest_record(query, reference), [0.0, 0.25, 0.5]
    )


def _gower_by_brute_force(query: pd.DataFrame, reference: pd.DataFrame) -> np.ndarray:
    """Every pair compared, straight from the definition (range of the reference)."""
    numeric = [c for c in reference.columns if pd.api.types.is_numeric_dtype(reference[c])]
    spread = (reference[numeric].max() - reference[numeric].min()).replace(0, 1.0)
    q, r = query.reset_index(drop=True), reference.reset_index(drop=True)
    best = []
    for i in range(len(q)):
        d = sum((r[c] - q.at[i, c]).abs() / spread[c] for c in numeric)
        d = d + sum((r[c] != q.at[i, c]).astype(float) for c in r.columns if c not in numeric)
        best.append(d.min() / len(r.columns))
    return np.asarray(best)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10_000), far=st.booleans())
def test_distance_matches_every_pair_compared(seed, far):
    # The search looks among rows with the query's categories first and searches all rows
    # only when that match is farther than 1 or missing; it must equal the full comparison.
    # "far" moves queries out of range and gives them a category no reference row has.
    rng = np.random.default_rng(seed)
    reference = make_table(int(rng.integers(2, 60)), seed)
    query = make_table(int(rng.integers(1, 60)), seed + 1)
    if far:
        query.loc[::3, "age"] = query.loc[::3, "age"] + 500
        query.loc[1::3, "diagnosis"] = "Z99"
    numbers_only, categories_only = ["age", "bmi", "outcome"], ["sex", "diagnosis"]
    for grouped_from in (0, synthesis._GROUPED_SEARCH_FROM):  # the search by category, and not
        with patch.object(synthesis, "_GROUPED_SEARCH_FROM", grouped_from):
            for columns in (list(reference.columns), numbers_only, categories_only):
                np.testing.assert_allclose(
                    distance_to_closest_record(query[columns], reference[columns]),
                    _gower_by_brute_force(query[columns], reference[columns]),
                    rtol=0, atol=1e-12)


def test_the_copula_does_not_copy_and_resists_the_attack(split, synthetic):
    train, holdout = split
    # With five coarse columns some rows coincide by chance: a real patient who was not in
    # the training data matches a training row as often as a synthetic row does.
    chance = exact_copies(holdout, train)
    assert chance > 0
    assert exact_copies(synthetic, train) <= 2 * chance
    assert 0.4 < closer_to_training_share(synthetic, train, holdout) < 0.6
    assert membership_inference_auc(synthetic, train, holdout) < 0.6
    dcr_synthetic = distance_to_closest_record(synthetic, train)
    dcr_holdout = distance_to_closest_record(holdout, train)
    assert np.median(dcr_synthetic) >= 0.8 * np.median(dcr_holdout)


def test_the_checks_catch_a_leaky_generator(split):
    train, holdout = split
    rng = np.random.default_rng(4)
    leaky = train.assign(bmi=(train["bmi"] + rng.normal(0, 0.1, len(train))).round(1))
    # The copy looks perfect to the fidelity and utility checks ...
    assert (marginal_distances(train, leaky)["distance"] < 0.02).all()
    features = ["age", "sex", "bmi", "diagnosis"]
    trtr = utility_auc(train, holdout, "outcome", features)
    assert abs(utility_auc(leaky, holdout, "outcome", features) - trtr) < 0.01
    # ... and only the privacy checks catch it.
    assert exact_copies(leaky, train) > 100
    assert closer_to_training_share(leaky, train, holdout) > 0.9
    assert membership_inference_auc(leaky, train, holdout) > 0.9
    assert np.median(distance_to_closest_record(leaky, train)) < 0.01


def test_privacy_bad_input(split, synthetic):
    train, holdout = split
    with pytest.raises(ValueError, match="same number of rows"):
        closer_to_training_share(synthetic, train, holdout.iloc[:10])
    with pytest.raises(KeyError, match="weight"):
        membership_inference_auc(synthetic, train, holdout, columns=["weight"])
    with pytest.raises(TypeError, match="DataFrame"):
        distance_to_closest_record([1, 2], train)
    with_nan = synthetic.astype({"bmi": float}).copy()
    with_nan.loc[0, "bmi"] = np.nan
    with pytest.raises(ValueError, match="missing values"):
        distance_to_closest_record(with_nan, train)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(min_value=2, max_value=40),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_privacy_measures_are_consistent(n, seed):
    table = make_table(n, seed)
    # a table compared with itself: every row is an exact copy at distance 0
    assert np.all(distance_to_closest_record(table, table) == 0)
    assert exact_copies(table, table) == n
    other = make_table(n, seed + 1)
    dcr = distance_to_closest_record(other, table)
    assert np.all(dcr >= 0)
    share = closer_to_training_share(other, table, make_table(n, seed + 2))
    assert 0 <= share <= 1


def test_direct_identifiers_are_never_modelled():
    # The old generator fitted the BSN and name columns like any other: every sampled BSN was
    # a real patient's BSN. Direct identifiers are now dropped before fitting, always.
    from healthdatalab.cohort import generate_cohort
    from healthdatalab.synthesis import DIRECT_IDENTIFIERS

    cohort = generate_cohort(400, seed=3)
    train = cohort.drop(columns=["date_of_birth"])  # dates are refused; the rest is kept
    model = GaussianCopulaSynthesizer().fit(train)
    sample = model.sample(400, np.random.default_rng(0))
    assert {"patient_id", "bsn", "name", "street"} <= set(model.dropped_)
    assert not set(DIRECT_IDENTIFIERS) & set(sample.columns)
    assert not set(DIRECT_IDENTIFIERS) & set(model.columns_)
    custom = GaussianCopulaSynthesizer(direct_identifiers=["city"]).fit(train)
    assert "city" in custom.dropped_ and "city" not in custom.sample(5, np.random.default_rng(1))


def test_exact_copies_count_rows_with_missing_values():
    # The old count compared NaN with NaN (never equal) and missed copies that have a gap.
    train = pd.DataFrame({"age": [50.0, np.nan, 70.0], "sex": ["F", "M", None]})
    synthetic = pd.DataFrame({"age": [np.nan, 70.0, 71.0], "sex": ["M", None, "F"]})
    assert exact_copies(synthetic, train) == 2
