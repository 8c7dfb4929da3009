"""From a finished task to its Airflow outcome: success, or the exception that ends the try.

A FAILED task's failure code is classified by its most general segments: moderation and invalid assets
are rejections an automatic retry cannot fix (:class:`~airflow_provider_runway.exceptions.RunwayTaskRejectedError`,
no Airflow retry); anything else is a failure Airflow may retry.
"""

from __future__ import annotations

import enum

from airflow_provider_runway.core.task import RunwayTask, TaskStatus
from airflow_provider_runway.exceptions import (
    RunwayError,
    RunwayTaskCancelledError,
    RunwayTaskFailedError,
    RunwayTaskRejectedError,
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
