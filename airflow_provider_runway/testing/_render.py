"""Drawing an output as its :class:`~airflow_provider_runway.testing._output_plan.Plan` says, with PyAV.

PyAV (``av``, the ``simulator-media`` extra) is imported by this module only, and this module only when an
output is first downloaded (:mod:`~airflow_provider_runway.testing._outputs` falls back to the samples when
it is missing). What comes out is a real, standard file:

* videos: H.264 (libx264, ``ultrafast``, CRF 26) in MP4, yuv420p, 24 fps, ``moov`` first (faststart): a slow
  diagonal drift over the input image, or over a frame generated from the request; a clip the request
  transforms is replayed at the output's size, tinted, for as long as it lasts;
* images: PNG (or JPEG, WebP), the input image filling the frame, or a generated frame;
* audio: MP3 (or WAV, Ogg Opus) at 24 kHz mono, a sequence of soft tones as long as asked.

A generated frame is a few soft coloured blobs on a gradient, drawn at 64 px and scaled up: cheap to draw
and to encode. A 5 s 1280x720 clip takes about a third of a second of CPU
(``benchmarks/bench_sim_media.py``).
"""

from __future__ import annotations

import io
import math
import os
import random
import tempfile
from array import array
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
import av.filter

from airflow_provider_runway.testing._output_plan import FPS, Plan, frame_size, length

CRF = "26"
PRESET = "ultrafast"
#: How much larger than the output the still is, so that the drift has room to move.
DRIFT_MARGIN = 1.125
AUDIO_RATE = 24_000
AUDIO_CODECS = {"mp3": ("mp3", "libmp3lame"), "wav": ("wav", "pcm_s16le"), "ogg": ("ogg", "libopus")}
IMAGE_CODECS = {"png": ("png", "rgb24"), "jpg": ("mjpeg", "yuvj420p"), "webp": ("libwebp", "yuv420p")}
TIME_BASE = Fraction(1, FPS)


def render(plan: Plan) -> bytes:
    """The bytes of the file ``plan`` describes."""
    if plan.kind == "image":
        return render_image(plan)
    if plan.kind == "audio":
        return render_audio(plan)
    return render_video(plan)


# ------------------------------------------------------------------------------------------------ inputs
def open_image(data: bytes | None) -> av.VideoFrame | None:
    """The first frame of an image (PNG, JPEG, WebP...), or None when the bytes are not one."""
    if not data:
        return None
    try:
        with av.open(io.BytesIO(data), "r") as container:
            if not container.streams.video:
                return None
            for frame in container.decode(video=0):
                return cast(av.VideoFrame, frame)
    except (av.FFmpegError, ValueError, OSError):
        return None
    return None


def probe_clip(data: bytes | None) -> tuple[tuple[int, int] | None, float | None]:
    """``(size, seconds)`` of a video or audio clip (``size`` None for sound only); ``(None, None)`` when the
    bytes are not a clip."""
    if not data:
        return None, None
    try:
        with av.open(io.BytesIO(data), "r") as container:
            seconds = container.duration / 1_000_000 if container.duration else None
            size = None
            if container.streams.video:
                stream = container.streams.video[0]
                size = (stream.width, stream.height) if stream.width and stream.height else None
                if seconds is None and stream.duration and stream.time_base:
                    seconds = float(stream.duration * stream.time_base)
            return size, seconds
    except (av.FFmpegError, ValueError, OSError):
        return None, None


def generated_frame(width: int, height: int, seed: int) -> av.VideoFrame:
    """A frame drawn from ``seed``: soft blobs on a gradient, drawn small and scaled up (yuv420p)."""
    rng = random.Random(seed)
    small_w, small_h = (
        (64, max(2, round(64 * height / width)))
        if width >= height
        else (
            max(2, round(64 * width / height)),
            64,
        )
    )
    top, bottom = _colour(rng), _colour(rng)
    blobs = [
        (rng.uniform(0, small_w), rng.uniform(0, small_h), rng.uniform(6, 20), _colour(rng)) for _ in range(4)
    ]
    frame = av.VideoFrame(small_w, small_h, "rgb24")
    line = frame.planes[0].line_size
    rows = []
    for y in range(small_h):
        mix = y / max(1, small_h - 1)
        row = bytearray(line)
        for x in range(small_w):
            pixel = [top[c] * (1 - mix) + bottom[c] * mix for c in range(3)]
            for bx, by, radius, colour in blobs:
                weight = math.exp(-((x - bx) ** 2 + (y - by) ** 2) / (2 * radius * radius))
                pixel = [pixel[c] * (1 - weight) + colour[c] * weight for c in range(3)]
            row[3 * x : 3 * x + 3] = bytes(min(255, max(0, int(v))) for v in pixel)
        rows.append(bytes(row))
    frame.planes[0].update(b"".join(rows))
    return frame.reformat(width, height, "yuv420p", interpolation="BICUBIC")


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(30, 230), rng.randrange(30, 230), rng.randrange(30, 230))


