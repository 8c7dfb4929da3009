"""RunwayTaskTrigger: wait for a Runway task in the triggerer, holding no worker slot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_runway import models, polling
from airflow_provider_runway.exceptions import RunwayError


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
    :param submitted_at: epoch seconds of the create (enables the gateway's ``task_not_exist`` grace).
    :param not_exist_grace: seconds after the create during which ``task_not_exist`` means "not yet".
    :param max_poll_failures: consecutive transient poll failures tolerated before giving up.
    :param cancel_on_kill: cancel the remote task when a user marks the Airflow task failed/success or
        clears it while deferred (Airflow 3.3+ calls :meth:`on_kill`).
    :param cancel_on_timeout: cancel the remote task when the deadline passes.
    """

    def __init__(
        self,
        *,
        runway_task_id: str,
        runway_conn_id: str = models.DEFAULT_CONN_ID,
        deadline: float,
        poll_interval: float = models.DEFAULT_POLL_INTERVAL,
        max_poll_interval: float = polling.DEFAULT_MAX_POLL_INTERVAL,
        polling_mode: str = "adaptive",
        submitted_at: float | None = None,
        not_exist_grace: float = models.DEFAULT_NOT_EXIST_GRACE,
        max_poll_failures: int = polling.DEFAULT_MAX_POLL_FAILURES,
        cancel_on_kill: bool = True,
        cancel_on_timeout: bool = True,
    ) -> None:
        super().__init__()
        self.runway_task_id = runway_task_id
        self.runway_conn_id = runway_conn_id
        self.deadline = float(deadline)
        self.poll_interval = float(poll_interval)
        self.max_poll_interval = float(max_poll_interval)
        self.polling_mode = polling_mode
        self.submitted_at = submitted_at
        self.not_exist_grace = float(not_exist_grace)
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
                "submitted_at": self.submitted_at,
                "not_exist_grace": self.not_exist_grace,
                "max_poll_failures": self.max_poll_failures,
                "cancel_on_kill": self.cancel_on_kill,
                "cancel_on_timeout": self.cancel_on_timeout,
            },
        )

    def _hook(self) -> Any:
        from airflow_provider_runway.hooks.runway import RunwayHook

        return RunwayHook(self.runway_conn_id)

    def _plan(self) -> polling.PollPlan:
        return polling.PollPlan(
            min_interval=self.poll_interval,
            max_interval=max(self.max_poll_interval, self.poll_interval),
            mode=self.polling_mode,  # type: ignore[arg-type]
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            hook = self._hook()
            # No eager connection lookup: the first poll makes it, spread like the polls themselves.
            result = await hook.await_task(
                self.runway_task_id,
                deadline=self.deadline,
                plan=self._plan(),
                submitted_at=self.submitted_at,
                not_exist_grace=self.not_exist_grace,
                max_poll_failures=self.max_poll_failures,
                cancel_on_timeout=self.cancel_on_timeout,
                # The class's logger, shared by every instance: the same name, and the triggerer routes each
                # line to its task's log by the trigger id bound in the task's context, not by logger object.
                # A logger per instance is ~8 objects more per sleeping trigger for the collector to walk.
                log=type(self).logger(),
                first_poll_spread=self.poll_interval,
            )
        except (RunwayError, ValueError) as err:
            result = polling.event(
                "error",
                self.runway_task_id,
                message=f"{type(err).__name__}: {err}",
                error_type=type(err).__name__,
            )
        yield TriggerEvent(polling.withhold_output_urls(result))

    async def on_kill(self) -> None:
        """The user marked the task failed/success or cleared it while deferred: cancel, best effort.

        The triggerer may call this spuriously, and DELETE on a finished task purges its outputs, so a
        fresh GET must show the task unfinished first. Never raises.
        """
        if not self.cancel_on_kill:
            return
        try:
            hook = self._hook()
            task = await hook.aget_task(
                self.runway_task_id, submitted_at=self.submitted_at, not_exist_grace=self.not_exist_grace
            )
            if not models.may_cancel(task):
                self.log.info(
                    "Not cancelling Runway task %s: it is already %s", self.runway_task_id, task.status
                )
                return
            result = await hook.acancel_task(self.runway_task_id)
            self.log.info("Runway task %s on kill: %s", self.runway_task_id, result)
        except Exception as err:  # best effort: on_kill must not fail the triggerer
            self.log.warning("Could not cancel Runway task %s on kill: %s", self.runway_task_id, err)

    async def cleanup(self) -> None:
        """Local resources only: the pooled client is shared by the loop; remote work is never cancelled here
        (cleanup also runs when a triggerer restarts, and the task must keep running then)."""
