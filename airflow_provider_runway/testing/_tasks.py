"""The task store: every task, its timeline, and its status at any instant.

A task's whole timeline is fixed when it is created (``pending_end``, ``run_start``, ``run_end``): its state at
any instant is computed from timestamps when somebody asks, so ten thousand tasks cost no timers. The
concurrency limit is a FIFO of ``concurrency`` slots: a task that leaves PENDING while every slot is busy is
THROTTLED until the earliest slot frees. (Cancelling a task does not pull later tasks forward.)

Nothing here locks or reads a clock: :class:`~airflow_provider_runway.testing._state.SimState` does both and
passes ``now`` in.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Any

from airflow_provider_runway.testing._config import SimConfig
from airflow_provider_runway.testing._endpoints import output_ext
from airflow_provider_runway.testing._errors import SimError

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
ACTIVE = frozenset({"PENDING", "THROTTLED", "RUNNING"})
#: Active statuses before the run starts (the gateway's envelope calls them queued).
QUEUED = frozenset({"PENDING", "THROTTLED"})
#: Outcomes a control call may force: a terminal status, or ``THROTTLED`` for a task stuck forever.
FORCEABLE = ("SUCCEEDED", "FAILED", "CANCELLED", "THROTTLED")
DEFAULT_FAILURE_CODE = "INTERNAL"
DEFAULT_FAILURE = "An unexpected error occurred."


@dataclass
class Task:
    """A task and its precomputed timeline (seconds since the epoch)."""

    id: str
    endpoint: str
    model: str
    body: dict[str, Any]
    created: float
    pending_end: float
    run_start: float
    run_end: float
    estimated_credits: float
    outcome: str = "SUCCEEDED"
    failure_code: str | None = None
    failure: str | None = None
    forced_at: float | None = None
    cancelled_at: float | None = None
    deleted: bool = False
    output_count: int = 1
    gets: int = 0
    last_seen: str | None = None

    @property
    def output_ext(self) -> str:
        """File extension of this task's outputs."""
        return output_ext(self.endpoint)


@dataclass
class TaskShape:
    """How a new task will behave: timing overrides and its outcome (from faults and request headers)."""

    timing: dict[str, Any]
    outcome: str = "SUCCEEDED"
    failure_code: str | None = None
    failure: str | None = None
    stuck: bool = False


