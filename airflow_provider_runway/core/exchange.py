"""The request exchange, sans I/O: what to send, how long to wait between attempts, what the answer means.

:func:`exchange` is a generator that yields :class:`Send` and :class:`Wait` and receives what each send
produced; the hook's sync half (requests) and async half (aiohttp) are thin drivers of it, so they cannot
drift apart. :func:`attempts` is its retry loop, which the hook's downloads drive too. Whether an attempt
is repeated is :func:`decide_retry`'s to say; whether a create may have been billed,
:func:`may_have_reached_server`'s; which exception ends a call, :func:`error_for`'s.
"""

from __future__ import annotations

import email.utils
import enum
import json
import math
import random
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from datetime import timezone
from typing import Any

from airflow_provider_runway.core._text import body_snippet as _body_snippet
from airflow_provider_runway.core._text import snippet as _snippet
from airflow_provider_runway.core.defaults import DEFAULT_MAX_RETRIES
from airflow_provider_runway.core.settings import ConnectionSettings, build_headers
from airflow_provider_runway.core.task import is_task_not_exist
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
    RunwayTransportError,
)


class TransportKind(str, enum.Enum):
    """How a request failed without an HTTP answer; decides whether a create may be retried."""

    #: the request certainly never reached the server (refused, DNS, connect timeout, pool timeout)
    NOT_SENT = "not_sent"
    #: sent, then no answer in time (read/write timeout): the server may have acted on it
    TIMEOUT = "timeout"
    #: the connection broke after sending began (reset, protocol error): the server may have acted on it
    BROKEN = "broken"


@dataclass(frozen=True)
class ApiRequest:
    """One logical API call. ``billed`` marks a create: it is never repeated once it may have arrived."""

    method: str
    path: str
    body: Mapping[str, Any] | None = None
    billed: bool = False
    #: the task id when the call is about one task (for messages)
    task_id: str | None = None


@dataclass(frozen=True)
class PreparedRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    content: bytes | None
    connect_timeout: float
    read_timeout: float
    verify: bool | str


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]  # keys lower-cased
    body: bytes


@dataclass(frozen=True)
class TransportFailure:
    kind: TransportKind
    detail: str


@dataclass(frozen=True)
class Send:
    request: PreparedRequest
    attempt: int


@dataclass(frozen=True)
class Wait:
    seconds: float
    reason: str


Action = Send | Wait
Outcome = HttpResponse | TransportFailure | None


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded in count and in total waiting time."""

    max_retries: int = DEFAULT_MAX_RETRIES
    base_delay: float = 1.0
    max_delay: float = 30.0
    #: total time budget for waits between attempts of one call
    max_total_wait: float = 120.0
    #: a Retry-After longer than this is not waited for: the call fails with RunwayRateLimitError
    max_retry_after: float = 60.0

    def backoff(self, attempt: int, rng: Callable[[], float]) -> float:
        """Delay before retry number ``attempt`` (1-based): half fixed, half jitter ("equal jitter")."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return ceiling / 2 + ceiling / 2 * rng()


RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504, 520, 521, 522, 523, 524})


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date); ``None`` if absent or garbage."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


@dataclass(frozen=True)
class RetryDecision:
    retry: bool
    delay: float = 0.0
    reason: str = ""


def decide_retry(
    request: ApiRequest,
    outcome: HttpResponse | TransportFailure,
    *,
    attempt: int,
    waited: float,
    policy: RetryPolicy,
    rng: Callable[[], float] = random.random,
) -> RetryDecision:
    """Whether to repeat a failed attempt, and after how long. ``attempt`` counts attempts made so far.

    GETs and DELETEs repeat on 429, 5xx and transport errors. A billed create repeats only on 429 or when
    the request certainly never reached the server: a second POST may bill a second generation.
    """
    if attempt > policy.max_retries:
        return RetryDecision(False, reason="retry budget spent")
    retry_after: float | None = None
    if isinstance(outcome, TransportFailure):
        if request.billed and may_have_reached_server(outcome):
            return RetryDecision(False, reason="a create may have reached the server")
        reason = f"{outcome.kind.value}: {outcome.detail}"
    else:
        status = outcome.status
        if status not in RETRYABLE_STATUSES or _is_gateway_invalid_request(outcome):
            return RetryDecision(False, reason=f"HTTP {status} is not retryable")
        if request.billed and may_have_reached_server(outcome):
            return RetryDecision(False, reason="a create may have reached the server")
        reason = f"HTTP {status}"
        if status == 429:
            retry_after = parse_retry_after(outcome.headers.get("retry-after"))
            if retry_after is not None and retry_after > policy.max_retry_after:
                return RetryDecision(False, reason=f"server asked to wait {retry_after:.0f}s")
    delay = retry_after if retry_after is not None else policy.backoff(attempt, rng)
    if waited + delay > policy.max_total_wait:
        return RetryDecision(False, reason="retry time budget spent")
    return RetryDecision(True, delay=delay, reason=reason)


def _is_gateway_invalid_request(response: HttpResponse) -> bool:
    return response.status == 500 and b"invalid_request" in response.body[:4096]


