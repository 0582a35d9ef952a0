"""Tests for healthdatalab.privacy: noise scales, sensitivities, the budget and bad input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthdatalab import privacy
from healthdatalab.privacy import (
    ADD_REMOVE,
    REPLACE,
    BudgetExceededError,
    NeighbouringRelationError,
    PrivacyAccountant,
    clipped_mean_sensitivity,
    clipped_sum_sensitivity,
    cost_under,
    dp_count,
    dp_histogram,
    dp_mean,
    dp_sum,
    expected_absolute_error,
    gaussian_mechanism,
    gaussian_sigma,
    laplace_mechanism,
    laplace_scale,
)

CATEGORIES = ["E11", "I10", "J44"]


@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 400
    return pd.DataFrame(
        {
            "bmi": rng.normal(27.0, 5.0, n).round(1),
            "diagnosis": rng.choice(CATEGORIES, size=n, p=[0.5, 0.3, 0.2]),
            "smoking": rng.integers(0, 2, n),
        }
    )


# --------------------------------------------------------------------------- mechanisms


def test_laplace_scale_is_sensitivity_over_epsilon():
    assert laplace_scale(2.0, 0.5) == 4.0


def test_laplace_noise_has_the_calibrated_scale_empirically():
    rng = np.random.default_rng(0)
    sensitivity, epsilon = 3.0, 0.7
    draws = laplace_mechanism(np.zeros(200_000), sensitivity, epsilon, rng)
    b = sensitivity / epsilon
    # For Laplace(b): mean absolute deviation b, standard deviation b * sqrt(2).
    assert np.mean(np.abs(draws)) == pytest.approx(b, rel=0.02)
    assert np.std(draws) == pytest.approx(b * math.sqrt(2), rel=0.02)
    assert abs(np.mean(draws)) < 0.05 * b


def test_gaussian_sigma_matches_the_classic_formula():
    sigma = gaussian_sigma(1.0, 0.5, 1e-5)
    assert sigma == pytest.approx(math.sqrt(2 * math.log(1.25e5)) / 0.5)


def test_gaussian_noise_has_the_calibrated_sigma_empirically():
    rng = np.random.default_rng(1)
    draws = gaussian_mechanism(np.zeros(200_000), 2.0, 0.5, 1e-6, rng)
    assert np.std(draws) == pytest.approx(gaussian_sigma(2.0, 0.5, 1e-6), rel=0.02)


def test_gaussian_refuses_epsilon_outside_the_classic_theorem():
    with pytest.raises(ValueError, match="epsilon < 1"):
        gaussian_sigma(1.0, 1.0, 1e-5)


def test_expected_absolute_error():
    assert expected_absolute_error("laplace", 1.0, 0.5) == 2.0
    sigma = gaussian_sigma(1.0, 0.5, 1e-5)
    assert expected_absolute_error("gaussian", 1.0, 0.5, 1e-5) == pytest.approx(
        sigma * math.sqrt(2 / math.pi)
    )


def test_same_seed_same_release_and_scalar_in_scalar_out():
    a = laplace_mechanism(10.0, 1.0, 1.0, np.random.default_rng(5))
    b = laplace_mechanism(10.0, 1.0, 1.0, np.random.default_rng(5))
    assert isinstance(a, float) and a == b
    assert a != 10.0


@pytest.mark.parametrize("epsilon", [0, -1.0, float("nan"), float("inf")])
def test_bad_epsilon_raises(epsilon):
    with pytest.raises(ValueError, match="epsilon"):
        laplace_mechanism(1.0, 1.0, epsilon, np.random.default_rng(0))


def test_bad_types_raise():
    with pytest.raises(TypeError, match="epsilon"):
        laplace_scale(1.0, "1")
    with pytest.raises(TypeError, match="epsilon"):
        laplace_scale(1.0, True)
    with pytest.raises(TypeError, match="Generator"):
        laplace_mechanism(1.0, 1.0, 1.0, 42)
    with pytest.raises(ValueError, match="sensitivity"):
        laplace_scale(0.0, 1.0)
    with pytest.raises(ValueError, match="delta"):
        gaussian_sigma(1.0, 0.5, 0.0)
    with pytest.raises(ValueError, match="finite"):
        laplace_mechanism(float("nan"), 1.0, 1.0, np.random.default_rng(0))


# --------------------------------------------------------------------------- queries


def test_dp_count_is_unbiased_with_scale_one_over_epsilon(table):
    rng = np.random.default_rng(7)
    releases = np.array([dp_count(table, 0.5, rng) for _ in range(20_000)])
    assert np.mean(releases) == pytest.approx(len(table), abs=0.1)
    assert np.mean(np.abs(releases - len(table))) == pytest.approx(2.0, rel=0.03)


def test_dp_count_gaussian(table):
    rng = np.random.default_rng(8)
    releases = np.array(
        [dp_count(table, 0.5, rng, mechanism="gaussian", delta=1e-5) for _ in range(20_000)]
    )
    assert np.std(releases) == pytest.approx(gaussian_sigma(1.0, 0.5, 1e-5), rel=0.03)


def test_mechanism_arguments_are_checked(table):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="needs a delta"):
        dp_count(table, 0.5, rng, mechanism="gaussian")
    with pytest.raises(ValueError, match="pure epsilon"):
        dp_count(table, 0.5, rng, delta=1e-5)
    with pytest.raises(ValueError, match="mechanism must be one of"):
        dp_count(table, 0.5, rng, mechanism="exponential")
    with pytest.raises(TypeError, match="DataFrame"):
        dp_count([1, 2, 3], 0.5, rng)


def test_clipped_mean_sensitivity():
    assert clipped_mean_sensitivity(15.0, 45.0, 300) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="lower must be less than upper"):
        clipped_mean_sensitivity(45.0, 15.0, 300)
    with pytest.raises(ValueError, match="n must be"):
        clipped_mean_sensitivity(0.0, 1.0, 0)


def test_dp_mean_is_unbiased_for_the_clipped_mean(table):
    lower, upper = 20.0, 30.0  # tight bounds, so clipping bites
    clipped = table["bmi"].clip(lower, upper).mean()
    assert clipped != pytest.approx(table["bmi"].mean(), abs=0.05)  # clipping matters here
    rng = np.random.default_rng(11)
    releases = np.array([dp_mean(table, "bmi", lower, upper, 1.0, rng) for _ in range(20_000)])
    scale = (upper - lower) / len(table) / 1.0
    assert np.mean(releases) == pytest.approx(clipped, abs=0.03 * scale + 1e-3)
    assert np.mean(np.abs(releases - clipped)) == pytest.approx(scale, rel=0.03)


@pytest.mark.parametrize("query", [dp_mean, dp_sum])
def test_clipped_queries_name_bad_input(table, query):
    """dp_mean and dp_sum share their argument checks; each bad argument is named."""
    rng = np.random.default_rng(0)
    with pytest.raises(KeyError, match="weight"):
        query(table, "weight", 15, 45, 1.0, rng)
    with pytest.raises(ValueError, match="lower must be less than upper"):
        query(table, "bmi", 45, 15, 1.0, rng)
    with pytest.raises(ValueError, match="lower must be less than upper"):
        query(table, "bmi", 30, 30, 1.0, rng)
    with pytest.raises(ValueError, match="epsilon"):
        query(table, "bmi", 15, 45, 0.0, rng)
    with pytest.raises(TypeError, match="numeric"):
        query(table, "diagnosis", 15, 45, 1.0, rng)


@pytest.mark.parametrize("query", [dp_mean, dp_sum])
def test_clipped_queries_answer_missing_values_with_the_midpoint(table, query):
    # The old code raised "column 'bmi' has 1 missing value(s)": an error that depends on the
    # data releases something without noise and without spending budget.
    with_nan = table.copy()
    with_nan.loc[3, "bmi"] = np.nan
    imputed = table.copy()
    imputed.loc[3, "bmi"] = 30.0  # the midpoint of [15, 45]
    accountant = PrivacyAccountant(epsilon=1.0, relation=REPLACE)
    answer = query(with_nan, "bmi", 15, 45, 0.5, np.random.default_rng(4), accountant=accountant)
    assert answer == query(imputed, "bmi", 15, 45, 0.5, np.random.default_rng(4))
    assert accountant.spent_epsilon > 0


def test_dp_mean_of_no_records_is_answered_with_a_public_default(table):
    # The old code raised for an empty subgroup and answered a non-empty one: whether the
    # subgroup is empty leaked without noise and without budget.
    accountant = PrivacyAccountant(epsilon=1.0, relation=REPLACE)
    empty = [dp_mean(table.iloc[:0], "bmi", 15, 45, 1.0, np.random.default_rng(i),
                     accountant=accountant if i == 0 else None) for i in range(2000)]
    assert accountant.spent_epsilon == pytest.approx(1.0)
    assert np.mean(empty) == pytest.approx(30.0, abs=1.5)  # midpoint plus noise for one record
    assert np.mean(np.abs(np.array(empty) - 30.0)) == pytest.approx(30.0, rel=0.1)


def test_no_error_message_depends_on_the_data(table):
    """Errors may name public arguments only; the data's values never reach them."""
    rng = np.random.default_rng(0)
    odd = table.astype({"diagnosis": object})
    odd.loc[0, "diagnosis"] = "Z99-SECRET"
    odd.loc[1, "bmi"] = np.nan
    for call in (
        lambda: dp_histogram(odd, "diagnosis", CATEGORIES, 1.0, rng),
        lambda: dp_mean(odd, "bmi", 15, 45, 1.0, rng),
        lambda: dp_sum(odd, "bmi", 15, 45, 1.0, rng),
        lambda: dp_mean(odd.iloc[:0], "bmi", 15, 45, 1.0, rng),
        lambda: privacy.release_histogram(odd, "diagnosis", CATEGORIES, 1.0),
        lambda: privacy.release_sum(odd, "bmi", 15, 45, 1.0),
    ):
        answer = np.asarray(call(), dtype=float)  # answered, not refused
        assert answer.size >= 1 and np.isfinite(answer).all()


