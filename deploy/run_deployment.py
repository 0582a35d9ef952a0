"""Run the hospitals' FedAvg on Flower's deployment engine, on this machine, and check it.

What it does, in order:

1. generates the synthetic cohort and writes each hospital's records to its own file in a
   temporary directory (the "hospital's disk"), or uses the files in ``--data-dir``; before
   anything starts, every hospital's file must exist and have the expected columns;
2. makes a certificate authority, a TLS certificate for the SuperLink on 127.0.0.1 and one
   key pair per SuperNode, all for this run only (``deploy/credentials.py``);
3. starts one SuperLink with TLS and SuperNode authentication, registers each hospital's
   public key with ``flwr supernode register``, and starts one SuperNode per hospital, each
   given only its own hospital's file and name through ``--node-config``; the SuperLink port
   must be free beforehand and must then be held by the SuperLink itself;
4. submits the Flower app in ``deploy/flower_app`` with ``flwr run``, using a temporary
   Flower configuration (``FLWR_HOME``) that names this SuperLink and trusts the run's CA,
   and tells the ServerApp which hospitals must answer every round;
5. watches every process while it waits: a SuperNode or SuperLink that exits is named within
   about a second and ends the run; a round without one of the hospitals ends it too;
6. compares the result with the same FedAvg computed by hand and in Flower's simulation engine;
7. stops every process it started, and every process those started, by process id, and checks
   that none is left.

It always prints a JSON summary, on success and on failure, with ``ok`` and ``error``, and
exits with 0 only when ``ok`` is true. ``--insecure`` runs without TLS and without SuperNode
authentication (a warning says so); use it only to debug on one machine. Flower's telemetry
is off and runtime installation of app dependencies is disabled, so nothing is fetched from
the network. Usage::

    .venv/bin/python deploy/run_deployment.py            # prints a JSON summary
    .venv/bin/python deploy/run_deployment.py --rounds 3 --skip-simulation
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from credentials import make_node_key, make_server_credentials  # noqa: E402

from healthdatalab import federation as fed  # noqa: E402
from healthdatalab.cohort import generate_cohort  # noqa: E402

APP_DIR = Path(__file__).resolve().parent / "flower_app"
BIN_DIR = Path(sys.executable).parent  # flower-superlink, flower-supernode and flwr live here
COLUMNS = ["age", "sex", "smoking", "bmi", "systolic_bp", "hba1c", "outcome"]
CONNECTION = "hospitals"
POLL_SECONDS = 0.3  # how often the runner looks at its processes while it waits


class DeploymentError(RuntimeError):
    """The deployment could not start or did not finish; the message says what and where."""


def data_file(directory: Path, hospital: str) -> Path:
    """Where a hospital's records are: ``hospital_a.csv`` for "Hospital A"."""
    return directory / (hospital.lower().replace(" ", "_") + ".csv")


def preflight_data(files: dict[str, Path]) -> None:
    """Check each hospital's data file before anything starts: present, readable, right columns.

    The error names the hospital and the problem, never a value from the file.
    """
    problems = []
    for hospital, path in files.items():
        if not path.is_file():
            problems.append(f"{hospital}: data file missing ({path})")
            continue
        try:
            header = pd.read_csv(path, nrows=0).columns
        except (OSError, ValueError, pd.errors.ParserError):
            problems.append(f"{hospital}: data file unreadable as CSV ({path})")
            continue
        missing = [column for column in COLUMNS if column not in header]
        if missing:
            problems.append(f"{hospital}: data file lacks columns {missing} ({path})")
    if problems:
        raise DeploymentError("pre-flight check failed: " + "; ".join(problems))


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


