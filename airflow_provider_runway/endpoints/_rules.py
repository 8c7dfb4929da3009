"""Request rules from Runway's spec, and from the gateway's documentation for the gateway's own models.

``runway_openapi.json`` is a trimmed copy of Runway's published OpenAPI document (``_specgen.py``
regenerates it); ``gateway_overlay.json`` adds the models only the CometAPI gateway documents
(``gen3a_turbo``, ``gen4_aleph``), each field with a ``$comment`` quoting its source. For one endpoint
and model, :func:`rules_for` gives the request schema; :func:`check` validates a wire body with
``jsonschema`` (lengths in UTF-16 code units, as Runway counts them) and says what is wrong in words.
A model neither lists is the server's to judge.

Loaded when a task runs or validation is asked for: never while a DAG file is parsed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import jsonschema
from jsonschema import Draft202012Validator, ValidationError

HERE = Path(__file__).parent
SPEC_FILE = HERE / "runway_openapi.json"
OVERLAY_FILE = HERE / "gateway_overlay.json"
GATEWAY_SOURCE = "the CometAPI gateway's documentation"


class Rules(NamedTuple):
    """The request schema of one model on one endpoint, and where it comes from."""

    endpoint: str
    #: None for endpoints whose body names no model (the Model Router's ``generate/*``, recipes)
    model: str | None
    schema: dict[str, Any]
    #: ``Runway's spec 2024-11-06`` or ``the CometAPI gateway's documentation``
    source: str

    @property
    def gateway_only(self) -> bool:
        return self.source == GATEWAY_SOURCE

    @property
    def label(self) -> str:
        return self.model or self.endpoint


class Issue(NamedTuple):
    """One problem with a wire body: where (a path into the body) and what, in words."""

    path: tuple[str | int, ...]
    message: str


# --------------------------------------------------------------------------------------------------------
# The documents
# --------------------------------------------------------------------------------------------------------
@cache
def spec() -> dict[str, Any]:
    """The trimmed copy of Runway's spec."""
    return json.loads(SPEC_FILE.read_text(encoding="utf-8"))


@cache
def overlay() -> dict[str, Any]:
    """The gateway's own models."""
    return json.loads(OVERLAY_FILE.read_text(encoding="utf-8"))


def spec_source() -> str:
    return f"Runway's spec {spec()['info']['version']}"


def task_paths() -> list[str]:
    """Every task-creating endpoint of the spec (``image_to_video``, ``generate/video``, ...)."""
    return [path[len("/v1/") :] for path in spec()["x-task-paths"]]


def request_schema(endpoint: str) -> dict[str, Any] | None:
    """The whole request schema of an endpoint in the spec (a ``oneOf`` keyed on ``model``, mostly)."""
    item = spec()["paths"].get(f"/v1/{endpoint}")
    if item is None or "requestBody" not in item.get("post", {}):
        return None
    schema: dict[str, Any] = item["post"]["requestBody"]["content"]["application/json"]["schema"]
    return schema


@cache
def variants(endpoint: str) -> dict[str | None, Rules]:
    """Every model's rules on an endpoint: the spec's, then the overlay's (None: the body names no model)."""
    found: dict[str | None, Rules] = {}
    schema = request_schema(endpoint)
    if schema is not None:
        options = schema.get("oneOf", [schema])
        models = [option.get("properties", {}).get("model", {}).get("const") for option in options]
        if all(isinstance(model, str) for model in models):
            for model, option in zip(models, options, strict=True):
                found[model] = Rules(endpoint, model, option, spec_source())
        else:  # no model to key on (recipes, the Model Router; multi_shot_video's oneOf is keyed on mode)
            found[None] = Rules(endpoint, None, schema, spec_source())
    for model, option in overlay()["paths"].get(f"/v1/{endpoint}", {}).items():
        found.setdefault(model, Rules(endpoint, model, option, GATEWAY_SOURCE))
    return found


def rules_for(endpoint: str, model: str | None) -> Rules | None:
    """The rules of ``model`` on ``endpoint`` (``model`` is ignored where the body names none)."""
    known = variants(endpoint)
    if None in known:
        return known[None]
    return known.get(model) if model is not None else None


