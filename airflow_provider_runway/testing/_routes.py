"""The service's routes: what the simulator answers to each request, faults included.

:class:`SimServer` is the HTTP server of :mod:`~airflow_provider_runway.testing._http` with the simulator's
routes: the flavor's API under its prefix (auth and version checked), ``/_files/`` (signed outputs),
``/_uploads/`` (the upload form target) and ``/_sim/`` (control, no auth). Every request first meets the faults
that match it (:mod:`~airflow_provider_runway.testing._faults`); the answers come from
:class:`~airflow_provider_runway.testing._state.SimState`.
"""

from __future__ import annotations

import asyncio
import contextlib

from airflow_provider_runway.testing._control_routes import control_response
from airflow_provider_runway.testing._endpoints import API_VERSION, PREFIXES, served
from airflow_provider_runway.testing._errors import SimError
from airflow_provider_runway.testing._faults import (
    REPLACING_KINDS,
    Fault,
    lost_create,
    replacing_response,
    slow_down,
)
from airflow_provider_runway.testing._files import file_response, file_size, parse_range
from airflow_provider_runway.testing._http import (
    HttpServer,
    Request,
    Response,
    json_response,
    load_json,
    read_multipart,
)
from airflow_provider_runway.testing._shapes import (
    error_response,
    not_found,
    storage_error,
    task_not_exist,
    unauthorized,
)
from airflow_provider_runway.testing._state import SimState
from airflow_provider_runway.testing._validation import UUID_RE, check_task_id

#: Request headers that override a new task's timing (the simulator's own, for tests).
TIMING_HEADERS = (("x-sim-pending-seconds", "pending_seconds"), ("x-sim-running-seconds", "running_seconds"))


