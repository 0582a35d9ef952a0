"""Additive secret sharing modulo a prime, by hand, and the same secure sum with MPyC.

The random parts of every sharing come from :mod:`secrets`, the operating system's
cryptographically secure generator. A seeded generator (numpy's PCG64, say) must never be
used: whoever knows or guesses the seed can regenerate every random part and subtract it from
the shares they hold, which recovers each input exactly (see :func:`recover_seeded_inputs`).
Reproducible tests and notebooks therefore assert *properties* of the shares (they add up,
they are uniform), never the share values themselves.
"""

from __future__ import annotations

import datetime
import json
import numbers
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass

import numpy as np

PRIME: int = 2**61 - 1


# --------------------------------------------------------------------------------------------
# Additive secret sharing
# --------------------------------------------------------------------------------------------


def _check_modulus(modulus: int) -> int:
    if isinstance(modulus, bool) or not isinstance(modulus, numbers.Integral) or modulus < 2:
        raise ValueError(f"modulus must be an integer of at least 2, got {modulus!r}")
    return int(modulus)


def _random_parts(count: int, modulus: int) -> list[int]:
    """``count`` independent uniform numbers from 0 to ``modulus - 1``, from :mod:`secrets`."""
    return [secrets.randbelow(modulus) for _ in range(count)]


def _refuse_rng(rng: object) -> None:
    if rng is not None:
        raise TypeError(
            "shares are drawn from the secrets module, never from a caller's generator: a "
            "seeded generator lets anyone who knows the seed recover the secret; drop the "
            "rng argument"
        )


def share_secret(
    secret: int, n_shares: int, rng: None = None, *, modulus: int = PRIME
) -> list[int]:
    """Split an integer into ``n_shares`` numbers that add up to it modulo ``modulus``.

    The first ``n_shares - 1`` shares are uniform random draws from :mod:`secrets` (the
    operating system's cryptographically secure generator); the last one makes the sum right.
    Any ``n_shares - 1`` of them are therefore uniformly distributed whatever the secret, so
    they reveal nothing about it. Negative secrets are stored as ``secret % modulus`` (see
    :func:`to_signed`). Passing a random generator (``rng``) is refused with TypeError: the
    shares must not be reproducible.
    """
    _refuse_rng(rng)
    modulus = _check_modulus(modulus)
    if isinstance(secret, bool) or not isinstance(secret, numbers.Integral):
        raise TypeError(f"secret must be an integer, got {type(secret).__name__}")
    if isinstance(n_shares, bool) or not isinstance(n_shares, numbers.Integral) or n_shares < 2:
        raise ValueError(f"n_shares must be an integer of at least 2, got {n_shares!r}")
    random_shares = _random_parts(int(n_shares) - 1, modulus)
    last = (int(secret) - sum(random_shares)) % modulus
    return [*random_shares, last]


def recover_seeded_inputs(
    shares_seen: Sequence[int],
    seed: int,
    *,
    n_shares: int,
    modulus: int = PRIME,
) -> list[int]:
    """The attack on shares drawn from a *seeded* numpy generator, for teaching.

    Suppose hospital ``i`` drew the random parts of its sharing with
    ``numpy.random.default_rng(seed).integers(0, modulus, size=n_shares - 1)``, one draw per
    input in order, and sent the last share (``shares_seen[i]``) to one computing party. That
    party regenerates the random parts from the seed and adds them back: it recovers every
    input exactly. Returns the recovered inputs (as signed integers).
    """
    modulus = _check_modulus(modulus)
    rng = np.random.default_rng(seed)
    recovered = []
    for last in shares_seen:
        parts = [int(v) for v in rng.integers(0, modulus, size=int(n_shares) - 1)]
        recovered.append(to_signed((int(last) + sum(parts)) % modulus, modulus=modulus))
    return recovered


def reconstruct(shares: Sequence[int], *, modulus: int = PRIME) -> int:
    """Add all shares modulo ``modulus`` (a value from 0 to modulus - 1)."""
    modulus = _check_modulus(modulus)
    if len(shares) == 0:
        raise ValueError("need at least one share to reconstruct")
    for s in shares:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or not 0 <= s < modulus:
            raise ValueError(f"every share must be an integer from 0 to modulus - 1, got {s!r}")
    return sum(int(s) for s in shares) % modulus


