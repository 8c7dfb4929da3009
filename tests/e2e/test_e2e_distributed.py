"""``make e2e-distributed``: the provider on a production-shaped Airflow: the CeleryExecutor with a Redis
broker and two Celery workers of 2 slots each, two triggerers, a scheduler, a dag-processor and the
api-server on PostgreSQL, the Runway connections from a secrets backend (see ``runway_e2e_stack.py``).

This file holds the scenarios only that profile runs: a fleet of 250 mapped generations, and a Celery
worker SIGKILLed while a synchronous generation waits. The profile also runs the executor-independent
scenarios of ``test_e2e.py`` (mark-failed, a killed triggerer, a stalled one, the pool), which carry
``@pytest.mark.profile("local", "distributed")``. Every count is taken from the simulators' accounting.
"""

from __future__ import annotations

import collections
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import runway_e2e_stack as e2e
from test_e2e import (
    DEFERRED_MARK,
    FIRED_MARK,
    WORKER_DAG,
    check_retries,
    creates_for,
    is_mp4,
    iso_ts,
)

pytestmark = [pytest.mark.e2e, pytest.mark.profile("distributed")]

FLEET_DAG = "runway_e2e_fleet"
#: mapped task -> (simulator, generations); as in dags/runway_e2e_dags.py
FLEET = {"direct": ("fleet_direct", 200), "gateway": ("fleet_gateway", 50)}
FLEET_SIZE = sum(n for _, n in FLEET.values())
#: "waiting holds no Celery slot": at some moment at least this many generations waited deferred at once,
#: ten times the Celery slots (4), while never more task instances ran than there are slots
FLEET_MIN_PEAK_DEFERRED = 10 * e2e.CELERY_SLOTS


def celery_started(stack: Any) -> int:
    """Celery tasks a worker is executing now, by Celery's own record (``task_track_started``: the result
    backend's row says STARTED from the moment a worker process takes the message until it finishes)."""
    return int(stack.sql("SELECT count(*) FROM celery_taskmeta WHERE status = 'STARTED'")[0][0])


def workloads_run(stack: Any, name: str) -> int:
    """How many Airflow workloads a Celery worker has taken, from its own log (all its incarnations)."""
    logs = [p.log_path for p in [*stack.procs.values(), *stack.retired] if p.name == name]
    return sum(path.read_text(errors="replace").count("Executing workload in Celery") for path in set(logs))


# ----------------------------------------------------------------------------------------------------------
# 1. a fleet: 200 mapped deferrable generations on Runway direct's flavor and 50 on the gateway's
# ----------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def fleet_run(stack: Any) -> dict[str, Any]:
    """Run the fleet once, sampling Airflow's task instances and Celery's busy slots every second."""
    samples: list[dict[str, Any]] = []
    began = time.monotonic()

    def sample() -> None:
        # From the metadata database: 250 task instances are three pages of the REST API every second.
        rows = stack.sql(
            "SELECT ti.state, t.triggerer_id FROM task_instance ti LEFT JOIN trigger t ON t.id = ti.trigger_id"
            " WHERE ti.dag_id = %s AND ti.run_id = %s",
            FLEET_DAG,
            run_id,
        )
        states = collections.Counter(str(state) for state, _ in rows)
        held = collections.Counter(str(job) for state, job in rows if state == "deferred" and job is not None)
        samples.append(
            {
                "t": round(time.monotonic() - began, 1),
                "deferred": states["deferred"],
                "running": states["running"],
                "queued": states["queued"],
                "success": states["success"],
                "celery_started": celery_started(stack),
                "held_by_triggerer": dict(held),
            }
        )

    run_id = stack.trigger(FLEET_DAG)
    state = stack.wait_run(FLEET_DAG, run_id, timeout=1200, on_poll=sample)
    seconds = round(time.monotonic() - began, 1)
    e2e.log(f"{FLEET_DAG}: {state} in {seconds:.0f} s, {len(samples)} samples")
    (e2e.BUILD / "fleet-samples.json").write_text(json.dumps(samples, indent=1))
    return {"run_id": run_id, "state": state, "seconds": seconds, "samples": samples}


