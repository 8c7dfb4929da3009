"""The worked example of one room: ``video_to_hdr`` is one module in endpoints/ and one entry in the
simulator's endpoint table, and it has its operator, template fields, file input, request rules and
simulator support. Against the simulator over a real socket, in both modes."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_runway.exceptions import RunwayConfigurationError, RunwayValidationError
from airflow_provider_runway.operators.runway import RunwayBaseOperator, RunwayVideoToHdrOperator
from tests.unit.operators.test_runway import FAST, INPUTS, VIDEO, creates, make_context, request_count, run_op

pytestmark = pytest.mark.timeout(90)


def hdr(**kwargs):
    return RunwayVideoToHdrOperator(**{"task_id": "hdr", "video_uri": VIDEO, **FAST, **kwargs})


def test_its_operator_follows_from_the_declaration():
    assert RunwayVideoToHdrOperator.endpoint == "video_to_hdr"
    assert RunwayVideoToHdrOperator.template_fields == (
        *RunwayBaseOperator.template_fields,
        "video_uri",
        "model",
        "output_format",
        "prores_profile",
        "extra_body",
    )
    assert RunwayVideoToHdrOperator.input_fields == {"video_uri": "video"}


@pytest.mark.parametrize("mode", ["sync", "deferred"])
def test_grades_a_video_and_saves_it_on_runway_direct(direct, mode, tmp_path):
    op = hdr(output_format="{{ params.format }}", prores_profile="422 HQ", output_path=str(tmp_path))
    op.render_template_fields({"params": {"format": "hdr_prores"}})
    manifest = run_op(op, make_context(), mode)
    assert manifest["endpoint"] == "video_to_hdr" and manifest["model"] == "ruby"
    (output,) = manifest["outputs"]
    assert Path(output["path"]).read_bytes()[4:8] == b"ftyp"
    (create,) = creates(direct)
    assert create["body"] == {
        "videoUri": VIDEO,
        "model": "ruby",
        "outputFormat": "hdr_prores",
        "proresProfile": "422 HQ",
    }


def test_a_local_clip_goes_as_a_data_uri(direct):
    manifest = run_op(hdr(video_uri=str(INPUTS / "street_clip.mp4")), make_context(), "sync")
    assert manifest["status"] == "SUCCEEDED"
    assert creates(direct)[0]["body"]["videoUri"].startswith("data:video/mp4;base64,")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"output_format": "mp4"}, "output_format"),  # ruby grades to HDR formats only
        ({"prores_profile": "4444 XQ"}, "prores_profile"),
        ({"video_uri": "https://93.184.216.34/clip.mp4"}, "video_uri"),
        ({"extra_body": {"seed": 3}}, "extra_body.seed"),  # ruby's schema is strict
    ],
)
def test_refused_before_any_request(direct, kwargs, field):
    with pytest.raises(RunwayValidationError) as info:
        hdr(**kwargs).execute(make_context())
    assert info.value.field == field
    assert request_count(direct) == 0


def test_the_gateway_lacks_it_nothing_is_created(gateway):
    with pytest.raises(RunwayConfigurationError, match=r"/v1/video_to_hdr.*No task was created"):
        hdr().execute(make_context())
    assert creates(gateway) == []
