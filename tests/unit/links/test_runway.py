"""The "Runway task" button: one link class for the operators and the sensor, set by one push."""

from __future__ import annotations

from airflow_provider_runway.links import runway as links
from airflow_provider_runway.operators import runway as operators
from airflow_provider_runway.sensors.runway import RunwayTaskSensor
from tests.fakes import FakeTI


def test_push_task_link_sets_the_url_and_the_links_own_key():
    ti = FakeTI()
    links.push_task_link(ti, "https://dash.example.com/tasks/t1")
    assert ti.pushed(links.XCOM_TASK_URL) == ["https://dash.example.com/tasks/t1"]
    assert ti.pushed(links.RunwayTaskLink().xcom_key) == ["https://dash.example.com/tasks/t1"]


def test_get_link_reads_the_pushed_url_and_is_empty_without_one(monkeypatch):
    from airflow.sdk.bases.xcom import BaseXCom

    stored: dict[str, object] = {}
    monkeypatch.setattr(BaseXCom, "get_value", staticmethod(lambda *, ti_key, key: stored.get(key)))
    link = links.RunwayTaskLink()
    assert link.get_link(None, ti_key=None) == ""  # type: ignore[arg-type]
    stored[links.XCOM_TASK_URL] = "https://dash.example.com/tasks/t1"
    assert link.get_link(None, ti_key=None) == "https://dash.example.com/tasks/t1"  # type: ignore[arg-type]


def test_the_operators_and_the_sensor_share_the_one_link_class():
    assert operators.RunwayTaskLink is links.RunwayTaskLink  # the old import path still works
    assert operators.XCOM_TASK_URL == links.XCOM_TASK_URL
    for cls in (operators.RunwayBaseOperator, operators.RunwayDownloadOperator, RunwayTaskSensor):
        assert [type(link) for link in cls.operator_extra_links] == [links.RunwayTaskLink]