def test_fleet_of_250_generations_waits_deferred_on_two_celery_workers(
    stack: Any, fleet_run: dict[str, Any]
) -> None:
    run_id = fleet_run["run_id"]
    samples = fleet_run["samples"]
    tis = stack.task_instances(FLEET_DAG, run_id)
    by_task = collections.Counter(ti["task_id"] for ti in tis)
    tries = collections.Counter(ti["try_number"] for ti in tis)
    peak_deferred = max(s["deferred"] for s in samples)
    peak_running = max(s["running"] for s in samples)
    peak_celery = max(s["celery_started"] for s in samples)
    peak_by_triggerer: dict[str, int] = {}
    for s in samples:
        for job, n in s["held_by_triggerer"].items():
            peak_by_triggerer[job] = max(peak_by_triggerer.get(job, 0), n)
    accounting = {task: stack.sims[sim].control.accounting() for task, (sim, _) in FLEET.items()}
    e2e.record(
        FLEET_DAG,
        state=fleet_run["state"],
        seconds=fleet_run["seconds"],
        run_seconds=stack.run_seconds(FLEET_DAG, run_id),
        generations={task: n for task, (_, n) in FLEET.items()},
        creates={task: len(a["creates"]) for task, a in accounting.items()},
        cancels={task: len(a["cancels"]) for task, a in accounting.items()},
        orphans={task: len(a["orphans"]) for task, a in accounting.items()},
        remote_statuses={
            task: dict(collections.Counter(a["statuses"].values())) for task, a in accounting.items()
        },
        peak_remote_in_flight={task: a["peak_in_flight"] for task, a in accounting.items()},
        try_numbers={str(k): v for k, v in sorted(tries.items())},
        ti_states=dict(collections.Counter(ti["state"] for ti in tis)),
        celery_slots=e2e.CELERY_SLOTS,
        peak_deferred_tis=peak_deferred,
        peak_running_tis=peak_running,
        peak_celery_tasks_started=peak_celery,
        peak_deferred_by_triggerer_job=peak_by_triggerer,
        workloads_by_celery_worker={name: workloads_run(stack, name) for name in e2e.CELERY_WORKERS},
        samples=len(samples),
    )
    e2e.log(
        f"{FLEET_DAG}: peaks {peak_deferred} deferred, {peak_running} running TIs, {peak_celery} Celery tasks "
        f"started, on {e2e.CELERY_SLOTS} Celery slots; by triggerer {peak_by_triggerer}"
    )

    assert fleet_run["state"] == "success", collections.Counter((ti["task_id"], ti["state"]) for ti in tis)
    assert by_task == {task: n for task, (_, n) in FLEET.items()}, by_task
    assert {ti["state"] for ti in tis} == {"success"}
    retried = check_retries(stack, FLEET_DAG, run_id, tis)  # names apache/airflow#71580 if that was it
    assert tries == {1: FLEET_SIZE}, f"not every task on try 1: {retried}"

    # One paid create per generation, each prompt once; nothing cancelled; nothing left running remotely.
    for task, (sim, n) in FLEET.items():
        control = stack.sims[sim].control
        creates = creates_for(control, f"e2e-fleet {task}")
        assert len(accounting[task]["creates"]) == n == len(creates), (task, len(accounting[task]["creates"]))
        assert sorted(c["body"]["promptText"] for c in creates) == sorted(
            f"e2e-fleet {task} clip {i}" for i in range(n)
        )
        assert accounting[task]["cancels"] == [], (task, accounting[task]["cancels"][:3])
        assert accounting[task]["orphans"] == [], task
        assert set(accounting[task]["statuses"].values()) == {"SUCCEEDED"}, task

    # Waiting held no Celery slot: many times more generations waited at once than there are slots, while
    # Airflow never ran, and Celery never executed, more task instances than there are slots.
    assert peak_running <= e2e.CELERY_SLOTS, peak_running
    assert peak_celery <= e2e.CELERY_SLOTS, peak_celery
    assert peak_deferred >= FLEET_MIN_PEAK_DEFERRED, (
        f"only {peak_deferred} generations waited deferred at once on {e2e.CELERY_SLOTS} Celery slots"
    )
    # ... and remotely as many ran at once (the fleet really was in flight together, not one by one).
    assert sum(a["peak_in_flight"] for a in accounting.values()) >= FLEET_MIN_PEAK_DEFERRED

    # Both Celery workers took workloads: the fleet ran distributed, not on one worker.
    assert all(workloads_run(stack, name) > 0 for name in e2e.CELERY_WORKERS)

    # Per task instance: its try deferred (let go of its Celery slot), its trigger fired for the remote task
    # it created, and the event carried no signed URL.
    remote_ids = {c["task_id"] for a in accounting.values() for c in a["creates"]}
    seen: set[str] = set()
    for ti in tis:
        text = stack.task_log(FLEET_DAG, run_id, ti["task_id"], 1, ti["map_index"])
        where = f"{ti['task_id']}[{ti['map_index']}]"
        assert DEFERRED_MARK in text, f"{where} never deferred:\n{text[-3000:]}"
        assert FIRED_MARK in text, f"{where}: no trigger event:\n{text[-3000:]}"
        assert "Signature=" not in text, f"{where} logs a signed URL"
        ids = [rid for rid in remote_ids if rid in text]
        assert len(ids) == 1, f"{where} names remote tasks {ids}"
        seen.update(ids)
    assert seen == remote_ids


