"""``accounting()["peak_in_flight"]``: the most tasks created and not yet terminal at one moment.

Driven on :class:`SimState` with a hand-moved clock, so every overlap is exact.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_runway.testing._state import ACTIVE, SimState
from tests.testing.conftest import I2V


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def state(**config: Any) -> tuple[SimState, Clock]:
    sim = SimState("runway", **config)
    clock = Clock()
    sim.clock = clock
    return sim, clock


def create(sim: SimState, **timing: float) -> str:
    return sim.create_task("image_to_video", dict(I2V), overrides=timing).id


def peak(sim: SimState) -> int:
    return int(sim.accounting()["peak_in_flight"])


def test_three_overlapping_tasks_peak_at_three() -> None:
    sim, clock = state(pending_seconds=1, running_seconds=10)
    for _ in range(3):
        create(sim)
        clock.now += 2
    clock.now += 60  # all finished long ago: the peak is history, not the present
    assert set(sim.accounting()["statuses"].values()) == {"SUCCEEDED"}
    assert peak(sim) == 3


def test_sequential_tasks_peak_at_one() -> None:
    sim, clock = state(pending_seconds=1, running_seconds=4)
    for _ in range(3):
        create(sim)
        clock.now += 5  # exactly when it turns SUCCEEDED: the next one may start at that instant
    assert peak(sim) == 1


def test_an_unfinished_task_counts_until_now() -> None:
    sim, clock = state(running_seconds=100)
    create(sim)
    clock.now += 50
    create(sim)
    assert peak(sim) == 2


def test_a_cancel_and_a_forced_outcome_end_a_task_early() -> None:
    sim, clock = state(running_seconds=100)
    cancelled = create(sim)
    clock.now += 1
    assert sim.delete_task(cancelled) == "cancel"
    forced = create(sim)
    clock.now += 1
    sim.force_outcome(forced, "FAILED")
    clock.now += 1
    create(sim)
    assert peak(sim) == 1
    # deleting a finished task purges it but it was terminal already: no change
    clock.now += 200
    sim.delete_task(forced)
    assert peak(sim) == 1


def test_throttled_and_stuck_tasks_are_in_flight() -> None:
    sim, clock = state(running_seconds=10, concurrency=1)
    create(sim)
    create(sim)  # THROTTLED behind the first
    sim.add_fault("task_stuck_throttled", times=1)
    sim.create_task(
        "image_to_video", dict(I2V), faults=sim.pick_faults("POST", "/v1/image_to_video", "create")
    )
    clock.now += 1_000
    assert sorted(sim.accounting()["statuses"].values()) == ["SUCCEEDED", "SUCCEEDED", "THROTTLED"]
    assert peak(sim) == 3


def test_instant_tasks_are_never_in_flight() -> None:
    sim, _ = state()
    create(sim)
    create(sim)
    assert peak(sim) == 0


def test_update_interval_delays_the_end_to_the_next_step() -> None:
    # Runway-like 5 s refresh: a 6 s run is seen SUCCEEDED at 10 s, so a task created at 8 s overlaps it.
    sim, clock = state(running_seconds=6, update_interval=5)
    first = sim.tasks[create(sim)]
    clock.now += 8
    assert sim.status_of(first)[0] == "RUNNING"
    create(sim)
    assert sim.terminal_at(first) == first.created + 10
    assert peak(sim) == 2


timelines = st.lists(
    st.tuples(
        st.floats(0, 5),  # gap before this create
        st.floats(0, 3),  # pending
        st.floats(0, 8),  # running
        st.one_of(st.none(), st.floats(0, 10)),  # cancel this long after the create (if still active)
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(timelines, st.sampled_from([0.0, 0.5, 5.0]), st.integers(0, 3))
def test_peak_equals_the_most_active_tasks_seen_at_any_create(
    steps: list[tuple[float, float, float, float | None]], update_interval: float, concurrency: int
) -> None:
    """The count of non-terminal tasks only rises at a create, so the exact peak is its largest value
    just after one, as :meth:`status_of` reports the tasks then."""
    sim, clock = state(update_interval=update_interval, concurrency=concurrency)
    cancels: list[tuple[float, str]] = []
    for gap, pending, running, cancel_after in steps:
        target = clock.now + gap
        for when, task_id in sorted(c for c in cancels if c[0] <= target):
            clock.now = when
            if sim.status_of(sim.tasks[task_id])[0] in ACTIVE:
                sim.delete_task(task_id)
        cancels = [c for c in cancels if c[0] > target]
        clock.now = target
        task_id = create(sim, pending_seconds=pending, running_seconds=running)
        if cancel_after is not None:
            cancels.append((clock.now + cancel_after, task_id))
    seen = 0
    for task in sim.tasks.values():
        moment = task.created
        seen = max(
            seen,
            sum(
                other.created <= moment and sim.status_of(other, moment)[0] in ACTIVE
                for other in sim.tasks.values()
            ),
        )
    assert peak(sim) == seen
