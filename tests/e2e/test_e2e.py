"""``make e2e``: the provider in a real Airflow 3 (api-server, scheduler, dag-processor, two triggerers,
LocalExecutor, PostgreSQL) against the Runway simulator, checked through Airflow's REST API, the
simulators' accounting and headless Chromium. The stack is started once per session (see ``conftest.py``).

The long scenarios that need no hand on the stack (the pool, the slow gateway) start as soon as it is up
and are checked at the end, so they overlap the others; each scenario has a simulator of its own where
its accounting must be exact.

Airflow 3.3 can fail a deferred task when many resume at once (apache/airflow#71580: the scheduler
logs a "state mismatch"); the e2e DAGs have ``retries=2`` for it. A retried task instance passes only
if its failed try carries that exact signature in Airflow's event log; any other failure fails the test.
"""

from __future__ import annotations

import collections
import datetime
import json
import os
import signal
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
import runway_e2e_stack as e2e

pytestmark = pytest.mark.e2e

MAPPED_DAG = "runway_e2e_mapped"
CANCEL_DAG = "runway_e2e_cancel"
RESTART_DAG = "runway_e2e_restart"
STALL_DAG = "runway_e2e_stall"
POOL_DAG = "runway_e2e_pool"
SLOW_DAG = "runway_e2e_gateway_slow"
WORKER_DAG = "runway_e2e_worker_kill"
MAPPED = 50
RESTARTED = 6
STALLED = 20
POOLED = 10
POOL = "runway_e2e_pool"
POOL_SLOTS = 2
#: how long the stalled triggerer stays stopped at least (its triggers must have moved by then too)
STALL_SECONDS = 25
ACTIVE = {"PENDING", "THROTTLED", "RUNNING"}
DEFERRED_MARK = "Pausing task as DEFERRED"
FIRED_MARK = "Trigger fired event"
TRIGGER_LOGGER = "airflow_provider_runway.triggers.runway.RunwayTaskTrigger"
SCREENSHOTS = e2e.BUILD


def trigger_lines(text: str) -> list[str]:
    """The events logged through the Runway trigger's logger, from a task log's JSON lines."""
    lines = []
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict) and item.get("logger") == TRIGGER_LOGGER:
            lines.append(str(item.get("event")))
    return lines


def creates_for(control: Any, prefix: str) -> list[dict[str, Any]]:
    """The simulator's accounting of creates whose prompt starts with ``prefix``."""
    return [
        c
        for c in control.accounting()["creates"]
        if str((c.get("body") or {}).get("promptText", "")).startswith(prefix)
    ]


def holder(ti: dict[str, Any]) -> int | None:
    """The triggerer job that holds a deferred TI's trigger (``None``: not picked up yet)."""
    trigger = ti.get("trigger") or {}
    job = trigger.get("triggerer_id")
    # The API's triggerer_job (a Job row, through the trigger) names the same job.
    assert job == (ti.get("triggerer_job") or {}).get("id"), (trigger, ti.get("triggerer_job"))
    return job


def holdings(tis: list[dict[str, Any]]) -> dict[int, list[int]]:
    """Triggerer job id -> map indexes of the TIs whose triggers it holds."""
    held: dict[int, list[int]] = collections.defaultdict(list)
    for ti in tis:
        job = holder(ti)
        if job is not None:
            held[int(job)].append(int(ti["map_index"]))
    return dict(held)


def iso_ts(value: str) -> float:
    """Seconds since the epoch of an ISO 8601 timestamp from the REST API."""
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def is_mp4(path: Path) -> bool:
    head = path.read_bytes()[:12]
    return len(head) == 12 and head[4:8] == b"ftyp"


def check_retries(stack: Any, dag_id: str, run_id: str, tis: list[dict[str, Any]]) -> list[str]:
    """Every retried TI must show apache/airflow#71580's signature; returns a description of each."""
    retried = [ti for ti in tis if ti["try_number"] > 1]
    notes = []
    for ti in retried:
        events = stack.api(
            "GET",
            f"/eventLogs?dag_id={dag_id}&task_id={ti['task_id']}&run_id={e2e._q(run_id)}"
            f"&map_index={ti['map_index']}&event={e2e._q('state mismatch')}&limit=100",
        )["event_logs"]
        assert events, (
            f"{dag_id} {ti['task_id']}[{ti['map_index']}] was retried (try {ti['try_number']}) without the "
            f"#71580 'state mismatch' signature: a real failure. Log of try 1:\n"
            + stack.task_log(dag_id, run_id, ti["task_id"], 1, ti["map_index"])[-4000:]
        )
        notes.append(f"{ti['task_id']}[{ti['map_index']}] try {ti['try_number']}: {events[0]['extra'][:160]}")
    if notes:
        message = f"{dag_id}: {len(notes)} task instance(s) retried after apache/airflow#71580: " + "; ".join(
            notes
        )
        warnings.warn(message, stacklevel=2)
        e2e.log(message)
    return notes


