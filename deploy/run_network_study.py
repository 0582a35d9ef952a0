"""Run the OMOP network study on Flower's deployment engine, on this machine, and check it.

In order:

1. generates the synthetic cohort and writes one OMOP DuckDB file per hospital
   (:func:`healthdatalab.omop.write_hospital_dbs`) in a temporary directory;
2. starts one SuperLink and one SuperNode per hospital on 127.0.0.1 (free ports), each
   SuperNode given only its own hospital's file, name and query-log file through
   ``--node-config``;
3. submits the Flower app in ``deploy/network_app`` with ``flwr run``;
4. waits for the ServerApp's JSON result and compares it with the in-process
   :func:`~healthdatalab.federation.network_study.run_network` on the same files;
5. stops every process it started, and every process those started, by process id, and
   reports any that survived.

Loopback only, hence ``--insecure``; telemetry off, no runtime installation of dependencies.
Prints a JSON summary, on success and on failure. Usage::

    .venv/bin/python deploy/run_network_study.py            # 10,000 patients
    .venv/bin/python deploy/run_network_study.py -n 30000 --keep-dir
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path

import numpy as np
import psutil

from healthdatalab import omop
from healthdatalab.cohort import generate_cohort
from healthdatalab.federation import QUIET_ENVIRONMENT
from healthdatalab.federation import network_study as ns

APP_DIR = Path(__file__).resolve().parent / "network_app"
BIN_DIR = Path(sys.executable).parent  # flower-superlink, flower-supernode and flwr
CONNECTION = "network-study"
TOLERANCE = 1e-9


def loopback_ports(count: int) -> list[int]:
    """``count`` distinct ports the kernel reports free on 127.0.0.1 at this moment."""
    held = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in held:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in held]
    finally:
        for sock in held:
            sock.close()


class Processes:
    """The processes this runner starts, and every descendant seen; stopped by pid."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env = folder, env
        self.children: list[subprocess.Popen] = []
        self.pids: set[int] = set()
        self.logs: list = []

    def start(self, name: str, command: list[str]) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "w")  # noqa: SIM115 (closed in stop)
        self.logs.append(log)
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                 start_new_session=True)
        self.children.append(child)
        self.pids.add(child.pid)
        return child

    def record_descendants(self) -> None:
        for child in self.children:
            with suppress(psutil.Error):
                self.pids.update(p.pid for p in psutil.Process(child.pid).children(recursive=True))

    def running(self) -> list[int]:
        alive = []
        for pid in sorted(self.pids):
            with suppress(psutil.Error):
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
        return alive

    def stop(self, grace: float = 10.0) -> list[int]:
        """SIGTERM every recorded pid, SIGKILL what is left after ``grace`` s; return survivors."""
        self.record_descendants()
        for pid in sorted(self.pids, reverse=True):
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while self.running() and time.monotonic() < deadline:
            for child in self.children:
                child.poll()
            time.sleep(0.2)
        for pid in self.running():
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for child in self.children:
            with suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)
        time.sleep(0.3)
        for log in self.logs:
            log.close()
        return self.running()


def await_port(port: int, process: subprocess.Popen, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited (code {process.returncode}) before listening")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{name} did not listen on 127.0.0.1:{port} within {timeout:g} s")


def last_lines(path: Path, count: int = 15) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-count:])


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
    processes = Processes(workdir, env)
    summary: dict = {"patients": args.n, "ok": False}
    started = time.perf_counter()
    try:
        databases = omop.write_hospital_dbs(generate_cohort(args.n, seed=args.seed),
                                            workdir / "hospitals")
        summary["hospitals"] = list(databases)
        link_port, *node_ports = loopback_ports(1 + len(databases))
        superlink = processes.start("superlink", [
            str(BIN_DIR / "flower-superlink"), "--insecure",  # loopback only
            "--host", "127.0.0.1", "--port", str(link_port),
            "--disable-runtime-dependency-installation"])
        await_port(link_port, superlink, "the SuperLink", args.timeout / 4)
        for (name, path), port in zip(databases.items(), node_ports, strict=True):
            node = processes.start(f"supernode {name}", [
                str(BIN_DIR / "flower-supernode"), "--insecure",
                "--superlink", f"127.0.0.1:{link_port}", "--port", str(port),
                "--node-config", f'database="{path}" site-name="{name}" '
                                 f'query-log="{path.with_suffix(".query-log.json")}"'])
            await_port(port, node, f"the SuperNode of {name}", args.timeout / 4)
        processes.record_descendants()

        (home / "config.toml").write_text(
            f'[superlink]\ndefault = "{CONNECTION}"\n\n'
            f'[superlink.{CONNECTION}]\naddress = "127.0.0.1:{link_port}"\ninsecure = true\n')
        result_path = workdir / "result.json"
        submit = processes.start("flwr run", [
            str(BIN_DIR / "flwr"), "run", str(APP_DIR), CONNECTION, "--run-config",
            f'min-nodes={len(databases)} wait-seconds={args.timeout / 2:.0f} '
            f'result-path="{result_path}"'])
        deadline = time.monotonic() + args.timeout
        while not result_path.exists():
            processes.record_descendants()
            if time.monotonic() > deadline:
                raise TimeoutError("no result from the deployed study in time; SuperLink log:\n"
                                   + last_lines(workdir / "superlink.log"))
            if submit.poll() not in (None, 0):
                raise RuntimeError("flwr run failed:\n" + last_lines(workdir / "flwr run.log"))
            time.sleep(0.3)
        time.sleep(0.3)  # the ServerApp may still be writing
        deployed = json.loads(result_path.read_text())
        if "error" in deployed:
            raise RuntimeError(f"the deployed study stopped: {deployed['error']}")
        summary["deployment_seconds"] = round(time.perf_counter() - started, 1)
        summary["deployed"] = deployed

        reference = ns.run_network([ns.Site(name, path) for name, path in databases.items()])
        summary["comparison"] = comparison = compare(deployed, reference)
        summary["ok"] = bool(comparison["counts_equal"] and comparison["incidence_equal"]
                             and comparison["rounds_equal"]
                             and comparison["max_coefficient_difference"] <= TOLERANCE)
    except Exception as err:  # reported in the summary, which is printed in every case
        summary["error"] = f"{type(err).__name__}: {err}"
    finally:
        summary["pids"] = sorted(processes.pids)
        summary["alive_after_stop"] = processes.stop()
        if args.keep_dir:
            summary["workdir"] = str(workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    summary["ok"] = summary["ok"] and not summary["alive_after_stop"]
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--n", type=int, default=10_000, help="patients in the cohort")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds for the run")
    parser.add_argument("--keep-dir", action="store_true", help="keep the logs and databases")
    summary = run(parser.parse_args(argv))
    print(json.dumps(summary, indent=2))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
