"""A real Airflow (api-server, scheduler, dag-processor, two triggerers) on a throwaway PostgreSQL cluster,
against Runway simulators, each process in its own process group, in a temporary AIRFLOW_HOME. Everything
is stopped and the PostgreSQL data directory removed at the end, also on failure.

Two profiles, picked by ``RUNWAY_E2E_EXECUTOR``:

* ``LocalExecutor`` (``make e2e``, the default): task processes are children of the scheduler; the Runway
  connections come from ``AIRFLOW_CONN_*`` environment variables.
* ``CeleryExecutor`` (``make e2e-distributed``): also a throwaway Redis (the broker) and two Celery workers
  (``airflow celery worker``), the result backend on the same PostgreSQL, and the connections from a
  secrets backend, as distributed deployments run Airflow. ``COMMANDS`` holds every command it runs the
  way a deployment runs it; ``docs/deployment.md`` quotes them, and ``tests/test_deployment_guide.py``
  checks that the guide quotes nothing else.

Used by ``tests/e2e/conftest.py``; it can also be run alone to poke at the stack by hand::

    .venv/bin/python tests/e2e/runway_e2e_stack.py     # prints the URLs, Ctrl-C stops everything
    RUNWAY_E2E_EXECUTOR=CeleryExecutor .venv/bin/python tests/e2e/runway_e2e_stack.py
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
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

#: which profile: "LocalExecutor" (make e2e) or "CeleryExecutor" (make e2e-distributed)
EXECUTOR = os.environ.get("RUNWAY_E2E_EXECUTOR", "LocalExecutor")
EXECUTORS = ("LocalExecutor", "CeleryExecutor")
if EXECUTOR not in EXECUTORS:
    raise SystemExit(f"RUNWAY_E2E_EXECUTOR must be one of {EXECUTORS}, got {EXECUTOR!r}")
#: the profile's name, as the tests' ``profile`` marker spells it
PROFILE = "distributed" if EXECUTOR == "CeleryExecutor" else "local"
#: two Celery workers of 2 processes each: 4 Celery slots, far fewer than the generations that wait at once
CELERY_WORKERS = ("worker-a", "worker-b")
CELERY_CONCURRENCY = 2
CELERY_SLOTS = len(CELERY_WORKERS) * CELERY_CONCURRENCY
#: [core] parallelism with Celery: what the scheduler may have queued or running in the executor. Deferred
#: task instances are in neither, so they do not count.
CELERY_PARALLELISM = 32
#: [triggerer] capacity (Airflow's default: 1000) in the distributed profile; docs/deployment.md says what to
#: pair it with
TRIGGERER_CAPACITY = 1000
#: Redis redelivers an unacknowledged Celery message after this long (Airflow's default: 86400 s). It must be
#: longer than the longest synchronous (deferrable=False) generation, or a healthy one is started twice.
CELERY_VISIBILITY_TIMEOUT = 21600
#: [workers] min_heartbeat_interval (Airflow's default: 5 s) in the distributed profile
MIN_HEARTBEAT_INTERVAL = 1

#: Every command a deployment of the distributed profile runs, exactly as this harness runs it (``{field}``:
#: a value of the site's). docs/deployment.md quotes them; tests/test_deployment_guide.py checks that every
#: command in the guide is one of these, so the guide cannot drift from what was tested.
COMMANDS: dict[str, str] = {
    "migrate": "airflow db migrate",
    "provider": "airflow providers get airflow-provider-runway",
    "api-server": "airflow api-server",
    "scheduler": "airflow scheduler",
    "dag-processor": "airflow dag-processor",
    "triggerer": "airflow triggerer",
    "celery-worker": "airflow celery worker --concurrency {concurrency} --celery-hostname {name}@%h",
    "celery-worker-alive": (
        "celery --app airflow.providers.celery.executors.celery_executor.app inspect ping "
        "--destination {name}@{host}"
    ),
    "triggerers-alive": "airflow jobs check --job-type TriggererJob --allow-multiple --limit {count}",
    "connection-test": "AIRFLOW__CORE__TEST_CONNECTION=Enabled airflow connections test {conn_id}",
    "pool": "airflow pools set {pool} {slots} {description} --include-deferred",
}


def command(key: str, /, **fields: Any) -> tuple[list[str], dict[str, str]]:
    """``COMMANDS[key]`` with its fields filled in: the argv (its program from this venv) and the
    environment variables it is prefixed with."""
    words = shlex.split(COMMANDS[key].format(**{k: shlex.quote(str(v)) for k, v in fields.items()}))
    env: dict[str, str] = {}
    while "=" in words[0]:
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    return [str(BIN / words[0]), *words[1:]], env


def shown(argv: list[str], env: dict[str, str] | None = None) -> str:
    """A command as a person types it (what summary.json lists under ``commands``)."""
    words = [f"{k}={v}" for k, v in (env or {}).items()] + [Path(argv[0]).name, *argv[1:]]
    return shlex.join(words)


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


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


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


def descendants(pid: int) -> list[int]:
    """Every live descendant of a process, whatever its process group (read from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


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
def postgres_url(port: int) -> str:
    return f"postgresql+psycopg2://{PG_USER}@127.0.0.1:{port}/{PG_DB}"


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
        return postgres_url(self.port)

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


# ------------------------------------------------------------------------------------------ Redis
REDIS_SERVER = "/usr/bin/redis-server"


@dataclass
class Redis:
    """A throwaway Redis (the Celery broker): loopback only, no persistence, its files in ``root``."""

    proc: Proc
    root: Path
    port: int

    @property
    def url(self) -> str:
        return redis_url(self.port)

    def command(self, *words: str) -> bytes:
        """One command over a plain socket (RESP), so no client library is needed: the first reply line."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(f"*{len(words)}\r\n".encode() + b"".join(
                f"${len(w.encode())}\r\n{w}\r\n".encode() for w in words
            ))  # fmt: skip
            return sock.makefile("rb").readline().rstrip()

    def version(self) -> str:
        """``redis_version`` from ``INFO server`` (a bulk reply, read whole)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n")
            reader = sock.makefile("rb")
            body = reader.read(int(reader.readline()[1:])).decode()
        found = [line.split(":", 1)[1] for line in body.splitlines() if line.startswith("redis_version:")]
        return found[0].strip() if found else "?"

    def stop(self) -> None:
        self.proc.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def redis_url(port: int) -> str:
    return f"redis://127.0.0.1:{port}/0"


def start_redis(log_dir: Path) -> Redis:
    """Debian's redis-server on a free loopback port, in a fresh temp dir, saving nothing to disk."""
    if not Path(REDIS_SERVER).exists():
        raise RuntimeError(
            f"{REDIS_SERVER} is missing: apt-get install redis-server (conftest.py does it when running as root)"
        )
    root = Path(tempfile.mkdtemp(prefix="runway-e2e-redis-"))
    port = free_port()
    argv = [
        REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(root), "--save", "",
        "--appendonly", "no", "--protected-mode", "yes", "--daemonize", "no", "--loglevel", "notice",
    ]  # fmt: skip
    redis = Redis(spawn("redis", argv, {"PATH": "/usr/bin:/bin", "HOME": str(root)}, log_dir), root, port)
    try:

        def pong() -> bool:
            if not redis.proc.alive():
                raise RuntimeError(
                    f"redis-server exited with {redis.proc.popen.returncode}; see {redis.proc.log_path}"
                )
            return redis.command("PING") == b"+PONG"

        wait_for("Redis to answer PING", pong, 30, 0.2)
    except BaseException:
        redis.stop()
        raise
    log(f"Redis on 127.0.0.1:{port}, dir {root}")
    return redis


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

    def conn(self) -> dict[str, Any]:
        """The connection to this simulator, in the JSON form both ``AIRFLOW_CONN_*`` and a secrets
        backend's file take."""
        return {
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

    def conn_json(self) -> str:
        return json.dumps(self.conn())


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
#: only in the distributed profile: the fleet of mapped generations, one simulator per flavor. Every
#: generation runs long enough that most of the fleet waits at once, deferred.
FLEET_RUNNING_SECONDS = 45
DISTRIBUTED_SIMULATORS: dict[str, tuple[str, str]] = {
    "fleet_direct": ("runway", f"--pending-seconds 1 --running-seconds {FLEET_RUNNING_SECONDS}"),
    "fleet_gateway": (
        "gateway",
        f"--pending-seconds 1 --running-seconds {FLEET_RUNNING_SECONDS} --task-not-exist-seconds 1",
    ),
}


def simulators(executor: str = EXECUTOR) -> dict[str, tuple[str, str]]:
    """The simulators a profile starts."""
    return {**SIMULATORS, **(DISTRIBUTED_SIMULATORS if executor == "CeleryExecutor" else {})}


# ------------------------------------------------------------------------------------------ Airflow
@dataclass
class AirflowStack:
    home: Path
    log_dir: Path
    env: dict[str, str]
    api_url: str
    sims: dict[str, Simulator]
    postgres: Postgres
    #: the Celery broker (distributed profile only)
    redis: Redis | None = None
    executor: str = "LocalExecutor"
    procs: dict[str, Proc] = field(default_factory=dict)
    retired: list[Proc] = field(default_factory=list)
    #: a bearer token from the simple auth manager, once an API call needed one (Airflow 3.1 does)
    token: str | None = None
    #: every ``COMMANDS`` command this stack ran, as a person types it (in summary.json), and their keys
    commands_run: list[str] = field(default_factory=list)
    command_keys_run: set[str] = field(default_factory=set)

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
        """Start ``airflow <args>`` (``COMMANDS[args[0]]`` when there is one) as a process group of its own."""
        key = args[0] if len(args) == 1 and args[0] in COMMANDS else None
        argv, extra = command(key) if key else ([str(BIN / "airflow"), *args], {})
        self.note(argv, extra, key)
        proc = spawn(name, argv, {**(env or self.env), **extra}, self.log_dir)
        self.procs[name] = proc
        return proc

    def note(self, argv: list[str], env: dict[str, str] | None = None, key: str | None = None) -> None:
        if key is not None:
            self.command_keys_run.add(key)
        line = shown(argv, env)
        if line not in self.commands_run:
            self.commands_run.append(line)

    def run_command(self, key: str, /, *, timeout: float = 120, **fields: Any) -> str:
        """Run ``COMMANDS[key]`` to its end against this stack; returns its stdout (fails on a non-zero exit)."""
        argv, extra = command(key, **fields)
        self.note(argv, extra, key)
        done = subprocess.run(
            argv,
            env={**self.env, **extra},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=str(ROOT),
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{shown(argv, extra)} -> {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
            )
        return done.stdout

    def start_celery_worker(self, name: str) -> Proc:
        """``airflow celery worker`` under a Celery hostname of its own; waits until it answers a ping."""
        argv, extra = command("celery-worker", concurrency=CELERY_CONCURRENCY, name=name)
        self.note(argv, extra, "celery-worker")
        # Each serves its task logs on a port of its own, as each would on a host of its own.
        env = {**self.env, **extra, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
        proc = spawn(name, argv, env, self.log_dir)
        self.procs[name] = proc
        host = socket.gethostname()

        def answers() -> bool:
            if not proc.alive():
                raise RuntimeError(f"{name} exited with {proc.popen.returncode}; see {proc.log_path}")
            try:
                return "pong" in self.run_command("celery-worker-alive", name=name, host=host, timeout=60)
            except RuntimeError:
                return False  # not connected to the broker yet: the ping finds nobody and exits 1

        wait_for(f"Celery worker {name}@{host} to answer a ping", answers, 180, 1.0)
        log(f"{name} ({name}@{host}) answers pings")
        return proc

    def celery_worker_of(self, pid: int) -> Proc:
        """The running Celery worker a process descends from (a task process has a process group of its
        own, so its group does not tell)."""
        leaders = {p.popen.pid: p for name, p in self.procs.items() if name in CELERY_WORKERS}
        chain = [pid]
        while chain[-1] > 1 and chain[-1] not in leaders:
            try:
                stat = Path(f"/proc/{chain[-1]}/stat").read_text()
            except OSError:
                break
            chain.append(int(stat.rsplit(")", 1)[1].split()[1]))
        if chain[-1] in leaders:
            return leaders[chain[-1]]
        raise KeyError(f"process {pid} (ancestors {chain}) descends from no running Celery worker")

    def kill_component(self, name: str, *, tree: bool = False) -> Proc:
        """Crash a component: SIGKILL its whole process group. ``tree``: also every descendant in a group
        of its own, as when its host or container dies (Airflow 3.3's task supervisor puts each task
        process in a process group of its own, apache/airflow#65505)."""
        proc = self.procs.pop(name)
        others: list[int] = []
        if tree:
            os.killpg(proc.popen.pid, signal.SIGSTOP)  # nothing in the group forks while the rest is found
            others = [pid for pid in descendants(proc.popen.pid) if _pgid(pid) not in (None, proc.popen.pid)]
            for pid in others:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        log(
            f"killing {name} (job {proc.job_id}): SIGKILL to its process group {proc.popen.pid}"
            + (f" and to its descendants in groups of their own {others}" if others else "")
        )
        proc.stop(signal.SIGKILL, grace=10)
        self.retired.append(proc)
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
        return self.kill_component(name)

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
            if self.redis is not None:
                self.redis.stop()
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
        """Every task instance of a run (the API hands out at most ``[api] maximum_page_limit``, 100, a page)."""
        found: list[dict[str, Any]] = []
        while True:
            page = self.api(
                "GET", f"/dags/{dag_id}/dagRuns/{_q(run_id)}/taskInstances?limit=100&offset={len(found)}"
            )
            found.extend(page["task_instances"])
            if not page["task_instances"] or len(found) >= page["total_entries"]:
                return found

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


def airflow_env(
    home: Path,
    api_port: int,
    sims: dict[str, Simulator],
    database_url: str,
    *,
    executor: str = "LocalExecutor",
    broker_url: str | None = None,
) -> dict[str, str]:
    """The environment of every Airflow process of a profile. The local profile passes the Runway
    connections as ``AIRFLOW_CONN_*``; the distributed one reads them from a secrets backend's file,
    ``connections_file(home)``, which ``start_stack`` writes."""
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
    if executor == "LocalExecutor":
        for name, sim in sims.items():
            env[f"AIRFLOW_CONN_RUNWAY_{name.upper()}"] = sim.conn_json()
        return env
    if broker_url is None:
        raise ValueError(f"{executor} needs a broker URL")
    env.update(
        {
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__PARALLELISM": str(CELERY_PARALLELISM),
            "AIRFLOW__CELERY__BROKER_URL": broker_url,
            # Task states in the metadata database's server, as the executor reads them back.
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database_url,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(CELERY_CONCURRENCY),
            # Airflow 3.3's task supervisor can keep its Celery slot for this long after the task process
            # ended (default 5 s): it may see the process's sockets close before its exit, and then waits
            # in select() with nothing to wake it until the next heartbeat is due. See docs/deployment.md.
            "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": str(MIN_HEARTBEAT_INTERVAL),
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": str(CELERY_VISIBILITY_TIMEOUT),
            "AIRFLOW__TRIGGERER__CAPACITY": str(TRIGGERER_CAPACITY),
            # The Runway connections: only in the secrets backend's file, never in the metadata database
            # or the environment (a file a secret store mounts; Vault or a cloud's secret manager is the
            # same lookup through their providers' backend classes).
            "AIRFLOW__SECRETS__BACKEND": "airflow.secrets.local_filesystem.LocalFilesystemBackend",
            "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps(
                {"connections_file_path": str(connections_file(home))}
            ),
        }
    )
    return env


def connections_file(home: Path) -> Path:
    """The distributed profile's secrets backend file: connection id -> connection JSON."""
    return home / "secrets" / "connections.json"


def write_connections_file(home: Path, sims: dict[str, Simulator]) -> Path:
    path = connections_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    conns = {f"runway_{name}": sim.conn() for name, sim in sims.items()}
    path.write_text(json.dumps(conns, indent=1))
    path.chmod(0o600)
    return path


def start_stack(log_dir: Path = BUILD / "logs", executor: str = EXECUTOR) -> AirflowStack:
    """Start everything; on any failure stop what was started and re-raise."""
    shutil.rmtree(log_dir, ignore_errors=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*BUILD.glob("*.png"), BUILD / "summary.json"]:  # left by an earlier run
        stale.unlink(missing_ok=True)
    began = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="runway-e2e-airflow-"))
    started: list[Proc] = []
    postgres: Postgres | None = None
    redis: Redis | None = None
    celery = executor == "CeleryExecutor"
    try:
        postgres = start_postgres(log_dir)
        if celery:
            redis = start_redis(log_dir)
        sims = {}
        for seed, (name, (flavor, flags)) in enumerate(simulators(executor).items()):
            key = {"gateway": GATEWAY_KEY, "direct": DIRECT_KEY}.get(
                name, f"sk-e2e-{name}" if flavor == "gateway" else f"key_e2e_{name}"
            )
            # A seed each, so no two simulators hand out the same task ids (logs stay unambiguous).
            sims[name] = start_simulator(name, flavor, key, log_dir, "--seed", str(seed), *flags.split())
            started.append(sims[name].proc)
        api_port = free_port()
        env = airflow_env(
            home, api_port, sims, postgres.url, executor=executor, broker_url=redis.url if redis else None
        )
        if celery:
            write_connections_file(home, sims)
        stack = AirflowStack(
            home, log_dir, env, f"http://127.0.0.1:{api_port}", sims, postgres, redis=redis, executor=executor
        )
        log(f"fresh AIRFLOW_HOME {home} (PostgreSQL, {executor}); migrating the database ...")
        argv, extra = command("migrate")
        stack.note(argv, extra, "migrate")
        with (log_dir / "db-migrate.log").open("wb") as out:
            subprocess.run(
                argv,
                env={**env, **extra},
                check=True,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=300,
            )
        migrated = time.monotonic() - began
    except BaseException:
        for proc in started:
            proc.stop()
        if redis is not None:
            redis.stop()
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(home, ignore_errors=True)
        raise
    try:
        if celery:
            # What the image has: the provider, registered with Airflow (its connection type, its hooks).
            listed = stack.run_command("provider", timeout=180)
            assert "airflow-provider-runway" in listed, listed
        stack.start_component("api-server", "api-server")
        stack.start_component("scheduler", "scheduler")
        stack.start_component("dag-processor", "dag-processor")
        for name in TRIGGERERS:  # one after the other: each one's job id is the new row it adds
            stack.start_triggerer(name)
        if celery:
            for name in CELERY_WORKERS:
                stack.start_celery_worker(name)

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
        if celery:
            # The liveness checks of a deployment: both triggerers heartbeat ...
            stack.run_command("triggerers-alive", count=len(TRIGGERERS), timeout=180)
            # ... and each Runway connection resolves from the secrets backend and reaches the service.
            for name in ("direct", "gateway"):
                said = stack.run_command("connection-test", conn_id=f"runway_{name}", timeout=180)
                assert "Connection success" in said, said
        from importlib.metadata import version

        facts: dict[str, Any] = {
            "airflow_version": version("apache-airflow"),
            "executor": executor,
            "database": "postgresql",
            "postgres_version": stack.sql("SHOW server_version")[0][0],
            "triggerers": {name: stack.procs[name].job_id for name in TRIGGERERS},
            "seconds_to_migrated": round(migrated, 1),
            "seconds_to_healthy": round(time.monotonic() - began, 1),
        }
        if celery:
            assert redis is not None
            facts.update(
                {
                    "celery_provider_version": version("apache-airflow-providers-celery"),
                    "celery_version": version("celery"),
                    "redis_version": redis.version(),
                    "celery_workers": list(CELERY_WORKERS),
                    "celery_concurrency": CELERY_CONCURRENCY,
                    "celery_slots": CELERY_SLOTS,
                    "parallelism": CELERY_PARALLELISM,
                    "triggerer_capacity": TRIGGERER_CAPACITY,
                    "connections": "secrets backend (LocalFilesystemBackend)",
                    "commands": stack.commands_run,
                }
            )
        record("stack", **facts)
        log(f"Airflow is up at {stack.api_url}")
        return stack
    except BaseException:
        finish_stack(stack)
        raise


def finish_stack(stack: AirflowStack) -> None:
    """Stop every process group and PostgreSQL; keep Airflow's task logs under build/e2e/ and drop the
    temp home."""
    if stack.executor == "CeleryExecutor" and (BUILD / "summary.json").exists():
        record("stack", commands=stack.commands_run)  # with those the scenarios ran too
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
