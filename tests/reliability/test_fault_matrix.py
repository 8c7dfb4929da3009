"""The fault matrix: every way the service or the wire can misbehave, against the simulator over a real
socket, each row in both modes (``sync``: the operator waits itself; ``deferred``: the trigger waits).

Every cell asserts the Airflow outcome (the exact exception class, or success with the file saved intact),
the creates the simulator saw (never more than one per logical attempt), the remote cancels that are due
(and no DELETE of a finished task, which would purge its outputs), and that no partial output file is left.
Each cell is also written to the results file that ``scripts/reliability_report.py`` renders into
RELIABILITY.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_runway._compat import AirflowFailException, TaskDeferred
from airflow_provider_runway.exceptions import (
    RunwayConfigurationError,
    RunwayOutputExpiredError,
    RunwaySubmitUncertainError,
    RunwayTaskCancelledError,
    RunwayTaskFailedError,
    RunwayTaskNotVisibleError,
    RunwayTaskRejectedError,
    RunwayTimeoutError,
)
from airflow_provider_runway.hooks.runway import aclose_shared_clients
from airflow_provider_runway.operators.runway import (
    STATE_KEY,
    XCOM_TASK_ID,
    RunwayImageToVideoOperator,
)
from airflow_provider_runway.testing import _media
from tests.fakes import FakeSupervisor, FakeTaskInstance

from .conftest import (
    FakeStateStore,
    make_context,
    outcome_of,
    partial_files,
    rebuild,
    record,
    run_op,
    run_trigger,
    saved_files,
)

pytestmark = pytest.mark.timeout(60)

MODES = ["sync", "deferred"]
IMAGE = "https://example.com/cat.jpg"
SAMPLE_SHA256 = hashlib.sha256(_media.sample_mp4()).hexdigest()


def i2v(output: Path, **kwargs: Any) -> RunwayImageToVideoOperator:
    params: dict[str, Any] = {
        "task_id": "generate",
        "prompt_image": IMAGE,
        "prompt_text": "a cat walks",
        "ratio": "1280:720",
        "duration": 5,
        "poll_interval": 0.05,
        "max_poll_interval": 0.5,
        "output_path": str(output),
    }
    params.update(kwargs)
    return RunwayImageToVideoOperator(**params)


def use_conn(sim: Any, monkeypatch: pytest.MonkeyPatch, **extra: Any) -> None:
    conn = sim.airflow_conn
    conn["extra"].update(extra)
    monkeypatch.setenv("AIRFLOW_CONN_RUNWAY_DEFAULT", json.dumps(conn))


def requests_of(sim: Any, method: str, fragment: str) -> list[dict[str, Any]]:
    return [
        r for r in sim.control.accounting()["requests"] if r["method"] == method and fragment in r["path"]
    ]


def marked(state: str | None) -> FakeSupervisor:
    """The supervisor answering that the task instance (a default FakeTaskInstance) is in ``state``."""
    ti = FakeTaskInstance()
    return FakeSupervisor({(ti.dag_id, ti.run_id, ti.task_id, ti.map_index): state})


@pytest.fixture(autouse=True)
def sample_outputs(request):
    """The shipped sample for every output: each cell then checks the saved file against the exact bytes
    served (a rendered output follows its request, and is tested in tests/testing/test_simulator_media.py).
    Only the simulators the test asked for: asking for a flavor points ``runway_default`` at it."""
    for name in ("direct", "gateway"):
        if name in request.fixturenames:
            request.getfixturevalue(name).control.configure(outputs="sample")


@pytest.fixture
def sims(direct, gateway):
    return {"direct": direct, "gateway": gateway}


# --------------------------------------------------------------------------------------------------------
# The common check of one cell
# --------------------------------------------------------------------------------------------------------
def conclude(
    line: dict[str, Any],
    sim: Any,
    output: Path,
    kind: str,
    value: Any,
    *,
    expect: type[BaseException] | None,
    creates: int,
    cancels: list[str] | None = None,
    match: str | None = None,
) -> dict[str, Any]:
    """Fill the results line, then assert outcome, creates, cancels, files and the key's absence."""
    accounting = sim.control.accounting()
    ours = [c for c in accounting["cancels"]]
    line.update(
        outcome=kind,
        creates=len(accounting["creates"]),
        cancels=len([c for c in ours if c["kind"] == "cancel"]),
        partial_files=len(partial_files(output)),
    )
    if expect is None:
        assert kind == "success", f"expected success, got {kind}: {value}"
    else:
        assert kind == expect.__name__, f"expected {expect.__name__}, got {kind}: {value}"
        assert sim.api_key not in str(value)
        assert "Signature=" not in str(value)
        if match is not None:
            assert match in str(value), str(value)
    assert len(accounting["creates"]) == creates, accounting["creates"]
    # Cancels that are due, with the status seen at the time; never a DELETE of a finished task.
    assert [c["status"] for c in ours] == (cancels or [])
    assert all(c["kind"] == "cancel" for c in ours), ours
    assert partial_files(output) == []
    files = saved_files(output)
    if expect is None:
        (saved,) = value["outputs"]
        assert [str(p) for p in files] == [saved["path"]]
        data = files[0].read_bytes()
        assert saved["size"] == len(data) and saved["sha256"] == hashlib.sha256(data).hexdigest()
        assert saved["sha256"] == SAMPLE_SHA256  # the very bytes the service served
        assert accounting["statuses"][value["runway_task_id"]] == "SUCCEEDED"
    else:
        assert files == [], files
    return accounting


