"""Each fault kind, its path/times/rate matching and its determinism."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from airflow_provider_runway.testing import Simulator
from tests.testing.conftest import I2V, VERSION, client_for


def _create(client: httpx.Client) -> str:
    response = client.post("/v1/image_to_video", json=I2V)
    assert response.status_code == 200, response.text
    return response.json()["id"]


@pytest.mark.parametrize("retry_after", [None, 2, 0.5])
def test_rate_limit_with_and_without_retry_after(runway_simulator_direct, direct, retry_after):
    task_id = _create(direct)
    runway_simulator_direct.control.add_fault(
        "rate_limit", path="tasks_get", times=1, retry_after=retry_after
    )
    limited = direct.get(f"/v1/tasks/{task_id}")
    assert limited.status_code == 429
    assert limited.json()["error"]
    if retry_after is None:
        assert "retry-after" not in limited.headers
    else:
        assert float(limited.headers["retry-after"]) == retry_after
    assert direct.get(f"/v1/tasks/{task_id}").status_code == 200


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_fire_the_given_number_of_times(runway_simulator_direct, direct, status):
    task_id = _create(direct)
    runway_simulator_direct.control.add_fault("http_error", path="tasks_get", times=2, status=status)
    assert [direct.get(f"/v1/tasks/{task_id}").status_code for _ in range(3)] == [status, status, 200]
    fired = runway_simulator_direct.control.accounting()["faults_fired"]
    assert [entry["kind"] for entry in fired] == ["http_error", "http_error"]


def test_gateway_500_invalid_request(runway_simulator, gateway):
    runway_simulator.control.add_fault("http_error", path="create", status=500, code="invalid_request")
    response = gateway.post("/v1/image_to_video", json=I2V)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.json()["error"]["type"] == "comet_api_error"
    assert runway_simulator.control.accounting()["creates"] == []


def test_connection_reset(runway_simulator_direct, direct):
    task_id = _create(direct)
    runway_simulator_direct.control.add_fault("reset", path="tasks_get", times=1)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        direct.get(f"/v1/tasks/{task_id}")
    assert direct.get(f"/v1/tasks/{task_id}").status_code == 200


def test_hang_never_answers(runway_simulator_direct):
    runway_simulator_direct.control.add_fault("hang", path="organization", times=1)
    with client_for(runway_simulator_direct) as client:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            client.get("/v1/organization", timeout=0.3)
        assert time.monotonic() - started >= 0.3
        assert client.get("/v1/organization").status_code == 200


def test_slow_response_exceeds_client_timeout_but_is_processed(runway_simulator_direct, direct):
    runway_simulator_direct.control.add_fault("slow", path="create", times=1, delay=0.6)
    with pytest.raises(httpx.ReadTimeout):
        direct.post("/v1/image_to_video", json=I2V, timeout=0.2)
    assert len(runway_simulator_direct.control.accounting()["creates"]) == 1
    runway_simulator_direct.control.add_fault("slow", path="tasks_get", times=1, delay=0.3)
    task_id = runway_simulator_direct.control.accounting()["creates"][0]["task_id"]
    started = time.monotonic()
    assert direct.get(f"/v1/tasks/{task_id}").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_malformed_json(runway_simulator_direct, direct):
    task_id = _create(direct)
    runway_simulator_direct.control.add_fault("malformed_json", path="tasks_get", times=1)
    response = direct.get(f"/v1/tasks/{task_id}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_html_redirect_page(runway_simulator, gateway):
    runway_simulator.control.add_fault("html", path="create", location="https://www.cometapi.com/")
    response = gateway.post("/v1/image_to_video", json=I2V)
    assert response.status_code == 301
    assert response.headers["location"] == "https://www.cometapi.com/"
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.lstrip().startswith("<html>")


@pytest.mark.parametrize(
    ("code", "billed"),
    [("SAFETY.INPUT.IMAGE", True), ("INTERNAL.BAD_OUTPUT.CODE01", False), ("ASSET.INVALID", False)],
)
def test_task_failed_with_code(runway_simulator_direct, direct, code, billed):
    runway_simulator_direct.control.add_fault("task_failed", times=1, failure_code=code, failure="It broke.")
    failed = _create(direct)
    fine = _create(direct)
    task = direct.get(f"/v1/tasks/{failed}").json()
    assert task["status"] == "FAILED"
    assert task["failureCode"] == code
    assert task["failure"] == "It broke."
    assert task["cost"]["credits"] == (25 if billed else 0)
    assert direct.get(f"/v1/tasks/{fine}").json()["status"] == "SUCCEEDED"


def test_task_cancelled_outcome(runway_simulator_direct, direct):
    runway_simulator_direct.control.add_fault("task_cancelled", times=1)
    assert direct.get(f"/v1/tasks/{_create(direct)}").json()["status"] == "CANCELLED"


def test_task_stuck_throttled(runway_simulator_direct, direct):
    runway_simulator_direct.control.add_fault("task_stuck_throttled", times=1)
    task_id = _create(direct)
    time.sleep(0.1)
    assert direct.get(f"/v1/tasks/{task_id}").json()["status"] == "THROTTLED"
    assert runway_simulator_direct.control.orphans() == [task_id]


def test_timing_fault_shapes_the_next_task(runway_simulator_direct, direct):
    runway_simulator_direct.control.add_fault("timing", times=1, running_seconds=60)
    slow = _create(direct)
    fast = _create(direct)
    assert direct.get(f"/v1/tasks/{slow}").json()["status"] == "RUNNING"
    assert direct.get(f"/v1/tasks/{fast}").json()["status"] == "SUCCEEDED"


@pytest.mark.parametrize("mode", ["close", "reset", "hang"])
def test_create_lost_task_exists_but_answer_never_arrives(runway_simulator_direct, direct, mode):
    runway_simulator_direct.control.add_fault("create_lost", times=1, mode=mode)
    with pytest.raises(httpx.TransportError):
        direct.post("/v1/image_to_video", json=I2V, timeout=0.3)
    creates = runway_simulator_direct.control.accounting()["creates"]
    assert len(creates) == 1
    assert creates[0]["response_lost"] is True
    assert direct.get(f"/v1/tasks/{creates[0]['task_id']}").json()["status"] == "SUCCEEDED"


def test_path_glob_and_method_filter(runway_simulator_direct, direct):
    task_id = _create(direct)
    runway_simulator_direct.control.add_fault(
        "http_error", path=f"/v1/tasks/{task_id}", method="DELETE", status=503
    )
    assert direct.get(f"/v1/tasks/{task_id}").status_code == 200
    assert direct.delete(f"/v1/tasks/{task_id}").status_code == 503
    runway_simulator_direct.control.clear_faults()
    assert direct.delete(f"/v1/tasks/{task_id}").status_code == 204


def test_files_fault(runway_simulator_direct, direct):
    task_id = _create(direct)
    url = direct.get(f"/v1/tasks/{task_id}").json()["output"][0]
    runway_simulator_direct.control.add_fault("http_error", path="files", times=1, status=502)
    assert httpx.get(url).status_code == 502
    assert httpx.get(url).status_code == 200


def _pattern(seed: int) -> list[int]:
    with (
        Simulator("runway", seed=seed) as sim,
        httpx.Client(base_url=sim.base_url, headers={"Authorization": "Bearer k", **VERSION}) as client,
    ):
        sim.add_fault("http_error", path="organization", rate=0.5, status=503)
        return [client.get("/v1/organization").status_code for _ in range(40)]


def test_rate_is_seeded_and_deterministic():
    first, again, other = _pattern(7), _pattern(7), _pattern(8)
    assert first == again
    assert first != other
    assert 5 < first.count(503) < 35


def test_bad_fault_definitions_are_rejected(runway_simulator_direct):
    with pytest.raises(ValueError, match="unknown fault kind"):
        runway_simulator_direct.control.add_fault("explode")
    with pytest.raises(ValueError, match="takes"):
        runway_simulator_direct.control.add_fault("rate_limit", status=500)
    with pytest.raises(ValueError, match="rate"):
        runway_simulator_direct.control.add_fault("reset", rate=2)


def test_control_routes_are_never_faulted(runway_simulator_direct):
    runway_simulator_direct.control.add_fault("reset")
    assert runway_simulator_direct.http_control.health()["ok"] is True
    assert runway_simulator_direct.http_control.faults()[0]["kind"] == "reset"
