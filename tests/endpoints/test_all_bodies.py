"""Every (endpoint, model) the registry knows, through its operator, with every optional argument the model
accepts: the body it builds is valid under Runway's published request schema (the gateway-only models:
under the overlay), checked here with plain ``jsonschema`` on the JSON files themselves, and the simulator
(Runway direct's flavor, or the gateway's for the gateway's own models) creates the task over a real socket.

The arguments are written as a DAG author writes them: numbers and booleans as rendered templates give them
(strings), list inputs as bare URIs, typed inputs as a URI whose extension tells the kind.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from airflow_provider_runway.endpoints import _registry, _rules
from airflow_provider_runway.exceptions import RunwayValidationError
from airflow_provider_runway.operators import runway as operators

pytestmark = pytest.mark.timeout(120)

SPEC = json.loads(_rules.SPEC_FILE.read_text(encoding="utf-8"))
OVERLAY = json.loads(_rules.OVERLAY_FILE.read_text(encoding="utf-8"))
URLS = {
    "image": "https://example.com/cat.jpg",
    "video": "https://example.com/cat.mp4",
    "audio": "https://example.com/voice.mp3",
}


def request_schema(path: str) -> dict[str, Any]:
    return SPEC["paths"][f"/v1/{path}"]["post"]["requestBody"]["content"]["application/json"]["schema"]


def model_schemas(path: str) -> dict[str, tuple[dict[str, Any], bool]]:
    """model -> (its schema, whether only the gateway documents it), straight from the JSON files."""
    found = {
        variant["properties"]["model"]["const"]: (variant, False)
        for variant in request_schema(path).get("oneOf", [])
        if "const" in variant.get("properties", {}).get("model", {})
    }
    for model, schema in OVERLAY["paths"].get(f"/v1/{path}", {}).items():
        found[model] = (schema, True)
    return found


def _kind(options: list[dict[str, Any]]) -> str:
    for option in options:
        pattern = option.get("pattern", "")
        if pattern.startswith("^data:"):
            return pattern[len("^data:") :].split("\\", 1)[0]
    return "image"


def example(schema: dict[str, Any]) -> Any:
    """A value valid for ``schema`` that sets every property it lists (recursively)."""
    if not schema:  # any value (hailuo3's and wan3's promptImage items): a frame, as the others take them
        return {"uri": URLS["image"], "position": "first"}
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        flat = [o for o in options if not (o.get("anyOf") or o.get("oneOf"))]
        if (
            flat
            and all(o.get("type") == "string" and o.get("pattern") for o in flat)
            and len(flat) == len(options)
        ):
            return URLS[_kind(flat)]  # a URI union: https
        for wanted in ("array", "object"):
            for option in options:
                if option.get("type") == wanted:
                    return example(option)
        return example(options[0])
    kind = schema.get("type")
    if kind == "object":
        return {name: example(sub) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        items = schema.get("items", {"type": "string", "pattern": "^https", "minLength": 13})
        return [example(items) for _ in range(max(1, schema.get("minItems", 1)))]
    if kind == "integer":
        return schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1)
    if kind == "number":
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        return low if low is not None and "minimum" in schema else (low or 0) + 0.5
    if kind == "boolean":
        return True
    if kind == "string":
        if schema.get("pattern", "").startswith(("^https", "^data", "^runway")):
            return URLS["image"]
        return "x" * max(3, schema.get("minLength", 1))
    raise AssertionError(f"no example for {schema}")


def as_author_writes(arg: Any, wire_value: Any) -> Any:
    """The operator argument a DAG author gives for ``wire_value``."""
    if arg.form == "value":
        return _templated(wire_value)
    if arg.form == "media_list":
        # bare URIs where the item is only its URI and fixed fields; the rest as dicts without the fixed type
        return [
            item["uri"] if isinstance(item, dict) and set(item) <= {"uri", "type"} else item
            for item in wire_value
        ]
    if arg.form == "typed_media":
        return wire_value["uri"]  # the extension says the kind
    return wire_value


def _templated(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def named_cases() -> list[tuple[str, str, bool]]:
    return [
        (path, model, gateway_only)
        for path, declared in _registry.endpoints().items()
        if declared.operator_name
        for model, (_, gateway_only) in model_schemas(path).items()
    ]


def generic_cases() -> list[tuple[str, int]]:
    return [
        (path, index)
        for path, declared in _registry.endpoints().items()
        if not declared.operator_name
        for index, _ in enumerate(request_schema(path).get("oneOf", [request_schema(path)]))
    ]


NAMED = named_cases()
GENERIC = generic_cases()


def test_the_cases_cover_every_declared_endpoint_and_model():
    assert len(NAMED) == 56  # (endpoint, model) pairs with an operator of their own
    assert sum(1 for *_, gateway_only in NAMED if gateway_only) == 2
    assert len({path for path, _ in GENERIC}) == 11 and len(GENERIC) == 12  # multi_shot_video: two shapes
    assert {path for path, *_ in NAMED} | {path for path, _ in GENERIC} == set(_registry.endpoints())


@pytest.mark.parametrize(("path", "model", "gateway_only"), NAMED, ids=[f"{p}:{m}" for p, m, _ in NAMED])
def test_every_model_with_every_optional_argument_makes_a_valid_body(request, path, model, gateway_only):
    sim = request.getfixturevalue("gateway" if gateway_only else "direct")
    schema, _ = model_schemas(path)[model]
    wire = example(schema)
    jsonschema.Draft202012Validator(schema).validate(wire)  # the example itself is right
    declared = _registry.endpoints()[path]
    arguments: dict[str, Any] = {"model": model}
    for arg in declared.arguments:
        chosen = next((w for w in arg.wire if w in wire), None)
        if chosen is not None and arg.name != "model":
            arguments[arg.name] = as_author_writes(arg, wire[chosen])
    cls = getattr(operators, declared.operator_name)
    op = cls(task_id="every_argument", wait_for_completion=False, durable=False, **arguments)
    result = op.execute({"ti": _TI()})

    (create,) = sim.control.accounting()["creates"]
    body = create["body"]
    assert result["status"] == "SUBMITTED" and create["endpoint"] == path
    jsonschema.Draft202012Validator(schema).validate(body)  # Runway's (or the gateway's) rules, as published
    assert set(body) == set(schema["properties"]), "every field the model takes was set"


@pytest.mark.parametrize(("path", "index"), GENERIC, ids=[f"{p}:{i}" for p, i in GENERIC])
def test_every_endpoint_without_an_operator_is_reached_and_validated(direct, path, index):
    schema = request_schema(path)
    variant = schema.get("oneOf", [schema])[index]
    body = example(variant)
    jsonschema.Draft202012Validator(schema).validate(body)
    op = operators.RunwayGenerateOperator(
        task_id="generic", endpoint=path, body=body, wait_for_completion=False, durable=False
    )
    assert op.output_extension() == _registry.endpoints()[path].output_ext
    op.execute({"ti": _TI()})
    (create,) = direct.control.accounting()["creates"]
    assert create["endpoint"] == path
    broken = {**body, "unexpected": 1}  # every one of these schemas is strict
    with pytest.raises(RunwayValidationError, match=r"^Invalid body\.unexpected: is not taken"):
        operators.RunwayGenerateOperator(task_id="g", endpoint=path, body=broken).build_body({})


class _TI:
    """Just enough of a TaskInstance for a create that does not wait."""

    task_id = "every_argument"
    dag_id = "all_bodies"
    run_id = "manual"
    map_index = -1
    try_number = 1

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value