def may_have_reached_server(outcome: HttpResponse | TransportFailure) -> bool:
    """After a failed attempt: may the server have acted on the request all the same?

    The one rule by which a billed create is never repeated (:func:`decide_retry`) and its failure is
    reported as uncertain rather than refused (:func:`error_for`). No: nothing was sent (refused, DNS, a
    connect timeout), a 429, or an answer a server gives before it acts (4xx, a redirect, the gateway's
    500 ``invalid_request``). Yes: a timeout or a broken connection once sending began, a 5xx, a CDN's 52x.
    """
    if isinstance(outcome, TransportFailure):
        return outcome.kind is not TransportKind.NOT_SENT
    status = outcome.status
    return (status >= 500 or status in RETRYABLE_STATUSES - {429}) and not _is_gateway_invalid_request(
        outcome
    )


def create_may_have_billed(error: BaseException) -> bool:
    """After a create raised ``error``: may a remote task exist, and be billed?

    Only :class:`RunwaySubmitUncertainError` says so among the provider's errors (what
    :func:`may_have_reached_server` says of the last attempt, or a 2xx whose id was lost); every other one
    is a refusal that created nothing. Anything else (the worker's ``execution_timeout``, an interrupt) may
    have struck while the POST was on the wire.
    """
    return isinstance(error, RunwaySubmitUncertainError) or not isinstance(error, RunwayError)


