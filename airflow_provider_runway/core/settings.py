"""An Airflow connection, validated: base URL, API key, version, timeouts, retries, TLS; and the headers
every API request carries.

Every error names the connection id, never the key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from airflow_provider_runway.core.defaults import (
    DEFAULT_API_VERSION,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_RETRIES,
    DEFAULT_READ_TIMEOUT,
)
from airflow_provider_runway.core.urls import is_loopback_url, normalize_base_url
from airflow_provider_runway.exceptions import RunwayConfigurationError


def _as_bool(value: Any, name: str, conn_id: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "1", "yes", "on"}:
        return True
    if isinstance(value, str) and value.strip().lower() in {"false", "0", "no", "off", ""}:
        return False
    if isinstance(value, int):
        return bool(value)
    raise RunwayConfigurationError(
        f"Connection {conn_id!r}: extra {name!r} must be true or false, got {value!r}"
    )


@dataclass(frozen=True)
class ConnectionSettings:
    """Everything the hook needs from an Airflow connection, validated."""

    conn_id: str
    base_url: str
    api_key: str = field(repr=False)
    api_version: str = DEFAULT_API_VERSION
    read_timeout: float = DEFAULT_READ_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    verify: bool | str = True
    allow_insecure_loopback: bool = False
    #: where the UI's "Runway task" link points; ``{task_id}`` and ``{base_url}`` are filled in
    task_link_template: str | None = None

    def task_link(self, task_id: str) -> str:
        template = self.task_link_template or "{base_url}/v1/tasks/{task_id}"
        return template.replace("{base_url}", self.base_url.rstrip("/")).replace(
            "{task_id}", quote(task_id, safe="")
        )

    @property
    def on_loopback(self) -> bool:
        """The base URL is on this machine (the bundled simulator)."""
        return is_loopback_url(self.base_url)

    @property
    def looks_like_gateway(self) -> bool:
        """A guess from the URL (the gateway serves under ``/runwayml``); used for wording, not for logic."""
        parts = urlsplit(self.base_url)
        return parts.path.rstrip("/").endswith("/runwayml") or "cometapi" in (parts.hostname or "")

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")


def _extra(extra: Mapping[str, Any], name: str) -> Any:
    for key in (name, f"extra__runway__{name}"):
        if key in extra and extra[key] not in (None, ""):
            return extra[key]
    return None


def settings_from_connection(
    conn_id: str,
    *,
    host: str | None,
    password: str | None,
    extra: Mapping[str, Any] | None,
    schema: str | None = None,
    port: int | None = None,
) -> ConnectionSettings:
    """Validate a connection's fields; every error names the connection id, never the key."""
    extra = extra or {}
    if not isinstance(extra, Mapping):
        raise RunwayConfigurationError(f"Connection {conn_id!r}: extra must be a JSON object")
    api_key = (password or "").strip()
    if not api_key:
        raise RunwayConfigurationError(
            f"Connection {conn_id!r} has no API key: set its password field (labelled 'API key') to a "
            "CometAPI key or a Runway key"
        )
    if any(ch.isspace() for ch in api_key) or not api_key.isprintable():
        raise RunwayConfigurationError(
            f"Connection {conn_id!r}: the API key contains whitespace or control characters"
        )
    allow_loopback = _as_bool(
        _extra(extra, "allow_insecure_loopback") or False, "allow_insecure_loopback", conn_id
    )
    base_url = normalize_base_url(
        conn_id, host, schema=schema, port=port, allow_insecure_loopback=allow_loopback
    )
    version = _extra(extra, "api_version") or DEFAULT_API_VERSION
    if not isinstance(version, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", version.strip()):
        raise RunwayConfigurationError(
            f"Connection {conn_id!r}: extra 'api_version' must be a date like {DEFAULT_API_VERSION}, got {version!r}"
        )
    timeout = _extra(extra, "timeout")
    read_timeout = DEFAULT_READ_TIMEOUT
    if timeout is not None:
        try:
            read_timeout = float(timeout)
        except (TypeError, ValueError):
            read_timeout = float("nan")
        if not math.isfinite(read_timeout) or read_timeout <= 0 or isinstance(timeout, bool):
            raise RunwayConfigurationError(
                f"Connection {conn_id!r}: extra 'timeout' must be a positive number of seconds, got {timeout!r}"
            )
    retries_raw = _extra(extra, "max_retries")
    max_retries = DEFAULT_MAX_RETRIES
    if retries_raw is not None:
        try:
            max_retries = int(retries_raw)
            if isinstance(retries_raw, bool) or max_retries < 0 or max_retries > 100:
                raise ValueError
        except (TypeError, ValueError):
            raise RunwayConfigurationError(
                f"Connection {conn_id!r}: extra 'max_retries' must be a whole number 0-100, got {retries_raw!r}"
            ) from None
    verify_raw = _extra(extra, "verify")
    verify: bool | str = True
    if verify_raw is not None:
        if isinstance(verify_raw, str) and verify_raw.strip().lower() not in {
            "true",
            "false",
            "1",
            "0",
            "yes",
            "no",
            "on",
            "off",
        }:
            verify = verify_raw.strip()  # a CA bundle path
        else:
            verify = _as_bool(verify_raw, "verify", conn_id)
    return ConnectionSettings(
        conn_id=conn_id,
        base_url=base_url,
        api_key=api_key,
        api_version=version.strip(),
        read_timeout=read_timeout,
        connect_timeout=min(DEFAULT_CONNECT_TIMEOUT, read_timeout),
        max_retries=max_retries,
        verify=verify,
        allow_insecure_loopback=allow_loopback,
        task_link_template=_task_link_template(conn_id, _extra(extra, "task_link_template")),
    )


def _task_link_template(conn_id: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith(("https://", "http://", "{base_url}")):
        raise RunwayConfigurationError(
            f"Connection {conn_id!r}: extra 'task_link_template' must be a URL containing {{task_id}}"
        )
    return value


def build_headers(settings: ConnectionSettings, user_agent: str, *, json_body: bool) -> dict[str, str]:
    headers = {
        "Authorization": f"Bearer {settings.api_key}",
        "X-Runway-Version": settings.api_version,
        "Accept": "application/json",
        "User-Agent": user_agent,
    }
    if json_body:
        headers["Content-Type"] = "application/json"
    return headers


def user_agent(provider_version: str, airflow_version: str, python_version: str) -> str:
    return (
        f"airflow-provider-runway/{provider_version} apache-airflow/{airflow_version} python/{python_version}"
    )
