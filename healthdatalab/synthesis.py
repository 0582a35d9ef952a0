"""A teaching generator of synthetic records, and checks of fidelity, utility and privacy.

The generator is a Gaussian copula, the model behind one of the Synthetic Data Vault's
generators (Patki, Wedge and Veeramachaneni, 2016), written out in a few lines:

1. **Marginals.** Each numeric column keeps its own empirical distribution: the sorted
   training values. A value becomes a normal score through its rank,
   ``z = Phi^-1(rank / (n + 1))`` (ties get their average rank).
2. **Categorical columns** (text, category or boolean columns, or any column named in
   ``categorical``) get the same treatment through their frequencies: the categories,
   ordered by decreasing frequency, split (0, 1) into consecutive intervals as wide as their
   shares, and a record's normal score is ``Phi^-1`` of the middle of its category's
   interval. Sampling reverses the map: the category whose interval contains ``Phi(z)``.
   The marginal is kept exactly in expectation; associations with other columns are kept
   only as far as a linear correlation of these scores can express them, and the order of
   the categories is arbitrary, so an association that is not monotone in that order is
   weakened. This is the main limitation of a copula for categorical data.
3. **Dependence.** The correlation matrix of the normal scores. Sampling draws normal
   vectors with that correlation and maps each coordinate back through ``Phi`` and the
   inverse empirical distribution (linear interpolation between training values, then
   rounding to the precision seen in training, so a column of whole numbers stays whole).

The evaluation functions compare a synthetic table with the real one on three questions:
*fidelity* (are the columns and their correlations alike?), *utility* (does a model
trained on synthetic rows predict real outcomes as well as one trained on real rows?) and
*privacy* (are synthetic rows suspiciously close to training rows?).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import KDTree
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

__all__ = [
    "DIRECT_IDENTIFIERS",
    "GaussianCopulaSynthesizer",
    "closer_to_training_share",
    "correlation_difference",
    "distance_to_closest_record",
    "exact_copies",
    "marginal_distances",
    "membership_inference_auc",
    "utility_auc",
]


#: Columns that identify a person directly (the cohort's identifiers and their usual
#: names). :class:`GaussianCopulaSynthesizer` never models them: a generator that fits a
#: citizen service number or a name reproduces real ones.
DIRECT_IDENTIFIERS: tuple[str, ...] = (
    "patient_id",
    "bsn",
    "name",
    "street",
    "address",
    "email",
    "phone",
)

# --------------------------------------------------------------------------- helpers


def _check_table(table: object, name: str = "table") -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(table).__name__}")
    if len(table) == 0:
        raise ValueError(f"{name} is empty")
    return table


def _check_columns(table: pd.DataFrame, columns: Sequence[str] | None, name: str) -> list[str]:
    if columns is None:
        return list(table.columns)
    if isinstance(columns, str):
        raise TypeError("columns must be a list of column names, not a single string")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise KeyError(f"column(s) {missing} are not in {name}; it has {list(table.columns)}")
    if not columns:
        raise ValueError("columns must not be empty")
    return list(columns)


def _check_no_missing(table: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = table[columns].isna().sum()
    missing = missing[missing > 0]
    if len(missing):
        raise ValueError(
            f"{name} has missing values (NaN) in {dict(missing.astype(int))}; "
            "impute or drop them first"
        )


def _is_categorical(series: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)


def _decimals(values: np.ndarray) -> int | None:
    """The fewest decimals (0 to 6) that represent every value exactly, or None."""
    for d in range(7):
        if np.allclose(values, np.round(values, d), rtol=0, atol=1e-9):
            return d
    return None


def _normal_scores(values: np.ndarray) -> np.ndarray:
    """Phi^-1 of the (average) rank divided by n + 1."""
    ranks = stats.rankdata(values, method="average")
    return stats.norm.ppf(ranks / (len(values) + 1))


# --------------------------------------------------------------------------- generator


class GaussianCopulaSynthesizer:
    """A Gaussian copula over empirical marginals (see the module docstring for the method).

    >>> model = GaussianCopulaSynthesizer().fit(train)           # doctest: +SKIP
    >>> synthetic = model.sample(1000, np.random.default_rng(0))  # doctest: +SKIP
    """

    def __init__(
        self, *, categorical: Sequence[str] = (), direct_identifiers: Sequence[str] = ()
    ) -> None:
        if isinstance(categorical, str) or isinstance(direct_identifiers, str):
            raise TypeError("categorical and direct_identifiers must be lists of column names, "
                            "not a single string")
        self.categorical = list(categorical)
        self.direct_identifiers = [*DIRECT_IDENTIFIERS, *direct_identifiers]
        self.columns_: list[str] | None = None

    def fit(self, table: pd.DataFrame) -> GaussianCopulaSynthesizer:
        """Learn the marginals and the correlation of normal scores of every column.

        Direct identifiers (:data:`DIRECT_IDENTIFIERS` plus any named in
        ``direct_identifiers``) are always dropped first and listed in ``dropped_``; they are
        never modelled and never sampled.
        """
        table = _check_table(table)
        self.dropped_ = [c for c in table.columns if c in self.direct_identifiers]
        table = table.drop(columns=self.dropped_)
        if table.shape[1] == 0:
            raise ValueError("the table has no column left once direct identifiers are dropped")
        clash = [c for c in self.categorical if c in self.dropped_]
        if clash:
            raise ValueError(f"column(s) {clash} are direct identifiers and are never modelled")
        if len(table) < 3:
            raise ValueError("fit needs at least 3 rows")
        unknown = [c for c in self.categorical if c not in table.columns]
        if unknown:
            raise KeyError(f"categorical column(s) {unknown} are not in the table")
        columns = list(table.columns)
        _check_no_missing(table, columns, "the table")
        self.columns_ = columns
        self.dtypes_ = table.dtypes.to_dict()
        self.marginals_: dict[str, dict] = {}
        scores = np.empty((len(table), len(columns)))
        for j, column in enumerate(columns):
            series = table[column]
            if pd.api.types.is_datetime64_any_dtype(series) or pd.api.types.is_timedelta64_dtype(
                series
            ):
                raise TypeError(
                    f"column {column!r} holds dates or durations; convert it to a number "
                    "(such as age in years) or drop it before fitting"
                )
            if column in self.categorical or _is_categorical(series):
                shares = series.value_counts(normalize=True, sort=True)
                upper = np.cumsum(shares.to_numpy())
                upper[-1] = 1.0
                lower = np.concatenate([[0.0], upper[:-1]])
                middle = pd.Series((lower + upper) / 2, index=shares.index)
                self.marginals_[column] = {
                    "kind": "categorical",
                    "categories": list(shares.index),
                    "upper": upper,
                }
                scores[:, j] = stats.norm.ppf(series.map(middle).to_numpy(dtype=float))
            else:
                values = series.to_numpy(dtype=float)
                self.marginals_[column] = {
                    "kind": "numeric",
                    "sorted": np.sort(values),
                    "decimals": _decimals(values),
                    "integer": pd.api.types.is_integer_dtype(series),
                }
                scores[:, j] = _normal_scores(values)
        self.correlation_ = self._correlation(scores)
        return self

    @staticmethod
    def _correlation(scores: np.ndarray) -> np.ndarray:
        """Correlation of the normal scores; constant columns are uncorrelated with the rest."""
        p = scores.shape[1]
        sd = scores.std(axis=0)
        varying = sd > 0
        corr = np.eye(p)
        if varying.sum() > 1:
            corr[np.ix_(varying, varying)] = np.corrcoef(scores[:, varying], rowvar=False)
        # Guard against tiny negative eigenvalues from rounding.
        values, vectors = np.linalg.eigh(corr)
        values = np.clip(values, 1e-10, None)
        corr = vectors @ np.diag(values) @ vectors.T
        d = np.sqrt(np.diag(corr))
        return corr / np.outer(d, d)

    def sample(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        """Draw ``n`` synthetic rows with the fitted columns, reproducibly from ``rng``."""
        if self.columns_ is None:
            raise RuntimeError("call fit(table) before sample(n, rng)")
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ValueError(f"n must be a positive whole number of rows, got {n!r}")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        values, vectors = np.linalg.eigh(self.correlation_)
        factor = vectors * np.sqrt(np.clip(values, 0, None))
        z = rng.standard_normal((int(n), len(self.columns_))) @ factor.T
        u = stats.norm.cdf(z)
        out = {}
        for j, column in enumerate(self.columns_):
            marginal = self.marginals_[column]
            if marginal["kind"] == "categorical":
                index = np.searchsorted(marginal["upper"], u[:, j], side="right")
                index = np.minimum(index, len(marginal["categories"]) - 1)
                column_values = np.asarray(marginal["categories"], dtype=object)[index]
                out[column] = pd.Series(column_values).astype(self.dtypes_[column])
            else:
                ordered = marginal["sorted"]
                position = u[:, j] * (len(ordered) - 1)
                column_values = np.interp(position, np.arange(len(ordered)), ordered)
                if marginal["decimals"] is not None:
                    column_values = np.round(column_values, marginal["decimals"])
                if marginal["integer"]:
                    column_values = column_values.astype(np.int64)
                out[column] = pd.Series(column_values).astype(self.dtypes_[column])
        return pd.DataFrame(out, columns=self.columns_)


# --------------------------------------------------------------------------- fidelity


def marginal_distances(
    real: pd.DataFrame, synthetic: pd.DataFrame, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Distance between the real and synthetic distribution of each column.

    Numeric columns: the Kolmogorov-Smirnov statistic (largest gap between the two
    cumulative distributions). Categorical columns: the total variation distance (half the
    sum of absolute differences in category shares). Both lie in [0, 1]; 0 means identical.
    """
    real = _check_table(real, "real")
    synthetic = _check_table(synthetic, "synthetic")
    columns = _check_columns(real, columns, "real")
    _check_columns(synthetic, columns, "synthetic")
    _check_no_missing(real, columns, "real")
    _check_no_missing(synthetic, columns, "synthetic")
    rows = []
    for column in columns:
        if _is_categorical(real[column]):
            p = real[column].astype(object).value_counts(normalize=True)
            q = synthetic[column].astype(object).value_counts(normalize=True)
            p, q = p.align(q, fill_value=0.0)
            rows.append((column, "total variation", 0.5 * float(np.abs(p - q).sum())))
        else:
            result = stats.ks_2samp(
                real[column].to_numpy(float), synthetic[column].to_numpy(float), method="asymp"
            )
            rows.append((column, "Kolmogorov-Smirnov", float(result.statistic)))
    return pd.DataFrame(rows, columns=["column", "measure", "distance"]).set_index("column")