def test_failing_releases_spend_no_budget(table):
    # The old code charged the accountant before the Gaussian calibration checked epsilon < 1,
    # so a release that then failed still cost its epsilon.
    accountant = PrivacyAccountant(epsilon=3.0, delta=1e-3)
    rng = np.random.default_rng(0)
    for call in (
        lambda: dp_count(table, 2.0, rng, mechanism="gaussian", delta=1e-6,
                         accountant=accountant),
        lambda: dp_sum(table, "bmi", 15, 45, 1.5, rng, mechanism="gaussian", delta=1e-6,
                       accountant=accountant),
        lambda: dp_histogram(table, "diagnosis", CATEGORIES, 1.0, rng, mechanism="gaussian",
                             delta=1.5, accountant=accountant),
    ):
        with pytest.raises(ValueError):
            call()
    assert accountant.spent_epsilon == 0 and accountant.spent_delta == 0
    replace = PrivacyAccountant(epsilon=3.0, relation=REPLACE)
    with pytest.raises(ValueError, match="epsilon < 1"):
        dp_mean(table, "bmi", 15, 45, 2.0, rng, mechanism="gaussian", delta=1e-6,
                accountant=replace)
    assert replace.spent_epsilon == 0


def test_clipped_sum_sensitivity_is_the_largest_absolute_bound():
    assert clipped_sum_sensitivity(15.0, 50.0) == 50.0
    assert clipped_sum_sensitivity(-80.0, 10.0) == 80.0
    with pytest.raises(ValueError, match="lower must be less than upper"):
        clipped_sum_sensitivity(50.0, 15.0)


