"""One logical generation, one bill: the promise under the field's conditions, against the simulator over a
real socket, in both modes.

* a gateway that keeps a new task invisible (``task_not_exist``) for longer than a try waits for it;
* a trigger dropped by a stalled triggerer after it moved to another (apache/airflow#73454);
* a worker that dies during the create, or after it (the durable record's intent);
* a retry whose request changed;
* a retry that re-attaches without uploading its input again.

Each test drives Airflow's retries by hand: every try is a fresh operator on the same durable record, as a
new worker would be. Rows go to RELIABILITY.md like the fault matrix's.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_runway import durable
from airflow_provider_runway._compat import AirflowFailException, TaskDeferred
from airflow_provider_runway.exceptions import (
    RunwayTaskNotVisibleError,
)
from airflow_provider_runway.hooks.runway import aclose_shared_clients
from airflow_provider_runway.operators.runway import STATE_KEY, RunwayImageToVideoOperator
from tests.fakes import FakeStateStore, FakeSupervisor, FakeTaskInstance

from .conftest import outcome_of, partial_files, rebuild, run_op, run_trigger, saved_files
from .conftest import record as matrix_record

pytestmark = pytest.mark.timeout(90)

MODES = ["sync", "deferred"]
IMAGE = "https://example.com/cat.jpg"


class WorkerKilled(BaseException):
    """Stands in for SIGKILL: not an Exception, so no handler in the provider swallows it."""


def record(request: pytest.FixtureRequest, row: str, mode: str, **expected: Any) -> dict[str, Any]:
    """A results line in RELIABILITY.md's own table for these rows."""
    line = matrix_record(request, row, mode, **expected)
    line["section"] = "one bill"
    return line


def i2v(output: Path, **kwargs: Any) -> RunwayImageToVideoOperator:
    params: dict[str, Any] = {
        "task_id": "generate",
        "prompt_image": IMAGE,
        "prompt_text": "a cat walks",
        "ratio": "1280:720",
        "duration": 5,
        "poll_interval": 0.05,
        "max_poll_interval": 0.2,
        "output_path": str(output),
    }
    params.update(kwargs)
    return RunwayImageToVideoOperator(**params)


def context_for(store: FakeStateStore, ti: FakeTaskInstance | None = None) -> dict[str, Any]:
    return {"ti": ti or FakeTaskInstance(), "task_state_store": store}


def tries(make_op: Any, store: FakeStateStore, mode: str, retries: int) -> list[tuple[str, Any]]:
    """Airflow's retries: try again (a fresh operator, the same record) while the try failed retryably."""
    outcomes = []
    for _ in range(retries + 1):
        kind, value = outcome_of(lambda: run_op(make_op(), context_for(store), mode))
        outcomes.append((kind, value))
        if kind == "success" or isinstance(value, AirflowFailException):
            break
    return outcomes


def summarise(
    line: dict[str, Any], sim: Any, output: Path, outcomes: list[tuple[str, Any]]
) -> dict[str, Any]:
    accounting = sim.control.accounting()
    line.update(
        outcome=" → ".join(kind for kind, _ in outcomes),
        creates=len(accounting["creates"]),
        cancels=len(accounting["cancels"]),
        partial_files=len(partial_files(output)),
    )
    return accounting


# --------------------------------------------------------------------------------------------------------
# A gateway that keeps a new task invisible
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_a_gateway_that_hides_the_task_past_each_try_s_grace_still_bills_once(
    request, gateway, tmp_path, mode
):
    """Hidden for 2.2 s, each try waits 0.6 s: tries 1-3 fail not visible (nothing cancelled, the record
    kept), and the retries re-attach, never create; try 4 sees it and saves it. (The same DAG with the
    field's numbers, 2 minutes hidden and the default not_exist_grace, runs in ``make e2e``.)"""
    line = record(request, "gateway hides a new task past not_exist_grace, retries", mode, outcome="success")
    gateway.control.configure(task_not_exist_seconds=2.2, running_seconds=0.3)
    output = tmp_path / "out"
    store = FakeStateStore()
    outcomes = tries(lambda: i2v(output, not_exist_grace=0.6), store, mode, retries=5)
    accounting = summarise(line, gateway, output, outcomes)
    kinds = [kind for kind, _ in outcomes]
    assert kinds[-1] == "success" and set(kinds[:-1]) == {"RunwayTaskNotVisibleError"}, kinds
    assert len(kinds) >= 3  # it really outlived at least two tries
    first_error = outcomes[0][1]
    assert isinstance(first_error, RunwayTaskNotVisibleError)
    assert not isinstance(first_error, AirflowFailException)  # Airflow's retry is what re-attaches
    assert "NOT cancelled" in str(first_error) and "re-attaches" in str(first_error)
    assert len(accounting["creates"]) == 1
    assert [r for r in accounting["requests"] if r["method"] == "DELETE"] == []
    assert len(saved_files(output)) == 1 and store.data == {}


