"""Re-identification risk of a table: equivalence classes, k, l, t and three attacker models.

An *equivalence class* is the set of records that share the values of every quasi-identifier
(for example date of birth, sex and postcode). Everything here is computed from the class of
each record, which is found in one pass over the table (hash-based ``pandas.factorize``), so
each measure takes a fraction of a second on a million rows.

The attacker models follow El Emam and Dankar (2008):

prosecutor
    knows that the target is in the released table; the chance of picking the right record is
    1 / (size of the target's class in the release).
journalist
    does not know whether the target is in the release and matches against a population table
    (a register); the chance is 1 / (size of the matching class in the population).
marketer
    wants to re-identify as many records as possible, not one person; the expected share
    re-identified is (number of classes) / (number of records).

l-diversity is *distinct* l-diversity (Machanavajjhala et al. 2007): the smallest number of
different sensitive values in any class. t-closeness (Li et al. 2007) uses the Earth Mover's
Distance between each class's distribution of the sensitive attribute and its distribution in
the whole table: with the *equal distance* (every two different values are 1 apart, so the
distance is the total variation distance) for categorical attributes, with the *ordered
distance* (values i and j of the m sorted distinct values are |i - j| / (m - 1) apart) for
numeric attributes, or with the *hierarchical distance* of Li et al. (2007) for categories
grouped in a hierarchy: two values of the same group (two ICD-10 codes of one chapter) are
1/2 apart, two values of different groups 1 apart. The equal distance cannot tell that three
cancers are alike, so a class whose diagnoses are all cancers can look close to a table of
mixed diagnoses; the hierarchical distance sees that the class sits in one chapter. The equal
and ordered distances are computed exactly without a classes-by-values matrix; the
hierarchical one uses that matrix (classes x distinct values).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "LinkageResult",
    "RiskSummary",
    "check_columns",
    "Uniqueness",
    "class_codes",
    "class_distances",
    "class_size_per_record",
    "icd10_chapter",
    "equivalence_classes",
    "journalist_risk",
    "k_anonymity",
    "l_diversity",
    "linkage_attack",
    "marketer_risk",
    "prosecutor_risk",
    "risk_summary",
    "t_closeness",
    "uniqueness",
]


# --------------------------------------------------------------------------- input checks


def _as_column_list(columns: str | Sequence[Hashable], what: str) -> list[Hashable]:
    if isinstance(columns, str):
        return [columns]
    if not isinstance(columns, Sequence | pd.Index | np.ndarray):
        raise TypeError(f"{what} must be a column name or a list of column names, "
                        f"got {type(columns).__name__}")
    columns = list(columns)
    if not columns:
        raise ValueError(f"{what} is empty: name at least one column")
    seen: set[Hashable] = set()
    duplicated = [c for c in columns if c in seen or seen.add(c)]
    if duplicated:
        raise ValueError(f"{what} names a column more than once: {duplicated}")
    return columns


def check_columns(
    table: pd.DataFrame,
    columns: str | Sequence[Hashable],
    what: str = "quasi-identifiers",
    *,
    allow_empty: bool = False,
) -> list[Hashable]:
    """Check that ``table`` is a non-empty DataFrame holding ``columns`` without missing values.

    Returns the columns as a list. Raises TypeError for a table that is not a DataFrame,
    KeyError naming unknown columns, and ValueError for an empty table or for missing values
    (naming the column and how many values are missing).
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(table).__name__}")
    columns = _as_column_list(columns, what)
    unknown = [c for c in columns if c not in table.columns]
    if unknown:
        raise KeyError(f"{what} {unknown} are not columns of the table; "
                       f"it has {list(table.columns)}")
    if len(table) == 0 and not allow_empty:
        raise ValueError("the table is empty: there are no records to measure")
    for column in columns:
        missing = int(table[column].isna().sum())
        if missing:
            raise ValueError(
                f"column {column!r} ({what}) has {missing:,} missing value(s); fill them with "
                "an explicit value or drop those rows first, because a missing value would "
                "silently form its own equivalence class"
            )
    return columns


