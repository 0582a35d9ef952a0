"""Generalisation hierarchies, record suppression and a search for k, l and t targets.

A :class:`Hierarchy` lists how one quasi-identifier can be coarsened, level by level, up to
``"*"`` (nothing left). :func:`apply_levels` coarsens a table; :func:`anonymise` tries every
combination of levels (the generalisation lattice), suppresses the records of the classes that
still miss the targets, and keeps the combination that loses the least information while
suppressing no more than ``max_suppression`` of the records. This is full-domain
generalisation with record suppression, the model of Sweeney (2002) and of tools such as ARX.

Information loss (all between 0 and 1, lower is better):

``intensity``
    mean over the quasi-identifiers of level / height of the hierarchy.
``precision_loss``
    one minus Sweeney's precision: the mean of level / height over every cell of the
    quasi-identifiers, with the cells of suppressed records counted as fully generalised.
    It is the default objective.
``discernibility``
    Bayardo and Agrawal's discernibility metric: the sum over classes of size squared plus
    (records suppressed) x (records), divided by records squared.

The search is exact on the lattice (every combination is evaluated, except those that are
more general in every column than a combination already found to need no suppression) and
works on integer codes, so reaching k = 5 on a million records takes a few seconds.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from healthdatalab import risk

__all__ = [
    "AnonymisationResult",
    "Hierarchy",
    "age_hierarchy",
    "anonymise",
    "apply_levels",
    "band_midpoint",
    "cohort_hierarchies",
    "date_of_birth_hierarchy",
    "discernibility",
    "postcode_hierarchy",
    "sex_hierarchy",
    "suppress",
    "suppression_shift",
]

SUPPRESSED = "*"


# --------------------------------------------------------------------------- hierarchies


@dataclass(frozen=True)
class Hierarchy:
    """The generalisation levels of one column.

    ``level_names[0]`` names the original values; ``generalisers[i - 1]`` maps a Series of
    distinct original values to their generalised values at level ``i``. The last level
    should map everything to ``"*"``.
    """

    level_names: tuple[str, ...]
    generalisers: tuple[Callable[[pd.Series], pd.Series], ...]
    check: Callable[[pd.Series], None] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if len(self.level_names) != len(self.generalisers) + 1:
            raise ValueError("a hierarchy needs one level name per generaliser plus one for "
                             f"the original values; got {len(self.level_names)} names and "
                             f"{len(self.generalisers)} generalisers")

    @property
    def height(self) -> int:
        """The highest level (the number of generalisation steps)."""
        return len(self.generalisers)

    def _check_level(self, level: int) -> int:
        if isinstance(level, bool) or not isinstance(level, numbers.Integral):
            raise TypeError(f"a level must be an integer, got {level!r}")
        if not 0 <= level <= self.height:
            raise ValueError(f"level must be between 0 and {self.height} "
                             f"({', '.join(self.level_names)}), got {level}")
        return int(level)

    def generalise(self, column: pd.Series, level: int) -> pd.Series:
        """``column`` generalised to ``level`` (same index); level 0 returns it unchanged."""
        level = self._check_level(level)
        if self.check is not None:
            self.check(column)
        if level == 0:
            return column
        codes, uniques = pd.factorize(column, sort=False)
        _no_missing(column, codes)
        mapped = self.generalisers[level - 1](pd.Series(uniques))
        out = mapped.take(codes).reset_index(drop=True)
        out.index = column.index
        out.name = column.name
        return out

    def codes(self, column: pd.Series) -> list[tuple[np.ndarray, int]]:
        """Integer codes of ``column`` at every level, with the number of distinct codes."""
        if self.check is not None:
            self.check(column)
        codes, uniques = pd.factorize(column, sort=False)
        _no_missing(column, codes)
        codes = codes.astype(np.int64)
        levels = [(codes, len(uniques))]
        distinct = pd.Series(uniques)
        for generaliser in self.generalisers:
            mapped_codes, mapped_uniques = pd.factorize(generaliser(distinct), sort=False)
            levels.append((mapped_codes.astype(np.int64)[codes], len(mapped_uniques)))
        return levels


def _no_missing(column: pd.Series, codes: np.ndarray) -> None:
    missing = int((codes < 0).sum())
    if missing:
        raise ValueError(f"column {column.name!r} has {missing:,} missing value(s); "
                         "a hierarchy cannot generalise a missing value")


def _star(values: pd.Series) -> pd.Series:
    return pd.Series([SUPPRESSED] * len(values), dtype="string")


def _band_labels(lower: pd.Series, width: int) -> pd.Series:
    return (lower.astype(str) + "-" + (lower + width - 1).astype(str)).astype("string")


def _check_dates(column: pd.Series) -> None:
    if not pd.api.types.is_datetime64_any_dtype(column):
        raise TypeError(f"column {column.name!r} must hold dates (datetime64) for the date of "
                        f"birth hierarchy, got {column.dtype}")


def date_of_birth_hierarchy() -> Hierarchy:
    """Date of birth -> year of birth -> 5-year band -> 10-year band -> ``*``."""
    return Hierarchy(
        level_names=("date", "year", "5-year band", "10-year band", SUPPRESSED),
        generalisers=(
            lambda d: d.dt.year.astype("int64"),
            lambda d: _band_labels(d.dt.year // 5 * 5, 5),
            lambda d: _band_labels(d.dt.year // 10 * 10, 10),
            _star,
        ),
        check=_check_dates,
    )


def _check_postcodes(digits: int) -> Callable[[pd.Series], None]:
    def check(column: pd.Series) -> None:
        uniques = pd.Series(pd.unique(column)).astype("string")
        bad = uniques[~uniques.str.fullmatch(rf"\d{{{digits}}}").fillna(False).astype(bool)]
        if len(bad):
            raise ValueError(f"column {column.name!r} must hold {digits}-digit postcodes; "
                             f"found {bad.head(3).tolist()}")
    return check


def postcode_hierarchy(digits: int = 4) -> Hierarchy:
    """A numeric postcode, one digit masked per level: 1234 -> 123* -> 12** -> 1*** -> ``*``."""
    if isinstance(digits, bool) or not isinstance(digits, numbers.Integral) or digits < 1:
        raise ValueError(f"digits must be a positive integer, got {digits!r}")

    def keep(n: int) -> Callable[[pd.Series], pd.Series]:
        return lambda p: (p.astype("string").str.slice(0, n) + SUPPRESSED * (digits - n))

    names = tuple(f"{n} digit{'s' if n > 1 else ''}" for n in range(digits, 0, -1))
    names += (SUPPRESSED,)
    return Hierarchy(
        level_names=names,
        generalisers=tuple(keep(n) for n in range(digits - 1, 0, -1)) + (_star,),
        check=_check_postcodes(digits),
    )


def sex_hierarchy() -> Hierarchy:
    """Sex -> ``*``."""
    return Hierarchy(level_names=("sex", SUPPRESSED), generalisers=(_star,))


def _check_numbers(column: pd.Series) -> None:
    if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        raise TypeError(f"column {column.name!r} must hold numbers for the age hierarchy, "
                        f"got {column.dtype}")


def age_hierarchy(widths: Sequence[int] = (5, 10, 20)) -> Hierarchy:
    """Age in years -> bands of each width in ``widths`` (``"40-44"``) -> ``*``.

    The widths must be nested: each a multiple of the one before (5, 10, 20), so that every
    band lies inside one band of the next level. Widths such as (5, 15, 20) are refused: a
    15-year band 30-44 would straddle the 20-year bands 20-39 and 40-59, so a coarser level
    would not be a generalisation of the finer one.
    """
    widths = list(widths)
    if not widths or any(isinstance(w, bool) or not isinstance(w, numbers.Integral) or w < 1
                         for w in widths):
        raise ValueError(f"widths must be positive integers, got {widths!r}")
    for finer, coarser in zip(widths, widths[1:], strict=False):
        if coarser <= finer or coarser % finer:
            raise ValueError(
                f"widths must be nested, each a multiple of the one before; {coarser} after "
                f"{finer} is not (got {widths!r})"
            )

    def band(width: int) -> Callable[[pd.Series], pd.Series]:
        return lambda a: _band_labels((a // width * width).astype("int64"), width)

    return Hierarchy(
        level_names=("age",) + tuple(f"{w}-year band" for w in widths) + (SUPPRESSED,),
        generalisers=tuple(band(w) for w in widths) + (_star,),
        check=_check_numbers,
    )


def cohort_hierarchies() -> dict[str, Hierarchy]:
    """Hierarchies for the cohort's quasi-identifiers: date of birth, sex and postcode."""
    return {
        "date_of_birth": date_of_birth_hierarchy(),
        "sex": sex_hierarchy(),
        "postcode": postcode_hierarchy(4),
    }


