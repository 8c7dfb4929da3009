"""What the async half of the hook shares per event loop: the HTTP sessions, in lanes, and the looked-up
connection settings.

A triggerer runs thousands of triggers in one loop. Each trigger builds its own hook, but they all send
through the loop's lanes and read one cached copy of each connection.

**Lanes.** Requests go out through lanes of :data:`LANE_WIDTH` requests in flight each. Every lane is an
``aiohttp.ClientSession`` whose connector holds at most that many connections. A request takes the first
lane with a free slot. Once every lane is full it waits in a FIFO queue, which wakes exactly one waiter per
finished request. While the oldest waiter has waited :data:`OPEN_AFTER`, one more lane opens every
:data:`OPEN_AFTER`, up to :data:`MAX_LANES`.

Why lanes: a fast endpoint is best served by a few warm connections, a slow one needs many requests in
flight (one pool of 16 capped a loop at 16 / latency polls per second: 160/s against an endpoint that
answers in 100 ms, below what 5,000 triggers need), and requests queued in front of the pool cost nothing
while they wait. (With httpx, the async half's library until 2026-12, narrow lanes also kept httpcore's
walk over its pool short: each request start and end checked every connection of the pool, ~30 % of a
triggerer's CPU at N = 5,000 with one pool of 16; ``benchmarks/bench_triggerer.py``.)

Requests fill the first lanes first, and lanes open only when waits last, so a fast endpoint is served by
a lane or two whose connections stay warm, while a slow one gets as many requests in flight as it needs.

**Why aiohttp.** A poll costs about a seventh of httpx's CPU with it (140 µs against 950 µs a GET on
loopback, side by side; its HTTP parser is compiled), and a triggerer shares its core with the scheduler,
the dag processor or other pods: the CPU a poll does not take is what keeps the loop on time when the
core is busy (``bench_triggerer.py --loads quiet,loaded``).
"""

from __future__ import annotations

import asyncio
import ssl
import time
import weakref
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import aiohttp

    from airflow_provider_runway.core.settings import ConnectionSettings

#: Requests in flight at once on one lane, and the connections its pool may hold.
LANE_WIDTH = 4
#: Lanes per loop and TLS setting: at most LANE_WIDTH x MAX_LANES requests in flight.
MAX_LANES = 64
#: Seconds the oldest waiter waits before more lanes open. Longer than a fast endpoint takes to clear the
#: burst of polls that piles up behind a full garbage collection (at 50 ms such bursts opened all 64 lanes
#: against a loopback simulator, and their idle connections, expiring and reconnecting, fed more full
#: collections), and far shorter than a poll interval.
OPEN_AFTER = 0.25
#: Seconds an idle connection is kept for reuse.
KEEPALIVE_EXPIRY = 30.0


_TLS: dict[bool | str, ssl.SSLContext | bool] = {}


def tls_for(verify: bool | str) -> ssl.SSLContext | bool:
    """One TLS context per setting, for every lane of every loop in the process: loading the CA bundle takes
    ~21 ms of CPU in the loop and ~0.9 MB a context. ``False``: no verification."""
    tls = _TLS.get(verify)
    if tls is None:
        if verify is False:
            tls = False
        elif isinstance(verify, str):
            tls = ssl.create_default_context(cafile=verify)  # a CA bundle path as the connection's extra
        else:
            # What the sync half's requests and Airflow's own clients trust: SSL_CERT_FILE or SSL_CERT_DIR
            # from the environment, else certifi's bundle.
            import os

            import certifi

            cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
            tls = ssl.create_default_context(
                cafile=cafile or (None if capath else certifi.where()), capath=None if cafile else capath
            )
        tls = _TLS.setdefault(verify, tls)
    return tls


def new_client(verify: bool | str) -> aiohttp.ClientSession:
    """One lane's session: a connector of :data:`LANE_WIDTH` connections kept :data:`KEEPALIVE_EXPIRY`,
    no cookies kept between requests (every trigger sends the same stateless calls), proxies from the
    environment (:func:`~.transport.proxy_for`, per request)."""
    import aiohttp

    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            limit=LANE_WIDTH, limit_per_host=0, keepalive_timeout=KEEPALIVE_EXPIRY, ssl=tls_for(verify)
        ),
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
    )


