"""``testing/_render.py``: each kind of output is a real file of the planned size, length and type."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import av
import pytest

from airflow_provider_runway.testing import _render
from airflow_provider_runway.testing._output_plan import plan_for

INPUTS = Path(__file__).resolve().parents[2] / "example_dags" / "inputs"
PNG = (INPUTS / "ocean_waves.png").read_bytes()
CLIP = (INPUTS / "street_clip.mp4").read_bytes()  # 1.5 s, 160x96


def uri(mime: str, payload: bytes) -> str:
    return f"data:{mime};base64," + base64.b64encode(payload).decode()


def probe(data: bytes) -> dict:
    with av.open(io.BytesIO(data)) as container:
        info = {
            "format": container.format.name,
            "seconds": container.duration / 1e6 if container.duration else None,
        }
        if container.streams.video:
            stream = container.streams.video[0]
            info.update(
                size=(stream.width, stream.height),
                codec=stream.codec_context.name,
                pix_fmt=stream.codec_context.pix_fmt,
                frames=sum(1 for _ in container.decode(video=0)),
            )
        elif container.streams.audio:
            info["decoded_seconds"] = (
                sum(f.samples for f in container.decode(audio=0)) / container.streams.audio[0].rate
            )
    return info


def top_level_boxes(data: bytes) -> list[bytes]:
    boxes, pos = [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        boxes.append(data[pos + 4 : pos + 8])
        pos += size
    return boxes


def test_an_image_to_video_is_h264_of_the_asked_size_and_length_with_moov_first():
    body = {"promptImage": uri("image/png", PNG), "ratio": "1104:832", "duration": 3}
    data = _render.render(plan_for("image_to_video", body))
    info = probe(data)
    assert info["size"] == (1104, 832) and info["codec"] == "h264" and info["pix_fmt"] == "yuv420p"
    assert info["frames"] == 72 and info["seconds"] == pytest.approx(3.0, abs=0.05)
    assert top_level_boxes(data)[:2] == [b"ftyp", b"moov"]  # faststart: playable while it downloads


def mean_rgb(frame: av.VideoFrame) -> tuple[float, float, float]:
    small = frame.reformat(width=8, height=8, format="rgb24")
    plane = small.planes[0]
    rows = [bytes(plane)[y * plane.line_size : y * plane.line_size + 24] for y in range(8)]
    pixels = [row[i : i + 3] for row in rows for i in range(0, 24, 3)]
    return tuple(sum(p[c] for p in pixels) / len(pixels) for c in range(3))


def test_the_drift_moves_over_the_prompt_image():
    data = _render.render(
        plan_for("image_to_video", {"promptImage": uri("image/png", PNG), "ratio": "1280:720"})
    )
    with av.open(io.BytesIO(data)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 120
    assert bytes(frames[0].planes[0]) != bytes(frames[-1].planes[0])  # it moves
    source = mean_rgb(_render.open_image(PNG))
    for frame in (frames[0], frames[-1]):  # ...over the picture: its colours are the input's
        assert all(abs(a - b) < 20 for a, b in zip(mean_rgb(frame), source, strict=True)), (
            mean_rgb(frame),
            source,
        )


def test_without_a_readable_image_a_frame_is_generated_from_the_request():
    one = _render.render(plan_for("image_to_video", {"promptImage": "https://example.com/a.png", "seed": 1}))
    two = _render.render(plan_for("image_to_video", {"promptImage": "https://example.com/a.png", "seed": 2}))
    assert probe(one)["size"] == (1280, 720)
    assert one != two


def test_a_video_to_video_keeps_its_clips_length_and_size():
    info = probe(
        _render.render(plan_for("video_to_video", {"videoUri": uri("video/mp4", CLIP), "promptText": "snow"}))
    )
    assert info["size"] == (160, 96) and info["frames"] == 36
    assert info["seconds"] == pytest.approx(1.5, abs=0.05)


def test_a_video_upscale_doubles_its_clip():
    info = probe(_render.render(plan_for("video_upscale", {"videoUri": uri("video/mp4", CLIP)})))
    assert info["size"] == (320, 192) and info["seconds"] == pytest.approx(1.5, abs=0.05)


def test_an_unreadable_clip_gives_the_asked_or_default_length():
    broken = uri("video/mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    info = probe(_render.render(plan_for("video_to_video", {"videoUri": broken, "promptText": "x"})))
    assert info["size"] == (1280, 720) and info["seconds"] == pytest.approx(5.0, abs=0.05)


@pytest.mark.parametrize(
    ("body", "fmt", "size"),
    [
        ({"ratio": "1920:1080"}, "png_pipe", (1920, 1080)),
        ({"ratio": "1024:1024", "outputFormat": "jpeg"}, "jpeg_pipe", (1024, 1024)),
        ({"ratio": "1080:1440", "outputFormat": "webp"}, "webp_pipe", (1080, 1440)),
        (
            {"ratio": "1360:768", "referenceImages": [{"uri": uri("image/png", PNG), "tag": "sea"}]},
            "png_pipe",
            (1360, 768),
        ),
    ],
)
def test_images_are_of_the_asked_size_and_type(body, fmt, size):
    info = probe(_render.render(plan_for("text_to_image", {"promptText": "a cat", **body})))
    assert (info["format"], info["size"]) == (fmt, size)


def test_an_image_upscale_doubles_its_input():
    assert probe(_render.render(plan_for("image_upscale", {"imageUri": uri("image/png", PNG)})))["size"] == (
        640,
        360,
    )


@pytest.mark.parametrize(
    ("endpoint", "body", "fmt", "seconds"),
    [
        ("sound_effect", {"promptText": "a door", "duration": 3.5}, "mp3", 3.5),
        ("sound_effect", {"promptText": "a door", "outputFormat": "wav"}, "wav", 5.0),
        ("text_to_speech", {"promptText": "x" * 90, "outputFormat": "ogg_opus"}, "ogg", 6.0),
        ("voice_isolation", {"audioUri": uri("video/mp4", CLIP)}, "mp3", 1.5),
    ],
)
def test_sounds_last_as_long_as_asked(endpoint, body, fmt, seconds):
    info = probe(_render.render(plan_for(endpoint, body)))
    assert info["format"] == fmt
    assert info["decoded_seconds"] == pytest.approx(seconds, abs=0.06)


def test_a_five_second_720p_clip_is_cheap_enough_to_render_on_download():
    """Not a speed target (benchmarks/bench_sim_media.py has it): the clip is small, which is what keeps
    encoding cheap; a regression to, say, a lossless or high-motion encode would multiply both."""
    data = _render.render(
        plan_for("text_to_video", {"promptText": "a cat", "ratio": "1280:720", "duration": 5})
    )
    assert len(data) < 1_000_000
