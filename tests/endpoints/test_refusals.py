"""Each class of request Runway's spec refuses is refused by the operator itself, naming its argument, before
any request (the simulator, over a real socket, counts none); a model no rules list goes through with one
warning, for the server to judge."""

from __future__ import annotations

from typing import Any

import pytest
import structlog

from airflow_provider_runway.exceptions import RunwayAPIError, RunwayValidationError
from airflow_provider_runway.operators import runway as operators

pytestmark = pytest.mark.timeout(60)

IMAGE = "https://example.com/cat.jpg"
VIDEO = "https://example.com/cat.mp4"
LIMIT = 5 * 1024 * 1024  # maxLength of promptImage's data:image/ alternative in Runway's spec


def data_uri(length: int) -> str:
    head = "data:image/png;base64,"
    return head + "A" * (length - len(head))


COMMON = {"task_id": "refused", "wait_for_completion": False, "durable": False}


def i2v(**kw: Any) -> Any:
    return op("RunwayImageToVideoOperator", **{**COMMON, "prompt_image": IMAGE, "ratio": "1280:720", **kw})


def v2v(**kw: Any) -> Any:
    return op("RunwayVideoToVideoOperator", **{**COMMON, "video_uri": VIDEO, "prompt_text": "snow", **kw})


def op(name: str, **kw: Any) -> Any:
    return getattr(operators, name)(**{**COMMON, **kw})


#: (refusal class, operator, the argument the error must name, a word the message must have)
REFUSALS = [
    # a field the model takes no such field
    ("field the model does not take", lambda: i2v(model="veo3.1", content_moderation={"publicFigureThreshold": "low"}), "content_moderation", "not taken by veo3.1"),
    ("field the model does not take", lambda: i2v(model="hailuo3", prompt_text="x", ratio="16:9", seed=3), "seed", "not taken by hailuo3"),
    ("field the model does not take", lambda: i2v(watermark=True), "watermark", "lists no watermark"),
    ("field the model does not take", lambda: v2v(model="aleph2", references=[IMAGE]), "references", "not taken by aleph2"),
    ("field the model does not take", lambda: i2v(model="veo3.1", extra_body={"newFlag": 1}), "extra_body.newFlag", "not taken by veo3.1"),
    # item shapes
    ("item shape", lambda: v2v(model="gemini_omni_flash", references=[{"type": "image", "uri": IMAGE}]), "references[0].type", "not taken by gemini_omni_flash"),
    ("item shape", lambda: v2v(model="gen4_aleph", references=[{"type": "video", "uri": IMAGE}]), "references[0].type", "'image'"),
    ("item shape", lambda: i2v(prompt_image=[IMAGE, "https://example.com/end.jpg"]), "prompt_image", "has 2 items"),
    ("item shape", lambda: i2v(model="veo3.1", prompt_image=[{"uri": IMAGE, "position": "middle"}]), "prompt_image[0].position", "'first', 'last'"),
    # the data-URI limit, counted on the whole URI as the spec counts it
    ("data-URI limit", lambda: i2v(prompt_image=data_uri(LIMIT + 1)), "prompt_image", f"at most {LIMIT}"),
    ("data-URI limit", lambda: v2v(model="aleph2", video_uri="data:video/mp4;base64," + "A" * LIMIT), "video_uri", f"at most {LIMIT}"),
    # enum values
    ("enum value", lambda: i2v(ratio="1920:1080"), "ratio", "'1584:672'"),
    ("enum value", lambda: op("RunwayTextToVideoOperator", prompt_text="x", model="veo3.1", ratio="1280:720", duration="5"), "duration", "one of 4, 6, 8"),
    ("enum value", lambda: v2v(model="aleph2", target_aspect_ratio="5:4"), "target_aspect_ratio", "'16:9'"),
    ("enum value", lambda: op("RunwayTextToSpeechOperator", prompt_text="hi", voice={"type": "runway-preset", "presetId": "Nobody"}), "voice.presetId", "'Maya'"),
    # fields a model requires
    ("required field", lambda: i2v(model="gen4.5", prompt_text="x"), "duration", "required by gen4.5"),
    ("required field", lambda: op("RunwayTextToImageOperator", prompt_text="x", model="gen4_image_turbo", ratio="1280:720"), "reference_images", "required by gen4_image_turbo"),
    ("required field", lambda: op("RunwayTextToSpeechOperator", prompt_text="hi"), "voice", "required by eleven_multilingual_v2"),
    # ranges
    ("range", lambda: i2v(seed="4294967296"), "seed", "0 to 4294967295"),
    ("range", lambda: i2v(model="gen3a_turbo", seed=1_000_000_000), "seed", "CometAPI gateway"),
    ("range", lambda: op("RunwayCharacterPerformanceOperator", character=IMAGE, reference=VIDEO, expression_intensity=6), "expression_intensity", "1 to 5"),
    # lengths, in UTF-16 units
    ("length", lambda: i2v(prompt_text="\U0001f600" * 501), "prompt_text", "1002 characters (UTF-16 units)"),
    ("length", lambda: i2v(model="gen3a_turbo", prompt_text="x" * 513), "prompt_text", "1 to 512"),
    ("length", lambda: op("RunwayTextToImageOperator", prompt_text="x", ratio="1280:720", reference_images=[{"uri": IMAGE, "tag": "ab"}]), "reference_images[0].tag", "3 to 16"),
]  # fmt: skip