@pytest.mark.parametrize("mode", MODES)
def test_a_hidden_task_warns_while_it_waits_and_succeeds_in_one_try_within_the_grace(
    request, gateway, tmp_path, capsys, mode
):
    line = record(request, "gateway hides a new task, within not_exist_grace", mode, outcome="success")
    gateway.control.configure(task_not_exist_seconds=1.0, running_seconds=0.2)
    output = tmp_path / "out"
    store = FakeStateStore()
    outcomes = tries(lambda: i2v(output, not_exist_grace=30), store, mode, retries=0)
    accounting = summarise(line, gateway, output, outcomes)
    assert [kind for kind, _ in outcomes] == ["success"]
    assert len(accounting["creates"]) == 1
    logged = capsys.readouterr().out
    assert "is not visible on the gateway yet (task_not_exist" in logged
    assert "waiting up to" in logged and "not_exist_grace" in logged
    if mode == "sync":  # (the trigger's lines go to the trigger's logger; the same loop writes both)
        assert "is visible after" in logged


# --------------------------------------------------------------------------------------------------------
# A stalled triggerer that drops what moved to another
# --------------------------------------------------------------------------------------------------------
def test_a_trigger_dropped_after_redistribution_cancels_nothing_and_finishes_elsewhere(
    request, direct, tmp_path
):
    line = record(request, "stalled triggerer drops moved triggers (#73454)", "deferred", outcome="success")
    direct.control.configure(running_seconds=1.5)
    output = tmp_path / "out"
    store = FakeStateStore()
    ti = FakeTaskInstance()
    op = i2v(output, deferrable=True)
    context = context_for(store, ti)
    with pytest.raises(TaskDeferred) as info:
        op.execute(context)
    stalled = info.value.trigger
    stalled.task_instance = ti
    task_id = stalled.runway_task_id

    async def stall_then_resume() -> None:
        running = asyncio.ensure_future(stalled.run().__anext__())
        while direct.control.task(task_id)["gets"] < 2:
            await asyncio.sleep(0.02)
        # Resumed after the stall, the triggerer cancels what it no longer owns "by user action" ...
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        await stalled.on_kill()  # ... and Airflow 3.3 calls on_kill: the TI is still DEFERRED
        await aclose_shared_clients()

    with FakeSupervisor({(ti.dag_id, ti.run_id, ti.task_id, -1): "deferred"}):
        asyncio.run(stall_then_resume())
    assert direct.control.accounting()["cancels"] == []
    # The other triggerer runs the same trigger from its row, to the end.
    kind, value = outcome_of(lambda: op.execute_complete(context, run_trigger(rebuild(stalled))))
    accounting = summarise(line, direct, output, [(kind, value)])
    assert kind == "success", value
    assert len(accounting["creates"]) == 1 and accounting["cancels"] == []
    assert accounting["statuses"][task_id] == "SUCCEEDED"


# --------------------------------------------------------------------------------------------------------
# The intent: a worker that dies during the create
# --------------------------------------------------------------------------------------------------------
def crash_after_the_post(op: RunwayImageToVideoOperator) -> None:
    """The worker dies after the server took the create and before the id was recorded."""
    real = op.hook.submit

    def submit(endpoint: str, body: Any) -> Any:
        real(endpoint, body)
        raise WorkerKilled

    op.hook.submit = submit  # type: ignore[method-assign]


