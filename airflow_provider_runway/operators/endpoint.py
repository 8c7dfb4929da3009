"""The operators made from endpoint declarations: one class per endpoint module with arguments.

``from airflow_provider_runway.operators.runway import RunwayImageToVideoOperator`` imports only
``endpoints/image_to_video.py`` and makes the class from its declaration, here, once.
"""

from __future__ import annotations

import importlib
import inspect
import threading
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_provider_runway.operators.base import RunwayBaseOperator, warn_once

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_runway import media
    from airflow_provider_runway.endpoints._declare import Endpoint

#: where the generated classes live, and are found by their path (serialization, pickling)
PUBLIC_MODULE = "airflow_provider_runway.operators.runway"


class RunwayEndpointOperator(RunwayBaseOperator):
    """The operator of one endpoint declared in :mod:`airflow_provider_runway.endpoints`.

    Not used directly: each endpoint module that declares arguments gets its own subclass, made on first
    import (``from airflow_provider_runway.operators.runway import RunwayImageToVideoOperator``) from its
    declaration: the keyword-only signature, template fields (every argument, and ``extra_body``), file
    inputs and output extension. The body is shaped and validated by
    :func:`airflow_provider_runway.endpoints._body.build` against the model's rules from Runway's spec (or
    the gateway overlay); a model neither lists is passed through with one warning.
    """

    declared: ClassVar[Endpoint]
    template_fields_renderers = {"extra_body": "json", "content_moderation": "json"}

    def __init__(self, **kwargs: Any) -> None:
        declared = type(self).declared
        own: dict[str, Any] = {}
        for arg in declared.arguments:
            if arg.name in kwargs:
                own[arg.name] = kwargs.pop(arg.name)
            elif arg.required:
                raise TypeError(f"missing keyword argument {arg.name!r}")
            else:
                own[arg.name] = arg.default
        extra_body = kwargs.pop("extra_body", None)
        super().__init__(**kwargs)
        for name, value in own.items():
            setattr(self, name, value)
        self.extra_body = extra_body
        self._notes: tuple[str, ...] = ()
        self._rules: Any = None  # the rules the last body was checked by (None: the server's to judge)

    def _values(self) -> dict[str, Any]:
        values = {arg.name: self.input_value(arg.name) for arg in type(self).declared.arguments}
        values["extra_body"] = self.extra_body
        return values

    def input_kinds(self) -> dict[str, media.AssetKind]:
        from airflow_provider_runway.endpoints import _body

        values = {arg.name: getattr(self, arg.name) for arg in type(self).declared.arguments}
        kinds: dict[str, media.AssetKind] = {}
        for arg in type(self).declared.arguments:
            if not arg.file or values[arg.name] is None:
                continue
            if arg.form == "typed_media":
                kinds[arg.name] = _body.typed_media_kind(arg, values[arg.name], values)[0]
            else:
                kinds[arg.name] = arg.kinds()[0]
        return kinds

    def data_uri_limit(self, name: str, kind: media.AssetKind) -> int:
        from airflow_provider_runway.endpoints import _body

        declared = type(self).declared
        arg = declared.argument(name)
        return _body.data_uri_limit(declared.path, self.model_name, arg.wire if arg else (), kind)

    def build_body(self, context: Context) -> dict[str, Any]:
        from airflow_provider_runway.endpoints import _body

        built = _body.build(type(self).declared, self._values())
        self._notes = built.notes
        self._rules = built.rules
        return built.body

    def check_request(self, context: Context) -> dict[str, Any]:
        body = super().check_request(context)
        warn_once(self, self._notes, self._rules)
        return body


_GENERATED: dict[str, type[RunwayEndpointOperator]] = {}
_GENERATED_LOCK = threading.Lock()


def operator_class(declared: Endpoint) -> type[RunwayEndpointOperator]:
    """The operator class of a declared endpoint (made once, then cached)."""
    name = declared.operator_name
    if name is None:
        raise ValueError(f"{declared.path} declares no arguments, so it has no operator of its own")
    with _GENERATED_LOCK:
        if name in _GENERATED:
            return _GENERATED[name]
        parameters = [
            inspect.Parameter(
                arg.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=inspect.Parameter.empty if arg.required else arg.default,
            )
            for arg in declared.arguments
        ]
        parameters.append(inspect.Parameter("extra_body", inspect.Parameter.KEYWORD_ONLY, default=None))
        parameters.append(inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD))

        def __init__(self: RunwayEndpointOperator, **kwargs: Any) -> None:
            RunwayEndpointOperator.__init__(self, **kwargs)

        __init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD), *parameters]
        )
        __init__.__qualname__ = f"{name}.__init__"
        namespace = {
            "__module__": PUBLIC_MODULE,
            "__qualname__": name,
            "__doc__": _docstring(declared),
            "__init__": __init__,
            "declared": declared,
            "endpoint": declared.path,
            "default_output_ext": declared.output_ext,
            "input_fields": {
                a.name: a.kinds()[0] for a in declared.arguments if a.file and len(a.kinds()) == 1
            },
            "template_fields": (*RunwayBaseOperator.template_fields, *declared.template_fields),
        }
        metaclass: Any = type(RunwayEndpointOperator)  # Airflow's BaseOperatorMeta wraps __init__
        cls = metaclass(name, (RunwayEndpointOperator,), namespace)
        _GENERATED[name] = cls
        return cls


def _docstring(declared: Endpoint) -> str:
    lines = [declared.summary, ""]
    for arg in declared.arguments:
        lines.append(f":param {arg.name}: {arg.doc or 'see Runway API reference'}.")
    lines.append(":param extra_body: more JSON fields the operator does not name yet (templated).")
    lines += [
        "",
        f"Declared in :mod:`airflow_provider_runway.endpoints.{declared.path}`. What each model takes "
        "(fields, ranges, required arguments) is checked before the create against Runway's spec, or the "
        "CometAPI gateway's documentation for its own models; other models are passed through for the "
        "server to judge, with one warning. The base operator's arguments (waiting, outputs, credits) are "
        "those of :class:`RunwayBaseOperator`.",
    ]
    return "\n".join(lines)


def generated(name: str) -> type[RunwayEndpointOperator] | None:
    """``RunwayImageToVideoOperator`` from ``endpoints/image_to_video.py``: only that module is imported."""
    from airflow_provider_runway.endpoints._declare import module_of_operator

    module_name = module_of_operator(name)
    if module_name is None:
        return None
    qualified = f"airflow_provider_runway.endpoints.{module_name}"
    try:
        module = importlib.import_module(qualified)
    except ModuleNotFoundError as err:
        if err.name != qualified:
            raise
        return None
    for declared in getattr(module, "ENDPOINTS", ()):
        if declared.operator_name == name:
            return operator_class(declared)
    return None
