"""Inputs and outputs: local and object-storage files in, generated files out before their URLs expire.

Inputs (``prompt_image``, ``video_uri``, reference images and audio) may be an https URL, a data URI or a
``runway://`` URI (passed through), or a file: a local path, ``file://`` or any object-storage URL that
``ObjectStoragePath`` or fsspec knows (``s3://``, ``gs://``, ``memory://``...). A file goes as a data URI
when the whole URI fits the ``maxLength`` Runway's spec gives that field (the caller passes it), through
Runway's upload endpoint when larger (Runway direct, up to 200 MB), and is otherwise refused before any
paid call, naming the limit and the size.

Outputs are streamed in 1 MB chunks (constant memory) to ``<output_path>/<runway_task_id>_<n>.<ext>``
through a temporary name, so a failed download never leaves a partial file under the final name.
"""

from __future__ import annotations

import base64
import hashlib
import os
import posixpath
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol
from urllib.parse import urlsplit

from airflow_provider_runway.core import filetypes
from airflow_provider_runway.core.defaults import DEFAULT_MAX_DOWNLOAD_BYTES
from airflow_provider_runway.core.filetypes import EXTENSIONS, PLACEHOLDERS, AssetKind
from airflow_provider_runway.core.urls import check_fetch_url, data_uri_length, fits_data_uri, redact_url
from airflow_provider_runway.core.urls import is_internal_address as is_internal_address
from airflow_provider_runway.exceptions import (
    RunwayConfigurationError,
    RunwayError,
    RunwayOutputExpiredError,
    RunwayValidationError,
)

if TYPE_CHECKING:
    from airflow_provider_runway.core.task import RunwayTask

#: The one table's rows by kind, under the names this module gave them (core.filetypes holds the table).
IMAGE_EXTENSIONS = EXTENSIONS["image"]
VIDEO_EXTENSIONS = EXTENSIONS["video"]
AUDIO_EXTENSIONS = EXTENSIONS["audio"]
UPLOAD_MIN_BYTES = 512
UPLOAD_MAX_BYTES = 200 * 1024 * 1024
CHUNK_SIZE = 1024 * 1024
REMOTE_PREFIXES = ("https://", "http://", "data:", "runway://")
#: fsspec protocols that fetch from any network host (and ``a::b`` chains, which can wrap them): a file
#: argument never goes through them, so a templated input cannot make the worker fetch an internal URL.
NETWORK_FETCH_PROTOCOLS = frozenset(
    {"http", "https", "ftp", "sftp", "ssh", "smb", "webdav", "webhdfs", "hdfs", "git", "github", "dask"}
)


# --------------------------------------------------------------------------------------------------------
# Storage: ObjectStoragePath when Airflow knows the scheme (credentials from connections), else fsspec
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Location:
    """A file on some filesystem: the fsspec filesystem, the path on it, and how to show it."""

    fs: Any
    path: str
    url: str

    def child(self, name: str) -> Location:
        return Location(
            self.fs, posixpath.join(self.path.rstrip("/"), name), self.url.rstrip("/") + "/" + name
        )

    @property
    def parent_path(self) -> str:
        return posixpath.dirname(self.path.rstrip("/"))


def locate(url: Any, *, conn_id: str | None = None, field: str = "path") -> Location:
    """Resolve a local path, ``file://`` URL, ObjectStoragePath or object-storage URL to a Location."""
    text = str(url) if url is not None else ""
    if not text.strip():
        raise RunwayValidationError(field, "must be a path or an object-storage URL")
    text = text.strip()
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if "::" in scheme or scheme in NETWORK_FETCH_PROTOCOLS:
            raise RunwayValidationError(
                field,
                f"{redact_url(text)} would be fetched from a network host by the provider; give an https URL "
                "(Runway fetches it), a local path or an object-storage URL (s3://, gs://, ...)",
            )
    else:
        import fsspec

        return Location(fsspec.filesystem("file"), os.path.abspath(os.path.expanduser(text)), text)
    try:
        from airflow.sdk import ObjectStoragePath

        osp = ObjectStoragePath(text, conn_id=conn_id) if conn_id else ObjectStoragePath(text)
        fs = osp.fs
        return Location(fs, osp.path, text)
    except ValueError:
        pass  # a scheme Airflow has no filesystem for (memory://, ...): ask fsspec directly
    try:
        import fsspec.core

        fs, path = fsspec.core.url_to_fs(text)
    except (ValueError, ImportError) as err:
        raise RunwayValidationError(field, f"no filesystem can open {text!r} ({err})") from None
    return Location(fs, path, text)


