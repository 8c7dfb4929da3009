"""RunwayTaskSensor: wait for a Runway task created elsewhere (e.g. ``wait_for_completion=False``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_runway._compat import AirflowSensorTimeout, AirflowSkipException, conf
from airflow_provider_runway.core import defaults
from airflow_provider_runway.exceptions import RunwayError, RunwayValidationError
from airflow_provider_runway.links.runway import RunwayTaskLink, expect_task_link, push_task_link

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_runway import durable
    from airflow_provider_runway.core.task import RunwayTask
    from airflow_provider_runway.hooks.runway import RunwayHook

# polling, the hook and the trigger are imported where used: DAG files import this module on every parse.


class RunwayTaskSensor(BaseSensorOperator):
    """Wait until a Runway task finishes; returns the same manifest as the generation operators.

    A FAILED task fails the sensor (moderation and invalid-asset failures without Airflow retries), a
    CANCELLED one fails naming the cancel. With ``deferrable=True`` it waits in the triggerer on
    :class:`~airflow_provider_runway.triggers.runway.RunwayTaskTrigger`; in ``poke`` mode it runs the same
    wait loop with the sync hook, so both keep the same promises (``cancel_on_timeout``,
    ``cancel_on_kill``, the poll schedule and failure budget). In ``reschedule`` mode each poke is a new
    process with nothing to cancel from, so the two cancel options are refused there.

    :param runway_task_id: the task to wait for (templated), e.g.
        ``"{{ ti.xcom_pull(task_ids='submit', key='runway_task_id') }}"``.
    :param runway_conn_id: the ``runway`` connection (templated).
    :param deferrable: wait in the triggerer. Default: ``[operators] default_deferrable``.
    :param poll_interval: the shortest gap between polls (also the poke interval); at least 5 s against a
        real service.
    :param max_poll_interval: the longest gap between polls.
    :param polling_mode: ``adaptive`` or ``fixed``.
    :param not_exist_grace: how long a task the gateway answers ``task_not_exist`` for is waited for.
    :param max_poll_failures: consecutive transient poll failures tolerated.
    :param cancel_on_timeout: cancel the remote task when the sensor's ``timeout`` passes (default False:
        the sensor did not create the task).
    :param cancel_on_kill: cancel the remote task when a person marks this sensor failed or success while
        it waits (default False).
    """

    template_fields: Sequence[str] = ("runway_task_id", "runway_conn_id")
    operator_extra_links = (RunwayTaskLink(),)
    ui_color = "#d9f0ff"

    def __init__(
        self,
        *,
        runway_task_id: str,
        runway_conn_id: str = defaults.DEFAULT_CONN_ID,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = defaults.DEFAULT_POLL_INTERVAL,
        max_poll_interval: float = defaults.DEFAULT_MAX_POLL_INTERVAL,
        polling_mode: str = "adaptive",
        not_exist_grace: float = defaults.DEFAULT_NOT_EXIST_GRACE,
        max_poll_failures: int = defaults.DEFAULT_MAX_POLL_FAILURES,
        cancel_on_timeout: bool = False,
        cancel_on_kill: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", poll_interval)
        super().__init__(**kwargs)
        self.runway_task_id = runway_task_id
        self.runway_conn_id = runway_conn_id
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.polling_mode = polling_mode
        self.not_exist_grace = not_exist_grace
        self.max_poll_failures = max_poll_failures
        self.cancel_on_timeout = cancel_on_timeout
        self.cancel_on_kill = cancel_on_kill
        self._waiting_on: str | None = None
        self._ti_key: durable.TIKey | None = None

    @cached_property
    def hook(self) -> RunwayHook:
        from airflow_provider_runway.hooks.runway import RunwayHook

        return RunwayHook(self.runway_conn_id)

    def _check_id(self) -> str:
        from airflow_provider_runway.core.urls import task_path

        task_path(self.runway_task_id)  # raises RunwayValidationError naming runway_task_id
        return self.runway_task_id

    def execute(self, context: Context) -> Any:
        from airflow_provider_runway import durable, polling
        from airflow_provider_runway.core import outcome
        from airflow_provider_runway.core.fields import positive_seconds
        from airflow_provider_runway.triggers.runway import wait

        started = time.time()
        expect_task_link(self)  # a bad id or setting fails before the push: no XCom read for the button
        task_id = self._check_id()
        settings = self.hook.settings
        grace = positive_seconds(self.not_exist_grace, "not_exist_grace")
        if self.reschedule:
            for name in ("cancel_on_timeout", "cancel_on_kill"):
                if getattr(self, name):
                    raise RunwayValidationError(
                        name,
                        "is not kept in mode='reschedule' (each poke is a new process, with no wait to "
                        "cancel from): use deferrable=True or mode='poke'",
                    )
        else:
            plan = polling.plan_for(
                self.poll_interval,
                self.max_poll_interval,
                self.polling_mode,
                on_loopback=settings.on_loopback,
            )
        push_task_link(context["ti"], settings.task_link(task_id), self)
        if self.reschedule:
            return super().execute(context)
        try:
            first: RunwayTask | None = self.hook.get_task(task_id)
        except RunwayError as err:
            if not polling.is_transient_poll_error(err):
                raise
            self.log.warning("Could not check Runway task %s before waiting: %s", task_id, err)
            first = None
        if first is not None:
            self.log.info("Runway task %s: %s", task_id, first.describe())
            if first.terminal:
                return self.execute_complete(
                    context, outcome.event(first.status.lower(), task_id, task=first)
                )
        deadline = started + float(self.timeout)
        visible_by = started + grace
        # Deferred to the trigger, or (poke mode) the operators' synchronous wait loop in this worker slot.
        self._waiting_on, self._ti_key = task_id, durable.TIKey.of(context["ti"])
        try:
            event = wait(
                self,
                task_id,
                deadline=deadline,
                plan=plan,
                first=first,
                visible_by=visible_by,
                owned=False,
                # A retry or a clear of the sensor waits for the same id again: no reason to cancel.
                durable=True,
            )
        finally:
            self._waiting_on = None
        return self.execute_complete(context, event)

    def poke(self, context: Context) -> PokeReturnValue | bool:
        """One look (``mode="reschedule"`` only: the other modes wait in one loop)."""
        from airflow_provider_runway import polling
        from airflow_provider_runway.core import outcome

        try:
            task = self.hook.get_task(self._check_id())
        except RunwayError as err:
            # The same budget as the trigger's: consecutive transient failures (in reschedule mode each
            # poke is a new process, so the count starts afresh; the sensor's timeout still bounds it).
            self._poke_failures = getattr(self, "_poke_failures", 0) + 1
            if not polling.within_failure_budget(err, self._poke_failures, self.max_poll_failures):
                raise
            self.log.warning(
                "Poke of Runway task %s failed (%d/%d): %s",
                self.runway_task_id,
                self._poke_failures,
                self.max_poll_failures,
                err,
            )
            return False
        self._poke_failures = 0
        self.log.info("Runway task %s: %s", task.id, task.describe())
        if not task.terminal:
            return False
        return PokeReturnValue(
            is_done=True, xcom_value=self._manifest(outcome.event(task.status.lower(), task.id, task=task))
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        event = self.hook.restore_outputs(event, max_poll_failures=self.max_poll_failures)
        if isinstance(event, dict) and event.get("status") == "timeout":
            # The sensor's own timeout: failed without retries, or skipped with soft_fail, as sensors are.
            message = str(event.get("message") or f"Runway task {event.get('runway_task_id')} timed out")
            if self.soft_fail:
                raise AirflowSkipException(f"{message} (soft_fail)")
            raise AirflowSensorTimeout(message)
        return self._manifest(event)

    def _manifest(self, event: Any) -> dict[str, Any]:
        from airflow_provider_runway.core.outcome import finish_event
        from airflow_provider_runway.core.urls import redact_url

        manifest = finish_event(event)
        for output in manifest["outputs"]:
            self.log.info("Runway output %d: %s", output["index"], redact_url(output["url"]))
        return manifest

    def on_kill(self) -> None:
        """Killed while waiting in poke mode: cancel only if ``cancel_on_kill``, a person ended this task
        instance, and the task is unfinished (the operators' rule: :meth:`RunwayHook.cancel_on_kill`)."""
        if self._waiting_on and self.cancel_on_kill:
            # A retry or a clear of the sensor waits for the same id again.
            self.hook.cancel_on_kill(self._waiting_on, self._ti_key, reattachable=True)
