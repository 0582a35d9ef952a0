"""Attacks on the network study's disclosure control, as a curious or malicious coordinator.

Each test plays one attack on the synthetic OMOP sites and asserts that the site refuses it
with a message that names the rule, never a data value; the honest study must still give the
pooled answer exactly.
"""

from __future__ import annotations

import re
import shutil

import duckdb
import numpy as np
import pytest

from healthdatalab import omop
from healthdatalab.cohort import generate_cohort
from healthdatalab.federation import network_study as ns
from healthdatalab.federation.output_checks import OutputBlockedError


@pytest.fixture(scope="module")
def cohort():
    return generate_cohort(10_000, seed=11)


@pytest.fixture(scope="module")
def databases(cohort, tmp_path_factory):
    return omop.write_hospital_dbs(cohort, tmp_path_factory.mktemp("attack"))


@pytest.fixture(scope="module")
def small(cohort, tmp_path_factory):
    # the notebook's small hospital: 400 patients spread over three sites
    return omop.write_hospital_dbs(cohort.sample(400, random_state=1),
                                   tmp_path_factory.mktemp("attack_small"))


def _no_data_values(message: str, allowed: tuple[str, ...]) -> None:
    """Every number in a refusal is one of the site's published limits."""
    assert set(re.findall(r"\d+(?:\.\d+)?", message)) <= set(allowed), message


def _copy(path, tmp_path, name="copy.duckdb"):
    target = tmp_path / name
    shutil.copy(path, target)
    return target


# ------------------------------------------------------------------------------------------
# Attack 1: the coordinator chooses the coefficients of every statistics request
# ------------------------------------------------------------------------------------------


def _halfspace_attack(site: ns.Site, max_requests: int = 200) -> list[np.ndarray]:
    """Bisect a steep threshold on BMI until the sums describe one person; return the
    covariate rows isolated so (on the old code: the highest-BMI person's age, sex, BMI and
    blood pressure, exactly)."""
    steep = 1e7
    requests = 0

    def above(t: float) -> np.ndarray:
        nonlocal requests
        requests += 1
        # p = 1 above the threshold and 0 below: the gradient is X'y minus the sum of X above
        return site.statistics(np.array([-steep * t, 0.0, 0.0, steep, 0.0])).gradient

    isolated = []
    low, high = 0.0, 200.0
    g_low, g_high = above(low), above(high)
    while requests < max_requests:
        middle = (low + high) / 2
        g_middle = above(middle)
        between = g_middle - g_high  # minus the sum of X over persons in (middle, high]
        if round(-between[0]) >= 1:
            low, g_low = middle, g_middle
        else:
            high, g_high = middle, g_middle
        between = g_low - g_high
        if round(-between[0]) == 1:
            isolated.append(-between)
            break
    return isolated


def test_halfspace_differencing_isolates_no_person(databases):
    site = ns.Site("Hospital B", databases["Hospital B"])
    isolated = []
    with pytest.raises(OutputBlockedError, match="linear predictor") as caught:
        isolated = _halfspace_attack(site)
    assert isolated == []
    assert site.statistics_requests == 1  # refused at the first request
    _no_data_values(str(caught.value), ("40",))


def test_a_steep_request_is_refused_whatever_the_data(databases):
    site = ns.Site("Hospital A", databases["Hospital A"])
    w = np.array([-50.0, 0.0, 0.0, 2.0, 0.0])  # a sigmoid about one BMI unit wide
    assert ns.linear_predictor_bound(w) > ns.MAX_LINEAR_PREDICTOR
    with pytest.raises(OutputBlockedError, match="declared covariate ranges"):
        site.statistics(w)


def test_weights_on_few_persons_are_refused_even_without_the_bound(databases):
    site = ns.Site("Hospital A", databases["Hospital A"], max_linear_predictor=np.inf)
    design = site._query("design")
    top = float(design["bmi"].max())
    # p(1 - p) is 1/4 for the persons at the highest BMI and vanishes for everyone else
    w = np.array([-1e3 * top, 0.0, 0.0, 1e3, 0.0])
    with pytest.raises(OutputBlockedError, match="effective number") as caught:
        site.statistics(w)
    _no_data_values(str(caught.value), ("10",))


def test_two_requests_differing_on_a_few_persons_are_refused(databases):
    """Ties at one BMI value keep p(1 - p) spread over many persons; a push on the sex
    column then moves only the few persons of the minority sex among them. Each request
    passes the effective-number check; their difference is the sum of those few persons'
    covariates."""
    site = ns.Site("Hospital A", databases["Hospital A"], max_linear_predictor=np.inf)
    design = site._query("design")
    groups = design.groupby("bmi")["male"].agg(["size", "sum"])
    men = groups[(groups["sum"].between(1, 4)) & (groups["size"] - groups["sum"] >= 12)]
    bmi = float(men.index[0])
    steep = 1e6
    first = np.array([-steep * bmi, 0.0, 0.0, steep, 0.0])
    second = first + np.array([0.0, 0.0, 3.0, 0.0, 0.0])  # moves the men at that BMI only
    site.statistics(first)
    with pytest.raises(OutputBlockedError, match="earlier request") as caught:
        site.statistics(second)
    _no_data_values(str(caught.value), ("10",))


def test_the_gradient_of_a_small_site_would_reveal_a_small_cell(small):
    # at the small Hospital C, X'y counts fewer than ten admitted men; every round's gradient
    # and information matrix give X'y, so the site refuses from the first round on
    site = ns.Site("Small hospital", small["Hospital C"])
    design = site._query("design")
    assert ((design["male"] == 1) & (design["admitted"] == 1)).sum() < site.min_count
    with pytest.raises(OutputBlockedError, match="binary covariate crossed") as caught:
        site.statistics(np.zeros(len(ns.COVARIATES)))
    _no_data_values(str(caught.value), ("10",))


