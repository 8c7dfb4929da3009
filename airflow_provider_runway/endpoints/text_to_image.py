"""``POST /v1/text_to_image``: images from a prompt and reference images (Runway direct and the gateway)."""

from __future__ import annotations

from airflow_provider_runway.endpoints._declare import REQUIRED, Arg, Endpoint

ENDPOINTS = (
    Endpoint(
        "text_to_image",
        summary="Generate images from a prompt (``POST /v1/text_to_image``; Runway direct and the gateway).",
        gateway=True,
        output_ext="png",
        arguments=(
            Arg("prompt_text", default=REQUIRED, doc="what the image shows (required; templated)"),
            Arg(
                "model",
                default="gen4_image",
                doc="e.g. ``gen4_image``, ``gen4_image_turbo`` (needs ``reference_images``), ``gpt_image_2``; "
                "unknown models are passed through for the server to judge (templated)",
            ),
            Arg("ratio", doc="output resolution, e.g. ``1920:1080`` (every model requires it; templated)"),
            Arg(
                "reference_images",
                file="image",
                form="media_list",
                doc="images: URIs, local paths or object-storage URLs, or ``{'uri': ..., 'tag': 'name'}`` "
                "dicts (refer to a tag as ``@name`` in the prompt; templated)",
            ),
            Arg("seed", doc="a seed, for the models that take one (templated)"),
            Arg("content_moderation", doc="e.g. ``{'publicFigureThreshold': 'low'}``"),
            Arg("output_count", doc="how many images (templated)"),
            Arg("quality", doc="e.g. ``high`` (gpt_image_2, grok_imagine_image_2)"),
            Arg("background", doc="``transparent``, ``opaque`` or ``auto`` (gpt_image_2)"),
            Arg("output_format", doc="e.g. ``png``, ``jpeg``"),
            Arg("grounding", doc="ground the prompt in web search (seedream5)"),
            Arg("edit", doc="edit the reference image instead (grok_imagine_image_2)"),
        ),
    ),
)
