"""Differentially private synthetic data from noisy marginals: by hand, and with Private-PGM.

Both generators follow the "select, measure, generate" recipe of marginal-based synthesis
(McKenna, Miklau and Sheldon 2021):

1. **Discretise** every column on a *public* domain: bins and categories fixed in advance
   (:data:`COHORT_DOMAIN`), never read from the data, so that the domain itself reveals
   nothing. Values outside a numeric column's range are clipped to it. Columns outside the
   domain, and in particular the direct identifiers of :data:`DIRECT_IDENTIFIERS`, are dropped
   before anything is measured: a generator cannot leak what it never saw.
2. **Measure** a few low-dimensional marginals (counts per cell) with the Laplace mechanism of
   OpenDP, whose integer Laplace noise avoids the floating-point flaw of a hand-written
   sampler. Under add/remove-one-record neighbours each record changes every marginal by one,
   so ``k`` marginals measured together have L1 sensitivity ``k`` and the noise scale is
   ``k / epsilon``; OpenDP checks the arithmetic (``measure_marginals``).
3. **Generate** rows from the noisy marginals. Everything after the measurement is
   post-processing and costs no further privacy.

:class:`NoisyMarginalSynthesizer` (by hand): measures the marginal of each column *with the
outcome* and samples the outcome, then each other column given the outcome (a star around the
outcome, like naive Bayes). It keeps every column's link with the outcome and loses the links
between the other columns.

:class:`PrivatePGMSynthesizer` (the library): MST (McKenna et al. 2021): one third of the
budget measures every one-way marginal, one third selects a maximum spanning tree of pairs
privately with OpenDP's report-noisy-max (Gumbel) mechanism, one third measures the selected
pairs; Private-PGM (``mbi``) then estimates one consistent graphical model from all the noisy
measurements and samples rows from it.

Decoding maps a bin back to a value drawn uniformly inside it (whole numbers for whole-number
columns), so the synthetic table has the columns and types of the real one and the evaluation
functions of :mod:`healthdatalab.synthesis` apply unchanged.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import opendp.prelude as dp
import pandas as pd

from healthdatalab.cohort import DIAGNOSES

__all__ = [
    "COHORT_DOMAIN",
    "DIRECT_IDENTIFIERS",
    "Bins",
    "Categories",
    "NoisyMarginalSynthesizer",
    "PrivatePGMSynthesizer",
    "decode",
    "encode",
    "measure_marginals",
]

#: Columns of :func:`healthdatalab.cohort.generate_cohort` that identify a person directly
#: (or, for the date of birth, nearly so); they never enter a generator.
DIRECT_IDENTIFIERS: tuple[str, ...] = (
    "patient_id",
    "bsn",
    "name",
    "street",
    "city",
    "postcode",
    "date_of_birth",
)


@dataclass(frozen=True)
class Bins:
    """A numeric column cut at public ``edges`` (values outside are clipped to the range)."""

    edges: tuple[float, ...]
    integer: bool = False

    def __post_init__(self) -> None:
        edges = np.asarray(self.edges, dtype=float)
        if len(edges) < 2 or not np.all(np.diff(edges) > 0) or not np.all(np.isfinite(edges)):
            raise ValueError("bin edges must be at least two finite, increasing numbers")

    @property
    def size(self) -> int:
        return len(self.edges) - 1


@dataclass(frozen=True)
class Categories:
    """A categorical column with a public list of values."""

    values: tuple

    def __post_init__(self) -> None:
        if len(self.values) < 1 or len(set(self.values)) != len(self.values):
            raise ValueError("categories must be a non-empty list of distinct values")

    @property
    def size(self) -> int:
        return len(self.values)


#: The public domain of the cohort's analysis columns: plausible clinical ranges cut at round
#: numbers (including the usual BMI, blood-pressure and HbA1c thresholds), fixed in advance
#: and never read from the data.
COHORT_DOMAIN: dict[str, Bins | Categories] = {
    "age": Bins((18, 30, 40, 50, 60, 70, 80, 90, 100), integer=True),
    "sex": Categories(("F", "M")),
    "hospital": Categories(("Hospital A", "Hospital B", "Hospital C")),
    "diagnosis": Categories(tuple(DIAGNOSES)),
    "bmi": Bins((15, 18.5, 22, 25, 27.5, 30, 35, 50)),
    "systolic_bp": Bins((80, 100, 110, 120, 130, 140, 150, 160, 180, 200), integer=True),
    "hba1c": Bins((20, 30, 35, 40, 45, 50, 55, 64, 100), integer=True),
    "smoking": Categories((0, 1)),
    "outcome": Categories((0, 1)),
}


# --------------------------------------------------------------------------- encoding


def _check_domain(domain: Mapping[str, Bins | Categories]) -> dict[str, Bins | Categories]:
    if not isinstance(domain, Mapping) or not domain:
        raise TypeError("domain must be a non-empty mapping of column name to Bins or Categories")
    identifiers = [c for c in domain if c in DIRECT_IDENTIFIERS]
    if identifiers:
        raise ValueError(
            f"direct identifier column(s) {identifiers} must not be in a synthesis domain"
        )
    for column, spec in domain.items():
        if not isinstance(spec, Bins | Categories):
            raise TypeError(f"the domain of {column!r} must be Bins or Categories")
    return dict(domain)


def encode(table: pd.DataFrame, domain: Mapping[str, Bins | Categories]) -> pd.DataFrame:
    """Integer codes (0 .. size - 1) of ``table``'s domain columns; other columns are dropped.

    Numeric values outside a column's bins are clipped into the first or last bin. A category
    that is not in the public list raises an error that names the column, not the value.
    """
    domain = _check_domain(domain)
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table must be a pandas DataFrame, got {type(table).__name__}")
    if len(table) == 0:
        raise ValueError("table is empty")
    missing = [c for c in domain if c not in table.columns]
    if missing:
        raise KeyError(f"the table lacks domain column(s) {missing}")
    codes = {}
    for column, spec in domain.items():
        series = table[column]
        if series.isna().any():
            raise ValueError(f"column {column!r} has missing values; impute or drop them first")
        if isinstance(spec, Bins):
            if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
                raise TypeError(f"column {column!r} must be numeric to be binned")
            values = np.clip(series.to_numpy(float), spec.edges[0], spec.edges[-1])
            index = np.searchsorted(spec.edges, values, side="right") - 1
            codes[column] = np.clip(index, 0, spec.size - 1)
        else:
            lookup = {v: i for i, v in enumerate(spec.values)}
            mapped = series.astype(object).map(lookup)
            if mapped.isna().any():
                raise ValueError(
                    f"column {column!r} holds a value outside its public list of categories"
                )
            codes[column] = mapped.to_numpy(int)
    return pd.DataFrame(codes, index=table.index)


def decode(
    codes: pd.DataFrame, domain: Mapping[str, Bins | Categories], rng: np.random.Generator
) -> pd.DataFrame:
    """Values from codes: a category's value, or a number drawn uniformly inside the bin."""
    domain = _check_domain(domain)
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy Generator")
    out = {}
    for column, spec in domain.items():
        index = codes[column].to_numpy(int)
        if np.any((index < 0) | (index >= spec.size)):
            raise ValueError(f"codes of {column!r} must lie in 0 .. {spec.size - 1}")
        if isinstance(spec, Categories):
            values = np.asarray(spec.values, dtype=object)[index]
            out[column] = pd.Series(values).infer_objects()
            if all(isinstance(v, str) for v in spec.values):
                out[column] = out[column].astype("string")
            continue
        edges = np.asarray(spec.edges, dtype=float)
        low, high = edges[index], edges[index + 1]
        if spec.integer:
            # whole numbers in [low, high), the last bin closed: [low, high]
            top = np.where(index == spec.size - 1, high + 1, high)
            out[column] = np.floor(rng.uniform(np.ceil(low), np.ceil(top))).astype(np.int64)
        else:
            # one decimal, rounded down so that a value never leaves its bin
            out[column] = np.floor(rng.uniform(low, high) * 10) / 10
    return pd.DataFrame(out)


