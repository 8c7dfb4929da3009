"""RunwayHook.download follows the same retry rule as API GETs (core.exchange.attempts), over a real socket."""

from __future__ import annotations

import hashlib
import io

import pytest

from airflow_provider_runway.exceptions import RunwayAPIError
from airflow_provider_runway.hooks.runway import RunwayHook

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def output_url(runway_simulator_direct, monkeypatch):
    runway_simulator_direct.set_airflow_conn(monkeypatch)
    hook = RunwayHook()
    created = hook.submit_image_to_video(
        prompt_image="https://example.com/a.png", ratio="1280:720", model="gen4_turbo"
    )
    task = hook.get_task(created.id)
    assert task.succeeded and task.outputs
    return runway_simulator_direct, task.outputs[0]


def hook_recording_waits() -> tuple[RunwayHook, list[float]]:
    """A hook whose backoff sleeps are recorded instead of slept."""
    hook = RunwayHook()
    waits: list[float] = []
    hook._sleep = waits.append
    return hook, waits


def test_download_retries_5xx_with_the_core_backoff(output_url):
    sim, url = output_url
    sim.control.add_fault("http_error", path="files", times=2, status=503)
    hook, waits = hook_recording_waits()
    buffer = io.BytesIO()
    size, digest, content_type = hook.download(url, buffer, max_bytes=10**8)
    assert size == len(buffer.getvalue()) > 0 and buffer.getvalue()[4:8] == b"ftyp"
    assert digest == hashlib.sha256(buffer.getvalue()).hexdigest() and content_type == "video/mp4"
    assert len(waits) == 2 and all(0 < w <= 30 for w in waits)


def test_download_does_not_wait_for_a_retry_after_past_the_cap(output_url):
    sim, url = output_url
    sim.control.add_fault("rate_limit", path="files", times=1, retry_after=3600)
    hook, waits = hook_recording_waits()
    with pytest.raises(RunwayAPIError) as info:
        hook.download(url, io.BytesIO(), max_bytes=10**8)
    assert info.value.http_status == 429 and waits == []
