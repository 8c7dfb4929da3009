"""A Runway task: its statuses, the task object, and both shapes an answer comes in.

:func:`parse_task` normalises the plain Runway shape and the CometAPI gateway's envelope into one
:class:`RunwayTask`; :func:`task_when_missing` says what the gateway's ``task_not_exist`` means (not
visible yet, never "gone"); :func:`parse_created` reads a create's answer.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any, Literal

from airflow_provider_runway.core._text import snippet as _snippet
from airflow_provider_runway.exceptions import (
    RunwayNotFoundError,
    RunwayProtocolError,
    RunwaySubmitUncertainError,
)


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
