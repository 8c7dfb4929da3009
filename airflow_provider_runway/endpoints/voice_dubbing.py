"""``POST /v1/voice_dubbing``: speech dubbed into another language (Runway direct)."""

from __future__ import annotations

from airflow_provider_runway.endpoints._declare import REQUIRED, Arg, Endpoint

ENDPOINTS = (
    Endpoint(
        "voice_dubbing",
        summary="Dub speech into another language (``POST /v1/voice_dubbing``; Runway direct). The audio is "
        "saved like a video.",
        output_ext="mp3",
        arguments=(
            Arg(
                "audio_uri",
                file="audio",
                default=REQUIRED,
                doc="an https URL, a data URI, a ``runway://`` upload URI, a local path or object-storage URL "
                "(templated)",
            ),
            Arg("target_lang", default=REQUIRED, doc="e.g. ``es`` (templated)"),
            Arg("model", default="eleven_voice_dubbing", doc="the dubbing model (templated)"),
            Arg("disable_voice_cloning", doc="use a stock voice instead of the speaker's"),
            Arg("drop_background_audio", doc="keep only the speech"),
            Arg("num_speakers", doc="how many speakers (0: detect; templated)"),
        ),
    ),
)
