"""RunwayHook with the wire mocked on both halves: each scenario runs on requests and on aiohttp alike.

The sync half gets a custom requests transport adapter mounted on ``hook.session`` (so requests' real
exception types reach the classifier); the async half gets a stand-in for its lanes' ``aiohttp.ClientSession``
that raises aiohttp's real exception types (:class:`WireSession`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import multidict
import pytest
import requests
import requests.adapters
import structlog.testing
import urllib3.exceptions
import yarl
from requests.structures import CaseInsensitiveDict

from airflow_provider_runway import __version__
from airflow_provider_runway.exceptions import (
    RunwayAPIError,
    RunwayAuthError,
    RunwayConfigurationError,
    RunwayNotFoundError,
    RunwayProtocolError,
    RunwayRateLimitError,
    RunwayServerError,
    RunwaySubmitUncertainError,
    RunwayTransportError,
    RunwayValidationError,
)
from airflow_provider_runway.hooks import pool
from airflow_provider_runway.hooks import runway as runway_module
from airflow_provider_runway.hooks.runway import (
    PROBE_TASK_ID,
    RunwayHook,
    requests_failure,
    shared_async_client,
)
from airflow_provider_runway.hooks.transport import aiohttp_failure, proxy_for
from airflow_provider_runway.models import TransportKind
from tests.conftest import FAKE_RUNWAY_KEY
from tests.fakes import FakeAiohttpSession

TASK_ID = "17f20503-6c24-4c16-946b-35dbbce2af2f"
DIRECT = "https://api.dev.runwayml.com"
GATEWAY = "https://api.cometapi.com/runwayml"
PNG = "https://example.com/frame.png"


# ========================================================================================================
# The fake wire: a script of replies or failures, and a record of what was sent
# ========================================================================================================
@dataclass
class Reply:
    status: int = 200
    json_body: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def content(self) -> bytes:
        if self.body is not None:
            return self.body
        return b"" if self.json_body is None else json.dumps(self.json_body).encode()

    def all_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        if self.json_body is not None:
            headers.setdefault("Content-Type", "application/json")
        return headers


#: failures without an HTTP answer
REFUSED, READ_TIMEOUT, RESET, CONNECT_TIMEOUT = "refused", "read_timeout", "reset", "connect_timeout"


@dataclass
class Sent:
    method: str
    url: str
    headers: dict[str, str]  # lower-cased keys
    body: bytes | None
    timeout: tuple[float | None, float | None]

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Wire:
    def __init__(self, script: list[Any]) -> None:
        self.script = list(script)
        self.sent: list[Sent] = []

    def take(self, sent: Sent) -> Any:
        self.sent.append(sent)
        assert self.script, f"unexpected extra request: {sent.method} {sent.url}"
        return self.script.pop(0)


class WireAdapter(requests.adapters.BaseAdapter):
    """A requests transport that answers from the script, raising requests' own exception types."""

    def __init__(self, wire: Wire) -> None:
        super().__init__()
        self.wire = wire

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        body = request.body.encode() if isinstance(request.body, str) else request.body
        item = self.wire.take(
            Sent(
                request.method,
                request.url,
                {k.lower(): v for k, v in request.headers.items()},
                body,
                (connect, read),
            )
        )
        if item == REFUSED:
            reason = urllib3.exceptions.NewConnectionError(
                None, "Failed to establish a new connection: [Errno 111] Connection refused"
            )
            raise requests.exceptions.ConnectionError(
                urllib3.exceptions.MaxRetryError(None, request.url, reason), request=request
            )
        if item == CONNECT_TIMEOUT:
            raise requests.exceptions.ConnectTimeout("connect timed out", request=request)
        if item == READ_TIMEOUT:
            raise requests.exceptions.ReadTimeout("Read timed out. (read timeout=30.0)", request=request)
        if item == RESET:
            raise requests.exceptions.ConnectionError(
                urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset")),
                request=request,
            )
        response = requests.Response()
        response.status_code = item.status
        response._content = item.content()
        response.headers = CaseInsensitiveDict(item.all_headers())
        response.url = request.url
        response.request = request
        return response

    def close(self) -> None:
        pass


def WireSession(wire: Wire) -> FakeAiohttpSession:
    """A lane's session answering from ``wire``, raising aiohttp's own exceptions for the failures, so the
    hook's conversion (``send_with_aiohttp``) runs for real."""

    async def answer(method: str, url: str, headers: Any, data: Any, timeout: Any) -> Any:
        item = wire.take(
            Sent(
                method,
                url,
                {k.lower(): v for k, v in headers.items()},
                data or None,
                (timeout.sock_connect, timeout.sock_read),
            )
        )
        key = aiohttp.client_reqrep.ConnectionKey("api", 443, True, True, None, None, None)
        if item == REFUSED:
            raise aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "Connection refused"))
        if item == CONNECT_TIMEOUT:
            raise aiohttp.ConnectionTimeoutError("Connection timeout to host")
        if item == READ_TIMEOUT:
            raise aiohttp.SocketTimeoutError("Timeout on reading data from socket")
        if item == RESET:
            raise aiohttp.ServerDisconnectedError()
        return item.status, item.all_headers(), item.content()

    return FakeAiohttpSession(answer)