# --------------------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LocalAsset:
    location: Location
    size: int
    mime: str
    field: str


def is_remote_reference(value: Any) -> bool:
    return isinstance(value, str) and value.strip()[:16].lower().startswith(REMOTE_PREFIXES)


def _sniff(head: bytes, kind: AssetKind, declared: str | None) -> str | None:
    """The media type from the file's first bytes (magic numbers), or None when unrecognised."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if kind == "audio":
        return _sniff_audio(head, declared)
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return (
            "video/quicktime"
            if brand == b"qt  "
            else (declared if filetypes.is_allowed_mime("video", declared) else "video/mp4")
        )
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return declared or "video/quicktime"
    return None


def _sniff_audio(head: bytes, declared: str | None) -> str | None:
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/aac" if declared == "audio/aac" and head[1] & 0x06 == 0 else "audio/mpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head[4:8] == b"ftyp":
        return "audio/mp4"
    return None


def inspect_file(value: Any, kind: AssetKind, field: str, *, conn_id: str | None = None) -> LocalAsset:
    """Check that an input file exists, is of an allowed type (by content, not only by name) and size."""
    location = locate(value, conn_id=conn_id, field=field)
    fs = location.fs
    try:
        info = fs.info(location.path)
    except FileNotFoundError:
        raise RunwayValidationError(field, f"file {location.url} does not exist") from None
    except (OSError, ValueError) as err:  # ValueError: a NUL byte in the path
        raise RunwayValidationError(field, f"cannot read {location.url!r}: {err}") from None
    if info.get("type") == "directory":
        raise RunwayValidationError(field, f"{location.url} is a directory, not a file")
    size = int(info.get("size") or 0)
    if size <= 0:
        raise RunwayValidationError(field, f"file {location.url} is empty")
    with fs.open(location.path, "rb") as handle:
        head = handle.read(16)
    ext = posixpath.splitext(location.path)[1]
    mime = _sniff(head, kind, filetypes.mime_of_extension(kind, ext))
    if mime == "image/gif":
        raise RunwayValidationError(field, f"{location.url} is a GIF; Runway takes JPEG, PNG or WebP images")
    if mime is None or not filetypes.is_allowed_mime(kind, mime):
        names = ", ".join(sorted({m.split("/")[1] for m in EXTENSIONS[kind].values()}))
        raise RunwayValidationError(
            field, f"{location.url} is not a supported {kind} ({names}); found {mime or 'unknown content'}"
        )
    return LocalAsset(location, size, mime, field)


def read_data_uri(asset: LocalAsset) -> str:
    with asset.location.fs.open(asset.location.path, "rb") as handle:
        payload = handle.read()
    return f"data:{asset.mime};base64," + base64.b64encode(payload).decode("ascii")


Uploader = Callable[[LocalAsset], str]


def resolve_asset(
    value: Any,
    kind: AssetKind,
    field: str,
    *,
    uploader: Uploader | None,
    limit: int,
    conn_id: str | None = None,
) -> Any:
    """One asset reference as Runway takes it; files become data URIs (when the whole URI is at most
    ``limit`` characters) or uploads, or are refused."""
    if is_remote_reference(value):
        return value.strip()
    if isinstance(value, dict) or value is None or isinstance(value, (int, float, bool)):
        return value  # not a file reference: the body validation reports it, naming the field
    asset = inspect_file(value, kind, field, conn_id=conn_id)
    if fits_data_uri(asset.size, asset.mime, limit):
        return read_data_uri(asset)
    encoded = data_uri_length(asset.size, asset.mime)
    mb = 1024 * 1024
    if uploader is None:
        raise RunwayValidationError(
            field,
            f"{asset.location.url} is {asset.size / mb:.1f} MB, a data URI of {encoded} characters: over the "
            f"{limit} Runway's spec takes here, and this connection has no upload endpoint (the CometAPI "
            "gateway has none): host the file on https, or use Runway direct for uploads up to 200 MB",
        )
    if asset.size > UPLOAD_MAX_BYTES:
        raise RunwayValidationError(
            field, f"{asset.location.url} is {asset.size / mb:.1f} MB; Runway uploads take at most 200 MB"
        )
    if asset.size < UPLOAD_MIN_BYTES:  # pragma: no cover - such a file always fits a data URI
        raise RunwayValidationError(
            field, f"{asset.location.url} is smaller than Runway's 512 B upload minimum"
        )
    return uploader(asset)


def resolve_assets(
    value: Any,
    kind: AssetKind,
    field: str,
    *,
    uploader: Uploader | None,
    limit: int,
    conn_id: str | None = None,
) -> Any:
    """Resolve a single reference, a ``{"uri": ...}`` dict, or each URI in a list of strings / such dicts."""

    def one(item: Any, where: str) -> Any:
        if isinstance(item, dict) and "uri" in item:
            uri = resolve_asset(
                item["uri"], kind, f"{where}.uri", uploader=uploader, limit=limit, conn_id=conn_id
            )
            return {**item, "uri": uri}
        return resolve_asset(item, kind, where, uploader=uploader, limit=limit, conn_id=conn_id)

    if isinstance(value, (list, tuple)):
        return [one(item, f"{field}[{index}]") for index, item in enumerate(value)]
    if value is not None and not isinstance(value, (str, dict)) and hasattr(value, "__fspath__") is False:
        value = str(value)  # an ObjectStoragePath or similar
    return one(value, field)


def asset_digests(value: Any, kind: AssetKind, field: str, *, conn_id: str | None = None) -> Any:
    """The same shape as :func:`placeholder_assets`, with every file reference replaced by the sha256 of
    its content (read in 1 MB chunks): what the durable record's fingerprint counts, before any upload."""
    if isinstance(value, (list, tuple)):
        return [asset_digests(item, kind, f"{field}[{n}]", conn_id=conn_id) for n, item in enumerate(value)]
    if isinstance(value, dict) and "uri" in value:
        return {**value, "uri": asset_digests(value["uri"], kind, f"{field}.uri", conn_id=conn_id)}
    if value is None or isinstance(value, (dict, int, float, bool)) or is_remote_reference(value):
        return value
    asset = inspect_file(value, kind, field, conn_id=conn_id)
    digest = hashlib.sha256()
    with asset.location.fs.open(asset.location.path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return f"file:sha256:{digest.hexdigest()}"


def placeholder_assets(value: Any, kind: AssetKind) -> Any:
    """The same shape with every file reference replaced by a tiny valid data URI (for validating the
    rest of a request before any file is read or uploaded)."""
    if isinstance(value, (list, tuple)):
        return [placeholder_assets(item, kind) for item in value]
    if isinstance(value, dict) and "uri" in value:
        return {**value, "uri": placeholder_assets(value["uri"], kind)}
    if value is None or isinstance(value, (dict, int, float, bool)) or is_remote_reference(value):
        return value
    return PLACEHOLDERS[kind]


# --------------------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------------------
def _resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to; empty when it does not resolve (the connect then fails)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    return [str(info[4][0]) for info in infos]


#: How a download's host is resolved before connecting (tests replace it).
resolve_host: Callable[[str, int], list[str]] = _resolve


def check_download_url(url: str, *, allow_loopback_http: bool) -> str:
    """Refuse what the provider must not fetch (:func:`~airflow_provider_runway.core.urls.check_fetch_url`),
    resolving the host with :data:`resolve_host` first.

    The HTTP client resolves the host again to connect, so a DNS server that answers differently the second
    time (DNS rebinding) is not stopped by this check.
    """
    return check_fetch_url(url, allow_loopback_http=allow_loopback_http, resolve=_resolve_now)


def _resolve_now(host: str, port: int) -> list[str]:
    return resolve_host(host, port)  # looked up at each call, so a test can replace it


def output_extension(url: str, default: str) -> str:
    try:
        ext = posixpath.splitext(urlsplit(url).path)[1].lower().lstrip(".")
    except ValueError:
        ext = ""
    return ext if ext and len(ext) <= 5 and ext.isalnum() else default


def output_name(task_id: str, index: int, url: str, default_ext: str) -> str:
    return f"{task_id}_{index}.{output_extension(url, default_ext)}"


def stream_to(location: Location, write: Callable[[BinaryIO], Any]) -> Any:
    """Write through a temporary sibling, then move it under the final name; remove it on failure."""
    fs = location.fs
    parent = location.parent_path
    if parent:
        fs.makedirs(parent, exist_ok=True)
    temp = posixpath.join(parent, f".{posixpath.basename(location.path)}.partial-{uuid.uuid4().hex[:12]}")
    try:
        with fs.open(temp, "wb") as handle:
            result = write(handle)
        fs.mv(temp, location.path)
    except BaseException:
        try:
            if fs.exists(temp):
                fs.rm(temp)
        except Exception:  # noqa: S110 - the original error matters more than the cleanup's
            pass
        raise
    return result


class OutputSource(Protocol):
    """What saving a task's outputs needs from the connection (the hook is one), and no more.

    :meth:`download` streams one signed URL into a file, raising
    :class:`~airflow_provider_runway.exceptions.RunwayOutputExpiredError` when it has expired;
    :meth:`get_task` reads the task again, for fresh URLs.
    """

    @property
    def log(self) -> Any: ...

    def download(self, url: str, handle: BinaryIO, *, max_bytes: int) -> tuple[int, str, str | None]: ...

    def get_task(self, task_id: str) -> RunwayTask: ...


@dataclass
class SavedOutput:
    index: int
    path: str
    size: int
    sha256: str
    content_type: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "content_type": self.content_type,
        }


