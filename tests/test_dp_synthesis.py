"""Tests for healthdatalab.dp_synthesis: public-domain encoding, OpenDP marginals, generators."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from healthdatalab.cohort import generate_cohort
from healthdatalab.dp_synthesis import (
    COHORT_DOMAIN,
    DIRECT_IDENTIFIERS,
    Bins,
    Categories,
    NoisyMarginalSynthesizer,
    PrivatePGMSynthesizer,
    decode,
    encode,
    measure_marginals,
)


@pytest.fixture(scope="module")
def cohort() -> pd.DataFrame:
    return generate_cohort(1_500, seed=5)


def test_encode_drops_direct_identifiers_and_other_columns(cohort):
    codes = encode(cohort, COHORT_DOMAIN)
    assert list(codes.columns) == list(COHORT_DOMAIN)
    assert not set(DIRECT_IDENTIFIERS) & set(codes.columns)


def test_a_domain_with_a_direct_identifier_is_refused():
    with pytest.raises(ValueError, match="direct identifier"):
        encode(pd.DataFrame({"bsn": ["1"]}), {"bsn": Categories(("1",))})


def test_encode_decode_round_trip_stays_in_the_bin(cohort):
    codes = encode(cohort, COHORT_DOMAIN)
    back = decode(codes, COHORT_DOMAIN, np.random.default_rng(0))
    assert (encode(back, COHORT_DOMAIN) == codes.reset_index(drop=True)).all().all()
    assert back["age"].dtype == np.int64 and back["sex"].isin(["F", "M"]).all()


def test_encode_clips_numbers_and_names_the_column_not_the_value():
    domain = {"x": Bins((0, 10, 20)), "c": Categories(("a", "b"))}
    codes = encode(pd.DataFrame({"x": [-5.0, 25.0], "c": ["a", "b"]}), domain)
    assert codes["x"].tolist() == [0, 1]
    with pytest.raises(ValueError, match="'c'") as caught:
        encode(pd.DataFrame({"x": [1.0], "c": ["secret-value"]}), domain)
    assert "secret-value" not in str(caught.value)


def test_bins_must_increase():
    with pytest.raises(ValueError, match="increasing"):
        Bins((3, 2, 1))


def test_measure_marginals_spends_exactly_epsilon_and_is_unbiased(cohort):
    codes = encode(cohort, COHORT_DOMAIN)
    sizes = {c: s.size for c, s in COHORT_DOMAIN.items()}
    cliques = [("sex",), ("outcome", "smoking")]
    noisy, spent = measure_marginals(codes, sizes, cliques, 2.0)
    assert spent == pytest.approx(2.0)
    assert noisy[("outcome", "smoking")].shape == (2, 2)
    truth = pd.crosstab(codes["outcome"], codes["smoking"]).to_numpy()
    # Laplace scale 1 (2 marginals / epsilon 2): 30 units off has probability about e^-30
    assert np.all(np.abs(noisy[("outcome", "smoking")] - truth) < 30)
    assert np.all(noisy[("sex",)] == np.round(noisy[("sex",)]))  # integer noise


def test_measure_marginals_checks_its_input(cohort):
    codes = encode(cohort, COHORT_DOMAIN)
    sizes = {c: s.size for c, s in COHORT_DOMAIN.items()}
    with pytest.raises(ValueError, match="positive"):
        measure_marginals(codes, sizes, [("sex",)], 0.0)
    with pytest.raises(KeyError, match="outside the domain"):
        measure_marginals(codes, sizes, [("bsn",)], 1.0)
    with pytest.raises(ValueError, match="at least one"):
        measure_marginals(codes, sizes, [], 1.0)


def test_noisy_marginal_synthesizer_keeps_columns_and_the_outcome_link(cohort):
    generator = NoisyMarginalSynthesizer(5.0).fit(cohort)
    synthetic = generator.sample(3_000, np.random.default_rng(1))
    assert list(synthetic.columns) == list(COHORT_DOMAIN)
    assert generator.epsilon_spent_ == pytest.approx(5.0)
    # patients with an event are older in the cohort; the link survives epsilon = 5
    age = synthetic.groupby("outcome")["age"].mean()
    assert age[1] > age[0] + 3
    assert not set(DIRECT_IDENTIFIERS) & set(synthetic.columns)


def test_samplers_check_their_arguments(cohort):
    with pytest.raises(RuntimeError, match="fit"):
        NoisyMarginalSynthesizer(1.0).sample(10, np.random.default_rng(0))
    with pytest.raises(ValueError, match="positive"):
        NoisyMarginalSynthesizer(-1.0)
    with pytest.raises(TypeError, match="positive number"):
        NoisyMarginalSynthesizer("1")
    with pytest.raises(ValueError, match="whole number"):
        NoisyMarginalSynthesizer(1.0).fit(cohort).sample(0, np.random.default_rng(0))
    with pytest.raises(RuntimeError, match="fit"):
        PrivatePGMSynthesizer(1.0).sample(10, np.random.default_rng(0))


def test_private_pgm_synthesizer_spends_epsilon_and_samples_a_tree(cohort):
    generator = PrivatePGMSynthesizer(3.0, iterations=100).fit(cohort)
    assert generator.epsilon_spent_ == pytest.approx(3.0)
    assert len(generator.tree_) == len(COHORT_DOMAIN) - 1
    synthetic = generator.sample(500, np.random.default_rng(2))
    assert list(synthetic.columns) == list(COHORT_DOMAIN) and len(synthetic) == 500


def test_required_pairs_are_in_the_tree_and_cycles_are_refused(cohort):
    generator = PrivatePGMSynthesizer(2.0, required=[("age", "outcome")], iterations=50)
    generator.fit(cohort)
    assert ("age", "outcome") in generator.tree_ and len(generator.tree_) == 8
    with pytest.raises(ValueError, match="two different domain columns"):
        PrivatePGMSynthesizer(1.0, required=[("age", "bsn")])
