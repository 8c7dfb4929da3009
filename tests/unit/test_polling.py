"""The poll schedule and the wait loop (polling.py), driven with a fake clock and scripted answers: no I/O."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_runway import polling
from airflow_provider_runway.exceptions import (
    RunwayAuthError,
    RunwayError,
    RunwayNotFoundError,
    RunwayRateLimitError,
    RunwayServerError,
    RunwayTaskCancelledError,
    RunwayTaskFailedError,
    RunwayTaskRejectedError,
    RunwayTimeoutError,
    RunwayTransportError,
)
from airflow_provider_runway.models import RunwayTask
from airflow_provider_runway.polling import (
    FINISH_MARGIN,
    Cancel,
    Note,
    Poll,
    PollPlan,
    PollTracker,
    Sleep,
    finish_event,
    watch,
)

T0 = 1_000_000.0
TASK_ID = "0b9e6c1e-8a4b-4c2f-9d3e-1f2a3b4c5d6e"


def task(status: str, progress: float | None = None, **fields: Any) -> RunwayTask:
    return RunwayTask(id=TASK_ID, status=status, progress=progress, **fields)


RUNNING = task("RUNNING", 0.5)
PENDING = task("PENDING")
SUCCEEDED = task("SUCCEEDED", outputs=("https://cdn.example.com/out.mp4?sig=secret",))


# --------------------------------------------------------------------------------------------------------
# PollTracker: the schedule
# --------------------------------------------------------------------------------------------------------
def test_plan_rejects_impossible_intervals_and_modes():
    with pytest.raises(ValueError, match="min_interval"):
        PollPlan(min_interval=0)
    with pytest.raises(ValueError, match="min_interval"):
        PollPlan(min_interval=5, max_interval=4)
    with pytest.raises(ValueError, match="polling mode"):
        PollPlan(mode="eager")  # type: ignore[arg-type]


def test_default_jitter_matches_the_sdk_at_six_seconds_and_scales_down_for_short_intervals():
    # Runway's SDK: every 6 s with ~1.5 s of jitter. A loopback interval of 0.1 s must not wait 1.5 s more.
    assert PollPlan(min_interval=6.0).jitter == pytest.approx(1.5)
    assert PollPlan(min_interval=60.0, max_interval=120.0).jitter == pytest.approx(polling.DEFAULT_JITTER)
    assert PollPlan(min_interval=0.1).spread <= 0.1
    assert PollPlan(min_interval=0.1, jitter=0.0).spread == 0.0
    with pytest.raises(ValueError, match="jitter"):
        PollPlan(jitter=-1.0)


STATUSES = ["PENDING", "THROTTLED", "RUNNING", "RUNNING", "RUNNING", "SOMETHING_NEW"]


@settings(max_examples=200, deadline=None)
@given(
    min_interval=st.floats(0.05, 10.0),
    spread=st.floats(1.0, 20.0),
    mode=st.sampled_from(["adaptive", "fixed"]),
    steps=st.lists(
        st.tuples(st.sampled_from(STATUSES), st.floats(0.0, 1.0), st.floats(0.0, 30.0), st.floats(0.0, 1.0)),
        min_size=1,
        max_size=12,
    ),
    deadline_after=st.floats(0.0, 120.0),
)
def test_delay_is_never_below_min_interval_unless_the_deadline_is_nearer_nor_past_the_deadline(
    min_interval, spread, mode, steps, deadline_after
):
    plan = PollPlan(min_interval=min_interval, max_interval=min_interval * spread, mode=mode)
    draws = iter([r for *_, r in steps])
    tracker = PollTracker(plan, rng=lambda: next(draws))
    now = T0
    progress = 0.0
    for status, prog, gap, _ in steps:
        now += gap
        progress = min(0.99, max(progress, prog))  # progress never goes backwards
        tracker.observe(task(status, progress if status == "RUNNING" else None), now)
        deadline = now + deadline_after
        delay = tracker.next_delay(now, deadline)
        assert 0.0 <= delay <= deadline - now + 1e-9
        assert delay <= plan.max_interval + 1e-9
        if deadline - now >= plan.min_interval:
            assert delay >= plan.min_interval - 1e-9


def test_a_deadline_already_passed_means_poll_now():
    tracker = PollTracker(PollPlan(min_interval=5.0), rng=lambda: 0.5)
    tracker.observe(RUNNING, T0)
    assert tracker.next_delay(T0 + 10, deadline=T0 + 5) == 0.0


@pytest.mark.parametrize("draw", [0.0, 0.5, 0.999])
def test_adaptive_delay_after_two_running_samples_aims_just_past_the_estimated_finish(draw):
    # progress_lag=0: the formula on live progress (the default allows for Runway's 5 s grid, below)
    tracker = PollTracker(PollPlan(min_interval=5.0, max_interval=60.0, progress_lag=0.0), rng=lambda: draw)
    tracker.observe(task("RUNNING", 0.2), T0)
    tracker.observe(task("RUNNING", 0.4), T0 + 2.0)  # 0.1 per second: finishes at T0 + 8
    assert tracker.estimated_finish() == pytest.approx(T0 + 8.0)
    delay = tracker.next_delay(T0 + 2.0, deadline=T0 + 3600)
    wake = T0 + 2.0 + delay
    margin = 5.0 / 12
    assert T0 + 8.0 < wake <= T0 + 8.0 + 2 * margin
    assert wake == pytest.approx(T0 + 8.0 + margin + margin * draw)


def test_finish_margin_is_half_a_second_at_the_default_interval_and_shrinks_for_loopback_intervals():
    assert PollPlan(min_interval=6.0).finish_margin == pytest.approx(FINISH_MARGIN) == 0.5
    assert PollPlan(min_interval=30.0, max_interval=60.0).finish_margin == FINISH_MARGIN
    tracker = PollTracker(PollPlan(min_interval=0.06, progress_lag=0.0), rng=lambda: 1.0)
    tracker.observe(task("RUNNING", 0.0), T0)
    tracker.observe(task("RUNNING", 0.1), T0 + 0.1)  # finishes at T0 + 1.0
    wake = T0 + 0.1 + tracker.next_delay(T0 + 0.1, deadline=T0 + 60)
    assert T0 + 1.0 < wake <= T0 + 1.01


def test_adaptive_estimate_is_capped_by_max_interval_and_ignored_without_progress_gain():
    tracker = PollTracker(PollPlan(min_interval=1.0, max_interval=10.0, jitter=0.0), rng=lambda: 0.0)
    tracker.observe(task("RUNNING", 0.10), T0)
    tracker.observe(task("RUNNING", 0.11), T0 + 1.0)  # 99 s to go
    assert tracker.next_delay(T0 + 1.0, deadline=T0 + 3600) == 10.0
    stalled = PollTracker(PollPlan(min_interval=1.0, max_interval=10.0, jitter=0.0), rng=lambda: 0.0)
    stalled.observe(task("RUNNING", 0.3), T0)
    stalled.observe(task("RUNNING", 0.3), T0 + 5.0)
    assert stalled.estimated_finish() is None
    assert stalled.next_delay(T0 + 5.0, deadline=T0 + 3600) == 1.0


def test_queued_backoff_grows_to_max_interval_and_stays_there():
    plan = PollPlan(min_interval=1.0, max_interval=10.0, jitter=0.0)
    tracker = PollTracker(plan, rng=lambda: 0.0)
    delays = []
    for n in range(12):
        tracker.observe(task("THROTTLED" if n % 2 else "PENDING"), T0 + n)
        delays.append(tracker.next_delay(T0 + n, deadline=T0 + 10_000))
    assert delays[0] == 1.0
    assert delays[1] == pytest.approx(1.5)
    assert delays == sorted(delays)
    assert delays[-1] == 10.0 and delays[-3:] == [10.0, 10.0, 10.0]


def test_backoff_restarts_once_the_task_runs():
    tracker = PollTracker(PollPlan(min_interval=1.0, max_interval=30.0, jitter=0.0), rng=lambda: 0.0)
    for n in range(6):
        tracker.observe(PENDING, T0 + n)
    assert tracker.next_delay(T0 + 6, deadline=T0 + 1000) > 5.0
    tracker.observe(task("RUNNING", 0.1), T0 + 7)
    assert tracker.next_delay(T0 + 7, deadline=T0 + 1000) == 1.0


def test_fixed_mode_stays_within_min_and_min_plus_jitter():
    plan = PollPlan(min_interval=6.0, mode="fixed", jitter=1.5)
    rng = random.Random(7)
    tracker = PollTracker(plan, rng=rng.random)
    seen = []
    for n, status in enumerate(["PENDING", "THROTTLED", "RUNNING", "RUNNING", "RUNNING"] * 20):
        tracker.observe(task(status, 0.01 * n if status == "RUNNING" else None), T0 + n)
        delay = tracker.next_delay(T0 + n, deadline=T0 + 10_000)
        assert 6.0 <= delay <= 7.5
        seen.append(delay)
    assert max(seen) - min(seen) > 0.5  # the jitter is real, so many tasks do not poll in step


def test_unknown_status_is_noted_once_and_timing_is_reported():
    tracker = PollTracker(PollPlan(min_interval=1.0), rng=lambda: 0.0)
    created = datetime.fromtimestamp(T0 - 1, tz=timezone.utc)
    assert tracker.observe(task("PENDING", created_at=created), T0)
    notes = tracker.observe(task("WARMING_UP"), T0 + 1)
    assert any("unknown status 'WARMING_UP'" in n for n in notes)
    assert not any("unknown" in n for n in tracker.observe(task("WARMING_UP"), T0 + 2))
    tracker.observe(task("RUNNING", 0.5), T0 + 3)
    tracker.observe(SUCCEEDED, T0 + 7)
    timing = tracker.timing()  # queued from the task's createdAt, not from the first poll
    assert timing == {"queued_seconds": 4.0, "running_seconds": 4.0, "throttled_seconds": 0.0, "polls": 5}


# --------------------------------------------------------------------------------------------------------
# watch(): a scripted fake service and a fake clock
# --------------------------------------------------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


Reply = RunwayTask | RunwayError | Callable[[FakeClock], Any]


def drive(
    script: Iterable[Reply],
    *,
    deadline: float = T0 + 3600,
    plan: PollPlan | None = None,
    then: Reply = RUNNING,
    cancel_reply: Any = "cancelled",
    **kwargs: Any,
) -> tuple[dict[str, Any], list[Any], FakeClock]:
    """Run watch() to its end; every Poll takes the next scripted answer (then ``then`` forever)."""
    clock = FakeClock()
    replies = iter(script)
    steps = watch(
        TASK_ID,
        deadline=deadline,
        plan=plan or PollPlan(min_interval=5.0, max_interval=60.0),
        clock=clock,
        rng=lambda: 0.5,
        **kwargs,
    )
    actions: list[Any] = []
    reply: Any = None
    for _ in range(10_000):
        try:
            action = steps.send(reply)
        except StopIteration as done:
            return done.value, actions, clock
        actions.append(action)
        reply = None
        if isinstance(action, Poll):
            item = next(replies, then)
            reply = item(clock) if callable(item) else item
        elif isinstance(action, Sleep):
            assert action.seconds >= 0
            assert clock.now + action.seconds <= max(deadline, clock.now) + 1e-9, "slept past the deadline"
            clock.now += action.seconds
        elif isinstance(action, Cancel):
            reply = cancel_reply
        else:
            assert isinstance(action, Note)
    raise AssertionError("watch() never finished")


def polls(actions: list[Any]) -> int:
    return sum(isinstance(a, Poll) for a in actions)


def cancels(actions: list[Any]) -> list[Cancel]:
    return [a for a in actions if isinstance(a, Cancel)]


def server_error() -> RunwayServerError:
    return RunwayServerError("Service Unavailable", status_code=503, method="GET", path="/v1/tasks/x")


@pytest.mark.parametrize(
    ("final", "status"),
    [
        (SUCCEEDED, "succeeded"),
        (task("FAILED", failure_code="INTERNAL", failure="boom"), "failed"),
        (task("CANCELLED"), "cancelled"),
    ],
)
def test_one_final_event_for_each_terminal_status(final, status):
    event, actions, _ = drive([PENDING, task("RUNNING", 0.2), task("RUNNING", 0.6), final])
    assert event["status"] == status
    assert event["runway_task_id"] == TASK_ID
    assert event["task"]["status"] == final.status
    assert event["timing"]["polls"] == 4
    assert polls(actions) == 4 and not cancels(actions)


def test_a_terminal_first_answer_finishes_without_polling():
    event, actions, _ = drive([], first=SUCCEEDED)
    assert event["status"] == "succeeded"
    assert polls(actions) == 0


def test_a_running_first_answer_sleeps_before_the_first_poll():
    _, actions, _ = drive([SUCCEEDED], first=task("RUNNING", 0.1))
    assert isinstance(next(a for a in actions if not isinstance(a, Note)), Sleep)


def test_deadline_with_a_running_task_polls_once_more_then_cancels_once():
    event, actions, clock = drive([], deadline=T0 + 30, then=task("RUNNING", 0.1))
    assert event["status"] == "timeout"
    assert len(cancels(actions)) == 1
    assert event["cancelled"] == "cancelled"
    assert "remote cancel: cancelled" in event["message"]
    assert isinstance(actions[-1], Cancel)
    last_poll = max(i for i, a in enumerate(actions) if isinstance(a, Poll))
    assert last_poll < actions.index(cancels(actions)[0])
    assert clock.now == pytest.approx(T0 + 30)


def test_deadline_where_the_final_poll_shows_success_is_a_success_and_never_cancels():
    # The task finished just as the deadline passed: its outputs must not be purged by a DELETE.
    def late_success(clock: FakeClock) -> RunwayTask:
        return SUCCEEDED if clock.now >= T0 + 30 else task("RUNNING", 0.0)

    event, actions, _ = drive([], deadline=T0 + 30, then=late_success)
    assert event["status"] == "succeeded"
    assert not cancels(actions)


def test_deadline_without_ever_seeing_the_task_does_not_cancel():
    event, actions, _ = drive([], deadline=T0 + 20, then=server_error(), max_poll_failures=100)
    assert event["status"] == "timeout"
    assert not cancels(actions)
    assert event["cancelled"] is None
    assert "never seen" in event["message"]


def test_deadline_after_failed_polls_cancels_if_the_last_status_seen_was_running():
    event, actions, _ = drive(
        [task("RUNNING", 0.1)], deadline=T0 + 20, then=server_error(), max_poll_failures=100
    )
    assert event["status"] == "timeout"
    assert len(cancels(actions)) == 1


def test_cancel_on_timeout_false_never_cancels():
    event, actions, _ = drive([], deadline=T0 + 20, cancel_on_timeout=False)
    assert event["status"] == "timeout"
    assert not cancels(actions)


def test_a_failed_cancel_is_reported_in_the_timeout_event():
    event, _, _ = drive([], deadline=T0 + 10, cancel_reply=server_error())
    assert event["status"] == "timeout"
    assert event["cancelled"].startswith("cancel failed")


def test_404_after_the_task_was_seen_means_cancelled():
    gone = RunwayNotFoundError("Task not found.", status_code=404, method="GET", path="/v1/tasks/x")
    event, actions, _ = drive([task("RUNNING", 0.3), gone])
    assert event["status"] == "cancelled"
    assert "cancelled or deleted remotely" in event["message"]
    assert not cancels(actions)


def test_404_before_the_task_was_ever_seen_is_an_error_not_a_cancel():
    gone = RunwayNotFoundError("Task not found.", status_code=404, method="GET", path="/v1/tasks/x")
    invisible = RunwayTask(id=TASK_ID, status="PENDING", shape="missing", visible=False)
    for script in ([gone], [invisible, gone]):
        event, _, _ = drive(script)
        assert event["status"] == "error"
        assert event["error_type"] == "RunwayNotFoundError"


def test_non_transient_poll_error_ends_at_once():
    denied = RunwayAuthError("Invalid token", status_code=401, method="GET", path="/v1/tasks/x")
    event, actions, _ = drive([task("RUNNING", 0.1), denied])
    assert event["status"] == "error" and event["error_type"] == "RunwayAuthError"
    assert polls(actions) == 2


@pytest.mark.parametrize(
    "error",
    [
        server_error(),
        RunwayRateLimitError("slow down", status_code=429, retry_after=None),
        RunwayTransportError("connection reset"),
    ],
)
def test_transient_failures_within_the_budget_are_survived(error):
    event, actions, _ = drive([task("RUNNING", 0.1), error, error, error, SUCCEEDED], max_poll_failures=3)
    assert event["status"] == "succeeded"
    warnings = [a for a in actions if isinstance(a, Note) and a.level == "warning"]
    assert len(warnings) == 3 and "(3/3)" in warnings[-1].message


def test_the_failure_budget_counts_consecutive_failures_only():
    e = server_error()
    event, _, _ = drive([e, e, task("RUNNING", 0.1), e, e, SUCCEEDED], max_poll_failures=2)
    assert event["status"] == "succeeded"


def test_exceeding_the_failure_budget_gives_one_error_event():
    e = server_error()
    event, actions, _ = drive([task("RUNNING", 0.1), e, e, e, SUCCEEDED], max_poll_failures=2)
    assert event["status"] == "error"
    assert "3 polls in a row failed" in event["message"]
    assert event["error_type"] == "RunwayServerError"
    assert polls(actions) == 4 and not cancels(actions)


def test_failed_polls_back_off_exponentially():
    e = server_error()
    _, actions, _ = drive([e, e, e, SUCCEEDED], plan=PollPlan(min_interval=2.0, max_interval=60.0))
    sleeps = [a.seconds for a in actions if isinstance(a, Sleep)]
    assert sleeps == [2.0, 4.0, 8.0]


def test_unknown_status_keeps_polling_and_warns_once():
    odd = task("WARMING_UP")
    event, actions, _ = drive([odd, odd, odd, SUCCEEDED])
    assert event["status"] == "succeeded"
    warnings = [a for a in actions if isinstance(a, Note) and a.level == "warning"]
    assert len(warnings) == 1 and "WARMING_UP" in warnings[0].message


def test_sleeps_never_pass_the_deadline_with_long_intervals():
    drive([], deadline=T0 + 7, plan=PollPlan(min_interval=5.0, max_interval=600.0, mode="fixed"))


# --------------------------------------------------------------------------------------------------------
# finish_event: the one mapping from an event to the Airflow outcome
# --------------------------------------------------------------------------------------------------------
def event_for(status: str, t: RunwayTask | None, **extra: Any) -> dict[str, Any]:
    return polling.event(status, TASK_ID, task=t, **extra)


def test_finish_event_success_returns_the_manifest():
    done = task("SUCCEEDED", outputs=("https://a/0.mp4", "https://a/1.mp4"), cost_credits=25.0)
    manifest = finish_event(
        event_for("succeeded", done, timing={"polls": 3, "queued_seconds": 1.0}),
        endpoint="image_to_video",
        model="gen4_turbo",
    )
    assert manifest["runway_task_id"] == TASK_ID
    assert manifest["endpoint"] == "image_to_video" and manifest["model"] == "gen4_turbo"
    assert manifest["status"] == "SUCCEEDED"
    assert manifest["outputs"] == [
        {"index": 0, "url": "https://a/0.mp4"},
        {"index": 1, "url": "https://a/1.mp4"},
    ]
    assert manifest["polls"] == 3 and manifest["queued_seconds"] == 1.0
    assert manifest["cost_credits"] == 25.0


def test_finish_event_failures_map_to_their_exceptions():
    transient = task("FAILED", failure_code="INTERNAL", failure="boom")
    with pytest.raises(RunwayTaskFailedError) as info:
        finish_event(event_for("failed", transient))
    assert not isinstance(info.value, RunwayTaskRejectedError)
    for code in ("SAFETY.INPUT.IMAGE", "INPUT_PREPROCESSING.SAFETY.TEXT", "ASSET.INVALID"):
        with pytest.raises(RunwayTaskRejectedError, match=code.replace(".", r"\.")):
            finish_event(event_for("failed", task("FAILED", failure_code=code)))
    with pytest.raises(RunwayTaskCancelledError):
        finish_event(event_for("cancelled", task("CANCELLED")))
    with pytest.raises(RunwayTimeoutError, match="deadline"):
        finish_event(event_for("timeout", RUNNING, message="did not finish before the deadline"))
    with pytest.raises(RunwayError, match="3 polls in a row"):
        finish_event(event_for("error", None, message="3 polls in a row failed"))


def test_finish_event_cancelled_after_a_404_names_the_cancel():
    # watch() reports a 404 after a seen task as "cancelled" carrying the last task seen (still RUNNING).
    gone = RunwayNotFoundError("Task not found.", status_code=404, method="GET", path="/v1/tasks/x")
    event, _, _ = drive([task("RUNNING", 0.3), gone])
    with pytest.raises(RunwayTaskCancelledError, match="cancelled"):
        finish_event(event)


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "succeeded",
        {},
        {"status": "SUCCEEDED", "runway_task_id": TASK_ID, "task": SUCCEEDED.to_dict()},
        {"status": "done", "runway_task_id": TASK_ID, "task": SUCCEEDED.to_dict()},
        {"status": "succeeded", "runway_task_id": TASK_ID, "task": None},
        {"status": "succeeded", "runway_task_id": TASK_ID, "task": RUNNING.to_dict()},
        {"status": "failed", "runway_task_id": TASK_ID, "task": SUCCEEDED.to_dict()},
    ],
)
def test_finish_event_never_turns_an_odd_event_into_success(bad):
    with pytest.raises(RunwayError):
        finish_event(bad)


@settings(max_examples=400, deadline=None)
@given(
    duration=st.floats(min_value=20.0, max_value=600.0),
    phase=st.floats(min_value=0.0, max_value=4.999),
    first=st.floats(min_value=0.0, max_value=0.6),
    gap=st.floats(min_value=0.5, max_value=40.0),
)
def test_adaptive_estimate_never_aims_past_the_finish_on_runways_refresh_grid(duration, phase, first, gap):
    """Runway refreshes progress every 5 s: a reading is up to 5 s old. However far apart two polls are (a
    slow GET or a busy triggerer stretches the gap), the estimate may be early but never later than the
    true finish plus the last reading's age. With the old allowance (elapsed - 2.5 s), two polls 9.7 s apart
    whose readings were made 5 s apart aimed 20 s late (benchmarks, N = 5,000)."""
    grid = 5.0  # runway-api.md: "Runway does not update a task more often than every 5 s"
    start = T0  # the task runs from start to start + duration, linearly

    def reading(t: float) -> tuple[float, float]:
        made = phase + grid * ((t - start - phase) // grid) + start  # the last refresh at or before t
        return made, (made - start) / duration

    t0 = start + first * duration
    t1 = t0 + gap
    (_, p0), (made1, p1) = reading(t0), reading(t1)
    if not 0 < p0 < p1 < 1:
        return  # not two different RUNNING readings
    tracker = PollTracker(PollPlan(min_interval=6.0, max_interval=600.0), rng=lambda: 0.0)
    tracker.observe(task("RUNNING", p0), t0)
    tracker.observe(task("RUNNING", p1), t1)
    estimate = tracker.estimated_finish()
    assert estimate is not None  # two different readings always give an estimate
    assert estimate <= start + duration + (t1 - made1) + 1e-6


def test_event_rejects_unknown_statuses():
    with pytest.raises(ValueError, match="unknown event status"):
        polling.event("done", TASK_ID)


def test_default_progress_lag_follows_the_interval_so_every_path_aims_the_same_way():
    """The trigger, the operator's synchronous wait and the sensor build their plans separately: the
    allowance for Runway's 5 s progress grid must come from the plan itself, not from one caller."""
    from airflow_provider_runway.polling import RUNWAY_PROGRESS_LAG, runway_progress_lag
    from airflow_provider_runway.triggers.runway import RunwayTaskTrigger

    assert PollPlan(min_interval=6.0).progress_lag == RUNWAY_PROGRESS_LAG
    short = PollPlan(min_interval=0.6).progress_lag
    assert short == pytest.approx(runway_progress_lag(0.6)) == pytest.approx(RUNWAY_PROGRESS_LAG * 0.6 / 6.0)
    trigger = RunwayTaskTrigger(runway_task_id="t", deadline=T0 + 60, poll_interval=6.0)
    assert trigger._plan() == PollPlan(min_interval=6.0, max_interval=trigger.max_poll_interval)
    # With the lag, two samples 6 s apart that read 0.2 -> 0.4 aim earlier than the live-progress formula.
    lagged, live = (
        PollTracker(PollPlan(min_interval=6.0, progress_lag=lag), rng=lambda: 0.0) for lag in (None, 0.0)
    )
    for tracker in (lagged, live):
        tracker.observe(task("RUNNING", 0.2), T0)
        tracker.observe(task("RUNNING", 0.4), T0 + 6.0)
    assert lagged.estimated_finish() < live.estimated_finish()


