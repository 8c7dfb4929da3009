"""``POST /v1/video_to_hdr``: a video graded to HDR (Runway direct; the gateway does not document it)."""

from __future__ import annotations

from airflow_provider_runway.endpoints._declare import REQUIRED, Arg, Endpoint

ENDPOINTS = (
    Endpoint(
        "video_to_hdr",
        summary="Grade a video to HDR (``POST /v1/video_to_hdr``; Runway direct).",
        arguments=(
            Arg(
                "video_uri",
                file="video",
                default=REQUIRED,
                doc="an https URL, a data URI, a ``runway://`` upload URI, a local path or object-storage URL "
                "(templated)",
            ),
            Arg("model", default="ruby", doc="``ruby`` (templated)"),
            Arg(
                "output_format", doc="``hdr10``, ``hlg``, ``hdr_prores`` or ``hdr_exr_sequence`` (templated)"
            ),
            Arg("prores_profile", doc="with ``output_format='hdr_prores'``: ``422``, ``4444`` or ``422 HQ``"),
        ),
    ),
)
