"""Output checks of a secure environment: a minimum cell count; zeros withheld by default."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

#: as in the UK Longitudinal Linkage Collaboration's rule; see :func:`check_min_cell_count`).
MIN_CELL_COUNT: int = 10


# --------------------------------------------------------------------------------------------
# Output checks: a minimum cell count
# --------------------------------------------------------------------------------------------


class OutputBlockedError(Exception):
    """An output failed the output checks of the secure environment and may not leave it."""


@dataclass(frozen=True)
class OutputCheck:
    """The verdict of an output check: passed or not, and why."""

    passed: bool
    problems: tuple[str, ...] = field(default_factory=tuple)


def _as_counts(counts: pd.Series | pd.DataFrame | Mapping | Sequence) -> pd.Series:
    if isinstance(counts, pd.DataFrame):
        series = counts.stack()
    elif isinstance(counts, pd.Series):
        series = counts
    elif isinstance(counts, Mapping):
        series = pd.Series(dict(counts))
    elif isinstance(counts, Sequence) and not isinstance(counts, str):
        series = pd.Series(list(counts))
    else:
        raise TypeError(f"counts must be a table, a mapping or a list, got {type(counts)}")
    values = pd.to_numeric(series, errors="coerce")
    if values.isna().any() or (values < 0).any() or (values % 1 != 0).any():
        raise ValueError("counts must be whole numbers of zero or more (no missing values)")
    return values.astype("int64")


def check_min_cell_count(
    counts: pd.Series | pd.DataFrame | Mapping | Sequence,
    *,
    min_count: int = MIN_CELL_COUNT,
    zero_is_small: bool = True,
) -> OutputCheck:
    """Check that every cell count is at least ``min_count``.

    By default every count below ``min_count`` fails, zero included, as in the UK
    Longitudinal Linkage Collaboration's rule: a zero can disclose that nobody in a group has
    a trait. Environments whose rules release zeros pass ``zero_is_small=False``; then only
    counts from 1 to ``min_count - 1`` fail.
    """
    if isinstance(min_count, bool) or not isinstance(min_count, numbers.Integral):
        raise TypeError(f"min_count must be an integer, got {min_count!r}")
    if min_count < 1:
        raise ValueError(f"min_count must be at least 1, got {min_count}")
    if not isinstance(zero_is_small, bool):
        raise TypeError(f"zero_is_small must be True or False, got {zero_is_small!r}")
    values = _as_counts(counts)
    small = (values < min_count) & ((values > 0) | zero_is_small)
    problems = tuple(
        f"cell {label!r} has count {int(count)}, below the minimum of {min_count}"
        for label, count in values[small].items()
    )
    return OutputCheck(passed=not problems, problems=problems)


def release(
    output: object,
    counts: pd.Series | pd.DataFrame | Mapping | Sequence,
    *,
    min_count: int = MIN_CELL_COUNT,
    zero_is_small: bool = True,
) -> object:
    """Return ``output`` if the counts behind it pass :func:`check_min_cell_count`.

    Otherwise raise :class:`OutputBlockedError` listing the failing cells. As in the check,
    zero counts block the output unless ``zero_is_small=False``.
    """
    verdict = check_min_cell_count(counts, min_count=min_count, zero_is_small=zero_is_small)
    if not verdict.passed:
        raise OutputBlockedError("output blocked: " + "; ".join(verdict.problems))
    return output


def suppress_small_cells(
    counts: pd.Series | pd.DataFrame,
    *,
    min_count: int = MIN_CELL_COUNT,
    zero_is_small: bool = True,
) -> pd.Series | pd.DataFrame:
    """Replace the counts that fail :func:`check_min_cell_count` with missing values.

    By default that is every count below ``min_count``, zero included; with
    ``zero_is_small=False`` zeros are kept and only counts from 1 to ``min_count - 1`` go.
    """
    if not isinstance(counts, pd.Series | pd.DataFrame):
        raise TypeError("counts must be a pandas Series or DataFrame")
    # validates the values and the arguments
    check_min_cell_count(counts, min_count=min_count, zero_is_small=zero_is_small)
    numbers_ = counts.astype("Int64")
    small = numbers_ < min_count
    return numbers_.mask(small if zero_is_small else small & (numbers_ > 0))
