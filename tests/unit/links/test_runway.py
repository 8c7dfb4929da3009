"""The "Runway task" button: one link class for the operators and the sensor, set by one push."""

from __future__ import annotations

import pytest

from airflow_provider_runway.links import runway as links
from airflow_provider_runway.operators import runway as operators
from airflow_provider_runway.sensors.runway import RunwayTaskSensor
from tests.fakes import FakeTI


def test_push_task_link_sets_the_url_and_the_links_own_key():
    ti = FakeTI()
    links.push_task_link(ti, "https://dash.example.com/tasks/t1")
    assert ti.pushed(links.XCOM_TASK_URL) == ["https://dash.example.com/tasks/t1"]
    assert ti.pushed(links.RunwayTaskLink().xcom_key) == ["https://dash.example.com/tasks/t1"]


class Operator:
    """An operator object as the task runner hands it to ``get_link``: only its attributes matter."""


class TaskInstance(FakeTI):
    def __init__(self, task: object) -> None:
        super().__init__()
        self.task = task


@pytest.fixture
def xcom_reads(monkeypatch):
    """The XCom keys ``get_link`` asks Airflow for (each miss is an ERROR line in Airflow 3's task log)."""
    from airflow.sdk.bases.xcom import BaseXCom

    stored: dict[str, object] = {}
    asked: list[str] = []

    def get_value(*, ti_key, key):
        asked.append(key)
        return stored.get(key)

    monkeypatch.setattr(BaseXCom, "get_value", staticmethod(get_value))
    return stored, asked


def test_a_resumed_process_reads_the_pushed_url_and_is_empty_without_one(xcom_reads):
    stored, asked = xcom_reads
    link = links.RunwayTaskLink()
    assert link.get_link(Operator(), ti_key=None) == ""  # type: ignore[arg-type]
    stored[links.XCOM_TASK_URL] = "https://dash.example.com/tasks/t1"
    assert link.get_link(Operator(), ti_key=None) == stored[links.XCOM_TASK_URL]  # type: ignore[arg-type]
    assert asked == [links.XCOM_TASK_URL] * 2


def test_before_any_task_the_link_is_empty_and_reads_no_xcom(xcom_reads):
    stored, asked = xcom_reads
    stored[links.XCOM_TASK_URL] = "https://dash.example.com/tasks/stale"  # what a read would wrongly find
    operator = Operator()
    links.expect_task_link(operator)
    assert links.RunwayTaskLink().get_link(operator, ti_key=None) == ""  # type: ignore[arg-type]
    assert asked == []


def test_after_the_push_the_link_answers_from_memory(xcom_reads):
    _, asked = xcom_reads
    operator = Operator()
    links.expect_task_link(operator)
    links.push_task_link(FakeTI(), "https://dash.example.com/tasks/t2", operator)
    got = links.RunwayTaskLink().get_link(operator, ti_key=None)  # type: ignore[arg-type]
    assert got == "https://dash.example.com/tasks/t2"
    # without an operator named, the push marks the task instance's own task (the sensor's call)
    task = Operator()
    links.push_task_link(TaskInstance(task), "https://dash.example.com/tasks/t3")
    got = links.RunwayTaskLink().get_link(task, ti_key=None)  # type: ignore[arg-type]
    assert got == "https://dash.example.com/tasks/t3"
    assert asked == []


def test_the_operators_and_the_sensor_share_the_one_link_class():
    assert operators.RunwayTaskLink is links.RunwayTaskLink  # the old import path still works
    assert operators.XCOM_TASK_URL == links.XCOM_TASK_URL
    for cls in (operators.RunwayBaseOperator, operators.RunwayDownloadOperator, RunwayTaskSensor):
        assert [type(link) for link in cls.operator_extra_links] == [links.RunwayTaskLink]