# ----------------------------------------------------------------------------------------------------------
# 0. started first, checked last: the pool and the slow gateway need no hand on the stack
# ----------------------------------------------------------------------------------------------------------
#: session fixtures started as soon as the stack is up when a selected test uses them
EARLY = ("gateway_slow_run", "pool_run")


@pytest.fixture(scope="module", autouse=True)
def early_starts(request: pytest.FixtureRequest) -> None:
    """Start the long, hands-off scenarios now (only those a selected test checks)."""
    for name in EARLY:
        if any(name in getattr(item, "fixturenames", ()) for item in request.session.items):
            request.getfixturevalue(name)


@pytest.fixture(scope="session")
def gateway_slow_run(stack: Any) -> dict[str, Any]:
    run_id = stack.trigger(SLOW_DAG)
    return {"run_id": run_id, "started": time.monotonic()}


@pytest.fixture(scope="session")
def pool_run(stack: Any) -> dict[str, Any]:
    """Create the pool with the CLI, as an operator of the deployment would, then start the DAG."""
    stack.run_command(
        "pool", pool=POOL, slots=POOL_SLOTS, description="e2e: two Runway generations at a time"
    )
    pool = stack.api("GET", f"/pools/{POOL}")
    assert (pool["slots"], pool["include_deferred"]) == (POOL_SLOTS, True), pool
    run_id = stack.trigger(POOL_DAG)
    return {"run_id": run_id, "started": time.monotonic()}


# ----------------------------------------------------------------------------------------------------------
# 1. a worker killed mid-wait (synchronous mode): the retry re-attaches to the same remote task
# ----------------------------------------------------------------------------------------------------------
def task_processes(stack: Any, ti_id: str) -> list[tuple[int, str]]:
    """``(pid, title)`` of the LocalExecutor worker (the task's supervisor) and the task process of one
    try. Both set their process title to name the TI's id ("airflow worker -- LocalExecutor: <id>" and
    "airflow worker -- <id>"). They descend from the scheduler, but on Airflow 3.3 the task process has a
    process group of its own (apache/airflow#65505), so the whole tree is searched, not the group."""
    found = []
    scheduler = stack.procs["scheduler"].popen.pid
    for pid in sorted({*e2e.group_members(scheduler), *e2e.descendants(scheduler)}):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        if ti_id in title:
            found.append((pid, title))
    return found