def listeners(port: int) -> set[int] | None:
    """Process ids listening on TCP ``port`` (any address); ``None`` if the system won't say."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return None
    return {
        conn.pid
        for conn in connections
        if conn.status == psutil.CONN_LISTEN
        and conn.laddr
        and conn.laddr.port == port
        and conn.pid is not None
    }


def check_port_free(port: int, what: str) -> None:
    """Refuse to start if anything listens on ``port`` already (named, with its pid if known)."""
    for address in ("127.0.0.1", "0.0.0.0"):  # noqa: S104 (only probed, never served)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((address, port))
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    raise
                holders = sorted(listeners(port) or ())
                held = f" by pid {', '.join(map(str, holders))}" if holders else ""
                raise DeploymentError(
                    f"port {port} for the {what} is already in use{held}; "
                    "stop that listener or choose another port"
                ) from None


def wait_for_port(port: int, process: subprocess.Popen, name: str, timeout: float) -> None:
    """Block until ``process`` itself (or a process it started) listens on 127.0.0.1:port.

    Another program answering on the port does not count: the error names it.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DeploymentError(
                f"{name} (pid {process.pid}) exited with code {process.returncode} "
                f"before listening on port {port}"
            )
        holders = listeners(port)
        if holders is None:  # cannot see who listens: accept a connection as the sign
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.settimeout(0.5)
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    return
        elif holders:
            ours = {process.pid}
            with suppress(psutil.Error):
                ours |= {child.pid for child in psutil.Process(process.pid).children(True)}
            if holders & ours:
                return
            raise DeploymentError(
                f"port {port} of the {name} is held by another process "
                f"(pid {', '.join(map(str, sorted(holders)))}), not by the {name} "
                f"(pid {process.pid})"
            )
        time.sleep(0.2)
    raise DeploymentError(
        f"{name} (pid {process.pid}) did not listen on port {port} within {timeout:.0f} s"
    )


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


def warn(message: str) -> None:
    print(f"{Path(sys.argv[0]).stem}: {message}", file=sys.stderr, flush=True)


