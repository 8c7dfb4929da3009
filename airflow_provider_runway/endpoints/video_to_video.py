"""``POST /v1/video_to_video``: a video transformed by a prompt (Runway direct and the gateway)."""

from __future__ import annotations

from airflow_provider_runway.endpoints._declare import REQUIRED, Arg, Endpoint

ENDPOINTS = (
    Endpoint(
        "video_to_video",
        summary="Transform a video with a prompt (``POST /v1/video_to_video``; Runway direct and the gateway).",
        gateway=True,
        arguments=(
            Arg(
                "video_uri",
                ("videoUri", "promptVideo"),
                file="video",
                default=REQUIRED,
                doc="an https URL, a data URI, a ``runway://`` upload URI, a local path or object-storage "
                "URL; sent as ``promptVideo`` to the models that name it so (hailuo3, seedance) (templated)",
            ),
            Arg("prompt_text", doc="what to change (templated; most models require it)"),
            Arg(
                "model",
                default="gen4_aleph",
                doc="e.g. ``aleph2``, ``seedance2``, or the gateway's ``gen4_aleph`` (templated)",
            ),
            Arg("seed", doc="a seed, for the models that take one (templated)"),
            Arg(
                "references",
                file="image",
                form="media_list",
                doc="image URIs or files; each goes as the model wants it: ``{'uri'}`` for Runway's models, "
                "``{'type': 'image', 'uri'}`` for the gateway's ``gen4_aleph`` (templated)",
            ),
            Arg("ratio", doc="output ratio (``gen4_aleph``'s output follows its input)"),
            Arg("content_moderation", doc="e.g. ``{'publicFigureThreshold': 'low'}``"),
            Arg(
                "keyframes",
                file="image",
                form="media_list",
                doc="aleph2: ``[{'uri': ..., 'seconds': 2}]`` or ``{'uri', 'at': 0.5}`` images to pass through",
            ),
            Arg("target_aspect_ratio", doc="aleph2: e.g. ``16:9``"),
            Arg("duration", doc="seconds (hailuo3, seedance)"),
            Arg("resolution", doc="e.g. ``768P`` (hailuo3)"),
            Arg("audio", doc="generate sound too (seedance)"),
            Arg("mode", doc="seedance2_5: ``reference``, ``extend`` or ``edit``"),
            Arg("reference_videos", file="video", form="media_list", doc="more video URIs or files"),
            Arg("reference_audio", file="audio", form="media_list", doc="audio URIs or files"),
            Arg("output_format", doc="e.g. ``prores`` (aleph2)"),
            Arg("prores_profile", doc="e.g. ``422 HQ`` (aleph2)"),
        ),
    ),
)
