"""One party of the MPyC secure sum; started by
:func:`healthdatalab.federation.secret_sharing.mpyc_secure_sum`.

Run as ``python -m healthdatalab.federation._mpc_party '[3, 5]' -M3 -I0 -B 20000 --no-log``:
the JSON list is this party's private input, the MPyC options say how many parties there
are, which one this is and on which local ports they listen. Every party prints the same
JSON list of sums.
"""

from __future__ import annotations

import json
import sys

from mpyc.runtime import mpc  # parses (and removes) the MPyC options from sys.argv


async def _secure_sum(private: list[int]) -> list[int]:
    secint = mpc.SecInt(64)  # secure 64-bit integers, secret-shared among the parties
    await mpc.start()
    shared = [mpc.input(secint(value)) for value in private]  # one list per input value
    totals = [await mpc.output(mpc.sum(per_party)) for per_party in shared]
    await mpc.shutdown()
    return [int(total) for total in totals]


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(
            "usage: python -m healthdatalab.federation._mpc_party '[integers]' -M m -I i"
        )
    private = json.loads(sys.argv[1])
    if not isinstance(private, list) or not all(isinstance(v, int) for v in private):
        raise SystemExit("the private input must be a JSON list of integers")
    print(json.dumps({"party": mpc.pid, "sums": mpc.run(_secure_sum(private))}))


if __name__ == "__main__":
    main()
