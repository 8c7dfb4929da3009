"""The triggerer figures from Airflow's own triggerer, beside the lookalike loop of ``bench_triggerer.py``.

The workload is ``bench_triggerer.py``'s (N tasks on the Runway simulator, remote finish spread over
``[min_finish, max_finish]`` s, pending 0-10 s then running; the same seed, so the same plan), but the
waiting is done by Airflow: a throwaway PostgreSQL 15 (``tests/e2e/runway_e2e_stack.start_postgres``), a
migrated metadata database, a two-task benchmark DAG serialized into it, one DagRun, and N task instances in
state DEFERRED, each with its own trigger row holding what the provider's operator stores
(``RunwayTaskTrigger(...).serialize()``: deadline now + 3600, poll_interval 6, the design's polling_mode,
visible_by = created + DEFAULT_NOT_EXIST_GRACE). ``airflow triggerer`` alone runs them (no scheduler: the
resumed task instances stay SCHEDULED, which is all that is read).

How each figure is taken without changing the provider (``_real_triggers.py``):

* events: the trigger class is ``_real_triggers.TimedRunwayTaskTrigger``, the provider's trigger with the
  same kwargs and ``run()``, whose event payload gains ``fired_at`` (the moment the event was in hand, as the
  lookalike records it) and ``started_at``. Airflow writes the payload to the task instance's ``next_kwargs``;
  it is read back at the end, with ``scheduled_dttm`` (when the triggerer's supervisor committed the event);
* notification delay: ``fired_at`` minus the moment the task became SUCCEEDED on the simulator's 5 s update
  grid, exactly as the lookalike computes it; ``db_delay_s`` is the same to the commit in the database;
* lag: one more deferred task instance runs ``_real_triggers.LagProbeTrigger`` in the same loop, sampling
  like ``bench_triggerer.Watchdog`` (sleep 0.1 s, record the lateness); also the collector's passes there;
* CPU per GET: user + sys CPU of the trigger runner (the child of ``airflow triggerer`` that runs the
  asyncio loop, found by the probe's pid) from the trigger rows' insert to the last event, over the GETs the
  simulator counted for the N tasks (``/_sim/accounting``); the supervisor (DB polling, event submission,
  log routing) and PostgreSQL are reported apart.

Loads and pinning as in ``bench_triggerer.py``: with ``--pin`` (default on 2+ CPUs) the simulator, PostgreSQL
and this script's helpers run on CPU 0, the triggerer's process tree on CPU 1; ``loaded`` adds
``bench_triggerer.NEIGHBOUR`` on CPU 1 for the whole run. A fresh simulator and a fresh triggerer per run;
one PostgreSQL per invocation. Unless ``--no-lookalike``, the same N, designs and loads then run through
``bench_triggerer.py`` (``--no-ramp``), and both land in ``benchmarks/results/real_triggerer.json``.

    benchmarks/.venv/bin/python benchmarks/bench_real_triggerer.py [--n 500,5000]
        [--designs provider-adaptive,provider-fixed] [--loads quiet,loaded] [--no-lookalike] [--profile PREFIX]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_triggerer as bt
from _common import RESULTS, conn_json, machine, percentile, py_spy, save, sim_get, simulator, wait_until

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

DAG_ID = "runway_bench_real_triggerer"
TIMED = "_real_triggers.TimedRunwayTaskTrigger"
AIRFLOW = HERE / ".venv" / "bin" / "airflow"
SIM_CPU, TRIGGERER_CPU = 0, 1

DAG_FILE = f'''
"""The benchmark's DAG: only its serialized form is used (the triggerer needs a DAG version)."""
from airflow.sdk import DAG, BaseOperator


class Wait(BaseOperator):
    def execute(self, context):
        return None

    def execute_complete(self, context, event=None):
        return event


with DAG({DAG_ID!r}, schedule=None, catchup=False):
    Wait(task_id="wait")
    Wait(task_id="lag_probe")
