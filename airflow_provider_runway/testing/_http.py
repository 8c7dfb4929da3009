"""A small HTTP/1.1 server on asyncio, hand-written so that it can misbehave on purpose.

:class:`HttpServer` parses requests, keeps connections alive, and sends a :class:`Response`, or instead resets
the connection, never answers, or closes it (``Response.action``). What to answer is the subclass's business
(:class:`~airflow_provider_runway.testing._routes.SimServer`). Also here: the body readers (``Content-Length``,
chunked, and a streaming ``multipart/form-data`` reader that keeps only the form fields and the file's size).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from airflow_provider_runway.testing._errors import SimError

MAX_HEAD = 64 * 1024
MAX_JSON_BODY = 64 * 1024 * 1024
REASONS = {status.value: status.phrase for status in HTTPStatus}


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


def json_response(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Response:
    """A compact JSON answer."""
    return Response(status, json.dumps(payload, separators=(",", ":")).encode(), headers=headers or [])


def load_json(raw: bytes) -> Any:
    """A request body as JSON; raises :class:`SimError` (400, ``invalid_request``)."""
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise SimError(400, f"Request body is not valid JSON: {exc}", code="invalid_request") from exc


class HttpServer:
    """Serve HTTP/1.1 on ``host:port`` and answer with :meth:`handle` (or :meth:`handle_stream`)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._stopping: asyncio.Event | None = None

    # ------------------------------------------------------------------------------------- to override
    async def handle(self, request: Request) -> Response:
        """The answer to a request whose body has been read."""
        raise NotImplementedError

    def streams(self, request: Request) -> bool:
        """Whether :meth:`handle_stream` reads this request's body itself."""
        return False

    async def handle_stream(self, request: Request, reader: asyncio.StreamReader) -> Response:
        """The answer to a request whose body is still unread on ``reader``."""
        raise NotImplementedError

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
                    request = parse_head(head)
                except ValueError:
                    await self._send(
                        writer, None, Response(400, b"bad request", "text/plain"), keep_alive=False
                    )
                    return
                if request.headers.get("expect", "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                if self.streams(request):
                    response = await self.handle_stream(request, reader)
                else:
                    try:
                        request.body = await read_body(request, reader)
                    except SimError as exc:
                        await self._send(
                            writer, request, Response(exc.status, exc.message.encode(), "text/plain"), False
                        )
                        return
                    response = await self.handle(request)
                alive = keep_alive(request) and response.action is None
                if not await self._send(writer, request, response, alive, reader):
                    return
                if not alive:
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
        lines = [f"HTTP/1.1 {response.status} {REASONS.get(response.status, 'Unknown')}"]
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


# ----------------------------------------------------------------------------------------------- parsing
def parse_head(head: bytes) -> Request:
    """The request line and headers (names lower-cased); raises :class:`ValueError` when malformed."""
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


async def read_body(request: Request, reader: asyncio.StreamReader) -> bytes:
    """The whole body (``Content-Length`` or chunked); raises :class:`SimError` (413) past ``MAX_JSON_BODY``."""
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


def keep_alive(request: Request) -> bool:
    """Whether the client wants the connection kept open (HTTP/1.0 only when asked)."""
    connection = request.headers.get("connection", "").lower()
    if request.version == "HTTP/1.0":
        return connection == "keep-alive"
    return connection != "close"


async def read_multipart(request: Request, reader: asyncio.StreamReader) -> tuple[dict[str, str], int]:
    """Read a ``multipart/form-data`` body whose last part is ``file``; return its fields and the file size.

    Raises :class:`SimError` with S3's codes (``MissingContentLength``, ``MalformedPOSTRequest``...).
    """
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
        await drain(reader, remaining)
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


async def drain(reader: asyncio.StreamReader, remaining: int) -> None:
    """Read and drop ``remaining`` bytes (or until the client stops sending)."""
    while remaining > 0:
        chunk = await reader.read(min(1024 * 1024, remaining))
        if not chunk:
            return
        remaining -= len(chunk)
