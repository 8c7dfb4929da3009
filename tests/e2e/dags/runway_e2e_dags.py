"""DAGs of the end-to-end test (``make e2e``); they run in a real Airflow against the Runway simulators.

* ``runway_e2e_mapped``: 50 mapped image-to-video generations on the gateway flavor, all deferrable.
* ``runway_e2e_cancel``: one generation on the runway flavor that the test marks failed while deferred.
* ``runway_e2e_restart``: a few generations on the runway flavor, waiting while the triggerer is killed.

Every waiting task has ``retries=2``: Airflow 3.3 can fail a task when many deferred tasks resume at the
same moment (apache/airflow#71580). A retry re-attaches to the same remote task (durable execution), so
the tests can still demand exactly one create per generation; they report every retry they see.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag

from airflow_provider_runway.operators.runway import RunwayImageToVideoOperator

MAPPED = 50
RESTARTED = 6
IMAGE = "https://example.com/runway-e2e/frame.png"
COMMON = {
    "model": "gen4_turbo",
    "ratio": "1280:720",
    "duration": 5,
    "deferrable": True,
    "poll_interval": 1.0,
    "max_poll_interval": 3.0,
    "retries": 2,
    "retry_delay": timedelta(seconds=3),
}
DAG_ARGS = {
    "schedule": None,
    "start_date": pendulum.datetime(2026, 1, 1, tz="UTC"),
    "catchup": False,
    "tags": ["runway", "e2e"],
    # Deferred tasks hold no worker slot; let all 50 be in flight at once.
    "max_active_tasks": 64,
}


@dag(dag_id="runway_e2e_mapped", **DAG_ARGS)
def runway_e2e_mapped():
    RunwayImageToVideoOperator.partial(
        task_id="generate", runway_conn_id="runway_gateway", prompt_image=IMAGE, **COMMON
    ).expand(prompt_text=[f"e2e-mapped clip {i}" for i in range(MAPPED)])


@dag(dag_id="runway_e2e_cancel", **DAG_ARGS)
def runway_e2e_cancel():
    RunwayImageToVideoOperator(
        task_id="generate",
        runway_conn_id="runway_direct",
        prompt_image=IMAGE,
        prompt_text="e2e-cancel a clip nobody will wait for",
        **COMMON,
    )


@dag(dag_id="runway_e2e_restart", **DAG_ARGS)
def runway_e2e_restart():
    RunwayImageToVideoOperator.partial(
        task_id="generate", runway_conn_id="runway_direct", prompt_image=IMAGE, **COMMON
    ).expand(prompt_text=[f"e2e-restart clip {i}" for i in range(RESTARTED)])


runway_e2e_mapped()
runway_e2e_cancel()
runway_e2e_restart()
