"""The durable record of a logical generation: its JSON, the request fingerprint, the decisions of a next
try, where the record lives (task state store or Variable), and the task instance's state for on_kill."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from airflow_provider_runway import durable
from airflow_provider_runway.models import RunwayTask
from tests.fakes import FakeStateStore, FakeSupervisor, FakeTaskInstance, FakeTI

BODY = {
    "model": "gen4_turbo",
    "promptImage": "https://example.com/a.png",
    "promptText": "a cat",
    "ratio": "1280:720",
}


class FakeVariables:
    """The classmethods of ``airflow.sdk.Variable`` the records use, over a dict (values JSON-encoded, as the
    metadata database keeps them)."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, str | None]] = {}

    def get(self, key: str, default: Any = None, deserialize_json: bool = False) -> Any:
        if key not in self.rows:
            return default
        raw = self.rows[key][0]
        return json.loads(raw) if deserialize_json else raw

    def set(self, key: str, value: Any, description: str | None = None, serialize_json: bool = False) -> None:
        self.rows[key] = (json.dumps(value) if serialize_json else str(value), description)

    def delete(self, key: str) -> None:
        self.rows.pop(key, None)


# --------------------------------------------------------------------------------------------------------
# The record
# --------------------------------------------------------------------------------------------------------
def test_a_record_round_trips_through_json_as_the_stores_keep_it():
    record = durable.intent("sha256:ab", "image_to_video", now=100.0).with_task("t-1", 101.5, 25.0)
    record = record.marked_seen()
    stored = json.loads(json.dumps(record.to_json()))
    assert stored["id"] == "t-1" and stored["v"] == durable.RECORD_VERSION
    assert durable.Record.from_json(stored) == record


def test_a_record_written_before_intents_existed_is_read_as_a_task_of_the_same_request():
    old = {"id": "t-1", "submitted_at": 100.0, "endpoint": "/v1/image_to_video", "estimated_credits": 25}
    record = durable.Record.from_json(old)
    assert record is not None and record.task_id == "t-1" and record.fingerprint is None
    assert durable.resume(record, "sha256:anything") == "look"  # no fingerprint to differ from


@pytest.mark.parametrize("junk", [None, "t-1", 3, []])
def test_a_record_that_is_not_an_object_is_no_record(junk):
    assert durable.Record.from_json(junk) is None


# --------------------------------------------------------------------------------------------------------
# The fingerprint
# --------------------------------------------------------------------------------------------------------
def test_the_fingerprint_is_stable_and_ignores_key_order():
    a = durable.fingerprint("image_to_video", BODY, {"prompt_image": "file:sha256:1"})
    b = durable.fingerprint("image_to_video", dict(reversed(BODY.items())), {"prompt_image": "file:sha256:1"})
    assert a == b and a.startswith("sha256:")


@pytest.mark.parametrize(
    "change",
    [
        lambda body, inputs: ("video_to_video", body, inputs),
        lambda body, inputs: ("image_to_video", {**body, "promptText": "a dog"}, inputs),
        lambda body, inputs: ("image_to_video", {**body, "model": "gen4.5"}, inputs),
        lambda body, inputs: ("image_to_video", {**body, "seed": 1}, inputs),
        lambda body, inputs: ("image_to_video", body, {"prompt_image": "file:sha256:2"}),
    ],
    ids=["endpoint", "prompt", "model", "a new field", "file content"],
)
def test_any_change_of_the_request_changes_the_fingerprint(change):
    inputs = {"prompt_image": "file:sha256:1"}
    base = durable.fingerprint("image_to_video", BODY, inputs)
    assert durable.fingerprint(*change(copy.deepcopy(BODY), dict(inputs))) != base


def test_data_uris_count_by_digest_and_still_tell_contents_apart():
    one = {**BODY, "promptImage": "data:image/png;base64,AAAA"}
    two = {**BODY, "promptImage": "data:image/png;base64,AAAB"}
    assert durable.fingerprint("image_to_video", one) != durable.fingerprint("image_to_video", two)
    assert "AAAA" not in json.dumps(durable._digest_data_uris(one))


# --------------------------------------------------------------------------------------------------------
# What a next try does
# --------------------------------------------------------------------------------------------------------
def test_resume_from_the_record_alone():
    fp = "sha256:1"
    assert durable.resume(None, fp) == "create"
    assert durable.resume(durable.intent(fp, "image_to_video"), fp) == "unconfirmed"
    assert durable.resume(durable.intent(fp, "image_to_video").with_task("t", 1.0, None), fp) == "look"
    assert (
        durable.resume(durable.intent("sha256:2", "image_to_video").with_task("t", 1.0, None), fp)
        == "changed"
    )
    # an intent of another request: a new generation, not an unconfirmed create of this one
    assert durable.resume(durable.intent("sha256:2", "image_to_video"), fp) == "changed"


@pytest.mark.parametrize(
    "status, visible, seen, expected",
    [
        ("RUNNING", True, False, "reattach"),
        ("THROTTLED", True, True, "reattach"),
        ("SUCCEEDED", True, True, "reattach"),  # collect it, do not pay again
        ("PENDING", False, False, "reattach"),  # the gateway's task_not_exist: not visible yet
        ("PENDING", False, True, "reattach"),  # ... even once seen: task_not_exist is never "gone"
        ("FAILED", True, True, "create"),
        ("CANCELLED", True, True, "create"),
        (None, None, True, "create"),  # a 404 after it was seen: gone
        (None, None, False, "unconfirmed"),  # a 404 never seen: hidden or deleted, nobody can tell
    ],
)
def test_after_look_creates_anew_only_when_the_task_is_known_to_be_gone(status, visible, seen, expected):
    task = None if status is None else RunwayTask(id="t", status=status, visible=bool(visible))
    assert durable.after_look(task, seen=seen) == expected


