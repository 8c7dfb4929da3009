"""``testing/_output_plan.py``: what an output should be, read from the create body alone."""

from __future__ import annotations

import base64

import pytest

from airflow_provider_runway.testing._output_plan import (
    data_uri_bytes,
    extension,
    fingerprint,
    frame_size,
    length,
    parse_ratio,
    plan_for,
    seconds_of,
)


def uri(mime: str, payload: bytes) -> str:
    return f"data:{mime};base64," + base64.b64encode(payload).decode()


@pytest.mark.parametrize(
    ("ratio", "expected"),
    [
        ("1280:720", ("size", (1280, 720))),
        ("720:1280", ("size", (720, 1280))),
        ("1584:672", ("size", (1584, 672))),
        ("16:9", ("aspect", (16, 9))),
        ("21:9", ("aspect", (21, 9))),
        ("adaptive", None),
        ("auto", None),
        ("0:720", None),
        ("1280x720", None),
        (None, None),
        (1280, None),
    ],
)
def test_a_ratio_is_pixels_or_a_shape(ratio, expected):
    assert parse_ratio(ratio) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(5, 5.0), (2.5, 2.5), ("8", 8.0), (0.1, 0.5), (600, 60.0), (0, None), (True, None), ("auto", None)],
)
def test_a_duration_is_a_number_within_bounds(value, expected):
    assert seconds_of(value) == expected


@pytest.mark.parametrize(
    ("endpoint", "body", "ext"),
    [
        ("image_to_video", {}, "mp4"),
        ("image_to_video", {"outputFormat": "prores"}, "mp4"),
        ("text_to_image", {}, "png"),
        ("text_to_image", {"outputFormat": "jpeg"}, "jpg"),
        ("text_to_image", {"outputFormat": "webp"}, "webp"),
        ("text_to_speech", {}, "mp3"),
        ("sound_effect", {"outputFormat": "wav"}, "wav"),
        ("text_to_speech", {"outputFormat": "ogg_opus"}, "ogg"),
        ("generate/audio", {}, "mp3"),
    ],
)
def test_the_file_type_follows_the_endpoint_and_output_format(endpoint, body, ext):
    assert extension(endpoint, body) == ext
    assert plan_for(endpoint, body).ext == ext


def test_data_uris_are_read_and_urls_never():
    assert data_uri_bytes(uri("image/png", b"\x89PNG")) == b"\x89PNG"
    assert data_uri_bytes("https://example.com/cat.png") is None
    assert data_uri_bytes("runway://upload/1") is None
    assert data_uri_bytes("data:image/png,notbase64") is None


def test_the_prompt_images_first_frame_is_drawn_from():
    body = {
        "promptImage": [
            {"uri": uri("image/png", b"last"), "position": "last"},
            {"uri": uri("image/png", b"first"), "position": "first"},
        ],
        "ratio": "1280:720",
        "duration": 7,
    }
    plan = plan_for("image_to_video", body)
    assert (plan.image, plan.size, plan.seconds, plan.kind) == (b"first", (1280, 720), 7.0, "video")
    assert plan_for("image_to_video", {"promptImage": "https://example.com/cat.png"}).image is None


def test_a_performance_follows_its_reference_clip_not_its_character():
    body = {
        "character": {"type": "video", "uri": uri("video/mp4", b"character")},
        "reference": {"type": "video", "uri": uri("video/mp4", b"reference")},
    }
    plan = plan_for("character_performance", body)
    assert plan.clip == b"reference" and plan.follows_clip


def test_audio_endpoints_read_their_audio_input():
    plan = plan_for("voice_isolation", {"audioUri": uri("audio/mpeg", b"voice")})
    assert (plan.kind, plan.clip, plan.follows_clip) == ("audio", b"voice", True)


def test_speech_lasts_as_long_as_its_text_takes_to_say():
    assert plan_for("text_to_speech", {"promptText": "x" * 150}).seconds == 10.0
    assert plan_for("text_to_speech", {"promptText": "hi"}).seconds == 1.0
    assert plan_for("text_to_speech", {"promptText": "hi", "duration": 3}).seconds == 3.0


@pytest.mark.parametrize(
    ("endpoint", "body", "source", "size"),
    [
        ("image_to_video", {"ratio": "1280:720"}, (320, 180), (1280, 720)),
        ("image_to_video", {"ratio": "1470:630"}, None, (1470, 630)),
        ("image_to_video", {"ratio": "1663:721"}, None, (1664, 722)),  # even, for yuv420p
        ("image_to_video", {"ratio": "16:9"}, None, (1280, 720)),
        ("image_to_video", {"ratio": "9:16"}, None, (720, 1280)),
        ("image_to_video", {"ratio": "adaptive"}, (400, 300), (960, 720)),
        ("text_to_video", {}, None, (1280, 720)),
        ("video_to_video", {}, (160, 96), (160, 96)),
        ("video_to_video", {"ratio": "960:960"}, (160, 96), (960, 960)),
        ("video_upscale", {}, (640, 360), (1280, 720)),
        ("video_upscale", {}, (1920, 1080), (2560, 1440)),
        ("text_to_image", {}, None, (1024, 1024)),
        ("text_to_image", {"ratio": "4:3"}, None, (1366, 1024)),
        ("image_upscale", {}, (320, 180), (640, 360)),
    ],
)
def test_frame_size(endpoint, body, source, size):
    assert frame_size(plan_for(endpoint, body), source) == size


def test_length_asked_then_the_clips_then_five_seconds():
    assert length(plan_for("video_to_video", {"duration": 6}), 1.5) == 6.0
    assert length(plan_for("video_to_video", {}), 1.5) == 1.5
    assert length(plan_for("video_to_video", {}), None) == 5.0
    assert length(plan_for("image_to_video", {}), 9.0) == 5.0  # an image-to-video has no clip to follow


def test_one_request_one_fingerprint():
    body = {"promptText": "a cat", "ratio": "1280:720"}
    assert fingerprint("text_to_image", body, 0) == fingerprint(
        "text_to_image", dict(reversed(body.items())), 0
    )
    assert fingerprint("text_to_image", body, 0) != fingerprint("text_to_image", body, 1)
    assert fingerprint("text_to_image", body, 0) != fingerprint("text_to_image", {**body, "seed": 1}, 0)
    assert plan_for("text_to_image", body, 0).seed != plan_for("text_to_image", body, 1).seed