class Half:
    """Runs one hook call on one half, with the wire mocked and the sleeps recorded."""

    def __init__(self, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.name = name
        self.monkeypatch = monkeypatch
        self.delays: list[float] = []

    def __repr__(self) -> str:
        return self.name

    def call(self, hook: RunwayHook, wire: Wire, method: str, *args: Any, **kwargs: Any) -> Any:
        if self.name == "sync":
            hook.session.mount("https://", WireAdapter(wire))
            hook.session.mount("http://", WireAdapter(wire))
            hook._sleep = self.delays.append
            return getattr(hook, method)(*args, **kwargs)

        async def fake_sleep(seconds: float) -> None:
            self.delays.append(seconds)

        async def run() -> Any:
            self.monkeypatch.setattr(pool, "new_client", lambda verify=True: WireSession(wire))
            self.monkeypatch.setattr(runway_module.asyncio, "sleep", fake_sleep)
            return await getattr(hook, "a" + method)(*args, **kwargs)

        return asyncio.run(run())


@pytest.fixture(params=["sync", "async"])
def half(request, monkeypatch, runway_conn) -> Half:
    return Half(request.param, monkeypatch)


def created(task_id: str = TASK_ID) -> Reply:
    return Reply(200, {"id": task_id, "estimatedCost": {"credits": 25}})


def task_reply(status: str = "RUNNING", **extra: Any) -> Reply:
    return Reply(200, {"id": TASK_ID, "status": status, "createdAt": "2024-06-01T10:00:00Z", **extra})


@dataclass
class Logs:
    """Log lines from every route Airflow 3 may take: structlog events, stdlib records, and the terminal."""

    events: list[dict[str, Any]]
    caplog: pytest.LogCaptureFixture
    capfd: pytest.CaptureFixture[str]

    def at(self, level: str) -> list[str]:
        return [str(e.get("event")) for e in self.events if e.get("log_level") == level] + [
            r.getMessage() for r in self.caplog.records if r.levelname.lower() == level
        ]

    def everything(self) -> str:
        out, err = self.capfd.readouterr()
        return "\n".join([*(repr(e) for e in self.events), self.caplog.text, out, err])


@pytest.fixture
def logs(caplog, capfd):
    with structlog.testing.capture_logs() as events, caplog.at_level(logging.DEBUG):
        yield Logs(events, caplog, capfd)


def assert_key_absent(*texts: str) -> None:
    for text in texts:
        assert FAKE_RUNWAY_KEY not in text
        assert FAKE_RUNWAY_KEY[4:20] not in text  # not even a fragment


# ========================================================================================================
# Headers, bodies, timeouts
# ========================================================================================================
def test_submit_image_to_video_headers_and_body(half):
    wire = Wire([created()])
    submitted = half.call(
        RunwayHook(),
        wire,
        "submit_image_to_video",
        prompt_image=PNG,
        model="gen4_turbo",
        prompt_text="a cat on a skateboard",
        ratio="1280:720",
        duration=5,
        seed=42,
    )
    assert submitted.id == TASK_ID and submitted.endpoint == "/v1/image_to_video"
    assert submitted.estimated_credits == 25.0
    assert abs(submitted.submitted_at - time.time()) < 30
    (sent,) = wire.sent
    assert sent.method == "POST"
    assert sent.url == f"{DIRECT}/v1/image_to_video"
    assert sent.headers["authorization"] == f"Bearer {FAKE_RUNWAY_KEY}"
    assert sent.headers["x-runway-version"] == "2024-11-06"
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["user-agent"].startswith(f"airflow-provider-runway/{__version__} ")
    assert sent.json == {
        "model": "gen4_turbo",
        "promptImage": PNG,
        "promptText": "a cat on a skateboard",
        "ratio": "1280:720",
        "duration": 5,
        "seed": 42,
    }
    assert sent.timeout == (10.0, 30.0)


def test_submit_video_to_video_body(half):
    wire = Wire([created()])
    half.call(
        RunwayHook(),
        wire,
        "submit_video_to_video",
        video_uri="https://example.com/in.mp4",
        prompt_text="make it snow",
        model="seedance2",
    )
    (sent,) = wire.sent
    assert sent.url == f"{DIRECT}/v1/video_to_video"
    assert sent.json == {
        "model": "seedance2",
        "promptVideo": "https://example.com/in.mp4",
        "promptText": "make it snow",
    }


def test_invalid_arguments_send_nothing(half):
    wire = Wire([])
    with pytest.raises(RunwayValidationError) as info:
        half.call(
            RunwayHook(), wire, "submit_image_to_video", prompt_image=PNG, model="gen4_turbo", ratio="1:1"
        )
    assert info.value.field == "ratio"
    assert wire.sent == []


def test_get_task_headers_and_url(half, runway_conn):
    runway_conn(GATEWAY, api_version="2025-02-02", timeout=12)
    wire = Wire([task_reply("RUNNING", progress=0.5)])
    task = half.call(RunwayHook(), wire, "get_task", TASK_ID)
    assert task.status == "RUNNING" and task.progress == 0.5
    (sent,) = wire.sent
    assert sent.method == "GET"
    assert sent.url == f"{GATEWAY}/v1/tasks/{TASK_ID}"
    assert sent.headers["authorization"] == f"Bearer {FAKE_RUNWAY_KEY}"
    assert sent.headers["x-runway-version"] == "2025-02-02"
    assert "content-type" not in sent.headers
    assert sent.body is None
    assert sent.timeout == (10.0, 12.0)


def test_generic_submit_endpoint(half):
    wire = Wire([created("img-1")])
    result = half.call(
        RunwayHook(), wire, "submit", "text_to_image", {"model": "gen4_image", "promptText": "x"}
    )
    assert result.id == "img-1"
    assert wire.sent[0].url == f"{DIRECT}/v1/text_to_image"


# ========================================================================================================
# Retries: counts, Retry-After, billed POSTs
# ========================================================================================================
def test_get_retries_5xx_and_transport_errors(half):
    wire = Wire(
        [
            Reply(503),
            REFUSED,
            READ_TIMEOUT,
            RESET,
            task_reply("SUCCEEDED", output=["https://cdn.example.com/o.mp4"]),
        ]
    )
    task = half.call(RunwayHook(), wire, "get_task", TASK_ID)
    assert task.succeeded and task.outputs == ("https://cdn.example.com/o.mp4",)
    assert len(wire.sent) == 5
    assert len(half.delays) == 4 and all(0 < d <= 30 for d in half.delays)


def test_get_gives_up_after_max_retries(half, runway_conn):
    runway_conn(DIRECT, max_retries=2)
    wire = Wire([Reply(502, {"error": "bad gateway"})] * 3)
    with pytest.raises(RunwayServerError) as info:
        half.call(RunwayHook(), wire, "get_task", TASK_ID)
    assert len(wire.sent) == 3 and len(half.delays) == 2
    assert info.value.http_status == 502 and "3 attempt" in str(info.value)


def test_transport_errors_give_up_with_transport_error(half, runway_conn):
    runway_conn(DIRECT, max_retries=1)
    wire = Wire([REFUSED, REFUSED])
    with pytest.raises(RunwayTransportError) as info:
        half.call(RunwayHook(), wire, "get_task", TASK_ID)
    assert not isinstance(info.value, RunwaySubmitUncertainError)
    assert "runway_default" in str(info.value) and DIRECT in str(info.value)
    assert len(wire.sent) == 2


def test_retry_after_is_honoured(half):
    wire = Wire([Reply(429, {"error": "slow down"}, headers={"Retry-After": "7"}), task_reply()])
    half.call(RunwayHook(), wire, "get_task", TASK_ID)
    assert half.delays == [7.0]
    assert len(wire.sent) == 2


def test_too_long_retry_after_is_not_waited(half):
    wire = Wire([Reply(429, {"error": "Daily generation limit reached"}, headers={"Retry-After": "86400"})])
    with pytest.raises(RunwayRateLimitError) as info:
        half.call(
            RunwayHook(), wire, "submit_image_to_video", prompt_image=PNG, model="gen4_turbo", ratio="960:960"
        )
    assert info.value.retry_after == 86400.0
    assert "Daily generation limit" in str(info.value)
    assert half.delays == [] and len(wire.sent) == 1


def test_post_retried_on_429_with_retry_after(half):
    wire = Wire([Reply(429, headers={"Retry-After": "2"}), created()])
    result = half.call(
        RunwayHook(), wire, "submit_image_to_video", prompt_image=PNG, model="gen4_turbo", ratio="960:960"
    )
    assert result.id == TASK_ID
    assert half.delays == [2.0]
    assert [s.method for s in wire.sent] == ["POST", "POST"]
    assert wire.sent[0].body == wire.sent[1].body


@pytest.mark.parametrize("failure", [REFUSED, CONNECT_TIMEOUT])
def test_post_retried_when_it_never_reached_the_server(half, failure):
    wire = Wire([failure, created()])
    result = half.call(
        RunwayHook(), wire, "submit_image_to_video", prompt_image=PNG, model="gen4_turbo", ratio="960:960"
    )
    assert result.id == TASK_ID
    assert len(wire.sent) == 2 and len(half.delays) == 1


@pytest.mark.parametrize("failure", [READ_TIMEOUT, RESET, Reply(503), Reply(500), Reply(504, body=b"")])
def test_post_never_retried_once_it_may_have_arrived(half, failure):
    wire = Wire([failure])
    with pytest.raises(RunwaySubmitUncertainError) as info:
        half.call(
            RunwayHook(), wire, "submit_image_to_video", prompt_image=PNG, model="gen4_turbo", ratio="960:960"
        )
    assert len(wire.sent) == 1 and half.delays == []
    assert info.value.endpoint == "/v1/image_to_video"
    assert "NOT retried" in str(info.value)


def test_401_is_auth_error_and_not_retried(half):
    wire = Wire([Reply(401, {"error": "Invalid API key"})])
    with pytest.raises(RunwayAuthError) as info:
        half.call(RunwayHook(), wire, "get_task", TASK_ID)
    assert len(wire.sent) == 1
    assert "Invalid API key" in str(info.value)


def test_400_issues_reach_the_message(half):
    body = {
        "error": "Validation of body failed",
        "issues": [{"code": "invalid_string", "path": ["promptImage"], "message": "Invalid url"}],
    }
    wire = Wire([Reply(400, body)])
    with pytest.raises(RunwayAPIError) as info:
        half.call(
            RunwayHook(), wire, "submit_image_to_video", prompt_image=PNG, model="gen4_turbo", ratio="960:960"
        )
    assert info.value.http_status == 400
    assert "promptImage: Invalid url" in str(info.value)


def test_html_page_is_configuration_error(half, runway_conn):
    runway_conn("https://www.cometapi.com")
    wire = Wire(
        [
            Reply(
                200,
                body=b"<!doctype html><html><title>CometAPI</title></html>",
                headers={"Content-Type": "text/html"},
            )
        ]
    )
    with pytest.raises(RunwayConfigurationError) as info:
        half.call(RunwayHook(), wire, "get_task", TASK_ID)
    assert "https://www.cometapi.com" in str(info.value)


def test_redirect_is_not_followed(half, runway_conn):
    runway_conn("https://api.cometapi.com")
    wire = Wire([Reply(301, body=b"", headers={"Location": "https://api.cometapi.com/runwayml/v1/tasks/x"})])
    with pytest.raises(RunwayConfigurationError, match="redirect"):
        half.call(RunwayHook(), wire, "get_task", TASK_ID)
    assert len(wire.sent) == 1


def test_malformed_json_is_protocol_error(half):
    wire = Wire([Reply(200, body=b'{"id": "x", "status"', headers={"Content-Type": "application/json"})])
    with pytest.raises(RunwayProtocolError):
        half.call(RunwayHook(), wire, "get_task", TASK_ID)


# ========================================================================================================
# The gateway: envelope and task_not_exist grace window
# ========================================================================================================
def test_gateway_envelope_through_the_hook(half, runway_conn):
    runway_conn(GATEWAY)
    envelope = {
        "code": "success",
        "message": "",
        "data": {"task_id": TASK_ID, "status": "IN_PROGRESS", "progress": "40%", "submit_time": 1717236000},
    }
    task = half.call(RunwayHook(), Wire([Reply(200, envelope)]), "get_task", TASK_ID)
    assert task.status == "RUNNING" and task.progress == pytest.approx(0.4) and task.shape == "gateway"


NOT_EXIST = Reply(400, {"code": "task_not_exist", "message": "task_not_exist", "data": None})


def test_task_not_exist_is_a_task_not_visible_yet_however_long_after_the_create(half, runway_conn):
    # The hook keeps no clock for it: the wait loop bounds the wait (visible_by), and a re-attach never
    # takes task_not_exist for "gone".
    runway_conn(GATEWAY)
    for _ in range(2):
        task = half.call(RunwayHook(), Wire([NOT_EXIST]), "get_task", TASK_ID)
        assert task.status == "PENDING" and not task.visible and task.id == TASK_ID


def test_plain_404_is_not_found(half):
    with pytest.raises(RunwayNotFoundError) as info:
        half.call(RunwayHook(), Wire([Reply(404, {"error": "Task not found"})]), "get_task", TASK_ID)
    assert not getattr(info.value, "task_not_exist", False)


def test_bad_task_id_sends_nothing(half):
    wire = Wire([])
    with pytest.raises(RunwayValidationError):
        half.call(RunwayHook(), wire, "get_task", "../organization")
    assert wire.sent == []


# ========================================================================================================
# Cancelling and the organization
# ========================================================================================================
@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (Reply(204), "cancelled"),
        (Reply(404, {"error": "Task not found"}), "gone"),
        (Reply(405, {"error": "Method Not Allowed"}), "unsupported"),
        (Reply(404, body=b"<html>404</html>", headers={"Content-Type": "text/html"}), "unsupported"),
    ],
)
def test_cancel_task(half, reply, expected, logs):
    wire = Wire([reply])
    assert half.call(RunwayHook(), wire, "cancel_task", TASK_ID) == expected
    (sent,) = wire.sent
    assert sent.method == "DELETE" and sent.url == f"{DIRECT}/v1/tasks/{TASK_ID}"
    warned = [line for line in logs.at("warning") if "billed" in line and TASK_ID in line]
    assert len(warned) == (1 if expected == "unsupported" else 0)