def _check_same_columns_in(other: pd.DataFrame, columns: list[Hashable], what: str) -> None:
    """The population or register table must hold the quasi-identifiers with compatible types."""
    check_columns(other, columns, what)


# --------------------------------------------------------------------------- classes


def _codes(values: pd.Series | np.ndarray) -> tuple[np.ndarray, int]:
    codes, uniques = pd.factorize(values, sort=False)
    return codes.astype(np.int64, copy=False), len(uniques)


def _combine(columns: Sequence[pd.Series | np.ndarray]) -> tuple[np.ndarray, int]:
    """One integer code per row for the combination of ``columns`` (0 .. n_classes - 1)."""
    combined, count = _codes(columns[0])
    for column in columns[1:]:
        codes, n = _codes(column)
        if count * n >= 2**62:  # would overflow: renumber the combination so far first
            combined, count = _codes(combined)
        combined = combined * n + codes
        count *= n
    if len(columns) > 1:
        combined, count = _codes(combined)
    return combined, count


def class_codes(table: pd.DataFrame, quasi_identifiers: str | Sequence[Hashable]
                ) -> tuple[np.ndarray, int]:
    """The equivalence class of every record as an integer code, and the number of classes.

    Codes run from 0 to n_classes - 1 in order of first appearance.
    """
    qis = check_columns(table, quasi_identifiers)
    return _combine([table[c] for c in qis])


def equivalence_classes(table: pd.DataFrame, quasi_identifiers: str | Sequence[Hashable]
                        ) -> pd.DataFrame:
    """One row per equivalence class: the quasi-identifier values and the class ``size``.

    Classes are in order of first appearance in ``table``.
    """
    qis = check_columns(table, quasi_identifiers)
    codes, n_classes = _combine([table[c] for c in qis])
    sizes = np.bincount(codes, minlength=n_classes)
    first = np.full(n_classes, len(table), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(table)))
    classes = table[qis].iloc[first].reset_index(drop=True)
    classes["size"] = sizes
    return classes


def class_size_per_record(table: pd.DataFrame, quasi_identifiers: str | Sequence[Hashable]
                          ) -> pd.Series:
    """For every record, the size of its equivalence class (same index as ``table``)."""
    codes, n_classes = class_codes(table, quasi_identifiers)
    sizes = np.bincount(codes, minlength=n_classes)
    return pd.Series(sizes[codes], index=table.index, name="class_size")


def k_anonymity(table: pd.DataFrame, quasi_identifiers: str | Sequence[Hashable]) -> int:
    """k: the size of the smallest equivalence class (the table is k-anonymous for this k)."""
    codes, n_classes = class_codes(table, quasi_identifiers)
    return int(np.bincount(codes, minlength=n_classes).min())


@dataclass(frozen=True)
class Uniqueness:
    """How many records are alone in their equivalence class."""

    n_records: int
    n_classes: int
    n_unique: int

    @property
    def share_unique(self) -> float:
        """Share of records that are unique on the quasi-identifiers."""
        return self.n_unique / self.n_records


def uniqueness(table: pd.DataFrame, quasi_identifiers: str | Sequence[Hashable]) -> Uniqueness:
    """Number of records, of classes and of unique records (classes of size one)."""
    codes, n_classes = class_codes(table, quasi_identifiers)
    sizes = np.bincount(codes, minlength=n_classes)
    return Uniqueness(n_records=len(table), n_classes=n_classes,
                      n_unique=int((sizes == 1).sum()))


# --------------------------------------------------------------------------- l and t


def _sensitive_codes(table: pd.DataFrame, sensitive: Hashable) -> tuple[np.ndarray, int]:
    if isinstance(sensitive, list | tuple):
        if len(sensitive) != 1:
            raise ValueError("give one sensitive attribute at a time; "
                             f"got {len(sensitive)}: {list(sensitive)}")
        sensitive = sensitive[0]
    check_columns(table, [sensitive], "sensitive attribute")
    return _codes(table[sensitive])


