"""Uploads: ``POST /v1/uploads`` hands out a presigned form, the form POST brings the file, and a
``runway://`` URI names it until it expires.

Only the file's size is kept, never its bytes. Request checks live in ``_validation.py``; the multipart reader
in ``_http.py``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from airflow_provider_runway.testing._errors import SimError

UPLOAD_MIN_BYTES = 512
UPLOAD_MAX_BYTES = 200 * 1024 * 1024
UPLOAD_EXTENSIONS = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "m4a": "audio/mp4",
}
URI_SCHEME = "runway://"


def upload_type(filename: str) -> str | None:
    """The content type an upload of ``filename`` gets, or ``None`` when its extension is not accepted."""
    if "." not in filename:
        return None
    return UPLOAD_EXTENSIONS.get(filename.rsplit(".", 1)[-1].lower())


class UploadStore:
    """Uploads by id: ``{id, filename, key, created, size, done}``."""

    def __init__(self) -> None:
        self.uploads: dict[str, dict[str, Any]] = {}

    def open(
        self, upload_id: str, filename: str, *, now: float, root: str, sign: Callable[[str], str]
    ) -> dict[str, Any]:
        """First step: remember the upload and return the presigned form (``uploadUrl``, ``fields``,
        ``runwayUri``); ``filename`` has been checked."""
        key = f"uploads/{upload_id}/{filename}"
        policy = base64.b64encode(f'{{"key":"{key}","max":{UPLOAD_MAX_BYTES}}}'.encode()).decode()
        self.uploads[upload_id] = {
            "id": upload_id,
            "filename": filename,
            "key": key,
            "created": now,
            "size": None,
            "done": False,
        }
        return {
            "uploadUrl": f"{root}/_uploads/{upload_id}",
            "fields": {
                "key": key,
                "Content-Type": upload_type(filename),
                "policy": policy,
                "x-amz-signature": sign(policy),
            },
            "runwayUri": f"{URI_SCHEME}{upload_id}",
        }

    def filename(self, upload_id: str) -> str | None:
        """The filename of a known upload."""
        upload = self.uploads.get(upload_id)
        return None if upload is None else str(upload["filename"])

    def finish(self, upload_id: str, fields_seen: dict[str, str], size: int) -> None:
        """Second step: the form POST arrived with a file of ``size`` bytes; raises :class:`SimError` with
        the storage's codes (``NoSuchUpload``, ``AccessDenied``, ``EntityTooSmall``, ``EntityTooLarge``)."""
        upload = self.uploads.get(upload_id)
        if upload is None:
            raise SimError(404, "NoSuchUpload", code="NoSuchUpload")
        if fields_seen.get("key") != upload["key"] or fields_seen.get("policy") is None:
            raise SimError(403, "Invalid according to Policy: Policy Condition failed", code="AccessDenied")
        if size < UPLOAD_MIN_BYTES:
            raise SimError(
                400, "Your proposed upload is smaller than the minimum allowed size", code="EntityTooSmall"
            )
        if size > UPLOAD_MAX_BYTES:
            raise SimError(
                400, "Your proposed upload exceeds the maximum allowed size", code="EntityTooLarge"
            )
        upload["size"] = size
        upload["done"] = True

    def exists(self, uri: str, *, now: float, ttl: float) -> bool:
        """Whether a ``runway://`` URI names a finished upload younger than ``ttl`` seconds."""
        upload = self.uploads.get(uri[len(URI_SCHEME) :])
        if upload is None or not upload["done"]:
            return False
        return bool(now - upload["created"] < ttl)
