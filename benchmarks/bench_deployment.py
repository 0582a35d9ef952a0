"""Benchmark: the deployments' wall time and bytes per round, exact federated GLM vs FedAvg.

Starts the real deployments, one at a time, through the project's runners, each with one
SuperLink and three SuperNodes as separate processes on 127.0.0.1:

* FedAvg: ``deploy/run_deployment.py`` (TLS and SuperNode authentication, the default), the
  hospitals' logistic regression, 5 rounds of 20 local epochs;
* exact federated Newton GLM: ``deploy/run_network_study.py``, the OMOP network study whose
  regression runs one Newton step per round (each hospital returns its gradient and
  information matrix), plus one last round at the solution for the standard errors; its
  characterisation and incidence steps are printed apart.

Both ServerApps measure their own messages (``healthdatalab.federation.TrafficMeter``): the
bytes of every message and reply as Flower 1.41 serialises them for the SuperLink (the
message, its records, arrays and array chunks), without the gRPC, HTTP/2 and TLS framing, and
the seconds the ServerApp waited for each round's replies. Printed per model and cohort size:
the runner's wall time (cohort, files, processes, all rounds, comparison, shutdown), the time
until the result, the rounds, the mean seconds per round, the bytes to and from each hospital
per round, the payload alone (floats times 8 bytes) for comparison, and the largest
coefficient difference from the reference (FedAvg: the same FedAvg by hand; Newton: the pooled
fit on all hospitals' records).

Sizes: 10^4, 10^5 and 10^6 patients (``--skip-million`` leaves out 10^6, where the runners
first write a million synthetic patients to files and map them to OMOP). Run with
``.venv/bin/python benchmarks/bench_deployment.py`` (about fifteen minutes on two busy cores;
not while another Flower deployment runs).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FEDAVG_ROUNDS, LOCAL_EPOCHS = 5, 20
FLOAT_BYTES = 8


def runner(script: str, *arguments: str) -> tuple[dict, float]:
    """Run one deployment runner to the end; its JSON summary and wall seconds."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(ROOT / "deploy" / script), *arguments],
                          capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - start
    try:
        summary = json.loads(done.stdout)
    except json.JSONDecodeError:
        summary = {"ok": False, "error": "no JSON summary: " + done.stderr[-500:]}
    return summary, seconds


def row(model, n, wall, summary, kind, rounds, floats_out, floats_back, difference):
    per_round = kind["seconds"] / max(kind["exchanges"], 1)
    print(f"{model:<14} {n:>9,} {wall:>7.1f} {summary['deployment_seconds']:>9.1f} "
          f"{rounds:>6} {per_round:>8.2f} {kind['bytes_per_message_sent']:>9,.0f} "
          f"{kind['bytes_per_reply']:>9,.0f} {floats_out * FLOAT_BYTES:>7,} "
          f"{floats_back * FLOAT_BYTES:>7,} {difference:>9.1e}", flush=True)


def fedavg(n: int, timeout: float) -> None:
    summary, wall = runner("run_deployment.py", "-n", str(n), "--rounds", str(FEDAVG_ROUNDS),
                           "--local-epochs", str(LOCAL_EPOCHS), "--skip-simulation",
                           "--timeout", str(timeout))
    if not summary.get("ok"):
        print(f"{'FedAvg':<14} {n:>9,} failed after {wall:.0f} s: {summary.get('error')}")
        return
    kind = summary["traffic"]["train"]
    assert kind["exchanges"] == FEDAVG_ROUNDS and kind["replies"] == 3 * FEDAVG_ROUNDS
    coefficients = len(summary["weights"])
    # Out: the global coefficients; back: the local coefficients and two metrics.
    row("FedAvg", n, wall, summary, kind, FEDAVG_ROUNDS, coefficients, coefficients + 2,
        summary["max_difference_hand"])


def newton(n: int, timeout: float) -> None:
    from healthdatalab.federation import network_study as ns

    summary, wall = runner("run_network_study.py", "-n", str(n), "--timeout", str(timeout),
                           "--keep-dir")
    workdir = Path(summary["workdir"]) if "workdir" in summary else None
    try:
        if not summary.get("ok"):
            print(f"{'Newton GLM':<14} {n:>9,} failed after {wall:.0f} s: "
                  f"{summary.get('error')}")
            return
        deployed = summary["deployed"]
        databases = sorted((workdir / "hospitals").glob("*.duckdb"))
        pooled = ns.run_pooled(databases).coefficients
        coefficients = np.array([deployed["coefficients"][c] for c in ns.COVARIATES])
        traffic = {name.rsplit(".", 1)[-1]: kind for name, kind in deployed["traffic"].items()}
        kind = traffic["statistics"]
        # Newton steps, then one more exchange at the solution for the standard errors.
        assert kind["exchanges"] == deployed["rounds"] + 1 and len(databases) == 3
        k = len(coefficients)
        # Out: the coefficients; back: gradient, information matrix, log-likelihood and n.
        row("Newton GLM", n, wall, summary, kind, kind["exchanges"], k, k + k * k + 2,
            float(np.max(np.abs(coefficients - pooled.to_numpy()))))
        for step in ("characterisation", "incidence"):
            once = traffic[step]
            print(f"{'  + ' + step:<24} once: {once['bytes_per_message_sent']:,.0f} B out, "
                  f"{once['bytes_per_reply']:,.0f} B back per hospital, "
                  f"{once['seconds']:.2f} s")
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-million", action="store_true", help="leave out 10^6 patients")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per run")
    args = parser.parse_args()
    sizes = (10_000, 100_000) if args.skip_million else (10_000, 100_000, 1_000_000)
    print("One deployment at a time: SuperLink + 3 SuperNodes on 127.0.0.1. Bytes per hospital "
          "per round as Flower serialises the messages (no gRPC/TLS framing); 'floats' is the "
          "payload alone (floats x 8 B, out and back).")
    print(f"{'model':<14} {'patients':>9} {'wall s':>7} {'result s':>9} {'rounds':>6} "
          f"{'s/round':>8} {'B out':>9} {'B back':>9} {'floats':>7} {'floats':>7} "
          f"{'max diff':>9}")
    for n in sizes:
        fedavg(n, args.timeout)
        newton(n, args.timeout)
    if args.skip_million:
        print("10^6 patients skipped (--skip-million).")


if __name__ == "__main__":
    main()