@pytest.mark.parametrize("mode", MODES)
def test_a_retry_after_a_crash_during_the_create_fails_clearly_and_creates_nothing(
    request, direct, tmp_path, mode
):
    line = record(
        request, "worker dies during the create, retry", mode, outcome="RunwayCreateUnconfirmedError"
    )
    output = tmp_path / "out"
    store = FakeStateStore()
    first = i2v(output)
    crash_after_the_post(first)
    with pytest.raises(WorkerKilled):
        run_op(first, context_for(store), mode)
    intent = durable.Record.from_json(store.data[STATE_KEY])
    assert intent is not None and intent.task_id is None and intent.intent_at is not None
    outcomes = tries(lambda: i2v(output), store, mode, retries=2)
    accounting = summarise(line, direct, output, outcomes)
    ((kind, error),) = outcomes  # not retried: AirflowFailException
    assert kind == "RunwayCreateUnconfirmedError" and isinstance(error, AirflowFailException)
    assert "may exist and be billed" in str(error) and "recreate_unconfirmed=True" in str(error)
    assert "task state store" in str(error) and STATE_KEY in str(error)
    assert len(accounting["creates"]) == 1  # the one the dead worker made; nothing more
    assert store.data[STATE_KEY]["fingerprint"] == intent.fingerprint  # kept for the person to decide


@pytest.mark.parametrize("mode", MODES)
def test_recreate_unconfirmed_creates_anew_after_a_crash_during_the_create(request, direct, tmp_path, mode):
    line = record(
        request, "worker dies during the create, retry with recreate_unconfirmed", mode, outcome="success"
    )
    output = tmp_path / "out"
    store = FakeStateStore()
    first = i2v(output)
    crash_after_the_post(first)
    with pytest.raises(WorkerKilled):
        run_op(first, context_for(store), mode)
    outcomes = tries(lambda: i2v(output, recreate_unconfirmed=True), store, mode, retries=0)
    accounting = summarise(line, direct, output, outcomes)
    assert [kind for kind, _ in outcomes] == ["success"]
    assert len(accounting["creates"]) == 2  # what the user opted in to
    assert outcomes[0][1]["runway_task_id"] == accounting["creates"][1]["task_id"]
    assert store.data == {}


@pytest.mark.parametrize("mode", MODES)
def test_a_create_the_server_refused_leaves_no_intent_behind(request, direct, tmp_path, mode):
    line = record(request, "create refused (HTTP 400), retry", mode, outcome="RunwayAPIError → success")
    direct.control.add_fault("http_error", path="create", status=400, times=1)
    output = tmp_path / "out"
    store = FakeStateStore()
    outcomes = tries(lambda: i2v(output), store, mode, retries=1)
    accounting = summarise(line, direct, output, outcomes)
    assert [kind for kind, _ in outcomes] == ["RunwayAPIError", "success"]
    assert len(accounting["creates"]) == 1 and store.data == {}


@pytest.mark.parametrize("mode", MODES)
def test_a_create_whose_answer_was_lost_keeps_its_intent_so_a_clear_cannot_pay_twice(
    request, direct, tmp_path, mode
):
    line = record(request, "create answer lost, then a clear", mode, outcome="RunwaySubmitUncertainError")
    direct.control.add_fault("create_lost", times=1, mode="reset")
    output = tmp_path / "out"
    store = FakeStateStore()
    outcomes = tries(lambda: i2v(output), store, mode, retries=2)
    assert [kind for kind, _ in outcomes] == ["RunwaySubmitUncertainError"]
    # A person clears the task: the new try finds the intent and does not create again.
    kind, value = outcome_of(lambda: run_op(i2v(output), context_for(store), mode))
    outcomes.append((kind, value))
    accounting = summarise(line, direct, output, outcomes)
    assert kind == "RunwayCreateUnconfirmedError", value
    assert len(accounting["creates"]) == 1


