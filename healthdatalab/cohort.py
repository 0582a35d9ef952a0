"""Seeded synthetic Dutch patient cohorts with a known ground truth.

Every value here is generated: names are drawn from Faker's ``nl_NL`` word lists, citizen
service numbers (BSN) are random numbers that pass the eleven-test, and the clinical values and
the outcome come from the model below. No real person's data are used or attached.

The outcome (a synthetic "cardiovascular event within five years") follows a logistic model
whose coefficients are published in :data:`TRUE_COEFFICIENTS`, so a notebook can compare any
estimate, pooled, federated or computed on anonymised data, with the truth::

    logit P(outcome = 1) = intercept + sum(coefficient * feature)

over the features returned by :func:`outcome_features`. Hospitals differ in case mix (age,
smoking, catchment area, diagnoses) but not in this model, so a pooled analysis recovers the
truth while each hospital's data are distributed differently (non-IID).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import pandas as pd
from faker.providers.address.nl_NL import Provider as _AddressProvider
from faker.providers.person.nl_NL import Provider as _PersonProvider

#: Ages and durations are computed on this date, so a cohort does not change with the calendar.
REFERENCE_DATE = pd.Timestamp("2026-01-01")

#: Coefficients of the outcome model (log-odds per unit of each feature of outcome_features).
TRUE_COEFFICIENTS: dict[str, float] = {
    "intercept": -2.2,
    "age_per_10y": 0.55,  # (age - 60) / 10
    "male": 0.35,  # 1 for sex "M"
    "smoking": 0.70,  # current smoker
    "bmi_per_5": 0.20,  # (BMI - 27) / 5
    "systolic_bp_per_10": 0.15,  # (systolic blood pressure - 130 mmHg) / 10
    "hba1c_per_10": 0.30,  # (HbA1c - 40 mmol/mol) / 10
}

#: Primary diagnoses (ICD-10 three-character categories) the generator draws from.
DIAGNOSES: dict[str, str] = {
    "E11": "Type 2 diabetes mellitus",
    "I10": "Essential (primary) hypertension",
    "I25": "Chronic ischaemic heart disease",
    "J44": "Other chronic obstructive pulmonary disease",
    "C34": "Malignant neoplasm of bronchus and lung",
    "E66": "Obesity",
    "N18": "Chronic kidney disease",
    "F32": "Depressive episode",
    "M54": "Dorsalgia",
    "K21": "Gastro-oesophageal reflux disease",
}

#: Every column generate_cohort can return, in order.
COLUMNS: tuple[str, ...] = (
    "patient_id",
    "bsn",
    "name",
    "street",
    "city",
    "postcode",
    "date_of_birth",
    "sex",
    "age",
    "hospital",
    "diagnosis",
    "bmi",
    "systolic_bp",
    "hba1c",
    "smoking",
    "outcome",
)

_BSN_WEIGHTS = np.array([9, 8, 7, 6, 5, 4, 3, 2, -1])
_MAX_ROWS = 10_000_000
_MAX_HOSPITALS = 26


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be zero or positive, got {seed}")
    return int(seed)


def _check_count(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:,} and {high:,}, got {value:,}")
    return int(value)


def is_valid_bsn(bsn: object) -> bool:
    """True when ``bsn`` is a nine-digit string that passes the BSN eleven-test.

    The test multiplies the digits by 9, 8, ..., 2 and the last digit by -1; the sum must be a
    positive multiple of 11. Passing it says the number is well formed, not that it was issued.
    """
    if not isinstance(bsn, str) or len(bsn) != 9 or not bsn.isascii() or not bsn.isdigit():
        return False
    digits = np.frombuffer(bsn.encode("ascii"), dtype=np.uint8) - ord("0")
    total = int(digits @ _BSN_WEIGHTS)
    return total > 0 and total % 11 == 0


def random_bsns(n: int, rng: np.random.Generator) -> np.ndarray:
    """Return ``n`` distinct random nine-digit strings that pass the eleven-test.

    The first eight digits are drawn uniformly; the ninth is the check digit the test forces
    (drawings where it would have to be 10 are redrawn).
    """
    n = _check_count("n", n, 0, _MAX_ROWS)
    if n == 0:
        return np.empty(0, dtype=object)
    found = np.empty(0, dtype=np.int64)
    while found.size < n:
        need = n - found.size
        digits = rng.integers(0, 10, size=(int(need * 1.2) + 16, 8))
        weighted = digits @ _BSN_WEIGHTS[:8]
        check = weighted % 11
        # The test's total is weighted - check = 11 * (weighted // 11): it must be positive,
        # so a weighted sum below 11 (mostly zeros, all zeros included) cannot be completed.
        keep = (check < 10) & (weighted >= 11)
        digits, check = digits[keep], check[keep]
        numbers_ = digits @ (10 ** np.arange(8, 0, -1)) + check
        found = np.unique(np.concatenate([found, numbers_]))
    found = rng.permutation(found)[:n]
    return np.char.zfill(found.astype(str), 9).astype(object)


def _hospital_profiles(hospitals: int) -> pd.DataFrame:
    """Case mix per hospital: mean age, smoking prevalence and catchment postcode range."""
    letters = [chr(ord("A") + i) for i in range(hospitals)]
    position = np.linspace(0.0, 1.0, hospitals) if hospitals > 1 else np.array([0.5])
    edges = np.linspace(1000, 10000, hospitals + 1).astype(int)
    return pd.DataFrame(
        {
            "hospital": [f"Hospital {letter}" for letter in letters],
            "mean_age": 48 + 18 * position,  # from a young to an old population
            "smoking_rate": 0.32 - 0.17 * position,  # and from many smokers to few
            "share": np.linspace(1.3, 0.7, hospitals) / np.linspace(1.3, 0.7, hospitals).sum(),
            "postcode_low": edges[:-1],
            "postcode_high": edges[1:],
        }
    )


def _postcode_weights(rng: np.random.Generator) -> np.ndarray:
    """Population weights of the four-digit postcodes 1000-9999: a skewed, fixed spread."""
    weights = rng.lognormal(mean=0.0, sigma=1.0, size=9000)
    weights[rng.random(9000) < 0.55] = 0.0  # about 4,000 postcodes are in use
    return weights


def outcome_features(cohort: pd.DataFrame) -> pd.DataFrame:
    """The features of the outcome model, one column per non-intercept coefficient."""
    missing = {"age", "sex", "smoking", "bmi", "systolic_bp", "hba1c"} - set(cohort.columns)
    if missing:
        raise KeyError(f"outcome_features needs the columns {sorted(missing)}, which are missing")
    sex = cohort["sex"]
    if not sex.isin(["M", "F"]).all():
        raise ValueError(
            f"sex must be 'M' or 'F' in every row; {int((~sex.isin(['M', 'F'])).sum())} row(s) "
            "hold something else (a missing, lower-case or other value), which the outcome "
            "model cannot place"
        )
    return pd.DataFrame(
        {
            "age_per_10y": (cohort["age"].to_numpy(float) - 60.0) / 10.0,
            "male": (cohort["sex"] == "M").to_numpy(float),
            "smoking": cohort["smoking"].to_numpy(float),
            "bmi_per_5": (cohort["bmi"].to_numpy(float) - 27.0) / 5.0,
            "systolic_bp_per_10": (cohort["systolic_bp"].to_numpy(float) - 130.0) / 10.0,
            "hba1c_per_10": (cohort["hba1c"].to_numpy(float) - 40.0) / 10.0,
        },
        index=cohort.index,
    )


def outcome_probability(cohort: pd.DataFrame) -> np.ndarray:
    """The true probability of the outcome for each row, from TRUE_COEFFICIENTS."""
    features = outcome_features(cohort)
    coefficients = np.array([TRUE_COEFFICIENTS[c] for c in features.columns])
    logit = TRUE_COEFFICIENTS["intercept"] + features.to_numpy() @ coefficients
    return 1.0 / (1.0 + np.exp(-logit))


def _diagnoses(frame: pd.DataFrame, hospital_index: np.ndarray, rng: np.random.Generator):
    """Draw one primary diagnosis per row from weights that depend on the clinical values."""
    codes = list(DIAGNOSES)
    age = frame["age"].to_numpy(float)
    n = len(frame)
    weights = np.empty((n, len(codes)))
    weights[:, 0] = 0.3 + 3.0 * (frame["hba1c"].to_numpy() >= 48)  # E11
    weights[:, 1] = 0.4 + 2.0 * (frame["systolic_bp"].to_numpy() >= 140)  # I10
    weights[:, 2] = 0.2 + 0.02 * np.clip(age - 40, 0, None)  # I25
    weights[:, 3] = 0.1 + 1.5 * frame["smoking"].to_numpy()  # J44
    weights[:, 4] = 0.05 + 0.4 * frame["smoking"].to_numpy()  # C34
    weights[:, 5] = 0.1 + 1.5 * (frame["bmi"].to_numpy() >= 30)  # E66
    weights[:, 6] = 0.1 + 0.015 * np.clip(age - 50, 0, None)  # N18
    weights[:, 7] = 0.6  # F32
    weights[:, 8] = 0.7  # M54
    weights[:, 9] = 0.5  # K21
    # Case mix: each hospital has a speciality that draws more of one diagnosis.
    speciality = np.array([2, 3, 0, 4, 6, 1])[hospital_index % 6]
    weights[np.arange(n), speciality] *= 2.5
    cumulative = np.cumsum(weights, axis=1)
    draw = rng.random(n) * cumulative[:, -1]
    chosen = (cumulative < draw[:, None]).sum(axis=1)
    return np.asarray(codes, dtype=object)[chosen]


def generate_cohort(
    n: int,
    seed: int = 0,
    *,
    hospitals: int = 3,
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Generate ``n`` synthetic patients of ``hospitals`` hospitals, reproducibly from ``seed``.

    Returns one row per patient with the columns in :data:`COLUMNS` (or only ``columns``, in
    that order). The same ``n``, ``seed`` and ``hospitals`` always give the same table.
    """
    n = _check_count("n", n, 1, _MAX_ROWS)
    seed = _check_seed(seed)
    hospitals = _check_count("hospitals", hospitals, 1, _MAX_HOSPITALS)
    if columns is not None:
        if isinstance(columns, str):
            raise TypeError("columns must be a list of column names, not a single string")
        unknown = [c for c in columns if c not in COLUMNS]
        if unknown:
            raise ValueError(f"unknown column(s) {unknown}; choose from {list(COLUMNS)}")

    rng = np.random.default_rng(seed)
    profiles = _hospital_profiles(hospitals)

    # Hospital and, from its catchment area, a four-digit postcode.
    hospital_index = rng.choice(hospitals, size=n, p=profiles["share"].to_numpy())
    profile = profiles.iloc[hospital_index].reset_index(drop=True)
    postcode_weights = _postcode_weights(np.random.default_rng(7))  # one geography for all
    codes = np.arange(1000, 10000)
    postcode = np.empty(n, dtype=np.int64)
    local = rng.random(n) < 0.9  # one patient in ten comes from outside the catchment area
    for h in range(hospitals):
        low, high = profiles.loc[h, ["postcode_low", "postcode_high"]]
        inside = (codes >= low) & (codes < high)
        w = postcode_weights * inside
        rows = np.flatnonzero((hospital_index == h) & local)
        postcode[rows] = rng.choice(codes, size=rows.size, p=w / w.sum())
    rows = np.flatnonzero(~local)
    postcode[rows] = rng.choice(codes, size=rows.size, p=postcode_weights / postcode_weights.sum())

    # Demographics: age from the hospital's case mix; date of birth consistent with it.
    age_years = np.clip(rng.normal(profile["mean_age"], 17.0), 18.05, 99.9)
    days = np.floor(age_years * 365.2425).astype("int64")
    date_of_birth = (REFERENCE_DATE - pd.to_timedelta(days, unit="D")).normalize()
    dob = pd.DatetimeIndex(date_of_birth)
    had_birthday = (dob.month < REFERENCE_DATE.month) | (
        (dob.month == REFERENCE_DATE.month) & (dob.day <= REFERENCE_DATE.day)
    )
    age = (REFERENCE_DATE.year - dob.year - (~had_birthday).astype(int)).to_numpy()
    male = rng.random(n) < 0.49
    sex = np.where(male, "M", "F").astype(object)

    # Clinical values, correlated the way one would expect.
    smoking = (rng.random(n) < profile["smoking_rate"] * np.where(age < 70, 1.0, 0.6)).astype(int)
    bmi = np.clip(rng.normal(26.5 + 0.03 * (age - 50), 4.5), 15.0, 60.0).round(1)
    systolic_bp = np.clip(
        rng.normal(120 + 0.5 * (age - 50) + 0.8 * (bmi - 26) + 4 * male, 14.0), 80.0, 230.0
    ).round(0)
    hba1c = np.clip(
        36 + 0.12 * (age - 50) + 0.6 * (bmi - 26) + rng.gamma(2.0, 2.5, n) - 5.0, 20.0, 130.0
    ).round(0)

    frame = pd.DataFrame(
        {
            "age": age,
            "sex": sex,
            "smoking": smoking,
            "bmi": bmi,
            "systolic_bp": systolic_bp,
            "hba1c": hba1c,
        }
    )
    outcome = (rng.random(n) < outcome_probability(frame)).astype(int)
    diagnosis = _diagnoses(frame, hospital_index, rng)

    # Direct identifiers, sampled from Faker's nl_NL word lists (fast at any size).
    females = np.array(_PersonProvider.first_names_female, dtype=object)
    males = np.array(_PersonProvider.first_names_male, dtype=object)
    last_names = np.array(_PersonProvider.last_names, dtype=object)
    first = np.where(
        male, males[rng.integers(0, males.size, n)], females[rng.integers(0, females.size, n)]
    )
    name = pd.Series(first) + " " + pd.Series(last_names[rng.integers(0, last_names.size, n)])
    suffixes = np.array(_AddressProvider.street_suffixes, dtype=object)
    street_base = last_names[rng.integers(0, last_names.size, n)]
    street = (
        pd.Series(street_base).str.split(" ").str[-1].str.lstrip("'").str.capitalize()
        + pd.Series(suffixes[rng.integers(0, suffixes.size, n)])
        + " "
        + pd.Series(rng.integers(1, 200, n)).astype(str)
    )
    cities = np.array(_AddressProvider.cities, dtype=object)
    city = cities[(postcode * 2654435761) % cities.size]  # one city per postcode

    cohort = pd.DataFrame(
        {
            "patient_id": pd.Series(np.arange(1, n + 1)).astype(str).str.zfill(7).radd("P"),
            "bsn": random_bsns(n, rng),
            "name": name,
            "street": street,
            "city": city,
            "postcode": postcode.astype(str),
            "date_of_birth": date_of_birth,
            "sex": sex,
            "age": age,
            "hospital": profiles["hospital"].to_numpy(dtype=object)[hospital_index],
            "diagnosis": diagnosis,
            "bmi": bmi,
            "systolic_bp": systolic_bp,
            "hba1c": hba1c,
            "smoking": smoking,
            "outcome": outcome,
        }
    )
    text = cohort.select_dtypes(include=["object", "str"]).columns
    cohort[text] = cohort[text].astype("string")
    return cohort if columns is None else cohort[list(columns)]