def test_first_poll_spread_staggers_a_trigger_without_a_first_answer():
    """Thousands of triggers taken over at once must not all poll (and look up their connection) together;
    an operator that already holds the first answer is not delayed."""
    from airflow_provider_runway.polling import Poll, Sleep, watch

    for draw in (0.0, 0.37, 0.99):
        steps = watch(
            "t",
            deadline=T0 + 600,
            plan=PollPlan(min_interval=6.0),
            clock=lambda: T0,
            rng=lambda d=draw: d,
            first_poll_spread=6.0,
        )
        first_action = next(steps)
        assert isinstance(first_action, Sleep) and first_action.seconds == pytest.approx(6.0 * draw)
        assert isinstance(steps.send(None), Poll)
    steps = watch("t", deadline=T0 + 600, plan=PollPlan(min_interval=6.0), clock=lambda: T0, rng=lambda: 0.5)
    assert isinstance(next(steps), Poll)  # no spread asked: poll at once
    steps = watch(
        "t",
        deadline=T0 + 2,
        plan=PollPlan(min_interval=6.0),
        clock=lambda: T0,
        rng=lambda: 0.99,
        first_poll_spread=6.0,
    )
    assert next(steps).seconds == pytest.approx(2.0)  # never past the deadline


# --------------------------------------------------------------------------------------------------------
# What a trigger's event may carry
# --------------------------------------------------------------------------------------------------------
def test_only_a_success_has_its_signed_urls_withheld():
    url = "https://cdn.example.com/0.mp4?Expires=1&Signature=abc"
    done = RunwayTask(id="t1", status="SUCCEEDED", outputs=(url,))
    withheld = polling.withhold_output_urls(polling.event("succeeded", "t1", task=done))
    assert withheld["task"]["outputs"] == [] and withheld["outputs_withheld"] == 1
    assert "Signature" not in repr(withheld)
    failed = polling.event("failed", "t1", task=RunwayTask(id="t1", status="FAILED", outputs=(url,)))
    assert polling.withhold_output_urls(failed) == failed  # read back only what a success needs
    bare = polling.event("succeeded", "t1", task=RunwayTask(id="t1", status="SUCCEEDED"))
    assert polling.withhold_output_urls(bare) == bare


def test_progress_is_logged_on_each_status_change_and_each_quarter_not_each_percent():
    tracker = PollTracker(PollPlan(min_interval=5, max_interval=30))
    seen = [
        ("PENDING", None),
        ("RUNNING", 0.0),
        ("RUNNING", 0.07),
        ("RUNNING", 0.24),
        ("RUNNING", 0.26),
        ("RUNNING", 0.31),
        ("RUNNING", 0.55),
        ("RUNNING", 0.56),
        ("RUNNING", 0.80),
        ("RUNNING", 0.99),
        ("SUCCEEDED", None),
    ]
    logged = [
        (status, progress)
        for i, (status, progress) in enumerate(seen)
        if tracker.observe(task(status, progress), T0 + 5 * i)
    ]
    assert logged == [
        ("PENDING", None),
        ("RUNNING", 0.0),
        ("RUNNING", 0.26),
        ("RUNNING", 0.55),
        ("RUNNING", 0.80),
        ("SUCCEEDED", None),
    ]
