"""``POST /v1/text_to_speech``: speech from a text in a chosen voice (Runway direct)."""

from __future__ import annotations

from airflow_provider_runway.endpoints._declare import REQUIRED, Arg, Endpoint

ENDPOINTS = (
    Endpoint(
        "text_to_speech",
        summary="Speak a text (``POST /v1/text_to_speech``; Runway direct). The audio is saved like a video.",
        output_ext="mp3",
        arguments=(
            Arg("prompt_text", default=REQUIRED, doc="what to say (templated)"),
            Arg(
                "voice",
                doc="``{'type': 'runway-preset', 'presetId': 'Maya'}`` (eleven models, required there), or "
                "``{'type': 'reference-audio', 'audioUri': ...}`` (seed_audio) (templated)",
            ),
            Arg(
                "model",
                default="eleven_multilingual_v2",
                doc="``eleven_multilingual_v2``, ``eleven_v3`` or ``seed_audio`` (templated)",
            ),
            Arg("seed", doc="a seed (eleven_v3; templated)"),
            Arg("stability", doc="0 to 1 (eleven_v3)"),
            Arg("similarity_boost", doc="0 to 1 (eleven_v3)"),
            Arg("style", doc="0 to 1 (eleven_v3)"),
            Arg("speed", doc="0.7 to 1.2 (eleven_v3)"),
            Arg("use_speaker_boost", doc="(eleven_v3)"),
            Arg("language_code", doc="e.g. ``en`` (eleven_v3)"),
            Arg("apply_text_normalization", doc="``auto``, ``on`` or ``off`` (eleven_v3)"),
            Arg("speech_rate", doc="-50 to 100 (seed_audio)"),
            Arg("loudness_rate", doc="-50 to 100 (seed_audio)"),
            Arg("pitch_rate", doc="-12 to 12 (seed_audio)"),
            Arg("sample_rate", doc="e.g. 44100 (seed_audio)"),
            Arg("output_format", doc="``wav``, ``mp3`` or ``ogg_opus`` (seed_audio)"),
        ),
    ),
)
