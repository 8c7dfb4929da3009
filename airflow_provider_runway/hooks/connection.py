"""The Airflow connection's UI: the form on Airflow 3.1, and the test button (every version)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_runway.core.organization import is_missing_endpoint
from airflow_provider_runway.exceptions import (
    RunwayAPIError,
    RunwayAuthError,
    RunwayError,
    RunwayNotFoundError,
)

if TYPE_CHECKING:
    from airflow_provider_runway.core.settings import ConnectionSettings
    from airflow_provider_runway.core.task import RunwayTask

#: A task id that cannot exist, used by the test on the gateway (no organization endpoint there).
PROBE_TASK_ID = "00000000-0000-4000-8000-000000000000"


def ui_field_behaviour() -> dict[str, Any]:
    """The form on Airflow 3.1, from the one declared in get_provider_info (3.2+ reads that directly).

    3.1 has no declared extra fields, so the raw Extra JSON stays visible there.
    """
    from airflow_provider_runway.get_provider_info import get_provider_info

    (conn_type,) = get_provider_info()["connection-types"]
    behaviour = conn_type["ui-field-behaviour"]
    return {
        "hidden_fields": [f for f in behaviour["hidden-fields"] if f != "extra"],
        "relabeling": dict(behaviour["relabeling"]),
        "placeholders": {
            **behaviour["placeholders"],
            "extra": '{"api_version": "2024-11-06", "timeout": 30, "max_retries": 5}',
        },
    }


class _Hook(Protocol):
    @property
    def settings(self) -> ConnectionSettings: ...

    def get_organization(self) -> dict[str, Any]: ...

    def get_task(self, task_id: str) -> RunwayTask: ...


def test(hook: _Hook) -> tuple[bool, str]:
    """Check the base URL and the key without creating a task or spending credits."""
    try:
        settings = hook.settings
        try:
            org = hook.get_organization()
        except RunwayAPIError as err:
            if not is_missing_endpoint(err):
                raise
            # The gateway has no organization endpoint: probe the task endpoint with an impossible id.
            try:
                hook.get_task(PROBE_TASK_ID)
            except RunwayNotFoundError:
                return True, (
                    f"Reached {settings.base_url}: the API key was accepted (a lookup of a task that "
                    "cannot exist answered 'not found'). This endpoint has no organization API, so the "
                    "credit balance was not checked. No task was created."
                )
            return True, f"Reached {settings.base_url}: the API key was accepted. No task was created."
        balance = org.get("creditBalance")
        return True, (
            f"Reached {settings.base_url}: the API key was accepted; credit balance {balance}. "
            "No task was created."
        )
    except RunwayAuthError as err:
        return False, f"The API key was rejected: {err}"
    except RunwayError as err:
        return False, str(err)
    except Exception as err:  # e.g. the connection does not exist: say so rather than raise
        return False, f"{type(err).__name__}: {err}"
