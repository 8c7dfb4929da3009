"""What ``on_kill`` does while a task waits, synchronously (the operator, the sensor) or in the trigger: cancel
the remote task only if a person ended the task instance (:func:`~airflow_provider_runway.core.kill.kill_decision`)
and a fresh GET shows it unfinished (:func:`~airflow_provider_runway.core.kill.may_cancel`). Logs the
decision; never raises.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from airflow_provider_runway import durable
from airflow_provider_runway.core.kill import kill_decision, may_cancel
from airflow_provider_runway.exceptions import RunwayError

if TYPE_CHECKING:
    from airflow_provider_runway.core.task import RunwayTask
    from airflow_provider_runway.hooks.transport import TaskApi


def _decide_kill(task_id: str, state: durable.TIState, reattachable: bool, log: Any) -> bool:
    decision = kill_decision(state.state, known=state.known, durable=reattachable)
    detail = f" ({state.detail})" if state.detail else ""
    if decision.cancel:
        log.info("Runway task %s on kill: %s; cancelling it if unfinished", task_id, decision.reason)
    else:
        log.info("Not cancelling Runway task %s on kill: %s%s", task_id, decision.reason, detail)
    return decision.cancel


def _log_kill(task_id: str, task: RunwayTask, result: str, log: Any) -> None:
    if result == "finished":
        log.info("Not cancelling Runway task %s on kill: it is already %s", task_id, task.status)
    else:
        log.info("Runway task %s on kill (it was %s): %s", task_id, task.status, result)


def cancel_on_kill(
    hook: TaskApi, task_id: str, ti: durable.TIKey | None, *, reattachable: bool, log: Any
) -> str:
    """What ``on_kill`` does while a task waits: cancel the remote task only if a person ended the task
    instance (:func:`~airflow_provider_runway.core.kill.kill_decision`) and a fresh GET shows it unfinished
    (:func:`~airflow_provider_runway.core.kill.may_cancel`). Logs the decision; never raises.

    :param reattachable: a next try re-attaches to the same remote task (durable execution).
    :return: ``"kept"``, ``"finished"``, ``"failed"`` or what :meth:`RunwayHook.cancel_task` returned.
    """
    if not _decide_kill(task_id, durable.read_ti_state(ti), reattachable, log):
        return "kept"
    try:
        task = hook.get_task(task_id)
        result = hook.cancel_task(task_id) if may_cancel(task) else "finished"
    except RunwayError as err:
        log.warning("Could not cancel Runway task %s on kill: %s", task_id, err)
        return "failed"
    _log_kill(task_id, task, result, log)
    return result


async def acancel_on_kill(
    hook: TaskApi, task_id: str, ti: durable.TIKey | None, *, reattachable: bool, log: Any
) -> str:
    """The async twin of :func:`cancel_on_kill`, for the trigger."""
    # The Task SDK's state lookup is synchronous; from a worker thread it is bridged back into this loop.
    state = await asyncio.to_thread(durable.read_ti_state, ti)
    if not _decide_kill(task_id, state, reattachable, log):
        return "kept"
    try:
        task = await hook.aget_task(task_id)
        result = await hook.acancel_task(task_id) if may_cancel(task) else "finished"
    except RunwayError as err:
        log.warning("Could not cancel Runway task %s on kill: %s", task_id, err)
        return "failed"
    _log_kill(task_id, task, result, log)
    return result
