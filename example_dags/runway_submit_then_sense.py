"""Example 3: submit without waiting, wait elsewhere with the sensor, then download.

Useful when generation and storage belong to different steps (or teams): the submit task returns at
once, the deferrable sensor waits in the triggerer holding no worker slot, and the download operator
fetches fresh signed URLs when it runs, so it works however long after the generation it happens.
"""

from __future__ import annotations

import os
from pathlib import Path

import pendulum
from airflow.sdk import dag

from airflow_provider_runway.operators.runway import RunwayDownloadOperator, RunwayImageToVideoOperator
from airflow_provider_runway.sensors.runway import RunwayTaskSensor

INPUTS = Path(os.environ.get("RUNWAY_EXAMPLE_INPUTS", str(Path(__file__).parent / "inputs")))
OUTPUT = os.environ.get("RUNWAY_EXAMPLE_OUTPUT", "/tmp/runway_example_output").rstrip("/")
# [START runway_task_id_template]
RUNWAY_TASK_ID = "{{ ti.xcom_pull(task_ids='submit', key='runway_task_id') }}"
# [END runway_task_id_template]


@dag(
    dag_id="runway_submit_then_sense",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["runway", "example"],
    doc_md=__doc__,
)
def runway_submit_then_sense():
    # [START submit_then_sense]
    submit = RunwayImageToVideoOperator(
        task_id="submit",
        prompt_image=str(INPUTS / "ocean_waves.png"),
        prompt_text="Waves crash against the rocks in slow motion",
        model="gen4_turbo",
        ratio="1280:720",
        duration=5,
        wait_for_completion=False,
    )
    wait = RunwayTaskSensor(task_id="wait", runway_task_id=RUNWAY_TASK_ID, deferrable=True, timeout=3 * 3600)
    download = RunwayDownloadOperator(
        task_id="download", runway_task_id=RUNWAY_TASK_ID, output_path=OUTPUT + "/sensed/{{ ds }}/"
    )
    submit >> wait >> download
    # [END submit_then_sense]


runway_submit_then_sense()
