"""``testing/_outputs.py``: one render per output however many ask at once, a bounded cache, the samples."""

from __future__ import annotations

import threading
import time

import pytest

from airflow_provider_runway.testing import _media, _outputs
from airflow_provider_runway.testing._outputs import OutputCache, output_bytes, output_ext


def test_concurrent_requests_for_one_output_render_it_once():
    cache = OutputCache()
    calls = []
    started = threading.Event()

    def make() -> bytes:
        calls.append(1)
        started.set()
        time.sleep(0.2)
        return b"rendered"

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", make))) for _ in range(4)]
    threads[0].start()
    started.wait(5)
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert results == [b"rendered"] * 4
    assert len(calls) == 1 and cache.renders == 1


def test_a_failed_render_reaches_every_waiter_and_is_tried_again_next_time():
    cache = OutputCache()

    def boom() -> bytes:
        raise RuntimeError("encoder fell over")

    with pytest.raises(RuntimeError):
        cache.get("k", boom)
    assert cache.get("k", lambda: b"second try") == b"second try"


def test_the_least_recently_used_output_goes_first_within_the_bounds():
    cache = OutputCache(entries=2, max_bytes=10)
    cache.get("a", lambda: b"aaa")
    cache.get("b", lambda: b"bbb")
    cache.get("a", lambda: b"never")  # a is now the most recent
    cache.get("c", lambda: b"ccc")  # over 2 entries: b goes
    assert cache.get("a", lambda: b"new a") == b"aaa"
    assert cache.get("b", lambda: b"new b") == b"new b"
    big = OutputCache(entries=10, max_bytes=10)
    big.get("a", lambda: b"aaaaaa")
    big.get("b", lambda: b"bbbbbb")  # 12 bytes: a goes
    assert big.get("a", lambda: b"again") == b"again"


def test_sample_mode_serves_the_samples_and_their_extensions():
    cache = OutputCache()
    assert output_bytes(cache, "image_to_video", {}, 0, "sample") == _media.sample_mp4()
    assert output_bytes(cache, "text_to_image", {}, 0, "sample") == _media.sample_png()
    assert output_bytes(cache, "text_to_speech", {}, 0, "sample") == _media.sample_wav()
    assert output_ext("text_to_speech", {}, "sample") == "wav"
    assert output_ext("text_to_image", {"outputFormat": "jpeg"}, "sample") == "png"
    assert cache.renders == 0


def test_request_mode_renders_once_per_request_and_output():
    cache = OutputCache()
    body = {"promptText": "a cat", "ratio": "1280:720"}
    first = output_bytes(cache, "text_to_image", body, 0, "request")
    assert first[:8] == b"\x89PNG\r\n\x1a\n" and first != _media.sample_png()
    assert output_bytes(cache, "text_to_image", dict(body), 0, "request") is first
    assert output_bytes(cache, "text_to_image", body, 1, "request") != first
    assert cache.renders == 2
    assert output_ext("text_to_speech", {}, "request") == "mp3"


def test_a_render_that_fails_serves_the_sample_and_logs_it(monkeypatch, caplog):
    from airflow_provider_runway.testing import _render

    def broken(plan):
        raise RuntimeError("no encoder")

    monkeypatch.setattr(_render, "render", broken)
    data = output_bytes(OutputCache(), "image_to_video", {"promptText": "x"}, 0, "request")
    assert data == _media.sample_mp4()
    assert "rendering an output of image_to_video failed" in caplog.text


def test_without_pyav_every_output_is_a_sample(monkeypatch):
    monkeypatch.setattr(_outputs, "_availability", [False])
    assert (
        output_bytes(OutputCache(), "image_to_video", {"ratio": "1280:720"}, 0, "request")
        == _media.sample_mp4()
    )
    assert output_ext("sound_effect", {}, "request") == "wav"
    assert output_ext("image_to_video", {}, "request") == "mp4"