def test_the_number_of_statistics_requests_is_capped_across_site_objects(databases, tmp_path):
    log = tmp_path / "log.json"
    path = databases["Hospital C"]
    for _ in range(ns.MAX_STATISTICS_REQUESTS):
        ns.Site("Hospital C", path, log_path=log).statistics(np.zeros(len(ns.COVARIATES)))
    # a new Site object (a new process, a new run) reads the same log at the site
    with pytest.raises(OutputBlockedError, match="budget") as caught:
        ns.Site("Hospital C", path, log_path=log).statistics(np.zeros(len(ns.COVARIATES)))
    _no_data_values(str(caught.value), (str(ns.MAX_STATISTICS_REQUESTS),))


def test_the_design_population_changing_by_one_person_is_refused(databases, tmp_path):
    """Run 1 at w, one person's BMI is removed from the database, run 2 at the same w: the
    difference of the two answers would be that person's covariates and outcome."""
    path = _copy(databases["Hospital B"], tmp_path)
    log = tmp_path / "log.json"
    w = np.array([-8.0, 0.5, 0.3, 0.05, 0.2])
    ns.Site("Hospital B", path, log_path=log).statistics(w)
    with duckdb.connect(str(path)) as con:
        con.execute("""DELETE FROM measurement WHERE measurement_concept_id = 3038553
                       AND person_id = (SELECT MIN(person_id) FROM measurement)""")
    with pytest.raises(OutputBlockedError, match="differencing"):
        ns.Site("Hospital B", path, log_path=log).statistics(w)


# ------------------------------------------------------------------------------------------
# Attack 2: characterisation and incidence
# ------------------------------------------------------------------------------------------


def test_incidence_withholds_a_small_complement(databases, monkeypatch):
    """Persons and events each reach ten, persons without an event do not."""
    site = ns.Site("Hospital A", databases["Hospital A"])
    real = site._query

    def query(key):
        frame = real(key)
        if key == "incidence":
            frame.loc[0, "events"] = int(frame.loc[0, "persons"]) - 3
        return frame

    monkeypatch.setattr(site, "_query", query)
    with pytest.raises(OutputBlockedError, match="withheld") as caught:
        site.incidence()
    _no_data_values(str(caught.value), ("10",))


def test_incidence_after_a_one_person_change_is_refused(databases, tmp_path):
    """The same Site asked twice while one patient's diagnosis leaves the database: the two
    admission counts would tell whether that patient was admitted."""
    path = _copy(databases["Hospital C"], tmp_path)
    site = ns.Site("Hospital C", path)
    site.incidence()
    with duckdb.connect(str(path)) as con:
        con.execute(f"""DELETE FROM condition_occurrence WHERE condition_concept_id = {ns.T2DM}
                        AND person_id = (SELECT MIN(person_id) FROM condition_occurrence
                                         WHERE condition_concept_id = {ns.T2DM})""")
    with pytest.raises(OutputBlockedError, match="differencing"):
        site.incidence()


def test_incidence_and_characterisation_count_the_same_persons(databases, tmp_path):
    """Three patients get a second type 2 diabetes diagnosis on a later date. If the
    incidence counted diagnoses rather than persons, its total minus the characterisation's
    would be a count of three."""
    path = _copy(databases["Hospital A"], tmp_path)
    with duckdb.connect(str(path)) as con:
        con.execute(f"""
            INSERT INTO condition_occurrence
            SELECT * REPLACE (condition_occurrence_id + 1000000000 AS condition_occurrence_id,
                              condition_start_date + INTERVAL 30 DAY AS condition_start_date)
            FROM condition_occurrence WHERE condition_concept_id = {ns.T2DM}
            ORDER BY person_id LIMIT 3""")
    site = ns.Site("Hospital A", path)
    assert site.incidence()["persons"] == site.characterisation().sum()


def test_the_log_outlives_the_site_object(databases, tmp_path):
    path = _copy(databases["Hospital C"], tmp_path)
    log = tmp_path / "log.json"
    ns.Site("Hospital C", path, log_path=log).characterisation()
    with duckdb.connect(str(path)) as con:
        con.execute(f"""DELETE FROM condition_occurrence WHERE condition_concept_id = {ns.T2DM}
                        AND person_id = (SELECT MIN(person_id) FROM condition_occurrence
                                         WHERE condition_concept_id = {ns.T2DM})""")
    with pytest.raises(OutputBlockedError, match="differencing"):
        ns.Site("Hospital C", path, log_path=log).characterisation()


def test_an_unreadable_log_stops_the_site(databases, tmp_path):
    log = tmp_path / "log.json"
    log.write_text("{not json")
    with pytest.raises(ValueError, match="query log .* is unreadable"):
        ns.Site("Hospital C", databases["Hospital C"], log_path=log)


# ------------------------------------------------------------------------------------------
# The honest study is unchanged
# ------------------------------------------------------------------------------------------


def test_the_honest_study_still_equals_the_pooled_answer_within_budget(databases, tmp_path):
    sites = [ns.Site(name, path, log_path=tmp_path / f"{name}.json")
             for name, path in databases.items()]
    network = ns.run_network(sites)
    pooled = ns.run_pooled(list(databases.values()))
    assert (network.characterisation.sort_index() == pooled.characterisation.sort_index()).all()
    assert network.incidence["events"] == pooled.incidence["events"]
    assert np.max(np.abs(network.coefficients - pooled.coefficients)) < 1e-10
    assert all(s.statistics_requests == network.rounds + 1 for s in sites)
    assert network.rounds + 1 < ns.MAX_STATISTICS_REQUESTS
