"""Output files: signed URLs that expire, their checks, and their bytes (with ``Range`` support).

An output URL is ``/_files/{task_id}/{index}.{ext}?Expires=...&Signature=...``; a fresh GET of a succeeded task
signs fresh URLs. Refusals are a storage bucket's (``NoSuchKey``, ``SignatureDoesNotMatch``, ``AccessDenied``).
The bytes come from :mod:`~airflow_provider_runway.testing._outputs`; MP4 outputs are padded to
``output_size`` and streamed in constant memory.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from typing import Any

from airflow_provider_runway.testing import _media
from airflow_provider_runway.testing._errors import SimError
from airflow_provider_runway.testing._http import Response
from airflow_provider_runway.testing._tasks import Task

#: Content type of each output extension.
OUTPUT_TYPES = {
    "mp4": "video/mp4",
    "png": "image/png",
    "jpg": "image/jpeg",
    "webp": "image/webp",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "ogg": "audio/ogg",
}


class Signer:
    """HMAC signatures for output URLs and upload policies, keyed by the run's seed."""

    def __init__(self, seed: int) -> None:
        self._secret = hashlib.sha256(f"runway-simulator-{seed}".encode()).digest()

    def sign(self, message: str) -> str:
        """The signature of ``message``."""
        return hmac.new(self._secret, message.encode(), hashlib.sha256).hexdigest()[:40]

    def file_signature(self, name: str, expires: str | int) -> str:
        """The signature of an output file's URL."""
        return self.sign(f"{name}:{expires}")


def output_urls(
    task: Task, root: str, *, now: float, ttl: float, signer: Signer, ext: str | None = None
) -> list[str]:
    """Fresh signed output URLs for a succeeded task, valid for ``ttl`` seconds (``ext``: the outputs'
    extension, by default the endpoint's)."""
    expires = math.ceil(now + ttl)
    urls = []
    for index in range(task.output_count):
        name = f"{task.id}/{index}.{ext or task.output_ext}"
        urls.append(
            f"{root}/_files/{name}?Expires={expires}&Signature={signer.file_signature(name, expires)}"
        )
    return urls


def check_file(
    task: Task | None,
    name: str,
    query: dict[str, str],
    *,
    succeeded: bool,
    now: float,
    signer: Signer,
    ext: str | None = None,
) -> str:
    """The content type of a requested output file, or :class:`SimError` (404 no such file or not
    succeeded, 403 bad signature or expired); ``ext`` as for :func:`output_urls`."""
    _, _, filename = name.partition("/")
    index_text, _, asked = filename.partition(".")
    ok_name = task is not None and index_text.isdigit() and asked == (ext or task.output_ext)
    if task is None or task.deleted or not ok_name or int(index_text) >= task.output_count or not succeeded:
        raise SimError(404, "NoSuchKey", code="NoSuchKey")
    expires_text = query.get("Expires", "")
    signature = query.get("Signature", "")
    valid = expires_text.isdigit() and hmac.compare_digest(
        signature, signer.file_signature(name, expires_text)
    )
    if not valid:
        raise SimError(403, "SignatureDoesNotMatch", code="SignatureDoesNotMatch")
    if int(expires_text) < now:
        raise SimError(403, "Request has expired", code="AccessDenied")
    return OUTPUT_TYPES[asked]


def file_index(name: str) -> int:
    """The output index in a checked file name (``{task_id}/{index}.{ext}``)."""
    return int(name.partition("/")[2].partition(".")[0])


def file_size(content_type: str, output_size: int | None, data: bytes) -> int:
    """Bytes of an output file whose content is ``data`` (an MP4 padded to ``output_size``)."""
    if content_type != "video/mp4":
        return len(data)
    return _media.mp4_size(output_size, data)


def file_response(
    status: int,
    content_type: str,
    headers: list[tuple[str, Any]],
    *,
    start: int,
    end: int,
    output_size: int | None,
    data: bytes,
) -> Response:
    """Bytes ``[start, end)`` of an output file whose content is ``data`` (MP4s padded and streamed)."""
    if content_type != "video/mp4":
        return Response(status, data[start:end], content_type, headers)
    stream = _media.iter_mp4(output_size, start, end, data)
    return Response(status, b"", content_type, headers, stream=stream, length=end - start)


def parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """``Range: bytes=a-b`` -> ``(start, end_exclusive)``; ``"invalid"`` when unsatisfiable; None when absent."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[len("bytes=") :].partition("-")
    try:
        if first == "":
            start, end = max(0, size - int(last)), size
        else:
            start = int(first)
            end = min(size, int(last) + 1) if last else size
    except ValueError:
        return None
    if start >= size or start >= end:
        return "invalid"
    return start, end
