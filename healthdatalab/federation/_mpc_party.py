"""One party of the MPyC secure sum; started by
:func:`healthdatalab.federation.secret_sharing.mpyc_secure_sum`.

Run as ``python -m healthdatalab.federation._mpc_party -M3 -I0 -B 20000 --no-log [--ssl]``
with this party's private input, ``{"values": [integers], "min_count": 10 or null}``, on
**standard input**. With a ``min_count``, a sum is opened only when it reaches that count
(the check runs on secret-shared values; the others come back as ``null``). The private
input never appears on the command line, where every user of the machine could read it (with
``ps`` or in ``/proc``). The MPyC options say how many parties there are, which one this is and
on which local ports they listen; ``--ssl`` makes MPyC use mutually authenticated TLS, with
the certificates in ``.config/`` of the working directory. Every party prints the same JSON
list of sums.

MPyC's runtime opens its listening socket without naming an address, which means every
network interface. This module makes that socket listen on the loopback interface
(127.0.0.1) only, so no other machine can connect to a party of the demonstration.
"""

from __future__ import annotations

import functools
import json
import sys

from mpyc.runtime import mpc  # parses (and removes) the MPyC options from sys.argv

#: The only address a party of the demonstration listens on.
LOOPBACK = "127.0.0.1"


def _listen_on_loopback_only() -> None:
    """Make MPyC's ``create_server`` bind to :data:`LOOPBACK` instead of every interface."""
    loop = mpc._loop
    original = loop.create_server
    if getattr(original, "loopback_only", False):
        return
    bound = functools.partial(original, host=LOOPBACK)
    bound.loopback_only = True  # type: ignore[attr-defined]
    loop.create_server = bound


async def _secure_sum(private: list[int], min_count: int | None) -> list[int | None]:
    secint = mpc.SecInt(64)  # secure 64-bit integers, secret-shared among the parties
    await mpc.start()
    shared = [mpc.input(secint(value)) for value in private]  # one list per input value
    totals = [mpc.sum(per_party) for per_party in shared]
    if min_count is None:
        opened = [int(await mpc.output(total)) for total in totals]
    else:
        # The small-cell check runs inside the computation: only whether each total reaches
        # min_count is opened, and a total only if it does. No party ever sees a small total.
        opened = []
        for total in totals:
            passes = await mpc.output(total >= min_count)
            opened.append(int(await mpc.output(total)) if passes else None)
    await mpc.shutdown()
    return opened


def main() -> None:
    if len(sys.argv) != 1:
        raise SystemExit(
            "usage: python -m healthdatalab.federation._mpc_party -M m -I i -B port "
            "< private-input.json (the private input is read from standard input, never "
            "from the command line)"
        )
    try:
        message = json.loads(sys.stdin.read())
    except json.JSONDecodeError:
        raise SystemExit("the private input on standard input is not valid JSON") from None
    private = message.get("values") if isinstance(message, dict) else None
    min_count = message.get("min_count") if isinstance(message, dict) else None
    if not isinstance(private, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in private
    ):
        raise SystemExit('the private input must be {"values": [integers], "min_count": ...}')
    if min_count is not None and (isinstance(min_count, bool) or not isinstance(min_count, int)):
        raise SystemExit("min_count must be an integer or null")
    _listen_on_loopback_only()
    sums = mpc.run(_secure_sum(private, min_count))
    print(json.dumps({"party": mpc.pid, "sums": sums}))


if __name__ == "__main__":
    main()
