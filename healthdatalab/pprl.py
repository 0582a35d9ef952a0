"""Privacy-preserving record linkage with Bloom filters, and the attacks on them.

Two data holders want to know which of their records belong to the same person without
exchanging names. Following Schnell, Bachteler and Reiher (2009), each holder splits every
identifying value into q-grams (``"jansen"`` -> ``_j ja an ns se en n_``), hashes each q-gram
``k`` times into a bit array of length ``m`` and sets those bits. Similar names share most
q-grams and therefore most bits, so the Dice coefficient of two filters,
``2 |A and B| / (|A| + |B|)``, tolerates typing errors; a linkage unit compares filters
without seeing a name.

The filters are only as safe as their hashing:

* **Unkeyed hashing** (a public hash function) lets anyone encode a list of common names and
  look the filters up: a dictionary attack (:func:`dictionary_attack`).
* **Keyed hashing** (HMAC with a secret key shared by the holders only, from :mod:`secrets`)
  stops the dictionary attack, but identical values still give identical filters, so their
  *frequencies* give them away: the most common filter is the most common name
  (:func:`frequency_attack`; Kuzu et al. 2011, Christen et al. 2018, in a simplified form).
* **Salting** each value with another attribute of the same record (for example the year of
  birth) makes equal names of different people give different filters, which flattens the
  frequencies; it costs the matches whose salt attribute was recorded differently.
* **BLIP** (Schnell and Borgs 2016) randomly flips bits (:func:`blip`), so equal inputs no longer
  give equal filters; **XOR-folding** (:func:`xor_fold`) halves the filter and hides which bits
  were set, at a cost in precision.

The main entry points for linkage are :class:`BloomEncoder` (``encode`` for one field,
``encode_records`` for a record-level filter of several fields, a cryptographic long-term key,
CLK), :func:`dice_matrix`, :func:`link` and :func:`linkage_quality`. Filters are boolean numpy
arrays, one row per record; :func:`to_bitstrings` turns them into strings of 0s and 1s for tools
that compare strings. :func:`make_linkage_data` draws two holders' synthetic records with
typing errors and the true matches.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import numbers
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from faker.providers.person.nl_NL import Provider as _PersonProvider
from scipy.optimize import linear_sum_assignment

__all__ = [
    "BloomEncoder",
    "LinkageQuality",
    "blip",
    "dice_matrix",
    "dictionary_attack",
    "frequency_attack",
    "link",
    "linkage_quality",
    "make_linkage_data",
    "normalise",
    "qgrams",
    "surname_frequencies",
    "to_bitstrings",
    "xor_fold",
]

_MIN_KEY_BYTES = 16


# --------------------------------------------------------------------------------- encoding


def normalise(value: object) -> str:
    """Lower case, letters and digits only: the form in which both holders encode a value.

    Every missing scalar (None, NaN of any float type, pd.NA, NaT) is the empty string, and a
    date or moment in any of Python's, NumPy's or pandas' types is its day, YYYYMMDD, so two
    holders who store dates differently still encode them alike.
    """
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    if isinstance(value, (dt.date, np.datetime64)):
        return pd.Timestamp(value).strftime("%Y%m%d")
    return "".join(ch for ch in str(value).lower() if ch.isalnum())


def qgrams(value: object, q: int = 2, *, pad: bool = True) -> list[str]:
    """The q-grams of a normalised value, with ``_`` padding at both ends when ``pad``.

    Duplicates are kept once, in order of first appearance; an empty value has no q-grams.
    """
    if isinstance(q, bool) or not isinstance(q, numbers.Integral) or not 1 <= q <= 5:
        raise ValueError("q must be an integer from 1 to 5")
    text = normalise(value)
    if not text:
        return []
    if pad:
        text = "_" * (q - 1) + text + "_" * (q - 1)
    grams = [text[i : i + q] for i in range(max(len(text) - q + 1, 1))]
    return list(dict.fromkeys(grams))


@dataclass(frozen=True)
class BloomEncoder:
    """Encode values as Bloom filters of ``size`` bits, ``hashes`` positions per q-gram.

    ``key`` is the secret the data holders share (at least 16 bytes, from :mod:`secrets`; see
    :meth:`with_random_key`). ``key=None`` gives **unkeyed** hashing with plain SHA-512, which
    anyone can recompute: it is here to show the dictionary attack, never for real use.
    Positions come from HMAC-SHA-512 of the q-gram (prefixed with the field name and the salt),
    split into 32-bit numbers, so every hash function is independent of the others (the double
    hashing of the original proposal has known weaknesses).
    """

    size: int = 1024
    hashes: int = 20
    q: int = 2
    key: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name, value, low, high in (
            ("size", self.size, 64, 1 << 16),
            ("hashes", self.hashes, 1, 64),
            ("q", self.q, 1, 5),
        ):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"{name} must be an integer")
            if not low <= value <= high:
                raise ValueError(f"{name} must be between {low} and {high}")
        if self.key is not None:
            if not isinstance(self.key, bytes):
                raise TypeError("key must be bytes (for example secrets.token_bytes(32)) or None")
            if len(self.key) < _MIN_KEY_BYTES:
                raise ValueError(f"key must be at least {_MIN_KEY_BYTES} bytes long")

    @classmethod
    def with_random_key(cls, **settings: int) -> BloomEncoder:
        """An encoder with a fresh 32-byte key from :func:`secrets.token_bytes`."""
        return cls(key=secrets.token_bytes(32), **settings)

    @property
    def keyed(self) -> bool:
        return self.key is not None

    def _positions(self, token: str) -> list[int]:
        data = token.encode("utf-8")
        out: list[int] = []
        block = 0
        while len(out) < self.hashes:
            message = block.to_bytes(2, "big") + data
            if self.key is None:
                digest = hashlib.sha512(message).digest()
            else:
                digest = hmac.new(self.key, message, hashlib.sha512).digest()
            out.extend(
                int.from_bytes(digest[i : i + 4], "big") % self.size for i in range(0, 64, 4)
            )
            block += 1
        return out[: self.hashes]

    def _fill(self, row: np.ndarray, value: object, prefix: str, cache: dict) -> None:
        for gram in qgrams(value, self.q):
            token = prefix + gram
            positions = cache.get(token)
            if positions is None:
                positions = cache[token] = self._positions(token)
            row[positions] = True

    def encode(
        self,
        values: Sequence[object] | pd.Series,
        *,
        salts: Sequence[object] | pd.Series | None = None,
        field_name: str = "",
    ) -> np.ndarray:
        """One field-level filter per value: a boolean array of shape ``(len(values), size)``.

        ``salts``, if given, holds one value per record (for example the year of birth) that is
        hashed together with every q-gram of that record, so equal values of records with
        different salts give unrelated filters.
        """
        values = _as_list(values, "values")
        salt_list = [""] * len(values) if salts is None else _as_list(salts, "salts")
        if len(salt_list) != len(values):
            raise ValueError(f"salts has {len(salt_list)} entries for {len(values)} values")
        filters = np.zeros((len(values), self.size), dtype=bool)
        cache: dict[str, list[int]] = {}
        for i, (value, salt) in enumerate(zip(values, salt_list, strict=True)):
            self._fill(filters[i], value, f"{field_name}|{normalise(salt)}|", cache)
        return filters

    def encode_records(
        self,
        table: pd.DataFrame,
        fields: Sequence[str],
        *,
        salt: str | None = None,
    ) -> np.ndarray:
        """One record-level filter per row (a CLK): the q-grams of all ``fields`` in one filter.

        Each field's q-grams are prefixed with the field name, so ``"an"`` in a first name and
        ``"an"`` in a surname set different bits. ``salt`` names a column to salt with.
        """
        if not isinstance(table, pd.DataFrame):
            raise TypeError("table must be a pandas DataFrame")
        if isinstance(fields, str) or not fields:
            raise TypeError("fields must be a non-empty list of column names")
        wanted = list(fields) + ([salt] if salt is not None else [])
        missing = [c for c in wanted if c not in table.columns]
        if missing:
            raise KeyError(f"column(s) {missing} are not in the table")
        filters = np.zeros((len(table), self.size), dtype=bool)
        cache: dict[str, list[int]] = {}
        salts = table[salt].tolist() if salt is not None else [""] * len(table)
        columns = {name: table[name].tolist() for name in fields}
        for i in range(len(table)):
            salt_text = normalise(salts[i])
            for name in fields:
                self._fill(filters[i], columns[name][i], f"{name}|{salt_text}|", cache)
        return filters


def _as_list(values: object, name: str) -> list:
    if isinstance(values, str | bytes) or not isinstance(
        values, Sequence | pd.Series | pd.Index | np.ndarray
    ):
        raise TypeError(f"{name} must be a list, array or Series of values")
    return list(values)


def _check_filters(filters: object, name: str = "filters") -> np.ndarray:
    if not isinstance(filters, np.ndarray) or filters.ndim != 2 or filters.dtype != bool:
        raise TypeError(f"{name} must be a two-dimensional boolean numpy array (one row each)")
    return filters


# ------------------------------------------------------------------------------- hardening


def blip(filters: np.ndarray, flip_probability: float, rng: np.random.Generator | None = None):
    """Flip every bit independently with probability ``flip_probability`` (randomised response).

    Without ``rng`` the flips come from a generator seeded by :mod:`secrets`, because the
    protection depends on nobody being able to repeat them.
    """
    filters = _check_filters(filters)
    if isinstance(flip_probability, bool) or not isinstance(flip_probability, numbers.Real):
        raise TypeError("flip_probability must be a number")
    if not 0.0 <= flip_probability < 0.5:
        raise ValueError("flip_probability must be at least 0 and below 0.5")
    if rng is None:
        rng = np.random.default_rng(secrets.randbits(128))
    elif not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator or None")
    return filters ^ (rng.random(filters.shape) < flip_probability)


def xor_fold(filters: np.ndarray) -> np.ndarray:
    """Fold each filter in half and XOR the two halves, hiding which bits were set."""
    filters = _check_filters(filters)
    if filters.shape[1] % 2:
        raise ValueError("xor_fold needs filters of even length")
    half = filters.shape[1] // 2
    return filters[:, :half] ^ filters[:, half:]


# --------------------------------------------------------------------------------- linkage


def dice_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dice coefficient of every filter in ``a`` with every filter in ``b`` (rows x rows)."""
    a, b = _check_filters(a, "a"), _check_filters(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"filters differ in length: {a.shape[1]} and {b.shape[1]} bits")
    af, bf = a.astype(np.float32), b.astype(np.float32)
    common = af @ bf.T
    total = af.sum(axis=1)[:, None] + bf.sum(axis=1)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        dice = np.where(total > 0, 2.0 * common / total, 0.0)
    return dice.astype(float)