def test_cancel_task_other_errors_raise(half):
    with pytest.raises(RunwayAuthError):
        half.call(RunwayHook(), Wire([Reply(403, {"error": "Forbidden"})]), "cancel_task", TASK_ID)


def test_get_organization(half):
    wire = Wire([Reply(200, {"creditBalance": 1234, "tier": {"maxMonthlyCreditSpend": 10000}})])
    org = half.call(RunwayHook(), wire, "get_organization")
    assert org["creditBalance"] == 1234
    assert wire.sent[0].url == f"{DIRECT}/v1/organization"


# ========================================================================================================
# test_connection (sync only: the UI button and `airflow connections test`)
# ========================================================================================================
def sync_call(hook: RunwayHook, wire: Wire, method: str, *args: Any) -> Any:
    hook.session.mount("https://", WireAdapter(wire))
    hook._sleep = lambda seconds: None
    return getattr(hook, method)(*args)


def test_test_connection_on_gateway_probes_without_creating(runway_conn):
    runway_conn(GATEWAY)
    wire = Wire(
        [
            Reply(404, body=b"<html>not found</html>", headers={"Content-Type": "text/html"}),
            Reply(400, {"code": "task_not_exist", "message": "task_not_exist"}),
        ]
    )
    ok, message = sync_call(RunwayHook(), wire, "test_connection")
    assert ok is True
    assert "No task was created" in message and GATEWAY in message
    assert [(s.method, s.url) for s in wire.sent] == [
        ("GET", f"{GATEWAY}/v1/organization"),
        ("GET", f"{GATEWAY}/v1/tasks/{PROBE_TASK_ID}"),
    ]


