"""``testing/_tasks.py``: the task store, its timeline, and a task's status at an instant."""

from __future__ import annotations

import math

import pytest

from airflow_provider_runway.testing._config import SimConfig
from airflow_provider_runway.testing._errors import SimError
from airflow_provider_runway.testing._tasks import ACTIVE, FORCEABLE, QUEUED, TERMINAL, TaskShape, TaskStore

I2V = {"model": "gen4_turbo", "promptImage": "https://example.com/cat.jpg"}


def store(**knobs: object) -> TaskStore:
    config = SimConfig()
    config.update(**knobs)
    return TaskStore(config)


def add(tasks: TaskStore, task_id: str, now: float = 0.0, **shape: object):  # type: ignore[no-untyped-def]
    return tasks.add(
        task_id,
        "image_to_video",
        "gen4_turbo",
        dict(I2V),
        now=now,
        credits=25,
        shape=TaskShape(timing={}, **shape),
    )


def test_status_sets() -> None:
    assert not ACTIVE & TERMINAL
    assert QUEUED < ACTIVE
    assert set(FORCEABLE) == TERMINAL | {"THROTTLED"}


def test_a_task_walks_pending_running_succeeded() -> None:
    tasks = store(pending_seconds=2, running_seconds=4)
    task = add(tasks, "a")
    assert tasks.status_of(task, 1) == ("PENDING", 0.0)
    assert tasks.status_of(task, 3) == ("RUNNING", 0.25)
    assert tasks.status_of(task, 6) == ("SUCCEEDED", 1.0)
    assert tasks.terminal_at(task) == 6


def test_concurrency_throttles_the_next_task_until_a_slot_frees() -> None:
    tasks = store(running_seconds=10, concurrency=1)
    add(tasks, "a")
    second = add(tasks, "b", now=1)
    assert tasks.status_of(second, 5)[0] == "THROTTLED"
    assert tasks.status_of(second, 12)[0] == "RUNNING"
    assert tasks.terminal_at(second) == 20


def test_the_update_interval_rounds_what_is_seen_down_and_the_end_up() -> None:
    tasks = store(running_seconds=6, update_interval=5)
    task = add(tasks, "a", now=100)
    assert tasks.status_of(task, 109)[0] == "RUNNING"
    assert tasks.status_of(task, 110)[0] == "SUCCEEDED"
    assert tasks.terminal_at(task) == 110


def test_a_stuck_task_never_ends() -> None:
    tasks = store()
    task = add(tasks, "a", stuck=True)
    assert tasks.status_of(task, 1e9)[0] == "THROTTLED"
    assert tasks.terminal_at(task) == math.inf


def test_per_model_and_request_durations() -> None:
    tasks = store(running_seconds=1, model_durations={"gen4_turbo": {"running_seconds": 5}})
    assert tasks.durations("gen4_turbo", {}) == (0.0, 5.0)
    assert tasks.durations("gen4_turbo", {"running_seconds": 2}) == (0.0, 2.0)
    assert tasks.durations("veo3", {"pending_seconds": -3}) == (0.0, 1.0)


def test_delete_cancels_an_active_task_and_deletes_a_finished_one() -> None:
    tasks = store(running_seconds=10)
    active = add(tasks, "a")
    done = add(tasks, "b", outcome="FAILED", failure_code="SAFETY.INPUT.TEXT")
    done.run_end = 1
    assert tasks.delete("a", 2)[1:] == ("cancel", "RUNNING")
    assert tasks.status_of(active, 2) == ("CANCELLED", 0.0)
    assert tasks.delete("b", 2)[1:] == ("delete", "FAILED")
    assert tasks.lookup("b") is None
    for gone in ("a", "b", "zzz"):
        with pytest.raises(SimError) as caught:
            tasks.delete(gone, 3)
        assert caught.value.status == 404


def test_observe_counts_gets_and_cancelled_tasks_may_answer_404() -> None:
    tasks = store(running_seconds=10, cancelled_get="404")
    add(tasks, "a")
    found = tasks.observe("a", 1)
    assert found is not None and found[1:] == ("RUNNING", 0.1)
    assert found[0].gets == 1 and found[0].last_seen == "RUNNING"
    tasks.delete("a", 2)
    assert tasks.observe("a", 3) is None
    assert tasks.observe("zzz", 3) is None


def test_force_sets_an_outcome_now_or_at_the_run_end() -> None:
    tasks = store(running_seconds=10)
    now_task = add(tasks, "a")
    later = add(tasks, "b")
    tasks.force("a", "FAILED", now=1)
    tasks.force("b", "CANCELLED", immediate=False, now=1)
    assert tasks.status_of(now_task, 1) == ("FAILED", 1.0)
    assert (now_task.failure_code, now_task.failure) == ("INTERNAL", "An unexpected error occurred.")
    assert tasks.status_of(later, 5)[0] == "RUNNING" and tasks.status_of(later, 10)[0] == "CANCELLED"
    tasks.force("b", "THROTTLED", now=2)
    assert tasks.terminal_at(later) == math.inf
    with pytest.raises(ValueError):
        tasks.force("a", "RUNNING", now=3)
    with pytest.raises(KeyError):
        tasks.force("zzz", "FAILED", now=3)


def test_output_count_is_kept_within_one_to_ten() -> None:
    tasks = store()
    for count, expected in ((3, 3), (0, 1), (11, 1), ("2", 1)):
        task = tasks.add(
            f"t{count}",
            "text_to_image",
            "gen4_image",
            {"outputCount": count},
            now=0,
            credits=5,
            shape=TaskShape(timing={}),
        )
        assert task.output_count == expected
        assert task.output_ext == "png"
