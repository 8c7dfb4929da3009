"""``POST /v1/generate/{video,image,audio}``: Runway's Model Router, which picks the model from a saved
config (Runway direct). No operator of its own: ``RunwayGenerateOperator`` with a ``body`` of
``{"configId": ..., "input": {...}}``, validated against the spec."""

from __future__ import annotations

from airflow_provider_runway.endpoints._declare import Endpoint

ENDPOINTS = (
    Endpoint("generate/video", output_ext="mp4"),
    Endpoint("generate/image", output_ext="png"),
    Endpoint("generate/audio", output_ext="mp3"),
)
