"""Request validation for the simulator: a small JSON-Schema subset plus Runway's asset rules.

Two layers, both stdlib only (deliberately not the provider's ``jsonschema`` validation: a stand-in that
shared the provider's validator could not catch the provider's mistakes):

* :func:`validate_schema` checks a body against the request schema that Runway publishes for a model (the
  keywords that document uses: ``type``, ``enum``, ``const``, ``minimum``/``maximum``, ``exclusiveMinimum``,
  ``minLength``/``maxLength`` counted in UTF-16 units like the service, ``pattern``, ``required``,
  ``properties``, ``additionalProperties``, ``items``, ``minItems``/``maxItems``, ``anyOf``/``oneOf``).
  Issues use the service's Zod vocabulary (``invalid_type``, ``too_big``, ``too_small``,
  ``invalid_enum_value``, ``invalid_literal``, ``unrecognized_keys``, ``invalid_union``, ``invalid_string``).
* :func:`check_asset` applies the rules that hold for every model: https on a hostname (not an IP) of at most
  2048 characters, data URIs of an allowed MIME type within the size limit, ``runway://`` URIs that name a
  finished upload.

The schemas are those the provider validates with: the trimmed copy of Runway's spec
(``airflow_provider_runway/endpoints/runway_openapi.json``) and, for the gateway flavor, the gateway's own
models (``endpoints/gateway_overlay.json``).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

RULES = Path(__file__).parent.parent / "endpoints"

#: MIME types Runway accepts in data URIs, by asset kind (GIF is not an accepted image type).
ALLOWED_MIME = {
    "image": ("image/jpeg", "image/png", "image/webp"),
    "video": ("video/mp4", "video/quicktime"),
    "audio": ("audio/mpeg", "audio/mp3", "audio/wav", "audio/x-wav", "audio/mp4", "audio/aac", "audio/ogg"),
}
#: Longest data URI (the whole string) for models without a schema, by asset kind (the spec's largest).
DATA_URI_LIMIT = {"image": 5 * 1024 * 1024, "video": 16 * 1024 * 1024, "audio": 16 * 1024 * 1024}
MAX_URL_LENGTH = 2048


class Issue(NamedTuple):
    """One validation problem, shaped like an entry of the service's ``issues`` list."""

    code: str
    path: tuple[str | int, ...]
    message: str

    def as_json(self) -> dict[str, Any]:
        """Return the wire form ``{"code", "path", "message"}``."""
        return {"code": self.code, "path": list(self.path), "message": self.message}


@cache
def openapi_subset() -> dict[str, Any]:
    """Return the trimmed copy of Runway's OpenAPI document shipped with the package."""
    return json.loads((RULES / "runway_openapi.json").read_text(encoding="utf-8"))


@cache
def gateway_overlay() -> dict[str, Any]:
    """Return the request schemas of the models only the CometAPI gateway documents."""
    return json.loads((RULES / "gateway_overlay.json").read_text(encoding="utf-8"))


def request_schema(endpoint: str) -> dict[str, Any] | None:
    """The whole request schema of a create endpoint (``image_to_video``, ``recipes/product_ad``)."""
    path = openapi_subset()["paths"].get(f"/v1/{endpoint}")
    if not path or "requestBody" not in path.get("post", {}):
        return None
    schema: dict[str, Any] = path["post"]["requestBody"]["content"]["application/json"]["schema"]
    return schema


@cache
def model_schemas(endpoint: str) -> dict[str, dict[str, Any]]:
    """Map model name to its request schema for a create endpoint such as ``image_to_video`` (empty for
    endpoints whose bodies name no model)."""
    schema = request_schema(endpoint)
    out: dict[str, dict[str, Any]] = {}
    for variant in (schema or {}).get("oneOf", [schema] if schema else []):
        const = variant.get("properties", {}).get("model", {}).get("const")
        if isinstance(const, str):
            out[const] = variant
    return out


