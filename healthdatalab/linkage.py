"""Vertical partitioning: three data holders, different variables, the same patients.

Horizontal partitioning splits the *patients* (each hospital holds its own patients, with the
same variables). Vertical partitioning splits the *variables*: a GP holds blood pressure and
smoking, a pharmacy holds what it dispensed, a hospital holds diagnoses and events, each for
an overlapping, not identical, set of the same people. A question that needs variables of all
three ("does an event follow high HbA1c at the GP when the pharmacy dispensed no
antihypertensive?") needs their records *linked* first, and nobody shares a patient number.

:func:`make_vertical_partition` builds that situation from the synthetic cohort
(:func:`healthdatalab.cohort.generate_cohort`): each holder keeps the identifiers (first
name, surname, date of birth, postcode, sex) with its own seeded errors (typing errors, day
and month swapped, an old postcode after a move, missing values), its own variables and its
own record numbers; the true person behind every record is kept aside in ``truth``.
Three ways to link, each returning pairs of record ids:

* :func:`link_splink`: probabilistic (Fellegi-Sunter) linkage of the clear identifiers with
  Splink on DuckDB, trained without labels as a practitioner would (u from random sampling,
  m by expectation maximisation), then one-to-one clusters across the three holders.
* :func:`link_pseudonyms`: a trusted third party replaces the identifiers by a keyed hash
  (HMAC-SHA-256 with a key from :mod:`secrets`, :func:`keyed_pseudonyms`) and joins equal
  pseudonyms: exact only, so one wrong letter loses the link.
* :func:`link_bloom`: Bloom-filter encodings (:class:`healthdatalab.pprl.BloomEncoder`)
  compared by Dice similarity, with blocking by locality-sensitive hashing of filter bits.

:func:`linkage_quality` measures precision, recall and F1 against the truth;
:func:`linked_view` joins the three holders' variables along a set of links, so an analysis can
be run on the linked data and on the truth (:func:`true_links`) and the two compared.

Errors on bad input name the problem (a missing column, an empty table, repeated record ids,
a threshold out of range) and never contain a data value.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import numbers
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from healthdatalab.cohort import generate_cohort
from healthdatalab.pprl import BloomEncoder, LinkageQuality, _typo, normalise

__all__ = [
    "HOLDERS",
    "IDENTIFIERS",
    "NOISE",
    "VARIABLES",
    "LinkageResult",
    "VerticalPartition",
    "corrupted_records",
    "keyed_pseudonyms",
    "link_bloom",
    "link_pseudonyms",
    "link_splink",
    "linkage_quality",
    "linked_view",
    "make_vertical_partition",
    "pseudonymise_fields",
    "splink_settings",
    "true_links",
]

#: The three data holders, in the order their records are linked.
HOLDERS: tuple[str, ...] = ("gp", "pharmacy", "hospital")

#: The identifying columns every holder keeps (besides its own ``record_id``).
IDENTIFIERS: tuple[str, ...] = ("first_name", "surname", "date_of_birth", "postcode", "sex")

#: The variables only one holder has.
VARIABLES: dict[str, tuple[str, ...]] = {
    "gp": ("age", "smoking", "bmi", "systolic_bp", "hba1c"),
    "pharmacy": ("antihypertensive", "statin", "metformin"),
    "hospital": ("diagnosis", "outcome"),
}

#: Share of the population each holder has records of (independent draws, seeded).
COVERAGE: dict[str, float] = {"gp": 0.95, "pharmacy": 0.80, "hospital": 0.60}

#: Error rates per holder at ``noise=1``: a typing error in a name (each name separately), day
#: and month of birth swapped, an old postcode (the patient moved), a missing postcode (a
#: missing first name at half that rate). The GP's register is the cleanest.
NOISE: dict[str, dict[str, float]] = {
    "gp": {"typo": 0.02, "swap": 0.01, "moved": 0.03, "missing": 0.01},
    "pharmacy": {"typo": 0.05, "swap": 0.02, "moved": 0.08, "missing": 0.05},
    "hospital": {"typo": 0.04, "swap": 0.03, "moved": 0.05, "missing": 0.02},
}

#: The identifiers the keyed pseudonyms and the Bloom filters are made of by default.
LINK_FIELDS: tuple[str, ...] = ("first_name", "surname", "date_of_birth", "sex")

_MAX_PEOPLE = 2_000_000
_MIN_KEY_BYTES = 16


# ------------------------------------------------------------------------------- checks


def _check_fraction(name: str, value: object, *, low_open: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or np.isnan(value):
        raise TypeError(f"{name} must be a number")
    if not ((0.0 < value) if low_open else (0.0 <= value)) or value > 1.0:
        bound = "above 0" if low_open else "at least 0"
        raise ValueError(f"{name} must be {bound} and at most 1")
    return float(value)


def _check_table(table: object, name: str, columns: Sequence[str]) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise KeyError(f"{name} lacks the column(s) {missing}")
    if len(table) == 0:
        raise ValueError(f"{name} is empty: there is nothing to link")
    ids = table["record_id"]
    if ids.isna().any():
        raise ValueError(f"{name} has a record without a record_id")
    if ids.duplicated().any():
        raise ValueError(
            f"{name} has {int(ids.duplicated().sum())} repeated record_id(s); "
            "every record needs its own id"
        )
    return table


def _check_holders(holders: object, columns: Sequence[str]) -> dict[str, pd.DataFrame]:
    if not isinstance(holders, Mapping):
        raise TypeError("holders must be a mapping from holder name to its table")
    if len(holders) < 2:
        raise ValueError("linkage needs the tables of at least two holders")
    for name in holders:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError("holder names must be short identifiers such as 'gp'")
    return {
        name: _check_table(table, f"the table of holder {name!r}", ["record_id", *columns])
        for name, table in holders.items()
    }


def _check_links(links: object, name: str) -> pd.DataFrame:
    needed = ["holder_l", "record_l", "holder_r", "record_r"]
    if not isinstance(links, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame")
    missing = [c for c in needed if c not in links.columns]
    if missing:
        raise KeyError(f"{name} lacks the column(s) {missing}")
    return links


# -------------------------------------------------------------------------- synthetic data


@dataclass(frozen=True)
class VerticalPartition:
    """Three holders' tables, the true person of every record, and the pooled clean table.

    ``holders`` maps ``"gp"``, ``"pharmacy"`` and ``"hospital"`` to a table with ``record_id``,
    the :data:`IDENTIFIERS` (with that holder's errors) and its :data:`VARIABLES`. ``truth``
    has one row per record: ``holder``, ``record_id`` and ``person_id``; a linkage never sees
    it. ``people`` has one row per person: ``person_id``, the clean identifiers and every
    variable, which is what a perfect linkage would give.
    """

    holders: dict[str, pd.DataFrame]
    truth: pd.DataFrame
    people: pd.DataFrame


def _dispensing(people: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """What a pharmacy dispensed, drawn from the clinical values a GP would treat."""
    n = len(people)
    high_bp = people["systolic_bp"].to_numpy() >= 140
    high_hba1c = people["hba1c"].to_numpy() >= 48
    older = people["age"].to_numpy() >= 60
    return pd.DataFrame(
        {
            "antihypertensive": (rng.random(n) < 0.08 + 0.55 * high_bp).astype(int),
            "statin": (rng.random(n) < 0.05 + 0.25 * older + 0.25 * high_hba1c).astype(int),
            "metformin": (rng.random(n) < 0.02 + 0.70 * high_hba1c).astype(int),
        },
        index=people.index,
    )


def _swap_day_month(dates: pd.Series) -> pd.Series:
    """``YYYY-MM-DD`` with month and day exchanged (only called where the day is at most 12)."""
    return dates.str[:5] + dates.str[8:10] + "-" + dates.str[5:7]


def _corrupt(
    table: pd.DataFrame, rates: Mapping[str, float], postcodes: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    table = table.copy()
    n = len(table)
    for column in ("first_name", "surname"):
        edit = rng.random(n) < rates["typo"]
        table.loc[edit, column] = [_typo(v, rng) for v in table.loc[edit, column].tolist()]
    dob = table["date_of_birth"]
    swappable = (dob.str[8:10].astype(int) <= 12).to_numpy()
    edit = swappable & (rng.random(n) < rates["swap"])
    table.loc[edit, "date_of_birth"] = _swap_day_month(dob[edit])
    moved = rng.random(n) < rates["moved"]
    table.loc[moved, "postcode"] = postcodes[rng.integers(0, postcodes.size, int(moved.sum()))]
    table.loc[rng.random(n) < rates["missing"], "postcode"] = pd.NA
    table.loc[rng.random(n) < rates["missing"] / 2, "first_name"] = pd.NA
    return table


def make_vertical_partition(
    n: int,
    seed: int = 0,
    *,
    noise: float = 1.0,
    coverage: Mapping[str, float] | None = None,
) -> VerticalPartition:
    """``n`` synthetic people spread over a GP, a pharmacy and a hospital (see the module).

    Each holder has a share :data:`COVERAGE` (or ``coverage``) of the people, drawn
    independently, so the three sets overlap without being equal. ``noise`` scales every error
    rate of :data:`NOISE` (0 gives clean copies; at most 5). Everything is seeded by ``seed``.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 10 <= n <= _MAX_PEOPLE:
        raise ValueError(f"n must be an integer from 10 to {_MAX_PEOPLE:,}")
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not 0 <= noise <= 5:
        raise ValueError("noise must be a number from 0 to 5")
    shares = dict(COVERAGE if coverage is None else coverage)
    if set(shares) != set(HOLDERS):
        raise ValueError(f"coverage must give a share for each of {list(HOLDERS)}")
    for holder, share in shares.items():
        _check_fraction(f"coverage of {holder}", share)

    cohort = generate_cohort(n, seed)
    rng = np.random.default_rng([seed, 10])
    names = cohort["name"].str.split(" ", n=1)
    people = pd.DataFrame(
        {
            "person_id": np.arange(n),
            "first_name": names.str[0].str.lower(),
            "surname": names.str[1].str.lower(),
            "date_of_birth": cohort["date_of_birth"].dt.strftime("%Y-%m-%d"),
            "postcode": cohort["postcode"],
            "sex": cohort["sex"],
        }
    )
    for column in ("age", "smoking", "bmi", "systolic_bp", "hba1c", "diagnosis", "outcome"):
        people[column] = cohort[column].to_numpy()
    people = pd.concat([people, _dispensing(people, rng)], axis=1)
    text = ["first_name", "surname", "date_of_birth", "postcode", "sex", "diagnosis"]
    people[text] = people[text].astype("string")

    postcodes = people["postcode"].to_numpy()
    holders: dict[str, pd.DataFrame] = {}
    truth = []
    for holder in HOLDERS:
        rates = {k: min(v * noise, 1.0) for k, v in NOISE[holder].items()}
        members = np.flatnonzero(rng.random(n) < shares[holder])
        members = rng.permutation(members)
        table = people.iloc[members][["person_id", *IDENTIFIERS, *VARIABLES[holder]]]
        table = _corrupt(table.reset_index(drop=True), rates, postcodes, rng)
        table.insert(0, "record_id", [f"{holder[:2].upper()}{i:07d}" for i in range(len(table))])
        truth.append(
            pd.DataFrame(
                {"holder": holder, "record_id": table["record_id"], "person_id": table["person_id"]}
            )
        )
        holders[holder] = table.drop(columns="person_id")
    truth_table = pd.concat(truth, ignore_index=True)
    truth_table[["holder", "record_id"]] = truth_table[["holder", "record_id"]].astype("string")
    return VerticalPartition(holders, truth_table, people)


def true_links(partition: VerticalPartition) -> pd.DataFrame:
    """Every pair of records of the same person held by two different holders."""
    if not isinstance(partition, VerticalPartition):
        raise TypeError("partition must be a VerticalPartition")
    truth = partition.truth
    frames = {h: truth[truth["holder"] == h][["record_id", "person_id"]] for h in HOLDERS}
    return _pairs_on_key(frames, "person_id")


def _pairs_on_key(frames: dict[str, pd.DataFrame], key: str) -> pd.DataFrame:
    """Every pair of records held by two different holders whose ``key`` column is equal."""
    pairs = []
    names = list(frames)
    for i, left in enumerate(names):
        for right in names[i + 1 :]:
            both = frames[left].merge(frames[right], on=key, suffixes=("_l", "_r"))
            pairs.append(
                pd.DataFrame(
                    {
                        "holder_l": left,
                        "record_l": both["record_id_l"],
                        "holder_r": right,
                        "record_r": both["record_id_r"],
                    }
                )
            )
    return pd.concat(pairs, ignore_index=True)


def corrupted_records(
    partition: VerticalPartition, fields: Sequence[str] = LINK_FIELDS
) -> pd.DataFrame:
    """The records whose ``fields`` differ, after :func:`healthdatalab.pprl.normalise`, from
    the person's true values: a typing error, a swap, a move or a missing value that changed
    something. Returns ``holder`` and ``record_id`` of each such record."""
    if not isinstance(partition, VerticalPartition):
        raise TypeError("partition must be a VerticalPartition")
    unknown = [f for f in fields if f not in IDENTIFIERS]
    if isinstance(fields, str) or not fields or unknown:
        raise ValueError(f"fields must be a non-empty list drawn from {list(IDENTIFIERS)}")
    clean = partition.people.set_index("person_id")
    out = []
    for holder, table in partition.holders.items():
        person = partition.truth[partition.truth["holder"] == holder].set_index("record_id")
        person = person.loc[table["record_id"], "person_id"].to_numpy()
        changed = np.zeros(len(table), dtype=bool)
        for f in fields:
            held = table[f].map(normalise).to_numpy()
            true = clean.loc[person, f].map(normalise).to_numpy()
            changed |= held != true
        out.append(pd.DataFrame({"holder": holder, "record_id": table["record_id"][changed]}))
    return pd.concat(out, ignore_index=True)


# ------------------------------------------------------------------------------- quality


def linkage_quality(links: pd.DataFrame, truth: pd.DataFrame) -> LinkageQuality:
    """Precision, recall and F1 of ``links`` against the true pairs ``truth``.

    Both tables have ``holder_l``, ``record_l``, ``holder_r``, ``record_r``; a pair counts
    once whichever way round it is written. A set of no links has precision 1 by convention.
    """
    links, truth = _check_links(links, "links"), _check_links(truth, "truth")

    def pairs(table: pd.DataFrame) -> set[tuple[tuple[str, str], tuple[str, str]]]:
        left = zip(table["holder_l"].tolist(), table["record_l"].tolist(), strict=True)
        right = zip(table["holder_r"].tolist(), table["record_r"].tolist(), strict=True)
        return {tuple(sorted((a, b))) for a, b in zip(left, right, strict=True)}

    found, actual = pairs(links), pairs(truth)
    hits = len(found & actual)
    return LinkageQuality(hits, len(found) - hits, len(actual) - hits)


@dataclass(frozen=True)
class LinkageResult:
    """Links (``holder_l``, ``record_l``, ``holder_r``, ``record_r``, ``score``) and what the
    linkage cost: comparisons scored after blocking, seconds spent training and linking."""

    links: pd.DataFrame
    comparisons: int
    training_seconds: float
    linking_seconds: float


def _one_to_one(pairs: pd.DataFrame) -> pd.DataFrame:
    """Keep, greedily by descending score, pairs whose two records are not linked yet."""
    pairs = pairs.sort_values("score", ascending=False, kind="stable")
    used_l: set = set()
    used_r: set = set()
    keep = []
    for i, left, right in zip(pairs.index, pairs["record_l"], pairs["record_r"], strict=True):
        if left in used_l or right in used_r:
            continue
        used_l.add(left)
        used_r.add(right)
        keep.append(i)
    return pairs.loc[keep].reset_index(drop=True)


# ----------------------------------------------------------------------------- Splink


@contextlib.contextmanager
def _quiet_splink() -> Iterator[None]:
    """Splink logs every training step at INFO; keep only errors while it runs."""
    logger = logging.getLogger("splink")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def splink_settings(*, fuzzy: bool = True):
    """The Splink model: comparisons of each identifier and the blocking rules.

    With ``fuzzy`` (clear identifiers), names are compared by Jaro-Winkler similarity, dates of
    birth by edit distance and difference, postcodes by edit distance. Without it (identifiers
    replaced field by field by keyed pseudonyms, :func:`pseudonymise_fields`), every comparison
    can only be equal or not. A pair of records is scored only if it agrees on at least one
    blocking rule: surname and year of birth; first name and date of birth; postcode and date
    of birth; first name, surname, and day and month of birth (which catches a wrong year). A
    record with errors in every rule's fields is never compared and so never linked.
    """
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    if fuzzy:
        comparisons = [
            cl.NameComparison("first_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True),
            cl.LevenshteinAtThresholds("postcode", [1]),
            cl.ExactMatch("sex"),
        ]
    else:
        comparisons = [
            cl.ExactMatch(c) for c in ("first_name", "surname", "date_of_birth", "postcode", "sex")
        ]
    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="record_id",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=[
            block_on("surname", "birth_year"),
            block_on("first_name", "date_of_birth"),
            block_on("postcode", "date_of_birth"),
            block_on("first_name", "surname", "birth_day"),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )


def _birth_parts(table: pd.DataFrame) -> pd.DataFrame:
    """The table with ``birth_year`` and ``birth_day`` (month and day) for blocking."""
    if "birth_year" in table.columns and "birth_day" in table.columns:
        return table
    table = table.copy()
    table["birth_year"] = table["date_of_birth"].str[:4]
    table["birth_day"] = table["date_of_birth"].str[5:10]
    return table


def link_splink(
    holders: Mapping[str, pd.DataFrame],
    *,
    threshold: float = 0.9,
    seed: int = 0,
    u_pairs: float = 2e6,
    fuzzy: bool = True,
    em_pairs: float | None = None,
    count_comparisons: bool = True,
) -> LinkageResult:
    """Link the holders' clear identifiers with Splink (Fellegi-Sunter) on DuckDB.

    Training uses no labels: the prior match probability from two strict deterministic rules
    (assumed recall 0.7), the u probabilities from ``u_pairs`` random pairs
    (``estimate_u_using_random_sampling``, seeded), and the m probabilities by expectation
    maximisation, once blocked on date of birth and once on surname. Prediction scores the
    pairs of :func:`splink_settings`' blocking rules; pairs with a match probability of at
    least ``threshold`` are then clustered so that a cluster holds at most one record of each
    holder (Splink's ``cluster_using_single_best_links``). Returns the linked pairs with the
    match probability as ``score``. ``fuzzy=False`` is for tables of field-wise keyed
    pseudonyms (:func:`pseudonymise_fields`): the same model with exact comparisons only.
    ``em_pairs`` caps the pairs each EM run samples (Splink's ``max_pairs``; for large tables).
    """
    from splink import DuckDBAPI, Linker, block_on

    threshold = _check_fraction("threshold", threshold)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError("seed must be a non-negative integer")
    for name, value in (("u_pairs", u_pairs), ("em_pairs", 1e3 if em_pairs is None else em_pairs)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 1e3:
            raise ValueError(f"{name} must be a number of at least 1,000")
    tables = _check_holders(holders, IDENTIFIERS)
    if not fuzzy:
        _check_holders(holders, ["birth_year", "birth_day"])
    tables = {name: _birth_parts(table) for name, table in tables.items()}
    columns = ["record_id", *IDENTIFIERS, "birth_year", "birth_day"]

    with _quiet_splink():
        db_api = DuckDBAPI()
        inputs = [
            db_api.register(table[columns], dataset_display_name=name)
            for name, table in tables.items()
        ]
        start = time.perf_counter()
        linker = Linker(inputs, splink_settings(fuzzy=fuzzy), log_level=None)
        linker.training.estimate_probability_two_random_records_match(
            [
                block_on("first_name", "surname", "date_of_birth"),
                block_on("surname", "date_of_birth", "postcode"),
            ],
            recall=0.7,
        )
        linker.training.estimate_u_using_random_sampling(max_pairs=float(u_pairs), seed=seed)
        for rule in (block_on("date_of_birth"), block_on("surname")):
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=True, max_pairs=em_pairs
            )
        trained = time.perf_counter()
        predictions = linker.inference.predict(
            threshold_match_probability=threshold, warning_mode="never"
        )
        clusters = linker.clustering.cluster_using_single_best_links(
            predictions,
            duplicate_free_datasets=list(tables),
            threshold_match_probability=threshold,
        ).as_pandas_dataframe()
        scored = predictions.as_pandas_dataframe()
        linked = time.perf_counter()
        comparisons = -1
        if count_comparisons:
            counts = linker.blocking_analysis.count_comparisons_from_blocking_rules(
                record_sample_proportion=1.0
            )
            comparisons = int(counts[-1]["cumulative_comparison_count"])
        db_api.delete_tables_created_by_splink_from_db()

    cluster_of = dict(
        zip(
            zip(clusters["source_dataset"].tolist(), clusters["record_id"].tolist(), strict=True),
            clusters["cluster_id"].tolist(),
            strict=True,
        )
    )
    same = [
        cluster_of[(hl, rl)] == cluster_of[(hr, rr)]
        for hl, rl, hr, rr in zip(
            scored["source_dataset_l"],
            scored["record_id_l"],
            scored["source_dataset_r"],
            scored["record_id_r"],
            strict=True,
        )
    ]
    scored = scored[np.asarray(same, dtype=bool)]
    links = pd.DataFrame(
        {
            "holder_l": scored["source_dataset_l"].astype("string"),
            "record_l": scored["record_id_l"].astype("string"),
            "holder_r": scored["source_dataset_r"].astype("string"),
            "record_r": scored["record_id_r"].astype("string"),
            "score": scored["match_probability"].astype(float),
        }
    ).reset_index(drop=True)
    return LinkageResult(links, comparisons, trained - start, linked - trained)


# ------------------------------------------------------------------- keyed pseudonyms


def _check_key(key: object) -> bytes:
    if not isinstance(key, bytes):
        raise TypeError("key must be bytes (for example secrets.token_bytes(32))")
    if len(key) < _MIN_KEY_BYTES:
        raise ValueError(f"key must be at least {_MIN_KEY_BYTES} bytes long")
    return key


def keyed_pseudonyms(
    table: pd.DataFrame, key: bytes, fields: Sequence[str] = LINK_FIELDS, *, salt: str = ""
) -> pd.Series:
    """What a trusted third party computes: HMAC-SHA-256 of the normalised ``fields``.

    Without the ``key`` nobody can recompute a pseudonym from a name, and equal identifiers give
    equal pseudonyms at every holder. A record with a missing field gets no pseudonym
    (``<NA>``): it cannot be linked exactly. ``salt`` is hashed in front of the values (a
    field name, so that equal values of different fields give different pseudonyms).
    """
    key = _check_key(key)
    if isinstance(fields, str) or not fields:
        raise TypeError("fields must be a non-empty list of column names")
    if not isinstance(table, pd.DataFrame):
        raise TypeError("table must be a pandas DataFrame")
    missing = [f for f in fields if f not in table.columns]
    if missing:
        raise KeyError(f"the table lacks the column(s) {missing}")
    values = [table[f].map(normalise).tolist() for f in fields]
    out = []
    for parts in zip(*values, strict=True):
        if any(not p for p in parts):
            out.append(pd.NA)
            continue
        message = "\x1f".join([salt, *parts]).encode("utf-8")
        out.append(hmac.new(key, message, hashlib.sha256).hexdigest())
    return pd.Series(out, index=table.index, dtype="string")


def pseudonymise_fields(table: pd.DataFrame, key: bytes) -> pd.DataFrame:
    """Every identifier replaced by its own keyed pseudonym, as a trusted third party would.

    Each of :data:`IDENTIFIERS`, the year of birth (``birth_year``) and the day and month of
    birth (``birth_day``) becomes HMAC-SHA-256 of the field name and the normalised value, so
    records can still be compared field by field (equal or not, nothing in between). The
    other columns are kept as they are. A missing value stays missing.
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError("table must be a pandas DataFrame")
    _check_table(table, "the table", ["record_id", *IDENTIFIERS])
    key = _check_key(key)
    out = _birth_parts(table)
    for field_name in (*IDENTIFIERS, "birth_year", "birth_day"):
        out[field_name] = keyed_pseudonyms(out, key, [field_name], salt=field_name)
    return out


def link_pseudonyms(
    holders: Mapping[str, pd.DataFrame], key: bytes, fields: Sequence[str] = LINK_FIELDS
) -> LinkageResult:
    """Link records whose keyed pseudonyms (:func:`keyed_pseudonyms`) are equal.

    A pseudonym that occurs more than once at a holder (two people with the same identifiers)
    is ambiguous and links nothing, as a linkage unit would set it aside.
    """
    tables = _check_holders(holders, fields)
    start = time.perf_counter()
    keyed = {}
    for name, table in tables.items():
        frame = pd.DataFrame(
            {"record_id": table["record_id"], "pseudonym": keyed_pseudonyms(table, key, fields)}
        ).dropna()
        keyed[name] = frame[~frame["pseudonym"].duplicated(keep=False)]
    encoded = time.perf_counter()
    links = _pairs_on_key(keyed, "pseudonym")
    links["score"] = 1.0
    comparisons = len(links)  # an exact join compares only records with equal pseudonyms
    links[["holder_l", "holder_r"]] = links[["holder_l", "holder_r"]].astype("string")
    return LinkageResult(links, comparisons, encoded - start, time.perf_counter() - encoded)


# ------------------------------------------------------------------------- Bloom filters


def _lsh_candidates(
    a: np.ndarray, b: np.ndarray, bands: int, bits: int, rng: np.random.Generator
) -> np.ndarray:
    """Candidate pairs (rows of ``a``, rows of ``b``) that agree on all ``bits`` sampled bit
    positions in at least one of ``bands`` samples (Hamming locality-sensitive hashing)."""
    weights = 1 << np.arange(bits, dtype=np.int64)
    found = []
    for _ in range(bands):
        positions = rng.choice(a.shape[1], size=bits, replace=False)
        key_a = a[:, positions].astype(np.int64) @ weights
        key_b = b[:, positions].astype(np.int64) @ weights
        left = pd.DataFrame({"key": key_a, "i": np.arange(len(a))})
        right = pd.DataFrame({"key": key_b, "j": np.arange(len(b))})
        both = left.merge(right, on="key")
        found.append(both["i"].to_numpy() * np.int64(len(b)) + both["j"].to_numpy())
    codes = np.unique(np.concatenate(found)) if found else np.empty(0, dtype=np.int64)
    return np.stack([codes // len(b), codes % len(b)], axis=1)


def _dice_pairs(a: np.ndarray, b: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Dice coefficient of the filter pairs ``pairs`` (packed bits, in chunks)."""
    pa, pb = np.packbits(a, axis=1), np.packbits(b, axis=1)
    count_a, count_b = np.bitwise_count(pa).sum(1), np.bitwise_count(pb).sum(1)
    out = np.empty(len(pairs))
    for start in range(0, len(pairs), 200_000):
        i, j = pairs[start : start + 200_000, 0], pairs[start : start + 200_000, 1]
        common = np.bitwise_count(pa[i] & pb[j]).sum(1)
        total = count_a[i] + count_b[j]
        out[start : start + len(i)] = np.where(total > 0, 2.0 * common / np.maximum(total, 1), 0)
    return out


def link_bloom(
    holders: Mapping[str, pd.DataFrame],
    encoder: BloomEncoder,
    *,
    threshold: float = 0.8,
    fields: Sequence[str] = LINK_FIELDS,
    bands: int = 24,
    bits: int = 28,
    seed: int = 0,
) -> LinkageResult:
    """Link record-level Bloom filters (CLKs) of ``fields`` by Dice similarity.

    Each holder encodes its records with the shared keyed ``encoder``; the linkage unit sees
    only the filters. It compares a pair only if the two filters agree on every one of ``bits``
    randomly chosen bit positions in at least one of ``bands`` tries (locality-sensitive
    hashing: similar filters agree on most bits, unrelated ones rarely on all of them), keeps
    pairs with a Dice coefficient of at least ``threshold`` and makes them one to one, best
    first.
    """
    threshold = _check_fraction("threshold", threshold)
    if not isinstance(encoder, BloomEncoder):
        raise TypeError("encoder must be a healthdatalab.pprl.BloomEncoder")
    if not encoder.keyed:
        raise ValueError("encoder has no key: unkeyed filters can be decoded by a dictionary")
    for name, value, high in (("bands", bands, 200), ("bits", bits, 62)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an integer")
        if not 1 <= value <= high:
            raise ValueError(f"{name} must be from 1 to {high}")
    tables = _check_holders(holders, fields)
    start = time.perf_counter()
    filters = {name: encoder.encode_records(t, list(fields)) for name, t in tables.items()}
    encoded = time.perf_counter()
    rng = np.random.default_rng(seed)
    names = list(tables)
    pairs = []
    comparisons = 0
    for i, left in enumerate(names):
        for right in names[i + 1 :]:
            candidates = _lsh_candidates(filters[left], filters[right], bands, bits, rng)
            comparisons += len(candidates)
            dice = _dice_pairs(filters[left], filters[right], candidates)
            keep = dice >= threshold
            ids_l = tables[left]["record_id"].to_numpy()
            ids_r = tables[right]["record_id"].to_numpy()
            found = pd.DataFrame(
                {
                    "holder_l": left,
                    "record_l": ids_l[candidates[keep, 0]],
                    "holder_r": right,
                    "record_r": ids_r[candidates[keep, 1]],
                    "score": dice[keep],
                }
            )
            pairs.append(_one_to_one(found))
    links = pd.concat(pairs, ignore_index=True)
    for column in ("holder_l", "record_l", "holder_r", "record_r"):
        links[column] = links[column].astype("string")
    return LinkageResult(links, comparisons, encoded - start, time.perf_counter() - encoded)


# ------------------------------------------------------------------------------ analysis


def linked_view(
    holders: Mapping[str, pd.DataFrame], links: pd.DataFrame, hub: str = "gp"
) -> pd.DataFrame:
    """One row per ``hub`` record linked to a record of every other holder, with every
    holder's variables side by side: the table an analysis across holders runs on.

    Links are read in both directions; if a record has several links to one holder, the
    highest ``score`` (if given) wins.
    """
    links = _check_links(links, "links")
    if not isinstance(holders, Mapping) or hub not in holders:
        raise ValueError("hub must be the name of one of the holders")
    joined = holders[hub]
    joined = joined[[c for c in joined.columns if c not in IDENTIFIERS]]
    joined = joined.rename(columns={"record_id": f"{hub}_record"})
    both = pd.concat(
        [
            links.rename(
                columns={"holder_l": "h", "record_l": "r", "holder_r": "h2", "record_r": "r2"}
            ),
            links.rename(
                columns={"holder_r": "h", "record_r": "r", "holder_l": "h2", "record_l": "r2"}
            ),
        ],
        ignore_index=True,
    )
    if "score" not in both.columns:
        both["score"] = 1.0
    both = both[both["h"] == hub].sort_values("score", ascending=False, kind="stable")
    for other, table in holders.items():
        if other == hub:
            continue
        mine = both[both["h2"] == other].drop_duplicates("r")[["r", "r2"]]
        mine = mine.rename(columns={"r": f"{hub}_record", "r2": f"{other}_record"})
        variables = table[[c for c in table.columns if c not in IDENTIFIERS]]
        variables = variables.rename(columns={"record_id": f"{other}_record"})
        joined = joined.merge(mine, on=f"{hub}_record").merge(variables, on=f"{other}_record")
    return joined.reset_index(drop=True)
