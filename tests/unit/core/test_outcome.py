"""A finished task's outcome: failure codes classified, and the exception each ending raises (core.outcome)."""

from __future__ import annotations

import pytest

from airflow_provider_runway.core.outcome import (
    FailureCategory,
    classify_failure,
    failure_error,
    next_step,
    nothing_billed,
)
from airflow_provider_runway.core.task import RunwayTask
from airflow_provider_runway.exceptions import (
    RunwayAPIError,
    RunwayAuthError,
    RunwayConfigurationError,
    RunwayCreditBalanceError,
    RunwayError,
    RunwayRateLimitError,
    RunwayTaskFailedError,
    RunwayTaskRejectedError,
    RunwayTransportError,
    RunwayValidationError,
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


# ========================================================================================================
# The last line of a try that created no task
# ========================================================================================================
@pytest.mark.parametrize(
    ("error", "step"),
    [
        (RunwayValidationError("seed", "must be >= 0"), "fix seed, then run the task again"),
        (
            RunwayValidationError("prompt_image[1].uri", "not https"),
            "fix prompt_image[1].uri, then run the task again",
        ),
        (
            RunwayCreditBalanceError("low", balance=3, minimum=10),
            "add credits, or lower min_credit_balance, then run the task again",
        ),
        (
            RunwayAuthError("bad key", status_code=401),
            "check the connection's API key and the account, then run the task again",
        ),
        (
            RunwayRateLimitError("quota", status_code=429),
            "wait for the rate limit (or the daily quota) to reset",
        ),
        (RunwayConfigurationError("no key"), "fix the connection or the setting named above"),
        (RunwayAPIError("bad ratio", status_code=400), "correct what the server named"),
        (RunwayTransportError("refused"), "check that the service is reachable"),
        (RunwayError("anything else"), "fix the cause above, then run the task again"),
        (RunwayConfigurationError("no endpoint", remedy="use Runway direct"), "use Runway direct"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else "",
)
def test_next_step_says_what_to_do_for_each_refusal(error, step):
    assert next_step(error).startswith(step)


def test_nothing_billed_is_one_sentence_saying_what_and_what_to_do():
    line = nothing_billed(RunwayValidationError("seed", "must be >= 0"))
    assert line == "No task was created, so nothing was billed: fix seed, then run the task again."
    assert "\n" not in line
