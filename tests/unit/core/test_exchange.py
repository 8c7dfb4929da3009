"""The sans-I/O exchange: the retry decision, Retry-After, the one billed-create rule, the loop driven by scripted outcomes (core.exchange)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from airflow_provider_runway.core.exchange import (
    HttpResponse,
    RetryPolicy,
    Send,
    TransportFailure,
    TransportKind,
    Wait,
    decide_retry,
    parse_retry_after,
)
from airflow_provider_runway.core.fields import iter_field_paths
from airflow_provider_runway.exceptions import (
    RunwayAPIError,
    RunwayAuthError,
    RunwayConfigurationError,
    RunwayProtocolError,
    RunwayRateLimitError,
    RunwayServerError,
    RunwaySubmitUncertainError,
    RunwayTransportError,
)
from tests.conftest import FAKE_RUNWAY_KEY
from tests.unit.core.scripted import DELETE, GET, POLICY, POST, drive, ok, resp, settings_for

TASK_ID = "17f20503-6c24-4c16-946b-35dbbce2af2f"
OUT_URL = "https://dnznrvs05pmza.cloudfront.net/abc/out.mp4?_jwt=SIGNATURE"
PNG_URI = "https://example.com/frame.png"


# ========================================================================================================
# decide_retry and parse_retry_after
# ========================================================================================================
NOT_SENT = TransportFailure(TransportKind.NOT_SENT, "ConnectionError: refused")
TIMEOUT = TransportFailure(TransportKind.TIMEOUT, "ReadTimeout: read timed out")
BROKEN = TransportFailure(TransportKind.BROKEN, "ConnectionError: reset by peer")


def decide(request, outcome, attempt=1, waited=0.0, policy=POLICY):
    return decide_retry(request, outcome, attempt=attempt, waited=waited, policy=policy, rng=lambda: 0.5)


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
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date_relative_to_now():
    assert parse_retry_after("Sat, 01 Jun 2024 10:00:30 GMT", now=1717236000.0) == 30.0
    assert parse_retry_after("Sat, 01 Jun 2024 09:00:00 GMT", now=1717236000.0) == 0.0


# ========================================================================================================
# exchange: the sans-I/O request loop, driven by a scripted list of outcomes
# ========================================================================================================
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
    assert iter_field_paths(error.issues) == ["promptImage", "promptImage.1.uri"]


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
