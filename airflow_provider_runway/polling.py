"""Waiting for a Runway task: the poll schedule and the whole wait loop, as pure decisions.

:func:`watch` is a generator that says what to do next (:class:`Poll`, :class:`Sleep`, :class:`Cancel`,
:class:`Note`) and receives what happened. The deferrable trigger drives it with the async hook, the
operator's synchronous mode and the sensor's poke drive it with the sync hook: every row of the outcome
table is decided here, once.

The schedule (:class:`PollTracker`) is adaptive by default: while a task runs it estimates the finish
from the reported progress and its rate and sleeps until just after it; while the task is queued
(PENDING, THROTTLED) it backs off towards ``max_interval``. It never polls faster than ``min_interval``
and never sleeps past the deadline. ``mode="fixed"`` polls every ``min_interval`` plus jitter, as
Runway's own SDK does.

The loop ends in one event; what an event means (a manifest, or which exception) is
:mod:`airflow_provider_runway.core.outcome`'s to say.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Literal

from airflow_provider_runway.core import defaults
from airflow_provider_runway.core.defaults import (
    DEFAULT_POLL_INTERVAL,
    MIN_REAL_POLL_INTERVAL,
    NOT_VISIBLE_WARNING_EVERY,
)
from airflow_provider_runway.core.fields import positive_seconds as positive_seconds
from airflow_provider_runway.core.kill import may_cancel
from airflow_provider_runway.core.outcome import EVENT_STATUSES as EVENT_STATUSES
from airflow_provider_runway.core.outcome import event
from airflow_provider_runway.core.outcome import finish_event as finish_event
from airflow_provider_runway.core.outcome import manifest_from as manifest_from
from airflow_provider_runway.core.outcome import withhold_output_urls as withhold_output_urls
from airflow_provider_runway.core.task import QUEUED_STATUSES, RunwayTask, TaskStatus, is_known_status
from airflow_provider_runway.exceptions import (
    RunwayError,
    RunwayNotFoundError,
    RunwayProtocolError,
    RunwayRateLimitError,
    RunwayServerError,
    RunwayTransportError,
    RunwayValidationError,
)

PollMode = Literal["adaptive", "fixed"]
DEFAULT_MAX_POLL_INTERVAL = defaults.DEFAULT_MAX_POLL_INTERVAL
DEFAULT_JITTER = 1.5
DEFAULT_MAX_POLL_FAILURES = defaults.DEFAULT_MAX_POLL_FAILURES
#: How far past the estimated finish the adaptive schedule aims (Runway updates a task every ~5 s).
FINISH_MARGIN = 0.5
#: Runway refreshes a task's progress every 5 s or so: a reading may be up to that old, and two different
#: readings were made at least that far apart (see :attr:`PollPlan.progress_lag`).
RUNWAY_PROGRESS_LAG = 5.0


@dataclass(frozen=True)
class PollPlan:
    """How to space polls.

    :param min_interval: the shortest gap between two polls (Runway updates tasks every 5 s at most).
    :param max_interval: the longest gap while queued or running.
    :param mode: ``adaptive`` (default) or ``fixed``.
    :param jitter: up to this many seconds are added to fixed gaps, so many tasks do not poll in step.
        Default: a quarter of ``min_interval``, at most 1.5 s (Runway's SDK: 6 s with ~1.5 s of jitter), so
        a short loopback interval is not swamped by a jitter meant for a real service.
    """

    min_interval: float = DEFAULT_POLL_INTERVAL
    max_interval: float = DEFAULT_MAX_POLL_INTERVAL
    mode: PollMode = "adaptive"
    jitter: float | None = None
    #: How often the service refreshes a task's progress, in seconds (0: progress is live). A reading may be
    #: up to this old, and two different readings were made at least this far apart, so the rate estimate
    #: takes the fastest rate the samples allow (:meth:`PollTracker.estimated_finish`). ``None`` (default):
    #: :func:`runway_progress_lag` of ``min_interval``, so the trigger, the operator's synchronous wait and
    #: the sensor all aim the same way.
    progress_lag: float | None = None

    def __post_init__(self) -> None:
        if self.min_interval <= 0 or self.max_interval < self.min_interval:
            raise ValueError("poll intervals must satisfy 0 < min_interval <= max_interval")
        if self.mode not in ("adaptive", "fixed"):
            raise ValueError(f"unknown polling mode {self.mode!r}")
        if self.jitter is None:
            object.__setattr__(self, "jitter", min(DEFAULT_JITTER, self.min_interval / 4))
        elif self.jitter < 0:
            raise ValueError("jitter must be >= 0")
        if self.progress_lag is None:
            object.__setattr__(self, "progress_lag", runway_progress_lag(self.min_interval))
        elif self.progress_lag < 0:
            raise ValueError("progress_lag must be >= 0")

    @property
    def spread(self) -> float:
        """The jitter in seconds (always set after ``__post_init__``)."""
        return float(self.jitter or 0.0)

    @property
    def finish_margin(self) -> float:
        """How far past the estimated finish the adaptive schedule aims (plus up to as much again at
        random): :data:`FINISH_MARGIN` at the default 6 s interval, proportionally less for short ones."""
        return min(FINISH_MARGIN, self.min_interval / 12)


#: Progress is logged on entering each step of this size (0, 25, 50, 75 %) and on every status change: a line
#: per whole percent was a line a poll, ~17 % of a trigger's CPU and 12,500 lines a run at N = 5,000.
PROGRESS_STEP = 0.25


@dataclass
class PollTracker:
    """What has been seen of one task, and when to look next. In memory only: a restart starts afresh."""

    plan: PollPlan
    rng: Callable[[], float] = random.random
    polls: int = 0
    queued_polls: int = 0
    first_running: tuple[float, float] | None = None  # (time, progress) at the first RUNNING sample
    last_running: tuple[float, float] | None = None
    first_seen: float | None = None
    running_since: float | None = None
    finished_at: float | None = None
    throttled_seconds: float = 0.0
    #: The last task seen, and its creation time (epoch seconds) once a poll reported it.
    last: RunwayTask | None = None
    created_at: float | None = None
    _last_status: str | None = None
    _last_time: float | None = None
    _last_step: int | None = None
    _warned_unknown: frozenset[str] = frozenset()

    def observe(self, task: RunwayTask, now: float) -> list[str]:
        """Record one answer; returns the log lines worth writing (new status, or new :data:`PROGRESS_STEP`)."""
        notes: list[str] = []
        self.polls += 1
        self.last = task
        if self.created_at is None and task.created_at is not None:
            self.created_at = task.created_at.timestamp()
        if self.first_seen is None:
            self.first_seen = now
        if self._last_status == TaskStatus.THROTTLED.value and self._last_time is not None:
            self.throttled_seconds += now - self._last_time
        status = task.status
        step = None if task.progress is None else int(task.progress / PROGRESS_STEP)
        if status != self._last_status or (step is not None and step != self._last_step):
            notes.append(f"Runway task {task.id}: {task.describe()}")
        if not is_known_status(status) and status not in self._warned_unknown:
            self._warned_unknown |= {status}
            notes.append(
                f"WARNING: Runway task {task.id} reports an unknown status {status!r}; still waiting"
            )
        if status == TaskStatus.RUNNING.value:
            if self.running_since is None:
                self.running_since = now
            if task.progress is not None:
                sample = (now, task.progress)
                if self.first_running is None:
                    self.first_running = sample
                self.last_running = sample
        if task.terminal and self.finished_at is None:
            self.finished_at = now
            if self.running_since is None:
                self.running_since = now
        if status in QUEUED_STATUSES or not task.visible:
            self.queued_polls += 1
        else:
            self.queued_polls = 0
        self._last_status, self._last_time = status, now
        self._last_step = self._last_step if step is None else step
        return notes

    def estimated_finish(self) -> float | None:
        """Wall-clock time the task should finish, from its progress rate since the first RUNNING sample.

        With progress refreshed every ``lag`` seconds, the two readings were made ``span`` apart, where
        ``span >= lag`` (they differ, so at least one refresh lies between them) and
        ``span > elapsed - lag`` (the later one is at most ``lag`` old). The estimate divides by the
        smallest such span: the fastest rate the samples allow, so it errs towards an early poll, never
        towards a late one, however far apart the polls were (a slow GET, a busy triggerer).
        """
        if self.first_running is None or self.last_running is None:
            return None
        (t0, p0), (t1, p1) = self.first_running, self.last_running
        if p1 <= p0:
            return None
        lag = self.plan.progress_lag or 0.0
        span = max(lag, t1 - t0 - lag)  # lag 0 (live progress): the elapsed time itself
        if span <= 0:
            return None
        rate = (p1 - p0) / span
        return t1 + (1.0 - p1) / rate

    def next_delay(self, now: float, deadline: float) -> float:
        """Seconds until the next poll: at least ``min_interval``, never past the deadline."""
        plan = self.plan
        if plan.mode == "fixed":
            delay = plan.min_interval + plan.spread * self.rng()
        elif self._last_status in QUEUED_STATUSES or self._last_status is None:
            # Back off while queued: 1x, 1.5x, 2.25x ... the minimum, up to the maximum.
            growth = 1.5 ** max(0, self.queued_polls - 1)
            delay = min(plan.max_interval, plan.min_interval * growth) + plan.spread * self.rng() * 0.5
        elif self._last_status == TaskStatus.RUNNING.value:
            finish = self.estimated_finish()
            if finish is None:
                delay = plan.min_interval + plan.spread * self.rng() * 0.5
            else:
                margin = plan.finish_margin
                delay = finish + margin + margin * self.rng() - now
        else:  # unknown status: plain interval
            delay = plan.min_interval + plan.spread * self.rng()
        delay = min(max(delay, plan.min_interval), plan.max_interval)
        return max(0.0, min(delay, deadline - now))

    def timing(self) -> dict[str, float | None]:
        """Seconds queued and running, as far as the polls could see them (accurate to one poll)."""
        start = self.created_at if self.created_at is not None else self.first_seen
        queued = None
        if start is not None and self.running_since is not None:
            queued = max(0.0, self.running_since - start)
        running = None
        if self.running_since is not None and self.finished_at is not None:
            running = max(0.0, self.finished_at - self.running_since)
        return {
            "queued_seconds": _round(queued),
            "running_seconds": _round(running),
            "throttled_seconds": _round(self.throttled_seconds),
            "polls": self.polls,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


# --------------------------------------------------------------------------------------------------------
# The wait loop
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Poll:
    """GET the task; send back a RunwayTask or the RunwayError raised."""


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Cancel:
    """DELETE the task; send back the hook's result string or the RunwayError raised."""

    reason: str


@dataclass(frozen=True)
class Note:
    level: Literal["info", "warning"]
    message: str


WatchAction = Poll | Sleep | Cancel | Note


_PLANS: dict[PollPlan, PollPlan] = {}


def shared_plan(plan: PollPlan) -> PollPlan:
    """One instance per distinct plan in the process: thousands of triggers on the same settings then hold
    one plan, not one each (a frozen dataclass, so sharing it is safe)."""
    return _PLANS.setdefault(plan, plan)


def plan_for(poll_interval: Any, max_poll_interval: Any, polling_mode: Any, *, on_loopback: bool) -> PollPlan:
    """The poll plan from an operator's or the sensor's arguments, each checked by name.

    Runway updates a task every 5 s at most, so an interval below :data:`MIN_REAL_POLL_INTERVAL` is
    refused unless the base URL is loopback (the simulator).
    """
    interval = positive_seconds(poll_interval, "poll_interval")
    longest = positive_seconds(max_poll_interval, "max_poll_interval")
    if polling_mode not in ("adaptive", "fixed"):
        raise RunwayValidationError("polling_mode", f"must be 'adaptive' or 'fixed', got {polling_mode!r}")
    if interval < MIN_REAL_POLL_INTERVAL and not on_loopback:
        raise RunwayValidationError(
            "poll_interval",
            f"must be at least {MIN_REAL_POLL_INTERVAL:g} s against a real service "
            f"(Runway updates tasks every 5 s at most), got {interval:g}",
        )
    mode: PollMode = "fixed" if polling_mode == "fixed" else "adaptive"
    return PollPlan(min_interval=interval, max_interval=max(longest, interval), mode=mode)


def runway_progress_lag(min_interval: float) -> float:
    """:data:`RUNWAY_PROGRESS_LAG` at the default 6 s interval, proportionally less for shorter ones (a
    loopback test polling every 0.1 s talks to a stand-in that updates continuously)."""
    return min(RUNWAY_PROGRESS_LAG, RUNWAY_PROGRESS_LAG * min_interval / DEFAULT_POLL_INTERVAL)


def is_transient_poll_error(error: RunwayError) -> bool:
    """A poll failure worth another try (it counts against the failure budget)."""
    return isinstance(
        error, (RunwayTransportError, RunwayServerError, RunwayRateLimitError, RunwayProtocolError)
    )


def within_failure_budget(error: RunwayError, failures: int, max_poll_failures: int) -> bool:
    """After ``failures`` failed looks at a task in a row, the last one ``error``: look again?

    The one rule for every GET of a task's state: the trigger's and the synchronous wait's polls, the
    sensor's pokes, and the URL read-back on resume.
    """
    return is_transient_poll_error(error) and failures <= max_poll_failures


def failure_delay(min_interval: float, max_interval: float, failures: int) -> float:
    """Seconds before the next look after ``failures`` failed ones in a row: doubling, capped."""
    return min(max_interval, min_interval * (2 ** max(0, failures - 1)))


def watch(
    task_id: str,
    *,
    deadline: float,
    plan: PollPlan,
    first: RunwayTask | None = None,
    max_poll_failures: int = DEFAULT_MAX_POLL_FAILURES,
    cancel_on_timeout: bool = True,
    clock: Callable[[], float] = time.time,
    rng: Callable[[], float] = random.random,
    first_poll_spread: float = 0.0,
    visible_by: float | None = None,
    owned: bool = True,
) -> Generator[WatchAction, Any, dict[str, Any]]:
    """Wait for a task to finish, fail, vanish or outlive the deadline; returns exactly one event dict.

    :param first: the answer already in hand (the operator's check right after submit), if any.
    :param first_poll_spread: with no ``first``, wait up to this many seconds (at random) before the first
        poll; the trigger sets it to one poll interval, since the operator or sensor has just polled.
    :param visible_by: epoch seconds until which a task the gateway hides (``task_not_exist``) is waited
        for, with a warning every :data:`NOT_VISIBLE_WARNING_EVERY`; a hidden task seen after it ends the
        wait as ``not_visible`` (never cancelled). ``None``: as long as the deadline allows.
    :param owned: the id came from this task's own create (only the wording of the messages differs).
    """
    # No closures in here: thousands of these generators sleep at once in a triggerer, and every object
    # each one holds lengthens the full garbage collections that pause its event loop.
    tracker = PollTracker(plan, rng=rng)
    failures = 0
    hidden_since: float | None = None
    hidden_warned = 0.0
    if first is not None:
        for line in tracker.observe(first, clock()):
            yield _note(line)
        if first.terminal:
            return _finish(tracker, task_id, first.status.lower(), first)
        if not first.visible:
            hidden_since = hidden_warned = clock()
            yield _hidden_note(task_id, 0.0, visible_by, hidden_since, owned)
    polled = first is not None
    if first is None and first_poll_spread > 0 and clock() < deadline:
        # Whoever deferred has just polled: wait a random part of one interval, so thousands of triggers
        # taken over at once (a triggerer restart) do not all poll, and look up their connection, together.
        yield Sleep(min(first_poll_spread * rng(), max(0.0, deadline - clock())))
    last: RunwayTask | None = None
    while True:
        # Sleeping, this generator holds one task (the tracker's): thousands sleep at once in a triggerer,
        # and every object each keeps alive lengthens the full collections that pause its loop.
        last = reply = None
        if polled:
            now = clock()
            delay = (
                tracker.next_delay(now, deadline)
                if failures == 0
                else failure_delay(plan.min_interval, plan.max_interval, failures)
            )
            yield Sleep(max(0.0, min(delay, deadline - now)))
        polled = True
        final = clock() >= deadline
        reply = yield Poll()
        last = tracker.last  # the task as last seen, before this reply
        if isinstance(reply, RunwayNotFoundError) and last is not None and last.visible:
            # A task we have seen is gone: cancelled or deleted remotely (a GET after DELETE may say 404).
            return _finish(
                tracker,
                task_id,
                "cancelled",
                last,
                f"Runway task {task_id} was cancelled or deleted remotely ({reply})",
            )
        if isinstance(reply, RunwayError):
            failures += 1
            if not within_failure_budget(reply, failures, max_poll_failures):
                failed = f"{type(reply).__name__}: {reply}"
                return _finish(
                    tracker,
                    task_id,
                    "error",
                    last,
                    f"{failures} polls in a row failed; last: {failed}"
                    if is_transient_poll_error(reply)
                    else failed,
                    error_type=type(reply).__name__,
                )
            yield Note(
                "warning", f"Poll of Runway task {task_id} failed ({failures}/{max_poll_failures}): {reply}"
            )
        elif isinstance(reply, RunwayTask):
            failures = 0
            now = clock()
            for line in tracker.observe(reply, now):
                yield _note(line)
            if reply.visible and hidden_since is not None:
                yield Note("info", f"Runway task {task_id} is visible after {_secs(now - hidden_since)} s")
                hidden_since = None
            if reply.terminal:
                return _finish(tracker, task_id, reply.status.lower(), reply)
            if not reply.visible:
                if hidden_since is None:
                    hidden_since = hidden_warned = now
                    yield _hidden_note(task_id, 0.0, visible_by, now, owned)
                elif visible_by is not None and now >= visible_by:
                    return _finish(
                        tracker,
                        task_id,
                        "not_visible",
                        reply,
                        _not_visible_message(task_id, now - hidden_since, owned),
                    )
                elif now - hidden_warned >= NOT_VISIBLE_WARNING_EVERY:
                    hidden_warned = now
                    yield _hidden_note(task_id, now - hidden_since, visible_by, now, owned)
        else:  # pragma: no cover - a driver bug
            raise TypeError(f"watch() expected a RunwayTask or RunwayError, got {type(reply).__name__}")
        if final:
            # That was the last look at the deadline: cancel if the task was last seen unfinished.
            cancelled = None
            last = tracker.last
            if cancel_on_timeout and may_cancel(last):
                result = yield Cancel("deadline passed")
                cancelled = result if isinstance(result, str) else f"cancel failed: {result}"
            message = (
                f"Runway task {task_id} did not finish before the deadline "
                f"(last status: {last.describe() if last else 'never seen'})"
                + (f"; remote cancel: {cancelled}" if cancelled else "")
            )
            return _finish(tracker, task_id, "timeout", last, message, cancelled=cancelled)


def _finish(
    tracker: PollTracker,
    task_id: str,
    status: str,
    task: RunwayTask | None,
    message: str = "",
    **extra: Any,
) -> dict[str, Any]:
    return event(status, task_id, task=task, message=message, timing=tracker.timing(), **extra)


def _hidden_note(task_id: str, hidden: float, visible_by: float | None, now: float, owned: bool) -> Note:
    left = (
        ""
        if visible_by is None
        else f"; waiting up to {max(0.0, visible_by - now):.0f} s more (not_exist_grace)"
    )
    whose = "created by this task " if owned else ""
    return Note(
        "warning",
        f"Runway task {task_id} {whose}is not visible on the gateway yet (task_not_exist"
        + (f" for {_secs(hidden)} s" if hidden else "")
        + f"){left}",
    )


def _secs(seconds: float) -> str:
    return f"{seconds:.0f}" if seconds >= 10 else f"{seconds:.1f}"


def _not_visible_message(task_id: str, hidden: float, owned: bool) -> str:
    if owned:
        return (
            f"Runway task {task_id} was created by this task, but the gateway still answers task_not_exist "
            f"after {_secs(hidden)} s of waiting (not_exist_grace). It was NOT cancelled and may still run and be billed; "
            "its record is kept, so a retry re-attaches to it instead of creating another. If the gateway is "
            "often this slow, raise not_exist_grace."
        )
    return (
        f"Runway task {task_id} is still unknown to the gateway (task_not_exist) after {_secs(hidden)} s "
        "(not_exist_grace): check the task id, or raise not_exist_grace if it was created only just now."
    )


def _note(line: str) -> Note:
    if line.startswith("WARNING: "):
        return Note("warning", line[len("WARNING: ") :])
    return Note("info", line)
