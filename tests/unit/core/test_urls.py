"""API paths and log-safe URLs (core.urls)."""

from __future__ import annotations

import pytest

from airflow_provider_runway.core.urls import endpoint_path, redact_url, task_path
from airflow_provider_runway.exceptions import (
    RunwayValidationError,
)

TASK_ID = "17f20503-6c24-4c16-946b-35dbbce2af2f"
OUT_URL = "https://dnznrvs05pmza.cloudfront.net/abc/out.mp4?_jwt=SIGNATURE"
PNG_URI = "https://example.com/frame.png"


# ========================================================================================================
# Paths and create answers
# ========================================================================================================
@pytest.mark.parametrize("bad", ["", "../organization", "a/b", "x" * 200, None, 12, "id with space"])
def test_task_path_rejects_non_ids(bad):
    with pytest.raises(RunwayValidationError) as info:
        task_path(bad)
    assert info.value.field == "runway_task_id"


@pytest.mark.parametrize("name", ["image_to_video", "/v1/image_to_video", "v1/image_to_video/"])
def test_endpoint_path(name):
    assert endpoint_path(name) == "/v1/image_to_video"


@pytest.mark.parametrize("name", ["tasks/abc", "../x", "Image To Video", "", 5])
def test_endpoint_path_rejects(name):
    with pytest.raises(RunwayValidationError):
        endpoint_path(name)


# ========================================================================================================
# Redaction and cancelling
# ========================================================================================================
@pytest.mark.parametrize(
    "url",
    [
        OUT_URL,
        "https://storage.googleapis.com/bucket/a/b/video.mp4?X-Goog-Signature=SIGNATURE&X-Goog-Expires=3600",
        "https://cdn.example.com/?token=SIGNATURE",
    ],
)
def test_redact_url_removes_query(url):
    red = redact_url(url)
    assert "SIGNATURE" not in red and "?" not in red.replace("?<signature redacted>", "")
    assert red.startswith("https://") and urlsplit_host(url) in red


def urlsplit_host(url):
    from urllib.parse import urlsplit

    return urlsplit(url).hostname


def test_redact_url_keeps_file_name_and_shortens_data_uris():
    assert redact_url("https://cdn.example.com/a/b/out.mp4").endswith("/out.mp4")
    assert redact_url("https://cdn.example.com/a/b/out.mp4?sig=1").endswith("out.mp4?<signature redacted>")
    red = redact_url("data:image/png;base64," + "A" * 5000)
    assert len(red) < 40 and "AAAA" not in red
    assert redact_url(None) == "<not a url>"
