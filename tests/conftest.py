"""Shared pytest fixtures. Keep each group under its own heading."""

from __future__ import annotations

import json

import pytest

# --------------------------------------------------------------------------------------------------------
# Runway connection (core and hook tests)
# --------------------------------------------------------------------------------------------------------
#: A distinctive fake key: tests assert it never shows up in an exception text or a log line.
FAKE_RUNWAY_KEY = "key_CANARY-7f3a9c-do-not-log-0123456789abcdef"


@pytest.fixture
def runway_api_key() -> str:
    return FAKE_RUNWAY_KEY


@pytest.fixture
def runway_conn(monkeypatch):
    """Set ``runway_default`` from the environment; call it again to change host or extras."""

    def set_conn(host: str = "https://api.dev.runwayml.com", **extra) -> None:
        conn = {"conn_type": "runway", "host": host, "password": FAKE_RUNWAY_KEY, "extra": extra}
        monkeypatch.setenv("AIRFLOW_CONN_RUNWAY_DEFAULT", json.dumps(conn))

    set_conn()
    return set_conn


# --------------------------------------------------------------------------------------------------------
# The simulator, with AIRFLOW_CONN_RUNWAY_DEFAULT pointing at it (operator, trigger, sensor tests)
# --------------------------------------------------------------------------------------------------------
#: Tasks run this long, so the operator's check right after the create sees them unfinished and defers.
SIM_RUNNING_SECONDS = 0.4


@pytest.fixture
def direct(runway_simulator_direct, monkeypatch):
    """The runway flavor (supports DELETE)."""
    runway_simulator_direct.set_airflow_conn(monkeypatch)
    runway_simulator_direct.control.configure(running_seconds=SIM_RUNNING_SECONDS)
    return runway_simulator_direct


@pytest.fixture
def gateway(runway_simulator, monkeypatch):
    """The CometAPI gateway flavor (task_not_exist window, envelope, no DELETE)."""
    runway_simulator.set_airflow_conn(monkeypatch)
    runway_simulator.control.configure(running_seconds=SIM_RUNNING_SECONDS)
    return runway_simulator