class Watch:
    """The processes that must stay alive while the run goes on, each with a readable name."""

    def __init__(self) -> None:
        self.processes: dict[str, subprocess.Popen] = {}

    def add(self, name: str, process: subprocess.Popen) -> None:
        self.processes[name] = process

    def check(self) -> None:
        """Raise, naming it, if a watched process has exited."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise DeploymentError(
                    f"{name} (pid {process.pid}) exited with code {process.returncode} "
                    "during the run; the run was stopped"
                )


def flwr(keeper_env: dict[str, str], *arguments: str, timeout: float) -> dict:
    """Run a ``flwr`` CLI command with JSON output; its parsed answer, or a clear error."""
    command = [str(BIN_DIR / "flwr"), *arguments, "--format", "json"]
    try:
        done = subprocess.run(
            command, env=keeper_env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise DeploymentError(
            f"'flwr {arguments[0]} {arguments[1]}' took over {timeout:.0f} s"
        ) from None
    try:
        answer = json.loads(done.stdout)
    except json.JSONDecodeError:
        answer = {}
    if done.returncode != 0 or not answer.get("success", False):
        detail = answer.get("error-message") or (done.stdout + done.stderr)[-500:]
        raise DeploymentError(f"'flwr {arguments[0]} {arguments[1]}' failed: {detail}")
    return answer


def start_network(
    keeper: ProcessKeeper,
    watch: Watch,
    env: dict[str, str],
    workdir: Path,
    nodes: dict[str, str],
    *,
    insecure: bool,
    port: int,
    timeout: float,
    summary: dict,
    probe: bool = False,
) -> int:
    """Start a SuperLink and one SuperNode per entry of ``nodes`` (name -> its node config).

    Secure unless ``insecure``: a certificate authority and SuperLink certificate for this run,
    SuperNode authentication on, each node's public key registered before it starts. The
    SuperLink port must be free beforehand and is then checked to be held by the SuperLink
    itself. Writes the Flower configuration in ``$FLWR_HOME`` that names this SuperLink (and
    trusts the run's CA); returns once every SuperNode is online. Returns the SuperLink port.
    """
    link_port = port or free_ports(1)[0]
    check_port_free(link_port, "SuperLink")
    node_ports = free_ports(len(nodes))
    link_command = [
        str(BIN_DIR / "flower-superlink"),
        "--host", "127.0.0.1",
        "--port", str(link_port),
        "--disable-runtime-dependency-installation",
    ]  # fmt: skip
    if insecure:
        link_command.append("--insecure")
        trust = ["--insecure"]
        connection = "insecure = true\n"
    else:
        tls = make_server_credentials(workdir / "tls")
        link_command += [
            "--ssl-certfile", str(tls.certificate),
            "--ssl-keyfile", str(tls.private_key),
            "--ssl-ca-certfile", str(tls.ca_certificate),
            "--enable-supernode-auth",
        ]  # fmt: skip
        trust = ["--root-certificates", str(tls.ca_certificate)]
        connection = f'root-certificates = "{tls.ca_certificate}"\n'
    (Path(env["FLWR_HOME"]) / "config.toml").write_text(
        f'[superlink]\ndefault = "{CONNECTION}"\n\n'
        f'[superlink.{CONNECTION}]\naddress = "127.0.0.1:{link_port}"\n{connection}'
    )

    superlink = keeper.start("superlink", link_command)
    wait_for_port(link_port, superlink, "SuperLink", timeout=timeout / 3)
    watch.add("SuperLink", superlink)
    if probe and not insecure:
        summary["unregistered_node_refused"] = probe_unregistered(
            keeper, workdir, link_port, trust, timeout=timeout / 3
        )
    for (name, node_config), node_port in zip(nodes.items(), node_ports, strict=True):
        slug = data_file(Path(), name).stem
        command = [
            str(BIN_DIR / "flower-supernode"),
            *trust,
            "--superlink", f"127.0.0.1:{link_port}",
            "--port", str(node_port),
            "--node-config", node_config,
        ]  # fmt: skip
        if not insecure:
            key = make_node_key(workdir / "keys", slug)
            flwr(env, "supernode", "register", str(key.public_key), CONNECTION,
                 timeout=timeout / 4)  # fmt: skip
            command += ["--auth-supernode-private-key", str(key.private_key)]
        node = keeper.start(f"supernode_{slug}", command)
        watch.add(f"SuperNode of {name}", node)
        warn(f"started the SuperNode of {name} (pid {node.pid})")
    wait_online(env, watch, len(nodes), timeout=timeout / 3)
    keeper.snapshot()
    warn(f"SuperLink on 127.0.0.1:{link_port} with {len(nodes)} SuperNodes online")
    return link_port


def await_result(
    keeper: ProcessKeeper,
    watch: Watch,
    submit: subprocess.Popen,
    result_path: Path,
    workdir: Path,
    timeout: float,
) -> dict:
    """Wait for the ServerApp's JSON result, watching every process; the result, or an error.

    A SuperLink or SuperNode that exits is named within about a second; the processes Flower
    starts (SuperExec, ServerApp, ClientApps) are recorded so that they can be stopped.
    """
    deadline = time.monotonic() + timeout
    while not result_path.exists():
        keeper.snapshot()
        watch.check()
        if time.monotonic() > deadline:
            raise DeploymentError(
                f"no result from the deployment within {timeout:.0f} s; "
                "SuperLink log:\n" + tail(workdir / "superlink.log")
            )
        if submit.poll() not in (None, 0):
            raise DeploymentError("flwr run failed:\n" + tail(workdir / "flwr_run.log"))
        time.sleep(POLL_SECONDS)
    time.sleep(0.2)  # let the ServerApp finish writing
    deployed = json.loads(result_path.read_text())
    if "error" in deployed:
        raise DeploymentError(f"the ServerApp stopped the run: {deployed['error']}")
    return deployed


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
    names = ["Hospital A", "Hospital B", "Hospital C"]
    summary: dict = {
        "ok": False,
        "error": None,
        "secure": not args.insecure,
        "hospitals": names,
        "rounds": args.rounds,
    }
    if args.insecure:
        warn("--insecure: no TLS and no SuperNode authentication; use only for debugging")
    keeper = ProcessKeeper(workdir, env)
    watch = Watch()
    started = time.perf_counter()
    try:
        # 1. Each hospital's records, on "its own disk"; checked before anything starts.
        cohort = generate_cohort(args.n, seed=args.seed)
        hospitals = fed.partition_by_hospital(cohort)
        if list(hospitals) != names:
            raise DeploymentError(f"the cohort's hospitals are {list(hospitals)}, not {names}")
        data_dir = Path(args.data_dir) if args.data_dir else workdir / "data"
        files = {name: data_file(data_dir, name) for name in names}
        if not args.data_dir:
            data_dir.mkdir()
            for name, part in hospitals.items():
                part[COLUMNS].to_csv(files[name], index=False)
        preflight_data(files)

        # 2.-3. SuperLink with TLS and node authentication, then one SuperNode per hospital.
        nodes = {name: f'data-path="{files[name]}" hospital="{name}"' for name in names}
        link_port = start_network(keeper, watch, env, workdir, nodes, insecure=args.insecure,
                                  port=args.port, timeout=args.timeout, summary=summary,
                                  probe=args.probe_unregistered)

        # 4. Submit the app to this SuperLink.
        result_path = workdir / "result.json"
        run_config = (
            f"num-server-rounds={args.rounds} local-epochs={args.local_epochs} "
            f"learning-rate={args.learning_rate} min-nodes={len(names)} "
            f'result-path="{result_path}" expected-hospitals="{",".join(names)}"'
        )
        submit = keeper.start(
            "flwr_run",
            [str(BIN_DIR / "flwr"), "run", str(APP_DIR), CONNECTION, "--run-config", run_config],
        )
        warn(f"run submitted to the SuperLink on 127.0.0.1:{link_port}")
        # 5. Wait for the result, watching every process.
        deployed = await_result(keeper, watch, submit, result_path, workdir, args.timeout)
        summary["deployment_seconds"] = round(time.perf_counter() - started, 1)
        weights = np.array(deployed["weights"])
        history = np.array(deployed["history"])

        # 6. Compare with the same FedAvg by hand and in Flower's simulation engine.
        partitions = [fed.to_arrays(part) for part in hospitals.values()]
        hand = fed.fedavg(
            partitions,
            rounds=args.rounds,
            local_epochs=args.local_epochs,
            learning_rate=args.learning_rate,
        )
        summary["features"] = deployed["features"]
        summary["traffic"] = deployed.get("traffic", {})
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
        if not matches:
            raise DeploymentError("the deployed result differs from the hand-written FedAvg")
        summary["ok"] = True
    except DeploymentError as error:
        summary["error"] = str(error)
        warn(f"error: {error}")
    except Exception as error:  # anything unexpected still ends in a JSON summary
        summary["error"] = f"{type(error).__name__}: {error}"
        warn(f"error: {summary['error']}")
    finally:
        summary["pids"] = sorted(keeper.seen)
        summary["alive_after_stop"] = keeper.stop_all()
        if summary["alive_after_stop"]:
            summary["ok"] = False
            summary["error"] = (summary["error"] or "") + (
                f" processes still alive after stopping: {summary['alive_after_stop']}"
            )
        summary["seconds"] = round(time.perf_counter() - started, 1)
        if args.keep_dir:
            summary["workdir"] = str(workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return summary


def wait_online(env: dict[str, str], watch: Watch, count: int, timeout: float) -> None:
    """Wait until the SuperLink lists ``count`` SuperNodes online; a node that exits is named."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        watch.check()
        nodes = flwr(env, "supernode", "list", CONNECTION, timeout=timeout)["nodes"]
        if sum(node.get("status") == "online" for node in nodes) >= count:
            return
        time.sleep(1.0)
    watch.check()
    raise DeploymentError(f"fewer than {count} SuperNodes came online within {timeout:.0f} s")


def probe_unregistered(
    keeper: ProcessKeeper, workdir: Path, link_port: int, trust: list[str], timeout: float
) -> bool:
    """Start a SuperNode whose key was never registered; True if the SuperLink refuses it."""
    key = make_node_key(workdir / "keys", "unregistered")
    port = free_ports(1)[0]
    intruder = keeper.start(
        "supernode_unregistered",
        [
            str(BIN_DIR / "flower-supernode"),
            *trust,
            "--superlink", f"127.0.0.1:{link_port}",
            "--port", str(port),
            "--auth-supernode-private-key", str(key.private_key),
        ],
    )  # fmt: skip
    try:
        intruder.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return False  # still running: not refused
    return intruder.returncode != 0 and "Failed to activate SuperNode" in tail(
        workdir / "supernode_unregistered.log", 40
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--local-epochs", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=2.0)
    parser.add_argument("-n", "--n", type=int, default=20_000, help="patients in the cohort")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds for the run")
    parser.add_argument(
        "--port", type=int, default=0, help="SuperLink port on 127.0.0.1 (default: a free one)"
    )
    parser.add_argument(
        "--data-dir",
        help="use hospital_a.csv, hospital_b.csv, hospital_c.csv "
        "from this directory instead of generating them",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="no TLS, no SuperNode authentication (debugging only)",
    )
    parser.add_argument(
        "--probe-unregistered",
        action="store_true",
        help="also show that a SuperNode with an unregistered key is refused",
    )
    parser.add_argument(
        "--skip-simulation", action="store_true", help="compare with the hand-written FedAvg only"
    )
    parser.add_argument("--keep-dir", action="store_true", help="keep the logs and data files")
    return run_and_report(run, parser.parse_args(argv))


def run_and_report(run: Callable[[argparse.Namespace], dict], args: argparse.Namespace) -> int:
    """Run ``run(args)``, print its JSON summary and return the exit code (0 only when ok).

    SIGTERM ends the run through the runner's own error path, so a stopped runner still stops
    every process it started and still prints its summary.
    """

    def stop(signum: int, frame: object) -> None:
        raise DeploymentError(f"the runner received signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, stop)
    summary = run(args)
    print(json.dumps(summary, indent=2), flush=True)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
