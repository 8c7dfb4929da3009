"""Example 6: any Runway endpoint through ``RunwayGenerateOperator``: here the Model Router (Runway direct).

The named operators cover Runway's endpoints one by one; ``RunwayGenerateOperator`` takes any of them with
its body as it goes on the wire (camelCase). The Model Router (``generate/video``, ``generate/image``,
``generate/audio``) picks the model from a config saved in Runway's dashboard; the body is validated
against Runway's spec before the create. Waiting, saving outputs and the manifest are those of every
operator.

Runs on a Runway direct connection (the CometAPI gateway has no Model Router). Settings (environment):
``RUNWAY_EXAMPLE_ROUTER_CONFIG`` (the router config's id; default ``my-router``) and
``RUNWAY_EXAMPLE_OUTPUT`` (a local path or an object-storage URL; default ``/tmp/runway_example_output``).
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import dag

from airflow_provider_runway.operators.runway import RunwayGenerateOperator

ROUTER_CONFIG = os.environ.get("RUNWAY_EXAMPLE_ROUTER_CONFIG", "my-router")
OUTPUT = os.environ.get("RUNWAY_EXAMPLE_OUTPUT", "/tmp/runway_example_output").rstrip("/")


@dag(
    dag_id="runway_model_router",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["runway", "example"],
    params={"prompt": "A paper boat drifting down a rain-soaked street, slow tracking shot"},
    doc_md=__doc__,
)
def runway_model_router():
    # [START generate_operator]
    RunwayGenerateOperator(
        task_id="routed",
        endpoint="generate/video",
        body={"configId": ROUTER_CONFIG, "input": {"promptText": "{{ params.prompt }}"}},
        output_path=OUTPUT + "/routed/{{ ds }}/",
    )
    # [END generate_operator]


runway_model_router()
