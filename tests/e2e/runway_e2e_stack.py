"""A real Airflow (api-server, scheduler, dag-processor, two triggerers; LocalExecutor) on a throwaway
PostgreSQL cluster, against Runway simulators, each process in its own process group, in a temporary
AIRFLOW_HOME. Everything is stopped and the PostgreSQL data directory removed at the end, also on failure.

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
#: screenshots, logs and summary.json (``make e2e`` on another Airflow version gets a folder of its own)
BUILD = ROOT / os.environ.get("RUNWAY_E2E_BUILD", "build/e2e")

GATEWAY_KEY = "sk-e2e-gateway"
DIRECT_KEY = "key_e2e_direct"
#: worker slots (LocalExecutor processes). Far fewer than the 50 generations that wait at once, so the
#: mapped DAG can only finish in time if waiting holds no slot.
PARALLELISM = 4
#: two triggerers, as a highly available deployment runs them; the threshold after which one that stopped
#: heartbeating loses its triggers to the other (Airflow's default is 30 s).
TRIGGERERS = ("triggerer-a", "triggerer-b")
TRIGGERER_HEALTH_CHECK_THRESHOLD = 10
#: a worker that stopped heartbeating fails its try after this long (Airflow's default is 300 s)
TASK_INSTANCE_HEARTBEAT_TIMEOUT = 20
#: the gateway_slow simulator answers ``task_not_exist`` for this long after a create
GATEWAY_SLOW_NOT_EXIST_SECONDS = 120
PG_USER = "airflow"
PG_DB = "airflow"
PG_VERSION = "15"


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
    #: the id of its row in Airflow's ``job`` table (triggerers)
    job_id: int | None = None

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal_group(self, sig: int) -> None:
        os.killpg(self.popen.pid, sig)

    def stop(self, sig: int = signal.SIGTERM, grace: float = 15.0) -> None:
        """Signal the whole group; SIGKILL the group if the leader is still there after ``grace`` s."""
        try:
            os.killpg(self.popen.pid, sig)
            os.killpg(self.popen.pid, signal.SIGCONT)  # a stopped (SIGSTOP) group only acts on it then
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


# ------------------------------------------------------------------------------------------ PostgreSQL
def postgres_bindir() -> Path | None:
    """The PostgreSQL server binaries: version 15 when Debian's postgresql-15 is installed, else the newest."""
    found = {p.parent.parent.name: p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")}
    if PG_VERSION in found:
        return found[PG_VERSION]
    numeric = sorted((int(v), d) for v, d in found.items() if v.isdigit())
    return numeric[-1][1] if numeric else None


def _server_account() -> tuple[int, int] | None:
    """``(uid, gid)`` to run the server as: initdb and postgres refuse to run as root. ``None``: as us."""
    if os.geteuid() != 0:
        return None
    import pwd

    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    raise RuntimeError(
        "running as root, and there is neither a 'postgres' nor a 'nobody' user to run PostgreSQL"
    )


@dataclass
class Postgres:
    """A throwaway PostgreSQL cluster: its data directory, socket and log all live in ``root`` (a temp dir)."""

    root: Path
    bindir: Path
    port: int
    account: tuple[int, int] | None
    log_dir: Path
    stopped: bool = False

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{PG_USER}@127.0.0.1:{self.port}/{PG_DB}"

    def run(self, tool: str, *args: str, timeout: float = 120) -> None:
        """Run one of the server's programs, as the server's account, appending its output to the log."""
        env = {
            "PATH": f"{self.bindir}:/usr/bin:/bin",
            "HOME": str(self.root),
            "LC_ALL": "C",
            "TZ": "UTC",
        }
        kwargs: dict[str, Any] = {}
        if self.account is not None:
            kwargs = {"user": self.account[0], "group": self.account[1], "extra_groups": []}
        with (self.log_dir / "postgres-tools.log").open("ab") as out:
            out.write(f"$ {tool} {' '.join(args)}\n".encode())
            out.flush()
            subprocess.run(
                [str(self.bindir / tool), *args],
                env=env,
                cwd=str(self.root),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                check=True,
                timeout=timeout,
                **kwargs,
            )

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        """Stop the server (fast shutdown; SIGKILL if that fails) and remove its directory. Idempotent."""
        if self.stopped:
            return
        self.stopped = True
        pid = self.postmaster_pid()
        if pid is not None:
            try:
                self.run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop", timeout=60)
            except (subprocess.SubprocessError, OSError) as err:
                log(f"pg_ctl stop failed ({err!r}): SIGKILL to the postmaster {pid} and its group")
                for kill in (os.killpg, os.kill):
                    try:
                        kill(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
        server_log = self.root / "postgres.log"
        if server_log.exists():
            shutil.copyfile(server_log, self.log_dir / "postgres.log")
        shutil.rmtree(self.root, ignore_errors=True)
        log(f"PostgreSQL stopped, {self.root} removed")


def start_postgres(log_dir: Path) -> Postgres:
    """initdb (trust on loopback only) in a fresh temp dir, start on a free port, create the database."""
    bindir = postgres_bindir()
    if bindir is None:
        raise RuntimeError(
            "PostgreSQL's server binaries are missing (/usr/lib/postgresql/*/bin/initdb): "
            "apt-get install postgresql (conftest.py does it when running as root)"
        )
    account = _server_account()
    root = Path(tempfile.mkdtemp(prefix="runway-e2e-pg-"))
    if account is not None:
        os.chown(root, *account)
    pg = Postgres(root, bindir, free_port(), account, log_dir)
    try:
        pg.run(
            "initdb", "-D", str(pg.data), "-U", PG_USER, "--auth=trust", "--encoding=UTF8",
            "--no-locale", "--no-sync",
        )  # fmt: skip
        sockets = root / "sock"
        sockets.mkdir()
        if account is not None:
            os.chown(sockets, *account)
        with (pg.data / "postgresql.conf").open("a") as conf:
            # Loopback only, our own socket dir; durability is pointless for a cluster deleted at the end.
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {pg.port}\nunix_socket_directories = '{sockets}'\n"
                "max_connections = 200\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "log_min_messages = warning\nlog_line_prefix = '%m [%p] '\n"
            )
        pg.run("pg_ctl", "-D", str(pg.data), "-l", str(root / "postgres.log"), "-w", "-t", "60", "start")
        pg.run("createdb", "-h", "127.0.0.1", "-p", str(pg.port), "-U", PG_USER, PG_DB)
    except BaseException:
        pg.stop()
        raise
    log(
        f"PostgreSQL {bindir.parent.name} on 127.0.0.1:{pg.port}, data in {pg.data} (postmaster {pg.postmaster_pid()})"
    )
    return pg


# ------------------------------------------------------------------------------------------ simulators
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


def start_simulator(name: str, flavor: str, api_key: str, log_dir: Path, *extra: str) -> Simulator:
    argv = [str(BIN / "runway-simulator"), "--port", "0", "--flavor", flavor, "--api-key", api_key, *extra]
    out_path = log_dir / f"simulator-{name}.log"
    err = out_path.open("ab")
    popen = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True
    )
    err.close()
    proc = Proc(f"simulator-{name}", popen, out_path)
    assert popen.stdout is not None
    first = popen.stdout.readline().decode().strip()
    if not first.startswith("http"):
        proc.stop()
        raise RuntimeError(f"the {name} simulator did not start (said {first!r}); see {out_path}")
    # Nothing else is printed on stdout; closing our end is harmless.
    popen.stdout.close()
    log(f"simulator {name} ({flavor}) at {first} (pid/pgid {popen.pid})")
    return Simulator(proc, first, api_key, flavor)