# --------------------------------------------------------------------------------------------------------
# Rows that are one fault set-up and one run
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    name: str
    faults: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    op: dict[str, Any] = field(default_factory=dict)
    conn: dict[str, Any] = field(default_factory=dict)
    flavor: str = "direct"
    expect: type[BaseException] | None = None
    creates: int = 1
    cancels: tuple[str, ...] = ()
    match: str | None = None
    min_seconds: float = 0.0


FAILURE_CODES = [
    ("SAFETY.INPUT.TEXT", RunwayTaskRejectedError),
    ("INPUT_PREPROCESSING.SAFETY.IMAGE.PUBLIC_FIGURE", RunwayTaskRejectedError),
    ("ASSET.INVALID", RunwayTaskRejectedError),
    ("INTERNAL", RunwayTaskFailedError),
    ("INPUT_PREPROCESSING.INTERNAL", RunwayTaskFailedError),
    ("THIRD_PARTY.UNAVAILABLE", RunwayTaskFailedError),
    ("INTERNAL.BAD_OUTPUT.CODE01", RunwayTaskFailedError),
    ("", RunwayTaskFailedError),  # no failureCode at all: transient
    ("NEW_FAMILY.SOMETHING", RunwayTaskFailedError),  # an unknown family: fail, Airflow may retry
]

