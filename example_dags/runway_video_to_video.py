"""Example 2: restyle a video with Runway video-to-video, guided by a reference image.

The input clip and the reference are local files here (they travel as data URIs; on Runway direct,
larger files go through Runway's upload endpoint). Point ``RUNWAY_EXAMPLE_INPUTS`` at your own folder,
or pass https URLs or ``s3://`` paths instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pendulum
from airflow.sdk import dag

from airflow_provider_runway.operators.runway import RunwayVideoToVideoOperator

INPUTS = Path(os.environ.get("RUNWAY_EXAMPLE_INPUTS", str(Path(__file__).parent / "inputs")))
OUTPUT = os.environ.get("RUNWAY_EXAMPLE_OUTPUT", "/tmp/runway_example_output").rstrip("/")


@dag(
    dag_id="runway_video_to_video",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["runway", "example"],
    doc_md=__doc__,
)
def runway_video_to_video():
    # [START restyle_clip]
    RunwayVideoToVideoOperator(
        task_id="restyle_clip",
        video_uri=str(INPUTS / "street_clip.mp4"),
        prompt_text="Turn the street into a watercolour painting at golden hour",
        model="gen4_aleph",
        references=[str(INPUTS / "sunrise_over_hills.png")],
        seed=42,
        output_path=OUTPUT + "/restyled/{{ ds }}/",
    )
    # [END restyle_clip]


runway_video_to_video()