#: name (also the connection id ``runway_<name>``) -> flavor and command-line flags. One simulator per
#: scenario that needs its own accounting or timing, so scenarios can overlap in time and still count
#: exactly what they did.
SIMULATORS: dict[str, tuple[str, str]] = {
    # 4 RUNNING slots of 8 s (0.5 tasks/s) while the mapped DAG's creates arrive faster: tasks queue THROTTLED.
    "gateway": (
        "gateway",
        "--pending-seconds 1 --running-seconds 8 --concurrency 4 --task-not-exist-seconds 1",
    ),
    # Runway flavor (it serves DELETE) for the cancel and triggerer-restart DAGs.
    "direct": ("runway", "--pending-seconds 1 --running-seconds 8"),
    # A gateway whose new tasks stay invisible (task_not_exist) for 2 minutes, then run for 5 s.
    "gateway_slow": (
        "gateway",
        f"--task-not-exist-seconds {GATEWAY_SLOW_NOT_EXIST_SECONDS} "
        f"--pending-seconds {GATEWAY_SLOW_NOT_EXIST_SECONDS} --running-seconds 5",
    ),
    # Ten-second generations behind an Airflow pool of 2 slots: its peak_in_flight is the pool's doing.
    "pool": ("runway", "--pending-seconds 1 --running-seconds 9"),
    # The stalled-triggerer scenario (durations set per test with a timing fault).
    "stall": ("runway", "--pending-seconds 1 --running-seconds 8"),
    # The killed-worker scenario (durations set per test with a timing fault).
    "worker": ("runway", "--pending-seconds 1 --running-seconds 8"),
}