ROWS = [
    Row(
        "429 with Retry-After (create and poll)",
        faults=[
            ("rate_limit", {"path": "create", "times": 1, "retry_after": 1.2}),
            ("rate_limit", {"path": "tasks_get", "times": 1, "retry_after": 0.2}),
        ],
        min_seconds=1.4,  # Retry-After honoured (the first backoff would be at most 1 s)
    ),
    Row(
        "429 without Retry-After (create and poll)",
        faults=[
            ("rate_limit", {"path": "create", "times": 1}),
            ("rate_limit", {"path": "tasks_get", "times": 1}),
        ],
    ),
    *[
        Row(
            f"HTTP {status} on polls",
            faults=[("http_error", {"path": "tasks_get", "status": status, "times": 1})],
        )
        for status in (500, 502, 503, 504, 524)
    ],
    Row(
        "HTTP 503 on create",
        faults=[("http_error", {"path": "create", "status": 503, "times": 1})],
        expect=RunwaySubmitUncertainError,
        creates=0,
        match="NOT retried",
    ),
    Row("connection reset on polls", faults=[("reset", {"path": "tasks_get", "times": 1})]),
    Row(
        "connection reset on create",
        faults=[("reset", {"path": "create", "times": 1})],
        expect=RunwaySubmitUncertainError,
        creates=0,
        match="may exist",
    ),
    Row(
        "read timeout on polls",
        faults=[("hang", {"path": "tasks_get", "times": 1})],
        conn={"timeout": 0.5},
    ),
    Row("malformed JSON on polls", faults=[("malformed_json", {"path": "tasks_get", "times": 2})]),
    Row(
        "malformed JSON answer to create",
        faults=[("malformed_json", {"path": "create", "times": 1})],
        expect=RunwaySubmitUncertainError,
        creates=0,
        match="may exist",
    ),
    Row(
        "HTML 301 page (wrong base URL)",
        flavor="gateway",
        faults=[("html", {"path": "any", "status": 301, "location": "https://www.cometapi.com/"})],
        expect=RunwayConfigurationError,
        creates=0,
        match="/runwayml",  # names the base URL
    ),
    Row(
        "task_not_exist inside the grace window",
        flavor="gateway",
        config={"task_not_exist_seconds": 0.5},
    ),
    Row(
        "task_not_exist past the grace window",
        flavor="gateway",
        config={"task_not_exist_seconds": 60},
        op={"not_exist_grace": 0.4},
        # not cancelled, its record kept: Airflow's retry re-attaches (tests/reliability/test_one_bill.py)
        expect=RunwayTaskNotVisibleError,
        match="NOT cancelled",
    ),
    Row("gateway envelope (inner task)", flavor="gateway", config={"envelope_fraction": 1.0}),
    Row(
        "gateway envelope (outer status only)",
        flavor="gateway",
        config={"envelope_fraction": 1.0, "envelope_inner": False, "envelope_time_format": "string"},
    ),
    Row(
        "THROTTLED past the deadline",
        faults=[("task_stuck_throttled", {"times": 1})],
        op={"timeout": 0.8},
        expect=RunwayTimeoutError,
        cancels=("THROTTLED",),
        match="remote cancel: cancelled",
    ),
    *[
        Row(
            f"FAILED {code or '(no failureCode)'}",
            faults=[("task_failed", {"times": 1, "failure_code": code, "failure": "It broke."})],
            expect=error,
            match=code or "no failure code",
        )
        for code, error in FAILURE_CODES
    ],
    Row(
        "CANCELLED remotely",
        faults=[("task_cancelled", {"times": 1})],
        expect=RunwayTaskCancelledError,
        match="cancelled",
    ),
    Row(
        "output URL expired at download (fresh URLs work)",
        faults=[("http_error", {"path": "files", "status": 403, "times": 1, "code": "AccessDenied"})],
    ),
    Row(
        "output URL expired at download (stays expired)",
        faults=[("http_error", {"path": "files", "status": 403, "code": "AccessDenied"})],
        expect=RunwayOutputExpiredError,
        match="?<signature redacted>",
    ),
    Row(
        "deadline reached",
        config={"running_seconds": 30.0},
        op={"timeout": 0.6},
        expect=RunwayTimeoutError,
        cancels=("RUNNING",),
        match="remote cancel: cancelled",
    ),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_fault_row(request, sims, monkeypatch, tmp_path, row: Row, mode: str):
    line = record(request, row.name, mode, outcome=row.expect.__name__ if row.expect else "success")
    sim = sims[row.flavor]
    use_conn(sim, monkeypatch, **row.conn)  # both simulators are up: point runway_default at this one
    if row.config:
        sim.control.configure(**row.config)
    for kind, params in row.faults:
        sim.control.add_fault(kind, **params)
    output = tmp_path / "out"
    store = FakeStateStore()
    context = make_context(store)
    started = time.monotonic()
    kind, value = outcome_of(lambda: run_op(i2v(output, **row.op), context, mode))
    elapsed = time.monotonic() - started
    accounting = conclude(
        line,
        sim,
        output,
        kind,
        value,
        expect=row.expect,
        creates=row.creates,
        cancels=list(row.cancels),
        match=row.match,
    )
    assert elapsed >= row.min_seconds
    # Every fault of the row really fired (a row whose fault never fired tests nothing).
    assert all(f["fired"] >= 1 for f in sim.control.faults()), sim.control.faults()
    ti = context["ti"]
    if row.creates:
        task_id = accounting["creates"][0]["task_id"]
        assert ti.pushed(XCOM_TASK_ID) == [task_id]  # pushed once, before any wait
        if kind == "success":
            assert value["runway_task_id"] == task_id
        # A finished generation (or a cancelled one) is forgotten; an unfinished or unsaved one is kept so
        # a retry re-attaches instead of paying again.
        ended = kind in ("success", "RunwayTaskFailedError", "RunwayTaskRejectedError", "RunwayTimeoutError")
        ended = ended or kind == "RunwayTaskCancelledError"
        assert (STATE_KEY not in store.data) == ended, store.data
    else:
        assert ti.pushes == []
        # A create that may have been billed leaves its intent (no id), so no later try pays again; a
        # refused one leaves nothing.
        if kind == "RunwaySubmitUncertainError":
            assert store.data[STATE_KEY]["id"] is None and store.data[STATE_KEY]["intent_at"], store.data
        else:
            assert store.data == {}, store.data
        # A create that may have reached the server is never sent twice.
        assert len([r for r in accounting["requests"] if r["method"] == "POST"]) == 1
    if isinstance(value, RunwayTaskFailedError):
        assert isinstance(value, AirflowFailException) == (row.expect is RunwayTaskRejectedError)
    if row.name.startswith("output URL expired at download (fresh"):
        files = [r["status"] for r in accounting["requests"] if r["path"].startswith("/_files/")]
        assert files == [403, 200]  # refreshed once through a new GET, then saved
    if row.name == "task_not_exist inside the grace window":
        assert requests_of(sim, "GET", "/v1/tasks/")[0]["status"] == 400


# --------------------------------------------------------------------------------------------------------
# The create whose answer is lost after the server made the task
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("lost", ["close", "reset", "hang"])
def test_create_answer_lost_after_the_task_was_made(request, direct, monkeypatch, tmp_path, lost, mode):
    line = record(request, f"create answer lost ({lost})", mode, outcome="RunwaySubmitUncertainError")
    use_conn(direct, monkeypatch, timeout=0.5)
    direct.control.add_fault("create_lost", times=1, mode=lost)
    output = tmp_path / "out"
    store = FakeStateStore()
    context = make_context(store)
    kind, value = outcome_of(lambda: run_op(i2v(output), context, mode))
    accounting = conclude(
        line, direct, output, kind, value, expect=RunwaySubmitUncertainError, creates=1, match="may exist"
    )
    assert accounting["creates"][0]["response_lost"] is True
    assert "NOT retried" in str(value) and "/v1/image_to_video" in str(value)
    assert value.endpoint == "/v1/image_to_video"
    assert len(requests_of(direct, "POST", "/v1/image_to_video")) == 1  # never a second create
    # ... and Airflow's own retries are off for it: a retried task would POST (and bill) again.
    assert isinstance(value, AirflowFailException)
    # The id never arrived, so nothing can point at it, and nothing was polled or pushed; the intent stays,
    # so a clear or a retry does not create again (tests/reliability/test_one_bill.py).
    assert value.task_id is None
    assert context["ti"].pushes == []
    assert store.data[STATE_KEY]["id"] is None and store.data[STATE_KEY]["intent_at"]
    assert requests_of(direct, "GET", "/v1/tasks/") == []


# --------------------------------------------------------------------------------------------------------
# Restarts and crashes
# --------------------------------------------------------------------------------------------------------
class WorkerKilled(BaseException):
    """Stands in for SIGKILL: not an Exception, so no handler in the provider swallows it."""


def test_triggerer_restart_mid_poll_resumes_the_same_task(request, direct, tmp_path):
    line = record(request, "triggerer restart mid-poll", "deferred", outcome="success")
    direct.control.configure(running_seconds=1.2)
    output = tmp_path / "out"
    op = i2v(output, deferrable=True)
    context = make_context(FakeStateStore())
    with pytest.raises(TaskDeferred) as info:
        op.execute(context)
    trigger = info.value.trigger
    task_id = trigger.runway_task_id

    async def first_life() -> None:
        # The triggerer dies after a few polls: run() is cancelled, only cleanup() would run.
        runner = asyncio.ensure_future(trigger.run().__anext__())
        while direct.control.task(task_id)["gets"] < 3:
            await asyncio.sleep(0.02)
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
        await trigger.cleanup()
        await aclose_shared_clients()

    asyncio.run(first_life())
    gets_before = direct.control.task(task_id)["gets"]
    assert direct.control.accounting()["cancels"] == []  # a restart never cancels remote work
    event = run_trigger(rebuild(trigger))  # the new triggerer: from serialized kwargs only
    kind, value = outcome_of(lambda: op.execute_complete(context, event))
    conclude(line, direct, output, kind, value, expect=None, creates=1)
    assert value["runway_task_id"] == task_id
    assert direct.control.task(task_id)["gets"] > gets_before


def test_worker_killed_mid_poll_then_retried_re_attaches(request, direct, tmp_path):
    """The sync-mode twin of the triggerer restart: the waiting worker dies, Airflow retries the task."""
    line = record(request, "triggerer restart mid-poll", "sync", outcome="success")
    direct.control.configure(running_seconds=1.0)
    output = tmp_path / "out"
    store = FakeStateStore()
    op = i2v(output, deferrable=False)
    sleeps = []

    def dying_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) >= 2:
            raise WorkerKilled
        time.sleep(seconds)

    op.hook._sleep = dying_sleep
    with pytest.raises(WorkerKilled):
        op.execute(make_context(store))
    task_id = store.data[STATE_KEY]["id"]
    assert direct.control.accounting()["cancels"] == []
    kind, value = outcome_of(lambda: run_op(i2v(output), make_context(store), "sync"))
    conclude(line, direct, output, kind, value, expect=None, creates=1)
    assert value["runway_task_id"] == task_id
    assert store.data == {}