def _graph(like: av.VideoFrame, chain: list[tuple[str, str]]) -> av.filter.Graph:
    """A filter graph from frames like ``like`` through ``chain`` (``(filter, arguments)`` in order)."""
    graph = av.filter.Graph()
    node = graph.add_buffer(width=like.width, height=like.height, format=like.format, time_base=TIME_BASE)
    for name, args in chain:
        step = graph.add(name, args)
        node.link_to(step)
        node = step
    sink = graph.add("buffersink")
    node.link_to(sink)
    graph.configure()
    return graph


class Fitter:
    """Scales frames like ``like`` to fill ``width`` x ``height`` (centre kept, the overflow cropped),
    optionally tinted, into ``fmt``: one filter graph for every frame of a clip."""

    def __init__(
        self, like: av.VideoFrame, width: int, height: int, *, hue: float = 0.0, fmt: str = "yuv420p"
    ) -> None:
        chain = [
            ("scale", f"{width}:{height}:force_original_aspect_ratio=increase:flags=bicubic"),
            ("crop", f"{width}:{height}"),
        ]
        if hue:
            chain.append(("hue", f"h={hue:.0f}:s=1.15"))
        chain.append(("format", fmt))
        self.graph = _graph(like, chain)
        self.pts = 0

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        frame.pts = self.pts
        frame.time_base = TIME_BASE
        self.pts += 1
        self.graph.push(frame)
        return cast(av.VideoFrame, self.graph.pull())


def fit(
    frame: av.VideoFrame, width: int, height: int, *, hue: float = 0.0, fmt: str = "yuv420p"
) -> av.VideoFrame:
    """``frame`` scaled to fill ``width`` x ``height`` (see :class:`Fitter`)."""
    return Fitter(frame, width, height, hue=hue, fmt=fmt)(frame)


# ------------------------------------------------------------------------------------------------ video
def render_video(plan: Plan) -> bytes:
    """An H.264 MP4 of the plan's size and length."""
    clip_size, clip_seconds = probe_clip(plan.clip) if plan.follows_clip else (None, None)
    still = open_image(plan.image)
    source = clip_size or ((still.width, still.height) if still is not None else None)
    width, height = frame_size(plan, source)
    count = max(1, round(length(plan, clip_seconds) * FPS))
    hue = 40 + plan.seed % 240
    frames = _replayed(plan.clip, width, height, count, hue) if clip_size else None
    if frames is None:
        frames = _drift(still, width, height, count, plan.seed)
    return encode_mp4(frames, width, height)


def _drift(
    still: av.VideoFrame | None, width: int, height: int, count: int, seed: int
) -> Iterator[av.VideoFrame]:
    """``count`` frames of a slow diagonal drift across ``still`` (or a generated frame)."""
    big_w, big_h = 2 * math.ceil(width * DRIFT_MARGIN / 2), 2 * math.ceil(height * DRIFT_MARGIN / 2)
    base = fit(still, big_w, big_h) if still is not None else generated_frame(big_w, big_h, seed)
    progress = f"n/{max(1, count - 1)}" if seed % 2 else f"(1-n/{max(1, count - 1)})"
    graph = _graph(
        base, [("crop", f"w={width}:h={height}:x=(in_w-out_w)*{progress}:y=(in_h-out_h)*{progress}")]
    )
    for index in range(count):
        base.pts = index
        base.time_base = TIME_BASE
        graph.push(base)
        yield cast(av.VideoFrame, graph.pull())


def _replayed(
    clip: bytes | None, width: int, height: int, count: int, hue: float
) -> Iterator[av.VideoFrame] | None:
    """The clip's frames at 24 fps (each output instant shows the clip's latest frame), filling the output
    and tinted; None when the clip has no decodable frame."""
    if not clip:
        return None
    try:
        container = av.open(io.BytesIO(clip), "r")
        decoded = cast(Iterator[av.VideoFrame], container.decode(video=0))
        first = next(decoded)
    except (av.FFmpegError, ValueError, OSError, StopIteration, IndexError):
        return None

    fitter = Fitter(first, width, height, hue=hue)

    def frames() -> Iterator[av.VideoFrame]:
        current = first
        upcoming = _next(decoded)
        start = first.time or 0.0
        try:
            for index in range(count):
                instant = start + index / FPS
                while upcoming is not None and upcoming.time is not None and upcoming.time <= instant + 1e-6:
                    current, upcoming = upcoming, _next(decoded)
                yield fitter(current)
        finally:
            container.close()

    return frames()


