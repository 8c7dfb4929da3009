"""``POST /v1/voice_isolation``: the voice of a recording, without the rest (Runway direct)."""

from __future__ import annotations

from airflow_provider_runway.endpoints._declare import REQUIRED, Arg, Endpoint

ENDPOINTS = (
    Endpoint(
        "voice_isolation",
        summary="Isolate the voice of a recording (``POST /v1/voice_isolation``; Runway direct). The audio "
        "is saved like a video.",
        output_ext="mp3",
        arguments=(
            Arg(
                "audio_uri",
                file="audio",
                default=REQUIRED,
                doc="an https URL, a data URI, a ``runway://`` upload URI, a local path or object-storage URL "
                "(templated)",
            ),
            Arg("model", default="eleven_voice_isolation", doc="the isolation model (templated)"),
        ),
    ),
)
