"""What holds for every request body, whatever the model (core.fields)."""

from __future__ import annotations

import pytest

from airflow_provider_runway.core.fields import check_asset_uri, check_model
from airflow_provider_runway.exceptions import (
    RunwayValidationError,
)

TASK_ID = "17f20503-6c24-4c16-946b-35dbbce2af2f"
OUT_URL = "https://dnznrvs05pmza.cloudfront.net/abc/out.mp4?_jwt=SIGNATURE"
PNG_URI = "https://example.com/frame.png"


# ========================================================================================================
# What holds for every body (the rest is Runway's spec: tests/endpoints/)
# ========================================================================================================
@pytest.mark.parametrize("model", [None, "", "gen4 turbo", "x" * 101, 4])
def test_model_name(model):
    with pytest.raises(RunwayValidationError) as info:
        check_model(model)
    assert info.value.field == "model"


@pytest.mark.parametrize(
    ("uri", "kind"),
    [
        ("data:image/gif;base64,R0lGODlhAQABAAAAACw=", "image"),
        ("data:image/png;base64,@@@@", "image"),
        ("data:image/png,rawbytes", "image"),
        ("data:image/png;base64,", "image"),
        ("data:video/mp4;base64,AAAA", "image"),
        ("data:image/png;base64,AAAA", "video"),
        ("data:image/png;base64,AAAA", "audio"),
        ("http://example.com/a.png", "image"),
        ("https://93.184.216.34/a.png", "image"),
        ("https://[2001:db8::1]/a.png", "image"),
        ("ftp://example.com/a.png", "image"),
        ("/tmp/a.png", "image"),
        ("runway://", "image"),
        ("https://exa mple.com/a.png", "image"),
        ("", "image"),
        (None, "image"),
    ],
)
def test_asset_uris_break_a_rule_that_holds_for_every_model(uri, kind):
    with pytest.raises(RunwayValidationError) as info:
        check_asset_uri(uri, "prompt_image", kind)
    assert info.value.field == "prompt_image"


def test_asset_uri_lengths_are_left_to_the_spec():
    """How long a URL or data URI may be depends on the field and model: Runway's spec says, per field."""
    assert check_asset_uri("https://example.com/" + "a" * 5000, "x", "image")
    big = "data:video/mp4;base64," + "A" * (20 * 1024 * 1024)
    assert check_asset_uri(big, "x", "video") == big
    assert check_asset_uri("data:audio/flac;base64,AAAA", "x", "audio")
    assert check_asset_uri("RUNWAY://token", "x", "image") == "runway://token"