class SimServer(HttpServer):
    """The simulator's HTTP server: parses requests, applies faults, and asks :class:`SimState` for answers."""

    def __init__(self, state: SimState, host: str, port: int) -> None:
        super().__init__(host, port)
        self.state = state
        self.prefix = PREFIXES[state.flavor]
        self.endpoints = served(state.flavor)

    @property
    def base_url(self) -> str:
        """What a client uses as base URL: the root URL plus the flavor's prefix."""
        return self.root_url + self.prefix

    # ------------------------------------------------------------------------------------- routing
    def _group(self, method: str, api_path: str) -> str:
        if api_path.startswith("/v1/tasks/"):
            return "delete" if method == "DELETE" else "tasks_get"
        if api_path == "/v1/organization":
            return "organization"
        if api_path == "/v1/uploads":
            return "uploads"
        return "create" if method == "POST" else "other"

    async def handle(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/_sim/") or path == "/_sim":
            return control_response(self.state, request, self.base_url)
        if path.startswith("/_files/"):
            group = "files"
        elif path.startswith(self.prefix + "/v1/"):
            group = self._group(request.method, path[len(self.prefix) :])
        else:
            return error_response(
                self.state.flavor, not_found(self.state.flavor, request.method, request.path)
            )
        faults = self.state.pick_faults(request.method, path, group)
        response = replacing_response(faults, self.state.flavor)
        if response is None:
            create_faults = [f for f in faults if f.kind not in REPLACING_KINDS]
            if group == "files":
                response = await self._file(request)
            else:
                response = self._api(request, path[len(self.prefix) :], create_faults)
            slow_down(response, faults)
        self.state.record_request(
            request.method, path, response.status if response.action is None else 0, response.fault
        )
        return response

    def streams(self, request: Request) -> bool:
        return request.method == "POST" and request.path.startswith("/_uploads/")

    async def handle_stream(self, request: Request, reader: asyncio.StreamReader) -> Response:
        return await self._upload_post(request, reader)

    # ------------------------------------------------------------------------------------- the API
    def _api(self, request: Request, api_path: str, faults: list[Fault]) -> Response:
        try:
            self._check_headers(request)
            return self._route(request, api_path, faults)
        except SimError as exc:
            return error_response(self.state.flavor, exc)

    def _check_headers(self, request: Request) -> None:
        auth = request.headers.get("authorization", "")
        scheme, _, key = auth.partition(" ")
        key = key.strip()
        if (
            scheme.lower() != "bearer"
            or not key
            or (self.state.api_key is not None and key != self.state.api_key)
        ):
            raise unauthorized(self.state.flavor)
        version_required = self.state.flavor == "runway" or request.method == "POST"
        version = request.headers.get("x-runway-version")
        if version_required and version != API_VERSION:
            message = (
                f"The X-Runway-Version header is required and must be {API_VERSION}"
                if version is None
                else f"Invalid X-Runway-Version {version!r}: the only supported version is {API_VERSION}"
            )
            raise SimError(400, message, code="invalid_request")

    def _route(self, request: Request, api_path: str, faults: list[Fault]) -> Response:
        method = request.method
        if api_path.startswith("/v1/tasks/"):
            task_id = api_path[len("/v1/tasks/") :]
            if method in ("GET", "HEAD"):
                return self._get_task(request, task_id)
            if method == "DELETE":
                if self.state.flavor == "gateway":
                    raise SimError(
                        405,
                        f"Method not allowed ({method} {request.path})",
                        code="method_not_allowed",
                        headers={"Allow": "GET"},
                    )
                check_task_id(task_id)
                self.state.delete_task(task_id)
                return Response(204, b"", content_type=None)
            raise SimError(405, "Method not allowed.", headers={"Allow": "GET, DELETE"})
        if self.state.flavor == "runway":
            if api_path == "/v1/organization" and method == "GET":
                return json_response(200, self.state.organization())
            if api_path == "/v1/uploads" and method == "POST":
                return json_response(
                    200, self.state.create_upload(load_json(request.body), self._root(request))
                )
        endpoint = api_path[len("/v1/") :]
        if method == "POST" and endpoint in self.endpoints:
            return self._create(request, endpoint, faults)
        raise not_found(self.state.flavor, method, request.path)

    def _create(self, request: Request, endpoint: str, faults: list[Fault]) -> Response:
        body = load_json(request.body)
        overrides = {}
        for header, key in TIMING_HEADERS:
            if header in request.headers:
                with contextlib.suppress(ValueError):
                    overrides[key] = float(request.headers[header])
        task = self.state.create_task(endpoint, body, faults=faults, overrides=overrides)
        response = json_response(200, self.state.created_json(task))
        action = lost_create(faults)
        if action is not None:
            self.state.mark_create_lost(task.id)
            response.action = action
            response.fault = "create_lost"
        return response

    def _get_task(self, request: Request, task_id: str) -> Response:
        state = self.state
        gateway = state.flavor == "gateway"
        if gateway:
            if state.in_not_exist_window(task_id) or not UUID_RE.match(task_id):
                return task_not_exist()
        else:
            check_task_id(task_id)
        found = state.get_task(task_id)
        if found is None:
            if gateway:
                return task_not_exist()
            raise SimError(404, "Task not found.")
        task, status, progress = found
        plain = state.task_json(task, status, progress, self._root(request))
        if gateway and state.want_envelope(status):
            return json_response(200, state.envelope_json(task, plain, status, progress))
        return json_response(200, plain)

    def _root(self, request: Request) -> str:
        host = request.headers.get("host")
        return f"http://{host}" if host else self.root_url

    # ------------------------------------------------------------------------------------- files
    async def _file(self, request: Request) -> Response:
        name = request.path[len("/_files/") :]
        if request.method not in ("GET", "HEAD"):
            return Response(405, b"", content_type=None, headers=[("Allow", "GET, HEAD")])
        try:
            task, content_type = self.state.open_file(name, request.query, request.method)
        except SimError as exc:
            return storage_error(exc)
        # A first download renders the output (a fraction of a second): off the loop, which keeps serving.
        data = await asyncio.to_thread(self.state.file_bytes, task, name)
        output_size = self.state.config.output_size
        size = file_size(content_type, output_size, data)
        start, end, status = 0, size, 200
        headers = [("Accept-Ranges", "bytes"), ("ETag", f'"{task.id}-{size}"')]
        byte_range = parse_range(request.headers.get("range"), size)
        if byte_range == "invalid":
            return Response(416, b"", content_type=None, headers=[("Content-Range", f"bytes */{size}")])
        if isinstance(byte_range, tuple):
            start, end = byte_range
            status = 206
            headers.append(("Content-Range", f"bytes {start}-{end - 1}/{size}"))
        self.state.record_download(
            task.id, name, status, end - start if request.method == "GET" else 0, request.method
        )
        return file_response(
            status, content_type, headers, start=start, end=end, output_size=output_size, data=data
        )

    async def _upload_post(self, request: Request, reader: asyncio.StreamReader) -> Response:
        """The presigned form POST: stream the multipart body, keeping only its fields and the file's size."""
        upload_id = request.path[len("/_uploads/") :]
        try:
            fields, size = await read_multipart(request, reader)
            self.state.finish_upload(upload_id, fields, size)
        except SimError as exc:
            self.state.record_request("POST", request.path, exc.status, None)
            return storage_error(exc)
        self.state.record_request("POST", request.path, 204, None)
        return Response(
            204, b"", content_type=None, headers=[("Location", f"{self.root_url}/_uploads/{upload_id}")]
        )
