"""The transport under both halves of the hook: one attempt with each library (requests for the sync half,
aiohttp for the async one), each library's failures mapped to the core's three kinds, and the drivers of the
core's generators: :func:`drive` runs an exchange synchronously (the async one is the hook's, beside its
lanes), :func:`drive_watch` and :func:`adrive_watch` run the wait loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Generator
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from airflow_provider_runway import polling
from airflow_provider_runway.core.exchange import (
    HttpResponse,
    PreparedRequest,
    Send,
    TransportFailure,
    TransportKind,
    Wait,
)
from airflow_provider_runway.exceptions import RunwayError

if TYPE_CHECKING:
    import aiohttp
    import requests

    from airflow_provider_runway.core.task import RunwayTask

T = TypeVar("T")


class TaskApi(Protocol):
    """The calls about one task that the wait loop and ``on_kill`` make (:class:`RunwayHook` has them)."""

    def get_task(self, task_id: str) -> RunwayTask: ...

    def cancel_task(self, task_id: str) -> str: ...

    async def aget_task(self, task_id: str) -> RunwayTask: ...

    async def acancel_task(self, task_id: str) -> str: ...


def describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 300 else text[:300] + "…"


def requests_failure(exc: Exception) -> TransportFailure:
    """Classify a requests exception: was the request certainly never sent?"""
    import requests
    import urllib3.exceptions

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return TransportFailure(TransportKind.NOT_SENT, describe(exc))
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return TransportFailure(TransportKind.TIMEOUT, describe(exc))
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason: Any = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)
        if isinstance(
            reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)
        ):
            return TransportFailure(TransportKind.NOT_SENT, describe(exc))
        if isinstance(exc, requests.exceptions.SSLError):
            return TransportFailure(TransportKind.NOT_SENT, describe(exc))
    return TransportFailure(TransportKind.BROKEN, describe(exc))


def aiohttp_failure(exc: BaseException) -> TransportFailure:
    """Classify an aiohttp failure the same way as :func:`requests_failure`."""
    import aiohttp

    # Before the request left: no connection (refused, DNS, TLS, the proxy's CONNECT refused), no time
    # to make one, or a URL aiohttp would not send.
    if isinstance(
        exc,
        (
            aiohttp.ConnectionTimeoutError,
            aiohttp.ClientConnectorError,
            aiohttp.ClientHttpProxyError,
            aiohttp.InvalidURL,
            aiohttp.NonHttpUrlClientError,
        ),
    ):
        return TransportFailure(TransportKind.NOT_SENT, describe(exc))
    # Sent, and no answer within the read timeout.
    if isinstance(exc, asyncio.TimeoutError):
        return TransportFailure(TransportKind.TIMEOUT, describe(exc))
    # Sent, and the connection broke or the answer was not HTTP: the server may have acted on it.
    return TransportFailure(TransportKind.BROKEN, describe(exc))


@lru_cache(maxsize=64)
def proxy_for(scheme: str, host: str) -> str | None:
    """The proxy for an origin, from ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` and ``NO_PROXY``, as
    requests and httpx read them. Read once per origin: aiohttp's own ``trust_env`` reads them on every
    request, and looks for a ``.netrc`` in a thread too (which would also clash with the Bearer header)."""
    proxies = urllib.request.getproxies_environment()
    if not proxies or urllib.request.proxy_bypass_environment(host, proxies):  # type: ignore[attr-defined]
        return None
    return proxies.get(scheme) or proxies.get("all")


@lru_cache(maxsize=16)
def _timeout(connect: float, read: float) -> Any:
    import aiohttp

    # connect covers the TCP connect and the TLS handshake; sock_read the gap between bytes of the answer,
    # like requests' and httpx's read timeout. No total: a slow answer that keeps coming is not cut.
    return aiohttp.ClientTimeout(total=None, connect=connect, sock_connect=connect, sock_read=read)


async def send_with_aiohttp(
    session: aiohttp.ClientSession, request: PreparedRequest
) -> HttpResponse | TransportFailure:
    """One attempt with aiohttp; the answer as the core reads it."""
    import aiohttp

    parts = urllib.parse.urlsplit(request.url)
    try:
        async with session.request(
            request.method,
            request.url,
            headers=request.headers,
            data=request.content,
            timeout=_timeout(request.connect_timeout, request.read_timeout),
            proxy=proxy_for(parts.scheme, parts.hostname or ""),
            allow_redirects=False,
        ) as response:
            body = await response.read()
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        return aiohttp_failure(exc)
    return HttpResponse(response.status, {k.lower(): v for k, v in response.headers.items()}, body)


def drive(
    steps: Generator[Send | Wait, HttpResponse | TransportFailure | None, T],
    send: Callable[[Send], HttpResponse | TransportFailure],
    *,
    sleep: Callable[[float], None],
    log: Any,
) -> T:
    """Run one of the core's request generators synchronously: send what it says to send, sleep what it
    says to wait (logging why), and return what it returns."""
    outcome: HttpResponse | TransportFailure | None = None
    try:
        while True:
            action = steps.send(outcome)
            if isinstance(action, Wait):
                log.warning("%s; waiting %.1f s", action.reason, action.seconds)
                sleep(action.seconds)
                outcome = None
            else:
                outcome = send(action)
    except StopIteration as done:
        return done.value


def send_with_requests(
    session: requests.Session, request: PreparedRequest, *, stream: bool = False
) -> tuple[HttpResponse | TransportFailure, requests.Response | None]:
    """One attempt with requests; the answer as the core reads it (no body when streaming), and the
    response itself when there is one."""
    import requests

    try:
        response = session.request(
            request.method,
            request.url,
            headers=dict(request.headers),
            data=request.content,
            timeout=(request.connect_timeout, request.read_timeout),
            verify=request.verify,
            allow_redirects=False,
            stream=stream,
        )
    except requests.RequestException as exc:
        return requests_failure(exc), None
    headers = {k.lower(): v for k, v in response.headers.items()}
    return HttpResponse(response.status_code, headers, b"" if stream else response.content), response


def drive_watch(
    steps: Any, task_id: str, hook: TaskApi, *, sleep: Callable[[float], None], log: Any
) -> dict[str, Any]:
    """Run :func:`~airflow_provider_runway.polling.watch` with the sync half of ``hook``."""
    reply: Any = None
    try:
        while True:
            action = steps.send(reply)
            reply = None
            if isinstance(action, polling.Poll):
                try:
                    reply = hook.get_task(task_id)
                except RunwayError as err:
                    reply = err
            elif isinstance(action, polling.Sleep):
                sleep(action.seconds)
            elif isinstance(action, polling.Cancel):
                try:
                    reply = hook.cancel_task(task_id)
                except RunwayError as err:
                    reply = err
            elif isinstance(action, polling.Note):
                (log.warning if action.level == "warning" else log.info)("%s", action.message)
    except StopIteration as done:
        return done.value


_TIMER_CONTEXTS = threading.local()


def _timer_context() -> contextvars.Context:
    """An empty context for the sleep timers of this thread's loop, shared by all of them: the timer's
    callback only wakes a future, and a context per timer is one more object per sleeping trigger."""
    context = getattr(_TIMER_CONTEXTS, "context", None)
    if context is None:
        context = _TIMER_CONTEXTS.context = contextvars.Context()
    return context


def _wake(waker: asyncio.Future[None]) -> None:
    if not waker.done():
        waker.set_result(None)


async def adrive_watch(steps: Any, task_id: str, hook: TaskApi, *, log: Any) -> dict[str, Any]:
    """Run :func:`~airflow_provider_runway.polling.watch` with the async half of ``hook``: never blocks."""
    reply: Any = None
    try:
        while True:
            action = steps.send(reply)
            reply = None
            if isinstance(action, polling.Poll):
                try:
                    reply = await hook.aget_task(task_id)
                except RunwayError as err:
                    reply = err
            elif isinstance(action, polling.Sleep):
                # asyncio.sleep would add a coroutine and a copied context to each sleeping trigger: a bare
                # timer on a future holds neither, and nothing of this step is kept while it sleeps.
                loop = asyncio.get_running_loop()
                waker = loop.create_future()
                timer = loop.call_later(action.seconds, _wake, waker, context=_timer_context())
                action = None
                try:
                    await waker
                finally:
                    timer.cancel()
            elif isinstance(action, polling.Cancel):
                try:
                    reply = await hook.acancel_task(task_id)
                except RunwayError as err:
                    reply = err
            elif isinstance(action, polling.Note):
                (log.warning if action.level == "warning" else log.info)("%s", action.message)
    except StopIteration as done:
        return done.value