def names_a_model(endpoint: str) -> bool:
    """Whether this endpoint's bodies carry a ``model`` (False for recipes and the Model Router)."""
    known = variants(endpoint)
    return bool(known) and None not in known


def model_schemas_in_spec(endpoint: str) -> list[str]:
    """The models Runway's spec lists on an endpoint (without the gateway's own)."""
    return [model for model, rules in variants(endpoint).items() if model and not rules.gateway_only]


def known_models(endpoint: str) -> list[str]:
    return [model for model in variants(endpoint) if model is not None]


def field_schemas(endpoint: str, wire: str) -> list[dict[str, Any]]:
    """The schema of one body field in every model that has it (the spec's first): what a model without
    rules is coerced by."""
    return [
        rules.schema["properties"][wire]
        for rules in variants(endpoint).values()
        if wire in rules.schema.get("properties", {})
    ]


def data_uri_limit(schema: Mapping[str, Any] | None, kind: str) -> int | None:
    """The longest data URI of ``kind`` the schema takes anywhere inside (``maxLength`` of its
    ``^data:<kind>/`` alternative: the whole URI, as the spec counts it), or None when it says nothing."""
    limits = [
        int(node["maxLength"])
        for node in _nodes(schema)
        if str(node.get("pattern", "")).startswith(f"^data:{kind}") and "maxLength" in node
    ]
    return min(limits) if limits else None


def _nodes(schema: Any) -> Iterator[dict[str, Any]]:
    if isinstance(schema, Mapping):
        yield dict(schema)
        for key, value in schema.items():
            if key in ("properties", "patternProperties", "$defs"):
                for sub in value.values():
                    yield from _nodes(sub)
            elif key in ("items", "additionalProperties", "not", "contains"):
                yield from _nodes(value)
            elif key in ("anyOf", "oneOf", "allOf", "prefixItems"):
                for sub in value:
                    yield from _nodes(sub)


# --------------------------------------------------------------------------------------------------------
# Validation: jsonschema, with Runway's way of counting characters
# --------------------------------------------------------------------------------------------------------
def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, as JavaScript (and so the service) counts it."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _max_length(validator: Any, limit: int, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and utf16_length(instance) > limit:
        yield ValidationError(f"{instance!r:.40} is too long")