def save_task_outputs(
    source: OutputSource,
    task: RunwayTask,
    output_path: Any,
    *,
    conn_id: str | None = None,
    default_ext: str = "mp4",
    max_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
) -> list[SavedOutput]:
    """Download every output of a SUCCEEDED task to ``output_path``; a URL found expired is refreshed
    (one new GET of the task for fresh signed URLs), once."""
    base = locate(output_path, conn_id=conn_id, field="output_path")
    outputs = list(task.outputs)
    refreshed = False
    saved: list[SavedOutput] = []
    for index in range(len(outputs)):
        while True:
            url = outputs[index]
            target = base.child(output_name(task.id, index, url, default_ext))

            def fetch(handle: BinaryIO, url: str = url) -> tuple[int, str, str | None]:
                return source.download(url, handle, max_bytes=max_bytes)

            try:
                size, digest, content_type = stream_to(target, fetch)
            except RunwayOutputExpiredError:
                if refreshed:
                    raise
                refreshed = True
                source.log.warning("Output URL of Runway task %s expired; fetching fresh URLs", task.id)
                fresh = source.get_task(task.id)
                if len(fresh.outputs) != len(outputs):
                    raise
                outputs = list(fresh.outputs)
                continue
            source.log.info(
                "Saved Runway output %d of task %s to %s (%d bytes)", index, task.id, target.url, size
            )
            saved.append(SavedOutput(index, target.url, size, digest, content_type))
            break
    return saved


