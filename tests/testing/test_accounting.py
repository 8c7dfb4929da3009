"""``testing/_accounting.py``: the logs of a run and what follows from them."""

from __future__ import annotations

from airflow_provider_runway.testing._accounting import REQUESTS_KEPT, Ledger, peak_in_flight, short
from airflow_provider_runway.testing._tasks import Task


def task(task_id: str, **fields: object) -> Task:
    base: dict[str, object] = {
        "endpoint": "image_to_video",
        "model": "gen4_turbo",
        "body": {"promptImage": "data:" + "A" * 600},
        "created": 10.0,
        "pending_end": 10.0,
        "run_start": 10.0,
        "run_end": 20.0,
        "estimated_credits": 25,
    }
    return Task(id=task_id, **{**base, **fields})  # type: ignore[arg-type]


def test_short_abbreviates_long_strings_at_any_depth() -> None:
    value = {"a": ["x" * 513, {"b": "y" * 512}], "n": 1}
    assert short(value) == {"a": ["x" * 64 + "...<513 chars>", {"b": "y" * 512}], "n": 1}


def test_peak_in_flight_closes_before_it_opens_and_skips_empty_spans() -> None:
    assert peak_in_flight([]) == 0
    assert peak_in_flight([(0, 5), (5, 10)]) == 1
    assert peak_in_flight([(0, 5), (4, 10), (4.5, 4.5)]) == 2
    assert peak_in_flight([(0, float("inf")), (1, 2), (3, 4)]) == 2


def test_a_create_is_logged_abbreviated_and_can_be_marked_lost() -> None:
    ledger = Ledger()
    ledger.create(task("t1"))
    ledger.create_lost("t1")
    (entry,) = ledger.creates
    assert entry["response_lost"] is True and entry["time"] == 10.0 and entry["estimated_credits"] == 25
    assert entry["body"]["promptImage"].endswith("...<605 chars>")


def test_the_request_log_keeps_the_last_lines_and_counts_them_all() -> None:
    ledger = Ledger()
    for index in range(REQUESTS_KEPT + 5):
        ledger.request("GET", f"/{index}", 200, None)
    assert ledger.request_count == REQUESTS_KEPT + 5
    assert len(ledger.requests) == REQUESTS_KEPT and ledger.requests[0]["path"] == "/5"


def test_report_names_orphans_unobserved_and_deleted() -> None:
    ledger = Ledger()
    running = task("running", gets=1, last_seen="RUNNING")
    cancelled = task("cancelled", cancelled_at=12.0)
    seen_done = task("seen", last_seen="SUCCEEDED")
    deleted = task("deleted", deleted=True)
    tasks = [running, cancelled, seen_done, deleted]
    statuses = {"running": "RUNNING", "cancelled": "CANCELLED", "seen": "SUCCEEDED", "deleted": "SUCCEEDED"}
    ledger.upload("u1", 1024, 204, "a.png")
    report = ledger.report(tasks, statuses, peak=2, credit_balance=99)
    assert report["orphans"] == ["running"]
    assert report["unobserved"] == ["running"]
    assert report["statuses"]["deleted"] == "DELETED"
    assert report["gets"] == {"running": 1, "cancelled": 0, "seen": 0, "deleted": 0}
    assert (report["peak_in_flight"], report["credit_balance"]) == (2, 99)
    assert report["uploads"] == [{"upload_id": "u1", "size": 1024, "status": 204, "filename": "a.png"}]
    report["creates"].append({})
    assert ledger.creates == []  # a copy
