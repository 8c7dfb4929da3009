"""``POST /v1/speech_to_speech``: a recording's speech in another voice (Runway direct)."""

from __future__ import annotations

from airflow_provider_runway.endpoints._declare import REQUIRED, Arg, Endpoint

ENDPOINTS = (
    Endpoint(
        "speech_to_speech",
        summary="Re-voice the speech of an audio or video file (``POST /v1/speech_to_speech``; Runway "
        "direct). The audio is saved like a video.",
        output_ext="mp3",
        arguments=(
            Arg(
                "media",
                file=("audio", "video"),
                form="typed_media",
                kind_from="media_type",
                default=REQUIRED,
                doc="``{'type': 'audio'|'video', 'uri': ...}``, or a URI / path whose data-URI type or file "
                "extension says which (else give ``media_type``) (templated)",
            ),
            Arg("media_type", form="hint", doc="``audio`` or ``video`` when ``media`` does not say"),
            Arg(
                "voice",
                default=REQUIRED,
                doc="``{'type': 'runway-preset', 'presetId': 'Maya'}`` (templated)",
            ),
            Arg("model", default="eleven_multilingual_sts_v2", doc="the voice model (templated)"),
            Arg("remove_background_noise", doc="clean the input first"),
        ),
    ),
)
