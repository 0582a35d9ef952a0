"""Aggregation under homomorphic encryption with TenSEAL: counts in BFV, model updates in CKKS.

The roles are those of a federated study with one key holder:

* the **key holder** (for example a trusted third party or the study's data access committee)
  makes an encryption context, keeps its secret key and hands everyone else a *public*
  context: the parameters and the public key, without the secret key;
* each **hospital** encrypts its vector (counts per cell, or a model update) under the public
  context and sends the ciphertext, as bytes;
* the **aggregator** adds the ciphertexts, which it can do without any key, and sends the
  encrypted total to the key holder;
* only the **key holder** can decrypt, and it should decrypt the total only.

BFV (Brakerski 2012; Fan and Vercauteren 2012) computes exactly on integers modulo a
plaintext modulus; CKKS (Cheon, Kim, Kim and Song 2017) computes approximately on real
numbers. Both come from Microsoft SEAL through TenSEAL (Benaissa et al. 2021).

What this protects and what it does not (the notebook demonstrates each point):

* the aggregator sees ciphertexts only, and cannot decrypt them;
* nothing protects integrity: the aggregator can leave a hospital out, count one twice or add
  a number of its own, and the key holder decrypts a wrong total without noticing;
* the key holder can decrypt every single hospital's ciphertext if it ever receives one: the
  scheme trusts it completely (threshold schemes split the secret key among several parties);
* CKKS decryptions are approximate and their exact error reveals information about the secret
  key (Li and Micciancio, 2021): :meth:`KeyHolder.decrypt` therefore rounds CKKS results to a
  stated number of decimals, which drops the low-order error bits; that is a mitigation, not a
  proof (the robust fix is noise flooding before decoding), and a decrypted CKKS value that
  is not rounded must never be shared.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import tenseal as ts

__all__ = [
    "BFV_PLAIN_MODULUS",
    "CKKS_DECIMALS",
    "KeyHolder",
    "aggregate",
    "encrypt",
]

#: Plaintext modulus of the BFV context: a prime congruent to 1 modulo 2 * 4096 (twice the
#: ring degree), so that a vector of integers can be packed into one ciphertext (batching).
#: Sums must stay within (-BFV_PLAIN_MODULUS / 2, BFV_PLAIN_MODULUS / 2).
BFV_PLAIN_MODULUS: int = 1_032_193

#: Decimals kept when the key holder decrypts a CKKS total (see the module docstring).
CKKS_DECIMALS: int = 6

_POLY_DEGREE = {"bfv": 4096, "ckks": 8192}
_SCHEMES = {"bfv": ts.SCHEME_TYPE.BFV, "ckks": ts.SCHEME_TYPE.CKKS}
_MAX_SLOTS = {"bfv": 4096, "ckks": 4096}
#: Largest absolute CKKS input accepted; with a scale of 2**40 and a 60-bit first modulus
#: values of this size and sums of many of them stay far from overflow.
_CKKS_MAX_ABS = 1e6


def _check_scheme(scheme: object) -> str:
    if scheme not in _SCHEMES:
        raise ValueError(
            f"scheme must be 'bfv' (integers) or 'ckks' (real numbers), got {scheme!r}"
        )
    return str(scheme)


def _make_context(scheme: str) -> ts.Context:
    if scheme == "bfv":
        return ts.context(
            ts.SCHEME_TYPE.BFV,
            poly_modulus_degree=_POLY_DEGREE["bfv"],
            plain_modulus=BFV_PLAIN_MODULUS,
        )
    context = ts.context(
        ts.SCHEME_TYPE.CKKS,
        poly_modulus_degree=_POLY_DEGREE["ckks"],
        coeff_mod_bit_sizes=[60, 40, 40, 60],
    )
    context.global_scale = 2**40
    return context


def _public_context(serialised: bytes) -> ts.Context:
    if not isinstance(serialised, bytes | bytearray):
        raise TypeError("the public context must be the bytes from KeyHolder.public_context()")
    context = ts.context_from(bytes(serialised))
    if context.is_private():
        raise ValueError(
            "this context holds a secret key: hospitals and the aggregator must only ever "
            "receive the public context (KeyHolder.public_context())"
        )
    return context


def _check_vector(values: object, scheme: str) -> list:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
        raise TypeError("values must be a list or array of numbers")
    values = list(np.asarray(values).ravel()) if isinstance(values, np.ndarray) else list(values)
    if not values:
        raise ValueError("values must not be empty")
    if len(values) > _MAX_SLOTS[scheme]:
        raise ValueError(f"at most {_MAX_SLOTS[scheme]} values fit in one ciphertext")
    if scheme == "bfv":
        for v in values:
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError("BFV encrypts whole numbers only; use scheme='ckks' for reals")
        if any(abs(int(v)) >= BFV_PLAIN_MODULUS // 2 for v in values):
            raise ValueError("a value is outside the BFV plaintext range (+/- plain modulus / 2)")
        return [int(v) for v in values]
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError("CKKS encrypts real numbers only")
    floats = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(floats)):
        raise ValueError("CKKS values must be finite (no NaN or infinity)")
    if np.any(np.abs(floats) > _CKKS_MAX_ABS):
        raise ValueError(f"CKKS values must lie within +/- {_CKKS_MAX_ABS:g}")
    return floats.tolist()


def encrypt(public_context: bytes, values: Sequence[int] | Sequence[float]) -> bytes:
    """What a hospital runs: encrypt ``values`` under the key holder's public context.

    The scheme follows from the context (BFV: whole numbers; CKKS: real numbers). Returns the
    serialised ciphertext, the bytes that travel to the aggregator.
    """
    context = _public_context(public_context)
    scheme = "bfv" if _is_bfv(context) else "ckks"
    values = _check_vector(values, scheme)
    if scheme == "bfv":
        return ts.bfv_vector(context, values).serialize()
    return ts.ckks_vector(context, values).serialize()


def _is_bfv(context: ts.Context) -> bool:
    # TenSEAL has no public "which scheme" accessor on a context; a BFV context refuses to
    # build a CKKS vector, so probe with the cheapest call that tells them apart.
    try:
        context.global_scale  # noqa: B018  (raises on a BFV context)
    except ValueError:
        return True
    return False


def _load(context: ts.Context, ciphertext: bytes, scheme: str):
    if not isinstance(ciphertext, bytes | bytearray):
        raise TypeError("each ciphertext must be the bytes returned by encrypt()")
    loader = ts.bfv_vector_from if scheme == "bfv" else ts.ckks_vector_from
    try:
        return loader(context, bytes(ciphertext))
    except Exception as error:  # TenSEAL raises several types for malformed input
        raise ValueError(f"not a {scheme.upper()} ciphertext for this context") from error


def aggregate(public_context: bytes, ciphertexts: Sequence[bytes]) -> bytes:
    """What the aggregator runs: add the hospitals' ciphertexts, without any secret key.

    All ciphertexts must encrypt vectors of the same length (TenSEAL refuses to add others).
    Returns the serialised encrypted total.
    """
    context = _public_context(public_context)
    scheme = "bfv" if _is_bfv(context) else "ckks"
    if isinstance(ciphertexts, bytes | bytearray) or len(ciphertexts) == 0:
        raise ValueError("aggregate needs a non-empty list of ciphertexts")
    vectors = [_load(context, c, scheme) for c in ciphertexts]
    sizes = {v.size() for v in vectors}
    if len(sizes) != 1:
        raise ValueError("the ciphertexts encrypt vectors of different lengths")
    total = vectors[0]
    for vector in vectors[1:]:
        total = total + vector
    return total.serialize()


@dataclass
class KeyHolder:
    """Holds a TenSEAL context with its secret key; hands out the public part only.

    >>> holder = KeyHolder("bfv")
    >>> public = holder.public_context()
    >>> total = aggregate(public, [encrypt(public, [1, 2]), encrypt(public, [3, 4])])
    >>> holder.decrypt(total)
    [4, 6]
    """

    scheme: str

    def __post_init__(self) -> None:
        self.scheme = _check_scheme(self.scheme)
        self._context = _make_context(self.scheme)

    def public_context(self) -> bytes:
        """The context without its secret key: what hospitals and the aggregator receive."""
        return self._context.serialize(save_secret_key=False)

    def decrypt(self, ciphertext: bytes) -> list[int] | list[float]:
        """Decrypt a (total) ciphertext. CKKS results are rounded to :data:`CKKS_DECIMALS`.

        The key holder can decrypt *any* ciphertext made under its key, a single hospital's
        included: nothing in the scheme stops it. Procedures and audits must.
        """
        vector = _load(self._context, ciphertext, self.scheme)
        values = vector.decrypt()
        if self.scheme == "bfv":
            return [int(v) for v in values]
        return [round(float(v), CKKS_DECIMALS) for v in values]