def save_into_manifest(
    source: OutputSource,
    task: RunwayTask,
    manifest: dict[str, Any],
    output_path: Any,
    *,
    conn_id: str | None,
    default_ext: str,
    max_bytes: int,
) -> dict[str, Any]:
    """Save a finished task's outputs and add path, size, sha256 and type to each manifest output."""
    saved = save_task_outputs(
        source, task, output_path, conn_id=conn_id, default_ext=default_ext, max_bytes=max_bytes
    )
    by_index = {item.index: item.to_dict() for item in saved}
    manifest["outputs"] = [{**o, **by_index.get(o["index"], {})} for o in manifest["outputs"]]
    return manifest


def sha256_writer(handle: BinaryIO, chunks: Any, *, max_bytes: int, url: str) -> tuple[int, str]:
    """Write chunks to ``handle``, hashing as it goes; refuse past ``max_bytes``."""
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        if not chunk:
            continue
        size += len(chunk)
        if size > max_bytes:
            raise RunwayError(f"Output {redact_url(url)} is larger than the {max_bytes} byte download limit")
        digest.update(chunk)
        handle.write(chunk)
    return size, digest.hexdigest()


def ensure_output_path(output_path: Any, conn_id: str | None) -> None:
    """Fail before any paid call when the output location cannot be opened."""
    try:
        locate(output_path, conn_id=conn_id, field="output_path")
    except RunwayValidationError:
        raise
    except Exception as err:
        raise RunwayConfigurationError(f"output_path {output_path!r} cannot be used: {err}") from None
