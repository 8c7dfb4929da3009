"""From an operator's arguments to the wire body of its endpoint, validated before any paid call.

:func:`build` shapes each declared argument as its form says (a bare URI becomes the item the model's
schema wants), turns templated strings into the numbers and booleans the schema wants, applies the rules
that hold for every model and that the spec cannot express (URIs: https on a hostname, data URIs of the
argument's kind that decode, no GIF; text: no NUL, valid Unicode), then validates the body against the
model's rules (:mod:`._rules`). Every error names the operator argument (``prompt_image[1].position``),
or ``extra_body.<field>`` / ``body.<field>`` for fields given as they go on the wire.

A model with no rules (neither Runway's spec nor the gateway's documentation lists it) is sent after the
universal checks only, for the server to judge; :attr:`Built.notes` says so, for one warning.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from airflow_provider_runway.core.fields import check_asset_uri, check_model, check_utf8
from airflow_provider_runway.core.filetypes import kind_of_extension
from airflow_provider_runway.core.urls import DEFAULT_DATA_URI_LIMIT as DEFAULT_DATA_URI_LIMIT
from airflow_provider_runway.endpoints import _registry, _rules
from airflow_provider_runway.endpoints._declare import Arg, Endpoint, FileKind, camel_case
from airflow_provider_runway.exceptions import RunwayValidationError


class Built(NamedTuple):
    """A validated body, the rules it was checked by (None: the server's to judge) and what to warn of."""

    body: dict[str, Any]
    rules: _rules.Rules | None
    notes: tuple[str, ...]


def endpoint(path: str) -> Endpoint:
    found = _registry.find(path)
    if found is None:
        raise KeyError(path)
    return found


# --------------------------------------------------------------------------------------------------------
# Named arguments
# --------------------------------------------------------------------------------------------------------
def build(declared: Endpoint, values: Mapping[str, Any]) -> Built:
    """The body of ``POST /v1/<declared.path>`` from the operator's argument ``values`` (file arguments
    already turned into URIs); raises :class:`RunwayValidationError` naming the argument."""
    model = check_model(values.get("model"))
    rules = _rules.rules_for(declared.path, model)
    notes = () if rules is not None else (unknown_model_note(declared.path, model),)
    properties: dict[str, Any] = rules.schema.get("properties", {}) if rules else {}
    body: dict[str, Any] = {}
    # wire field -> the argument that sets it (every one, set or not: a missing one is named too)
    names = {wire: arg.name for arg in declared.arguments for wire in arg.wire}
    for arg in declared.arguments:
        if arg.form == "hint":
            continue
        value = _unset_blank(values.get(arg.name))
        if value is None:
            continue
        wire = next((w for w in arg.wire if w in properties), arg.wire[0])
        schema = properties.get(wire) if rules else _any_of(_rules.field_schemas(declared.path, wire))
        body[wire] = _shape(arg, value, schema, values)
    check_json(body, names)
    if rules is not None:
        _check_listed(rules, body, names)
    merge_extra_body(body, values.get("extra_body"), set(names))
    if rules is not None:
        raise_first(rules, body, names)
    return Built(body, rules, notes)


def _check_listed(rules: _rules.Rules, body: Mapping[str, Any], names: Mapping[str, str]) -> None:
    """A named argument the model's schema does not list is refused, also where the schema lets unknown
    fields through (Runway's gen4 models): Runway drops such a field, so the argument would do nothing.
    (``extra_body`` is the way to send a field the spec does not list yet.)"""
    properties = rules.schema.get("properties", {})
    for wire in body:
        if wire not in properties:
            listed = ", ".join(names.get(name, name) for name in properties if name != "model")
            raise RunwayValidationError(
                names.get(wire, wire),
                f"is not taken by {rules.label} on {rules.endpoint} ({rules.source} lists no {wire} for it); "
                f"it takes {listed}",
            )


def build_for(path: str, **arguments: Any) -> dict[str, Any]:
    """The validated body of ``path`` from the keyword arguments its operator takes (for the hook's
    ``submit_*`` helpers): defaults filled in, an unknown name is a TypeError, as for a function."""
    declared = endpoint(path)
    names = {arg.name for arg in declared.arguments} | {"extra_body"}
    unknown = sorted(set(arguments) - names)
    if unknown:
        raise TypeError(f"{path} takes no argument {unknown[0]!r}")
    missing = [arg.name for arg in declared.arguments if arg.required and arg.name not in arguments]
    if missing:
        raise TypeError(f"{path} needs the argument {missing[0]!r}")
    values = {arg.name: arguments.get(arg.name, arg.default) for arg in declared.arguments}
    values["extra_body"] = arguments.get("extra_body")
    return build(declared, values).body


def unknown_model_note(path: str, model: str) -> str:
    known = _rules.known_models(path)
    return (
        f"Model {model!r} is in neither {_rules.spec_source()} nor {_rules.GATEWAY_SOURCE} for {path} "
        f"(they list {', '.join(known)}): its request is checked only by the rules that hold for every "
        "model, and Runway's server judges the rest"
    )


def _unset_blank(value: Any) -> Any:
    """A blank string (an empty template, say) is an unset argument."""
    return None if isinstance(value, str) and not value.strip() else value


def _any_of(schemas: list[dict[str, Any]]) -> dict[str, Any] | None:
    return {"anyOf": schemas} if schemas else None


def _shape(arg: Arg, value: Any, schema: dict[str, Any] | None, values: Mapping[str, Any]) -> Any:
    name = arg.name
    if arg.form == "value":
        return coerce(_camel_keys(value, schema), schema)
    if arg.form == "media":
        return check_asset_uri(value, name, arg.kinds()[0])
    if arg.form == "frames":
        return _frames(value, name, schema)
    if arg.form == "media_list":
        return _media_list(value, name, arg.kinds()[0], schema)
    return _typed_media(arg, value, values, schema)


def _frames(value: Any, name: str, schema: dict[str, Any] | None) -> Any:
    if isinstance(value, str) or hasattr(value, "__fspath__"):
        return check_asset_uri(value, name, "image")
    if not isinstance(value, (list, tuple)):
        raise RunwayValidationError(
            name,
            f"must be a URI string or a list of {{'uri', 'position'}} frames, got {type(value).__name__}",
        )
    frames: list[Any] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        where = f"{name}[{index}]"
        if isinstance(item, str):
            item = {"uri": item} if index > 1 else {"uri": item, "position": ("first", "last")[index]}
        if not isinstance(item, Mapping) or "uri" not in item:
            raise RunwayValidationError(
                where, "must be a URI or a dict {'uri': ..., 'position': 'first'|'last'}"
            )
        position = item.get("position")
        if isinstance(position, str) and position in seen:
            raise RunwayValidationError(f"{where}.position", f"{position!r} is given twice")
        if isinstance(position, str):
            seen.add(position)
        frames.append({**item, "uri": check_asset_uri(item["uri"], f"{where}.uri", "image")})
    return frames


def _media_list(value: Any, name: str, kind: FileKind, schema: dict[str, Any] | None) -> list[Any]:
    if not isinstance(value, (list, tuple)):
        raise RunwayValidationError(
            name, f"must be a list of {kind} URIs or {{'uri': ...}} dicts, got {type(value).__name__}"
        )
    item_schema = _items(schema)
    wraps = item_schema is None or "uri" in _object_properties(item_schema)
    fill = _required_consts(item_schema)
    result: list[Any] = []
    for index, item in enumerate(value):
        where = f"{name}[{index}]"
        if isinstance(item, Mapping):
            if "uri" not in item:
                raise RunwayValidationError(where, f"must be a {kind} URI or a dict {{'uri': ...}}")
            item_kind: Any = item.get("type") if item.get("type") in ("image", "video", "audio") else kind
            result.append({**fill, **item, "uri": check_asset_uri(item["uri"], f"{where}.uri", item_kind)})
        elif wraps:
            result.append({**fill, "uri": check_asset_uri(item, f"{where}.uri", kind)})
        else:  # the model takes bare URIs (seed_audio's referenceAudios)
            result.append(check_asset_uri(item, where, kind))
    return result


def typed_media_kind(arg: Arg, value: Any, values: Mapping[str, Any]) -> tuple[Any, Any]:
    """(kind, URI) of a ``typed_media`` argument: ``{"type", "uri"}``, or a URI plus its kind from the
    hint argument, a data URI's type, the file extension, or the argument's only kind."""
    hint = values.get(arg.kind_from) if arg.kind_from else None
    if isinstance(value, Mapping):
        if "uri" not in value:
            kinds = "|".join(arg.kinds())
            raise RunwayValidationError(
                arg.name, f"must be a URI or a dict {{'type': '{kinds}', 'uri': ...}}"
            )
        kind, uri = value.get("type", hint), value["uri"]
    else:
        kind, uri = hint, value
    kind = _unset_blank(kind)
    if kind is None:
        kind = asset_kind_of(uri) or (arg.kinds()[0] if len(arg.kinds()) == 1 else None)
    if kind not in arg.kinds():
        choices = " or ".join(repr(k) for k in arg.kinds())
        hint_text = f" (or set {arg.kind_from})" if arg.kind_from else ""
        raise RunwayValidationError(
            f"{arg.name}.type",
            f"must be {choices}, got {kind!r:.40} (give {{'type': ..., 'uri': ...}} when the URI does not "
            f"say{hint_text})",
        )
    return kind, uri


def _typed_media(arg: Arg, value: Any, values: Mapping[str, Any], schema: dict[str, Any] | None) -> Any:
    kind, uri = typed_media_kind(arg, value, values)
    extra = {k: v for k, v in value.items() if k not in ("type", "uri")} if isinstance(value, Mapping) else {}
    return {"type": kind, "uri": check_asset_uri(uri, f"{arg.name}.uri", kind), **extra}


def asset_kind_of(uri: Any) -> FileKind | None:
    """``image``, ``video`` or ``audio`` from a data URI's type or a path's extension; None when it does not
    say."""
    if not isinstance(uri, str):
        path_like = hasattr(uri, "__fspath__") or type(uri).__name__ == "ObjectStoragePath"
        uri = str(uri) if path_like else None
    if not uri:
        return None
    head = uri.strip()[:32].lower()
    for kind in ("image", "video", "audio"):
        if head.startswith(f"data:{kind}/"):
            return kind  # type: ignore[return-value]
    if head.startswith(("data:", "runway://")):
        return None
    path = urlsplit(uri.strip()).path if "://" in uri else uri.strip()
    name = path.rsplit("/", 1)[-1]
    ext = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return kind_of_extension(ext)


# --------------------------------------------------------------------------------------------------------
# Schema-driven shaping
# --------------------------------------------------------------------------------------------------------
def _flat(schema: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    if not schema:
        return []
    nested = schema.get("anyOf") or schema.get("oneOf")
    if nested:
        return [leaf for option in nested for leaf in _flat(option)]
    return [schema]


def _items(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    for option in _flat(schema):
        if option.get("type") == "array" and isinstance(option.get("items"), Mapping):
            return dict(option["items"])
    return None


def _object_properties(schema: Mapping[str, Any] | None) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for option in _flat(schema):
        if option.get("type") == "object" or "properties" in option:
            found.update(option.get("properties", {}))
    return found


def _required_consts(schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """Fields an item must carry with one possible value (``{"type": "image"}``): filled in for the author."""
    fill: dict[str, Any] = {}
    for option in _flat(schema):
        for field in option.get("required", []):
            sub = option.get("properties", {}).get(field, {})
            if isinstance(sub, Mapping) and "const" in sub:
                fill[field] = sub["const"]
    return fill


def _camel_keys(value: Any, schema: Mapping[str, Any] | None) -> Any:
    """``{"public_figure_threshold": ...}`` -> ``{"publicFigureThreshold": ...}`` where the wire has it."""
    if not isinstance(value, Mapping):
        return value
    known = _object_properties(schema)
    result: dict[Any, Any] = {}
    for key, item in value.items():
        if isinstance(key, str) and "_" in key and key not in known:
            camel = camel_case(key)
            key = camel if (camel in known or not known) else key
        result[key] = item
    return result


def _accepted(schema: Mapping[str, Any] | None) -> set[str]:
    kinds: set[str] = set()
    for option in _flat(schema):
        kind = option.get("type")
        if isinstance(kind, str):
            kinds.add(kind)
        elif "const" in option or "enum" in option:
            kinds.update(_json_kind(v) for v in ([option["const"]] if "const" in option else option["enum"]))
    return kinds


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string" if isinstance(value, str) else "object"


def _string_fits(schema: Mapping[str, Any] | None, text: str) -> bool:
    for option in _flat(schema):
        if "const" in option and option["const"] == text:
            return True
        if "enum" in option and text in option["enum"]:
            return True
        if option.get("type") == "string" and "const" not in option and "enum" not in option:
            return True
    return False


def coerce(value: Any, schema: Mapping[str, Any] | None) -> Any:
    """A rendered template is a string: make it the number or boolean the schema takes (``"42"`` -> 42,
    ``"false"`` -> False, ``"5"`` -> 5 where ``"auto"`` or 5 are taken); anything else is left for the
    validation to judge."""
    accepted = _accepted(schema)
    if isinstance(value, str) and not _string_fits(schema, value):
        text = value.strip()
        if "integer" in accepted and re.fullmatch(r"-?\d{1,20}", text):
            return int(text)
        if "number" in accepted and re.fullmatch(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
            number = float(text)
            return int(number) if number.is_integer() and "integer" in accepted else number
        if "boolean" in accepted and text.lower() in ("true", "false"):
            return text.lower() == "true"
    if isinstance(value, float) and value.is_integer() and accepted & {"integer", "number"} == {"integer"}:
        return int(value)
    return value


# --------------------------------------------------------------------------------------------------------
# What holds for every body
# --------------------------------------------------------------------------------------------------------
def merge_extra_body(body: dict[str, Any], extra_body: Any, named: set[str]) -> dict[str, Any]:
    """Add fields the operator does not name; a field it names must be set through its argument."""
    if extra_body is None or extra_body == {}:
        return body
    if not isinstance(extra_body, Mapping):
        raise RunwayValidationError(
            "extra_body", f"must be a dict of extra JSON fields, got {type(extra_body).__name__}"
        )
    for key, value in extra_body.items():
        if not isinstance(key, str) or not key:
            raise RunwayValidationError("extra_body", f"keys must be non-empty strings, got {key!r}")
        if key in body or key in named or key == "model":
            raise RunwayValidationError(
                f"extra_body.{key}", "is a named argument (validated there); set it there"
            )
        try:
            json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (TypeError, ValueError):
            raise RunwayValidationError(f"extra_body.{key}", "must be JSON-serialisable") from None
        body[key] = value
    return body


def check_json(body: Any, names: Mapping[str, str], path: tuple[str | int, ...] = ()) -> None:
    """Every value goes as UTF-8 JSON: strings without NUL or unpaired surrogates (a broken decode
    upstream), finite numbers, lists and dicts with string keys; nothing else (bytes, objects)."""
    if isinstance(body, str):
        if "\x00" in body:
            raise RunwayValidationError(field_name(path, names), "must not contain NUL characters")
        check_utf8(body, field_name(path, names))
    elif isinstance(body, Mapping):
        for key, item in body.items():
            if not isinstance(key, str):
                raise RunwayValidationError(field_name(path, names), f"keys must be strings, got {key!r:.40}")
            check_json(item, names, (*path, key))
    elif isinstance(body, (list, tuple)):
        for index, item in enumerate(body):
            check_json(item, names, (*path, index))
    elif isinstance(body, float) and not math.isfinite(body):
        raise RunwayValidationError(field_name(path, names), f"must be a finite number, got {body}")
    elif body is not None and not isinstance(body, (bool, int, float)):
        raise RunwayValidationError(
            field_name(path, names),
            f"must be a JSON value (text, number, true/false, list or dict), got {type(body).__name__}",
        )


def field_name(
    path: tuple[str | int, ...], names: Mapping[str, str] | None, prefix: str = "extra_body"
) -> str:
    """The argument a wire path came from: ``("promptImage", 1, "position")`` ->
    ``prompt_image[1].position``; a field no argument sets is ``extra_body.<field>`` (``body.`` for the
    generic operator)."""
    if not path:
        return prefix if names is None else "model"
    head, *rest = path
    if names is None:
        text = f"{prefix}.{head}"
    elif head in names:
        text = names[str(head)]
    elif head == "model":
        text = "model"
    else:
        text = f"{prefix}.{head}"
    for part in rest:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def raise_first(
    rules: _rules.Rules, body: Mapping[str, Any], names: Mapping[str, str] | None, prefix: str = "extra_body"
) -> None:
    """Raise for the first problem in argument order (the others are listed in the message)."""
    issues = _rules.check(rules, body)
    if not issues:
        return
    order = list(names.values()) if names else []

    def rank(issue: _rules.Issue) -> tuple[int, int]:
        name = field_name(issue.path, names, prefix)
        root = re.split(r"[\[.]", name, maxsplit=1)[0]
        return (order.index(root) if root in order else len(order), len(issue.path))

    issues.sort(key=rank)
    first, *others = issues
    message = first.message
    if others:
        more = sorted(
            {field_name(i.path, names, prefix) for i in others} - {field_name(first.path, names, prefix)}
        )
        if more:
            message += f" (also wrong: {', '.join(more)})"
    raise RunwayValidationError(field_name(first.path, names, prefix), message)


# --------------------------------------------------------------------------------------------------------
# A wire body as given (RunwayGenerateOperator)
# --------------------------------------------------------------------------------------------------------
def check_wire_body(path: str, body: Mapping[str, Any], field: str = "body") -> Built:
    """Validate a wire-shaped body for an endpoint the registry knows (errors name ``body.<field>``)."""
    rules = None
    notes: tuple[str, ...] = ()
    if _rules.names_a_model(path):
        model = body.get("model")
        if model is None:
            raise RunwayValidationError(f"{field}.model", f"is required on {path}")
        rules = _rules.rules_for(path, check_model(model, f"{field}.model"))
        if rules is None:
            notes = (unknown_model_note(path, str(model)),)
    else:
        rules = _rules.rules_for(path, None)
    check_json(body, {}, ())
    if rules is not None:
        raise_first(rules, body, None, field)
    return Built(dict(body), rules, notes)


def data_uri_limit(path: str, model: Any, wire: tuple[str, ...], kind: str) -> int:
    """The longest data URI of ``kind`` the model takes in this field (the whole URI, as the spec counts
    it): what decides whether a local file goes inline or through an upload. Without rules for the model,
    the smallest any listed model takes there; 5 MiB when none says."""
    rules = _rules.rules_for(path, model if isinstance(model, str) else None)
    if rules is not None:
        properties = rules.schema.get("properties", {})
        for name in wire:
            if name in properties:
                limit = _rules.data_uri_limit(properties[name], kind)
                if limit is not None:
                    return limit
    limits = [
        found
        for name in wire
        for schema in _rules.field_schemas(path, name)
        if (found := _rules.data_uri_limit(schema, kind)) is not None
    ]
    return min(limits) if limits else DEFAULT_DATA_URI_LIMIT
