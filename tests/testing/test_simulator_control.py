"""The control endpoint over HTTP (SimulatorControl), accounting and the pytest fixtures' handles."""

from __future__ import annotations

import json
import time

import pytest

from airflow_provider_runway.testing import SimulatorControl, SimulatorControlError
from tests.testing.conftest import I2V


def test_http_control_round_trip(runway_simulator_direct, direct):
    control = SimulatorControl(runway_simulator_direct.base_url)
    assert control.health()["flavor"] == "runway"
    config = control.configure(running_seconds=60, concurrency=2)
    assert config["running_seconds"] == 60
    assert control.config()["concurrency"] == 2
    task_id = direct.post("/v1/image_to_video", json=I2V).json()["id"]
    assert control.task(task_id)["status"] == "RUNNING"
    assert [task["id"] for task in control.tasks()] == [task_id]
    forced = control.force_outcome(task_id, "FAILED", failure_code="THIRD_PARTY.UNAVAILABLE", failure="down")
    assert forced["status"] == "FAILED"
    got = direct.get(f"/v1/tasks/{task_id}").json()
    assert (got["status"], got["failureCode"]) == ("FAILED", "THIRD_PARTY.UNAVAILABLE")
    fault_id = control.add_fault("http_error", path="organization", status=503)
    assert control.faults()[0]["id"] == fault_id
    assert direct.get("/v1/organization").status_code == 503
    control.clear_faults(fault_id)
    assert direct.get("/v1/organization").status_code == 200
    control.reset()
    assert control.tasks() == []
    assert control.config()["running_seconds"] == 0


def test_http_control_errors(runway_simulator):
    control = runway_simulator.http_control
    with pytest.raises(SimulatorControlError, match="unknown config knob"):
        control.configure(warp_speed=9)
    with pytest.raises(SimulatorControlError, match="unknown fault kind"):
        control.add_fault("meteor")
    with pytest.raises(SimulatorControlError, match="404"):
        control.force_outcome("nope", "FAILED")
    with pytest.raises(SimulatorControlError, match="envelope_fraction"):
        control.configure(envelope_fraction=3)


def test_force_outcome_later_and_stuck(runway_simulator_direct, direct):
    control = runway_simulator_direct.control
    control.configure(running_seconds=0.2)
    later = direct.post("/v1/image_to_video", json=I2V).json()["id"]
    stuck = direct.post("/v1/image_to_video", json=I2V).json()["id"]
    control.force_outcome(later, "FAILED", failure_code="INTERNAL", immediate=False)
    control.force_outcome(stuck, "THROTTLED")
    assert direct.get(f"/v1/tasks/{later}").json()["status"] == "RUNNING"
    assert direct.get(f"/v1/tasks/{stuck}").json()["status"] == "THROTTLED"
    time.sleep(0.25)
    assert direct.get(f"/v1/tasks/{later}").json()["status"] == "FAILED"
    assert direct.get(f"/v1/tasks/{stuck}").json()["status"] == "THROTTLED"


def test_accounting_creates_gets_downloads_orphans(runway_simulator_direct, direct):
    control = runway_simulator_direct.control
    done = direct.post(
        "/v1/image_to_video", json={**I2V, "promptImage": "data:image/png;base64," + "A" * 4000}
    ).json()["id"]
    control.configure(running_seconds=60)
    running = direct.post("/v1/image_to_video", json=I2V).json()["id"]
    cancelled = direct.post("/v1/image_to_video", json=I2V).json()["id"]
    direct.delete(f"/v1/tasks/{cancelled}")
    for _ in range(3):
        direct.get(f"/v1/tasks/{done}")
    direct.get(f"/v1/tasks/{running}")
    url = direct.get(f"/v1/tasks/{done}").json()["output"][0]
    direct.get(url)
    accounting = control.accounting()
    assert [c["task_id"] for c in accounting["creates"]] == [done, running, cancelled]
    assert accounting["creates"][0]["endpoint"] == "image_to_video"
    assert accounting["creates"][0]["body"]["promptImage"].endswith("<4022 chars>")
    assert accounting["creates"][1]["body"] == I2V
    assert accounting["gets"] == {done: 4, running: 1, cancelled: 0}
    assert accounting["downloads"][0]["status"] == 200
    assert accounting["orphans"] == [running]
    assert accounting["unobserved"] == [running]
    assert accounting["statuses"][cancelled] == "CANCELLED"
    assert accounting["request_count"] == len(accounting["requests"]) == 10
    assert json.loads(json.dumps(accounting)) == accounting


def test_reset_restores_startup_seed_and_ids(runway_simulator_direct, direct):
    first = direct.post("/v1/image_to_video", json=I2V).json()["id"]
    runway_simulator_direct.control.reset()
    assert direct.post("/v1/image_to_video", json=I2V).json()["id"] == first
    runway_simulator_direct.control.reset(seed=99)
    assert direct.post("/v1/image_to_video", json=I2V).json()["id"] != first


def test_fixture_handles(runway_simulator, runway_simulator_direct, monkeypatch):
    conn = json.loads(runway_simulator.airflow_conn_json)
    assert conn == {
        "conn_type": "runway",
        "host": runway_simulator.base_url,
        "password": runway_simulator.api_key,
        "extra": {"api_version": "2024-11-06", "allow_insecure_loopback": True},
    }
    assert runway_simulator.flavor == "gateway"
    assert runway_simulator_direct.flavor == "runway"
    assert runway_simulator_direct.base_url == runway_simulator_direct.root_url
    name = runway_simulator_direct.set_airflow_conn(monkeypatch, "my_runway")
    assert name == "AIRFLOW_CONN_MY_RUNWAY"
    import os

    assert json.loads(os.environ[name])["host"] == runway_simulator_direct.base_url


def test_fixture_state_does_not_leak_between_tests_part_one(runway_simulator):
    runway_simulator.control.configure(pending_seconds=99)
    runway_simulator.control.add_fault("reset")


def test_fixture_state_does_not_leak_between_tests_part_two(runway_simulator):
    assert runway_simulator.control.config()["pending_seconds"] == 0
    assert runway_simulator.control.faults() == []
