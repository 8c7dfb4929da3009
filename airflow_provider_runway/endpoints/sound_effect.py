"""``POST /v1/sound_effect``: a sound effect from a prompt (Runway direct)."""

from __future__ import annotations

from airflow_provider_runway.endpoints._declare import REQUIRED, Arg, Endpoint

ENDPOINTS = (
    Endpoint(
        "sound_effect",
        summary="Generate a sound effect from a prompt (``POST /v1/sound_effect``; Runway direct). The audio "
        "is saved like a video.",
        output_ext="mp3",
        arguments=(
            Arg("prompt_text", default=REQUIRED, doc="the sound to make (templated)"),
            Arg(
                "model",
                default="eleven_text_to_sound_v2",
                doc="``eleven_text_to_sound_v2`` or ``seed_audio`` (templated)",
            ),
            Arg("duration", doc="seconds, 0.5 to 30 (eleven_text_to_sound_v2; templated)"),
            Arg("loop", doc="make it loop seamlessly (eleven_text_to_sound_v2)"),
            Arg(
                "reference_audios",
                file="audio",
                form="media_list",
                doc="up to three audio URIs or files to imitate (seed_audio)",
            ),
            Arg("speech_rate", doc="-50 to 100 (seed_audio)"),
            Arg("loudness_rate", doc="-50 to 100 (seed_audio)"),
            Arg("pitch_rate", doc="-12 to 12 (seed_audio)"),
            Arg("sample_rate", doc="e.g. 44100 (seed_audio)"),
            Arg("output_format", doc="``wav``, ``mp3`` or ``ogg_opus`` (seed_audio)"),
        ),
    ),
)
