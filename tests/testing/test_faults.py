"""``testing/_faults.py``: the fault catalogue, which faults fire, and what each kind does to an answer."""

from __future__ import annotations

import json

import pytest

from airflow_provider_runway.testing._faults import (
    CREATE_KINDS,
    FAULT_KINDS,
    REPLACING_KINDS,
    Fault,
    FaultBook,
    lost_create,
    replacing_response,
    slow_down,
    task_shape,
)
from airflow_provider_runway.testing._http import Response


def test_every_kind_is_in_at_most_one_family() -> None:
    assert not REPLACING_KINDS & CREATE_KINDS
    assert REPLACING_KINDS | CREATE_KINDS <= set(FAULT_KINDS)


def test_add_checks_kind_parameters_times_and_rate() -> None:
    book = FaultBook(0)
    with pytest.raises(ValueError, match="unknown fault kind"):
        book.add("bogus")
    with pytest.raises(ValueError, match="takes"):
        book.add("reset", delay=1)
    with pytest.raises(ValueError, match="times"):
        book.add("reset", times=-1)
    with pytest.raises(ValueError, match="rate"):
        book.add("reset", rate=2)
    with pytest.raises(TypeError):
        book.add("reset", "create")  # type: ignore[misc]  # where a fault applies is keyword-only
    assert book.faults == []


def test_add_numbers_faults_and_sends_create_kinds_to_creates() -> None:
    book = FaultBook(0)
    assert book.add("reset", method="get") == 1
    assert book.add("task_failed", failure_code="SAFETY.INPUT.TEXT") == 2
    first, second = book.faults
    assert (first.path, first.method, first.rate) == ("any", "GET", 1.0)
    assert (second.path, second.params) == ("create", {"failure_code": "SAFETY.INPUT.TEXT"})


def test_pick_matches_groups_globs_methods_and_consumes_times() -> None:
    book = FaultBook(0)
    book.add("reset", path="tasks_get", times=1)
    book.add("slow", path="/v1/tasks/*", method="GET", delay=1)
    book.add("timing", running_seconds=3)  # a create kind: never fires on a GET
    fired = book.pick("GET", "/v1/tasks/abc", "tasks_get")
    assert [f.kind for f in fired] == ["reset", "slow"]
    assert [f.kind for f in book.pick("GET", "/v1/tasks/abc", "tasks_get")] == ["slow"]
    assert book.pick("DELETE", "/v1/tasks/abc", "delete") == []
    assert [f.kind for f in book.pick("POST", "/v1/image_to_video", "create")] == ["timing"]
    assert [f["fired"] for f in book.listing()] == [1, 2, 1]


def test_rate_draws_from_the_seeded_rng() -> None:
    def draws(seed: int) -> list[int]:
        book = FaultBook(seed)
        book.add("reset", rate=0.5)
        return [len(book.pick("GET", "/x", "any")) for _ in range(50)]

    assert draws(3) == draws(3)
    assert 0 < sum(draws(3)) < 50


def test_startup_faults_come_back_unfired_with_their_ids() -> None:
    book = FaultBook(0)
    book.add("reset", times=1)
    book.pick("GET", "/x", "any")
    again = FaultBook(0, book.faults)
    assert [(f.id, f.fired) for f in again.faults] == [(1, 0)]
    assert again.add("hang") == 2
    assert book.faults[0].fired == 1  # the originals are not touched


def test_clear_one_or_all() -> None:
    book = FaultBook(0)
    book.add("reset")
    book.add("hang")
    book.clear(1)
    assert [f.kind for f in book.faults] == ["hang"]
    book.clear()
    assert book.faults == []


def test_task_shape_from_create_kinds_and_overrides() -> None:
    faults = [
        Fault(1, "timing", params={"running_seconds": 9}),
        Fault(2, "task_failed", params={}),
        Fault(3, "task_stuck_throttled"),
    ]
    shape = task_shape(faults, {"pending_seconds": 1, "running_seconds": 2})
    assert shape.timing == {"pending_seconds": 1, "running_seconds": 9}
    assert (shape.outcome, shape.failure_code, shape.stuck) == ("FAILED", "INTERNAL", True)
    assert task_shape([Fault(1, "task_cancelled")]).outcome == "CANCELLED"
    assert task_shape([]).outcome == "SUCCEEDED"


@pytest.mark.parametrize("flavor", ["runway", "gateway"])
def test_rate_limit_answers_429_with_retry_after_in_the_flavor_shape(flavor: str) -> None:
    response = replacing_response([Fault(1, "rate_limit", params={"retry_after": 2.0})], flavor)
    assert response is not None and response.status == 429 and response.fault == "rate_limit"
    assert ("Retry-After", "2") in response.headers
    body = json.loads(response.body)
    if flavor == "gateway":
        assert body["error"]["code"] == "rate_limit_exceeded" and body["error"]["type"] == "comet_api_error"
    else:
        assert set(body) == {"error"}


def test_replacing_kinds_answer_instead_of_the_service() -> None:
    assert replacing_response([Fault(1, "slow"), Fault(2, "timing")], "runway") is None
    http_error = replacing_response(
        [Fault(1, "http_error", params={"status": 503, "retry_after": 1.5})], "runway"
    )
    assert http_error is not None
    assert (http_error.status, json.loads(http_error.body)) == (503, {"error": "Service Unavailable"})
    assert ("Retry-After", "1.5") in http_error.headers
    reset = replacing_response([Fault(1, "reset")], "runway")
    assert reset is not None and reset.action == "reset"
    broken = replacing_response([Fault(1, "malformed_json")], "gateway")
    assert broken is not None and broken.status == 200
    with pytest.raises(ValueError):
        json.loads(broken.body)
    page = replacing_response([Fault(1, "html", params={"location": "https://x.example/"})], "gateway")
    assert page is not None and page.status == 301 and ("Location", "https://x.example/") in page.headers


def test_lost_create_and_slow_down() -> None:
    assert lost_create([Fault(1, "slow")]) is None
    assert lost_create([Fault(1, "create_lost")]) == "close"
    assert lost_create([Fault(1, "create_lost", params={"mode": "hang"})]) == "hang"
    assert lost_create([Fault(1, "create_lost", params={"mode": "explode"})]) == "close"
    response = Response()
    slow_down(response, [Fault(1, "slow", params={"delay": 0.25}), Fault(2, "reset")])
    assert (response.delay, response.fault) == (0.25, "slow")