def link(a: np.ndarray, b: np.ndarray, threshold: float = 0.8) -> pd.DataFrame:
    """Pair records one to one by Dice similarity: the pairing that maximises the total
    similarity (SciPy's assignment solver), keeping only pairs at or above ``threshold``.

    Returns a table with columns ``a``, ``b`` (row positions) and ``dice``.
    """
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError("threshold must be a number")
    if not 0.0 < threshold <= 1.0:
        raise ValueError("threshold must be above 0 and at most 1")
    dice = dice_matrix(a, b)
    rows, cols = linear_sum_assignment(dice, maximize=True)
    keep = dice[rows, cols] >= threshold
    return pd.DataFrame({"a": rows[keep], "b": cols[keep], "dice": dice[rows, cols][keep]})


@dataclass(frozen=True)
class LinkageQuality:
    """Precision, recall and F1 of a set of links against the true matches."""

    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        actual = self.true_positives + self.false_negatives
        return self.true_positives / actual if actual else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def linkage_quality(links: pd.DataFrame, truth: pd.DataFrame) -> LinkageQuality:
    """Compare links (columns ``a``, ``b``) with the true matches (columns ``a``, ``b``)."""
    for name, table in (("links", links), ("truth", truth)):
        if not isinstance(table, pd.DataFrame) or not {"a", "b"} <= set(table.columns):
            raise TypeError(f"{name} must be a DataFrame with columns 'a' and 'b'")
    found = set(zip(links["a"].tolist(), links["b"].tolist(), strict=True))
    actual = set(zip(truth["a"].tolist(), truth["b"].tolist(), strict=True))
    hits = len(found & actual)
    return LinkageQuality(hits, len(found) - hits, len(actual) - hits)


