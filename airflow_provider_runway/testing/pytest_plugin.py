"""pytest fixtures that serve the Runway simulator (registered as the ``runway_simulator`` pytest11 plugin).

* ``runway_simulator``: the CometAPI gateway flavor (base URL ends in ``/runwayml``).
* ``runway_simulator_direct``: the Runway direct flavor.

One server per flavor lives for the whole session on a background thread; every test gets it reset (no tasks,
no faults, start-up config: tasks finish instantly). Each fixture yields a :class:`SimulatorHandle`::

    def test_my_dag(runway_simulator, monkeypatch):
        runway_simulator.set_airflow_conn(monkeypatch)          # AIRFLOW_CONN_RUNWAY_DEFAULT
        runway_simulator.control.configure(running_seconds=1)
        runway_simulator.control.add_fault("rate_limit", path="tasks_get", times=1, retry_after=1)
        ...
        assert runway_simulator.control.accounting()["orphans"] == []

This module imports only pytest at load time: it is loaded by every pytest run of anyone who installs the
package, so the simulator itself is imported when a fixture is first used.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_provider_runway.testing.control import SimulatorControl
    from airflow_provider_runway.testing.simulator import Simulator

GATEWAY_API_KEY = "sk-simulator-test"
RUNWAY_API_KEY = "key_simulator_test"
API_VERSION = "2024-11-06"


class SimulatorHandle:
    """What the fixtures yield: addresses, key, control and a ready Airflow connection.

    :ivar base_url: the base URL a client uses (``http://127.0.0.1:PORT/runwayml`` for the gateway flavor).
    :ivar root_url: ``http://127.0.0.1:PORT``.
    :ivar api_key: the only Bearer key the server accepts.
    :ivar flavor: ``"gateway"`` or ``"runway"``.
    :ivar control: the in-process :class:`~airflow_provider_runway.testing.simulator.Simulator`; it has the
        same control methods as :class:`~airflow_provider_runway.testing.control.SimulatorControl`
        (``reset``, ``configure``, ``add_fault``, ``clear_faults``, ``force_outcome``, ``accounting``...).
    :ivar simulator: the same object as ``control``.
    """

    def __init__(self, simulator: Simulator, api_key: str) -> None:
        self.simulator = simulator
        self.control = simulator
        self.base_url = simulator.base_url
        self.root_url = simulator.root_url
        self.api_key = api_key
        self.flavor = simulator.flavor

    @property
    def http_control(self) -> SimulatorControl:
        """A :class:`SimulatorControl` that drives this server over HTTP (as a subprocess would)."""
        from airflow_provider_runway.testing.control import SimulatorControl

        return SimulatorControl(self.base_url)

    @property
    def airflow_conn(self) -> dict[str, Any]:
        """The Airflow connection as a dict."""
        return {
            "conn_type": "runway",
            "host": self.base_url,
            "password": self.api_key,
            "extra": {"api_version": API_VERSION, "allow_insecure_loopback": True},
        }

    @property
    def airflow_conn_json(self) -> str:
        """The value for an ``AIRFLOW_CONN_*`` environment variable."""
        return json.dumps(self.airflow_conn)

    def set_airflow_conn(self, monkeypatch: pytest.MonkeyPatch, conn_id: str = "runway_default") -> str:
        """Set ``AIRFLOW_CONN_<CONN_ID>`` for this test; returns the variable's name."""
        name = f"AIRFLOW_CONN_{conn_id.upper()}"
        monkeypatch.setenv(name, self.airflow_conn_json)
        return name

    def __repr__(self) -> str:
        return f"SimulatorHandle(flavor={self.flavor!r}, base_url={self.base_url!r})"


def _serve(flavor: str, api_key: str) -> Iterator[Simulator]:
    from airflow_provider_runway.testing.simulator import Simulator

    simulator = Simulator(flavor, api_key=api_key)
    simulator.start()
    try:
        yield simulator
    finally:
        simulator.stop()


@pytest.fixture(scope="session")
def _runway_simulator_gateway_server() -> Iterator[Simulator]:
    yield from _serve("gateway", GATEWAY_API_KEY)


@pytest.fixture(scope="session")
def _runway_simulator_direct_server() -> Iterator[Simulator]:
    yield from _serve("runway", RUNWAY_API_KEY)


@pytest.fixture
def runway_simulator(_runway_simulator_gateway_server: Simulator) -> Iterator[SimulatorHandle]:
    """The gateway-flavor simulator, reset for this test."""
    _runway_simulator_gateway_server.reset()
    yield SimulatorHandle(_runway_simulator_gateway_server, GATEWAY_API_KEY)
    _runway_simulator_gateway_server.clear_faults()


@pytest.fixture
def runway_simulator_direct(_runway_simulator_direct_server: Simulator) -> Iterator[SimulatorHandle]:
    """The runway-flavor (direct API) simulator, reset for this test."""
    _runway_simulator_direct_server.reset()
    yield SimulatorHandle(_runway_simulator_direct_server, RUNWAY_API_KEY)
    _runway_simulator_direct_server.clear_faults()
