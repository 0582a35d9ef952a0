"""Throw-away certificates for the demonstrations' TLS, made with the ``cryptography`` package.

Both the MPyC parties (:mod:`.secret_sharing`) and the Flower deployment (``deploy/``) need a
certificate authority that lives for one run and certificates it signs. This module makes
them once, the same way: ECDSA keys on NIST P-384, SHA-384 signatures, validity starting five
minutes in the past (clock skew) and ending after the run, private keys written with mode 0600.
A real network uses certificates from its own public-key infrastructure instead, each private
key made and kept by the organisation it belongs to.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "Authority",
    "issue",
    "make_authority",
    "subject_names",
    "write_certificate",
    "write_private",
    "write_private_key",
]

ORGANISATION = "Health Data Sharing Playbook (demo)"
CURVE = ec.SECP384R1
HASH = hashes.SHA384


@dataclass(frozen=True)
class Authority:
    """A certificate authority for one run: its key, its certificate and its validity."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    valid_from: dt.datetime
    valid_to: dt.datetime


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def write_private(path: Path | str, data: bytes) -> None:
    """Write ``data`` to a file only its owner can read (mode 0600, set when it is created)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def write_private_key(
    path: Path | str,
    key: ec.EllipticCurvePrivateKey,
    form: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8,
) -> None:
    """Write an unencrypted private key as PEM (PKCS#8 unless ``form`` says otherwise)."""
    write_private(
        path, key.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption())
    )


def write_certificate(path: Path | str, certificate: x509.Certificate) -> None:
    """Write a certificate as PEM (public: ordinary file permissions)."""
    Path(path).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def make_authority(common_name: str, lifetime: dt.timedelta) -> Authority:
    """A fresh, self-signed certificate authority valid for ``lifetime`` from now."""
    if lifetime <= dt.timedelta(0):
        raise ValueError("lifetime must be positive")
    now = dt.datetime.now(dt.UTC)
    valid_from, valid_to = now - dt.timedelta(minutes=5), now + lifetime
    key = ec.generate_private_key(CURVE())
    name = _name(common_name)
    usage = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .sign(key, HASH())
    )
    return Authority(key, certificate, valid_from, valid_to)


def subject_names(names: tuple[str, ...] | list[str]) -> list[x509.GeneralName]:
    """Subject alternative names: IP addresses where a name parses as one, DNS names otherwise."""
    general: list[x509.GeneralName] = []
    for name in names:
        try:
            general.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            general.append(x509.DNSName(name))
    return general


def issue(
    authority: Authority,
    common_name: str,
    names: tuple[str, ...] | list[str],
    *,
    server: bool = False,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new key and a certificate for it, signed by ``authority``, valid as long as it is.

    ``names`` become the subject alternative names a peer checks; ``server`` adds the
    server-authentication extended key usage (for a TLS server such as the SuperLink).
    """
    if not names:
        raise ValueError("a certificate needs at least one subject alternative name")
    key = ec.generate_private_key(CURVE())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(authority.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(authority.valid_from)
        .not_valid_after(authority.valid_to)
        .add_extension(x509.SubjectAlternativeName(subject_names(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    return key, builder.sign(authority.key, HASH())
