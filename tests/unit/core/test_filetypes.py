"""The one table of file types: a file's extension, its sniffed content and a data URI's media type are
judged by the same rows, so what a local file may be and what a data URI may carry cannot disagree."""

from __future__ import annotations

import pytest

from airflow_provider_runway.core import filetypes
from airflow_provider_runway.core.fields import check_asset_uri
from airflow_provider_runway.exceptions import RunwayValidationError


@pytest.mark.parametrize(
    ("kind", "ext", "mime"),
    [(kind, ext, mime) for kind, rows in filetypes.EXTENSIONS.items() for ext, mime in rows.items()],
)
def test_every_file_type_of_the_table_is_also_a_data_uri_of_its_kind(kind, ext, mime):
    assert filetypes.kind_of_extension(ext) == kind
    assert filetypes.kind_of_extension(ext.upper()) == kind
    assert filetypes.mime_of_extension(kind, ext) == mime and filetypes.is_allowed_mime(kind, mime)
    assert check_asset_uri(f"data:{mime};base64,AAAA", "f", kind).startswith(f"data:{mime}")


@pytest.mark.parametrize(("kind", "alias"), [(k, a) for k, rows in filetypes.ALIASES.items() for a in rows])
def test_an_alias_is_accepted_in_a_data_uri_and_names_a_type_of_the_table(kind, alias):
    assert filetypes.ALIASES[kind][alias] in filetypes.EXTENSIONS[kind].values()
    assert filetypes.data_uri_mime_allowed(kind, alias)


@pytest.mark.parametrize(
    ("ext", "mime", "kind"), [(".webm", "video/webm", "video"), (".gif", "image/gif", "image")]
)
def test_a_type_the_table_lacks_is_refused_as_a_file_and_as_a_data_uri_alike(ext, mime, kind):
    assert filetypes.kind_of_extension(ext) is None and not filetypes.is_allowed_mime(kind, mime)
    with pytest.raises(RunwayValidationError, match="data URIs must be one of"):
        check_asset_uri(f"data:{mime};base64,AAAA", "f", kind)


def test_any_audio_type_goes_as_a_data_uri_but_not_another_kinds():
    assert filetypes.data_uri_mime_allowed("audio", "audio/x-m4a")
    assert not filetypes.data_uri_mime_allowed("video", "audio/mpeg")
    assert not filetypes.data_uri_mime_allowed("image", "video/mp4")


def test_each_placeholder_is_a_valid_input_of_its_kind():
    for kind, uri in filetypes.PLACEHOLDERS.items():
        assert check_asset_uri(uri, "f", kind) == uri
