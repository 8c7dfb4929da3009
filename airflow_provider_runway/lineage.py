"""OpenLineage dataset names for Runway generations, without importing OpenLineage.

The operators' ``get_openlineage_facets_on_complete`` imports ``apache-airflow-providers-openlineage``
lazily and wraps the ``(namespace, name)`` pairs computed here, so the provider never depends on it.

Naming (OpenLineage's dataset naming where it has one):

| input or output | namespace | name |
|---|---|---|
| local path (or ``file://``) | ``file://<this host>`` | absolute path |
| object storage ``s3://bucket/key`` (gs, abfs, ...) | ``s3://bucket`` | ``key`` |
| https URL (an input Runway fetches, or an output not saved) | ``https://host[:port]`` | path, never the query (signatures) |
| data URI (its content is never used as a name) | ``data-uri`` | ``data-uri:<first 16 hex of its sha256>`` |
| ``runway://`` upload URI (a bearer-like token) | ``runway`` | ``upload:<first 16 hex of its sha256>`` |
"""

from __future__ import annotations

import hashlib
import os
import posixpath
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

DATA_URI_NAMESPACE = "data-uri"
RUNWAY_NAMESPACE = "runway"
_DIGEST_CHARS = 16


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_CHARS]


def _hostname() -> str:
    import socket

    return socket.gethostname() or "localhost"


def _local(path: str, hostname: str | None) -> tuple[str, str]:
    absolute = posixpath.normpath(os.path.abspath(os.path.expanduser(path)))
    return f"file://{hostname or _hostname()}", absolute


def dataset_for(value: Any, *, hostname: str | None = None) -> tuple[str, str] | None:
    """``(namespace, name)`` of one asset reference (URI, path, ObjectStoragePath); None if it is none."""
    if value is None or isinstance(value, (bool, int, float, Mapping, list, tuple)):
        return None
    text = str(value).strip()
    if not text:
        return None
    lowered = text[:16].lower()
    if lowered.startswith("data:"):
        return DATA_URI_NAMESPACE, f"data-uri:{_digest(text)}"
    if lowered.startswith("runway://"):
        return RUNWAY_NAMESPACE, f"upload:{_digest(text)}"
    if "://" not in text:
        return _local(text, hostname)
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme == "file":
        return _local(parts.path or "/", hostname)
    if scheme in ("https", "http"):
        netloc = host + (f":{port}" if port else "")  # never the userinfo
        return f"{scheme}://{netloc}", parts.path or "/"
    # Object storage: the bucket (container) is the namespace, the key the name.
    return f"{scheme}://{parts.netloc.rsplit('@', 1)[-1]}", parts.path.lstrip("/")


def _walk(value: Any) -> Iterable[Any]:
    if isinstance(value, Mapping):
        if "uri" in value:
            yield from _walk(value["uri"])
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _walk(item)
        return
    yield value


def input_datasets(values: Iterable[Any], *, hostname: str | None = None) -> list[tuple[str, str]]:
    """Datasets of the inputs (single references, lists of them, ``{"uri": ...}`` dicts), deduplicated."""
    found: list[tuple[str, str]] = []
    for value in values:
        for item in _walk(value):
            dataset = dataset_for(item, hostname=hostname)
            if dataset is not None and dataset not in found:
                found.append(dataset)
    return found


def output_datasets(
    manifest: Mapping[str, Any] | None, *, hostname: str | None = None
) -> list[tuple[str, str]]:
    """Datasets of a manifest's outputs: the saved paths, else the output URLs without their query."""
    found: list[tuple[str, str]] = []
    for output in (manifest or {}).get("outputs") or []:
        if not isinstance(output, Mapping):
            continue
        dataset = dataset_for(output.get("path") or output.get("url"), hostname=hostname)
        if dataset is not None and dataset not in found:
            found.append(dataset)
    return found


def asset_like_strings(body: Any) -> list[str]:
    """Every string in a request body that names an asset Runway fetches (https, data or runway URI)."""
    found: list[str] = []

    def visit(value: Any) -> None:
        if isinstance(value, str):
            if value.strip()[:16].lower().startswith(("https://", "http://", "data:", "runway://")):
                found.append(value.strip())
        elif isinstance(value, Mapping):
            for item in value.values():
                visit(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                visit(item)

    visit(body)
    return found
