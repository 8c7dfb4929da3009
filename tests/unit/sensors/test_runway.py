"""RunwayTaskSensor against the simulator: poke mode and deferred mode end the same way."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from typing import Any

import pytest

from airflow_provider_runway import durable
from airflow_provider_runway._compat import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferred,
)
from airflow_provider_runway.exceptions import (
    RunwayError,
    RunwayServerError,
    RunwayTaskCancelledError,
    RunwayTaskFailedError,
    RunwayTaskRejectedError,
    RunwayValidationError,
)
from airflow_provider_runway.hooks.runway import RunwayHook, aclose_shared_clients
from airflow_provider_runway.operators.runway import XCOM_TASK_URL, RunwayTaskLink
from airflow_provider_runway.sensors.runway import RunwayTaskSensor
from airflow_provider_runway.triggers.runway import RunwayTaskTrigger
from tests.fakes import FakeSupervisor, FakeTaskInstance, FakeTI

pytestmark = pytest.mark.timeout(60)

BODY = {
    "model": "gen4_turbo",
    "promptImage": "https://example.com/cat.jpg",
    "ratio": "1280:720",
    "duration": 5,
}
MODES = ["poke", "deferred"]


def sensor(task_id: str, **kwargs: Any) -> RunwayTaskSensor:
    params: dict[str, Any] = {
        "task_id": "wait",
        "runway_task_id": task_id,
        "poll_interval": 0.05,
        "timeout": 30,
    }
    params.update(kwargs)
    return RunwayTaskSensor(**params)


def run_trigger(trigger: RunwayTaskTrigger) -> dict[str, Any]:
    async def main() -> list[Any]:
        try:
            return [event.payload async for event in trigger.run()]
        finally:
            await aclose_shared_clients()

    events = asyncio.run(main())
    assert len(events) == 1
    return events[0]


def run_sensor(op: RunwayTaskSensor, mode: str, context: dict[str, Any] | None = None) -> Any:
    context = context if context is not None else {"ti": FakeTI()}
    if mode == "poke":
        op.deferrable = False
        return op.execute(context)
    op.deferrable = True
    with pytest.raises(TaskDeferred) as info:
        op.execute(context)
    return getattr(op, info.value.method_name)(context, run_trigger(info.value.trigger))


def without_retries(sim: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """``runway_default`` on the simulator with max_retries 0: each fault reaches the poll-failure budget."""
    conn = sim.airflow_conn
    conn["extra"]["max_retries"] = 0
    monkeypatch.setenv("AIRFLOW_CONN_RUNWAY_DEFAULT", json.dumps(conn))


def submit() -> str:
    return RunwayHook().submit("image_to_video", BODY).id


@pytest.mark.parametrize("mode", MODES)
def test_the_sensor_returns_the_manifest_and_pushes_the_link(direct, mode):
    task_id = submit()
    context = {"ti": FakeTI()}
    manifest = run_sensor(sensor(task_id), mode, context)
    assert manifest["runway_task_id"] == task_id and manifest["status"] == "SUCCEEDED"
    assert len(manifest["outputs"]) == 1
    link = f"{direct.base_url}/v1/tasks/{task_id}"
    # RunwayTaskLink.get_link reads runway_task_url: the sensor must push it or the button goes blank.
    assert (XCOM_TASK_URL, link) in context["ti"].pushes
    assert (RunwayTaskLink().xcom_key, link) in context["ti"].pushes
    assert direct.control.accounting()["cancels"] == []


def test_the_sensor_defers_with_its_settings_and_never_cancels_by_default(direct):
    direct.control.configure(running_seconds=30.0)
    task_id = submit()
    op = sensor(task_id, deferrable=True, timeout=120, polling_mode="fixed", max_poll_failures=4)
    before = time.time()
    with pytest.raises(TaskDeferred) as info:
        op.execute({"ti": FakeTI()})
    deferred = info.value
    assert deferred.method_name == "execute_complete"
    # The framework's timeout comes the margin after the trigger's own deadline, counted from the start.
    assert timedelta(seconds=119 + 300) < deferred.timeout <= timedelta(seconds=120 + 300)
    path, kwargs = deferred.trigger.serialize()
    assert path == "airflow_provider_runway.triggers.runway.RunwayTaskTrigger"
    assert kwargs["runway_task_id"] == task_id
    assert before + 120 <= kwargs["deadline"] <= time.time() + 120
    assert kwargs["polling_mode"] == "fixed" and kwargs["max_poll_failures"] == 4
    assert kwargs["poll_interval"] == 0.05
    # The sensor did not create the task: it neither cancels on kill nor at its deadline.
    assert kwargs["cancel_on_kill"] is False and kwargs["cancel_on_timeout"] is False


def test_a_finished_task_completes_without_deferring(direct):
    direct.control.configure(running_seconds=0.0)
    task_id = submit()
    manifest = sensor(task_id, deferrable=True).execute({"ti": FakeTI()})
    assert manifest["status"] == "SUCCEEDED"


@pytest.mark.parametrize("mode", MODES)
def test_a_moderation_failure_fails_the_sensor_without_retries(direct, mode):
    direct.control.add_fault("task_failed", failure_code="SAFETY.INPUT.IMAGE", times=1)
    task_id = submit()
    with pytest.raises(RunwayTaskRejectedError, match=r"SAFETY\.INPUT\.IMAGE") as info:
        run_sensor(sensor(task_id), mode)
    assert isinstance(info.value, AirflowFailException)


@pytest.mark.parametrize("mode", MODES)
def test_a_transient_failure_fails_the_sensor_retryably(direct, mode):
    direct.control.add_fault("task_failed", failure_code="INTERNAL", times=1)
    task_id = submit()
    with pytest.raises(RunwayTaskFailedError) as info:
        run_sensor(sensor(task_id), mode)
    assert not isinstance(info.value, AirflowFailException)


@pytest.mark.parametrize("mode", MODES)
def test_a_cancelled_task_fails_the_sensor_naming_the_cancel(direct, mode):
    direct.control.add_fault("task_cancelled", times=1)
    task_id = submit()
    with pytest.raises(RunwayTaskCancelledError):
        run_sensor(sensor(task_id), mode)


@pytest.mark.parametrize("mode", MODES)
def test_the_sensor_times_out_as_sensors_do_without_cancelling_a_task_it_did_not_create(direct, mode):
    direct.control.configure(running_seconds=30.0)
    task_id = submit()
    with pytest.raises(AirflowSensorTimeout, match="did not finish before the deadline"):
        run_sensor(sensor(task_id, timeout=0.3), mode)
    accounting = direct.control.accounting()
    assert accounting["cancels"] == []
    assert accounting["orphans"] == [task_id]


@pytest.mark.parametrize("mode", MODES)
def test_a_timed_out_sensor_with_soft_fail_is_skipped(direct, mode):
    direct.control.configure(running_seconds=30.0)
    with pytest.raises(AirflowSkipException, match="soft_fail"):
        run_sensor(sensor(submit(), timeout=0.3, soft_fail=True), mode)


@pytest.mark.parametrize("mode", MODES)
def test_cancel_on_timeout_is_kept_in_poke_mode_as_in_deferred_mode(direct, mode):
    direct.control.configure(running_seconds=30.0)
    task_id = submit()
    with pytest.raises(AirflowSensorTimeout, match="remote cancel: cancelled"):
        run_sensor(sensor(task_id, timeout=0.3, cancel_on_timeout=True), mode)
    assert [(c["task_id"], c["kind"]) for c in direct.control.accounting()["cancels"]] == [
        (task_id, "cancel")
    ]


@pytest.mark.parametrize("option", ["cancel_on_timeout", "cancel_on_kill"])
def test_the_cancel_options_are_refused_in_reschedule_mode_before_any_request(direct, option):
    op = sensor("0b9e6c1e-8a4b-4c2f-9d3e-1f2a3b4c5d6e", mode="reschedule", **{option: True})
    with pytest.raises(RunwayValidationError, match="reschedule") as info:
        op.execute({"ti": FakeTI()})
    assert info.value.field == option
    assert direct.control.accounting()["request_count"] == 0


def test_poke_mode_refuses_a_poll_interval_below_runways_refresh_against_a_real_service(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_RUNWAY_DEFAULT",
        json.dumps({"conn_type": "runway", "host": "https://api.dev.runwayml.com", "password": "key_x"}),
    )
    with pytest.raises(RunwayValidationError) as info:
        sensor("0b9e6c1e-8a4b-4c2f-9d3e-1f2a3b4c5d6e", poll_interval=1).execute({"ti": FakeTI()})
    assert info.value.field == "poll_interval"


def test_a_sensor_refused_before_its_push_leaves_an_empty_button_that_reads_no_xcom(monkeypatch):
    """The Task SDK logs an ERROR for each missing XCom a link reads (apache/airflow#73175): a sensor that
    fails on its arguments must answer its button from memory, not from a runway_task_url never pushed."""
    from airflow.sdk.bases.xcom import BaseXCom

    asked: list[str] = []
    monkeypatch.setattr(BaseXCom, "get_value", staticmethod(lambda **kw: asked.append(kw["key"])))
    monkeypatch.setenv(
        "AIRFLOW_CONN_RUNWAY_DEFAULT",
        json.dumps({"conn_type": "runway", "host": "https://api.dev.runwayml.com", "password": "key_x"}),
    )
    op = sensor("0b9e6c1e-8a4b-4c2f-9d3e-1f2a3b4c5d6e", poll_interval=1)
    with pytest.raises(RunwayValidationError):
        op.execute({"ti": FakeTI()})
    assert RunwayTaskLink().get_link(op, ti_key=None) == ""  # type: ignore[arg-type]
    assert asked == []


def test_poke_mode_on_kill_cancels_only_what_a_person_ended(direct):
    direct.control.configure(running_seconds=30.0)
    task_id = submit()
    ti = FakeTaskInstance()
    op = sensor(task_id, cancel_on_kill=True)
    op._waiting_on, op._ti_key = task_id, durable.TIKey.of(ti)  # as execute() sets them while it waits
    with FakeSupervisor({(ti.dag_id, ti.run_id, ti.task_id, -1): "running"}):
        op.on_kill()  # a worker shutdown: the retry waits for the same task
    assert direct.control.accounting()["cancels"] == []
    with FakeSupervisor({(ti.dag_id, ti.run_id, ti.task_id, -1): "failed"}):
        op.on_kill()  # marked failed
    assert [c["task_id"] for c in direct.control.accounting()["cancels"]] == [task_id]


@pytest.mark.parametrize("mode", MODES)
def test_an_invalid_task_id_is_refused_before_any_http(direct, mode):
    op = sensor("../organization", deferrable=mode == "deferred")
    with pytest.raises(RunwayValidationError) as info:
        op.execute({"ti": FakeTI()})
    assert info.value.field == "runway_task_id"
    assert direct.control.accounting()["request_count"] == 0


@pytest.mark.parametrize("mode", MODES)
def test_the_gateway_task_not_exist_window_is_survived(runway_simulator, monkeypatch, mode):
    runway_simulator.set_airflow_conn(monkeypatch)
    runway_simulator.control.configure(task_not_exist_seconds=0.3, running_seconds=0.2)
    task_id = submit()
    manifest = run_sensor(sensor(task_id), mode)
    assert manifest["status"] == "SUCCEEDED"
    statuses = [
        r["status"] for r in runway_simulator.control.accounting()["requests"] if r["method"] == "GET"
    ]
    assert statuses[0] == 400 and statuses[-1] == 200


def test_a_transient_failure_of_the_check_before_deferring_still_defers(direct, monkeypatch):
    without_retries(direct, monkeypatch)
    task_id = submit()
    direct.control.add_fault("http_error", path="tasks_get", status=503, times=2)
    manifest = run_sensor(sensor(task_id), "deferred")
    assert manifest["status"] == "SUCCEEDED"


@pytest.mark.parametrize("mode", MODES)
def test_poll_failures_within_the_budget_are_absorbed_in_either_mode(direct, monkeypatch, mode):
    without_retries(direct, monkeypatch)
    task_id = submit()
    direct.control.add_fault("http_error", path="tasks_get", status=503, times=2)
    manifest = run_sensor(sensor(task_id, max_poll_failures=2), mode)
    assert manifest["status"] == "SUCCEEDED"
    assert direct.control.accounting()["faults_fired"][-1]["kind"] == "http_error"


def test_reschedule_pokes_past_the_failure_budget_fail_the_sensor_retryably(direct, monkeypatch):
    without_retries(direct, monkeypatch)
    task_id = submit()
    direct.control.add_fault("http_error", path="tasks_get", status=503, times=3)
    op = sensor(task_id, max_poll_failures=2, mode="reschedule")
    assert op.poke({"ti": FakeTI()}) is False
    assert op.poke({"ti": FakeTI()}) is False
    with pytest.raises(RunwayServerError) as info:
        op.poke({"ti": FakeTI()})
    assert not isinstance(info.value, AirflowFailException)
    assert len(direct.control.accounting()["faults_fired"]) == 3  # three pokes, the third one too many


def test_poke_mode_polls_past_the_failure_budget_fail_the_sensor_retryably(direct, monkeypatch):
    without_retries(direct, monkeypatch)
    task_id = submit()
    direct.control.add_fault("http_error", path="tasks_get", status=503, times=10)
    with pytest.raises(RunwayError, match="3 polls in a row failed") as info:
        run_sensor(sensor(task_id, max_poll_failures=2), "poke")
    assert not isinstance(info.value, AirflowFailException)
    # the check before the loop, then three polls: the third one past the budget of two
    assert len(direct.control.accounting()["faults_fired"]) == 4


@pytest.mark.parametrize("event", [None, {"status": "bogus"}, {"status": "succeeded", "task": None}])
def test_execute_complete_with_an_unknown_event_raises(event):
    with pytest.raises(RunwayError):
        sensor("0b9e6c1e-8a4b-4c2f-9d3e-1f2a3b4c5d6e").execute_complete({"ti": FakeTI()}, event)