def band_midpoint(values: pd.Series) -> pd.Series:
    """Numeric value of a generalised number: ``"1950-1954"`` -> 1952.0, 1950 -> 1950.0.

    ``"*"`` becomes NaN. Other text raises ValueError naming it.
    """
    codes, uniques = pd.factorize(values, sort=False)
    out = np.empty(len(uniques))
    for i, value in enumerate(uniques):
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            out[i] = float(value)
            continue
        text = str(value)
        if text == SUPPRESSED:
            out[i] = np.nan
            continue
        low, sep, high = text.partition("-")
        try:
            out[i] = (float(low) + float(high)) / 2 if sep else float(low)
        except ValueError:
            raise ValueError(f"cannot read {text!r} as a number or a band such as '40-44'") \
                from None
    result = np.where(codes >= 0, out[np.maximum(codes, 0)], np.nan)
    return pd.Series(result, index=values.index, name=values.name)


# --------------------------------------------------------------------------- applying levels


def _check_hierarchies(table: pd.DataFrame, hierarchies: Mapping[Hashable, Hierarchy]
                       ) -> list[Hashable]:
    if not isinstance(hierarchies, Mapping) or not hierarchies:
        raise TypeError("hierarchies must be a non-empty mapping of column -> Hierarchy")
    for column, hierarchy in hierarchies.items():
        if not isinstance(hierarchy, Hierarchy):
            raise TypeError(f"the hierarchy for {column!r} is a {type(hierarchy).__name__}, "
                            "not a Hierarchy")
    return risk.check_columns(table, list(hierarchies), "quasi-identifiers (hierarchies)")


