"""``POST /v1/avatar_videos``: an avatar speaking a script or an audio file (Runway direct). No operator
of its own: ``RunwayGenerateOperator`` with ``{"model": "gwm1_avatars", "avatar": ..., "speech": ...}``,
validated against the spec."""

from __future__ import annotations

from airflow_provider_runway.endpoints._declare import Endpoint

ENDPOINTS = (Endpoint("avatar_videos", output_ext="mp4"),)
