"""A network study written once and run at every hospital's OMOP database; only checked
aggregates leave a site.

The study (:data:`STUDY`): the cohort is everyone with type 2 diabetes (OMOP concept 201826);
the characterisation counts the cohort by sex and age band (under 60, 60 and over); the
incidence is the rate of inpatient admissions (visit concept 9201) per 1,000 person-years in
the year after the index visit; the regression is a logistic model of admission on age, sex,
BMI and systolic blood pressure for the whole population, fitted by exact federated Newton steps
(:mod:`.glm`). Each site answers with a :class:`Site`, which runs the SQL on its own DuckDB file,
applies the disclosure check (a minimum cell count, zeros included, as in
:mod:`.output_checks`) and keeps a query log that refuses an answer whose population differs
from an earlier one by fewer than the minimum count (a differencing attack). The coordinator
(:func:`run_network`) adds the counts and solves the regression; :func:`run_pooled` computes the
same study on all records in one place, for the comparison.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from healthdatalab.federation.glm import LocalStatistics, local_statistics, newton_rounds
from healthdatalab.federation.output_checks import MIN_CELL_COUNT, OutputBlockedError, release

__all__ = ["STUDY", "NetworkResult", "Site", "run_network", "run_pooled"]

T2DM, INPATIENT = 201826, 9201
COVARIATES = ("intercept", "age_per_10y", "male", "bmi", "systolic_bp_per_10")

#: The study's SQL, one query per question; the same text runs at every site.
STUDY: dict[str, str] = {
    "cohort": f"""
        SELECT DISTINCT c.person_id
        FROM condition_occurrence c
        WHERE c.condition_concept_id = {T2DM}""",
    "characterisation": f"""
        SELECT CASE p.gender_concept_id WHEN 8507 THEN 'male' ELSE 'female' END AS sex,
               CASE WHEN 2026 - p.year_of_birth < 60 THEN 'under 60'
                    ELSE '60 and over' END AS age_band,
               COUNT(*) AS n
        FROM person p
        WHERE p.person_id IN (SELECT person_id FROM condition_occurrence
                              WHERE condition_concept_id = {T2DM})
        GROUP BY ALL""",
    "incidence": f"""
        WITH cohort AS (
            SELECT DISTINCT person_id, condition_start_date AS index_date
            FROM condition_occurrence WHERE condition_concept_id = {T2DM}),
        events AS (
            SELECT c.person_id, MIN(v.visit_start_date) AS first_admission
            FROM cohort c JOIN visit_occurrence v ON v.person_id = c.person_id
            WHERE v.visit_concept_id = {INPATIENT}
              AND v.visit_start_date > c.index_date
              AND v.visit_start_date <= c.index_date + INTERVAL 365 DAY
            GROUP BY c.person_id)
        SELECT COUNT(*) AS persons,
               COUNT(e.person_id) AS events,
               SUM(CASE WHEN e.person_id IS NULL THEN 365
                        ELSE date_diff('day', c.index_date, e.first_admission) END) / 365.25
                   AS person_years
        FROM cohort c LEFT JOIN events e ON e.person_id = c.person_id""",
    "design": f"""
        SELECT p.person_id,
               (2026 - p.year_of_birth) / 10.0 AS age_per_10y,
               CASE p.gender_concept_id WHEN 8507 THEN 1 ELSE 0 END AS male,
               bmi.value_as_number AS bmi,
               sbp.value_as_number / 10.0 AS systolic_bp_per_10,
               CASE WHEN EXISTS (SELECT 1 FROM visit_occurrence v
                                 WHERE v.person_id = p.person_id
                                   AND v.visit_concept_id = {INPATIENT}) THEN 1 ELSE 0 END
                   AS admitted
        FROM person p
        JOIN measurement bmi ON bmi.person_id = p.person_id
             AND bmi.measurement_concept_id = 3038553
        JOIN measurement sbp ON sbp.person_id = p.person_id
             AND sbp.measurement_concept_id = 3004249
        ORDER BY p.person_id""",
}


@dataclass
class Site:
    """One hospital's node: its database, its disclosure rules and its query log."""

    name: str
    database: Path
    min_count: int = MIN_CELL_COUNT
    log: list[tuple[str, frozenset[int]]] = field(default_factory=list)
    _design: pd.DataFrame | None = field(default=None, repr=False)

    def _query(self, key: str) -> pd.DataFrame:
        import duckdb

        if not Path(self.database).exists():
            raise FileNotFoundError(f"site {self.name}: no database file at {self.database}")
        with duckdb.connect(str(self.database), read_only=True) as con:
            return con.execute(STUDY[key]).df()

    def _check_difference(self, what: str, persons: frozenset[int]) -> None:
        """Refuse an answer whose population differs from a logged one by 1 to min_count - 1."""
        for earlier, seen in self.log:
            difference = len(persons ^ seen)
            if 0 < difference < self.min_count:
                raise OutputBlockedError(
                    f"site {self.name}: the population of '{what}' differs from that of "
                    f"'{earlier}' by fewer than {self.min_count} persons (a differencing risk)"
                )
        self.log.append((what, persons))

    def _release(self, what: str, output, counts):
        """Release ``output`` if ``counts`` pass the check; the refusal names no count."""
        try:
            return release(output, counts, min_count=self.min_count)
        except OutputBlockedError:
            raise OutputBlockedError(
                f"site {self.name}: '{what}' has cells below the minimum count of "
                f"{self.min_count} and is withheld"
            ) from None

    def characterisation(self) -> pd.Series:
        persons = frozenset(self._query("cohort")["person_id"].astype(int))
        self._check_difference("characterisation", persons)
        table = self._query("characterisation").set_index(["sex", "age_band"])["n"]
        full = table.reindex(pd.MultiIndex.from_product(
            [["female", "male"], ["under 60", "60 and over"]],
            names=["sex", "age_band"]), fill_value=0)
        return self._release("characterisation", full, full)

    def incidence(self) -> pd.Series:
        row = self._query("incidence").iloc[0]
        counts = {"persons": int(row["persons"]), "events": int(row["events"])}
        self._release("incidence", counts, counts)
        return pd.Series({**counts, "person_years": float(row["person_years"])})

    def statistics(self, w: np.ndarray) -> LocalStatistics:
        if self._design is None:  # the site's own records, kept at the site between rounds
            self._design = self._query("design")
        design = self._design
        if len(design) < self.min_count:
            raise OutputBlockedError(f"site {self.name}: fewer than {self.min_count} persons")
        X = np.column_stack([np.ones(len(design)),
                             design[list(COVARIATES[1:])].to_numpy(float)])
        return local_statistics(w, X, design["admitted"].to_numpy(float))


