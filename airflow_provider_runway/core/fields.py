"""The checks that hold for every request body, whatever the model: a model name, an input URI of the
argument's kind, valid Unicode, a JSON object (what each model takes is Runway's spec: see endpoints/);
and a duration argument of an operator or the sensor.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any, Literal

from airflow_provider_runway.core.filetypes import data_uri_mime_allowed, data_uri_mime_names
from airflow_provider_runway.core.urls import check_https_url, data_uri_mime
from airflow_provider_runway.exceptions import RunwayValidationError

_MODEL_NAME = re.compile(r"[A-Za-z0-9_.\-]+")


def check_model(model: Any, field_name: str = "model") -> str:
    if not isinstance(model, str) or not model.strip():
        raise RunwayValidationError(
            field_name, f"must be a non-empty model name such as 'gen4_turbo', got {model!r}"
        )
    if len(model) > 100 or not _MODEL_NAME.fullmatch(model.strip()):
        raise RunwayValidationError(field_name, f"{model[:40]!r} is not a model name")
    return model.strip()


def check_asset_uri(uri: Any, field_name: str, kind: Literal["image", "video", "audio"]) -> str:
    """An input as Runway takes it whatever the model: an https URL, a data URI of the argument's kind
    (no GIF) that decodes, or a ``runway://`` upload URI. Lengths are the spec's (per field and model)."""
    if not isinstance(uri, str) or not uri.strip():
        raise RunwayValidationError(field_name, f"must be a URL or data URI string, got {type(uri).__name__}")
    uri = uri.strip()
    check_utf8(uri, field_name)
    lowered = uri[:16].lower()
    if lowered.startswith("data:"):
        mime = data_uri_mime(uri, field_name)
        if not data_uri_mime_allowed(kind, mime):
            names = data_uri_mime_names(kind)
            raise RunwayValidationError(field_name, f"{kind} data URIs must be one of {names}, got {mime}")
        return "data:" + uri[len("data:") :]  # the scheme in lower case, as the API matches it
    if lowered.startswith("runway://"):
        if len(uri) <= len("runway://"):
            raise RunwayValidationError(field_name, "the runway:// URI is empty")
        return "runway://" + uri[len("runway://") :]  # the scheme in lower case, as the API matches it
    if lowered.startswith(("https://", "http://")):
        scheme, rest = uri.split("://", 1)
        return check_https_url(f"{scheme.lower()}://{rest}", field_name)
    raise RunwayValidationError(
        field_name,
        "must be an https URL, a data URI or a runway:// upload URI (local files: see media inputs)",
    )


def check_utf8(text: str, field_name: str) -> None:
    """The body is sent as UTF-8: a lone surrogate (e.g. from a broken decode upstream) cannot be."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise RunwayValidationError(
            field_name, f"is not valid Unicode (an unpaired surrogate at position {err.start})"
        ) from None


def check_generic_body(body: Any, field_name: str = "body") -> dict[str, Any]:
    """A body as it goes on the wire: a JSON object, with a valid model name when it names one."""
    if not isinstance(body, Mapping):
        raise RunwayValidationError(field_name, f"must be a dict (the JSON body), got {type(body).__name__}")
    try:
        json.dumps(body)
    except (TypeError, ValueError) as err:
        raise RunwayValidationError(field_name, f"must be JSON-serialisable ({err})") from None
    if "model" in body:
        check_model(body["model"], f"{field_name}.model")
    return dict(body)


def iter_field_paths(issues: Iterable[Mapping[str, Any]]) -> list[str]:
    """Dotted field paths from a 400's ``issues`` list (for messages and tests)."""
    return [".".join(str(p) for p in issue.get("path") or []) for issue in issues]


def positive_seconds(value: Any, name: str) -> float:
    """A duration argument (seconds or a timedelta) as seconds; refused, naming it, unless positive."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
        raise RunwayValidationError(
            name, f"must be a positive number of seconds or a timedelta, got {value!r}"
        )
    return float(seconds)
