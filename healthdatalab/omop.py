"""The synthetic cohort in the OMOP Common Data Model (v5.4), one DuckDB database per hospital.

:func:`to_omop` maps a cohort from :mod:`healthdatalab.cohort` to the OMOP CDM tables a network
study needs: ``person``, ``observation_period``, ``visit_occurrence``, ``condition_occurrence``,
``measurement``, ``drug_exposure`` and the ``concept`` rows they use. :func:`write_hospital_dbs`
writes one DuckDB file per hospital. The tables have the CDM's column names and types and its
required (``NOT NULL``) columns; optional columns the cohort cannot fill are left out.

Concept ids are OMOP standard concepts, each listed in :data:`CONCEPTS` with its vocabulary and
code. Two ICD-10 categories of the cohort (``I25``, ``M54``) and the IFCC HbA1c test are not
mapped to a standard concept here, because their standard concepts could not be confirmed for
this book: their rows carry concept id 0 ("No matching concept", the CDM's convention for
unmapped codes) and keep the source code in the ``*_source_value`` column, so no information is
lost and no mapping is guessed.

The cohort has no medication or admission records; the mapping derives them by fixed rules,
documented in :func:`to_omop`, so that the tables are complete and the network study has events
to count. All data are synthetic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from healthdatalab.cohort import DIAGNOSES, REFERENCE_DATE

__all__ = [
    "CONCEPTS",
    "CONDITION_CONCEPTS",
    "REQUIRED_COLUMNS",
    "OmopTables",
    "to_omop",
    "write_hospital_dbs",
]


@dataclass(frozen=True)
class Concept:
    concept_id: int
    concept_name: str
    domain_id: str
    vocabulary_id: str
    concept_class_id: str
    standard_concept: str | None
    concept_code: str


#: Every concept the mapping uses (OMOP standard vocabularies; SNOMED CT codes in concept_code).
CONCEPTS: tuple[Concept, ...] = (
    Concept(0, "No matching concept", "Metadata", "None", "Undefined", None,
            "No matching concept"),
    Concept(8507, "MALE", "Gender", "Gender", "Gender", "S", "M"),
    Concept(8532, "FEMALE", "Gender", "Gender", "Gender", "S", "F"),
    Concept(9201, "Inpatient Visit", "Visit", "Visit", "Visit", "S", "IP"),
    Concept(9202, "Outpatient Visit", "Visit", "Visit", "Visit", "S", "OP"),
    Concept(32817, "EHR", "Type Concept", "Type Concept", "Type Concept", "S", "OMOP4976890"),
    Concept(201826, "Type 2 diabetes mellitus", "Condition", "SNOMED", "Clinical Finding", "S",
            "44054006"),
    Concept(320128, "Essential hypertension", "Condition", "SNOMED", "Clinical Finding", "S",
            "59621000"),
    Concept(255573, "Chronic obstructive lung disease", "Condition", "SNOMED",
            "Clinical Finding", "S", "13645005"),
    Concept(443388, "Malignant tumor of lung", "Condition", "SNOMED", "Clinical Finding", "S",
            "363358000"),
    Concept(433736, "Obesity", "Condition", "SNOMED", "Clinical Finding", "S", "414916001"),
    Concept(46271022, "Chronic kidney disease", "Condition", "SNOMED", "Clinical Finding", "S",
            "709044004"),
    Concept(440383, "Depressive disorder", "Condition", "SNOMED", "Clinical Finding", "S",
            "35489007"),
    Concept(318800, "Gastroesophageal reflux disease", "Condition", "SNOMED",
            "Clinical Finding", "S", "235595009"),
    Concept(3038553, "Body mass index (BMI) [Ratio]", "Measurement", "LOINC",
            "Clinical Observation", "S", "39156-5"),
    Concept(3004249, "Systolic blood pressure", "Measurement", "LOINC", "Clinical Observation",
            "S", "8480-6"),
    Concept(9531, "kilogram per square meter", "Unit", "UCUM", "Unit", "S", "kg/m2"),
    Concept(8876, "millimeter mercury column", "Unit", "UCUM", "Unit", "S", "mm[Hg]"),
    Concept(1503297, "metformin", "Drug", "RxNorm", "Ingredient", "S", "6809"),
)

#: ICD-10 category of the cohort -> standard condition concept (0 where not mapped here).
CONDITION_CONCEPTS: dict[str, int] = {
    "E11": 201826, "I10": 320128, "J44": 255573, "C34": 443388, "E66": 433736,
    "N18": 46271022, "F32": 440383, "K21": 318800, "I25": 0, "M54": 0,
}

_GENDER = {"M": 8507, "F": 8532}
_EHR = 32817
_MEASUREMENTS = {  # cohort column -> (concept, unit concept, source value)
    "bmi": (3038553, 9531, "LOINC 39156-5"),
    "systolic_bp": (3004249, 8876, "LOINC 8480-6"),
    "hba1c": (0, 0, "LOINC 59261-8"),
}

#: The CDM v5.4 columns that may not be NULL, per table (the ones these tables carry).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "person": ("person_id", "gender_concept_id", "year_of_birth", "race_concept_id",
               "ethnicity_concept_id"),
    "observation_period": ("observation_period_id", "person_id",
                           "observation_period_start_date", "observation_period_end_date",
                           "period_type_concept_id"),
    "visit_occurrence": ("visit_occurrence_id", "person_id", "visit_concept_id",
                         "visit_start_date", "visit_end_date", "visit_type_concept_id"),
    "condition_occurrence": ("condition_occurrence_id", "person_id", "condition_concept_id",
                             "condition_start_date", "condition_type_concept_id"),
    "measurement": ("measurement_id", "person_id", "measurement_concept_id", "measurement_date",
                    "measurement_type_concept_id"),
    "drug_exposure": ("drug_exposure_id", "person_id", "drug_concept_id",
                      "drug_exposure_start_date", "drug_exposure_end_date",
                      "drug_type_concept_id"),
    "concept": ("concept_id", "concept_name", "domain_id", "vocabulary_id", "concept_class_id",
                "concept_code", "valid_start_date", "valid_end_date"),
}

_NEEDED = ("patient_id", "sex", "date_of_birth", "hospital", "diagnosis", "bmi",
           "systolic_bp", "hba1c", "outcome")


@dataclass(frozen=True)
class OmopTables:
    """The CDM tables of one cohort (or one hospital's part of it)."""

    tables: Mapping[str, pd.DataFrame]

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]


