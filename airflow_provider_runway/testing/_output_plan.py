"""What an output should be, read from the create body alone: kind, file type, size, length and inputs.

Pure and stdlib only (no rendering library): :mod:`~airflow_provider_runway.testing._render` draws what a
:class:`Plan` says, and :func:`frame_size` settles the size once the inputs' own sizes are known.

The rules, the same for every endpoint of a kind (the spec's per-model tables are the validator's business):

* ``ratio`` ``"1280:720"`` (pixels) is the size itself (an odd side rounded up, for yuv420p); ``"16:9"`` (an aspect) is that
  shape at 720 px on the short side for videos, 1024 px for images; ``"adaptive"``, ``"auto"`` or none
  follow the input (a video's own size, an image's shape), else 1280x720 (videos) or 1024x1024 (images).
* ``duration`` (a number, or a numeric string) is the length; without one, an endpoint that transforms a
  clip (video-to-video, upscale, HDR, a performance's reference) keeps the clip's length, speech lasts as
  long as its text takes to say (15 characters a second), anything else lasts 5 s.
* Inputs are read from data URIs only: the simulator never fetches a URL (every URL the validator lets
  through is https on a hostname, which this machine may not reach), and keeps no upload's bytes; without a
  readable input the output is drawn from a frame generated from the request.
* The upscalers double the input (at most 2560 px on a video's long side, 4096 on an image's).
* Audio is MP3 unless ``outputFormat`` asks for ``wav`` or ``ogg_opus``; images PNG unless it asks for
  ``jpeg`` or ``webp``; videos always H.264 MP4 (ProRes, HDR and frame sequences are not drawn).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from airflow_provider_runway.testing._endpoints import ENDPOINTS
from airflow_provider_runway.testing._validation import asset_fields

FPS = 24
DEFAULT_SECONDS = 5.0
MIN_SECONDS, MAX_SECONDS = 0.5, 60.0
SPEECH_CHARS_PER_SECOND = 15.0
SHORT_SIDE = {"video": 720, "image": 1024}
DEFAULT_SIZE = {"video": (1280, 720), "image": (1024, 1024)}
UPSCALE = 2.0
LONG_SIDE_CAP = {"video": 2560, "image": 4096}
#: Endpoints whose output is their input clip transformed: same length, same size unless asked otherwise.
FOLLOWS_CLIP = frozenset({"video_to_video", "video_upscale", "video_to_hdr", "character_performance"})
#: Endpoints that double their input's size.
UPSCALERS = frozenset({"video_upscale", "image_upscale"})
#: Audio endpoints whose output lasts as long as their input (speech or a clip's sound track).
FOLLOWS_AUDIO = frozenset({"speech_to_speech", "voice_dubbing", "voice_isolation"})
AUDIO_FORMATS = {"wav": "wav", "mp3": "mp3", "ogg_opus": "ogg"}
IMAGE_FORMATS = {"png": "png", "jpeg": "jpg", "jpg": "jpg", "webp": "webp"}


@dataclass(frozen=True)
class Plan:
    """One output as the request asks for it (``size`` or ``aspect`` may be settled only by the inputs).

    :ivar kind: ``video``, ``image`` or ``audio``.
    :ivar ext: the file type: ``mp4``, ``png``, ``jpg``, ``webp``, ``mp3``, ``wav`` or ``ogg``.
    :ivar size: the exact pixels asked (``ratio`` in pixels), or None.
    :ivar aspect: the shape asked (``ratio`` as an aspect such as ``16:9``), or None.
    :ivar seconds: the length asked (``duration``, or how long the text takes to say), or None.
    :ivar image: bytes of the input image to draw from, or None.
    :ivar clip: bytes of the input clip (video, or audio for the audio endpoints), or None.
    :ivar follows_clip: the output keeps the clip's length (and, unless asked otherwise, its size).
    :ivar scale: how much the upscalers enlarge their input (1 elsewhere).
    :ivar seed: varies what is drawn from one request and output to the next.
    """

    kind: str
    ext: str
    size: tuple[int, int] | None = None
    aspect: tuple[int, int] | None = None
    seconds: float | None = None
    image: bytes | None = None
    clip: bytes | None = None
    follows_clip: bool = False
    scale: float = 1.0
    seed: int = 0


def kind_of(endpoint: str) -> str:
    """``video``, ``image`` or ``audio``: what an endpoint makes (``video`` for one the table lacks)."""
    entry = ENDPOINTS.get(endpoint)
    return entry.output if entry else "video"


def extension(endpoint: str, body: Any) -> str:
    """The file type of an endpoint's outputs for this body (``outputFormat`` where it chooses one)."""
    kind = kind_of(endpoint)
    fmt = body.get("outputFormat") if isinstance(body, dict) else None
    if kind == "audio":
        return AUDIO_FORMATS.get(fmt, "mp3") if isinstance(fmt, str) else "mp3"
    if kind == "image":
        return IMAGE_FORMATS.get(fmt, "png") if isinstance(fmt, str) else "png"
    return "mp4"