def test_dp_sum_is_unbiased_with_scale_bound_over_epsilon(table):
    lower, upper = 20.0, 30.0
    clipped = table["bmi"].clip(lower, upper).sum()
    rng = np.random.default_rng(13)
    releases = np.array([dp_sum(table, "bmi", lower, upper, 0.5, rng) for _ in range(20_000)])
    scale = upper / 0.5  # adding or removing one record moves the sum by at most 30
    assert np.mean(releases) == pytest.approx(clipped, abs=0.05 * scale)
    assert np.mean(np.abs(releases - clipped)) == pytest.approx(scale, rel=0.03)


def test_dp_histogram_has_every_category_and_unbiased_counts(table):
    rng = np.random.default_rng(12)
    exact = table["diagnosis"].value_counts().reindex(CATEGORIES + ["N18"], fill_value=0)
    runs = np.array(
        [dp_histogram(table, "diagnosis", CATEGORIES + ["N18"], 1.0, rng, other=None)
         for _ in range(2000)]
    )
    assert runs.shape == (2000, 4)
    np.testing.assert_allclose(runs.mean(axis=0), exact.to_numpy(), atol=0.15)
    # every bin gets Laplace(1 / epsilon): mean absolute error 1
    np.testing.assert_allclose(np.abs(runs - exact.to_numpy()).mean(axis=0), 1.0, rtol=0.08)
    one = dp_histogram(table, "diagnosis", CATEGORIES, 1.0, np.random.default_rng(0))
    assert list(one.index) == [*CATEGORIES, "other"]
    without = dp_histogram(table, "diagnosis", CATEGORIES, 1.0, np.random.default_rng(0),
                           other=None)
    assert list(without.index) == CATEGORIES