def _present_pairs(class_code: np.ndarray, value_code: np.ndarray, n_values: int,
                   *, sort: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct (class, value) pairs with their counts (sorted by class, value if asked).

    Hash-based: the pairs are factorised in one pass and only the distinct pairs are sorted.
    """
    pair = class_code * n_values + value_code
    pair_codes, unique_pairs = pd.factorize(pair, sort=False)
    counts = np.bincount(pair_codes, minlength=len(unique_pairs))
    if sort:
        order = np.argsort(unique_pairs, kind="stable")
        unique_pairs, counts = unique_pairs[order], counts[order]
    return unique_pairs // n_values, unique_pairs % n_values, counts


def l_diversity(table: pd.DataFrame, quasi_identifiers: str | Sequence[Hashable],
                sensitive: Hashable) -> int:
    """Distinct l: the smallest number of different ``sensitive`` values in any class."""
    codes, n_classes = class_codes(table, quasi_identifiers)
    values, n_values = _sensitive_codes(table, sensitive)
    classes_of_pairs, _, _ = _present_pairs(codes, values, n_values)
    return int(np.bincount(classes_of_pairs, minlength=n_classes).min())


def _distances_equal(codes: np.ndarray, n_classes: int, values: np.ndarray, n_values: int
                     ) -> np.ndarray:
    """Total variation distance of every class's distribution from the overall one.

    TV = 1/2 sum_v |q_v - p_v|. Values absent from a class contribute p_v, so
    TV = 1/2 (1 + sum over present v of (|q_v - p_v| - p_v)).
    """
    p = np.bincount(values, minlength=n_values) / len(values)
    sizes = np.bincount(codes, minlength=n_classes)
    cls, val, counts = _present_pairs(codes, values, n_values)
    q = counts / sizes[cls]
    term = np.abs(q - p[val]) - p[val]
    return 0.5 * (1.0 + np.bincount(cls, weights=term, minlength=n_classes))


def _distances_ordered(codes: np.ndarray, n_classes: int, ranks: np.ndarray, m: int
                       ) -> np.ndarray:
    """Ordered-distance EMD of every class: 1/(m-1) sum_i |Q_c(i) - P(i)|.

    ``ranks`` are the positions 0 .. m-1 of each record's value among the sorted distinct
    values; P and Q_c are the cumulative shares of the whole table and of class c. Q_c is a
    step function that only changes at values present in c, so each class is a few segments
    on which the sum of |Q - P(i)| follows from prefix sums of the increasing P.
    """
    if m == 1:
        return np.zeros(n_classes)
    P = np.cumsum(np.bincount(ranks, minlength=m)) / len(ranks)
    S = np.concatenate([[0.0], np.cumsum(P)])  # S[j] = sum of P[i] for i < j
    sizes = np.bincount(codes, minlength=n_classes)
    cls, val, counts = _present_pairs(codes, ranks, m, sort=True)
    # Cumulative share of each class up to and including each present value.
    cum = np.cumsum(counts)
    starts = np.r_[0, np.flatnonzero(np.diff(cls)) + 1]
    offset = np.repeat(cum[starts] - counts[starts], np.diff(np.r_[starts, len(cls)]))
    Q = (cum - offset) / sizes[cls]
    # Segment [val, next present value of the class (or m)) has the constant Q.
    seg_end = np.r_[val[1:], m]
    last_of_class = np.r_[cls[1:] != cls[:-1], True]
    seg_end[last_of_class] = m

    def segment_sum(q: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        split = np.clip(np.searchsorted(P, q, side="right"), a, b)
        below = q * (split - a) - (S[split] - S[a])
        above = (S[b] - S[split]) - q * (b - split)
        return below + above

    total = np.bincount(cls, weights=segment_sum(Q, val, seg_end), minlength=n_classes)
    # Before the first value present in the class, Q = 0 and |Q - P| = P.
    first_val = val[starts]
    total[cls[starts]] += S[first_val]
    return total / (m - 1)


#: ICD-10 chapters by the first code of each (WHO ICD-10, 2019 edition): chapter number and
#: the first three-character category of its block range.
_ICD10_CHAPTERS: tuple[tuple[str, str], ...] = (
    ("I", "A00"), ("II", "C00"), ("III", "D50"), ("IV", "E00"), ("V", "F00"),
    ("VI", "G00"), ("VII", "H00"), ("VIII", "H60"), ("IX", "I00"), ("X", "J00"),
    ("XI", "K00"), ("XII", "L00"), ("XIII", "M00"), ("XIV", "N00"), ("XV", "O00"),
    ("XVI", "P00"), ("XVII", "Q00"), ("XVIII", "R00"), ("XIX", "S00"), ("XXII", "U00"),
    ("XX", "V01"), ("XXI", "Z00"),
)  # fmt: skip


def icd10_chapter(code: object) -> str:
    """The ICD-10 chapter (``"II"`` for C34) of a code such as ``"C34"`` or ``"C34.1"``.

    Chapter XXII (U00-U99, codes for special purposes) sits between XIX and XX in the code
    order. Raises ValueError for text that is not an ICD-10 code.
    """
    text = str(code).strip().upper()
    if len(text) < 3 or not text[0].isalpha() or not text[1:3].isdigit():
        raise ValueError(f"{code!r} is not an ICD-10 code such as 'C34'")
    category = text[:3]
    chapter = None
    for name, first in _ICD10_CHAPTERS:
        if category >= first:
            chapter = name
    if chapter is None or (chapter == "XX" and category > "Y98"):
        raise ValueError(f"{code!r} is not in an ICD-10 chapter")
    return chapter


#: The ground distances t-closeness knows.
DISTANCES = ("auto", "equal", "ordered", "hierarchical")


def value_groups(values: Sequence[object], groups: object) -> np.ndarray:
    """The group code of each value, from a mapping or a function (for the hierarchical
    distance); a value without a group raises, naming the problem but not the value."""
    if groups is None:
        raise ValueError("the hierarchical distance needs groups= (a mapping or a function "
                         "such as risk.icd10_chapter)")
    lookup = groups.get if isinstance(groups, dict) else groups
    if not callable(lookup):
        raise TypeError("groups must be a mapping of value -> group or a function")
    labels = []
    for value in values:
        try:
            group = lookup(value)
        except (KeyError, ValueError):
            group = None
        if group is None:
            raise ValueError("some sensitive values have no group in groups=; give every "
                             "value a group")
        labels.append(group)
    return pd.factorize(pd.Series(labels, dtype=object))[0].astype(np.int64)


def _distances_hierarchical(codes: np.ndarray, n_classes: int, values: np.ndarray,
                            n_values: int, group_of_value: np.ndarray) -> np.ndarray:
    """EMD with the two-level hierarchical ground distance of Li et al. (2007).

    Leaves (values) hang under groups, groups under the root; the height is 2, so two values
    of one group are 1/2 apart and values of different groups 1 apart. With the signed extra
    mass ``e_v = q_v - p_v`` of each value, the distance is the sum over groups of
    1/2 min(positive extra, negative extra) inside the group, plus, at the root,
    min(positive, negative) of the groups' net extras.
    """
    p = np.bincount(values, minlength=n_values) / len(values)
    sizes = np.bincount(codes, minlength=n_classes)
    q = np.bincount(codes * n_values + values, minlength=n_classes * n_values).reshape(
        n_classes, n_values) / sizes[:, None]
    extra = q - p[None, :]
    n_groups = int(group_of_value.max()) + 1
    membership = np.zeros((n_values, n_groups))
    membership[np.arange(n_values), group_of_value] = 1.0
    positive = np.clip(extra, 0, None) @ membership
    negative = np.clip(-extra, 0, None) @ membership
    inside = 0.5 * np.minimum(positive, negative).sum(axis=1)
    net = extra @ membership
    root = np.minimum(np.clip(net, 0, None).sum(axis=1), np.clip(-net, 0, None).sum(axis=1))
    return inside + root


def t_closeness(
    table: pd.DataFrame,
    quasi_identifiers: str | Sequence[Hashable],
    sensitive: Hashable,
    *,
    distance: str = "auto",
    groups: object = None,
) -> float:
    """t: the largest distance between a class's and the table's ``sensitive`` distribution.

    ``distance`` is ``"equal"`` (total variation; for categories), ``"ordered"`` (ordered
    distance of Li et al. 2007; for numbers and ordered categories, sorted by value),
    ``"hierarchical"`` (values in the same group 1/2 apart, in different groups 1 apart;
    ``groups`` maps each value to its group, as a mapping or a function such as
    :func:`icd10_chapter`) or ``"auto"``: ordered for numeric columns and equal otherwise,
    as pycanon does.
    """
    return float(class_distances(table, quasi_identifiers, sensitive, distance=distance,
                                 groups=groups).max())


def class_distances(
    table: pd.DataFrame,
    quasi_identifiers: str | Sequence[Hashable],
    sensitive: Hashable,
    *,
    distance: str = "auto",
    groups: object = None,
) -> np.ndarray:
    """The t-closeness distance of every class (indexed by :func:`class_codes`)."""
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    codes, n_classes = class_codes(table, quasi_identifiers)
    if isinstance(sensitive, list | tuple) and len(sensitive) == 1:
        sensitive = sensitive[0]
    _sensitive_codes(table, sensitive)  # checks the column
    column = table[sensitive]
    if distance == "auto":
        distance = "ordered" if pd.api.types.is_numeric_dtype(column) else "equal"
    if distance == "hierarchical":
        values, uniques = pd.factorize(column, sort=False)
        group_codes = value_groups(list(uniques), groups)
        return _distances_hierarchical(codes, n_classes, values.astype(np.int64), len(uniques),
                                       group_codes)
    if distance == "equal":
        values, n_values = _codes(column)
        return _distances_equal(codes, n_classes, values, n_values)
    ranks, uniques = pd.factorize(column, sort=True)
    return _distances_ordered(codes, n_classes, ranks.astype(np.int64), len(uniques))


# --------------------------------------------------------------------------- attacker models


@dataclass(frozen=True)
class RiskSummary:
    """Maximum and average re-identification probability over the records."""

    maximum: float
    average: float


def prosecutor_risk(table: pd.DataFrame, quasi_identifiers: str | Sequence[Hashable]
                    ) -> RiskSummary:
    """Prosecutor risk: 1 / class size, maximum and average over the released records.

    The average over records equals (number of classes) / (number of records).
    """
    codes, n_classes = class_codes(table, quasi_identifiers)
    sizes = np.bincount(codes, minlength=n_classes)
    return RiskSummary(maximum=float(1.0 / sizes.min()), average=n_classes / len(table))


def marketer_risk(table: pd.DataFrame, quasi_identifiers: str | Sequence[Hashable]) -> float:
    """Marketer risk when the attacker's table is the release itself: classes / records.

    It is the expected share of records re-identified if every record is matched at random
    to one of the records of its class.
    """
    codes, n_classes = class_codes(table, quasi_identifiers)
    return n_classes / len(table)


_GENERALISED = r"^\s*-?\d+\s*-\s*-?\d+\s*$|\*"  # a band such as "40-44", or a mask such as "12**"


def _looks_generalised(values: np.ndarray) -> bool:
    """True when some of the distinct ``values`` are bands (``"40-44"``) or masked
    (``"12**"``)."""
    text = pd.Series(values, dtype=object).dropna().astype(str)
    text = text[text != "*"]
    return bool(text.str.contains(_GENERALISED, regex=True).any())


def _check_same_generalisation(codes: np.ndarray, uniques: np.ndarray, n_left: int,
                               numeric: bool, column: Hashable) -> None:
    """Refuse to compare a column generalised in one table and not (or differently) in the
    other: its values would never match, and the risk would silently come out as 0.

    ``codes`` number the values of both tables (the first ``n_left`` rows are the release)
    and ``uniques`` are the distinct values. Two tests, on distinct values only: the column
    holds bands or masks in both tables or in neither; and at least one released value (other
    than the fully suppressed ``"*"``) occurs in the other table.
    """
    in_left = np.zeros(len(uniques), dtype=bool)
    in_left[codes[:n_left][codes[:n_left] >= 0]] = True
    in_right = np.zeros(len(uniques), dtype=bool)
    in_right[codes[n_left:][codes[n_left:] >= 0]] = True
    if not numeric and _looks_generalised(uniques[in_left]) != _looks_generalised(
            uniques[in_right]):
        raise ValueError(
            f"column {column!r} is generalised in one table and not in the other; generalise "
            "both with the same hierarchy level (anonymise.apply_levels) before comparing"
        )
    released = in_left & (pd.Series(uniques, dtype=object).astype(str).to_numpy() != "*")
    if released.any() and not (released & in_right).any():
        raise ValueError(
            f"column {column!r} has no value in common between the two tables; they look "
            "generalised to different levels: use the same hierarchy level in both"
        )


def _joint_codes(a: pd.DataFrame, b: pd.DataFrame, qis: list[Hashable]
                 ) -> tuple[np.ndarray, np.ndarray, int]:
    """Class codes for the rows of ``a`` and of ``b`` on a common numbering."""
    columns = []
    for c in qis:
        left, right = a[c], b[c]
        kinds = {pd.api.types.is_datetime64_any_dtype(left),
                 pd.api.types.is_datetime64_any_dtype(right)}
        numeric = {pd.api.types.is_numeric_dtype(left), pd.api.types.is_numeric_dtype(right)}
        if len(kinds) > 1 or len(numeric) > 1:
            raise TypeError(
                f"column {c!r} has type {left.dtype} in one table and {right.dtype} in the "
                "other; generalise both tables the same way before comparing them"
            )
        both = np.concatenate([left.to_numpy(), right.to_numpy()])
        column_codes, uniques = pd.factorize(both, sort=False)
        _check_same_generalisation(column_codes, np.asarray(uniques, dtype=object), len(a),
                                   True in numeric or True in kinds, c)
        columns.append(column_codes)
    codes, n_classes = _combine(columns)
    return codes[: len(a)], codes[len(a):], n_classes


def journalist_risk(
    release: pd.DataFrame,
    population: pd.DataFrame,
    quasi_identifiers: str | Sequence[Hashable],
) -> RiskSummary:
    """Journalist risk: 1 / (size of the matching class in ``population``), per released record.

    ``population`` is the table the attacker matches against (a register). A released record
    whose combination does not occur in it cannot be matched and counts as risk 0 in the
    average. The maximum is over all released records.
    """
    qis = check_columns(release, quasi_identifiers)
    _check_same_columns_in(population, qis, "quasi-identifiers (population table)")
    rel, pop, n_classes = _joint_codes(release, population, qis)
    population_sizes = np.bincount(pop, minlength=n_classes)[rel]
    risk = np.divide(1.0, population_sizes, out=np.zeros(len(rel)), where=population_sizes > 0)
    return RiskSummary(maximum=float(risk.max()), average=float(risk.mean()))


@dataclass(frozen=True)
class LinkageResult:
    """Outcome of joining a release with a register on shared quasi-identifiers."""

    n_released: int
    n_unique_matches: int
    n_correct: int
    matches: pd.DataFrame

    @property
    def share_reidentified(self) -> float:
        """Share of released records re-identified correctly."""
        return self.n_correct / self.n_released

    @property
    def precision(self) -> float:
        """Share of unique matches that are correct (0 when there are none)."""
        return self.n_correct / self.n_unique_matches if self.n_unique_matches else 0.0


def linkage_attack(
    release: pd.DataFrame,
    register: pd.DataFrame,
    quasi_identifiers: str | Sequence[Hashable],
    *,
    true_identity: pd.Series | Sequence[Hashable],
    register_identity: Hashable = "name",
) -> LinkageResult:
    """Link each released record to the register entry that has the same quasi-identifiers.

    A record is *matched* when exactly one register entry shares its quasi-identifier values;
    the attacker then takes that entry's ``register_identity`` (a name) as the record's
    identity. ``true_identity`` (one value per released record, in order; the evaluator's
    ground truth, which the attacker does not see) says which matches are correct.

    ``matches`` has one row per matched record: its position in ``release``, the identity the
    attacker assigned and whether it is correct.
    """
    qis = check_columns(release, quasi_identifiers)
    _check_same_columns_in(register, qis, "quasi-identifiers (register)")
    if register_identity not in register.columns:
        raise KeyError(f"the register has no identity column {register_identity!r}; "
                       f"it has {list(register.columns)}")
    truth = np.asarray(true_identity, dtype=object)
    if truth.ndim != 1 or len(truth) != len(release):
        raise ValueError(f"true_identity must have one value per released record "
                         f"({len(release):,}), got shape {truth.shape}")
    rel, reg, n_classes = _joint_codes(release, register, qis)
    register_sizes = np.bincount(reg, minlength=n_classes)
    identity_of_class = np.empty(n_classes, dtype=object)
    identity_of_class[reg] = register[register_identity].to_numpy(dtype=object)
    matched = np.flatnonzero(register_sizes[rel] == 1)
    guessed = identity_of_class[rel[matched]]
    # A missing identity on either side can never count as a correct re-identification.
    known = ~(pd.isna(guessed) | pd.isna(truth[matched]))
    correct = np.zeros(len(matched), dtype=bool)
    correct[known] = guessed[known] == truth[matched][known]
    matches = pd.DataFrame({"position": matched, "assigned_identity": guessed,
                            "correct": correct.astype(bool)})
    return LinkageResult(n_released=len(release), n_unique_matches=len(matched),
                         n_correct=int(correct.sum()), matches=matches)


def risk_summary(
    table: pd.DataFrame,
    quasi_identifiers: str | Sequence[Hashable],
    *,
    sensitive: Hashable | None = None,
    population: pd.DataFrame | None = None,
) -> dict[str, float]:
    """The key figures in one dictionary (for tables and benchmarks).

    Keys: records, classes, unique, share_unique, k, prosecutor_max, prosecutor_average,
    marketer; with ``sensitive`` also l and t; with ``population`` also journalist_max and
    journalist_average.
    """
    codes, n_classes = class_codes(table, quasi_identifiers)
    sizes = np.bincount(codes, minlength=n_classes)
    n = len(table)
    summary: dict[str, float] = {
        "records": n,
        "classes": n_classes,
        "unique": int((sizes == 1).sum()),
        "share_unique": float((sizes == 1).sum() / n),
        "k": int(sizes.min()),
        "prosecutor_max": float(1.0 / sizes.min()),
        "prosecutor_average": n_classes / n,
        "marketer": n_classes / n,
    }
    if sensitive is not None:
        summary["l"] = l_diversity(table, quasi_identifiers, sensitive)
        summary["t"] = t_closeness(table, quasi_identifiers, sensitive)
    if population is not None:
        journalist = journalist_risk(table, population, quasi_identifiers)
        summary["journalist_max"] = journalist.maximum
        summary["journalist_average"] = journalist.average
    return summary
