"""Certificates and SuperNode keys for one deployment run, made with ``cryptography``.

* a certificate authority (CA) that exists only for this run;
* a TLS certificate for the SuperLink, signed by that CA, valid for ``127.0.0.1`` (or the
  addresses given), so SuperNodes and the ``flwr`` CLI can check whom they talk to;
* one ECDSA key pair per SuperNode (NIST P-384, OpenSSH format, as Flower expects): the
  private key stays with the SuperNode, the public key is registered at the SuperLink with
  ``flwr supernode register``; a SuperNode whose key is not registered is refused.

Private keys are written with mode 0600. In a real network each hospital makes its own node key
and sends only the public key; the CA belongs to whoever runs the SuperLink (see
``sharing_methods/from_demo_to_deployment.md``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from healthdatalab.federation.certificates import (
    CURVE,
    issue,
    make_authority,
    write_certificate,
    write_private_key,
)


@dataclass(frozen=True)
class ServerCredentials:
    """Files the SuperLink and its clients need for TLS."""

    ca_certificate: Path
    certificate: Path
    private_key: Path


@dataclass(frozen=True)
class NodeKey:
    """One SuperNode's key pair (OpenSSH format)."""

    private_key: Path
    public_key: Path


def make_server_credentials(
    directory: Path, addresses: tuple[str, ...] = ("127.0.0.1",), days: int = 2
) -> ServerCredentials:
    """A fresh CA and a SuperLink certificate for ``addresses`` (IP addresses or host names)."""
    directory.mkdir(parents=True, exist_ok=True)
    authority = make_authority("run-local certificate authority", dt.timedelta(days=days))
    key, certificate = issue(authority, addresses[0], addresses, server=True)
    credentials = ServerCredentials(
        ca_certificate=directory / "ca.crt",
        certificate=directory / "superlink.crt",
        private_key=directory / "superlink.key",
    )
    write_certificate(credentials.ca_certificate, authority.certificate)
    write_certificate(credentials.certificate, certificate)
    write_private_key(credentials.private_key, key)
    return credentials


def make_node_key(directory: Path, name: str) -> NodeKey:
    """An ECDSA P-384 key pair in OpenSSH format, the form ``flower-supernode`` reads."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(CURVE())
    node = NodeKey(private_key=directory / name, public_key=directory / f"{name}.pub")
    write_private_key(node.private_key, key, serialization.PrivateFormat.OpenSSH)
    node.public_key.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        + b"\n"
    )
    return node
