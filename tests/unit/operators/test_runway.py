"""The text-to-image, video-upscale, text-to-video, character-performance and generic operators against
the simulator (both flavors, sync and deferred): the body each builds, the file it saves, the gateway's
missing endpoints, validation before any request, and THROTTLED time in the manifest.

The helpers here (a TaskInstance that keeps its XComs, run_op in either mode) are shared by
``operators/test_generation.py``, ``test_lineage.py`` and ``endpoints/``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from airflow_provider_runway._compat import TaskDeferred
from airflow_provider_runway.exceptions import RunwayConfigurationError, RunwayValidationError
from airflow_provider_runway.hooks.runway import RunwayHook, aclose_shared_clients
from airflow_provider_runway.operators.runway import (
    RunwayCharacterPerformanceOperator,
    RunwayGenerateOperator,
    RunwayImageToVideoOperator,
    RunwayTextToImageOperator,
    RunwayTextToVideoOperator,
    RunwayVideoUpscaleOperator,
)
from airflow_provider_runway.triggers.runway import RunwayTaskTrigger
from tests.fakes import FakeStateStore, FakeTI

pytestmark = pytest.mark.timeout(90)

MODES = ["sync", "deferred"]
IMAGE = "https://example.com/cat.jpg"
VIDEO = "https://example.com/cat.mp4"
EXAMPLES = Path(__file__).resolve().parents[3] / "example_dags"
INPUTS = EXAMPLES / "inputs"
SPEC = Path(__file__).resolve().parents[3] / "airflow_provider_runway" / "endpoints" / "runway_openapi.json"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FAST = {"poll_interval": 0.05, "max_poll_interval": 1.0}


# --------------------------------------------------------------------------------------------------------
# Helpers (also used by operators/test_generation.py, test_lineage.py and endpoints/)
# --------------------------------------------------------------------------------------------------------


def make_context(store: FakeStateStore | None = None, ti: FakeTI | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"ti": ti or FakeTI()}
    if store is not None:
        context["task_state_store"] = store
    return context


def run_trigger(trigger: RunwayTaskTrigger) -> dict[str, Any]:
    async def main() -> list[Any]:
        try:
            return [event async for event in trigger.run()]
        finally:
            await aclose_shared_clients()

    events = asyncio.run(main())
    assert len(events) == 1
    return events[0].payload


def run_op(operator: Any, context: dict[str, Any], mode: str, *, resume_with: Any = None) -> Any:
    """Run to the outcome; in deferred mode ``execute_complete`` runs on ``resume_with`` (a fresh copy of
    the operator, as on another worker) when given."""
    if mode == "sync":
        operator.deferrable = False
        return operator.execute(context)
    operator.deferrable = True
    with pytest.raises(TaskDeferred) as info:
        operator.execute(context)
    assert info.value.method_name == "execute_complete"
    event = run_trigger(info.value.trigger)
    return getattr(resume_with or operator, info.value.method_name)(context, event)


def creates(sim: Any) -> list[dict[str, Any]]:
    return sim.control.accounting()["creates"]


def request_count(sim: Any) -> int:
    return sim.control.accounting()["request_count"]


@pytest.fixture(params=["direct", "gateway"])
def either(request):
    return request.getfixturevalue(request.param)


def t2i(**kwargs: Any) -> RunwayTextToImageOperator:
    params: dict[str, Any] = {
        "task_id": "generate",
        "prompt_text": "a lighthouse at dawn",
        "ratio": "1920:1080",
        **FAST,
    }
    params.update(kwargs)
    return RunwayTextToImageOperator(**params)


def spec_validate(endpoint: str, body: dict[str, Any]) -> None:
    """The body against Runway's published request schema for its model."""
    spec = json.loads(SPEC.read_text())
    schema = spec["paths"][f"/v1/{endpoint}"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    variants = [
        v for v in schema.get("oneOf", [schema]) if v["properties"]["model"].get("const") == body["model"]
    ]
    assert variants, f"{body['model']} is not in the spec for {endpoint}"
    jsonschema.validate(body, variants[0])


# --------------------------------------------------------------------------------------------------------
# Text to image: PNG saved, on both flavors and in both modes
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_text_to_image_saves_a_png(either, mode, tmp_path):
    manifest = run_op(t2i(output_path=str(tmp_path)), make_context(), mode)
    assert manifest["status"] == "SUCCEEDED"
    assert manifest["endpoint"] == "text_to_image" and manifest["model"] == "gen4_image"
    (output,) = manifest["outputs"]
    path = Path(output["path"])
    assert path.suffix == ".png" and path.parent == tmp_path
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert output["content_type"] == "image/png" and output["size"] == path.stat().st_size
    (create,) = creates(either)
    assert create["endpoint"] == "text_to_image"


def test_text_to_image_body_follows_runways_schema(direct):
    op = t2i(
        model="gen4_image_turbo",
        reference_images=[IMAGE, {"uri": "https://example.com/dog.png", "tag": "dog"}],
        seed="42",
        content_moderation={"publicFigureThreshold": "low"},
    )
    body = op.prepare_inputs(make_context())
    assert body == {
        "model": "gen4_image_turbo",
        "promptText": "a lighthouse at dawn",
        "ratio": "1920:1080",
        "referenceImages": [{"uri": IMAGE}, {"uri": "https://example.com/dog.png", "tag": "dog"}],
        "seed": 42,
        "contentModeration": {"publicFigureThreshold": "low"},
    }
    spec_validate("text_to_image", body)
    assert request_count(direct) == 0  # building the body is pure


def test_text_to_image_local_reference_becomes_a_data_uri(direct, tmp_path):
    op = t2i(reference_images=[str(INPUTS / "ocean_waves.png")], output_path=str(tmp_path))
    manifest = run_op(op, make_context(), "sync")
    assert manifest["status"] == "SUCCEEDED"
    (create,) = creates(direct)
    uri = create["body"]["referenceImages"][0]["uri"]
    assert uri.startswith("data:image/png;base64,")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"ratio": None}, "ratio"),  # every model Runway lists requires it
        ({"model": "gen4_image_turbo"}, "reference_images"),
        ({"prompt_text": "  "}, "prompt_text"),
        ({"prompt_text": None}, "prompt_text"),
        ({"ratio": "999:1"}, "ratio"),  # not one of gen4_image's resolutions
        ({"reference_images": "https://example.com/a.png"}, "reference_images"),
        ({"reference_images": [{"tag": "x"}]}, "reference_images[0]"),
        ({"reference_images": ["http://example.com/a.png"]}, "reference_images[0].uri"),
        ({"seed": -1}, "seed"),
        ({"extra_body": {"promptText": "sneaky"}}, "extra_body.promptText"),
    ],
)
def test_text_to_image_invalid_arguments_fail_before_any_request(direct, kwargs, field):
    with pytest.raises(RunwayValidationError) as info:
        t2i(**kwargs).execute(make_context())
    assert info.value.field == field
    assert request_count(direct) == 0