def test_worker_killed_mid_wait_retries_and_reattaches(stack: Any) -> None:
    control = stack.sims["worker"].control
    control.add_fault("timing", path="create", times=1, pending_seconds=1, running_seconds=40)
    run_id = stack.trigger(WORKER_DAG)
    ti_path = f"/dags/{WORKER_DAG}/dagRuns/{e2e._q(run_id)}/taskInstances/generate"

    def waiting_in_the_worker() -> tuple[dict[str, Any], str] | None:
        stack.check_alive()
        ti = stack.api("GET", ti_path)
        assert ti["state"] in ("scheduled", "queued", "running", None), ti["state"]
        creates = control.accounting()["creates"]
        if ti["state"] == "running" and creates:
            remote_id = str(creates[0]["task_id"])
            remote = control.task(remote_id)
            if remote["status"] == "RUNNING" and remote["gets"] >= 2:  # the worker is in its wait loop
                return ti, remote_id
        return None

    ti, remote_id = e2e.wait_for("the worker to wait on a RUNNING task", waiting_in_the_worker, 120)
    assert ti["try_number"] == 1
    procs = e2e.wait_for("the task's processes", lambda: task_processes(stack, ti["id"]), 30)
    supervisors = [pid for pid, title in procs if "LocalExecutor" in title]
    assert len(supervisors) == 1, procs
    # A host's death takes the task process too: it must be found, or it would go on waiting, orphaned.
    assert len(procs) >= 2, f"only the supervisor was found, not its task process: {procs}"
    # The crash: the supervisor first (so nothing is left to report the task's end), then the task.
    for pid in [*supervisors, *(pid for pid, _ in procs if pid not in supervisors)]:
        os.kill(pid, signal.SIGKILL)
    killed_at = time.time()
    e2e.log(f"SIGKILLed {WORKER_DAG}.generate's worker: {procs}")
    e2e.wait_for("the killed processes to be gone", lambda: not task_processes(stack, ti["id"]), 15, 0.2)

    state = stack.wait_run(WORKER_DAG, run_id, timeout=240)
    ti = stack.api("GET", ti_path)
    tries = stack.api("GET", f"{ti_path}/tries")["task_instances"]
    first = next(t for t in tries if t["try_number"] == 1)
    accounting = control.accounting()
    output = stack.outputs / "worker-kill" / f"{remote_id}_0.mp4"
    e2e.record(
        WORKER_DAG,
        state=state,
        creates=len(accounting["creates"]),
        cancels=len(accounting["cancels"]),
        try_number=ti["try_number"],
        try_1_state=first["state"],
        seconds_from_kill_to_try_1_failed=(
            None if first["end_date"] is None else round(iso_ts(first["end_date"]) - killed_at, 1)
        ),
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
    assert accounting["statuses"] == {remote_id: "SUCCEEDED"}
    # ... and it was the scheduler's heartbeat check that failed try 1 (not the task reporting an error).
    scheduler_log = stack.procs["scheduler"].log_path.read_text(errors="replace")
    assert any(
        "Detected a task instance without a heartbeat" in line and WORKER_DAG in line
        for line in scheduler_log.splitlines()
    ), "no heartbeat-timeout detection for the killed worker's try in the scheduler log"
    assert output.is_file() and output.stat().st_size > 0 and is_mp4(output), output


# ----------------------------------------------------------------------------------------------------------
# 2. fifty mapped generations, all deferred
# ----------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def mapped_run(stack: Any) -> dict[str, Any]:
    """Run the 50-generation mapped DAG once, sampling Airflow and the simulator every second."""
    control = stack.gateway.control
    samples: list[dict[str, Any]] = []

    def sample() -> None:
        tis = stack.task_instances(MAPPED_DAG, run_id)
        statuses = control.accounting()["statuses"]
        samples.append(
            {
                "deferred": sum(ti["state"] == "deferred" for ti in tis),
                "running_tis": sum(ti["state"] == "running" for ti in tis),
                "remote_active": sum(status in ACTIVE for status in statuses.values()),
                "remote": dict(collections.Counter(statuses.values())),
            }
        )

    started = time.monotonic()
    run_id = stack.trigger(MAPPED_DAG)
    state = stack.wait_run(MAPPED_DAG, run_id, timeout=420, on_poll=sample)
    e2e.log(f"{MAPPED_DAG}: {state} in {time.monotonic() - started:.0f} s")
    e2e.record(MAPPED_DAG, state=state, seconds=round(time.monotonic() - started, 1))
    (e2e.BUILD / "mapped-samples.json").write_text(json.dumps(samples, indent=1))
    return {"run_id": run_id, "state": state, "samples": samples}


def test_mapped_dag_of_50_generations_defers_every_task(stack: Any, mapped_run: dict[str, Any]) -> None:
    run_id = mapped_run["run_id"]
    tis = stack.task_instances(MAPPED_DAG, run_id)
    assert mapped_run["state"] == "success", collections.Counter(ti["state"] for ti in tis)
    assert sorted(ti["map_index"] for ti in tis) == list(range(MAPPED))
    assert {ti["state"] for ti in tis} == {"success"}

    # Exactly one paid create per generation, each prompt once, nothing left running remotely.
    accounting = stack.gateway.control.accounting()
    creates = creates_for(stack.gateway.control, "e2e-mapped")
    assert len(accounting["creates"]) == MAPPED
    assert sorted(c["body"]["promptText"] for c in creates) == sorted(
        f"e2e-mapped clip {i}" for i in range(MAPPED)
    )
    assert accounting["orphans"] == []
    assert accounting["cancels"] == []
    assert set(accounting["statuses"].values()) == {"SUCCEEDED"}

    # Per task instance: its try went through DEFERRED (the worker let go of the slot), the trigger
    # fired in the triggerer for the very remote task it created, and the resumed part finished.
    remote_ids = {c["task_id"] for c in accounting["creates"]}
    seen_ids = set()
    throttled_seen = False
    for ti in tis:
        text = "\n".join(
            stack.task_log(MAPPED_DAG, run_id, "generate", n, ti["map_index"])
            for n in range(1, ti["try_number"] + 1)
        )
        assert DEFERRED_MARK in text, f"generate[{ti['map_index']}] never deferred:\n{text[-3000:]}"
        assert FIRED_MARK in text, f"generate[{ti['map_index']}]: no trigger event:\n{text[-3000:]}"
        ids = [rid for rid in remote_ids if rid in text]
        assert len(ids) == 1, f"generate[{ti['map_index']}] names remote tasks {ids}"
        # The provider's own progress lines, written in the triggerer, reach this task's log too.
        progress = trigger_lines(text)
        assert f"Runway task {ids[0]}: SUCCEEDED 1 output(s)" in progress, progress[-10:]
        # The triggerer logs every event whole: the event must carry no signed output URL.
        assert "Signature=" not in text, f"generate[{ti['map_index']}] logs a signed URL"
        seen_ids.update(ids)
        throttled_seen = throttled_seen or "THROTTLED" in text
    assert seen_ids == remote_ids
    throttled_seen = throttled_seen or any("THROTTLED" in s["remote"] for s in mapped_run["samples"])
    assert throttled_seen, "the simulator's concurrency limit never THROTTLED a task"

    # Waiting held no worker slot: far more generations waited at once than there are worker slots.
    samples = mapped_run["samples"]
    peak_deferred = max(s["deferred"] for s in samples)
    peak_remote = max(s["remote_active"] for s in samples)
    e2e.log(
        f"peaks: {peak_deferred} TIs deferred at once, {peak_remote} remote tasks in flight, "
        f"{e2e.PARALLELISM} worker slots; {len(samples)} samples"
    )
    e2e.record(
        MAPPED_DAG,
        peak_deferred_tis=peak_deferred,
        peak_remote_in_flight=peak_remote,
        worker_slots=e2e.PARALLELISM,
        creates=len(accounting["creates"]),
        throttled_seen=throttled_seen,
    )
    assert max(s["running_tis"] for s in samples) <= e2e.PARALLELISM
    assert peak_deferred > 2 * e2e.PARALLELISM
    assert peak_remote > 2 * e2e.PARALLELISM

    e2e.record(MAPPED_DAG, retried_after_71580=check_retries(stack, MAPPED_DAG, run_id, tis))


# ----------------------------------------------------------------------------------------------------------
# 3. mark failed while deferred -> the trigger's on_kill cancels the remote task
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.profile("local", "distributed")
def test_marking_a_deferred_task_failed_cancels_the_remote_task(stack: Any) -> None:
    control = stack.direct.control
    # The next create runs for 10 minutes: it can only end by the cancel under test.
    control.add_fault("timing", path="create", times=1, pending_seconds=1, running_seconds=600)
    run_id = stack.trigger(CANCEL_DAG)
    ti_path = f"/dags/{CANCEL_DAG}/dagRuns/{e2e._q(run_id)}/taskInstances/generate"

    def deferred_and_running() -> str | None:
        stack.check_alive()
        ti = stack.api("GET", ti_path)
        creates = creates_for(control, "e2e-cancel")
        if ti["state"] == "deferred" and ti["trigger"] and creates:
            remote_id = str(creates[0]["task_id"])
            if control.task(remote_id)["status"] == "RUNNING":
                return remote_id
        assert ti["state"] in ("scheduled", "queued", "running", "deferred", None), ti["state"]
        return None

    remote_id = e2e.wait_for("the cancel DAG's task to be deferred", deferred_and_running, 120)
    # Let a triggerer pick the trigger up (it is what runs on_kill).
    e2e.wait_for(
        "a triggerer to poll the task",
        lambda: holder(stack.api("GET", ti_path)) and control.task(remote_id)["gets"] >= 2,
        60,
    )
    assert control.accounting()["cancels"] == []

    stack.api("PATCH", ti_path, {"new_state": "failed"})
    e2e.log(f"marked {CANCEL_DAG}.generate failed; waiting for the remote cancel of {remote_id}")

    cancels = e2e.wait_for(
        "the trigger's on_kill to cancel the remote task",
        lambda: [c for c in control.accounting()["cancels"] if c["task_id"] == remote_id],
        90,
    )
    assert len(cancels) == 1, cancels
    assert cancels[0]["kind"] == "cancel", cancels  # cancelled while unfinished, not a DELETE of outputs
    assert cancels[0]["status"] in ACTIVE, cancels
    assert control.task(remote_id)["status"] == "CANCELLED"
    assert stack.api("GET", ti_path)["state"] == "failed"
    assert stack.wait_run(CANCEL_DAG, run_id, timeout=60) == "failed"
    assert len(creates_for(control, "e2e-cancel")) == 1
    assert remote_id not in control.accounting()["orphans"]
    e2e.record(CANCEL_DAG, remote_task=remote_id, cancel=cancels[0], cancels=len(cancels))


# ----------------------------------------------------------------------------------------------------------
# 4. a triggerer is killed mid-run and replaced: the other takes over, no new create, no cancel
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.profile("local", "distributed")
def test_triggerer_killed_mid_run_resumes_without_new_creates(stack: Any) -> None:
    control = stack.direct.control
    control.add_fault("timing", path="create", times=RESTARTED, pending_seconds=1, running_seconds=40)
    run_id = stack.trigger(RESTART_DAG)

    def all_deferred_in_a_triggerer() -> list[dict[str, Any]] | None:
        stack.check_alive()
        tis = stack.task_instances(RESTART_DAG, run_id)
        ok = len(tis) == RESTARTED and all(ti["state"] == "deferred" and holder(ti) for ti in tis)
        return tis if ok else None

    e2e.wait_for("every restart task to wait in a triggerer", all_deferred_in_a_triggerer, 180)
    creates = creates_for(control, "e2e-restart")
    assert len(creates) == RESTARTED
    remote_ids = {str(c["task_id"]) for c in creates}
    # Let the triggerers poll each task at least once, so they really had them.
    e2e.wait_for(
        "the triggerers to poll every task",
        lambda: all(control.task(rid)["gets"] >= 2 for rid in remote_ids),
        60,
    )
    held = holdings(stack.task_instances(RESTART_DAG, run_id))
    victim_job = max(held, key=lambda job: len(held[job]))
    victim = stack.triggerer(victim_job)
    e2e.log(f"{RESTART_DAG}: triggers held {held}; killing {victim.name} (job {victim_job})")
    stack.kill_triggerer(victim.name)
    assert e2e.group_members(victim.popen.pid) == [], "the killed triggerer's process group survived"
    statuses = {rid: control.task(rid)["status"] for rid in remote_ids}
    assert set(statuses.values()) <= ACTIVE, f"the remote tasks should still run: {statuses}"
    time.sleep(3)  # a few seconds before the replacement starts (the other triggerer runs meanwhile)
    replacement = stack.start_triggerer(victim.name)

    takers: set[int] = set()

    def note_takers() -> None:
        for ti in stack.task_instances(RESTART_DAG, run_id):
            job = holder(ti)
            if ti["map_index"] in held[victim_job] and job is not None and job != victim_job:
                takers.add(int(job))

    assert stack.wait_run(RESTART_DAG, run_id, timeout=240, on_poll=note_takers) == "success"
    tis = stack.task_instances(RESTART_DAG, run_id)
    assert {ti["state"] for ti in tis} == {"success"}
    assert len(creates_for(control, "e2e-restart")) == RESTARTED, "a restart created a new remote task"
    accounting = control.accounting()
    assert not [c for c in accounting["cancels"] if c["task_id"] in remote_ids], "a restart cancelled"
    assert {accounting["statuses"][rid] for rid in remote_ids} == {"SUCCEEDED"}
    # Another triggerer finished what the killed one had started: those logs have trigger output from two
    # jobs.
    for ti in tis:
        text = "\n".join(
            stack.task_log(RESTART_DAG, run_id, "generate", n, ti["map_index"])
            for n in range(1, ti["try_number"] + 1)
        )
        jobs = {
            int(part.split(".log.trigger.")[1].split(".")[0])
            for part in text.split('"')
            if ".log.trigger." in part
        }
        assert FIRED_MARK in text
        if ti["map_index"] in held[victim_job]:
            assert victim_job in jobs and len(jobs) >= 2, (
                f"generate[{ti['map_index']}]: trigger logs from jobs {jobs} only"
            )
    e2e.record(
        RESTART_DAG,
        creates=RESTARTED,
        cancels=0,
        held_by_killed=len(held[victim_job]),
        killed=f"{victim.name} (job {victim_job})",
        taken_over_by_jobs=sorted(takers),
        replacement_job=replacement.job_id,
        remote_statuses_at_kill=sorted(statuses.values()),
        retried_after_71580=check_retries(stack, RESTART_DAG, run_id, tis),
    )


# ----------------------------------------------------------------------------------------------------------
# 5. a triggerer stalls (SIGSTOP) past the health threshold and resumes (apache/airflow#73454)
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.profile("local", "distributed")
def test_stalled_triggerer_resumes_without_cancelling_moved_triggers(stack: Any) -> None:
    """The stalled triggerer's triggers move to the other one; when it resumes it drops the triggers it no
    longer owns. Dropping a trigger that moved is not a user's cancel: the remote tasks must run on."""
    control = stack.sims["stall"].control
    control.add_fault("timing", path="create", times=STALLED, pending_seconds=1, running_seconds=80)
    run_id = stack.trigger(STALL_DAG)

    def all_deferred_and_polled() -> dict[int, list[int]] | None:
        stack.check_alive()
        tis = stack.task_instances(STALL_DAG, run_id)
        if len(tis) != STALLED or not all(ti["state"] == "deferred" and holder(ti) for ti in tis):
            assert all(ti["state"] in ("scheduled", "queued", "running", "deferred", None) for ti in tis)
            return None
        gets = control.accounting()["gets"]
        if len(gets) == STALLED and all(n >= 2 for n in gets.values()):
            return holdings(tis)
        return None

    held = e2e.wait_for("every stall task to be deferred and polled", all_deferred_and_polled, 240)
    e2e.log(f"{STALL_DAG}: triggers held by job { ({job: len(ids) for job, ids in held.items()}) }")
    alive = {stack.procs[name].job_id for name in e2e.TRIGGERERS}
    assert set(held) <= alive, f"triggers held by jobs {set(held)}, the running triggerers are {alive}"
    # Usually both hold some (whichever loop looks first takes a new trigger); should one hold all, the
    # other still takes them over, so the scenario stands either way.
    victim_job = max(held, key=lambda job: len(held[job]))
    (other_job,) = alive - {victim_job}
    victim = stack.triggerer(victim_job)
    moved = set(held[victim_job])
    remote_of = {
        int(ti["map_index"]): stack.api(
            "GET",
            f"/dags/{STALL_DAG}/dagRuns/{e2e._q(run_id)}/taskInstances/generate/xcomEntries/runway_task_id"
            f"?map_index={ti['map_index']}",
        )["value"]
        for ti in stack.task_instances(STALL_DAG, run_id)
    }
    victim.signal_group(signal.SIGSTOP)
    stopped_at = time.monotonic()
    # A poll the victim sent just before the stop may still be counted: its successor must poll twice.
    gets_before = {remote_of[i]: control.task(remote_of[i])["gets"] for i in moved}
    e2e.log(f"SIGSTOP to {victim.name} (job {victim_job}, {len(moved)} triggers), group {victim.popen.pid}")
    moved_after: list[float] = []  # seconds from the stop until every trigger had moved
    try:

        def reassigned() -> float | None:
            stack.check_alive()
            tis = {ti["map_index"]: ti for ti in stack.task_instances(STALL_DAG, run_id)}
            moved_all = all(holder(tis[i]) == other_job for i in moved)
            if moved_all and not moved_after:
                moved_after.append(round(time.monotonic() - stopped_at, 1))
            polled = all(control.task(remote_of[i])["gets"] >= gets_before[remote_of[i]] + 2 for i in moved)
            elapsed = time.monotonic() - stopped_at
            return elapsed if moved_all and polled and elapsed >= STALL_SECONDS else None

        stalled_for = e2e.wait_for(
            "the stalled triggerer's triggers to move to the other one and be polled there", reassigned, 120
        )
        active = {i: control.task(remote_of[i])["status"] for i in moved}
    finally:
        victim.signal_group(signal.SIGCONT)
    e2e.log(
        f"SIGCONT to {victim.name} after {stalled_for:.0f} s; remote statuses {collections.Counter(active.values())}"
    )
    # The scenario only tests something if the moved tasks were still running when their old owner woke up.
    assert set(active.values()) <= ACTIVE, active

    state = stack.wait_run(STALL_DAG, run_id, timeout=300)
    tis = stack.task_instances(STALL_DAG, run_id)
    accounting = control.accounting()
    tries = collections.Counter(ti["try_number"] for ti in tis)
    e2e.record(
        STALL_DAG,
        state=state,
        held={str(job): len(ids) for job, ids in held.items()},
        held_by_stalled=len(moved),
        held_by_other_before=len(held.get(other_job, [])),
        stalled=f"{victim.name} (job {victim_job})",
        stalled_seconds=round(stalled_for, 1),
        seconds_until_moved=moved_after[0] if moved_after else None,
        creates=len(accounting["creates"]),
        cancels=len(accounting["cancels"]),
        cancel_kinds=dict(collections.Counter(c["kind"] for c in accounting["cancels"])),
        try_numbers={str(k): v for k, v in sorted(tries.items())},
        ti_states=dict(collections.Counter(ti["state"] for ti in tis)),
        remote_statuses=dict(collections.Counter(accounting["statuses"].values())),
    )
    assert accounting["cancels"] == [], (
        f"{len(accounting['cancels'])} healthy remote task(s) cancelled when the stalled triggerer resumed "
        f"(it held {len(moved)}): {accounting['cancels'][:3]}"
    )
    assert len(accounting["creates"]) == STALLED
    assert state == "success", collections.Counter(ti["state"] for ti in tis)
    assert {ti["state"] for ti in tis} == {"success"}
    assert tries == {1: STALLED}, f"retried: {[(ti['map_index'], ti['try_number']) for ti in tis]}"
    assert set(accounting["statuses"].values()) == {"SUCCEEDED"}
    assert victim.alive(), "the resumed triggerer died"


# ----------------------------------------------------------------------------------------------------------
# 6. the UI in headless Chromium: the connection form, and a finished task's "Runway task" link
# ----------------------------------------------------------------------------------------------------------
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser_page(chromium: str) -> Any:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the test extra) is missing")
    with (
        sync_api.sync_playwright() as playwright,
        tempfile.TemporaryDirectory(prefix="e2e-chromium-") as profile,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile,  # a fresh user-data-dir
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        context.set_default_timeout(30_000)
        try:
            yield context
        finally:
            context.close()


def shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=True)
    e2e.log(f"screenshot {path.relative_to(e2e.ROOT)}")
    return path


