"""The registry: one module per endpoint family, and what is derived from the declarations (operators,
template fields, file inputs, the gateway's endpoint list) instead of being written by hand."""

from __future__ import annotations

import copy
import inspect
import pickle

import pytest

from airflow_provider_runway.endpoints import _registry, _rules
from airflow_provider_runway.operators import runway as operators
from airflow_provider_runway.testing import _state

#: Every public name the operators module had before the endpoints moved into endpoints/.
PUBLIC_BEFORE = (
    "STATE_KEY",
    "XCOM_TASK_ID",
    "XCOM_TASK_URL",
    "XCOM_ESTIMATED_CREDITS",
    "ESTIMATED_CREDITS_KEY",
    "GATEWAY_ENDPOINTS",
    "DEFER_TIMEOUT_MARGIN",
    "DEFAULT_TIMEOUT",
    "RunwayTaskLink",
    "RunwayBaseOperator",
    "RunwayImageToVideoOperator",
    "RunwayVideoToVideoOperator",
    "RunwayTextToImageOperator",
    "RunwayVideoUpscaleOperator",
    "RunwayTextToVideoOperator",
    "RunwayCharacterPerformanceOperator",
    "RunwayGenerateOperator",
    "RunwayDownloadOperator",
    "annotate_outlets",
)
#: The template fields each operator had before (hand-written then): every one still is.
TEMPLATE_FIELDS_BEFORE = {
    "RunwayImageToVideoOperator": (
        "prompt_image", "model", "prompt_text", "seed", "duration", "ratio", "watermark", "content_moderation",
        "extra_body",
    ),
    "RunwayVideoToVideoOperator": (
        "video_uri", "prompt_text", "model", "seed", "references", "ratio", "content_moderation", "extra_body",
    ),
    "RunwayTextToImageOperator": (
        "prompt_text", "model", "ratio", "reference_images", "seed", "content_moderation", "extra_body",
    ),
    "RunwayVideoUpscaleOperator": ("video_uri", "model", "resolution", "extra_body"),
    "RunwayTextToVideoOperator": (
        "prompt_text", "model", "ratio", "duration", "seed", "content_moderation", "extra_body",
    ),
    "RunwayCharacterPerformanceOperator": (
        "character", "reference", "character_type", "model", "seed", "body_control", "expression_intensity",
        "ratio", "content_moderation", "extra_body",
    ),
}  # fmt: skip
#: Task-creating endpoints of the spec that no module declares yet.
NOT_DECLARED: set[str] = set()


def test_every_task_creating_endpoint_of_the_spec_is_declared():
    declared = set(_registry.endpoints())
    spec = set(_rules.task_paths())
    assert len(spec) == 24
    assert spec - declared == NOT_DECLARED
    assert declared <= spec  # nothing declared that Runway's spec does not have


def test_the_gateways_endpoint_list_is_derived_and_agrees_with_the_simulator():
    assert operators.GATEWAY_ENDPOINTS == (
        "image_to_video",
        "text_to_image",
        "video_to_video",
        "video_upscale",
    )
    assert set(operators.GATEWAY_ENDPOINTS) == set(_state.GATEWAY_ENDPOINTS)
    assert set(_registry.endpoints()) == set(_state.RUNWAY_ENDPOINTS)  # one simulator entry per endpoint


def test_the_operators_module_still_exports_every_public_name():
    for name in PUBLIC_BEFORE:
        assert getattr(operators, name) is not None, name
    assert set(PUBLIC_BEFORE) <= set(dir(operators))
    with pytest.raises(AttributeError):
        operators.RunwayNoSuchThingOperator  # noqa: B018


@pytest.mark.parametrize("name", sorted(_registry.operators()))
def test_each_operator_comes_from_its_own_module_by_name(name):
    declared = _registry.operators()[name]
    assert _registry.module_of_operator(name) == declared.path
    cls = getattr(operators, name)
    assert cls is getattr(operators, name)  # made once
    assert cls.__name__ == name and cls.__module__ == operators.__name__
    assert cls.declared is declared and cls.endpoint == declared.path
    assert cls.default_output_ext == declared.output_ext
    assert cls.template_fields == (*operators.RunwayBaseOperator.template_fields, *declared.template_fields)
    assert set(cls.template_fields) >= set(TEMPLATE_FIELDS_BEFORE.get(name, ()))
    parameters = inspect.signature(cls.__init__).parameters
    assert all(p.kind is not p.POSITIONAL_OR_KEYWORD for n, p in parameters.items() if n != "self")
    assert [n for n in parameters if n not in ("self", "kwargs")] == [
        *(arg.name for arg in declared.arguments),
        "extra_body",
    ]
    assert (
        name.removeprefix("Runway") in (cls.__doc__ or "").replace(" ", "") or declared.summary in cls.__doc__
    )


@pytest.mark.parametrize("path", [p for p, e in _registry.endpoints().items() if e.operator_name])
def test_every_field_any_model_takes_has_a_named_argument(path):
    """Nothing Runway's spec (or the gateway overlay) lists for a model needs extra_body."""
    declared = _registry.endpoints()[path]
    wires = {wire for arg in declared.arguments for wire in arg.wire}
    for model, rules in _rules.variants(path).items():
        missing = set(rules.schema["properties"]) - wires - {"model"}
        assert not missing, f"{path}: {model} takes {sorted(missing)}, which no argument sets"


def test_file_arguments_and_their_kinds_are_declared_once():
    files = {path: e.file_arguments for path, e in _registry.endpoints().items() if e.file_arguments}
    assert files["image_to_video"] == {
        "prompt_image": ("image",),
        "reference_audio": ("audio",),
        "reference_videos": ("video",),
    }
    assert files["character_performance"] == {"character": ("image", "video"), "reference": ("video",)}
    assert files["voice_isolation"] == {"audio_uri": ("audio",)}
    assert operators.RunwayTextToImageOperator.input_fields == {"reference_images": "image"}


def test_a_generated_operator_behaves_like_a_written_one():
    cls = operators.RunwayImageUpscaleOperator
    with pytest.raises(TypeError, match="image_uri"):
        cls(task_id="no_input")
    with pytest.raises(TypeError, match="scale"):
        cls(task_id="typo", image_uri="https://example.com/a.png", scale=2)
    op = cls(task_id="up", image_uri="{{ params.image }}", scale_factor="{{ params.factor }}")
    assert op.model == "magnific_precision_upscaler_v2" and op.extra_body is None
    op.render_template_fields({"params": {"image": "https://example.com/a.png", "factor": "4"}})
    assert op.build_body({}) == {
        "imageUri": "https://example.com/a.png",
        "model": "magnific_precision_upscaler_v2",
        "scaleFactor": 4,
    }
    clone = pickle.loads(pickle.dumps(op))
    assert type(clone) is cls and clone.image_uri == op.image_uri
    assert copy.deepcopy(op).scale_factor == "4"


@pytest.mark.filterwarnings("ignore:Task 'bad' was never mapped")
def test_generated_operators_map_over_their_arguments():
    from airflow.sdk import DAG

    with DAG("mapped"):
        mapped = operators.RunwayTextToSpeechOperator.partial(task_id="speak", model="eleven_v3").expand(
            prompt_text=["hello", "world"]
        )
        with pytest.raises(TypeError, match="unexpected keyword argument 'prompt'"):
            operators.RunwayTextToSpeechOperator.partial(task_id="bad").expand(prompt=["x"])
    assert mapped.partial_kwargs["model"] == "eleven_v3"