def fingerprint(endpoint: str, body: Any, index: int) -> str:
    """The identity of one output: two tasks made from the same request get the same bytes."""
    text = json.dumps([endpoint, body, index], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def parse_ratio(value: Any) -> tuple[str, tuple[int, int]] | None:
    """``("size", (w, h))`` for pixels (both sides at least 100), ``("aspect", (a, b))`` for a shape such as
    ``16:9``; None for ``adaptive``, ``auto``, none or anything else."""
    if not isinstance(value, str):
        return None
    left, sep, right = value.partition(":")
    if not sep or not left.isdigit() or not right.isdigit() or int(left) <= 0 or int(right) <= 0:
        return None
    pair = (int(left), int(right))
    return ("size", pair) if min(pair) >= 100 else ("aspect", pair)


def seconds_of(value: Any) -> float | None:
    """A ``duration`` as seconds between 0.5 and 60, or None when it is not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        return None
    return min(MAX_SECONDS, max(MIN_SECONDS, float(value)))


def data_uri_bytes(value: Any) -> bytes | None:
    """The payload of a base64 data URI, or None (a URL, a ``runway://`` URI, broken base64)."""
    if not isinstance(value, str) or not value.startswith("data:"):
        return None
    header, sep, payload = value.partition(",")
    if not sep or not header.endswith(";base64"):
        return None
    try:
        return base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError):
        return None


def _inputs(body: dict[str, Any]) -> dict[str, list[tuple[tuple[str | int, ...], Any]]]:
    found: dict[str, list[tuple[tuple[str | int, ...], Any]]] = {"image": [], "video": [], "audio": []}
    for path, kind, value in asset_fields(body):
        found.setdefault(kind, []).append((path, value))
    return found


def _first_image(body: dict[str, Any], images: list[tuple[tuple[str | int, ...], Any]]) -> bytes | None:
    """The image to draw from: ``promptImage``'s ``first`` frame before any other, then the first readable."""
    prompt = body.get("promptImage")
    if isinstance(prompt, list):
        firsts = [
            item.get("uri") for item in prompt if isinstance(item, dict) and item.get("position") == "first"
        ]
        for uri in firsts:
            if (data := data_uri_bytes(uri)) is not None:
                return data
    for _, value in images:
        if (data := data_uri_bytes(value)) is not None:
            return data
    return None


def _clip(endpoint: str, inputs: dict[str, list[tuple[tuple[str | int, ...], Any]]]) -> bytes | None:
    """The input clip: a performance's ``reference``, else the first readable video (or, for the audio
    endpoints, the first readable audio, then video)."""
    kinds = ("audio", "video") if kind_of(endpoint) == "audio" else ("video",)
    candidates = [item for kind in kinds for item in inputs.get(kind, [])]
    if endpoint == "character_performance":
        candidates.sort(key=lambda item: item[0][:1] != ("reference",))
    for _, value in candidates:
        if (data := data_uri_bytes(value)) is not None:
            return data
    return None


def plan_for(endpoint: str, body: Any, index: int = 0) -> Plan:
    """What output ``index`` of a task made from ``body`` on ``endpoint`` should be."""
    body = body if isinstance(body, dict) else {}
    kind = kind_of(endpoint)
    inputs = _inputs(body)
    ratio = parse_ratio(body.get("ratio"))
    seconds = seconds_of(body.get("duration"))
    if seconds is None and endpoint == "text_to_speech" and isinstance(body.get("promptText"), str):
        text_seconds = len(body["promptText"]) / SPEECH_CHARS_PER_SECOND
        seconds = min(MAX_SECONDS, max(1.0, text_seconds))
    image = _first_image(body, inputs.get("image", [])) if kind != "audio" else None
    clip = _clip(endpoint, inputs) if kind != "image" else None
    return Plan(
        kind=kind,
        ext=extension(endpoint, body),
        size=ratio[1] if ratio and ratio[0] == "size" else None,
        aspect=ratio[1] if ratio and ratio[0] == "aspect" else None,
        seconds=seconds,
        image=image,
        clip=clip,
        follows_clip=endpoint in FOLLOWS_CLIP or endpoint in FOLLOWS_AUDIO,
        scale=UPSCALE if endpoint in UPSCALERS else 1.0,
        seed=int(fingerprint(endpoint, body, index)[:8], 16),
    )


def _even(value: float) -> int:
    return max(2, 2 * math.ceil(round(value, 6) / 2))


def frame_size(plan: Plan, source: tuple[int, int] | None) -> tuple[int, int]:
    """The pixels of a video or image output, given the size of the input it is drawn from (or None).

    Asked pixels win; an asked aspect gets the kind's short side; otherwise the input's size for a
    transformed clip, the input's shape at the short side for anything else, or the kind's default size.
    The upscalers double the input, within the kind's long-side cap. Always even, for yuv420p.
    """
    short = SHORT_SIDE.get(plan.kind, 720)
    width: float
    height: float
    if plan.size is not None:
        width, height = plan.size
    elif plan.aspect is not None:
        a, b = plan.aspect
        width, height = (short * a / b, short) if a >= b else (short, short * b / a)
    elif source is not None and (plan.follows_clip or plan.scale != 1.0):
        width, height = source[0] * plan.scale, source[1] * plan.scale
        cap = LONG_SIDE_CAP.get(plan.kind, 2560)
        if max(width, height) > cap:
            shrink = cap / max(width, height)
            width, height = width * shrink, height * shrink
    elif source is not None:
        a, b = source
        width, height = (short * a / b, short) if a >= b else (short, short * b / a)
    else:
        width, height = DEFAULT_SIZE.get(plan.kind, (1280, 720))
    return _even(width), _even(height)


def length(plan: Plan, source_seconds: float | None) -> float:
    """Seconds of a video or audio output, given the length of its input clip (or None)."""
    if plan.seconds is not None:
        return plan.seconds
    if plan.follows_clip and source_seconds is not None and source_seconds > 0:
        return min(MAX_SECONDS, max(MIN_SECONDS, source_seconds))
    return DEFAULT_SECONDS
