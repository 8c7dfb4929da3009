"""``POST /v1/text_to_video``: a video from a prompt (Runway direct; the gateway does not document it)."""

from __future__ import annotations

from airflow_provider_runway.endpoints._declare import Arg, Endpoint

ENDPOINTS = (
    Endpoint(
        "text_to_video",
        summary="Generate a video from a prompt (``POST /v1/text_to_video``; Runway direct: the gateway does "
        "not document it, so it answers 404 there and the task fails before anything is created or billed).",
        arguments=(
            Arg(
                "prompt_text",
                doc="what should happen (templated; required by every model but ``seedance2_5``)",
            ),
            Arg(
                "model",
                default="gen4.5",
                doc="e.g. ``gen4.5`` (needs ``ratio`` and ``duration``), ``veo3.1``, ``seedance2``; unknown "
                "models are passed through (templated)",
            ),
            Arg("ratio", doc="e.g. ``1280:720`` (templated)"),
            Arg("duration", doc="seconds (``auto`` for the seedance models; templated)"),
            Arg("seed", doc="a seed, for the models that take one (templated)"),
            Arg("content_moderation", doc="e.g. ``{'publicFigureThreshold': 'low'}``"),
            Arg("audio", doc="generate sound too (veo3.1, seedance, wan3)"),
            Arg("negative_prompt", doc="what to avoid (veo3.1)"),
            Arg("resolution", doc="e.g. ``768P`` (hailuo3, grok_imagine)"),
            Arg("references", file="image", form="media_list", doc="image URIs or files to follow"),
            Arg("reference_videos", file="video", form="media_list", doc="video URIs or files to follow"),
            Arg("reference_audio", file="audio", form="media_list", doc="audio URIs or files to follow"),
            Arg("output_format", doc="e.g. ``prores`` (gen4.5)"),
            Arg("prores_profile", doc="e.g. ``422 HQ`` (gen4.5)"),
        ),
    ),
)