def apply_levels(
    table: pd.DataFrame,
    hierarchies: Mapping[Hashable, Hierarchy],
    levels: Mapping[Hashable, int],
) -> pd.DataFrame:
    """A copy of ``table`` with each column of ``levels`` generalised to its level."""
    _check_hierarchies(table, hierarchies)
    unknown = [c for c in levels if c not in hierarchies]
    if unknown:
        raise KeyError(f"no hierarchy for column(s) {unknown}; "
                       f"hierarchies cover {list(hierarchies)}")
    out = table.copy()
    for column, level in levels.items():
        out[column] = hierarchies[column].generalise(table[column], level)
    return out


def suppress(table: pd.DataFrame, quasi_identifiers: str | Sequence[Hashable], k: int
             ) -> pd.DataFrame:
    """``table`` without the records of equivalence classes smaller than ``k``."""
    k = _check_k(k)
    sizes = risk.class_size_per_record(table, quasi_identifiers)
    return table[sizes.to_numpy() >= k]


def discernibility(class_sizes: np.ndarray, n_suppressed: int, n_records: int) -> float:
    """Discernibility metric, normalised: (sum size^2 + suppressed x records) / records^2."""
    class_sizes = np.asarray(class_sizes, dtype=np.float64)
    if n_records <= 0:
        raise ValueError("n_records must be positive")
    return float((np.sum(class_sizes**2) + n_suppressed * n_records) / n_records**2)


# --------------------------------------------------------------------------- search


