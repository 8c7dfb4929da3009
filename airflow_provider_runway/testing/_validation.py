"""Request validation: create bodies against Runway's spec (``_schema.py``), upload requests, task ids.

The runway flavor refuses a model its spec does not list; the gateway flavor also knows the gateway's own
models, and judges any other model only by what holds for every model (:func:`_generic_checks`). Every input
URI in a body, at any depth, is then checked by :func:`~airflow_provider_runway.testing._schema.check_asset`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from airflow_provider_runway.testing._errors import SimError
from airflow_provider_runway.testing._schema import (
    Issue,
    check_asset,
    gateway_model_schemas,
    model_schemas,
    request_schema,
    validate_schema,
)
from airflow_provider_runway.testing._uploads import upload_type

UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$"
)

#: Required fields per endpoint for the models the gateway flavor has no schema for (Runway direct refuses
#: a model its spec does not list; the gateway's model list is open).
GENERIC_REQUIRED = {
    "image_to_video": ("promptImage",),
    "video_to_video": ("promptText",),
    "text_to_image": ("promptText",),
    "video_upscale": ("videoUri",),
}


def validate_create(
    flavor: str, endpoint: str, body: Any, upload_exists: Callable[[str], bool]
) -> list[Issue]:
    """All issues with a create body: the model's schema from Runway's spec (and, in the gateway flavor,
    the gateway's own models), then the rules that hold for every model (``upload_exists`` judges
    ``runway://`` URIs)."""
    if not isinstance(body, dict):
        return [Issue("invalid_type", (), f"Expected object, received {type(body).__name__}")]
    listed = model_schemas(endpoint)
    own = gateway_model_schemas(endpoint) if flavor == "gateway" else {}
    issues: list[Issue] = []
    if listed or own:  # a union keyed on model
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return [Issue("invalid_type", ("model",), "Required" if model is None else "Expected string")]
        schema = listed.get(model) or own.get(model)
        if schema is not None:
            issues.extend(validate_schema(schema, body))
        elif flavor == "runway":
            expected = " | ".join(f"'{name}'" for name in listed)
            return [
                Issue(
                    "invalid_union_discriminator",
                    ("model",),
                    f"Invalid discriminator value. Expected {expected}",
                )
            ]
        else:
            issues.extend(_generic_checks(endpoint, body))
    elif (whole := request_schema(endpoint)) is not None:  # recipes, the Model Router
        issues.extend(validate_schema(whole, body))
    else:
        issues.extend(_generic_checks(endpoint, body))
    flagged = {issue.path for issue in issues}
    for path, kind, value in asset_fields(body):
        if any(path[: len(bad)] == bad for bad in flagged if bad):
            continue
        issues.extend(check_asset(value, kind, path, upload_exists))
    return issues


def _generic_checks(endpoint: str, body: dict[str, Any]) -> list[Issue]:
    """The gateway flavor's checks of a model it has no schema for: what holds for every model."""
    issues: list[Issue] = []
    for name in GENERIC_REQUIRED.get(endpoint, ()):
        if name not in body:
            issues.append(Issue("invalid_type", (name,), "Required"))
    if endpoint == "video_to_video" and "videoUri" not in body and "promptVideo" not in body:
        issues.append(Issue("invalid_type", ("videoUri",), "Required"))
    text = body.get("promptText")
    if text is not None:
        issues.extend(
            validate_schema({"type": "string", "minLength": 1, "maxLength": 1000}, text, ("promptText",))
        )
    if "seed" in body:
        issues.extend(
            validate_schema({"type": "integer", "minimum": 0, "maximum": 4294967295}, body["seed"], ("seed",))
        )
    if "duration" in body:
        issues.extend(
            validate_schema({"type": "number", "exclusiveMinimum": 0}, body["duration"], ("duration",))
        )
    for name, kind in (("ratio", "string"), ("watermark", "boolean"), ("contentModeration", "object")):
        if name in body:
            issues.extend(validate_schema({"type": kind}, body[name], (name,)))
    if "contentModeration" in body and isinstance(body["contentModeration"], dict):
        threshold = body["contentModeration"].get("publicFigureThreshold")
        if threshold is not None:
            issues.extend(
                validate_schema(
                    {"type": "string", "enum": ["auto", "low"]},
                    threshold,
                    ("contentModeration", "publicFigureThreshold"),
                )
            )
    prompt_image = body.get("promptImage")
    if isinstance(prompt_image, list):
        if not prompt_image:
            issues.append(Issue("too_small", ("promptImage",), "Array must contain at least 1 element(s)"))
        for index, item in enumerate(prompt_image):
            item_schema = {
                "type": "object",
                "required": ["uri", "position"],
                "properties": {"position": {"type": "string", "enum": ["first", "last"]}},
            }
            issues.extend(validate_schema(item_schema, item, ("promptImage", index)))
    elif prompt_image is not None and not isinstance(prompt_image, str):
        issues.append(
            Issue("invalid_union", ("promptImage",), "Expected a URI string or a list of {uri, position}")
        )
    return issues


def check_task_id(task_id: str) -> None:
    """Runway direct's check of a ``/v1/tasks/{id}`` path: a v4 UUID; raises :class:`SimError` (400)."""
    if not UUID_RE.match(task_id):
        raise SimError(
            400,
            "Validation of path parameters failed",
            issues=[Issue("invalid_string", ("id",), "Invalid uuid")],
        )


def check_upload_request(body: Any) -> str:
    """``POST /v1/uploads``'s ``{filename, type: "ephemeral"}``: the filename, or :class:`SimError` (400)."""
    issues: list[Issue] = []
    if not isinstance(body, dict):
        raise SimError(
            400, "Validation of body failed", issues=[Issue("invalid_type", (), "Expected object")]
        )
    filename = body.get("filename")
    if not isinstance(filename, str):
        issues.append(
            Issue("invalid_type", ("filename",), "Required" if filename is None else "Expected string")
        )
    elif not 3 <= len(filename) <= 255:
        issues.append(Issue("too_big", ("filename",), "String must contain between 3 and 255 character(s)"))
    elif upload_type(filename) is None:
        issues.append(Issue("custom", ("filename",), "Unsupported file extension"))
    if body.get("type") != "ephemeral":
        issues.append(Issue("invalid_enum_value", ("type",), "Invalid enum value. Expected 'ephemeral'"))
    if issues:
        raise SimError(400, "Validation of body failed", issues=issues)
    assert isinstance(filename, str)
    return filename


#: Body fields that are an input URI themselves (besides ``uri`` and any ``...Uri``).
ASSET_KEYS = frozenset({"promptImage", "promptVideo", "audio"})
#: Body fields that are a list of bare input URIs.
ASSET_LIST_KEYS = frozenset({"referenceAudios"})


def _kind_of_key(key: str) -> str | None:
    lowered = key.lower()
    for word, kind in (("video", "video"), ("audio", "audio"), ("image", "image"), ("frame", "image")):
        if word in lowered:
            return kind
    return None


def asset_fields(body: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str, Any]]:
    """Every input URI in a create body as ``(path, kind, value)``: ``uri``, ``*Uri`` and the fields that are
    URIs themselves, at any depth; the kind from the field's name, the enclosing ``type``, or ``image``."""
    found: list[tuple[tuple[str | int, ...], str, Any]] = []

    def walk(node: Any, path: tuple[str | int, ...], hint: str | None) -> None:
        if isinstance(node, dict):
            typed = node.get("type") if node.get("type") in ("image", "video", "audio") else None
            for key, value in node.items():
                kind = typed or _kind_of_key(key) or hint
                if key == "uri" or key.endswith("Uri") or (key in ASSET_KEYS and isinstance(value, str)):
                    found.append(((*path, key), kind or "image", value))
                elif key in ASSET_LIST_KEYS and isinstance(value, list):
                    for index, item in enumerate(value):
                        if isinstance(item, str):  # sound_effect's bare URIs (generate/audio's are {uri})
                            found.append(((*path, key, index), kind or "image", item))
                        else:
                            walk(item, (*path, key, index), kind)
                else:
                    walk(value, (*path, key), kind)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, (*path, index), hint)

    walk(body, (), None)
    return found
