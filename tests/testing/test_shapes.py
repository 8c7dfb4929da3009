"""``testing/_shapes.py``: each flavor's wire shapes (errors, tasks, the gateway's envelope)."""

from __future__ import annotations

import json

import pytest

from airflow_provider_runway.testing._config import SimConfig
from airflow_provider_runway.testing._errors import SimError
from airflow_provider_runway.testing._schema import Issue
from airflow_provider_runway.testing._shapes import (
    DOC_URL,
    created_body,
    envelope_body,
    error_response,
    gateway_time,
    iso,
    not_found,
    storage_error,
    task_body,
    task_not_exist,
    unauthorized,
)
from airflow_provider_runway.testing._tasks import Task

ISSUE = Issue("too_big", ("promptText",), "String must contain at most 1000 character(s)")


def task(endpoint: str = "image_to_video", **fields: object) -> Task:
    base: dict[str, object] = {"created": 0.0, "pending_end": 0.0, "run_start": 1.0, "run_end": 5.0}
    return Task("t1", endpoint, "gen4_turbo", {}, estimated_credits=25, **{**base, **fields})  # type: ignore[arg-type]


def test_runway_errors_carry_issues_and_the_doc_url() -> None:
    response = error_response(
        "runway", SimError(400, "Validation of body failed", issues=[ISSUE]), [("X-A", "1")]
    )
    assert json.loads(response.body) == {
        "error": "Validation of body failed",
        "issues": [ISSUE.as_json()],
        "docUrl": DOC_URL,
    }
    assert response.headers == [("X-A", "1")]
    assert json.loads(error_response("runway", SimError(404, "Not found.")).body) == {"error": "Not found."}


def test_gateway_errors_fold_issues_into_the_message() -> None:
    exc = SimError(
        400, "Validation of body failed", issues=[ISSUE], code="invalid_request", headers={"Allow": "GET"}
    )
    response = error_response("gateway", exc)
    assert json.loads(response.body) == {
        "error": {
            "code": "invalid_request",
            "message": "Validation of body failed: promptText: String must contain at most 1000 character(s)",
            "type": "comet_api_error",
        }
    }
    assert response.headers == [("Allow", "GET")]


@pytest.mark.parametrize("flavor", ["runway", "gateway"])
def test_not_found_and_unauthorized_per_flavor(flavor: str) -> None:
    assert not_found(flavor, "GET", "/v1/x").status == 404
    assert unauthorized(flavor).status == 401
    assert (not_found(flavor, "GET", "/v1/x").code == "not_found") is (flavor == "gateway")


def test_task_not_exist_and_storage_errors() -> None:
    answer = task_not_exist()
    assert answer.status == 400 and json.loads(answer.body)["code"] == "task_not_exist"
    xml = storage_error(SimError(403, "Request has expired", code="AccessDenied"))
    assert xml.content_type == "application/xml" and b"<Code>AccessDenied</Code>" in xml.body


def test_created_body_per_flavor_and_endpoint() -> None:
    assert created_body("gateway", task()) == {"id": "t1"}
    assert created_body("runway", task()) == {"id": "t1", "estimatedCost": {"credits": 25}}
    assert created_body("runway", task("avatar_videos")) == {"id": "t1"}
    routed = created_body("runway", task("generate/video"))
    assert routed["routing"]["estimatedCost"] == {"credits": 25}


def test_task_body_adds_costs_only_on_runway_direct() -> None:
    running = task_body("runway", task(), "RUNNING", 0.5, output=[], cost=0)
    assert running == {
        "id": "t1",
        "status": "RUNNING",
        "createdAt": iso(0),
        "progress": 0.5,
        "estimatedCost": {"credits": 25},
    }
    failed = task_body("gateway", task(failure_code="INTERNAL"), "FAILED", 1.0, output=[], cost=0)
    assert failed["failureCode"] == "INTERNAL" and "cost" not in failed
    done = task_body("runway", task(), "SUCCEEDED", 1.0, output=["u"], cost=25)
    assert (done["output"], done["cost"]) == (["u"], {"credits": 25})


@pytest.mark.parametrize(
    ("status", "outer", "progress"),
    [
        ("PENDING", "SUBMITTED", "0%"),
        ("THROTTLED", "QUEUED", "0%"),
        ("RUNNING", "IN_PROGRESS", "50%"),
        ("SUCCEEDED", "SUCCESS", "100%"),
        ("CANCELLED", "FAILURE", "100%"),
    ],
)
def test_the_envelope_maps_statuses(status: str, outer: str, progress: str) -> None:
    config = SimConfig(envelope_queued_status="SUBMITTED", envelope_inner_id="same")
    plain = {"id": "t1", "status": status}
    fraction = 0.5 if status == "RUNNING" else 0.0  # what status_of reports with each status
    data = envelope_body(config, task(), plain, status, fraction, now=3.0)["data"]
    assert (data["status"], data["progress"], data["data"]) == (outer, progress, plain)


def test_gateway_times_unix_or_offset_strings() -> None:
    assert gateway_time(SimConfig(), None) == 0
    assert gateway_time(SimConfig(), 12.7) == 12
    strings = SimConfig(envelope_time_format="string")
    assert gateway_time(strings, None) is None
    assert gateway_time(strings, 0) == "1970-01-01T08:00:00+08:00"