@pytest.mark.parametrize("mode", MODES)
def test_worker_crash_right_after_submit_then_retry_re_attaches(request, direct, tmp_path, mode):
    line = record(request, "worker crash after submit, retry (durable)", mode, outcome="success")
    output = tmp_path / "out"
    store = FakeStateStore()
    context = make_context(store)

    def crash(key: str, value: Any) -> None:
        raise WorkerKilled  # dies on its first act after the create returned

    context["ti"].xcom_push = crash
    with pytest.raises(WorkerKilled):
        run_op(i2v(output), context, mode)
    task_id = store.data[STATE_KEY]["id"]
    retry_context = make_context(store)
    kind, value = outcome_of(lambda: run_op(i2v(output), retry_context, mode))
    conclude(line, direct, output, kind, value, expect=None, creates=1)
    assert value["runway_task_id"] == task_id
    assert retry_context["ti"].pushed(XCOM_TASK_ID) == [task_id]


def test_mark_failed_while_deferred_cancels_the_remote_task(request, direct, tmp_path):
    line = record(request, "mark failed while deferred", "deferred", outcome="killed")
    direct.control.configure(running_seconds=30.0)
    output = tmp_path / "out"
    op = i2v(output, deferrable=True)
    with pytest.raises(TaskDeferred) as info:
        op.execute(make_context(FakeStateStore()))
    trigger = info.value.trigger
    trigger.task_instance = FakeTaskInstance()  # as the triggerer sets it
    task_id = trigger.runway_task_id

    async def user_marks_failed() -> None:
        runner = asyncio.ensure_future(trigger.run().__anext__())
        while direct.control.task(task_id)["gets"] < 2:
            await asyncio.sleep(0.02)
        runner.cancel()  # the triggerer drops the trigger ...
        with pytest.raises(asyncio.CancelledError):
            await runner
        await trigger.on_kill()  # ... and, on mark-failed, calls on_kill (Airflow 3.3)
        await aclose_shared_clients()

    with marked("failed"):
        asyncio.run(user_marks_failed())
    accounting = direct.control.accounting()
    line.update(
        outcome="killed",
        creates=len(accounting["creates"]),
        cancels=len(accounting["cancels"]),
        partial_files=len(partial_files(output)),
    )
    assert len(accounting["creates"]) == 1
    assert [(c["task_id"], c["kind"], c["status"]) for c in accounting["cancels"]] == [
        (task_id, "cancel", "RUNNING")
    ]
    assert accounting["orphans"] == []
    assert partial_files(output) == [] and saved_files(output) == []