def test_test_connection_when_organization_answers_405(runway_conn):
    """A gateway that answers 405 (not 404) for the organization endpoint is still a working connection."""
    runway_conn(GATEWAY)
    wire = Wire(
        [
            Reply(405, {"error": {"code": "method_not_allowed", "message": "no", "type": "comet_api_error"}}),
            Reply(400, {"code": "task_not_exist", "message": "task_not_exist"}),
        ]
    )
    ok, message = sync_call(RunwayHook(), wire, "test_connection")
    assert ok is True and "No task was created" in message
    assert [s.url for s in wire.sent][-1] == f"{GATEWAY}/v1/tasks/{PROBE_TASK_ID}"


def test_test_connection_direct_reports_credit_balance(runway_conn):
    wire = Wire([Reply(200, {"creditBalance": 4321})])
    ok, message = sync_call(RunwayHook(), wire, "test_connection")
    assert ok is True and "4321" in message
    assert [s.method for s in wire.sent] == ["GET"]


def test_test_connection_rejected_key(runway_conn):
    wire = Wire([Reply(401, {"error": "Invalid API key"})])
    ok, message = sync_call(RunwayHook(), wire, "test_connection")
    assert ok is False and "rejected" in message
    assert_key_absent(message)


def test_test_connection_bad_configuration(runway_conn):
    runway_conn("http://api.dev.runwayml.com")
    ok, message = sync_call(RunwayHook(), Wire([]), "test_connection")
    assert ok is False and "runway_default" in message and "http" in message


