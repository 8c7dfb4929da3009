"""The async half's per-loop lanes (hooks/pool.py): how requests are admitted, queued and handed on."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from airflow_provider_runway.hooks import pool
from airflow_provider_runway.hooks.pool import Lanes
from airflow_provider_runway.hooks.runway import RunwayHook
from tests.fakes import FakeAiohttpSession


def FakeSession(answer: Any = None) -> FakeAiohttpSession:
    """A lane's session that never touches a socket: ``answer(method, url)`` gives (status, JSON payload)."""

    async def reply(method: str, url: str, *_: Any) -> Any:
        status, payload = await answer(method, url) if answer else (200, {})
        return status, {}, json.dumps(payload).encode()

    return FakeAiohttpSession(reply)


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record every lane client made; no client touches a socket in these tests."""
    clients: list[Any] = []

    def fake_client(verify: bool | str) -> Any:
        client = FakeSession()
        clients.append(client)
        return client

    monkeypatch.setattr(pool, "new_client", fake_client)
    return clients


def test_the_first_lane_fills_before_another_opens(made):
    async def run() -> tuple[list[int], list[int]]:
        lanes = Lanes(True, width=3, most=4, open_after=0)
        taken = [await lanes.acquire() for _ in range(7)]
        busy = list(lanes.busy)
        await lanes.aclose()
        return taken, busy

    taken, busy = asyncio.run(run())
    assert taken == [0, 0, 0, 1, 1, 1, 2]
    assert busy == [3, 3, 1] and len(made) == 3


def test_a_freed_slot_in_an_early_lane_is_taken_first(made):
    async def run() -> list[int]:
        lanes = Lanes(True, width=2, most=4, open_after=0)
        for _ in range(4):
            await lanes.acquire()  # lanes 0 and 1 full
        lanes.release(0)
        again = await lanes.acquire()
        await lanes.aclose()
        return [again, *lanes.busy]

    assert asyncio.run(run()) == [0, 2, 2]


def test_full_lanes_queue_in_order_and_hand_each_slot_to_one_waiter(made):
    async def run() -> tuple[list[int], list[int], int]:
        lanes = Lanes(True, width=1, most=2, open_after=0)
        await lanes.acquire()
        await lanes.acquire()
        order: list[int] = []

        async def wait(n: int) -> None:
            lane = await lanes.acquire()
            order.append(n)
            await asyncio.sleep(0)
            lanes.release(lane)

        waiters = [asyncio.ensure_future(wait(n)) for n in range(5)]
        await asyncio.sleep(0)
        assert lanes.waiting == 5 and len(lanes.clients) == 2  # the cap holds: no third lane
        lanes.release(1)
        lanes.release(0)
        await asyncio.gather(*waiters)
        busy = list(lanes.busy)
        await lanes.aclose()
        return order, busy, lanes.waiting

    order, busy, waiting = asyncio.run(run())
    assert order == [0, 1, 2, 3, 4]
    assert busy == [0, 0] and waiting == 0


def test_a_cancelled_waiter_takes_no_slot(made):
    async def run() -> tuple[list[int], int]:
        lanes = Lanes(True, width=1, most=1)
        first = await lanes.acquire()
        waiter = asyncio.ensure_future(lanes.acquire())
        await asyncio.sleep(0)
        waiter.cancel()
        await asyncio.sleep(0)
        lanes.release(first)
        busy = list(lanes.busy)
        await lanes.aclose()
        return busy, lanes.waiting

    assert asyncio.run(run()) == ([0], 0)


def test_a_waiter_cancelled_as_it_is_handed_a_slot_passes_it_on(made):
    async def run() -> tuple[int, list[int]]:
        lanes = Lanes(True, width=1, most=1)
        first = await lanes.acquire()
        doomed = asyncio.ensure_future(lanes.acquire())
        heir = asyncio.ensure_future(lanes.acquire())
        await asyncio.sleep(0)
        lanes.release(first)  # the slot goes to doomed's future ...
        doomed.cancel()  # ... which is cancelled before it resumes
        lane = await heir
        with pytest.raises(asyncio.CancelledError):
            await doomed
        lanes.release(lane)
        busy = list(lanes.busy)
        await lanes.aclose()
        return lane, busy

    assert asyncio.run(run()) == (0, [0])


def test_many_slow_polls_are_in_flight_at_once_through_the_hook(monkeypatch, runway_conn):
    runway_conn("http://127.0.0.1:9", allow_insecure_loopback=True)  # nothing may leave this machine
    """Against a slow endpoint a loop keeps far more than one pool's worth of polls in flight. Before the
    lanes it kept 16 at most: 5,000 triggers polling an endpoint that answers in 100 ms got 160 polls a
    second, where they need several hundred."""
    task_id = "17f20503-6c24-4c16-946b-35dbbce2af2f"
    state = {"now": 0, "peak": 0}
    release = asyncio.Event()

    async def slow(method: str, url: str) -> tuple[int, Any]:
        state["now"] += 1
        state["peak"] = max(state["peak"], state["now"])
        await release.wait()
        state["now"] -= 1
        return 200, {"id": task_id, "status": "RUNNING", "createdAt": "2024-06-01T10:00:00Z"}

    monkeypatch.setattr(pool, "new_client", lambda verify: FakeSession(slow))
    monkeypatch.setattr(pool, "OPEN_AFTER", 0.01)  # a lane every 10 ms instead of every 250

    async def run() -> tuple[list[str], int]:
        polls = [asyncio.ensure_future(RunwayHook().aget_task(task_id)) for _ in range(100)]
        for _ in range(200):  # the first lane's 4 at once, the rest once they have waited OPEN_AFTER
            if state["peak"] == 100:
                break
            await asyncio.sleep(0.01)
        release.set()
        tasks = await asyncio.gather(*polls)
        clients = sum(len(lanes.clients) for lanes in pool.lanes_in_loop().values())
        await pool.aclose_shared_clients()
        return [task.status for task in tasks], clients

    statuses, clients = asyncio.run(run())
    assert statuses == ["RUNNING"] * 100
    assert state["peak"] == 100
    assert clients == -(-100 // pool.LANE_WIDTH)  # narrow pools: each request walks LANE_WIDTH connections


def test_a_burst_a_fast_endpoint_clears_opens_no_second_lane(made):
    async def run() -> int:
        lanes = Lanes(True, width=2, most=8, open_after=0.2)

        async def quick() -> None:
            lane = await lanes.acquire()
            await asyncio.sleep(0.001)
            lanes.release(lane)

        await asyncio.gather(*(quick() for _ in range(12)))
        count = len(lanes.clients)
        await lanes.aclose()
        return count

    assert asyncio.run(run()) == 1


def test_waiters_that_wait_past_open_after_get_new_lanes_oldest_first(made):
    async def run() -> tuple[list[int], int, int, list[int]]:
        lanes = Lanes(True, width=2, most=8, open_after=0.05)
        held = [await lanes.acquire(), await lanes.acquire()]  # the first lane, full and slow
        queued = [asyncio.ensure_future(lanes.acquire()) for _ in range(5)]
        await asyncio.sleep(0.01)
        early = lanes.waiting
        await asyncio.sleep(0.07)
        after_one = len(lanes.clients)  # one lane per open_after, not one for every waiter at once
        await asyncio.sleep(0.15)
        got = [q.result() for q in queued if q.done()]
        for lane in [*held, *got]:
            lanes.release(lane)
        busy = list(lanes.busy)
        await lanes.aclose()
        return got, early, after_one, busy

    got, early, after_one, busy = asyncio.run(run())
    assert early == 5  # nothing opened before open_after
    assert after_one == 2
    assert got == [1, 1, 2, 2, 3]  # then lanes for all five, in the order they came
    assert busy == [0, 0, 0, 0]


def test_lanes_are_per_loop_and_tls_setting(made):
    async def run() -> tuple[Lanes, Lanes, Lanes]:
        lanes = pool.lanes_for(True), pool.lanes_for(True), pool.lanes_for(False)
        await pool.aclose_shared_clients()
        return lanes

    a, b, insecure = asyncio.run(run())
    again, _, _ = asyncio.run(run())
    assert a is b and insecure is not a and again is not a


def test_a_closed_lane_client_is_replaced(made):
    async def run() -> bool:
        lanes = Lanes(True)
        lane = await lanes.acquire()
        first = lanes.client(lane)
        await first.close()
        second = lanes.client(lane)
        await lanes.aclose()
        return first is not second and second.closed

    assert asyncio.run(run())


def test_every_lane_shares_one_tls_context_per_setting(monkeypatch):
    """A TLS context per session would cost ~21 ms of CPU in the loop and ~0.9 MB each time a lane opened,
    with the CA bundle loaded anew (httpx did that until the lanes were handed one)."""
    import ssl

    import certifi

    built: list[Any] = []
    real = ssl.create_default_context

    def counting(*args: Any, **kwargs: Any) -> Any:
        built.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(pool.ssl, "create_default_context", counting)
    monkeypatch.setattr(pool, "_TLS", {})

    async def run() -> list[Any]:
        lanes = Lanes(True, width=1, most=10, open_after=0)
        taken = [asyncio.ensure_future(lanes.acquire()) for _ in range(10)]
        await asyncio.gather(*taken)
        count = len(lanes.clients)
        await lanes.aclose()
        return [count, pool.tls_for(True), pool.tls_for(False), pool.tls_for(certifi.where())]

    count, default, off, bundle = asyncio.run(run())
    assert count == 10 and len(built) == 2  # ten lanes, one context (and one for the CA bundle path)
    assert default is pool.tls_for(True) and off is False
    assert bundle is pool.tls_for(certifi.where()) and bundle is not default


def test_the_loop_s_sessions_are_closed_when_the_loop_shuts_down(caplog, recwarn):
    """``airflow dags test`` runs each deferral in its own ``asyncio.run``: a session left open there made
    aiohttp log "Unclosed client session" into the DAG author's output once per deferral."""
    import gc

    async def run() -> list[Any]:
        pool.shared_async_client(True)
        lanes = Lanes(True)  # not the loop's own: closing it is its owner's business
        lanes_sessions = [pool.shared_async_client(True), pool.shared_async_client(False)]
        await lanes.acquire()
        return [*lanes_sessions, lanes.client(0)]

    with caplog.at_level("ERROR", logger="asyncio"):
        loops_own_true, loops_own_false, other = asyncio.run(run())
        assert loops_own_true.closed and loops_own_false.closed
        assert not other.closed  # only the loop's lanes are closed at its end, nothing else is touched
        asyncio.run(other.close())
        del other
        gc.collect()
    assert not [r for r in caplog.records if "Unclosed" in r.getMessage()]
    assert not [w for w in recwarn if "Unclosed" in str(w.message)]
