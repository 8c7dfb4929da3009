"""Triggerer scale: thousands of RunwayTaskTriggers in one asyncio loop, against the simulator in another process.

For each N and each design, a fresh simulator process (runway flavor, ``--update-interval 5`` like Runway) and a
fresh trigger process. The trigger process creates N tasks whose remote finish is spread uniformly over
``[min_finish, max_finish]`` s (pending 0-10 s, then running; seeded, so every design waits on the same
workload), then runs one waiter per task in one event loop, as Airflow's triggerer does, and measures:

* CPU seconds (user + sys) of the trigger process per GET, from the first poll to the last event;
* peak RSS growth (VmHWM, reset just before the waiters are built) per trigger;
* event-loop lag sampled like the triggerer's ``block_watchdog``: a task that sleeps 0.1 s and records how
  late it woke (p50 / p99 / max, over the whole run and after the start-up burst of the first 10 s);
* notification delay: the moment the task became SUCCEEDED in the simulator (its timeline, on the 5 s update
  grid) to the event in hand (p50 / p99);
* GETs per task, from the simulator's accounting; the simulator's own CPU use, to show it is not the limit.

Designs:

``provider-adaptive`` / ``provider-fixed``
    ``RunwayTaskTrigger`` rebuilt from its ``serialize()`` output (through JSON, as the triggerer stores it),
    ``run()`` consumed for its one event.
``new-client``
    a new ``httpx.AsyncClient`` per poll (the dbt Cloud trigger's design), fixed 6 s + up to 1.5 s jitter.
``to-thread``
    a sync ``requests.Session`` GET inside ``asyncio.to_thread`` (the OpenAI / Anthropic design), same schedule.
``floor``
    a bare loop of pooled ``httpx.AsyncClient`` GETs, JSON decode and a status check, same schedule: no
    provider logic at all: one pooled client behind a semaphore of 16 in flight (the provider's transport
    before its lanes, hooks/pool.py).
``floor-naive``
    the same loop on ``httpx.AsyncClient()`` with httpx's default pool and no semaphore: what a plain
    "pooled client" does when thousands of requests queue inside httpcore's pool.
``floor-aiohttp``
    the ``floor`` loop on one ``aiohttp.ClientSession`` (a connector of 16, the same semaphore): the bare
    cost of a poll with the library the provider's async half sends with since 2026-12-02.

Loads (``--loads quiet,loaded``, both by default, one after the other in the same run):

``quiet``
    nothing else runs beside the trigger process.
``loaded``
    a CPU-bound neighbour process (pure-Python work that never sleeps, as a dag processor parsing, a busy
    scheduler or another tenant's pod is) runs on the trigger process's CPU for the whole run, so the kernel
    shares that core between them.

With ``--pin`` (the default on a machine with 2 or more CPUs) the simulator runs on CPU 0, and the trigger
process and its neighbour on CPU 1: the simulator stands in for Runway, which does not share the
triggerer's node, so the load lands on the triggerer only. ``--latency S`` delays every task GET by ``S``
seconds in the simulator (its ``slow`` fault), as a real round trip to Runway does; 0 (the default) answers
at loopback speed.

``--ramp`` finds the largest N one process holds within the lag targets (p99 < 100 ms, max < 200 ms): it adds
triggers in steps onto tasks that never finish in the window (fixed 6 s polling: every trigger polls all the
time, the worst case) and measures the lag of each step once the start-up burst has passed.

    benchmarks/.venv/bin/python benchmarks/bench_triggerer.py [--quick] [--n 1000,5000] [--designs ...] [--ramp]
        [--loads quiet,loaded] [--latency 0.1] [--no-pin]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import API_KEY, conn_json, machine, percentile, py_spy, save, sim_get, sim_post, simulator

DESIGNS = (
    "provider-adaptive",
    "provider-fixed",
    "new-client",
    "to-thread",
    "floor",
    "floor-naive",
    "floor-aiohttp",
)
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
UPDATE_INTERVAL = 5.0
POLL = 6.0
JITTER = 1.5
HEADERS = {"Authorization": f"Bearer {API_KEY}", "X-Runway-Version": "2024-11-06"}
#: The floor's transport: one pool, at most 16 requests in flight.
FLOOR_MAX_CONNECTIONS = 256
FLOOR_MAX_KEEPALIVE = 64
FLOOR_IN_FLIGHT = 16
CREATE_BODY = {"model": "gen4_turbo", "promptImage": "https://example.com/a.jpg", "ratio": "1280:720"}


# ------------------------------------------------------------------------------------------------------------
# The trigger process
# ------------------------------------------------------------------------------------------------------------
def _rss_reset() -> None:
    """Reset VmHWM so the peak measured is the waiters' own (Linux ``clear_refs`` 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


