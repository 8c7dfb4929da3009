"""Benchmark-only triggers that Airflow's own triggerer runs in ``bench_real_triggerer.py``.

The triggerer imports them by classpath (``_real_triggers.<Class>``), so this folder must be on its
``PYTHONPATH``. Neither changes what it measures:

``TimedRunwayTaskTrigger``
    ``RunwayTaskTrigger`` unchanged (same kwargs, same ``run()``), re-yielding the parent's one event with
    ``started_at`` (when the triggerer started it) and ``fired_at`` (when the event was in hand, the moment
    ``bench_triggerer.py``'s lookalike loop records) added to its payload. The payload lands in the task
    instance's ``next_kwargs`` in the metadata database, where the benchmark reads it at the end.
``LagProbeTrigger``
    in its own deferred task instance: samples the loop's lag exactly like ``bench_triggerer.Watchdog``
    (sleep 0.1 s, record how late the wake-up was) until a stop file appears, and times the collector's
    passes in the trigger runner process meanwhile; writes them to ``<stop_file>.samples.json`` and yields
    their summary as its event.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_runway.triggers.runway import RunwayTaskTrigger

#: where ``TimedRunwayTaskTrigger`` also appends one line per event (an environment variable of the
#: triggerer, so the trigger's kwargs stay exactly the provider's)
EVENTS_FILE_ENV = "RUNWAY_BENCH_EVENTS_FILE"


class TimedRunwayTaskTrigger(RunwayTaskTrigger):
    """The provider's trigger, with the moment its event fired added to the payload.

    Also one line ``<runway task id> <started_at> <fired_at>`` per event to ``$RUNWAY_BENCH_EVENTS_FILE``
    (one small append to a local file): the events in hand, even when the triggerer's supervisor has not yet
    committed them to the database.
    """

    async def run(self) -> AsyncIterator[TriggerEvent]:
        started = time.time()
        async for event in super().run():
            fired = time.time()
            path = os.environ.get(EVENTS_FILE_ENV)
            if path:
                with open(path, "a") as out:
                    out.write(f"{self.runway_task_id} {started:.6f} {fired:.6f}\n")
            yield TriggerEvent({**event.payload, "fired_at": fired, "started_at": started})


def _percentile(values: list[float], q: float) -> float:
    # Nearest rank, as benchmarks/_common.percentile (not imported: the triggerer's path is this folder only).
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))]


class LagProbeTrigger(BaseTrigger):
    """The triggerer's ``block_watchdog`` as a trigger: the loop's lag, sampled every 0.1 s.

    :param stop_file: sampling ends when this file exists (checked once a second) ...
    :param max_seconds: ... or after this long.
    :param ready_file: written when sampling starts, so the benchmark knows the probe runs.
    """

    def __init__(self, *, stop_file: str, ready_file: str, max_seconds: float = 900.0) -> None:
        super().__init__()
        self.stop_file = stop_file
        self.ready_file = ready_file
        self.max_seconds = float(max_seconds)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"stop_file": self.stop_file, "ready_file": self.ready_file, "max_seconds": self.max_seconds},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        samples: list[tuple[float, float]] = []  # (wall time, lag in ms)
        pauses: list[tuple[int, float, float]] = []  # (generation, wall time, pause in s)
        started = [0.0]

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                started[0] = time.perf_counter()
            else:
                pauses.append((info["generation"], time.time(), time.perf_counter() - started[0]))

        gc.callbacks.append(on_gc)
        with open(self.ready_file, "w") as ready:
            ready.write(str(os.getpid()))
        end = time.monotonic() + self.max_seconds
        try:
            while time.monotonic() < end:
                for _ in range(10):
                    last = time.monotonic()
                    await asyncio.sleep(0.1)
                    now = time.monotonic()
                    samples.append((time.time(), (now - last - 0.1) * 1000))
                if os.path.exists(self.stop_file):
                    break
        finally:
            gc.callbacks.remove(on_gc)
        lags = [lag for _, lag in samples]
        summary = {
            "pid": os.getpid(),
            "p50": round(_percentile(lags, 50), 2),
            "p99": round(_percentile(lags, 99), 2),
            "max": round(max(lags), 2) if lags else None,
            "first": samples[0][0] if samples else None,
            "last": samples[-1][0] if samples else None,
        }
        # The samples go to a file beside the stop file, not into the event: the benchmark must not wait on
        # the triggerer's supervisor to commit one more event (it lags its runner at thousands of triggers).
        with open(self.stop_file + ".samples.json", "w") as out:
            json.dump(
                {
                    **summary,
                    "samples": [[round(t, 3), round(lag, 2)] for t, lag in samples],
                    "gc": [[g, round(t, 3), round(p * 1000, 2)] for g, t, p in pauses],
                },
                out,
            )
        yield TriggerEvent(summary)