@dataclass(frozen=True)
class AnonymisationResult:
    """The released table and how it was made."""

    data: pd.DataFrame
    levels: dict[Hashable, int]
    k: int
    l: int | None  # noqa: E741 - the name of the measure
    t: float | None
    n_suppressed: int
    suppressed_share: float
    intensity: float
    precision_loss: float
    discernibility: float
    candidates: pd.DataFrame


def _check_k(k: object, name: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {k!r}")
    if k < 1:
        raise ValueError(f"{name} must be at least 1, got {k}")
    return int(k)


def _check_share(name: str, value: object, *, closed_top: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or np.isnan(value):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not (0.0 <= value <= 1.0 if closed_top else 0.0 <= value < 1.0):
        bound = "between 0 and 1" if closed_top else "at least 0 and below 1"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return float(value)


def _classes(columns: list[tuple[np.ndarray, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Class code per record and class sizes (some sizes may be 0) for a level combination."""
    product = 1
    for _, count in columns:
        product *= count
    if product <= 20_000_000:  # mixed-radix code, counted directly
        combined = columns[0][0]
        for codes, count in columns[1:]:
            combined = combined * count + codes
        return combined, np.bincount(combined, minlength=product)
    combined, n_classes = risk._combine([codes for codes, _ in columns])
    return combined, np.bincount(combined, minlength=n_classes)


def _dense(codes: np.ndarray) -> tuple[np.ndarray, int]:
    dense, uniques = pd.factorize(codes, sort=False)
    return dense.astype(np.int64), len(uniques)


def _keep_mask(
    codes: np.ndarray,
    sizes: np.ndarray,
    k: int,
    l_target: int | None,
    t_target: float | None,
    sensitive: tuple[np.ndarray, int] | None,
    ordered: bool,
    group_of_code: np.ndarray | None = None,
) -> np.ndarray:
    """Which records survive suppression of the classes that miss k, l or t."""
    keep = sizes[codes] >= k
    if l_target is None and t_target is None:
        return keep
    assert sensitive is not None
    values, n_values = sensitive
    if l_target is not None and l_target > 1:
        cls, n_cls = _dense(codes[keep])
        pairs = pd.unique(cls * n_values + values[keep])
        distinct = np.bincount(pairs // n_values, minlength=n_cls)
        kept_idx = np.flatnonzero(keep)
        keep[kept_idx[distinct[cls] < l_target]] = False
    if t_target is not None:
        # Removing classes changes the table's distribution; repeat until stable.
        for _ in range(50):
            kept_idx = np.flatnonzero(keep)
            if kept_idx.size == 0:
                break
            cls, n_cls = _dense(codes[kept_idx])
            if ordered:
                ranks, m = _dense_sorted(values[kept_idx])
                dist = risk._distances_ordered(cls, n_cls, ranks, m)
            elif group_of_code is not None:
                vals, uniques = pd.factorize(values[kept_idx], sort=False)
                dist = risk._distances_hierarchical(cls, n_cls, vals.astype(np.int64),
                                                    len(uniques), group_of_code[uniques])
            else:
                vals, m = _dense(values[kept_idx])
                dist = risk._distances_equal(cls, n_cls, vals, m)
            far = dist[cls] > t_target + 1e-12
            if not far.any():
                break
            keep[kept_idx[far]] = False
        else:  # pragma: no cover - the loop shrinks the table at every step
            keep[:] = False
    return keep


def _dense_sorted(values: np.ndarray) -> tuple[np.ndarray, int]:
    uniques, ranks = np.unique(values, return_inverse=True)
    return ranks.astype(np.int64), len(uniques)


def anonymise(
    table: pd.DataFrame,
    hierarchies: Mapping[Hashable, Hierarchy],
    *,
    k: int,
    l: int | None = None,  # noqa: E741 - the name of the measure
    t: float | None = None,
    sensitive: Hashable | None = None,
    max_suppression: float = 0.05,
    objective: str = "precision_loss",
    distance: str = "auto",
    groups: object = None,
) -> AnonymisationResult:
    """Generalise and suppress ``table`` until it is k-anonymous (and l-diverse, t-close).

    ``hierarchies`` maps each quasi-identifier to its :class:`Hierarchy`. Every combination of
    levels is tried; in each, the records of classes smaller than ``k`` (with fewer than ``l``
    distinct ``sensitive`` values, or further than ``t`` from the table's distribution) are
    suppressed. Combinations that would suppress more than ``max_suppression`` of the records
    are rejected, and of the rest the one with the lowest ``objective`` (``"precision_loss"``
    or ``"discernibility"``) wins; ties go to the lower total level. ``distance`` is the
    ground distance of t-closeness (see :func:`healthdatalab.risk.t_closeness`); with
    ``"hierarchical"``, ``groups`` maps each sensitive value to its group (for diagnoses,
    :func:`healthdatalab.risk.icd10_chapter`).

    The released ``data`` keep the original index and every column; the quasi-identifiers are
    generalised and suppressed records are removed. ``candidates`` lists every combination
    evaluated. Raises ValueError when no combination meets the targets.
    """
    qis = _check_hierarchies(table, hierarchies)
    k = _check_k(k)
    max_suppression = _check_share("max_suppression", max_suppression, closed_top=False)
    if objective not in {"precision_loss", "discernibility"}:
        raise ValueError(f"objective must be 'precision_loss' or 'discernibility', "
                         f"got {objective!r}")
    if distance not in risk.DISTANCES:
        raise ValueError(f"distance must be one of {risk.DISTANCES}, got {distance!r}")
    if l is not None:
        l = _check_k(l, "l")  # noqa: E741
    if t is not None:
        t = _check_share("t", t, closed_top=True)
    sensitive_codes = None
    ordered = False
    group_of_code = None
    if l is not None or t is not None:
        if sensitive is None:
            raise ValueError("l and t targets need the sensitive attribute: pass sensitive=")
        risk.check_columns(table, [sensitive], "sensitive attribute")
        if sensitive in qis:
            raise ValueError(f"{sensitive!r} cannot be both a quasi-identifier and sensitive")
        column = table[sensitive]
        ordered = distance == "ordered" or (
            distance == "auto" and pd.api.types.is_numeric_dtype(column))
        codes_s, uniques_s = pd.factorize(column, sort=ordered)
        sensitive_codes = (codes_s.astype(np.int64), len(uniques_s))
        if distance == "hierarchical":
            group_of_code = risk.value_groups(list(uniques_s), groups)
        if l is not None and len(uniques_s) < l:
            raise ValueError(f"l = {l} is impossible: {sensitive!r} has only "
                             f"{len(uniques_s)} distinct value(s) in the whole table")
    n = len(table)
    if n < k:
        raise ValueError(f"k = {k} is impossible: the table has only {n} record(s)")

    level_codes = {c: hierarchies[c].codes(table[c]) for c in qis}
    heights = [hierarchies[c].height for c in qis]
    lattice = sorted(itertools.product(*(range(h + 1) for h in heights)),
                     key=lambda combo: (sum(combo), combo))
    max_suppressed = int(np.floor(max_suppression * n + 1e-9))

    rows = []
    best: tuple | None = None
    no_suppression: list[tuple[int, ...]] = []
    for combo in lattice:
        if any(all(c >= a for c, a in zip(combo, base, strict=True)) for base in no_suppression):
            continue  # more general everywhere than a combination that already suffices
        columns = [level_codes[c][level] for c, level in zip(qis, combo, strict=True)]
        codes, sizes = _classes(columns)
        n_small = int(sizes[(sizes > 0) & (sizes < k)].sum())
        row = {"levels": combo, "total_level": sum(combo), "feasible": False}
        if n_small > max_suppressed:
            row["suppressed"] = n_small
            rows.append(row)
            continue
        keep = _keep_mask(codes, sizes, k, l, t, sensitive_codes, ordered, group_of_code)
        n_suppressed = n - int(keep.sum())
        row["suppressed"] = n_suppressed
        if n_suppressed > max_suppressed:
            rows.append(row)
            continue
        kept_sizes = np.bincount(codes[keep])
        kept_sizes = kept_sizes[kept_sizes > 0]
        intensity = float(np.mean([lv / h for lv, h in zip(combo, heights, strict=True)]))
        loss = {
            "intensity": intensity,
            "precision_loss": ((n - n_suppressed) * intensity + n_suppressed) / n,
            "discernibility": discernibility(kept_sizes, n_suppressed, n),
        }
        row.update(feasible=True, classes=len(kept_sizes),
                   k=int(kept_sizes.min()), **loss)
        rows.append(row)
        score = (loss[objective], sum(combo))
        if best is None or score < best[0]:
            best = (score, combo, keep, n_suppressed, loss)
        if n_suppressed == 0:
            no_suppression.append(combo)
    if best is None:
        raise ValueError(
            f"no combination of levels reaches k = {k}"
            + (f", l = {l}" if l is not None else "")
            + (f", t = {t}" if t is not None else "")
            + f" with at most {max_suppression:.1%} of the records suppressed; allow more "
            "suppression or add coarser levels to the hierarchies"
        )

    _, combo, keep, n_suppressed, loss = best
    levels = dict(zip(qis, combo, strict=True))
    released = apply_levels(table[keep], hierarchies, levels)
    achieved_l = (risk.l_diversity(released, qis, sensitive)
                  if sensitive is not None and (l is not None or t is not None) else None)
    t_distance = ("ordered" if ordered else
                  "hierarchical" if group_of_code is not None else "equal")
    achieved_t = (risk.t_closeness(released, qis, sensitive, distance=t_distance, groups=groups)
                  if sensitive is not None and (l is not None or t is not None) else None)
    candidates = pd.DataFrame(rows)
    for c, i in zip(qis, range(len(qis)), strict=True):
        candidates.insert(i, c, [combo_[i] for combo_ in candidates["levels"]])
    candidates = candidates.drop(columns="levels")
    return AnonymisationResult(
        data=released,
        levels=levels,
        k=risk.k_anonymity(released, qis),
        l=achieved_l,
        t=achieved_t,
        n_suppressed=n_suppressed,
        suppressed_share=n_suppressed / n,
        intensity=loss["intensity"],
        precision_loss=loss["precision_loss"],
        discernibility=loss["discernibility"],
        candidates=candidates,
    )


# --------------------------------------------------------------------------- suppression bias


def suppression_shift(
    original: pd.DataFrame, released: pd.DataFrame, columns: str | Sequence[Hashable]
) -> pd.DataFrame:
    """What record suppression did to the distribution of each column in ``columns``.

    ``released`` holds the released records with their original index labels (as
    :func:`anonymise` returns them); the records of ``original`` missing from it were
    suppressed. One row per column: its mean in the original table, among the released and
    among the suppressed records, and the shift (released minus original), in the column's
    unit (a share for a 0/1 column such as an outcome). Information-loss measures count how
    many records and values were lost; this says *which*: suppression removes the records of
    small classes, which are rarely a random sample (the oldest patients, say), so the
    released table can be biased even when the loss looks small.
    """
    if not isinstance(original, pd.DataFrame) or not isinstance(released, pd.DataFrame):
        raise TypeError("original and released must be pandas DataFrames")
    columns = risk.check_columns(original, columns, "columns")
    unknown = released.index.difference(original.index)
    if len(unknown):
        raise ValueError("released has index labels that are not in original; pass the "
                         "released table with its original index")
    suppressed = original.index.difference(released.index)
    rows = {}
    for column in columns:
        values = original[column]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            values = values.astype(float) if pd.api.types.is_bool_dtype(values) else None
        if values is None:
            raise TypeError(f"column {column!r} must be numeric (or 0/1) to compare means")
        kept = values.loc[released.index]
        rows[column] = {
            "original": float(values.mean()),
            "released": float(kept.mean()) if len(kept) else np.nan,
            "suppressed": float(values.loc[suppressed].mean()) if len(suppressed) else np.nan,
            "shift": float(kept.mean() - values.mean()) if len(kept) else np.nan,
        }
    table = pd.DataFrame(rows).T
    table.index.name = "column"
    return table
