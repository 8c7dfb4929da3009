"""RunwayTaskTrigger: JSON-only kwargs, one event, restarts, on_kill, one pooled client per loop.

Runs against the simulator over a real socket; each ``asyncio.run`` is a triggerer's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import time
from typing import Any

import pytest
from airflow.sdk.module_loading import import_string

from airflow_provider_runway.exceptions import RunwayError
from airflow_provider_runway.hooks import pool
from airflow_provider_runway.hooks.runway import RunwayHook, aclose_shared_clients
from airflow_provider_runway.polling import finish_event
from airflow_provider_runway.triggers.runway import RunwayTaskTrigger
from tests.fakes import FakeSupervisor, FakeTaskInstance

pytestmark = pytest.mark.timeout(60)

BODY = {
    "model": "gen4_turbo",
    "promptImage": "https://example.com/cat.jpg",
    "ratio": "1280:720",
    "duration": 5,
}
CLASS_PATH = "airflow_provider_runway.triggers.runway.RunwayTaskTrigger"


def submit(sim: Any) -> tuple[str, float]:
    created = RunwayHook().submit("image_to_video", BODY)
    return created.id, created.submitted_at


def make_trigger(task_id: str, submitted_at: float, **kwargs: Any) -> RunwayTaskTrigger:
    params: dict[str, Any] = {
        "runway_task_id": task_id,
        "deadline": submitted_at + 60,
        "poll_interval": 0.05,
        "max_poll_interval": 0.5,
        "submitted_at": submitted_at,
    }
    params.update(kwargs)
    return RunwayTaskTrigger(**params)


async def collect(trigger: RunwayTaskTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


def run_loop(coro_factory: Any) -> Any:
    async def main() -> Any:
        try:
            return await coro_factory()
        finally:
            await aclose_shared_clients()

    return asyncio.run(main())


async def until(predicate: Any, timeout: float = 10.0) -> None:
    end = time.time() + timeout
    while not predicate():
        assert time.time() < end, "condition never became true"
        await asyncio.sleep(0.01)


# --------------------------------------------------------------------------------------------------------
# Serialization
# --------------------------------------------------------------------------------------------------------
FULL_KWARGS = {
    "runway_task_id": "0b9e6c1e-8a4b-4c2f-9d3e-1f2a3b4c5d6e",
    "runway_conn_id": "runway_other",
    "deadline": 1_800_000_000.5,
    "poll_interval": 0.25,
    "max_poll_interval": 30.0,
    "polling_mode": "fixed",
    "visible_by": 1_799_990_012.25,
    "owned": False,
    "durable": False,
    "max_poll_failures": 9,
    "cancel_on_kill": False,
    "cancel_on_timeout": False,
}


def test_serialize_gives_the_class_path_and_json_only_kwargs_mirroring_init():
    path, kwargs = RunwayTaskTrigger(**FULL_KWARGS).serialize()
    assert path == CLASS_PATH
    assert kwargs == FULL_KWARGS
    assert json.loads(json.dumps(kwargs)) == kwargs
    params = set(inspect.signature(RunwayTaskTrigger.__init__).parameters) - {"self"}
    # serialize() mirrors __init__, nothing more, nothing less; submitted_at and not_exist_grace only read
    # rows that a version before visible_by serialized (they become visible_by).
    assert set(kwargs) == params - {"submitted_at", "not_exist_grace"}


def test_a_trigger_serialized_before_visible_by_gets_it_from_submitted_at_and_its_grace():
    old = RunwayTaskTrigger(runway_task_id="abc", deadline=5, submitted_at=100.0, not_exist_grace=30.0)
    assert old.visible_by == 130.0 and old.serialize()[1]["visible_by"] == 130.0
    assert RunwayTaskTrigger(runway_task_id="abc", deadline=5).visible_by is None


def test_a_trigger_rebuilt_from_its_serialized_kwargs_serializes_identically():
    original = RunwayTaskTrigger(**FULL_KWARGS)
    path, kwargs = original.serialize()
    rebuilt = import_string(path)(**json.loads(json.dumps(kwargs)))
    assert type(rebuilt) is RunwayTaskTrigger
    assert rebuilt.serialize() == original.serialize()
    minimal = RunwayTaskTrigger(runway_task_id="abc", deadline=5)
    assert RunwayTaskTrigger(**minimal.serialize()[1]).serialize() == minimal.serialize()


def test_serialized_trigger_carries_no_api_key(direct):
    task_id, submitted_at = submit(direct)
    trigger = make_trigger(task_id, submitted_at)
    text = json.dumps(trigger.serialize())
    assert direct.api_key not in text
    assert "password" not in text and "Bearer" not in text


# --------------------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------------------
def test_run_fires_exactly_one_success_event(direct):
    task_id, submitted_at = submit(direct)
    events = run_loop(lambda: collect(make_trigger(task_id, submitted_at)))
    assert len(events) == 1
    event = events[0]
    assert event["status"] == "succeeded" and event["runway_task_id"] == task_id
    manifest = finish_event(
        RunwayHook().restore_outputs(event), endpoint="image_to_video", model="gen4_turbo"
    )
    assert manifest["outputs"][0]["url"].startswith(direct.root_url)
    assert direct.control.accounting()["cancels"] == []


def test_the_event_carries_no_signed_url_and_the_resumed_task_reads_them_back(direct):
    """The triggerer logs each event whole and stores it until the task resumes."""
    task_id, submitted_at = submit(direct)
    trigger = make_trigger(task_id, submitted_at)

    async def fired() -> Any:
        async for fired in trigger.run():
            return fired

    fired = run_loop(fired)
    assert fired.payload["task"]["status"] == "SUCCEEDED"
    assert fired.payload["outputs_withheld"] == 1 and fired.payload["task"]["outputs"] == []
    assert "Signature" not in repr(fired) and "/_files/" not in json.dumps(fired.payload)
    gets = direct.control.accounting()["gets"][task_id]
    restored = RunwayHook().restore_outputs(fired.payload)
    assert direct.control.accounting()["gets"][task_id] == gets + 1
    (url,) = restored["task"]["outputs"]
    assert "Signature=" in url and f"/_files/{task_id}/" in url


def test_outputs_purged_before_the_task_resumed_are_an_error_never_an_empty_manifest(direct):
    task_id, submitted_at = submit(direct)
    event = run_loop(lambda: collect(make_trigger(task_id, submitted_at)))[0]
    RunwayHook().cancel_task(task_id)  # DELETE of a finished task purges it (Runway's delete)
    with pytest.raises(RunwayError, match=f"{task_id}.*outputs are gone|{task_id}.*not found"):
        RunwayHook().restore_outputs(event)


def test_the_trigger_deadline_cancels_the_unfinished_task_and_fires_timeout(direct):
    direct.control.configure(running_seconds=30.0)
    task_id, submitted_at = submit(direct)
    events = run_loop(lambda: collect(make_trigger(task_id, submitted_at, deadline=time.time() + 0.3)))
    assert [e["status"] for e in events] == ["timeout"]
    assert events[0]["cancelled"] == "cancelled"
    assert [(c["task_id"], c["kind"]) for c in direct.control.accounting()["cancels"]] == [
        (task_id, "cancel")
    ]


def test_a_bad_polling_mode_gives_an_error_event_not_a_crash(direct):
    task_id, submitted_at = submit(direct)
    events = run_loop(lambda: collect(make_trigger(task_id, submitted_at, polling_mode="eager")))
    assert [e["status"] for e in events] == ["error"]
    assert "eager" in events[0]["message"]


def test_a_triggerer_restart_mid_poll_re_attaches_with_no_new_create(direct):
    direct.control.configure(running_seconds=1.0)
    task_id, submitted_at = submit(direct)
    first = make_trigger(task_id, submitted_at)

    async def until_polled_then_stop() -> None:
        running = asyncio.ensure_future(collect(first))
        await until(lambda: direct.control.task(task_id)["gets"] >= 2)
        running.cancel()  # the triggerer goes down mid-poll
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await first.cleanup()  # all a restart runs: it must not touch the remote task

    run_loop(until_polled_then_stop)
    gets_before = direct.control.task(task_id)["gets"]
    assert direct.control.task(task_id)["status"] == "RUNNING"
    assert direct.control.accounting()["cancels"] == []

    # A new triggerer process rebuilds the trigger from the stored kwargs, in a new event loop.
    path, kwargs = first.serialize()
    rebuilt = import_string(path)(**json.loads(json.dumps(kwargs)))
    events = run_loop(lambda: collect(rebuilt))
    assert [e["status"] for e in events] == ["succeeded"]
    assert events[0]["runway_task_id"] == task_id
    accounting = direct.control.accounting()
    assert len(accounting["creates"]) == 1
    assert accounting["cancels"] == []
    assert accounting["gets"][task_id] > gets_before


def test_many_triggers_in_one_loop_share_the_loop_s_lanes(direct):
    direct.control.configure(running_seconds=0.3)
    triggers = [make_trigger(*submit(direct)) for _ in range(20)]

    async def all_at_once() -> tuple[list[list[dict[str, Any]]], int, int, bool]:
        results = await asyncio.gather(*(collect(t) for t in triggers))
        lanes = pool.lanes_in_loop()
        clients = [c for one in lanes.values() for c in one.clients]
        return results, len(lanes), len(clients), all(not c.closed for c in clients)

    results, settings_count, client_count, open_ = run_loop(all_at_once)
    assert [[e["status"] for e in events] for events in results] == [["succeeded"]] * 20
    # One set of lanes for the loop (one TLS setting), never more clients than 20 requests can fill.
    assert settings_count == 1 and 1 <= client_count <= -(-20 // pool.LANE_WIDTH) and open_
    gets = direct.control.accounting()["gets"]
    assert len(gets) == 20 and all(n >= 1 for n in gets.values())


# --------------------------------------------------------------------------------------------------------
# on_kill: the user marks the task failed / success or clears it while deferred
# --------------------------------------------------------------------------------------------------------
def killable(trigger: RunwayTaskTrigger, ti: FakeTaskInstance | None = None) -> RunwayTaskTrigger:
    """The trigger as the triggerer runs it: with its task instance set."""
    trigger.task_instance = ti or FakeTaskInstance()  # type: ignore[assignment]
    return trigger


def state_of(state: str | None, ti: FakeTaskInstance | None = None) -> FakeSupervisor:
    ti = ti or FakeTaskInstance()
    return FakeSupervisor({(ti.dag_id, ti.run_id, ti.task_id, ti.map_index): state})


def deletes(sim: Any) -> list[dict[str, Any]]:
    return [r for r in sim.control.accounting()["requests"] if r["method"] == "DELETE"]


@pytest.mark.parametrize("state", ["failed", "success"])
def test_on_kill_after_a_person_ended_the_task_instance_cancels_the_remote_task(direct, state):
    direct.control.configure(running_seconds=30.0)
    task_id, submitted_at = submit(direct)
    trigger = killable(make_trigger(task_id, submitted_at))

    async def kill_while_running() -> None:
        running = asyncio.ensure_future(collect(trigger))
        await until(lambda: direct.control.task(task_id)["gets"] >= 1)
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await trigger.on_kill()

    with state_of(state) as supervisor:
        run_loop(kill_while_running)
    asked = supervisor.asked[0]
    assert (asked.dag_id, asked.run_ids, asked.task_ids, asked.map_index) == (
        "runway_dag",
        ["manual__1"],
        ["generate"],
        None,
    )
    accounting = direct.control.accounting()
    assert [(c["task_id"], c["kind"], c["status"]) for c in accounting["cancels"]] == [
        (task_id, "cancel", "RUNNING")
    ]
    assert accounting["orphans"] == []
    assert direct.control.task(task_id)["status"] == "CANCELLED"


def test_on_kill_of_a_trigger_moved_to_another_triggerer_cancels_nothing(direct, capsys):
    # apache/airflow#73454: the stalled triggerer resumes and drops what it no longer owns via on_kill; the
    # task instance is still DEFERRED (its trigger runs elsewhere).
    direct.control.configure(running_seconds=30.0)
    task_id, submitted_at = submit(direct)
    ti = FakeTaskInstance(map_index=4)
    with state_of("deferred", ti):
        run_loop(lambda: killable(make_trigger(task_id, submitted_at), ti).on_kill())
    assert deletes(direct) == []
    assert direct.control.task(task_id)["status"] == "RUNNING"
    logged = capsys.readouterr().out  # Airflow's structlog writes to stdout
    assert f"Not cancelling Runway task {task_id} on kill" in logged and "still deferred" in logged


@pytest.mark.parametrize("durable, cancelled", [(True, False), (False, True)])
def test_on_kill_after_a_clear_keeps_the_task_for_the_next_try_only_when_it_re_attaches(
    direct, durable, cancelled
):
    direct.control.configure(running_seconds=30.0)
    task_id, submitted_at = submit(direct)
    with state_of(None):
        run_loop(lambda: killable(make_trigger(task_id, submitted_at, durable=durable)).on_kill())
    assert bool(deletes(direct)) is cancelled
    assert direct.control.task(task_id)["status"] == ("CANCELLED" if cancelled else "RUNNING")


def test_on_kill_that_cannot_learn_the_task_instance_state_cancels_nothing(direct, capsys):
    direct.control.configure(running_seconds=30.0)
    task_id, submitted_at = submit(direct)
    before = direct.control.accounting()["request_count"]
    run_loop(lambda: killable(make_trigger(task_id, submitted_at)).on_kill())  # no supervisor at all
    with state_of("failed") as supervisor:
        supervisor.fail = ConnectionResetError("supervisor went away")
        run_loop(lambda: killable(make_trigger(task_id, submitted_at)).on_kill())
    assert direct.control.accounting()["request_count"] == before  # not even a GET
    logged = capsys.readouterr().out
    assert logged.count("could not be read") == 2 and "supervisor went away" in logged


def test_re_sent_cancels_do_not_cut_the_decision_and_the_delete_short(direct):
    # The triggerer re-sends its cancel about once a second while on_kill runs; each one interrupts it.
    direct.control.configure(running_seconds=30.0)
    task_id, submitted_at = submit(direct)
    trigger = killable(make_trigger(task_id, submitted_at))

    async def kill_and_keep_cancelling() -> None:
        killing = asyncio.ensure_future(trigger.on_kill())
        for _ in range(6):
            await asyncio.sleep(0.05)
            killing.cancel()
        await killing  # on_kill swallows them and returns once its work is done

    with state_of(
        "failed",
    ) as supervisor:
        supervisor.delay = 0.4  # a busy supervisor: the cancels land while it answers
        run_loop(kill_and_keep_cancelling)
    assert [d["status"] for d in deletes(direct)] == [204]
    assert direct.control.task(task_id)["status"] == "CANCELLED"


def test_on_kill_after_success_sends_no_delete_and_the_outputs_survive(direct):
    task_id, submitted_at = submit(direct)
    trigger = killable(make_trigger(task_id, submitted_at))

    async def finish_then_kill() -> list[dict[str, Any]]:
        events = await collect(trigger)
        await trigger.on_kill()  # a spurious call, or "mark success" just after the event
        return events

    with state_of("success"):  # "mark success" just after the event: the one state that cancels
        events = run_loop(finish_then_kill)
    assert [e["status"] for e in events] == ["succeeded"]
    accounting = direct.control.accounting()
    assert accounting["cancels"] == []
    assert not [r for r in accounting["requests"] if r["method"] == "DELETE"]
    assert accounting["statuses"][task_id] == "SUCCEEDED"
    assert RunwayHook().get_task(task_id).outputs  # still there to download


def test_on_kill_with_cancel_on_kill_false_sends_nothing(direct):
    direct.control.configure(running_seconds=30.0)
    task_id, submitted_at = submit(direct)
    before = direct.control.accounting()["request_count"]
    with state_of("failed") as supervisor:
        run_loop(lambda: killable(make_trigger(task_id, submitted_at, cancel_on_kill=False)).on_kill())
    assert direct.control.accounting()["request_count"] == before
    assert supervisor.asked == []


def test_on_kill_on_the_gateway_without_cancel_never_raises(runway_simulator, monkeypatch):
    runway_simulator.set_airflow_conn(monkeypatch)
    runway_simulator.control.configure(running_seconds=30.0)
    task_id, submitted_at = submit(runway_simulator)
    with state_of("failed"):
        run_loop(lambda: killable(make_trigger(task_id, submitted_at)).on_kill())
    assert [r["status"] for r in deletes(runway_simulator)] == [405]


def test_on_kill_for_a_vanished_task_never_raises(direct):
    with state_of("failed"):
        run_loop(
            lambda: killable(
                make_trigger("0b9e6c1e-8a4b-4c2f-9d3e-1f2a3b4c5d6e", time.time() - 100)
            ).on_kill()
        )
    assert direct.control.accounting()["cancels"] == []


def test_the_operators_defer_timeout_margin_is_the_triggers():
    # The operator module keeps its own copy so that DAG files need not import the trigger machinery.
    from airflow_provider_runway.operators import runway as operators
    from airflow_provider_runway.triggers import runway as triggers

    assert operators.DEFER_TIMEOUT_MARGIN == triggers.DEFER_TIMEOUT_MARGIN
