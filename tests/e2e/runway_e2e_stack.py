"""A real Airflow (api-server, scheduler, dag-processor, triggerer; LocalExecutor) against two Runway
simulators, each in its own process group, on a fresh database in a temporary AIRFLOW_HOME.

Used by ``tests/e2e/conftest.py``; it can also be run alone to poke at the stack by hand::

    .venv/bin/python tests/e2e/runway_e2e_stack.py     # prints the URLs, Ctrl-C stops everything
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DAGS = Path(__file__).resolve().parent / "dags"
BUILD = ROOT / "build" / "e2e"

GATEWAY_KEY = "sk-e2e-gateway"
DIRECT_KEY = "key_e2e_direct"
#: worker slots (LocalExecutor processes). Far fewer than the 50 generations that wait at once, so the
#: mapped DAG can only finish in time if waiting holds no slot.
PARALLELISM = 4


def log(message: str) -> None:
    print(f"[e2e {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 1.0) -> Any:
    """Call ``check`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = check()
            if result:
                return result
        except Exception as err:  # retried until the deadline, then reported
            last_error = err
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"timed out after {timeout:.0f} s waiting for {what} (last error: {last_error!r})"
            )
        time.sleep(interval)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, read from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def record(section: str, **facts: Any) -> None:
    """Add facts to build/e2e/summary.json (printed at the end of ``make e2e``)."""
    path = BUILD / "summary.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data.setdefault(section, {}).update(facts)
    path.write_text(json.dumps(data, indent=1, sort_keys=True))


@dataclass
class Proc:
    """A child process that leads its own process group (so its children are stopped with it)."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, grace: float = 15.0) -> None:
        """Signal the whole group; SIGKILL the group if the leader is still there after ``grace`` s."""
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            log(f"{self.name} ignored signal {sig} for {grace:.0f} s: SIGKILL to its process group")
        # Children of the leader (task supervisors, gunicorn/uvicorn workers) may outlive it: always
        # finish the group off.
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + 10
        while group_members(self.popen.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = group_members(self.popen.pid)
        if left:
            log(f"{self.name}: processes {left} of group {self.popen.pid} survived SIGKILL")


def spawn(name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> Proc:
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as out:
        popen = subprocess.Popen(
            argv,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # own process group: stopped by killpg, also on failure
            cwd=str(ROOT),
        )
    log(f"started {name} (pid/pgid {popen.pid}), log: {log_path.relative_to(ROOT)}")
    return Proc(name, popen, log_path)


@dataclass
class Simulator:
    proc: Proc
    base_url: str
    api_key: str
    flavor: str

    @property
    def root_url(self) -> str:
        parts = urllib.parse.urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def control(self) -> Any:
        from airflow_provider_runway.testing.control import SimulatorControl

        return SimulatorControl(self.base_url)

    def conn_json(self) -> str:
        return json.dumps(
            {
                "conn_type": "runway",
                "host": self.base_url,
                "password": self.api_key,
                "extra": {
                    "allow_insecure_loopback": True,
                    # The "Runway task" extra link opens the simulator's (unauthenticated) view of the
                    # task, so a browser can follow it; the default points at the authenticated API.
                    "task_link_template": self.root_url + "/_sim/tasks/{task_id}",
                },
            }
        )


def start_simulator(flavor: str, api_key: str, log_dir: Path, *extra: str) -> Simulator:
    argv = [str(BIN / "runway-simulator"), "--port", "0", "--flavor", flavor, "--api-key", api_key, *extra]
    out_path = log_dir / f"simulator-{flavor}.log"
    err = out_path.open("ab")
    popen = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True
    )
    err.close()
    proc = Proc(f"simulator-{flavor}", popen, out_path)
    assert popen.stdout is not None
    first = popen.stdout.readline().decode().strip()
    if not first.startswith("http"):
        proc.stop()
        raise RuntimeError(f"the {flavor} simulator did not start (said {first!r}); see {out_path}")
    # Nothing else is printed on stdout; closing our end is harmless.
    popen.stdout.close()
    log(f"simulator ({flavor}) at {first} (pid/pgid {popen.pid})")
    return Simulator(proc, first, api_key, flavor)


@dataclass
class AirflowStack:
    home: Path
    log_dir: Path
    env: dict[str, str]
    api_url: str
    gateway: Simulator
    direct: Simulator
    procs: dict[str, Proc] = field(default_factory=dict)
    retired: list[Proc] = field(default_factory=list)

    # ------------------------------------------------------------------------------------------ processes
    def start_component(self, name: str, *args: str) -> Proc:
        proc = spawn(name, [str(BIN / "airflow"), *args], self.env, self.log_dir)
        self.procs[name] = proc
        return proc

    def start_triggerer(self) -> Proc:
        return self.start_component("triggerer", "triggerer")

    def kill_triggerer(self) -> None:
        """Crash the triggerer: SIGKILL its whole process group, no graceful shutdown."""
        proc = self.procs.pop("triggerer")
        log(f"killing the triggerer's process group {proc.popen.pid} with SIGKILL")
        proc.stop(signal.SIGKILL, grace=10)
        self.retired.append(proc)

    def stop(self) -> None:
        for proc in [*reversed(list(self.procs.values())), *self.retired]:
            if proc.alive():
                log(f"stopping {proc.name} (process group {proc.popen.pid})")
            proc.stop()
        self.procs.clear()
        for sim in (self.gateway, self.direct):
            sim.proc.stop()

    def check_alive(self) -> None:
        dead = [f"{p.name} (exit {p.popen.returncode})" for p in self.procs.values() if not p.alive()]
        if dead:
            raise RuntimeError(f"Airflow component(s) died: {', '.join(dead)}; logs in {self.log_dir}")

    # ------------------------------------------------------------------------------------------ REST API
    def api(self, method: str, path: str, body: Any = None, *, timeout: float = 30.0) -> Any:
        """Call ``/api/v2`` (the simple auth manager's all-admins mode authorises every request)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.api_url}/api/v2{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", "replace")[:2000]
            raise RuntimeError(f"{method} /api/v2{path} -> {err.code}: {detail}") from None
        return json.loads(raw) if raw else None

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        wait_for(f"DAG {dag_id} to be parsed", lambda: self.api("GET", f"/dags/{dag_id}"), 120, 2)
        self.api("PATCH", f"/dags/{dag_id}", {"is_paused": False})
        run = self.api(
            "POST",
            f"/dags/{dag_id}/dagRuns",
            {"logical_date": None, "conf": conf or {}},
        )
        log(f"triggered {dag_id}: run {run['dag_run_id']}")
        return str(run["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.api("GET", f"/dags/{dag_id}/dagRuns/{_q(run_id)}")["state"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return list(
            self.api("GET", f"/dags/{dag_id}/dagRuns/{_q(run_id)}/taskInstances?limit=1000")["task_instances"]
        )

    def wait_run(
        self, dag_id: str, run_id: str, timeout: float, on_poll: Callable[[], None] | None = None
    ) -> str:
        """Wait for the run to finish (success or failed); returns the final state."""

        def finished() -> str | None:
            self.check_alive()
            if on_poll is not None:
                on_poll()
            state = self.run_state(dag_id, run_id)
            return state if state in ("success", "failed") else None

        state = str(wait_for(f"{dag_id} run {run_id} to finish", finished, timeout, 1.0))
        log(f"{dag_id} run {run_id}: {state}")
        return state

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int, map_index: int = -1) -> str:
        """The whole log of one try, as text (worker part, trigger part, resumed part)."""
        path = (
            f"/dags/{dag_id}/dagRuns/{_q(run_id)}/taskInstances/{task_id}/logs/{try_number}"
            f"?map_index={map_index}&full_content=true"
        )
        payload = self.api("GET", path)
        content = payload.get("content") if isinstance(payload, dict) else payload
        if isinstance(content, list):
            return "\n".join(json.dumps(item) if not isinstance(item, str) else item for item in content)
        return str(content)


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def airflow_env(home: Path, api_port: int, gateway: Simulator, direct: Simulator) -> dict[str, str]:
    from cryptography.fernet import Fernet

    api_url = f"http://127.0.0.1:{api_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": api_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(16).hex(),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            # A killed triggerer's triggers move to the new one soon (default: 30 s of silence).
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
            "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW_CONN_RUNWAY_GATEWAY": gateway.conn_json(),
            "AIRFLOW_CONN_RUNWAY_DIRECT": direct.conn_json(),
            "PYTHONUNBUFFERED": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    return env


def start_stack(log_dir: Path = BUILD / "logs") -> AirflowStack:
    """Start everything; on any failure stop what was started and re-raise."""
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*BUILD.glob("*.png"), BUILD / "summary.json"]:  # left by an earlier run
        stale.unlink(missing_ok=True)
    home = Path(tempfile.mkdtemp(prefix="runway-e2e-airflow-"))
    started: list[Proc] = []
    try:
        # Gateway flavor for the mapped DAG: 4 RUNNING slots of 8 s (0.5 tasks/s) while creates arrive faster,
        # so tasks queue THROTTLED.
        gateway = start_simulator(
            "gateway", GATEWAY_KEY, log_dir,
            "--pending-seconds", "1", "--running-seconds", "8", "--concurrency", "4",
            "--task-not-exist-seconds", "1",
        )  # fmt: skip
        started.append(gateway.proc)
        # Runway flavor (it serves DELETE) for the cancel and triggerer-restart DAGs.
        direct = start_simulator(
            "runway", DIRECT_KEY, log_dir, "--pending-seconds", "1", "--running-seconds", "8"
        )
        started.append(direct.proc)
        api_port = free_port()
        env = airflow_env(home, api_port, gateway, direct)
        log(f"fresh AIRFLOW_HOME {home} (SQLite); migrating the database ...")
        with (log_dir / "db-migrate.log").open("wb") as out:
            subprocess.run(
                [str(BIN / "airflow"), "db", "migrate"],
                env=env,
                check=True,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=300,
            )
        stack = AirflowStack(home, log_dir, env, f"http://127.0.0.1:{api_port}", gateway, direct)
    except BaseException:
        for proc in started:
            proc.stop()
        shutil.rmtree(home, ignore_errors=True)
        raise
    began = time.monotonic()
    try:
        stack.start_component("api-server", "api-server")
        stack.start_component("scheduler", "scheduler")
        stack.start_component("dag-processor", "dag-processor")
        stack.start_triggerer()

        def healthy() -> bool:
            stack.check_alive()
            health = stack.api("GET", "/monitor/health", timeout=5)
            return bool(
                health["metadatabase"]["status"] == "healthy"
                and health["scheduler"]["status"] == "healthy"
                and health["triggerer"]["status"] == "healthy"
                and health["dag_processor"]["status"] == "healthy"
            )

        wait_for("Airflow to report every component healthy", healthy, 180, 2)
        record("stack", seconds_to_healthy=round(time.monotonic() - began, 1), database="sqlite")
        log(f"Airflow is up at {stack.api_url}")
        return stack
    except BaseException:
        stack.stop()
        raise


def finish_stack(stack: AirflowStack) -> None:
    """Stop every process group; keep Airflow's task logs under build/e2e/ and drop the temp home."""
    try:
        stack.stop()
    finally:
        logs = stack.home / "logs"
        if logs.is_dir():
            shutil.copytree(logs, stack.log_dir / "airflow", dirs_exist_ok=True)
        shutil.rmtree(stack.home, ignore_errors=True)


if __name__ == "__main__":
    stack = start_stack()
    print(f"Airflow UI: {stack.api_url}\ngateway: {stack.gateway.base_url}\nrunway: {stack.direct.base_url}")
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        finish_stack(stack)
