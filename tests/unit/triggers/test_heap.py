"""What a sleeping RunwayTaskTrigger keeps alive for the garbage collector.

A triggerer holds thousands of sleeping triggers in one process. Each full collection walks every tracked
object and pauses the loop meanwhile, so what each sleeping trigger holds is the triggerer's worst lag at
scale (BENCHMARKS.md, section 1). These counts come from a real socket to the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator

import pytest

from airflow_provider_runway.hooks import pool
from airflow_provider_runway.hooks.runway import RunwayHook, aclose_shared_clients
from airflow_provider_runway.triggers.runway import RunwayTaskTrigger

BODY = {"model": "gen4_turbo", "promptImage": "https://example.com/a.jpg", "ratio": "1280:720"}
COUNT = 40


KEY = "key_heap_test"
SIM_ARGS = ("--flavor", "runway", "--port", "0", "--api-key", KEY, "--running-seconds", "3600")


@contextlib.contextmanager
def _simulator_process() -> Iterator[str]:
    """The simulator in a process of its own, so its objects are not counted with the triggers'."""
    server = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_runway.testing.simulator", *SIM_ARGS],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        yield server.stdout.readline().strip()
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def remote(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with _simulator_process() as base:
        conn = {
            "conn_type": "runway",
            "host": base,
            "password": KEY,
            "extra": {"allow_insecure_loopback": True},
        }
        monkeypatch.setenv("AIRFLOW_CONN_RUNWAY_DEFAULT", json.dumps(conn))
        yield base


def _sleeping_heap() -> Counter[str]:
    """New tracked objects, by type, once COUNT triggers have each polled and gone to sleep."""
    created = [RunwayHook().submit("image_to_video", BODY) for _ in range(COUNT + 1)]
    triggers = [
        RunwayTaskTrigger(
            runway_task_id=task.id,
            deadline=task.submitted_at + 3600,
            poll_interval=0.5,
            max_poll_interval=30,
            polling_mode="fixed",
            visible_by=task.submitted_at + 600,
        )
        for task in created
    ]

    async def drain(trigger: RunwayTaskTrigger) -> None:
        async for _event in trigger.run():
            pass

    async def run() -> Counter[str]:
        first = asyncio.ensure_future(drain(triggers[0]))  # warms what every trigger shares
        await asyncio.sleep(1.0)
        gc.collect()
        before = {id(o) for o in gc.get_objects()}
        rest = [asyncio.ensure_future(drain(t)) for t in triggers[1:]]
        await asyncio.sleep(1.6)  # the first poll within one interval, then every 0.5-0.625 s; each poll
        # takes a millisecond or two: count at a moment when none is in flight, so all are caught asleep
        for _ in range(2000):
            if not any(lanes.in_flight for lanes in pool.lanes_in_loop().values()):
                break
            await asyncio.sleep(0.001)
        gc.collect()
        new = Counter(type(o).__name__ for o in gc.get_objects() if id(o) not in before)
        for task in [first, *rest]:
            task.cancel()
        await asyncio.gather(first, *rest, return_exceptions=True)
        await aclose_shared_clients()
        return new

    return asyncio.run(run())


def test_a_sleeping_trigger_holds_one_task_one_plan_share_and_no_sleep_coroutine(remote):
    # Counted in a fresh interpreter: in the suite's own, what earlier tests left running adds objects.
    out = subprocess.run([sys.executable, __file__], capture_output=True, text=True, timeout=120, check=True)
    new = Counter(json.loads(out.stdout.strip().splitlines()[-1]))
    # One RunwayTask each (the last answer), not the previous one too (+1: the warm-up trigger's).
    assert new["RunwayTask"] <= COUNT + 1
    # Plans are shared by triggers with the same settings.
    assert new["PollPlan"] == 0
    # No asyncio.sleep coroutine and its copied context: a timer on a future. What remains per trigger is
    # the trigger's own task and the driver of its wait (coroutines), and the task's context.
    # (Bounds are per trigger with room for the few polls in flight at the moment of the count: a third
    # coroutine or a second context each would overshoot them by a whole COUNT.)
    assert new["coroutine"] < 2.5 * COUNT
    assert new["Context"] < 1.5 * COUNT
    assert new["Sleep"] == 0
    # The whole, a backstop to the counts above: ~23.5 per trigger here with the lanes' clients and their
    # connections (21 per sleeping trigger alone, probe_trigger_heap.py), 28 before these were cut.
    assert sum(new.values()) <= 26 * COUNT, new.most_common(12)


if __name__ == "__main__":
    print(json.dumps(_sleeping_heap()))
