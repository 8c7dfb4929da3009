"""``POST /v1/character_performance``: a character acting out a performance, Act-Two (Runway direct)."""

from __future__ import annotations

from airflow_provider_runway.endpoints._declare import REQUIRED, Arg, Endpoint

ENDPOINTS = (
    Endpoint(
        "character_performance",
        summary="Make a character act out a reference performance (``POST /v1/character_performance``, "
        "Act-Two; Runway direct: the gateway does not document it, so it answers 404 there before anything "
        "is billed).",
        arguments=(
            Arg(
                "character",
                file=("image", "video"),
                form="typed_media",
                kind_from="character_type",
                default=REQUIRED,
                doc="``{'type': 'image'|'video', 'uri': ...}``, or a URI / path whose data-URI type or file "
                "extension says which (else give ``character_type``); files are read or uploaded (templated)",
            ),
            Arg(
                "reference",
                file="video",
                form="typed_media",
                default=REQUIRED,
                doc="the performance video: ``{'type': 'video', 'uri': ...}`` or a URI / path (templated)",
            ),
            Arg(
                "character_type",
                form="hint",
                doc="``image`` or ``video`` when ``character`` is a bare URI that does not say",
            ),
            Arg("model", default="act_two", doc="``act_two`` (templated)"),
            Arg("seed", doc="0 to 4294967295 (templated)"),
            Arg("body_control", doc="apply body movement too, not only the face"),
            Arg("expression_intensity", doc="1 to 5 (templated)"),
            Arg("ratio", doc="e.g. ``1280:720`` (templated)"),
            Arg("content_moderation", doc="e.g. ``{'publicFigureThreshold': 'low'}``"),
        ),
    ),
)
