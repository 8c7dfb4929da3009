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
