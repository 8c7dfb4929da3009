"""Every URL rule, in one place: base URLs, "plain http only to loopback", the URLs a request may carry,
the URLs the provider itself fetches, data URIs, API paths, and how a URL is shown in a log.

Pure: a host is resolved by the caller (:mod:`airflow_provider_runway.media` resolves it, then asks
:func:`check_fetch_url`).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from urllib.parse import quote, urlsplit, urlunsplit

from airflow_provider_runway.core.defaults import DEFAULT_BASE_URL, GATEWAY_BASE_URL, RUNWAY_DIRECT_BASE_URL
from airflow_provider_runway.exceptions import RunwayConfigurationError, RunwayError, RunwayValidationError

TASK_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
#: What Runway's spec takes in most fields (5 MiB, the whole URI) when a field's own schema says nothing.
DEFAULT_DATA_URI_LIMIT = 5 * 1024 * 1024


# --------------------------------------------------------------------------------------------------------
# Loopback, and the one exception to "https only"
# --------------------------------------------------------------------------------------------------------
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    name = host.strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    """The URL's host is this machine (e.g. the bundled simulator)."""
    try:
        return is_loopback_host(urlsplit(url).hostname)
    except ValueError:
        return False


def plain_http_allowed(host: str | None, allow_insecure_loopback: bool) -> bool:
    """The one exception to "https only", wherever a URL is checked (base URL, request inputs, downloads,
    uploads): plain http to this machine, when the connection's extra ``allow_insecure_loopback`` (for the
    bundled simulator) says so."""
    return bool(allow_insecure_loopback) and is_loopback_host(host)


