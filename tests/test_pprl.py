"""Tests for healthdatalab.pprl: Bloom-filter encoding, linkage, hardening and the attacks."""

from __future__ import annotations

import datetime as dt
import secrets

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthdatalab.pprl import (
    BloomEncoder,
    blip,
    dice_matrix,
    dictionary_attack,
    frequency_attack,
    link,
    linkage_quality,
    make_linkage_data,
    normalise,
    qgrams,
    surname_frequencies,
    to_bitstrings,
    xor_fold,
)

FIELDS = ["first_name", "surname", "date_of_birth"]


@pytest.fixture(scope="module")
def holders():
    return make_linkage_data(400, seed=3)


def test_qgrams_are_padded_and_unique():
    assert qgrams("Jan") == ["_j", "ja", "an", "n_"]
    assert qgrams("Anna", 3) == ["__a", "_an", "ann", "nna", "na_", "a__"]
    assert qgrams("aa", pad=False) == ["aa"]
    assert qgrams("") == [] and qgrams(None) == []
    assert normalise(" De Vries-Jansen ") == "devriesjansen"
    assert normalise(pd.Timestamp("1980-02-03")) == "19800203"


@pytest.mark.parametrize(
    "missing", [None, float("nan"), np.float32("nan"), pd.NA, pd.NaT, np.datetime64("NaT")]
)
def test_every_missing_value_normalises_to_empty(missing):
    # pd.NaT used to become "nat", and so a pseudonym shared by every record missing a date.
    assert normalise(missing) == ""
    assert qgrams(missing) == []


@pytest.mark.parametrize(
    "day",
    [
        pd.Timestamp("1980-02-03"),
        pd.Timestamp("1980-02-03 14:30"),
        dt.date(1980, 2, 3),
        dt.datetime(1980, 2, 3, 14, 30),
        np.datetime64("1980-02-03"),
        np.datetime64("1980-02-03T14:30"),
    ],
)
def test_a_date_normalises_to_its_day_whatever_its_type(day):
    assert normalise(day) == "19800203"


def test_encoding_is_deterministic_per_key_and_differs_between_keys():
    key = secrets.token_bytes(32)
    one = BloomEncoder(key=key).encode(["Jansen", "Jansen", "Bakker"])
    again = BloomEncoder(key=key).encode(["Jansen"])
    other = BloomEncoder(key=secrets.token_bytes(32)).encode(["Jansen"])
    assert one.dtype == bool and one.shape == (3, 1024)
    assert np.array_equal(one[0], one[1]) and np.array_equal(one[0], again[0])
    assert not np.array_equal(one[0], other[0])
    assert 0 < one[0].sum() <= 7 * 20  # 7 bigrams of "_jansen_", 20 positions each


def test_similar_names_are_more_similar_than_different_names():
    enc = BloomEncoder.with_random_key()
    f = enc.encode(["Jansen", "Janssen", "Bakker"])
    dice = dice_matrix(f, f)
    assert np.allclose(np.diag(dice), 1.0)
    assert dice[0, 1] > 0.75 > 0.3 > dice[0, 2]


def test_salts_separate_equal_values():
    enc = BloomEncoder.with_random_key()
    f = enc.encode(["Jansen", "Jansen", "Jansen"], salts=[1980, 1981, 1980])
    assert np.array_equal(f[0], f[2])
    assert dice_matrix(f[:1], f[1:2])[0, 0] < 0.3


@settings(max_examples=20, deadline=None)
@given(st.text(alphabet="abcdefghij", min_size=1, max_size=12))
def test_a_filter_holds_every_position_of_its_qgrams(value):
    enc = BloomEncoder(key=b"k" * 16, size=256, hashes=5)
    row = enc.encode([value])[0]
    for gram in qgrams(value):
        assert row[enc._positions("||" + gram)].all()


def test_linkage_is_accurate_despite_typing_errors(holders):
    a, b, truth = holders
    enc = BloomEncoder.with_random_key()
    links = link(enc.encode_records(a, FIELDS), enc.encode_records(b, FIELDS), threshold=0.85)
    quality = linkage_quality(links, truth)
    assert quality.precision >= 0.9 and quality.recall >= 0.9
    # exact matching on the plain values misses every pair with a typing error
    key_a = a[FIELDS].astype(str).agg("|".join, axis=1)
    key_b = b[FIELDS].astype(str).agg("|".join, axis=1)
    exact = pd.DataFrame({"a": range(len(a)), "k": key_a}).merge(
        pd.DataFrame({"b": range(len(b)), "k": key_b}), on="k"
    )
    assert linkage_quality(exact, truth).recall < quality.recall - 0.2


def test_linkage_quality_counts():
    links = pd.DataFrame({"a": [0, 1, 2], "b": [0, 5, 2]})
    truth = pd.DataFrame({"a": [0, 1, 2, 3], "b": [0, 1, 2, 3]})
    q = linkage_quality(links, truth)
    assert (q.true_positives, q.false_positives, q.false_negatives) == (2, 1, 2)
    assert q.precision == pytest.approx(2 / 3) and q.recall == pytest.approx(0.5)
    assert q.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))


def test_make_linkage_data(holders):
    a, b, truth = holders
    assert len(a) == len(b) == 400 and len(truth) == 200
    assert truth["a"].is_unique and truth["b"].is_unique
    same = a.loc[truth["a"], "surname"].to_numpy() == b.loc[truth["b"], "surname"].to_numpy()
    assert 0.7 < same.mean() < 0.95  # about one in five has a typing error
    shares = surname_frequencies()
    assert shares.is_monotonic_decreasing and shares.sum() == pytest.approx(1.0)
    again = make_linkage_data(400, seed=3)
    pd.testing.assert_frame_equal(a, again[0])


