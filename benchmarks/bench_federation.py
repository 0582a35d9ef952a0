"""Benchmark: FedAvg by hand and in Flower's simulation engine, for 3, 5 and 10 hospitals.

For each number of hospitals the same cohort (20,000 patients, seed 1) is split by the
cohort's own hospital column, and both versions run 20 rounds of 10 local epochs. Each run
happens in a fresh Python process, so that Ray starts cold every time and memory is measured
in isolation. Printed per run:

* wall time of the federated training (for Flower including the start of its simulation
  engine and Ray);
* peak resident memory of the whole process tree (the benchmark process plus, for Flower,
  every Ray process), sampled every 0.1 s;
* for the hand-written version also the peak of Python allocations (tracemalloc);
* accuracy against the centralised model fitted on the pooled records: the largest absolute
  coefficient difference, and the share of patients whose predicted class agrees.

Run with ``.venv/bin/python benchmarks/bench_federation.py`` (about two minutes).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tracemalloc

import numpy as np
import psutil

N_PATIENTS, SEED, ROUNDS, EPOCHS, RATE = 20_000, 1, 20, 10, 2.0
HOSPITAL_COUNTS = (3, 5, 10)


def one_run(engine: str, hospitals: int) -> dict:
    """Train once (in this process) and return timings and accuracy."""
    from healthdatalab import federation as fed
    from healthdatalab.cohort import generate_cohort

    cohort = generate_cohort(N_PATIENTS, seed=SEED, hospitals=hospitals)
    partitions = [fed.to_arrays(p) for p in fed.partition_by_hospital(cohort).values()]
    X = np.vstack([x for x, _ in partitions])
    y = np.concatenate([t for _, t in partitions])
    centralised = fed.fit_logistic(X, y)

    result: dict = {"engine": engine, "hospitals": len(partitions)}
    if engine == "hand":
        tracemalloc.start()
        start = time.perf_counter()
        weights = fed.fedavg(
            partitions, rounds=ROUNDS, local_epochs=EPOCHS, learning_rate=RATE
        ).weights
        result["seconds"] = time.perf_counter() - start
        result["python_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    else:
        start = time.perf_counter()
        with fed.quiet_flower():
            weights = fed.run_flower_simulation(
                partitions, rounds=ROUNDS, local_epochs=EPOCHS, learning_rate=RATE
            ).weights
        result["seconds"] = time.perf_counter() - start
    result["max_coef_diff"] = float(np.max(np.abs(weights - centralised)))
    result["prediction_agreement"] = float(np.mean((X @ weights > 0) == (X @ centralised > 0)))
    return result


def tree_rss(process: psutil.Process) -> int:
    """Resident memory of a process and all its descendants, in bytes."""
    total = 0
    for p in [process, *process.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def measured(engine: str, hospitals: int) -> dict:
    """Run one_run in a fresh process and sample the memory of its process tree."""
    command = [sys.executable, __file__, "--one", engine, str(hospitals)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    parent = psutil.Process(child.pid)
    peak = 0
    while child.poll() is None:
        try:
            peak = max(peak, tree_rss(parent))
        except psutil.Error:
            pass
        time.sleep(0.1)
    out = child.stdout.read()
    if child.returncode != 0:
        raise RuntimeError(f"{engine} with {hospitals} hospitals failed")
    result = json.loads(out.strip().splitlines()[-1])
    result["tree_peak_mb"] = peak / 2**20
    return result


def main() -> None:
    print(f"FedAvg, {N_PATIENTS} patients, {ROUNDS} rounds x {EPOCHS} local epochs; "
          f"{psutil.cpu_count()} CPUs")
    header = (f"{'hospitals':>9} {'engine':>7} {'wall s':>7} {'tree peak MB':>12} "
              f"{'py peak MB':>10} {'max |coef diff|':>15} {'pred. agree':>11}")
    print(header)
    print("-" * len(header))
    for hospitals in HOSPITAL_COUNTS:
        for engine in ("hand", "flower"):
            r = measured(engine, hospitals)
            py_peak = f"{r['python_peak_mb']:.1f}" if "python_peak_mb" in r else "-"
            print(f"{r['hospitals']:>9} {engine:>7} {r['seconds']:>7.2f} "
                  f"{r['tree_peak_mb']:>12.0f} {py_peak:>10} {r['max_coef_diff']:>15.4f} "
                  f"{100 * r['prediction_agreement']:>10.2f}%", flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        print(json.dumps(one_run(sys.argv[2], int(sys.argv[3]))))
    else:
        main()
