"""Tests for healthdatalab.risk: classes, k, l, t, attacker models and the linkage attack."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycanon import anonymity as pycanon_anonymity

from healthdatalab import risk

QIS = ["birth_year", "sex"]


@pytest.fixture
def table() -> pd.DataFrame:
    """Three classes: (1980, F) x3, (1980, M) x2, (1990, F) x1."""
    return pd.DataFrame(
        {
            "birth_year": [1980, 1980, 1980, 1980, 1980, 1990],
            "sex": ["F", "F", "F", "M", "M", "F"],
            "diagnosis": ["E11", "I10", "E11", "I10", "I10", "J44"],
            "bmi": [20.0, 25.0, 30.0, 25.0, 30.0, 20.0],
            "name": ["Ann", "Bea", "Cor", "Dirk", "Eef", "Fem"],
        }
    )


# --------------------------------------------------------------------------- hand examples


def test_classes_sizes_and_uniqueness(table):
    classes = risk.equivalence_classes(table, QIS)
    assert classes["size"].tolist() == [3, 2, 1]
    assert classes[QIS].values.tolist() == [[1980, "F"], [1980, "M"], [1990, "F"]]
    assert risk.class_size_per_record(table, QIS).tolist() == [3, 3, 3, 2, 2, 1]
    u = risk.uniqueness(table, QIS)
    assert (u.n_records, u.n_classes, u.n_unique) == (6, 3, 1)
    assert u.share_unique == pytest.approx(1 / 6)
    assert risk.k_anonymity(table, QIS) == 1
    assert risk.k_anonymity(table, ["birth_year"]) == 1
    assert risk.k_anonymity(table.iloc[:5], QIS) == 2


def test_class_codes_are_dense_and_in_order_of_appearance(table):
    codes, n = risk.class_codes(table, QIS)
    assert n == 3
    assert codes.tolist() == [0, 0, 0, 1, 1, 2]


def test_l_diversity_counts_distinct_values(table):
    # Classes: {E11, I10}, {I10}, {J44}.
    assert risk.l_diversity(table, QIS, "diagnosis") == 1
    assert risk.l_diversity(table.iloc[:3], QIS, "diagnosis") == 2
    assert risk.l_diversity(table, ["sex"], "diagnosis") == 1  # M: {I10}


def test_t_closeness_equal_distance_by_hand(table):
    # Overall: E11 2/6, I10 3/6, J44 1/6. Class (1990, F) is all J44:
    # TV = 1/2 (2/6 + 3/6 + 5/6) = 5/6, the largest of the three classes.
    assert risk.t_closeness(table, QIS, "diagnosis") == pytest.approx(5 / 6)
    distances = risk.class_distances(table, QIS, "diagnosis")
    # (1980, F): E11 2/3, I10 1/3 -> 1/2 (|2/3-2/6| + |1/3-3/6| + 1/6) = 1/3.
    assert distances[0] == pytest.approx(1 / 3)
    # (1980, M): I10 only -> 1/2 (2/6 + 3/6 + 1/6) = 1/2.
    assert distances[1] == pytest.approx(1 / 2)


def test_t_closeness_ordered_distance_by_hand(table):
    # Values 20 < 25 < 30 (m = 3); overall shares 2/6, 2/6, 2/6, cumulative 1/3, 2/3, 1.
    # Class (1990, F) = {20}: cumulative 1, 1, 1 -> (2/3 + 1/3 + 0) / 2 = 1/2.
    distances = risk.class_distances(table, QIS, "bmi")
    assert distances[2] == pytest.approx(0.5)
    # Class (1980, M) = {25, 30}: cumulative 0, 1/2, 1 -> (1/3 + 1/6 + 0) / 2 = 1/4.
    assert distances[1] == pytest.approx(0.25)
    assert risk.t_closeness(table, QIS, "bmi", distance="ordered") == pytest.approx(0.5)
    # The same column treated as categories uses the total variation distance instead.
    assert risk.t_closeness(table, QIS, "bmi", distance="equal") == pytest.approx(2 / 3)


def test_t_is_zero_when_every_class_matches_the_table():
    df = pd.DataFrame({"q": [1, 1, 2, 2], "s": ["a", "b", "a", "b"], "x": [1, 2, 1, 2]})
    assert risk.t_closeness(df, ["q"], "s") == pytest.approx(0.0)
    assert risk.t_closeness(df, ["q"], "x") == pytest.approx(0.0)
    single = pd.DataFrame({"q": [1, 2], "x": [5.0, 5.0]})
    assert risk.t_closeness(single, ["q"], "x") == 0.0


def test_prosecutor_and_marketer_risk(table):
    prosecutor = risk.prosecutor_risk(table, QIS)
    assert prosecutor.maximum == 1.0
    # Average over records of 1/class size: (3 * 1/3 + 2 * 1/2 + 1) / 6 = 3/6.
    assert prosecutor.average == pytest.approx(0.5)
    assert risk.marketer_risk(table, QIS) == pytest.approx(3 / 6)


def test_journalist_risk_uses_population_class_sizes(table):
    population = pd.DataFrame(
        {"birth_year": [1980] * 6 + [1990] * 2, "sex": ["F"] * 4 + ["M"] * 2 + ["F"] * 2}
    )
    journalist = risk.journalist_risk(table, population, QIS)
    # Population classes: (1980, F) 4, (1980, M) 2, (1990, F) 2.
    assert journalist.maximum == pytest.approx(0.5)
    assert journalist.average == pytest.approx((3 / 4 + 2 / 2 + 1 / 2) / 6)
    # A combination absent from the population cannot be matched: risk 0.
    absent = population[population["birth_year"] == 1980]
    assert risk.journalist_risk(table, absent, QIS).average == pytest.approx(
        (3 / 4 + 2 / 2) / 6
    )


def test_linkage_attack_counts_unique_and_correct_matches(table):
    register = pd.DataFrame(
        {
            "birth_year": [1990, 1980, 1980, 1970],
            "sex": ["F", "M", "M", "F"],
            "name": ["Fem", "Dirk", "Gijs", "Hans"],
        }
    )
    release = table.drop(columns="name")
    result = risk.linkage_attack(release, register, QIS, true_identity=table["name"])
    # (1990, F) has one register entry, Fem, correct. (1980, M) has two: no unique match.
    # (1980, F) has none.
    assert result.n_released == 6
    assert result.n_unique_matches == 1
    assert result.n_correct == 1
    assert result.share_reidentified == pytest.approx(1 / 6)
    assert result.precision == 1.0
    assert result.matches.to_dict("records") == [
        {"position": 5, "assigned_identity": "Fem", "correct": True}
    ]
    wrong = register.assign(name=["Someone else", "Dirk", "Gijs", "Hans"])
    result = risk.linkage_attack(release, wrong, QIS, true_identity=table["name"])
    assert (result.n_unique_matches, result.n_correct, result.precision) == (1, 0, 0.0)


def test_linkage_attack_never_counts_a_missing_identity_as_correct():
    release = pd.DataFrame({"q": [1, 2, 3]})
    register = pd.DataFrame({"q": [1, 2, 3],
                             "name": pd.array(["Ann", None, "Cor"], dtype="string")})
    result = risk.linkage_attack(release, register, ["q"], true_identity=["Ann", "Bea", None])
    assert result.n_unique_matches == 3
    assert result.n_correct == 1
    assert result.matches["correct"].tolist() == [True, False, False]


def test_risk_summary_collects_the_figures(table):
    summary = risk.risk_summary(table, QIS, sensitive="diagnosis", population=table)
    assert summary["records"] == 6
    assert summary["classes"] == 3
    assert summary["unique"] == 1
    assert summary["k"] == 1
    assert summary["l"] == 1
    assert summary["t"] == pytest.approx(5 / 6)
    assert summary["journalist_max"] == 1.0


# --------------------------------------------------------------------------- bad input


def test_unknown_column_is_named(table):
    with pytest.raises(KeyError, match="postcode"):
        risk.k_anonymity(table, ["birth_year", "postcode"])
    with pytest.raises(KeyError, match="outcome"):
        risk.l_diversity(table, QIS, "outcome")


def test_empty_table_and_empty_column_list(table):
    with pytest.raises(ValueError, match="empty"):
        risk.k_anonymity(table.iloc[:0], QIS)
    with pytest.raises(ValueError, match="empty"):
        risk.k_anonymity(table, [])


def test_missing_values_name_the_column(table):
    broken = table.astype({"birth_year": float})
    broken.loc[2, "birth_year"] = np.nan
    with pytest.raises(ValueError, match="'birth_year'.*1 missing"):
        risk.k_anonymity(broken, QIS)
    broken = table.copy()
    broken.loc[0, "diagnosis"] = None
    with pytest.raises(ValueError, match="'diagnosis'"):
        risk.l_diversity(broken, QIS, "diagnosis")


def test_other_bad_arguments(table):
    with pytest.raises(TypeError, match="DataFrame"):
        risk.k_anonymity(table.to_dict(), QIS)
    with pytest.raises(ValueError, match="more than once"):
        risk.k_anonymity(table, ["sex", "sex"])
    with pytest.raises(ValueError, match="distance"):
        risk.t_closeness(table, QIS, "bmi", distance="euclidean")
    with pytest.raises(ValueError, match="one value per released record"):
        risk.linkage_attack(table, table, QIS, true_identity=["Ann"])
    with pytest.raises(KeyError, match="identity column"):
        risk.linkage_attack(table, table.drop(columns="name"), QIS, true_identity=table["name"])
    with pytest.raises(TypeError, match="'birth_year'"):
        risk.journalist_risk(table, table.astype({"birth_year": str}), QIS)


def test_a_single_column_name_is_accepted(table):
    assert risk.k_anonymity(table, "sex") == risk.k_anonymity(table, ["sex"]) == 2


# --------------------------------------------------------------------------- properties

rows = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.sampled_from(["F", "M"]),
        st.sampled_from(["E11", "I10", "J44", "C34"]),
        st.integers(0, 5),
    ),
    min_size=1,
    max_size=60,
)


def _frame(data: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(data, columns=["band", "sex", "diagnosis", "score"])


@settings(max_examples=150, deadline=None)
@given(rows)
def test_k_and_l_match_brute_force(data):
    df = _frame(data)
    counts = Counter((band, sex) for band, sex, _, _ in data)
    values = defaultdict(set)
    for band, sex, diagnosis, _ in data:
        values[band, sex].add(diagnosis)
    assert risk.k_anonymity(df, ["band", "sex"]) == min(counts.values())
    assert risk.l_diversity(df, ["band", "sex"], "diagnosis") == min(map(len, values.values()))
    u = risk.uniqueness(df, ["band", "sex"])
    assert u.n_unique == sum(1 for c in counts.values() if c == 1)
    assert risk.prosecutor_risk(df, ["band", "sex"]).average == pytest.approx(
        np.mean([1 / counts[band, sex] for band, sex, _, _ in data])
    )


@settings(max_examples=100, deadline=None)
@given(rows)
def test_k_l_t_agree_with_pycanon(data):
    df = _frame(data)
    qis = ["band", "sex"]
    assert risk.k_anonymity(df, qis) == pycanon_anonymity.k_anonymity(df, qis)
    assert risk.l_diversity(df, qis, "diagnosis") == pycanon_anonymity.l_diversity(
        df, qis, ["diagnosis"]
    )
    assert risk.t_closeness(df, qis, "diagnosis") == pytest.approx(
        pycanon_anonymity.t_closeness(df, qis, ["diagnosis"])
    )
    if df["score"].nunique() > 1:  # pycanon divides by (m - 1)
        assert risk.t_closeness(df, qis, "score") == pytest.approx(
            pycanon_anonymity.t_closeness(df, qis, ["score"])
        )


@settings(max_examples=100, deadline=None)
@given(rows)
def test_t_closeness_is_a_distance_between_zero_and_one(data):
    df = _frame(data)
    for sensitive in ("diagnosis", "score"):
        t = risk.t_closeness(df, ["band", "sex"], sensitive)
        assert -1e-12 <= t <= 1 + 1e-12
    # One class holding the whole table has the table's own distribution.
    assert risk.t_closeness(df.assign(all="*"), ["all"], "diagnosis") == pytest.approx(0.0)


@settings(max_examples=100, deadline=None)
@given(rows)
def test_linkage_against_itself_matches_every_unique_record(data):
    df = _frame(data).assign(name=[f"person {i}" for i in range(len(data))])
    result = risk.linkage_attack(df, df, ["band", "sex"], true_identity=df["name"])
    assert result.n_unique_matches == risk.uniqueness(df, ["band", "sex"]).n_unique
    assert result.n_correct == result.n_unique_matches


def test_journalist_and_linkage_refuse_a_release_generalised_differently_from_the_register():
    # The old code compared "12**" with "1234", matched nothing and reported a risk of 0.
    from healthdatalab import anonymise as an
    from healthdatalab.cohort import generate_cohort, make_register

    cohort = generate_cohort(1_000, seed=4)
    register = make_register(cohort, seed=4)
    postcodes = an.postcode_hierarchy(4)
    release = cohort[["date_of_birth", "postcode"]].assign(
        postcode=postcodes.generalise(cohort["postcode"], 2))
    qis = ["date_of_birth", "postcode"]
    with pytest.raises(ValueError, match="generalised in one table"):
        risk.journalist_risk(release, register, qis)
    with pytest.raises(ValueError, match="generalised in one table"):
        risk.linkage_attack(release, register, qis, true_identity=cohort["name"])
    finer = register.assign(postcode=postcodes.generalise(register["postcode"], 1))
    with pytest.raises(ValueError, match="no value in common"):
        risk.journalist_risk(release, finer, qis)
    same = register.assign(postcode=postcodes.generalise(register["postcode"], 2))
    assert risk.journalist_risk(release, same, qis).average > 0.5


def test_hierarchical_distance_sees_that_three_cancers_are_alike():
    # The old code knew only the equal distance, which measures a class of three cancers
    # exactly like a class of three unrelated diagnoses.
    codes = ["C34", "C18", "C50", "I10", "I25", "I50", "J44", "J45", "J18"]
    rows = [("A", c) for c in ["C34", "C18", "C50"]] + [("B", c) for c in ["C34", "I10", "J44"]]
    rows += [("rest", c) for c in codes for _ in range(4)]
    table = pd.DataFrame(rows, columns=["cls", "diagnosis"])
    equal = risk.class_distances(table, "cls", "diagnosis", distance="equal")
    hier = risk.class_distances(table, "cls", "diagnosis", distance="hierarchical",
                                groups=risk.icd10_chapter)
    assert equal[0] == pytest.approx(equal[1])
    assert hier[0] == pytest.approx(equal[0])  # all of A's excess must leave its chapter
    assert hier[1] == pytest.approx(1 / 3)  # B's excess moves within chapters at cost 1/2
    # One group for everything halves the equal distance; one group per value equals it.
    one = risk.class_distances(table, "cls", "diagnosis", distance="hierarchical",
                               groups=lambda v: "all")
    single = risk.class_distances(table, "cls", "diagnosis", distance="hierarchical",
                                  groups=lambda v: v)
    np.testing.assert_allclose(one, equal / 2)
    np.testing.assert_allclose(single, equal)
    assert risk.t_closeness(table, "cls", "diagnosis", distance="hierarchical",
                            groups=risk.icd10_chapter) == pytest.approx(hier.max())
    with pytest.raises(ValueError, match="groups="):
        risk.t_closeness(table, "cls", "diagnosis", distance="hierarchical")
    with pytest.raises(ValueError, match="no group"):
        risk.t_closeness(table, "cls", "diagnosis", distance="hierarchical", groups={"C34": 1})


@pytest.mark.parametrize("code, chapter", [
    ("A00", "I"), ("C34", "II"), ("D48", "II"), ("D50", "III"), ("E11", "IV"), ("F32", "V"),
    ("H59", "VII"), ("H60", "VIII"), ("I25", "IX"), ("J44", "X"), ("K21", "XI"),
    ("M54", "XIII"), ("N18", "XIV"), ("T98", "XIX"), ("U07.1", "XXII"), ("V01", "XX"),
    ("Y98", "XX"), ("Z99", "XXI"),
])
def test_icd10_chapters(code, chapter):
    assert risk.icd10_chapter(code) == chapter


def test_icd10_chapter_bad_input():
    for bad in ["", "34C", "C3", "Y99"]:
        with pytest.raises(ValueError, match="ICD-10"):
            risk.icd10_chapter(bad)