@cache
def gateway_model_schemas(endpoint: str) -> dict[str, dict[str, Any]]:
    """The gateway's own models on an endpoint (``gen3a_turbo``, ``gen4_aleph``) and their schemas."""
    return dict(gateway_overlay()["paths"].get(f"/v1/{endpoint}", {}))


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the way JavaScript (and so the service) counts it."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def type_name(value: Any) -> str:
    """Zod's name for the JSON type of ``value``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_ok(expected: str, value: Any) -> bool:
    if expected == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if expected == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected == "null":
        return value is None
    return type_name(value) == expected


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _fmt(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else f"'{value}'"


def validate_schema(schema: dict[str, Any], value: Any, path: tuple[str | int, ...] = ()) -> list[Issue]:
    """Validate ``value`` against ``schema`` and return the issues (empty when valid)."""
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return _validate_union(schema[key], value, path)
    issues: list[Issue] = []
    expected = schema.get("type")
    if isinstance(expected, str) and not _type_ok(expected, value):
        wanted = "integer" if expected == "integer" and type_name(value) == "number" else expected
        return [Issue("invalid_type", path, f"Expected {wanted}, received {type_name(value)}")]
    if "const" in schema and value != schema["const"]:
        return [Issue("invalid_literal", path, f"Invalid literal value, expected {_fmt(schema['const'])}")]
    if "enum" in schema and value not in schema["enum"]:
        options = " | ".join(_fmt(option) for option in schema["enum"])
        return [
            Issue(
                "invalid_enum_value", path, f"Invalid enum value. Expected {options}, received {_fmt(value)}"
            )
        ]
    if isinstance(value, str):
        issues.extend(_check_string(schema, value, path))
    elif isinstance(value, int | float) and not isinstance(value, bool):
        issues.extend(_check_number(schema, value, path))
    elif isinstance(value, list):
        issues.extend(_check_array(schema, value, path))
    elif isinstance(value, dict):
        issues.extend(_check_object(schema, value, path))
    return issues


def _check_string(schema: dict[str, Any], value: str, path: tuple[str | int, ...]) -> Iterator[Issue]:
    length = utf16_len(value)
    if "minLength" in schema and length < schema["minLength"]:
        yield Issue("too_small", path, f"String must contain at least {schema['minLength']} character(s)")
    if "maxLength" in schema and length > schema["maxLength"]:
        yield Issue("too_big", path, f"String must contain at most {schema['maxLength']} character(s)")
    if "pattern" in schema and not _regex(schema["pattern"]).search(value):
        yield Issue("invalid_string", path, "Invalid")


def _check_number(schema: dict[str, Any], value: float, path: tuple[str | int, ...]) -> Iterator[Issue]:
    if "minimum" in schema and value < schema["minimum"]:
        yield Issue("too_small", path, f"Number must be greater than or equal to {schema['minimum']}")
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        yield Issue("too_small", path, f"Number must be greater than {schema['exclusiveMinimum']}")
    if "maximum" in schema and value > schema["maximum"]:
        yield Issue("too_big", path, f"Number must be less than or equal to {schema['maximum']}")


def _check_array(schema: dict[str, Any], value: list[Any], path: tuple[str | int, ...]) -> Iterator[Issue]:
    if "minItems" in schema and len(value) < schema["minItems"]:
        yield Issue("too_small", path, f"Array must contain at least {schema['minItems']} element(s)")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        yield Issue("too_big", path, f"Array must contain at most {schema['maxItems']} element(s)")
    items = schema.get("items")
    if isinstance(items, dict):
        for index, item in enumerate(value):
            yield from validate_schema(items, item, (*path, index))


def _check_object(
    schema: dict[str, Any], value: dict[str, Any], path: tuple[str | int, ...]
) -> Iterator[Issue]:
    properties: dict[str, Any] = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value:
            yield Issue("invalid_type", (*path, name), "Required")
    extra = [key for key in value if key not in properties]
    additional = schema.get("additionalProperties", True)
    if extra and additional is False:
        keys = ", ".join(f"'{key}'" for key in extra)
        yield Issue("unrecognized_keys", path, f"Unrecognized key(s) in object: {keys}")
    elif extra and isinstance(additional, dict) and additional:
        for key in extra:
            yield from validate_schema(additional, value[key], (*path, key))
    for name, sub in properties.items():
        if name in value and isinstance(sub, dict):
            yield from validate_schema(sub, value[name], (*path, name))


def _validate_union(
    options: Sequence[dict[str, Any]], value: Any, path: tuple[str | int, ...]
) -> list[Issue]:
    """Valid when one option is; otherwise report the closest option (same JSON type), like Zod."""
    candidates: list[list[Issue]] = []
    for option in options:
        issues = validate_schema(option, value, path)
        if not issues:
            return []
        candidates.append(issues)
    same_type = [
        issues
        for option, issues in zip(options, candidates, strict=True)
        if not _types_of(option) or any(_type_ok(kind, value) for kind in _types_of(option))
    ]
    if isinstance(value, str):
        # The uri unions (https | runway | data): say what is accepted rather than "Invalid" three times.
        patterns = [option.get("pattern", "") for option in _flatten(options)]
        if any(pattern.startswith("^https") for pattern in patterns):
            return [
                Issue(
                    "invalid_union", path, "Invalid input: expected an https URL, runway:// URI or data URI"
                )
            ]
    if len(same_type) == 1:
        return same_type[0]
    return [Issue("invalid_union", path, "Invalid input")]


def _types_of(option: dict[str, Any]) -> set[str]:
    """JSON types an option (possibly itself a union) can match; empty when unconstrained."""
    kinds = {sub.get("type") for sub in _flatten([option])}
    return set() if None in kinds else {str(kind) for kind in kinds}


def _flatten(options: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for option in options:
        nested = option.get("anyOf") or option.get("oneOf")
        if nested:
            yield from _flatten(nested)
        else:
            yield option


def check_asset(
    value: Any,
    kind: str,
    path: tuple[str | int, ...],
    upload_exists: Callable[[str], bool],
) -> list[Issue]:
    """Apply the universal asset rules to one URI; ``kind`` is ``image``, ``video`` or ``audio``."""
    if not isinstance(value, str):
        return [Issue("invalid_type", path, f"Expected string, received {type_name(value)}")]
    if value.startswith("data:"):
        return _check_data_uri(value, kind, path)
    if value.startswith("runway://"):
        if not upload_exists(value):
            return [
                Issue("custom", path, "The runway:// URI does not name a finished upload (or it expired)")
            ]
        return []
    if len(value) > MAX_URL_LENGTH:
        return [Issue("too_big", path, f"String must contain at most {MAX_URL_LENGTH} character(s)")]
    try:
        parts = urlsplit(value)
    except ValueError:
        return [Issue("invalid_string", path, "Invalid URL")]
    if parts.scheme != "https":
        return [
            Issue("invalid_string", path, "Asset URLs must use https (or be a data URI or runway:// URI)")
        ]
    host = parts.hostname or ""
    if not host:
        return [Issue("invalid_string", path, "Asset URL has no hostname")]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return []
    return [Issue("invalid_string", path, "Asset URLs must use a hostname, not an IP address")]


def _check_data_uri(value: str, kind: str, path: tuple[str | int, ...]) -> list[Issue]:
    header, sep, _payload = value[:200].partition(",")
    if not sep or not header.endswith(";base64"):
        return [Issue("invalid_string", path, "Data URIs must be base64 encoded (data:<type>;base64,...)")]
    mime = header[len("data:") : -len(";base64")].lower()
    allowed = ALLOWED_MIME.get(kind, ())
    if kind == "audio" and mime.startswith("audio/"):
        pass
    elif mime not in allowed:
        return [
            Issue(
                "invalid_string",
                path,
                f"Unsupported {kind} type {mime!r}: expected one of {', '.join(allowed)}",
            )
        ]
    size = len(value) - len(header) - 1
    if len(value) > DATA_URI_LIMIT[kind]:
        return [Issue("too_big", path, f"String must contain at most {DATA_URI_LIMIT[kind]} character(s)")]
    if size == 0:
        return [Issue("too_small", path, "Data URI has no content")]
    return []
