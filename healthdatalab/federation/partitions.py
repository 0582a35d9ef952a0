"""Partitions per hospital: one design matrix and outcome vector per hospital."""

from __future__ import annotations

import numpy as np
import pandas as pd

from healthdatalab.cohort import TRUE_COEFFICIENTS, outcome_features

#: Names of the model's coefficients, in the order of the columns of :func:`to_arrays`.
FEATURES: tuple[str, ...] = ("intercept", *[k for k in TRUE_COEFFICIENTS if k != "intercept"])


# --------------------------------------------------------------------------------------------
# Partitions
# --------------------------------------------------------------------------------------------


def partition_by_hospital(
    cohort: pd.DataFrame, column: str = "hospital"
) -> dict[str, pd.DataFrame]:
    """Split a cohort into one table per value of ``column``, in sorted order of the values."""
    if not isinstance(cohort, pd.DataFrame):
        raise TypeError(f"cohort must be a pandas DataFrame, got {type(cohort).__name__}")
    if column not in cohort.columns:
        raise KeyError(f"the cohort has no column {column!r} to partition by")
    if len(cohort) == 0:
        raise ValueError("cannot partition an empty cohort")
    if cohort[column].isna().any():
        raise ValueError(f"column {column!r} has missing values; every row needs a hospital")
    return {
        str(name): part.reset_index(drop=True)
        for name, part in cohort.groupby(column, sort=True, observed=True)
    }


def to_arrays(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Design matrix (intercept column first, then :data:`FEATURES`) and the 0/1 outcome."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    if "outcome" not in frame.columns:
        raise KeyError("the table has no 'outcome' column")
    features = outcome_features(frame)[list(FEATURES[1:])].to_numpy(float)
    X = np.column_stack([np.ones(len(frame)), features])
    y = frame["outcome"].to_numpy(float)
    _check_xy(X, y)
    return X, y


def _check_xy(X: np.ndarray, y: np.ndarray) -> None:
    if not isinstance(X, np.ndarray) or not isinstance(y, np.ndarray):
        raise TypeError("X and y must be numpy arrays")
    if X.ndim != 2:
        raise ValueError(f"X must be two-dimensional (rows x features), got shape {X.shape}")
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(f"y must be one value per row of X: X has {len(X)} rows, y {y.shape}")
    if len(y) == 0:
        raise ValueError("X and y have no rows")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains missing or infinite values")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("y must contain only 0 and 1")


def _check_weights(w: np.ndarray, X: np.ndarray) -> np.ndarray:
    w = np.asarray(w, dtype=float)
    if w.shape != (X.shape[1],):
        raise ValueError(f"weights need shape ({X.shape[1]},) to match X, got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("weights contain missing or infinite values")
    return w
