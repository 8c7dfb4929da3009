"""The organization endpoint (Runway direct only): the credit balance, and "this URL has no such endpoint"."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from airflow_provider_runway.core._text import snippet as _snippet
from airflow_provider_runway.exceptions import RunwayAPIError, RunwayProtocolError


def is_missing_endpoint(error: RunwayAPIError) -> bool:
    """A 404 or 405 that says the base URL has no such endpoint (e.g. the gateway's missing organization or
    text_to_video), not that a task is unknown: nothing was created or billed."""
    return error.http_status in (404, 405) and not getattr(error, "task_not_exist", False)


def parse_organization(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, Mapping):
        raise RunwayProtocolError(f"the organization answer is not a JSON object: {_snippet(payload)}")
    return dict(payload)


def credit_balance(organization: Mapping[str, Any]) -> float:
    """``creditBalance`` from a ``GET /v1/organization`` answer."""
    value = organization.get("creditBalance")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RunwayProtocolError(
            f"the organization answer has no numeric creditBalance: {_snippet(organization)}"
        )
    return float(value)