def _person_ids(patient_ids: pd.Series) -> np.ndarray:
    digits = patient_ids.astype("string").str.fullmatch(r"P\d{7}")
    if not digits.all():
        raise ValueError("patient_id must be the cohort's study numbers (P and seven digits)")
    return patient_ids.astype("string").str[1:].astype(int).to_numpy()


def to_omop(cohort: pd.DataFrame, *, observation_start: dt.date | None = None) -> OmopTables:
    """Map a cohort to OMOP CDM v5.4 tables.

    Rules for what the cohort does not record: every patient is observed from a year before to
    a year after the cohort's reference date and has one outpatient visit on the reference
    date, at which the three measurements are taken and the diagnosis is recorded; a patient
    with the outcome has an inpatient visit 30 days later; a patient with type 2 diabetes takes
    metformin for the year before the reference date.
    """
    if not isinstance(cohort, pd.DataFrame):
        raise TypeError(f"cohort must be a pandas DataFrame, got {type(cohort).__name__}")
    missing = [c for c in _NEEDED if c not in cohort.columns]
    if missing:
        raise KeyError(f"the cohort lacks column(s) {missing} needed for the OMOP mapping")
    if len(cohort) == 0:
        raise ValueError("the cohort is empty")
    unknown = sorted(set(cohort["diagnosis"].astype(str)) - set(CONDITION_CONCEPTS))
    if unknown:
        raise ValueError(
            f"{len(unknown)} diagnosis code(s) have no entry in CONDITION_CONCEPTS; add a "
            "mapping (or 0 for 'No matching concept') before mapping this cohort"
        )
    bad_sex = ~cohort["sex"].isin(list(_GENDER))
    if bad_sex.any():
        raise ValueError(f"sex must be 'F' or 'M'; {int(bad_sex.sum())} row(s) are not")
    day = REFERENCE_DATE.date()
    start = observation_start or (day - dt.timedelta(days=365))
    if start >= day:
        raise ValueError("observation_start must lie before the cohort's reference date")
    pid = _person_ids(cohort["patient_id"])
    n = len(cohort)
    dob = pd.to_datetime(cohort["date_of_birth"])

    person = pd.DataFrame({
        "person_id": pid,
        "gender_concept_id": cohort["sex"].map(_GENDER).to_numpy(),
        "year_of_birth": dob.dt.year.to_numpy(),
        "month_of_birth": dob.dt.month.to_numpy(),
        "day_of_birth": dob.dt.day.to_numpy(),
        "race_concept_id": np.zeros(n, dtype=int),
        "ethnicity_concept_id": np.zeros(n, dtype=int),
        "person_source_value": cohort["patient_id"].astype(str).to_numpy(),
        "gender_source_value": cohort["sex"].astype(str).to_numpy(),
    })
    observation_period = pd.DataFrame({
        "observation_period_id": pid,
        "person_id": pid,
        "observation_period_start_date": start,
        "observation_period_end_date": day + dt.timedelta(days=365),
        "period_type_concept_id": _EHR,
    })
    admitted = cohort["outcome"].to_numpy() == 1
    admission = day + dt.timedelta(days=30)
    visits = pd.concat([
        pd.DataFrame({"visit_occurrence_id": pid * 10, "person_id": pid, "visit_concept_id": 9202,
                      "visit_start_date": day, "visit_end_date": day}),
        pd.DataFrame({"visit_occurrence_id": pid[admitted] * 10 + 1, "person_id": pid[admitted],
                      "visit_concept_id": 9201, "visit_start_date": admission,
                      "visit_end_date": admission + dt.timedelta(days=3)}),
    ], ignore_index=True)
    visits["visit_type_concept_id"] = _EHR
    codes = cohort["diagnosis"].astype(str)
    condition = pd.DataFrame({
        "condition_occurrence_id": pid,
        "person_id": pid,
        "condition_concept_id": codes.map(CONDITION_CONCEPTS).to_numpy(),
        "condition_start_date": day,
        "condition_type_concept_id": _EHR,
        "visit_occurrence_id": pid * 10,
        "condition_source_value": codes.to_numpy(),
    })
    rows = []
    for k, (column, (concept, unit, source)) in enumerate(_MEASUREMENTS.items()):
        rows.append(pd.DataFrame({
            "measurement_id": pid * 10 + k,
            "person_id": pid,
            "measurement_concept_id": concept,
            "measurement_date": day,
            "measurement_type_concept_id": _EHR,
            "value_as_number": cohort[column].to_numpy(float),
            "unit_concept_id": unit,
            "visit_occurrence_id": pid * 10,
            "measurement_source_value": source,
        }))
    measurement = pd.concat(rows, ignore_index=True)
    diabetic = codes.to_numpy() == "E11"
    drug = pd.DataFrame({
        "drug_exposure_id": pid[diabetic],
        "person_id": pid[diabetic],
        "drug_concept_id": 1503297,
        "drug_exposure_start_date": start,
        "drug_exposure_end_date": day,
        "drug_type_concept_id": _EHR,
        "drug_source_value": "metformin",
    })
    concept = pd.DataFrame([vars(c) for c in CONCEPTS])
    concept["valid_start_date"] = dt.date(1970, 1, 1)
    concept["valid_end_date"] = dt.date(2099, 12, 31)
    for frame in (observation_period, visits, condition, measurement, drug):
        for column in frame.columns:
            if column.endswith("_date"):
                frame[column] = pd.to_datetime(frame[column])
    concept["valid_start_date"] = pd.to_datetime(concept["valid_start_date"])
    concept["valid_end_date"] = pd.to_datetime(concept["valid_end_date"])
    return OmopTables({
        "person": person, "observation_period": observation_period,
        "visit_occurrence": visits, "condition_occurrence": condition,
        "measurement": measurement, "drug_exposure": drug, "concept": concept,
    })


def write_hospital_dbs(cohort: pd.DataFrame, folder: str | Path) -> dict[str, Path]:
    """One DuckDB file per hospital with its OMOP tables; returns hospital -> file."""
    import duckdb

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if "hospital" not in cohort.columns:
        raise KeyError("the cohort lacks the column 'hospital'")
    files = {}
    for hospital, part in cohort.groupby("hospital", sort=True):
        tables = to_omop(part.reset_index(drop=True))
        path = folder / f"{str(hospital).lower().replace(' ', '_')}.duckdb"
        path.unlink(missing_ok=True)
        with duckdb.connect(str(path)) as con:
            for name, frame in tables.tables.items():
                con.register("frame", frame)
                con.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
                con.unregister("frame")
        files[str(hospital)] = path
    return files


#: The diagnoses of the cohort, for readers of this module.
ICD10_CATEGORIES = DIAGNOSES