def is_internal_address(address: str) -> bool:
    """Loopback, private, link-local (cloud metadata), shared, reserved or multicast: not the internet."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0].strip("[]"))
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


# --------------------------------------------------------------------------------------------------------
# The base URL of a connection
# --------------------------------------------------------------------------------------------------------
def normalize_base_url(
    conn_id: str,
    host: str | None,
    *,
    schema: str | None = None,
    port: int | None = None,
    allow_insecure_loopback: bool = False,
) -> str:
    """Turn the connection's host (a full URL, or a bare host from a URI-form connection) into a base URL."""
    raw = (host or "").strip()
    if not raw:
        return DEFAULT_BASE_URL
    if "://" not in raw:
        hostname = raw.split("/", 1)[0].split(":", 1)[0]
        scheme = "http" if plain_http_allowed(hostname, allow_insecure_loopback) else "https"
        netloc = raw if port is None or ":" in raw.split("/", 1)[0] else f"{raw.split('/', 1)[0]}:{port}"
        rest = raw.split("/", 1)[1] if "/" in raw else ""
        path = "/".join(p for p in (rest.strip("/"), (schema or "").strip("/")) if p)
        raw = f"{scheme}://{netloc.split('/', 1)[0]}" + (f"/{path}" if path else "")
    try:
        parts = urlsplit(raw)
        parsed_port = parts.port
    except ValueError as err:
        raise RunwayConfigurationError(
            f"Connection {conn_id!r}: malformed base URL {raw!r} ({err})"
        ) from None
    del parsed_port
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise RunwayConfigurationError(
            f"Connection {conn_id!r}: base URL {raw!r} must look like https://host[/path], "
            f"e.g. {GATEWAY_BASE_URL} or {RUNWAY_DIRECT_BASE_URL}"
        )
    if parts.scheme == "http" and not plain_http_allowed(parts.hostname, allow_insecure_loopback):
        raise RunwayConfigurationError(
            f"Connection {conn_id!r}: base URL {raw!r} uses plain http; only https is allowed "
            "(plain http is accepted for 127.0.0.1/localhost when the extra allow_insecure_loopback is true)"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise RunwayConfigurationError(
            f"Connection {conn_id!r}: base URL {raw!r} must not carry a query, fragment or credentials"
        )
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


# --------------------------------------------------------------------------------------------------------
# URLs the provider fetches itself (outputs, upload targets)
# --------------------------------------------------------------------------------------------------------
def check_fetch_url(url: str, *, allow_loopback_http: bool, resolve: Callable[[str, int], list[str]]) -> str:
    """Refuse what the provider must not fetch: anything but https, and any host that is (or resolves to) a
    loopback, private or link-local address. ``allow_loopback_http`` (the connection extra
    ``allow_insecure_loopback``, for the simulator) lets loopback through, over http or https.

    :param resolve: every address a host name resolves to (the caller's I/O).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise RunwayError(f"Output URL is malformed: {redact_url(url)}") from None
    host = parts.hostname
    if not host or parts.scheme not in ("https", "http"):
        raise RunwayError(f"Refusing to download {redact_url(url)}: outputs are fetched over https only")
    if parts.scheme == "http" and not plain_http_allowed(host, allow_loopback_http):
        raise RunwayError(
            f"Refusing to download {redact_url(url)}: outputs are fetched over https only (plain http only "
            "to 127.0.0.1/localhost when the connection allows it)"
        )
    try:
        ipaddress.ip_address(host.strip("[]"))
        addresses = [host]
    except ValueError:
        addresses = resolve(host, port or (443 if parts.scheme == "https" else 80))
    for address in addresses:
        if not is_internal_address(address) or plain_http_allowed(address, allow_loopback_http):
            continue
        raise RunwayError(
            f"Refusing to download {redact_url(url)}: {host} is or resolves to {address}, a loopback, private "
            "or link-local address (only loopback is allowed, and only when the connection sets "
            "allow_insecure_loopback)"
        )
    return url


# --------------------------------------------------------------------------------------------------------
# URLs in a request body, and data URIs
# --------------------------------------------------------------------------------------------------------
def check_https_url(uri: str, field_name: str, *, allow_loopback_http: bool = False) -> str:
    """Runway's URL rules that hold for every field: https, a hostname (not an IP address), no whitespace.
    (How long a URL may be is the spec's ``maxLength``, per field.)"""
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        raise RunwayValidationError(field_name, f"malformed URL {redact_url(uri)}") from None
    if parts.scheme == "http" and plain_http_allowed(host, allow_loopback_http):
        return uri
    if parts.scheme != "https":
        raise RunwayValidationError(field_name, f"URLs must use https, got {parts.scheme or 'no'} scheme")
    if not host:
        raise RunwayValidationError(field_name, "the URL has no host")
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        raise RunwayValidationError(field_name, "URLs must name a host, not an IP address")
    if any(ch.isspace() for ch in uri):
        raise RunwayValidationError(field_name, "URLs must not contain whitespace")
    return uri


def data_uri_mime(uri: str, field_name: str) -> str:
    """The media type of a data URI, checking that it is base64 that decodes (its length is the spec's
    to judge: ``maxLength`` of the whole URI, per field and model)."""
    match = re.match(r"data:([\w.+-]+/[\w.+-]+)((?:;[\w-]+=[\w.+-]+)*);base64,", uri[:300], re.IGNORECASE)
    if not match:
        raise RunwayValidationError(field_name, "data URIs must look like data:<mime type>;base64,<data>")
    payload = uri[match.end() :]
    if not payload:
        raise RunwayValidationError(field_name, "the data URI is empty")
    try:
        base64.b64decode(payload[: 4096 - (4096 % 4)] if len(payload) > 4096 else payload, validate=True)
    except (binascii.Error, ValueError):
        raise RunwayValidationError(field_name, "the data URI's base64 payload is not valid base64") from None
    return match.group(1).lower()


def data_uri_length(size: int, mime: str) -> int:
    """Length of the whole data URI of a file of ``size`` bytes, ``data:<mime>;base64,`` included: what
    the ``maxLength`` of Runway's spec counts."""
    return len(f"data:{mime};base64,") + 4 * ((size + 2) // 3)


def fits_data_uri(size: int, mime: str, limit: int) -> bool:
    """Whether a file of ``size`` bytes goes inline as a data URI of at most ``limit`` characters (else it
    is uploaded, or refused)."""
    return data_uri_length(size, mime) <= limit


# --------------------------------------------------------------------------------------------------------
# API paths, and URLs in logs
# --------------------------------------------------------------------------------------------------------
def task_path(task_id: str) -> str:
    if not isinstance(task_id, str) or not TASK_ID_PATTERN.match(task_id):
        raise RunwayValidationError("runway_task_id", f"{task_id!r} is not a Runway task id")
    return f"/v1/tasks/{quote(task_id, safe='')}"


def endpoint_path(endpoint: str) -> str:
    """``image_to_video``, ``/v1/image_to_video`` or ``v1/image_to_video`` → ``/v1/image_to_video``."""
    if not isinstance(endpoint, str):
        raise RunwayValidationError("endpoint", "must be a string such as 'image_to_video'")
    name = endpoint.strip().strip("/")
    if name.startswith("v1/"):
        name = name[3:]
    if not re.fullmatch(r"[a-z0-9_]+(/[a-z0-9_]+)*", name) or name.startswith("tasks"):
        raise RunwayValidationError("endpoint", f"{endpoint!r} is not a Runway generation endpoint")
    return f"/v1/{name}"


def redact_url(url: str) -> str:
    """A log-safe form of a signed URL: scheme, host and file name; no query, no token."""
    if not isinstance(url, str):
        return "<not a url>"
    if url.startswith("data:"):
        return f"data:…({len(url)} chars)"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    name = parts.path.rsplit("/", 1)[-1]
    shown = (
        f"{parts.scheme}://{parts.hostname or ''}/…/{name}"
        if name
        else f"{parts.scheme}://{parts.hostname}/…"
    )
    return shown + ("?<signature redacted>" if parts.query else "")
