"""Run the hospitals' FedAvg on Flower's deployment engine, on this machine, and check it.

What it does, in order:

1. generates the synthetic cohort and writes each hospital's records to its own file in a
   temporary directory (the "hospital's disk");
2. starts one SuperLink and three SuperNodes on 127.0.0.1, each SuperNode given only its own
   hospital's file through ``--node-config``; ports are chosen free at start;
3. submits the Flower app in ``deploy/flower_app`` with ``flwr run``, using a temporary
   Flower configuration (``FLWR_HOME``) that names this SuperLink;
4. waits for the ServerApp's result and compares it with the same FedAvg computed by hand and
   in Flower's simulation engine;
5. stops every process it started, and every process those started, by process id, and checks
   that none is left.

Everything stays on the loopback interface: ``--insecure`` is acceptable only there. Flower's
telemetry is off and runtime installation of app dependencies is disabled, so nothing is
fetched from the network. Usage::

    .venv/bin/python deploy/run_deployment.py            # prints a JSON summary
    .venv/bin/python deploy/run_deployment.py --rounds 3 --skip-simulation
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

from healthdatalab import federation as fed
from healthdatalab.cohort import generate_cohort

APP_DIR = Path(__file__).resolve().parent / "flower_app"
BIN_DIR = Path(sys.executable).parent  # flower-superlink, flower-supernode and flwr live here
COLUMNS = ["age", "sex", "smoking", "bmi", "systolic_bp", "hba1c", "outcome"]
CONNECTION = "hospitals"


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports that are free on 127.0.0.1 right now."""
    sockets, ports = [], []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))  # the kernel picks a free port
            sockets.append(sock)
            ports.append(sock.getsockname()[1])
    finally:
        for sock in sockets:
            sock.close()
    return ports


def wait_for_port(port: int, process: subprocess.Popen, timeout: float) -> None:
    """Block until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process {process.pid} exited before opening port {port}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} after {timeout} s")


class ProcessKeeper:
    """Start processes in their own process groups; remember them and all their descendants."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        self.log_dir = log_dir
        self.env = env
        self.started: list[subprocess.Popen] = []
        self.seen: set[int] = set()
        self._logs: list = []

    def start(self, name: str, command: list[str], cwd: Path | None = None) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "w")  # noqa: SIM115 (closed in stop_all)
        self._logs.append(log)
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=cwd,
            start_new_session=True,  # its own process group and session
        )
        self.started.append(process)
        self.seen.add(process.pid)
        return process

    def snapshot(self) -> None:
        """Record every descendant alive now (Flower starts SuperExec, ServerApp, ClientApps)."""
        for process in self.started:
            with suppress(psutil.Error):
                for child in psutil.Process(process.pid).children(recursive=True):
                    self.seen.add(child.pid)

    def alive(self) -> list[int]:
        """Process ids from ``seen`` that are still running (zombies count as stopped)."""
        running = []
        for pid in sorted(self.seen):
            with suppress(psutil.Error):
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    running.append(pid)
        return running

    def stop_all(self, grace: float = 10.0) -> list[int]:
        """Terminate, then kill, every process seen; return the ids still alive after that."""
        self.snapshot()
        for process in reversed(self.started):
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGTERM)
        for pid in self.seen:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while self.alive() and time.monotonic() < deadline:
            for process in self.started:
                process.poll()  # reap our own children
            time.sleep(0.2)
        for pid in self.alive():
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for process in self.started:
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        time.sleep(0.5)
        for log in self._logs:
            log.close()
        return self.alive()


def tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def run(args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="hdl-flower-"))
    home = workdir / "flwr_home"
    home.mkdir()
    env = {
        **os.environ,
        **fed.QUIET_ENVIRONMENT,
        "FLWR_HOME": str(home),  # Flower configuration and installed apps: temporary
        "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONWARNINGS": "ignore",
    }

    # 1. Each hospital's records, on "its own disk".
    cohort = generate_cohort(args.n, seed=args.seed)
    hospitals = fed.partition_by_hospital(cohort)
    files = []
    for i, part in enumerate(hospitals.values()):
        path = workdir / f"hospital_{i}.csv"
        part[COLUMNS].to_csv(path, index=False)
        files.append(path)

    keeper = ProcessKeeper(workdir, env)
    summary: dict = {"hospitals": list(hospitals), "rounds": args.rounds}
    started = time.perf_counter()
    try:
        # 2. SuperLink and one SuperNode per hospital, on free loopback ports.
        link_port, *node_ports = free_ports(1 + len(files))
        superlink = keeper.start(
            "superlink",
            [
                str(BIN_DIR / "flower-superlink"),
                "--insecure",  # loopback only; a real deployment uses TLS certificates
                "--host", "127.0.0.1",
                "--port", str(link_port),
                "--disable-runtime-dependency-installation",
            ],
        )  # fmt: skip
        wait_for_port(link_port, superlink, timeout=args.timeout / 4)
        for i, (path, port) in enumerate(zip(files, node_ports, strict=True)):
            node = keeper.start(
                f"supernode_{i}",
                [
                    str(BIN_DIR / "flower-supernode"),
                    "--insecure",
                    "--superlink", f"127.0.0.1:{link_port}",
                    "--port", str(port),
                    "--node-config", f'data-path="{path}"',
                ],
            )  # fmt: skip
            wait_for_port(port, node, timeout=args.timeout / 4)
        keeper.snapshot()

        # 3. Submit the app to this SuperLink.
        (home / "config.toml").write_text(
            f'[superlink]\ndefault = "{CONNECTION}"\n\n'
            f'[superlink.{CONNECTION}]\naddress = "127.0.0.1:{link_port}"\ninsecure = true\n'
        )
        result_path = workdir / "result.json"
        run_config = (
            f"num-server-rounds={args.rounds} local-epochs={args.local_epochs} "
            f"learning-rate={args.learning_rate} min-nodes={len(files)} "
            f'result-path="{result_path}"'
        )
        submit = keeper.start(
            "flwr_run",
            [str(BIN_DIR / "flwr"), "run", str(APP_DIR), CONNECTION, "--run-config", run_config],
        )
        # 4. Wait for the result, recording the processes Flower starts on the way.
        deadline = time.monotonic() + args.timeout
        while not result_path.exists():
            keeper.snapshot()
            if time.monotonic() > deadline:
                raise TimeoutError(
                    "no result from the deployment in time; SuperLink log:\n"
                    + tail(workdir / "superlink.log")
                )
            if submit.poll() not in (None, 0):
                raise RuntimeError("flwr run failed:\n" + tail(workdir / "flwr_run.log"))
            time.sleep(0.3)
        time.sleep(0.2)  # let the ServerApp finish writing
        deployed = json.loads(result_path.read_text())
        summary["deployment_seconds"] = round(time.perf_counter() - started, 1)
        weights = np.array(deployed["weights"])
        history = np.array(deployed["history"])

        # Compare with the same FedAvg by hand and in Flower's simulation engine.
        partitions = [fed.to_arrays(part) for part in hospitals.values()]
        hand = fed.fedavg(
            partitions,
            rounds=args.rounds,
            local_epochs=args.local_epochs,
            learning_rate=args.learning_rate,
        )
        summary["features"] = deployed["features"]
        summary["weights"] = weights.round(6).tolist()
        summary["max_difference_hand"] = float(np.max(np.abs(history - hand.history)))
        matches = summary["max_difference_hand"] < 1e-9
        if not args.skip_simulation:
            with fed.quiet_flower():
                simulated = fed.run_flower_simulation(
                    partitions,
                    rounds=args.rounds,
                    local_epochs=args.local_epochs,
                    learning_rate=args.learning_rate,
                )
            gap = np.max(np.abs(weights - simulated.weights))
            summary["max_difference_simulation"] = float(gap)
            matches = matches and summary["max_difference_simulation"] < 1e-9
        summary["matches"] = bool(matches)
    finally:
        summary["pids"] = sorted(keeper.seen)
        summary["alive_after_stop"] = keeper.stop_all()
        if args.keep_dir:
            summary["workdir"] = str(workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--local-epochs", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=2.0)
    parser.add_argument("-n", "--n", type=int, default=20_000, help="patients in the cohort")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds for the run")
    parser.add_argument("--skip-simulation", action="store_true",
                        help="compare with the hand-written FedAvg only")
    parser.add_argument("--keep-dir", action="store_true", help="keep the logs and data files")
    args = parser.parse_args(argv)
    summary = run(args)
    print(json.dumps(summary, indent=2))
    ok = summary.get("matches", False) and not summary["alive_after_stop"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
