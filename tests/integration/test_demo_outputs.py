"""`make demo` end to end (scripts/demo.py, in a temporary folder): its last line names the summary page, the
page plays every clip beside its source image, and every clip is what the DAG asked for (1280x720, 5 s)."""

from __future__ import annotations

import html.parser
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import av
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
INPUTS = sorted(p.name for p in (ROOT / "example_dags" / "inputs").iterdir() if p.suffix == ".png")


class Cards(html.parser.HTMLParser):
    """Each <figure> of the page: its <img> and <video> tags' attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.cards: list[dict[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "figure":
            self.cards.append({})
        elif tag in ("img", "video") and self.cards:
            self.cards[-1][tag] = dict(attrs)


def path_of(url: str) -> Path:
    parts = urlsplit(url)
    assert parts.scheme == "file", url
    return Path(unquote(parts.path))


@pytest.mark.skipif(shutil.which("timeout") is None, reason="the demo needs coreutils timeout")
def test_the_demo_shows_clips_of_the_asked_size_and_length(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("RUNWAY_API_KEY", "RUNWAY_BASE_URL")}
    env.update(RUNWAY_DEMO_HOME=str(tmp_path / "home"), RUNWAY_DEMO_OUTPUT=str(tmp_path / "output"))
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    last = result.stdout.strip().splitlines()[-1]
    assert "summary page" in last and "file://" in last, last
    page = path_of(last[last.index("file://") :].strip())
    assert page == tmp_path / "output" / "summary.html"

    parser = Cards()
    parser.feed(page.read_text(encoding="utf-8"))
    assert len(parser.cards) == len(INPUTS) == 3
    sources = []
    for card in parser.cards:
        video, image = card["video"], card["img"]
        assert "controls" in video
        sources.append(path_of(image["src"]).name)
        clip = path_of(video["src"])
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            frames = sum(1 for _ in container.decode(video=0))
            assert (stream.width, stream.height) == (1280, 720)  # the DAG's ratio="1280:720"
            assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
            assert frames / float(stream.average_rate) == pytest.approx(5.0, abs=0.05)  # duration=5
    assert sorted(sources) == INPUTS
