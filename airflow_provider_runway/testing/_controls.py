"""The control calls, written once for both ways of driving a simulator.

:class:`ControlMethods` is the control API (reset, knobs, faults, forced outcomes, tasks, accounting) as calls
on ``/_sim/`` routes. :class:`~airflow_provider_runway.testing.control.SimulatorControl` sends them over HTTP;
the in-process :class:`~airflow_provider_runway.testing.simulator.Simulator` hands them straight to the route
table (:func:`~airflow_provider_runway.testing._control_routes.control_call`), so a test can swap one for the
other. Stdlib only: the HTTP client imports this without the simulator.
"""

from __future__ import annotations

from typing import Any


class ControlMethods:
    """The control API; a subclass says how a call reaches the simulator (:meth:`_control`)."""

    def _control(self, method: str, route: tuple[str, ...], payload: Any = None) -> Any:
        """Run the control route ``/_sim/<route...>`` with a JSON-like ``payload``; return its answer."""
        raise NotImplementedError

    def health(self) -> dict[str, Any]:
        """``{"ok": true, "flavor", "base_url"}``."""
        return dict(self._control("GET", ("health",)))

    def reset(self, seed: int | None = None) -> None:
        """Forget tasks, uploads, faults and accounting; restore the start-up config."""
        self._control("POST", ("reset",), {} if seed is None else {"seed": seed})

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """Change config knobs; returns the whole config."""
        return dict(self._control("POST", ("config",), knobs))

    def config(self) -> dict[str, Any]:
        """The current config."""
        return dict(self._control("GET", ("config",)))

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
        """Inject a fault (see ``FAULT_KINDS``); returns its id."""
        body = {"kind": kind, "path": path, "method": method, "times": times, "rate": rate, **params}
        return int(self._control("POST", ("faults",), body)["id"])

    def clear_faults(self, fault_id: int | None = None) -> None:
        """Remove one fault or all."""
        self._control("DELETE", ("faults",) if fault_id is None else ("faults", str(fault_id)))

    def faults(self) -> list[dict[str, Any]]:
        """Registered faults with their ``fired`` counts."""
        return list(self._control("GET", ("faults",)))

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
        return dict(self._control("POST", ("tasks", task_id, "outcome"), body))

    def tasks(self) -> list[dict[str, Any]]:
        """Internal view of every task."""
        return list(self._control("GET", ("tasks",)))

    def task(self, task_id: str) -> dict[str, Any]:
        """Internal view of one task."""
        return dict(self._control("GET", ("tasks", task_id)))

    def accounting(self) -> dict[str, Any]:
        """What clients did: creates, gets, cancels, downloads, uploads, faults_fired, requests, orphans."""
        return dict(self._control("GET", ("accounting",)))

    def orphans(self) -> list[str]:
        """Tasks neither finished nor cancelled."""
        return list(self.accounting()["orphans"])
