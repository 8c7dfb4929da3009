"""A stand-in for Runway's task API: a real HTTP/1.1 server on asyncio, stdlib only, no Airflow import.

Outputs follow each request (``_outputs.py``, drawn by ``_render.py`` with PyAV when the ``simulator-media``
extra is installed; the fixed samples otherwise).

Two flavors: ``runway`` serves ``/v1/...`` like ``https://api.dev.runwayml.com``; ``gateway`` serves
``/runwayml/v1/...`` like CometAPI's ``https://api.cometapi.com/runwayml``. On the same port, without auth:
``/_sim/...`` (control), ``/_files/...`` (signed outputs) and ``/_uploads/...`` (the upload form target).

In-process::

    with Simulator("runway", api_key="key_test", running_seconds=2) as sim:
        client = RunwayML(api_key="key_test", base_url=sim.base_url)

As a process (the first line on stdout is the base URL)::

    runway-simulator --flavor gateway --port 0 --running-seconds 20 --fault rate_limit:path=tasks_get,times=2

The HTTP layer is deliberately hand-written so it can misbehave on purpose: reset a connection, never answer,
answer slowly, or send broken JSON (see :data:`~airflow_provider_runway.testing._faults.FAULT_KINDS`). This module
holds :class:`Simulator` (the server on a thread of this process) and re-exports the command's entry point.
The I/O side: ``_http.py`` (the HTTP/1.1 server), ``_routes.py`` (what each request gets), ``_control_routes.py``
and ``_controls.py`` (``/_sim/``, and the control methods written once), ``_cli.py`` (the command); the model of
the service behind them is :class:`~airflow_provider_runway.testing._state.SimState`, whose docstring lists its
rooms.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from airflow_provider_runway.testing import _cli, _faults, _files, _http
from airflow_provider_runway.testing._cli import main
from airflow_provider_runway.testing._cli import parse_fault as parse_fault
from airflow_provider_runway.testing._config import SimConfig
from airflow_provider_runway.testing._control_routes import control_call
from airflow_provider_runway.testing._controls import ControlMethods
from airflow_provider_runway.testing._endpoints import API_VERSION, PREFIXES
from airflow_provider_runway.testing._endpoints import FLAVORS as FLAVORS
from airflow_provider_runway.testing._endpoints import GATEWAY_ENDPOINTS as GATEWAY_ENDPOINTS
from airflow_provider_runway.testing._endpoints import RUNWAY_ENDPOINTS as RUNWAY_ENDPOINTS
from airflow_provider_runway.testing._errors import SimError as SimError
from airflow_provider_runway.testing._faults import FAULT_KINDS
from airflow_provider_runway.testing._faults import REPLACING_KINDS as REPLACING_KINDS
from airflow_provider_runway.testing._faults import Fault as Fault
from airflow_provider_runway.testing._http import MAX_HEAD as MAX_HEAD
from airflow_provider_runway.testing._http import MAX_JSON_BODY as MAX_JSON_BODY
from airflow_provider_runway.testing._http import Request as Request
from airflow_provider_runway.testing._http import Response as Response
from airflow_provider_runway.testing._routes import SimServer
from airflow_provider_runway.testing._schema import Issue as Issue
from airflow_provider_runway.testing._shapes import DOC_URL as DOC_URL
from airflow_provider_runway.testing._state import SimState
from airflow_provider_runway.testing._validation import UUID_RE as UUID_RE

__all__ = ["API_VERSION", "FAULT_KINDS", "SimConfig", "Simulator", "main"]

GATEWAY_PREFIX = PREFIXES["gateway"]
# Names importable from this module before it was split into rooms: the ``import X as X`` re-exports above,
# and these under their old names.
_Server = SimServer
_build_parser = _cli._build_parser
_retry_after = _faults._retry_after
_parse_range = _files.parse_range
_REASONS = _http.REASONS
_drain = _http.drain
_json = _http.json_response
_keep_alive = _http.keep_alive
_load_json = _http.load_json
_parse_head = _http.parse_head
_read_body = _http.read_body
_stream_multipart = _http.read_multipart


# ----------------------------------------------------------------------------------------------- public API
class Simulator(ControlMethods):
    """The simulator running on a background thread of this process.

    Its control methods (``reset``, ``configure``, ``add_fault``, ``force_outcome``, ``accounting``...) are those of
    :class:`~airflow_provider_runway.testing.control.SimulatorControl`, run in-process: errors come as they are
    (:class:`ValueError` for a bad knob or fault, :class:`KeyError` for an unknown task).

    :param flavor: ``"gateway"`` (CometAPI, base URL ends in ``/runwayml``) or ``"runway"`` (direct API).
    :param host: interface to bind.
    :param port: port to bind; 0 picks a free one.
    :param api_key: when set, the exact Bearer key required; otherwise any non-empty key is accepted.
    :param seed: seed for task ids, fault rates and envelope choices (deterministic runs).
    :param config: initial knobs, see :class:`~airflow_provider_runway.testing._config.SimConfig`
        (``pending_seconds``, ``running_seconds``, ``concurrency``, ``output_ttl_seconds`` ...).
    """

    def __init__(
        self,
        flavor: str = "gateway",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        seed: int = 0,
        **config: Any,
    ) -> None:
        self.state = SimState(flavor, api_key=api_key, seed=seed, **config)
        self.flavor = flavor
        self.api_key = api_key
        self._server = SimServer(self.state, host, port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> str:
        """Start serving on a daemon thread; returns :attr:`base_url` once the port is bound."""
        if self._thread is not None:
            return self.base_url
        self._thread = threading.Thread(target=self._run, name=f"runway-simulator-{self.flavor}", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise RuntimeError(f"runway simulator failed to start: {self._error}") from self._error
        return self.base_url

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._server.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_until_complete(self._server.serve_until_stopped())
        finally:
            loop.close()

    def stop(self) -> None:
        """Stop serving and close every connection (idempotent)."""
        if self._thread is None or self._loop is None:
            return
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._server.request_stop)
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # addresses -----------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port."""
        return self._server.port

    @property
    def root_url(self) -> str:
        """``http://host:port`` (where ``/_sim``, ``/_files`` and ``/_uploads`` live)."""
        return self._server.root_url

    @property
    def base_url(self) -> str:
        """What a client uses as base URL: the root URL, plus ``/runwayml`` in the gateway flavor."""
        return self._server.base_url

    def _control(self, method: str, route: tuple[str, ...], payload: Any = None) -> Any:
        return control_call(self.state, method, route, {} if payload is None else payload, self.base_url)


if __name__ == "__main__":
    raise SystemExit(main())