async def _create_tasks(base: str, plan: list[tuple[float, float]]) -> list[tuple[str, float, float]]:
    """Create one task per (pending, running) pair, 32 at a time; returns (id, pending, running)."""
    import httpx

    out: list[tuple[str, float, float] | None] = [None] * len(plan)
    queue = list(enumerate(plan))
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=32)) as client:

        async def worker() -> None:
            while queue:
                index, (pending, running) = queue.pop()
                response = await client.post(
                    f"{base}/v1/image_to_video",
                    json=CREATE_BODY,
                    headers={
                        **HEADERS,
                        "X-Sim-Pending-Seconds": f"{pending:.3f}",
                        "X-Sim-Running-Seconds": f"{running:.3f}",
                    },
                )
                response.raise_for_status()
                out[index] = (response.json()["id"], pending, running)

        await asyncio.gather(*(worker() for _ in range(32)))
    return [item for item in out if item is not None]


class Watchdog:
    """The triggerer's block_watchdog: sleep 0.1 s, record how late the wake-up was."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []  # (monotonic time, lag in s)
        self.stop = False

    async def run(self) -> None:
        while not self.stop:
            last = time.monotonic()
            await asyncio.sleep(0.1)
            now = time.monotonic()
            self.samples.append((now, now - last - 0.1))

    def lag_ms(self, start: float, end: float = math.inf) -> dict[str, float]:
        lags = [lag * 1000 for t, lag in self.samples if start <= t < end]
        return {
            "p50": round(percentile(lags, 50), 2),
            "p99": round(percentile(lags, 99), 2),
            "max": round(max(lags), 2) if lags else float("nan"),
            "samples": len(lags),
        }


def _provider_waiters(
    tasks: list[tuple[str, float, float]], created: dict[str, float], mode: str, record: Any
) -> list[Any]:
    from airflow_provider_runway.models import DEFAULT_NOT_EXIST_GRACE
    from airflow_provider_runway.triggers.runway import RunwayTaskTrigger

    deadline = time.time() + 3600
    # What the operator's defer() stores and the triggerer reads back: classpath + JSON kwargs.
    stored = [
        json.dumps(
            RunwayTaskTrigger(
                runway_task_id=task_id,
                deadline=deadline,
                poll_interval=POLL,
                polling_mode=mode,
                visible_by=created[task_id] + DEFAULT_NOT_EXIST_GRACE,
            ).serialize()
        )
        for task_id, _, _ in tasks
    ]
    triggers = []
    for blob in stored:
        classpath, kwargs = json.loads(blob)
        module, _, name = classpath.rpartition(".")
        triggers.append(getattr(importlib.import_module(module), name)(**kwargs))
    recorded: set[str] = set()

    async def one(trigger: Any) -> None:
        # As the triggerer's run_trigger does: iterate to the generator's end (this one yields once). Leaving
        # it after the first event instead would make the loop finalize it (a self-pipe write per trigger).
        async for event in trigger.run():
            if trigger.runway_task_id not in recorded:
                recorded.add(trigger.runway_task_id)
                record(trigger.runway_task_id, event.payload.get("status"))

    return [one(trigger) for trigger in triggers]


def _alt_waiters(tasks: list[tuple[str, float, float]], base: str, design: str, record: Any) -> list[Any]:
    import httpx
    import requests

    rng = random.Random(7)
    if design == "floor-naive":
        shared = httpx.AsyncClient(timeout=30)  # httpx's default pool: 100 connections, 20 kept alive
    else:
        # One pooled client with a semaphore of 16 in front: how the provider sent before its lanes
        # (hooks/pool.py), and how a careful hand-written trigger would.
        shared = httpx.AsyncClient(
            timeout=30,
            limits=httpx.Limits(
                max_connections=FLOOR_MAX_CONNECTIONS,
                max_keepalive_connections=FLOOR_MAX_KEEPALIVE,
                keepalive_expiry=30.0,
            ),
        )
    gate = asyncio.Semaphore(FLOOR_IN_FLIGHT)
    lean = None
    if design == "floor-aiohttp":
        import aiohttp

        lean = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=FLOOR_IN_FLIGHT), timeout=aiohttp.ClientTimeout(total=30)
        )
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=32))

    def sync_get(url: str) -> dict[str, Any]:
        response = session.get(url, headers=HEADERS, timeout=30)
        response.raise_for_status()
        return response.json()

    async def one(task_id: str) -> None:
        url = f"{base}/v1/tasks/{task_id}"
        while True:
            if design == "floor":
                async with gate:
                    response = await shared.get(url, headers=HEADERS)
                data = response.json()
            elif design == "floor-naive":
                response = await shared.get(url, headers=HEADERS)
                data = response.json()
            elif lean is not None:
                async with gate, lean.get(url, headers=HEADERS) as answer:
                    data = json.loads(await answer.read())
            elif design == "new-client":
                async with httpx.AsyncClient(timeout=30) as client:
                    response = await client.get(url, headers=HEADERS)
                data = response.json()
            else:  # to-thread
                data = await asyncio.to_thread(sync_get, url)
            if data["status"] in TERMINAL:
                record(task_id, data["status"].lower())
                return
            await asyncio.sleep(POLL + JITTER * rng.random())

    return [one(task_id) for task_id, _, _ in tasks]


async def _child_run(args: argparse.Namespace) -> dict[str, Any]:
    # Import costs up front, as a triggerer that has run one trigger already paid them: not in the window.
    import aiohttp  # noqa: F401 - the async half's library
    import psutil

    from airflow_provider_runway.hooks.runway import aclose_shared_clients  # noqa: F401

    rng = random.Random(args.seed)
    plan = []
    for _ in range(args.n):
        finish = rng.uniform(args.min_finish, args.max_finish)
        pending = rng.uniform(0, min(10.0, finish / 3))
        plan.append((pending, finish - pending))
    tasks = await _create_tasks(args.base, plan)
    info = {t["id"]: t for t in sim_get(args.root, "/_sim/tasks")}
    created = {task_id: info[task_id]["created"] for task_id, _, _ in tasks}
    # When each task became SUCCEEDED remotely: the first point of the update grid at or after its run end.
    remote_done = {
        task_id: created[task_id] + math.ceil((pending + running) / UPDATE_INTERVAL - 1e-9) * UPDATE_INTERVAL
        for task_id, pending, running in tasks
    }
    events: dict[str, tuple[float, str]] = {}

    def record(task_id: str, status: str) -> None:
        events[task_id] = (time.time(), status)

    polls = _trace_polls() if args.trace_late else None
    proc = psutil.Process()
    gc.collect()
    if args.gc_freeze:
        # What Airflow's dag processor and LocalExecutor do after start-up: move the heap built so far (Airflow
        # itself, the imports) out of the collector's walk, so a full collection scans only what came after.
        gc.freeze()
    _rss_reset()
    rss_base = _status_kb("VmRSS")
    if args.design.startswith("provider-"):
        waiters = _provider_waiters(tasks, created, args.design.split("-", 1)[1], record)
    else:
        waiters = _alt_waiters(tasks, args.base, args.design, record)
    watchdog = Watchdog()
    dog = asyncio.create_task(watchdog.run())
    gc_pauses: list[tuple[int, float]] = []  # (generation, seconds) of every collection during the run
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            gc_pauses.append((info["generation"], time.perf_counter() - gc_started[0]))

    await asyncio.sleep(0.3)
    gc.callbacks.append(on_gc)
    cpu0 = proc.cpu_times()
    start = time.monotonic()
    start_wall = time.time()
    plan_of = {task_id: (pending_s, running_s) for task_id, pending_s, running_s in tasks}
    gets0 = sum(sim_get(args.root, "/_sim/accounting")["gets"].values())
    running = [asyncio.ensure_future(w) for w in waiters]
    _done, pending = await asyncio.wait(running, timeout=args.max_wall)
    for task in pending:  # over the wall-time cap: count what finished, report the rest as missing
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    elapsed = time.monotonic() - start
    cpu1 = proc.cpu_times()
    gc.callbacks.remove(on_gc)
    watchdog.stop = True
    await dog
    hwm = _status_kb("VmHWM")
    gets = sim_get(args.root, "/_sim/accounting")["gets"]
    total_gets = sum(gets.get(task_id, 0) for task_id, _, _ in tasks)
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    delays = [events[t][0] - remote_done[t] for t, _, _ in tasks if t in events]
    result = {
        "design": args.design,
        "n": args.n,
        "finish_range_s": [args.min_finish, args.max_finish],
        "wall_s": round(elapsed, 1),
        "events": len(events),
        "unfinished_at_cap": len(pending),
        "succeeded": sum(1 for _, status in events.values() if status == "succeeded"),
        "gets": total_gets,
        "gets_during_run": sum(gets.values()) - gets0,
        "gets_per_task": round(total_gets / max(1, len(tasks)), 2),
        "cpu_s": round(cpu, 2),
        "cpu_us_per_get": round(cpu / max(1, total_gets) * 1e6, 1),
        "cpu_share_of_one_core": round(cpu / elapsed, 3),
        "rss_base_mb": round(rss_base / 1024, 1),
        "rss_peak_growth_mb": round((hwm - rss_base) / 1024, 1),
        "kb_per_trigger": round((hwm - rss_base) / max(1, args.n), 2),
        "lag_ms": watchdog.lag_ms(start),
        "lag_ms_after_startup": watchdog.lag_ms(start + 10),
        "lag_ms_startup": watchdog.lag_ms(start, start + 10),
        "gc": {
            "collections": len(gc_pauses),
            "gen2_collections": sum(1 for g, _ in gc_pauses if g == 2),
            "max_pause_ms": round(max((p for _, p in gc_pauses), default=0.0) * 1000, 1),
            "gen2_max_pause_ms": round(max((p for g, p in gc_pauses if g == 2), default=0.0) * 1000, 1),
        },
        "delay_s": {
            "p50": round(percentile(delays, 50), 2),
            "p99": round(percentile(delays, 99), 2),
            "max": round(max(delays), 2) if delays else float("nan"),
            "min": round(min(delays), 2) if delays else float("nan"),
        },
    }
    if args.gc_freeze:
        result["gc_frozen_objects"] = gc.get_freeze_count()
    if polls is not None:
        late = sorted((t for t, _, _ in tasks if t in events), key=lambda t: events[t][0] - remote_done[t])
        result["late_tasks"] = [
            {
                "delay_s": round(events[t][0] - remote_done[t], 2),
                "created": round(created[t] - start_wall, 2),
                "remote_done": round(remote_done[t] - start_wall, 2),
                "pending_s": round(pending_s, 2),
                "running_s": round(running_s, 2),
                "event": round(events[t][0] - start_wall, 2),
                "polls": [
                    (round(t0 - start_wall, 2), round(t1 - t0, 3), status, progress)
                    for t0, t1, status, progress in polls.get(t, [])
                ],
            }
            for t in late[-args.trace_late :]
            for pending_s, running_s in [plan_of[t]]
        ]
    if args.design.startswith("provider-"):
        from airflow_provider_runway.hooks import pool

        result["lanes_opened"] = sum(len(lanes.clients) for lanes in pool.lanes_in_loop().values())
    if args.design == "provider-adaptive":
        result["asettings_us"] = await _asettings_cost()
    return result


def _trace_polls() -> dict[str, list[tuple[float, float, str, float | None]]]:
    """Record every provider poll (start, end, status, progress) per task: to read the late tasks' timelines."""
    from airflow_provider_runway.hooks.runway import RunwayHook

    polls: dict[str, list[tuple[float, float, str, float | None]]] = {}
    original = RunwayHook.aget_task

    async def traced(self: Any, task_id: str, **kwargs: Any) -> Any:
        started = time.time()
        task = await original(self, task_id, **kwargs)
        polls.setdefault(task_id, []).append((started, time.time(), task.status, task.progress))
        return task

    RunwayHook.aget_task = traced  # type: ignore[method-assign]
    return polls


