"""The poll schedule alone: ``polling.watch`` driven by a fake clock against a model of Runway's task timeline.

No network and no event loop: this isolates the schedule (adaptive vs fixed) from transport costs, and runs
in seconds, so it can compare settings that a live run would take minutes for. Each task is PENDING for
0-10 s, then RUNNING, and SUCCEEDED at a time spread uniformly over 30-120 s; progress is reported on an
update grid (Runway: about every 5 s; 0 = live progress). The delay is from the moment SUCCEEDED became
visible to the poll that saw it.

``--stretch`` adds a second set of rows where 30 % of the sleeps overrun by 0-4 s, as on a busy triggerer
whose GETs queue (the N = 5,000 run of bench_triggerer.py: polls 7-13 s apart in the start-up burst). Those
rows also show the estimate as it was before it was bounded by the refresh grid (it took two readings to be
``elapsed - 2.5 s`` apart), which aimed up to 20 s late there. Every mode is shown in both sets.

    benchmarks/.venv/bin/python benchmarks/bench_schedule.py [--tasks 3000] [--stretch]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import percentile, save

from airflow_provider_runway import models, polling


def _state(t: float, pending: float, running: float, grid: float) -> dict[str, Any]:
    seen = math.floor(t / grid) * grid if grid else t
    if seen < pending:
        return {"status": "PENDING"}
    if seen < pending + running:
        return {"status": "RUNNING", "progress": round(min(0.99, (seen - pending) / running), 4)}
    return {"status": "SUCCEEDED", "output": ["https://example.com/out.mp4"]}


def _old_estimate(tracker: polling.PollTracker) -> float | None:
    """The estimate before the fix: the readings assumed ``elapsed - progress_lag`` apart (lag 2.5 s)."""
    if tracker.first_running is None or tracker.last_running is None:
        return None
    (t0, p0), (t1, p1) = tracker.first_running, tracker.last_running
    span = t1 - t0 - 2.5
    if span <= 0 or p1 <= p0:
        return None
    return t1 + (1.0 - p1) * span / (p1 - p0)


def run(
    mode: str,
    grid: float,
    lag: float,
    *,
    tasks: int,
    seed: int,
    lo: float,
    hi: float,
    stretch: float = 0.0,
    old: bool = False,
) -> dict[str, Any]:
    if old:
        current = polling.PollTracker.estimated_finish
        polling.PollTracker.estimated_finish = _old_estimate  # type: ignore[method-assign]
        try:
            return {
                **run(mode, grid, lag, tasks=tasks, seed=seed, lo=lo, hi=hi, stretch=stretch),
                "old": True,
            }
        finally:
            polling.PollTracker.estimated_finish = current  # type: ignore[method-assign]
    rng = random.Random(seed)
    delays: list[float] = []
    gets = 0
    plan = polling.PollPlan(min_interval=6.0, max_interval=60.0, mode=mode, progress_lag=lag)  # type: ignore[arg-type]
    for _ in range(tasks):
        finish = rng.uniform(lo, hi)
        pending = rng.uniform(0, min(10.0, finish / 3))
        visible = math.ceil(finish / grid - 1e-9) * grid if grid else finish
        now = [0.0]
        steps = polling.watch("t", deadline=1e9, plan=plan, clock=lambda now=now: now[0], rng=rng.random)
        reply: Any = None
        try:
            while True:
                action = steps.send(reply)
                reply = None
                if isinstance(action, polling.Sleep):
                    now[0] += action.seconds
                    if stretch and rng.random() < stretch:
                        now[0] += rng.uniform(0.0, 4.0)  # the loop or the GET queue ran late
                elif isinstance(action, polling.Poll):
                    gets += 1
                    payload = {"id": "t", "createdAt": "2026-01-01T00:00:00Z"}
                    payload.update(_state(now[0], pending, finish - pending, grid))
                    reply = models.parse_task(payload, task_id="t")
        except StopIteration:
            pass
        delays.append(now[0] - visible)
    return {
        "mode": mode,
        "grid_s": grid,
        "stretched_sleeps": stretch,
        "progress_lag_s": lag,
        "gets_per_task": round(gets / tasks, 2),
        "delay_p50_s": round(percentile(delays, 50), 2),
        "delay_p99_s": round(percentile(delays, 99), 2),
        "delay_max_s": round(max(delays), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default="schedule")
    parser.add_argument("--stretch", action="store_true", help="also rows with 30%% of sleeps overrunning")
    args = parser.parse_args()
    rows = []
    common = {"tasks": args.tasks, "seed": args.seed, "lo": 30, "hi": 120}
    for stretch in (0.0, 0.3) if args.stretch else (0.0,):
        for grid in (5.0, 0.0):
            fixed = run("fixed", grid, 0.0, stretch=stretch, **common)
            rows.append(fixed)
            variants = [(polling.runway_progress_lag(6.0), False), (0.0, False), (2.5, True)]
            for lag, old in variants:
                row = run("adaptive", grid, lag, stretch=stretch, old=old, **common)
                row["gets_vs_fixed"] = round(row["gets_per_task"] / fixed["gets_per_task"], 3)
                rows.append(row)
    save(args.out, {"tasks": args.tasks, "rows": rows})
    for row in rows:
        label = (
            f"{row['mode']} (progress_lag {row['progress_lag_s']} s{', before the fix' if row.get('old') else ''})"
            if row["mode"] == "adaptive"
            else "fixed"
        )
        print(
            f"schedule, grid {row['grid_s']:.0f} s, {row['stretched_sleeps']:.0%} sleeps overrun, "
            f"{label:<46} GETs/task {row['gets_per_task']:5.2f}"
            + (f" ({row['gets_vs_fixed']:.2f}x fixed)" if "gets_vs_fixed" in row else "")
            + f"  delay p50/p99/max {row['delay_p50_s']}/{row['delay_p99_s']}/{row['delay_max_s']} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
