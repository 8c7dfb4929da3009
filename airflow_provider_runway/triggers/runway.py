"""RunwayTaskTrigger: wait for a Runway task in the triggerer, holding no worker slot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_runway import durable, polling
from airflow_provider_runway.core import defaults
from airflow_provider_runway.core.defaults import DEFER_TIMEOUT_MARGIN as DEFER_TIMEOUT_MARGIN
from airflow_provider_runway.core.outcome import event, withhold_output_urls
from airflow_provider_runway.exceptions import RunwayError

if TYPE_CHECKING:
    from airflow_provider_runway.core.task import RunwayTask

#: The most on_kill spends deciding and cancelling, in seconds: below the triggerer's own on_kill timeout
#: (``[triggerer] on_kill_timeout``, 30 s), and it is never interrupted by the cancels the triggerer re-sends.
KILL_BUDGET = 20.0


class RunwayTaskTrigger(BaseTrigger):
    """Poll one Runway task until it ends or its deadline passes, then fire exactly one event.

    Every kwarg is plain JSON (never the API key: the connection is looked up, asynchronously, in the
    triggerer). All triggers of a triggerer share one pooled HTTP client per event loop. A restarted
    triggerer rebuilds the trigger from these kwargs and simply resumes polling the same task.

    :param runway_task_id: the remote task.
    :param runway_conn_id: the ``runway`` connection.
    :param deadline: absolute wall-clock deadline (epoch seconds); at it, one final poll, then a remote
        cancel if the task is still unfinished and ``cancel_on_timeout``.
    :param poll_interval: the shortest gap between polls.
    :param max_poll_interval: the longest gap between polls.
    :param polling_mode: ``adaptive`` or ``fixed``.
    :param visible_by: epoch seconds until which a task the gateway still hides (``task_not_exist``) is
        waited for; then the trigger fires ``not_visible`` (nothing is cancelled). ``None``: until the
        deadline.
    :param owned: the id came from the deferring task's own create (the operators), not from elsewhere
        (the sensor).
    :param durable: a next try of the task instance re-attaches to the same remote task, so a clear is no
        reason to cancel it (:func:`~airflow_provider_runway.core.kill.kill_decision`).
    :param max_poll_failures: consecutive transient poll failures tolerated before giving up.
    :param cancel_on_kill: cancel the remote task when a person ends the Airflow task instance while
        deferred: marked failed or success (Airflow 3.3+ calls :meth:`on_kill`; it also calls it when a
        stalled triggerer drops a trigger that moved to another, which cancels nothing).
    :param cancel_on_timeout: cancel the remote task when the deadline passes.
    :param submitted_at: (older triggers) the create's time; with ``not_exist_grace``, gives ``visible_by``.
    :param not_exist_grace: (older triggers) see ``submitted_at``.
    """

    def __init__(
        self,
        *,
        runway_task_id: str,
        runway_conn_id: str = defaults.DEFAULT_CONN_ID,
        deadline: float,
        poll_interval: float = defaults.DEFAULT_POLL_INTERVAL,
        max_poll_interval: float = polling.DEFAULT_MAX_POLL_INTERVAL,
        polling_mode: str = "adaptive",
        visible_by: float | None = None,
        owned: bool = True,
        durable: bool = True,
        max_poll_failures: int = polling.DEFAULT_MAX_POLL_FAILURES,
        cancel_on_kill: bool = True,
        cancel_on_timeout: bool = True,
        submitted_at: float | None = None,
        not_exist_grace: float | None = None,
    ) -> None:
        super().__init__()
        self.runway_task_id = runway_task_id
        self.runway_conn_id = runway_conn_id
        self.deadline = float(deadline)
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = float(max_poll_interval)
        self.polling_mode = polling_mode
        if visible_by is None and submitted_at is not None:  # serialized by a version before visible_by
            visible_by = float(submitted_at) + float(
                defaults.DEFAULT_NOT_EXIST_GRACE if not_exist_grace is None else not_exist_grace
            )
        self.visible_by = None if visible_by is None else float(visible_by)
        self.owned = bool(owned)
        self.durable = bool(durable)
        self.max_poll_failures = int(max_poll_failures)
        self.cancel_on_kill = bool(cancel_on_kill)
        self.cancel_on_timeout = bool(cancel_on_timeout)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "runway_task_id": self.runway_task_id,
                "runway_conn_id": self.runway_conn_id,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
                "max_poll_interval": self.max_poll_interval,
                "polling_mode": self.polling_mode,
                "visible_by": self.visible_by,
                "owned": self.owned,
                "durable": self.durable,
                "max_poll_failures": self.max_poll_failures,
                "cancel_on_kill": self.cancel_on_kill,
                "cancel_on_timeout": self.cancel_on_timeout,
            },
        )

    def _hook(self) -> Any:
        from airflow_provider_runway.hooks.runway import RunwayHook

        return RunwayHook(self.runway_conn_id)

    def _plan(self) -> polling.PollPlan:
        return polling.shared_plan(
            polling.PollPlan(
                min_interval=self.poll_interval,
                max_interval=max(self.max_poll_interval, self.poll_interval),
                mode=self.polling_mode,  # type: ignore[arg-type]
            )
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            hook = self._hook()
            # No eager connection lookup: the first poll makes it, spread like the polls themselves.
            result = await hook.await_task(
                self.runway_task_id,
                deadline=self.deadline,
                plan=self._plan(),
                visible_by=self.visible_by,
                owned=self.owned,
                max_poll_failures=self.max_poll_failures,
                cancel_on_timeout=self.cancel_on_timeout,
                # The class's logger, shared by every instance: the same name, and the triggerer routes each
                # line to its task's log by the trigger id bound in the task's context, not by logger object.
                # A logger per instance is ~8 objects more per sleeping trigger for the collector to walk.
                log=type(self).logger(),
                first_poll_spread=self.poll_interval,
            )
        except (RunwayError, ValueError) as err:
            result = event(
                "error",
                self.runway_task_id,
                message=f"{type(err).__name__}: {err}",
                error_type=type(err).__name__,
            )
        yield TriggerEvent(withhold_output_urls(result))

    async def on_kill(self) -> None:
        """Airflow cancelled this trigger "by user action": cancel the remote task, best effort, only if a
        person really ended the task instance and a fresh GET shows the task unfinished.

        Airflow 3.3 calls this for a mark-failed, mark-success or clear, but also when a stalled triggerer
        resumes and drops the triggers that were moved to another (apache/airflow#73454): then the task
        instance is still DEFERRED and nothing is cancelled. The state is asked of the triggerer's
        supervisor; when it cannot be learnt, nothing is cancelled either. DELETE on a finished task purges
        its outputs, hence the fresh GET. The triggerer re-sends its cancel about once a second and each
        one interrupts this coroutine, so the decision and the DELETE run shielded, within
        :data:`KILL_BUDGET`. Never raises.
        """
        if not self.cancel_on_kill:
            return
        work = asyncio.ensure_future(self._kill())
        while not work.done():
            try:
                await asyncio.shield(work)
            except asyncio.CancelledError:
                # Swallowed on purpose: the work must finish. Undo the count (Python 3.11+), so an enclosing
                # timeout still tells its own cancel from this one.
                uncancel = getattr(asyncio.current_task(), "uncancel", None)
                if uncancel is not None:
                    uncancel()

    async def _kill(self) -> None:
        log = type(self).logger()
        try:
            await asyncio.wait_for(
                self._hook().acancel_on_kill(
                    self.runway_task_id,
                    durable.TIKey.of(getattr(self, "task_instance", None)),
                    reattachable=self.durable,
                    log=log,
                ),
                KILL_BUDGET,
            )
        except Exception as err:  # best effort: on_kill must not fail the triggerer
            log.warning("Could not cancel Runway task %s on kill: %s", self.runway_task_id, err)

    async def cleanup(self) -> None:
        """Local resources only: the pooled client is shared by the loop; remote work is never cancelled here
        (cleanup also runs when a triggerer restarts, and the task must keep running then)."""


def deferral(
    *,
    runway_task_id: str,
    runway_conn_id: str,
    deadline: float,
    plan: polling.PollPlan,
    visible_by: float | None,
    owned: bool,
    durable: bool,
    max_poll_failures: int,
    cancel_on_kill: bool,
    cancel_on_timeout: bool,
) -> dict[str, Any]:
    """The arguments of ``defer()`` for waiting on one task, for the operators and the sensor alike: the
    trigger, ``execute_complete`` to resume in, and a framework timeout :data:`DEFER_TIMEOUT_MARGIN` after
    the trigger's own deadline."""
    trigger = RunwayTaskTrigger(
        runway_task_id=runway_task_id,
        runway_conn_id=runway_conn_id,
        deadline=deadline,
        poll_interval=plan.min_interval,
        max_poll_interval=plan.max_interval,
        polling_mode=plan.mode,
        visible_by=visible_by,
        owned=owned,
        durable=durable,
        max_poll_failures=max_poll_failures,
        cancel_on_kill=cancel_on_kill,
        cancel_on_timeout=cancel_on_timeout,
    )
    timeout = timedelta(seconds=max(0.0, deadline - time.time()) + DEFER_TIMEOUT_MARGIN)
    return {"trigger": trigger, "method_name": "execute_complete", "timeout": timeout}


class _Waiter(Protocol):
    """What :func:`wait` reads of the operator or sensor that waits (both have it)."""

    deferrable: bool
    runway_conn_id: str
    max_poll_failures: int
    cancel_on_kill: bool
    cancel_on_timeout: bool

    @property
    def hook(self) -> Any: ...

    def defer(
        self,
        *,
        trigger: BaseTrigger,
        method_name: str,
        kwargs: dict[str, Any] | None = ...,
        timeout: timedelta | int | float | None = ...,
    ) -> Any: ...


def wait(
    task: _Waiter,
    task_id: str,
    *,
    deadline: float,
    plan: polling.PollPlan,
    first: RunwayTask | None,
    visible_by: float | None,
    owned: bool,
    durable: bool,
) -> dict[str, Any]:
    """Wait for one Runway task the one way the operators and the sensor both do: defer to
    :class:`RunwayTaskTrigger` (:func:`deferral`; raises ``TaskDeferred``) when ``task.deferrable``, else
    run the same wait loop here with the sync hook, holding the worker slot.

    :return: the final event (synchronous waits only).
    """
    # What the wait is, the same whether the trigger or this worker runs it.
    same: dict[str, Any] = {
        "deadline": deadline,
        "plan": plan,
        "visible_by": visible_by,
        "owned": owned,
        "max_poll_failures": task.max_poll_failures,
        "cancel_on_timeout": task.cancel_on_timeout,
    }
    if task.deferrable:
        task.defer(
            **deferral(
                runway_task_id=task_id,
                runway_conn_id=task.runway_conn_id,
                durable=durable,
                cancel_on_kill=task.cancel_on_kill,
                **same,
            )
        )
    return task.hook.wait_for_task(task_id, first=first, **same)
