"""Tasks as the API gives them: both shapes, timestamps, progress, the task_not_exist window, create answers (core.task)."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_runway.core.exchange import ApiRequest, HttpResponse, create_may_have_billed, error_for
from airflow_provider_runway.core.outcome import outcome_error
from airflow_provider_runway.core.task import (
    GATEWAY_STATUS_MAP,
    KNOWN_STATUSES,
    RunwayTask,
    is_known_status,
    is_task_not_exist,
    parse_created,
    parse_task,
    parse_timestamp,
    task_when_missing,
)
from airflow_provider_runway.exceptions import (
    RunwayError,
    RunwayNotFoundError,
    RunwayProtocolError,
    RunwaySubmitUncertainError,
    RunwayTaskCancelledError,
    RunwayTaskFailedError,
    RunwayTaskRejectedError,
)
from tests.unit.core.scripted import drive, ok, settings_for

TASK_ID = "17f20503-6c24-4c16-946b-35dbbce2af2f"
OUT_URL = "https://dnznrvs05pmza.cloudfront.net/abc/out.mp4?_jwt=SIGNATURE"
PNG_URI = "https://example.com/frame.png"


# ========================================================================================================
# parse_task: the plain Runway shape
# ========================================================================================================
@pytest.mark.parametrize("status", ["PENDING", "THROTTLED"])
def test_queued_statuses_are_not_terminal(status):
    task = parse_task({"id": TASK_ID, "status": status, "createdAt": "2024-06-01T10:00:00.000Z"})
    assert task.status == status
    assert not task.terminal and not task.succeeded
    assert task.created_at == datetime(2024, 6, 1, 10, 0, tzinfo=timezone.utc)
    assert task.shape == "runway" and task.visible


def test_running_with_progress():
    task = parse_task({"id": TASK_ID, "status": "RUNNING", "progress": 0.42})
    assert task.status == "RUNNING" and not task.terminal
    assert task.progress == pytest.approx(0.42)
    assert "42%" in task.describe()


def test_succeeded_with_outputs_and_cost():
    task = parse_task(
        {
            "id": TASK_ID,
            "status": "SUCCEEDED",
            "output": [OUT_URL, "https://cdn.example.com/second.mp4"],
            "cost": {"credits": 25},
            "estimatedCost": {"credits": 30},
        }
    )
    assert task.terminal and task.succeeded
    assert task.outputs == (OUT_URL, "https://cdn.example.com/second.mp4")
    assert task.cost_credits == 25.0 and task.estimated_credits == 30.0
    assert outcome_error(task) is None
    # describe() is log-safe: counts outputs, never prints the signed URL
    assert "SIGNATURE" not in task.describe() and "2 output(s)" in task.describe()


def test_failed_with_failure_code():
    task = parse_task(
        {
            "id": TASK_ID,
            "status": "FAILED",
            "failure": "Content moderated",
            "failureCode": "SAFETY.INPUT.TEXT",
        }
    )
    assert task.terminal and not task.succeeded
    assert task.failure == "Content moderated" and task.failure_code == "SAFETY.INPUT.TEXT"
    err = outcome_error(task)
    assert isinstance(err, RunwayTaskRejectedError)
    assert "SAFETY.INPUT.TEXT" in str(err) and TASK_ID in str(err)


def test_cancelled():
    task = parse_task({"id": TASK_ID, "status": "CANCELLED"})
    assert task.terminal and not task.succeeded
    err = outcome_error(task)
    assert isinstance(err, RunwayTaskCancelledError) and err.task_id == TASK_ID


def test_unknown_status_stays_non_terminal():
    task = parse_task({"id": TASK_ID, "status": "warming_up"})
    assert task.status == "WARMING_UP"
    assert not task.terminal
    assert not is_known_status(task.status)
    with pytest.raises(ValueError):
        outcome_error(task)


def test_polled_id_used_when_body_has_none():
    assert parse_task({"status": "PENDING"}, task_id="abc").id == "abc"


@pytest.mark.parametrize(
    "payload",
    [[], "SUCCEEDED", None, {"id": TASK_ID}, {"id": TASK_ID, "status": 3}, {"status": "PENDING"}],
)
def test_non_task_payloads_raise_protocol_error(payload):
    with pytest.raises(RunwayProtocolError):
        parse_task(payload)


def test_gateway_error_code_without_task_is_protocol_error():
    with pytest.raises(RunwayProtocolError, match="quota_exceeded"):
        parse_task({"code": "quota_exceeded", "message": "out of quota"})


def test_to_dict_round_trip_is_json():
    task = parse_task(
        {"id": TASK_ID, "status": "SUCCEEDED", "output": [OUT_URL], "createdAt": "2024-06-01T10:00:00Z"}
    )
    again = RunwayTask.from_dict(json.loads(json.dumps(task.to_dict())))
    assert again == task


# ========================================================================================================
# parse_task: the gateway envelope
# ========================================================================================================
def envelope(status="IN_PROGRESS", inner=None, **outer):
    data = {
        "task_id": "gw-task-1",
        "action": "IMAGE_TO_VIDEO",
        "status": status,
        "fail_reason": "",
        "submit_time": 1717236000,
        "start_time": 1717236005,
        "finish_time": 0,
        "progress": "0%",
        **outer,
    }
    if inner is not None:
        data["data"] = inner
    return {"code": "success", "message": "", "data": data}


def test_envelope_with_inner_task_reads_the_inner_task():
    inner = {"id": TASK_ID, "status": "RUNNING", "progress": 0.3, "createdAt": "2024-06-01T18:00:00+08:00"}
    task = parse_task(envelope("IN_PROGRESS", inner, progress="30%"), task_id=TASK_ID)
    assert task.shape == "gateway"
    assert task.status == "RUNNING"
    assert task.progress == pytest.approx(0.3)
    assert task.created_at == datetime(2024, 6, 1, 10, 0, tzinfo=timezone.utc)


def test_envelope_inner_status_wins_over_outer():
    inner = {"id": TASK_ID, "status": "SUCCEEDED", "output": [OUT_URL]}
    task = parse_task(envelope("IN_PROGRESS", inner), task_id=TASK_ID)
    assert task.succeeded and task.outputs == (OUT_URL,)


def test_envelope_inner_failure_code_is_kept():
    inner = {"id": TASK_ID, "status": "FAILED", "failure": "bad", "failureCode": "ASSET.INVALID"}
    task = parse_task(envelope("FAILURE", inner), task_id=TASK_ID)
    assert isinstance(outcome_error(task), RunwayTaskRejectedError)


def test_envelope_keeps_the_polled_id():
    """The id we polled by is the one to poll again, whatever id the envelope or its inner task carries."""
    inner = {"id": "runway-internal-id", "status": "RUNNING"}
    assert parse_task(envelope("IN_PROGRESS", inner), task_id="gw-task-1").id == "gw-task-1"
    assert parse_task(envelope("IN_PROGRESS"), task_id="gw-task-1").id == "gw-task-1"


@pytest.mark.parametrize(
    ("outer", "expected"),
    [
        ("NOT_START", "PENDING"),
        ("SUBMITTED", "PENDING"),
        ("QUEUED", "PENDING"),
        ("IN_PROGRESS", "RUNNING"),
        ("SUCCESS", "SUCCEEDED"),
        ("FAILURE", "FAILED"),
        ("queued", "PENDING"),
    ],
)
def test_envelope_without_inner_task_maps_outer_status(outer, expected):
    task = parse_task(envelope(outer), task_id=TASK_ID)
    assert task.status == expected
    assert task.shape == "gateway"
    assert task.id == TASK_ID


def test_envelope_unknown_outer_status_keeps_polling():
    task = parse_task(envelope("RETRYING_UPSTREAM"), task_id=TASK_ID)
    assert task.status == "RETRYING_UPSTREAM"
    assert not task.terminal


@pytest.mark.parametrize("status", ["", "   ", None, 3])
def test_envelope_without_usable_status_is_protocol_error(status):
    with pytest.raises(RunwayProtocolError, match="no status"):
        parse_task(envelope(status), task_id=TASK_ID)


def test_envelope_inner_without_status_falls_back_to_outer():
    task = parse_task(envelope("SUCCESS", {"output": [OUT_URL]}), task_id=TASK_ID)
    assert task.succeeded and task.outputs == (OUT_URL,)


def test_envelope_failure_reason_and_id_from_envelope():
    task = parse_task(envelope("FAILURE", fail_reason="upstream refused"))
    assert task.status == "FAILED" and task.failure == "upstream refused"
    assert task.id == "gw-task-1"  # no polled id: the envelope's own
    err = outcome_error(task)
    assert type(err) is RunwayTaskFailedError  # no code: transient, Airflow may retry


@pytest.mark.parametrize(("text", "expected"), [("0%", 0.0), ("40%", 0.4), (" 100% ", 1.0), ("55.5%", 0.555)])
def test_percent_string_progress(text, expected):
    task = parse_task(envelope("IN_PROGRESS", progress=text), task_id=TASK_ID)
    assert task.progress == pytest.approx(expected)


@pytest.mark.parametrize("garbage", ["n/a", "", "%", [], {"p": 1}, True])
def test_garbage_progress_is_none(garbage):
    assert parse_task(envelope("IN_PROGRESS", progress=garbage), task_id=TASK_ID).progress is None


def test_result_url_fallback_when_inner_has_no_output():
    task = parse_task(envelope("SUCCESS", result_url=OUT_URL), task_id=TASK_ID)
    assert task.outputs == (OUT_URL,)
    inner = {"id": TASK_ID, "status": "SUCCEEDED", "output": []}
    task = parse_task(envelope("SUCCESS", inner, result_url=OUT_URL), task_id=TASK_ID)
    assert task.outputs == (OUT_URL,)


def test_inner_output_preferred_over_result_url():
    inner = {"id": TASK_ID, "status": "SUCCEEDED", "output": ["https://cdn.example.com/inner.mp4"]}
    task = parse_task(envelope("SUCCESS", inner, result_url=OUT_URL), task_id=TASK_ID)
    assert task.outputs == ("https://cdn.example.com/inner.mp4",)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-06-01T18:30:00+08:00", datetime(2024, 6, 1, 10, 30, tzinfo=timezone.utc)),
        ("2024-06-01 18:30:00+08:00", datetime(2024, 6, 1, 10, 30, tzinfo=timezone.utc)),
        ("2024-06-01T10:30:00Z", datetime(2024, 6, 1, 10, 30, tzinfo=timezone.utc)),
        ("2024-06-01T10:30:00", datetime(2024, 6, 1, 10, 30, tzinfo=timezone.utc)),
        (1717237800, datetime(2024, 6, 1, 10, 30, tzinfo=timezone.utc)),
        (1717237800000, datetime(2024, 6, 1, 10, 30, tzinfo=timezone.utc)),
        ("1717237800", datetime(2024, 6, 1, 10, 30, tzinfo=timezone.utc)),
    ],
)
def test_timestamps(raw, expected):
    assert parse_timestamp(raw) == expected
    task = parse_task(envelope("QUEUED", submit_time=raw), task_id=TASK_ID)
    assert task.created_at == expected


@pytest.mark.parametrize("raw", [0, -5, "", None, True, "yesterday", float("inf"), 10**30])
def test_bad_timestamps_are_none(raw):
    assert parse_timestamp(raw) is None


# ========================================================================================================
# parse_task: property tests (arbitrary JSON in, a task or the project's own error out)
# ========================================================================================================
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats()
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=25,
)
TASK_KEYS = [
    "id",
    "status",
    "progress",
    "output",
    "failure",
    "failureCode",
    "createdAt",
    "cost",
    "estimatedCost",
    "data",
    "code",
    "message",
    "task_id",
    "result_url",
    "submit_time",
    "fail_reason",
]
STATUS_WORDS = st.sampled_from([*KNOWN_STATUSES, *GATEWAY_STATUS_MAP, "", " ", "unknown", "succeeded"])
task_field_values = STATUS_WORDS | json_values
task_like = st.recursive(
    st.dictionaries(st.sampled_from(TASK_KEYS) | st.text(max_size=6), task_field_values, max_size=8),
    lambda children: st.dictionaries(
        st.sampled_from(TASK_KEYS), children | task_field_values, min_size=1, max_size=8
    ),
    max_leaves=6,
)
#: nearly valid plain tasks: an id and a status, every other field arbitrary
plain_tasks = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=12) | st.integers(), "status": STATUS_WORDS},
    optional={key: task_field_values for key in TASK_KEYS if key not in ("id", "status", "data")},
)
envelopes = st.builds(
    lambda code, outer, inner: {"code": code, "message": "", "data": {**outer, "data": inner}},
    st.sampled_from(["success", "task_not_exist", "error"]),
    st.fixed_dictionaries(
        {"status": STATUS_WORDS},
        optional={
            key: task_field_values
            for key in ("task_id", "progress", "result_url", "submit_time", "fail_reason")
        },
    )
    | st.dictionaries(st.sampled_from(TASK_KEYS), task_field_values, max_size=8),
    plain_tasks | task_like | json_values,
)


def check_task_or_own_error(payload, task_id):
    try:
        task = parse_task(payload, task_id=task_id)
    except RunwayError:
        return
    # anything other than RunwayError propagates and fails the test
    assert isinstance(task, RunwayTask)
    assert isinstance(task.status, str) and task.status
    assert isinstance(task.id, str) and task.id
    assert task.progress is None or 0.0 <= task.progress <= 1.0
    assert all(isinstance(url, str) and url for url in task.outputs)
    assert task.created_at is None or task.created_at.tzinfo is not None
    for credits in (task.cost_credits, task.estimated_credits):
        assert credits is None or math.isfinite(credits)
    json.dumps(task.to_dict(), allow_nan=False)  # trigger events and XCom must be plain JSON
    task.describe()


PROPERTY_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(payload=json_values, task_id=st.none() | st.text(min_size=1, max_size=12))
def test_arbitrary_json_gives_task_or_runway_error(payload, task_id):
    check_task_or_own_error(payload, task_id)


@PROPERTY_SETTINGS
@given(payload=plain_tasks | task_like | envelopes, task_id=st.none() | st.just(TASK_ID))
def test_task_like_json_gives_task_or_runway_error(payload, task_id):
    check_task_or_own_error(payload, task_id)


@PROPERTY_SETTINGS
@given(payload=json_values | plain_tasks | envelopes)
def test_arbitrary_json_through_the_wire(payload):
    """The same through exchange(): bytes off the wire -> decode -> parse."""
    raw = json.dumps(payload).encode()
    _, result, error = drive(settings_for(), ApiRequest("GET", f"/v1/tasks/{TASK_ID}"), [ok(raw)])
    assert error is None
    check_task_or_own_error(result, TASK_ID)


# ========================================================================================================
# task_not_exist and its grace window
# ========================================================================================================
def not_exist_error():
    settings_ = settings_for()
    body = json.dumps({"code": "task_not_exist", "message": "task_not_exist", "data": None}).encode()
    return error_for(
        settings_, ApiRequest("GET", f"/v1/tasks/{TASK_ID}"), HttpResponse(400, {}, body), attempts=1
    )


def test_task_not_exist_body_maps_to_not_found_with_marker():
    err = not_exist_error()
    assert isinstance(err, RunwayNotFoundError)
    assert err.task_not_exist is True
    assert err.http_status == 400


@pytest.mark.parametrize("status", [200, 404, 500])
def test_task_not_exist_matched_whatever_the_status(status):
    assert is_task_not_exist(b'{"error": {"code": "task_not_exist"}}')
    err = error_for(
        settings_for(),
        ApiRequest("GET", f"/v1/tasks/{TASK_ID}"),
        HttpResponse(status if status != 200 else 404, {}, b'{"error":{"message":"task_not_exist"}}'),
        attempts=1,
    )
    assert getattr(err, "task_not_exist", False)


def test_task_not_exist_is_an_invisible_pending_task_whenever_it_comes():
    # No clock here: how long a hidden task is waited for is the wait loop's decision (visible_by).
    task = task_when_missing(TASK_ID, not_exist_error())
    assert task.status == "PENDING" and not task.visible and not task.terminal
    assert task.id == TASK_ID and task.shape == "missing"
    assert "not visible" in task.describe()


def test_plain_404_raises_not_found():
    plain = error_for(
        settings_for(),
        ApiRequest("GET", f"/v1/tasks/{TASK_ID}"),
        HttpResponse(404, {}, b'{"error": "Task not found"}'),
        attempts=1,
    )
    assert isinstance(plain, RunwayNotFoundError) and not getattr(plain, "task_not_exist", False)
    with pytest.raises(RunwayNotFoundError) as info:
        task_when_missing(TASK_ID, plain)
    assert info.value is plain


def test_parse_created_plain_and_envelope():
    assert parse_created({"id": "t1", "estimatedCost": {"credits": 12}}, "/v1/x") == ("t1", 12.0)
    assert parse_created({"code": "success", "data": {"task_id": "gw1"}}, "/v1/x") == ("gw1", None)
    # A 2xx without an id: the server took (and bills) the create; never retried, never "nothing happened".
    with pytest.raises(RunwaySubmitUncertainError, match="may exist and be billed"):
        parse_created({"status": "ok"}, "/v1/x")
    assert create_may_have_billed(RunwaySubmitUncertainError("x", endpoint="/v1/x"))
