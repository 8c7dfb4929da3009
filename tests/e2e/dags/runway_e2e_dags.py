"""DAGs of the end-to-end test (``make e2e``); they run in a real Airflow against the Runway simulators.

* ``runway_e2e_mapped``: 50 mapped image-to-video generations on the gateway flavor, all deferrable.
* ``runway_e2e_cancel``: one generation on the runway flavor that the test marks failed while deferred.
* ``runway_e2e_restart``: a few generations on the runway flavor, waiting while a triggerer is killed.
* ``runway_e2e_stall``: 20 long generations while a triggerer is stopped (SIGSTOP) and resumed.
* ``runway_e2e_pool``: 10 generations in a pool of 2 slots that counts deferred tasks.
* ``runway_e2e_gateway_slow``: a deferrable and a synchronous task on a gateway that hides new tasks for
  2 minutes (``task_not_exist``), saving their outputs.
* ``runway_e2e_worker_kill``: one synchronous generation whose worker the test kills mid-wait.
* ``runway_e2e_fleet`` (the distributed profile): 200 mapped deferrable generations on the runway flavor
  and 50 on the gateway's, in one run, on two Celery workers of 2 slots each.

Every waiting task has ``retries=2``: Airflow 3.3 can fail a task when many deferred tasks resume at the
same moment (apache/airflow#71580). A retry re-attaches to the same remote task (durable execution), so
the tests can still demand exactly one create per generation; they report every retry they see.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import dag

from airflow_provider_runway.operators.runway import RunwayImageToVideoOperator

MAPPED = 50
RESTARTED = 6
STALLED = 20
POOLED = 10
POOL = "runway_e2e_pool"
FLEET_DIRECT = 200
FLEET_GATEWAY = 50
#: under the stack's temporary AIRFLOW_HOME (set by runway_e2e_stack.airflow_env)
OUTPUT = os.environ.get("RUNWAY_E2E_OUTPUT", "/tmp/runway-e2e-output")
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


@dag(dag_id="runway_e2e_stall", **DAG_ARGS)
def runway_e2e_stall():
    RunwayImageToVideoOperator.partial(
        task_id="generate", runway_conn_id="runway_stall", prompt_image=IMAGE, **COMMON
    ).expand(prompt_text=[f"e2e-stall clip {i}" for i in range(STALLED)])


@dag(dag_id="runway_e2e_pool", **DAG_ARGS)
def runway_e2e_pool():
    # The pool (2 slots, include_deferred) is created by the test before the run.
    RunwayImageToVideoOperator.partial(
        task_id="generate", runway_conn_id="runway_pool", prompt_image=IMAGE, pool=POOL, **COMMON
    ).expand(prompt_text=[f"e2e-pool clip {i}" for i in range(POOLED)])


@dag(dag_id="runway_e2e_gateway_slow", **DAG_ARGS)
def runway_e2e_gateway_slow():
    # The provider's default not_exist_grace: the point is how the defaults cope with a slow gateway.
    slow = {**COMMON, "retry_delay": timedelta(seconds=5), "output_path": OUTPUT + "/gateway-slow/"}
    for deferrable in (True, False):
        RunwayImageToVideoOperator(
            task_id="deferred" if deferrable else "synchronous",
            runway_conn_id="runway_gateway_slow",
            prompt_image=IMAGE,
            prompt_text=f"e2e-gateway-slow {'deferred' if deferrable else 'synchronous'}",
            **{**slow, "deferrable": deferrable},
        )


@dag(dag_id="runway_e2e_worker_kill", **DAG_ARGS)
def runway_e2e_worker_kill():
    RunwayImageToVideoOperator(
        task_id="generate",
        runway_conn_id="runway_worker",
        prompt_image=IMAGE,
        prompt_text="e2e-worker a clip whose worker dies",
        **{**COMMON, "deferrable": False, "output_path": OUTPUT + "/worker-kill/"},
    )


@dag(
    dag_id="runway_e2e_fleet",
    # Every generation of the fleet may wait at once: deferred, none of them holds a Celery slot.
    **{**DAG_ARGS, "max_active_tasks": FLEET_DIRECT + FLEET_GATEWAY},
)
def runway_e2e_fleet():
    # Polls as a production DAG would (Runway refreshes a task every 5 s at most): 250 triggers polling every
    # second would measure the simulator, not the deployment.
    fleet = {**COMMON, "poll_interval": 5.0, "max_poll_interval": 15.0}
    RunwayImageToVideoOperator.partial(
        task_id="direct", runway_conn_id="runway_fleet_direct", prompt_image=IMAGE, **fleet
    ).expand(prompt_text=[f"e2e-fleet direct clip {i}" for i in range(FLEET_DIRECT)])
    RunwayImageToVideoOperator.partial(
        task_id="gateway", runway_conn_id="runway_fleet_gateway", prompt_image=IMAGE, **fleet
    ).expand(prompt_text=[f"e2e-fleet gateway clip {i}" for i in range(FLEET_GATEWAY)])


runway_e2e_mapped()
runway_e2e_cancel()
runway_e2e_restart()
runway_e2e_stall()
runway_e2e_pool()
runway_e2e_gateway_slow()
runway_e2e_worker_kill()
runway_e2e_fleet()