# ------------------------------------------------------------------------------------------ Airflow
@dataclass
class AirflowStack:
    home: Path
    log_dir: Path
    env: dict[str, str]
    api_url: str
    sims: dict[str, Simulator]
    postgres: Postgres
    procs: dict[str, Proc] = field(default_factory=dict)
    retired: list[Proc] = field(default_factory=list)
    #: a bearer token from the simple auth manager, once an API call needed one (Airflow 3.1 does)
    token: str | None = None

    @property
    def gateway(self) -> Simulator:
        return self.sims["gateway"]

    @property
    def direct(self) -> Simulator:
        return self.sims["direct"]

    @property
    def outputs(self) -> Path:
        """Where the e2e DAGs save outputs (``RUNWAY_E2E_OUTPUT``)."""
        return Path(self.env["RUNWAY_E2E_OUTPUT"])

    # ------------------------------------------------------------------------------------------ processes
    def start_component(self, name: str, *args: str, env: dict[str, str] | None = None) -> Proc:
        proc = spawn(name, [str(BIN / "airflow"), *args], env or self.env, self.log_dir)
        self.procs[name] = proc
        return proc

    def start_triggerer(self, name: str) -> Proc:
        """Start a triggerer and wait for its row in the ``job`` table, so the test knows its job id."""
        known = {row[0] for row in self.sql("SELECT id FROM job WHERE job_type = 'TriggererJob'")}
        # Each serves its live trigger logs on a port of its own (two cannot share one).
        env = {**self.env, "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())}
        proc = self.start_component(name, "triggerer", env=env)

        def registered() -> int | None:
            if not proc.alive():
                raise RuntimeError(f"{name} exited with {proc.popen.returncode}; see {proc.log_path}")
            rows = self.sql(
                "SELECT id FROM job WHERE job_type = 'TriggererJob' AND state = 'running' ORDER BY id"
            )
            new = [row[0] for row in rows if row[0] not in known]
            return new[-1] if new else None

        proc.job_id = int(wait_for(f"{name} to register its job", registered, 120, 0.5))
        log(f"{name} is triggerer job {proc.job_id}")
        return proc

    def triggerer(self, job_id: int) -> Proc:
        """The running triggerer process of a job id."""
        for proc in self.procs.values():
            if proc.job_id == job_id:
                return proc
        raise KeyError(f"no running triggerer has job id {job_id}")

    def kill_triggerer(self, name: str) -> Proc:
        """Crash a triggerer: SIGKILL its whole process group, no graceful shutdown."""
        proc = self.procs.pop(name)
        log(f"killing {name} (job {proc.job_id}): SIGKILL to its process group {proc.popen.pid}")
        proc.stop(signal.SIGKILL, grace=10)
        self.retired.append(proc)
        return proc

    def stop(self) -> None:
        """Stop every process group, then PostgreSQL (and remove its data). Safe to call twice."""
        try:
            for proc in [*reversed(list(self.procs.values())), *self.retired]:
                if proc.alive():
                    log(f"stopping {proc.name} (process group {proc.popen.pid})")
                proc.stop()
            self.procs.clear()
            for sim in self.sims.values():
                sim.proc.stop()
        finally:
            self.postgres.stop()

    def check_alive(self) -> None:
        dead = [f"{p.name} (exit {p.popen.returncode})" for p in self.procs.values() if not p.alive()]
        if dead:
            raise RuntimeError(f"Airflow component(s) died: {', '.join(dead)}; logs in {self.log_dir}")

    def airflow_cli(self, *args: str, timeout: float = 120) -> str:
        """Run an ``airflow`` CLI command against this stack; returns its stdout."""
        done = subprocess.run(
            [str(BIN / "airflow"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=str(ROOT),
        )
        if done.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} -> {done.returncode}:\n{done.stderr[-3000:]}")
        return done.stdout

    # ------------------------------------------------------------------------------------------ database
    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read Airflow's metadata database directly (for what the REST API does not show)."""
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.postgres.port, user=PG_USER, dbname=PG_DB)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(query, params)
                return list(cur.fetchall()) if cur.description else []
        finally:
            conn.close()

    # ------------------------------------------------------------------------------------------ REST API
    def api(self, method: str, path: str, body: Any = None, *, timeout: float = 30.0) -> Any:
        """Call ``/api/v2``. The simple auth manager's all-admins mode authorises every request on Airflow
        3.3; on 3.1 the API wants a bearer token, which that mode hands out at ``GET /auth/token``."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            f"{self.api_url}/api/v2{path}", data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", "replace")[:2000]
            if err.code == 401 and not self.token:
                with urllib.request.urlopen(f"{self.api_url}/auth/token", timeout=timeout) as response:
                    self.token = str(json.loads(response.read())["access_token"])
                return self.api(method, path, body, timeout=timeout)
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

    def run_seconds(self, dag_id: str, run_id: str) -> float | None:
        """How long a finished run took, from its start and end dates."""
        import datetime

        run = self.api("GET", f"/dags/{dag_id}/dagRuns/{_q(run_id)}")
        if not run.get("start_date") or not run.get("end_date"):
            return None
        start, end = (
            datetime.datetime.fromisoformat(run[k].replace("Z", "+00:00")) for k in ("start_date", "end_date")
        )
        return round((end - start).total_seconds(), 1)

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


def airflow_env(home: Path, api_port: int, sims: dict[str, Simulator], database_url: str) -> dict[str, str]:
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
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": api_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(16).hex(),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            # A worker that died (no heartbeat) fails its try within ~25 s instead of 5 minutes.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(TASK_INSTANCE_HEARTBEAT_TIMEOUT),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            # A killed or stalled triggerer's triggers move to the other one soon (default: 30 s of silence).
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(TRIGGERER_HEALTH_CHECK_THRESHOLD),
            "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # Ports of our own for the log servers, so another Airflow on this machine cannot collide.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "RUNWAY_E2E_OUTPUT": str(home / "outputs"),
            "PYTHONUNBUFFERED": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    for name, sim in sims.items():
        env[f"AIRFLOW_CONN_RUNWAY_{name.upper()}"] = sim.conn_json()
    return env


def start_stack(log_dir: Path = BUILD / "logs") -> AirflowStack:
    """Start everything; on any failure stop what was started and re-raise."""
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*BUILD.glob("*.png"), BUILD / "summary.json"]:  # left by an earlier run
        stale.unlink(missing_ok=True)
    began = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="runway-e2e-airflow-"))
    started: list[Proc] = []
    postgres: Postgres | None = None
    try:
        postgres = start_postgres(log_dir)
        sims = {}
        for seed, (name, (flavor, flags)) in enumerate(SIMULATORS.items()):
            key = {"gateway": GATEWAY_KEY, "direct": DIRECT_KEY}.get(
                name, f"sk-e2e-{name}" if flavor == "gateway" else f"key_e2e_{name}"
            )
            # A seed each, so no two simulators hand out the same task ids (logs stay unambiguous).
            sims[name] = start_simulator(name, flavor, key, log_dir, "--seed", str(seed), *flags.split())
            started.append(sims[name].proc)
        api_port = free_port()
        env = airflow_env(home, api_port, sims, postgres.url)
        log(f"fresh AIRFLOW_HOME {home} (PostgreSQL); migrating the database ...")
        with (log_dir / "db-migrate.log").open("wb") as out:
            subprocess.run(
                [str(BIN / "airflow"), "db", "migrate"],
                env=env,
                check=True,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=300,
            )
        migrated = time.monotonic() - began
        stack = AirflowStack(home, log_dir, env, f"http://127.0.0.1:{api_port}", sims, postgres)
    except BaseException:
        for proc in started:
            proc.stop()
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(home, ignore_errors=True)
        raise
    try:
        stack.start_component("api-server", "api-server")
        stack.start_component("scheduler", "scheduler")
        stack.start_component("dag-processor", "dag-processor")
        for name in TRIGGERERS:  # one after the other: each one's job id is the new row it adds
            stack.start_triggerer(name)

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
        from importlib.metadata import version

        record(
            "stack",
            airflow_version=version("apache-airflow"),
            database="postgresql",
            postgres_version=stack.sql("SHOW server_version")[0][0],
            triggerers={name: stack.procs[name].job_id for name in TRIGGERERS},
            seconds_to_migrated=round(migrated, 1),
            seconds_to_healthy=round(time.monotonic() - began, 1),
        )
        log(f"Airflow is up at {stack.api_url}")
        return stack
    except BaseException:
        finish_stack(stack)
        raise


def finish_stack(stack: AirflowStack) -> None:
    """Stop every process group and PostgreSQL; keep Airflow's task logs under build/e2e/ and drop the
    temp home."""
    try:
        stack.stop()
    finally:
        logs = stack.home / "logs"
        if logs.is_dir():
            shutil.copytree(logs, stack.log_dir / "airflow", dirs_exist_ok=True)
        shutil.rmtree(stack.home, ignore_errors=True)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)  # stop everything on SIGTERM too
    stack = start_stack()
    print(f"Airflow UI: {stack.api_url}")
    for sim_name, sim in stack.sims.items():
        print(f"{sim_name} ({sim.flavor}): {sim.base_url}")
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        finish_stack(stack)
