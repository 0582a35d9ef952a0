"""Tests for healthdatalab.homomorphic: encrypted aggregation with TenSEAL (BFV and CKKS)."""

from __future__ import annotations

import numpy as np
import pytest
import tenseal as ts

from healthdatalab.homomorphic import (
    BFV_PLAIN_MODULUS,
    CKKS_DECIMALS,
    KeyHolder,
    aggregate,
    encrypt,
)


@pytest.fixture(scope="module")
def bfv() -> KeyHolder:
    return KeyHolder("bfv")


@pytest.fixture(scope="module")
def ckks() -> KeyHolder:
    return KeyHolder("ckks")


def test_bfv_sum_is_exact_including_negative_values(bfv):
    public = bfv.public_context()
    rng = np.random.default_rng(3)
    counts = rng.integers(-5_000, 5_000, size=(7, 12))
    total = aggregate(public, [encrypt(public, row.tolist()) for row in counts])
    assert bfv.decrypt(total) == counts.sum(axis=0).tolist()


def test_ckks_sum_is_within_the_stated_tolerance(ckks):
    public = ckks.public_context()
    rng = np.random.default_rng(4)
    updates = rng.normal(0, 2, size=(10, 8))
    encrypted = aggregate(public, [encrypt(public, u.tolist()) for u in updates])
    total = np.array(ckks.decrypt(encrypted))
    assert np.max(np.abs(total - updates.sum(axis=0))) <= 10 ** -(CKKS_DECIMALS - 1)
    # the key holder rounds what it releases: no more decimals than CKKS_DECIMALS
    assert np.allclose(total, np.round(total, CKKS_DECIMALS), rtol=0, atol=1e-12)


def test_public_context_cannot_decrypt(bfv):
    public = bfv.public_context()
    context = ts.context_from(public)
    assert not context.is_private()
    ciphertext = ts.bfv_vector_from(context, encrypt(public, [42]))
    with pytest.raises(ValueError, match="secret"):
        ciphertext.decrypt()


def test_ciphertexts_of_the_same_value_differ(bfv):
    public = bfv.public_context()
    assert encrypt(public, [7, 7]) != encrypt(public, [7, 7])  # randomised encryption


def test_a_private_context_is_refused_as_public(bfv):
    private = bfv._context.serialize(save_secret_key=True)
    with pytest.raises(ValueError, match="secret key"):
        encrypt(private, [1])


def test_two_key_holders_do_not_decrypt_each_other(bfv):
    other = KeyHolder("bfv")
    ciphertext = encrypt(bfv.public_context(), [123, 456])
    assert other.decrypt(ciphertext) != [123, 456]


def test_no_integrity_the_aggregator_can_add_its_own_number(bfv):
    public = bfv.public_context()
    honest = [encrypt(public, [10, 20]), encrypt(public, [30, 40])]
    forged = aggregate(public, [*honest, encrypt(public, [1000, 0])])
    assert bfv.decrypt(forged) == [1040, 60]  # decrypts without complaint


@pytest.mark.parametrize(
    ("scheme", "values", "error", "message"),
    [
        ("bfv", [1.5], TypeError, "whole numbers"),
        ("bfv", [True], TypeError, "whole numbers"),
        ("bfv", [BFV_PLAIN_MODULUS], ValueError, "plaintext range"),
        ("bfv", [], ValueError, "empty"),
        ("bfv", "12", TypeError, "list or array"),
        ("ckks", [float("nan")], ValueError, "finite"),
        ("ckks", [1e7], ValueError, "within"),
        ("ckks", ["a"], TypeError, "real numbers"),
    ],
)
def test_bad_values_get_clear_errors_without_the_value(bfv, ckks, scheme, values, error, message):
    holder = bfv if scheme == "bfv" else ckks
    with pytest.raises(error, match=message) as caught:
        encrypt(holder.public_context(), values)
    for value in values if isinstance(values, list) else []:
        assert repr(value) not in str(caught.value)  # no data value in an error message


def test_too_many_values_for_one_ciphertext(bfv):
    with pytest.raises(ValueError, match="at most 4096"):
        encrypt(bfv.public_context(), [1] * 4097)


def test_aggregate_checks_its_input(bfv, ckks):
    public = bfv.public_context()
    with pytest.raises(ValueError, match="non-empty"):
        aggregate(public, [])
    with pytest.raises(TypeError, match="bytes returned by encrypt"):
        aggregate(public, ["not bytes"])
    with pytest.raises(ValueError, match="BFV ciphertext"):
        aggregate(public, [b"garbage"])
    with pytest.raises(ValueError, match="different lengths"):
        aggregate(public, [encrypt(public, [1, 2]), encrypt(public, [1, 2, 3])])
    with pytest.raises(TypeError, match="public context"):
        aggregate("text", [encrypt(public, [1])])


def test_unknown_scheme():
    with pytest.raises(ValueError, match="'bfv'"):
        KeyHolder("paillier")
