"""``POST /v1/image_to_video``: a video from an image (Runway direct and the gateway)."""

from __future__ import annotations

from airflow_provider_runway.endpoints._declare import REQUIRED, Arg, Endpoint

ENDPOINTS = (
    Endpoint(
        "image_to_video",
        summary="Generate a video from an image (``POST /v1/image_to_video``; Runway direct and the gateway).",
        gateway=True,
        arguments=(
            Arg(
                "prompt_image",
                file="image",
                form="frames",
                default=REQUIRED,
                doc="an https URL, a data URI, a ``runway://`` upload URI, a local path or object-storage "
                "URL, or a list of frames: URIs (first, then last) or ``{'uri': ..., 'position': "
                "'first'|'last'}`` (templated)",
            ),
            Arg(
                "model",
                default="gen4_turbo",
                doc="e.g. ``gen4_turbo``, ``gen4.5``, ``veo3.1``, ``seedance2``, or the gateway's "
                "``gen3a_turbo``; unknown models are passed through for the server to judge (templated)",
            ),
            Arg("prompt_text", doc="what should happen (templated; its limit is the model's)"),
            Arg("seed", doc="a seed, for the models that take one (templated)"),
            Arg("duration", doc="seconds, or ``auto`` for the seedance models (templated)"),
            Arg("ratio", doc="e.g. ``1280:720``; each model has its own list (templated)"),
            Arg("watermark", doc="add a watermark (the gateway's ``gen3a_turbo``)"),
            Arg("content_moderation", doc="e.g. ``{'publicFigureThreshold': 'low'}``"),
            Arg("audio", doc="generate sound too (veo3.1, seedance, wan3)"),
            Arg("negative_prompt", doc="what to avoid (veo3.1)"),
            Arg("resolution", doc="e.g. ``768P``, ``1080p`` (hailuo3, happyhorse, grok_imagine)"),
            Arg(
                "reference_audio",
                file="audio",
                form="media_list",
                doc="audio URIs or files to follow (seedance, hailuo3, wan3)",
            ),
            Arg("reference_videos", file="video", form="media_list", doc="video URIs or files (wan3)"),
            Arg("output_format", doc="e.g. ``prores`` (gen4.5)"),
            Arg("prores_profile", doc="e.g. ``422 HQ`` with ``output_format='prores'`` (gen4.5)"),
        ),
    ),
)
