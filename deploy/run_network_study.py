"""Run the OMOP network study on Flower's deployment engine, on this machine, and check it.

In order:

1. generates the synthetic cohort and writes one OMOP DuckDB file per hospital
   (:func:`healthdatalab.omop.write_hospital_dbs`) in a temporary directory; before anything
   starts, every file must open and hold the OMOP tables the study reads;
2. starts one SuperLink and one SuperNode per hospital on 127.0.0.1, exactly as
   ``run_deployment.py`` does: TLS with a certificate authority made for this run, SuperNode
   authentication with each node's key registered first (``--insecure`` turns both off, with a
   warning); each SuperNode is given only its own hospital's file, name and query-log file
   through ``--node-config``;
3. submits the Flower app in ``deploy/network_app`` with ``flwr run``;
4. waits for the ServerApp's JSON result, watching every process (a SuperNode that exits is
   named and ends the run), and compares it with the in-process
   :func:`~healthdatalab.federation.network_study.run_network` on the same files;
5. stops every process it started, and every process those started, by process id, and
   reports any that survived.

Telemetry off, no runtime installation of dependencies. Prints a JSON summary, on success and
on failure, and exits with 0 only when ``ok`` is true. Usage::

    .venv/bin/python deploy/run_network_study.py            # 10,000 patients
    .venv/bin/python deploy/run_network_study.py -n 30000 --keep-dir
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_deployment import (  # noqa: E402
    BIN_DIR,
    CONNECTION,
    DeploymentError,
    ProcessKeeper,
    Watch,
    await_result,
    run_and_report,
    start_network,
    warn,
)

from healthdatalab import omop  # noqa: E402
from healthdatalab.cohort import generate_cohort  # noqa: E402
from healthdatalab.federation import QUIET_ENVIRONMENT  # noqa: E402
from healthdatalab.federation import network_study as ns  # noqa: E402

APP_DIR = Path(__file__).resolve().parent / "network_app"
TOLERANCE = 1e-9
#: The tables the study's SQL reads; a hospital's file without one fails before the run.
STUDY_TABLES = ("person", "condition_occurrence", "visit_occurrence", "measurement")


def preflight_databases(databases: dict[str, Path]) -> None:
    """Every hospital's DuckDB file exists, opens read-only and holds the study's tables."""
    import duckdb

    for name, path in databases.items():
        if not path.is_file():
            raise DeploymentError(f"{name}: no database file at {path}")
        try:
            with duckdb.connect(str(path), read_only=True) as con:
                tables = {row[0] for row in con.execute("SHOW TABLES").fetchall()}
        except duckdb.Error as error:
            raise DeploymentError(f"{name}: {path} is not a readable DuckDB file") from error
        missing = [table for table in STUDY_TABLES if table not in tables]
        if missing:
            raise DeploymentError(f"{name}: the database lacks the OMOP table(s) {missing}")


def compare(deployed: dict, reference: ns.NetworkResult) -> dict:
    """Differences between the deployed result and the in-process run (0 where equal)."""
    counts = {(c["sex"], c["age_band"]): c["n"] for c in deployed["characterisation"]}
    reference_counts = {key: int(n) for key, n in reference.characterisation.items()}
    coefficients = np.array([deployed["coefficients"][name] for name in ns.COVARIATES])
    return {
        "counts_equal": counts == reference_counts,
        "incidence_equal": all(
            abs(deployed["incidence"][key] - float(reference.incidence[key])) <= TOLERANCE
            for key in ("persons", "events", "person_years", "rate_per_1000_py")),
        "max_coefficient_difference": float(
            np.max(np.abs(coefficients - reference.coefficients.to_numpy()))),
        "rounds_equal": deployed["rounds"] == reference.rounds,
    }


def run(args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="hdl-network-"))
    home = workdir / "flwr_home"
    home.mkdir()
    env = {**os.environ, **QUIET_ENVIRONMENT, "FLWR_HOME": str(home),
           "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONWARNINGS": "ignore"}
    if args.insecure:
        warn("--insecure: no TLS and no SuperNode authentication; use only for debugging")
    keeper = ProcessKeeper(workdir, env)
    watch = Watch()
    summary: dict = {"patients": args.n, "ok": False, "error": None,
                     "secure": not args.insecure}
    started = time.perf_counter()
    try:
        databases = omop.write_hospital_dbs(generate_cohort(args.n, seed=args.seed),
                                            workdir / "hospitals")
        summary["hospitals"] = list(databases)
        preflight_databases(databases)
        nodes = {name: f'database="{path}" site-name="{name}" '
                       f'query-log="{path.with_suffix(".query-log.json")}"'
                 for name, path in databases.items()}
        link_port = start_network(keeper, watch, env, workdir, nodes, insecure=args.insecure,
                                  port=0, timeout=args.timeout, summary=summary)

        result_path = workdir / "result.json"
        submit = keeper.start("flwr_run", [
            str(BIN_DIR / "flwr"), "run", str(APP_DIR), CONNECTION, "--run-config",
            f'min-nodes={len(databases)} wait-seconds={args.timeout / 2:.0f} '
            f'result-path="{result_path}"'])
        warn(f"run submitted to the SuperLink on 127.0.0.1:{link_port}")
        deployed = await_result(keeper, watch, submit, result_path, workdir, args.timeout)
        summary["deployment_seconds"] = round(time.perf_counter() - started, 1)
        summary["deployed"] = deployed

        reference = ns.run_network([ns.Site(name, path) for name, path in databases.items()])
        summary["comparison"] = comparison = compare(deployed, reference)
        summary["ok"] = bool(comparison["counts_equal"] and comparison["incidence_equal"]
                             and comparison["rounds_equal"]
                             and comparison["max_coefficient_difference"] <= TOLERANCE)
        if not summary["ok"]:
            raise DeploymentError("the deployed study differs from the in-process run")
    except Exception as error:  # reported in the summary, which is printed in every case
        summary["ok"] = False
        summary["error"] = (str(error) if isinstance(error, DeploymentError)
                            else f"{type(error).__name__}: {error}")
        warn(f"error: {summary['error']}")
    finally:
        summary["pids"] = sorted(keeper.seen)
        summary["alive_after_stop"] = keeper.stop_all()
        if summary["alive_after_stop"]:
            summary["ok"] = False
            summary["error"] = (summary["error"] or "") + (
                f" processes still alive after stopping: {summary['alive_after_stop']}")
        summary["seconds"] = round(time.perf_counter() - started, 1)
        if args.keep_dir:
            summary["workdir"] = str(workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--n", type=int, default=10_000, help="patients in the cohort")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds for the run")
    parser.add_argument("--insecure", action="store_true",
                        help="no TLS, no SuperNode authentication (debugging only)")
    parser.add_argument("--keep-dir", action="store_true", help="keep the logs and databases")
    return run_and_report(run, parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