def to_signed(value: int, *, modulus: int = PRIME) -> int:
    """Read a residue modulo ``modulus`` as a signed integer (upper half means negative)."""
    modulus = _check_modulus(modulus)
    value = int(value) % modulus
    return value - modulus if value > modulus // 2 else value


@dataclass(frozen=True)
class SecureSumResult:
    """A secure sum and what each party saw.

    ``shares[i][j]`` is the share hospital ``i`` sent to party ``j``; ``partial_sums[j]`` is
    what party ``j`` forwards to the aggregator, which only ever sees these partial sums.
    """

    total: int
    shares: tuple[tuple[int, ...], ...]
    partial_sums: tuple[int, ...]


def secure_sum(
    values: Sequence[int],
    rng: None = None,
    *,
    n_parties: int | None = None,
    modulus: int = PRIME,
) -> SecureSumResult:
    """Sum private integers by additive secret sharing among ``n_parties`` computing parties.

    By default there are as many parties as inputs (at least two). Each input is split into
    one share per party; each party adds the shares it received; the
    aggregator adds the partial sums. No party and not the aggregator sees an input. The total
    is exact as long as the true sum lies in ``(-modulus / 2, modulus / 2)``. The shares come
    from :mod:`secrets` (see :func:`share_secret`); an ``rng`` is refused.
    """
    _refuse_rng(rng)
    modulus = _check_modulus(modulus)
    if len(values) == 0:
        raise ValueError("secure_sum needs at least one value")
    n_parties = max(len(values), 2) if n_parties is None else n_parties
    bound = sum(abs(int(v)) for v in values)
    if bound >= modulus // 2:
        raise ValueError(
            f"the values are too large for modulus {modulus}: their sum could wrap around"
        )
    shares = [share_secret(int(v), n_parties, modulus=modulus) for v in values]
    partial = [sum(row[j] for row in shares) % modulus for j in range(n_parties)]
    total = to_signed(reconstruct(partial, modulus=modulus), modulus=modulus)
    return SecureSumResult(
        total=total,
        shares=tuple(tuple(row) for row in shares),
        partial_sums=tuple(partial),
    )


