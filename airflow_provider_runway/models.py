"""The pure core of the Runway provider: every decision, no I/O.

The hook's sync half (requests) and async half (httpx) both drive :func:`exchange`, a generator that says
what to send and how long to wait, and receives what came back. Whether a status is terminal, whether a
failure is worth an Airflow retry, whether a request may be repeated, which exception to raise: each is
decided once, here, so the two halves cannot drift apart.

Nothing in this module opens a socket, reads a file or imports Airflow's heavy modules.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import enum
import ipaddress
import json
import math
import random
import re
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

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

# --------------------------------------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------------------------------------
GATEWAY_BASE_URL = "https://api.cometapi.com/runwayml"
RUNWAY_DIRECT_BASE_URL = "https://api.dev.runwayml.com"
DEFAULT_BASE_URL = GATEWAY_BASE_URL
DEFAULT_CONN_ID = "runway_default"
DEFAULT_API_VERSION = "2024-11-06"
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 5
#: How long one try waits for a task of its own create that the gateway still answers ``task_not_exist``
#: for ("not visible yet"). Integrations that poll the gateway report minutes of it; its docs say "briefly".
DEFAULT_NOT_EXIST_GRACE = 600.0
#: While a task stays invisible, a warning is logged this often (seconds).
NOT_VISIBLE_WARNING_EVERY = 60.0
#: Runway updates a task at most every 5 s; its SDK polls every 6 s.
DEFAULT_POLL_INTERVAL = 6.0
MIN_REAL_POLL_INTERVAL = 5.0
#: Operator defaults also used by polling.py and media.py; kept here so the operator modules can name
#: them without importing those (DAG files are parsed constantly: see BENCHMARKS.md, import cost).
DEFAULT_MAX_POLL_INTERVAL = 60.0
DEFAULT_MAX_POLL_FAILURES = 5
DEFAULT_MAX_DOWNLOAD_BYTES = 2 * 1024 * 1024 * 1024
TASK_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")

#: Media types of data URIs, by input kind, whatever the model (no GIF; any ``audio/`` type for audio).
MIME_TYPES = {
    "image": frozenset({"image/jpeg", "image/jpg", "image/png", "image/webp"}),
    "video": frozenset({"video/mp4", "video/quicktime", "video/mov"}),
    "audio": frozenset({"audio/mpeg", "audio/mp3", "audio/wav", "audio/x-wav", "audio/mp4", "audio/ogg"}),
}


# --------------------------------------------------------------------------------------------------------
# Statuses and the task object
# --------------------------------------------------------------------------------------------------------
class TaskStatus(str, enum.Enum):
    PENDING = "PENDING"
    THROTTLED = "THROTTLED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


TERMINAL_STATUSES = frozenset(
    {TaskStatus.SUCCEEDED.value, TaskStatus.FAILED.value, TaskStatus.CANCELLED.value}
)
KNOWN_STATUSES = frozenset(s.value for s in TaskStatus)
QUEUED_STATUSES = frozenset({TaskStatus.PENDING.value, TaskStatus.THROTTLED.value})

#: The gateway envelope's outer vocabulary (inferred, see runway-api.md); anything else keeps polling.
GATEWAY_STATUS_MAP = {
    "NOT_START": TaskStatus.PENDING.value,
    "SUBMITTED": TaskStatus.PENDING.value,
    "QUEUED": TaskStatus.PENDING.value,
    "IN_PROGRESS": TaskStatus.RUNNING.value,
    "SUCCESS": TaskStatus.SUCCEEDED.value,
    "FAILURE": TaskStatus.FAILED.value,
}


def is_terminal(status: str) -> bool:
    """Terminal statuses end polling; unknown ones never do (they keep polling until the deadline)."""
    return status in TERMINAL_STATUSES


def is_known_status(status: str) -> bool:
    return status in KNOWN_STATUSES


@dataclass(frozen=True)
class RunwayTask:
    """One Runway task, normalised from either the plain Runway shape or the gateway envelope."""

    id: str
    status: str
    progress: float | None = None
    outputs: tuple[str, ...] = ()
    failure: str | None = None
    failure_code: str | None = None
    created_at: datetime | None = None
    estimated_credits: float | None = None
    cost_credits: float | None = None
    shape: Literal["runway", "gateway", "missing"] = "runway"
    #: False while the gateway still answers ``task_not_exist`` inside the grace window.
    visible: bool = True

    @property
    def terminal(self) -> bool:
        return is_terminal(self.status)

    @property
    def succeeded(self) -> bool:
        return self.status == TaskStatus.SUCCEEDED.value

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (for trigger events and XCom). Output URLs are included: they are needed downstream."""
        return {
            "id": self.id,
            "status": self.status,
            "progress": self.progress,
            "outputs": list(self.outputs),
            "failure": self.failure,
            "failure_code": self.failure_code,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "estimated_credits": self.estimated_credits,
            "cost_credits": self.cost_credits,
            "shape": self.shape,
            "visible": self.visible,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunwayTask:
        created = data.get("created_at")
        return cls(
            id=str(data["id"]),
            status=str(data["status"]),
            progress=data.get("progress"),
            outputs=tuple(data.get("outputs") or ()),
            failure=data.get("failure"),
            failure_code=data.get("failure_code"),
            created_at=parse_timestamp(created) if created else None,
            estimated_credits=data.get("estimated_credits"),
            cost_credits=data.get("cost_credits"),
            shape=data.get("shape", "runway"),
            visible=bool(data.get("visible", True)),
        )

    def describe(self) -> str:
        """A log-safe one-liner: status and progress, never the signed URLs."""
        parts = [self.status]
        if self.progress is not None and not self.terminal:
            parts.append(f"{self.progress * 100:.0f}%")
        if self.outputs:
            parts.append(f"{len(self.outputs)} output(s)")
        if self.failure_code or self.failure:
            parts.append(f"[{self.failure_code or 'no code'}] {self.failure or ''}".strip())
        if not self.visible:
            parts.append("(not visible on the gateway yet)")
        return " ".join(parts)


def parse_timestamp(value: Any) -> datetime | None:
    """Parse ISO-8601 (``Z`` or ``+08:00`` offsets), or unix seconds / milliseconds, into aware UTC."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        if isinstance(value, (int, float)):
            if not math.isfinite(value) or value <= 0:
                return None
            seconds = value / 1000.0 if value > 1e11 else float(value)
            return datetime.fromtimestamp(seconds, tz=timezone.utc)
        if isinstance(value, str):
            text = value.strip()
            if re.fullmatch(r"\d+(\.\d+)?", text):
                return parse_timestamp(float(text))
            if text.endswith(("Z", "z")):
                text = text[:-1] + "+00:00"
            parsed = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=timezone.utc)
            return parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _parse_progress(value: Any) -> float | None:
    """Progress as a fraction 0..1, from a number (0..1) or a percent string such as ``"40%"``."""
    if value is None or isinstance(value, bool):
        return None
    number: float
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        percent = text.endswith("%")
        try:
            number = float(text.rstrip("%").strip())
        except ValueError:
            return None
        if percent:
            number /= 100.0
    else:
        return None
    if not math.isfinite(number):
        return None
    if number > 1.0 and number <= 100.0 and not isinstance(value, str):
        number /= 100.0  # a bare percentage number
    return min(max(number, 0.0), 1.0)


def _parse_credits(value: Any) -> float | None:
    if isinstance(value, Mapping):
        value = value.get("credits")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _parse_outputs(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, (list, tuple)):
        urls = []
        for item in value:
            if isinstance(item, str) and item:
                urls.append(item)
            elif isinstance(item, Mapping) and isinstance(item.get("url") or item.get("uri"), str):
                urls.append(str(item.get("url") or item.get("uri")))
        return tuple(urls)
    return ()


def _optional_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


def _parse_plain_task(
    data: Mapping[str, Any], task_id: str | None, shape: Literal["runway", "gateway"]
) -> RunwayTask:
    status_raw = data.get("status")
    if not isinstance(status_raw, str) or not status_raw.strip():
        raise RunwayProtocolError(f"task has no status: {_snippet(data)}")
    ident = data.get("id", task_id)
    if not isinstance(ident, (str, int)) or isinstance(ident, bool) or str(ident) == "":
        raise RunwayProtocolError(f"task has no id: {_snippet(data)}")
    return RunwayTask(
        id=str(ident),
        status=status_raw.strip().upper(),
        progress=_parse_progress(data.get("progress")),
        outputs=_parse_outputs(data.get("output")),
        failure=_optional_text(data.get("failure")),
        failure_code=_optional_text(data.get("failureCode")),
        created_at=parse_timestamp(data.get("createdAt")),
        estimated_credits=_parse_credits(data.get("estimatedCost")),
        cost_credits=_parse_credits(data.get("cost")),
        shape=shape,
    )


def parse_task(payload: Any, *, task_id: str | None = None) -> RunwayTask:
    """Normalise a task answer, plain or wrapped in the gateway's envelope.

    :raises RunwayProtocolError: when the payload is neither shape (the only error it raises).
    """
    if not isinstance(payload, Mapping):
        raise RunwayProtocolError(f"expected a JSON object for a task, got {type(payload).__name__}")
    envelope = payload.get("data")
    if "status" not in payload and isinstance(envelope, Mapping):
        return _parse_envelope(payload, envelope, task_id)
    if "status" not in payload and "code" in payload:
        message = _optional_text(payload.get("message")) or _optional_text(payload.get("code"))
        raise RunwayProtocolError(f"gateway answered code {payload.get('code')!r} without a task: {message}")
    return _parse_plain_task(payload, task_id, "runway")


def _parse_envelope(outer: Mapping[str, Any], data: Mapping[str, Any], task_id: str | None) -> RunwayTask:
    inner = data.get("data")
    # The id we polled by wins: the envelope's own task_id may be the gateway's id, not Runway's.
    ident = task_id or data.get("task_id") or data.get("id")
    if isinstance(inner, Mapping) and isinstance(inner.get("status"), str) and inner.get("status"):
        fields = {"id": ident, **inner}
        if task_id:  # ... over the inner task's own id too: polling by that id would find nothing
            fields["id"] = task_id
        task = _parse_plain_task(fields, task_id, "gateway")
        if not task.outputs:
            task = replace(task, outputs=_parse_outputs(data.get("result_url")))
        if task.progress is None:
            task = replace(task, progress=_parse_progress(data.get("progress")))
        if task.created_at is None:
            task = replace(task, created_at=parse_timestamp(data.get("submit_time")))
        return task
    outer_status = data.get("status")
    if not isinstance(outer_status, str) or not outer_status.strip():
        raise RunwayProtocolError(f"gateway envelope has no status: {_snippet(outer)}")
    if ident is None or str(ident) == "":
        raise RunwayProtocolError(f"gateway envelope has no task id: {_snippet(outer)}")
    upper = outer_status.strip().upper()
    status = GATEWAY_STATUS_MAP.get(upper, upper)
    outputs = _parse_outputs(inner.get("output")) if isinstance(inner, Mapping) else ()
    return RunwayTask(
        id=str(ident),
        status=status,
        progress=_parse_progress(data.get("progress")),
        outputs=outputs or _parse_outputs(data.get("result_url")),
        failure=_optional_text(data.get("fail_reason")),
        failure_code=None,
        created_at=parse_timestamp(data.get("submit_time")),
        shape="gateway",
    )


def _snippet(value: Any, limit: int = 200) -> str:
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


# --------------------------------------------------------------------------------------------------------
# task_not_exist: the gateway's "not visible yet"
# --------------------------------------------------------------------------------------------------------
def is_task_not_exist(body: bytes | str | None) -> bool:
    """The gateway's marker, matched anywhere in the body whatever the status code."""
    if not body:
        return False
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    return "task_not_exist" in text


def task_when_missing(task_id: str, error: RunwayNotFoundError) -> RunwayTask:
    """What a missing task means: the gateway's ``task_not_exist`` is "not visible yet", never "gone".

    The gateway answers it for minutes after a create, and answers it for an id it never had: only the
    caller knows which. The wait loop (:func:`polling.watch`) bounds how long it waits (its ``visible_by``),
    and a re-attach never creates anew because of it. A plain 404 is raised: the task is unknown, or gone
    once it was seen.

    :return: a PENDING task marked ``visible=False``.
    :raises RunwayNotFoundError: for a plain 404.
    """
    if getattr(error, "task_not_exist", False):
        return RunwayTask(id=task_id, status=TaskStatus.PENDING.value, shape="missing", visible=False)
    raise error


# --------------------------------------------------------------------------------------------------------
# Failure classification and the outcome of a finished task
# --------------------------------------------------------------------------------------------------------
class FailureCategory(str, enum.Enum):
    MODERATION = "moderation"
    INVALID_ASSET = "invalid_asset"
    TRANSIENT = "transient"
    BAD_OUTPUT = "bad_output"
    UNKNOWN = "unknown"


_FAILURE_PREFIXES: tuple[tuple[tuple[str, ...], FailureCategory], ...] = (
    (("INPUT_PREPROCESSING", "SAFETY"), FailureCategory.MODERATION),
    (("SAFETY",), FailureCategory.MODERATION),
    (("ASSET", "INVALID"), FailureCategory.INVALID_ASSET),
    (("INTERNAL", "BAD_OUTPUT"), FailureCategory.BAD_OUTPUT),
    (("INPUT_PREPROCESSING", "INTERNAL"), FailureCategory.TRANSIENT),
    (("THIRD_PARTY", "UNAVAILABLE"), FailureCategory.TRANSIENT),
    (("INTERNAL",), FailureCategory.TRANSIENT),
)

#: Categories an automatic retry cannot fix: the Airflow task fails without using its retries.
FINAL_FAILURE_CATEGORIES = frozenset({FailureCategory.MODERATION, FailureCategory.INVALID_ASSET})


def classify_failure(code: str | None) -> FailureCategory:
    """Classify a dotted failure code by its most general segments. A missing code counts as transient."""
    if not code or not code.strip():
        return FailureCategory.TRANSIENT
    segments = tuple(part for part in code.strip().upper().split(".") if part)
    for prefix, category in _FAILURE_PREFIXES:
        if segments[: len(prefix)] == prefix:
            return category
    return FailureCategory.UNKNOWN


def failure_error(task: RunwayTask) -> RunwayTaskFailedError:
    """The exception for a FAILED task: rejected (no Airflow retry) for moderation and invalid assets."""
    category = classify_failure(task.failure_code)
    cls = RunwayTaskRejectedError if category in FINAL_FAILURE_CATEGORIES else RunwayTaskFailedError
    return cls(task.id, failure=task.failure, failure_code=task.failure_code, category=category.value)


def outcome_error(task: RunwayTask) -> RunwayError | None:
    """The one place that maps a terminal task to its Airflow outcome: ``None`` means success."""
    if task.status == TaskStatus.SUCCEEDED.value:
        return None
    if task.status == TaskStatus.FAILED.value:
        return failure_error(task)
    if task.status == TaskStatus.CANCELLED.value:
        return RunwayTaskCancelledError(task.id, "cancelled or deleted on Runway's side")
    raise ValueError(f"outcome_error() called on a non-terminal task ({task.status})")


# --------------------------------------------------------------------------------------------------------
# Connection settings
# --------------------------------------------------------------------------------------------------------
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    name = host.strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _as_bool(value: Any, name: str, conn_id: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "1", "yes", "on"}:
        return True
    if isinstance(value, str) and value.strip().lower() in {"false", "0", "no", "off", ""}:
        return False
    if isinstance(value, int):
        return bool(value)
    raise RunwayConfigurationError(
        f"Connection {conn_id!r}: extra {name!r} must be true or false, got {value!r}"
    )


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything the hook needs from an Airflow connection, validated."""

    conn_id: str
    base_url: str
    api_key: str = field(repr=False)
    api_version: str = DEFAULT_API_VERSION
    read_timeout: float = DEFAULT_READ_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    verify: bool | str = True
    allow_insecure_loopback: bool = False
    #: where the UI's "Runway task" link points; ``{task_id}`` and ``{base_url}`` are filled in
    task_link_template: str | None = None

    def task_link(self, task_id: str) -> str:
        template = self.task_link_template or "{base_url}/v1/tasks/{task_id}"
        return template.replace("{base_url}", self.base_url.rstrip("/")).replace(
            "{task_id}", quote(task_id, safe="")
        )

    @property
    def on_loopback(self) -> bool:
        """The base URL is on this machine (the bundled simulator)."""
        return is_loopback_host(urlsplit(self.base_url).hostname)

    @property
    def looks_like_gateway(self) -> bool:
        """A guess from the URL (the gateway serves under ``/runwayml``); used for wording, not for logic."""
        parts = urlsplit(self.base_url)
        return parts.path.rstrip("/").endswith("/runwayml") or "cometapi" in (parts.hostname or "")

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")


def _extra(extra: Mapping[str, Any], name: str) -> Any:
    for key in (name, f"extra__runway__{name}"):
        if key in extra and extra[key] not in (None, ""):
            return extra[key]
    return None


def normalize_base_url(
    conn_id: str,
    host: str | None,
    *,
    schema: str | None = None,
    port: int | None = None,
    allow_insecure_loopback: bool = False,
) -> str:
    """Turn the connection's host (a full URL, or a bare host from a URI-form connection) into a base URL."""
    raw = (host or "").strip()
    if not raw:
        return DEFAULT_BASE_URL
    if "://" not in raw:
        hostname = raw.split("/", 1)[0].split(":", 1)[0]
        scheme = "http" if allow_insecure_loopback and is_loopback_host(hostname) else "https"
        netloc = raw if port is None or ":" in raw.split("/", 1)[0] else f"{raw.split('/', 1)[0]}:{port}"
        rest = raw.split("/", 1)[1] if "/" in raw else ""
        path = "/".join(p for p in (rest.strip("/"), (schema or "").strip("/")) if p)
        raw = f"{scheme}://{netloc.split('/', 1)[0]}" + (f"/{path}" if path else "")
    try:
        parts = urlsplit(raw)
        parsed_port = parts.port
    except ValueError as err:
        raise RunwayConfigurationError(
            f"Connection {conn_id!r}: malformed base URL {raw!r} ({err})"
        ) from None
    del parsed_port
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise RunwayConfigurationError(
            f"Connection {conn_id!r}: base URL {raw!r} must look like https://host[/path], "
            f"e.g. {GATEWAY_BASE_URL} or {RUNWAY_DIRECT_BASE_URL}"
        )
    if parts.scheme == "http" and not (allow_insecure_loopback and is_loopback_host(parts.hostname)):
        raise RunwayConfigurationError(
            f"Connection {conn_id!r}: base URL {raw!r} uses plain http; only https is allowed "
            "(plain http is accepted for 127.0.0.1/localhost when the extra allow_insecure_loopback is true)"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise RunwayConfigurationError(
            f"Connection {conn_id!r}: base URL {raw!r} must not carry a query, fragment or credentials"
        )
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def settings_from_connection(
    conn_id: str,
    *,
    host: str | None,
    password: str | None,
    extra: Mapping[str, Any] | None,
    schema: str | None = None,
    port: int | None = None,
) -> ConnectionSettings:
    """Validate a connection's fields; every error names the connection id, never the key."""
    extra = extra or {}
    if not isinstance(extra, Mapping):
        raise RunwayConfigurationError(f"Connection {conn_id!r}: extra must be a JSON object")
    api_key = (password or "").strip()
    if not api_key:
        raise RunwayConfigurationError(
            f"Connection {conn_id!r} has no API key: set its password field (labelled 'API key') to a "
            "CometAPI key or a Runway key"
        )
    if any(ch.isspace() for ch in api_key) or not api_key.isprintable():
        raise RunwayConfigurationError(
            f"Connection {conn_id!r}: the API key contains whitespace or control characters"
        )
    allow_loopback = _as_bool(
        _extra(extra, "allow_insecure_loopback") or False, "allow_insecure_loopback", conn_id
    )
    base_url = normalize_base_url(
        conn_id, host, schema=schema, port=port, allow_insecure_loopback=allow_loopback
    )
    version = _extra(extra, "api_version") or DEFAULT_API_VERSION
    if not isinstance(version, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", version.strip()):
        raise RunwayConfigurationError(
            f"Connection {conn_id!r}: extra 'api_version' must be a date like {DEFAULT_API_VERSION}, got {version!r}"
        )
    timeout = _extra(extra, "timeout")
    read_timeout = DEFAULT_READ_TIMEOUT
    if timeout is not None:
        try:
            read_timeout = float(timeout)
        except (TypeError, ValueError):
            read_timeout = float("nan")
        if not math.isfinite(read_timeout) or read_timeout <= 0 or isinstance(timeout, bool):
            raise RunwayConfigurationError(
                f"Connection {conn_id!r}: extra 'timeout' must be a positive number of seconds, got {timeout!r}"
            )
    retries_raw = _extra(extra, "max_retries")
    max_retries = DEFAULT_MAX_RETRIES
    if retries_raw is not None:
        try:
            max_retries = int(retries_raw)
            if isinstance(retries_raw, bool) or max_retries < 0 or max_retries > 100:
                raise ValueError
        except (TypeError, ValueError):
            raise RunwayConfigurationError(
                f"Connection {conn_id!r}: extra 'max_retries' must be a whole number 0-100, got {retries_raw!r}"
            ) from None
    verify_raw = _extra(extra, "verify")
    verify: bool | str = True
    if verify_raw is not None:
        if isinstance(verify_raw, str) and verify_raw.strip().lower() not in {
            "true",
            "false",
            "1",
            "0",
            "yes",
            "no",
            "on",
            "off",
        }:
            verify = verify_raw.strip()  # a CA bundle path
        else:
            verify = _as_bool(verify_raw, "verify", conn_id)
    return ConnectionSettings(
        conn_id=conn_id,
        base_url=base_url,
        api_key=api_key,
        api_version=version.strip(),
        read_timeout=read_timeout,
        connect_timeout=min(DEFAULT_CONNECT_TIMEOUT, read_timeout),
        max_retries=max_retries,
        verify=verify,
        allow_insecure_loopback=allow_loopback,
        task_link_template=_task_link_template(conn_id, _extra(extra, "task_link_template")),
    )


def _task_link_template(conn_id: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith(("https://", "http://", "{base_url}")):
        raise RunwayConfigurationError(
            f"Connection {conn_id!r}: extra 'task_link_template' must be a URL containing {{task_id}}"
        )
    return value


def build_headers(settings: ConnectionSettings, user_agent: str, *, json_body: bool) -> dict[str, str]:
    headers = {
        "Authorization": f"Bearer {settings.api_key}",
        "X-Runway-Version": settings.api_version,
        "Accept": "application/json",
        "User-Agent": user_agent,
    }
    if json_body:
        headers["Content-Type"] = "application/json"
    return headers


def user_agent(provider_version: str, airflow_version: str, python_version: str) -> str:
    return (
        f"airflow-provider-runway/{provider_version} apache-airflow/{airflow_version} python/{python_version}"
    )


# --------------------------------------------------------------------------------------------------------
# The request exchange: requests to send, waits between them, and what each answer means
# --------------------------------------------------------------------------------------------------------
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
        if request.billed and outcome.kind is not TransportKind.NOT_SENT:
            return RetryDecision(False, reason="a create may have reached the server")
        reason = f"{outcome.kind.value}: {outcome.detail}"
    else:
        status = outcome.status
        if status not in RETRYABLE_STATUSES or _is_gateway_invalid_request(outcome):
            return RetryDecision(False, reason=f"HTTP {status} is not retryable")
        if request.billed and status != 429:
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
    attempt = 0
    waited = 0.0
    while True:
        attempt += 1
        outcome = yield Send(prepared, attempt)
        if outcome is None:  # pragma: no cover - a runner bug
            raise RuntimeError("exchange() was resumed without an outcome after Send")
        if isinstance(outcome, HttpResponse) and 200 <= outcome.status < 300:
            if request.task_id and _is_missing_task_answer(outcome.body):
                # the gateway may say task_not_exist with a 200: the grace window applies all the same
                raise error_for(settings, request, outcome, attempts=attempt)
            return decode_success(settings, request, outcome)
        decision = decide_retry(request, outcome, attempt=attempt, waited=waited, policy=policy, rng=rng)
        if not decision.retry:
            raise error_for(settings, request, outcome, attempts=attempt)
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


def _body_snippet(body: bytes, limit: int = 160) -> str:
    text = body[:limit].decode("utf-8", "replace").replace("\n", " ")
    return text + ("…" if len(body) > limit else "")


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
        if request.billed and outcome.kind is not TransportKind.NOT_SENT:
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
    if (
        request.billed
        and (status >= 500 or status in RETRYABLE_STATUSES - {429})
        and not _is_gateway_invalid_request(outcome)
    ):
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


# --------------------------------------------------------------------------------------------------------
# Paths
# --------------------------------------------------------------------------------------------------------
def task_path(task_id: str) -> str:
    if not isinstance(task_id, str) or not TASK_ID_PATTERN.match(task_id):
        raise RunwayValidationError("runway_task_id", f"{task_id!r} is not a Runway task id")
    return f"/v1/tasks/{quote(task_id, safe='')}"


def endpoint_path(endpoint: str) -> str:
    """``image_to_video``, ``/v1/image_to_video`` or ``v1/image_to_video`` → ``/v1/image_to_video``."""
    if not isinstance(endpoint, str):
        raise RunwayValidationError("endpoint", "must be a string such as 'image_to_video'")
    name = endpoint.strip().strip("/")
    if name.startswith("v1/"):
        name = name[3:]
    if not re.fullmatch(r"[a-z0-9_]+(/[a-z0-9_]+)*", name) or name.startswith("tasks"):
        raise RunwayValidationError("endpoint", f"{endpoint!r} is not a Runway generation endpoint")
    return f"/v1/{name}"


def parse_created(payload: Any, endpoint: str) -> tuple[str, float | None]:
    """The id (and estimated credits, when reported) from a create answer."""
    if isinstance(payload, Mapping):
        ident = payload.get("id")
        if ident is None and isinstance(payload.get("data"), Mapping):  # a gateway envelope
            ident = payload["data"].get("task_id") or payload["data"].get("id")
        if isinstance(ident, str) and ident:
            estimate = payload.get("estimatedCost")
            routing = payload.get("routing")
            if estimate is None and isinstance(routing, Mapping):  # the Model Router's generate/*
                estimate = routing.get("estimatedCost")
            return ident, _parse_credits(estimate)
    # A 2xx answer: the server took the create and bills it; only its id is missing.
    raise RunwaySubmitUncertainError(
        f"Create POST {endpoint} answered without a task id ({_snippet(payload)}). The task may exist and be "
        "billed, so it was NOT retried: check Runway's dashboard before running it again.",
        endpoint=endpoint,
    )


def create_may_have_billed(error: BaseException) -> bool:
    """After a create raised ``error``: may a remote task exist, and be billed?

    Only :class:`RunwaySubmitUncertainError` says so among the provider's errors (a timeout or 5xx after the
    request was sent, a 2xx whose id was lost); every other one is a refusal that created nothing. Anything
    else (the worker's ``execution_timeout``, an interrupt) may have struck while the POST was on the wire.
    """
    return isinstance(error, RunwaySubmitUncertainError) or not isinstance(error, RunwayError)


# --------------------------------------------------------------------------------------------------------
# Redaction
# --------------------------------------------------------------------------------------------------------
def redact_url(url: str) -> str:
    """A log-safe form of a signed URL: scheme, host and file name; no query, no token."""
    if not isinstance(url, str):
        return "<not a url>"
    if url.startswith("data:"):
        return f"data:…({len(url)} chars)"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    name = parts.path.rsplit("/", 1)[-1]
    shown = (
        f"{parts.scheme}://{parts.hostname or ''}/…/{name}"
        if name
        else f"{parts.scheme}://{parts.hostname}/…"
    )
    return shown + ("?<signature redacted>" if parts.query else "")


# --------------------------------------------------------------------------------------------------------
# Request bodies: what holds for every model (the rest is Runway's spec: see endpoints/)
# --------------------------------------------------------------------------------------------------------
def check_model(model: Any, field_name: str = "model") -> str:
    if not isinstance(model, str) or not model.strip():
        raise RunwayValidationError(
            field_name, f"must be a non-empty model name such as 'gen4_turbo', got {model!r}"
        )
    if len(model) > 100 or not re.fullmatch(r"[A-Za-z0-9_.\-]+", model.strip()):
        raise RunwayValidationError(field_name, f"{model[:40]!r} is not a model name")
    return model.strip()


def _data_uri_mime(uri: str, field_name: str) -> str:
    """The media type of a data URI, checking that it is base64 that decodes (its length is the spec's
    to judge: ``maxLength`` of the whole URI, per field and model)."""
    match = re.match(r"data:([\w.+-]+/[\w.+-]+)((?:;[\w-]+=[\w.+-]+)*);base64,", uri[:300], re.IGNORECASE)
    if not match:
        raise RunwayValidationError(field_name, "data URIs must look like data:<mime type>;base64,<data>")
    payload = uri[match.end() :]
    if not payload:
        raise RunwayValidationError(field_name, "the data URI is empty")
    try:
        base64.b64decode(payload[: 4096 - (4096 % 4)] if len(payload) > 4096 else payload, validate=True)
    except (binascii.Error, ValueError):
        raise RunwayValidationError(field_name, "the data URI's base64 payload is not valid base64") from None
    return match.group(1).lower()


def check_https_url(uri: str, field_name: str, *, allow_loopback_http: bool = False) -> str:
    """Runway's URL rules that hold for every field: https, a hostname (not an IP address), no whitespace.
    (How long a URL may be is the spec's ``maxLength``, per field.)"""
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        raise RunwayValidationError(field_name, f"malformed URL {redact_url(uri)}") from None
    if parts.scheme == "http" and allow_loopback_http and is_loopback_host(host):
        return uri
    if parts.scheme != "https":
        raise RunwayValidationError(field_name, f"URLs must use https, got {parts.scheme or 'no'} scheme")
    if not host:
        raise RunwayValidationError(field_name, "the URL has no host")
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        raise RunwayValidationError(field_name, "URLs must name a host, not an IP address")
    if any(ch.isspace() for ch in uri):
        raise RunwayValidationError(field_name, "URLs must not contain whitespace")
    return uri


def check_asset_uri(uri: Any, field_name: str, kind: Literal["image", "video", "audio"]) -> str:
    """An input as Runway takes it whatever the model: an https URL, a data URI of the argument's kind
    (no GIF) that decodes, or a ``runway://`` upload URI. Lengths are the spec's (per field and model)."""
    if not isinstance(uri, str) or not uri.strip():
        raise RunwayValidationError(field_name, f"must be a URL or data URI string, got {type(uri).__name__}")
    uri = uri.strip()
    check_utf8(uri, field_name)
    lowered = uri[:16].lower()
    if lowered.startswith("data:"):
        mime = _data_uri_mime(uri, field_name)
        allowed = MIME_TYPES[kind]
        if mime not in allowed and not (kind == "audio" and mime.startswith("audio/")):
            names = ", ".join(sorted(allowed))
            raise RunwayValidationError(field_name, f"{kind} data URIs must be one of {names}, got {mime}")
        return "data:" + uri[len("data:") :]  # the scheme in lower case, as the API matches it
    if lowered.startswith("runway://"):
        if len(uri) <= len("runway://"):
            raise RunwayValidationError(field_name, "the runway:// URI is empty")
        return "runway://" + uri[len("runway://") :]  # the scheme in lower case, as the API matches it
    if lowered.startswith(("https://", "http://")):
        scheme, rest = uri.split("://", 1)
        return check_https_url(f"{scheme.lower()}://{rest}", field_name)
    raise RunwayValidationError(
        field_name,
        "must be an https URL, a data URI or a runway:// upload URI (local files: see media inputs)",
    )


def check_utf8(text: str, field_name: str) -> None:
    """The body is sent as UTF-8: a lone surrogate (e.g. from a broken decode upstream) cannot be."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise RunwayValidationError(
            field_name, f"is not valid Unicode (an unpaired surrogate at position {err.start})"
        ) from None


def check_generic_body(body: Any, field_name: str = "body") -> dict[str, Any]:
    """A body as it goes on the wire: a JSON object, with a valid model name when it names one."""
    if not isinstance(body, Mapping):
        raise RunwayValidationError(field_name, f"must be a dict (the JSON body), got {type(body).__name__}")
    try:
        json.dumps(body)
    except (TypeError, ValueError) as err:
        raise RunwayValidationError(field_name, f"must be JSON-serialisable ({err})") from None
    if "model" in body:
        check_model(body["model"], f"{field_name}.model")
    return dict(body)


def iter_field_paths(issues: Iterable[Mapping[str, Any]]) -> list[str]:
    """Dotted field paths from a 400's ``issues`` list (for messages and tests)."""
    return [".".join(str(p) for p in issue.get("path") or []) for issue in issues]


# --------------------------------------------------------------------------------------------------------
# Cancelling and the organization
# --------------------------------------------------------------------------------------------------------
def may_cancel(last_seen: RunwayTask | None) -> bool:
    """Cancel only a task last seen unfinished: DELETE on a finished task purges its outputs."""
    return last_seen is not None and not last_seen.terminal


#: Airflow task-instance states a person (or the scheduler on their behalf) ends a try with: marked failed
#: or success, skipped, upstream failed, removed from the DAG. The remote generation has no one left to
#: collect it.
ENDED_TI_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})


@dataclass(frozen=True)
class KillDecision:
    cancel: bool
    reason: str


def kill_decision(ti_state: str | None, *, known: bool, durable: bool) -> KillDecision:
    """Whether ``on_kill`` (the trigger's or the synchronous wait's) may cancel the remote task.

    ``on_kill`` runs for a person's action, but also when a stalled triggerer drops triggers that were moved
    to another (apache/airflow#73454), on a worker's graceful shutdown and on ``execution_timeout``. Only
    the task instance's state tells them apart, and when it cannot be learnt nothing is cancelled: an
    unobserved generation that finishes is billed once, a wrongly cancelled one twice. (A fresh GET showing
    the task unfinished is still needed before the DELETE: see :func:`may_cancel`.)

    :param ti_state: the task instance's state in Airflow's database (``None``: no state, e.g. cleared).
    :param known: whether the state could be learnt at all.
    :param durable: whether a next try re-attaches to the same remote task (the durable record).
    """
    if not known:
        return KillDecision(
            False, "its Airflow task instance's state could not be read, so nothing is cancelled"
        )
    if ti_state in ENDED_TI_STATES:
        return KillDecision(True, f"its Airflow task instance was set to {ti_state}")
    if ti_state == "deferred":
        return KillDecision(
            False, "its Airflow task instance is still deferred: the trigger lives on in another triggerer"
        )
    if durable:
        return KillDecision(
            False,
            f"its Airflow task instance is {ti_state or 'cleared (no state)'}: the next try re-attaches to "
            "the same remote task",
        )
    return KillDecision(
        True,
        f"its Airflow task instance is {ti_state or 'cleared'} and durable=False: a next try creates anew",
    )


def cancel_result(error: RunwayAPIError) -> Literal["gone", "unsupported"]:
    """What a failed DELETE means: 404 = already cancelled/deleted; 405 or an HTML 404 = no cancel here."""
    if error.http_status == 405 or (error.http_status == 404 and error.body is None):
        return "unsupported"
    if error.http_status == 404 or getattr(error, "task_not_exist", False):
        return "gone"
    raise error


def is_missing_endpoint(error: RunwayAPIError) -> bool:
    """A 404 or 405 that says the base URL has no such endpoint (e.g. the gateway's missing organization or
    text_to_video), not that a task is unknown: nothing was created or billed."""
    return error.http_status in (404, 405) and not getattr(error, "task_not_exist", False)


def parse_organization(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, Mapping):
        raise RunwayProtocolError(f"the organization answer is not a JSON object: {_snippet(payload)}")
    return dict(payload)


def credit_balance(organization: Mapping[str, Any]) -> float:
    """``creditBalance`` from a ``GET /v1/organization`` answer."""
    value = organization.get("creditBalance")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RunwayProtocolError(
            f"the organization answer has no numeric creditBalance: {_snippet(organization)}"
        )
    return float(value)