async def _asettings_cost(count: int = 2000) -> dict[str, dict[str, float]]:
    """What a new hook's ``asettings()`` costs (each trigger builds one): from the loop's shared entry, as
    triggers get it since fd08564, and a fresh connection lookup (``_alookup``), as each one paid before."""
    from airflow_provider_runway.hooks.runway import RunwayHook

    async def per_call(call: Any) -> dict[str, float]:
        started = time.perf_counter()
        cpu = time.process_time()
        for _ in range(count):
            await call(RunwayHook())
        return {
            "wall_us_per_call": round((time.perf_counter() - started) / count * 1e6, 1),
            "cpu_us_per_call": round((time.process_time() - cpu) / count * 1e6, 1),
        }

    return {
        "shared": await per_call(lambda hook: hook.asettings()),
        "lookup": await per_call(lambda hook: hook._alookup()),
    }


async def _child_ramp(args: argparse.Namespace) -> dict[str, Any]:
    """Add ``step`` provider triggers every ``window`` s until the steady lag breaks a target."""
    import psutil

    from airflow_provider_runway.triggers.runway import RunwayTaskTrigger

    steps = []
    running: list[asyncio.Task[Any]] = []
    watchdog = Watchdog()
    dog = asyncio.create_task(watchdog.run())
    proc = psutil.Process()
    deadline = time.time() + 7200
    best = 0
    n = 0
    while n < args.ramp_max:
        tasks = await _create_tasks(args.base, [(0.0, 7200.0)] * args.ramp_step)
        for task_id, _, _ in tasks:
            kwargs = RunwayTaskTrigger(
                runway_task_id=task_id, deadline=deadline, poll_interval=POLL, polling_mode="fixed"
            ).serialize()[1]
            trigger = RunwayTaskTrigger(**json.loads(json.dumps(kwargs)))
            running.append(asyncio.create_task(_drain(trigger)))
        n += len(tasks)
        added = time.monotonic()
        cpu0 = proc.cpu_times()
        await asyncio.sleep(args.ramp_window)
        cpu1 = proc.cpu_times()
        settle = added + POLL + JITTER + 1
        steady = watchdog.lag_ms(settle, time.monotonic())
        step = {
            "n": n,
            "lag_ms_steady": steady,
            "lag_ms_with_burst": watchdog.lag_ms(added, time.monotonic()),
            "cpu_share_of_one_core": round(
                ((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)) / args.ramp_window, 3
            ),
        }
        steps.append(step)
        print(json.dumps(step), file=sys.stderr, flush=True)
        if steady["p99"] < 100 and steady["max"] < 200:
            best = n
        else:
            break
    watchdog.stop = True
    for task in running:
        task.cancel()
    await asyncio.gather(*running, dog, return_exceptions=True)
    return {"design": "ramp-provider-fixed", "largest_n_within_targets": best, "steps": steps}