def test_text_to_image_unknown_model_is_left_to_the_server(direct):
    body = t2i(model="brand_new_image_model", ratio="auto").prepare_inputs(make_context())
    assert body["model"] == "brand_new_image_model" and body["ratio"] == "auto"


def test_text_to_image_prompt_limit_follows_the_model():
    long = "x" * 3000
    assert t2i(model="gpt_image_2", prompt_text=long, ratio="auto").build_body({})["promptText"] == long
    with pytest.raises(RunwayValidationError, match="1000"):
        t2i(prompt_text=long).build_body({})


# --------------------------------------------------------------------------------------------------------
# Video upscale
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_video_upscale_saves_an_mp4(either, mode, tmp_path):
    op = RunwayVideoUpscaleOperator(
        task_id="upscale", video_uri=VIDEO, resolution="4k", output_path=str(tmp_path), **FAST
    )
    manifest = run_op(op, make_context(), mode)
    (output,) = manifest["outputs"]
    data = Path(output["path"]).read_bytes()
    assert output["path"].endswith(".mp4") and data[4:8] == b"ftyp"
    (create,) = creates(either)
    assert create["endpoint"] == "video_upscale"
    body = op.build_body({})
    assert body == {"model": "magnific_video_upscaler_creative", "videoUri": VIDEO, "resolution": "4k"}
    spec_validate("video_upscale", body)


