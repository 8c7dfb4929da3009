"""Helpers for the simulator's own tests: httpx clients preloaded with each flavor's headers."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from airflow_provider_runway.testing.pytest_plugin import SimulatorHandle

VERSION = {"X-Runway-Version": "2024-11-06"}
IMAGE = "https://example.com/cat.jpg"
VIDEO = "https://example.com/cat.mp4"
I2V = {"model": "gen4_turbo", "promptImage": IMAGE, "ratio": "1280:720", "promptText": "a cat", "duration": 5}
PNG_DATA_URI = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(64)).decode()


def client_for(handle: SimulatorHandle) -> httpx.Client:
    """A client with the auth and version headers every call needs."""
    headers = {"Authorization": f"Bearer {handle.api_key}", **VERSION}
    return httpx.Client(base_url=handle.base_url, headers=headers, timeout=5)


@pytest.fixture
def direct(runway_simulator_direct: SimulatorHandle) -> Iterator[httpx.Client]:
    """A client for the runway flavor."""
    with client_for(runway_simulator_direct) as client:
        yield client


@pytest.fixture
def gateway(runway_simulator: SimulatorHandle) -> Iterator[httpx.Client]:
    """A client for the gateway flavor."""
    with client_for(runway_simulator) as client:
        yield client