class TaskStore:
    """Tasks by id, with the concurrency slots that schedule them.

    :param config: the live knobs (read at every call, so ``configure`` applies at once).
    """

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.tasks: dict[str, Task] = {}
        self.slots: list[float] = []

    # ------------------------------------------------------------------------------------------ creation
    def durations(self, model: str, overrides: dict[str, Any]) -> tuple[float, float]:
        """``(pending, running)`` seconds: request overrides, then the model's, then the defaults."""
        per_model = self.config.model_durations.get(model, {})
        pending = overrides.get(
            "pending_seconds", per_model.get("pending_seconds", self.config.pending_seconds)
        )
        running = overrides.get(
            "running_seconds", per_model.get("running_seconds", self.config.running_seconds)
        )
        return max(0.0, float(pending)), max(0.0, float(running))

    def add(
        self,
        task_id: str,
        endpoint: str,
        model: str,
        body: dict[str, Any],
        *,
        now: float,
        credits: float,
        shape: TaskShape,
    ) -> Task:
        """Schedule a new task (taking a concurrency slot unless it is stuck) and store it."""
        pending, running = self.durations(model, shape.timing)
        pending_end = now + pending
        if shape.stuck:
            run_start = run_end = math.inf
        else:
            run_start = pending_end
            if self.config.concurrency > 0:
                if len(self.slots) >= self.config.concurrency:
                    run_start = max(run_start, heapq.heappop(self.slots))
                heapq.heappush(self.slots, run_start + running)
            run_end = run_start + running
        count = body.get("outputCount") if endpoint == "text_to_image" else 1
        task = Task(
            id=task_id,
            endpoint=endpoint,
            model=model,
            body=body,
            created=now,
            pending_end=pending_end,
            run_start=run_start,
            run_end=run_end,
            estimated_credits=credits,
            outcome=shape.outcome,
            failure_code=shape.failure_code,
            failure=shape.failure,
            output_count=count if isinstance(count, int) and 1 <= count <= 10 else 1,
        )
        self.tasks[task.id] = task
        return task

    # ------------------------------------------------------------------------------------------ status
    def _on_grid(self, task: Task, moment: float, *, up: bool) -> float:
        """``moment`` on the ``update_interval`` grid that starts at the task's creation (rounded down for
        what a client sees, up for when it will first see it)."""
        step = self.config.update_interval
        if step <= 0:
            return moment
        rounding = math.ceil if up else math.floor
        return task.created + rounding((moment - task.created) / step) * step

    def status_of(self, task: Task, now: float) -> tuple[str, float]:
        """``(status, progress)`` of a task at ``now``."""
        if task.cancelled_at is not None and now >= task.cancelled_at:
            return "CANCELLED", 0.0
        if task.forced_at is not None and now >= task.forced_at:
            return task.outcome, 1.0
        t = self._on_grid(task, now, up=False)
        if t < task.pending_end:
            return "PENDING", 0.0
        if t < task.run_start:
            return "THROTTLED", 0.0
        if t < task.run_end:
            span = task.run_end - task.run_start
            return "RUNNING", round(min(0.99, max(0.0, (t - task.run_start) / span)), 4)
        if task.outcome == "THROTTLED":
            return "THROTTLED", 0.0
        return task.outcome, 1.0

    def terminal_at(self, task: Task) -> float:
        """The first moment at which :meth:`status_of` calls ``task`` terminal (``inf``: not foreseeable).

        The earliest of its cancel, an immediate forced outcome, and the natural end of its run (on the
        ``update_interval`` grid, rounded up). A stuck task never ends.
        """
        ends = []
        if task.cancelled_at is not None:
            ends.append(task.cancelled_at)
        if task.outcome in TERMINAL:
            if task.forced_at is not None:
                ends.append(task.forced_at)
            if math.isfinite(task.run_end):
                ends.append(self._on_grid(task, task.run_end, up=True))
        return min(ends, default=math.inf)

    # ------------------------------------------------------------------------------------------ clients
    def lookup(self, task_id: str) -> Task | None:
        """The task with this id unless it was deleted (or cancelled while cancelled tasks answer 404)."""
        task = self.tasks.get(task_id)
        if task is None or task.deleted:
            return None
        if task.cancelled_at is not None and self.config.cancelled_get == "404":
            return None
        return task

    def observe(self, task_id: str, now: float) -> tuple[Task, str, float] | None:
        """A client's GET: the task, its status and progress, counted; ``None`` when unknown or deleted."""
        task = self.lookup(task_id)
        if task is None:
            return None
        status, progress = self.status_of(task, now)
        task.gets += 1
        task.last_seen = status
        return task, status, progress

    def delete(self, task_id: str, now: float) -> tuple[Task, str, str]:
        """A client's DELETE: cancel an active task or delete a finished one.

        Returns ``(task, "cancel" | "delete", status before)``; raises :class:`SimError` (404).
        """
        task = self.tasks.get(task_id)
        if task is None or task.deleted or task.cancelled_at is not None:
            raise SimError(404, "Task not found.", code="not_found")
        status, _ = self.status_of(task, now)
        kind = "cancel" if status in ACTIVE else "delete"
        if kind == "cancel":
            task.cancelled_at = now
        else:
            task.deleted = True
        return task, kind, status

    # ------------------------------------------------------------------------------------------ control
    def force(
        self,
        task_id: str,
        status: str,
        *,
        now: float,
        failure_code: str | None = None,
        failure: str | None = None,
        immediate: bool = True,
    ) -> Task:
        """Decide how a task ends (see :meth:`SimState.force_outcome`); raises :class:`KeyError`."""
        if status not in FORCEABLE:
            raise ValueError("status must be SUCCEEDED, FAILED, CANCELLED or THROTTLED")
        task = self.tasks.get(task_id)
        if task is None:
            raise KeyError(task_id)
        task.outcome = status
        if status == "FAILED":
            task.failure_code = failure_code if failure_code is not None else DEFAULT_FAILURE_CODE
            task.failure = failure or DEFAULT_FAILURE
        if status == "THROTTLED":
            task.pending_end = min(task.pending_end, now)
            task.run_start = task.run_end = math.inf
            task.forced_at = None
        elif immediate:
            task.forced_at = now
        return task

    def describe(self, task: Task, now: float) -> dict[str, Any]:
        """Internal view of a task for ``GET /_sim/tasks``."""
        status, progress = self.status_of(task, now)
        return {
            "id": task.id,
            "endpoint": task.endpoint,
            "model": task.model,
            "status": "DELETED" if task.deleted else status,
            "progress": progress,
            "outcome": task.outcome,
            "failure_code": task.failure_code,
            "gets": task.gets,
            "last_seen": task.last_seen,
            "cancelled": task.cancelled_at is not None,
            "deleted": task.deleted,
            "created": task.created,
        }
