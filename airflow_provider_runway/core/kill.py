"""What ``on_kill`` may do to the remote task, and what a failed DELETE means.

DELETE on a finished task purges its outputs, and a wrongly cancelled generation is billed twice: the
trigger's and the synchronous wait's ``on_kill`` both ask :func:`kill_decision`, then :func:`may_cancel`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from airflow_provider_runway.core.task import RunwayTask
from airflow_provider_runway.exceptions import RunwayAPIError


def may_cancel(last_seen: RunwayTask | None) -> bool:
    """Cancel only a task last seen unfinished: DELETE on a finished task purges its outputs."""
    return last_seen is not None and not last_seen.terminal


#: Airflow task-instance states a person (or the scheduler on their behalf) ends a try with: marked failed
#: or success, skipped, upstream failed, removed from the DAG. The remote generation has no one left to
#: collect it.
ENDED_TI_STATES = frozenset({"success", "failed", "skipped", "upstream_failed", "removed"})


@dataclass(frozen=True)
class KillDecision:
    cancel: bool
    reason: str


def kill_decision(ti_state: str | None, *, known: bool, durable: bool) -> KillDecision:
    """Whether ``on_kill`` (the trigger's or the synchronous wait's) may cancel the remote task.

    ``on_kill`` runs for a person's action, but also when a stalled triggerer drops triggers that were moved
    to another (apache/airflow#73454), on a worker's graceful shutdown and on ``execution_timeout``. Only
    the task instance's state tells them apart, and when it cannot be learnt nothing is cancelled: an
    unobserved generation that finishes is billed once, a wrongly cancelled one twice. (A fresh GET showing
    the task unfinished is still needed before the DELETE: see :func:`may_cancel`.)

    :param ti_state: the task instance's state in Airflow's database (``None``: no state, e.g. cleared).
    :param known: whether the state could be learnt at all.
    :param durable: whether a next try re-attaches to the same remote task (the durable record).
    """
    if not known:
        return KillDecision(
            False, "its Airflow task instance's state could not be read, so nothing is cancelled"
        )
    if ti_state in ENDED_TI_STATES:
        return KillDecision(True, f"its Airflow task instance was set to {ti_state}")
    if ti_state == "deferred":
        return KillDecision(
            False, "its Airflow task instance is still deferred: the trigger lives on in another triggerer"
        )
    if durable:
        return KillDecision(
            False,
            f"its Airflow task instance is {ti_state or 'cleared (no state)'}: the next try re-attaches to "
            "the same remote task",
        )
    return KillDecision(
        True,
        f"its Airflow task instance is {ti_state or 'cleared'} and durable=False: a next try creates anew",
    )


def cancel_result(error: RunwayAPIError) -> Literal["gone", "unsupported"]:
    """What a failed DELETE means: 404 = already cancelled/deleted; 405 or an HTML 404 = no cancel here."""
    if error.http_status == 405 or (error.http_status == 404 and error.body is None):
        return "unsupported"
    if error.http_status == 404 or getattr(error, "task_not_exist", False):
        return "gone"
    raise error
