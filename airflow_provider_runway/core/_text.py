"""Short, log-safe renderings of what a server sent, for error messages."""

from __future__ import annotations

import json
from typing import Any


def snippet(value: Any, limit: int = 200) -> str:
    """A JSON value as at most ``limit`` characters."""
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def body_snippet(body: bytes, limit: int = 160) -> str:
    """The start of a raw body, on one line."""
    text = body[:limit].decode("utf-8", "replace").replace("\n", " ")
    return text + ("…" if len(body) > limit else "")
