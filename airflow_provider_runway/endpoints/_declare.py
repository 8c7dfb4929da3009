"""The words an endpoint module declares itself with: :class:`Endpoint` and its :class:`Arg` list.

A declaration says what the spec cannot: the operator's argument names and their wire names, which of
them may name files (and of what kind), how a DAG author may write them (a bare URI for a list of
``{"uri"}`` items, say), the output extension and whether the CometAPI gateway documents the endpoint.
What a value may be (types, enums, ranges, lengths, required fields, item shapes) is never declared here:
it comes from Runway's spec (``runway_openapi.json``) and the gateway overlay, per model.

Plain classes with ``__slots__``, not dataclasses: DAG files import these on every parse.
"""

from __future__ import annotations

import re
from typing import Any, Literal

#: What a file argument holds; ``("image", "video")``: either, told by the value (see ``typed_media``).
FileKind = Literal["image", "video", "audio"]
#: How a DAG author may write an argument, and how it goes on the wire:
#:
#: * ``value``: as given (templated strings are turned into the numbers and booleans the schema wants);
#:   keys of a dict may be snake_case (``public_figure_threshold`` -> ``publicFigureThreshold``).
#: * ``media``: one URI (https, data, ``runway://``) or file.
#: * ``media_list``: a list of URIs or files, or of ``{"uri": ..., ...}`` dicts; a bare URI becomes the item
#:   the model's schema wants (``{"uri"}``, ``{"type": "image", "uri"}``, or the string itself).
#: * ``frames``: a URI or file, or a list of frames: bare URIs are ``first`` then ``last``.
#: * ``typed_media``: ``{"type": kind, "uri"}``, or a bare URI or file whose kind is told by the argument
#:   named in ``kind_from``, a data URI's type or the file extension, or the only kind the schema takes.
#: * ``hint``: not sent; read by another argument (``kind_from``).
Form = Literal["value", "media", "media_list", "frames", "typed_media", "hint"]
_NO_DEFAULT = object()


class Arg:
    """One operator argument.

    :param name: the operator's keyword argument (and template field).
    :param wire: the body field (default: ``name`` in camelCase); several when the model's schema picks
        one (``videoUri`` or ``promptVideo``): the first the schema has is used, the first of all for
        models without a schema.
    :param file: the kind of file it may name (read or uploaded before the create), if any.
    :param form: see :data:`Form` (``media`` by default when ``file`` is set, else ``value``).
    :param default: the operator's default; without one the argument is required by the constructor.
    :param doc: the ``:param:`` text of the generated operator.
    :param kind_from: for ``typed_media``: the hint argument that names the kind.
    """

    __slots__ = ("default", "doc", "file", "form", "kind_from", "name", "wire")

    def __init__(
        self,
        name: str,
        wire: str | tuple[str, ...] | None = None,
        *,
        file: FileKind | tuple[FileKind, ...] | None = None,
        form: Form | None = None,
        default: Any = None,
        doc: str = "",
        kind_from: str | None = None,
    ) -> None:
        self.name = name
        if form == "hint":
            self.wire: tuple[str, ...] = ()
        else:
            self.wire = (wire,) if isinstance(wire, str) else wire or (camel_case(name),)
        self.file = file
        self.form: Form = form or ("media" if file else "value")
        self.default = default
        self.doc = doc
        self.kind_from = kind_from

    @property
    def required(self) -> bool:
        """Whether the operator's constructor requires it (it has no default)."""
        return self.default is REQUIRED

    def kinds(self) -> tuple[FileKind, ...]:
        """The file kinds this argument may hold (empty: not a file argument)."""
        if self.file is None:
            return ()
        return self.file if isinstance(self.file, tuple) else (self.file,)

    def __repr__(self) -> str:
        return f"Arg({self.name!r}, {self.wire!r}, form={self.form!r})"


#: ``Arg(..., default=REQUIRED)``: the constructor requires the argument.
REQUIRED: Any = _NO_DEFAULT


def module_of_operator(class_name: str) -> str | None:
    """The endpoint module that declares the operator ``class_name``, by the naming rule of
    :attr:`Endpoint.operator_name` read backwards (``RunwayImageToVideoOperator`` -> ``image_to_video``): a
    DAG file's import of one operator loads that module alone."""
    match = re.fullmatch(r"Runway((?:[A-Z][a-z0-9]*)+)Operator", class_name)
    if match is None:
        return None
    return "_".join(part.lower() for part in re.findall(r"[A-Z][a-z0-9]*", match.group(1)))


def camel_case(name: str) -> str:
    """``prompt_text`` -> ``promptText``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class Endpoint:
    """One task-creating endpoint.

    :param path: the path after ``/v1/``: ``image_to_video``, ``generate/video``.
    :param arguments: the operator's arguments, in signature order. None: the endpoint has no operator
        of its own and is reached through ``RunwayGenerateOperator`` with a wire-shaped ``body``.
    :param output_ext: the extension of outputs whose URL does not say.
    :param gateway: whether the CometAPI gateway documents it.
    :param summary: the first line of the operator's docstring.
    """

    __slots__ = ("arguments", "gateway", "output_ext", "path", "summary")

    def __init__(
        self,
        path: str,
        *,
        arguments: tuple[Arg, ...] | None = None,
        output_ext: str = "mp4",
        gateway: bool = False,
        summary: str = "",
    ) -> None:
        self.path = path
        self.arguments = arguments or ()
        self.output_ext = output_ext
        self.gateway = gateway
        self.summary = summary

    @property
    def operator_name(self) -> str | None:
        """``RunwayImageToVideoOperator`` for ``image_to_video``; None when it has no operator."""
        if not self.arguments:
            return None
        return "Runway" + "".join(part.capitalize() for part in self.path.split("_")) + "Operator"

    @property
    def template_fields(self) -> tuple[str, ...]:
        """Every argument (all user values are templated), then ``extra_body``."""
        return (*(arg.name for arg in self.arguments), "extra_body") if self.arguments else ()

    @property
    def file_arguments(self) -> dict[str, tuple[FileKind, ...]]:
        """Arguments that may name files, and the kinds they may be."""
        return {arg.name: arg.kinds() for arg in self.arguments if arg.file}

    def argument(self, name: str) -> Arg | None:
        for arg in self.arguments:
            if arg.name == name:
                return arg
        return None

    def __repr__(self) -> str:
        return f"Endpoint({self.path!r})"
