"""Bodies from operator arguments (``endpoints/_body.py``): shaping, coercion of templated strings, the rules
that hold for every model, and each model's rules from Runway's spec or the gateway overlay. Pure: no I/O."""

from __future__ import annotations

import base64

import pytest

from airflow_provider_runway.endpoints import _body, _rules
from airflow_provider_runway.exceptions import RunwayValidationError

PNG_URI = "https://example.com/frame.png"
VIDEO = "https://example.com/in.mp4"


def i2v(**kw):
    args = {"prompt_image": PNG_URI, "model": "gen4_turbo", **kw}
    if args["model"] == "gen4_turbo" and "ratio" not in kw:
        args["ratio"] = "1280:720"  # required by gen4_turbo in Runway's spec
    return _body.build_for("image_to_video", **args)


def v2v(**kw):
    args = {"video_uri": VIDEO, "prompt_text": "make it rain", "model": "aleph2", **kw}
    return _body.build_for("video_to_video", **args)


def field_of(call, **kw):
    with pytest.raises(RunwayValidationError) as info:
        call(**kw)
    assert info.value.field in str(info.value)
    return info.value.field


def data_uri(mime, total_length):
    """A data URI of exactly ``total_length`` characters, prefix included (as the spec counts it)."""
    head = f"data:{mime};base64,"
    return head + "A" * (total_length - len(head))


def test_image_to_video_body_camel_case_and_templated_strings():
    body = i2v(
        prompt_text="a cat",
        seed="42",
        duration="5",
        ratio="1280:720",
        content_moderation={"public_figure_threshold": "low"},
    )
    assert body == {
        "model": "gen4_turbo",
        "promptImage": PNG_URI,
        "promptText": "a cat",
        "seed": 42,
        "duration": 5,
        "ratio": "1280:720",
        "contentModeration": {"publicFigureThreshold": "low"},
    }


def test_minimal_bodies_omit_unset_and_blank_arguments():
    assert i2v(model="brand_new_model") == {"model": "brand_new_model", "promptImage": PNG_URI}
    assert i2v(prompt_text="   ", seed="") == {
        "model": "gen4_turbo",
        "promptImage": PNG_URI,
        "ratio": "1280:720",
    }


@pytest.mark.parametrize(
    ("model", "missing"),
    [("gen4_turbo", "ratio"), ("gen4.5", "duration"), ("veo3.1", "ratio"), ("hailuo3", "prompt_text")],
)
def test_required_fields_of_each_model_name_the_argument(model, missing):
    full = {"prompt_text": "a cat", "ratio": "1280:720", "duration": 4}
    if model == "hailuo3":
        full = {"prompt_text": "a cat", "ratio": "16:9", "duration": 6}
    del full[missing]
    with pytest.raises(RunwayValidationError, match=f"is required by {model} on image_to_video") as info:
        _body.build_for("image_to_video", prompt_image=PNG_URI, model=model, **full)
    assert info.value.field == missing


@pytest.mark.parametrize(
    ("seed", "ok_"),
    [
        (0, True),
        (4_294_967_295, True),
        ("17", True),
        (4_294_967_296, False),
        (-1, False),
        (True, False),
        (10**30, False),
        ("x", False),
        ("1e3", False),
        (1.5, False),
    ],
)
def test_seed(seed, ok_):
    if ok_:
        assert i2v(seed=seed)["seed"] == int(seed)
    else:
        assert field_of(i2v, seed=seed) == "seed"


def test_gen3a_turbo_takes_the_gateway_documented_limits():
    assert field_of(i2v, model="gen3a_turbo", seed=1_000_000_000) == "seed"
    assert field_of(i2v, model="gen3a_turbo", prompt_text="x" * 513) == "prompt_text"
    assert field_of(i2v, model="gen3a_turbo", duration=7) == "duration"
    body = i2v(model="gen3a_turbo", prompt_text="x" * 512, seed=999_999_999, ratio="768:1280", duration=10)
    assert body["seed"] == 999_999_999
    assert i2v(model="gen3a_turbo", watermark="false")["watermark"] is False
    rules = _rules.rules_for("image_to_video", "gen3a_turbo")
    assert rules is not None and rules.gateway_only


def test_ratio_follows_the_models_list():
    with pytest.raises(RunwayValidationError, match=r"'1280:720', '720:1280'.*got '1920:1080'") as info:
        i2v(ratio="1920:1080")
    assert info.value.field == "ratio"
    assert i2v(ratio="1584:672")["ratio"] == "1584:672"


