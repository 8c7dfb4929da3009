"""What on_kill may cancel, and what a failed DELETE means (core.kill)."""

from __future__ import annotations

import pytest

from airflow_provider_runway.core.exchange import HttpResponse, create_may_have_billed, error_for
from airflow_provider_runway.core.kill import cancel_result, kill_decision, may_cancel
from airflow_provider_runway.core.task import RunwayTask
from airflow_provider_runway.exceptions import (
    RunwayAPIError,
    RunwayAuthError,
    RunwaySubmitUncertainError,
    RunwayValidationError,
)
from tests.unit.core.scripted import DELETE, settings_for

TASK_ID = "17f20503-6c24-4c16-946b-35dbbce2af2f"
OUT_URL = "https://dnznrvs05pmza.cloudfront.net/abc/out.mp4?_jwt=SIGNATURE"
PNG_URI = "https://example.com/frame.png"


# ========================================================================================================
# kill_decision: on_kill cancels only what a person ended
# ========================================================================================================
@pytest.mark.parametrize("state", ["success", "failed", "skipped", "upstream_failed", "removed"])
def test_a_task_instance_a_person_ended_is_cancelled(state):
    for durable in (True, False):
        decision = kill_decision(state, known=True, durable=durable)
        assert decision.cancel and state in decision.reason


def test_a_still_deferred_task_instance_is_not_cancelled_it_moved_to_another_triggerer():
    # apache/airflow#73454: a stalled triggerer that resumes drops triggers it no longer owns via on_kill.
    for durable in (True, False):
        decision = kill_decision("deferred", known=True, durable=durable)
        assert not decision.cancel and "another triggerer" in decision.reason


@pytest.mark.parametrize("state", [None, "scheduled", "queued", "running", "up_for_retry", "restarting"])
def test_a_cleared_or_running_task_instance_keeps_its_task_for_the_next_try_when_durable(state):
    kept = kill_decision(state, known=True, durable=True)
    assert not kept.cancel and "re-attaches" in kept.reason
    # Without the durable record the next try creates anew: the old one would finish unobserved.
    assert kill_decision(state, known=True, durable=False).cancel


def test_an_unknown_task_instance_state_cancels_nothing():
    for state in ("failed", None):
        decision = kill_decision(state, known=False, durable=False)
        assert not decision.cancel and "could not be read" in decision.reason


def test_create_may_have_billed_only_when_the_answer_was_lost():
    assert create_may_have_billed(RunwaySubmitUncertainError("lost", endpoint="/v1/x"))
    assert create_may_have_billed(KeyboardInterrupt())  # e.g. execution_timeout mid-POST
    assert not create_may_have_billed(RunwayAPIError("bad", status_code=400))
    assert not create_may_have_billed(RunwayValidationError("seed", "bad"))


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("PENDING", True),
        ("THROTTLED", True),
        ("RUNNING", True),
        ("NEW_STATE", True),
        ("SUCCEEDED", False),
        ("FAILED", False),
        ("CANCELLED", False),
    ],
)
def test_may_cancel_only_unfinished(status, expected):
    assert may_cancel(RunwayTask(id=TASK_ID, status=status)) is expected


def test_may_cancel_never_without_a_last_seen_status():
    assert may_cancel(None) is False


def api_error(status, body, **kw):
    return error_for(settings_for(), DELETE, HttpResponse(status, kw.get("headers", {}), body), attempts=1)


def test_cancel_result():
    assert cancel_result(api_error(404, b'{"error": "Task not found"}')) == "gone"
    assert cancel_result(api_error(405, b'{"error": "Method not allowed"}')) == "unsupported"
    assert cancel_result(api_error(405, b"")) == "unsupported"
    html = api_error(404, b"<html>Not Found</html>", headers={"content-type": "text/html"})
    assert cancel_result(html) == "unsupported"
    assert cancel_result(api_error(400, b'{"code": "task_not_exist"}')) == "gone"
    with pytest.raises(RunwayAuthError):
        cancel_result(api_error(401, b'{"error": "bad key"}'))
