"""Example 1: images in a folder → one Runway video each (mapped) → saved to storage → an HTML summary.

Upstream, a data step finds the input images; each becomes a mapped image-to-video generation that waits
in the triggerer (deferrable) and saves its video to object storage before the signed URL expires;
downstream, a page shows every clip (its first frame as the poster) beside its source image. The
generation task updates the ``runway_example_videos`` Asset, which example 4 is scheduled on.

Settings (environment): ``RUNWAY_EXAMPLE_INPUTS`` (a folder of JPEG/PNG/WebP images; default: the images
shipped beside this file) and ``RUNWAY_EXAMPLE_OUTPUT`` (a local path or an object-storage URL such as
``s3://bucket/runway``; default ``/tmp/runway_example_output``).
"""

from __future__ import annotations

import html
import os
from pathlib import Path

import pendulum
from airflow.sdk import Asset, dag, task

from airflow_provider_runway.operators.runway import RunwayImageToVideoOperator

INPUTS = os.environ.get("RUNWAY_EXAMPLE_INPUTS", str(Path(__file__).parent / "inputs"))
OUTPUT = os.environ.get("RUNWAY_EXAMPLE_OUTPUT", "/tmp/runway_example_output").rstrip("/")
VIDEOS = Asset("runway_example_videos")

# One prompt per picture; a real pipeline would read these from a table next to the images.
PROMPTS = {
    "sunrise_over_hills": "The sun rises slowly over the hills, warm light spreading across the grass",
    "ocean_waves": "Gentle waves roll towards the camera, foam glittering in the light",
    "city_at_night": "A slow aerial push-in over the city at night, windows flickering",
}


@dag(
    dag_id="runway_image_to_video_pipeline",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["runway", "example"],
    doc_md=__doc__,
)
def runway_image_to_video_pipeline():
    @task
    def find_images() -> list[dict[str, str]]:
        """The upstream data step: every image in the input folder, with its prompt."""
        folder = Path(INPUTS)
        images = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".webp"})
        if not images:
            raise ValueError(f"No JPEG, PNG or WebP images in {folder}")
        return [
            {
                "prompt_image": str(path),
                "prompt_text": PROMPTS.get(path.stem, f"A slow cinematic camera move across {path.stem}"),
            }
            for path in images
        ]

    # [START generate_video]
    sources = find_images()
    generate = RunwayImageToVideoOperator.partial(
        task_id="generate_video",
        model="gen4_turbo",
        ratio="1280:720",
        duration=5,
        output_path=OUTPUT + "/videos/{{ run_id | replace(':', '_') | replace('+', '_') }}/",
        outlets=[VIDEOS],
        retries=2,
    ).expand_kwargs(sources)
    # [END generate_video]

    @task
    def build_summary(manifests: list[dict], sources: list[dict]) -> str:
        """The downstream step: an HTML page a person can open, one card per clip."""
        out_dir = Path(OUTPUT)
        out_dir.mkdir(parents=True, exist_ok=True)
        cards = []
        # Index by length: iterating a lazy XCom sequence probes one past its end (and logs a 404).
        pairs = [(manifests[i], sources[i]) for i in range(len(sources))]
        for manifest, source in pairs:
            for output in manifest["outputs"]:
                path = output.get("path", "")
                cards.append(
                    "<figure>"
                    f'<img src="file://{html.escape(source["prompt_image"])}" alt="input">'
                    f'<video src="{html.escape(path if "://" in path else "file://" + path)}" '
                    'controls muted preload="metadata"></video>'
                    f"<figcaption><b>{html.escape(manifest['model'] or '')}</b> "
                    f"task {html.escape(manifest['runway_task_id'])}<br>{html.escape(source['prompt_text'])}<br>"
                    f"{output.get('size', 0)} bytes, sha256 {html.escape((output.get('sha256') or '')[:12])}…, "
                    f"queued {manifest.get('queued_seconds')} s, running {manifest.get('running_seconds')} s"
                    "</figcaption></figure>"
                )
        page = out_dir / "summary.html"
        page.write_text(
            "<!doctype html><meta charset=utf-8><title>Runway generations</title>"
            "<style>body{font-family:sans-serif;margin:2em}figure{display:inline-block;width:660px;"
            "margin:1em;vertical-align:top}img,video{width:320px;margin-right:8px}</style>"
            f"<h1>Runway generations ({len(cards)})</h1>" + "".join(cards),
            encoding="utf-8",
        )
        print(f"Summary page: {page}")
        return str(page)

    build_summary(generate.output, sources)


runway_image_to_video_pipeline()