def test_video_upscale_knobs_are_named_arguments():
    op = RunwayVideoUpscaleOperator(
        task_id="upscale", video_uri=VIDEO, creativity="20", flavor="natural", fps_boost="true"
    )
    body = op.build_body({})
    assert body["creativity"] == 20 and body["flavor"] == "natural" and body["fpsBoost"] is True
    spec_validate("video_upscale", body)
    with pytest.raises(RunwayValidationError) as info:
        RunwayVideoUpscaleOperator(task_id="u", video_uri=VIDEO, extra_body={"creativity": 20}).build_body({})
    assert info.value.field == "extra_body.creativity"  # a named field goes through its argument
    with pytest.raises(RunwayValidationError) as info:
        RunwayVideoUpscaleOperator(task_id="u", video_uri="ftp://x/y.mp4").build_body({})
    assert info.value.field == "video_uri"


# --------------------------------------------------------------------------------------------------------
# Text to video and character performance: Runway direct; the gateway answers 404, nothing is created
# --------------------------------------------------------------------------------------------------------
def t2v(**kwargs: Any) -> RunwayTextToVideoOperator:
    params: dict[str, Any] = {
        "task_id": "t2v",
        "prompt_text": "waves roll in at sunset",
        "ratio": "1280:720",
        "duration": 5,
        **FAST,
    }
    params.update(kwargs)
    return RunwayTextToVideoOperator(**params)


def act_two(**kwargs: Any) -> RunwayCharacterPerformanceOperator:
    params: dict[str, Any] = {
        "task_id": "act",
        "character": {"type": "image", "uri": IMAGE},
        "reference": VIDEO,
        **FAST,
    }
    params.update(kwargs)
    return RunwayCharacterPerformanceOperator(**params)


@pytest.mark.parametrize("mode", MODES)
def test_text_to_video_saves_an_mp4_on_runway_direct(direct, mode, tmp_path):
    manifest = run_op(t2v(output_path=str(tmp_path)), make_context(), mode)
    assert manifest["endpoint"] == "text_to_video" and manifest["model"] == "gen4.5"
    (output,) = manifest["outputs"]
    assert Path(output["path"]).read_bytes()[4:8] == b"ftyp"
    (create,) = creates(direct)
    assert create["body"] == {
        "model": "gen4.5",
        "promptText": "waves roll in at sunset",
        "ratio": "1280:720",
        "duration": 5,
    }
    spec_validate("text_to_video", create["body"])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"ratio": "960:960"}, "ratio"),  # an image_to_video ratio gen4.5 does not take from text
        ({"duration": None}, "duration"),
        ({"prompt_text": None}, "prompt_text"),
        ({"model": "veo3.1", "duration": 5}, "duration"),
        ({"duration": "auto"}, "duration"),  # only the seedance models take "auto"
    ],
)
def test_text_to_video_invalid_arguments_fail_before_any_request(direct, kwargs, field):
    with pytest.raises(RunwayValidationError) as info:
        t2v(**kwargs).execute(make_context())
    assert info.value.field == field
    assert request_count(direct) == 0


def test_text_to_video_seedance_takes_auto_duration_and_long_prompts():
    body = t2v(model="seedance2", duration="auto", ratio="1280:720", prompt_text="y" * 3000).build_body({})
    assert body["duration"] == "auto"
    spec_validate("text_to_video", body)


