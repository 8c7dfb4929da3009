"""From a finished task to its Airflow outcome: status -> event -> success or the exception that ends the try.

The wait loop (:func:`airflow_provider_runway.polling.watch`) ends in exactly one event (:func:`event`), a
plain JSON dict the trigger can fire; :func:`finish_event` turns it into the manifest of a success, or
raises, for the operators and the sensor alike, deferred or not. :func:`outcome_error` is the one map of a
finished task to its exception.

A FAILED task's failure code is classified by its most general segments: moderation and invalid assets
are rejections an automatic retry cannot fix (:class:`~airflow_provider_runway.exceptions.RunwayTaskRejectedError`,
no Airflow retry); anything else is a failure Airflow may retry.

A try that ends before any Runway task exists (a bad argument, the credit floor, a create the server
refused) ends its message with :func:`nothing_billed`: that nothing was billed, and what to do next.
"""

from __future__ import annotations

import enum
from typing import Any

from airflow_provider_runway.core.task import RunwayTask, TaskStatus
from airflow_provider_runway.exceptions import (
    RunwayAPIError,
    RunwayAuthError,
    RunwayConfigurationError,
    RunwayCreditBalanceError,
    RunwayError,
    RunwayRateLimitError,
    RunwayTaskCancelledError,
    RunwayTaskFailedError,
    RunwayTaskNotVisibleError,
    RunwayTaskRejectedError,
    RunwayTimeoutError,
    RunwayTransportError,
    RunwayValidationError,
)


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
# Events: how a wait ends, and what it means
# --------------------------------------------------------------------------------------------------------
#: Event statuses a trigger can send; the operator accepts nothing else. ``not_visible``: the gateway still
#: answers ``task_not_exist`` for the task at ``visible_by``.
EVENT_STATUSES = frozenset({"succeeded", "failed", "cancelled", "timeout", "error", "not_visible"})


def event(
    status: str, task_id: str, *, task: RunwayTask | None = None, message: str = "", **extra: Any
) -> dict:
    if status not in EVENT_STATUSES:
        raise ValueError(f"unknown event status {status!r}")
    return {
        "status": status,
        "runway_task_id": task_id,
        "task": task.to_dict() if task is not None else None,
        "message": message,
        **extra,
    }


def withhold_output_urls(event_data: dict[str, Any]) -> dict[str, Any]:
    """The event as a trigger fires it: without the outputs' signed URLs, only their number.

    The triggerer logs every event whole ("Trigger fired event", in the task's log and its own) and keeps it
    in the metadata database until the task resumes, and a signed URL is a credential to the output for a
    day or two. The resumed task reads them afresh: :meth:`RunwayHook.restore_outputs` (one GET).
    """
    task = event_data.get("task")
    if event_data.get("status") != "succeeded" or not task or not task.get("outputs"):
        return event_data  # only a success is read back; any other outcome keeps its task as it was
    return {**event_data, "task": {**task, "outputs": []}, "outputs_withheld": len(task["outputs"])}


def manifest_from(
    task: RunwayTask, event_data: dict[str, Any], *, endpoint: str | None, model: str | None
) -> dict:
    """The small JSON manifest returned to XCom for a SUCCEEDED task."""
    timing = event_data.get("timing") or {}
    return {
        "runway_task_id": task.id,
        "endpoint": endpoint,
        "model": model,
        "status": task.status,
        "created_at": task.created_at.isoformat() if task.created_at else None,
        "queued_seconds": timing.get("queued_seconds"),
        "running_seconds": timing.get("running_seconds"),
        "throttled_seconds": timing.get("throttled_seconds"),
        "polls": timing.get("polls"),
        "outputs": [{"index": n, "url": url} for n, url in enumerate(task.outputs)],
        "estimated_credits": task.estimated_credits,
        "cost_credits": task.cost_credits,
    }


def finish_event(event_data: Any, *, endpoint: str | None = None, model: str | None = None) -> dict[str, Any]:
    """Map a final event (from the trigger or the sync loop) to a manifest, or raise the outcome's error.

    Only known event statuses are accepted: anything else is an error, never a silent success.
    """
    if not isinstance(event_data, dict) or event_data.get("status") not in EVENT_STATUSES:
        raise RunwayError(f"Unexpected event from the Runway trigger: {str(event_data)[:300]}")
    status = event_data["status"]
    task_id = str(event_data.get("runway_task_id"))
    task = RunwayTask.from_dict(event_data["task"]) if event_data.get("task") else None
    if status == "timeout":
        raise RunwayTimeoutError(task_id, event_data.get("message") or f"Runway task {task_id} timed out")
    if status == "error":
        raise RunwayError(event_data.get("message") or f"Waiting for Runway task {task_id} failed")
    if status == "not_visible":
        raise RunwayTaskNotVisibleError(
            task_id, event_data.get("message") or f"Runway task {task_id} is not visible on the gateway"
        )
    if status == "cancelled":
        # Either the task says CANCELLED, or it vanished (404) after being seen: the event then carries the
        # last task seen, still unfinished. Both mean the remote work was cancelled or deleted.
        raise RunwayTaskCancelledError(task_id, event_data.get("message") or "cancelled or deleted remotely")
    if task is None or task.status.lower() != status:
        raise RunwayError(f"Runway event {status!r} for task {task_id} does not carry a matching task")
    error = outcome_error(task)
    if error is not None:
        raise error
    return manifest_from(task, event_data, endpoint=endpoint, model=model)


# --------------------------------------------------------------------------------------------------------
# The last line of a try that created no task
# --------------------------------------------------------------------------------------------------------
def next_step(error: RunwayError) -> str:
    """What the DAG author does after ``error`` ended a try before any Runway task was created."""
    if error.remedy:
        return error.remedy
    if isinstance(error, RunwayValidationError):
        return f"fix {error.field}, then run the task again"
    if isinstance(error, RunwayCreditBalanceError):
        return "add credits, or lower min_credit_balance, then run the task again"
    if isinstance(error, RunwayAuthError):
        return "check the connection's API key and the account, then run the task again"
    if isinstance(error, RunwayRateLimitError):
        return "wait for the rate limit (or the daily quota) to reset; a retry creates the task then"
    if isinstance(error, RunwayConfigurationError):
        return "fix the connection or the setting named above, then run the task again"
    if isinstance(error, RunwayAPIError):
        return "correct what the server named, then run the task again"
    if isinstance(error, RunwayTransportError):
        return "check that the service is reachable; a retry creates the task then"
    return "fix the cause above, then run the task again"


def nothing_billed(error: RunwayError) -> str:
    """The sentence that ends the message of ``error``, raised before any Runway task was created."""
    return f"No task was created, so nothing was billed: {next_step(error)}."