@pytest.mark.parametrize("model", ["gen4_aleph", "runway_next", "brand_new_model-2"])
@pytest.mark.parametrize("ratio", ["1920:1080", "7:3", "adaptive", "16/9"])
def test_models_without_rules_are_left_to_the_server(model, ratio):
    """gen4_aleph is a video_to_video model: on image_to_video it has no rules, like a new model."""
    built = _body.build(
        _body.endpoint("image_to_video"), {"prompt_image": PNG_URI, "model": model, "ratio": ratio}
    )
    assert built.body["ratio"] == ratio and built.rules is None
    (note,) = built.notes
    assert model in note and "judges" in note


@pytest.mark.parametrize(
    ("model", "ratio"),
    [("hailuo3", "16:9"), ("hailuo3", "1:1"), ("hailuo3", "adaptive"), ("wan3", "1920:1080")],
)
def test_ratios_of_models_in_runways_spec_are_accepted(model, ratio):
    assert i2v(model=model, ratio=ratio, prompt_text="x")["ratio"] == ratio


@pytest.mark.parametrize(
    ("model", "duration", "ok_"),
    [
        ("gen4_turbo", 2, True),
        ("gen4_turbo", 10, True),
        ("gen4_turbo", "5", True),
        ("gen4_turbo", 5.0, True),
        ("gen4_turbo", 1, False),
        ("gen4_turbo", 11, False),
        ("gen4_turbo", 5.5, False),
        ("gen4_turbo", False, False),
        ("gen3a_turbo", 5, True),
        ("gen3a_turbo", 7, False),
        ("veo3.1", 8, True),
        ("veo3.1", 5, False),
        ("new_model", 15, True),
        ("new_model", 0, True),  # the server's to judge
    ],
)
def test_duration(model, duration, ok_):
    extra = {"ratio": "1280:720"} if model == "veo3.1" else {}
    if ok_:
        assert i2v(model=model, duration=duration, **extra)["duration"] == int(duration)
    else:
        assert field_of(i2v, model=model, duration=duration, **extra) == "duration"


def test_seedance_duration_may_be_auto_and_its_prompts_long():
    body = _body.build_for("text_to_video", prompt_text="y" * 3000, model="seedance2", duration="auto")
    assert body["duration"] == "auto"
    assert _body.build_for("text_to_video", prompt_text="y", model="seedance2", duration="6")["duration"] == 6
    assert field_of(_body.build_for, path="text_to_video", prompt_text="y", model="gen4.5", duration="auto")


def test_prompt_text_counts_utf16_units():
    astral = "\U0001f600"  # one code point, two UTF-16 units
    assert _rules.utf16_length(astral) == 2
    ok_text = astral * 500  # 500 code points, 1000 units
    assert i2v(prompt_text=ok_text)["promptText"] == ok_text
    too_long = astral * 500 + "a"  # 501 code points, 1001 units
    assert len(too_long) < 1000
    with pytest.raises(RunwayValidationError, match=r"1001 characters \(UTF-16 units\).*1 to 1000") as info:
        i2v(prompt_text=too_long)
    assert info.value.field == "prompt_text"


def test_prompt_text_type_nul_and_surrogates():
    assert field_of(i2v, prompt_text=123) == "prompt_text"
    assert field_of(i2v, prompt_text="a\x00b") == "prompt_text"
    assert field_of(i2v, prompt_text="a\udc80b") == "prompt_text"


def test_the_data_uri_limit_is_the_whole_uri_against_the_specs_max_length():
    small = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 64).decode()
    assert i2v(prompt_image=small)["promptImage"] == small
    limit = 5 * 1024 * 1024  # promptImage's data:image/ maxLength in Runway's spec
    assert i2v(prompt_image=data_uri("image/png", limit))
    with pytest.raises(RunwayValidationError, match=f"{limit + 1} characters.*at most {limit}") as info:
        i2v(prompt_image=data_uri("image/png", limit + 1))  # 1 character over, counting the prefix
    assert info.value.field == "prompt_image"
    assert _body.data_uri_limit("image_to_video", "gen4_turbo", ("promptImage",), "image") == limit


@pytest.mark.parametrize(
    "uri",
    [
        "data:image/gif;base64,R0lGODlhAQABAAAAACw=",
        "data:image/png;base64,@@@@",
        "data:image/png,rawbytes",
        "data:image/png;base64,",
        "http://example.com/a.png",
        "https://93.184.216.34/a.png",
        "https://[2001:db8::1]/a.png",
        "https://example.com/" + "a" * 2048,  # the spec: https URLs of at most 2048 characters
        "ftp://example.com/a.png",
        "/tmp/a.png",
        "runway://",
        "runway://abc",  # the spec: at least 13 characters
        "https://exa mple.com/a.png",
        "",
        None,
    ],
)
def test_bad_prompt_images_name_the_argument(uri):
    assert field_of(i2v, prompt_image=uri) == "prompt_image"