def test_ui_connection_form_and_runway_task_link(
    stack: Any, mapped_run: dict[str, Any], browser_page: Any
) -> None:
    from playwright.sync_api import expect

    from airflow_provider_runway.get_provider_info import get_provider_info

    behaviour = get_provider_info()["connection-types"][0]["ui-field-behaviour"]
    page = browser_page.new_page()

    # --- create a Runway connection through the form
    page.goto(f"{stack.api_url}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Connection ID").fill("runway_ui")
    dialog.get_by_role("combobox").click()
    page.keyboard.type("Runway")
    page.get_by_role("option", name="Runway", exact=True).click()
    base_url = dialog.get_by_label("Base URL", exact=True)
    api_key = dialog.get_by_label("API key", exact=True)
    expect(base_url).to_be_visible()
    expect(api_key).to_be_visible()
    expect(base_url).to_have_attribute("placeholder", behaviour["placeholders"]["host"])
    expect(api_key).to_have_attribute("placeholder", behaviour["placeholders"]["password"])
    expect(api_key).to_have_attribute("type", "password")
    for hidden in ("Login", "Port", "Schema", "Host", "Password"):
        expect(dialog.get_by_label(hidden, exact=True)).to_have_count(0)
    shot(page, "01-connection-form-empty.png")

    base_url.fill(stack.gateway.base_url)
    api_key.fill(e2e.GATEWAY_KEY)
    expect(base_url).to_have_value(stack.gateway.base_url)
    shot(page, "02-connection-form-filled.png")
    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    loopback = dialog.get_by_label("Allow plain http on loopback (the Runway simulator)")
    expect(loopback).not_to_be_checked()
    dialog.get_by_text("Allow plain http on loopback (the Runway simulator)").click()
    expect(loopback).to_be_checked()
    page.wait_for_timeout(500)  # let the switch finish its animation before the screenshot
    shot(page, "03-connection-form-extra-fields.png")
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_text("runway_ui", exact=True)).to_be_visible()
    shot(page, "04-connection-list.png")

    saved = stack.api("GET", "/connections/runway_ui")
    assert saved["conn_type"] == "runway"
    assert saved["host"] == stack.gateway.base_url
    assert json.loads(saved["extra"] or "{}").get("allow_insecure_loopback") is True
    stored = subprocess.run(
        [str(e2e.BIN / "airflow"), "connections", "get", "runway_ui", "-o", "json"],
        env=stack.env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(stored.stdout)[0]["password"] == e2e.GATEWAY_KEY

    # --- a finished task's extra link
    run_id = mapped_run["run_id"]
    links = stack.api(
        "GET", f"/dags/{MAPPED_DAG}/dagRuns/{e2e._q(run_id)}/taskInstances/generate/links?map_index=0"
    )["extra_links"]
    remote_id = stack.api(
        "GET",
        f"/dags/{MAPPED_DAG}/dagRuns/{e2e._q(run_id)}/taskInstances/generate/xcomEntries/runway_task_id"
        "?map_index=0",
    )["value"]
    assert links["Runway task"].endswith(f"/_sim/tasks/{remote_id}")

    page.goto(f"{stack.api_url}/dags/{MAPPED_DAG}/runs/{run_id}/tasks/generate/mapped/0/details")
    link = page.get_by_role("link", name="Runway task")
    expect(link).to_be_visible()
    expect(link).to_have_attribute("href", links["Runway task"])
    shot(page, "05-task-details-extra-link.png")
    with browser_page.expect_page() as opened:
        link.click()
    remote = opened.value
    remote.wait_for_load_state()
    expect(remote.locator("body")).to_contain_text(remote_id)
    expect(remote.locator("body")).to_contain_text("SUCCEEDED")
    shot(remote, "06-runway-task-link-opened.png")
    e2e.record("ui", screenshots=sorted(p.name for p in SCREENSHOTS.glob("*.png")), extra_link=remote.url)


# ----------------------------------------------------------------------------------------------------------
# 7. a pool of 2 slots that counts deferred tasks: never more than 2 generations at once at Runway
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.profile("local", "distributed")
def test_pool_counting_deferred_tasks_caps_remote_concurrency(stack: Any, pool_run: dict[str, Any]) -> None:
    run_id = pool_run["run_id"]
    state = stack.wait_run(POOL_DAG, run_id, timeout=300)
    tis = stack.task_instances(POOL_DAG, run_id)
    accounting = stack.sims["pool"].control.accounting()
    e2e.record(
        POOL_DAG,
        state=state,
        run_seconds=stack.run_seconds(POOL_DAG, run_id),
        pool_slots=POOL_SLOTS,
        peak_in_flight=accounting["peak_in_flight"],
        creates=len(accounting["creates"]),
        try_numbers=dict(collections.Counter(str(ti["try_number"]) for ti in tis)),
    )
    assert accounting["peak_in_flight"] <= POOL_SLOTS, accounting["peak_in_flight"]
    assert accounting["peak_in_flight"] == POOL_SLOTS, "the pool never let two generations run together"
    assert state == "success", collections.Counter(ti["state"] for ti in tis)
    assert {ti["state"] for ti in tis} == {"success"} and len(tis) == POOLED
    assert {ti["pool"] for ti in tis} == {POOL}
    assert len(accounting["creates"]) == POOLED
    assert accounting["cancels"] == []
    assert set(accounting["statuses"].values()) == {"SUCCEEDED"}
    # Every one of them waited deferred (so the pool counted deferred tasks, not only running ones).
    for ti in tis:
        text = stack.task_log(POOL_DAG, run_id, "generate", ti["try_number"], ti["map_index"])
        assert DEFERRED_MARK in text, f"generate[{ti['map_index']}] never deferred"
    e2e.record(POOL_DAG, retried_after_71580=check_retries(stack, POOL_DAG, run_id, tis))


# ----------------------------------------------------------------------------------------------------------
# 8. a gateway that hides new tasks for 2 minutes (task_not_exist): no extra create, outputs saved
# ----------------------------------------------------------------------------------------------------------
def test_gateway_hiding_new_tasks_for_two_minutes(stack: Any, gateway_slow_run: dict[str, Any]) -> None:
    run_id = gateway_slow_run["run_id"]
    state = stack.wait_run(SLOW_DAG, run_id, timeout=420)
    tis = {ti["task_id"]: ti for ti in stack.task_instances(SLOW_DAG, run_id)}
    accounting = stack.sims["gateway_slow"].control.accounting()
    creates = {
        name: [
            c["task_id"] for c in creates_for(stack.sims["gateway_slow"].control, f"e2e-gateway-slow {name}")
        ]
        for name in ("deferred", "synchronous")
    }
    outputs = sorted((stack.outputs / "gateway-slow").glob("*"))
    e2e.record(
        SLOW_DAG,
        state=state,
        run_seconds=stack.run_seconds(SLOW_DAG, run_id),
        not_exist_seconds=e2e.GATEWAY_SLOW_NOT_EXIST_SECONDS,
        creates={name: len(ids) for name, ids in creates.items()},
        try_numbers={name: ti["try_number"] for name, ti in tis.items()},
        ti_states={name: ti["state"] for name, ti in tis.items()},
        outputs=[p.name for p in outputs],
    )
    assert {name: len(ids) for name, ids in creates.items()} == {"deferred": 1, "synchronous": 1}, creates
    assert len(accounting["creates"]) == 2
    for name, ti in tis.items():
        assert ti["state"] == "success", (
            f"{name}: {ti['state']} on try {ti['try_number']}:\n"
            + stack.task_log(SLOW_DAG, run_id, name, ti["try_number"])[-3000:]
        )
    for ids in creates.values():
        saved = stack.outputs / "gateway-slow" / f"{ids[0]}_0.mp4"
        assert saved.is_file() and saved.stat().st_size > 0 and is_mp4(saved), (saved, outputs)
    assert set(accounting["statuses"].values()) == {"SUCCEEDED"}
