"""A gateway that keeps each new task invisible longer than a try waits: run by
tests/integration/test_dags_test_retries.py through ``airflow dags test``, whose own retries re-run the
failed tries (a real task runner, a real task state store on Airflow 3.3, a real Variable on 3.1/3.2).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_provider_runway.operators.runway import RunwayImageToVideoOperator

COMMON = {
    "prompt_image": "https://example.com/cat.jpg",
    "ratio": "1280:720",
    "duration": 5,
    "poll_interval": 0.2,
    "max_poll_interval": 0.5,
    "timeout": 120,
    # Each try waits this long for the hidden task, then fails (nothing cancelled) and is retried.
    "not_exist_grace": 2.0,
    "retries": 6,
    "retry_delay": timedelta(seconds=1),
}

with DAG(dag_id="runway_integration_hidden", schedule=None, start_date=datetime(2025, 1, 1), catchup=False):
    RunwayImageToVideoOperator(
        task_id="hidden_sync", prompt_text="hidden, waited for in sync", deferrable=False, **COMMON
    )
    RunwayImageToVideoOperator(
        task_id="hidden_deferred", prompt_text="hidden, waited for in the trigger", deferrable=True, **COMMON
    )
