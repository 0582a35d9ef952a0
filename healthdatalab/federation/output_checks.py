"""Output checks of a secure environment: a minimum cell count (zeros withheld by default),
and a query log that refuses a cell differing from an earlier one by a few records.

A minimum cell count checks one output at a time. Two outputs that each pass can still be
subtracted: "women aged 76 or over" minus "women aged 76 to 90" is "women over 90", a cell
the check would have blocked. This is the *differencing* attack. :class:`QueryLog` keeps the
set of records behind every released cell and refuses a new cell whose records differ from
those of a released cell (or of another cell in the same output) by fewer than
``min_count`` records. Pairwise checks cannot catch every combination of three or more
outputs; only noise whose total is budgeted (differential privacy) bounds what any number of
outputs reveal.
"""

from __future__ import annotations

import numbers
from collections.abc import Hashable, Iterable, Mapping, Sequence
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
    # The message names the cell, never its count: the count is what must not leave.
    problems = tuple(
        f"cell {label!r} is below the minimum count of {min_count}" for label in values[small].index
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


# --------------------------------------------------------------------------------------------
# Output checks across outputs: a query log against differencing
# --------------------------------------------------------------------------------------------


class QueryLog:
    """The records behind every released cell, and a check that refuses differencing.

    A *cell* is given as the identifiers of the records it counts (row labels of the
    environment's data). :meth:`check` fails a cell when it has fewer than ``min_count``
    records (zero included), or when the records of the cell and of any released cell, or of
    another cell of the same output, differ by at least one and fewer than ``min_count``
    records (the symmetric difference): subtracting the two counts would reveal a group
    smaller than the minimum. :meth:`release` checks, then records. Messages name cells,
    never counts.
    """

    def __init__(self, *, min_count: int = MIN_CELL_COUNT) -> None:
        if isinstance(min_count, bool) or not isinstance(min_count, numbers.Integral):
            raise TypeError(f"min_count must be an integer, got {min_count!r}")
        if min_count < 1:
            raise ValueError(f"min_count must be at least 1, got {min_count}")
        self.min_count = int(min_count)
        self._released: list[tuple[Hashable, frozenset]] = []

    @property
    def released(self) -> list[Hashable]:
        """Labels of the released cells, in order."""
        return [label for label, _ in self._released]

    @staticmethod
    def _cells(cells: Mapping[Hashable, Iterable[Hashable]]) -> list[tuple[Hashable, frozenset]]:
        if not isinstance(cells, Mapping) or not cells:
            raise TypeError("cells must be a non-empty mapping of label -> record identifiers")
        out = []
        for label, members in cells.items():
            if isinstance(members, str) or not isinstance(members, Iterable):
                raise TypeError(f"cell {label!r} must list its record identifiers")
            out.append((label, frozenset(members)))
        return out

    def check(self, cells: Mapping[Hashable, Iterable[Hashable]]) -> OutputCheck:
        """Check the cells of one output against each other and against the log."""
        new = self._cells(cells)
        problems = []
        for i, (label, members) in enumerate(new):
            if len(members) < self.min_count:
                problems.append(f"cell {label!r} is below the minimum count of {self.min_count}")
                continue
            earlier = [*self._released, *new[:i]]
            for other_label, other in earlier:
                difference = len(members ^ other)
                if 0 < difference < self.min_count:
                    problems.append(
                        f"cell {label!r} differs from cell {other_label!r} by fewer than "
                        f"{self.min_count} records; subtracting them would disclose a small group"
                    )
        return OutputCheck(passed=not problems, problems=tuple(problems))

    def release(self, output: object, cells: Mapping[Hashable, Iterable[Hashable]]) -> object:
        """Return ``output`` and log its cells if :meth:`check` passes; else raise
        :class:`OutputBlockedError` (and log nothing)."""
        verdict = self.check(cells)
        if not verdict.passed:
            raise OutputBlockedError("output blocked: " + "; ".join(verdict.problems))
        self._released.extend(self._cells(cells))
        return output