def test_mark_failed_after_the_task_finished_sends_no_delete(request, direct, tmp_path):
    """on_kill can come late (or spuriously): a finished task is never DELETEd (that purges outputs)."""
    op = i2v(tmp_path / "out", deferrable=True)
    with pytest.raises(TaskDeferred) as info:
        op.execute(make_context())
    time.sleep(0.5)

    info.value.trigger.task_instance = FakeTaskInstance()

    async def late_kill() -> None:
        await info.value.trigger.on_kill()
        await aclose_shared_clients()

    with marked("failed"):
        asyncio.run(late_kill())
    assert direct.control.accounting()["cancels"] == []


def test_sync_kill_while_waiting_cancels_the_remote_task(request, direct, tmp_path):
    """The sync-mode twin of mark-failed-while-deferred: Airflow calls on_kill on the waiting worker."""
    line = record(request, "mark failed while deferred", "sync", outcome="RunwayTaskCancelledError")
    direct.control.configure(running_seconds=30.0)
    output = tmp_path / "out"
    op = i2v(output, deferrable=False)
    result: list[tuple[str, Any]] = []
    context = {"ti": FakeTaskInstance()}
    worker = threading.Thread(target=lambda: result.append(outcome_of(lambda: op.execute(context))))
    worker.start()
    end = time.time() + 10
    while not (op._waiting_on and direct.control.tasks() and direct.control.tasks()[0]["gets"] >= 2):
        assert time.time() < end, "the operator never started waiting"
        time.sleep(0.01)
    with marked("failed"):
        op.on_kill()
    worker.join(10)
    assert not worker.is_alive()
    ((kind, value),) = result
    accounting = conclude(
        line, direct, output, kind, value, expect=RunwayTaskCancelledError, creates=1, cancels=["RUNNING"]
    )
    assert accounting["orphans"] == []