async def _drain(trigger: Any) -> None:
    async for _event in trigger.run():
        pass


def child(args: argparse.Namespace) -> None:
    import logging

    if args.in_flight:
        from airflow_provider_runway.hooks import pool

        pool.MAX_LANES = max(1, -(-args.in_flight // pool.LANE_WIDTH))

    # Trigger log lines leave the process as Airflow's trigger runner sends them to its supervisor: JSON, one
    # unbuffered write per line (supervisor._configure_logs_over_json_channel), here to a file instead of the
    # supervisor's socket. Never to a terminal or a pipe that the parent drains late.
    log_io = open(args.log, "wb", buffering=0)
    try:
        from airflow.sdk.log import configure_logging, reset_logging

        reset_logging()
        configure_logging(json_output=True, output=log_io, sending_to_supervisor=True)
    except ImportError:  # pragma: no cover - an Airflow without the Task SDK's logging
        logging.basicConfig(stream=log_io, level=logging.INFO, force=True)
    result = asyncio.run(_child_ramp(args) if args.design == "ramp" else _child_run(args))
    print(json.dumps(result), flush=True)


# ------------------------------------------------------------------------------------------------------------
# The parent: one simulator and one trigger process per (N, design)
# ------------------------------------------------------------------------------------------------------------
#: The neighbour of the loaded mode: pure-Python work that never sleeps (allocation, hashing, sorting: what a
#: dag processor parsing files or a busy scheduler does), so it wants its whole CPU all the time.
NEIGHBOUR = """
import random
rng = random.Random(0)
while True:
    rows = [{"k": rng.random(), "v": str(i)} for i in range(2000)]
    rows.sort(key=lambda row: row["k"])
    hash(tuple(row["v"] for row in rows))
"""


def _busy_s() -> tuple[float, float]:
    """Seconds of CPU the whole machine spent (all CPUs, /proc/stat), at normal priority and at nice > 0."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    tick = os.sysconf("SC_CLK_TCK")
    return (user + system + irq + softirq + steal) / tick, nice / tick


def _pin(pid: int, cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(pid, {cpu})


def _cpu_s(process: Any) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _run_child(
    design: str, n: int, args: argparse.Namespace, extra: list[str], load: str = "quiet"
) -> dict[str, Any]:
    import psutil

    sim_cpu, trigger_cpu = (0, 1) if args.pin else (None, None)
    # Enough credits and daily creates for tens of thousands of tasks (defaults: 100,000 credits, 10,000/day).
    limits = ("--credits", "1000000000", "--daily-limit", "100000000")
    neighbour = None
    with simulator("--update-interval", str(UPDATE_INTERVAL), *limits) as (base, root, pid):
        _pin(pid, sim_cpu)
        if args.latency:
            sim_post(root, "/_sim/faults", {"kind": "slow", "path": "tasks_get", "delay": args.latency})
        sim = psutil.Process(pid)
        sim_cpu0 = _cpu_s(sim)
        busy0 = _busy_s()
        started = time.monotonic()
        env = {
            **os.environ,
            "AIRFLOW_CONN_RUNWAY_DEFAULT": conn_json(base),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }
        command = [
            sys.executable,
            __file__,
            "--child",
            "--design",
            design,
            "--n",
            str(n),
            "--base",
            base,
            "--root",
            root,
            "--min-finish",
            str(args.min_finish),
            "--max-finish",
            str(args.max_finish),
            "--log",
            f"/tmp/bench_triggerer_{design}_{n}_{load}.log",
            "--max-wall",
            str(args.max_wall),
            *extra,
            *(["--in-flight", str(args.in_flight)] if args.in_flight else []),
            *(["--gc-freeze"] if args.gc_freeze else []),
            *(["--trace-late", str(args.trace_late)] if args.trace_late else []),
        ]
        if load == "loaded":
            neighbour = subprocess.Popen([sys.executable, "-c", NEIGHBOUR])
            _pin(neighbour.pid, trigger_cpu)
            neighbour_process = psutil.Process(neighbour.pid)
            neighbour_cpu0 = _cpu_s(neighbour_process)
        try:
            child_process = subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            _pin(child_process.pid, trigger_cpu)
            spy = None
            if args.profile:
                spy = py_spy(child_process.pid, f"{args.profile}_{design}_{n}_{load}.txt")
            child_cpu = [0.0]

            def note_child_cpu() -> None:
                try:
                    child_cpu[0] = _cpu_s(psutil.Process(child_process.pid))
                except psutil.Error:
                    pass

            stdout, stderr = _communicate(child_process, note_child_cpu)
            if spy is not None:
                spy.wait(30)
            wall = time.monotonic() - started
            sim_cpu1 = _cpu_s(sim)
            busy1 = _busy_s()
            neighbour_cpu = _cpu_s(neighbour_process) - neighbour_cpu0 if neighbour else 0.0
            neighbour_share = round(neighbour_cpu / wall, 3) if neighbour else None
        finally:
            if neighbour is not None:
                neighbour.kill()
                neighbour.wait(10)
    if child_process.returncode != 0:
        raise RuntimeError(f"{design} N={n} ({load}) failed:\n{stderr[-3000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["load"] = load
    result["latency_s"] = args.latency
    result["pinned"] = bool(args.pin)
    result["simulator_cpu_share_of_one_core"] = round((sim_cpu1 - sim_cpu0) / wall, 3)
    result["neighbour_cpu_share_of_one_core"] = neighbour_share
    # What else ran meanwhile (everything but the simulator, the trigger process and the neighbour), so a
    # reader can tell a quiet host from a busy one: nice > 0 work yields to the measured processes.
    ours = (sim_cpu1 - sim_cpu0) + child_cpu[0] + neighbour_cpu
    result["rest_of_machine_cpu_share"] = {
        "normal_priority": round(max(0.0, busy1[0] - busy0[0] - ours) / wall, 3),
        "nice": round((busy1[1] - busy0[1]) / wall, 3),
    }
    return result


def _communicate(process: subprocess.Popen[str], before_exit: Any) -> tuple[str, str]:
    """``process.communicate()``, noting the process's CPU just before it exits (psutil cannot read a
    reaped process): the child prints its result as its last act, so its stdout closing is the moment."""
    import threading

    err: list[str] = []
    reader = threading.Thread(target=lambda: err.append(process.stderr.read() if process.stderr else ""))
    reader.start()
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        before_exit()
    process.wait()
    reader.join()
    return "".join(lines), "".join(err)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="N=1000 only, tasks finish at 15-45 s, small ramp"
    )
    parser.add_argument("--n", default=None, help="comma-separated trigger counts (default 1000,5000)")
    parser.add_argument("--designs", default=",".join(DESIGNS))
    parser.add_argument("--designs-small", default=None, help="designs at N below the largest (default all)")
    parser.add_argument("--min-finish", type=float, default=None)
    parser.add_argument("--max-finish", type=float, default=None)
    parser.add_argument("--ramp", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--only-ramp", action="store_true", help="skip the fixed-N runs")
    parser.add_argument("--ramp-step", type=int, default=None)
    parser.add_argument("--ramp-max", type=int, default=None)
    parser.add_argument("--ramp-window", type=float, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-wall", type=float, default=None, help="cap per design run (s)")
    parser.add_argument("--out", default=None)
    parser.add_argument(
        "--loads",
        default="quiet,loaded",
        help="quiet (the trigger process alone) and/or loaded (a CPU-bound neighbour on its CPU), in this order",
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        help="seconds the simulator waits before answering each task GET",
    )
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=(os.cpu_count() or 1) >= 2,
        help="simulator on CPU 0, trigger process (and neighbour) on CPU 1 (default on 2+ CPUs)",
    )
    parser.add_argument(
        "--profile", default=None, help="py-spy every trigger process to PREFIX_<design>_<n>_<load>.txt"
    )
    # child-only
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--design", help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--log", default="/tmp/bench_triggerer.log", help=argparse.SUPPRESS)
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="gc.freeze() in the trigger process after start-up (what Airflow's dag processor does)",
    )
    parser.add_argument(
        "--trace-late", type=int, default=0, help="record polls; keep the timelines of the K latest events"
    )
    parser.add_argument(
        "--in-flight",
        type=int,
        default=None,
        help="cap the provider's requests in flight (hooks.pool.MAX_LANES lanes of LANE_WIDTH)",
    )
    args = parser.parse_args()
    quick = args.quick
    args.min_finish = args.min_finish if args.min_finish is not None else (15.0 if quick else 30.0)
    args.max_finish = args.max_finish if args.max_finish is not None else (45.0 if quick else 120.0)
    args.ramp_step = args.ramp_step or (2000 if quick else 1000)
    args.ramp_max = args.ramp_max or (10000 if quick else 8000)
    args.ramp_window = args.ramp_window or (15.0 if quick else 20.0)
    args.max_wall = args.max_wall or args.max_finish + 60
    if args.child:
        args.n = int(args.n or 0)
        child(args)
        return 0

    counts = [int(x) for x in (args.n or ("1000" if quick else "1000,5000")).split(",")]
    designs = args.designs.split(",")
    small = (args.designs_small or args.designs).split(",")
    loads = args.loads.split(",")
    results: list[dict[str, Any]] = []
    for n in [] if args.only_ramp else counts:
        for design in designs if n == max(counts) else small:
            for load in loads:
                result = _run_child(design, n, args, ["--seed", str(args.seed)], load)
                results.append(result)
                print(_line(result), flush=True)
                save(
                    (args.out or ("triggerer_quick" if quick else "triggerer")) + "_partial",
                    {"results": results, "argv": sys.argv[1:]},
                )
    ramps = {}
    if args.ramp:
        for load in loads:
            ramp = ramps[load] = _run_child(
                "ramp",
                0,
                args,
                [
                    "--ramp-step",
                    str(args.ramp_step),
                    "--ramp-max",
                    str(args.ramp_max),
                    "--ramp-window",
                    str(args.ramp_window),
                ],
                load,
            )
            print(
                f"ramp ({load}; provider, fixed 6 s polling, tasks never finish): largest N within lag targets = "
                f"{ramp['largest_n_within_targets']}",
                flush=True,
            )
            for step in ramp["steps"]:
                print(f"  {json.dumps(step)}", flush=True)
    data = {
        "machine": machine(),
        "quick": quick,
        "results": results,
        "ramps": ramps,
        "argv": sys.argv[1:],
        "latency_s": args.latency,
        "pinned": bool(args.pin),
    }
    save(args.out or ("triggerer_quick" if quick else "triggerer"), data)
    return 0


def _line(r: dict[str, Any]) -> str:
    lag, delay = r["lag_ms"], r["delay_s"]
    return (
        f"{r['design']:<18} {r.get('load', 'quiet'):<6} N={r['n']:<5} events={r['events']} unfinished={r['unfinished_at_cap']} cpu/GET={r['cpu_us_per_get']} us "
        f"cpu={r['cpu_s']} s ({r['cpu_share_of_one_core']:.0%} of a core) KB/trigger={r['kb_per_trigger']} "
        f"lag p50/p99/max={lag['p50']}/{lag['p99']}/{lag['max']} ms "
        f"(after start-up {r['lag_ms_after_startup']['p99']}/{r['lag_ms_after_startup']['max']}) "
        f"delay p50/p99={delay['p50']}/{delay['p99']} s GETs/task={r['gets_per_task']} "
        f"sim CPU={r['simulator_cpu_share_of_one_core']:.0%} "
        f"neighbour CPU={r['neighbour_cpu_share_of_one_core'] or 0:.0%} "
        f"others CPU={r.get('rest_of_machine_cpu_share', {}).get('normal_priority', 0):.0%} wall={r['wall_s']} s "
        f"gen2 GCs={r['gc']['gen2_collections']} (longest {r['gc']['gen2_max_pause_ms']} ms)"
        + (f" lanes={r['lanes_opened']}" if "lanes_opened" in r else "")
    )


if __name__ == "__main__":
    raise SystemExit(main())
