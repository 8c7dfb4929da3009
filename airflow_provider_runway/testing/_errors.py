"""The one error type of the simulator's rooms: an answer that is not a success.

Rooms raise :class:`SimError`; the HTTP side turns it into the flavor's error body
(:func:`airflow_provider_runway.testing._shapes.error_response`).
"""

from __future__ import annotations

from typing import Any

from airflow_provider_runway.testing._schema import Issue


class SimError(Exception):
    """An error answer: HTTP status, a message, optional validation issues and extra headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        issues: list[Issue] | None = None,
        code: str = "",
        headers: dict[str, str] | None = None,
        gateway_body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.issues = issues or []
        self.code = code
        self.headers = headers or {}
        self.gateway_body = gateway_body