class Lanes:
    """The lanes of one loop and TLS setting (see the module's docstring).

    ``lane = await lanes.acquire()``, then send with ``lanes.client(lane)``, then ``lanes.release(lane)``
    in a ``finally``. A waiter cancelled while it waits never takes a slot.

    The first lane opens at once. Another opens only once the oldest waiter has waited ``open_after``
    seconds: a slow endpoint, not a burst a fast one clears in a few milliseconds.
    """

    def __init__(
        self, verify: bool | str, *, width: int = 0, most: int = 0, open_after: float | None = None
    ) -> None:
        self.verify = verify
        self.width = width or LANE_WIDTH
        self.most = most or MAX_LANES
        self.open_after = OPEN_AFTER if open_after is None else open_after
        self.clients: list[aiohttp.ClientSession] = []
        self.busy: list[int] = []
        self._waiters: deque[tuple[asyncio.Future[int], float]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def in_flight(self) -> int:
        return sum(self.busy)

    @property
    def waiting(self) -> int:
        return sum(1 for waiter, _ in self._waiters if not waiter.done())

    def client(self, lane: int) -> aiohttp.ClientSession:
        """The lane's session (a new one if it was closed)."""
        client = self.clients[lane]
        if client.closed:
            client = self.clients[lane] = new_client(self.verify)
        return client

    def _open(self) -> int:
        self.clients.append(new_client(self.verify))
        self.busy.append(0)
        return len(self.clients) - 1

    def _take(self) -> int | None:
        for lane, busy in enumerate(self.busy):
            if busy < self.width:
                self.busy[lane] = busy + 1
                return lane
        if not self.clients:
            lane = self._open()
            self.busy[lane] = 1
            return lane
        return None

    async def acquire(self) -> int:
        """A lane with a slot taken for the caller: at once if one is free, else in FIFO order."""
        if not self._waiters:
            lane = self._take()
            if lane is not None:
                return lane
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[int] = loop.create_future()
        self._waiters.append((waiter, loop.time()))
        self._arm(loop)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(waiter.result())  # handed a slot just as it was cancelled: pass it on
            raise

    def release(self, lane: int) -> None:
        """Give the slot back, or straight to the first live waiter."""
        while self._waiters:
            waiter, _ = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(lane)
                return
        self.busy[lane] -= 1

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is None and len(self.clients) < self.most:
            self._timer = loop.call_later(self.open_after, self._grow, loop)

    def _grow(self, loop: asyncio.AbstractEventLoop) -> None:
        """Open one lane for the oldest waiters if the first has waited ``open_after`` or longer.

        One lane per ``open_after`` at most: an endpoint that stays slow gets lane after lane (64 in 16 s
        at the default), while a burst that piles up behind a pause of the loop (a full garbage
        collection) opens one or two, not every lane at once.
        """
        self._timer = None
        while self._waiters and self._waiters[0][0].done():
            self._waiters.popleft()
        if self._waiters and len(self.clients) < self.most:
            if loop.time() - self._waiters[0][1] >= self.open_after:
                lane = self._open()
                while self._waiters and self.busy[lane] < self.width:
                    waiter, _ = self._waiters.popleft()
                    if not waiter.done():
                        self.busy[lane] += 1
                        waiter.set_result(lane)
        if self._waiters:
            self._arm(loop)

    async def aclose(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for client in self.clients:
            await client.close()


_LANES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, Lanes]] = weakref.WeakKeyDictionary()
#: Per loop, the async generator that closes its lanes when the loop shuts down (see :func:`_close_at_end`).
_CLOSERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


async def _closes(by_tls: dict[Any, Lanes]) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        for lanes in list(by_tls.values()):
            await lanes.aclose()