def test_url_at_the_length_limit_and_upload_uris_are_accepted():
    url = "https://example.com/" + "a" * (2048 - len("https://example.com/"))
    assert i2v(prompt_image=url)["promptImage"] == url
    assert i2v(prompt_image="runway://upload-token-123")["promptImage"] == "runway://upload-token-123"


def test_frames_follow_each_models_shape():
    def veo(**kw):
        return i2v(model="veo3.1", ratio="1280:720", **kw)

    body = veo(prompt_image=[PNG_URI, "https://example.com/end.png"])
    assert body["promptImage"] == [
        {"uri": PNG_URI, "position": "first"},
        {"uri": "https://example.com/end.png", "position": "last"},
    ]
    # gen4_turbo takes one frame, the first (Runway's spec: maxItems 1, position const "first")
    with pytest.raises(RunwayValidationError, match=r"has 2 items.*exactly 1") as info:
        i2v(prompt_image=[PNG_URI, "https://example.com/end.png"])
    assert info.value.field == "prompt_image"
    assert field_of(veo, prompt_image=[{"uri": PNG_URI}, {"uri": PNG_URI, "position": "first"}])
    assert (
        field_of(
            i2v, prompt_image=[{"uri": PNG_URI, "position": "first"}, {"uri": PNG_URI, "position": "first"}]
        )
        == "prompt_image[1].position"
    )
    assert field_of(veo, prompt_image=[PNG_URI, "http://example.com/x.png"]) == "prompt_image[1].uri"
    assert field_of(veo, prompt_image=[{"uri": PNG_URI, "position": "middle"}]) == "prompt_image[0].position"
    assert field_of(i2v, prompt_image=[]) == "prompt_image"
    assert field_of(i2v, prompt_image=5) == "prompt_image"


def test_content_moderation():
    assert field_of(i2v, content_moderation={"publicFigureThreshold": "high"}) == (
        "content_moderation.publicFigureThreshold"
    )
    assert field_of(i2v, content_moderation="low") == "content_moderation"


def test_an_argument_the_model_does_not_list_is_refused_even_where_its_schema_is_lenient():
    """gen4_turbo's schema lets unknown fields through (Runway drops them): watermark would do nothing."""
    with pytest.raises(RunwayValidationError, match=r"not taken by gen4_turbo.*lists no watermark") as info:
        i2v(watermark=True)
    assert info.value.field == "watermark"
    with pytest.raises(RunwayValidationError, match=r"not taken by veo3\.1") as info:
        i2v(model="veo3.1", content_moderation={"publicFigureThreshold": "low"})
    assert info.value.field == "content_moderation"


def test_extra_body_adds_fields_but_never_overrides_named_ones():
    assert i2v(extra_body={"newFlag": True})["newFlag"] is True  # gen4_turbo's schema is lenient
    assert (
        field_of(i2v, model="veo3.1", ratio="1280:720", extra_body={"newFlag": True}) == "extra_body.newFlag"
    )
    assert field_of(i2v, seed=1, extra_body={"seed": 2}) == "extra_body.seed"
    assert field_of(i2v, extra_body={"model": "other"}) == "extra_body.model"
    assert field_of(i2v, extra_body={"x": object()}) == "extra_body.x"
    assert field_of(i2v, extra_body={"x": float("nan")}) == "extra_body.x"
    assert field_of(i2v, extra_body=["seed"]) == "extra_body"


@pytest.mark.parametrize(
    ("name", "value"), [("seed", -1), ("duration", 99), ("ratio", "1:1"), ("promptText", 5), ("audio", True)]
)
def test_extra_body_cannot_bypass_validation_of_named_fields(name, value):
    """A named field must go through its argument even when the argument was left unset."""
    assert field_of(i2v, extra_body={name: value}) == f"extra_body.{name}"


def test_video_to_video_references_take_the_shape_of_the_model():
    """Runway's models take {uri}; the gateway's gen4_aleph documents {type: image, uri}."""
    runway = v2v(model="gemini_omni_flash", references=["https://example.com/ref.png"])
    assert runway["references"] == [{"uri": "https://example.com/ref.png"}]
    gateway = v2v(model="gen4_aleph", references=["https://example.com/ref.png", {"uri": PNG_URI}])
    assert gateway["references"] == [
        {"type": "image", "uri": "https://example.com/ref.png"},
        {"type": "image", "uri": PNG_URI},
    ]
    with pytest.raises(RunwayValidationError, match="not taken by gemini_omni_flash") as info:
        v2v(model="gemini_omni_flash", references=[{"type": "image", "uri": PNG_URI}])
    assert info.value.field == "references[0].type"
    assert field_of(v2v, references=["https://example.com/ref.png"]) == "references"  # aleph2 has none


