"""What goes on the wire in each flavor: tasks, create answers, the gateway's envelope, and error bodies.

Runway direct answers errors as ``{"error", "issues"?, "docUrl"?}`` and a task with its ``estimatedCost`` or
``cost``; the CometAPI gateway answers ``{"error": {"code", "message", "type": "comet_api_error"}}``, may wrap a
task in its envelope, and says ``task_not_exist`` for a task it cannot see yet. Output files and uploads are
served as a storage bucket would: errors in S3's XML.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from airflow_provider_runway.testing._config import SimConfig
from airflow_provider_runway.testing._endpoints import ACTIONS
from airflow_provider_runway.testing._errors import SimError
from airflow_provider_runway.testing._http import Response, json_response
from airflow_provider_runway.testing._tasks import ACTIVE, DEFAULT_FAILURE, TERMINAL, Task

DOC_URL = "https://docs.dev.runwayml.com/api"
#: The gateway's outer status for each task status (PENDING's is a knob: ``envelope_queued_status``).
ENVELOPE_STATUS = {
    "THROTTLED": "QUEUED",
    "RUNNING": "IN_PROGRESS",
    "SUCCEEDED": "SUCCESS",
    "FAILED": "FAILURE",
    "CANCELLED": "FAILURE",
}


def iso(ts: float) -> str:
    """ISO 8601 UTC with milliseconds and ``Z``, the service's ``createdAt`` format."""
    moment = dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# ----------------------------------------------------------------------------------------------- tasks
def created_body(flavor: str, task: Task) -> dict[str, Any]:
    """The answer to a create. The gateway: the id. Runway direct: the id and the estimate (under
    ``routing`` for the Model Router, which also says which model it chose; none for ``avatar_videos``)."""
    if flavor == "gateway" or task.endpoint == "avatar_videos":
        return {"id": task.id}
    cost = {"credits": task.estimated_credits}
    if not task.endpoint.startswith("generate/"):
        return {"id": task.id, "estimatedCost": cost}
    given = task.body.get("input")
    body_input: dict[str, Any] = given if isinstance(given, dict) else {}
    resolved: dict[str, Any] = {
        "generate/video": {
            "duration": body_input.get("duration", 5),
            "ratio": "1280:720",
            "resolution": "720p",
        },
        "generate/image": {"ratio": "1920:1080", "aspectRatio": "16:9", "resolution": "1k"},
        "generate/audio": {"type": body_input.get("type", "speech"), "voice": "default"},
    }[task.endpoint]
    return {
        "id": task.id,
        "routing": {
            "model": "sim_routed_model",
            "provider": "runway",
            "configId": str(task.body.get("configId", "")),
            "resolvedSettings": {"optimizeFor": "quality", "priceCeiling": None},
            "resolvedInput": resolved,
            "estimatedCost": cost,
        },
    }


def task_body(
    flavor: str, task: Task, status: str, progress: float, *, output: list[str], cost: int
) -> dict[str, Any]:
    """The plain task as the flavor's ``GET /v1/tasks/{id}`` returns it (``output`` when SUCCEEDED; runway
    direct adds the estimate while active, the charged ``cost`` once terminal)."""
    out: dict[str, Any] = {"id": task.id, "status": status, "createdAt": iso(task.created)}
    runway = flavor == "runway"
    if status == "RUNNING":
        out["progress"] = progress
    if status in ACTIVE:
        if runway:
            out["estimatedCost"] = {"credits": task.estimated_credits}
        return out
    if status == "SUCCEEDED":
        out["output"] = output
    elif status == "FAILED":
        out["failure"] = task.failure or DEFAULT_FAILURE
        if task.failure_code:
            out["failureCode"] = task.failure_code
    if runway:
        out["cost"] = {"credits": cost}
    return out


def envelope_body(
    config: SimConfig, task: Task, plain: dict[str, Any], status: str, progress: float, now: float
) -> dict[str, Any]:
    """The gateway's envelope around a task."""
    outer = config.envelope_queued_status if status == "PENDING" else ENVELOPE_STATUS.get(status, "UNKNOWN")
    start = task.run_start if task.run_start <= now else None
    finish = task.run_end if status in TERMINAL and task.run_end <= now else None
    if status in TERMINAL and finish is None:
        finish = task.forced_at or task.cancelled_at or now
    fail_reason = ""
    if status == "FAILED":
        fail_reason = task.failure or "generation failed"
    elif status == "CANCELLED":
        fail_reason = "task cancelled"
    percent = 100 if status in TERMINAL else int(progress * 100)
    data: dict[str, Any] = {
        "task_id": task.id,
        "action": ACTIONS.get(task.endpoint, task.endpoint.upper()),
        "status": outer,
        "fail_reason": fail_reason,
        "submit_time": gateway_time(config, task.created),
        "start_time": gateway_time(config, start),
        "finish_time": gateway_time(config, finish),
        "progress": f"{percent}%",
        "result_url": (plain.get("output") or [""])[0],
    }
    if config.envelope_inner:
        inner = dict(plain)
        if config.envelope_inner_id == "upstream":
            inner["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"runway-upstream/{task.id}"))
        data["data"] = inner
    return {"code": "success", "message": "", "data": data}


def gateway_time(config: SimConfig, ts: float | None) -> int | str | None:
    """A timestamp in the envelope: unix seconds (0 for none) or a ``+08:00`` string (null for none)."""
    if config.envelope_time_format == "unix":
        return int(ts) if ts is not None else 0
    if ts is None:
        return None
    zone = dt.timezone(dt.timedelta(hours=8))
    return dt.datetime.fromtimestamp(ts, tz=zone).isoformat(timespec="seconds")


def task_not_exist() -> Response:
    """The gateway's answer for a task it cannot see (yet): HTTP 400 with ``code: task_not_exist``."""
    return json_response(400, {"code": "task_not_exist", "message": "task_not_exist", "data": None})


# ----------------------------------------------------------------------------------------------- errors
def error_response(flavor: str, exc: SimError, headers: list[tuple[str, str]] | None = None) -> Response:
    """An error in the flavor's shape (``headers`` first, then the error's own)."""
    all_headers = [*(headers or []), *exc.headers.items()]
    if flavor == "gateway":
        message = exc.message
        if exc.issues:
            details = "; ".join(
                f"{'.'.join(str(p) for p in issue.path) or 'body'}: {issue.message}" for issue in exc.issues
            )
            message = f"{message}: {details}"
        body = exc.gateway_body or {
            "error": {"code": exc.code, "message": message, "type": "comet_api_error"}
        }
        return json_response(exc.status, body, all_headers)
    payload: dict[str, Any] = {"error": exc.message}
    if exc.issues:
        payload["issues"] = [issue.as_json() for issue in exc.issues]
        payload["docUrl"] = DOC_URL
    return json_response(exc.status, payload, all_headers)


def not_found(flavor: str, method: str, path: str) -> SimError:
    """No such route."""
    if flavor == "gateway":
        return SimError(404, f"Invalid URL ({method} {path})", code="not_found")
    return SimError(404, "Not found.")


def unauthorized(flavor: str) -> SimError:
    """A missing, malformed or wrong Bearer key."""
    if flavor == "gateway":
        return SimError(401, "Invalid token", code="invalid_api_key")
    return SimError(401, "You must provide a valid API key in the Authorization header.")


def storage_error(exc: SimError) -> Response:
    """An output-file or upload error as a storage bucket answers it (S3's XML)."""
    xml = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{exc.code}</Code><Message>{exc.message}</Message></Error>"
    return Response(exc.status, xml.encode(), "application/xml")
