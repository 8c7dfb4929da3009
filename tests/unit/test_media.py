"""media.py on its own, with no hook, no Airflow task and no network: files in (located, sniffed, inlined as
data URIs or handed to an uploader, or refused), outputs out (named, streamed through a temporary name,
refreshed once when a signed URL has expired), through an OutputSource stand-in."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
from typing import Any, BinaryIO

import fsspec
import pytest

from airflow_provider_runway import media
from airflow_provider_runway.core.filetypes import EXTENSIONS, PLACEHOLDERS
from airflow_provider_runway.core.task import RunwayTask
from airflow_provider_runway.core.urls import data_uri_length
from airflow_provider_runway.exceptions import (
    RunwayConfigurationError,
    RunwayError,
    RunwayOutputExpiredError,
    RunwayValidationError,
)
from airflow_provider_runway.testing._media import sample_mp4, sample_png, sample_wav

GIF = b"GIF89a" + b"\x00" * 32


@pytest.fixture
def files(tmp_path):
    """A PNG, an MP4, a WAV, a GIF named .png, text named .mp4, an empty file and a folder."""
    (tmp_path / "frame.png").write_bytes(sample_png())
    (tmp_path / "clip.mp4").write_bytes(sample_mp4())
    (tmp_path / "voice.wav").write_bytes(sample_wav())
    (tmp_path / "fake.png").write_bytes(GIF)
    (tmp_path / "notes.mp4").write_bytes(b"plain text, not a video at all")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "folder").mkdir()
    return tmp_path


# --------------------------------------------------------------------------------------------------------
# Locating files
# --------------------------------------------------------------------------------------------------------
def test_a_local_path_and_a_memory_url_are_located(files):
    local = media.locate(str(files / "frame.png"))
    assert local.path == str(files / "frame.png") and local.fs.exists(local.path)
    with fsspec.open("memory://media-test/a.png", "wb") as handle:
        handle.write(sample_png())
    memory = media.locate("memory://media-test/a.png")
    assert memory.fs.exists(memory.path) and memory.url == "memory://media-test/a.png"
    assert memory.child("b.mp4").url == "memory://media-test/a.png/b.mp4"


@pytest.mark.parametrize(
    "url", ["http://169.254.169.254/latest", "https://internal/x.png", "ftp://h/x", "simplecache::s3://b/k"]
)
def test_a_file_argument_never_goes_through_a_network_fetching_filesystem(url):
    with pytest.raises(RunwayValidationError, match="network host") as info:
        media.locate(url, field="prompt_image")
    assert info.value.field == "prompt_image"


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_a_blank_location_is_refused_naming_the_field(blank):
    with pytest.raises(RunwayValidationError) as info:
        media.locate(blank, field="output_path")
    assert info.value.field == "output_path"


# --------------------------------------------------------------------------------------------------------
# Inspecting inputs: by content, not only by name
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "kind", "mime"),
    [
        ("frame.png", "image", "image/png"),
        ("clip.mp4", "video", "video/mp4"),
        ("voice.wav", "audio", "audio/wav"),
    ],
)
def test_inspect_file_finds_the_type_from_the_content(files, name, kind, mime):
    asset = media.inspect_file(str(files / name), kind, "arg")
    assert asset.mime == mime and asset.size == (files / name).stat().st_size and asset.field == "arg"
    assert asset.mime in EXTENSIONS[kind].values()  # the one table's


@pytest.mark.parametrize(
    ("name", "kind", "message"),
    [
        ("fake.png", "image", "is a GIF"),
        ("notes.mp4", "video", "not a supported video"),
        ("frame.png", "video", "not a supported video"),
        ("empty.png", "image", "is empty"),
        ("folder", "image", "is a directory"),
        ("missing.png", "image", "does not exist"),
    ],
)
def test_inspect_file_refuses_what_runway_would_not_take(files, name, kind, message):
    with pytest.raises(RunwayValidationError, match=message) as info:
        media.inspect_file(str(files / name), kind, "prompt_image")
    assert info.value.field == "prompt_image"


# --------------------------------------------------------------------------------------------------------
# Resolving inputs: a data URI when it fits the field's limit, else the uploader, else a refusal
# --------------------------------------------------------------------------------------------------------
def test_remote_references_and_non_files_pass_through_untouched():
    for value in ("https://example.com/a.png", " data:image/png;base64,AAAA ", "runway://upload/1"):
        assert media.resolve_asset(value, "image", "f", uploader=None, limit=10) == value.strip()
    for value in (None, 3, {"no": "uri"}):
        assert media.resolve_asset(value, "image", "f", uploader=None, limit=10) == value


def test_a_file_that_fits_goes_inline_as_a_data_uri_of_exactly_the_length_counted(files):
    path = files / "frame.png"
    size = path.stat().st_size
    limit = data_uri_length(size, "image/png")
    uri = media.resolve_asset(str(path), "image", "f", uploader=None, limit=limit)
    assert uri.startswith("data:image/png;base64,") and len(uri) == limit
    assert base64.b64decode(uri.split(",", 1)[1]) == path.read_bytes()


def test_a_file_over_the_limit_is_uploaded_when_there_is_an_uploader(files):
    uploaded: list[media.LocalAsset] = []

    def uploader(asset: media.LocalAsset) -> str:
        uploaded.append(asset)
        return "runway://uploaded/1"

    path = str(files / "clip.mp4")
    assert (
        media.resolve_asset(path, "video", "video_uri", uploader=uploader, limit=64) == "runway://uploaded/1"
    )
    assert [(a.location.path, a.mime) for a in uploaded] == [(path, "video/mp4")]


def test_a_file_over_the_limit_without_an_uploader_is_refused_naming_the_limit(files):
    with pytest.raises(RunwayValidationError, match="over the 64") as info:
        media.resolve_asset(str(files / "clip.mp4"), "video", "video_uri", uploader=None, limit=64)
    assert info.value.field == "video_uri" and "no upload endpoint" in str(info.value)


def test_lists_and_uri_dicts_are_resolved_item_by_item_naming_each(files):
    png = str(files / "frame.png")
    resolved = media.resolve_assets(
        [png, {"uri": png, "tag": "a"}, "https://example.com/b.png"],
        "image",
        "refs",
        uploader=None,
        limit=10**6,
    )
    assert resolved[0].startswith("data:image/png") and resolved[1]["tag"] == "a"
    assert resolved[1]["uri"] == resolved[0] and resolved[2] == "https://example.com/b.png"
    with pytest.raises(RunwayValidationError) as info:
        media.resolve_assets([png, str(files / "fake.png")], "image", "refs", uploader=None, limit=10**6)
    assert info.value.field == "refs[1]"


def test_placeholders_and_digests_keep_the_shape_and_read_no_file_for_placeholders(files):
    png = str(files / "frame.png")
    value = [png, {"uri": png, "x": 1}, "https://example.com/c.png", None]
    assert media.placeholder_assets(value, "image") == [
        PLACEHOLDERS["image"],
        {"uri": PLACEHOLDERS["image"], "x": 1},
        "https://example.com/c.png",
        None,
    ]
    assert media.placeholder_assets("/no/such/file.png", "image") == PLACEHOLDERS["image"]
    digest = "file:sha256:" + hashlib.sha256((files / "frame.png").read_bytes()).hexdigest()
    assert media.asset_digests(value, "image", "refs") == [
        digest,
        {"uri": digest, "x": 1},
        "https://example.com/c.png",
        None,
    ]


# --------------------------------------------------------------------------------------------------------
# Outputs: names, temporary files, the byte limit, and one refresh of expired URLs
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://cdn.example.com/a/out.MP4?sig=1", "t1_0.mp4"),
        ("https://cdn.example.com/a/out?sig=1", "t1_0.png"),
        ("https://cdn.example.com/a/out.tar.verylongext", "t1_0.png"),
    ],
)
def test_output_names_take_the_urls_extension_or_the_default(url, name):
    assert media.output_name("t1", 0, url, "png") == name


def test_stream_to_writes_through_a_temporary_name_and_removes_it_on_failure(tmp_path):
    target = media.locate(str(tmp_path / "out")).child("t1_0.mp4")
    assert media.stream_to(target, lambda handle: handle.write(b"abc")) == 3
    assert (tmp_path / "out" / "t1_0.mp4").read_bytes() == b"abc"

    def broken(handle: BinaryIO) -> None:
        handle.write(b"half")
        raise RunwayError("connection dropped")

    with pytest.raises(RunwayError, match="dropped"):
        media.stream_to(media.locate(str(tmp_path / "out")).child("t1_1.mp4"), broken)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["t1_0.mp4"]  # no partial file left


def test_sha256_writer_refuses_past_the_limit_and_never_shows_the_signature():
    handle = io.BytesIO()
    assert media.sha256_writer(handle, [b"ab", b"", b"c"], max_bytes=3, url="https://h/o.mp4?sig=S") == (
        3,
        hashlib.sha256(b"abc").hexdigest(),
    )
    with pytest.raises(RunwayError, match="larger than the 3 byte") as info:
        media.sha256_writer(io.BytesIO(), [b"ab", b"cd"], max_bytes=3, url="https://h/o.mp4?sig=SECRET")
    assert "SECRET" not in str(info.value)


class Source:
    """An OutputSource: serves ``files`` by URL; URLs in ``expired`` answer as expired signed URLs do."""

    def __init__(
        self, files: dict[str, bytes], fresh: RunwayTask | None = None, expired: set[str] = frozenset()
    ):
        self.files, self.fresh, self.expired = files, fresh, set(expired)
        self.log = logging.getLogger("test_media")
        self.downloads: list[str] = []
        self.reads = 0

    def download(self, url: str, handle: BinaryIO, *, max_bytes: int) -> tuple[int, str, str | None]:
        self.downloads.append(url)
        if url in self.expired:
            raise RunwayOutputExpiredError("expired", status_code=403, method="GET")
        return (*media.sha256_writer(handle, [self.files[url]], max_bytes=max_bytes, url=url), "video/mp4")

    def get_task(self, task_id: str) -> RunwayTask:
        self.reads += 1
        assert self.fresh is not None
        return self.fresh


def test_save_task_outputs_saves_each_output_with_its_size_and_digest(tmp_path):
    task = RunwayTask(id="t1", status="SUCCEEDED", outputs=("https://c/a.mp4?s=1", "https://c/b.mp4?s=2"))
    source = Source({"https://c/a.mp4?s=1": b"first", "https://c/b.mp4?s=2": b"second!"})
    saved = media.save_task_outputs(source, task, str(tmp_path))
    assert [(s.index, s.size, s.sha256) for s in saved] == [
        (0, 5, hashlib.sha256(b"first").hexdigest()),
        (1, 7, hashlib.sha256(b"second!").hexdigest()),
    ]
    assert (tmp_path / "t1_0.mp4").read_bytes() == b"first" and (
        tmp_path / "t1_1.mp4"
    ).read_bytes() == b"second!"
    assert source.reads == 0


def test_an_expired_url_is_refreshed_once_by_reading_the_task_again(tmp_path):
    old = RunwayTask(id="t1", status="SUCCEEDED", outputs=("https://c/a.mp4?s=old",))
    fresh = RunwayTask(id="t1", status="SUCCEEDED", outputs=("https://c/a.mp4?s=new",))
    source = Source({"https://c/a.mp4?s=new": b"video"}, fresh=fresh, expired={"https://c/a.mp4?s=old"})
    (saved,) = media.save_task_outputs(source, old, str(tmp_path))
    assert saved.size == 5 and source.reads == 1
    assert source.downloads == ["https://c/a.mp4?s=old", "https://c/a.mp4?s=new"]


def test_an_output_still_expired_after_the_refresh_fails(tmp_path):
    task = RunwayTask(id="t1", status="SUCCEEDED", outputs=("https://c/a.mp4?s=1",))
    source = Source({}, fresh=task, expired={"https://c/a.mp4?s=1"})
    with pytest.raises(RunwayOutputExpiredError):
        media.save_task_outputs(source, task, str(tmp_path))
    assert source.reads == 1 and list(tmp_path.iterdir()) == []


def test_save_into_manifest_adds_path_size_and_digest_to_each_output(tmp_path):
    task = RunwayTask(id="t1", status="SUCCEEDED", outputs=("https://c/a.mp4?s=1",))
    manifest: dict[str, Any] = {"outputs": [{"index": 0, "url": "https://c/a.mp4?s=1"}]}
    result = media.save_into_manifest(
        Source({"https://c/a.mp4?s=1": b"abc"}), task, manifest, str(tmp_path), conn_id=None, default_ext="mp4",
        max_bytes=10,
    )  # fmt: skip
    (output,) = result["outputs"]
    assert (
        output["path"].endswith("t1_0.mp4") and output["size"] == 3 and output["url"] == "https://c/a.mp4?s=1"
    )


def test_ensure_output_path_fails_before_any_paid_call_naming_the_path():
    with pytest.raises(RunwayValidationError):
        media.ensure_output_path("", None)
    with pytest.raises((RunwayConfigurationError, RunwayValidationError)):
        media.ensure_output_path("nosuchscheme-xyz://bucket/path", None)


def test_check_download_url_resolves_the_host_with_resolve_host_at_each_call(monkeypatch):
    asked: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return ["10.0.0.7"]

    monkeypatch.setattr(media, "resolve_host", resolve)
    with pytest.raises(RunwayError, match=r"resolves to 10\.0\.0\.7"):
        media.check_download_url("https://cdn.example.com/o.mp4", allow_loopback_http=False)
    assert asked == [("cdn.example.com", 443)]
