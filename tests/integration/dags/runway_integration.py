"""Both generation operators and the sensor against the simulator; run by tests/integration/test_dags_test.py.

The connection ``runway_default`` comes from ``AIRFLOW_CONN_RUNWAY_DEFAULT`` (the simulator on loopback, so
sub-second poll intervals are allowed).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_runway.operators.runway import RunwayImageToVideoOperator, RunwayVideoToVideoOperator
from airflow_provider_runway.sensors.runway import RunwayTaskSensor

IMAGE = "https://example.com/cat.jpg"

with DAG(dag_id="runway_integration", schedule=None, start_date=datetime(2025, 1, 1), catchup=False):
    generate = RunwayImageToVideoOperator(
        task_id="image_to_video_deferred",
        prompt_image=IMAGE,
        prompt_text="a cat walks across the frame",
        ratio="1280:720",
        duration=5,
        deferrable=True,
        poll_interval=0.2,
        timeout=120,
    )
    restyle = RunwayVideoToVideoOperator(
        task_id="video_to_video_sync",
        video_uri="https://example.com/cat.mp4",
        prompt_text="make it snow",
        deferrable=False,
        poll_interval=0.2,
        timeout=120,
    )
    submit = RunwayImageToVideoOperator(
        task_id="submit_only",
        prompt_image=IMAGE,
        prompt_text="a dog",
        ratio="1280:720",
        duration=5,
        wait_for_completion=False,
    )
    wait = RunwayTaskSensor(
        task_id="wait_for_submit",
        runway_task_id="{{ ti.xcom_pull(task_ids='submit_only', key='runway_task_id') }}",
        deferrable=True,
        poll_interval=0.2,
        timeout=120,
    )
    # The sensor runs right after the create, while the task is still unfinished, so it really defers;
    # the synchronous operator runs last.
    generate >> submit >> wait >> restyle