def test_test_connection_unreachable(runway_conn):
    runway_conn(DIRECT, max_retries=0)
    ok, message = sync_call(RunwayHook(), Wire([REFUSED]), "test_connection")
    assert ok is False and "refused" in message.lower()


# ========================================================================================================
# The key never leaks: exception texts, tracebacks, log lines
# ========================================================================================================
LEAK_SCENARIOS = {
    "401": [Reply(401, {"error": "Invalid API key"})],
    "400-issues": [Reply(400, {"error": "bad", "issues": [{"path": ["seed"], "message": "too big"}]})],
    "read-timeout": [READ_TIMEOUT],
    "503": [Reply(503, body=b"Service Unavailable")],
    "refused-then-429": [
        REFUSED,
        Reply(429, headers={"Retry-After": "1"}),
        Reply(429, headers={"Retry-After": "1"}),
    ],
    "html": [Reply(200, body=b"<html></html>", headers={"Content-Type": "text/html"})],
    "redirect": [Reply(302, headers={"Location": "https://login.example.com"})],
}


@pytest.mark.parametrize("scenario", sorted(LEAK_SCENARIOS))
def test_key_never_in_exceptions_or_logs(half, runway_conn, scenario, logs):
    runway_conn(DIRECT, max_retries=2)
    wire = Wire(LEAK_SCENARIOS[scenario])
    with pytest.raises(Exception) as info:
        half.call(
            RunwayHook(), wire, "submit_image_to_video", prompt_image=PNG, model="gen4_turbo", ratio="960:960"
        )
    assert not wire.script, "every scripted answer was used"
    chain, exc = [], info.value
    while exc is not None and exc not in chain:
        chain.append(exc)
        exc = exc.__cause__ or exc.__context__
    for exc in chain:
        assert_key_absent(str(exc), repr(exc), repr(getattr(exc, "__dict__", {})))
    assert_key_absent("".join(traceback.format_exception(info.value)))
    if scenario == "refused-then-429":  # the retries were logged, and the log was captured
        assert len(logs.at("warning")) == 2
    assert_key_absent(logs.everything())
    # the key really was sent: the test would be vacuous otherwise
    assert wire.sent[0].headers["authorization"] == f"Bearer {FAKE_RUNWAY_KEY}"