def correlation_difference(
    real: pd.DataFrame, synthetic: pd.DataFrame, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Synthetic minus real Pearson correlation matrix over the numeric columns.

    Summarise it with, for example, ``.abs().to_numpy().max()``. Categorical columns are
    left out (a correlation needs numbers); compare them with :func:`marginal_distances`.
    """
    real = _check_table(real, "real")
    synthetic = _check_table(synthetic, "synthetic")
    columns = _check_columns(real, columns, "real")
    _check_columns(synthetic, columns, "synthetic")
    numeric = [c for c in columns if not _is_categorical(real[c])]
    if len(numeric) < 2:
        raise ValueError("correlation_difference needs at least two numeric columns")
    _check_no_missing(real, numeric, "real")
    _check_no_missing(synthetic, numeric, "synthetic")
    r = real[numeric].astype(float).corr()
    s = synthetic[numeric].astype(float).corr()
    return (s - r).fillna(0.0)


# --------------------------------------------------------------------------- utility


def utility_auc(
    train: pd.DataFrame,
    test: pd.DataFrame,
    outcome: str,
    features: Sequence[str],
) -> float:
    """ROC AUC on ``test`` of a logistic regression of ``outcome`` fitted on ``train``.

    Numeric features are standardised and categorical ones one-hot encoded (a category
    unseen in training is ignored). Call it with synthetic training rows and real test rows
    ("train on synthetic, test on real", TSTR) and with real training rows (TRTR); the gap
    between the two is the utility lost to synthesis.
    """
    train = _check_table(train, "train")
    test = _check_table(test, "test")
    if isinstance(features, str):
        raise TypeError("features must be a list of column names, not a single string")
    features = list(features)
    if not features:
        raise ValueError("features must not be empty")
    if outcome in features:
        raise ValueError(f"the outcome {outcome!r} must not also be a feature")
    for name, table in (("train", train), ("test", test)):
        _check_columns(table, [*features, outcome], name)
        _check_no_missing(table, [*features, outcome], name)
        labels = set(pd.unique(table[outcome]))
        if not labels <= {0, 1}:
            raise ValueError(f"{outcome!r} in {name} must be 0/1, found values {sorted(labels)}")
        if len(labels) < 2:
            raise ValueError(f"{outcome!r} in {name} has one class only; AUC needs both")
    categorical = [c for c in features if _is_categorical(train[c])]
    numeric = [c for c in features if c not in categorical]
    encode = ColumnTransformer(
        [
            ("numeric", StandardScaler(), numeric),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical),
        ]
    )
    model = make_pipeline(encode, LogisticRegression(max_iter=1000))

    def prepare(table: pd.DataFrame) -> pd.DataFrame:
        x = table[features].copy()
        for c in categorical:
            x[c] = x[c].astype(str)
        return x

    model.fit(prepare(train), train[outcome].to_numpy(int))
    scores = model.predict_proba(prepare(test))[:, 1]
    return float(roc_auc_score(test[outcome].to_numpy(int), scores))


# --------------------------------------------------------------------------- privacy


class _MixedEncoder:
    """Encode a table so that the L1 distance divided by the number of columns is the Gower
    distance: numeric differences divided by the reference range, categorical mismatch 1."""

    def __init__(self, reference: pd.DataFrame, columns: list[str]) -> None:
        self.columns = columns
        self.numeric = [c for c in columns if not _is_categorical(reference[c])]
        self.categorical = [c for c in columns if c not in self.numeric]
        values = reference[self.numeric].to_numpy(float)
        spread = values.max(axis=0) - values.min(axis=0) if self.numeric else np.array([])
        self.spread = np.where(spread > 0, spread, 1.0)

    def __call__(self, table: pd.DataFrame, categories: dict[str, list]) -> np.ndarray:
        parts = [table[self.numeric].to_numpy(float) / self.spread]
        for c in self.categorical:
            codes = pd.Categorical(table[c].astype(object), categories=categories[c])
            parts.append(0.5 * np.eye(len(categories[c]))[codes.codes])
        return np.hstack(parts) if parts else np.empty((len(table), 0))


def _prepare(
    tables: dict[str, pd.DataFrame], reference: str, columns: Sequence[str] | None
) -> tuple[dict[str, np.ndarray], int, int]:
    """Encoded tables, the number of columns, and how many leading encoded columns are numeric."""
    for name, table in tables.items():
        _check_table(table, name)
    columns = _check_columns(tables[reference], columns, reference)
    for name, table in tables.items():
        _check_columns(table, columns, name)
        _check_no_missing(table, columns, name)
    encoder = _MixedEncoder(tables[reference], columns)
    categories = {
        c: sorted({v for t in tables.values() for v in t[c].astype(object).unique()}, key=str)
        for c in encoder.categorical
    }
    encoded = {name: encoder(t, categories) for name, t in tables.items()}
    return encoded, len(columns), len(encoder.numeric)


#: From this many reference rows on, :func:`_nearest` searches category by category; below
#: it, one search is quicker than building a tree for each combination of categories.
_GROUPED_SEARCH_FROM = 2000


def _search(query: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return KDTree(reference, metric="manhattan").query(query, k=1)[0][:, 0]


def _nearest(query: np.ndarray, reference: np.ndarray, numeric: int) -> np.ndarray:
    """L1 distance from every query row to its nearest reference row.

    The first ``numeric`` columns are numeric, the rest one-hot blocks of 0.5 (see
    :class:`_MixedEncoder`), so a reference row whose categories differ from the query's lies
    at least 1 away from it. From :data:`_GROUPED_SEARCH_FROM` reference rows on, each query is
    therefore matched first on the numeric columns among the reference rows with the same
    categories, a far smaller search; only the queries whose match there is farther than 1,
    or that have no such rows, are searched against all reference rows. The distances are
    those of one search over everything.
    """
    if numeric in (0, reference.shape[1]) or len(reference) < _GROUPED_SEARCH_FROM:
        return _search(query, reference)
    _, groups = np.unique(
        np.vstack([reference[:, numeric:], query[:, numeric:]]), axis=0, return_inverse=True
    )
    groups = groups.ravel()
    reference_group, query_group = groups[: len(reference)], groups[len(reference) :]
    distances = np.full(len(query), np.inf)
    for group in np.unique(query_group):
        rows = reference_group == group
        if rows.any():
            asked = query_group == group
            distances[asked] = _search(query[asked, :numeric], reference[rows, :numeric])
    farther = distances > 1
    if farther.any():
        distances[farther] = _search(query[farther], reference)
    return distances


def distance_to_closest_record(
    query: pd.DataFrame, reference: pd.DataFrame, columns: Sequence[str] | None = None
) -> np.ndarray:
    """Gower distance from each row of ``query`` to its closest row of ``reference``.

    Numeric differences are divided by the column's range in ``reference``; a categorical
    mismatch counts 1; the distance is the average over the columns, so it lies in [0, 1]
    for values inside the reference's range. 0 means an exact copy on these columns.
    """
    encoded, p, numeric = _prepare({"query": query, "reference": reference}, "reference", columns)
    return _nearest(encoded["query"], encoded["reference"], numeric) / p


_MISSING = "<missing>"


def exact_copies(
    synthetic: pd.DataFrame, train: pd.DataFrame, columns: Sequence[str] | None = None
) -> int:
    """Number of synthetic rows identical, on ``columns``, to at least one training row.

    Missing values count as equal to each other, so a copied row with a gap is still a copy.
    """
    synthetic = _check_table(synthetic, "synthetic")
    train = _check_table(train, "train")
    columns = _check_columns(train, columns, "train")
    _check_columns(synthetic, columns, "synthetic")

    def rows(table: pd.DataFrame) -> list[tuple]:
        # A missing value equals a missing value here (NaN != NaN would hide such copies).
        values = table[columns].astype(object)
        values = values.where(values.notna(), _MISSING)
        return list(values.itertuples(index=False, name=None))

    seen = set(rows(train))
    return sum(row in seen for row in rows(synthetic))


def closer_to_training_share(
    synthetic: pd.DataFrame,
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    columns: Sequence[str] | None = None,
) -> float:
    """Share of synthetic rows closer to a training row than to any holdout row.

    With training and holdout sets of the same size drawn from the same population, a
    generator that does not memorise gives about 0.5 (ties count one half); a share well
    above 0.5 means synthetic rows sit near the very records the generator was fitted on.
    """
    if len(train) != len(holdout):
        raise ValueError(
            f"train and holdout must have the same number of rows for a fair comparison, "
            f"got {len(train)} and {len(holdout)}"
        )
    encoded, _, numeric = _prepare(
        {"synthetic": synthetic, "train": train, "holdout": holdout}, "train", columns
    )
    to_train = _nearest(encoded["synthetic"], encoded["train"], numeric)
    to_holdout = _nearest(encoded["synthetic"], encoded["holdout"], numeric)
    return float(np.mean((to_train < to_holdout) + 0.5 * (to_train == to_holdout)))


def membership_inference_auc(
    synthetic: pd.DataFrame,
    members: pd.DataFrame,
    non_members: pd.DataFrame,
    columns: Sequence[str] | None = None,
) -> float:
    """AUC of a distance-based membership inference attack on the synthetic data.

    The attacker holds candidate records, some used to fit the generator (``members``) and
    some not (``non_members``), and guesses "member" for candidates that lie close to a
    synthetic row: the score is minus the distance to the closest synthetic row. An AUC
    near 0.5 means the attack does no better than a coin; near 1 means the synthetic data
    reveal who was in the training data.
    """
    encoded, _, numeric = _prepare(
        {"synthetic": synthetic, "members": members, "non_members": non_members},
        "members",
        columns,
    )
    member_distance = _nearest(encoded["members"], encoded["synthetic"], numeric)
    non_member_distance = _nearest(encoded["non_members"], encoded["synthetic"], numeric)
    labels = np.r_[np.ones(len(member_distance)), np.zeros(len(non_member_distance))]
    scores = -np.r_[member_distance, non_member_distance]
    return float(roc_auc_score(labels, scores))