def test_dp_histogram_counts_unexpected_values_in_the_other_bin(table):
    # The old code raised "values outside the declared categories: ['N18']", publishing a
    # rare value without noise. Now such values, and missing ones, go to the "other" bin.
    rng = np.random.default_rng(5)
    odd = table.astype({"diagnosis": object})
    odd.loc[:9, "diagnosis"] = "N18"
    odd.loc[10:14, "diagnosis"] = None
    runs = np.array([dp_histogram(odd, "diagnosis", CATEGORIES, 1.0, rng) for _ in range(2000)])
    exact = [*odd["diagnosis"].value_counts().reindex(CATEGORIES, fill_value=0), 15]
    np.testing.assert_allclose(runs.mean(axis=0), exact, atol=0.15)


def test_dp_histogram_bad_input(table):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="other bin"):
        dp_histogram(table, "diagnosis", ["E11", "other"], 1.0, rng)
    with pytest.raises(KeyError, match="icd"):
        dp_histogram(table, "icd", CATEGORIES, 1.0, rng)
    with pytest.raises(TypeError, match="categories"):
        dp_histogram(table, "diagnosis", "E11", 1.0, rng)
    with pytest.raises(ValueError, match="repeat"):
        dp_histogram(table, "diagnosis", ["E11", "E11", "I10", "J44"], 1.0, rng)


# --------------------------------------------------------------------------- accountant


def test_accountant_records_and_refuses(table):
    accountant = PrivacyAccountant(epsilon=1.0)
    rng = np.random.default_rng(0)
    dp_count(table, 0.4, rng, accountant=accountant)
    dp_sum(table, "bmi", 15, 45, 0.4, rng, accountant=accountant)
    assert accountant.spent_epsilon == pytest.approx(0.8)
    assert accountant.remaining_epsilon == pytest.approx(0.2)
    state = rng.bit_generator.state
    with pytest.raises(BudgetExceededError, match="only epsilon=0.2"):
        dp_histogram(table, "diagnosis", CATEGORIES, 0.3, rng, accountant=accountant)
    # a refused query draws no noise and is not recorded
    assert rng.bit_generator.state == state
    assert list(accountant.ledger()["query"]) == ["count", "sum of bmi"]
    assert list(accountant.ledger()["relation"]) == [ADD_REMOVE, ADD_REMOVE]


