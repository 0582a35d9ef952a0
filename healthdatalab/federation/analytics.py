"""Federated analytics: what one hospital computes and how the aggregator combines it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

# --------------------------------------------------------------------------------------------
# Federated analytics: what one hospital computes and how the aggregator combines it
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalSummary:
    """Aggregates one hospital shares about one numeric column: no individual values."""

    count: int
    total: float
    total_of_squares: float
    histogram: tuple[int, ...]


def local_summary(values: pd.Series | np.ndarray, edges: Sequence[float]) -> LocalSummary:
    """Count, sum, sum of squares and a histogram over ``edges`` of one hospital's values."""
    array = np.asarray(values, dtype=float)
    if array.ndim != 1:
        raise ValueError("values must be one-dimensional")
    if not np.all(np.isfinite(array)):
        raise ValueError("values contain missing or infinite entries")
    edges = np.asarray(edges, dtype=float)
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError("edges must be at least two increasing numbers")
    outside = (array < edges[0]) | (array > edges[-1])
    if outside.any():
        raise ValueError(
            f"{int(outside.sum())} values fall outside the histogram edges "
            f"[{edges[0]}, {edges[-1]}]"
        )
    histogram, _ = np.histogram(array, bins=edges)
    return LocalSummary(
        count=int(array.size),
        total=float(array.sum()),
        total_of_squares=float(np.square(array).sum()),
        histogram=tuple(int(h) for h in histogram),
    )


def pool_summaries(summaries: Sequence[LocalSummary]) -> dict[str, object]:
    """Combine hospital summaries into the overall count, mean, standard deviation, histogram."""
    if len(summaries) == 0:
        raise ValueError("need at least one summary")
    if len({len(s.histogram) for s in summaries}) != 1:
        raise ValueError("all summaries must use the same histogram edges")
    n = sum(s.count for s in summaries)
    if n < 2:
        raise ValueError("need at least two values in total for a standard deviation")
    total = sum(s.total for s in summaries)
    squares = sum(s.total_of_squares for s in summaries)
    mean = total / n
    variance = (squares - n * mean**2) / (n - 1)
    return {
        "count": n,
        "mean": mean,
        "sd": float(np.sqrt(max(variance, 0.0))),
        "histogram": np.sum([s.histogram for s in summaries], axis=0),
    }
