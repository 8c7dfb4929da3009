"""Tries that fail before their create, and one that succeeds; run by
tests/integration/test_dags_test_early_failures.py.

``runway_default`` is the gateway simulator, ``runway_direct`` the direct one with a small credit balance;
both come from ``AIRFLOW_CONN_*`` (loopback, so sub-second poll intervals are allowed).
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_runway.operators.runway import RunwayImageToVideoOperator

IMAGE = "https://example.com/cat.jpg"

with DAG(dag_id="runway_early_failures", schedule=None, start_date=datetime(2025, 1, 1), catchup=False):
    # Three independent tasks: each runs whatever the others do.
    RunwayImageToVideoOperator(
        task_id="bad_seed",
        prompt_image=IMAGE,
        prompt_text="a cat",
        ratio="1280:720",
        duration=5,
        seed=-3,  # refused before any request
        poll_interval=0.2,
        timeout=60,
    )
    RunwayImageToVideoOperator(
        task_id="below_credit_floor",
        runway_conn_id="runway_direct",
        prompt_image=IMAGE,
        prompt_text="a cat",
        model="gen4_turbo",
        ratio="1280:720",
        duration=5,
        min_credit_balance=500,  # the balance is 20: refused just before the create
        poll_interval=0.2,
        timeout=60,
    )
    RunwayImageToVideoOperator(
        task_id="generated",
        prompt_image=IMAGE,
        prompt_text="a cat walks",
        ratio="1280:720",
        duration=5,
        deferrable=True,
        poll_interval=0.2,
        timeout=60,
    )
