"""``testing/_controls.py`` and ``_control_routes.py``: the control API, written once, run two ways."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

import airflow_provider_runway.testing as testing_package
from airflow_provider_runway.testing import Simulator, SimulatorControl, SimulatorControlError
from airflow_provider_runway.testing._control_routes import NoControlRoute, control_call
from airflow_provider_runway.testing._controls import ControlMethods
from airflow_provider_runway.testing._state import SimState
from tests.testing.conftest import I2V

CONTROL_METHODS = [
    name
    for name, member in vars(ControlMethods).items()
    if inspect.isfunction(member) and not name.startswith("_")
]


class Recorder(ControlMethods):
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[str, ...], Any]] = []

    def _control(self, method: str, route: tuple[str, ...], payload: Any = None) -> Any:
        self.calls.append((method, route, payload))
        return {"id": 7, "orphans": []}


def test_the_control_methods_have_one_home() -> None:
    for cls in (Simulator, SimulatorControl):
        assert issubclass(cls, ControlMethods)
        assert not set(CONTROL_METHODS) & set(vars(cls)), f"{cls.__name__} redefines a control method"


def test_each_call_names_its_route_and_payload() -> None:
    control = Recorder()
    control.reset()
    control.reset(seed=3)
    assert control.add_fault("rate_limit", path="tasks_get", times=2, retry_after=1) == 7
    control.clear_faults(4)
    control.force_outcome("abc", "FAILED", failure_code="SAFETY.INPUT.TEXT")
    control.task("abc")
    assert control.calls == [
        ("POST", ("reset",), {}),
        ("POST", ("reset",), {"seed": 3}),
        (
            "POST",
            ("faults",),
            {
                "kind": "rate_limit",
                "path": "tasks_get",
                "method": None,
                "times": 2,
                "rate": 1.0,
                "retry_after": 1,
            },
        ),
        ("DELETE", ("faults", "4"), None),
        (
            "POST",
            ("tasks", "abc", "outcome"),
            {"status": "FAILED", "failure_code": "SAFETY.INPUT.TEXT", "failure": None, "immediate": True},
        ),
        ("GET", ("tasks", "abc"), None),
    ]


def test_control_call_routes_and_refuses() -> None:
    state = SimState("runway")
    assert control_call(state, "GET", ("health",), {}, "http://x") == {
        "ok": True,
        "flavor": "runway",
        "base_url": "http://x",
    }
    task_id = state.create_task("image_to_video", dict(I2V)).id
    assert control_call(state, "GET", ("tasks", task_id), {}, "")["status"] == "SUCCEEDED"
    assert control_call(state, "POST", ("faults",), {"kind": "reset"}, "") == {"id": 1}
    assert control_call(state, "DELETE", ("faults", "1"), {}, "") == {"ok": True}
    for method, route in (
        ("GET", ()),
        ("GET", ("reset",)),
        ("GET", ("faults", "1")),
        ("GET", ("tasks", "a", "b")),
    ):
        with pytest.raises(NoControlRoute):
            control_call(state, method, route, {}, "")
    with pytest.raises(KeyError):
        control_call(state, "GET", ("tasks", "nope"), {}, "")
    with pytest.raises(ValueError):
        control_call(state, "POST", ("config",), {"nope": 1}, "")


def test_in_process_and_over_http_agree(runway_simulator_direct: Any) -> None:
    simulator: Simulator = runway_simulator_direct.simulator
    http = SimulatorControl(runway_simulator_direct.base_url)
    simulator.add_fault("slow", path="files", delay=0.1, times=3)
    assert simulator.faults() == http.faults()
    assert simulator.config() == http.config()
    assert simulator.health() == http.health()
    assert simulator.configure(running_seconds=1) == http.config()
    with pytest.raises(ValueError, match="unknown fault kind"):
        simulator.add_fault("bogus")
    with pytest.raises(SimulatorControlError, match="400"):
        http.add_fault("bogus")
    with pytest.raises(KeyError):
        simulator.task("nope")
    with pytest.raises(SimulatorControlError, match="404"):
        http.task("nope")
    http.clear_faults()
    assert simulator.faults() == []


def test_no_simulator_module_is_over_500_lines() -> None:
    package = Path(testing_package.__file__).parent
    sizes = {path.name: len(path.read_text(encoding="utf-8").splitlines()) for path in package.glob("*.py")}
    assert {name: size for name, size in sizes.items() if size > 500} == {}
