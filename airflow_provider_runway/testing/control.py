"""HTTP client for the simulator's control endpoint (``/_sim/...``), stdlib only.

It mirrors the control methods of the in-process :class:`~airflow_provider_runway.testing.simulator.Simulator`,
so a test can drive a simulator running in another process exactly like one running in its own::

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


class SimulatorControlError(RuntimeError):
    """The control endpoint rejected a call (bad knob, unknown fault kind, unknown task...)."""


class SimulatorControl:
    """Drive a running simulator through ``/_sim/``.

    :param base_url: the simulator's base URL (gateway ``.../runwayml`` or runway flavor) or its root URL.
    :param timeout: seconds for each control call.
    """

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        parts = urlsplit(base_url)
        self.root_url = f"{parts.scheme}://{parts.netloc}"
        self.timeout = timeout

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

    def health(self) -> dict[str, Any]:
        """``{"ok": true, "flavor", "base_url"}``."""
        return dict(self._call("GET", "/health"))

    def reset(self, seed: int | None = None) -> None:
        """Forget tasks, uploads, faults and accounting; restore the start-up config."""
        self._call("POST", "/reset", {} if seed is None else {"seed": seed})

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """Change config knobs; returns the whole config."""
        return dict(self._call("POST", "/config", knobs))

    def config(self) -> dict[str, Any]:
        """The current config."""
        return dict(self._call("GET", "/config"))

    def add_fault(
        self,
        kind: str,
        *,
        path: str = "any",
        method: str | None = None,
        times: int | None = None,
        rate: float = 1.0,
        **params: Any,
    ) -> int:
        """Inject a fault; returns its id."""
        body = {"kind": kind, "path": path, "method": method, "times": times, "rate": rate, **params}
        return int(self._call("POST", "/faults", body)["id"])

    def clear_faults(self, fault_id: int | None = None) -> None:
        """Remove one fault or all."""
        self._call("DELETE", "/faults" if fault_id is None else f"/faults/{fault_id}")

    def faults(self) -> list[dict[str, Any]]:
        """Registered faults with their ``fired`` counts."""
        return list(self._call("GET", "/faults"))

    def force_outcome(
        self,
        task_id: str,
        status: str,
        *,
        failure_code: str | None = None,
        failure: str | None = None,
        immediate: bool = True,
    ) -> dict[str, Any]:
        """Decide how a task ends (``SUCCEEDED``, ``FAILED``, ``CANCELLED``, or ``THROTTLED`` = stuck)."""
        body = {"status": status, "failure_code": failure_code, "failure": failure, "immediate": immediate}
        return dict(self._call("POST", f"/tasks/{task_id}/outcome", body))

    def tasks(self) -> list[dict[str, Any]]:
        """Internal view of every task."""
        return list(self._call("GET", "/tasks"))

    def task(self, task_id: str) -> dict[str, Any]:
        """Internal view of one task."""
        return dict(self._call("GET", f"/tasks/{task_id}"))

    def accounting(self) -> dict[str, Any]:
        """What clients did: creates, gets, cancels, downloads, uploads, faults_fired, requests, orphans."""
        return dict(self._call("GET", "/accounting"))

    def orphans(self) -> list[str]:
        """Tasks neither finished nor cancelled."""
        return list(self.accounting()["orphans"])
