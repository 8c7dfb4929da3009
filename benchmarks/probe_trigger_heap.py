"""What one sleeping RunwayTaskTrigger keeps alive for the garbage collector to walk.

A full collection walks every tracked object, so its pause (the triggerer's loop stands still meanwhile)
grows with what each of thousands of sleeping triggers holds. This starts one trigger to warm everything
shared (the pooled client, loggers, caches), snapshots the heap, starts N - 1 more against simulator tasks
that never finish, waits until all have polled and sleep, and counts the new tracked objects by type.

    benchmarks/.venv/bin/python benchmarks/probe_trigger_heap.py [--n 300] [--mode adaptive]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_triggerer as bt
from _common import conn_json, simulator


async def _probe(base: str, n: int, mode: str) -> None:
    tasks = await bt._create_tasks(base, [(0.0, 7200.0)] * n)
    created = {task_id: time.time() for task_id, _, _ in tasks}
    waiters = bt._provider_waiters(tasks, created, mode, lambda task_id, status: None)
    first = [asyncio.ensure_future(waiters[0])]
    await asyncio.sleep(20)
    gc.collect()
    baseline = {id(o) for o in gc.get_objects()}
    rest = [asyncio.ensure_future(w) for w in waiters[1:]]
    await asyncio.sleep(25)  # the first poll is spread over 6 s; then every trigger sleeps
    gc.collect()
    new = [o for o in gc.get_objects() if id(o) not in baseline]
    per = len(new) / (n - 1)
    full = time.perf_counter()
    gc.collect()
    pause = (time.perf_counter() - full) * 1000
    print(f"tracked objects per sleeping trigger: {per:.1f}")
    print(f"a full collection now: {pause:.0f} ms over {len(gc.get_objects())} tracked objects")
    by_type = Counter(type(o).__qualname__ for o in new)
    print("by type:", ", ".join(f"{k} {v / (n - 1):.2f}" for k, v in by_type.most_common(25)))
    for task in rest + first:
        task.cancel()
    await asyncio.gather(*rest, *first, return_exceptions=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--mode", default="adaptive", choices=("adaptive", "fixed"))
    args = parser.parse_args()
    with simulator("--update-interval", "5", "--credits", "1000000000", "--daily-limit", "100000000") as (
        base,
        _root,
        _pid,
    ):
        os.environ["AIRFLOW_CONN_RUNWAY_DEFAULT"] = conn_json(base)
        asyncio.run(_probe(base, args.n, args.mode))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
