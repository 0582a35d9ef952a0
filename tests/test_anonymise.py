"""Tests for healthdatalab.anonymise: hierarchies, suppression and the k / l / t search."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycanon import anonymity as pycanon_anonymity

from healthdatalab import anonymise as an
from healthdatalab import risk

QIS = ["date_of_birth", "sex", "postcode"]


def small_cohort(n: int = 400, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dob = pd.Timestamp("1940-01-01") + pd.to_timedelta(rng.integers(0, 60 * 365, n), unit="D")
    return pd.DataFrame(
        {
            "date_of_birth": dob,
            "sex": rng.choice(["F", "M"], n),
            "postcode": rng.integers(1000, 10000, n).astype(str),
            "diagnosis": rng.choice(["E11", "I10", "J44", "C34", "F32"], n),
            "bmi": rng.normal(27, 4, n).round(0),
        },
        index=pd.RangeIndex(100, 100 + n),
    )


# --------------------------------------------------------------------------- hierarchies


def test_date_of_birth_hierarchy_levels():
    dates = pd.Series(pd.to_datetime(["1953-06-30", "1958-01-01", "1960-12-31"]),
                      name="date_of_birth")
    h = an.date_of_birth_hierarchy()
    assert h.height == 4
    assert h.generalise(dates, 0) is dates
    assert h.generalise(dates, 1).tolist() == [1953, 1958, 1960]
    assert h.generalise(dates, 2).tolist() == ["1950-1954", "1955-1959", "1960-1964"]
    assert h.generalise(dates, 3).tolist() == ["1950-1959", "1950-1959", "1960-1969"]
    assert h.generalise(dates, 4).tolist() == ["*", "*", "*"]
    with pytest.raises(ValueError, match="between 0 and 4"):
        h.generalise(dates, 5)
    with pytest.raises(TypeError, match="datetime64"):
        h.generalise(dates.astype(str), 1)


def test_postcode_sex_and_age_hierarchies():
    postcodes = pd.Series(["1234", "1299", "5678"], name="postcode", dtype="string")
    h = an.postcode_hierarchy()
    assert [h.generalise(postcodes, i).tolist() for i in range(1, 5)] == [
        ["123*", "129*", "567*"],
        ["12**", "12**", "56**"],
        ["1***", "1***", "5***"],
        ["*", "*", "*"],
    ]
    with pytest.raises(ValueError, match="4-digit postcodes.*'12A4'"):
        h.generalise(pd.Series(["1234", "12A4"], name="postcode"), 1)
    assert an.sex_hierarchy().generalise(pd.Series(["F", "M"]), 1).tolist() == ["*", "*"]
    ages = pd.Series([18, 44, 45, 99], name="age")
    age = an.age_hierarchy()
    assert age.level_names == ("age", "5-year band", "10-year band", "20-year band", "*")
    assert age.generalise(ages, 1).tolist() == ["15-19", "40-44", "45-49", "95-99"]
    assert age.generalise(ages, 3).tolist() == ["0-19", "40-59", "40-59", "80-99"]
    with pytest.raises(TypeError, match="numbers"):
        age.generalise(pd.Series(["18"], name="age"), 1)
    with pytest.raises(ValueError, match="widths"):
        an.age_hierarchy([5, 0])


def test_generalise_keeps_the_index_and_rejects_missing_values():
    s = pd.Series(["F", "M"], index=[7, 9], name="sex")
    assert an.sex_hierarchy().generalise(s, 1).index.tolist() == [7, 9]
    with pytest.raises(ValueError, match="'sex' has 1 missing"):
        an.sex_hierarchy().generalise(pd.Series(["F", None], name="sex"), 1)


def test_band_midpoint():
    values = pd.Series(["1950-1954", "40-44", "*", 1960], dtype=object)
    out = an.band_midpoint(values)
    assert out.iloc[:2].tolist() == [1952.0, 42.0]
    assert np.isnan(out.iloc[2])
    assert out.iloc[3] == 1960.0
    with pytest.raises(ValueError, match="'old'"):
        an.band_midpoint(pd.Series(["old"]))


def test_hierarchy_needs_matching_names():
    with pytest.raises(ValueError, match="one level name per generaliser"):
        an.Hierarchy(level_names=("a",), generalisers=(lambda s: s,))


# --------------------------------------------------------------------------- levels, suppression


def test_apply_levels_and_suppress():
    df = small_cohort(50)
    out = an.apply_levels(df, an.cohort_hierarchies(), {"date_of_birth": 1, "postcode": 2})
    assert out["date_of_birth"].tolist() == df["date_of_birth"].dt.year.tolist()
    assert out["postcode"].tolist() == [p[:2] + "**" for p in df["postcode"]]
    assert out["sex"].tolist() == df["sex"].tolist()
    assert df["postcode"].iloc[0].isdigit()  # the input is not changed
    coarse = an.apply_levels(df, an.cohort_hierarchies(), {"postcode": 3})
    kept = an.suppress(coarse, ["sex", "postcode"], 3)
    assert 0 < len(kept) < len(df)
    assert risk.k_anonymity(kept, ["sex", "postcode"]) >= 3
    sizes = risk.class_size_per_record(coarse, ["sex", "postcode"])
    assert kept.index.tolist() == df.index[sizes.to_numpy() >= 3].tolist()
    with pytest.raises(KeyError, match="bmi"):
        an.apply_levels(df, an.cohort_hierarchies(), {"bmi": 1})


def test_discernibility():
    assert an.discernibility(np.array([2, 2]), 0, 4) == pytest.approx(8 / 16)
    assert an.discernibility(np.array([3]), 1, 4) == pytest.approx((9 + 4) / 16)


# --------------------------------------------------------------------------- search


def test_anonymise_reaches_k_with_least_loss():
    df = small_cohort(2000)
    result = an.anonymise(df, an.cohort_hierarchies(), k=5, max_suppression=0.05)
    assert result.k >= 5
    assert risk.k_anonymity(result.data, QIS) == result.k
    assert pycanon_anonymity.k_anonymity(result.data, QIS) == result.k
    assert result.suppressed_share <= 0.05
    assert len(result.data) == len(df) - result.n_suppressed
    assert set(result.data.index) <= set(df.index)
    # The released values are the generalisation of the original ones at the chosen levels.
    expected = an.apply_levels(df.loc[result.data.index], an.cohort_hierarchies(),
                               result.levels)
    pd.testing.assert_frame_equal(result.data, expected)
    # No feasible candidate loses less information than the one chosen.
    feasible = result.candidates[result.candidates["feasible"]]
    assert feasible["precision_loss"].min() == pytest.approx(result.precision_loss)
    assert (result.candidates.loc[~result.candidates["feasible"], "suppressed"]
            > 0.05 * len(df)).all()


def test_anonymise_with_l_and_t_targets():
    df = small_cohort(3000)
    result = an.anonymise(df, an.cohort_hierarchies(), k=5, l=3, t=0.2,
                          sensitive="diagnosis", max_suppression=0.1)
    assert result.k >= 5 and result.l >= 3 and result.t <= 0.2 + 1e-12
    assert risk.l_diversity(result.data, QIS, "diagnosis") == result.l
    # pycanon looks classes up by position, so it needs a default 0 .. n-1 index.
    released = result.data.reset_index(drop=True)
    assert pycanon_anonymity.l_diversity(released, QIS, ["diagnosis"]) == result.l
    assert risk.t_closeness(result.data, QIS, "diagnosis") == pytest.approx(result.t)
    numeric = an.anonymise(df, an.cohort_hierarchies(), k=3, t=0.15, sensitive="bmi")
    assert risk.t_closeness(numeric.data, QIS, "bmi") <= 0.15 + 1e-12


def test_discernibility_objective_is_respected():
    df = small_cohort(1000)
    result = an.anonymise(df, an.cohort_hierarchies(), k=4, objective="discernibility")
    feasible = result.candidates[result.candidates["feasible"]]
    assert feasible["discernibility"].min() == pytest.approx(result.discernibility)


def test_anonymise_bad_input():
    df = small_cohort(30)
    h = an.cohort_hierarchies()
    with pytest.raises(ValueError, match="only 30 record"):
        an.anonymise(df, h, k=31)
    with pytest.raises(ValueError, match="only 5 distinct"):
        an.anonymise(df, h, k=2, l=6, sensitive="diagnosis")
    with pytest.raises(ValueError, match="sensitive="):
        an.anonymise(df, h, k=2, l=2)
    with pytest.raises(TypeError, match="k must be an integer"):
        an.anonymise(df, h, k=2.5)
    with pytest.raises(ValueError, match="max_suppression"):
        an.anonymise(df, h, k=2, max_suppression=1.0)
    with pytest.raises(ValueError, match="objective"):
        an.anonymise(df, h, k=2, objective="fastest")
    with pytest.raises(KeyError, match="street"):
        an.anonymise(df, {"street": an.sex_hierarchy()}, k=2)
    with pytest.raises(TypeError, match="not a Hierarchy"):
        an.anonymise(df, {"sex": ["F", "*"]}, k=2)
    broken = df.copy()
    broken.loc[broken.index[0], "postcode"] = None
    with pytest.raises(ValueError, match="'postcode'"):
        an.anonymise(broken, h, k=2)
    flat = {"postcode": an.Hierarchy(level_names=("postcode",), generalisers=())}
    with pytest.raises(ValueError, match="no combination of levels reaches k = 2"):
        an.anonymise(df, flat, k=2, max_suppression=0.0)


# --------------------------------------------------------------------------- properties

records = st.lists(
    st.tuples(
        st.dates(dt.date(1950, 1, 1), dt.date(1959, 12, 31)),
        st.sampled_from(["F", "M"]),
        st.sampled_from(["1011", "1012", "1099", "2011", "3500", "9999"]),
        st.sampled_from(["E11", "I10", "J44"]),
    ),
    min_size=1,
    max_size=80,
)


def _frame(data: list[tuple]) -> pd.DataFrame:
    df = pd.DataFrame(data, columns=["date_of_birth", "sex", "postcode", "diagnosis"])
    df["date_of_birth"] = pd.to_datetime(df["date_of_birth"])
    return df


@settings(max_examples=120, deadline=None)
@given(records, st.integers(1, 8), st.floats(0.0, 0.5))
def test_output_always_satisfies_k(data, k, max_suppression):
    df = _frame(data)
    if len(df) < k:
        with pytest.raises(ValueError, match="impossible"):
            an.anonymise(df, an.cohort_hierarchies(), k=k, max_suppression=max_suppression)
        return
    result = an.anonymise(df, an.cohort_hierarchies(), k=k, max_suppression=max_suppression)
    assert len(result.data) > 0
    assert risk.k_anonymity(result.data, QIS) >= k
    assert pycanon_anonymity.k_anonymity(result.data, QIS) >= k
    assert result.n_suppressed <= max_suppression * len(df) + 1e-9


@settings(max_examples=80, deadline=None)
@given(records, st.integers(1, 4), st.integers(1, 3), st.floats(0.05, 1.0))
def test_output_always_satisfies_l_and_t(data, k, l_target, t_target):
    df = _frame(data)
    if len(df) < k or df["diagnosis"].nunique() < l_target:
        return
    result = an.anonymise(df, an.cohort_hierarchies(), k=k, l=l_target, t=t_target,
                          sensitive="diagnosis", max_suppression=0.3)
    assert risk.k_anonymity(result.data, QIS) >= k
    assert risk.l_diversity(result.data, QIS, "diagnosis") >= l_target
    assert risk.t_closeness(result.data, QIS, "diagnosis") <= t_target + 1e-9


def test_l_below_one_names_l_not_k():
    # The old message for l = 0 was "k must be at least 1, got 0".
    table = pd.DataFrame({"age": [30, 31, 32, 33], "diagnosis": ["A", "B", "A", "B"]})
    with pytest.raises(ValueError, match="^l must be at least 1, got 0$"):
        an.anonymise(table, {"age": an.age_hierarchy()}, k=2, l=0, sensitive="diagnosis")


@pytest.mark.parametrize("widths", [(5, 15, 20), (10, 5), (5, 5)])
def test_age_hierarchy_refuses_bands_that_do_not_nest(widths):
    # The old hierarchy accepted (5, 15, 20): band 30-44 straddles 20-39 and 40-59.
    with pytest.raises(ValueError, match="nested"):
        an.age_hierarchy(widths)
    assert an.age_hierarchy((5, 10, 20)).height == 4


def test_hierarchical_t_target_in_anonymise():
    from healthdatalab.cohort import generate_cohort

    cohort = generate_cohort(3_000, seed=8)
    release = cohort.drop(columns=["patient_id", "bsn", "name", "street", "city", "age"])
    result = an.anonymise(release, an.cohort_hierarchies(), k=5, t=0.25, sensitive="diagnosis",
                          distance="hierarchical", groups=risk.icd10_chapter,
                          max_suppression=0.2)
    qis = list(an.cohort_hierarchies())
    assert result.t <= 0.25 + 1e-9
    assert result.t == pytest.approx(risk.t_closeness(
        result.data, qis, "diagnosis", distance="hierarchical", groups=risk.icd10_chapter))


def test_suppression_shift_reports_which_records_went():
    # Information loss alone cannot see that suppression removed the oldest patients.
    original = pd.DataFrame({"age": [30, 40, 50, 60, 95, 97], "outcome": [0, 0, 1, 0, 1, 1]},
                            index=[10, 11, 12, 13, 14, 15])
    released = original.loc[[10, 11, 12, 13]]
    shift = an.suppression_shift(original, released, ["age", "outcome"])
    assert shift.loc["age", "suppressed"] == 96
    assert shift.loc["age", "shift"] == pytest.approx(45 - original["age"].mean())
    assert shift.loc["outcome", "original"] == pytest.approx(0.5)
    assert shift.loc["outcome", "released"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="original index"):
        an.suppression_shift(original, released.reset_index(drop=True), ["age"])
    with pytest.raises(TypeError, match="numeric"):
        an.suppression_shift(original.assign(sex="F"), released, ["sex"])
