"""Example 4: a DAG scheduled on the Asset that example 1's generation task updates.

Each asset event carries the Runway task id, the model and the saved paths, so this DAG can publish,
catalogue or notify about exactly the videos that were just made.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Asset, dag, task

VIDEOS = Asset("runway_example_videos")


@dag(
    dag_id="runway_on_new_videos",
    schedule=[VIDEOS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["runway", "example"],
    doc_md=__doc__,
)
def runway_on_new_videos():
    @task
    def catalogue(triggering_asset_events=None) -> list[str]:
        """List every video the triggering generations saved (a stand-in for publish or notify)."""
        paths: list[str] = []
        # Matched by name rather than .get(VIDEOS): Airflow 3.1 cannot hash an Asset.
        events = [
            event
            for asset, asset_events in (triggering_asset_events or {}).items()
            if getattr(asset, "name", None) == VIDEOS.name
            for event in asset_events
        ]
        for event in events:
            extra = event.extra or {}
            for path in extra.get("paths", []):
                print(
                    f"New video from Runway task {extra.get('runway_task_id')} ({extra.get('model')}): {path}"
                )
                paths.append(path)
        return paths

    catalogue()


runway_on_new_videos()
