"""The synthetic cohort: reproducible, well formed, faithful to its published model."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from healthdatalab.cohort import (
    COLUMNS,
    DIAGNOSES,
    REFERENCE_DATE,
    TRUE_COEFFICIENTS,
    generate_cohort,
    is_valid_bsn,
    make_register,
    outcome_features,
    random_bsns,
)


@pytest.fixture(scope="module")
def cohort():
    return generate_cohort(20_000, seed=11)


def test_same_seed_same_table_other_seed_other_table():
    a = generate_cohort(500, seed=3)
    pd.testing.assert_frame_equal(a, generate_cohort(500, seed=3))
    assert not a["bsn"].equals(generate_cohort(500, seed=4)["bsn"])


def test_columns_and_types(cohort):
    assert tuple(cohort.columns) == COLUMNS
    assert cohort["patient_id"].is_unique
    assert cohort["bsn"].is_unique
    assert cohort["postcode"].str.fullmatch(r"[1-9]\d{3}").all()
    assert set(cohort["sex"]) == {"F", "M"}
    assert set(cohort["diagnosis"]) <= set(DIAGNOSES)
    assert set(cohort["smoking"]) == {0, 1} and set(cohort["outcome"]) == {0, 1}
    assert cohort.notna().all().all()


def test_every_bsn_passes_the_eleven_test(cohort):
    assert all(is_valid_bsn(b) for b in cohort["bsn"])


def test_age_agrees_with_date_of_birth(cohort):
    dob = pd.DatetimeIndex(cohort["date_of_birth"])
    # Recompute age the slow, obvious way on a sample.
    for birth, age in zip(dob[:300], cohort["age"][:300], strict=True):
        had = (birth.month, birth.day) <= (REFERENCE_DATE.month, REFERENCE_DATE.day)
        assert age == REFERENCE_DATE.year - birth.year - (0 if had else 1)
    assert cohort["age"].between(18, 99).all()


def test_hospitals_have_different_case_mixes(cohort):
    by = cohort.groupby("hospital")[["age", "smoking"]].mean()
    assert list(by.index) == ["Hospital A", "Hospital B", "Hospital C"]
    assert by["age"].max() - by["age"].min() > 10
    assert by["smoking"].max() - by["smoking"].min() > 0.08
    # Catchment areas: each hospital's most common postcodes lie in its own range.
    first_digit = cohort["postcode"].str[0].astype(int)
    assert (first_digit[cohort["hospital"] == "Hospital A"] <= 3).mean() > 0.85


def test_outcome_model_recovers_true_coefficients():
    """A plain logistic regression on a large cohort finds the published coefficients."""
    from sklearn.linear_model import LogisticRegression

    big = generate_cohort(200_000, seed=5)
    features = outcome_features(big)
    model = LogisticRegression(C=1e6, max_iter=1000).fit(features, big["outcome"])
    estimated = dict(zip(features.columns, model.coef_[0], strict=True))
    for name, value in estimated.items():
        assert value == pytest.approx(TRUE_COEFFICIENTS[name], abs=0.06), name
    assert model.intercept_[0] == pytest.approx(TRUE_COEFFICIENTS["intercept"], abs=0.06)


def test_register_contains_most_patients_and_others(cohort):
    register = make_register(cohort, seed=1, coverage=0.8, extra=0.5)
    assert list(register.columns) == ["name", "date_of_birth", "postcode"]
    key = ["name", "date_of_birth", "postcode"]
    listed = cohort[key].merge(register.drop_duplicates(), on=key, how="inner")
    assert 0.75 < len(listed) / len(cohort) < 0.85
    assert len(register) == pytest.approx(0.8 * len(cohort) + 0.5 * len(cohort), rel=0.03)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n": 0}, ValueError, "n must be between"),
        ({"n": -5}, ValueError, "n must be between"),
        ({"n": 10.5}, TypeError, "n must be an integer"),
        ({"n": 100, "seed": 1.5}, TypeError, "seed must be an integer"),
        ({"n": 100, "seed": "1"}, TypeError, "seed must be an integer"),
        ({"n": 100, "seed": True}, TypeError, "seed must be an integer"),
        ({"n": 100, "hospitals": 0}, ValueError, "hospitals must be between"),
        ({"n": 100, "columns": ["age", "blood_group"]}, ValueError, "blood_group"),
        ({"n": 100, "columns": "age"}, TypeError, "list of column names"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        generate_cohort(**kwargs)


def test_register_bad_arguments():
    small = generate_cohort(100)
    with pytest.raises(KeyError, match="postcode"):
        make_register(small.drop(columns="postcode"))
    with pytest.raises(ValueError, match="coverage"):
        make_register(small, coverage=1.5)
    with pytest.raises(ValueError, match="non-empty"):
        make_register(small.iloc[:0])


@pytest.mark.parametrize("text", ["111222333", "123456782", "000000061"])
def test_known_valid_bsns(text):
    assert is_valid_bsn(text)


@pytest.mark.parametrize(
    "text",
    [
        "123456789",
        "000000000",
        "12345678",
        "1234567820",
        "12345678a",
        123456782,
        None,
        "１２３４５６７８２",
    ],
)
def test_invalid_bsns(text):
    assert not is_valid_bsn(text)


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=2_000), st.integers(min_value=0, max_value=2**32))
@example(n=1262, seed=1412)  # once drew 8 leading digits whose weighted sum is below 11
def test_random_bsns_are_distinct_and_valid(n, seed):
    bsns = random_bsns(n, np.random.default_rng(seed))
    assert len(bsns) == n == len(set(bsns))
    assert all(is_valid_bsn(b) for b in bsns)


@settings(max_examples=30, deadline=None)
@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_eleven_test_matches_its_definition(text):
    total = sum(w * int(d) for w, d in zip([9, 8, 7, 6, 5, 4, 3, 2, -1], text, strict=True))
    assert is_valid_bsn(text) == (total > 0 and total % 11 == 0)


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.integers(min_value=1, max_value=8))
def test_any_size_and_hospital_count(n, hospitals):
    cohort = generate_cohort(n, seed=n, hospitals=hospitals)
    assert len(cohort) == n
    assert cohort["hospital"].nunique() <= hospitals
    assert cohort.notna().all().all()


def test_outcome_features_refuse_an_unknown_sex():
    # The old code counted every value other than "M" (a lower-case "m", a missing value) as
    # female, silently shifting the outcome model.
    small = generate_cohort(20, seed=2)
    features = outcome_features(small)
    assert set(features["male"]) <= {0.0, 1.0}
    for odd in ("m", None, "X"):
        changed = small.astype({"sex": object})
        changed.loc[changed.index[0], "sex"] = odd
        with pytest.raises(ValueError, match="sex must be 'M' or 'F'"):
            outcome_features(changed)
