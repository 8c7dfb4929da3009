"""The generation operators against the simulator over a real socket: every row of the outcome table, in
both modes.

* ``sync``: ``deferrable=False``, the operator drives ``hook.wait_for_task`` itself.
* ``deferred``: ``execute`` raises ``TaskDeferred``; the trigger's ``run()`` gives its single event (as the
  triggerer would, in a fresh event loop); ``execute_complete`` turns it into the result.

No wire mocks: the simulator is a real HTTP server; faults, outcomes and timings are set through its
in-process control, and what the provider did is read back from its accounting.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_runway._compat import AirflowFailException, TaskDeferred
from airflow_provider_runway.exceptions import (
    RunwayError,
    RunwayTaskCancelledError,
    RunwayTaskFailedError,
    RunwayTaskRejectedError,
    RunwayTimeoutError,
    RunwayValidationError,
)
from airflow_provider_runway.hooks.runway import aclose_shared_clients
from airflow_provider_runway.operators.runway import (
    DEFER_TIMEOUT_MARGIN,
    STATE_KEY,
    XCOM_TASK_ID,
    XCOM_TASK_URL,
    RunwayImageToVideoOperator,
    RunwayTaskLink,
    RunwayVideoToVideoOperator,
)
from airflow_provider_runway.triggers.runway import RunwayTaskTrigger
from tests.fakes import FakeStateStore, FakeSupervisor, FakeTaskInstance, FakeTI

pytestmark = pytest.mark.timeout(60)

IMAGE = "https://example.com/cat.jpg"
VIDEO = "https://example.com/cat.mp4"
MODES = ["sync", "deferred"]


# --------------------------------------------------------------------------------------------------------
# A minimal task context: a TaskInstance that records XCom pushes, and a dict-backed task state store
# --------------------------------------------------------------------------------------------------------


def make_context(store: FakeStateStore | None = None, ti: Any = None) -> dict[str, Any]:
    context: dict[str, Any] = {"ti": ti or FakeTI()}
    if store is not None:
        context["task_state_store"] = store
    return context


def i2v(**kwargs: Any) -> RunwayImageToVideoOperator:
    params: dict[str, Any] = {
        "task_id": "generate",
        "prompt_image": IMAGE,
        "prompt_text": "a cat walks",
        "ratio": "1280:720",
        "duration": 5,
        "poll_interval": 0.05,
        "max_poll_interval": 2.0,
    }
    params.update(kwargs)
    return RunwayImageToVideoOperator(**params)


def v2v(**kwargs: Any) -> RunwayVideoToVideoOperator:
    params: dict[str, Any] = {
        "task_id": "restyle",
        "video_uri": VIDEO,
        "prompt_text": "make it snow",
        "model": "aleph2",  # Runway direct (the simulator's runway flavor) refuses the gateway's gen4_aleph
        "poll_interval": 0.05,
        "max_poll_interval": 2.0,
    }
    params.update(kwargs)
    return RunwayVideoToVideoOperator(**params)


def use_conn(handle: Any, monkeypatch: pytest.MonkeyPatch, **extra: Any) -> None:
    """``runway_default`` pointing at the simulator, with extra connection extras."""
    conn = handle.airflow_conn
    conn["extra"].update(extra)
    monkeypatch.setenv("AIRFLOW_CONN_RUNWAY_DEFAULT", json.dumps(conn))


def trigger_events(trigger: RunwayTaskTrigger) -> list[Any]:
    """Run the trigger to its end in a fresh event loop, as a triggerer would; every event it fired."""

    async def main() -> list[Any]:
        try:
            return [event async for event in trigger.run()]
        finally:
            await aclose_shared_clients()

    return asyncio.run(main())


def run_trigger(trigger: RunwayTaskTrigger) -> dict[str, Any]:
    events = trigger_events(trigger)
    assert len(events) == 1, f"a trigger fires exactly one event, got {len(events)}"
    return events[0].payload


def deferral(operator: Any, context: dict[str, Any]) -> TaskDeferred:
    with pytest.raises(TaskDeferred) as info:
        operator.execute(context)
    return info.value


def run_op(operator: Any, context: dict[str, Any], mode: str) -> Any:
    """Run the operator to its outcome in ``mode``; in deferred mode it must really defer."""
    if mode == "sync":
        operator.deferrable = False
        return operator.execute(context)
    operator.deferrable = True
    deferred = deferral(operator, context)
    assert deferred.method_name == "execute_complete"
    event = run_trigger(deferred.trigger)
    return getattr(operator, deferred.method_name)(context, event)


def only_task(sim: Any) -> dict[str, Any]:
    tasks = sim.control.tasks()
    assert len(tasks) == 1, tasks
    return tasks[0]


def creates(sim: Any) -> int:
    return len(sim.control.accounting()["creates"])


def get_requests(sim: Any) -> list[dict[str, Any]]:
    return [
        r for r in sim.control.accounting()["requests"] if r["method"] == "GET" and "/v1/tasks/" in r["path"]
    ]


# --------------------------------------------------------------------------------------------------------
# Deferral: the trigger, its kwargs, method_name and timeout
# --------------------------------------------------------------------------------------------------------
def test_execute_defers_to_the_trigger_with_every_kwarg_method_name_and_timeout(direct):
    op = i2v(
        deferrable=True,
        poll_interval=0.25,
        max_poll_interval=3.0,
        polling_mode="fixed",
        timeout=120,
        cancel_on_kill=False,
        cancel_on_timeout=False,
        not_exist_grace=12.0,
        max_poll_failures=7,
    )
    context = make_context()
    before = time.time()
    deferred = deferral(op, context)
    after = time.time()

    trigger = deferred.trigger
    assert type(trigger) is RunwayTaskTrigger
    assert deferred.method_name == "execute_complete"
    assert deferred.kwargs is None
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_runway.triggers.runway.RunwayTaskTrigger"
    task = only_task(direct)
    assert before + 120 <= kwargs["deadline"] <= after + 120
    # This try waits not_exist_grace for a task the gateway hides, from when it starts waiting.
    assert before + 12 <= kwargs["visible_by"] <= after + 12
    assert kwargs == {
        "runway_task_id": task["id"],
        "runway_conn_id": "runway_default",
        "deadline": kwargs["deadline"],
        "poll_interval": 0.25,
        "max_poll_interval": 3.0,
        "polling_mode": "fixed",
        "visible_by": kwargs["visible_by"],
        "owned": True,
        "durable": False,  # this context has no task state store: a next try would not re-attach
        "max_poll_failures": 7,
        "cancel_on_kill": False,
        "cancel_on_timeout": False,
    }
    # The framework's defer timeout fires after the trigger's own deadline (which polls once more and
    # cancels), never before it.
    assert isinstance(deferred.timeout, timedelta)
    remaining = kwargs["deadline"] - after
    assert (
        remaining + DEFER_TIMEOUT_MARGIN - 1 <= deferred.timeout.total_seconds() <= 120 + DEFER_TIMEOUT_MARGIN
    )
    # The id went to XCom before deferring; the task was checked once, not polled.
    assert context["ti"].pushed(XCOM_TASK_ID) == [task["id"]]
    assert task["gets"] == 1


def test_a_task_already_finished_at_the_first_check_completes_without_deferring(direct):
    direct.control.configure(running_seconds=0.0)
    op = i2v(deferrable=True)
    manifest = op.execute(make_context())
    assert manifest["status"] == "SUCCEEDED"
    assert only_task(direct)["gets"] == 1


def test_template_fields_cover_every_user_value():
    assert set(RunwayImageToVideoOperator.template_fields) >= {
        "runway_conn_id",
        "prompt_image",
        "model",
        "prompt_text",
        "seed",
        "duration",
        "ratio",
        "extra_body",
    }
    assert set(RunwayVideoToVideoOperator.template_fields) >= {
        "runway_conn_id",
        "video_uri",
        "prompt_text",
        "model",
        "seed",
        "references",
        "extra_body",
    }


# --------------------------------------------------------------------------------------------------------
# The outcome table, row by row, in both modes
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_succeeded_returns_the_manifest_and_pushes_the_id_and_link(direct, mode):
    store = FakeStateStore()
    context = make_context(store)
    operator = i2v()
    manifest = run_op(operator, context, mode)

    task = only_task(direct)
    assert manifest["runway_task_id"] == task["id"]
    assert manifest["endpoint"] == "image_to_video"
    assert manifest["model"] == "gen4_turbo"
    assert manifest["status"] == "SUCCEEDED"
    assert len(manifest["outputs"]) == 1
    assert manifest["outputs"][0]["index"] == 0
    assert f"/_files/{task['id']}/0.mp4" in manifest["outputs"][0]["url"]
    assert manifest["cost_credits"] == 25.0  # gen4_turbo: 5 credits/s x 5 s
    assert manifest["polls"] >= 1 and manifest["running_seconds"] is not None
    json.dumps(manifest)  # it goes to XCom

    ti = context["ti"]
    assert ti.pushed(XCOM_TASK_ID) == [task["id"]]
    link = f"{direct.base_url}/v1/tasks/{task['id']}"
    assert ti.pushed(XCOM_TASK_URL) == [link]
    assert ti.pushed(RunwayTaskLink().xcom_key) == [link]
    assert RunwayTaskLink().get_link(operator, ti_key=None) == link  # type: ignore[arg-type]
    accounting = direct.control.accounting()
    assert len(accounting["creates"]) == 1
    assert accounting["cancels"] == []
    assert accounting["statuses"][task["id"]] == "SUCCEEDED"
    assert store.data == {}  # the logical generation is over: a rerun creates anew


@pytest.mark.parametrize("mode", MODES)
def test_video_to_video_succeeds_with_its_own_body(direct, mode):
    manifest = run_op(v2v(seed=7), make_context(), mode)
    assert manifest["endpoint"] == "video_to_video" and manifest["model"] == "aleph2"
    assert manifest["status"] == "SUCCEEDED"
    body = direct.control.accounting()["creates"][0]["body"]
    assert body == {"videoUri": VIDEO, "promptText": "make it snow", "model": "aleph2", "seed": 7}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("code", ["INTERNAL", "THIRD_PARTY.UNAVAILABLE", "INTERNAL.BAD_OUTPUT.CODE01"])
def test_failed_with_a_retryable_code_is_a_failure_airflow_may_retry(direct, mode, code):
    direct.control.add_fault("task_failed", failure_code=code, failure="The GPU fell over.", times=1)
    with pytest.raises(RunwayTaskFailedError) as info:
        run_op(i2v(), make_context(), mode)
    error = info.value
    assert not isinstance(error, AirflowFailException)
    assert not isinstance(error, RunwayTaskRejectedError)
    assert error.failure_code == code
    assert code in str(error) and "The GPU fell over." in str(error)
    assert direct.control.accounting()["cancels"] == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "code", ["SAFETY.INPUT.TEXT", "INPUT_PREPROCESSING.SAFETY.IMAGE.PUBLIC_FIGURE", "ASSET.INVALID"]
)
def test_failed_with_a_moderation_or_asset_code_fails_without_airflow_retries(direct, mode, code):
    direct.control.add_fault("task_failed", failure_code=code, failure="Rejected.", times=1)
    with pytest.raises(RunwayTaskRejectedError) as info:
        run_op(i2v(), make_context(), mode)
    assert isinstance(info.value, AirflowFailException)
    assert code in str(info.value)
    assert direct.control.accounting()["cancels"] == []


@pytest.mark.parametrize("mode", MODES)
def test_cancelled_remotely_fails_naming_the_cancel(direct, mode):
    direct.control.add_fault("task_cancelled", times=1)
    store = FakeStateStore()
    with pytest.raises(RunwayTaskCancelledError, match="cancelled"):
        run_op(i2v(), make_context(store), mode)
    assert direct.control.accounting()["cancels"] == []  # nobody here sent a DELETE
    assert store.data == {}


def delete_once_seen(sim: Any, min_gets: int = 2) -> threading.Thread:
    """Someone else deletes the task once the waiter has polled it ``min_gets`` times."""

    def run() -> None:
        end = time.time() + 10
        while time.time() < end:
            for task in sim.control.tasks():
                if task["gets"] >= min_gets and task["status"] in ("PENDING", "RUNNING"):
                    sim.control.state.delete_task(task["id"])
                    return
            time.sleep(0.01)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("mode", MODES)
def test_a_task_deleted_remotely_while_waiting_404_fails_as_cancelled(direct, mode):
    direct.control.configure(running_seconds=5.0, cancelled_get="404")
    deleter = delete_once_seen(direct)
    with pytest.raises(RunwayTaskCancelledError, match="cancelled or deleted remotely"):
        run_op(i2v(max_poll_interval=0.3), make_context(), mode)
    deleter.join(5)
    assert [c["kind"] for c in direct.control.accounting()["cancels"]] == ["cancel"]  # the other party's


@pytest.mark.parametrize("mode", MODES)
def test_deadline_passed_times_out_and_cancels_the_unfinished_task(direct, mode):
    direct.control.configure(running_seconds=30.0)
    store = FakeStateStore()
    with pytest.raises(RunwayTimeoutError) as info:
        run_op(i2v(timeout=0.6), make_context(store), mode)
    assert "remote cancel: cancelled" in str(info.value)
    task = only_task(direct)
    accounting = direct.control.accounting()
    assert accounting["cancels"] == [
        {
            "task_id": task["id"],
            "kind": "cancel",
            "status": "RUNNING",
            "time": pytest.approx(time.time(), abs=30),
        }
    ]
    assert accounting["orphans"] == []
    assert task["cancelled"] is True
    assert store.data == {}  # cancelled: a retry submits anew


@pytest.mark.parametrize("mode", MODES)
def test_deadline_without_cancel_on_timeout_leaves_the_task_running(direct, mode):
    direct.control.configure(running_seconds=30.0)
    with pytest.raises(RunwayTimeoutError):
        run_op(i2v(timeout=0.4, cancel_on_timeout=False), make_context(), mode)
    accounting = direct.control.accounting()
    assert accounting["cancels"] == []
    assert accounting["orphans"] == [only_task(direct)["id"]]


@pytest.mark.parametrize("mode", MODES)
def test_deadline_on_the_gateway_which_cannot_cancel_times_out_and_keeps_the_task_for_a_retry(gateway, mode):
    gateway.control.configure(running_seconds=30.0)
    store = FakeStateStore()
    with pytest.raises(RunwayTimeoutError, match="remote cancel: unsupported"):
        run_op(i2v(timeout=0.5), make_context(store), mode)
    deletes = [r for r in gateway.control.accounting()["requests"] if r["method"] == "DELETE"]
    assert [r["status"] for r in deletes] == [405]
    # Still running remotely and billed: a retry must re-attach to it, not pay for another.
    assert store.data[STATE_KEY]["id"] == only_task(gateway)["id"]


def kill_while_waiting(
    direct: Any, op: RunwayImageToVideoOperator, state: str | None, store: FakeStateStore | None = None
) -> list[BaseException]:
    """Run ``op`` synchronously on a thread, and call on_kill once it waits, with the task instance in
    ``state`` (what the supervisor would answer); returns what execute returned or raised, once it has."""
    ti = FakeTaskInstance()
    outcome: list[Any] = []

    def work() -> None:
        try:
            outcome.append(op.execute(make_context(store, ti)))
        except BaseException as err:  # handed to the test thread
            outcome.append(err)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    end = time.time() + 10
    while not (op._waiting_on and direct.control.tasks() and only_task(direct)["gets"] >= 1):
        assert time.time() < end, "the operator never started waiting"
        time.sleep(0.01)
    with FakeSupervisor({(ti.dag_id, ti.run_id, ti.task_id, ti.map_index): state}):
        op.on_kill()
    worker.join(15)
    assert not worker.is_alive()
    return outcome


@pytest.mark.parametrize("state", ["failed", "success"])
def test_sync_on_kill_of_a_task_instance_a_person_ended_cancels_the_remote_task(direct, state):
    direct.control.configure(running_seconds=30.0)
    outcome = kill_while_waiting(direct, i2v(deferrable=False), state)
    task = only_task(direct)
    assert [(c["task_id"], c["kind"], c["status"]) for c in direct.control.accounting()["cancels"]] == [
        (task["id"], "cancel", "RUNNING")
    ]
    assert len(outcome) == 1 and isinstance(outcome[0], RunwayTaskCancelledError)


def test_sync_on_kill_on_a_worker_shutdown_keeps_the_task_for_the_retry(direct):
    # SIGTERM to a worker (a pod evicted, a deploy) or execution_timeout: the task instance is still
    # RUNNING, and its retry re-attaches through the durable record; a cancel would pay twice.
    direct.control.configure(running_seconds=1.0)
    store = FakeStateStore()
    op = i2v(deferrable=False)
    outcome = kill_while_waiting(direct, op, "running", store)
    assert direct.control.accounting()["cancels"] == []
    # (In Airflow the process would now exit; here the wait simply goes on, and the task is collected.)
    assert len(outcome) == 1 and outcome[0]["status"] == "SUCCEEDED", outcome
    assert creates(direct) == 1


def test_sync_on_kill_between_submit_and_the_first_check_cancels(direct):
    """A kill that lands while the first GET after the create is still in flight must not orphan the task."""
    direct.control.configure(running_seconds=30.0)
    direct.control.add_fault("slow", path="tasks_get", times=1, delay=1.5)
    # No cancel at the deadline: a cancel can only come from on_kill.
    op = i2v(deferrable=False, timeout=4.0, cancel_on_timeout=False)
    ti = FakeTaskInstance()
    outcome: list[BaseException] = []

    def work() -> None:
        try:
            op.execute(make_context(ti=ti))
        except BaseException as err:  # handed to the test thread
            outcome.append(err)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    end = time.time() + 10
    while not (direct.control.tasks() and only_task(direct)["gets"] >= 1):  # the slow check is in flight
        assert time.time() < end, "the operator never submitted"
        time.sleep(0.01)
    with FakeSupervisor({(ti.dag_id, ti.run_id, ti.task_id, ti.map_index): "failed"}):
        op.on_kill()
    worker.join(10)
    assert not worker.is_alive()
    cancels = direct.control.accounting()["cancels"]
    assert [(c["task_id"], c["kind"]) for c in cancels] == [(only_task(direct)["id"], "cancel")]
    assert len(outcome) == 1 and isinstance(outcome[0], RunwayTaskCancelledError)


@pytest.mark.parametrize("mode", MODES)
def test_on_kill_after_the_task_finished_sends_nothing(direct, mode):
    op = i2v()
    run_op(op, make_context(), mode)
    before = direct.control.accounting()["request_count"]
    op.on_kill()
    accounting = direct.control.accounting()
    assert accounting["request_count"] == before
    assert accounting["cancels"] == []
    assert accounting["statuses"][only_task(direct)["id"]] == "SUCCEEDED"


def test_on_kill_is_off_with_cancel_on_kill_false(direct):
    direct.control.configure(running_seconds=30.0)
    op = i2v(cancel_on_kill=False)
    op._waiting_on = "0b9e6c1e-8a4b-4c2f-9d3e-1f2a3b4c5d6e"
    op.on_kill()
    assert direct.control.accounting()["request_count"] == 0


# --------------------------------------------------------------------------------------------------------
# Durable execution: a retry re-attaches instead of paying twice
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_a_retry_with_the_same_state_store_re_attaches_with_no_new_create(direct, mode):
    store = FakeStateStore()
    first = deferral(i2v(deferrable=True), make_context(store))  # worker released, then lost
    task_id = first.trigger.runway_task_id
    assert store.data[STATE_KEY]["id"] == task_id

    retry = i2v()  # a fresh operator instance, as on a new worker
    context = make_context(store)
    manifest = run_op(retry, context, mode)
    assert manifest["runway_task_id"] == task_id
    assert context["ti"].pushed(XCOM_TASK_ID) == [task_id]
    assert creates(direct) == 1
    assert store.data == {}


@pytest.mark.parametrize("mode", MODES)
def test_a_retry_after_the_task_succeeded_unseen_collects_it_without_a_create(direct, mode):
    store = FakeStateStore()
    deferral(i2v(deferrable=True), make_context(store))
    time.sleep(0.5)  # it finished while nobody watched
    manifest = (
        run_op(i2v(), make_context(store), mode)
        if mode == "sync"
        else i2v(deferrable=True).execute(make_context(store))
    )
    assert manifest["status"] == "SUCCEEDED"
    assert creates(direct) == 1


def test_a_resumed_task_that_cannot_read_the_urls_back_keeps_the_generation_for_its_retry(
    direct, monkeypatch
):
    """The trigger's event carries no signed URLs; execute_complete reads them with one GET. If that GET
    fails past the poll-failure budget, the try fails, but the remote task is remembered, so the retry
    collects it without a create."""
    use_conn(direct, monkeypatch, max_retries=0)
    store = FakeStateStore()
    op = i2v(deferrable=True, max_poll_failures=1)
    context = make_context(store)
    event = run_trigger(deferral(op, context).trigger)
    assert event["status"] == "succeeded" and event["task"]["outputs"] == []
    direct.control.add_fault("http_error", path="tasks_get", status=503, times=2)
    with pytest.raises(RunwayError):
        op.execute_complete(context, event)
    assert store.data[STATE_KEY]["id"] == event["runway_task_id"]

    manifest = i2v(deferrable=True).execute(make_context(store))  # the retry, on a fresh worker
    assert manifest["outputs"][0]["url"].startswith(direct.root_url)
    assert creates(direct) == 1 and store.data == {}


def test_a_broken_answer_to_the_url_read_back_is_absorbed_like_a_failed_poll(direct, monkeypatch):
    use_conn(direct, monkeypatch, max_retries=0)
    op = i2v(deferrable=True)
    context = make_context(FakeStateStore())
    event = run_trigger(deferral(op, context).trigger)
    direct.control.add_fault("malformed_json", path="tasks_get", times=1)
    manifest = op.execute_complete(context, event)
    assert manifest["outputs"][0]["url"].startswith(direct.root_url)
    assert [f["kind"] for f in direct.control.accounting()["faults_fired"]] == ["malformed_json"]


@pytest.mark.parametrize("mode", MODES)
def test_after_failed_the_retry_submits_anew(direct, mode):
    direct.control.add_fault("task_failed", failure_code="INTERNAL", times=1)
    store = FakeStateStore()
    with pytest.raises(RunwayTaskFailedError):
        run_op(i2v(), make_context(store), mode)
    assert store.data == {}
    manifest = run_op(i2v(), make_context(store), mode)
    assert manifest["status"] == "SUCCEEDED"
    assert creates(direct) == 2


@pytest.mark.parametrize("mode", MODES)
def test_a_recorded_task_that_failed_while_the_worker_was_gone_is_not_reused(direct, mode):
    store = FakeStateStore()
    old = deferral(i2v(deferrable=True), make_context(store)).trigger.runway_task_id
    direct.control.force_outcome(old, "FAILED", failure_code="INTERNAL")
    manifest = run_op(i2v(), make_context(store), mode)
    assert manifest["runway_task_id"] != old
    assert creates(direct) == 2


def test_durable_false_ignores_the_store(direct):
    store = FakeStateStore()
    deferral(i2v(deferrable=True, durable=False), make_context(store))
    assert store.data == {}
    deferral(i2v(deferrable=True, durable=False), make_context(store))
    assert creates(direct) == 2


# --------------------------------------------------------------------------------------------------------
# Validation before any HTTP, execute_complete's contract, wait_for_completion=False
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("factory", "kwargs", "field"),
    [
        (i2v, {"seed": -1}, "seed"),
        (i2v, {"seed": 4_294_967_296}, "seed"),
        (i2v, {"prompt_text": "x" * 1001}, "prompt_text"),
        (i2v, {"prompt_image": "data:image/gif;base64,R0lGODlhAQABAAAAACw="}, "prompt_image"),
        (i2v, {"ratio": "1:1"}, "ratio"),
        (i2v, {"timeout": 0}, "timeout"),
        (i2v, {"poll_interval": -1}, "poll_interval"),
        (i2v, {"polling_mode": "eager"}, "polling_mode"),
        (v2v, {"prompt_text": "", "model": "gemini_omni_flash"}, "prompt_text"),  # it requires one
        (v2v, {"video_uri": "http://example.com/cat.mp4"}, "video_uri"),
    ],
)
def test_validation_errors_name_the_field_before_any_http(direct, monkeypatch, mode, factory, kwargs, field):
    from airflow.sdk.bases.xcom import BaseXCom

    read: list[str] = []
    monkeypatch.setattr(BaseXCom, "get_value", staticmethod(lambda *, ti_key, key: read.append(key)))
    op = factory(deferrable=mode == "deferred", **kwargs)
    with pytest.raises(RunwayValidationError) as info:
        op.execute(make_context(FakeStateStore()))
    assert info.value.field.split("[")[0].split(".")[0] == field
    # the last line of the log: what, that nothing was billed, and which argument to fix
    assert str(info.value).startswith(f"Invalid {info.value.field}: ")
    assert str(info.value).endswith(
        f". No task was created, so nothing was billed: fix {info.value.field}, then run the task again."
    )
    # the button Airflow sets as the try ends: empty, without asking for an XCom that was never pushed
    assert RunwayTaskLink().get_link(op, ti_key=None) == ""  # type: ignore[arg-type]
    assert read == []
    accounting = direct.control.accounting()
    assert accounting["request_count"] == 0
    assert accounting["creates"] == []


def test_a_sub_second_poll_interval_is_refused_against_a_real_service(runway_conn):
    op = i2v(poll_interval=0.5)  # runway_conn points at api.dev.runwayml.com: no request may be sent
    with pytest.raises(RunwayValidationError) as info:
        op.execute(make_context())
    assert info.value.field == "poll_interval"


@pytest.mark.parametrize(
    "event",
    [
        None,
        {},
        {"status": "done", "runway_task_id": "x"},
        {"status": "SUCCEEDED", "runway_task_id": "x"},
        {"status": "succeeded", "runway_task_id": "x", "task": None},
        "succeeded",
    ],
)
def test_execute_complete_with_an_unknown_event_raises_never_returns(event):
    with pytest.raises(RunwayError):
        i2v().execute_complete(make_context(), event)


@pytest.mark.parametrize("mode", MODES)
def test_wait_for_completion_false_pushes_the_id_and_returns_without_polling(direct, mode):
    direct.control.configure(running_seconds=30.0)
    context = make_context()
    result = i2v(wait_for_completion=False, deferrable=mode == "deferred").execute(context)
    task = only_task(direct)
    assert result == {
        "runway_task_id": task["id"],
        "endpoint": "image_to_video",
        "model": "gen4_turbo",
        "status": "SUBMITTED",
    }
    assert context["ti"].pushed(XCOM_TASK_ID) == [task["id"]]
    accounting = direct.control.accounting()
    assert task["gets"] == 0 and accounting["request_count"] == 1
    assert accounting["cancels"] == []


def test_wait_for_completion_false_leaves_no_record_once_it_returns(direct):
    # Handed on to a sensor: a clear of the submit task creates anew, and no Variable outlives it (3.1/3.2).
    store = FakeStateStore()
    i2v(wait_for_completion=False).execute(make_context(store))
    assert store.data == {}
    i2v(wait_for_completion=False).execute(make_context(store))
    assert creates(direct) == 2


# --------------------------------------------------------------------------------------------------------
# The gateway's task_not_exist window, transient poll failures, adaptive polling
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_the_gateway_task_not_exist_window_is_survived(gateway, mode):
    gateway.control.configure(task_not_exist_seconds=0.5, running_seconds=0.2, envelope_fraction=0.5)
    manifest = run_op(i2v(), make_context(), mode)
    assert manifest["status"] == "SUCCEEDED"
    statuses = [r["status"] for r in get_requests(gateway)]
    assert statuses[0] == 400  # task_not_exist right after the create
    assert statuses[-1] == 200
    assert creates(gateway) == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("kind", "params"),
    [("http_error", {"status": 503}), ("http_error", {"status": 502}), ("rate_limit", {})],
)
def test_a_burst_of_transient_poll_failures_within_the_budget_is_survived(
    direct, monkeypatch, mode, kind, params
):
    use_conn(direct, monkeypatch, max_retries=0)  # every failure reaches the wait loop's budget
    direct.control.add_fault(kind, path="tasks_get", times=3, **params)
    manifest = run_op(i2v(max_poll_failures=3), make_context(), mode)
    assert manifest["status"] == "SUCCEEDED"
    failed = [r for r in get_requests(direct) if r["fault"]]
    assert len(failed) == 3
    assert get_requests(direct)[0]["fault"] == kind  # the burst started with the check right after submit
    assert creates(direct) == 1


@pytest.mark.parametrize("mode", MODES)
def test_poll_failures_beyond_the_budget_give_an_error_and_keep_the_task_for_a_retry(
    direct, monkeypatch, mode
):
    use_conn(direct, monkeypatch, max_retries=0)
    direct.control.configure(running_seconds=2.0)
    store = FakeStateStore()
    op = i2v(max_poll_failures=2)
    context = make_context(store)
    if mode == "sync":
        direct.control.add_fault("http_error", path="tasks_get", status=503)
        with pytest.raises(RunwayError, match="3 polls in a row failed") as info:
            op.execute(context)
    else:
        op.deferrable = True
        deferred = deferral(op, context)
        direct.control.add_fault("http_error", path="tasks_get", status=503)
        event = run_trigger(deferred.trigger)
        assert event["status"] == "error"
        with pytest.raises(RunwayError, match="3 polls in a row failed") as info:
            op.execute_complete(context, event)
    assert not isinstance(info.value, (RunwayTaskFailedError, RunwayTimeoutError))
    assert direct.control.accounting()["cancels"] == []
    assert store.data[STATE_KEY]["id"] == only_task(direct)["id"]  # the task may still run: re-attach


@pytest.mark.parametrize("mode", MODES)
def test_adaptive_polling_makes_far_fewer_gets_than_fixed_on_the_same_task(direct, mode):
    direct.control.configure(running_seconds=1.5)
    gets = {}
    for polling_mode in ("adaptive", "fixed"):
        manifest = run_op(i2v(polling_mode=polling_mode, poll_interval=0.05), make_context(), mode)
        gets[polling_mode] = direct.control.accounting()["gets"][manifest["runway_task_id"]]
    assert gets["fixed"] >= 10
    assert gets["fixed"] >= 3 * gets["adaptive"], gets