def test_accountant_refuses_a_replace_release_on_an_add_remove_budget(table):
    accountant = PrivacyAccountant(epsilon=1.0, relation=ADD_REMOVE)
    rng = np.random.default_rng(0)
    dp_count(table, 0.2, rng, accountant=accountant)
    state = rng.bit_generator.state
    with pytest.raises(NeighbouringRelationError, match="replacing one patient"):
        dp_mean(table, "bmi", 15, 45, 0.1, rng, accountant=accountant)
    with pytest.raises(NeighbouringRelationError):
        accountant.spend(0.1, relation=REPLACE)
    with pytest.raises(NeighbouringRelationError):
        accountant.can_spend(0.1, relation=REPLACE)
    # refused without drawing noise or touching the ledger, although the budget had room
    assert rng.bit_generator.state == state
    assert accountant.spent_epsilon == pytest.approx(0.2)
    assert list(accountant.ledger()["query"]) == ["count"]
    # the error is a ValueError, so callers that catch bad arguments still catch it
    assert issubclass(NeighbouringRelationError, ValueError)


def test_a_replace_budget_charges_add_remove_releases_twice(table):
    accountant = PrivacyAccountant(epsilon=2.0, relation=REPLACE)
    rng = np.random.default_rng(0)
    dp_count(table, 0.2, rng, accountant=accountant)
    dp_mean(table, "bmi", 15, 45, 0.3, rng, accountant=accountant)
    dp_histogram(table, "diagnosis", CATEGORIES, 0.5, rng, accountant=accountant)
    ledger = accountant.ledger()
    assert list(ledger["relation"]) == [ADD_REMOVE, REPLACE, ADD_REMOVE]
    assert list(ledger["epsilon"]) == pytest.approx([0.2, 0.3, 0.5])
    assert list(ledger["charged epsilon"]) == pytest.approx([0.4, 0.3, 1.0])
    # the sum of the nominal epsilons (1.0) would understate the guarantee: it is 1.7
    assert accountant.spent_epsilon == pytest.approx(1.7)
    assert accountant.can_spend(0.3, relation=REPLACE)
    assert not accountant.can_spend(0.2, relation=ADD_REMOVE)  # would be charged 0.4
    with pytest.raises(BudgetExceededError, match="charged as epsilon=0.4"):
        dp_count(table, 0.2, rng, accountant=accountant)


def test_cost_under_converts_delta_by_group_privacy():
    assert cost_under(0.5, 1e-6, ADD_REMOVE, ADD_REMOVE) == (0.5, 1e-6)
    assert cost_under(0.5, 1e-6, REPLACE, REPLACE) == (0.5, 1e-6)
    epsilon, delta = cost_under(0.5, 1e-6, ADD_REMOVE, REPLACE)
    assert epsilon == pytest.approx(1.0)
    assert delta == pytest.approx((1 + math.exp(0.5)) * 1e-6)
    with pytest.raises(NeighbouringRelationError):
        cost_under(0.5, 0.0, REPLACE, ADD_REMOVE)
    with pytest.raises(ValueError, match="neighbouring relation must be one of"):
        cost_under(0.5, 0.0, "swap", REPLACE)
    with pytest.raises(ValueError, match="neighbouring relation must be one of"):
        PrivacyAccountant(epsilon=1.0, relation="bounded")


