"""Example 5: many prompts → one image each (mapped), throttled by an Airflow pool sized to Runway's tier.

Runway runs only as many generations at once as the organisation's tier allows (``maxConcurrentGenerations``
per model, see ``GET /v1/organization``); the rest wait remotely as THROTTLED while their Airflow tasks
hold triggerer or worker capacity and their deadlines run. A pool with as many slots as the tier's
concurrency keeps the queue in Airflow instead, where it is visible and fair across DAGs:

    airflow pools set runway 5 "Runway tier concurrency" --include-deferred

``--include-deferred`` matters: a deferred task holds no pool slot unless its pool counts deferred tasks,
so without it every deferrable generation would be created at once and wait remotely as THROTTLED, which
is what the pool was meant to prevent. (Airflow does not let a task read its pool's settings, so the
operator cannot check this for you.)

Each generation also refuses to start when the credit balance is below ``RUNWAY_EXAMPLE_MIN_CREDITS``
(Runway direct; on the gateway, which has no organization endpoint, the check is skipped with a warning)
and reports ``estimated_credits`` / ``cost_credits`` in its manifest.

Settings (environment): ``RUNWAY_EXAMPLE_POOL`` (default ``runway``; empty for Airflow's ``default_pool``),
``RUNWAY_EXAMPLE_OUTPUT`` (a local path or an object-storage URL; default ``/tmp/runway_example_output``)
and ``RUNWAY_EXAMPLE_MIN_CREDITS`` (default 0: no floor).
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import dag, task

from airflow_provider_runway.operators.runway import RunwayTextToImageOperator

POOL = os.environ.get("RUNWAY_EXAMPLE_POOL", "runway") or "default_pool"
OUTPUT = os.environ.get("RUNWAY_EXAMPLE_OUTPUT", "/tmp/runway_example_output").rstrip("/")
MIN_CREDITS = float(os.environ.get("RUNWAY_EXAMPLE_MIN_CREDITS", "0")) or None

PROMPTS = [
    "A lighthouse on a cliff at dawn, soft pastel sky, long exposure sea",
    "A bowl of ramen on a wooden counter, steam rising, shallow depth of field",
    "A red vintage bicycle leaning on a blue door in a narrow street",
    "A snowy pine forest at night under the northern lights",
]


@dag(
    dag_id="runway_text_to_image_with_pool",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["runway", "example"],
    doc_md=__doc__,
)
def runway_text_to_image_with_pool():
    @task
    def prompts() -> list[str]:
        """The upstream data step: a real pipeline would read these from a table."""
        return PROMPTS

    # [START generate_images_in_pool]
    images = RunwayTextToImageOperator.partial(
        task_id="generate_image",
        model="gen4_image",
        ratio="1920:1080",
        # At most the pool's slots run at once, whatever the number of mapped tasks: deferred ones too, when
        # the pool was created with --include-deferred.
        pool=POOL,
        min_credit_balance=MIN_CREDITS,
        output_path=OUTPUT + "/images/{{ run_id | replace(':', '_') | replace('+', '_') }}/",
        retries=2,
    ).expand(prompt_text=prompts())
    # [END generate_images_in_pool]

    @task
    def report(manifests: list[dict]) -> dict:
        """The downstream step: what was made and what it cost (credits are reported by Runway direct)."""
        count = len(manifests)
        paths = [o.get("path") for i in range(count) for o in manifests[i]["outputs"]]
        costs = [manifests[i].get("cost_credits") for i in range(count)]
        total = sum(c for c in costs if c is not None) if any(c is not None for c in costs) else None
        print(f"{len(paths)} images, {total if total is not None else 'unreported'} credits: {paths}")
        return {"images": paths, "cost_credits": total}

    report(images.output)


runway_text_to_image_with_pool()
