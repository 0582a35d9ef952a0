"""Additive secret sharing modulo a prime, by hand, and the same secure sum with MPyC."""

from __future__ import annotations

import json
import numbers
import os
import signal
import socket
import subprocess
import sys
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


def share_secret(
    secret: int, n_shares: int, rng: np.random.Generator, *, modulus: int = PRIME
) -> list[int]:
    """Split an integer into ``n_shares`` numbers that add up to it modulo ``modulus``.

    The first ``n_shares - 1`` shares are uniform random draws; the last one makes the sum
    right. Any ``n_shares - 1`` of them are therefore uniformly distributed whatever the
    secret, so they reveal nothing about it. Negative secrets are stored as
    ``secret % modulus`` (see :func:`to_signed`).
    """
    modulus = _check_modulus(modulus)
    if isinstance(secret, bool) or not isinstance(secret, numbers.Integral):
        raise TypeError(f"secret must be an integer, got {type(secret).__name__} {secret!r}")
    if isinstance(n_shares, bool) or not isinstance(n_shares, numbers.Integral) or n_shares < 2:
        raise ValueError(f"n_shares must be an integer of at least 2, got {n_shares!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy Generator, e.g. numpy.random.default_rng(seed)")
    if modulus > 2**63:
        raise ValueError("modulus must be at most 2**63 so numpy can draw the shares")
    random_shares = [int(v) for v in rng.integers(0, modulus, size=int(n_shares) - 1)]
    last = (int(secret) - sum(random_shares)) % modulus
    return [*random_shares, last]


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
    rng: np.random.Generator,
    *,
    n_parties: int | None = None,
    modulus: int = PRIME,
) -> SecureSumResult:
    """Sum private integers by additive secret sharing among ``n_parties`` computing parties.

    By default there are as many parties as inputs (at least two). Each input is split into
    one share per party; each party adds the shares it received; the
    aggregator adds the partial sums. No party and not the aggregator sees an input. The total
    is exact as long as the true sum lies in ``(-modulus / 2, modulus / 2)``.
    """
    modulus = _check_modulus(modulus)
    if len(values) == 0:
        raise ValueError("secure_sum needs at least one value")
    n_parties = max(len(values), 2) if n_parties is None else n_parties
    bound = sum(abs(int(v)) for v in values)
    if bound >= modulus // 2:
        raise ValueError(
            f"the values are too large for modulus {modulus}: their sum could wrap around"
        )
    shares = [share_secret(int(v), n_parties, rng, modulus=modulus) for v in values]
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


def mpyc_secure_sum(private_inputs: Sequence[Sequence[int]], *, timeout: float = 60.0) -> list[int]:
    """Sum vectors of integers with MPyC, one local process (party) per input vector.

    Party ``i`` receives only ``private_inputs[i]``; the parties run MPyC's protocols over
    TCP on 127.0.0.1 and all learn the element-wise sums, which are returned. Every process
    is stopped by its process group, also on error or after ``timeout`` seconds. Values must
    fit in 64-bit signed integers.
    """
    vectors = [list(v) for v in private_inputs]
    if len(vectors) < 2:
        raise ValueError("a secure sum needs at least two parties")
    if len({len(v) for v in vectors}) != 1 or len(vectors[0]) == 0:
        raise ValueError("every party needs a non-empty input vector of the same length")
    for vector in vectors:
        for value in vector:
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"inputs must be integers, got {value!r}")
            if abs(int(value)) >= 2**62 // len(vectors):
                raise ValueError(f"input {value} is too large for a 64-bit secure sum")
    m = len(vectors)
    base = _free_port_block(m)
    environment = {**os.environ, "MPYC_NOGMPY": "1", "PYTHONWARNINGS": "ignore"}
    processes: list[subprocess.Popen] = []
    try:
        for i, vector in enumerate(vectors):
            command = [
                sys.executable, "-m", "healthdatalab.federation._mpc_party",
                json.dumps([int(v) for v in vector]),
                "-M", str(m), "-I", str(i), "-B", str(base), "--no-log",
            ]  # fmt: skip
            processes.append(
                subprocess.Popen(
                    command,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=environment,
                    start_new_session=True,  # own process group, stopped below
                )
            )
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
    return [int(v) for v in results[0]]
