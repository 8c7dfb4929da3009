"""Example 7: generate a video, a person approves or rejects it in Airflow's UI, then publish or skip.

A daily clip is generated from one image (deferrable, saved to storage as in example 1). The approval
task then waits for a person: Airflow's UI lists it under Browse -> Required Actions, with the prompt, a
link to the Runway task and the saved file's path (the last two from the generation's manifest in XCom).
"Approve" runs ``publish``, which copies the video to the published folder; "Reject" skips it. Airflow's
human-in-the-loop operators (``apache-airflow-providers-standard``) need Airflow 3.1 or newer.

Nobody answering is an answer too: ``response_timeout`` (20 hours) after the approval starts, it takes
its default, ``Reject``. The run then ends successfully with ``publish`` skipped, and the video stays
where it was saved, unpublished: nothing goes out without a "yes". With the generation's own 3-hour
timeout, each run is decided before the next day's is due (``max_active_runs=1`` holds that one back
meanwhile). On Airflow 3.3 the scheduler applies the timeout; on 3.1 and 3.2 the triggerer does. The
waiting task holds no worker slot.

Settings (environment): ``RUNWAY_EXAMPLE_INPUTS`` (the folder with ``sunrise_over_hills.png``; default:
the images shipped beside this file) and ``RUNWAY_EXAMPLE_OUTPUT`` (a local path or an object-storage
URL; default ``/tmp/runway_example_output``).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import dag, task

from airflow_provider_runway.operators.runway import RunwayImageToVideoOperator

INPUTS = Path(os.environ.get("RUNWAY_EXAMPLE_INPUTS", str(Path(__file__).parent / "inputs")))
OUTPUT = os.environ.get("RUNWAY_EXAMPLE_OUTPUT", "/tmp/runway_example_output").rstrip("/")
RUN_FOLDER = "{{ run_id | replace(':', '_') | replace('+', '_') }}"
PROMPT = "The sun rises slowly over the hills, warm light spreading across the grass"

# [START approval_body]
REVIEW_BODY = (
    "**Prompt:** "
    + PROMPT
    + """
{%- set video = ti.xcom_pull(task_ids='generate_video') %}

**Runway task:** [{{ video.runway_task_id }}]({{ ti.xcom_pull(task_ids='generate_video', key='runway_task_url') }})
({{ video.model }})

**Saved to:**
{% for output in video.outputs -%}
- `{{ output.path }}` ({{ output.size }} bytes, sha256 `{{ output.sha256[:12] }}`)
{% endfor %}
Approve to publish it. Reject, or no answer within 20 hours, keeps it unpublished.
"""
)
# [END approval_body]


def storage(path: str):
    """A saved output's path (local or an object-storage URL) as an ObjectStoragePath."""
    from airflow.sdk import ObjectStoragePath  # here, not at the top: parsing the DAG needs no fsspec

    return ObjectStoragePath(path if "://" in path else "file://" + path)


@dag(
    dag_id="runway_generate_and_approve",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["runway", "example"],
    doc_md=__doc__,
)
def runway_generate_and_approve():
    generate = RunwayImageToVideoOperator(
        task_id="generate_video",
        prompt_image=str(INPUTS / "sunrise_over_hills.png"),
        prompt_text=PROMPT,
        model="gen4_turbo",
        ratio="1280:720",
        duration=5,
        deferrable=True,
        output_path=OUTPUT + "/review/" + RUN_FOLDER + "/",
    )

    # [START approve_then_publish]
    approve = ApprovalOperator(
        task_id="approve_video",
        subject="Publish the Runway video of {{ ds }}?",
        body=REVIEW_BODY,
        defaults="Reject",
        response_timeout=timedelta(hours=20),
    )

    @task
    def publish(manifest: dict, run_id: str | None = None) -> list[str]:
        """Runs only on "Approve": copies the saved video to the published folder."""
        folder = storage(OUTPUT) / "published" / str(run_id).replace(":", "_").replace("+", "_")
        folder.mkdir(parents=True, exist_ok=True)
        published = []
        for output in manifest["outputs"]:
            source = storage(output["path"])
            source.copy(folder / source.name)
            published.append(str(folder / source.name))
        return published

    generate >> approve >> publish(generate.output)
    # [END approve_then_publish]


runway_generate_and_approve()
