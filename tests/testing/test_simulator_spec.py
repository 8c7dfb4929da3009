"""Faithfulness: the official ``runwayml`` SDK works against the runway flavor, and the simulator agrees
with Runway's OpenAPI spec (task, create, organization, upload and error schemas; every listed model of
every create endpoint it serves). Whether the trimmed copy is current: tests/endpoints/test_spec_copy.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import runwayml
from runwayml.lib import polling

from airflow_provider_runway.testing._schema import openapi_subset
from airflow_provider_runway.testing._state import RUNWAY_ENDPOINTS
from tests.testing.conftest import I2V, IMAGE, VIDEO

UPSTREAM_SPEC = Path("/work/shared/runway-openapi.json")


def _spec() -> dict[str, Any]:
    """Runway's full spec when this checkout sits next to it, else the trimmed copy shipped in the package."""
    if UPSTREAM_SPEC.exists():
        return json.loads(UPSTREAM_SPEC.read_text(encoding="utf-8"))
    return openapi_subset()


SPEC = _spec()


def _response_schema(path: str, method: str, status: str = "200") -> dict[str, Any]:
    return SPEC["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]


def _request_variants(endpoint: str) -> list[dict[str, Any]]:
    schema = SPEC["paths"][f"/v1/{endpoint}"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return list(schema.get("oneOf", [schema]))


def _example(schema: dict[str, Any], name: str = "") -> Any:
    """A minimal value valid for ``schema`` (required fields only), with media URLs that suit the field."""
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return _example(schema[key][0], name)
    kind = schema.get("type")
    if kind == "object":
        return {prop: _example(schema["properties"][prop], prop) for prop in schema.get("required", [])}
    if kind == "array":
        return [_example(schema["items"], name) for _ in range(max(1, schema.get("minItems", 1)))]
    if kind in ("integer", "number"):
        low = schema.get(
            "minimum", schema.get("exclusiveMinimum", 0) + 1 if "exclusiveMinimum" in schema else 0
        )
        return low
    if kind == "boolean":
        return False
    if kind == "string":
        if schema.get("pattern", "").startswith("^https"):
            lowered = name.lower()
            if "audio" in lowered:
                return "https://example.com/voice.mp3"
            return VIDEO if "video" in lowered or lowered == "reference" else IMAGE
        return "x" * max(1, schema.get("minLength", 1))
    raise AssertionError(f"cannot build an example for {schema}")


def _valid_bodies() -> list[tuple[str, str, dict[str, Any]]]:
    """A minimal body for every model (or variant) of every create endpoint the simulator serves."""
    cases = []
    for endpoint in RUNWAY_ENDPOINTS:
        for variant in _request_variants(endpoint):
            body = _example(variant)
            jsonschema.validate(body, variant)
            cases.append((endpoint, body.get("model") or body.get("mode") or "-", body))
    return cases


@pytest.mark.parametrize(
    ("endpoint", "model", "body"), _valid_bodies(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_spec_model_minimal_body_is_accepted(runway_simulator_direct, direct, endpoint, model, body):
    response = direct.post(f"/v1/{endpoint}", json=body)
    assert response.status_code == 200, response.text
    jsonschema.validate(response.json(), _response_schema(f"/v1/{endpoint}", "post"))


@pytest.mark.parametrize("endpoint", ["image_to_video", "video_to_video", "text_to_image", "text_to_video"])
def test_spec_and_simulator_agree_on_missing_required_fields(direct, endpoint):
    for variant in _request_variants(endpoint):
        body = _example(variant)
        for field in [name for name in variant.get("required", []) if name != "model"]:
            broken = {key: value for key, value in body.items() if key != field}
            response = direct.post(f"/v1/{endpoint}", json=broken)
            assert response.status_code == 400, (variant["properties"]["model"], field)
            jsonschema.validate(response.json(), _response_schema(f"/v1/{endpoint}", "post", "400"))
            assert [field] in [issue["path"] for issue in response.json()["issues"]]


def test_task_responses_match_the_spec_in_every_state(runway_simulator_direct, direct):
    control = runway_simulator_direct.control
    schema = _response_schema("/v1/tasks/{id}", "get")
    seen = {}
    control.configure(concurrency=1, running_seconds=60)
    running = direct.post("/v1/image_to_video", json=I2V).json()["id"]
    throttled = direct.post("/v1/image_to_video", json=I2V).json()["id"]
    control.configure(concurrency=0, pending_seconds=60)
    pending = direct.post("/v1/image_to_video", json=I2V).json()["id"]
    control.configure(pending_seconds=0, running_seconds=0)
    succeeded = direct.post("/v1/image_to_video", json=I2V).json()["id"]
    failed = direct.post("/v1/image_to_video", json=I2V).json()["id"]
    control.force_outcome(failed, "FAILED", failure_code="SAFETY.INPUT.IMAGE", failure="flagged")
    cancelled = direct.post("/v1/image_to_video", json=I2V).json()["id"]
    control.force_outcome(cancelled, "CANCELLED")
    for task_id in (running, throttled, pending, succeeded, failed, cancelled):
        task = direct.get(f"/v1/tasks/{task_id}").json()
        jsonschema.validate(task, schema)
        seen[task["status"]] = task
    assert set(seen) == {"RUNNING", "THROTTLED", "PENDING", "SUCCEEDED", "FAILED", "CANCELLED"}
    direct.delete(f"/v1/tasks/{running}")
    jsonschema.validate(direct.get(f"/v1/tasks/{running}").json(), schema)


def test_organization_upload_and_404_match_the_spec(direct):
    direct.post("/v1/image_to_video", json=I2V)
    jsonschema.validate(direct.get("/v1/organization").json(), _response_schema("/v1/organization", "get"))
    upload = direct.post("/v1/uploads", json={"filename": "cat.png", "type": "ephemeral"}).json()
    jsonschema.validate(upload, _response_schema("/v1/uploads", "post"))
    missing = direct.get("/v1/tasks/3f0e2b3c-1d2e-4f5a-8b6c-7d8e9f0a1b2c")
    jsonschema.validate(missing.json(), _response_schema("/v1/tasks/{id}", "get", "404"))


def test_official_sdk_create_retrieve_wait_delete(runway_simulator_direct, monkeypatch, tmp_path):
    monkeypatch.setattr(polling, "POLL_TIME", 0.05)
    monkeypatch.setattr(polling, "POLL_JITTER", 0.0)
    runway_simulator_direct.control.configure(pending_seconds=0.1, running_seconds=0.2)
    client = runwayml.RunwayML(
        api_key=runway_simulator_direct.api_key, base_url=runway_simulator_direct.base_url, max_retries=0
    )
    created = client.image_to_video.create(
        model="gen4_turbo", prompt_image=IMAGE, ratio="1280:720", prompt_text="a cat", duration=5
    )
    retrieved = client.tasks.retrieve(created.id)
    assert retrieved.status in ("PENDING", "RUNNING")
    finished = created.wait_for_task_output(timeout=10)
    assert finished.status == "SUCCEEDED"
    assert httpx.get(finished.output[0]).status_code == 200
    assert client.organization.retrieve().credit_balance < 100_000

    runway_simulator_direct.control.configure(running_seconds=60)
    other = client.image_to_video.create(model="gen4_turbo", prompt_image=IMAGE, ratio="1280:720")
    client.tasks.delete(other.id)
    assert client.tasks.retrieve(other.id).status == "CANCELLED"
    with pytest.raises(runwayml.NotFoundError):
        client.tasks.delete(other.id)

    media = tmp_path / "cat.png"
    media.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(2048))
    uri = client.uploads.create_ephemeral(file=media).uri
    runway_simulator_direct.control.configure(running_seconds=0)
    with_upload = client.image_to_video.create(model="gen4_turbo", prompt_image=uri, ratio="1280:720")
    assert with_upload.wait_for_task_output(timeout=10).status == "SUCCEEDED"

    with pytest.raises(runwayml.BadRequestError) as caught:
        client.image_to_video.create(model="gen4_turbo", prompt_image=IMAGE, ratio="1280:720", seed=-1)
    assert "seed" in json.dumps(caught.value.body)
