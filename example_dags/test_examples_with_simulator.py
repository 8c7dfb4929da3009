"""Testing DAGs like these without credits: pytest and the Runway simulator that ships with the provider.

Installing the provider registers a pytest plugin with two fixtures: ``runway_simulator`` (the CometAPI
gateway's flavor) and ``runway_simulator_direct`` (Runway direct's). Each is a real HTTP server on loopback,
reset for every test, with fault injection and accounting (docs/simulator.md). These tests run tasks of
the example DAGs against it, as a DAG author would test their own; the project's suite runs them
(tests/test_docs_snippets.py). The file holds no DAG, so Airflow's DAG processor finds nothing in it.
"""

from __future__ import annotations

# [START simulator_pytest]
from pathlib import Path
from typing import Any

from airflow_provider_runway.operators.runway import RunwayImageToVideoOperator

INPUTS = Path(__file__).resolve().parent / "inputs"


class TaskInstanceStandIn:
    """The part of a task instance an operator uses outside Airflow: XCom, kept in a dict."""

    task_id = "generate"
    map_index = -1

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value

    def xcom_pull(self, task_ids: Any = None, key: str = "return_value", map_indexes: Any = None) -> Any:
        return self.xcom.get(key)


def test_a_generation_survives_a_rate_limit(runway_simulator, monkeypatch, tmp_path):
    runway_simulator.set_airflow_conn(monkeypatch)  # sets AIRFLOW_CONN_RUNWAY_DEFAULT
    runway_simulator.control.configure(running_seconds=1)
    runway_simulator.control.add_fault("rate_limit", path="tasks_get", times=2, retry_after=1)

    task = RunwayImageToVideoOperator(
        task_id="generate",
        prompt_image=str(INPUTS / "ocean_waves.png"),
        prompt_text="Waves roll towards the camera",
        ratio="1280:720",
        deferrable=False,
        poll_interval=0.2,  # below 5 s only against loopback: the simulator
        output_path=str(tmp_path),
    )
    manifest = task.execute(context={"ti": TaskInstanceStandIn()})

    accounting = runway_simulator.control.accounting()
    assert len(accounting["creates"]) == 1  # one generation, one bill
    assert accounting["orphans"] == []  # nothing left running
    assert Path(manifest["outputs"][0]["path"]).read_bytes()[4:8] == b"ftyp"  # a real MP4


# [END simulator_pytest]


def load_example(name: str) -> Any:
    """An example DAG file, loaded by path as Airflow's DAG processor loads it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"example_{name}", INPUTS.parent / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_model_router_example_on_runway_direct(runway_simulator_direct, monkeypatch, tmp_path):
    """example_dags/runway_model_router.py's task, rendered as Airflow renders it, against Runway direct."""
    runway_simulator_direct.set_airflow_conn(monkeypatch)
    dag = load_example("runway_model_router").runway_model_router()
    task = dag.get_task("routed")
    task.render_template_fields({"params": {"prompt": "A paper boat"}, "ds": "2026-01-01"})
    task.deferrable, task.poll_interval, task.output_path = False, 0.2, str(tmp_path)

    manifest = task.execute(context={"ti": TaskInstanceStandIn()})

    (create,) = runway_simulator_direct.control.accounting()["creates"]
    assert create["endpoint"] == "generate/video"
    assert create["body"]["input"]["promptText"] == "A paper boat"
    assert manifest["outputs"][0]["path"].endswith(".mp4")
