"""The pure core: task normalisation, failure classification, retries, the exchange, settings, bodies."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_runway import models
from airflow_provider_runway.exceptions import (
    RunwayAPIError,
    RunwayAuthError,
    RunwayConfigurationError,
    RunwayError,
    RunwayNotFoundError,
    RunwayProtocolError,
    RunwayRateLimitError,
    RunwayServerError,
    RunwaySubmitUncertainError,
    RunwayTaskCancelledError,
    RunwayTaskFailedError,
    RunwayTaskRejectedError,
    RunwayTransportError,
    RunwayValidationError,
)
from airflow_provider_runway.models import (
    ApiRequest,
    FailureCategory,
    HttpResponse,
    RetryPolicy,
    RunwayTask,
    Send,
    TransportFailure,
    TransportKind,
    Wait,
)
from tests.conftest import FAKE_RUNWAY_KEY

TASK_ID = "17f20503-6c24-4c16-946b-35dbbce2af2f"
OUT_URL = "https://dnznrvs05pmza.cloudfront.net/abc/out.mp4?_jwt=SIGNATURE"
PNG_URI = "https://example.com/frame.png"


# ========================================================================================================
# parse_task: the plain Runway shape
# ========================================================================================================
@pytest.mark.parametrize("status", ["PENDING", "THROTTLED"])
def test_queued_statuses_are_not_terminal(status):
    task = models.parse_task({"id": TASK_ID, "status": status, "createdAt": "2024-06-01T10:00:00.000Z"})
    assert task.status == status
    assert not task.terminal and not task.succeeded
    assert task.created_at == datetime(2024, 6, 1, 10, 0, tzinfo=timezone.utc)
    assert task.shape == "runway" and task.visible


def test_running_with_progress():
    task = models.parse_task({"id": TASK_ID, "status": "RUNNING", "progress": 0.42})
    assert task.status == "RUNNING" and not task.terminal
    assert task.progress == pytest.approx(0.42)
    assert "42%" in task.describe()


def test_succeeded_with_outputs_and_cost():
    task = models.parse_task(
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
    assert models.outcome_error(task) is None
    # describe() is log-safe: counts outputs, never prints the signed URL
    assert "SIGNATURE" not in task.describe() and "2 output(s)" in task.describe()


def test_failed_with_failure_code():
    task = models.parse_task(
        {
            "id": TASK_ID,
            "status": "FAILED",
            "failure": "Content moderated",
            "failureCode": "SAFETY.INPUT.TEXT",
        }
    )
    assert task.terminal and not task.succeeded
    assert task.failure == "Content moderated" and task.failure_code == "SAFETY.INPUT.TEXT"
    err = models.outcome_error(task)
    assert isinstance(err, RunwayTaskRejectedError)
    assert "SAFETY.INPUT.TEXT" in str(err) and TASK_ID in str(err)


def test_cancelled():
    task = models.parse_task({"id": TASK_ID, "status": "CANCELLED"})
    assert task.terminal and not task.succeeded
    err = models.outcome_error(task)
    assert isinstance(err, RunwayTaskCancelledError) and err.task_id == TASK_ID


def test_unknown_status_stays_non_terminal():
    task = models.parse_task({"id": TASK_ID, "status": "warming_up"})
    assert task.status == "WARMING_UP"
    assert not task.terminal
    assert not models.is_known_status(task.status)
    with pytest.raises(ValueError):
        models.outcome_error(task)


def test_polled_id_used_when_body_has_none():
    assert models.parse_task({"status": "PENDING"}, task_id="abc").id == "abc"


@pytest.mark.parametrize(
    "payload",
    [[], "SUCCEEDED", None, {"id": TASK_ID}, {"id": TASK_ID, "status": 3}, {"status": "PENDING"}],
)
def test_non_task_payloads_raise_protocol_error(payload):
    with pytest.raises(RunwayProtocolError):
        models.parse_task(payload)


def test_gateway_error_code_without_task_is_protocol_error():
    with pytest.raises(RunwayProtocolError, match="quota_exceeded"):
        models.parse_task({"code": "quota_exceeded", "message": "out of quota"})


def test_to_dict_round_trip_is_json():
    task = models.parse_task(
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
    task = models.parse_task(envelope("IN_PROGRESS", inner, progress="30%"), task_id=TASK_ID)
    assert task.shape == "gateway"
    assert task.status == "RUNNING"
    assert task.progress == pytest.approx(0.3)
    assert task.created_at == datetime(2024, 6, 1, 10, 0, tzinfo=timezone.utc)


def test_envelope_inner_status_wins_over_outer():
    inner = {"id": TASK_ID, "status": "SUCCEEDED", "output": [OUT_URL]}
    task = models.parse_task(envelope("IN_PROGRESS", inner), task_id=TASK_ID)
    assert task.succeeded and task.outputs == (OUT_URL,)


def test_envelope_inner_failure_code_is_kept():
    inner = {"id": TASK_ID, "status": "FAILED", "failure": "bad", "failureCode": "ASSET.INVALID"}
    task = models.parse_task(envelope("FAILURE", inner), task_id=TASK_ID)
    assert isinstance(models.outcome_error(task), RunwayTaskRejectedError)


def test_envelope_keeps_the_polled_id():
    """The id we polled by is the one to poll again, whatever id the envelope or its inner task carries."""
    inner = {"id": "runway-internal-id", "status": "RUNNING"}
    assert models.parse_task(envelope("IN_PROGRESS", inner), task_id="gw-task-1").id == "gw-task-1"
    assert models.parse_task(envelope("IN_PROGRESS"), task_id="gw-task-1").id == "gw-task-1"


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
    task = models.parse_task(envelope(outer), task_id=TASK_ID)
    assert task.status == expected
    assert task.shape == "gateway"
    assert task.id == TASK_ID


def test_envelope_unknown_outer_status_keeps_polling():
    task = models.parse_task(envelope("RETRYING_UPSTREAM"), task_id=TASK_ID)
    assert task.status == "RETRYING_UPSTREAM"
    assert not task.terminal


@pytest.mark.parametrize("status", ["", "   ", None, 3])
def test_envelope_without_usable_status_is_protocol_error(status):
    with pytest.raises(RunwayProtocolError, match="no status"):
        models.parse_task(envelope(status), task_id=TASK_ID)


def test_envelope_inner_without_status_falls_back_to_outer():
    task = models.parse_task(envelope("SUCCESS", {"output": [OUT_URL]}), task_id=TASK_ID)
    assert task.succeeded and task.outputs == (OUT_URL,)


def test_envelope_failure_reason_and_id_from_envelope():
    task = models.parse_task(envelope("FAILURE", fail_reason="upstream refused"))
    assert task.status == "FAILED" and task.failure == "upstream refused"
    assert task.id == "gw-task-1"  # no polled id: the envelope's own
    err = models.outcome_error(task)
    assert type(err) is RunwayTaskFailedError  # no code: transient, Airflow may retry


@pytest.mark.parametrize(("text", "expected"), [("0%", 0.0), ("40%", 0.4), (" 100% ", 1.0), ("55.5%", 0.555)])
def test_percent_string_progress(text, expected):
    task = models.parse_task(envelope("IN_PROGRESS", progress=text), task_id=TASK_ID)
    assert task.progress == pytest.approx(expected)


@pytest.mark.parametrize("garbage", ["n/a", "", "%", [], {"p": 1}, True])
def test_garbage_progress_is_none(garbage):
    assert models.parse_task(envelope("IN_PROGRESS", progress=garbage), task_id=TASK_ID).progress is None


def test_result_url_fallback_when_inner_has_no_output():
    task = models.parse_task(envelope("SUCCESS", result_url=OUT_URL), task_id=TASK_ID)
    assert task.outputs == (OUT_URL,)
    inner = {"id": TASK_ID, "status": "SUCCEEDED", "output": []}
    task = models.parse_task(envelope("SUCCESS", inner, result_url=OUT_URL), task_id=TASK_ID)
    assert task.outputs == (OUT_URL,)


def test_inner_output_preferred_over_result_url():
    inner = {"id": TASK_ID, "status": "SUCCEEDED", "output": ["https://cdn.example.com/inner.mp4"]}
    task = models.parse_task(envelope("SUCCESS", inner, result_url=OUT_URL), task_id=TASK_ID)
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
    assert models.parse_timestamp(raw) == expected
    task = models.parse_task(envelope("QUEUED", submit_time=raw), task_id=TASK_ID)
    assert task.created_at == expected


@pytest.mark.parametrize("raw", [0, -5, "", None, True, "yesterday", float("inf"), 10**30])
def test_bad_timestamps_are_none(raw):
    assert models.parse_timestamp(raw) is None


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
STATUS_WORDS = st.sampled_from(
    [*models.KNOWN_STATUSES, *models.GATEWAY_STATUS_MAP, "", " ", "unknown", "succeeded"]
)
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
        task = models.parse_task(payload, task_id=task_id)
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
# Failure classification
# ========================================================================================================
@pytest.mark.parametrize(
    ("code", "category"),
    [
        ("SAFETY", FailureCategory.MODERATION),
        ("SAFETY.INPUT.IMAGE", FailureCategory.MODERATION),
        ("SAFETY.OUTPUT.VIDEO", FailureCategory.MODERATION),
        ("safety.input.text", FailureCategory.MODERATION),
        ("INPUT_PREPROCESSING.SAFETY.TEXT", FailureCategory.MODERATION),
        ("ASSET.INVALID", FailureCategory.INVALID_ASSET),
        ("ASSET.INVALID.DIMENSIONS", FailureCategory.INVALID_ASSET),
        ("INTERNAL", FailureCategory.TRANSIENT),
        ("INTERNAL.TIMEOUT", FailureCategory.TRANSIENT),
        ("INPUT_PREPROCESSING.INTERNAL", FailureCategory.TRANSIENT),
        ("THIRD_PARTY.UNAVAILABLE", FailureCategory.TRANSIENT),
        ("INTERNAL.BAD_OUTPUT", FailureCategory.BAD_OUTPUT),
        ("INTERNAL.BAD_OUTPUT.CODE01", FailureCategory.BAD_OUTPUT),
        (None, FailureCategory.TRANSIENT),
        ("", FailureCategory.TRANSIENT),
        ("  ", FailureCategory.TRANSIENT),
        ("QUOTA.EXCEEDED", FailureCategory.UNKNOWN),
        ("SAFETYNET", FailureCategory.UNKNOWN),
        ("SAFETYNET.INPUT", FailureCategory.UNKNOWN),
        ("ASSET.INVALIDATED", FailureCategory.UNKNOWN),
        ("ASSET", FailureCategory.UNKNOWN),
        ("INTERNALS", FailureCategory.UNKNOWN),
        ("INPUT_PREPROCESSING", FailureCategory.UNKNOWN),
    ],
)
def test_classify_failure(code, category):
    assert models.classify_failure(code) is category


def failed(code, failure="it broke"):
    return RunwayTask(id=TASK_ID, status="FAILED", failure=failure, failure_code=code)


@pytest.mark.parametrize("code", ["SAFETY.INPUT.TEXT", "INPUT_PREPROCESSING.SAFETY.IMAGE", "ASSET.INVALID"])
def test_failure_error_rejects_moderation_and_invalid_assets(code):
    from airflow_provider_runway._compat import AirflowFailException

    err = models.failure_error(failed(code))
    assert isinstance(err, RunwayTaskRejectedError)
    assert isinstance(err, AirflowFailException)
    assert err.failure_code == code and err.task_id == TASK_ID
    assert code in str(err) and "it broke" in str(err)


@pytest.mark.parametrize(
    "code", ["INTERNAL", "THIRD_PARTY.UNAVAILABLE", "INTERNAL.BAD_OUTPUT.X", None, "SAFETYNET", "NEW.CODE"]
)
def test_failure_error_other_failures_may_be_retried(code):
    from airflow_provider_runway._compat import AirflowFailException

    err = models.failure_error(failed(code))
    assert type(err) is RunwayTaskFailedError
    assert not isinstance(err, AirflowFailException)
    assert err.category == models.classify_failure(code).value


# ========================================================================================================
# task_not_exist and its grace window
# ========================================================================================================
def not_exist_error():
    settings_ = settings_for()
    body = json.dumps({"code": "task_not_exist", "message": "task_not_exist", "data": None}).encode()
    return models.error_for(
        settings_, ApiRequest("GET", f"/v1/tasks/{TASK_ID}"), HttpResponse(400, {}, body), attempts=1
    )


def test_task_not_exist_body_maps_to_not_found_with_marker():
    err = not_exist_error()
    assert isinstance(err, RunwayNotFoundError)
    assert err.task_not_exist is True
    assert err.http_status == 400


@pytest.mark.parametrize("status", [200, 404, 500])
def test_task_not_exist_matched_whatever_the_status(status):
    assert models.is_task_not_exist(b'{"error": {"code": "task_not_exist"}}')
    err = models.error_for(
        settings_for(),
        ApiRequest("GET", f"/v1/tasks/{TASK_ID}"),
        HttpResponse(status if status != 200 else 404, {}, b'{"error":{"message":"task_not_exist"}}'),
        attempts=1,
    )
    assert getattr(err, "task_not_exist", False)


def test_task_not_exist_is_an_invisible_pending_task_whenever_it_comes():
    # No clock here: how long a hidden task is waited for is the wait loop's decision (visible_by).
    task = models.task_when_missing(TASK_ID, not_exist_error())
    assert task.status == "PENDING" and not task.visible and not task.terminal
    assert task.id == TASK_ID and task.shape == "missing"
    assert "not visible" in task.describe()


def test_plain_404_raises_not_found():
    plain = models.error_for(
        settings_for(),
        ApiRequest("GET", f"/v1/tasks/{TASK_ID}"),
        HttpResponse(404, {}, b'{"error": "Task not found"}'),
        attempts=1,
    )
    assert isinstance(plain, RunwayNotFoundError) and not getattr(plain, "task_not_exist", False)
    with pytest.raises(RunwayNotFoundError) as info:
        models.task_when_missing(TASK_ID, plain)
    assert info.value is plain


# ========================================================================================================
# kill_decision: on_kill cancels only what a person ended
# ========================================================================================================
@pytest.mark.parametrize("state", ["success", "failed", "skipped", "upstream_failed", "removed"])
def test_a_task_instance_a_person_ended_is_cancelled(state):
    for durable in (True, False):
        decision = models.kill_decision(state, known=True, durable=durable)
        assert decision.cancel and state in decision.reason


def test_a_still_deferred_task_instance_is_not_cancelled_it_moved_to_another_triggerer():
    # apache/airflow#73454: a stalled triggerer that resumes drops triggers it no longer owns via on_kill.
    for durable in (True, False):
        decision = models.kill_decision("deferred", known=True, durable=durable)
        assert not decision.cancel and "another triggerer" in decision.reason


@pytest.mark.parametrize("state", [None, "scheduled", "queued", "running", "up_for_retry", "restarting"])
def test_a_cleared_or_running_task_instance_keeps_its_task_for_the_next_try_when_durable(state):
    kept = models.kill_decision(state, known=True, durable=True)
    assert not kept.cancel and "re-attaches" in kept.reason
    # Without the durable record the next try creates anew: the old one would finish unobserved.
    assert models.kill_decision(state, known=True, durable=False).cancel


def test_an_unknown_task_instance_state_cancels_nothing():
    for state in ("failed", None):
        decision = models.kill_decision(state, known=False, durable=False)
        assert not decision.cancel and "could not be read" in decision.reason


def test_create_may_have_billed_only_when_the_answer_was_lost():
    assert models.create_may_have_billed(RunwaySubmitUncertainError("lost", endpoint="/v1/x"))
    assert models.create_may_have_billed(KeyboardInterrupt())  # e.g. execution_timeout mid-POST
    assert not models.create_may_have_billed(RunwayAPIError("bad", status_code=400))
    assert not models.create_may_have_billed(RunwayValidationError("seed", "bad"))


# ========================================================================================================
# decide_retry and parse_retry_after
# ========================================================================================================
GET = ApiRequest("GET", f"/v1/tasks/{TASK_ID}")
DELETE = ApiRequest("DELETE", f"/v1/tasks/{TASK_ID}")
POST = ApiRequest("POST", "/v1/image_to_video", {"model": "gen4_turbo"}, billed=True)
POLICY = RetryPolicy(
    max_retries=5, base_delay=1.0, max_delay=30.0, max_total_wait=120.0, max_retry_after=60.0
)


def resp(status, body=b"", **headers):
    return HttpResponse(status, {k.replace("_", "-").lower(): v for k, v in headers.items()}, body)


def ok(body=b'{"id": "x"}'):
    return HttpResponse(200, {"content-type": "application/json"}, body)


NOT_SENT = TransportFailure(TransportKind.NOT_SENT, "ConnectionError: refused")
TIMEOUT = TransportFailure(TransportKind.TIMEOUT, "ReadTimeout: read timed out")
BROKEN = TransportFailure(TransportKind.BROKEN, "ConnectionError: reset by peer")


def decide(request, outcome, attempt=1, waited=0.0, policy=POLICY):
    return models.decide_retry(
        request, outcome, attempt=attempt, waited=waited, policy=policy, rng=lambda: 0.5
    )


@pytest.mark.parametrize("request_", [GET, DELETE], ids=["GET", "DELETE"])
@pytest.mark.parametrize(
    ("outcome", "retry"),
    [
        (resp(429), True),
        (resp(500), True),
        (resp(502), True),
        (resp(503), True),
        (resp(504), True),
        (resp(524), True),
        (NOT_SENT, True),
        (TIMEOUT, True),
        (BROKEN, True),
        (resp(400), False),
        (resp(401), False),
        (resp(403), False),
        (resp(404), False),
        (resp(405), False),
        (resp(501), False),
        (resp(301), False),
    ],
)
def test_reads_retry_table(request_, outcome, retry):
    assert decide(request_, outcome).retry is retry


@pytest.mark.parametrize(
    ("outcome", "retry"),
    [
        (NOT_SENT, True),
        (resp(429), True),
        (TIMEOUT, False),
        (BROKEN, False),
        (resp(500), False),
        (resp(502), False),
        (resp(503), False),
        (resp(504), False),
        (resp(524), False),
        (resp(400), False),
        (resp(401), False),
    ],
)
def test_billed_create_retry_table(outcome, retry):
    assert decide(POST, outcome).retry is retry


def test_gateway_500_invalid_request_is_not_retried():
    body = json.dumps(
        {"error": {"code": "invalid_request", "message": "bad model", "type": "comet_api_error"}}
    )
    outcome = resp(500, body.encode())
    assert not decide(GET, outcome).retry
    assert not decide(POST, outcome).retry
    assert decide(GET, resp(500, b'{"error": {"code": "upstream_error"}}')).retry


def test_retry_budget_in_count():
    policy = RetryPolicy(max_retries=2)
    assert decide(GET, resp(503), attempt=1, policy=policy).retry
    assert decide(GET, resp(503), attempt=2, policy=policy).retry
    assert not decide(GET, resp(503), attempt=3, policy=policy).retry
    assert not decide(GET, NOT_SENT, attempt=1, policy=RetryPolicy(max_retries=0)).retry


def test_retry_budget_in_total_wait():
    policy = RetryPolicy(max_retries=50, base_delay=1.0, max_delay=30.0, max_total_wait=10.0)
    first = decide(GET, resp(503), attempt=1, waited=0.0, policy=policy)
    assert first.retry and first.delay > 0
    assert not decide(GET, resp(503), attempt=4, waited=9.9, policy=policy).retry
    assert not decide(GET, resp(429, retry_after="5"), attempt=1, waited=6.0, policy=policy).retry
    assert decide(GET, resp(429, retry_after="4"), attempt=1, waited=6.0, policy=policy).retry


def test_backoff_grows_with_jitter_and_is_capped():
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (9, 8.0)]:
        low = policy.backoff(attempt, lambda: 0.0)
        high = policy.backoff(attempt, lambda: 1.0)
        assert low == pytest.approx(ceiling / 2)
        assert high == pytest.approx(ceiling)


def test_retry_after_seconds_honoured():
    decision = decide(GET, resp(429, retry_after="7"))
    assert decision.retry and decision.delay == 7.0
    decision = decide(POST, resp(429, retry_after="3"))
    assert decision.retry and decision.delay == 3.0


def test_retry_after_http_date_honoured():
    when = datetime.now(timezone.utc) + timedelta(seconds=20)
    decision = decide(GET, resp(429, retry_after=format_datetime(when, usegmt=True)))
    assert decision.retry
    assert 17.0 <= decision.delay <= 21.0


def test_too_long_retry_after_is_not_waited():
    decision = decide(GET, resp(429, retry_after="3600"))
    assert not decision.retry and "3600" in decision.reason


def test_garbage_retry_after_falls_back_to_backoff():
    decision = decide(GET, resp(429, retry_after="soon"))
    assert decision.retry and decision.delay == pytest.approx(POLICY.backoff(1, lambda: 0.5))


@pytest.mark.parametrize(
    ("value", "expected"),
    [("120", 120.0), (" 1.5 ", 1.5), ("-3", 0.0), ("", None), (None, None), ("nan", None), ("later", None)],
)
def test_parse_retry_after(value, expected):
    assert models.parse_retry_after(value) == expected


def test_parse_retry_after_http_date_relative_to_now():
    assert models.parse_retry_after("Sat, 01 Jun 2024 10:00:30 GMT", now=1717236000.0) == 30.0
    assert models.parse_retry_after("Sat, 01 Jun 2024 09:00:00 GMT", now=1717236000.0) == 0.0


# ========================================================================================================
# exchange: the sans-I/O request loop, driven by a scripted list of outcomes
# ========================================================================================================
def settings_for(base="https://api.dev.runwayml.com", **extra):
    return models.settings_from_connection(
        "runway_test", host=base, password=FAKE_RUNWAY_KEY, extra={"max_retries": 3, **extra}
    )


def drive(settings_, request, outcomes, policy=None):
    """Run exchange() against scripted outcomes. Returns (actions, result, error)."""
    script = list(outcomes)
    steps = models.exchange(settings_, request, agent="test-agent/1", policy=policy, rng=lambda: 0.5)
    actions: list = []
    sent = None
    try:
        while True:
            action = steps.send(sent)
            actions.append(action)
            if isinstance(action, Send):
                assert script, "exchange sent more requests than scripted"
                sent = script.pop(0)
            else:
                assert isinstance(action, Wait)
                sent = None
    except StopIteration as done:
        assert not script, "exchange stopped before using every scripted outcome"
        return actions, done.value, None
    except RunwayError as err:
        assert not script, "exchange stopped before using every scripted outcome"
        return actions, None, err


def shape(actions):
    return [("send", a.attempt) if isinstance(a, Send) else ("wait", round(a.seconds, 3)) for a in actions]


def test_exchange_first_try_success():
    actions, result, error = drive(settings_for(), GET, [ok(b'{"id": "t", "status": "RUNNING"}')])
    assert error is None and result == {"id": "t", "status": "RUNNING"}
    assert shape(actions) == [("send", 1)]
    request = actions[0].request
    assert request.method == "GET"
    assert request.url == f"https://api.dev.runwayml.com/v1/tasks/{TASK_ID}"
    assert request.content is None and "Content-Type" not in request.headers
    assert request.headers["Authorization"] == f"Bearer {FAKE_RUNWAY_KEY}"
    assert request.headers["X-Runway-Version"] == "2024-11-06"
    assert (request.connect_timeout, request.read_timeout) == (10.0, 30.0)


def test_exchange_post_body_and_headers():
    actions, result, _ = drive(settings_for(), POST, [ok(b'{"id": "new-task"}')])
    request = actions[0].request
    assert json.loads(request.content) == {"model": "gen4_turbo"}
    assert request.headers["Content-Type"] == "application/json"
    assert result == {"id": "new-task"}


def test_exchange_get_retries_5xx_and_transport_then_succeeds():
    backoff = [POLICY.backoff(n, lambda: 0.5) for n in (1, 2, 3)]
    actions, result, error = drive(settings_for(), GET, [resp(503), TIMEOUT, BROKEN, ok(b"{}")])
    assert error is None and result == {}
    assert shape(actions) == [
        ("send", 1),
        ("wait", backoff[0]),
        ("send", 2),
        ("wait", backoff[1]),
        ("send", 3),
        ("wait", backoff[2]),
        ("send", 4),
    ]
    # every attempt sends the very same request
    assert len({id(a.request) for a in actions if isinstance(a, Send)}) == 1


def test_exchange_get_budget_spent_raises_server_error():
    actions, _, error = drive(settings_for(), GET, [resp(502)] * 4)
    assert isinstance(error, RunwayServerError)
    assert error.http_status == 502 and "4 attempt" in str(error)
    assert [a for a in shape(actions) if a[0] == "send"] == [("send", n) for n in (1, 2, 3, 4)]


def test_exchange_transport_budget_spent_raises_transport_error():
    _, _, error = drive(settings_for(), GET, [NOT_SENT] * 4)
    assert type(error) is RunwayTransportError
    assert "runway_test" in str(error) and "refused" in str(error)


def test_exchange_429_honours_retry_after():
    actions, result, _ = drive(settings_for(), POST, [resp(429, retry_after="7"), ok()])
    assert shape(actions) == [("send", 1), ("wait", 7.0), ("send", 2)]
    assert result == {"id": "x"}


def test_exchange_429_beyond_budget_raises_rate_limit_with_retry_after():
    _, _, error = drive(settings_for(), GET, [resp(429, b'{"error": "Daily limit"}', retry_after="600")])
    assert isinstance(error, RunwayRateLimitError)
    assert error.retry_after == 600.0 and "Daily limit" in str(error)


def test_exchange_post_connection_refused_is_retried():
    actions, result, _ = drive(settings_for(), POST, [NOT_SENT, ok(b'{"id": "created"}')])
    assert [a[0] for a in shape(actions)] == ["send", "wait", "send"]
    assert result == {"id": "created"}


@pytest.mark.parametrize("outcome", [TIMEOUT, BROKEN, resp(503), resp(500), resp(504)])
def test_exchange_billed_post_never_retried_once_it_may_have_arrived(outcome):
    actions, _, error = drive(settings_for(), POST, [outcome])
    assert shape(actions) == [("send", 1)]
    assert isinstance(error, RunwaySubmitUncertainError)
    assert error.endpoint == "/v1/image_to_video"
    assert "NOT retried" in str(error) and "billed" in str(error)


def test_exchange_html_page_on_200_is_configuration_error_naming_url():
    page = ok(b"<!DOCTYPE html><html><body>Welcome</body></html>")
    _, _, error = drive(settings_for("https://example.com/wrong"), GET, [page])
    assert isinstance(error, RunwayConfigurationError)
    assert "https://example.com/wrong" in str(error) and "runway_test" in str(error)


def test_exchange_html_error_page_is_configuration_error():
    page = HttpResponse(502, {"content-type": "text/html"}, b"<html>Bad gateway</html>")
    _, _, error = drive(settings_for("https://example.com/wrong", max_retries=0), GET, [page])
    assert isinstance(error, RunwayConfigurationError)
    assert "https://example.com/wrong" in str(error)


def test_exchange_redirect_is_configuration_error_naming_url():
    moved = resp(301, location="https://api.cometapi.com/runwayml/")
    actions, _, error = drive(settings_for("https://api.cometapi.com"), GET, [moved])
    assert shape(actions) == [("send", 1)]
    assert isinstance(error, RunwayConfigurationError)
    assert "https://api.cometapi.com" in str(error) and "301" in str(error)


def test_exchange_malformed_json_on_200_is_protocol_error():
    _, _, error = drive(settings_for(), GET, [ok(b'{"id": "t", "status": ')])
    assert isinstance(error, RunwayProtocolError)
    assert error.http_status == 200 and error.method == "GET"


def test_exchange_empty_2xx_is_none():
    _, result, error = drive(settings_for(), DELETE, [resp(204)])
    assert error is None and result is None


def test_exchange_401_is_auth_error_without_retry():
    actions, _, error = drive(settings_for(), GET, [resp(401, b'{"error": "Invalid API key"}')])
    assert shape(actions) == [("send", 1)]
    assert isinstance(error, RunwayAuthError)
    assert "Invalid API key" in str(error) and "runway_test" in str(error)
    assert FAKE_RUNWAY_KEY not in str(error)


def test_exchange_400_issues_with_field_paths():
    body = {
        "error": "Validation of body failed",
        "issues": [
            {"code": "invalid_string", "path": ["promptImage"], "message": "Invalid url"},
            {"code": "too_big", "path": ["promptImage", 1, "uri"], "message": "Too long"},
        ],
        "docUrl": "https://docs.dev.runwayml.com/errors/validation",
    }
    actions, _, error = drive(settings_for(), POST, [resp(400, json.dumps(body).encode())])
    assert shape(actions) == [("send", 1)]
    assert type(error) is RunwayAPIError
    assert error.http_status == 400 and len(error.issues) == 2
    text = str(error)
    assert "Validation of body failed" in text
    assert "promptImage: Invalid url" in text and "promptImage.1.uri: Too long" in text
    assert "POST /v1/image_to_video" in text
    assert models.iter_field_paths(error.issues) == ["promptImage", "promptImage.1.uri"]


def test_exchange_gateway_error_shape_message():
    body = {"error": {"code": "insufficient_quota", "message": "quota exhausted", "type": "comet_api_error"}}
    _, _, error = drive(settings_for(), GET, [resp(403, json.dumps(body).encode())])
    assert isinstance(error, RunwayAuthError)
    assert "quota exhausted" in str(error) and "insufficient_quota" in str(error)


def test_exchange_billed_500_invalid_request_is_server_error_not_uncertain():
    body = {"error": {"code": "invalid_request", "message": "model not found", "type": "comet_api_error"}}
    actions, _, error = drive(settings_for(), POST, [resp(500, json.dumps(body).encode())])
    assert shape(actions) == [("send", 1)]
    assert type(error) is RunwayServerError
    assert "model not found" in str(error)


def test_exchange_billed_429_beyond_budget_is_rate_limit_not_uncertain():
    _, _, error = drive(settings_for(max_retries=0), POST, [resp(429)])
    assert type(error) is RunwayRateLimitError


def test_exchange_uses_connection_max_retries_by_default():
    actions, _, _ = drive(settings_for(max_retries=1), GET, [resp(503), resp(503)])
    assert [a for a in shape(actions) if a[0] == "send"] == [("send", 1), ("send", 2)]


def test_exchange_never_leaks_the_key():
    outcomes = [
        [resp(401, b'{"error": "bad key"}')],
        [resp(400, b'{"error": "x", "issues": [{"path": ["seed"], "message": "bad"}]}')],
        [TIMEOUT],
        [resp(503)],
        [resp(301, location="https://elsewhere.example.com")],
        [ok(b"<html></html>")],
        [ok(b"{not json")],
    ]
    for script in outcomes:
        actions, _, error = drive(settings_for(max_retries=0), POST, script)
        assert error is not None
        assert FAKE_RUNWAY_KEY not in str(error) and FAKE_RUNWAY_KEY not in repr(error)
        assert all(FAKE_RUNWAY_KEY not in a.reason for a in actions if isinstance(a, Wait))


# ========================================================================================================
# settings_from_connection / normalize_base_url
# ========================================================================================================
def conn_settings(host="https://api.dev.runwayml.com", password=FAKE_RUNWAY_KEY, extra=None, **kw):
    return models.settings_from_connection("my_runway", host=host, password=password, extra=extra, **kw)


@pytest.mark.parametrize("password", [None, "", "   "])
def test_missing_key_names_connection(password):
    with pytest.raises(RunwayConfigurationError, match="my_runway") as info:
        conn_settings(password=password)
    assert "API key" in str(info.value)


def test_key_with_whitespace_is_rejected_without_echoing_it():
    with pytest.raises(RunwayConfigurationError, match="my_runway") as info:
        conn_settings(password="key_abc def")
    assert "key_abc" not in str(info.value)


@pytest.mark.parametrize(
    "host",
    [
        "ftp://api.dev.runwayml.com",
        "https://",
        "https://api.dev.runwayml.com:99999",
        "https://api.dev.runwayml.com/?token=abc",
        "https://api.dev.runwayml.com/#frag",
        "http://api.dev.runwayml.com",
        "https://user:pw@api.dev.runwayml.com",
    ],
)
def test_malformed_urls_name_connection_never_key(host):
    with pytest.raises(RunwayConfigurationError) as info:
        conn_settings(host=host)
    assert "my_runway" in str(info.value)
    assert FAKE_RUNWAY_KEY not in str(info.value)


def test_settings_repr_hides_key():
    settings_ = conn_settings()
    assert settings_.api_key == FAKE_RUNWAY_KEY
    assert FAKE_RUNWAY_KEY not in repr(settings_)


@pytest.mark.parametrize(
    ("host", "schema", "port", "expected"),
    [
        (None, None, None, models.GATEWAY_BASE_URL),
        ("", None, None, models.GATEWAY_BASE_URL),
        ("https://api.dev.runwayml.com", None, None, "https://api.dev.runwayml.com"),
        ("https://api.dev.runwayml.com/", None, None, "https://api.dev.runwayml.com"),
        ("https://api.dev.runwayml.com/v1", None, None, "https://api.dev.runwayml.com"),
        ("https://api.cometapi.com/runwayml/", None, None, "https://api.cometapi.com/runwayml"),
        ("https://api.cometapi.com/runwayml/v1/", None, None, "https://api.cometapi.com/runwayml"),
        # URI-form connections: runway://api.cometapi.com/runwayml -> host + schema
        ("api.cometapi.com", "runwayml", None, "https://api.cometapi.com/runwayml"),
        ("api.dev.runwayml.com", None, None, "https://api.dev.runwayml.com"),
        ("api.dev.runwayml.com", "", 8443, "https://api.dev.runwayml.com:8443"),
        ("gw.example.com", "/proxy/runwayml/", None, "https://gw.example.com/proxy/runwayml"),
    ],
)
def test_base_url_forms(host, schema, port, expected):
    assert conn_settings(host=host, schema=schema, port=port).base_url == expected


def test_uri_form_connection_through_airflow():
    from airflow.sdk import Connection

    conn = Connection.from_uri(
        "runway://:key_abc@api.cometapi.com/runwayml?max_retries=2", conn_id="uri_conn"
    )
    settings_ = models.settings_from_connection(
        "uri_conn",
        host=conn.host,
        password=conn.password,
        extra=conn.extra_dejson,
        schema=conn.schema,
        port=conn.port,
    )
    assert settings_.base_url == "https://api.cometapi.com/runwayml"
    assert settings_.looks_like_gateway
    assert settings_.max_retries == 2
    assert settings_.url("/v1/tasks/x") == "https://api.cometapi.com/runwayml/v1/tasks/x"


def test_looks_like_gateway():
    assert not conn_settings(host="https://api.dev.runwayml.com").looks_like_gateway
    assert conn_settings(host="https://api.cometapi.com/runwayml").looks_like_gateway


@pytest.mark.parametrize(
    "host", ["http://127.0.0.1:8765", "http://localhost:8765", "127.0.0.1:8765", "http://[::1]:8765"]
)
def test_http_allowed_on_loopback_with_flag(host):
    with pytest.raises(RunwayConfigurationError, match="http"):
        conn_settings(host=host if "://" in host else "http://" + host)
    settings_ = conn_settings(host=host, extra={"allow_insecure_loopback": True})
    assert settings_.base_url.startswith("http://") and settings_.allow_insecure_loopback


@pytest.mark.parametrize(
    "host", ["http://10.0.0.5:8765", "http://sim.example.com", "http://127.0.0.1.nip.io"]
)
def test_http_refused_off_loopback_even_with_flag(host):
    with pytest.raises(RunwayConfigurationError, match="my_runway"):
        conn_settings(host=host, extra={"allow_insecure_loopback": "true"})


@pytest.mark.parametrize("prefix", ["", "extra__runway__"])
def test_extras_with_and_without_prefix(prefix):
    extra = {
        f"{prefix}api_version": "2025-01-01",
        f"{prefix}timeout": "45",
        f"{prefix}max_retries": 2,
        f"{prefix}verify": "false",
    }
    settings_ = conn_settings(extra=extra)
    assert settings_.api_version == "2025-01-01"
    assert settings_.read_timeout == 45.0 and settings_.connect_timeout == 10.0
    assert settings_.max_retries == 2
    assert settings_.verify is False


def test_defaults_and_small_timeout_caps_connect_timeout():
    settings_ = conn_settings(extra={})
    assert (settings_.api_version, settings_.read_timeout, settings_.max_retries, settings_.verify) == (
        "2024-11-06",
        30.0,
        5,
        True,
    )
    assert conn_settings(extra={"timeout": 3}).connect_timeout == 3.0


def test_verify_may_name_a_ca_bundle():
    assert conn_settings(extra={"verify": "/etc/ssl/corp.pem"}).verify == "/etc/ssl/corp.pem"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("timeout", "abc"),
        ("timeout", 0),
        ("timeout", -1),
        ("timeout", "nan"),
        ("timeout", "inf"),
        ("timeout", True),
        ("max_retries", -1),
        ("max_retries", 101),
        ("max_retries", "many"),
        ("max_retries", True),
        ("max_retries", "2.5"),
        ("api_version", "latest"),
        ("api_version", 20241106),
        ("api_version", "2024-11-06; drop"),
        ("allow_insecure_loopback", "maybe"),
    ],
)
def test_bad_extras_name_the_field_and_connection(name, value):
    with pytest.raises(RunwayConfigurationError) as info:
        conn_settings(extra={name: value})
    assert name in str(info.value) and "my_runway" in str(info.value)


def test_extra_must_be_mapping():
    with pytest.raises(RunwayConfigurationError, match="my_runway"):
        conn_settings(extra=["not", "a", "dict"])


def test_build_headers_and_user_agent():
    agent = models.user_agent("1.2.3", "3.3.2", "3.11")
    assert agent.startswith("airflow-provider-runway/1.2.3 ")
    assert "apache-airflow/3.3.2" in agent
    headers = models.build_headers(conn_settings(), agent, json_body=False)
    assert headers["Authorization"] == f"Bearer {FAKE_RUNWAY_KEY}"
    assert "Content-Type" not in headers
    assert models.build_headers(conn_settings(), agent, json_body=True)["Content-Type"] == "application/json"


# ========================================================================================================
# Paths and create answers
# ========================================================================================================
@pytest.mark.parametrize("bad", ["", "../organization", "a/b", "x" * 200, None, 12, "id with space"])
def test_task_path_rejects_non_ids(bad):
    with pytest.raises(RunwayValidationError) as info:
        models.task_path(bad)
    assert info.value.field == "runway_task_id"


@pytest.mark.parametrize("name", ["image_to_video", "/v1/image_to_video", "v1/image_to_video/"])
def test_endpoint_path(name):
    assert models.endpoint_path(name) == "/v1/image_to_video"


@pytest.mark.parametrize("name", ["tasks/abc", "../x", "Image To Video", "", 5])
def test_endpoint_path_rejects(name):
    with pytest.raises(RunwayValidationError):
        models.endpoint_path(name)


def test_parse_created_plain_and_envelope():
    assert models.parse_created({"id": "t1", "estimatedCost": {"credits": 12}}, "/v1/x") == ("t1", 12.0)
    assert models.parse_created({"code": "success", "data": {"task_id": "gw1"}}, "/v1/x") == ("gw1", None)
    # A 2xx without an id: the server took (and bills) the create; never retried, never "nothing happened".
    with pytest.raises(RunwaySubmitUncertainError, match="may exist and be billed"):
        models.parse_created({"status": "ok"}, "/v1/x")
    assert models.create_may_have_billed(RunwaySubmitUncertainError("x", endpoint="/v1/x"))


# ========================================================================================================
# What holds for every body (the rest is Runway's spec: tests/endpoints/)
# ========================================================================================================
@pytest.mark.parametrize("model", [None, "", "gen4 turbo", "x" * 101, 4])
def test_model_name(model):
    with pytest.raises(RunwayValidationError) as info:
        models.check_model(model)
    assert info.value.field == "model"


@pytest.mark.parametrize(
    ("uri", "kind"),
    [
        ("data:image/gif;base64,R0lGODlhAQABAAAAACw=", "image"),
        ("data:image/png;base64,@@@@", "image"),
        ("data:image/png,rawbytes", "image"),
        ("data:image/png;base64,", "image"),
        ("data:video/mp4;base64,AAAA", "image"),
        ("data:image/png;base64,AAAA", "video"),
        ("data:image/png;base64,AAAA", "audio"),
        ("http://example.com/a.png", "image"),
        ("https://93.184.216.34/a.png", "image"),
        ("https://[2001:db8::1]/a.png", "image"),
        ("ftp://example.com/a.png", "image"),
        ("/tmp/a.png", "image"),
        ("runway://", "image"),
        ("https://exa mple.com/a.png", "image"),
        ("", "image"),
        (None, "image"),
    ],
)
def test_asset_uris_break_a_rule_that_holds_for_every_model(uri, kind):
    with pytest.raises(RunwayValidationError) as info:
        models.check_asset_uri(uri, "prompt_image", kind)
    assert info.value.field == "prompt_image"


def test_asset_uri_lengths_are_left_to_the_spec():
    """How long a URL or data URI may be depends on the field and model: Runway's spec says, per field."""
    assert models.check_asset_uri("https://example.com/" + "a" * 5000, "x", "image")
    big = "data:video/mp4;base64," + "A" * (20 * 1024 * 1024)
    assert models.check_asset_uri(big, "x", "video") == big
    assert models.check_asset_uri("data:audio/flac;base64,AAAA", "x", "audio")
    assert models.check_asset_uri("RUNWAY://token", "x", "image") == "runway://token"