def to_bitstrings(filters: np.ndarray) -> list[str]:
    """Each filter as a string of 0s and 1s, for tools that compare strings."""
    filters = _check_filters(filters)
    return ["".join("1" if bit else "0" for bit in row) for row in filters]


# --------------------------------------------------------------------------------- attacks


def dictionary_attack(
    filters: np.ndarray,
    candidates: Sequence[str],
    encoder: BloomEncoder,
    *,
    field_name: str = "",
) -> list[str | None]:
    """Encode every candidate value with ``encoder`` and look each filter up.

    Returns, for every filter, the candidate whose filter is identical, or ``None``. Against
    unkeyed filters the attacker's encoder is the holders' encoder; against keyed ones the
    attacker does not know the key and can only guess one, so nothing matches.
    """
    filters = _check_filters(filters)
    candidates = _as_list(candidates, "candidates")
    encoded = encoder.encode(candidates, field_name=field_name)
    if encoded.shape[1] != filters.shape[1]:
        raise ValueError("the attacker's encoder makes filters of a different length")
    lookup = {row.tobytes(): value for row, value in zip(encoded, candidates, strict=True)}
    return [lookup.get(row.tobytes()) for row in filters]


def frequency_attack(
    filters: np.ndarray,
    known_frequencies: Mapping[str, float] | pd.Series,
    *,
    similarity: float = 1.0,
) -> list[str | None]:
    """Guess values from how often their filters occur, knowing how common each value is.

    The filters are grouped: identical filters when ``similarity`` is 1, otherwise greedily,
    each filter joining the first group whose first member has a Dice coefficient of at least
    ``similarity`` with it. Groups are ranked by size and the known values by frequency, and
    the i-th largest group is guessed to be the i-th most common value; groups of one get no
    guess. Returns one guess (or ``None``) per filter.
    """
    filters = _check_filters(filters)
    if isinstance(similarity, bool) or not isinstance(similarity, numbers.Real):
        raise TypeError("similarity must be a number")
    if not 0.0 < similarity <= 1.0:
        raise ValueError("similarity must be above 0 and at most 1")
    known = pd.Series(known_frequencies, dtype=float)
    if known.empty or known.isna().any():
        raise ValueError("known_frequencies must be a non-empty mapping of value to frequency")
    ranked_values = known.sort_values(ascending=False, kind="stable").index.tolist()

    group = np.full(len(filters), -1)
    if similarity >= 1.0:
        _, group = np.unique(filters, axis=0, return_inverse=True)
        group = group.ravel()
    else:
        dice = dice_matrix(filters, filters)
        next_group = 0
        for i in range(len(filters)):
            if group[i] >= 0:
                continue
            members = (group < 0) & (dice[i] >= similarity)
            group[members] = next_group
            next_group += 1
    sizes = np.bincount(group)
    order = [g for g in np.argsort(-sizes, kind="stable") if sizes[g] > 1]
    guess_of_group = {g: v for g, v in zip(order, ranked_values, strict=False)}
    return [guess_of_group.get(g) for g in group]


