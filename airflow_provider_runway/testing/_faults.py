"""The fault catalogue and its injection: which faults exist, which fire for a request, what each one does.

A fault is registered with :meth:`FaultBook.add` (``POST /_sim/faults``, ``--fault`` on the command line) and
fires for the requests it matches, ``times`` times at most, with probability ``rate`` drawn from a seeded RNG.
Three families:

* replacing kinds answer instead of the service (:func:`replacing_response`): the request is not processed;
* create kinds shape the task a create makes (:func:`task_shape`);
* ``slow`` delays the real answer (:func:`slow_down`) and ``create_lost`` loses a create's answer after the
  task exists (:func:`lost_create`).
"""

from __future__ import annotations

import fnmatch
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from airflow_provider_runway.testing._errors import SimError
from airflow_provider_runway.testing._http import REASONS, Response
from airflow_provider_runway.testing._shapes import error_response
from airflow_provider_runway.testing._tasks import DEFAULT_FAILURE, DEFAULT_FAILURE_CODE, TaskShape

#: Fault kinds and the parameters each one reads (besides ``path``, ``method``, ``times``, ``rate``).
FAULT_KINDS: dict[str, tuple[str, ...]] = {
    "rate_limit": ("retry_after", "message"),
    "http_error": ("status", "code", "message", "retry_after"),
    "reset": (),
    "hang": (),
    "slow": ("delay",),
    "malformed_json": ("status",),
    "html": ("status", "location"),
    "create_lost": ("mode",),
    "task_failed": ("failure_code", "failure"),
    "task_cancelled": (),
    "task_stuck_throttled": (),
    "timing": ("pending_seconds", "running_seconds"),
}
#: Kinds that answer instead of the service (the request is not processed).
REPLACING_KINDS = frozenset({"rate_limit", "http_error", "reset", "hang", "malformed_json", "html"})
#: Kinds that shape the task a create makes (they only match create requests).
CREATE_KINDS = frozenset({"task_failed", "task_cancelled", "task_stuck_throttled", "timing"})
#: Request groups a fault's ``path`` may name instead of a glob.
PATH_GROUPS = ("create", "tasks_get", "delete", "files", "organization", "uploads", "upload_post", "any")
#: Where a fault applies and how often: the :class:`Fault` fields a caller may set besides the kind's own.
MATCH_FIELDS = ("path", "method", "times", "rate")
#: How a lost create answer ends the connection.
LOST_MODES = ("close", "reset", "hang")


@dataclass
class Fault:
    """One injected fault. ``path`` is a request group (see ``PATH_GROUPS``) or a glob on the URL path."""

    id: int
    kind: str
    path: str = "any"
    method: str | None = None
    times: int | None = None
    rate: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)
    fired: int = 0

    def matches(self, method: str, path: str, group: str) -> bool:
        """Whether this fault applies to a request (ignoring ``times`` and ``rate``)."""
        if self.method and self.method.upper() != method:
            return False
        if self.path in PATH_GROUPS:
            return self.path in ("any", group)
        return fnmatch.fnmatchcase(path, self.path)


