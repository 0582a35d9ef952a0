"""Exact federated regression, site intercepts, meta-analysis and FedProx."""

from __future__ import annotations

import numpy as np
import pytest

from healthdatalab import federation as fed
from healthdatalab.cohort import generate_cohort
from healthdatalab.federation import glm


@pytest.fixture(scope="module")
def parts():
    cohort = generate_cohort(6_000, seed=3, hospitals=5)
    return [fed.to_arrays(p) for p in fed.partition_by_hospital(cohort).values()]


def _pooled(parts):
    return fed.fit_logistic(np.vstack([X for X, _ in parts]), np.concatenate([y for _, y in parts]))


def test_federated_newton_equals_the_pooled_fit(parts):
    result = glm.federated_newton(parts)
    assert np.max(np.abs(result.coefficients - _pooled(parts))) < 1e-10
    assert result.rounds <= 10
    pooled_info = sum(fed.information_matrix(result.coefficients, X) for X, _ in parts)
    np.testing.assert_allclose(result.covariance, np.linalg.inv(pooled_info), rtol=1e-8)


def test_fedavg_is_not_exact_but_newton_is(parts):
    fedavg = fed.fedavg(parts, rounds=20, local_epochs=10, learning_rate=2.0).weights
    assert np.max(np.abs(fedavg - _pooled(parts))) > 1e-4


def test_site_intercepts_estimate_one_baseline_per_site(parts):
    result = glm.federated_newton(parts, site_intercepts=True)
    assert result.coefficients.shape == (len(parts) + parts[0][0].shape[1] - 1,)
    # the same model fitted on the pooled design with site indicators
    design = glm.with_site_intercepts(parts)
    pooled = fed.fit_logistic(np.vstack([X for X, _ in design]),
                              np.concatenate([y for _, y in design]))
    assert np.max(np.abs(result.coefficients - pooled)) < 1e-10


def test_meta_analysis_by_hand():
    b, se = np.array([0.5, 0.7, 0.9]), np.array([0.1, 0.1, 0.2])
    m = glm.meta_analysis(b, se)
    w = 1 / se**2
    fixed = np.sum(w * b) / w.sum()
    q = np.sum(w * (b - fixed) ** 2)
    assert m.fixed == pytest.approx(fixed) and m.q == pytest.approx(q)
    assert m.i2 == pytest.approx(max(0, (q - 2) / q))
    assert m.random_se >= m.fixed_se


def test_meta_analysis_without_heterogeneity_has_zero_tau2():
    m = glm.meta_analysis([0.5, 0.5, 0.5], [0.1, 0.2, 0.3])
    assert m.tau2 == 0 and m.i2 == 0 and m.random == pytest.approx(m.fixed)


def test_fedprox_with_mu_zero_is_fedavg(parts):
    a = glm.fedprox(parts, mu=0.0, rounds=5, local_epochs=3, learning_rate=1.0).history
    b = fed.fedavg(parts, rounds=5, local_epochs=3, learning_rate=1.0).history
    np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda p: glm.federated_newton([]), "non-empty list"),
        (lambda p: glm.federated_newton(p, max_rounds=0), "max_rounds"),
        (lambda p: glm.federated_newton(p, tol=-1), "tol"),
        (lambda p: glm.federated_newton([p[0], (p[1][0][:, :3], p[1][1])]), "same number"),
        (lambda p: glm.fedprox(p, mu=-1), "mu must be"),
        (lambda p: glm.fedprox(p, mu=1.0, learning_rate=2.0), "overshoot"),
        (lambda p: glm.meta_analysis([0.1], [0.1]), "at least two"),
        (lambda p: glm.meta_analysis([0.1, 0.2], [0.1, 0.0]), "positive"),
        (lambda p: glm.with_site_intercepts([(p[0][0][:, 1:], p[0][1])]), "intercept"),
    ],
)
def test_bad_input_gets_a_clear_error(parts, call, match):
    with pytest.raises(ValueError, match=match):
        call(parts)


def test_newton_reports_separation():
    X = np.column_stack([np.ones(6), [0, 1, 2, 3, 4, 5.0]])
    y = np.array([0, 0, 0, 1, 1, 1.0])
    with pytest.raises(ValueError, match="separated|converge"):
        glm.federated_newton([(X, y)], max_rounds=50)
