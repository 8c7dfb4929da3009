"""``testing/_files.py``: signed output URLs, their checks, and byte ranges."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from airflow_provider_runway.testing._errors import SimError
from airflow_provider_runway.testing._files import Signer, check_file, output_urls, parse_range
from airflow_provider_runway.testing._tasks import Task


def task() -> Task:
    return Task("t1", "text_to_image", "gen4_image", {}, 0, 0, 0, 0, 5, output_count=2)


def signed(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    return parts.path[len("/_files/") :], dict(parse_qsl(parts.query))


def test_fresh_urls_pass_their_checks_until_they_expire() -> None:
    signer = Signer(0)
    urls = output_urls(task(), "http://h", now=100.2, ttl=60, signer=signer)
    assert [signed(url)[0] for url in urls] == ["t1/0.png", "t1/1.png"]
    name, query = signed(urls[1])
    assert query["Expires"] == "161"
    assert check_file(task(), name, query, succeeded=True, now=161, signer=signer) == "image/png"
    with pytest.raises(SimError, match="expired"):
        check_file(task(), name, query, succeeded=True, now=162, signer=signer)
    with pytest.raises(SimError, match="SignatureDoesNotMatch"):
        check_file(task(), name, {**query, "Expires": "999"}, succeeded=True, now=0, signer=signer)
    with pytest.raises(SimError, match="SignatureDoesNotMatch"):
        check_file(task(), name, query, succeeded=True, now=0, signer=Signer(1))


@pytest.mark.parametrize("name", ["t1/2.png", "t1/0.mp4", "t1/x.png", "t1"])
def test_no_such_key(name: str) -> None:
    with pytest.raises(SimError) as caught:
        check_file(task(), name, {}, succeeded=True, now=0, signer=Signer(0))
    assert caught.value.status == 404


def test_only_a_succeeded_task_has_files() -> None:
    signer = Signer(0)
    name, query = signed(output_urls(task(), "", now=0, ttl=60, signer=signer)[0])
    with pytest.raises(SimError) as caught:
        check_file(task(), name, query, succeeded=False, now=0, signer=signer)
    assert caught.value.status == 404


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-9", (0, 10)),
        ("bytes=5-", (5, 100)),
        ("bytes=-10", (90, 100)),
        ("bytes=0-999", (0, 100)),
        ("bytes=100-", "invalid"),
        ("bytes=1-2,4-5", None),
        ("items=0-1", None),
        ("bytes=a-b", None),
    ],
)
def test_parse_range(header: str | None, expected: object) -> None:
    assert parse_range(header, 100) == expected
