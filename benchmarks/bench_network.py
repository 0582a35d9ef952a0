"""Benchmark: the OMOP network study at 10^4, 10^5 and 10^6 patients.

Prints, per size: the time to map the cohort to OMOP and write one DuckDB file per hospital;
the time each site needs for the study's aggregates in DuckDB, beside the same aggregates
computed with pandas on the site's tables; and, for the outcome regression, the rounds and
numbers sent per hospital by exact federated Newton steps and by FedAvg (20 rounds) with their
gap to the pooled fit. Wall-clock seconds on this machine; not a test.

Run with ``.venv/bin/python benchmarks/bench_network.py`` (a few minutes).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from healthdatalab import federation as fed
from healthdatalab import omop
from healthdatalab.cohort import generate_cohort
from healthdatalab.federation import glm
from healthdatalab.federation import network_study as ns

SIZES = (10_000, 100_000, 1_000_000)
FLOAT_BYTES = 8


def pandas_aggregates(path: Path) -> tuple[pd.Series, int]:
    """The characterisation and the event count, computed in pandas on the site's tables."""
    with duckdb.connect(str(path), read_only=True) as con:
        person = con.execute("SELECT * FROM person").df()
        condition = con.execute("SELECT * FROM condition_occurrence").df()
        visits = con.execute("SELECT * FROM visit_occurrence").df()
    cohort = condition.loc[condition["condition_concept_id"] == ns.T2DM, ["person_id",
                                                                          "condition_start_date"]]
    people = person[person["person_id"].isin(cohort["person_id"])]
    sex = np.where(people["gender_concept_id"] == 8507, "male", "female")
    band = np.where(2026 - people["year_of_birth"] < 60, "under 60", "60 and over")
    table = pd.Series(1, index=pd.MultiIndex.from_arrays([sex, band])).groupby(level=[0, 1]).sum()
    inpatient = visits[visits["visit_concept_id"] == ns.INPATIENT].merge(cohort, on="person_id")
    delay = (inpatient["visit_start_date"] - inpatient["condition_start_date"]).dt.days
    events = inpatient.loc[(delay > 0) & (delay <= 365), "person_id"].nunique()
    return table, int(events)


def one_size(n: int) -> dict:
    row: dict = {"patients": n}
    cohort = generate_cohort(n, seed=1)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        files = omop.write_hospital_dbs(cohort, folder)
        row["omop_s"] = time.perf_counter() - start
        duck, panda = [], []
        for name, path in files.items():
            site = ns.Site(name, path, min_count=1)
            start = time.perf_counter()
            table = site._query("characterisation")
            incidence = site._query("incidence")
            duck.append(time.perf_counter() - start)
            start = time.perf_counter()
            by_pandas, events = pandas_aggregates(path)
            panda.append(time.perf_counter() - start)
            if int(table["n"].sum()) != int(by_pandas.sum()) or int(
                incidence["events"].iloc[0]
            ) != events:
                raise SystemExit(f"DuckDB and pandas disagree at {name}, {n} patients")
        row["duckdb_site_s"] = max(duck)
        row["pandas_site_s"] = max(panda)
    parts = [fed.to_arrays(p) for p in fed.partition_by_hospital(cohort).values()]
    pooled = fed.fit_logistic(np.vstack([X for X, _ in parts]),
                              np.concatenate([y for _, y in parts]))
    d = parts[0][0].shape[1]
    newton = glm.federated_newton(parts)
    row["newton_rounds"] = newton.rounds
    row["newton_gap"] = float(np.max(np.abs(newton.coefficients - pooled)))
    # per round, a hospital receives the d coefficients and sends d gradient sums and the
    # d(d+1)/2 distinct entries of the symmetric information matrix
    row["newton_bytes"] = newton.rounds * FLOAT_BYTES * (d + d + d * (d + 1) // 2)
    fedavg = fed.fedavg(parts, rounds=20, local_epochs=10, learning_rate=2.0).weights
    row["fedavg_rounds"] = 20
    row["fedavg_gap"] = float(np.max(np.abs(fedavg - pooled)))
    # per round, a hospital receives d coefficients and sends d coefficients and its count
    row["fedavg_bytes"] = 20 * FLOAT_BYTES * (d + d + 1)
    return row


def main() -> None:
    print("OMOP network study, three hospitals; seconds of wall-clock time on this machine;")
    print("bytes = numbers sent and received per hospital over the whole fit, 8 bytes each.")
    header = (f"{'patients':>10} {'OMOP map+write s':>17} {'site DuckDB s':>14} "
              f"{'site pandas s':>14} {'Newton rounds':>14} {'Newton bytes':>13} "
              f"{'Newton gap':>11} {'FedAvg bytes':>13} {'FedAvg gap':>11}")
    print(header)
    for n in SIZES:
        r = one_size(n)
        print(f"{r['patients']:>10,} {r['omop_s']:>17.2f} {r['duckdb_site_s']:>14.3f} "
              f"{r['pandas_site_s']:>14.3f} {r['newton_rounds']:>14} {r['newton_bytes']:>13,} "
              f"{r['newton_gap']:>11.1e} {r['fedavg_bytes']:>13,} {r['fedavg_gap']:>11.4f}",
              flush=True)
        print(f"done {n:,}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
