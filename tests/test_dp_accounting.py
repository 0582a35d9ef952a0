"""Hospital-level DP for FedAvg: Flower's wrapper, its noise and the epsilon of T rounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq
from scipy.stats import norm

from healthdatalab import federation as fed
from healthdatalab.cohort import generate_cohort
from healthdatalab.federation import dp_accounting as acc


def exact_gaussian_epsilon(mu: float, delta: float, upper: float) -> float:
    """The tight epsilon of a Gaussian mechanism with sensitivity/sigma = mu (Balle and Wang).

    delta(eps) = Phi(-eps/mu + mu/2) - exp(eps) Phi(-eps/mu - mu/2); T such mechanisms
    compose exactly to one with mu * sqrt(T). No conversion can report a smaller epsilon.
    """
    def excess(eps: float) -> float:
        second = math.exp(eps + norm.logcdf(-eps / mu - mu / 2))
        return norm.cdf(-eps / mu + mu / 2) - second - delta

    return brentq(excess, 0.0, upper) if excess(0.0) > 0 else 0.0


@pytest.mark.parametrize("relation", acc.RELATIONS)
@pytest.mark.parametrize(("z", "rounds"), [(0.5, 20), (1.0, 20), (2.0, 20), (1.0, 1), (4.0, 100)])
def test_opendp_matches_the_closed_form(z, rounds, relation):
    g = acc.hospital_level_epsilon(z, rounds, 1e-5, relation=relation)
    factor = 1.0 if relation == "add-or-remove" else 2.0
    # rho = T d**2 / (2 sigma**2) with d / sigma = factor / z (Bun and Steinke 2016)
    assert g.rho == pytest.approx(rounds * factor**2 / (2 * z**2), rel=1e-9)
    assert g.rho == pytest.approx(acc.zcdp_rho(z, rounds, relation), rel=1e-9)
    closed = g.rho + 2 * math.sqrt(g.rho * math.log(1e5))
    assert g.epsilon_closed_form == pytest.approx(closed, rel=1e-12)
    # OpenDP's conversion is tighter than Bun and Steinke's, and no conversion beats the
    # exact epsilon of the composed Gaussian.
    exact = exact_gaussian_epsilon(factor * math.sqrt(rounds) / z, 1e-5, upper=closed)
    assert exact <= g.epsilon + 1e-9
    assert g.epsilon <= closed + 1e-9
    assert g.epsilon >= 0.8 * closed  # same order: a wrong rho would fall outside


def test_replacing_a_hospital_costs_four_times_the_rho():
    a = acc.hospital_level_epsilon(1.0, 20, 1e-5, relation="add-or-remove")
    r = acc.hospital_level_epsilon(1.0, 20, 1e-5, relation="replace-one")
    assert r.rho == pytest.approx(4 * a.rho, rel=1e-9)
    assert r.epsilon > a.epsilon


@settings(max_examples=25, deadline=None)
@given(z=st.floats(0.3, 20.0), rounds=st.integers(1, 200), delta=st.floats(1e-10, 0.1),
       hospitals=st.integers(1, 50), clip=st.floats(0.01, 100.0))
def test_epsilon_does_not_depend_on_hospitals_or_clipping(z, rounds, delta, hospitals, clip):
    base = acc.hospital_level_epsilon(z, rounds, delta)
    other = acc.hospital_level_epsilon(z, rounds, delta, hospitals=hospitals, clipping_norm=clip)
    assert other.epsilon == pytest.approx(base.epsilon, rel=1e-6)
    assert base.epsilon <= base.epsilon_closed_form + 1e-9


def test_epsilon_falls_as_noise_grows_and_rises_with_rounds():
    eps = [acc.hospital_level_epsilon(z, 20, 1e-5).epsilon for z in (0.5, 1.0, 2.0, 4.0)]
    assert np.all(np.diff(eps) < 0)
    assert acc.hospital_level_epsilon(1.0, 40, 1e-5).epsilon > eps[1]


def test_the_accounting_uses_flowers_noise_calibration():
    from flwr.supercore.differential_privacy import compute_stdv

    for z, clip, n in [(1.0, 1.0, 3), (0.5, 2.0, 20)]:
        # Flower's standard deviation is z times the add-or-remove sensitivity of the mean
        assert compute_stdv(z, clip, n) == pytest.approx(z * acc.sensitivity(clip, n))
        assert acc.sensitivity(clip, n, "replace-one") == pytest.approx(2 * clip / n)


def test_weighting_by_patient_count_weakens_the_stated_noise():
    assert acc.effective_noise_multiplier(1.0, [5, 5, 5]) == pytest.approx(1.0)
    sizes = [8715, 6596, 4689]
    z_eff = acc.effective_noise_multiplier(1.0, sizes)
    assert z_eff == pytest.approx(sum(sizes) / (3 * max(sizes)))
    assert z_eff < 1.0
    assert (acc.hospital_level_epsilon(z_eff, 20, 1e-5).epsilon
            > acc.hospital_level_epsilon(1.0, 20, 1e-5).epsilon)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"noise_multiplier": 0.0}, "noise_multiplier must be positive"),
        ({"noise_multiplier": -1.0}, "noise_multiplier must be positive"),
        ({"noise_multiplier": math.inf}, "noise_multiplier must be positive"),
        ({"rounds": 0}, "rounds must be at least 1"),
        ({"delta": 0.0}, "delta must lie strictly between 0 and 1"),
        ({"delta": 1.0}, "delta must lie strictly between 0 and 1"),
        ({"delta": math.nan}, "delta must lie strictly between 0 and 1"),
        ({"hospitals": 0}, "hospitals must be at least 1"),
        ({"clipping_norm": 0.0}, "clipping_norm must be positive"),
        ({"relation": "swap"}, "relation must be one of"),
    ],
)
def test_bad_input_gets_a_clear_error(kwargs, message):
    args = {"noise_multiplier": 1.0, "rounds": 20, "delta": 1e-5} | kwargs
    with pytest.raises(ValueError, match=message):
        acc.hospital_level_epsilon(**args)


def test_a_negligible_noise_is_refused_not_misreported():
    with pytest.raises(ValueError, match="noise is too small for these rounds"):
        acc.hospital_level_epsilon(0.01, 20, 1e-5)


def test_wrong_types_are_refused():
    with pytest.raises(TypeError, match="rounds must be an integer"):
        acc.hospital_level_epsilon(1.0, 2.5, 1e-5)
    with pytest.raises(TypeError, match="noise_multiplier must be a number"):
        acc.zcdp_rho(True, 3)
    with pytest.raises(ValueError, match="weights must name at least one hospital"):
        acc.effective_noise_multiplier(1.0, [])
    with pytest.raises(ValueError, match="each weight must be positive"):
        acc.effective_noise_multiplier(1.0, [3, 0])


@pytest.fixture(scope="module")
def parts():
    cohort = generate_cohort(3_000, seed=5)
    return [fed.to_arrays(p) for p in fed.partition_by_hospital(cohort).values()]


def test_flower_dp_fedavg_is_seeded_and_noise_costs_utility(parts):
    pooled = fed.fit_logistic(np.vstack([X for X, _ in parts]),
                              np.concatenate([y for _, y in parts]))
    np.random.seed(123)
    before = np.random.random()
    np.random.seed(123)
    with fed.quiet_flower():
        a = fed.run_dp_fedavg(parts, noise_multiplier=1.0, rounds=5, seed=7)
        b = fed.run_dp_fedavg(parts, noise_multiplier=1.0, rounds=5, seed=7)
        quiet = [fed.run_dp_fedavg(parts, noise_multiplier=0.01, rounds=10, seed=s)
                 for s in range(3)]
        loud = [fed.run_dp_fedavg(parts, noise_multiplier=2.0, rounds=10, seed=s)
                for s in range(3)]
    assert np.random.random() == before  # the caller's generator state is restored
    np.testing.assert_array_equal(a, b)
    gap_quiet = np.mean([np.max(np.abs(w - pooled)) for w in quiet])
    gap_loud = np.mean([np.max(np.abs(w - pooled)) for w in loud])
    assert gap_loud > 5 * gap_quiet


def test_flowers_wrapper_adds_noise_of_the_accounted_size():
    """The released average's noise has standard deviation z * sensitivity, measured."""
    from flwr.app import ArrayRecord, Message, MetricRecord, RecordDict
    from flwr.app.metadata import Metadata
    from flwr.serverapp.strategy import DifferentialPrivacyServerSideFixedClipping, FedAvg

    z, clip, n, size = 1.5, 2.0, 3, 40_000
    strategy = DifferentialPrivacyServerSideFixedClipping(
        FedAvg(), noise_multiplier=z, clipping_norm=clip, num_sampled_clients=n)
    strategy.current_arrays = ArrayRecord([np.zeros(size)])
    # Each hospital's update is small and inside the clipping ball (Flower 1.41 divides by the
    # update's norm, so an update of exactly zero would fail).
    replies = [Message(content=RecordDict({"arrays": ArrayRecord([np.full(size, 1e-6)]),
                                           "metrics": MetricRecord({"num-examples": 1})}),
                       metadata=Metadata(run_id=1, message_id="", src_node_id=i, dst_node_id=0,
                                         reply_to_message_id="", group_id="1", created_at=0.0,
                                         ttl=60.0, message_type="train"))
               for i in range(1, n + 1)]
    np.random.seed(0)
    with fed.quiet_flower():
        arrays, _ = strategy.aggregate_train(1, replies)
    noise = arrays.to_numpy_ndarrays()[0] - 1e-6
    assert np.std(noise) == pytest.approx(z * acc.sensitivity(clip, n), rel=0.02)