@pytest.mark.parametrize("mode", MODES)
def test_character_performance_saves_an_mp4_on_runway_direct(direct, mode, tmp_path):
    op = act_two(expression_intensity="4", body_control=True, ratio="960:960", output_path=str(tmp_path))
    manifest = run_op(op, make_context(), mode)
    (output,) = manifest["outputs"]
    assert Path(output["path"]).read_bytes()[4:8] == b"ftyp"
    (create,) = creates(direct)
    body = create["body"]
    assert body == {
        "model": "act_two",
        "character": {"type": "image", "uri": IMAGE},
        "reference": {"type": "video", "uri": VIDEO},
        "bodyControl": True,
        "expressionIntensity": 4,
        "ratio": "960:960",
    }
    spec_validate("character_performance", body)


def test_character_performance_reads_local_files_of_the_right_kind(direct, tmp_path):
    op = act_two(character=str(INPUTS / "city_at_night.png"), reference=str(INPUTS / "street_clip.mp4"))
    manifest = run_op(op, make_context(), "sync")
    assert manifest["status"] == "SUCCEEDED"
    body = creates(direct)[0]["body"]
    assert body["character"]["type"] == "image"
    assert body["character"]["uri"].startswith("data:image/png;base64,")
    assert body["reference"]["uri"].startswith("data:video/mp4;base64,")


def test_character_performance_video_character_from_a_data_uri():
    clip = "data:video/mp4;base64," + base64.b64encode(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64).decode()
    body = act_two(character=clip).build_body({})
    assert body["character"] == {"type": "video", "uri": clip}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"character": "https://example.com/actor"}, "character.type"),  # neither extension nor type
        ({"character": {"type": "audio", "uri": IMAGE}}, "character.type"),
        ({"character": {"type": "image"}}, "character"),
        ({"reference": {"type": "image", "uri": IMAGE}}, "reference.type"),
        ({"expression_intensity": 6}, "expression_intensity"),
        ({"ratio": "1280:768"}, "ratio"),
        ({"body_control": "maybe"}, "body_control"),
    ],
)
def test_character_performance_invalid_arguments_fail_before_any_request(direct, kwargs, field):
    with pytest.raises(RunwayValidationError) as info:
        act_two(**kwargs).execute(make_context())
    assert info.value.field == field
    assert request_count(direct) == 0


def test_character_type_names_the_kind_of_a_bare_uri():
    body = act_two(character="https://example.com/actor", character_type="video").build_body({})
    assert body["character"] == {"type": "video", "uri": "https://example.com/actor"}


@pytest.mark.parametrize(
    ("make", "endpoint"),
    [(lambda: t2v(), "text_to_video"), (lambda: act_two(), "character_performance")],
)
def test_gateway_lacks_the_endpoint_clear_error_and_nothing_created(gateway, make, endpoint):
    with pytest.raises(RunwayConfigurationError) as info:
        make().execute(make_context())
    message = str(info.value)
    assert f"/v1/{endpoint}" in message and "No task was created" in message
    assert "Runway direct" in message
    assert creates(gateway) == []


# --------------------------------------------------------------------------------------------------------
# The generic operator: any endpoint, templated body
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_generate_operator_runs_an_endpoint_from_its_body(either, mode, tmp_path):
    op = RunwayGenerateOperator(
        task_id="any",
        endpoint="/v1/text_to_image",
        body={"model": "gen4_image", "promptText": "a red bicycle", "ratio": "1080:1080"},
        output_ext="png",
        output_path=str(tmp_path),
        **FAST,
    )
    manifest = run_op(op, make_context(), mode)
    assert manifest["model"] == "gen4_image"
    assert Path(manifest["outputs"][0]["path"]).read_bytes()[:8] == PNG_MAGIC
    (create,) = creates(either)
    assert create["endpoint"] == "text_to_image" and create["body"]["promptText"] == "a red bicycle"