@dataclass(frozen=True)
class NetworkResult:
    characterisation: pd.Series
    incidence: pd.Series
    coefficients: pd.Series
    rounds: int
    per_site: Mapping[str, pd.Series]


def _combine(characterisations: Sequence[pd.Series], incidences: Sequence[pd.Series]):
    table = sum(characterisations[1:], characterisations[0])
    incidence = sum(incidences[1:], incidences[0])
    incidence = pd.concat([incidence, pd.Series(
        {"rate_per_1000_py": 1000 * incidence["events"] / incidence["person_years"]})])
    return table, incidence


def run_network(sites: Sequence[Site]) -> NetworkResult:
    """The coordinator: ask every site, add the checked aggregates, solve the regression."""
    if len(sites) == 0:
        raise ValueError("need at least one site")
    characterisations = [s.characterisation() for s in sites]
    incidences = [s.incidence() for s in sites]
    table, incidence = _combine(characterisations, incidences)
    fit = newton_rounds(lambda w: [s.statistics(w) for s in sites], len(COVARIATES))
    return NetworkResult(
        characterisation=table, incidence=incidence,
        coefficients=pd.Series(fit.coefficients, index=COVARIATES), rounds=fit.rounds,
        per_site={s.name: inc for s, inc in zip(sites, incidences, strict=True)},
    )


def run_pooled(databases: Sequence[Path]) -> NetworkResult:
    """The same study on all sites' records in one database: the reference answer."""
    import duckdb

    pooled = duckdb.connect()
    try:
        for i, path in enumerate(databases):
            pooled.execute(f"ATTACH '{Path(path).as_posix()}' AS s{i} (READ_ONLY)")
        tables = ("person", "observation_period", "visit_occurrence", "condition_occurrence",
                  "measurement", "drug_exposure")
        for name in tables:
            union = " UNION ALL ".join(f"SELECT * FROM s{i}.{name}" for i in range(len(databases)))
            pooled.execute(f"CREATE TABLE {name} AS {union}")
        char = pooled.execute(STUDY["characterisation"]).df().set_index(["sex", "age_band"])["n"]
        inc = pooled.execute(STUDY["incidence"]).df().iloc[0]
        design = pooled.execute(STUDY["design"]).df()
    finally:
        pooled.close()
    X = np.column_stack([np.ones(len(design)), design[list(COVARIATES[1:])].to_numpy(float)])
    y = design["admitted"].to_numpy(float)
    fit = newton_rounds(lambda w: [local_statistics(w, X, y)], len(COVARIATES))
    incidence = pd.Series({"persons": int(inc["persons"]), "events": int(inc["events"]),
                           "person_years": float(inc["person_years"])})
    incidence["rate_per_1000_py"] = 1000 * incidence["events"] / incidence["person_years"]
    return NetworkResult(characterisation=char, incidence=incidence,
                         coefficients=pd.Series(fit.coefficients, index=COVARIATES),
                         rounds=fit.rounds, per_site={})
