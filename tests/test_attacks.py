"""Tests for healthdatalab.attacks: reconstruction from counts, and its DP answer."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize

from healthdatalab.attacks import (
    accuracy_bound,
    dp_subset_counts,
    query_sensitivity,
    random_subset_queries,
    reconstruct,
    reconstruction_accuracy,
    subset_counts,
)


def make_secret(n: int, seed: int, share: float = 0.3) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < share).astype(np.int64)


def test_queries_are_seeded_zero_one_subsets():
    a = random_subset_queries(40, 30, np.random.default_rng(5))
    b = random_subset_queries(40, 30, np.random.default_rng(5))
    assert a.shape == (30, 40)
    assert np.array_equal(a, b)
    assert set(np.unique(a)) == {0, 1}
    assert 0.35 < a.mean() < 0.65


def test_exact_counts_are_subset_sums():
    queries = np.array([[1, 1, 0, 0], [0, 1, 1, 1], [1, 0, 0, 1]])
    secret = np.array([1, 0, 1, 1])
    assert subset_counts(queries, secret).tolist() == [1, 2, 2]


@settings(max_examples=15, deadline=None)
@given(st.integers(5, 60), st.integers(0, 10_000))
def test_exact_answers_reconstruct_every_bit(n, seed):
    """With exact answers to 4n random subsets, both attacks recover every bit."""
    secret = make_secret(n, seed)
    queries = random_subset_queries(n, 4 * n, np.random.default_rng(seed + 1))
    answers = subset_counts(queries, secret)
    for method in ("lp", "least_squares"):
        estimate = reconstruct(queries, answers, method=method)
        assert reconstruction_accuracy(estimate, secret) == 1.0


def test_lp_attack_reaches_the_least_total_absolute_error():
    """The estimate solves min ||queries @ x - answers||_1 over x in [0, 1]^n: checked against
    the same problem written with one error bound e_i and two inequalities per answer."""
    rng = np.random.default_rng(12)
    secret = make_secret(30, 4)
    queries = random_subset_queries(30, 60, rng)
    answers = subset_counts(queries, secret) + rng.integers(-3, 4, 60)
    estimate = reconstruct(queries, answers)
    q = queries.astype(float)
    m, n = q.shape
    reference = optimize.linprog(
        np.concatenate([np.zeros(n), np.ones(m)]),
        A_ub=np.block([[q, -np.eye(m)], [-q, -np.eye(m)]]),
        b_ub=np.concatenate([answers, -answers]).astype(float),
        bounds=[(0.0, 1.0)] * n + [(0.0, None)] * m,
        method="highs",
    )
    assert reference.status == 0 and reference.fun > 0  # the noise leaves an error
    assert np.all((estimate >= 0) & (estimate <= 1))
    assert np.abs(q @ estimate - answers).sum() == pytest.approx(reference.fun, abs=1e-6)


def test_small_noise_still_reconstructs():
    """Noise far below sqrt(n) (here at most 1 on each answer) does not stop the attack."""
    rng = np.random.default_rng(11)
    secret = make_secret(100, 3)
    queries = random_subset_queries(100, 400, rng)
    answers = subset_counts(queries, secret) + rng.integers(-1, 2, 400)
    assert reconstruction_accuracy(reconstruct(queries, answers), secret) >= 0.97


def test_sensitivity_is_the_most_queries_one_person_is_in():
    queries = np.array([[1, 0, 1], [1, 1, 0], [1, 0, 0]])
    assert query_sensitivity(queries) == 3
    # changing the bit of person 0 moves the answers by exactly that much in L1
    before = subset_counts(queries, np.array([0, 1, 1]))
    after = subset_counts(queries, np.array([1, 1, 1]))
    assert np.abs(after - before).sum() == 3


def test_dp_answers_with_total_epsilon_one_defeat_the_attack():
    """The same 400 queries, with epsilon = 1 for all of them together, leave the attacker no
    better than guessing everyone has the more common value (repeated to average the noise)."""
    secret = make_secret(100, 8, share=0.3)
    baseline = max(secret.mean(), 1 - secret.mean())
    queries = random_subset_queries(100, 400, np.random.default_rng(4))
    accuracies = []
    for _ in range(4):
        answers = dp_subset_counts(queries, secret, 1.0)
        accuracies.append(reconstruction_accuracy(reconstruct(queries, answers), secret))
    assert np.mean(accuracies) <= baseline + 0.05
    assert max(accuracies) <= accuracy_bound(1.0, secret.mean()) + 0.05


def test_dp_answers_with_a_huge_epsilon_are_almost_exact():
    """A large enough epsilon is no protection: the attack works again."""
    secret = make_secret(60, 9)
    queries = random_subset_queries(60, 240, np.random.default_rng(6))
    answers = dp_subset_counts(queries, secret, 10_000.0)
    assert answers.dtype == np.int64
    assert np.abs(answers - subset_counts(queries, secret)).mean() < 1
    assert reconstruction_accuracy(reconstruct(queries, answers), secret) >= 0.95


def test_dp_clamps_values_instead_of_raising_on_them():
    """No error depends on the private values: out-of-range bits are clamped to 0 or 1."""
    queries = np.ones((3, 4), dtype=np.int64)
    answers = dp_subset_counts(queries, np.array([5, -3, 1, 0]), 1e6)
    assert answers.tolist() == [2, 2, 2]


def test_accuracy_bound():
    assert accuracy_bound(1e-9, 0.5) == pytest.approx(0.5)
    assert accuracy_bound(math.log(3), 0.5) == pytest.approx(0.75)
    assert accuracy_bound(1.0, 0.2) == pytest.approx(math.e * 0.8 / (math.e * 0.8 + 0.2))
    assert accuracy_bound(1000.0, 0.3) == 1.0
    assert accuracy_bound(2.0, 0.3) > accuracy_bound(1.0, 0.3) > 0.7


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: random_subset_queries(0, 5, np.random.default_rng()), ValueError, "n_rows"),
        (lambda: random_subset_queries(5, 5, 3), TypeError, "Generator"),
        (
            lambda: random_subset_queries(5, 5, np.random.default_rng(), inclusion=1.0),
            ValueError,
            "inclusion",
        ),
        (lambda: subset_counts(np.array([[1, 2]]), np.array([1, 0])), ValueError, "only 0 and 1"),
        (lambda: subset_counts(np.array([1, 0]), np.array([1, 0])), TypeError, "two-dimensional"),
        (lambda: subset_counts(np.array([[1, 0]]), np.array([1, 0, 1])), ValueError, "3 entries"),
        (lambda: subset_counts(np.array([[1, 0]]), np.array([0.5, 1.0])), TypeError, "integers"),
        (
            lambda: dp_subset_counts(np.array([[1, 0]]), np.array([1, 0]), 0.0),
            ValueError,
            "epsilon",
        ),
        (
            lambda: dp_subset_counts(np.array([[1, 0]]), np.array([1, 0]), float("nan")),
            ValueError,
            "epsilon",
        ),
        (lambda: reconstruct(np.array([[1, 0]]), np.array([1.0, 2.0])), ValueError, "2 answers"),
        (lambda: reconstruct(np.array([[1, 0]]), np.array([np.nan])), ValueError, "finite"),
        (
            lambda: reconstruct(np.array([[1, 0]]), np.array([1.0]), method="guess"),
            ValueError,
            "method",
        ),
        (lambda: accuracy_bound(1.0, 1.5), ValueError, "prior"),
    ],
)
def test_bad_input_gets_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_errors_never_contain_the_secret_values():
    """The only error about the secret's content names the rule, not the values."""
    secret = np.array([0, 1, 7341, 1])
    with pytest.raises(ValueError) as caught:
        subset_counts(np.ones((2, 4), dtype=np.int64), secret)
    assert "7341" not in str(caught.value)
