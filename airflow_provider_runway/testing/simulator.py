"""A stand-in for Runway's task API: a real HTTP/1.1 server on asyncio, stdlib only, no Airflow import.

Two flavors: ``runway`` serves ``/v1/...`` like ``https://api.dev.runwayml.com``; ``gateway`` serves
``/runwayml/v1/...`` like CometAPI's ``https://api.cometapi.com/runwayml``. On the same port, without auth:
``/_sim/...`` (control), ``/_files/...`` (signed outputs) and ``/_uploads/...`` (the upload form target).

In-process::

    with Simulator("runway", api_key="key_test", running_seconds=2) as sim:
        client = RunwayML(api_key="key_test", base_url=sim.base_url)

As a process (the first line on stdout is the base URL)::

    runway-simulator --flavor gateway --port 0 --running-seconds 20 --fault rate_limit:path=tasks_get,times=2

The HTTP layer is deliberately hand-written so it can misbehave on purpose: reset a connection, never answer,
answer slowly, or send broken JSON (see :data:`~airflow_provider_runway.testing._state.FAULT_KINDS`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import signal
import socket
import struct
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from airflow_provider_runway.testing import _media
from airflow_provider_runway.testing._schema import Issue
from airflow_provider_runway.testing._state import (
    API_VERSION,
    FAULT_KINDS,
    FLAVORS,
    GATEWAY_ENDPOINTS,
    REPLACING_KINDS,
    RUNWAY_ENDPOINTS,
    Fault,
    SimConfig,
    SimError,
    SimState,
)

__all__ = ["API_VERSION", "FAULT_KINDS", "SimConfig", "Simulator", "main"]

GATEWAY_PREFIX = "/runwayml"
DOC_URL = "https://docs.dev.runwayml.com/api"
UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$"
)
MAX_HEAD = 64 * 1024
MAX_JSON_BODY = 64 * 1024 * 1024
_REASONS = {status.value: status.phrase for status in HTTPStatus}


@dataclass
class Request:
    """A parsed HTTP request (body read in full, except for uploads)."""

    method: str
    target: str
    path: str
    query: dict[str, str]
    version: str
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class Response:
    """What to send back; ``action`` (``reset``, ``hang``, ``close``) replaces the answer with a fault."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: Iterator[bytes] | None = None
    length: int | None = None
    action: str | None = None
    delay: float = 0.0
    fault: str | None = None


def _json(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, json.dumps(payload, separators=(",", ":")).encode(), headers=headers or [])