def test_generate_operator_body_is_templated():
    op = RunwayGenerateOperator(
        task_id="any", endpoint="text_to_video", body={"model": "gen4.5", "promptText": "{{ params.what }}"}
    )
    assert {"endpoint", "body", "output_ext"} <= set(op.template_fields)
    op.render_template_fields({"params": {"what": "a comet over the sea"}})
    assert op.body == {"model": "gen4.5", "promptText": "a comet over the sea"}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"endpoint": "tasks/abc"}, "endpoint"),
        ({"endpoint": "../organization"}, "endpoint"),
        ({"body": ["not", "a", "dict"]}, "body"),
        ({"body": {"model": "bad model!"}}, "body.model"),
        ({"output_ext": "../x"}, "output_ext"),
    ],
)
def test_generate_operator_checks_before_any_request(direct, kwargs, field):
    params: dict[str, Any] = {"task_id": "any", "endpoint": "sound_effect", "body": {"model": "m"}}
    params.update(kwargs)
    with pytest.raises(RunwayValidationError) as info:
        RunwayGenerateOperator(**params).execute(make_context())
    assert info.value.field == field
    assert request_count(direct) == 0


def test_generate_operator_unknown_endpoint_on_the_gateway_names_it(gateway):
    op = RunwayGenerateOperator(
        task_id="any",
        endpoint="sound_effect",
        body={"model": "eleven_text_to_sound_v2", "promptText": "rain"},
    )
    with pytest.raises(RunwayConfigurationError, match=r"/v1/sound_effect.*No task was created"):
        op.execute(make_context())
    assert creates(gateway) == []


# --------------------------------------------------------------------------------------------------------
# Throttling: the manifest shows the time spent THROTTLED behind the tier's concurrency
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_throttled_seconds_are_reported_when_concurrency_is_full(direct, mode):
    direct.control.configure(concurrency=1, running_seconds=1.0)
    busy = RunwayHook().submit(
        "text_to_image", {"model": "gen4_image", "promptText": "x", "ratio": "1920:1080"}
    )
    op = RunwayImageToVideoOperator(
        task_id="generate", prompt_image=IMAGE, ratio="1280:720", duration=5, polling_mode="fixed", **FAST
    )
    manifest = run_op(op, make_context(), mode)
    assert manifest["status"] == "SUCCEEDED"
    assert manifest["throttled_seconds"] > 0.3, manifest
    assert manifest["queued_seconds"] >= manifest["throttled_seconds"] - 0.2
    assert direct.control.accounting()["statuses"][busy.id] == "SUCCEEDED"


# --------------------------------------------------------------------------------------------------------
# The example DAG under `airflow dags test` (the pool it names need not exist there)
# --------------------------------------------------------------------------------------------------------
@pytest.mark.integration
@pytest.mark.timeout(400)
@pytest.mark.skipif(shutil.which("timeout") is None, reason="needs coreutils timeout")
def test_example_dag_runs_under_airflow_dags_test(tmp_path):
    from airflow_provider_runway.testing.simulator import Simulator
    from tests.integration.test_dags_test import AIRFLOW, airflow_env, migrate_db, run

    home = tmp_path / "airflow_home"
    (home / "dags").mkdir(parents=True)
    shutil.copy(EXAMPLES / "runway_text_to_image_with_pool.py", home / "dags")
    with Simulator("runway", api_key="key_example", running_seconds=0.5) as sim:
        env = airflow_env(home, sim.base_url, "key_example")
        env.update(
            AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE="True",
            RUNWAY_EXAMPLE_OUTPUT=str(tmp_path / "out"),
            RUNWAY_EXAMPLE_MIN_CREDITS="10",
        )
        migrate_db(env, 180)
        result = run([str(AIRFLOW), "dags", "test", "runway_text_to_image_with_pool"], env, 300)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-6000:]
        accounting = sim.accounting()
    assert len(accounting["creates"]) == 4 and accounting["orphans"] == []
    images = sorted((tmp_path / "out").rglob("*.png"))
    assert len(images) == 4 and all(p.read_bytes()[:8] == PNG_MAGIC for p in images)
    assert "20.0 credits" in output  # report(): 4 images x 5 credits, from the manifests' cost_credits