def make_register(
    cohort: pd.DataFrame,
    seed: int = 0,
    *,
    coverage: float = 0.9,
    extra: float = 1.0,
) -> pd.DataFrame:
    """A public register (name, date of birth, postcode) to attempt linkage attacks with.

    It lists a share ``coverage`` of the cohort's patients, as they appear in the cohort, plus
    ``extra`` times as many people who are not patients, drawn from the same population, so
    that a match in the register is not proof of being in the cohort. Rows are shuffled.
    """
    seed = _check_seed(seed)
    required = {"name", "date_of_birth", "postcode"}
    missing = required - set(cohort.columns)
    if missing:
        raise KeyError(f"make_register needs the columns {sorted(missing)}, which are missing")
    if len(cohort) == 0:
        raise ValueError("make_register needs a non-empty cohort")
    for label, value, high in (("coverage", coverage, 1.0), ("extra", extra, 100.0)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or np.isnan(value):
            raise TypeError(f"{label} must be a number, got {value!r}")
        if not 0.0 <= value <= high:
            raise ValueError(f"{label} must be between 0 and {high}, got {value}")

    rng = np.random.default_rng(seed)
    listed = cohort.loc[rng.random(len(cohort)) < coverage, ["name", "date_of_birth", "postcode"]]
    n_extra = int(round(extra * len(cohort)))
    parts = [listed]
    if n_extra:
        others = generate_cohort(
            n_extra, seed=seed + 1_000_003, columns=["name", "date_of_birth", "postcode"]
        )
        parts.append(others)
    register = pd.concat(parts, ignore_index=True)
    return register.iloc[rng.permutation(len(register))].reset_index(drop=True)