# --------------------------------------------------------------------------- measuring


def _check_epsilon(epsilon: object) -> float:
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real):
        raise TypeError("epsilon must be a positive number")
    if not (np.isfinite(epsilon) and epsilon > 0):
        raise ValueError("epsilon must be a positive, finite number")
    return float(epsilon)


def _cell_index(codes: pd.DataFrame, sizes: Mapping[str, int], clique: Sequence[str]) -> np.ndarray:
    """Each record's cell of the marginal, as one flat index into its grid."""
    columns = [codes[c].to_numpy(np.int64) for c in clique]
    return np.ravel_multi_index(columns, [sizes[c] for c in clique])


def measure_marginals(
    codes: pd.DataFrame,
    sizes: Mapping[str, int],
    cliques: Sequence[Sequence[str]],
    epsilon: float,
) -> tuple[dict[tuple[str, ...], np.ndarray], float]:
    """Noisy counts of every cell of each marginal in ``cliques``, together ``epsilon``-DP.

    One OpenDP measurement per marginal (a row-by-row map from a record to its cell, a count
    per cell of the public grid, integer Laplace noise of scale ``len(cliques) / epsilon``),
    composed with OpenDP's basic composition. Returns the noisy counts, each shaped like the
    marginal's grid, and the privacy loss OpenDP certifies for adding or removing one record.
    """
    epsilon = _check_epsilon(epsilon)
    if not cliques:
        raise ValueError("cliques must name at least one marginal")
    cliques = [tuple(c) for c in cliques]
    for clique in cliques:
        unknown = [c for c in clique if c not in sizes or c not in codes.columns]
        if unknown or not clique:
            raise KeyError(f"marginal {clique} names column(s) outside the domain: {unknown}")
    dp.enable_features("contrib", "honest-but-curious")  # the user-defined row-by-row map
    space = (dp.vector_domain(dp.atom_domain(T=int)), dp.symmetric_distance())
    scale = len(cliques) / epsilon
    measurements = []
    for clique in cliques:
        cells = _cell_index(codes, sizes, clique)
        n_cells = int(np.prod([sizes[c] for c in clique]))
        # a row-by-row map from a record (its position) to its cell: one row in, one row
        # out, so it is 1-stable under the symmetric distance
        to_cells = dp.t.make_user_transformation(
            *space,
            *space,
            function=lambda rows, cells=cells: cells[np.asarray(rows, dtype=np.int64)].tolist(),
            stability_map=lambda d_in: d_in,
        )
        measurements.append(
            to_cells
            >> dp.t.then_count_by_categories(categories=list(range(n_cells)), null_category=False)
            >> dp.m.then_laplace(scale=scale)
        )
    composed = dp.c.make_composition(measurements)
    spent = float(composed.map(1))
    if spent > epsilon * (1 + 1e-9):
        raise RuntimeError("the composed measurement would exceed epsilon")
    noisy = composed(list(range(len(codes))))
    shaped = {
        clique: np.asarray(values, dtype=float).reshape([sizes[c] for c in clique])
        for clique, values in zip(cliques, noisy, strict=True)
    }
    return shaped, spent


