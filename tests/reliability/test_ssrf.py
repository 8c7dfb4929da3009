"""The SSRF guard: what the provider itself fetches (output downloads and their redirects, upload URLs,
file inputs) goes over https to public addresses only; loopback only when the connection sets
``allow_insecure_loopback`` (the simulator); sizes are capped; nothing is left half-written.

The check resolves the host before the request and the HTTP client resolves it again to connect, so a DNS
server that answers differently the second time (DNS rebinding) is not stopped: that limit is documented on
:func:`airflow_provider_runway.media.check_download_url` and in RELIABILITY.md.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_runway import media
from airflow_provider_runway.exceptions import RunwayError, RunwayValidationError
from airflow_provider_runway.hooks.runway import RunwayHook
from airflow_provider_runway.models import RunwayTask
from airflow_provider_runway.operators.runway import RunwayImageToVideoOperator

from .conftest import make_context, partial_files, saved_files

PUBLIC = "93.184.216.34"


@pytest.fixture
def resolver(monkeypatch):
    """Make every hostname resolve to the addresses in ``answers`` (default: one public address)."""
    answers: dict[str, list[str]] = {}
    seen: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        seen.append((host, port))
        return answers.get(host, [PUBLIC])

    monkeypatch.setattr(media, "resolve_host", resolve)
    return answers, seen


@pytest.mark.parametrize(
    "url",
    [
        "http://cdn.example.com/o.mp4",  # plain http to the internet
        "ftp://cdn.example.com/o.mp4",
        "file:///etc/passwd",
        "https:///o.mp4",  # no host
        "https://127.0.0.1/o.mp4",  # loopback, not allowed by the connection
        "https://[::1]/o.mp4",
        "https://[::ffff:127.0.0.1]/o.mp4",  # loopback spelled as IPv4-mapped IPv6
        "https://10.1.2.3/o.mp4",  # private
        "https://192.168.0.10/o.mp4",
        "https://172.16.5.4/o.mp4",
        "https://169.254.169.254/latest/meta-data/",  # link-local: cloud metadata
        "https://[fe80::1]/o.mp4",
        "https://100.64.0.1/o.mp4",  # shared address space
        "https://0.0.0.0/o.mp4",
        "https://[fd00::1]/o.mp4",  # unique local IPv6
        "https://cdn.example.com:99999/o.mp4",  # malformed port
    ],
)
def test_downloads_refuse_non_https_and_internal_addresses(resolver, url):
    with pytest.raises(RunwayError, match=r"Refusing|malformed"):
        media.check_download_url(url, allow_loopback_http=False)


@pytest.mark.parametrize(
    "url",
    [
        "https://10.1.2.3/o.mp4",
        "https://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/o.mp4",
        "http://cdn.example.com/o.mp4",
        "https://[fd00::1]/o.mp4",
    ],
)
def test_allow_insecure_loopback_opens_loopback_only(resolver, url):
    with pytest.raises(RunwayError, match="Refusing"):
        media.check_download_url(url, allow_loopback_http=True)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8765/_files/x/0.mp4", "https://127.0.0.1/o.mp4", "http://localhost/o.mp4"]
)
def test_allow_insecure_loopback_lets_the_simulator_through(resolver, url):
    answers, _ = resolver
    answers["localhost"] = ["127.0.0.1", "::1"]
    assert media.check_download_url(url, allow_loopback_http=True) == url


def test_a_public_https_host_passes_after_resolving(resolver):
    _, seen = resolver
    url = "https://cdn.example.com/o.mp4?Expires=1&Signature=abc"
    assert media.check_download_url(url, allow_loopback_http=False) == url
    assert seen == [("cdn.example.com", 443)]


@pytest.mark.parametrize(
    "addresses",
    [["10.0.0.7"], ["127.0.0.1"], ["169.254.169.254"], [PUBLIC, "10.0.0.7"], ["::1"], ["::ffff:10.0.0.1"]],
)
def test_a_hostname_resolving_to_an_internal_address_is_refused(resolver, addresses):
    answers, _ = resolver
    answers["evil.example.com"] = addresses
    with pytest.raises(RunwayError, match="resolves to") as info:
        media.check_download_url("https://evil.example.com/o.mp4?Signature=s3cret", allow_loopback_http=False)
    assert "s3cret" not in str(info.value)


def test_an_unresolvable_host_is_left_to_the_connect_which_fails_anyway(resolver):
    answers, _ = resolver
    answers["nowhere.invalid"] = []
    assert media.check_download_url("https://nowhere.invalid/o.mp4", allow_loopback_http=False)


def test_the_real_resolver_refuses_localhost():
    with pytest.raises(RunwayError, match="resolves to"):
        media.check_download_url("https://localhost/o.mp4", allow_loopback_http=False)


# --------------------------------------------------------------------------------------------------------
# Through the hook against the simulator: outputs, redirects, size caps; no partial files
# --------------------------------------------------------------------------------------------------------
def test_an_output_url_on_the_metadata_address_is_never_requested(
    runway_simulator_direct, monkeypatch, tmp_path
):
    runway_simulator_direct.set_airflow_conn(monkeypatch)
    hook = RunwayHook()
    task = RunwayTask(
        id="0b9e6c1e-8a4b-4c2f-9d3e-1f2a3b4c5d6e",
        status="SUCCEEDED",
        outputs=("https://169.254.169.254/latest/meta-data/iam/x.mp4",),
    )
    with pytest.raises(RunwayError, match="link-local"):
        media.save_task_outputs(hook, task, str(tmp_path / "out"))
    assert runway_simulator_direct.control.accounting()["request_count"] == 0
    assert saved_files(tmp_path / "out") == [] and partial_files(tmp_path / "out") == []


@pytest.mark.parametrize("location", ["https://169.254.169.254/latest/meta-data/", "http://10.0.0.1/o.mp4"])
def test_a_redirect_to_an_internal_address_is_not_followed(
    runway_simulator_direct, monkeypatch, tmp_path, location
):
    sim = runway_simulator_direct
    sim.set_airflow_conn(monkeypatch)
    sim.control.add_fault("html", path="files", status=302, location=location)
    op = RunwayImageToVideoOperator(
        task_id="t",
        prompt_image="https://example.com/cat.jpg",
        ratio="1280:720",
        poll_interval=0.05,
        output_path=str(tmp_path / "out"),
    )
    with pytest.raises(RunwayError, match="Refusing"):
        op.execute(make_context())
    files = [r for r in sim.control.accounting()["requests"] if r["path"].startswith("/_files/")]
    assert [r["status"] for r in files] == [302]  # one hop asked, the internal one never
    assert saved_files(tmp_path / "out") == [] and partial_files(tmp_path / "out") == []


def test_an_output_over_the_size_cap_is_refused_and_nothing_is_left(
    runway_simulator_direct, monkeypatch, tmp_path
):
    sim = runway_simulator_direct
    sim.set_airflow_conn(monkeypatch)
    sim.control.configure(output_size=200_000)
    op = RunwayImageToVideoOperator(
        task_id="t",
        prompt_image="https://example.com/cat.jpg",
        ratio="1280:720",
        poll_interval=0.05,
        output_path=str(tmp_path / "out"),
        max_download_bytes=100_000,
    )
    with pytest.raises(RunwayError, match="100000 byte"):
        op.execute(make_context())
    assert saved_files(tmp_path / "out") == [] and partial_files(tmp_path / "out") == []


def test_an_upload_url_on_an_internal_address_is_refused(tmp_path, monkeypatch):
    """The upload form's URL comes from the API's answer: a hostile or broken answer cannot aim it inward."""
    with pytest.raises(RunwayError, match="Refusing"):
        media.check_download_url("https://10.0.0.9/upload", allow_loopback_http=True)


# --------------------------------------------------------------------------------------------------------
# File inputs and output paths: no network filesystem can be aimed at an internal host
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("prompt_image", "simplecache::http://169.254.169.254/latest/meta-data/x.png"),
        ("prompt_image", "ftp://10.0.0.5/frames/a.png"),
        ("prompt_image", "sftp://10.0.0.5/frames/a.png"),
        ("prompt_image", "webhdfs://10.0.0.5/a.png"),
        ("prompt_image", "filecache::https://10.0.0.5/a.png"),
        ("output_path", "http://10.0.0.1/out/"),
        ("output_path", "https://10.0.0.1/out/"),
    ],
)
def test_inputs_and_outputs_never_go_through_a_network_fetcher(
    runway_simulator_direct, monkeypatch, field, value
):
    sim = runway_simulator_direct
    sim.set_airflow_conn(monkeypatch)
    kwargs = {"prompt_image": "https://example.com/cat.jpg", "output_path": None, field: value}
    op = RunwayImageToVideoOperator(task_id="t", ratio="1280:720", **kwargs)
    with pytest.raises(RunwayValidationError) as info:
        op.execute(make_context())
    assert info.value.field == field
    assert sim.control.accounting()["request_count"] == 0
    json.dumps(str(info.value))