def test_doubling_is_the_true_privacy_loss_of_a_histogram_under_replacement():
    # Replacing a patient with diagnosis A by one with diagnosis B moves the exact histogram by
    # -1 in bin A and +1 in bin B. With Laplace noise of scale 1 / epsilon per bin, the largest
    # log ratio of the output densities of the two neighbours is therefore 2 epsilon: the
    # conversion rule is not just an upper bound here, it is attained.
    epsilon = 0.7
    scale = laplace_scale(1.0, epsilon)
    exact = np.array([10.0, 20.0])
    neighbour = exact + np.array([-1.0, 1.0])
    grid = np.stack(np.meshgrid(np.linspace(0, 30, 301), np.linspace(0, 30, 301)), axis=-1)

    def log_density(output, centre):
        return -np.abs(output - centre).sum(axis=-1) / scale

    loss = np.abs(log_density(grid, exact) - log_density(grid, neighbour)).max()
    assert loss == pytest.approx(cost_under(epsilon, 0.0, ADD_REMOVE, REPLACE)[0])


def test_accountant_allows_an_even_split_despite_rounding():
    accountant = PrivacyAccountant(epsilon=1.0)
    for _ in range(10):
        accountant.spend(0.1)
    assert not accountant.can_spend(0.01)


def test_accountant_tracks_delta():
    accountant = PrivacyAccountant(epsilon=1.0, delta=1e-5)
    accountant.spend(0.3, 1e-5, label="gaussian count")
    with pytest.raises(BudgetExceededError):
        accountant.spend(0.3, 1e-6)
    accountant.spend(0.3)  # pure epsilon still fits
    assert accountant.spent_delta == pytest.approx(1e-5)


def test_accountant_bad_input():
    with pytest.raises(ValueError, match="epsilon budget"):
        PrivacyAccountant(epsilon=0)
    with pytest.raises(ValueError, match="delta budget"):
        PrivacyAccountant(epsilon=1.0, delta=1.5)
    with pytest.raises(ValueError, match="epsilon"):
        PrivacyAccountant(epsilon=1.0).spend(-0.1)
    with pytest.raises(TypeError, match="accountant"):
        dp_count(pd.DataFrame({"a": [1]}), 0.1, np.random.default_rng(0), accountant=object())
    with pytest.raises(ValueError, match="delta"):
        PrivacyAccountant(epsilon=1.0).spend(0.1, 1.5)


@settings(max_examples=100, deadline=None)
@given(
    budget=st.floats(min_value=0.01, max_value=10.0),
    requests=st.lists(st.floats(min_value=1e-4, max_value=5.0), max_size=40),
)
def test_spent_never_exceeds_the_budget(budget, requests):
    accountant = PrivacyAccountant(epsilon=budget)
    for eps in requests:
        fits = accountant.can_spend(eps)
        before = accountant.spent_epsilon
        try:
            accountant.spend(eps)
        except BudgetExceededError:
            assert not fits
            assert accountant.spent_epsilon == before
        else:
            assert fits
        assert accountant.spent_epsilon <= budget + privacy.BUDGET_TOLERANCE
        assert accountant.remaining_epsilon >= 0


@settings(max_examples=100, deadline=None)
@given(
    budget_relation=st.sampled_from([ADD_REMOVE, REPLACE]),
    budget=st.floats(min_value=0.01, max_value=10.0),
    requests=st.lists(
        st.tuples(st.floats(min_value=1e-4, max_value=5.0), st.sampled_from([ADD_REMOVE, REPLACE])),
        max_size=30,
    ),
)
def test_mixed_relations_are_converted_or_refused_never_added_blindly(
    budget_relation, budget, requests
):
    accountant = PrivacyAccountant(epsilon=budget, relation=budget_relation)
    expected = 0.0
    for eps, relation in requests:
        before = accountant.spent_epsilon
        if relation == REPLACE and budget_relation == ADD_REMOVE:
            with pytest.raises(NeighbouringRelationError):
                accountant.spend(eps, relation=relation)
            assert accountant.spent_epsilon == before
            continue
        charge = 2 * eps if relation != budget_relation else eps
        try:
            accountant.spend(eps, relation=relation)
        except BudgetExceededError:
            assert before + charge > budget
        else:
            expected += charge
        assert accountant.spent_epsilon == pytest.approx(expected)
        assert accountant.spent_epsilon <= budget + privacy.BUDGET_TOLERANCE
    assert set(accountant.ledger()["relation"]) <= {ADD_REMOVE, REPLACE}


