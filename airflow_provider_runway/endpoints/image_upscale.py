"""``POST /v1/image_upscale``: a larger, sharper image (Runway direct)."""

from __future__ import annotations

from airflow_provider_runway.endpoints._declare import REQUIRED, Arg, Endpoint

ENDPOINTS = (
    Endpoint(
        "image_upscale",
        summary="Upscale an image (``POST /v1/image_upscale``; Runway direct).",
        output_ext="png",
        arguments=(
            Arg(
                "image_uri",
                file="image",
                default=REQUIRED,
                doc="an https URL, a data URI, a ``runway://`` upload URI, a local path or object-storage URL "
                "(templated)",
            ),
            Arg("model", default="magnific_precision_upscaler_v2", doc="the upscaler (templated)"),
            Arg("scale_factor", doc="2, 4, 8 or 16 (templated)"),
            Arg("flavor", doc="e.g. ``photo`` (templated)"),
            Arg("sharpen", doc="0 to 100 (templated)"),
            Arg("smart_grain", doc="0 to 100 (templated)"),
            Arg("ultra_detail", doc="0 to 100 (templated)"),
        ),
    ),
)