def test_every_refusal_class_is_tested():
    assert len({cls for cls, *_ in REFUSALS}) == 7


@pytest.mark.parametrize(
    ("kind", "make", "field", "words"), REFUSALS, ids=[f"{k}:{f}" for k, _, f, _ in REFUSALS]
)
def test_refused_before_any_request_naming_the_argument(direct, kind, make, field, words):
    operator = make()
    with pytest.raises(RunwayValidationError) as info:
        operator.execute({"ti": _TI()})
    assert info.value.field == field, info.value
    assert words in str(info.value)
    assert str(info.value).startswith(f"Invalid {field}: ")
    assert direct.control.accounting()["request_count"] == 0


def test_a_data_uri_at_the_limit_is_created(direct):
    operator = i2v(prompt_image=data_uri(LIMIT))
    assert operator.execute({"ti": _TI()})["status"] == "SUBMITTED"
    assert len(direct.control.accounting()["creates"]) == 1


def warnings_about(word: str, events: list[dict[str, Any]]) -> list[str]:
    return [str(e["event"]) for e in events if e.get("log_level") == "warning" and word in str(e["event"])]


def test_a_model_no_rules_list_goes_to_the_server_with_one_warning(gateway):
    operator = i2v(model="gen5_hyper", ratio="21:9", seed="7")
    with structlog.testing.capture_logs() as events:
        operator.execute({"ti": _TI()})
    (warning,) = warnings_about("gen5_hyper", events)
    assert "Runway's server judges" in warning
    (create,) = gateway.control.accounting()["creates"]
    assert create["body"] == {"promptImage": IMAGE, "model": "gen5_hyper", "seed": 7, "ratio": "21:9"}


def test_a_gateway_model_on_runway_direct_is_warned_of_and_refused_by_the_server(direct):
    operator = v2v(model="gen4_aleph")
    with structlog.testing.capture_logs() as events, pytest.raises(RunwayAPIError) as info:
        operator.execute({"ti": _TI()})
    assert info.value.http_status == 400
    assert len(warnings_about("documented by the CometAPI gateway", events)) == 1
    assert direct.control.accounting()["creates"] == []


class _TI:
    task_id = "refused"
    dag_id = "refusals"
    run_id = "manual"
    map_index = -1
    try_number = 1

    def xcom_push(self, key: str, value: Any) -> None:
        pass