# ----------------------------------------------------------------------------- synthetic data


def _typo(text: str, rng: np.random.Generator) -> str:
    """One random typing error: a deletion, an insertion, a substitution or a transposition."""
    if len(text) < 2:
        return text
    letters = "abcdefghijklmnopqrstuvwxyz"
    i = int(rng.integers(0, len(text) - 1))
    kind = int(rng.integers(0, 4))
    if kind == 0:
        return text[:i] + text[i + 1 :]
    if kind == 1:
        return text[:i] + letters[rng.integers(0, 26)] + text[i:]
    if kind == 2:
        return text[:i] + letters[rng.integers(0, 26)] + text[i + 1 :]
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


#: The fixed synthetic population: name lists in a fixed random order, so that the i-th name
#: of each list has the i-th largest share. One population for every seed, like the cohort's
#: geography.
_POPULATION_SEED = 20091026


def _population(zipf: float) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(_POPULATION_SEED)
    surnames = sorted({s for s in _PersonProvider.last_names if " " not in s})
    first = sorted(set(_PersonProvider.first_names_female) | set(_PersonProvider.first_names_male))
    shares = []
    for names in (first, surnames):
        order = rng.permutation(len(names))
        weights = 1.0 / np.arange(1, len(names) + 1) ** zipf
        shares.append(pd.Series(weights / weights.sum(), index=np.asarray(names)[order]))
    return shares[0], shares[1]