def test_dictionary_attack_breaks_unkeyed_filters_only(holders):
    a, _, _ = holders
    candidates = surname_frequencies().index.tolist()
    plain = BloomEncoder()
    filters = plain.encode(a["surname"])
    guesses = dictionary_attack(filters, candidates, plain)
    assert guesses == a["surname"].tolist()  # every surname recovered
    keyed = BloomEncoder.with_random_key().encode(a["surname"])
    guesses = dictionary_attack(keyed, candidates, BloomEncoder.with_random_key())
    assert all(g is None for g in guesses)


def test_frequency_attack_breaks_keyed_but_not_salted_filters():
    a, _, _ = make_linkage_data(1000, seed=5)
    known = surname_frequencies()
    enc = BloomEncoder.with_random_key()
    truth = a["surname"].to_numpy()
    keyed = frequency_attack(enc.encode(a["surname"]), known)
    right_keyed = np.mean([g == t for g, t in zip(keyed, truth, strict=True)])
    salted = enc.encode(a["surname"], salts=a["year_of_birth"])
    right_salted = np.mean(
        [g == t for g, t in zip(frequency_attack(salted, known), truth, strict=True)]
    )
    assert right_keyed >= 0.3
    assert right_salted <= 0.05


def test_blip_and_xor_fold():
    f = BloomEncoder.with_random_key().encode(["Jansen", "Bakker"])
    flipped = blip(f, 0.1, np.random.default_rng(0))
    assert 0.05 < np.mean(flipped != f) < 0.15
    assert np.array_equal(blip(f, 0.0), f)
    folded = xor_fold(f)
    assert folded.shape == (2, 512)
    assert np.array_equal(folded, f[:, :512] ^ f[:, 512:])
    assert to_bitstrings(f[:, :4].copy()) == [
        "".join("1" if x else "0" for x in r) for r in f[:, :4]
    ]


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: BloomEncoder(key=b"short"), ValueError, "16 bytes"),
        (lambda: BloomEncoder(key="a string key long enough"), TypeError, "bytes"),
        (lambda: BloomEncoder(size=10), ValueError, "size"),
        (lambda: BloomEncoder(hashes=0), ValueError, "hashes"),
        (lambda: BloomEncoder().encode("Jansen"), TypeError, "list"),
        (lambda: BloomEncoder().encode(["a", "b"], salts=[1]), ValueError, "salts"),
        (lambda: BloomEncoder().encode_records(pd.DataFrame({"x": [1]}), ["y"]), KeyError, "y"),
        (lambda: dice_matrix(np.ones((1, 8), bool), np.ones((1, 9), bool)), ValueError, "length"),
        (lambda: dice_matrix(np.ones((1, 8)), np.ones((1, 8), bool)), TypeError, "boolean"),
        (lambda: link(np.ones((1, 8), bool), np.ones((1, 8), bool), 0.0), ValueError, "threshold"),
        (lambda: blip(np.ones((1, 8), bool), 0.5), ValueError, "flip_probability"),
        (lambda: xor_fold(np.ones((1, 9), bool)), ValueError, "even"),
        (lambda: frequency_attack(np.ones((1, 8), bool), {}), ValueError, "non-empty"),
        (lambda: make_linkage_data(5), ValueError, "n must"),
        (lambda: qgrams("x", 0), ValueError, "q must"),
    ],
)
def test_bad_input_gets_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_errors_never_contain_values_or_keys():
    key = secrets.token_bytes(8)
    with pytest.raises(ValueError) as caught:
        BloomEncoder(key=key)
    assert key.hex() not in str(caught.value) and repr(key) not in str(caught.value)
    assert "key" not in repr(BloomEncoder(key=secrets.token_bytes(32)))
    with pytest.raises(ValueError) as caught:
        BloomEncoder().encode(["Verysecretname", "b"], salts=["1999"])
    assert "Verysecretname" not in str(caught.value) and "1999" not in str(caught.value)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(alphabet="abcdefgh", min_size=1, max_size=10), min_size=1, max_size=8))
def test_dice_is_symmetric_bounded_and_one_on_the_diagonal(names):
    filters = BloomEncoder(key=b"k" * 16, size=128, hashes=4).encode(names)
    dice = dice_matrix(filters, filters)
    assert np.allclose(dice, dice.T)
    assert ((dice >= 0) & (dice <= 1 + 1e-9)).all()
    assert np.allclose(np.diag(dice), 1.0)


def test_link_pairs_each_record_at_most_once(holders):
    a, b, _ = holders
    enc = BloomEncoder.with_random_key()
    links = link(enc.encode_records(a, FIELDS), enc.encode_records(b, FIELDS), threshold=0.5)
    assert links["a"].is_unique and links["b"].is_unique
    assert (links["dice"] >= 0.5).all()


def test_grouping_similar_filters_undoes_small_bit_flips():
    """BLIP at 5 %: exact grouping finds nothing, grouping by similarity finds the names."""
    a, _, _ = make_linkage_data(1000, seed=5)
    known = surname_frequencies()
    flipped = blip(BloomEncoder.with_random_key().encode(a["surname"]), 0.05)
    truth = a["surname"].to_numpy()
    exact = frequency_attack(flipped, known)
    similar = frequency_attack(flipped, known, similarity=0.6)
    assert all(g is None for g in exact)
    assert np.mean([g == t for g, t in zip(similar, truth, strict=True)]) >= 0.15