class FaultBook:
    """The registered faults, their ids and the seeded RNG that draws their ``rate``.

    :param seed: seed of the rate RNG.
    :param startup: faults that were there from the start (the command line's): kept, with ``fired`` at 0.
    """

    def __init__(self, seed: int, startup: Sequence[Fault] = ()) -> None:
        self.faults = [replace(fault, fired=0) for fault in startup]
        self.last_id = max((fault.id for fault in startup), default=0)
        self._rng = random.Random(seed)

    def add(self, kind: str, **options: Any) -> int:
        """Register a fault and return its id; ``options`` are ``MATCH_FIELDS`` and the kind's parameters.

        Raises :class:`ValueError` for an unknown kind, parameter, ``times`` or ``rate``.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
        where = {name: options.pop(name) for name in MATCH_FIELDS if name in options}
        unknown = sorted(set(options) - set(FAULT_KINDS[kind]))
        if unknown:
            raise ValueError(f"fault {kind!r} takes {list(FAULT_KINDS[kind])}, not {unknown}")
        fault = Fault(0, kind, **where, params=options)
        if fault.times is not None and (not isinstance(fault.times, int) or fault.times < 0):
            raise ValueError("times must be null or an integer >= 0")
        if not 0.0 <= float(fault.rate) <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        if kind in CREATE_KINDS and fault.path == "any":
            fault.path = "create"
        self.last_id += 1
        fault.id = self.last_id
        fault.method = fault.method.upper() if fault.method else None
        fault.rate = float(fault.rate)
        self.faults.append(fault)
        return fault.id

    def clear(self, fault_id: int | None = None) -> None:
        """Remove one fault, or all of them."""
        self.faults = [f for f in self.faults if fault_id is not None and f.id != fault_id]

    def listing(self) -> list[dict[str, Any]]:
        """The registered faults with how often each fired."""
        return [asdict(f) for f in self.faults]

    def pick(self, method: str, path: str, group: str) -> list[Fault]:
        """Faults that fire for this request (consumes ``times``, draws ``rate``)."""
        fired: list[Fault] = []
        for fault in self.faults:
            if not fault.matches(method, path, group):
                continue
            if fault.kind in CREATE_KINDS and group != "create":
                continue
            if fault.times is not None and fault.fired >= fault.times:
                continue
            if fault.rate < 1.0 and self._rng.random() >= fault.rate:
                continue
            fault.fired += 1
            fired.append(fault)
        return fired


# ----------------------------------------------------------------------------------------------- injection
def task_shape(faults: Iterable[Fault], overrides: dict[str, Any] | None = None) -> TaskShape:
    """How the task a create makes behaves, from the create kinds among ``faults`` (and header overrides)."""
    shape = TaskShape(timing=dict(overrides or {}))
    for fault in faults:
        if fault.kind == "timing":
            shape.timing.update(fault.params)
        elif fault.kind == "task_failed":
            shape.outcome = "FAILED"
            shape.failure_code = fault.params.get("failure_code", DEFAULT_FAILURE_CODE)
            shape.failure = fault.params.get("failure", DEFAULT_FAILURE)
        elif fault.kind == "task_cancelled":
            shape.outcome = "CANCELLED"
        elif fault.kind == "task_stuck_throttled":
            shape.stuck = True
    return shape


def _retry_after(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else str(number)


def replacing_response(faults: Iterable[Fault], flavor: str) -> Response | None:
    """The answer of the first replacing fault among ``faults``, in the flavor's shape; ``None`` if none."""
    for fault in faults:
        if fault.kind not in REPLACING_KINDS:
            continue
        params = fault.params
        response: Response
        if fault.kind in ("reset", "hang"):
            response = Response(action=fault.kind)
        elif fault.kind in ("rate_limit", "http_error"):
            headers = (
                [("Retry-After", _retry_after(params["retry_after"]))]
                if params.get("retry_after") is not None
                else []
            )
            if fault.kind == "rate_limit":
                message = params.get("message", "You have exceeded the rate limit for this endpoint.")
                error = SimError(429, message, code="rate_limit_exceeded")
            else:
                status = int(params.get("status", 500))
                message = params.get("message", REASONS.get(status, "Error"))
                error = SimError(status, message, code=params.get("code", ""))
            response = error_response(flavor, error, headers)
        elif fault.kind == "malformed_json":
            response = Response(
                int(params.get("status", 200)), b'{"id": "0b9e6c1e-8a4b-4c2f-9', "application/json"
            )
        else:  # html
            status = int(params.get("status", 301))
            location = params.get("location", "https://www.example.com/")
            page = f"<html><head><title>{status} Moved</title></head><body><h1>Moved</h1><a href='{location}'>here</a></body></html>"
            response = Response(
                status, page.encode(), "text/html; charset=utf-8", headers=[("Location", location)]
            )
        response.fault = fault.kind
        return response
    return None


def lost_create(faults: Iterable[Fault]) -> str | None:
    """How the answer to a create is lost (``close``, ``reset`` or ``hang``), or ``None`` when it is not."""
    action = None
    for fault in faults:
        if fault.kind == "create_lost":
            action = str(fault.params.get("mode", "close"))
            if action not in LOST_MODES:
                action = "close"
    return action


def slow_down(response: Response, faults: Iterable[Fault]) -> None:
    """Delay the real answer by the ``slow`` faults among ``faults`` (the last one wins)."""
    for fault in faults:
        if fault.kind == "slow":
            response.delay = float(fault.params.get("delay", 30.0))
            response.fault = "slow"