def _close_at_end(loop: asyncio.AbstractEventLoop, by_tls: dict[Any, Lanes]) -> None:
    """Close the loop's sessions when the loop shuts down, as ``asyncio.run`` does at its end (``airflow
    dags test`` runs each deferral so; a triggerer's loop lives as long as its process). aiohttp logs an
    "Unclosed client session" error for every session left open otherwise.

    The mechanism is the loop's own: it closes every async generator still suspended
    (``shutdown_asyncgens``). This one is started here, to its first ``yield``, so the loop knows it, and
    kept in :data:`_CLOSERS` (the loop holds its generators weakly).
    """
    closer = _closes(by_tls)
    try:
        closer.asend(None).send(None)
    except StopIteration:
        _CLOSERS[loop] = closer


def lanes_for(verify: bool | str = True) -> Lanes:
    """The running loop's lanes for this TLS setting, made on first use."""
    loop = asyncio.get_running_loop()
    by_tls = _LANES.get(loop)
    if by_tls is None:
        by_tls = _LANES[loop] = {}
        _close_at_end(loop, by_tls)
    lanes = by_tls.get(verify)
    if lanes is None:
        lanes = by_tls[verify] = Lanes(verify)
    return lanes


def lanes_in_loop() -> dict[Any, Lanes]:
    """Every TLS setting's lanes in the running loop (for tests and benchmarks)."""
    return dict(_LANES.get(asyncio.get_running_loop(), {}))


def shared_async_client(verify: bool | str = True) -> aiohttp.ClientSession:
    """The loop's first lane's session for this TLS setting, made if needed."""
    lanes = lanes_for(verify)
    if not lanes.clients:
        lanes.clients.append(new_client(verify))
        lanes.busy.append(0)
    return lanes.client(0)


async def aclose_shared_clients() -> None:
    """Close the running loop's sessions (tests and benchmarks; a triggerer never needs it)."""
    for lanes in _LANES.pop(asyncio.get_running_loop(), {}).values():
        await lanes.aclose()


# --------------------------------------------------------------------------------------------------------
# The loop's connection settings
# --------------------------------------------------------------------------------------------------------
#: How long a loop reuses a connection's looked-up settings. Thousands of triggers on one connection then make
#: one lookup a minute instead of one each: in a triggerer each lookup is a round trip to the API server, and
#: even from an environment variable it cost ~500 µs of CPU per trigger at N = 5,000 (a thread hop and
#: parsing), a third of the provider's CPU over bare polling. An edited connection is seen within the TTL; a
#: rotated key at once, since a 401 or 403 drops the entry and retries with a fresh lookup (the hook's
#: ``_arun``).
SETTINGS_TTL = 60.0
_SETTINGS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, tuple[float, asyncio.Future[ConnectionSettings]]]
] = weakref.WeakKeyDictionary()


async def shared_settings(
    conn_id: str, lookup: Callable[[], Awaitable[ConnectionSettings]]
) -> ConnectionSettings:
    """The loop's settings for ``conn_id``: one lookup in flight at a time, reused for :data:`SETTINGS_TTL`.

    A failed lookup is not kept: the next caller tries again.
    """
    loop = asyncio.get_running_loop()
    entries = _SETTINGS.setdefault(loop, {})
    entry = entries.get(conn_id)
    now = time.monotonic()
    if entry is None or entry[0] <= now:
        entry = entries[conn_id] = (now + SETTINGS_TTL, asyncio.ensure_future(lookup()))
    try:
        # Shielded: a cancelled trigger must not cancel the lookup the others are waiting on.
        return await asyncio.shield(entry[1])
    except Exception:
        if entries.get(conn_id) is entry:
            del entries[conn_id]
        raise


def forget_settings(conn_id: str, stale: ConnectionSettings) -> None:
    """Drop the loop's entry for ``conn_id`` if it still holds ``stale`` (a newer lookup is kept)."""
    entries = _SETTINGS.get(asyncio.get_running_loop(), {})
    entry = entries.get(conn_id)
    if entry is None or not entry[1].done() or entry[1].cancelled() or entry[1].exception():
        return
    if entry[1].result() == stale:
        del entries[conn_id]