@settings(max_examples=40, deadline=None)
@given(
    lower=st.floats(min_value=-100, max_value=100),
    width=st.floats(min_value=0.1, max_value=100),
    values=st.lists(st.floats(min_value=-1e3, max_value=1e3), min_size=1, max_size=50),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
)
def test_clipped_mean_is_within_bounds_in_expectation(lower, width, values, seed):
    upper = lower + width
    table = pd.DataFrame({"x": values})
    rng = np.random.default_rng(seed)
    releases = np.array([dp_mean(table, "x", lower, upper, 1.0, rng) for _ in range(400)])
    scale = width / len(values)
    # the average of 400 releases is within 5 standard errors of a point in [lower, upper]
    tolerance = 5 * scale * math.sqrt(2) / math.sqrt(400)
    assert lower - tolerance <= releases.mean() <= upper + tolerance


@settings(max_examples=50, deadline=None)
@given(
    sensitivity=st.floats(min_value=1e-3, max_value=1e3),
    epsilon=st.floats(min_value=1e-3, max_value=10),
)
def test_laplace_scale_grows_with_sensitivity_and_shrinks_with_epsilon(sensitivity, epsilon):
    b = laplace_scale(sensitivity, epsilon)
    assert b == pytest.approx(sensitivity / epsilon)
    assert laplace_scale(sensitivity * 2, epsilon) == pytest.approx(2 * b)
    assert laplace_scale(sensitivity, epsilon * 2) == pytest.approx(b / 2)


# --------------------------------------------------------------------------- floating point


def test_floating_point_laplace_outputs_identify_the_input():
    """Mironov (2012): numpy's Laplace noise added to a count of 0 or 1 at epsilon = 1 gives
    outputs most of which are possible for one count only."""
    rng = np.random.default_rng(1)
    identified = 0
    for exact in (0.0, 1.0):
        for output in exact + rng.laplace(0.0, 1.0, size=2000):
            possible = [privacy.laplace_output_possible(output, x, 1.0) for x in (0.0, 1.0)]
            assert possible[int(exact)]  # the true input is always judged possible
            identified += possible[0] != possible[1]
    assert 0.7 < identified / 4000 < 0.9  # about 81 %


def test_opendp_releases_leave_nothing_to_the_floating_point_attack(table):
    # The book's final releases now go through OpenDP: integer (discrete Laplace) noise on
    # counts, whose every output is possible for either neighbouring count.
    outputs = [privacy.release_count(table.iloc[:n], 1.0) for n in (0, 1) for _ in range(300)]
    assert all(isinstance(v, int) for v in outputs)
    assert len(set(outputs)) > 5
    accountant = PrivacyAccountant(epsilon=1.0)
    privacy.release_count(table, 0.25, accountant=accountant)
    privacy.release_sum(table, "bmi", 15, 45, 0.25, accountant=accountant)
    histogram = privacy.release_histogram(table, "diagnosis", CATEGORIES, 0.5,
                                          accountant=accountant)
    assert list(histogram.index) == [*CATEGORIES, "other"]
    assert accountant.spent_epsilon == pytest.approx(1.0)
    with pytest.raises(BudgetExceededError):
        privacy.release_count(table, 0.1, accountant=accountant)
    sums = np.array([privacy.release_sum(table, "bmi", 15, 45, 1.0) for _ in range(400)])
    exact = table["bmi"].clip(15, 45).sum()
    assert np.mean(np.abs(sums - exact)) == pytest.approx(45.0, rel=0.2)
