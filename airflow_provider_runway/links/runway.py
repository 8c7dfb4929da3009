"""The "Runway task" button on a task in the Airflow UI, for the operators and the sensor alike."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink

if TYPE_CHECKING:
    from airflow.sdk.types import TaskInstanceKey

#: XCom key of the link's target (the task's page, from the connection's ``task_link_template``).
XCOM_TASK_URL = "runway_task_url"


class RunwayTaskLink(BaseOperatorLink):
    """The "Runway task" button on the task in the Airflow UI; set as soon as the task is known."""

    name = "Runway task"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.bases.xcom import BaseXCom

        value = BaseXCom.get_value(ti_key=ti_key, key=XCOM_TASK_URL)  # type: ignore[arg-type]
        return value if isinstance(value, str) else ""


def push_task_link(ti: Any, link: str) -> None:
    """Set the button: :meth:`RunwayTaskLink.get_link` reads ``runway_task_url``, and the link's own XCom
    key must carry it too, or the framework overwrites the button with an empty link."""
    ti.xcom_push(key=XCOM_TASK_URL, value=link)
    ti.xcom_push(key=RunwayTaskLink().xcom_key, value=link)
