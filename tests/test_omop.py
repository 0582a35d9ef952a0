"""The OMOP CDM mapping and the network study run on one DuckDB file per hospital."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from healthdatalab import omop
from healthdatalab.cohort import generate_cohort
from healthdatalab.federation import network_study as ns
from healthdatalab.federation.output_checks import OutputBlockedError


@pytest.fixture(scope="module")
def cohort():
    return generate_cohort(3_000, seed=11)


@pytest.fixture(scope="module")
def tables(cohort):
    return omop.to_omop(cohort)


@pytest.fixture(scope="module")
def databases(tmp_path_factory):
    # large enough that every cell of every site's characterisation reaches ten
    folder = tmp_path_factory.mktemp("omop")
    return omop.write_hospital_dbs(generate_cohort(10_000, seed=11), folder)


def test_required_columns_are_present_and_filled(tables):
    for name, required in omop.REQUIRED_COLUMNS.items():
        frame = tables[name]
        assert set(required) <= set(frame.columns), name
        assert not frame[list(required)].isna().any().any(), name


def test_primary_keys_are_unique_and_foreign_keys_resolve(tables):
    person_ids = set(tables["person"]["person_id"])
    concepts = set(tables["concept"]["concept_id"])
    for name, frame in tables.tables.items():
        key = f"{name}_id" if name != "observation_period" else "observation_period_id"
        if key in frame:
            assert frame[key].is_unique, name
        if "person_id" in frame and name != "person":
            assert set(frame["person_id"]) <= person_ids, name
        for column in [c for c in frame.columns if c.endswith("concept_id")]:
            assert set(frame[column]) <= concepts, (name, column)
    visits = set(tables["visit_occurrence"]["visit_occurrence_id"])
    assert set(tables["condition_occurrence"]["visit_occurrence_id"]) <= visits


def test_events_lie_inside_the_observation_period(tables):
    period = tables["observation_period"].set_index("person_id")
    for name, column in [("visit_occurrence", "visit_start_date"),
                         ("condition_occurrence", "condition_start_date"),
                         ("measurement", "measurement_date"),
                         ("drug_exposure", "drug_exposure_start_date")]:
        frame = tables[name].join(period, on="person_id")
        assert (frame[column] >= frame["observation_period_start_date"]).all(), name
        assert (frame[column] <= frame["observation_period_end_date"]).all(), name


def test_codes_map_to_standard_concepts_or_to_zero_with_the_source_kept(tables, cohort):
    condition = tables["condition_occurrence"]
    assert (condition["condition_source_value"] == cohort["diagnosis"].astype(str)).all()
    diabetes = condition["condition_source_value"] == "E11"
    assert (condition.loc[diabetes, "condition_concept_id"] == 201826).all()
    unmapped = condition["condition_source_value"].isin(["I25", "M54"])
    assert (condition.loc[unmapped, "condition_concept_id"] == 0).all()
    assert set(tables["person"]["gender_concept_id"]) == {8507, 8532}


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda c: c.drop(columns=["diagnosis"]), KeyError, r"lacks column\(s\) \['diagnosis'\]"),
        (lambda c: c.assign(diagnosis="Z99"), ValueError, "no entry in CONDITION_CONCEPTS"),
        (lambda c: c.assign(sex="X"), ValueError, "sex must be 'F' or 'M'"),
        (lambda c: c.assign(patient_id="someone"), ValueError, "study numbers"),
        (lambda c: c.iloc[0:0], ValueError, "empty"),
    ],
)
def test_bad_input_gets_a_clear_error_without_data_values(cohort, change, error, match):
    with pytest.raises(error, match=match) as caught:
        omop.to_omop(change(cohort.head(50)))
    assert "Z99" not in str(caught.value) and "someone" not in str(caught.value)


def test_network_study_equals_the_pooled_study(databases):
    sites = [ns.Site(name, path) for name, path in databases.items()]
    network = ns.run_network(sites)
    pooled = ns.run_pooled(list(databases.values()))
    pd.testing.assert_series_equal(network.characterisation.sort_index(),
                                   pooled.characterisation.sort_index(), check_names=False)
    assert network.incidence["events"] == pooled.incidence["events"]
    assert network.incidence["person_years"] == pytest.approx(pooled.incidence["person_years"])
    assert np.max(np.abs(network.coefficients - pooled.coefficients)) < 1e-10


def test_a_site_blocks_small_cells(cohort, tmp_path):
    files = omop.write_hospital_dbs(cohort.head(120), tmp_path)
    site = ns.Site("tiny", next(iter(files.values())))
    with pytest.raises(OutputBlockedError, match="withheld") as caught:
        site.characterisation()
    assert "count " not in str(caught.value).replace("minimum count", "")  # no count leaks


def test_the_query_log_blocks_a_differencing_pair(databases):
    site = ns.Site("A", next(iter(databases.values())))
    persons = frozenset(site._query("cohort")["person_id"].astype(int))
    site.log.append(("an earlier count without three patients", frozenset(sorted(persons)[3:])))
    with pytest.raises(OutputBlockedError, match="differencing"):
        site.characterisation()


def test_a_missing_database_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="site B: no database file"):
        ns.Site("B", tmp_path / "missing.duckdb").characterisation()
