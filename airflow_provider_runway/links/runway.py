"""The "Runway task" button on a task in the Airflow UI, for the operators and the sensor alike.

When a task instance ends, Airflow's task runner calls :meth:`RunwayTaskLink.get_link` on the operator
that ran, in the same process, and stores the answer under the link's own XCom key (what the UI shows).
The link answers from what that operator knows in memory: the URL it pushed, or, when it failed before
any Runway task existed, nothing. Only a process that did not run ``execute`` (a task resumed after a
deferral: its ``execute`` pushed the URL before deferring) reads the URL back from XCom. Asking for an
XCom that was never pushed would end every early failure's log with an ERROR from Airflow's Task SDK
("XCom not found", apache/airflow#73175) after the error that matters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk.types import TaskInstanceKey

#: XCom key of the link's target (the task's page, from the connection's ``task_link_template``).
XCOM_TASK_URL = "runway_task_url"
#: operator attribute: the link as this process knows it ("": no Runway task yet; absent: not known here)
KNOWN_LINK_ATTR = "_runway_task_link"


class RunwayTaskLink(BaseOperatorLink):
    """The "Runway task" button on the task in the Airflow UI; set as soon as the task is known."""

    name = "Runway task"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        known = getattr(operator, KNOWN_LINK_ATTR, None)
        if isinstance(known, str):
            return known
        from airflow.sdk.bases.xcom import BaseXCom

        value = BaseXCom.get_value(ti_key=ti_key, key=XCOM_TASK_URL)  # type: ignore[arg-type]
        return value if isinstance(value, str) else ""


def expect_task_link(operator: Any) -> None:
    """Note, first thing in ``execute``, that this process knows of no Runway task yet: until
    :func:`push_task_link`, the link is empty and reads no XCom."""
    setattr(operator, KNOWN_LINK_ATTR, "")


def push_task_link(ti: Any, link: str, operator: Any = None) -> None:
    """Set the button: :meth:`RunwayTaskLink.get_link` answers ``link`` for ``operator`` (by default the
    task instance's own task) in this process, and reads ``runway_task_url`` in a resumed one. The link's
    own XCom key carries it too, so the button works while the task still waits."""
    ti.xcom_push(key=XCOM_TASK_URL, value=link)
    ti.xcom_push(key=RunwayTaskLink().xcom_key, value=link)
    target = operator if operator is not None else getattr(ti, "task", None)
    if target is not None:
        setattr(target, KNOWN_LINK_ATTR, link)