def encode_fixed_point(value: float, *, scale: int = 2**20) -> int:
    """Turn a real number into an integer that can be secret-shared (rounded to 1/scale)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"value must be a real number, got {type(value).__name__}")
    if not np.isfinite(value):
        raise ValueError(f"value must be finite, got {value}")
    return int(round(float(value) * scale))


def decode_fixed_point(value: int, *, scale: int = 2**20) -> float:
    """Undo :func:`encode_fixed_point`."""
    return int(value) / scale


def _free_port_block(size: int, attempts: int = 50) -> int:
    """A base port such that ``size`` consecutive ports on 127.0.0.1 are free right now."""
    rng = np.random.default_rng()
    for _ in range(attempts):
        base = int(rng.integers(20_000, 60_000 - size))
        sockets = []
        try:
            for port in range(base, base + size):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError(f"found no {size} free consecutive ports on 127.0.0.1")


def write_tls_certificates(directory: str, n_parties: int) -> None:
    """Write a throw-away certificate authority and one certificate per party for MPyC.

    MPyC's ``--ssl`` option reads ``.config/mpyc_ca.crt``, ``.config/party_{i}.crt`` and
    ``.config/party_{i}.key`` from its working directory and runs mutually authenticated TLS:
    each party checks that its peer's certificate was signed by the authority and names
    ``MPyC party {i}``. Here the authority lives for one demonstration; its private key is
    never written to disk. A real deployment uses certificates issued by the federation's own
    public-key infrastructure, one private key per organisation, kept by that organisation.
    """
    from healthdatalab.federation.certificates import (
        issue,
        make_authority,
        write_certificate,
        write_private_key,
    )

    config = os.path.join(directory, ".config")
    os.makedirs(config, mode=0o700, exist_ok=True)
    authority = make_authority("MPyC demonstration CA", datetime.timedelta(hours=1))
    write_certificate(os.path.join(config, "mpyc_ca.crt"), authority.certificate)
    for pid in range(n_parties):
        party_name = f"MPyC party {pid}"
        key, certificate = issue(authority, party_name, [party_name])
        write_certificate(os.path.join(config, f"party_{pid}.crt"), certificate)
        write_private_key(os.path.join(config, f"party_{pid}.key"), key)


def party_command(n_parties: int, pid: int, base_port: int, *, tls: bool) -> list[str]:
    """The command line of MPyC party ``pid``: options only, never the private input."""
    command = [
        sys.executable, "-m", "healthdatalab.federation._mpc_party",
        "-M", str(n_parties), "-I", str(pid), "-B", str(base_port), "--no-log",
    ]  # fmt: skip
    return [*command, "--ssl"] if tls else command


def mpyc_secure_sum(
    private_inputs: Sequence[Sequence[int]],
    *,
    timeout: float = 60.0,
    tls: bool = True,
    min_count: int | None = None,
) -> list[int | None]:
    """Sum vectors of integers with MPyC, one local process (party) per input vector.

    Party ``i`` receives only ``private_inputs[i]``, on its standard input (never on its
    command line, which other users of the machine can read). The parties listen on
    127.0.0.1 only and run MPyC's protocols over TCP; with ``tls=True`` (the default) every
    connection is mutually authenticated TLS with certificates from
    :func:`write_tls_certificates`. All parties learn the element-wise sums, which are
    returned. Every process is stopped by its process group, also on error or after
    ``timeout`` seconds. Values must fit in 64-bit signed integers.

    With ``min_count``, the small-cell check runs *inside* the computation: the parties
    compare each secret-shared total with ``min_count`` and open only the totals that reach
    it; the others are returned as ``None`` (zeros count as small). Nobody, not even the
    parties, sees a withheld total; everybody learns which cells were withheld.
    """
    vectors = [list(v) for v in private_inputs]
    if len(vectors) < 2:
        raise ValueError("a secure sum needs at least two parties")
    if len({len(v) for v in vectors}) != 1 or len(vectors[0]) == 0:
        raise ValueError("every party needs a non-empty input vector of the same length")
    for vector in vectors:
        for value in vector:
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError("inputs must be integers")
            if abs(int(value)) >= 2**62 // len(vectors):
                raise ValueError("an input is too large for a 64-bit secure sum")
    if not isinstance(tls, bool):
        raise TypeError("tls must be True or False")
    if min_count is not None and (
        isinstance(min_count, bool) or not isinstance(min_count, numbers.Integral) or min_count < 1
    ):
        raise ValueError(f"min_count must be a whole number of at least 1, got {min_count!r}")
    m = len(vectors)
    base = _free_port_block(m)
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    python_path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
    environment = {
        **os.environ, "MPYC_NOGMPY": "1", "PYTHONWARNINGS": "ignore", "PYTHONPATH": python_path,
    }  # fmt: skip
    processes: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="mpyc-") as workdir:
        if tls:
            write_tls_certificates(workdir, m)
        try:
            for i in range(m):
                processes.append(
                    subprocess.Popen(
                        party_command(m, i, base, tls=tls),
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                        env=environment,
                        cwd=workdir,
                        start_new_session=True,  # own process group, stopped below
                    )
                )
            for process, vector in zip(processes, vectors, strict=True):
                message = {"values": [int(v) for v in vector],
                           "min_count": None if min_count is None else int(min_count)}
                process.stdin.write(json.dumps(message))
                process.stdin.close()
                process.stdin = None  # sent in full; communicate() below only reads
            deadline = time.monotonic() + timeout
            results = []
            for process in processes:
                out, err = process.communicate(timeout=max(deadline - time.monotonic(), 0.1))
                if process.returncode != 0:
                    raise RuntimeError(f"an MPyC party failed: {err.strip()[-500:]}")
                results.append(json.loads(out.strip().splitlines()[-1])["sums"])
        finally:
            for process in processes:
                if process.poll() is None:
                    with suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
    if any(r != results[0] for r in results):
        raise RuntimeError("the MPyC parties disagree about the sum")
    return [None if v is None else int(v) for v in results[0]]
