"""Bad input, generated: whatever a DAG author (or an upstream task, through templates) hands the two
generation operators, each run either creates one task or is refused with a RunwayValidationError that
names the argument, before any HTTP request (the simulator sees nothing). Never a raw TypeError,
KeyError or ValueError, never a request that the provider should have refused itself.
"""

from __future__ import annotations

import re
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from airflow_provider_runway.endpoints import _rules
from airflow_provider_runway.exceptions import RunwayAPIError, RunwayValidationError
from airflow_provider_runway.operators.runway import RunwayImageToVideoOperator, RunwayVideoToVideoOperator

from .conftest import make_context

pytestmark = pytest.mark.timeout(240)

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

huge = st.integers(min_value=1001, max_value=100_000).map(lambda n: "é" * n)
weird_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
    st.sampled_from(["", " ", "\x00", "🎬" * 600, "a\udc80b", "../../etc/passwd", "{{ ds }}", "\u202e"]),
    huge,
)
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    weird_text,
    st.binary(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.just(object()),
)
https_url = st.builds(
    lambda host, path: f"https://{host}.example.com/{path}",
    st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=10),
    st.text(alphabet=string.ascii_letters + string.digits + "/._-", max_size=30),
)
schemes = st.sampled_from(
    ["http", "ftp", "file", "gopher", "javascript", "data", "runway", "HTTPS", "s3", "simplecache::http", ""]
)
odd_url = st.one_of(
    st.builds(lambda s, rest: f"{s}://{rest}", schemes, st.text(max_size=40)),
    st.sampled_from(
        [
            "https://10.0.0.1/a.png",
            "https://[::1]/a.png",
            "https://" + "a" * 3000 + ".com/x.png",
            "https://example.com/a b.png",
            "data:image/png;base64,!!!!",
            "data:image/gif;base64,R0lGODlhAQABAAAAACw=",
            "data:image/png;base64,",
            "runway://",
            "https://user:pw@example.com/a.png",
        ]
    ),
)
uri = st.one_of(https_url, odd_url, junk)
frames = st.lists(
    st.one_of(
        uri,
        st.fixed_dictionaries(
            {"uri": uri}, optional={"position": st.one_of(st.sampled_from(["first", "last"]), junk)}
        ),
        st.dictionaries(st.text(max_size=6), uri, max_size=2),
    ),
    max_size=3,
)
seed = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([0, 4_294_967_295, 4_294_967_296, -1, 999_999_999, "42", " 7 ", "1e3", "0x10", 2**64]),
    junk,
)
ratio = st.one_of(
    st.sampled_from(
        ["1280:720", "720:1280", "960:960", "1280:768", "21:9", "adaptive", "1:1", "16/9", "1280x720"]
    ),
    junk,
)
model = st.one_of(
    st.sampled_from(
        ["gen4_turbo", "gen4.5", "gen3a_turbo", "veo3", "veo3.1", "gen4_aleph", "aleph2", "seedance2"]
    ),
    st.sampled_from(["brand_new_model", "GEN4_TURBO", "gen4 turbo", "../x", "a" * 101]),
    junk,
)
moderation = st.one_of(
    st.none(),
    st.fixed_dictionaries({"publicFigureThreshold": st.one_of(st.sampled_from(["auto", "low"]), junk)}),
    st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), junk, max_size=2),
    junk,
)
extra_body = st.one_of(
    st.none(),
    st.dictionaries(
        st.text(max_size=10), st.one_of(st.integers(), st.text(max_size=10), st.none()), max_size=3
    ),
    st.dictionaries(st.one_of(st.integers(), st.text(max_size=3)), junk, max_size=2),
    st.sampled_from([{"promptText": "sneaky"}, {"seed": -1}, {"": 1}, {"ok": float("nan")}]),
    junk,
)

I2V_FIELDS = {
    "prompt_image",
    "model",
    "prompt_text",
    "seed",
    "duration",
    "ratio",
    "watermark",
    "content_moderation",
    "extra_body",
}
V2V_FIELDS = {
    "video_uri",
    "prompt_text",
    "model",
    "seed",
    "references",
    "ratio",
    "content_moderation",
    "extra_body",
}


def outcome(sim: Any, operator: Any, fields: set[str]) -> str:
    """Run once; return 'created', 'refused' or 'server refused'; fail the test on anything else."""
    sim.control.reset()
    try:
        result = operator.execute(make_context())
    except RunwayValidationError as err:
        root = re.split(r"[\[.]", err.field, maxsplit=1)[0]
        assert root in fields, f"the error names {err.field!r}, not an argument: {err}"
        accounting = sim.control.accounting()
        assert accounting["request_count"] == 0, "refused only after a request was sent"
        assert str(err).startswith(f"Invalid {err.field}")
        return "refused"
    except RunwayAPIError as err:
        # The provider let it through and the server said no. Only for what the server alone can judge:
        # the rules of models Runway's spec does not list. Anything else is a provider gap.
        assert err.http_status == 400, err
        assert len(sim.control.accounting()["creates"]) == 0
        return f"server refused: {err}"
    assert result["status"] == "SUBMITTED"
    assert len(sim.control.accounting()["creates"]) == 1
    return "created"


