"""Outputs that follow the request, over a real socket: what a client downloads is a real file of the
duration, size and type its request asked for; and without PyAV, the samples and one warning line."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import av
import httpx
import pytest

from tests.testing.conftest import client_for

INPUTS = Path(__file__).resolve().parents[2] / "example_dags" / "inputs"
PNG_URI = "data:image/png;base64," + base64.b64encode((INPUTS / "city_at_night.png").read_bytes()).decode()
CLIP_URI = "data:video/mp4;base64," + base64.b64encode((INPUTS / "street_clip.mp4").read_bytes()).decode()


def output_of(client: httpx.Client, endpoint: str, body: dict) -> tuple[str, httpx.Response]:
    created = client.post(f"/v1/{endpoint}", json=body)
    assert created.status_code == 200, created.text
    url = client.get(f"/v1/tasks/{created.json()['id']}").json()["output"][0]
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200
    return url, response


def probe(data: bytes) -> tuple[str, tuple[int, int] | None, float]:
    with av.open(io.BytesIO(data)) as container:
        if container.streams.video:
            stream = container.streams.video[0]
            frames = sum(1 for _ in container.decode(video=0))
            return container.format.name, (stream.width, stream.height), frames / float(stream.average_rate)
        audio = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(audio=0))
        return container.format.name, None, samples / audio.rate


@pytest.mark.parametrize(
    ("flavor", "endpoint", "body", "size", "seconds"),
    [
        (
            "gateway",
            "image_to_video",
            {"model": "gen4_turbo", "promptImage": PNG_URI, "ratio": "1280:720", "duration": 5},
            (1280, 720),
            5,
        ),
        (
            "gateway",
            "image_to_video",
            {"model": "gen4_turbo", "promptImage": PNG_URI, "ratio": "720:1280", "duration": 2},
            (720, 1280),
            2,
        ),
        (
            "runway",
            "image_to_video",
            {
                "model": "gen4.5",
                "promptImage": PNG_URI,
                "promptText": "a city",
                "ratio": "960:960",
                "duration": 8,
            },
            (960, 960),
            8,
        ),
        (
            "runway",
            "text_to_video",
            {"model": "veo3.1", "promptText": "a cat", "ratio": "1920:1080", "duration": 4},
            (1920, 1080),
            4,
        ),
        (
            "runway",
            "image_to_video",
            {
                "model": "hailuo3",
                "promptImage": PNG_URI,
                "promptText": "a city",
                "ratio": "21:9",
                "duration": 6,
            },
            (1680, 720),
            6,
        ),
        (
            "runway",
            "video_to_video",
            {"model": "aleph2", "videoUri": CLIP_URI, "promptText": "snow"},
            (160, 96),
            1.5,
        ),
        (
            "gateway",
            "video_to_video",
            {"model": "gen4_aleph", "videoUri": CLIP_URI, "promptText": "snow", "ratio": "1280:720"},
            (1280, 720),
            1.5,
        ),
    ],
)
def test_videos_have_the_asked_size_and_duration(request, flavor, endpoint, body, size, seconds):
    handle = request.getfixturevalue("runway_simulator" if flavor == "gateway" else "runway_simulator_direct")
    with client_for(handle) as client:
        url, response = output_of(client, endpoint, body)
    assert url.split("?")[0].endswith(".mp4") and response.headers["content-type"] == "video/mp4"
    fmt, got_size, got_seconds = probe(response.content)
    assert "mp4" in fmt and got_size == size
    assert got_seconds == pytest.approx(seconds, abs=0.05)


@pytest.mark.parametrize(
    ("endpoint", "body", "ext", "seconds"),
    [
        (
            "sound_effect",
            {"model": "eleven_text_to_sound_v2", "promptText": "a door slams", "duration": 2.5},
            "mp3",
            2.5,
        ),
        ("sound_effect", {"model": "seed_audio", "promptText": "rain", "outputFormat": "wav"}, "wav", 5.0),
        (
            "text_to_speech",
            {
                "model": "eleven_multilingual_v2",
                "promptText": "y" * 60,
                "voice": {"type": "runway-preset", "presetId": "Maya"},
            },
            "mp3",
            4.0,
        ),
    ],
)
def test_sounds_are_real_files_of_the_asked_length(direct, endpoint, body, ext, seconds):
    url, response = output_of(direct, endpoint, body)
    assert url.split("?")[0].endswith(f".{ext}")
    fmt, _, got = probe(response.content)
    assert fmt == ext and got == pytest.approx(seconds, abs=0.06)


def test_images_have_the_asked_size_and_each_output_its_own_bytes(direct):
    created = direct.post(
        "/v1/text_to_image",
        json={"model": "gen4_image", "promptText": "a cat", "ratio": "1080:1920", "outputCount": 2},
    ).json()
    urls = direct.get(f"/v1/tasks/{created['id']}").json()["output"]
    bodies = [httpx.get(url).content for url in urls]
    assert [probe(body)[1] for body in bodies] == [(1080, 1920)] * 2
    assert bodies[0] != bodies[1]


def test_head_range_and_the_size_fault_apply_to_a_rendered_output(runway_simulator_direct, direct):
    body = {"model": "gen4.5", "promptText": "a cat", "ratio": "1280:720", "duration": 3}
    url, whole = output_of(direct, "text_to_video", body)
    head = httpx.head(url)
    assert int(head.headers["content-length"]) == len(whole.content)
    part = httpx.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole.content[100:200]
    runway_simulator_direct.control.configure(output_size=len(whole.content) + 4096)
    padded = httpx.get(url).content
    assert len(padded) == len(whole.content) + 4096 and padded.startswith(whole.content)
    assert probe(padded)[1:] == ((1280, 720), pytest.approx(3.0, abs=0.05))


def test_concurrent_first_downloads_render_once(runway_simulator_direct, direct):
    body = {"model": "gen4.5", "promptText": "two downloads at once", "ratio": "1280:720", "duration": 5}
    task_id = direct.post("/v1/text_to_video", json=body).json()["id"]
    url = direct.get(f"/v1/tasks/{task_id}").json()["output"][0]
    outputs = runway_simulator_direct.control.state.outputs
    before = outputs.renders
    results: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: results.append(httpx.get(url, timeout=30).content)) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    health = httpx.get(f"{runway_simulator_direct.root_url}/_sim/health", timeout=5)  # served meanwhile
    for thread in threads:
        thread.join(30)
    assert health.status_code == 200
    assert len(results) == 3 and len(set(results)) == 1
    assert outputs.renders - before == 1


def test_sample_mode_serves_the_sample(runway_simulator_direct, direct):
    from airflow_provider_runway.testing import _media

    runway_simulator_direct.control.configure(outputs="sample")
    url, response = output_of(
        direct,
        "text_to_speech",
        {
            "model": "eleven_multilingual_v2",
            "promptText": "hi",
            "voice": {"type": "runway-preset", "presetId": "Maya"},
        },
    )
    assert url.split("?")[0].endswith(".wav") and response.content == _media.sample_wav()


FALLBACK = textwrap.dedent(
    """
    import sys
    sys.modules["av"] = None  # as if the simulator-media extra were not installed
    import httpx
    from airflow_provider_runway.testing import Simulator
    from airflow_provider_runway.testing._media import sample_mp4, sample_wav

    headers = {"Authorization": "Bearer k", "X-Runway-Version": "2024-11-06"}
    with Simulator("runway") as sim:
        outputs = []
        for endpoint, body in [
            ("text_to_video", {"model": "gen4.5", "promptText": "a cat", "ratio": "1280:720", "duration": 5}),
            ("text_to_video", {"model": "gen4.5", "promptText": "a dog", "ratio": "720:1280", "duration": 8}),
            ("sound_effect", {"model": "eleven_text_to_sound_v2", "promptText": "a door", "duration": 2}),
        ]:
            task = httpx.post(sim.base_url + "/v1/" + endpoint, json=body, headers=headers).json()
            url = httpx.get(sim.base_url + "/v1/tasks/" + task["id"], headers=headers).json()["output"][0]
            outputs.append((url.split("?")[0].rsplit(".", 1)[1], httpx.get(url).content))
    assert outputs == [("mp4", sample_mp4()), ("mp4", sample_mp4()), ("wav", sample_wav())], outputs
    print("served the samples")
    """
)


def test_without_pyav_the_samples_are_served_with_one_warning_line():
    result = subprocess.run([sys.executable, "-c", FALLBACK], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "served the samples"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "PyAV is not installed" in lines[0] and "airflow-provider-runway[simulator-media]" in lines[0]