def _check_zipf(zipf: object) -> float:
    if isinstance(zipf, bool) or not isinstance(zipf, numbers.Real) or not 0.0 <= zipf <= 3.0:
        raise ValueError("zipf must be a number from 0 to 3")
    return float(zipf)


def surname_frequencies(zipf: float = 1.0) -> pd.Series:
    """The share of each surname in the synthetic population (largest first).

    This is the public knowledge a frequency attacker starts from, like the surname statistics
    a national statistics office publishes.
    """
    return _population(_check_zipf(zipf))[1]


def make_linkage_data(
    n: int = 1000,
    seed: int = 0,
    *,
    overlap: float = 0.5,
    typo_rate: float = 0.2,
    zipf: float = 1.0,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Two data holders' synthetic records of ``n`` people each and the true matches.

    Names come from Faker's Dutch word lists with Zipf-like frequencies (exponent ``zipf``, see
    :func:`surname_frequencies`), as real surnames are skewed: a few are very common and most
    are rare. A share ``overlap`` of holder B's people are also in holder A. In B's copy of a
    shared person each of first name, surname and date of birth has, with probability
    ``typo_rate``, one typing error (a letter edited, or the day of birth shifted by one).
    Returns ``(a, b, truth)``; ``truth`` has the row positions ``a`` and ``b`` of the true
    matches. Nothing here describes a real person.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 10 <= n <= 200_000:
        raise ValueError("n must be an integer from 10 to 200,000")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError("seed must be a non-negative integer")
    for name, value in (("overlap", overlap), ("typo_rate", typo_rate)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
            raise ValueError(f"{name} must be a number from 0 to 1")
    first_shares, surname_shares = _population(_check_zipf(zipf))
    rng = np.random.default_rng(seed)

    def draw(shares: pd.Series, size: int) -> np.ndarray:
        return shares.index.to_numpy()[rng.choice(len(shares), size=size, p=shares.to_numpy())]

    n_shared = int(round(overlap * n))
    total = 2 * n - n_shared
    people = pd.DataFrame(
        {
            "first_name": draw(first_shares, total),
            "surname": draw(surname_shares, total),
            "date_of_birth": pd.Timestamp("1930-01-01")
            + pd.to_timedelta(rng.integers(0, 365 * 75, total), unit="D"),
        }
    )
    a_people = np.arange(n)  # A holds people 0 .. n-1
    shared = rng.choice(n, size=n_shared, replace=False)
    b_people = rng.permutation(np.concatenate([shared, np.arange(n, total)]))

    a = people.iloc[a_people].reset_index(drop=True)
    b = people.iloc[b_people].reset_index(drop=True).copy()
    in_a = b_people < n
    for column in ("first_name", "surname"):
        edit = in_a & (rng.random(n) < typo_rate)
        b.loc[edit, column] = [_typo(str(v).lower(), rng).capitalize() for v in b.loc[edit, column]]
    edit = in_a & (rng.random(n) < typo_rate)
    shift = pd.to_timedelta(rng.choice([-1, 1], size=int(edit.sum())), unit="D")
    b.loc[edit, "date_of_birth"] = b.loc[edit, "date_of_birth"] + shift
    for table in (a, b):
        table["first_name"] = table["first_name"].astype("string")
        table["surname"] = table["surname"].astype("string")
        table["year_of_birth"] = table["date_of_birth"].dt.year
    truth = pd.DataFrame({"a": b_people[in_a], "b": np.flatnonzero(in_a)})
    truth = truth.sort_values("a", kind="stable").reset_index(drop=True)
    return a, b, truth