I2V_VALID = {
    "prompt_image": "https://example.com/cat.jpg",
    "model": "gen4_turbo",
    "prompt_text": "a cat walks",
    "seed": 7,
    "duration": 5,
    "ratio": "1280:720",
    "watermark": None,  # gen4_turbo takes none (only the gateway's gen3a_turbo does)
    "content_moderation": {"publicFigureThreshold": "low"},
    "extra_body": None,
}
I2V_BAD = {
    "prompt_image": st.one_of(uri, frames),
    "model": model,
    "prompt_text": st.one_of(weird_text, junk),
    "seed": seed,
    "duration": st.one_of(st.integers(min_value=-5, max_value=100), seed),
    "ratio": ratio,
    "watermark": st.one_of(st.booleans(), st.sampled_from(["true", "False", "yes", 1]), junk),
    "content_moderation": moderation,
    "extra_body": extra_body,
}
V2V_VALID = {
    "video_uri": "https://example.com/in.mp4",
    "prompt_text": "make it snow",
    "model": "seedance2",
    "seed": 7,
    "references": ["https://example.com/ref.png"],
    "ratio": None,
    "content_moderation": None,
    "extra_body": None,
}
V2V_BAD = {
    "video_uri": uri,
    "prompt_text": st.one_of(weird_text, junk),
    "model": model,
    "seed": seed,
    "references": st.one_of(st.none(), frames, junk),
    "ratio": ratio,
    "content_moderation": moderation,
    "extra_body": extra_body,
}
#: Models whose rules the provider knows completely on that endpoint, because Runway's spec lists them: the
#: server (the simulator's runway flavor, validating with the same spec) must never refuse what it let
#: through for them. (The gateway's gen3a_turbo and gen4_aleph are refused by Runway direct, rightly.)
KNOWN_STRICT = {
    endpoint: set(_rules.model_schemas_in_spec(endpoint)) for endpoint in ("image_to_video", "video_to_video")
}


def server_only(kwargs: dict[str, Any]) -> bool:
    """What only the server can judge: its uploads (runway:// URIs), fields the provider does not name
    (extra_body, unknown content_moderation keys; passed through so new API fields work at once)."""
    moderation = kwargs.get("content_moderation")
    unknown_keys = isinstance(moderation, dict) and set(moderation) - {"publicFigureThreshold"}
    return "runway://" in repr(kwargs).lower() or bool(kwargs.get("extra_body")) or bool(unknown_keys)


def one_bad(
    operator_class: type, endpoint: str, valid: dict[str, Any], bad: dict[str, Any], sim: Any, data: Any
) -> None:
    """Every argument valid but one: a refusal must name exactly that one (a model change may also make
    the other arguments wrong for the new model, so a bad model may name any argument)."""
    name = data.draw(st.sampled_from(sorted(bad)), label="argument")
    kwargs = {**valid, name: data.draw(bad[name], label=name)}
    op = operator_class(task_id="fuzz", wait_for_completion=False, **kwargs)
    result = outcome(sim, op, set(valid) if name == "model" else {name})
    event(f"{name}: {result.split(':')[0]}")
    if result.startswith("server refused") and not server_only(kwargs):
        assert kwargs["model"] not in KNOWN_STRICT[endpoint], (result, kwargs)


def all_random(
    operator_class: type, endpoint: str, valid: dict[str, Any], bad: dict[str, Any], sim: Any, data: Any
) -> None:
    kwargs = {name: data.draw(strategy, label=name) for name, strategy in bad.items()}
    op = operator_class(task_id="fuzz", wait_for_completion=False, **kwargs)
    result = outcome(sim, op, set(valid))
    if result.startswith("server refused") and not server_only(kwargs):
        assert kwargs["model"] not in KNOWN_STRICT[endpoint], (result, kwargs)


@pytest.mark.parametrize("shape", [one_bad, all_random], ids=["one-bad-argument", "all-random"])
@SETTINGS
@given(data=st.data())
def test_image_to_video_arguments_are_accepted_or_refused_by_name(
    runway_simulator_direct, monkeypatch, shape, data
):
    runway_simulator_direct.set_airflow_conn(monkeypatch)
    shape(RunwayImageToVideoOperator, "image_to_video", I2V_VALID, I2V_BAD, runway_simulator_direct, data)


@pytest.mark.parametrize("shape", [one_bad, all_random], ids=["one-bad-argument", "all-random"])
@SETTINGS
@given(data=st.data())
def test_video_to_video_arguments_are_accepted_or_refused_by_name(
    runway_simulator_direct, monkeypatch, shape, data
):
    runway_simulator_direct.set_airflow_conn(monkeypatch)
    shape(RunwayVideoToVideoOperator, "video_to_video", V2V_VALID, V2V_BAD, runway_simulator_direct, data)


def test_the_valid_baselines_are_created(runway_simulator_direct, monkeypatch):
    """The one-bad-argument tests start from arguments that really are accepted."""
    runway_simulator_direct.set_airflow_conn(monkeypatch)
    assert (
        outcome(
            runway_simulator_direct,
            RunwayImageToVideoOperator(task_id="a", wait_for_completion=False, **I2V_VALID),
            set(),
        )
        == "created"
    )
    assert (
        outcome(
            runway_simulator_direct,
            RunwayVideoToVideoOperator(task_id="b", wait_for_completion=False, **V2V_VALID),
            set(),
        )
        == "created"
    )