# --------------------------------------------------------------------------------------------------------
# Where the record lives
# --------------------------------------------------------------------------------------------------------
def test_with_a_task_state_store_the_record_lives_there():
    store = FakeStateStore()
    records = durable.records_for({"ti": FakeTaskInstance(), "task_state_store": store})
    assert isinstance(records, durable.StateStoreRecords)
    records.put(durable.intent("sha256:1", "image_to_video", now=5.0))
    assert store.data[durable.STATE_KEY]["intent_at"] == 5.0
    assert records.get() == durable.intent("sha256:1", "image_to_video", now=5.0)
    records.forget()
    assert store.data == {} and records.get() is None


def test_without_a_task_state_store_the_record_is_a_variable_per_logical_generation():
    variables = FakeVariables()
    ti = FakeTaskInstance(
        dag_id="d", run_id="scheduled__2026-12-01T00:00:00+00:00", task_id="gen", map_index=7
    )
    records = durable.records_for({"ti": ti}, variables=variables)
    assert isinstance(records, durable.VariableRecords)
    key = durable.variable_key("d", "scheduled__2026-12-01T00:00:00+00:00", "gen", 7)
    assert records.key == key and key.startswith(durable.VARIABLE_PREFIX) and len(key) < 250
    records.put(durable.intent("sha256:1", "image_to_video", now=5.0).with_task("t-1", 6.0, None))
    value, description = variables.rows[key]
    assert json.loads(value)["id"] == "t-1"
    assert "d.gen[7]" in description and "scheduled__2026-12-01" in description
    assert key in records.location
    # every try of the same task instance finds it; another map index or run does not
    again = durable.records_for({"ti": FakeTaskInstance("d", ti.run_id, "gen", 7)}, variables=variables)
    assert again is not None and again.get() is not None and again.get().task_id == "t-1"
    other = durable.records_for({"ti": FakeTaskInstance("d", ti.run_id, "gen", 8)}, variables=variables)
    assert other is not None and other.get() is None
    records.forget()
    assert variables.rows == {}


def test_the_variable_key_never_depends_on_the_try_number():
    ti = FakeTaskInstance()
    first = durable.records_for({"ti": ti}, variables=FakeVariables())
    ti.try_number = 3  # type: ignore[attr-defined]
    later = durable.records_for({"ti": ti}, variables=FakeVariables())
    assert first is not None and later is not None and first.key == later.key  # type: ignore[attr-defined]


def test_no_supervisor_and_no_store_means_no_record():
    # a unit test's bare context, or a TI that cannot be named
    assert durable.records_for({"ti": FakeTaskInstance()}) is None
    assert durable.records_for({"ti": FakeTI()}, variables=FakeVariables()) is None


# --------------------------------------------------------------------------------------------------------
# The task instance's state, asked of the supervisor
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("map_index", [-1, 0, 12])
def test_read_ti_state_asks_the_supervisor_for_exactly_this_task_instance(map_index):
    ti = FakeTaskInstance(map_index=map_index)
    states = {
        (ti.dag_id, ti.run_id, ti.task_id, map_index): "deferred",
        (ti.dag_id, ti.run_id, ti.task_id, map_index + 1): "failed",  # a neighbour
        (ti.dag_id, "other_run", ti.task_id, map_index): "success",
    }
    with FakeSupervisor(states) as supervisor:
        state = durable.read_ti_state(durable.TIKey.of(ti))
    assert state == durable.TIState(True, "deferred")
    (asked,) = supervisor.asked
    assert asked.run_ids == [ti.run_id] and asked.task_ids == [ti.task_id]
    assert asked.map_index == (None if map_index < 0 else map_index)


def test_a_cleared_task_instance_has_a_known_empty_state():
    ti = FakeTaskInstance()
    with FakeSupervisor({(ti.dag_id, ti.run_id, ti.task_id, -1): None}):
        assert durable.read_ti_state(durable.TIKey.of(ti)) == durable.TIState(True, None)


def test_a_state_that_cannot_be_learnt_is_unknown_never_an_error():
    ti = FakeTaskInstance()
    assert not durable.read_ti_state(None).known
    assert not durable.read_ti_state(durable.TIKey.of(ti)).known  # no supervisor
    assert durable.TIKey.of(object()) is None
    with FakeSupervisor({}):  # Airflow knows no such task instance
        assert not durable.read_ti_state(durable.TIKey.of(ti)).known
    with FakeSupervisor({(ti.dag_id, ti.run_id, ti.task_id, -1): "failed"}) as supervisor:
        supervisor.fail = BrokenPipeError("gone")
        state = durable.read_ti_state(durable.TIKey.of(ti))
    assert not state.known and "gone" in state.detail


def test_the_operator_module_s_state_key_is_the_record_s():
    # The operator module names it without importing durable (DAG files import that module on every parse).
    from airflow_provider_runway.operators import runway as operators

    assert operators.STATE_KEY == durable.STATE_KEY