def test_prompt_video_models_get_prompt_video():
    takes_prompt_video = [
        model
        for model, rules in _rules.variants("video_to_video").items()
        if "promptVideo" in rules.schema["properties"]
    ]
    assert sorted(takes_prompt_video) == [
        "hailuo3",
        "seedance2",
        "seedance2_5",
        "seedance2_fast",
        "seedance2_mini",
    ]
    for model in takes_prompt_video:
        body = v2v(model=model)
        assert body["promptVideo"] == VIDEO and "videoUri" not in body
    for model in ("gen4_aleph", "aleph2", "gemini_omni_flash", "brand_new"):
        assert "videoUri" in v2v(model=model) and "promptVideo" not in v2v(model=model)


def test_video_to_video_field_errors():
    assert field_of(v2v, model="gen4_aleph", prompt_text=None) == "prompt_text"
    assert field_of(v2v, model="hailuo3", prompt_text="  ") == "prompt_text"
    assert "promptText" not in v2v(model="aleph2", prompt_text=None)  # optional for aleph2
    assert field_of(v2v, video_uri=data_uri("image/png", 64)) == "video_uri"
    assert field_of(v2v, video_uri=data_uri("video/mp4", 5 * 1024 * 1024 + 1)) == "video_uri"
    assert v2v(video_uri=data_uri("video/mp4", 1022))["videoUri"].startswith("data:video/mp4")
    assert field_of(v2v, model="gen4_aleph", references=[{"type": "video", "uri": PNG_URI}]) == (
        "references[0].type"
    )
    assert field_of(v2v, model="gen4_aleph", references=["http://example.com/r.png"]) == "references[0].uri"
    assert field_of(v2v, model="gen4_aleph", references="https://example.com/r.png") == "references"


def test_typed_media_kind_from_the_value_the_hint_or_the_schema():
    def act(**kw):
        return _body.build_for("character_performance", **{"reference": VIDEO, **kw})

    assert act(character=PNG_URI)["character"] == {"type": "image", "uri": PNG_URI}
    assert act(character="https://example.com/actor", character_type="video")["character"]["type"] == "video"
    assert act(character=PNG_URI)["reference"] == {"type": "video", "uri": VIDEO}  # the only kind it takes
    assert field_of(act, character="https://example.com/actor") == "character.type"
    assert field_of(act, character={"type": "audio", "uri": PNG_URI}) == "character.type"
    assert field_of(act, character={"type": "image"}) == "character"


def test_audio_endpoints_shape_their_inputs():
    body = _body.build_for(
        "sound_effect", prompt_text="rain", model="seed_audio", reference_audios=["https://example.com/a.mp3"]
    )
    assert body["referenceAudios"] == ["https://example.com/a.mp3"]  # seed_audio takes bare URIs
    body = _body.build_for(
        "speech_to_speech",
        media="data:audio/mpeg;base64,AAAA",
        voice={"type": "runway-preset", "preset_id": "Maya"},
        remove_background_noise="true",
    )
    assert body["media"] == {"type": "audio", "uri": "data:audio/mpeg;base64,AAAA"}
    assert body["voice"] == {"type": "runway-preset", "presetId": "Maya"}
    assert body["removeBackgroundNoise"] is True
    with pytest.raises(RunwayValidationError) as info:
        _body.build_for(
            "text_to_speech", prompt_text="hi", voice={"type": "runway-preset", "presetId": "Nobody"}
        )
    assert info.value.field == "voice.presetId"


def test_the_hook_helpers_take_the_operators_names():
    with pytest.raises(TypeError, match="takes no argument 'prompt'"):
        _body.build_for("image_to_video", prompt_image=PNG_URI, prompt="x")
    with pytest.raises(TypeError, match="needs the argument 'prompt_image'"):
        _body.build_for("image_to_video", model="gen4_turbo")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"configId": "Bad Slug", "input": {"promptText": "x"}}, "body.configId"),
        ({"configId": "my_router", "input": {"promptText": ""}}, "body.input.promptText"),
        ({"configId": "my_router", "input": {"promptText": "x", "seed": -1}}, "body.input.seed"),
        ({"input": {"promptText": "x"}}, "body.configId"),
    ],
)
def test_wire_bodies_of_the_model_router_are_checked_by_the_spec(body, field):
    with pytest.raises(RunwayValidationError) as info:
        _body.check_wire_body("generate/image", body)
    assert info.value.field == field


def test_a_wire_body_for_an_unknown_model_passes_with_a_note():
    built = _body.check_wire_body("sound_effect", {"model": "future_sound", "anything": 1})
    assert built.rules is None and "future_sound" in built.notes[0]
    with pytest.raises(RunwayValidationError) as info:
        _body.check_wire_body("sound_effect", {"model": "eleven_text_to_sound_v2"})
    assert info.value.field == "body.promptText"
