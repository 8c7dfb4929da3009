"""The control routes (``/_sim/...``, no auth): one table for HTTP clients and the in-process simulator.

:func:`control_call` maps a route to a call on :class:`~airflow_provider_runway.testing._state.SimState` and
lets its exceptions through (the in-process :class:`~airflow_provider_runway.testing.simulator.Simulator`
raises them as they are); :func:`control_response` is the HTTP face, with the errors as JSON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_runway.testing._errors import SimError
from airflow_provider_runway.testing._http import Request, Response, json_response, load_json

if TYPE_CHECKING:
    from airflow_provider_runway.testing._state import SimState


class NoControlRoute(LookupError):
    """No control route has this method and path."""


def control_call(state: SimState, method: str, route: tuple[str, ...], body: Any, base_url: str) -> Any:
    """Run one control route; raises :class:`NoControlRoute`, :class:`KeyError` (unknown task) and the
    :class:`ValueError` or :class:`TypeError` of a bad knob, fault or outcome."""
    head, rest = (route[0], route[1:]) if route else ("", ())
    if not rest:
        if head == "health":
            return {"ok": True, "flavor": state.flavor, "base_url": base_url}
        if head == "reset" and method == "POST":
            state.reset(seed=body.get("seed") if isinstance(body, dict) else None)
            return {"ok": True}
        if head == "config":
            return state.configure(**body) if method == "POST" else state.get_config()
        if head == "faults":
            if method == "POST":
                return {"id": state.add_fault(**body)}
            if method == "DELETE":
                state.clear_faults()
                return {"ok": True}
            return state.list_faults()
        if head == "accounting":
            return state.accounting()
        if head == "tasks":
            return state.list_tasks()
    elif head == "faults" and method == "DELETE":
        state.clear_faults(int("/".join(rest)))
        return {"ok": True}
    elif head == "tasks":
        task_id, action = rest[0], "/".join(rest[1:])
        if action == "outcome" and method == "POST":
            return state.force_outcome(task_id, **body)
        if not action:
            return state.task_info(task_id)
    raise NoControlRoute(f"{method} /_sim/{'/'.join(route)}")


def control_response(state: SimState, request: Request, base_url: str) -> Response:
    """Answer a ``/_sim/...`` request."""
    route = request.path[len("/_sim") :].rstrip("/")
    try:
        body = load_json(request.body) if request.body else {}
        return json_response(
            200, control_call(state, request.method, tuple(route.split("/")[1:]), body, base_url)
        )
    except NoControlRoute:
        return json_response(404, {"error": f"unknown control route {request.method} {request.path}"})
    except KeyError as exc:
        return json_response(404, {"error": f"unknown task {exc}"})
    except (TypeError, ValueError, SimError) as exc:
        return json_response(400, {"error": str(exc)})
