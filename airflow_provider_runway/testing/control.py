"""HTTP client for the simulator's control endpoint (``/_sim/...``), stdlib only.

It has the control methods of the in-process :class:`~airflow_provider_runway.testing.simulator.Simulator` (both are
:class:`~airflow_provider_runway.testing._controls.ControlMethods`), so a test can drive a simulator running in another process exactly like one running in its own::

    control = SimulatorControl("http://127.0.0.1:8765/runwayml")
    control.add_fault("rate_limit", path="tasks_get", times=2, retry_after=1)
    ...
    assert control.accounting()["orphans"] == []
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_runway.testing._controls import ControlMethods


class SimulatorControlError(RuntimeError):
    """The control endpoint rejected a call (bad knob, unknown fault kind, unknown task...)."""


class SimulatorControl(ControlMethods):
    """Drive a running simulator through ``/_sim/`` (the control methods are :class:`ControlMethods`').

    :param base_url: the simulator's base URL (gateway ``.../runwayml`` or runway flavor) or its root URL.
    :param timeout: seconds for each control call.
    """

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        parts = urlsplit(base_url)
        self.root_url = f"{parts.scheme}://{parts.netloc}"
        self.timeout = timeout

    def _control(self, method: str, route: tuple[str, ...], payload: Any = None) -> Any:
        return self._call(method, "/" + "/".join(route), payload)

    def _call(self, method: str, route: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(  # noqa: S310 - the URL is the simulator's own http(s) address
            f"{self.root_url}/_sim{route}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data is not None else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            raise SimulatorControlError(f"{method} /_sim{route} -> {exc.code}: {detail}") from exc