def test_key_not_in_hook_settings_repr(runway_conn):
    hook = RunwayHook()
    assert hook.settings.api_key == FAKE_RUNWAY_KEY
    assert_key_absent(repr(hook.settings), str(hook.settings))


def test_retry_warnings_name_the_cause_never_the_key(half, logs):
    wire = Wire([Reply(503), REFUSED, task_reply()])
    half.call(RunwayHook(), wire, "get_task", TASK_ID)
    warnings_ = logs.at("warning")
    assert len(warnings_) == 2
    assert "503" in warnings_[0] and "refused" in warnings_[1].lower()
    assert_key_absent(logs.everything())


# ========================================================================================================
# Transport failure classification (both libraries agree)
# ========================================================================================================
def test_requests_failure_kinds():
    refused = requests.exceptions.ConnectionError(
        urllib3.exceptions.MaxRetryError(None, "/", urllib3.exceptions.NewConnectionError(None, "refused"))
    )
    dns = requests.exceptions.ConnectionError(
        urllib3.exceptions.MaxRetryError(
            None, "/", urllib3.exceptions.NameResolutionError("h", None, OSError())
        )
    )
    assert requests_failure(refused).kind is TransportKind.NOT_SENT
    assert requests_failure(dns).kind is TransportKind.NOT_SENT
    assert requests_failure(requests.exceptions.ConnectTimeout()).kind is TransportKind.NOT_SENT
    assert requests_failure(requests.exceptions.ReadTimeout()).kind is TransportKind.TIMEOUT
    reset = requests.exceptions.ConnectionError(urllib3.exceptions.ProtocolError("aborted"))
    assert requests_failure(reset).kind is TransportKind.BROKEN
    assert requests_failure(requests.exceptions.ChunkedEncodingError()).kind is TransportKind.BROKEN


def test_aiohttp_failure_kinds():
    key = aiohttp.client_reqrep.ConnectionKey("api", 443, True, True, None, None, None)
    refused = aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "refused"))
    url = yarl.URL("https://api.dev.runwayml.com/v1/tasks/x")
    info = aiohttp.RequestInfo(url, "GET", multidict.CIMultiDictProxy(multidict.CIMultiDict()), url)
    not_sent = [
        refused,
        aiohttp.ConnectionTimeoutError("connect"),
        aiohttp.InvalidURL("nope://"),
        aiohttp.ClientHttpProxyError(info, (), status=407),  # the proxy refused the CONNECT
    ]
    assert [aiohttp_failure(exc).kind for exc in not_sent] == [TransportKind.NOT_SENT] * 4
    assert aiohttp_failure(aiohttp.SocketTimeoutError("read")).kind is TransportKind.TIMEOUT
    assert aiohttp_failure(asyncio.TimeoutError()).kind is TransportKind.TIMEOUT
    broken = [
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientOSError(104, "Connection reset by peer"),
        aiohttp.ClientPayloadError("truncated"),
    ]
    assert [aiohttp_failure(exc).kind for exc in broken] == [TransportKind.BROKEN] * 3


