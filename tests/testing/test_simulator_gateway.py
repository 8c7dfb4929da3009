"""The gateway flavor: prefix, shapes, missing endpoints, ``task_not_exist`` and the envelope."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import httpx
import pytest

from tests.testing.conftest import I2V


def _create(client: httpx.Client) -> str:
    response = client.post("/v1/image_to_video", json=I2V)
    assert response.status_code == 200, response.text
    return response.json()["id"]


def _gateway_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == "comet_api_error"
    assert isinstance(error["message"], str)
    return error


def test_base_url_has_prefix_and_plain_v1_is_not_served(runway_simulator):
    assert runway_simulator.base_url.endswith("/runwayml")
    response = httpx.post(
        f"{runway_simulator.root_url}/v1/image_to_video",
        json=I2V,
        headers={"Authorization": f"Bearer {runway_simulator.api_key}", "X-Runway-Version": "2024-11-06"},
    )
    assert response.status_code == 404


def test_create_and_plain_task_have_no_cost_fields(gateway):
    created = gateway.post("/v1/image_to_video", json=I2V)
    assert set(created.json()) == {"id"}
    task = gateway.get(f"/v1/tasks/{created.json()['id']}").json()
    assert task["status"] == "SUCCEEDED"
    assert "cost" not in task
    assert task["output"][0].startswith("http://")


def test_version_header_required_on_post_only(runway_simulator, gateway):
    headers = {"Authorization": f"Bearer {runway_simulator.api_key}"}
    task_id = _create(gateway)
    assert httpx.get(f"{runway_simulator.base_url}/v1/tasks/{task_id}", headers=headers).status_code == 200
    response = httpx.post(f"{runway_simulator.base_url}/v1/image_to_video", json=I2V, headers=headers)
    assert "X-Runway-Version" in _gateway_error(response, 400)["message"]


def test_wrong_key_is_401_in_gateway_shape(runway_simulator):
    response = httpx.get(
        f"{runway_simulator.base_url}/v1/tasks/{uuid.uuid4()}", headers={"Authorization": "Bearer sk-other"}
    )
    _gateway_error(response, 401)


def test_validation_error_names_field_in_gateway_shape(gateway):
    error = _gateway_error(gateway.post("/v1/image_to_video", json={**I2V, "seed": -5}), 400)
    assert "seed" in error["message"]


def test_gen3a_turbo_gateway_limits(runway_simulator, gateway, direct):
    body = {
        "model": "gen3a_turbo",
        "promptImage": I2V["promptImage"],
        "promptText": "x" * 600,
        "ratio": "1280:768",
    }
    assert "promptText" in _gateway_error(gateway.post("/v1/image_to_video", json=body), 400)["message"]
    # Runway direct does not list gen3a_turbo at all
    refused = direct.post("/v1/image_to_video", json={**body, "promptText": "ok"})
    assert refused.status_code == 400 and refused.json()["issues"][0]["path"] == ["model"]
    seed = {**body, "promptText": "ok", "seed": 1_000_000_000}
    assert "seed" in _gateway_error(gateway.post("/v1/image_to_video", json=seed), 400)["message"]


def test_no_delete_organization_or_uploads(gateway):
    task_id = _create(gateway)
    deleted = gateway.delete(f"/v1/tasks/{task_id}")
    _gateway_error(deleted, 405)
    _gateway_error(gateway.get("/v1/organization"), 404)
    _gateway_error(gateway.post("/v1/uploads", json={"filename": "a.png", "type": "ephemeral"}), 404)
    assert gateway.get(f"/v1/tasks/{task_id}").json()["status"] == "SUCCEEDED"


def test_task_not_exist_window_then_task(runway_simulator, gateway):
    runway_simulator.control.configure(task_not_exist_seconds=0.3)
    task_id = _create(gateway)
    early = gateway.get(f"/v1/tasks/{task_id}")
    assert early.status_code == 400
    assert early.json() == {"code": "task_not_exist", "message": "task_not_exist", "data": None}
    time.sleep(0.35)
    assert gateway.get(f"/v1/tasks/{task_id}").status_code == 200


def test_unknown_id_is_task_not_exist(gateway):
    response = gateway.get(f"/v1/tasks/{uuid.uuid4()}")
    assert response.status_code == 400
    assert response.json()["code"] == "task_not_exist"


def test_envelope_with_inner_task(runway_simulator, gateway):
    runway_simulator.control.configure(envelope_fraction=1.0)
    task_id = _create(gateway)
    body = gateway.get(f"/v1/tasks/{task_id}").json()
    assert body["code"] == "success"
    data = body["data"]
    assert data["task_id"] == task_id
    assert data["action"] == "IMAGE_TO_VIDEO"
    assert data["status"] == "SUCCESS"
    assert data["progress"] == "100%"
    assert data["data"]["status"] == "SUCCEEDED"
    assert data["data"]["id"] != task_id  # Runway's own id for the relayed task
    runway_simulator.control.configure(envelope_inner_id="same")
    assert gateway.get(f"/v1/tasks/{task_id}").json()["data"]["data"]["id"] == task_id
    assert data["result_url"] == data["data"]["output"][0]
    assert isinstance(data["submit_time"], int)
    assert data["finish_time"] >= data["submit_time"] > 0


def test_envelope_without_inner_task_and_string_times(runway_simulator, gateway):
    runway_simulator.control.configure(
        envelope_fraction=1.0, envelope_inner=False, envelope_time_format="string", running_seconds=60
    )
    task_id = _create(gateway)
    data = gateway.get(f"/v1/tasks/{task_id}").json()["data"]
    assert "data" not in data
    assert data["status"] == "IN_PROGRESS"
    assert data["progress"].endswith("%")
    submitted = dt.datetime.fromisoformat(data["submit_time"])
    assert submitted.utcoffset() == dt.timedelta(hours=8)
    assert data["finish_time"] is None


def test_envelope_always_while_queued_only(runway_simulator, gateway):
    runway_simulator.control.configure(envelope_while_queued=True, pending_seconds=0.2)
    task_id = _create(gateway)
    queued = gateway.get(f"/v1/tasks/{task_id}").json()
    assert queued["data"]["status"] == "QUEUED"
    assert queued["data"]["data"]["status"] == "PENDING"
    time.sleep(0.25)
    assert gateway.get(f"/v1/tasks/{task_id}").json()["status"] == "SUCCEEDED"


def test_envelope_fraction_is_partial(runway_simulator, gateway):
    runway_simulator.control.configure(envelope_fraction=0.5)
    task_id = _create(gateway)
    shapes = ["code" in gateway.get(f"/v1/tasks/{task_id}").json() for _ in range(60)]
    assert 10 < sum(shapes) < 50


@pytest.mark.parametrize(("outcome", "outer"), [("FAILED", "FAILURE"), ("CANCELLED", "FAILURE")])
def test_envelope_maps_failures(runway_simulator, gateway, outcome, outer):
    runway_simulator.control.configure(envelope_fraction=1.0)
    task_id = _create(gateway)
    runway_simulator.control.force_outcome(
        task_id, outcome, failure_code="SAFETY.INPUT.TEXT", failure="Nope."
    )
    data = gateway.get(f"/v1/tasks/{task_id}").json()["data"]
    assert data["status"] == outer
    assert data["fail_reason"]
    assert data["data"]["status"] == outcome