# ========================================================================================================
# Redaction and cancelling
# ========================================================================================================
@pytest.mark.parametrize(
    "url",
    [
        OUT_URL,
        "https://storage.googleapis.com/bucket/a/b/video.mp4?X-Goog-Signature=SIGNATURE&X-Goog-Expires=3600",
        "https://cdn.example.com/?token=SIGNATURE",
    ],
)
def test_redact_url_removes_query(url):
    red = models.redact_url(url)
    assert "SIGNATURE" not in red and "?" not in red.replace("?<signature redacted>", "")
    assert red.startswith("https://") and urlsplit_host(url) in red


def urlsplit_host(url):
    from urllib.parse import urlsplit

    return urlsplit(url).hostname


def test_redact_url_keeps_file_name_and_shortens_data_uris():
    assert models.redact_url("https://cdn.example.com/a/b/out.mp4").endswith("/out.mp4")
    assert models.redact_url("https://cdn.example.com/a/b/out.mp4?sig=1").endswith(
        "out.mp4?<signature redacted>"
    )
    red = models.redact_url("data:image/png;base64," + "A" * 5000)
    assert len(red) < 40 and "AAAA" not in red
    assert models.redact_url(None) == "<not a url>"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("PENDING", True),
        ("THROTTLED", True),
        ("RUNNING", True),
        ("NEW_STATE", True),
        ("SUCCEEDED", False),
        ("FAILED", False),
        ("CANCELLED", False),
    ],
)
def test_may_cancel_only_unfinished(status, expected):
    assert models.may_cancel(RunwayTask(id=TASK_ID, status=status)) is expected


def test_may_cancel_never_without_a_last_seen_status():
    assert models.may_cancel(None) is False


def api_error(status, body, **kw):
    return models.error_for(
        settings_for(), DELETE, HttpResponse(status, kw.get("headers", {}), body), attempts=1
    )


def test_cancel_result():
    assert models.cancel_result(api_error(404, b'{"error": "Task not found"}')) == "gone"
    assert models.cancel_result(api_error(405, b'{"error": "Method not allowed"}')) == "unsupported"
    assert models.cancel_result(api_error(405, b"")) == "unsupported"
    html = api_error(404, b"<html>Not Found</html>", headers={"content-type": "text/html"})
    assert models.cancel_result(html) == "unsupported"
    assert models.cancel_result(api_error(400, b'{"code": "task_not_exist"}')) == "gone"
    with pytest.raises(RunwayAuthError):
        models.cancel_result(api_error(401, b'{"error": "bad key"}'))
