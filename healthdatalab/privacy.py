"""Differential privacy by hand: noise mechanisms, a few queries and a privacy budget.

These functions are for teaching. They show in a few lines what a differentially private
release does; for real releases use a library with audited samplers, such as OpenDP, whose
floating-point noise is protected against the attacks that break naive samplers.

Neighbouring data sets
    A mechanism is differentially private *with respect to* a definition of neighbouring
    data sets, that is, of what "one patient" means. Here:

    * :func:`dp_count`, :func:`dp_sum` and :func:`dp_histogram` protect against **adding or
      removing one patient's record** (``"add/remove"``, unbounded differential privacy).
      One record changes a count by at most 1, a sum of values clipped to ``[lower, upper]``
      by at most ``max(|lower|, |upper|)``, and exactly one bin of a histogram with disjoint
      bins by at most 1. A mean that also hides how many patients there are is the noisy sum
      divided by the noisy count.
    * :func:`dp_mean` protects against **replacing one patient's record with another**
      (``"replace"``, bounded differential privacy): the number of records ``n`` is treated
      as public, as OpenDP's ``make_mean`` does. With values clipped to ``[lower, upper]``,
      replacing one record moves the mean by at most ``(upper - lower) / n``. Under
      add/remove such a mean gives no guarantee: its noise is scaled with the exact ``n``,
      which adding or removing a record changes.

    A privacy budget is only meaningful if every query it pays for uses the same definition of
    "one patient". :class:`PrivacyAccountant` therefore keeps its budget under one relation and
    records the relation of every release. A replacement is a removal followed by an addition,
    so an (epsilon, delta) release under add/remove is a (2 epsilon, (1 + e^epsilon) delta)
    release under replacement (see :func:`cost_under`); the accountant charges that converted
    cost. The other direction has no such rule, so the accountant refuses it with
    :class:`NeighbouringRelationError`.

Mechanisms
    * Laplace: noise with scale ``b = sensitivity / epsilon`` (L1 sensitivity) gives
      epsilon-DP (Dwork, McSherry, Nissim and Smith, 2006). Its mean absolute error is ``b``.
    * Gaussian, classic calibration: ``sigma = sensitivity * sqrt(2 ln(1.25 / delta)) /
      epsilon`` (L2 sensitivity) gives (epsilon, delta)-DP for ``0 < epsilon < 1`` (Dwork and
      Roth, 2014, Theorem A.1). Outside that range the theorem does not apply, so
      :func:`gaussian_sigma` refuses; tighter calibrations (the analytic Gaussian mechanism,
      or zero-concentrated DP as OpenDP uses) need less noise.

Every hand-written mechanism takes a seeded :class:`numpy.random.Generator`, so a notebook
gives the same numbers on every build. That makes them teaching tools, not release tools:
numpy's floating-point Laplace sampler leaks the exact value (Mironov 2012), which
:func:`laplace_output_possible` demonstrates. Numbers meant for publication go through
:func:`release_count`, :func:`release_sum` and :func:`release_histogram`, which build the
release with OpenDP (exact, unseeded, cryptographically secure noise) and charge the same
:class:`PrivacyAccountant`.

What is checked, and when
    Every public argument (epsilon, delta, bounds, mechanism, categories, the column's name
    and type) is checked *before* any budget is charged, so a release that fails costs
    nothing. Nothing that depends on the data raises: a missing value in a sum or mean counts
    as the midpoint of the bounds, the mean of an empty table is the midpoint (with the noise
    for one record), and a value outside a histogram's categories is counted in an ``"other"``
    bin. An error that depended on the data would itself be a release without noise.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Tolerance used by the accountant when it adds floating-point epsilons, so that spending
#: ten times 0.1 out of a budget of 1.0 is allowed although 0.1 is not exact in binary.
BUDGET_TOLERANCE = 1e-9

_MECHANISMS = ("laplace", "gaussian")

#: "One patient" is added to or removed from the data (unbounded differential privacy).
ADD_REMOVE = "add/remove"
#: "One patient" is replaced by another; the number of records is public (bounded DP).
REPLACE = "replace"
#: The neighbouring relations this module knows.
RELATIONS = (ADD_REMOVE, REPLACE)


class BudgetExceededError(ValueError):
    """Raised when a query would spend more privacy budget than is left."""


class NeighbouringRelationError(ValueError):
    """Raised when a release protects a different unit ("one patient") than the budget it is
    charged to, and its cost cannot be converted."""


# --------------------------------------------------------------------------- input checks


def _check_positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number greater than 0, got {value}")
    return value


def _check_delta(delta: object) -> float:
    if isinstance(delta, bool) or not isinstance(delta, numbers.Real):
        raise TypeError(f"delta must be a number, got {type(delta).__name__} {delta!r}")
    delta = float(delta)
    if not 0 < delta < 1:
        raise ValueError(f"delta must be strictly between 0 and 1, got {delta}")
    return delta


def _check_rng(rng: object) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            "rng must be a numpy.random.Generator (for example np.random.default_rng(42)), "
            f"got {type(rng).__name__}"
        )
    return rng


def _check_table(table: object) -> pd.DataFrame:
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table must be a pandas DataFrame, got {type(table).__name__}")
    return table


def _column(table: pd.DataFrame, column: str) -> pd.Series:
    """The column ``column`` of ``table``; only its name is checked (the schema is public).

    Nothing here looks at the values: an error that depends on the data (such as "this column
    has missing values") would itself be a release, made without noise and without spending
    budget. Missing values are handled by each query in a way fixed in advance.
    """
    if column not in table.columns:
        raise KeyError(f"column {column!r} is not in the table; columns are {list(table.columns)}")
    return table[column]


def _check_bounds(lower: object, upper: object) -> tuple[float, float]:
    for name, value in (("lower", lower), ("upper", upper)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
        if not math.isfinite(float(value)):
            raise ValueError(f"{name} must be finite, got {value}")
    if not lower < upper:
        raise ValueError(f"lower must be less than upper, got lower={lower}, upper={upper}")
    return float(lower), float(upper)


def _check_mechanism(mechanism: str, delta: float | None) -> None:
    if mechanism not in _MECHANISMS:
        raise ValueError(f"mechanism must be one of {_MECHANISMS}, got {mechanism!r}")
    if mechanism == "gaussian" and delta is None:
        raise ValueError("the Gaussian mechanism needs a delta, for example delta=1e-6")
    if mechanism == "laplace" and delta not in (None, 0, 0.0):
        raise ValueError("the Laplace mechanism is pure epsilon-DP; leave delta unset")


def _check_relation(relation: object) -> str:
    if relation not in RELATIONS:
        raise ValueError(
            f"neighbouring relation must be one of {RELATIONS} (what 'one patient' means), "
            f"got {relation!r}"
        )
    return str(relation)


def _check_delta_cost(delta: object) -> float:
    if isinstance(delta, bool) or not isinstance(delta, numbers.Real):
        raise TypeError(f"delta must be a number, got {type(delta).__name__} {delta!r}")
    if not 0 <= float(delta) < 1:
        raise ValueError(f"delta must be at least 0 and below 1, got {delta}")
    return float(delta)


# --------------------------------------------------------------------------- mechanisms


def laplace_scale(sensitivity: float, epsilon: float) -> float:
    """Scale ``b = sensitivity / epsilon`` of Laplace noise that gives epsilon-DP."""
    return _check_positive("sensitivity", sensitivity) / _check_positive("epsilon", epsilon)


def laplace_mechanism(
    value: float | np.ndarray,
    sensitivity: float,
    epsilon: float,
    rng: np.random.Generator,
) -> float | np.ndarray:
    """Release ``value`` plus Laplace noise of scale ``sensitivity / epsilon``.

    ``sensitivity`` is the L1 sensitivity of the query that produced ``value``: the most the
    whole vector can change, summed over its entries, between neighbouring data sets.
    """
    scale = laplace_scale(sensitivity, epsilon)
    rng = _check_rng(rng)
    array = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(array)):
        raise ValueError("value must be finite (no NaN or infinity)")
    noisy = array + rng.laplace(0.0, scale, size=array.shape)
    return float(noisy) if noisy.ndim == 0 else noisy


def gaussian_sigma(sensitivity: float, epsilon: float, delta: float) -> float:
    """Standard deviation of the classic Gaussian mechanism (Dwork and Roth 2014, Thm A.1).

    ``sigma = sensitivity * sqrt(2 ln(1.25 / delta)) / epsilon``, valid for
    ``0 < epsilon < 1``; ``sensitivity`` is the L2 sensitivity of the query.
    """
    sensitivity = _check_positive("sensitivity", sensitivity)
    epsilon = _check_positive("epsilon", epsilon)
    delta = _check_delta(delta)
    if epsilon >= 1:
        raise ValueError(
            f"the classic Gaussian calibration is proven only for epsilon < 1, got {epsilon}; "
            "use the Laplace mechanism or a tighter Gaussian analysis (such as OpenDP's)"
        )
    return sensitivity * math.sqrt(2 * math.log(1.25 / delta)) / epsilon


def gaussian_mechanism(
    value: float | np.ndarray,
    sensitivity: float,
    epsilon: float,
    delta: float,
    rng: np.random.Generator,
) -> float | np.ndarray:
    """Release ``value`` plus Gaussian noise calibrated by :func:`gaussian_sigma`."""
    sigma = gaussian_sigma(sensitivity, epsilon, delta)
    rng = _check_rng(rng)
    array = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(array)):
        raise ValueError("value must be finite (no NaN or infinity)")
    noisy = array + rng.normal(0.0, sigma, size=array.shape)
    return float(noisy) if noisy.ndim == 0 else noisy


def expected_absolute_error(
    mechanism: str, sensitivity: float, epsilon: float, delta: float | None = None
) -> float:
    """Mean absolute error of one noisy entry: ``b`` for Laplace, ``sigma sqrt(2/pi)`` for
    the Gaussian mechanism."""
    _check_mechanism(mechanism, delta)
    if mechanism == "laplace":
        return laplace_scale(sensitivity, epsilon)
    return gaussian_sigma(sensitivity, epsilon, delta) * math.sqrt(2 / math.pi)


def _add_noise(
    value: float | np.ndarray,
    sensitivity: float,
    epsilon: float,
    rng: np.random.Generator,
    mechanism: str,
    delta: float | None,
) -> float | np.ndarray:
    if mechanism == "laplace":
        return laplace_mechanism(value, sensitivity, epsilon, rng)
    return gaussian_mechanism(value, sensitivity, epsilon, delta, rng)


def _check_noise(
    mechanism: str, sensitivity: float, epsilon: float, delta: float | None
) -> None:
    """Check every public argument of a release (mechanism, epsilon, delta and the noise
    calibration they give) *before* any budget is charged, so that a release that would fail
    never costs budget."""
    _check_mechanism(mechanism, delta)
    if mechanism == "laplace":
        laplace_scale(sensitivity, epsilon)
    else:
        gaussian_sigma(sensitivity, epsilon, delta)


# --------------------------------------------------------------------------- budget


def cost_under(
    epsilon: float, delta: float, relation: str, budget_relation: str
) -> tuple[float, float]:
    """The cost, under ``budget_relation``, of an ``(epsilon, delta)`` release that is
    differentially private under ``relation``.

    * Same relation: the cost is unchanged.
    * ``"add/remove"`` to ``"replace"``: replacing a record is removing it and adding another,
      two add/remove steps, so the cost is ``(2 epsilon, (1 + e^epsilon) delta)`` (group
      privacy for two steps). This is an upper bound: a count of all rows, for example, does
      not change at all when a record is replaced.
    * ``"replace"`` to ``"add/remove"``: no general rule exists (a mean with a public number
      of records scales its noise with that exact number, which adding or removing a record
      changes), so this raises
      :class:`NeighbouringRelationError`.
    """
    epsilon = _check_positive("epsilon", epsilon)
    delta = _check_delta_cost(delta)
    relation = _check_relation(relation)
    budget_relation = _check_relation(budget_relation)
    if relation == budget_relation:
        return epsilon, delta
    if relation == ADD_REMOVE and budget_relation == REPLACE:
        return 2 * epsilon, (1 + math.exp(epsilon)) * delta
    raise NeighbouringRelationError(
        f"a release that protects against replacing one patient (n public) gives no guarantee "
        f"when one patient may be added or removed, so it cannot be charged to a budget kept "
        f"under {budget_relation!r}; use an add/remove query instead (for a mean, a noisy sum "
        f"divided by a noisy count), or keep the whole budget under 'replace'"
    )


class PrivacyAccountant:
    """A privacy budget under basic sequential composition, for one definition of "one
    patient".

    Releasing mechanisms with ``(epsilon_i, delta_i)`` on the same data costs
    ``(sum epsilon_i, sum delta_i)`` in total, provided every ``epsilon_i`` is measured against
    the same neighbouring relation. The accountant keeps its budget under ``relation``
    (``"add/remove"`` by default, or ``"replace"``). :meth:`spend` records each release with
    its own relation, converts its cost with :func:`cost_under` (an add/remove release charged
    to a replace budget costs twice its epsilon), refuses a release whose cost cannot be
    converted (raising :class:`NeighbouringRelationError`), and refuses one that would take the
    total over the budget (raising :class:`BudgetExceededError`), so the amount spent never
    exceeds the budget.
    """

    def __init__(self, epsilon: float, delta: float = 0.0, *, relation: str = ADD_REMOVE) -> None:
        self.epsilon_budget = _check_positive("epsilon budget", epsilon)
        if isinstance(delta, bool) or not isinstance(delta, numbers.Real):
            raise TypeError(f"delta budget must be a number, got {delta!r}")
        if not 0 <= float(delta) < 1:
            raise ValueError(f"delta budget must be at least 0 and below 1, got {delta}")
        self.delta_budget = float(delta)
        self.relation = _check_relation(relation)
        # query, relation, epsilon, delta, charged epsilon, charged delta
        self._ledger: list[tuple[str, str, float, float, float, float]] = []

    @property
    def spent_epsilon(self) -> float:
        """Total epsilon charged so far, under the accountant's relation."""
        return math.fsum(row[4] for row in self._ledger)

    @property
    def spent_delta(self) -> float:
        """Total delta charged so far, under the accountant's relation."""
        return math.fsum(row[5] for row in self._ledger)

    @property
    def remaining_epsilon(self) -> float:
        """Epsilon still available (never negative)."""
        return max(0.0, self.epsilon_budget - self.spent_epsilon)

    @property
    def remaining_delta(self) -> float:
        """Delta still available (never negative)."""
        return max(0.0, self.delta_budget - self.spent_delta)

    def cost(
        self, epsilon: float, delta: float = 0.0, *, relation: str | None = None
    ) -> tuple[float, float]:
        """What a release costing ``(epsilon, delta)`` under ``relation`` would be charged.

        ``relation`` defaults to the accountant's own. Raises
        :class:`NeighbouringRelationError` when the cost cannot be converted.
        """
        return cost_under(epsilon, delta, relation or self.relation, self.relation)

    def can_spend(self, epsilon: float, delta: float = 0.0, *, relation: str | None = None) -> bool:
        """True when a release costing ``(epsilon, delta)`` under ``relation`` fits in what is
        left (after converting its cost to the accountant's relation)."""
        charged_eps, charged_delta = self.cost(epsilon, delta, relation=relation)
        fits_eps = self.spent_epsilon + charged_eps <= self.epsilon_budget + BUDGET_TOLERANCE
        fits_delta = self.spent_delta + charged_delta <= self.delta_budget + BUDGET_TOLERANCE**2
        return fits_eps and fits_delta

    def spend(
        self,
        epsilon: float,
        delta: float = 0.0,
        *,
        label: str = "",
        relation: str | None = None,
    ) -> None:
        """Record a release costing ``(epsilon, delta)`` under ``relation`` (by default the
        accountant's own), or refuse it if its cost cannot be converted or does not fit."""
        relation = _check_relation(relation or self.relation)
        charged_eps, charged_delta = self.cost(epsilon, delta, relation=relation)
        if not self.can_spend(epsilon, delta, relation=relation):
            converted = (
                ""
                if relation == self.relation
                else f" (epsilon={float(epsilon):g} under {relation!r}, charged as "
                f"epsilon={charged_eps:g}, delta={charged_delta:g} under {self.relation!r})"
            )
            raise BudgetExceededError(
                f"query {label or '(unnamed)'} needs epsilon={charged_eps:g}, "
                f"delta={charged_delta:g}{converted}, but only "
                f"epsilon={self.remaining_epsilon:g}, delta={self.remaining_delta:g} of the "
                f"budget (epsilon={self.epsilon_budget:g}, delta={self.delta_budget:g}) is left"
            )
        self._ledger.append(
            (label, relation, float(epsilon), float(delta), charged_eps, charged_delta)
        )

    def ledger(self) -> pd.DataFrame:
        """One row per recorded release: the query, the neighbouring relation it protects, its
        epsilon and delta under that relation, and what was charged under the accountant's."""
        return pd.DataFrame(
            self._ledger,
            columns=["query", "relation", "epsilon", "delta", "charged epsilon", "charged delta"],
        )


def _charge(
    accountant: PrivacyAccountant | None,
    epsilon: float,
    delta: float | None,
    label: str,
    relation: str,
) -> None:
    if accountant is None:
        return
    if not isinstance(accountant, PrivacyAccountant):
        raise TypeError(f"accountant must be a PrivacyAccountant, got {type(accountant).__name__}")
    accountant.spend(epsilon, delta or 0.0, label=label, relation=relation)


# --------------------------------------------------------------------------- queries


def dp_count(
    table: pd.DataFrame,
    epsilon: float,
    rng: np.random.Generator,
    *,
    mechanism: str = "laplace",
    delta: float | None = None,
    accountant: PrivacyAccountant | None = None,
) -> float:
    """Noisy number of rows of ``table``.

    Neighbouring relation ``"add/remove"``, sensitivity 1: adding or removing one patient's
    record changes the count by 1. Filter the table first to count a subgroup (a filter does
    not increase the sensitivity).
    """
    table = _check_table(table)
    epsilon = _check_positive("epsilon", epsilon)
    _check_noise(mechanism, 1.0, epsilon, delta)
    _check_rng(rng)
    _charge(accountant, epsilon, delta, "count", ADD_REMOVE)
    return float(_add_noise(float(len(table)), 1.0, epsilon, rng, mechanism, delta))


def _clipped_values(
    table: object,
    column: str,
    lower: float,
    upper: float,
    epsilon: object,
    rng: object,
    mechanism: str,
    delta: float | None,
) -> tuple[np.ndarray, float]:
    """Check the arguments shared by the numeric queries; return the clipped values and epsilon.

    Only public things are checked (types, bounds, epsilon, the column's name and type). A
    missing value (NaN) is replaced by the midpoint of the bounds, a public default fixed in
    advance, so that the query is answered whatever the data hold.
    """
    table = _check_table(table)
    lower, upper = _check_bounds(lower, upper)
    epsilon = _check_positive("epsilon", epsilon)
    _check_mechanism(mechanism, delta)
    _check_rng(rng)
    values = _column(table, column)
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise TypeError(f"column {column!r} must be numeric, got dtype {values.dtype}")
    numbers_ = values.to_numpy(dtype=float, na_value=np.nan)
    numbers_ = np.where(np.isnan(numbers_), (lower + upper) / 2, numbers_)
    return np.clip(numbers_, lower, upper), epsilon


def clipped_mean_sensitivity(lower: float, upper: float, n: int) -> float:
    """Sensitivity ``(upper - lower) / n`` of the mean of ``n`` values clipped to the bounds,
    when one record is replaced by another (``n`` public)."""
    lower, upper = _check_bounds(lower, upper)
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive whole number of records, got {n!r}")
    return (upper - lower) / int(n)


def dp_mean(
    table: pd.DataFrame,
    column: str,
    lower: float,
    upper: float,
    epsilon: float,
    rng: np.random.Generator,
    *,
    mechanism: str = "laplace",
    delta: float | None = None,
    accountant: PrivacyAccountant | None = None,
) -> float:
    """Noisy mean of ``column`` after clipping every value to ``[lower, upper]``.

    The bounds must be chosen without looking at the data (from clinical knowledge, say).
    The number of rows is treated as public, and the neighbouring relation is ``"replace"``
    (replacing one record), so the sensitivity is ``(upper - lower) / n``. An accountant kept
    under ``"add/remove"`` refuses this query; use :func:`dp_sum` divided by :func:`dp_count`
    there. The noisy result is not clipped
    again: it is an unbiased estimate of the clipped mean, and may fall slightly outside the
    bounds when ``n`` is small.

    Every query is answered, so that no error can reveal anything about the data: a missing
    value counts as the midpoint of the bounds, and an empty table (an empty subgroup, say)
    has the midpoint as its mean, released with the noise for one record.
    """
    clipped, epsilon = _clipped_values(table, column, lower, upper, epsilon, rng, mechanism, delta)
    sensitivity = clipped_mean_sensitivity(lower, upper, max(clipped.size, 1))
    _check_noise(mechanism, sensitivity, epsilon, delta)
    _charge(accountant, epsilon, delta, f"mean of {column}", REPLACE)
    clipped_mean = float(clipped.mean()) if clipped.size else (lower + upper) / 2
    return float(_add_noise(clipped_mean, sensitivity, epsilon, rng, mechanism, delta))


def clipped_sum_sensitivity(lower: float, upper: float) -> float:
    """Sensitivity ``max(|lower|, |upper|)`` of the sum of values clipped to the bounds, when
    one record is added or removed (the added or removed value is at most that large)."""
    lower, upper = _check_bounds(lower, upper)
    return max(abs(lower), abs(upper))


def dp_sum(
    table: pd.DataFrame,
    column: str,
    lower: float,
    upper: float,
    epsilon: float,
    rng: np.random.Generator,
    *,
    mechanism: str = "laplace",
    delta: float | None = None,
    accountant: PrivacyAccountant | None = None,
) -> float:
    """Noisy sum of ``column`` after clipping every value to ``[lower, upper]``.

    Neighbouring relation ``"add/remove"``: the number of records stays private, and the
    sensitivity is ``max(|lower|, |upper|)``. Divided by a :func:`dp_count` of the same table,
    it gives a mean that hides the number of patients too (the division is post-processing
    and costs no budget). The bounds must be chosen without looking at the data. A missing
    value counts as the midpoint of the bounds.
    """
    clipped, epsilon = _clipped_values(table, column, lower, upper, epsilon, rng, mechanism, delta)
    sensitivity = clipped_sum_sensitivity(lower, upper)
    _check_noise(mechanism, sensitivity, epsilon, delta)
    _charge(accountant, epsilon, delta, f"sum of {column}", ADD_REMOVE)
    clipped_sum = float(clipped.sum())
    return float(_add_noise(clipped_sum, sensitivity, epsilon, rng, mechanism, delta))


#: Label of the extra bin of :func:`dp_histogram` that counts every value outside the
#: declared categories (and missing values).
OTHER = "other"


def dp_histogram(
    table: pd.DataFrame,
    column: str,
    categories: Sequence[object],
    epsilon: float,
    rng: np.random.Generator,
    *,
    mechanism: str = "laplace",
    delta: float | None = None,
    accountant: PrivacyAccountant | None = None,
    other: object | None = OTHER,
) -> pd.Series:
    """Noisy count per category of ``column``, for categories fixed in advance.

    Neighbouring relation ``"add/remove"``. The bins are disjoint, so adding or removing one
    record changes one count by 1: the L1
    and L2 sensitivity of the whole vector are both 1, and every bin gets noise for
    sensitivity 1 while the histogram as a whole costs one ``epsilon`` (parallel
    composition). ``categories`` must be public (a code list, not the values seen in the
    data, whose presence alone could reveal a rare patient).

    Values outside ``categories`` (and missing values) are counted in one extra bin labelled
    ``other`` (``"other"`` by default), which is always released, with noise like every bin,
    whether or not such values occur. With ``other=None`` they are left out of the histogram,
    as a filter would leave them out. Either way the query is answered and no error depends on
    the data: an error naming an unexpected value would publish that value without noise.
    """
    table = _check_table(table)
    epsilon = _check_positive("epsilon", epsilon)
    _check_noise(mechanism, 1.0, epsilon, delta)
    _check_rng(rng)
    values = _column(table, column)
    if isinstance(categories, str) or not isinstance(categories, Sequence):
        raise TypeError("categories must be a list of the possible values, fixed in advance")
    categories = list(categories)
    if not categories:
        raise ValueError("categories must not be empty")
    if len(set(categories)) != len(categories):
        raise ValueError("categories must not repeat a value")
    if other is not None and other in categories:
        raise ValueError(f"the label of the other bin, {other!r}, is also a category; "
                         "choose another label with other=")
    _charge(accountant, epsilon, delta, f"histogram of {column}", ADD_REMOVE)
    counts = values.value_counts(dropna=True)
    exact = counts.reindex(categories, fill_value=0).to_numpy(dtype=float)
    labels = list(categories)
    if other is not None:
        rest = float(len(values)) - float(exact.sum())
        exact = np.append(exact, rest)
        labels.append(other)
    noisy = _add_noise(exact, 1.0, epsilon, rng, mechanism, delta)
    return pd.Series(noisy, index=pd.Index(labels, name=column), name="noisy_count")


# --------------------------------------------------------------------------- the attack on
# floating-point Laplace noise, and final releases through OpenDP

_TWO_53 = 2.0**53


def _numpy_laplace_noise(k: int, scale: float) -> float:
    """The Laplace noise numpy's ``Generator.laplace(0, scale)`` returns for the uniform
    draw ``k / 2**53`` (numpy's ``random_laplace``: one 53-bit uniform, then a logarithm)."""
    u = k / _TWO_53
    if u >= 0.5:
        return 0.0 - scale * math.log(2.0 - u - u)
    return 0.0 + scale * math.log(u + u)


def laplace_output_possible(output: float, exact: float, scale: float) -> bool:
    """Could ``exact + numpy Laplace noise of scale`` have produced exactly ``output``?

    The attack of Mironov (2012) on textbook floating-point Laplace samplers: the noise is
    a function of one 53-bit uniform number, so it takes only some of the floating-point
    values, and which values ``exact + noise`` can take depends on ``exact``. Inverting the
    sampler around ``output - exact`` and trying the few nearby uniform draws answers the
    question exactly. When a released value is possible for one candidate input and not for
    the other, the release identifies the input, whatever epsilon promised.
    """
    scale = _check_positive("scale", scale)
    output, exact = float(output), float(exact)
    noise = output - exact
    if noise < 0:
        u = math.exp(noise / scale) / 2
        slope = scale / (u * _TWO_53)  # change of the noise per step of the uniform draw
    else:
        u = 1 - math.exp(-noise / scale) / 2
        slope = scale / ((1 - u) * _TWO_53)
    if slope < math.ulp(output) / 4:
        return True  # consecutive draws are closer than the float spacing: every value occurs
    centre = int(round(u * _TWO_53))
    return any(
        exact + _numpy_laplace_noise(k, scale) == output
        for k in range(max(centre - 8, 1), min(centre + 9, 2**53))
    )


def _opendp():
    import opendp.prelude as dp

    dp.enable_features("contrib")
    return dp


def _spend_map(
    measurement: object, epsilon: float, accountant: PrivacyAccountant | None, label: str
) -> None:
    """Check OpenDP's own privacy map against ``epsilon`` and charge the accountant."""
    loss = float(measurement.map(1))
    if loss > epsilon * (1 + 1e-6):
        raise RuntimeError(f"OpenDP's privacy map gives epsilon={loss:g}, above {epsilon:g}")
    _charge(accountant, epsilon, None, label, ADD_REMOVE)


def release_count(
    table: pd.DataFrame, epsilon: float, *, accountant: PrivacyAccountant | None = None
) -> int:
    """Number of rows of ``table`` released through OpenDP (add/remove, sensitivity 1).

    OpenDP adds *discrete* Laplace noise to the integer count, sampled exactly from a
    cryptographically secure source, so the floating-point attack of
    :func:`laplace_output_possible` has nothing to work on. The noise cannot be seeded.
    """
    table = _check_table(table)
    epsilon = _check_positive("epsilon", epsilon)
    dp = _opendp()
    rows = (dp.vector_domain(dp.atom_domain(T=int)), dp.symmetric_distance())
    measurement = rows >> dp.t.then_count() >> dp.m.then_laplace(scale=1.0 / epsilon)
    _spend_map(measurement, epsilon, accountant, "count (OpenDP)")
    return int(measurement(list(range(len(table)))))


def release_sum(
    table: pd.DataFrame,
    column: str,
    lower: float,
    upper: float,
    epsilon: float,
    *,
    accountant: PrivacyAccountant | None = None,
) -> float:
    """Sum of ``column`` clipped to ``[lower, upper]``, released through OpenDP (add/remove).

    The noise scale is the smallest for which OpenDP's privacy map gives ``epsilon``; OpenDP
    accounts for floating-point rounding in the sum, and for bounds of different signs it
    charges ``upper - lower`` rather than ``max(|lower|, |upper|)``. A missing value counts as
    the midpoint of the bounds, as in :func:`dp_sum`.
    """
    table = _check_table(table)
    lower, upper = _check_bounds(lower, upper)
    epsilon = _check_positive("epsilon", epsilon)
    values = _column(table, column)
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise TypeError(f"column {column!r} must be numeric, got dtype {values.dtype}")
    numbers_ = values.to_numpy(dtype=float, na_value=np.nan)
    numbers_ = np.where(np.isnan(numbers_), (lower + upper) / 2, numbers_)
    dp = _opendp()
    floats = (dp.vector_domain(dp.atom_domain(T=float, nan=False)), dp.symmetric_distance())

    def pipeline(scale: float) -> object:
        return (floats >> dp.t.then_clamp((lower, upper)) >> dp.t.then_sum()
                >> dp.m.then_laplace(scale=scale))

    measurement = pipeline(dp.binary_search_param(pipeline, d_in=1, d_out=epsilon))
    _spend_map(measurement, epsilon, accountant, f"sum of {column} (OpenDP)")
    return float(measurement(numbers_.tolist()))


def release_histogram(
    table: pd.DataFrame,
    column: str,
    categories: Sequence[str],
    epsilon: float,
    *,
    accountant: PrivacyAccountant | None = None,
    other: str = OTHER,
) -> pd.Series:
    """Counts per category of ``column`` released through OpenDP (add/remove).

    Like :func:`dp_histogram`, every value outside ``categories`` (and every missing value)
    is counted in one extra bin labelled ``other``, released whatever the data hold
    (OpenDP's ``null_category``). The noise is discrete Laplace with scale ``1 / epsilon``.
    """
    table = _check_table(table)
    epsilon = _check_positive("epsilon", epsilon)
    values = _column(table, column)
    if isinstance(categories, str) or not isinstance(categories, Sequence):
        raise TypeError("categories must be a list of the possible values, fixed in advance")
    categories = [str(c) for c in categories]
    if not categories or len(set(categories)) != len(categories):
        raise ValueError("categories must be a non-empty list without repeats")
    if other in categories:
        raise ValueError(f"the label of the other bin, {other!r}, is also a category")
    dp = _opendp()
    strings = (dp.vector_domain(dp.atom_domain(T=str)), dp.symmetric_distance())
    measurement = (
        strings
        >> dp.t.then_count_by_categories(categories=categories, null_category=True)
        >> dp.m.then_laplace(scale=1.0 / epsilon)
    )
    _spend_map(measurement, epsilon, accountant, f"histogram of {column} (OpenDP)")
    text = ["" if pd.isna(v) else str(v) for v in values.tolist()]
    if "" in categories:
        raise ValueError("the empty string cannot be a category")
    counts = measurement(text)
    return pd.Series(counts, index=pd.Index([*categories, other], name=column),
                     name="noisy_count", dtype="int64")