def _distribution(noisy: np.ndarray, axis: int | None = None) -> np.ndarray:
    """Clip negative noisy counts to zero and normalise (uniform where nothing is left)."""
    counts = np.clip(noisy, 0, None)
    total = counts.sum(axis=axis, keepdims=axis is not None)
    size = counts.size if axis is None else counts.shape[axis]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, counts / np.where(total > 0, total, 1), 1 / size)


# --------------------------------------------------------------------------- by hand


class NoisyMarginalSynthesizer:
    """Each column given the outcome, from OpenDP-measured two-way marginals (see module)."""

    def __init__(
        self,
        epsilon: float,
        *,
        outcome: str = "outcome",
        domain: Mapping[str, Bins | Categories] | None = None,
    ) -> None:
        self.epsilon = _check_epsilon(epsilon)
        self.domain = _check_domain(COHORT_DOMAIN if domain is None else domain)
        if outcome not in self.domain:
            raise KeyError(f"the outcome {outcome!r} is not in the domain")
        self.outcome = outcome
        self.noisy_: dict[tuple[str, ...], np.ndarray] | None = None

    def fit(self, table: pd.DataFrame) -> NoisyMarginalSynthesizer:
        codes = encode(table, self.domain)  # drops every column outside the domain
        sizes = {c: s.size for c, s in self.domain.items()}
        others = [c for c in self.domain if c != self.outcome]
        self.noisy_, self.epsilon_spent_ = measure_marginals(
            codes, sizes, [(self.outcome, c) for c in others], self.epsilon
        )
        # outcome distribution: the average of its estimates from every measured table
        self.outcome_p_ = _distribution(
            np.mean([t.sum(axis=1) for t in self.noisy_.values()], axis=0)
        )
        self.conditional_ = {c: _distribution(self.noisy_[(self.outcome, c)], 1) for c in others}
        return self

    def sample(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        if self.noisy_ is None:
            raise RuntimeError("call fit(table) before sample(n, rng)")
        n = _check_rows(n)
        if not isinstance(rng, np.random.Generator):
            raise TypeError("rng must be a numpy Generator")
        y = rng.choice(len(self.outcome_p_), size=n, p=self.outcome_p_)
        codes = {self.outcome: y}
        for column, table in self.conditional_.items():
            cumulative = table.cumsum(axis=1)[y]
            draws = (rng.random((n, 1)) > cumulative).sum(axis=1)
            codes[column] = np.minimum(draws, table.shape[1] - 1)
        frame = pd.DataFrame(codes)[list(self.domain)]
        return decode(frame, self.domain, rng)


def _check_rows(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError("n must be a positive whole number of rows")
    return int(n)


# --------------------------------------------------------------------------- MST with mbi


def _select_tree(
    codes: pd.DataFrame,
    sizes: Mapping[str, int],
    one_way: Mapping[tuple[str, ...], np.ndarray],
    epsilon: float,
    required: Sequence[tuple[str, str]] = (),
) -> list[tuple[str, str]]:
    """MST's private choice of pairs: Kruskal's algorithm, each edge by report-noisy-max.

    A pair's score is the L1 distance between its true two-way counts and the counts that
    independence of the two (noisy) one-way marginals predicts; one record moves a score by
    at most one. Pairs in ``required`` (a public choice) are in the tree from the start; each
    of the remaining rounds spends an equal share of ``epsilon``.
    """
    columns = list(sizes)
    total = max(float(np.mean([np.clip(v, 0, None).sum() for v in one_way.values()])), 1.0)
    scores, pairs = [], list(combinations(columns, 2))
    for a, b in pairs:
        joint = np.zeros((sizes[a], sizes[b]))
        np.add.at(joint, (codes[a].to_numpy(), codes[b].to_numpy()), 1)
        expected = np.outer(_distribution(one_way[(a,)]), _distribution(one_way[(b,)])) * total
        scores.append(np.abs(joint - expected).sum())
    group = {c: c for c in columns}

    def root(c: str) -> str:
        while group[c] != c:
            c = group[c]
        return c

    chosen: list[tuple[str, str]] = []
    for a, b in required:
        if root(a) == root(b):
            raise ValueError("the required pairs must not form a cycle")
        chosen.append((a, b))
        group[root(a)] = root(b)
    rounds = len(columns) - 1 - len(chosen)
    per_round = epsilon / max(rounds, 1)
    dp.enable_features("contrib")
    for _ in range(rounds):
        candidates = [i for i, (a, b) in enumerate(pairs) if root(a) != root(b)]
        # report-noisy-max with Gumbel noise of scale 2 * sensitivity / epsilon is the
        # exponential mechanism; OpenDP certifies its epsilon for a score change of one
        select = dp.m.make_noisy_max(
            dp.vector_domain(dp.atom_domain(T=float, nan=False), size=len(candidates)),
            dp.linf_distance(T=float),
            dp.max_divergence(),
            scale=2.0 / per_round,
        )
        assert select.map(1.0) <= per_round * (1 + 1e-9)
        index = candidates[select([float(scores[i]) for i in candidates])]
        a, b = pairs[index]
        chosen.append((a, b))
        group[root(a)] = root(b)
    return chosen


class PrivatePGMSynthesizer:
    """MST: private tree selection, noisy marginals (OpenDP), Private-PGM estimation (mbi).

    ``required`` pairs, chosen in advance by the analyst (a public choice that costs no
    budget), are always in the tree; MST chooses the rest.
    """

    def __init__(
        self,
        epsilon: float,
        *,
        domain: Mapping[str, Bins | Categories] | None = None,
        required: Sequence[tuple[str, str]] = (),
        iterations: int = 200,
    ) -> None:
        self.epsilon = _check_epsilon(epsilon)
        self.domain = _check_domain(COHORT_DOMAIN if domain is None else domain)
        self.required = [tuple(pair) for pair in required]
        for pair in self.required:
            if len(pair) != 2 or any(c not in self.domain for c in pair) or pair[0] == pair[1]:
                raise ValueError("each required pair must name two different domain columns")
        if isinstance(iterations, bool) or not isinstance(iterations, numbers.Integral):
            raise TypeError("iterations must be a whole number")
        self.iterations = int(iterations)
        self.model_ = None

    def fit(self, table: pd.DataFrame) -> PrivatePGMSynthesizer:
        """Spend epsilon in three equal parts: one-way marginals, tree selection, pairs."""
        import jax

        jax.config.update("jax_enable_x64", True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # mbi warns about JAX settings on import
            from mbi import Domain, LinearMeasurement, estimation

        codes = encode(table, self.domain)
        sizes = {c: s.size for c, s in self.domain.items()}
        third = self.epsilon / 3
        one_way, spent_one = measure_marginals(codes, sizes, [(c,) for c in sizes], third)
        self.tree_ = _select_tree(codes, sizes, one_way, third, self.required)
        two_way, spent_two = measure_marginals(codes, sizes, self.tree_, third)
        self.epsilon_spent_ = spent_one + third + spent_two
        measurements = [
            LinearMeasurement(values.ravel(), clique, stddev=np.sqrt(2) * len(group) / third)
            for group in (one_way, two_way)
            for clique, values in group.items()
        ]
        total = max(float(np.mean([np.clip(v, 0, None).sum() for v in one_way.values()])), 1.0)
        self.model_ = estimation.MirrorDescent().estimate(
            Domain.fromdict(sizes), measurements, known_total=total, iters=self.iterations
        )
        return self

    def sample(self, n: int, rng: np.random.Generator) -> pd.DataFrame:
        """Rows drawn from the estimated model, then decoded.

        The model is a tree, so exact (ancestral) sampling is short: draw the first column
        from its estimated marginal, then each column from its estimated distribution given
        the column it hangs from. This is what ``mbi``'s own ``synthetic_data`` does along
        its junction tree, without its per-call compilation cost.
        """
        if self.model_ is None:
            raise RuntimeError("call fit(table) before sample(n, rng)")
        n = _check_rows(n)
        if not isinstance(rng, np.random.Generator):
            raise TypeError("rng must be a numpy Generator")
        columns = list(self.domain)
        neighbours: dict[str, list[str]] = {c: [] for c in columns}
        for a, b in self.tree_:
            neighbours[a].append(b)
            neighbours[b].append(a)
        root = columns[0]
        first = _distribution(np.asarray(self.model_.project((root,)).datavector()))
        codes = {root: rng.choice(len(first), size=n, p=first)}
        queue = [root]
        while queue:
            parent = queue.pop(0)
            for child in neighbours[parent]:
                if child in codes:
                    continue
                joint = np.asarray(self.model_.project((parent, child)).datavector(flatten=False))
                conditional = _distribution(joint, 1).cumsum(axis=1)[codes[parent]]
                draws = (rng.random((n, 1)) > conditional).sum(axis=1)
                codes[child] = np.minimum(draws, joint.shape[1] - 1)
                queue.append(child)
        return decode(pd.DataFrame(codes)[columns], self.domain, rng)
