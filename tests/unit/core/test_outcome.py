"""A finished task's outcome: failure codes classified, and the exception each ending raises (core.outcome)."""

from __future__ import annotations

import pytest

from airflow_provider_runway.core.outcome import FailureCategory, classify_failure, failure_error
from airflow_provider_runway.core.task import RunwayTask
from airflow_provider_runway.exceptions import (
    RunwayTaskFailedError,
    RunwayTaskRejectedError,
)

TASK_ID = "17f20503-6c24-4c16-946b-35dbbce2af2f"
OUT_URL = "https://dnznrvs05pmza.cloudfront.net/abc/out.mp4?_jwt=SIGNATURE"
PNG_URI = "https://example.com/frame.png"


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
    assert classify_failure(code) is category


def failed(code, failure="it broke"):
    return RunwayTask(id=TASK_ID, status="FAILED", failure=failure, failure_code=code)


@pytest.mark.parametrize("code", ["SAFETY.INPUT.TEXT", "INPUT_PREPROCESSING.SAFETY.IMAGE", "ASSET.INVALID"])
def test_failure_error_rejects_moderation_and_invalid_assets(code):
    from airflow_provider_runway._compat import AirflowFailException

    err = failure_error(failed(code))
    assert isinstance(err, RunwayTaskRejectedError)
    assert isinstance(err, AirflowFailException)
    assert err.failure_code == code and err.task_id == TASK_ID
    assert code in str(err) and "it broke" in str(err)


@pytest.mark.parametrize(
    "code", ["INTERNAL", "THIRD_PARTY.UNAVAILABLE", "INTERNAL.BAD_OUTPUT.X", None, "SAFETYNET", "NEW.CODE"]
)
def test_failure_error_other_failures_may_be_retried(code):
    from airflow_provider_runway._compat import AirflowFailException

    err = failure_error(failed(code))
    assert type(err) is RunwayTaskFailedError
    assert not isinstance(err, AirflowFailException)
    assert err.category == classify_failure(code).value