def test_the_async_half_takes_proxies_from_the_environment_once_per_origin(monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.corp.example")
    proxy_for.cache_clear()
    try:
        assert proxy_for("https", "api.dev.runwayml.com") == "http://proxy.internal:3128"
        assert proxy_for("https", "runway.corp.example") is None
        assert proxy_for("http", "api.dev.runwayml.com") is None  # no HTTP_PROXY for plain http
        monkeypatch.delenv("HTTPS_PROXY")
        assert proxy_for("https", "api.dev.runwayml.com") == "http://proxy.internal:3128"  # read once
    finally:
        proxy_for.cache_clear()


# ========================================================================================================
# The shared pooled sessions
# ========================================================================================================
def test_shared_async_client_per_loop_and_tls_setting():
    async def clients() -> tuple[aiohttp.ClientSession, aiohttp.ClientSession, aiohttp.ClientSession]:
        first, second, insecure = (
            shared_async_client(True),
            shared_async_client(True),
            shared_async_client(False),
        )
        await runway_module.aclose_shared_clients()
        return first, second, insecure

    a1, a2, a_insecure = asyncio.run(clients())
    b1, _, _ = asyncio.run(clients())
    assert a1 is a2
    assert a_insecure is not a1
    assert b1 is not a1
    assert a1.closed and b1.closed


def test_closed_shared_client_is_replaced():
    async def run() -> bool:
        first = shared_async_client()
        await first.close()
        second = shared_async_client()
        await runway_module.aclose_shared_clients()
        return first is not second and second.closed

    assert asyncio.run(run())


def test_two_hooks_in_one_loop_share_one_client(monkeypatch, runway_conn):
    """Through the real lanes: only the session is replaced."""
    made: list[FakeAiohttpSession] = []
    wire = Wire([task_reply(), task_reply(), task_reply()])

    def recording(verify: bool | str = True) -> FakeAiohttpSession:
        made.append(WireSession(wire))
        return made[-1]

    monkeypatch.setattr(pool, "new_client", recording)

    async def two_hooks() -> None:
        await asyncio.gather(RunwayHook().aget_task(TASK_ID), RunwayHook().aget_task(TASK_ID))
        await runway_module.aclose_shared_clients()

    async def one_hook() -> None:
        await RunwayHook().aget_task(TASK_ID)
        await runway_module.aclose_shared_clients()

    asyncio.run(two_hooks())
    assert len(made) == 1 and len(wire.sent) == 2
    asyncio.run(one_hook())
    assert len(made) == 2 and made[0] is not made[1]
    assert len(wire.sent) == 3


# --------------------------------------------------------------------------------------------------------
# Echoed keys, task_not_exist on a 200, a missing connection
# --------------------------------------------------------------------------------------------------------
def test_key_echoed_by_the_server_is_scrubbed(half, runway_api_key):
    echo = Reply(400, {"error": f"bad request from Bearer {runway_api_key}", "issues": []})
    with pytest.raises(RunwayAPIError) as info:
        half.call(RunwayHook(), Wire([echo]), "get_task", TASK_ID)
    assert runway_api_key not in str(info.value)
    assert runway_api_key not in json.dumps(info.value.body)
    assert "***" in str(info.value)


def test_task_not_exist_with_http_200_is_a_task_not_visible_yet(half, runway_conn):
    runway_conn(GATEWAY)
    ok_not_exist = Reply(200, {"code": "task_not_exist", "message": "task_not_exist", "data": None})
    task = half.call(RunwayHook(), Wire([ok_not_exist]), "get_task", TASK_ID)
    assert task.status == "PENDING" and not task.visible


def test_test_connection_for_a_missing_connection_says_so(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_RUNWAY_DEFAULT", raising=False)
    ok, message = RunwayHook("runway_no_such_conn").test_connection()
    assert ok is False and "runway_no_such_conn" in message


# ========================================================================================================
# The loop's shared connection settings (one lookup for thousands of triggers)
# ========================================================================================================
def _count_lookups(monkeypatch: pytest.MonkeyPatch, fail_first: int = 0) -> list[str]:
    """Count (and optionally fail) the async connection lookups the hook makes."""
    from airflow.sdk import BaseHook

    calls: list[str] = []
    real = BaseHook.aget_connection

    async def counted(conn_id: str) -> Any:
        calls.append(conn_id)
        await asyncio.sleep(0)  # a real lookup yields: others arrive while it is in flight
        if len(calls) <= fail_first:
            raise RuntimeError("lookup failed")
        return await real(conn_id)

    monkeypatch.setattr(BaseHook, "aget_connection", staticmethod(counted))
    return calls


def test_hooks_in_one_loop_share_one_connection_lookup(monkeypatch, runway_conn):
    calls = _count_lookups(monkeypatch)

    async def settle(count: int) -> list[Any]:
        return await asyncio.gather(*(RunwayHook().asettings() for _ in range(count)))

    first = asyncio.run(settle(200))
    assert len(calls) == 1 and all(s is first[0] for s in first)
    asyncio.run(settle(3))  # a new loop looks up afresh
    assert len(calls) == 2


def test_shared_settings_expire_after_the_ttl(monkeypatch, runway_conn):
    calls = _count_lookups(monkeypatch)
    clock = [1000.0]
    monkeypatch.setattr(runway_module.time, "monotonic", lambda: clock[0])

    async def run() -> None:
        await RunwayHook().asettings()
        clock[0] += runway_module.SETTINGS_TTL - 1
        await RunwayHook().asettings()
        assert len(calls) == 1
        runway_conn("https://api.cometapi.com/runwayml")  # an edited connection is seen after the TTL
        clock[0] += 2
        assert (await RunwayHook().asettings()).base_url == "https://api.cometapi.com/runwayml"

    asyncio.run(run())
    assert len(calls) == 2


def test_a_failed_lookup_is_not_shared_or_kept(monkeypatch, runway_conn):
    calls = _count_lookups(monkeypatch, fail_first=1)

    async def run() -> tuple[list[Any], Any]:
        together = await asyncio.gather(*(RunwayHook().asettings() for _ in range(3)), return_exceptions=True)
        return together, await RunwayHook().asettings()

    together, after = asyncio.run(run())
    assert [type(r).__name__ for r in together] == ["RuntimeError"] * 3  # the three shared one lookup
    assert after.base_url == DIRECT and len(calls) == 2


def test_a_cancelled_waiter_does_not_cancel_the_shared_lookup(monkeypatch, runway_conn):
    calls = _count_lookups(monkeypatch)

    async def run() -> Any:
        doomed = asyncio.ensure_future(RunwayHook().asettings())
        await asyncio.sleep(0)  # the lookup is in flight
        survivor = asyncio.ensure_future(RunwayHook().asettings())
        doomed.cancel()
        return await survivor

    assert asyncio.run(run()).base_url == DIRECT and len(calls) == 1


def test_a_rotated_key_is_picked_up_on_the_401_and_the_request_sent_once_more(monkeypatch, runway_conn):
    """The loop holds settings up to SETTINGS_TTL old; the old key's 401 makes a fresh lookup."""
    from airflow.sdk import BaseHook

    real = BaseHook.aget_connection
    rotated = {"conn_type": "runway", "host": DIRECT, "password": "key_new-one", "extra": {}}

    async def lookup(conn_id: str) -> Any:
        return await real(conn_id)

    monkeypatch.setattr(BaseHook, "aget_connection", staticmethod(lookup))
    denied = Reply(401, {"error": "Invalid API key"})
    wire = Wire([denied, task_reply()])

    async def run() -> Any:
        await RunwayHook().asettings()  # another trigger read the connection before the rotation
        monkeypatch.setenv("AIRFLOW_CONN_RUNWAY_DEFAULT", json.dumps(rotated))
        monkeypatch.setattr(pool, "new_client", lambda verify=True: WireSession(wire))
        task = await RunwayHook().aget_task(TASK_ID)
        later = await RunwayHook().asettings()
        return task, later

    task, later = asyncio.run(run())
    assert task.status == "RUNNING"
    assert [s.headers["authorization"] for s in wire.sent] == [
        f"Bearer {FAKE_RUNWAY_KEY}",
        "Bearer key_new-one",
    ]
    assert later.api_key == "key_new-one"  # the loop's entry was replaced, not just this hook's


def test_a_401_with_an_unchanged_connection_is_not_resent(monkeypatch, runway_conn):
    wire = Wire([Reply(401, {"error": "Invalid API key"})])

    async def run() -> None:
        monkeypatch.setattr(pool, "new_client", lambda verify=True: WireSession(wire))
        await RunwayHook().aget_task(TASK_ID)

    with pytest.raises(RunwayAuthError):
        asyncio.run(run())
    assert len(wire.sent) == 1  # Wire would also fail on an unexpected second request


# --------------------------------------------------------------------------------------------------------
# Garbage: a triggerer runs thousands of polls a minute on the async half
# --------------------------------------------------------------------------------------------------------
def test_async_polls_leave_nothing_for_the_cycle_collector(direct):
    """Objects a poll leaves in reference cycles are freed only by the cyclic collector; at N = 5,000
    triggers they pile up between full collections and make each one stall the triggerer's loop (httpx
    left ~40 a poll, 250 ms stalls, until the hook broke its cycle; aiohttp, over a real socket here,
    must leave none either)."""
    import gc

    body = {"model": "gen4_turbo", "promptImage": "https://example.com/a.jpg", "ratio": "1280:720"}
    task_id = RunwayHook().submit("image_to_video", body).id

    async def unreachable_after(count: int) -> int:
        hook = RunwayHook()
        await hook.aget_task(task_id)  # the settings, the client and its connection are made once, here
        gc.collect()
        gc.disable()
        try:
            for _ in range(count):
                assert (await hook.aget_task(task_id)).id == task_id
            return gc.collect()
        finally:
            gc.enable()
            await runway_module.aclose_shared_clients()

    polls = 100
    unreachable = asyncio.run(unreachable_after(polls))
    # Before the fix: ~42 a poll. A few one-off objects (a logger made on first use) are not per poll.
    assert unreachable < polls, f"{unreachable} objects were left in reference cycles by {polls} polls"
