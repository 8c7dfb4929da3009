"""OpenLineage: each generation's input and output datasets, when apache-airflow-providers-openlineage is
installed (the ``test`` extra installs it); importing the operators never imports it.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_runway import lineage
from airflow_provider_runway.operators.runway import (
    RunwayCharacterPerformanceOperator,
    RunwayGenerateOperator,
    RunwayImageToVideoOperator,
    RunwayTextToImageOperator,
)
from tests.unit.operators.test_runway import FAST, INPUTS, MODES, FakeTI, make_context, run_op, t2i

pytestmark = pytest.mark.timeout(90)

HOST = socket.gethostname()
DATA_URI = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40).decode()


def pairs(datasets: list[Any]) -> list[tuple[str, str]]:
    return [(d.namespace, d.name) for d in datasets]


# --------------------------------------------------------------------------------------------------------
# Naming (pure)
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/data/in/cat.png", ("file://h1", "/data/in/cat.png")),
        ("file:///data/in/cat.png", ("file://h1", "/data/in/cat.png")),
        ("s3://bucket/videos/a.mp4", ("s3://bucket", "videos/a.mp4")),
        ("gs://bucket/a.png", ("gs://bucket", "a.png")),
        (
            "https://cdn.example.com/a/cat.jpg?X-Amz-Signature=secret",
            ("https://cdn.example.com", "/a/cat.jpg"),
        ),
        ("https://user:pw@cdn.example.com:8443/cat.jpg", ("https://cdn.example.com:8443", "/cat.jpg")),
    ],
)
def test_dataset_names(value, expected):
    assert lineage.dataset_for(value, hostname="h1") == expected


def test_relative_paths_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert lineage.dataset_for("in/cat.png", hostname="h1") == ("file://h1", str(tmp_path / "in" / "cat.png"))


def test_data_and_runway_uris_are_named_by_hash_never_by_content():
    namespace, name = lineage.dataset_for(DATA_URI)  # type: ignore[misc]
    payload = DATA_URI.split(",", 1)[1]
    assert namespace == "data-uri" and name.startswith("data-uri:") and len(name) == len("data-uri:") + 16
    assert payload[:12] not in name
    token = "runway://abcdefSECRETTOKEN"
    namespace, name = lineage.dataset_for(token)  # type: ignore[misc]
    assert namespace == "runway" and "SECRET" not in name
    assert lineage.dataset_for(DATA_URI) == lineage.dataset_for(DATA_URI)  # stable across runs


def test_inputs_walk_lists_and_uri_dicts_and_deduplicate():
    values = [
        [{"uri": "https://e.com/a.png", "position": "first"}, "https://e.com/a.png"],
        {"type": "video", "uri": "s3://b/k.mp4"},
        None,
    ]
    assert lineage.input_datasets(values) == [("https://e.com", "/a.png"), ("s3://b", "k.mp4")]


def test_outputs_prefer_saved_paths_and_drop_signatures():
    manifest = {
        "outputs": [
            {"index": 0, "url": "https://r.example/o/0.png?sig=1", "path": "s3://bucket/out/t_0.png"},
            {"index": 1, "url": "https://r.example/o/1.png?Signature=secret"},
        ]
    }
    assert lineage.output_datasets(manifest) == [
        ("s3://bucket", "out/t_0.png"),
        ("https://r.example", "/o/1.png"),
    ]


# --------------------------------------------------------------------------------------------------------
# The operators' facets, after a real generation against the simulator
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_image_to_video_inputs_and_saved_outputs(direct, mode, tmp_path):
    from airflow.providers.openlineage.extractors import OperatorLineage

    source = str(INPUTS / "ocean_waves.png")

    def make() -> RunwayImageToVideoOperator:
        return RunwayImageToVideoOperator(
            task_id="generate",
            prompt_image=source,
            ratio="1280:720",
            duration=5,
            output_path=str(tmp_path),
            **FAST,
        )

    op, resumed = make(), make()
    context = make_context()
    manifest = run_op(op, context, mode, resume_with=resumed)
    facets = (resumed if mode == "deferred" else op).get_openlineage_facets_on_complete(context["ti"])
    assert isinstance(facets, OperatorLineage)
    # The local file the author named, not the data URI it was sent as.
    assert pairs(facets.inputs) == [(f"file://{HOST}", source)]
    saved = manifest["outputs"][0]["path"]
    assert pairs(facets.outputs) == [(f"file://{HOST}", saved)]
    query = facets.run_facets["externalQuery"]
    assert query.externalQueryId == manifest["runway_task_id"] and query.source == "runway"


def test_text_to_image_references_and_unsaved_outputs(direct):
    op = t2i(
        model="gen4_image_turbo", reference_images=[DATA_URI, {"uri": "https://e.com/dog.png", "tag": "dog"}]
    )
    manifest = run_op(op, make_context(), "sync")
    facets = op.get_openlineage_facets_on_complete(FakeTI())
    inputs = pairs(facets.inputs)
    assert inputs[0][0] == "data-uri" and inputs[1] == ("https://e.com", "/dog.png")
    assert all(DATA_URI.split(",", 1)[1][:12] not in name for _, name in inputs)
    # Not saved: the output URL without its signature.
    ((namespace, name),) = pairs(facets.outputs)
    assert namespace.startswith("http://127.0.0.1:") and name.endswith("/0.png") and "?" not in name
    assert manifest["outputs"][0]["url"].split("?")[0].endswith(name)


def test_facets_from_xcom_when_the_operator_did_not_finish_here(direct, tmp_path):
    """The OpenLineage listener may see a fresh operator object: the manifest comes from XCom then."""
    manifest = run_op(t2i(output_path=str(tmp_path)), make_context(), "sync")
    ti = FakeTI()
    ti.xcom_push("return_value", manifest)
    facets = t2i(output_path=str(tmp_path)).get_openlineage_facets_on_complete(ti)
    assert pairs(facets.outputs) == [(f"file://{HOST}", manifest["outputs"][0]["path"])]


def test_character_performance_and_generic_inputs(direct):
    act = RunwayCharacterPerformanceOperator(
        task_id="act",
        character={"type": "image", "uri": "s3://actors/ana.png"},
        reference="https://e.com/p.mp4",
    )
    facets = act.get_openlineage_facets_on_complete(FakeTI())
    assert pairs(facets.inputs) == [("s3://actors", "ana.png"), ("https://e.com", "/p.mp4")]
    assert facets.outputs == [] and facets.run_facets == {}
    generic = RunwayGenerateOperator(
        task_id="any",
        endpoint="text_to_video",
        body={
            "model": "m",
            "promptText": "https://not-an-asset? it is prose",
            "references": [{"uri": "https://e.com/r.png"}],
        },
    )
    names = pairs(generic.get_openlineage_facets_on_complete(FakeTI()).inputs)
    assert ("https://e.com", "/r.png") in names


def test_lineage_of_an_unresolvable_input_is_empty_not_an_error():
    op = RunwayCharacterPerformanceOperator(
        task_id="act", character="https://e.com/who", reference="https://e.com/p.mp4"
    )
    assert op.get_openlineage_facets_on_complete(FakeTI()).inputs == []


def test_operators_are_seen_by_the_openlineage_extractor(direct):
    from airflow.providers.openlineage.extractors.manager import ExtractorManager

    manager = ExtractorManager()
    for op in (t2i(), RunwayTextToImageOperator(task_id="x", prompt_text="p", ratio="1920:1080")):
        assert manager.get_extractor_class(op) is not None


# --------------------------------------------------------------------------------------------------------
# No hard dependency: importing the provider does not import OpenLineage
# --------------------------------------------------------------------------------------------------------
def test_importing_the_operators_does_not_import_openlineage():
    probe = textwrap.dedent(
        """
        import json, sys
        import airflow.sdk
        before = {m for m in sys.modules if "openlineage" in m}
        import airflow_provider_runway.operators.runway
        import airflow_provider_runway.lineage
        after = {m for m in sys.modules if "openlineage" in m}
        print("RESULT" + json.dumps(sorted(after - before)))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    (line,) = [line for line in out.stdout.splitlines() if line.startswith("RESULT")]
    assert json.loads(line[len("RESULT") :]) == []


def test_lineage_module_imports_only_the_standard_library():
    source = Path(lineage.__file__).read_text()
    assert "openlineage" not in "".join(
        line for line in source.splitlines() if line.lstrip().startswith(("import ", "from "))
    )