# ----------------------------------------------------------------------------------------------------------
# 2. a Celery worker SIGKILLed while a synchronous generation waits: the retry re-attaches
# ----------------------------------------------------------------------------------------------------------
def ti_processes(stack: Any, ti_id: str) -> list[tuple[int, str]]:
    """``(pid, title)`` of every live process that names a try's TI id: the task process sets its title to
    "airflow worker -- <ti id>" (the Celery pool process that supervises it keeps Celery's title)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            title = stat.read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if ti_id in title and int(stat.parent.name) != os.getpid():
            found.append((int(stat.parent.name), title))
    return found


def test_celery_worker_killed_mid_wait_retries_and_reattaches(stack: Any) -> None:
    control = stack.sims["worker"].control
    control.add_fault("timing", path="create", times=1, pending_seconds=1, running_seconds=60)
    run_id = stack.trigger(WORKER_DAG)
    ti_path = f"/dags/{WORKER_DAG}/dagRuns/{e2e._q(run_id)}/taskInstances/generate"

    def waiting_in_a_worker() -> tuple[dict[str, Any], str] | None:
        stack.check_alive()
        ti = stack.api("GET", ti_path)
        assert ti["state"] in ("scheduled", "queued", "running", None), ti["state"]
        creates = control.accounting()["creates"]
        if ti["state"] == "running" and creates:
            remote_id = str(creates[0]["task_id"])
            remote = control.task(remote_id)
            if remote["status"] == "RUNNING" and remote["gets"] >= 2:  # the task is in its wait loop
                return ti, remote_id
        return None

    ti, remote_id = e2e.wait_for("a Celery worker to wait on a RUNNING task", waiting_in_a_worker, 180)
    assert ti["try_number"] == 1
    procs = e2e.wait_for("try 1's task process", lambda: ti_processes(stack, ti["id"]), 30)
    victim = stack.celery_worker_of(procs[0][0])
    (survivor,) = [name for name in e2e.CELERY_WORKERS if name != victim.name]
    members = sorted({*e2e.group_members(victim.popen.pid), *e2e.descendants(victim.popen.pid)})
    # The worker's host dies: the worker, its pool processes and the task process (in a process group of
    # its own on Airflow 3.3) all get SIGKILL.
    stack.kill_component(victim.name, tree=True)
    killed_at = time.time()
    e2e.log(f"SIGKILLed Celery worker {victim.name} ({len(members)} processes) running try 1 of {ti['id']}")
    assert e2e.group_members(victim.popen.pid) == [], "the killed worker's process group survived"
    left = [(pid, os.getpgid(pid), title) for pid, title in ti_processes(stack, ti["id"])]
    assert left == [], f"try 1's task process survived its worker's group {victim.popen.pid}: {left}"
    assert stack.redis is not None
    # With task_acks_late (Airflow's default) the killed worker never acknowledged try 1's message: Redis
    # keeps it, to redeliver it after the visibility timeout.
    unacked = int(stack.redis.command("HLEN", "unacked").decode().lstrip(":"))

    def retry_running() -> dict[str, Any] | None:
        stack.check_alive()
        current = stack.api("GET", ti_path)
        return current if current["try_number"] == 2 and current["state"] == "running" else None

    # The heartbeat timeout fails try 1; its retry is queued to Celery, which hands it to the survivor.
    retry = e2e.wait_for("the retry (try 2) to run", retry_running, 180)
    retry_procs = e2e.wait_for("try 2's task process", lambda: ti_processes(stack, retry["id"]), 30)
    retried_on = stack.celery_worker_of(retry_procs[0][0]).name
    stack.start_celery_worker(victim.name)  # replaced, as an orchestrator restarts a dead worker

    state = stack.wait_run(WORKER_DAG, run_id, timeout=300)
    ti = stack.api("GET", ti_path)
    tries = stack.api("GET", f"{ti_path}/tries")["task_instances"]
    first = next(t for t in tries if t["try_number"] == 1)
    accounting = control.accounting()
    output = stack.outputs / "worker-kill" / f"{remote_id}_0.mp4"
    e2e.record(
        "celery_worker_kill",
        dag=WORKER_DAG,
        state=state,
        creates=len(accounting["creates"]),
        cancels=len(accounting["cancels"]),
        try_number=ti["try_number"],
        try_1_state=first["state"],
        killed_worker=victim.name,
        killed_processes=len(members),
        try_2_on_worker=retried_on,
        redis_unacked_after_kill=unacked,
        seconds_from_kill_to_try_1_failed=(
            None if first["end_date"] is None else round(iso_ts(first["end_date"]) - killed_at, 1)
        ),
        seconds_from_kill_to_try_2_running=round(iso_ts(retry["start_date"]) - killed_at, 1),
        seconds_from_kill_to_success=round(time.time() - killed_at, 1),
        remote_statuses=sorted(accounting["statuses"].values()),
    )
    assert len(accounting["creates"]) == 1, (
        f"the retry created a new remote task instead of re-attaching to {remote_id}: {accounting['creates']}"
    )
    assert accounting["cancels"] == []
    assert state == "success", stack.task_log(WORKER_DAG, run_id, "generate", ti["try_number"])[-3000:]
    assert (ti["state"], ti["try_number"]) == ("success", 2)
    assert first["state"] == "failed", first  # failed by the heartbeat timeout, then retried
    assert retried_on == survivor, (retried_on, survivor)
    assert accounting["statuses"] == {remote_id: "SUCCEEDED"}
    scheduler_log = stack.procs["scheduler"].log_path.read_text(errors="replace")
    assert any(
        "Detected a task instance without a heartbeat" in line and WORKER_DAG in line
        for line in scheduler_log.splitlines()
    ), "no heartbeat-timeout detection for the killed worker's try in the scheduler log"
    retry_log = stack.task_log(WORKER_DAG, run_id, "generate", 2)
    assert remote_id in retry_log, "try 2's log does not name the remote task it re-attached to"
    assert output.is_file() and output.stat().st_size > 0 and is_mp4(output), output


# ----------------------------------------------------------------------------------------------------------
# 3. the deployment guide's commands: every one of them ran in this profile
# ----------------------------------------------------------------------------------------------------------
def test_every_command_of_the_deployment_guide_ran(stack: Any) -> None:
    """docs/deployment.md quotes only ``COMMANDS`` (tests/test_deployment_guide.py); this profile ran each."""
    e2e.record("stack", commands=stack.commands_run)
    assert set(e2e.COMMANDS) - stack.command_keys_run == set(), stack.commands_run
