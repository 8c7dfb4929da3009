"""The one table of file types: which files are images, videos and audio, and as which media type.

Everything that asks "what kind of file is this?" reads it: a local input's extension and content
(:mod:`airflow_provider_runway.media`), a data URI's media type (:mod:`.fields`), an argument whose kind
depends on the value it names (``endpoints._body.asset_kind_of``). No GIF: Runway refuses it.
"""

from __future__ import annotations

from typing import Literal

AssetKind = Literal["image", "video", "audio"]

#: extension -> media type, by kind
EXTENSIONS: dict[str, dict[str, str]] = {
    "image": {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"},
    "video": {".mp4": "video/mp4", ".mov": "video/quicktime", ".m4v": "video/mp4"},
    "audio": {
        ".mp3": "audio/mpeg",
        ".wav": "audio/wav",
        ".m4a": "audio/mp4",
        ".aac": "audio/aac",
        ".ogg": "audio/ogg",
        ".flac": "audio/flac",
    },
}
#: Other names of the same media types that data URIs carry in the wild, and Runway accepts.
ALIASES: dict[str, dict[str, str]] = {
    "image": {"image/jpg": "image/jpeg"},
    "video": {"video/mov": "video/quicktime"},
    "audio": {"audio/mp3": "audio/mpeg", "audio/x-wav": "audio/wav"},
}
#: Media types of data URIs, by kind: the table's, and their aliases.
MIME_TYPES: dict[str, frozenset[str]] = {
    kind: frozenset(types.values()) | frozenset(ALIASES[kind]) for kind, types in EXTENSIONS.items()
}
#: The stand-in for a file while the rest of a request is validated (before any file is read or uploaded).
PLACEHOLDERS = {
    "image": "data:image/png;base64,AAAA",
    "video": "data:video/mp4;base64,AAAA",
    "audio": "data:audio/mpeg;base64,AAAA",
}


def kind_of_extension(ext: str) -> AssetKind | None:
    """``image``, ``video`` or ``audio`` for an extension such as ``.png``; None when the table lacks it."""
    ext = ext.lower()
    for kind, types in EXTENSIONS.items():
        if ext in types:
            return kind  # type: ignore[return-value]
    return None


def mime_of_extension(kind: str, ext: str) -> str | None:
    """The media type the table gives an extension of ``kind``, or None."""
    return EXTENSIONS[kind].get(ext.lower())


def is_allowed_mime(kind: str, mime: str | None) -> bool:
    """Whether a file's media type (found from its content) is one the table takes for ``kind``."""
    return mime in EXTENSIONS[kind].values()


def data_uri_mime_allowed(kind: str, mime: str) -> bool:
    """Whether a data URI of ``mime`` may stand for an input of ``kind`` (any ``audio/`` type for audio)."""
    return mime in MIME_TYPES[kind] or (kind == "audio" and mime.startswith("audio/"))


def data_uri_mime_names(kind: str) -> str:
    """The media types of ``kind``, for a message."""
    return ", ".join(sorted(MIME_TYPES[kind]))