'''


# ------------------------------------------------------------------------------------------------------------
# The helper: Airflow's ORM in its own process (the benchmark venv, the triggerer's environment)
# ------------------------------------------------------------------------------------------------------------
def helper() -> None:
    """Answer one JSON request per stdin line with one JSON line on stdout (Airflow's own output: stderr)."""
    import datetime as dt

    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    from _real_triggers import LagProbeTrigger, TimedRunwayTaskTrigger
    from airflow.models.dag_version import DagVersion
    from airflow.models.dagbag import DBDagBag
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger, _decode_next_kwargs
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType
    from sqlalchemy import delete, func, select

    from airflow_provider_runway.models import DEFAULT_NOT_EXIST_GRACE

    def utcnow() -> dt.datetime:
        return dt.datetime.now(dt.timezone.utc)

    def deferred(ti: TaskInstance, trigger: Trigger, timeout_s: float) -> None:
        # What TaskInstance.defer_task / the execution API's deferral leaves in the row.
        now = utcnow()
        ti.state = TaskInstanceState.DEFERRED
        ti.try_number = 1
        ti.start_date = now
        ti.trigger_id = trigger.id
        ti.next_method = "execute_complete"
        ti.next_kwargs = {}
        ti.trigger_timeout = now + dt.timedelta(seconds=timeout_s)

    def setup_run(req: dict[str, Any]) -> dict[str, Any]:
        with create_session() as session:
            dag = DBDagBag().get_latest_version_of_dag(DAG_ID, session=session)
            now = utcnow()
            run = dag.create_dagrun(
                run_id=req["run_id"],
                run_after=now,
                run_type=DagRunType.MANUAL,
                triggered_by=DagRunTriggeredByType.TEST,
                state=DagRunState.RUNNING,
                start_date=now,
                session=session,
            )
            session.flush()
            tis = {ti.task_id: ti for ti in run.get_task_instances(session=session)}
            session.delete(tis["wait"])  # the N mapped instances come later, with their triggers
            probe = Trigger.from_object(LagProbeTrigger(**req["probe"]))
            session.add(probe)
            session.flush()
            deferred(tis["lag_probe"], probe, 3600)
        return {"ok": True}

    def defer(req: dict[str, Any]) -> dict[str, Any]:
        started = time.time()
        with create_session() as session:
            dag = DBDagBag().get_latest_version_of_dag(DAG_ID, session=session)
            task = dag.get_task("wait")
            version = DagVersion.get_latest_version(DAG_ID, session=session)
            deadline = time.time() + 3600
            # As bench_triggerer._provider_waiters builds them, through the operator's serialize().
            rows = [
                Trigger.from_object(
                    TimedRunwayTaskTrigger(
                        runway_task_id=task_id,
                        deadline=deadline,
                        poll_interval=bt.POLL,
                        polling_mode=req["mode"],
                        visible_by=created + DEFAULT_NOT_EXIST_GRACE,
                    )
                )
                for task_id, created in req["tasks"]
            ]
            session.add_all(rows)
            session.flush()
            tis = []
            for index, row in enumerate(rows):
                ti = TaskInstance(task=task, dag_version_id=version.id, run_id=req["run_id"], map_index=index)
                deferred(ti, row, deadline - time.time() + 60)
                tis.append(ti)
            session.add_all(tis)
        return {"committed_at": time.time(), "build_s": round(time.time() - started, 2)}

    def count(req: dict[str, Any]) -> dict[str, Any]:
        with create_session() as session:
            rows = session.execute(
                select(TaskInstance.task_id, TaskInstance.state, func.count())
                .where(TaskInstance.dag_id == DAG_ID, TaskInstance.run_id == req["run_id"])
                .group_by(TaskInstance.task_id, TaskInstance.state)
            ).all()
        out: dict[str, dict[str, int]] = {}
        for task_id, state, number in rows:
            out.setdefault(task_id, {})[str(state)] = number
        return out

    def results(req: dict[str, Any]) -> dict[str, Any]:
        events: list[dict[str, Any]] = []
        probe = None
        with create_session() as session:
            tis = session.scalars(
                select(TaskInstance).where(
                    TaskInstance.dag_id == DAG_ID,
                    TaskInstance.run_id == req["run_id"],
                    TaskInstance.state != TaskInstanceState.DEFERRED,
                )
            ).all()
            for ti in tis:
                event = _decode_next_kwargs(ti.next_kwargs or {}).get("event")
                if ti.task_id == "lag_probe":
                    probe = event
                else:
                    events.append(
                        {
                            "map_index": ti.map_index,
                            "state": str(ti.state),
                            "event": event,
                            "scheduled": ti.scheduled_dttm.timestamp() if ti.scheduled_dttm else None,
                        }
                    )
        return {"events": events, "probe": probe}

    def cleanup(req: dict[str, Any]) -> dict[str, Any]:
        # Whatever is still deferred (over the cap) must not be picked up by the next run's triggerer.
        with create_session() as session:
            ids = session.scalars(
                select(TaskInstance.trigger_id).where(
                    TaskInstance.dag_id == DAG_ID,
                    TaskInstance.run_id == req["run_id"],
                    TaskInstance.trigger_id.is_not(None),
                )
            ).all()
            session.execute(
                TaskInstance.__table__.update()
                .where(TaskInstance.dag_id == DAG_ID, TaskInstance.run_id == req["run_id"])
                .where(TaskInstance.state == TaskInstanceState.DEFERRED)
                .values(state=TaskInstanceState.FAILED, trigger_id=None)
            )
            if ids:
                session.execute(delete(Trigger).where(Trigger.id.in_(ids)))
        return {"removed_triggers": len(ids)}

    ops = {"setup_run": setup_run, "defer": defer, "count": count, "results": results, "cleanup": cleanup}
    for line in sys.stdin:
        request = json.loads(line)
        try:
            reply = ops[request["op"]](request)
        except Exception as err:  # reported to the parent, which raises it
            import traceback

            reply = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
        replies.write(json.dumps(reply, default=str) + "\n")
        replies.flush()


class Helper:
    """The parent's end of ``helper()``."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--helper"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        bt._pin(self.process.pid, SIM_CPU if PIN else None)

    def call(self, op: str, **fields: Any) -> Any:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the ORM helper died during {op!r}; see {self.log.name}")
        reply = json.loads(line)
        if isinstance(reply, dict) and "error" in reply:
            raise RuntimeError(f"helper {op}: {reply['error']}\n{reply.get('traceback', '')}")
        return reply

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log.close()


PIN = True
#: ``[logging] logging_level`` of every Airflow process: INFO (Airflow's default) unless ``--logging-level``
LOGGING_LEVEL = "INFO"


# ------------------------------------------------------------------------------------------------------------
# The stack: PostgreSQL, a migrated database, the DAG serialized
# ------------------------------------------------------------------------------------------------------------
class Stack:
    def __init__(self, work: Path) -> None:
        from cryptography.fernet import Fernet

        sys.path.insert(0, str(ROOT / "tests" / "e2e"))
        import runway_e2e_stack as e2e

        self.e2e = e2e
        self.work = work
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.home = work / "airflow_home"
        self.dags = work / "dags"
        self.home.mkdir()
        self.dags.mkdir()
        (self.dags / "bench_real_triggerer_dag.py").write_text(DAG_FILE)
        self.fernet = Fernet.generate_key().decode()
        self.pg: Any = None
        self.pg = e2e.start_postgres(self.logs)
        self.pin_postgres()

    def pin_postgres(self) -> None:
        import psutil

        if not PIN or self.pg is None:
            return
        pid = self.pg.postmaster_pid()
        if pid is None:
            return
        process = psutil.Process(pid)
        for member in [process, *process.children(recursive=True)]:
            try:
                os.sched_setaffinity(member.pid, {SIM_CPU})
            except (ProcessLookupError, PermissionError):
                pass

    def postgres_cpu_s(self) -> float:
        import psutil

        pid = self.pg.postmaster_pid()
        total = 0.0
        try:
            process = psutil.Process(pid)
            for member in [process, *process.children(recursive=True)]:
                try:
                    times = member.cpu_times()
                    total += times.user + times.system + times.children_user + times.children_system
                except psutil.NoSuchProcess:
                    pass
        except psutil.NoSuchProcess:
            pass
        return total

    def env(self, capacity: int = 100, base: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.pg.url,
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__FERNET_KEY": self.fernet,
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__TRIGGERER__CAPACITY": str(capacity),
                "AIRFLOW__TRIGGERER__MAX_TRIGGER_TO_SELECT_PER_LOOP": str(capacity),
                "AIRFLOW__LOGGING__LOGGING_LEVEL": LOGGING_LEVEL,
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.e2e.free_port()),
                "PYTHONPATH": os.pathsep.join([str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])]),
                "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost",
            }
        )
        if base is not None:
            env["AIRFLOW_CONN_RUNWAY_DEFAULT"] = conn_json(base)
        return env

    def airflow(self, *args: str, timeout: float = 600) -> None:
        with (self.logs / "airflow-cli.log").open("ab") as out:
            subprocess.run(
                [str(AIRFLOW), *args],
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=timeout,
            )

    def prepare(self) -> None:
        started = time.monotonic()
        self.airflow("db", "migrate")
        self.airflow("dags", "reserialize")
        self.pin_postgres()  # the backends of the migration are gone; the postmaster's helpers stay pinned
        print(
            f"# PostgreSQL on {self.pg.url}, migrated and DAG serialized in {time.monotonic() - started:.0f} s"
        )

    def stop(self) -> None:
        if self.pg is not None:
            self.pg.stop()


# ------------------------------------------------------------------------------------------------------------
# One run: a simulator, a triggerer, N deferred task instances
# ------------------------------------------------------------------------------------------------------------
def _plan(n: int, seed: int, min_finish: float, max_finish: float) -> list[tuple[float, float]]:
    """bench_triggerer._child_run's plan, draw for draw."""
    rng = random.Random(seed)
    plan = []
    for _ in range(n):
        finish = rng.uniform(min_finish, max_finish)
        pending = rng.uniform(0, min(10.0, finish / 3))
        plan.append((pending, finish - pending))
    return plan


def _cpu(process: Any) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _lines(path: Path) -> int:
    try:
        with path.open("rb") as handle:
            return sum(1 for _ in handle)
    except OSError:
        return 0


def _trigger_logs(logs: Path, run_id: str) -> dict[str, int]:
    """What the triggerer's supervisor wrote to the task instances' trigger logs during the run."""
    files = [p for p in logs.rglob("*trigger*") if p.is_file() and run_id in str(p)]
    lines = 0
    for path in files:
        with path.open("rb") as handle:
            lines += sum(1 for _ in handle)
    return {"files": len(files), "lines": lines, "bytes": sum(p.stat().st_size for p in files)}


def _lag(samples: list[list[float]], start: float, end: float = math.inf) -> dict[str, float]:
    lags = [lag for t, lag in samples if start <= t < end]
    return {
        "p50": round(percentile(lags, 50), 2),
        "p99": round(percentile(lags, 99), 2),
        "max": round(max(lags), 2) if lags else float("nan"),
        "samples": len(lags),
    }


def _stop_tree(process: subprocess.Popen[Any], grace: float = 30) -> None:
    """SIGTERM ``airflow triggerer`` (it stops its runner), then SIGKILL its process group if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if process.poll() is None:
        process.wait(10)


def run_real(stack: Stack, helper: Helper, n: int, design: str, load: str, args: argparse.Namespace) -> dict:
    import psutil

    mode = design.split("-", 1)[1]
    tag = f"{design}_{n}_{load}"
    run_id = f"bench_{tag}_{int(time.time())}"
    run_dir = stack.work / run_id
    run_dir.mkdir()
    waited = wait_for_quiet_host(stack, args.wait_quiet)
    stop_file, ready_file = run_dir / "stop", run_dir / "probe_ready"
    events_file = run_dir / "events.txt"
    limits = ("--credits", "1000000000", "--daily-limit", "100000000")
    plan = _plan(n, args.seed, args.min_finish, args.max_finish)
    neighbour = triggerer = spy = None
    with simulator("--update-interval", str(bt.UPDATE_INTERVAL), *limits) as (base, root, sim_pid):
        bt._pin(sim_pid, SIM_CPU if PIN else None)
        sim = psutil.Process(sim_pid)
        helper.call(
            "setup_run",
            run_id=run_id,
            probe={
                "stop_file": str(stop_file),
                "ready_file": str(ready_file),
                "max_seconds": args.max_wall + 120,
            },
        )
        try:
            log = (stack.logs / f"triggerer_{tag}.log").open("ab")
            triggerer = subprocess.Popen(
                [str(AIRFLOW), "triggerer", "--skip-serve-logs", "--capacity", str(n + 10)],
                env={**stack.env(n + 10, base), "RUNWAY_BENCH_EVENTS_FILE": str(events_file)},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            bt._pin(triggerer.pid, TRIGGERER_CPU if PIN else None)
            if not wait_until(lambda: ready_file.exists() or triggerer.poll() is not None, 180, step=0.5):
                raise RuntimeError(f"the lag probe did not start within 180 s; see {log.name}")
            if triggerer.poll() is not None:
                raise RuntimeError(f"airflow triggerer exited ({triggerer.returncode}); see {log.name}")
            runner = psutil.Process(int(ready_file.read_text()))
            supervisor = psutil.Process(triggerer.pid)
            tree = [supervisor, *supervisor.children(recursive=True)]
            if runner not in tree:
                raise RuntimeError(
                    f"the probe runs in {runner.pid}, not under airflow triggerer {triggerer.pid}"
                )
            for member in tree:
                bt._pin(member.pid, TRIGGERER_CPU if PIN else None)
            # The triggerer's own floor: its loops with only the probe to run (one supervisor-runner
            # exchange and one round of trigger queries a second), before any Runway trigger exists.
            idle0 = (_cpu(runner), _cpu(supervisor), time.monotonic())
            time.sleep(args.idle_window)
            idle_s = time.monotonic() - idle0[2]
            idle = {
                "window_s": round(idle_s, 1),
                "runner_cpu_share_of_one_core": round((_cpu(runner) - idle0[0]) / idle_s, 4),
                "supervisor_cpu_share_of_one_core": round((_cpu(supervisor) - idle0[1]) / idle_s, 4),
            }
            if load == "loaded":
                neighbour = subprocess.Popen([sys.executable, "-c", bt.NEIGHBOUR])
                bt._pin(neighbour.pid, TRIGGERER_CPU if PIN else None)
                neighbour_process = psutil.Process(neighbour.pid)
            tasks = asyncio.run(bt._create_tasks(base, plan))
            info = {t["id"]: t for t in sim_get(root, "/_sim/tasks")}
            created = {task_id: info[task_id]["created"] for task_id, _, _ in tasks}
            remote_done = [
                created[task_id] + math.ceil((p + r) / bt.UPDATE_INTERVAL - 1e-9) * bt.UPDATE_INTERVAL
                for task_id, p, r in tasks
            ]
            try:
                Path(f"/proc/{runner.pid}/clear_refs").write_text("5")
            except OSError:
                pass
            rss_base = _status_kb(runner.pid, "VmRSS")
            if args.profile:
                spy = py_spy(
                    triggerer.pid, f"{args.profile}_real_{tag}.txt", "--subprocesses", "--nonblocking"
                )
            cpu0 = {"runner": _cpu(runner), "supervisor": _cpu(supervisor), "sim": _cpu(sim)}
            cpu0["postgres"] = stack.postgres_cpu_s()
            neighbour_cpu0 = _cpu(neighbour_process) if neighbour else 0.0
            others0 = _others(_mine(stack))
            start = time.time()
            start_mono = time.monotonic()
            inserted = helper.call(
                "defer",
                run_id=run_id,
                mode=mode,
                tasks=[(task_id, created[task_id]) for task_id, _, _ in tasks],
            )
            cap = start_mono + args.max_wall
            deferred = n
            at_fired: dict[str, float] | None = None  # the moment all N events were in hand in the runner
            while time.monotonic() < cap:
                if at_fired is None and _lines(events_file) >= n:
                    at_fired = {
                        "runner": _cpu(runner),
                        "supervisor": _cpu(supervisor),
                        "sim": _cpu(sim),
                        "elapsed": time.monotonic() - start_mono,
                    }
                counts = helper.call("count", run_id=run_id).get("wait", {})
                deferred = counts.get("deferred", 0)
                if deferred == 0 and sum(counts.values()) >= n:
                    break
                if triggerer.poll() is not None:
                    raise RuntimeError(f"airflow triggerer exited ({triggerer.returncode}); see {log.name}")
                time.sleep(0.5)
            end = time.time()
            elapsed = time.monotonic() - start_mono
            cpu1 = {"runner": _cpu(runner), "supervisor": _cpu(supervisor), "sim": _cpu(sim)}
            cpu1["postgres"] = stack.postgres_cpu_s()
            neighbour_share = (
                round((_cpu(neighbour_process) - neighbour_cpu0) / elapsed, 3) if neighbour else None
            )
            others = _others_cpu(others0, stack, start)
            hwm = _status_kb(runner.pid, "VmHWM")
            gets = sim_get(root, "/_sim/accounting")["gets"]
            stop_file.write_text("stop")
            samples_file = Path(f"{stop_file}.samples.json")
            if not wait_until(samples_file.exists, 60, step=0.5):
                raise RuntimeError("the lag probe did not write its samples within 60 s")
            time.sleep(1)
            probe = json.loads(samples_file.read_text())
            found = helper.call("results", run_id=run_id)
            fired_lines = events_file.read_text().splitlines() if events_file.exists() else []
            trigger_logs = _trigger_logs(stack.home / "logs", run_id)
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)
            if neighbour is not None:
                neighbour.kill()
                neighbour.wait(10)
            if triggerer is not None:
                _stop_tree(triggerer)
            if spy is not None:
                try:
                    spy.wait(60)
                except subprocess.TimeoutExpired:
                    spy.kill()
            helper.call("cleanup", run_id=run_id)

    # Events in hand in the trigger runner (the lookalike's measure), from the events file ...
    fired: dict[str, tuple[float, float]] = {}
    for line in fired_lines:
        task_id, started_at, fired_at = line.split()
        fired.setdefault(task_id, (float(started_at), float(fired_at)))
    # ... and events committed to the database by the triggerer's supervisor (task instance resumable).
    events = [e for e in found["events"] if isinstance(e.get("event"), dict) and "fired_at" in e["event"]]
    by_index = {e["map_index"]: e for e in events}
    order = [task_id for task_id, _, _ in tasks]
    delays = [fired[t][1] - remote_done[i] for i, t in enumerate(order) if t in fired and fired[t][1] <= end]
    db_delays = [
        by_index[i]["scheduled"] - remote_done[i]
        for i in range(len(tasks))
        if i in by_index and by_index[i]["scheduled"] is not None
    ]
    starts = [s for s, _ in fired.values()]
    last_event = max((f for _, f in fired.values() if f <= end), default=end)
    pauses = [(g, t, p) for g, t, p in probe["gc"] if start <= t <= end]
    total_gets = sum(gets.get(task_id, 0) for task_id, _, _ in tasks)
    cpu = {key: cpu1[key] - cpu0[key] for key in cpu0}
    # The figures comparable with the lookalike's: from the insert to the last event in hand in the runner
    # (the lookalike stops there); the whole window, to the last commit or the cap, is reported beside them.
    window = {"until": "all events committed to the DB, or the cap", "elapsed_s": round(elapsed, 1)}
    window.update({f"{key}_cpu_s": round(value, 2) for key, value in cpu.items()})
    if at_fired is not None:
        elapsed = at_fired["elapsed"]
        cpu.update({key: at_fired[key] - cpu0[key] for key in ("runner", "supervisor", "sim")})

    def summary(values: list[float]) -> dict[str, float]:
        return {
            "p50": round(percentile(values, 50), 2),
            "p99": round(percentile(values, 99), 2),
            "max": round(max(values), 2) if values else float("nan"),
            "min": round(min(values), 2) if values else float("nan"),
        }

    return {
        "design": design,
        "n": n,
        "load": load,
        "process": "airflow triggerer (trigger runner)",
        "pinned": PIN,
        "logging_level": LOGGING_LEVEL,
        "waited_for_quiet_host_s": waited,
        "finish_range_s": [args.min_finish, args.max_finish],
        "wall_s": round(elapsed, 1),
        "events": len(delays),
        "events_committed_at_cap": n - deferred,
        "events_committed_at_read": len(events),
        "unfinished_at_cap": n - len(delays),
        "still_deferred_in_db_at_cap": deferred,
        "succeeded_committed": sum(1 for e in events if e["event"].get("status") == "succeeded"),
        "gets": total_gets,
        "gets_per_task": round(total_gets / max(1, len(tasks)), 2),
        "cpu_s": round(cpu["runner"], 2),
        "cpu_us_per_get": round(cpu["runner"] / max(1, total_gets) * 1e6, 1),
        "cpu_share_of_one_core": round(cpu["runner"] / elapsed, 3),
        "supervisor_cpu_s": round(cpu["supervisor"], 2),
        "supervisor_cpu_share_of_one_core": round(cpu["supervisor"] / elapsed, 3),
        "postgres_cpu_s": round(cpu["postgres"], 2),
        "simulator_cpu_share_of_one_core": round(cpu["sim"] / elapsed, 3),
        "neighbour_cpu_share_of_one_core": neighbour_share,
        "rest_of_machine": others,
        "cpu_window": "insert to the last event in hand" if at_fired is not None else "insert to the cap",
        "whole_run": window,
        "idle_before_insert": idle,
        "cpu_us_per_get_net_of_idle": round(
            (cpu["runner"] - idle["runner_cpu_share_of_one_core"] * elapsed) / max(1, total_gets) * 1e6, 1
        ),
        "trigger_logs": trigger_logs,
        "rss_base_mb": round(rss_base / 1024, 1),
        "rss_peak_growth_mb": round((hwm - rss_base) / 1024, 1),
        "kb_per_trigger": round((hwm - rss_base) / max(1, n), 2),
        "insert": {
            "rows_committed_s": round(inserted["committed_at"] - start, 2),
            "first_trigger_started_s": round(min(starts) - start, 2) if starts else None,
            "last_trigger_started_s": round(max(starts) - start, 2) if starts else None,
            "last_event_s": round(last_event - start, 2),
        },
        "lag_ms": _lag(probe["samples"], start, last_event),
        "lag_ms_after_startup": _lag(probe["samples"], start + 10, last_event),
        "lag_ms_startup": _lag(probe["samples"], start, start + 10),
        "lag_ms_after_all_started": _lag(probe["samples"], max(starts, default=start) + 10, last_event),
        "gc": {
            "collections": len(pauses),
            "gen2_collections": sum(1 for g, _, _ in pauses if g == 2),
            "max_pause_ms": round(max((p for _, _, p in pauses), default=0.0), 1),
            "gen2_max_pause_ms": round(max((p for g, _, p in pauses if g == 2), default=0.0), 1),
        },
        "delay_s": summary(delays),
        "db_delay_s": summary(db_delays),
    }


def _others(mine: set[int]) -> dict[int, tuple[float, float, int]]:
    """CPU seconds so far of every process that is not this benchmark's: pid -> (start time, CPU, nice)."""
    import psutil

    out = {}
    for process in psutil.process_iter(["pid", "create_time", "cpu_times", "nice"]):
        info = process.info
        if info["pid"] in mine or info["cpu_times"] is None:
            continue
        times = info["cpu_times"]
        out[info["pid"]] = (info["create_time"], times.user + times.system, info["nice"] or 0)
    return out


def _mine(stack: Stack | None) -> set[int]:
    import psutil

    me = psutil.Process()
    pids = {me.pid, *(p.pid for p in me.children(recursive=True))}
    pid = stack.pg.postmaster_pid() if stack is not None and stack.pg is not None else None
    if pid is not None:
        try:
            postmaster = psutil.Process(pid)
            pids |= {pid, *(p.pid for p in postmaster.children(recursive=True))}
        except psutil.NoSuchProcess:
            pass
    return pids


def _others_cpu(before: dict[int, tuple[float, float, int]], stack: Stack | None, since: float) -> dict:
    """CPU the rest of the machine used since ``before``: at normal priority and at nice 19 (others' tests)."""
    after = _others(_mine(stack))
    normal = niced = 0.0
    busiest: list[tuple[float, int]] = []
    for pid, (created, cpu, nice) in after.items():
        old = before.get(pid)
        used = (
            cpu - old[1] if old is not None and old[0] == created else (cpu if created >= since - 1 else 0.0)
        )
        if used <= 0:
            continue
        if nice >= 19:
            niced += used
        else:
            normal += used
            busiest.append((used, pid))
    return {
        "normal_priority_cpu_s": round(normal, 2),
        "nice19_cpu_s": round(niced, 2),
        "busiest_normal_pids": [pid for _, pid in sorted(busiest, reverse=True)[:3] if _ > 1],
    }


def wait_for_quiet_host(stack: Stack | None, limit: float, window: float = 5.0) -> float:
    """Wait (up to ``limit`` s) until the rest of the machine uses < 10% of a core at normal priority for
    ``window`` s: other engineers' benchmarks share these 2 CPUs. Returns the time waited."""
    import psutil

    started = time.monotonic()
    said = False
    while True:
        since = time.time()
        before = _others(_mine(stack))
        time.sleep(window)
        used = _others_cpu(before, stack, since)
        if used["normal_priority_cpu_s"] < 0.1 * window or time.monotonic() - started > limit:
            return round(time.monotonic() - started, 1)
        if not said:
            names = []
            for pid in used["busiest_normal_pids"]:
                try:
                    names.append(" ".join(psutil.Process(pid).cmdline()[:3])[:80])
                except psutil.NoSuchProcess:
                    pass
            print(f"# waiting for a quiet host (busy: {names})", flush=True)
            said = True


def _real_line(r: dict[str, Any]) -> str:
    return (
        f"{bt._line({**r, 'design': 'real ' + r['design']})} "
        f"supervisor CPU={r['supervisor_cpu_share_of_one_core']:.0%} postgres CPU={r['postgres_cpu_s']} s "
        f"committed to the DB at cap={r['events_committed_at_cap']} "
        f"db delay p50/p99={r['db_delay_s']['p50']}/{r['db_delay_s']['p99']} s "
        f"triggers started {r['insert']['first_trigger_started_s']}-{r['insert']['last_trigger_started_s']} s "
        f"after insert; idle runner CPU={r['idle_before_insert']['runner_cpu_share_of_one_core']:.1%}, "
        f"cpu/GET net of idle={r['cpu_us_per_get_net_of_idle']} us; trigger log lines={r['trigger_logs']['lines']}"
    )


def lookalike(n: int, designs: list[str], loads: list[str], args: argparse.Namespace) -> list[dict[str, Any]]:
    out = f"real_triggerer_lookalike_{n}"
    command = [
        sys.executable,
        str(HERE / "bench_triggerer.py"),
        "--n",
        str(n),
        "--designs",
        ",".join(designs),
        "--loads",
        ",".join(loads),
        "--no-ramp",
        "--seed",
        str(args.seed),
        "--min-finish",
        str(args.min_finish),
        "--max-finish",
        str(args.max_finish),
        "--out",
        out,
        "--pin" if PIN else "--no-pin",
    ]
    print("# " + " ".join(command), flush=True)
    waited = wait_for_quiet_host(None, args.wait_quiet)
    since = time.time()
    before = _others(_mine(None))
    subprocess.run(command, check=True)
    others = _others_cpu(before, None, since)
    results = json.loads((RESULTS / f"{out}.json").read_text())["results"]
    for result in results:
        result["process"] = "bench_triggerer.py lookalike loop"
        result["waited_for_quiet_host_s"] = waited
        result["rest_of_machine_during_all_runs"] = others
    return results


def _code_state() -> dict[str, Any]:
    """The commit, and whether the provider's package differs from it (the tree is shared while others work)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    dirty = git("status", "--porcelain", "airflow_provider_runway", "benchmarks/bench_triggerer.py")
    return {"commit": git("rev-parse", "HEAD"), "uncommitted": dirty.splitlines()}


def main() -> int:
    global PIN, LOGGING_LEVEL
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="500,5000", help="comma-separated trigger counts")
    parser.add_argument("--designs", default="provider-adaptive,provider-fixed")
    parser.add_argument("--loads", default="quiet,loaded")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--min-finish", type=float, default=30.0)
    parser.add_argument("--max-finish", type=float, default=120.0)
    parser.add_argument(
        "--max-wall", type=float, default=None, help="cap per run (s), default max-finish + 60"
    )
    parser.add_argument("--lookalike", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--out", default="real_triggerer")
    parser.add_argument("--profile", default=None, help="py-spy the triggerer tree to PREFIX_real_<run>.txt")
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=(os.cpu_count() or 1) >= 2,
        help="simulator, PostgreSQL and helpers on CPU 0; the triggerer's tree (and neighbour) on CPU 1",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=900.0,
        help="before each run, wait up to this long for the rest of the machine to go quiet (s)",
    )
    parser.add_argument(
        "--idle-window", type=float, default=10.0, help="s of the idle triggerer measured before each run"
    )
    parser.add_argument(
        "--logging-level",
        default="INFO",
        help="[logging] logging_level of the triggerer (WARNING: no trigger log lines to route)",
    )
    parser.add_argument("--helper", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.helper:
        helper()
        return 0
    PIN = bool(args.pin)
    LOGGING_LEVEL = args.logging_level.upper()

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    # Background jobs of a non-interactive shell start with SIGINT ignored; either signal must still run
    # the clean-up below (triggerer stopped, PostgreSQL stopped and removed).
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    args.max_wall = args.max_wall or args.max_finish + 60
    counts = [int(x) for x in args.n.split(",")]
    designs = [d for d in args.designs.split(",") if d]
    loads = args.loads.split(",")
    for design in designs:
        if design not in ("provider-adaptive", "provider-fixed"):
            raise SystemExit(f"only the provider's designs run in Airflow's triggerer, not {design!r}")
    data: dict[str, Any] = {
        "machine": machine(),
        "argv": sys.argv[1:],
        "pinned": PIN,
        "code": _code_state(),
        "real": [],
        "lookalike": [],
    }
    work = Path(tempfile.mkdtemp(prefix="bench-real-triggerer-"))
    stack = helper_process = None
    affinity = os.sched_getaffinity(0)
    try:
        if PIN:
            os.sched_setaffinity(0, {SIM_CPU})
        stack = Stack(work)
        stack.prepare()
        helper_process = Helper(stack.env(), stack.logs / "helper.log")
        for n in counts:
            for design in designs:
                for load in loads:
                    result = run_real(stack, helper_process, n, design, load, args)
                    data["real"].append(result)
                    print(_real_line(result), flush=True)
                    save(args.out + "_partial", data)
    finally:
        if helper_process is not None:
            helper_process.close()
        if stack is not None:
            keep = stack.logs
            saved = RESULTS / f"{args.out}_logs"
            shutil.rmtree(saved, ignore_errors=True)
            try:
                stack.stop()
            finally:
                shutil.copytree(keep, saved, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)
        os.sched_setaffinity(0, affinity)
    if args.lookalike:
        for n in counts:
            for result in lookalike(n, designs, loads, args):
                data["lookalike"].append(result)
                print(bt._line(result), flush=True)
    path = save(args.out, data)
    print(f"# saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