def _min_length(validator: Any, limit: int, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and utf16_length(instance) < limit:
        yield ValidationError(f"{instance!r:.40} is too short")


RunwayValidator = jsonschema.validators.extend(
    Draft202012Validator, {"maxLength": _max_length, "minLength": _min_length}
)


@cache
def _validator(endpoint: str, model: str | None) -> Any:
    rules = rules_for(endpoint, model)
    assert rules is not None
    return RunwayValidator(rules.schema)


def check(rules: Rules, body: Mapping[str, Any]) -> list[Issue]:
    """Every problem with ``body`` under ``rules``, most useful first (empty: valid)."""
    validator = _validator(rules.endpoint, rules.model)
    issues: list[Issue] = []
    for error in validator.iter_errors(body):
        issues.extend(_describe(error, rules))
    return issues


# --------------------------------------------------------------------------------------------------------
# Saying what is wrong, in words
# --------------------------------------------------------------------------------------------------------
def _describe(error: ValidationError, rules: Rules) -> Iterator[Issue]:
    path = tuple(error.absolute_path)
    where = f"{rules.label} on {rules.endpoint} ({rules.source})"
    keyword = error.validator
    value = error.instance
    if keyword == "required":
        for name in error.validator_value:
            if isinstance(value, Mapping) and name not in value:
                yield Issue((*path, name), f"is required by {where}")
        return
    if keyword == "additionalProperties" and isinstance(value, Mapping):
        allowed = set(error.schema.get("properties", {}))
        patterns = list(error.schema.get("patternProperties", {}))
        for name in value:
            if name not in allowed and not any(re.search(p, name) for p in patterns):
                fields = ", ".join(sorted(allowed)) or "none"
                yield Issue((*path, name), f"is not taken by {where}; it takes {fields}")
        return
    if keyword in ("anyOf", "oneOf"):
        yield from _union(error, rules, where)
        return
    yield Issue(path, _message(error, where))


def _union(error: ValidationError, rules: Rules, where: str) -> Iterator[Issue]:
    path = tuple(error.absolute_path)
    options: list[dict[str, Any]] = list(error.validator_value)
    value = error.instance
    if isinstance(value, str) and _uri_options(options):
        chosen = [o for o in _flatten(options) if _scheme_matches(o, value)]
        if chosen:
            # The value is a URI of one accepted kind; say what is wrong with it as that kind.
            sub = next(iter(RunwayValidator(chosen[0]).iter_errors(value)), None)
            if sub is not None:
                yield Issue(path, _message(sub, where, uri=True))
                return
        yield Issue(path, f"must be {_describe_options(options)} for {where}")
        return
    # Prefer the one option whose JSON type the value has (and, for objects, whose fixed fields such as
    # ``mode: "auto"`` it carries, as a discriminated union picks): its problems are the real ones.
    candidates = [(o, errs) for o, errs in _errors_by_option(error, options) if _type_fits(o, value) and errs]
    keyed = [(o, errs) for o, errs in candidates if _discriminated(o, value)]
    fitting = [errs for _, errs in (keyed if len(keyed) == 1 else candidates)]
    if len(fitting) == 1:
        for sub in fitting[0]:
            yield from _describe(sub, rules)
        return
    yield Issue(path, f"must be {_describe_options(options)} for {where}, got {_show(value)}")


def _discriminated(option: Mapping[str, Any], value: Any) -> bool:
    """Whether an object carries every fixed (``const``) field of this option, with its value."""
    consts = {
        name: sub["const"]
        for name, sub in option.get("properties", {}).items()
        if isinstance(sub, Mapping) and "const" in sub
    }
    return bool(consts) and isinstance(value, Mapping) and all(value.get(k) == v for k, v in consts.items())


def _errors_by_option(
    error: ValidationError, options: list[dict[str, Any]]
) -> Iterator[tuple[dict[str, Any], list[ValidationError]]]:
    by_index: dict[int, list[ValidationError]] = {index: [] for index in range(len(options))}
    for sub in error.context or ():
        index = sub.relative_schema_path[0] if sub.relative_schema_path else None
        if isinstance(index, int) and index in by_index:
            by_index[index].append(sub)
    for index, option in enumerate(options):
        yield option, by_index[index]


def _types_of(schema: Mapping[str, Any]) -> set[str]:
    kinds: set[str] = set()
    for option in _flatten([schema]):
        kind = option.get("type")
        if isinstance(kind, str):
            kinds.add(kind)
        elif isinstance(kind, list):
            kinds.update(kind)
        elif "const" in option:
            kinds.add(_json_type(option["const"]))
        elif "enum" in option:
            kinds.update(_json_type(v) for v in option["enum"])
        else:
            return set()  # unconstrained
    return kinds


def _type_fits(schema: Mapping[str, Any], value: Any) -> bool:
    kinds = _types_of(schema)
    actual = _json_type(value)
    return not kinds or actual in kinds or (actual == "integer" and "number" in kinds)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    return "object"


def _flatten(options: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    for option in options:
        nested = option.get("anyOf") or option.get("oneOf")
        if nested:
            yield from _flatten(nested)
        else:
            yield dict(option)


def _uri_options(options: Iterable[Mapping[str, Any]]) -> bool:
    patterns = [str(o.get("pattern", "")) for o in _flatten(options) if o.get("type") == "string"]
    return bool(patterns) and all(p.startswith(("^https", "^runway", "^data")) for p in patterns)


def _scheme_matches(option: Mapping[str, Any], value: str) -> bool:
    pattern = str(option.get("pattern", ""))
    scheme = {"^https": "https:", "^runway": "runway:", "^data": "data:"}
    for prefix, head in scheme.items():
        if pattern.startswith(prefix):
            return value[: len(head)].lower() == head
    return False


def describe(schema: Mapping[str, Any]) -> str:
    """What a schema takes, in a few words."""
    if "anyOf" in schema or "oneOf" in schema:
        return _describe_options(schema.get("anyOf") or schema["oneOf"])
    if "const" in schema:
        return _show(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(_show(v) for v in schema["enum"])
    pattern = str(schema.get("pattern", ""))
    if pattern.startswith("^https"):
        return f"an https URL (at most {schema.get('maxLength', '?')} characters)"
    if pattern.startswith("^runway"):
        return "a runway:// upload URI"
    if pattern.startswith("^data:"):
        media = pattern[len("^data:") :].split("\\", 1)[0]
        return f"a data:{media}/ URI of at most {schema.get('maxLength', '?')} characters"
    kind = schema.get("type")
    if kind in ("integer", "number"):
        word = "a whole number" if kind == "integer" else "a number"
        low, high = _bounds(schema)
        if low is not None and high is not None:
            return f"{word} from {_num(low)} to {_num(high)}"
        return word
    if kind == "string":
        return "a string"
    if kind == "boolean":
        return "true or false"
    if kind == "array":
        most = schema.get("maxItems")
        return f"a list of up to {most} items" if most is not None else "a list"
    if kind == "object":
        names = list(schema.get("properties", {}))
        required = [n for n in schema.get("required", []) if "const" not in schema["properties"].get(n, {})]
        consts = {
            n: s["const"]
            for n, s in schema.get("properties", {}).items()
            if isinstance(s, Mapping) and "const" in s
        }
        head = ", ".join(f"{n!r}: {_show(v)}" for n, v in consts.items())
        rest = ", ".join(repr(n) for n in (required or names) if n not in consts)
        return "{" + ", ".join(x for x in (head, rest) if x) + "}"
    return "a value"


def _describe_options(options: Iterable[Mapping[str, Any]]) -> str:
    words: list[str] = []
    for option in options:
        text = describe(option)
        if text not in words:
            words.append(text)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _bounds(schema: Mapping[str, Any]) -> tuple[Any, Any]:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    return low, high


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _range(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"exactly {low}" if low == high else f"{low} to {high}"
    return f"at most {high}" if high is not None else f"at least {low}"


_TYPE_WORDS = {
    "integer": "a whole number",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "array": "a list",
    "object": "a dict",
    "null": "null",
}


def _message(error: ValidationError, where: str, *, uri: bool = False) -> str:
    keyword = error.validator
    value = error.instance
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if keyword == "type":
        wanted = error.validator_value
        words = " or ".join(
            _TYPE_WORDS.get(str(w), str(w)) for w in (wanted if isinstance(wanted, list) else [wanted])
        )
        return f"must be {words} for {where}, got {_show(value)}"
    if keyword == "enum":
        return f"must be {describe(schema)} for {where}, got {_show(value)}"
    if keyword == "const":
        return f"must be {_show(error.validator_value)} for {where}, got {_show(value)}"
    if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"must be {describe(schema)} for {where}, got {_show(value)}"
    if keyword in ("maxLength", "minLength"):
        length = utf16_length(value) if isinstance(value, str) else 0
        pattern = str(schema.get("pattern", ""))
        if uri and pattern.startswith("^data"):
            return (
                f"is a data URI of {length} characters; {where} takes at most {schema.get('maxLength')} "
                "(the whole URI, its data:...;base64, prefix included): use a URL or an upload instead"
            )
        if uri or pattern.startswith(("^https", "^runway")):
            return f"is {length} characters long; {where} takes {describe(schema)}"
        limits = _range(schema.get("minLength"), schema.get("maxLength"))
        return f"is {length} characters (UTF-16 units); {where} takes {limits}"
    if keyword in ("maxItems", "minItems"):
        count = len(value) if isinstance(value, (list, tuple)) else 0
        limits = _range(schema.get("minItems"), schema.get("maxItems"))
        return f"has {count} item{'s' if count != 1 else ''}; {where} takes {limits}"
    if keyword == "pattern":
        if uri or str(error.validator_value).startswith(("^https", "^runway", "^data")):
            return f"must be {describe(schema)} for {where}"
        return f"must match {error.validator_value} for {where}, got {_show(value)}"
    return f"{error.message} ({where})"