def prepare(settings: ConnectionSettings, request: ApiRequest, agent: str) -> PreparedRequest:
    content = None
    if request.body is not None:
        content = json.dumps(request.body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return PreparedRequest(
        method=request.method,
        url=settings.url(request.path),
        headers=build_headers(settings, agent, json_body=content is not None),
        content=content,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        verify=settings.verify,
    )


def exchange(
    settings: ConnectionSettings,
    request: ApiRequest,
    *,
    agent: str,
    policy: RetryPolicy | None = None,
    rng: Callable[[], float] = random.random,
) -> Generator[Action, Outcome, Any]:
    """Drive one API call: yields :class:`Send` and :class:`Wait`, receives what each send produced.

    Returns the decoded JSON body (``None`` for an empty 2xx), or raises the project's error.
    """
    policy = policy or RetryPolicy(max_retries=settings.max_retries)
    prepared = prepare(settings, request, agent)
    outcome, attempt = yield from attempts(request, prepared, policy=policy, rng=rng)
    if is_success(outcome):
        assert isinstance(outcome, HttpResponse)
        if request.task_id and _is_missing_task_answer(outcome.body):
            # the gateway may say task_not_exist with a 200: the grace window applies all the same
            raise error_for(settings, request, outcome, attempts=attempt)
        return decode_success(settings, request, outcome)
    raise error_for(settings, request, outcome, attempts=attempt)


def is_success(outcome: Outcome) -> bool:
    return isinstance(outcome, HttpResponse) and 200 <= outcome.status < 300


def attempts(
    request: ApiRequest,
    prepared: PreparedRequest,
    *,
    policy: RetryPolicy,
    rng: Callable[[], float] = random.random,
) -> Generator[Action, Outcome, tuple[HttpResponse | TransportFailure, int]]:
    """The one retry loop, for API calls and downloads alike: send, and while :func:`decide_retry` repeats
    a failed attempt, wait and send again.

    :return: the last outcome (a 2xx, or the failure that is not repeated) and the number of attempts.
    """
    attempt = 0
    waited = 0.0
    while True:
        attempt += 1
        outcome = yield Send(prepared, attempt)
        if outcome is None:  # pragma: no cover - a runner bug
            raise RuntimeError("attempts() was resumed without an outcome after Send")
        if is_success(outcome):
            return outcome, attempt
        decision = decide_retry(request, outcome, attempt=attempt, waited=waited, policy=policy, rng=rng)
        if not decision.retry:
            return outcome, attempt
        waited += decision.delay
        yield Wait(
            decision.delay, f"{request.method} {request.path} failed ({decision.reason}); retry {attempt}"
        )


def _is_missing_task_answer(body: bytes) -> bool:
    """A 2xx body that is the gateway's task_not_exist marker rather than a task."""
    if not is_task_not_exist(body):
        return False
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return True
    if not isinstance(data, Mapping) or "status" in data:
        return not isinstance(data, Mapping)
    inner = data.get("data")
    return not (isinstance(inner, Mapping) and inner.get("status"))


def decode_success(settings: ConnectionSettings, request: ApiRequest, response: HttpResponse) -> Any:
    if response.status == 204 or not response.body.strip():
        return None
    if _looks_like_html(response):
        raise RunwayConfigurationError(
            f"Connection {settings.conn_id!r}: {settings.base_url} answered {request.method} {request.path} "
            "with an HTML page, not the Runway API's JSON; check the base URL"
        )
    try:
        return json.loads(response.body)
    except (ValueError, UnicodeDecodeError):
        if request.billed:
            # A 2xx means the server took the create: the task exists and is billed, only its id was lost.
            raise RunwaySubmitUncertainError(
                f"Create {request.method} {request.path} on connection {settings.conn_id!r} answered HTTP "
                f"{response.status} with malformed JSON ({_body_snippet(response.body)}). The task may exist "
                "and be billed, so it was NOT retried: check Runway's dashboard before running it again.",
                endpoint=request.path,
            ) from None
        raise RunwayProtocolError(
            f"malformed JSON in the answer ({_body_snippet(response.body)})",
            status_code=response.status,
            method=request.method,
            path=request.path,
        ) from None


def _looks_like_html(response: HttpResponse) -> bool:
    content_type = response.headers.get("content-type", "").lower()
    head = response.body[:256].lstrip().lower()
    return "text/html" in content_type or head.startswith((b"<!doctype html", b"<html"))


def _server_message(data: Any) -> tuple[str, list[dict[str, Any]]]:
    """The human message and the field issues from any of the API's error shapes."""
    issues: list[dict[str, Any]] = []
    if isinstance(data, Mapping):
        raw_issues = data.get("issues")
        if isinstance(raw_issues, list):
            issues = [i for i in raw_issues if isinstance(i, dict)]
        err = data.get("error")
        if isinstance(err, Mapping):  # the gateway: {"error": {"code", "message", "type"}}
            message = err.get("message") or err.get("code")
            code = err.get("code")
            text = str(message) if message else _snippet(err)
            if code and str(code) not in text:
                text = f"{text} ({code})"
            return text, issues
        if isinstance(err, str) and err:
            return err, issues
        for key in ("message", "detail", "code"):
            if isinstance(data.get(key), str) and data.get(key):
                return str(data[key]), issues
    return _snippet(data), issues


def error_for(
    settings: ConnectionSettings,
    request: ApiRequest,
    outcome: HttpResponse | TransportFailure,
    *,
    attempts: int,
) -> RunwayError:
    """The one mapping from a final failed attempt to the project's exception."""
    where = f"{request.method} {request.path}"
    tries = f" after {attempts} attempt(s)" if attempts > 1 else ""
    if isinstance(outcome, TransportFailure):
        if request.billed and may_have_reached_server(outcome):
            return RunwaySubmitUncertainError(
                f"Create {where} on connection {settings.conn_id!r} got no answer ({outcome.kind.value}: "
                f"{outcome.detail}). The task may exist and be billed, so it was NOT retried: check Runway's "
                "dashboard (or the gateway's logs) before running it again.",
                endpoint=request.path,
            )
        return RunwayTransportError(
            f"{where} on connection {settings.conn_id!r} ({settings.base_url}) failed{tries}: "
            f"{outcome.kind.value}: {outcome.detail}"
        )
    status = outcome.status
    if 300 <= status < 400:
        location = outcome.headers.get("location", "")
        return RunwayConfigurationError(
            f"Connection {settings.conn_id!r}: {settings.base_url} answered {where} with a redirect "
            f"(HTTP {status}{' to ' + location if location else ''}); check the base URL"
        )
    try:
        data: Any = json.loads(outcome.body) if outcome.body.strip() else None
    except (ValueError, UnicodeDecodeError):
        data = None
    if data is None and _looks_like_html(outcome):
        if status in (404, 405):
            message = "the URL answered with an HTML page; check the connection's base URL"
            return RunwayNotFoundError(message, status_code=status, method=request.method, path=request.path)
        return RunwayConfigurationError(
            f"Connection {settings.conn_id!r}: {settings.base_url} answered {where} with an HTML page "
            f"(HTTP {status}), not the Runway API; check the base URL"
        )
    message, issues = _server_message(data) if data is not None else (_body_snippet(outcome.body), [])
    if settings.api_key and settings.api_key in message:  # a server that echoes the key back
        message = message.replace(settings.api_key, "***")
    if settings.api_key and data is not None and settings.api_key in json.dumps(data, default=str):
        data = json.loads(json.dumps(data, default=str).replace(settings.api_key, "***"))
    kwargs: dict[str, Any] = {
        "status_code": status,
        "method": request.method,
        "path": request.path,
        "body": data,
        "issues": issues,
    }
    if is_task_not_exist(outcome.body):
        not_found = RunwayNotFoundError(f"task_not_exist: {message}", **kwargs)
        not_found.task_not_exist = True  # type: ignore[attr-defined]
        return not_found
    if request.billed and may_have_reached_server(outcome):
        return RunwaySubmitUncertainError(
            f"Create {where} on connection {settings.conn_id!r} answered HTTP {status} ({message}). The task "
            "may exist and be billed, so it was NOT retried: check Runway's dashboard before running it again.",
            endpoint=request.path,
        )
    if status in (401, 403):
        return RunwayAuthError(
            f"{message} (connection {settings.conn_id!r}: check the API key, or the account's status)",
            **kwargs,
        )
    if status == 404:
        return RunwayNotFoundError(message, **kwargs)
    if status == 429:
        return RunwayRateLimitError(
            message + tries, retry_after=parse_retry_after(outcome.headers.get("retry-after")), **kwargs
        )
    if status >= 500:
        return RunwayServerError(message + tries, **kwargs)
    return RunwayAPIError(message, **kwargs)
