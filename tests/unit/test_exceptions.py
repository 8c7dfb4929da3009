"""The error tree: the module docstring draws it, the classes must match it; messages carry the context."""

from __future__ import annotations

import inspect
import re

import pytest

from airflow_provider_runway import exceptions as exc_module
from airflow_provider_runway._compat import AirflowException, AirflowFailException
from airflow_provider_runway.exceptions import (
    RunwayAPIError,
    RunwayAuthError,
    RunwayConfigurationError,
    RunwayCreditBalanceError,
    RunwayError,
    RunwayNotFoundError,
    RunwayProtocolError,
    RunwayRateLimitError,
    RunwayServerError,
    RunwaySubmitUncertainError,
    RunwayTaskCancelledError,
    RunwayTaskFailedError,
    RunwayTaskRejectedError,
    RunwayTimeoutError,
    RunwayTransportError,
    RunwayValidationError,
)

EXPECTED_PARENTS = {
    RunwayConfigurationError: RunwayError,
    RunwayValidationError: RunwayError,
    RunwayCreditBalanceError: RunwayError,
    RunwayAPIError: RunwayError,
    RunwayAuthError: RunwayAPIError,
    RunwayNotFoundError: RunwayAPIError,
    RunwayRateLimitError: RunwayAPIError,
    RunwayServerError: RunwayAPIError,
    RunwayProtocolError: RunwayAPIError,
    RunwayTransportError: RunwayError,
    RunwaySubmitUncertainError: RunwayTransportError,
    RunwayTaskFailedError: RunwayError,
    RunwayTaskRejectedError: RunwayTaskFailedError,
    RunwayTaskCancelledError: RunwayError,
    RunwayTimeoutError: RunwayError,
}


def docstring_tree() -> dict[str, str]:
    """child -> parent, read from the tree drawn in the module docstring."""
    parents: dict[str, str] = {}
    stack = ["RunwayError"]
    for line in (exc_module.__doc__ or "").splitlines():
        match = re.match(r"^(?P<prefix>[\s│]*)[├└]── (?P<name>Runway\w+)", line)
        if not match:
            continue
        depth = (len(match["prefix"]) - 4) // 4  # the tree is indented four spaces in the docstring
        del stack[depth + 1 :]
        parents[match["name"]] = stack[depth]
        stack.append(match["name"])
    return parents


def test_runway_error_is_an_airflow_exception():
    assert issubclass(RunwayError, AirflowException)


@pytest.mark.parametrize(("child", "parent"), EXPECTED_PARENTS.items(), ids=lambda c: c.__name__)
def test_tree(child, parent):
    assert parent in child.__bases__


def test_docstring_draws_the_real_tree():
    drawn = docstring_tree()
    for child, parent in EXPECTED_PARENTS.items():
        assert drawn[child.__name__] == parent.__name__
    for child_name, parent_name in drawn.items():  # classes added later must be drawn where they are
        assert getattr(exc_module, child_name).__bases__[0] is getattr(exc_module, parent_name)
    defined = {
        name
        for name, obj in inspect.getmembers(exc_module, inspect.isclass)
        if issubclass(obj, RunwayError) and obj is not RunwayError
    }
    assert defined == set(drawn), "every error class is drawn in the docstring, and nothing else"


def test_rejected_is_airflow_fail_exception_and_a_task_failure():
    err = RunwayTaskRejectedError(
        "t1", failure="moderated", failure_code="SAFETY.INPUT", category="moderation"
    )
    assert isinstance(err, AirflowFailException)
    assert isinstance(err, RunwayTaskFailedError) and isinstance(err, RunwayError)
    assert not issubclass(RunwayTaskFailedError, AirflowFailException)
    with pytest.raises(AirflowFailException):
        raise err


def test_validation_error_is_value_error_naming_field():
    err = RunwayValidationError("prompt_image[1].uri", "URLs must use https")
    assert isinstance(err, ValueError)
    assert err.field == "prompt_image[1].uri" and err.reason == "URLs must use https"
    assert str(err) == "Invalid prompt_image[1].uri: URLs must use https"


def test_api_error_message_has_method_path_status_and_issues():
    err = RunwayAPIError(
        "Validation of body failed",
        status_code=400,
        method="POST",
        path="/v1/image_to_video",
        body={"error": "Validation of body failed"},
        issues=[
            {"path": ["promptImage"], "message": "Invalid url"},
            {"path": ["promptImage", 0, "uri"], "message": "Too long"},
            {"path": [], "message": "Body-level"},
            "not a dict",
        ],
    )
    text = str(err)
    assert "HTTP 400" in text and "POST /v1/image_to_video" in text and "Validation of body failed" in text
    assert "promptImage: Invalid url" in text and "promptImage.0.uri: Too long" in text
    assert "?: Body-level" in text
    assert err.http_status == 400 and err.method == "POST" and err.path == "/v1/image_to_video"
    assert err.server_message == "Validation of body failed"
    assert err.body == {"error": "Validation of body failed"}


def test_api_error_caps_issue_list():
    issues = [{"path": [f"f{i}"], "message": "bad"} for i in range(25)]
    text = str(RunwayAPIError("bad", status_code=400, issues=issues))
    assert "f9: bad" in text and "f10:" not in text


def test_api_error_without_context():
    assert str(RunwayAPIError("boom")) == "Runway API error: boom"
    assert str(RunwayAPIError("boom", status_code=502)) == "Runway API HTTP 502: boom"
    assert "on /v1/tasks/x" in str(RunwayAPIError("boom", path="/v1/tasks/x"))


def test_rate_limit_keeps_retry_after_and_api_fields():
    err = RunwayRateLimitError(
        "slow down", retry_after=12.5, status_code=429, method="GET", path="/v1/tasks/x"
    )
    assert err.retry_after == 12.5 and err.http_status == 429
    assert "HTTP 429" in str(err) and "GET /v1/tasks/x" in str(err)


def test_task_failed_message():
    err = RunwayTaskFailedError("t1", failure="GPU fell over", failure_code="INTERNAL", category="transient")
    assert str(err) == "Runway task t1 failed [INTERNAL; transient]: GPU fell over"
    bare = RunwayTaskFailedError("t2", failure=None, failure_code=None, category="transient")
    assert "no failure code" in str(bare) and "no reason given" in str(bare)


def test_submit_uncertain_and_cancelled_and_timeout():
    err = RunwaySubmitUncertainError("lost answer", endpoint="/v1/image_to_video")
    assert err.endpoint == "/v1/image_to_video" and err.task_id is None
    assert isinstance(err, RunwayTransportError)
    # Airflow must not retry it either: a retry would POST again and could bill a second generation.
    assert isinstance(err, AirflowFailException)
    assert str(RunwayTaskCancelledError("t1")) == "Runway task t1 was cancelled"
    assert str(RunwayTaskCancelledError("t1", "by the gateway")).endswith(": by the gateway")
    assert RunwayTimeoutError("t1", "deadline passed").task_id == "t1"


def test_conclude_ends_the_message_once_with_a_full_stop_between():
    error = RunwayValidationError("seed", "must be >= 0, got -3")
    line = "No task was created, so nothing was billed: fix seed, then run the task again."
    error.conclude(line)
    error.conclude(line)  # a second wrapper (or a re-raise) does not repeat it
    assert str(error) == f"Invalid seed: must be >= 0, got -3. {line}"
    assert error.field == "seed" and error.reason == "must be >= 0, got -3"
    already = RunwayError("Refused.")
    already.conclude("Nothing billed.")
    assert str(already) == "Refused. Nothing billed."
