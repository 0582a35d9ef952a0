"""A network study written once and run at every hospital's OMOP database; only checked
aggregates leave a site.

The study (:data:`STUDY`): the cohort is everyone with type 2 diabetes (OMOP concept 201826);
the characterisation counts the cohort by sex and age band (under 60, 60 and over); the
incidence is the rate of inpatient admissions (visit concept 9201) per 1,000 person-years in
the year after the index date (the first diagnosis, one row per person); the regression is a
logistic model of admission on age, sex, BMI and systolic blood pressure for the whole
population, fitted by exact federated Newton steps (:mod:`.glm`). Each site answers with a
:class:`Site`, which runs the SQL on its own DuckDB file, applies the disclosure check (a
minimum cell count, zeros included, as in :mod:`.output_checks`) and keeps a query log that
refuses an answer whose population differs from an earlier one by fewer than the minimum count
(a differencing attack). The coordinator
(:func:`run_network`) adds the counts and solves the regression; :func:`run_pooled` computes the
same study on all records in one place, for the comparison.

The coordinator chooses the coefficients of every regression round, so :meth:`Site.statistics`
does not trust them. A steep linear predictor on one covariate makes the sums describe the few
persons near a threshold; differencing two such requests gives one person's covariates, and
enough of them give every person's. The site therefore (1) caps the number of statistics
requests per study (:data:`MAX_STATISTICS_REQUESTS`), refusals included; (2) bounds the linear
predictor over the covariate ranges the study declares (:data:`COVARIATE_RANGES`,
:data:`MAX_LINEAR_PREDICTOR`), a check on the coefficients alone that reveals nothing about the
data; (3) refuses when the Hessian weights p(1 - p) rest on fewer than ``min_count`` persons
(their effective number, (Σv)²/Σv²), or when the weights p or p(1 - p) of a request differ from
those of an earlier one on fewer than ``min_count`` effective persons (differencing of weighted
populations); and (4) refuses when a binary covariate crossed with the binary outcome has a cell
below ``min_count``, because every round's gradient and information matrix together give X'y,
which contains those counts. These checks block the single-request and pairwise attacks tried
in the tests, not every sequence: a coordinator who stays inside every limit and places
thresholds in the far tail of one covariate can still recover the person with the most extreme
value, and then their other covariates, by non-negative least squares on the exact sums (the
notebook shows it). Against a coordinator who sends arbitrary coefficients the site is not safe;
the coordinator has to be trusted, verified or kept from per-site sums.

With ``log_path`` the query log (populations, statistics requests) is kept in a file at the
site, so it outlives the process, the run and the coordinator's session; without it the log
lives as long as the :class:`Site` object.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from healthdatalab.federation.glm import LocalStatistics, local_statistics, newton_rounds
from healthdatalab.federation.output_checks import MIN_CELL_COUNT, OutputBlockedError, release
from healthdatalab.federation.regression import _sigmoid

__all__ = ["STUDY", "NetworkResult", "Site", "StudyRequestError", "run_network", "run_pooled"]

T2DM, INPATIENT = 201826, 9201
COVARIATES = ("intercept", "age_per_10y", "male", "bmi", "systolic_bp_per_10")

#: The range the study declares for each covariate (part of the study package, the same at every
#: site). The site bounds the linear predictor over this box, whatever its own data hold.
COVARIATE_RANGES: dict[str, tuple[float, float]] = {
    "intercept": (1.0, 1.0), "age_per_10y": (0.0, 12.0), "male": (0.0, 1.0),
    "bmi": (10.0, 80.0), "systolic_bp_per_10": (5.0, 30.0),
}
#: The largest |linear predictor| a request may reach on that box. The honest fit of the
#: notebook's study needs about 25 (its steepest Newton iterate); 40 leaves room for stronger
#: effects while keeping every sigmoid several BMI units wide.
MAX_LINEAR_PREDICTOR: float = 40.0
#: Statistics requests a site answers per study, refused ones included (honest Newton: about 8).
MAX_STATISTICS_REQUESTS: int = 30

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
        WITH cohort AS (  -- one row per person: the first diagnosis is the index date
            SELECT person_id, MIN(condition_start_date) AS index_date
            FROM condition_occurrence WHERE condition_concept_id = {T2DM}
            GROUP BY person_id),
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


class StudyRequestError(ValueError):
    """A request the study does not define (wrong shape, non-finite coefficients)."""


def _effective_number(v: np.ndarray) -> float:
    """(Σv)² / Σv²: how many persons carry the weights v (0 when all weights are zero)."""
    total = float(np.sum(v))
    if total <= 0.0:
        return 0.0
    return total**2 / float(np.sum(v * v))


def linear_predictor_bound(w: np.ndarray) -> float:
    """The largest |w·x| over the study's declared covariate box: depends on w alone."""
    lo = np.array([COVARIATE_RANGES[c][0] for c in COVARIATES])
    hi = np.array([COVARIATE_RANGES[c][1] for c in COVARIATES])
    return float(np.sum(np.maximum(np.abs(w * lo), np.abs(w * hi))))


