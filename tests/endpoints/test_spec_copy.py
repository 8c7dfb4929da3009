"""The trimmed copy of Runway's spec is what ``_specgen.py`` makes of Runway's published document, and the
gateway overlay says where each of its rules comes from."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from airflow_provider_runway.endpoints import _rules, _specgen

UPSTREAM_SPEC = Path(__file__).resolve().parents[3] / "shared" / "runway-openapi.json"


@pytest.mark.skipif(not UPSTREAM_SPEC.exists(), reason="Runway's full spec is not next to this checkout")
def test_the_committed_copy_is_what_the_script_makes_of_runways_spec():
    upstream = json.loads(UPSTREAM_SPEC.read_text(encoding="utf-8"))
    assert _rules.SPEC_FILE.read_text(encoding="utf-8") == _specgen.render(upstream), (
        "runway_openapi.json is stale: run python -m airflow_provider_runway.endpoints._specgen "
        f"{UPSTREAM_SPEC}"
    )


@pytest.mark.skipif(not UPSTREAM_SPEC.exists(), reason="Runway's full spec is not next to this checkout")
def test_the_copy_keeps_every_task_creating_endpoint_and_nothing_for_documentation():
    upstream = json.loads(UPSTREAM_SPEC.read_text(encoding="utf-8"))
    creates = _specgen.task_paths(upstream)
    assert len(creates) == 24
    assert {"/v1/image_to_video", "/v1/generate/video", "/v1/recipes/product_ad", "/v1/video_to_hdr"} <= set(
        creates
    )
    assert "/v1/realtime_sessions" not in creates  # creates a session, not a task
    text = _rules.SPEC_FILE.read_text(encoding="utf-8")
    assert '"x-codeSamples"' not in text and '"example"' not in text
    assert len(text) < len(UPSTREAM_SPEC.read_text(encoding="utf-8")) / 3


@pytest.mark.skipif(not UPSTREAM_SPEC.exists(), reason="Runway's full spec is not next to this checkout")
def test_the_script_writes_the_copy(tmp_path, monkeypatch):
    monkeypatch.setattr(_specgen, "COPY", tmp_path / "copy.json")
    assert _specgen.main([str(UPSTREAM_SPEC)]) == 0
    assert (tmp_path / "copy.json").read_text(encoding="utf-8") == _rules.SPEC_FILE.read_text(
        encoding="utf-8"
    )
    assert _specgen.main([]) == 2


def test_every_request_schema_is_a_valid_json_schema():
    for endpoint in _rules.task_paths():
        for rules in _rules.variants(endpoint).values():
            jsonschema.Draft202012Validator.check_schema(rules.schema)


def test_the_overlay_adds_only_the_gateways_own_models_and_quotes_its_sources():
    overlay = _rules.overlay()
    assert {(path, model) for path, models in overlay["paths"].items() for model in models} == {
        ("/v1/image_to_video", "gen3a_turbo"),
        ("/v1/video_to_video", "gen4_aleph"),
    }
    for path, models in overlay["paths"].items():
        for model, schema in models.items():
            assert model not in _rules.model_schemas_in_spec(path[len("/v1/") :])
            assert "cometapi" in schema["$comment"].lower()
            for name, field in schema["properties"].items():
                assert name == "model" or field.get("$comment"), f"{model}.{name} says nothing of its source"
            rules = _rules.rules_for(path[len("/v1/") :], model)
            assert rules is not None and rules.gateway_only