def _next(decoded: Iterator[av.VideoFrame]) -> av.VideoFrame | None:
    try:
        return next(decoded)
    except (StopIteration, av.FFmpegError):
        return None


def _video_codec() -> tuple[str, dict[str, str]]:
    """libx264 with a fast preset when the wheel has it, else another H.264 encoder, else MPEG-4 Part 2."""
    for name, options in (("libx264", {"preset": PRESET, "crf": CRF}), ("libopenh264", {}), ("mpeg4", {})):
        try:
            av.codec.Codec(name, "w")
        except (av.FFmpegError, ValueError):
            continue
        return name, options
    raise RuntimeError("this PyAV build has no H.264 or MPEG-4 encoder")


def encode_mp4(frames: Iterator[av.VideoFrame], width: int, height: int) -> bytes:
    """Encode ``frames`` (yuv420p, ``width`` x ``height``) at 24 fps into an MP4 with ``moov`` first.

    Written to a temporary file: the muxer's faststart pass re-reads what it wrote, which it can do only
    with a file of its own.
    """
    handle, path = tempfile.mkstemp(prefix="runway-simulator-", suffix=".mp4")
    os.close(handle)
    try:
        codec, options = _video_codec()
        with av.open(path, "w", format="mp4", options={"movflags": "+faststart"}) as out:
            stream = cast(Any, out.add_stream(codec, rate=FPS, options=options))
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for index, frame in enumerate(frames):
                frame.pts = index
                frame.time_base = TIME_BASE
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        return Path(path).read_bytes()
    finally:
        os.unlink(path)


# ------------------------------------------------------------------------------------------------ images
def render_image(plan: Plan) -> bytes:
    """A PNG (JPEG, WebP) of the plan's size: the input image filling it, or a generated frame."""
    source = open_image(plan.image)
    width, height = frame_size(plan, (source.width, source.height) if source is not None else None)
    codec, fmt = IMAGE_CODECS.get(plan.ext, IMAGE_CODECS["png"])
    if source is not None:
        tint = 0.0 if plan.scale != 1.0 else float(plan.seed % 60)  # an upscale looks like its input
        frame = fit(source, width, height, hue=tint, fmt=fmt)
    else:
        frame = generated_frame(width, height, plan.seed).reformat(format=fmt)
    context = cast(Any, av.CodecContext.create(codec, "w"))
    context.width, context.height, context.pix_fmt = width, height, fmt
    context.time_base = TIME_BASE
    frame.pts = 0
    packets = [*context.encode(frame), *context.encode(None)]
    data = b"".join(bytes(packet) for packet in packets)
    if plan.ext == "webp" and not data.startswith(b"RIFF"):  # the raw codec output, without its container
        data = b"RIFF" + (len(data) + 4).to_bytes(4, "little") + b"WEBP" + data
    return data


# ------------------------------------------------------------------------------------------------ audio
def render_audio(plan: Plan) -> bytes:
    """An MP3 (WAV, Ogg Opus) of the plan's length: soft tones, or as long as the input clip."""
    _, clip_seconds = probe_clip(plan.clip) if plan.follows_clip else (None, None)
    samples = tones(length(plan, clip_seconds), plan.seed)
    fmt, codec = AUDIO_CODECS.get(plan.ext, AUDIO_CODECS["mp3"])
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as out:
        stream = cast(Any, out.add_stream(codec, rate=AUDIO_RATE, layout="mono"))
        step = 4096
        for offset in range(0, len(samples), step):
            chunk = samples[offset : offset + step]
            frame = av.AudioFrame(format="s16", layout="mono", samples=len(chunk))
            frame.planes[0].update(chunk.tobytes())
            frame.sample_rate = AUDIO_RATE
            frame.pts = offset
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buffer.getvalue()


_SINE = [math.sin(2 * math.pi * i / 1024) for i in range(1024)]
_SCALE = (262, 294, 330, 392, 440, 523, 587, 659)  # a pentatonic-ish run of notes, Hz


def tones(seconds: float, seed: int) -> array:
    """``seconds`` of 16-bit mono samples at 24 kHz: a note every quarter second, each fading in and out."""
    rng = random.Random(seed)
    total = max(1, round(seconds * AUDIO_RATE))
    note = AUDIO_RATE // 4
    out = array("h")
    for start in range(0, total, note):
        size = min(note, total - start)
        step = rng.choice(_SCALE) * 1024 / AUDIO_RATE
        ramp = max(1, size // 8)
        out.extend(
            int(9000 * _SINE[int(i * step) & 1023] * min(1.0, i / ramp, (size - i) / ramp))
            for i in range(size)
        )
    return out