@dataclass
class Site:
    """One hospital's node: its database, its disclosure rules and its query log.

    ``log`` holds the populations already answered about (name, person ids);
    ``statistics_log`` the coefficients of every released statistics request and
    ``statistics_requests`` the number of requests, refused ones included. With ``log_path``
    all three are read from and written to that file at the site.
    """

    name: str
    database: Path
    min_count: int = MIN_CELL_COUNT
    log: list[tuple[str, frozenset[int]]] = field(default_factory=list, repr=False)
    log_path: Path | None = None
    max_statistics_requests: int = MAX_STATISTICS_REQUESTS
    max_linear_predictor: float = MAX_LINEAR_PREDICTOR
    statistics_log: list[tuple[float, ...]] = field(default_factory=list, repr=False)
    statistics_requests: int = 0
    _design: pd.DataFrame | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.log_path is not None and Path(self.log_path).exists():
            try:
                saved = json.loads(Path(self.log_path).read_text())
                self.log = [(e["what"], frozenset(int(p) for p in e["persons"]))
                            for e in saved["populations"]]
                self.statistics_log = [tuple(float(x) for x in w) for w in saved["released"]]
                self.statistics_requests = int(saved["requests"])
            except (ValueError, KeyError, TypeError) as err:
                raise ValueError(
                    f"site {self.name}: the query log at {self.log_path} is unreadable; "
                    "the site answers nothing until its data steward restores or resets it"
                ) from err

    def _save(self) -> None:
        if self.log_path is None:
            return
        path = Path(self.log_path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({
            "populations": [{"what": what, "persons": sorted(persons)}
                            for what, persons in self.log],
            "released": [list(w) for w in self.statistics_log],
            "requests": self.statistics_requests,
        }))
        os.replace(tmp, path)

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
        if not any(seen == persons for _, seen in self.log):
            self.log.append((what, persons))
            self._save()

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
        persons = frozenset(self._query("cohort")["person_id"].astype(int))
        self._check_difference("incidence", persons)
        row = self._query("incidence").iloc[0]
        counts = {"persons": int(row["persons"]), "events": int(row["events"])}
        # persons without an event are a cell too: persons - events is known to the coordinator
        self._release("incidence", counts,
                      {**counts, "without event": counts["persons"] - counts["events"]})
        return pd.Series({**counts, "person_years": float(row["person_years"])})

    def _refuse(self, rule: str) -> OutputBlockedError:
        return OutputBlockedError(f"site {self.name}: statistics request refused: {rule}")

    def _check_design(self, X: np.ndarray, y: np.ndarray) -> None:
        """Rules on the site's records that hold for every request (DataSHIELD-like)."""
        if len(y) < self.min_count:
            raise self._refuse(f"fewer than {self.min_count} persons")
        binary = [j for j in range(1, X.shape[1]) if len(np.unique(X[:, j])) <= 2]
        cells = [y == 1, y == 0]
        for j in binary:
            for level in np.unique(X[:, j]):
                cells += [(X[:, j] == level) & (y == 1), (X[:, j] == level) & (y == 0)]
        if any(int(np.sum(c)) < self.min_count for c in cells):
            raise self._refuse(
                f"the outcome, or a binary covariate crossed with the outcome, has a cell "
                f"below the minimum count of {self.min_count} (the gradient would reveal it)")

    def statistics(self, w: np.ndarray) -> LocalStatistics:
        w = np.asarray(w, dtype=float)
        if w.shape != (len(COVARIATES),) or not np.all(np.isfinite(w)):
            raise StudyRequestError(f"coefficients must be {len(COVARIATES)} finite numbers")
        # Rules on the request alone: every request counts, refused or not.
        self.statistics_requests += 1
        self._save()
        if self.statistics_requests > self.max_statistics_requests:
            raise self._refuse(
                f"this study's budget of {self.max_statistics_requests} requests is used up")
        if linear_predictor_bound(w) > self.max_linear_predictor:
            raise self._refuse(
                f"the coefficients allow a linear predictor beyond ±{self.max_linear_predictor:g} "
                "on the study's declared covariate ranges")
        if self._design is None:  # the site's own records, kept at the site between rounds
            self._design = self._query("design")
        design = self._design
        self._check_difference("statistics", frozenset(design["person_id"].astype(int)))
        X = np.column_stack([np.ones(len(design)),
                             design[list(COVARIATES[1:])].to_numpy(float)])
        y = design["admitted"].to_numpy(float)
        self._check_design(X, y)
        # Rules on the weights this request puts on the site's persons.
        p = _sigmoid(X @ w)
        v = p * (1 - p)
        if _effective_number(v) < self.min_count:
            raise self._refuse(
                f"the weights rest on fewer than {self.min_count} persons (effective number)")
        for earlier in self.statistics_log:
            q = _sigmoid(X @ np.asarray(earlier))
            for change in (np.abs(p - q), np.abs(v - q * (1 - q))):
                if np.any(change > 0) and _effective_number(change) < self.min_count:
                    raise self._refuse(
                        f"the weights differ from an earlier request's on fewer than "
                        f"{self.min_count} persons (a differencing risk)")
        if tuple(w) not in self.statistics_log:
            self.statistics_log.append(tuple(float(x) for x in w))
            self._save()
        return local_statistics(w, X, y)


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