class _Server:
    """The asyncio server: parses requests, applies faults, and asks :class:`SimState` for answers."""

    def __init__(self, state: SimState, host: str, port: int) -> None:
        self.state = state
        self.host = host
        self.port = port
        self.prefix = GATEWAY_PREFIX if state.flavor == "gateway" else ""
        self.endpoints = GATEWAY_ENDPOINTS if state.flavor == "gateway" else RUNWAY_ENDPOINTS
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._stopping: asyncio.Event | None = None

    # ------------------------------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Bind the socket (port 0 picks a free one)."""
        self._stopping = asyncio.Event()
        self._server = await asyncio.start_server(
            self._connection, self.host, self.port, limit=MAX_HEAD, backlog=512
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def serve_until_stopped(self) -> None:
        """Serve until :meth:`request_stop`, then close every connection."""
        assert self._stopping is not None and self._server is not None
        await self._stopping.wait()
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 2)

    def request_stop(self) -> None:
        """Ask the serving coroutine to stop (call from the loop's thread)."""
        if self._stopping is not None:
            self._stopping.set()

    @property
    def root_url(self) -> str:
        """``http://host:port`` of this server."""
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}"

    # ------------------------------------------------------------------------------------- connection
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        current = asyncio.current_task()
        assert current is not None
        self._connections.add(current)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.LimitOverrunError, ValueError):
                    await self._send(writer, None, Response(431, b"", content_type=None), keep_alive=False)
                    return
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                try:
                    request = _parse_head(head)
                except ValueError:
                    await self._send(
                        writer, None, Response(400, b"bad request", "text/plain"), keep_alive=False
                    )
                    return
                if request.headers.get("expect", "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                if request.method == "POST" and request.path.startswith("/_uploads/"):
                    response = await self._upload_post(request, reader)
                else:
                    try:
                        request.body = await _read_body(request, reader)
                    except SimError as exc:
                        await self._send(
                            writer, request, Response(exc.status, exc.message.encode(), "text/plain"), False
                        )
                        return
                    response = await self._dispatch(request)
                keep_alive = _keep_alive(request) and response.action is None
                if not await self._send(writer, request, response, keep_alive, reader):
                    return
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._connections.discard(current)
            with contextlib.suppress(Exception):
                writer.close()

    async def _send(
        self,
        writer: asyncio.StreamWriter,
        request: Request | None,
        response: Response,
        keep_alive: bool,
        reader: asyncio.StreamReader | None = None,
    ) -> bool:
        """Write ``response``; returns False when the connection must end."""
        if response.delay:
            await asyncio.sleep(response.delay)
        if response.action == "reset":
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        if response.action == "hang":
            if reader is not None:
                with contextlib.suppress(ConnectionError):
                    while await reader.read(65536):
                        pass
            return False
        if response.action == "close":
            writer.close()
            return False
        length = response.length if response.stream is not None else len(response.body)
        lines = [f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Unknown')}"]
        if response.content_type:
            lines.append(f"Content-Type: {response.content_type}")
        if response.status not in (204, 304) and not (100 <= response.status < 200):
            lines.append(f"Content-Length: {length}")
        lines.extend(f"{name}: {value}" for name, value in response.headers)
        lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        head_only = request is not None and request.method == "HEAD"
        if response.stream is not None and not head_only:
            writer.write(head)
            for chunk in response.stream:
                writer.write(chunk)
                await writer.drain()
        else:
            writer.write(head if head_only or response.status == 204 else head + response.body)
            if writer.transport.get_write_buffer_size() > 65536:
                await writer.drain()
        return True

    # ------------------------------------------------------------------------------------- routing
    def _group(self, method: str, api_path: str) -> str:
        if api_path.startswith("/v1/tasks/"):
            return "delete" if method == "DELETE" else "tasks_get"
        if api_path == "/v1/organization":
            return "organization"
        if api_path == "/v1/uploads":
            return "uploads"
        return "create" if method == "POST" else "other"

    async def _dispatch(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/_sim/") or path == "/_sim":
            return self._control(request)
        if path.startswith("/_files/"):
            group = "files"
        elif path.startswith(self.prefix + "/v1/"):
            group = self._group(request.method, path[len(self.prefix) :])
        else:
            return self._not_found(request)
        faults = self.state.pick_faults(request.method, path, group)
        response = self._apply_replacing(faults, request)
        if response is None:
            create_faults = [f for f in faults if f.kind not in REPLACING_KINDS]
            if group == "files":
                response = self._file(request)
            else:
                response = self._api(request, path[len(self.prefix) :], create_faults)
            for fault in faults:
                if fault.kind == "slow":
                    response.delay = float(fault.params.get("delay", 30.0))
                    response.fault = "slow"
        self.state.record_request(
            request.method, path, response.status if response.action is None else 0, response.fault
        )
        return response

    def _apply_replacing(self, faults: list[Fault], request: Request) -> Response | None:
        for fault in faults:
            if fault.kind not in REPLACING_KINDS:
                continue
            params = fault.params
            response: Response
            if fault.kind in ("reset", "hang"):
                response = Response(action=fault.kind)
            elif fault.kind == "rate_limit":
                headers = (
                    [("Retry-After", _retry_after(params["retry_after"]))]
                    if params.get("retry_after") is not None
                    else []
                )
                message = params.get("message", "You have exceeded the rate limit for this endpoint.")
                response = self._error(SimError(429, message, code="rate_limit_exceeded"), headers)
            elif fault.kind == "http_error":
                status = int(params.get("status", 500))
                headers = (
                    [("Retry-After", _retry_after(params["retry_after"]))]
                    if params.get("retry_after") is not None
                    else []
                )
                message = params.get("message", _REASONS.get(status, "Error"))
                response = self._error(SimError(status, message, code=params.get("code", "")), headers)
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

    def _not_found(self, request: Request) -> Response:
        if self.state.flavor == "gateway":
            message = f"Invalid URL ({request.method} {request.path})"
            return self._error(SimError(404, message, code="not_found"))
        return _json(404, {"error": "Not found."})

    def _error(self, exc: SimError, headers: list[tuple[str, str]] | None = None) -> Response:
        """An error in the flavor's shape."""
        all_headers = [*(headers or []), *exc.headers.items()]
        if self.state.flavor == "gateway":
            message = exc.message
            if exc.issues:
                details = "; ".join(
                    f"{'.'.join(str(p) for p in issue.path) or 'body'}: {issue.message}"
                    for issue in exc.issues
                )
                message = f"{message}: {details}"
            body = exc.gateway_body or {
                "error": {"code": exc.code, "message": message, "type": "comet_api_error"}
            }
            return _json(exc.status, body, all_headers)
        payload: dict[str, Any] = {"error": exc.message}
        if exc.issues:
            payload["issues"] = [issue.as_json() for issue in exc.issues]
            payload["docUrl"] = DOC_URL
        return _json(exc.status, payload, all_headers)

    # ------------------------------------------------------------------------------------- the API
    def _api(self, request: Request, api_path: str, faults: list[Fault]) -> Response:
        try:
            self._check_headers(request)
            return self._route(request, api_path, faults)
        except SimError as exc:
            return self._error(exc)

    def _check_headers(self, request: Request) -> None:
        auth = request.headers.get("authorization", "")
        scheme, _, key = auth.partition(" ")
        key = key.strip()
        if (
            scheme.lower() != "bearer"
            or not key
            or (self.state.api_key is not None and key != self.state.api_key)
        ):
            if self.state.flavor == "gateway":
                raise SimError(401, "Invalid token", code="invalid_api_key")
            raise SimError(401, "You must provide a valid API key in the Authorization header.")
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
                self._check_uuid(task_id)
                self.state.delete_task(task_id)
                return Response(204, b"", content_type=None)
            raise SimError(405, "Method not allowed.", headers={"Allow": "GET, DELETE"})
        if self.state.flavor == "runway":
            if api_path == "/v1/organization" and method == "GET":
                return _json(200, self.state.organization())
            if api_path == "/v1/uploads" and method == "POST":
                return _json(200, self.state.create_upload(_load_json(request.body), self._root(request)))
        endpoint = api_path[len("/v1/") :]
        if method == "POST" and endpoint in self.endpoints:
            return self._create(request, endpoint, faults)
        if self.state.flavor == "gateway":
            raise SimError(404, f"Invalid URL ({method} {request.path})", code="not_found")
        raise SimError(404, "Not found.")

    def _check_uuid(self, task_id: str) -> None:
        if not UUID_RE.match(task_id):
            raise SimError(
                400,
                "Validation of path parameters failed",
                issues=[Issue("invalid_string", ("id",), "Invalid uuid")],
            )

    def _create(self, request: Request, endpoint: str, faults: list[Fault]) -> Response:
        body = _load_json(request.body)
        overrides = {}
        for header, key in (
            ("x-sim-pending-seconds", "pending_seconds"),
            ("x-sim-running-seconds", "running_seconds"),
        ):
            if header in request.headers:
                with contextlib.suppress(ValueError):
                    overrides[key] = float(request.headers[header])
        task = self.state.create_task(endpoint, body, faults=faults, overrides=overrides)
        if self.state.flavor == "runway":
            response = _json(200, self.state.created_json(task))
        else:
            response = _json(200, {"id": task.id})
        for fault in faults:
            if fault.kind == "create_lost":
                self.state.mark_create_lost(task.id)
                response.action = str(fault.params.get("mode", "close"))
                if response.action not in ("close", "reset", "hang"):
                    response.action = "close"
                response.fault = "create_lost"
        return response

    def _get_task(self, request: Request, task_id: str) -> Response:
        state = self.state
        gateway = state.flavor == "gateway"
        if gateway:
            if state.in_not_exist_window(task_id) or not UUID_RE.match(task_id):
                return _json(400, {"code": "task_not_exist", "message": "task_not_exist", "data": None})
        else:
            self._check_uuid(task_id)
        found = state.get_task(task_id)
        if found is None:
            if gateway:
                return _json(400, {"code": "task_not_exist", "message": "task_not_exist", "data": None})
            raise SimError(404, "Task not found.")
        task, status, progress = found
        plain = state.task_json(task, status, progress, self._root(request))
        if gateway and state.want_envelope(status):
            return _json(200, state.envelope_json(task, plain, status, progress))
        return _json(200, plain)

    def _root(self, request: Request) -> str:
        host = request.headers.get("host")
        return f"http://{host}" if host else self.root_url

    # ------------------------------------------------------------------------------------- files
    def _file(self, request: Request) -> Response:
        name = request.path[len("/_files/") :]
        if request.method not in ("GET", "HEAD"):
            return Response(405, b"", content_type=None, headers=[("Allow", "GET, HEAD")])
        try:
            task, content_type, size = self.state.open_file(name, request.query, request.method)
        except SimError as exc:
            xml = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{exc.code}</Code><Message>{exc.message}</Message></Error>"
            return Response(exc.status, xml.encode(), "application/xml")
        start, end, status = 0, size, 200
        headers = [("Accept-Ranges", "bytes"), ("ETag", f'"{task.id}-{size}"')]
        byte_range = _parse_range(request.headers.get("range"), size)
        if byte_range == "invalid":
            return Response(416, b"", content_type=None, headers=[("Content-Range", f"bytes */{size}")])
        if isinstance(byte_range, tuple):
            start, end = byte_range
            status = 206
            headers.append(("Content-Range", f"bytes {start}-{end - 1}/{size}"))
        self.state.record_download(
            task.id, name, status, end - start if request.method == "GET" else 0, request.method
        )
        if content_type == "image/png":
            return Response(status, _media.sample_png()[start:end], content_type, headers)
        if content_type == "audio/wav":
            return Response(status, _media.sample_wav()[start:end], content_type, headers)
        stream = _media.iter_mp4(self.state.config.output_size, start, end)
        return Response(status, b"", content_type, headers, stream=stream, length=end - start)

    async def _upload_post(self, request: Request, reader: asyncio.StreamReader) -> Response:
        """The presigned form POST: stream the multipart body, keeping only its fields and the file's size."""
        upload_id = request.path[len("/_uploads/") :]
        try:
            fields, size = await _stream_multipart(request, reader)
            self.state.finish_upload(upload_id, fields, size)
        except SimError as exc:
            xml = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{exc.code}</Code><Message>{exc.message}</Message></Error>"
            response = Response(exc.status, xml.encode(), "application/xml")
            self.state.record_request("POST", request.path, exc.status, None)
            return response
        self.state.record_request("POST", request.path, 204, None)
        return Response(
            204, b"", content_type=None, headers=[("Location", f"{self.root_url}/_uploads/{upload_id}")]
        )

    # ------------------------------------------------------------------------------------- control
    def _control(self, request: Request) -> Response:
        """``/_sim/...``: reset, config, faults, tasks, accounting (no auth)."""
        state = self.state
        route = request.path[len("/_sim") :].rstrip("/") or "/"
        method = request.method
        try:
            body = _load_json(request.body) if request.body else {}
            if route == "/health":
                return _json(
                    200, {"ok": True, "flavor": state.flavor, "base_url": self.root_url + self.prefix}
                )
            if route == "/reset" and method == "POST":
                state.reset(seed=body.get("seed") if isinstance(body, dict) else None)
                return _json(200, {"ok": True})
            if route == "/config":
                if method == "POST":
                    return _json(200, state.configure(**body))
                return _json(200, state.get_config())
            if route == "/faults":
                if method == "POST":
                    return _json(200, {"id": state.add_fault(**body)})
                if method == "DELETE":
                    state.clear_faults()
                    return _json(200, {"ok": True})
                return _json(200, state.list_faults())
            if route.startswith("/faults/") and method == "DELETE":
                state.clear_faults(int(route[len("/faults/") :]))
                return _json(200, {"ok": True})
            if route == "/accounting":
                return _json(200, state.accounting())
            if route == "/tasks":
                return _json(200, state.list_tasks())
            if route.startswith("/tasks/"):
                task_id, _, action = route[len("/tasks/") :].partition("/")
                if action == "outcome" and method == "POST":
                    return _json(200, state.force_outcome(task_id, **body))
                if not action:
                    return _json(200, state.task_info(task_id))
        except KeyError as exc:
            return _json(404, {"error": f"unknown task {exc}"})
        except (TypeError, ValueError, SimError) as exc:
            return _json(400, {"error": str(exc)})
        return _json(404, {"error": f"unknown control route {method} {request.path}"})


# ----------------------------------------------------------------------------------------------- helpers
def _retry_after(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else str(number)


def _load_json(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise SimError(400, f"Request body is not valid JSON: {exc}", code="invalid_request") from exc


def _parse_head(head: bytes) -> Request:
    text = head.decode("latin-1")
    request_line, *header_lines = text[:-4].split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise ValueError(request_line)
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(line)
        headers[name.strip().lower()] = value.strip()
    split = urlsplit(target)
    query = dict(parse_qsl(split.query, keep_blank_values=True)) if split.query else {}
    return Request(method.upper(), target, unquote(split.path), query, version, headers)


async def _read_body(request: Request, reader: asyncio.StreamReader) -> bytes:
    if request.headers.get("transfer-encoding", "").lower() == "chunked":
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_JSON_BODY:
                raise SimError(413, "Request body too large")
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    length = int(request.headers.get("content-length", "0") or 0)
    if length > MAX_JSON_BODY:
        raise SimError(413, "Request body too large")
    return await reader.readexactly(length) if length else b""


def _keep_alive(request: Request) -> bool:
    connection = request.headers.get("connection", "").lower()
    if request.version == "HTTP/1.0":
        return connection == "keep-alive"
    return connection != "close"


def _parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """``Range: bytes=a-b`` -> ``(start, end_exclusive)``; ``"invalid"`` when unsatisfiable; None when absent."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[len("bytes=") :].partition("-")
    try:
        if first == "":
            start, end = max(0, size - int(last)), size
        else:
            start = int(first)
            end = min(size, int(last) + 1) if last else size
    except ValueError:
        return None
    if start >= size or start >= end:
        return "invalid"
    return start, end


async def _stream_multipart(request: Request, reader: asyncio.StreamReader) -> tuple[dict[str, str], int]:
    """Read a ``multipart/form-data`` body whose last part is ``file``; return its fields and the file size."""
    match = re.search(r'boundary="?([^";]+)"?', request.headers.get("content-type", ""))
    if "content-length" not in request.headers:
        raise SimError(411, "You must provide the Content-Length HTTP header.", code="MissingContentLength")
    if match is None:
        raise SimError(
            400, "Bucket POST must be of the enclosure-type multipart/form-data", code="MalformedPOSTRequest"
        )
    delimiter = b"--" + match.group(1).encode()
    remaining = int(request.headers["content-length"])
    head = b""
    file_start = -1
    while remaining and file_start < 0 and len(head) < 1024 * 1024:
        chunk = await reader.read(min(65536, remaining))
        if not chunk:
            raise SimError(400, "Incomplete body", code="IncompleteBody")
        remaining -= len(chunk)
        head += chunk
        found = re.search(
            rb'Content-Disposition: form-data; name="file"[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n',
            head,
            re.IGNORECASE,
        )
        if found:
            file_start = found.end()
    if file_start < 0:
        await _drain(reader, remaining)
        raise SimError(400, "POST requires exactly one file upload per request.", code="MalformedPOSTRequest")
    fields: dict[str, str] = {}
    for part in head[:file_start].split(delimiter)[1:-1]:
        name = re.search(rb'name="([^"]+)"', part)
        headers_end = part.find(b"\r\n\r\n")
        if name and headers_end >= 0:
            fields[name.group(1).decode()] = (
                part[headers_end + 4 :].removesuffix(b"\r\n").decode("utf-8", "replace")
            )
    tail = head[file_start:]
    size_before_tail = 0
    keep = len(delimiter) + 8
    while remaining:
        chunk = await reader.read(min(1024 * 1024, remaining))
        if not chunk:
            raise SimError(400, "Incomplete body", code="IncompleteBody")
        remaining -= len(chunk)
        tail += chunk
        if len(tail) > keep:
            size_before_tail += len(tail) - keep
            tail = tail[-keep:]
    end = tail.rfind(b"\r\n" + delimiter)
    if end < 0:
        raise SimError(400, "Malformed multipart body", code="MalformedPOSTRequest")
    return fields, size_before_tail + end


async def _drain(reader: asyncio.StreamReader, remaining: int) -> None:
    while remaining > 0:
        chunk = await reader.read(min(1024 * 1024, remaining))
        if not chunk:
            return
        remaining -= len(chunk)


# ----------------------------------------------------------------------------------------------- public API
class Simulator:
    """The simulator running on a background thread of this process.

    :param flavor: ``"gateway"`` (CometAPI, base URL ends in ``/runwayml``) or ``"runway"`` (direct API).
    :param host: interface to bind.
    :param port: port to bind; 0 picks a free one.
    :param api_key: when set, the exact Bearer key required; otherwise any non-empty key is accepted.
    :param seed: seed for task ids, fault rates and envelope choices (deterministic runs).
    :param config: initial knobs, see :class:`~airflow_provider_runway.testing._state.SimConfig`
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
        self._server = _Server(self.state, host, port)
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
        return self._server.root_url + self._server.prefix

    # control -------------------------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        """Forget tasks, uploads, faults and accounting; restore the start-up config."""
        self.state.reset(seed)

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """Change config knobs; returns the whole config."""
        return self.state.configure(**knobs)

    def config(self) -> dict[str, Any]:
        """The current config."""
        return self.state.get_config()

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
        return self.state.add_fault(kind, path=path, method=method, times=times, rate=rate, **params)

    def clear_faults(self, fault_id: int | None = None) -> None:
        """Remove one fault or all."""
        self.state.clear_faults(fault_id)

    def faults(self) -> list[dict[str, Any]]:
        """Registered faults with their ``fired`` counts."""
        return self.state.list_faults()

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
        return self.state.force_outcome(
            task_id, status, failure_code=failure_code, failure=failure, immediate=immediate
        )

    def tasks(self) -> list[dict[str, Any]]:
        """Internal view of every task."""
        return self.state.list_tasks()

    def task(self, task_id: str) -> dict[str, Any]:
        """Internal view of one task."""
        return self.state.task_info(task_id)

    def accounting(self) -> dict[str, Any]:
        """What clients did (see ``GET /_sim/accounting``)."""
        return self.state.accounting()

    def orphans(self) -> list[str]:
        """Tasks neither finished nor cancelled."""
        return list(self.state.accounting()["orphans"])


# ----------------------------------------------------------------------------------------------- CLI
def parse_fault(spec: str) -> dict[str, Any]:
    """Parse ``KIND[:key=value,...]`` (values are JSON when they parse as JSON, else strings)."""
    kind, _, rest = spec.partition(":")
    out: dict[str, Any] = {"kind": kind.strip()}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"bad fault parameter {item!r} (expected key=value)")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runway-simulator",
        description="Serve a Runway task API stand-in (prints the base URL as the first line of stdout).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--flavor", choices=FLAVORS, default="gateway")
    parser.add_argument("--api-key", default=None, help="require exactly this Bearer key")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pending-seconds", type=float)
    parser.add_argument("--running-seconds", type=float)
    parser.add_argument("--concurrency", type=int)
    parser.add_argument("--output-ttl-seconds", "--output-ttl", type=float)
    parser.add_argument("--output-size", type=int, help="bytes of each MP4 output (padded, streamed)")
    parser.add_argument("--update-interval", type=float)
    parser.add_argument("--task-not-exist-seconds", type=float)
    parser.add_argument("--envelope-fraction", type=float)
    parser.add_argument("--envelope-while-queued", action="store_true", default=None)
    parser.add_argument("--no-envelope-inner", dest="envelope_inner", action="store_false", default=None)
    parser.add_argument("--envelope-time-format", choices=("unix", "string"))
    parser.add_argument("--envelope-queued-status")
    parser.add_argument("--envelope-inner-id", choices=("upstream", "same"))
    parser.add_argument("--cancelled-get", choices=("CANCELLED", "404"))
    parser.add_argument("--credits", type=int)
    parser.add_argument("--daily-limit", type=int)
    parser.add_argument(
        "--fault",
        action="append",
        type=parse_fault,
        default=[],
        metavar="KIND[:k=v,...]",
        help=f"inject a fault; kinds: {', '.join(FAULT_KINDS)} (repeatable)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``runway-simulator`` console script."""
    args = _build_parser().parse_args(argv)
    knobs = {
        name: getattr(args, name)
        for name in SimConfig.names()
        if hasattr(args, name) and getattr(args, name) is not None
    }
    try:
        state = SimState(args.flavor, api_key=args.api_key, seed=args.seed, **knobs)
        for fault in args.fault:
            state.add_fault(**fault)
    except (TypeError, ValueError) as exc:
        print(f"runway-simulator: {exc}", file=sys.stderr)
        return 2
    # Faults given on the command line survive /_sim/reset: keep them in the start-up state.
    initial_faults = list(state.faults)
    original_reset = state._reset_locked

    def reset_keeping_cli_faults(seed: int) -> None:
        original_reset(seed)
        state.faults = [Fault(**{**vars(f), "fired": 0}) for f in initial_faults]
        state._fault_ids = max((f.id for f in initial_faults), default=0)

    state._reset_locked = reset_keeping_cli_faults  # type: ignore[method-assign]
    server = _Server(state, args.host, args.port)

    async def run() -> None:
        await server.start()
        print(server.root_url + server.prefix, flush=True)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, server.request_stop)
        await server.serve_until_stopped()

    try:
        asyncio.run(run())
    except OSError as exc:
        print(f"runway-simulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