# --------------------------------------------------------------------------------------------------------
# A retry whose request changed, and a retry that needs no second upload
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_a_retry_after_the_prompt_changed_is_a_new_generation(request, direct, tmp_path, mode):
    line = record(request, "retry after the prompt changed", mode, outcome="success")
    direct.control.configure(running_seconds=0.5)
    output = tmp_path / "out"
    store = FakeStateStore()
    ti = FakeTaskInstance()
    ti.xcom_push = lambda key, value: (_ for _ in ()).throw(WorkerKilled())  # type: ignore[method-assign]
    with pytest.raises(WorkerKilled):
        run_op(i2v(output), context_for(store, ti), mode)
    old_id = store.data[STATE_KEY]["id"]
    outcomes = tries(lambda: i2v(output, prompt_text="a dog runs"), store, mode, retries=0)
    accounting = summarise(line, direct, output, outcomes)
    assert [kind for kind, _ in outcomes] == ["success"]
    assert len(accounting["creates"]) == 2
    assert outcomes[0][1]["runway_task_id"] != old_id
    assert accounting["creates"][1]["body"]["promptText"] == "a dog runs"
    assert accounting["cancels"] == []  # the old one is not this request's to stop


@pytest.mark.parametrize("mode", MODES)
def test_a_retry_of_the_same_request_re_attaches_without_uploading_again(request, direct, tmp_path, mode):
    """A file too large for a data URI goes through Runway's upload; the retry's fingerprint counts the
    file's content, so it re-attaches without a second upload (and would create anew if the file changed)."""
    line = record(request, "worker crash after create, large file input, retry", mode, outcome="success")
    direct.control.configure(running_seconds=0.5)
    big = tmp_path / "frame.jpg"
    big.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * (6 * 1024 * 1024))  # over the 5 MB data-URI limit
    output = tmp_path / "out"
    store = FakeStateStore()
    ti = FakeTaskInstance()
    ti.xcom_push = lambda key, value: (_ for _ in ()).throw(WorkerKilled())  # type: ignore[method-assign]
    with pytest.raises(WorkerKilled):
        run_op(i2v(output, prompt_image=str(big)), context_for(store, ti), mode)
    assert len(direct.control.accounting()["uploads"]) == 1
    outcomes = tries(lambda: i2v(output, prompt_image=str(big)), store, mode, retries=0)
    accounting = summarise(line, direct, output, outcomes)
    assert [kind for kind, _ in outcomes] == ["success"]
    assert len(accounting["creates"]) == 1 and len(accounting["uploads"]) == 1
    # The same path with other content is another request.
    big.write_bytes(b"\xff\xd8\xff\xe0" + b"\x01" * (6 * 1024 * 1024))
    fingerprints = {
        durable.fingerprint("image_to_video", {"a": 1}, i2v(output, prompt_image=str(big)).input_digests()),
    }
    big.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * (6 * 1024 * 1024))
    fingerprints.add(
        durable.fingerprint("image_to_video", {"a": 1}, i2v(output, prompt_image=str(big)).input_digests())
    )
    assert len(fingerprints) == 2


# --------------------------------------------------------------------------------------------------------
# A recorded task that answers 404
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "seen, expected, creates", [(True, "success", 1), (False, "RunwayCreateUnconfirmedError", 0)]
)
def test_a_recorded_task_that_answers_404_is_gone_only_if_it_was_seen(
    request, direct, tmp_path, seen, expected, creates
):
    line = record(
        request,
        f"recorded task answers 404 ({'seen' if seen else 'never seen'}), retry",
        "sync",
        outcome=expected,
    )
    output = tmp_path / "out"
    store = FakeStateStore()
    ghost = "0b9e6c1e-8a4b-4c2f-9d3e-1f2a3b4c5d6e"  # a task the simulator does not know: 404
    op = i2v(output)
    fingerprint = durable.fingerprint(
        "image_to_video", op.check_request(context_for(store)), op.input_digests()
    )
    record_ = durable.intent(fingerprint, "image_to_video").with_task(ghost, time.time() - 60, None)
    store.data[STATE_KEY] = json.loads(json.dumps((record_.marked_seen() if seen else record_).to_json()))
    outcomes = tries(lambda: i2v(output), store, "sync", retries=0)
    accounting = summarise(line, direct, output, outcomes)
    assert [kind for kind, _ in outcomes] == [expected]
    assert len(accounting["creates"]) == creates  # (the ghost itself was never created here)
