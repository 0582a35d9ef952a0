"""Benchmark: summing hospitals' vectors in the clear, by secret sharing and under HE.

For 3, 10 and 50 hospitals, each holding a vector of 8 counts (events per age band) and a
model update of 7 real coefficients, the script sums them four ways and prints, per route:

* wall time of the whole aggregation (encrypting or sharing at every hospital, adding,
  decrypting or reconstructing), the median of three repetitions;
* bytes sent by all hospitals together, and bytes reaching whoever produces the total.

Routes: plain sum; additive secret sharing among three computing parties
(``healthdatalab.federation.secure_sum``, one cell at a time, eight bytes a share); BFV
(counts) and CKKS (coefficients) with TenSEAL through ``healthdatalab.homomorphic``. Key
generation is timed separately (it happens once per study). Every route's total is checked
against the plain sum (exactly for BFV and secret sharing, within 1e-6 for CKKS).

Run with ``.venv/bin/python benchmarks/bench_he.py`` (under a minute).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from healthdatalab import federation as fed
from healthdatalab.homomorphic import KeyHolder, aggregate, encrypt

HOSPITALS = (3, 10, 50)
CELLS, COEFFICIENTS, PARTIES, REPEATS = 8, 7, 3, 3


def timed(function) -> tuple[float, object]:
    runs, result = [], None
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = function()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs), result


def main() -> None:
    data_rng = np.random.default_rng(7)
    start = time.perf_counter()
    bfv = KeyHolder("bfv")
    bfv_keys = time.perf_counter() - start
    start = time.perf_counter()
    ckks = KeyHolder("ckks")
    ckks_keys = time.perf_counter() - start
    public_bfv, public_ckks = bfv.public_context(), ckks.public_context()
    print(
        f"key generation: BFV {1e3 * bfv_keys:.0f} ms, CKKS {1e3 * ckks_keys:.0f} ms; "
        f"public context BFV {len(public_bfv) / 1e3:,.0f} kB, "
        f"CKKS {len(public_ckks) / 1e3:,.0f} kB (sent once to every hospital)"
    )
    header = (
        f"{'hospitals':>9}  {'route':<25}{'time (ms)':>11}"
        f"{'sent by hospitals':>20}{'to decryptor':>15}"
    )
    print(header)
    print("-" * len(header))
    for n in HOSPITALS:
        counts = data_rng.integers(0, 500, size=(n, CELLS)).tolist()
        updates = data_rng.normal(0, 1, size=(n, COEFFICIENTS))
        plain_counts = np.sum(counts, axis=0).tolist()

        t, total = timed(lambda: np.sum(counts, axis=0).tolist())  # noqa: B023
        assert total == plain_counts
        rows = [("plain (counts)", t, n * CELLS * 8, n * CELLS * 8)]

        def shared(values=counts):
            return [
                fed.secure_sum([v[i] for v in values], n_parties=PARTIES).total
                for i in range(CELLS)
            ]

        t, total = timed(shared)
        assert total == plain_counts
        rows.append(("secret sharing (counts)", t, n * PARTIES * CELLS * 8, PARTIES * CELLS * 8))

        def bfv_sum(values=counts):
            ciphertexts = [encrypt(public_bfv, v) for v in values]
            encrypted = aggregate(public_bfv, ciphertexts)
            return bfv.decrypt(encrypted), sum(map(len, ciphertexts)), len(encrypted)

        t, (total, sent, received) = timed(bfv_sum)
        assert total == plain_counts
        rows.append(("BFV (counts)", t, sent, received))

        def ckks_sum(values=updates):
            ciphertexts = [encrypt(public_ckks, v.tolist()) for v in values]
            encrypted = aggregate(public_ckks, ciphertexts)
            return ckks.decrypt(encrypted), sum(map(len, ciphertexts)), len(encrypted)

        t, (total, sent, received) = timed(ckks_sum)
        assert np.max(np.abs(np.array(total) - updates.sum(axis=0))) <= 1e-6
        rows.append(("CKKS (coefficients)", t, sent, received))

        for route, seconds, sent, received in rows:
            print(f"{n:>9}  {route:<25}{1e3 * seconds:>11.1f}{sent:>20,}{received:>15,}")


if __name__ == "__main__":
    main()
