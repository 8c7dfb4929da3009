"""``POST /v1/video_upscale``: a video at a higher resolution (Runway direct and the gateway)."""

from __future__ import annotations

from airflow_provider_runway.endpoints._declare import REQUIRED, Arg, Endpoint

ENDPOINTS = (
    Endpoint(
        "video_upscale",
        summary="Upscale a video (``POST /v1/video_upscale``; Runway direct and the gateway).",
        gateway=True,
        arguments=(
            Arg(
                "video_uri",
                file="video",
                default=REQUIRED,
                doc="an https URL, a data URI, a ``runway://`` upload URI, a local path or object-storage URL "
                "(templated)",
            ),
            Arg(
                "model",
                default="magnific_video_upscaler_creative",
                doc="``magnific_video_upscaler_creative`` (Runway's spec); another name is passed through "
                "for the server to judge (templated)",
            ),
            Arg("resolution", doc="e.g. ``2k`` or ``4k`` (templated)"),
            Arg("creativity", doc="0 to 100 (templated)"),
            Arg("flavor", doc="``vivid`` or ``natural`` (templated)"),
            Arg("sharpen", doc="0 to 100 (templated)"),
            Arg("smart_grain", doc="0 to 100 (templated)"),
            Arg("fps_boost", doc="raise the frame rate too"),
        ),
    ),
)
