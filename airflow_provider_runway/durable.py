"""Durable execution: one logical generation, one remote task, whatever happens to workers and triggerers.

A *logical generation* is one Airflow task instance: ``(dag_id, run_id, task_id, map_index)``, never the
try number, so every try of it (a retry, a clear) shares one **record**:

* an **intent**, written just before the paid create: the request's fingerprint and the time;
* the **task**, written right after the create answered: its id, when, and the estimated credits; and
  ``seen`` once a GET has shown the task (so that a later 404 means "gone", not "not visible yet").

A next try reads the record first (:func:`resume`): the same request with a task id re-attaches to that
task unless it is known to be gone; the same request with an intent but no id may have been billed and
fails unless the user opts in to creating again; a changed request (another fingerprint) is a new
generation. The record is deleted once the generation has been handled (succeeded and saved, or ended
for good), so a clear after success generates anew.

Where the record lives (:func:`records_for`):

* Airflow 3.3+: the task state store (``context["task_state_store"]``), key :data:`STATE_KEY`.
* Airflow 3.1 and 3.2, which have no task state store: an Airflow Variable named
  ``runway_generation.<32 hex>`` (:func:`variable_key`). Variables live in the metadata database, which
  every deployment has and every worker reaches through the Task SDK, whatever the executor; a file under
  ``output_path`` would need ``output_path`` to be set and shared by all workers.

Pure except for the two small stores at the bottom.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from airflow_provider_runway.core.task import RunwayTask

#: task_state_store key of the record (Airflow 3.3+); also the name of the old, intent-less record.
STATE_KEY = "runway_task"
VARIABLE_PREFIX = "runway_generation."
#: bump when the record's meaning changes; older records are read as far as they go.
RECORD_VERSION = 2


@dataclass(frozen=True)
class Record:
    """One logical generation's durable state (plain JSON in the store)."""

    fingerprint: str | None
    intent_at: float | None = None
    task_id: str | None = None
    submitted_at: float | None = None
    endpoint: str | None = None
    estimated_credits: float | None = None
    seen: bool = False

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["v"] = RECORD_VERSION
        # "id" is what records written before intents existed used; keep reading and writing it.
        data["id"] = data.pop("task_id")
        return data

    @classmethod
    def from_json(cls, data: Any) -> Record | None:
        if not isinstance(data, Mapping):
            return None
        ident = data.get("id")
        credits = data.get("estimated_credits")
        return cls(
            fingerprint=data.get("fingerprint") if isinstance(data.get("fingerprint"), str) else None,
            intent_at=_number(data.get("intent_at")),
            task_id=str(ident) if ident else None,
            submitted_at=_number(data.get("submitted_at")),
            endpoint=data.get("endpoint") if isinstance(data.get("endpoint"), str) else None,
            estimated_credits=_number(credits),
            seen=bool(data.get("seen", False)),
        )

    def with_task(self, task_id: str, submitted_at: float, estimated_credits: float | None) -> Record:
        return replace(self, task_id=task_id, submitted_at=submitted_at, estimated_credits=estimated_credits)

    def marked_seen(self) -> Record:
        return replace(self, seen=True)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def intent(fingerprint: str | None, endpoint: str, *, now: float | None = None) -> Record:
    """The record written just before a create."""
    return Record(fingerprint=fingerprint, intent_at=time.time() if now is None else now, endpoint=endpoint)


# ----------------------------------------------------------------------------------------------------------
# The request's fingerprint
# ----------------------------------------------------------------------------------------------------------
def fingerprint(endpoint: str, body: Mapping[str, Any], inputs: Mapping[str, Any] | None = None) -> str:
    """A digest of what was asked: the endpoint, the body (model included) and the input files' contents.

    ``body`` is the validated request with file inputs stood in by placeholders; ``inputs`` maps each file
    argument to the digests of its files (:func:`~airflow_provider_runway.media.input_digests`), so a
    changed file is a changed request even at the same path, and a retry needs no upload to tell.
    Data URIs in the body count by their digest.
    """
    canonical = json.dumps(
        {"endpoint": endpoint, "body": _digest_data_uris(body), "inputs": inputs or {}},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        default=str,
    )
    return "sha256:" + hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _digest_data_uris(value: Any) -> Any:
    if isinstance(value, str) and value[:5].lower() == "data:":
        return "data-uri:sha256:" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()
    if isinstance(value, Mapping):
        return {str(k): _digest_data_uris(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_digest_data_uris(v) for v in value]
    return value


# ----------------------------------------------------------------------------------------------------------
# What a next try does with the record it finds
# ----------------------------------------------------------------------------------------------------------
Resume = Literal["create", "look", "unconfirmed", "changed"]


def resume(record: Record | None, request_fingerprint: str | None) -> Resume:
    """The first decision of a try, from the record alone (no request).

    * ``create``: no record: create.
    * ``changed``: the record is of another request (the prompt or a file changed): a new generation;
      the old task is not re-attached to (and not cancelled: it is not this request's to stop).
    * ``unconfirmed``: the same request began a create whose id was never recorded: it may exist and be
      billed (the caller fails, unless told to create again).
    * ``look``: the same request has a task: GET it and let :func:`after_look` decide.

    A record without a fingerprint (written by an older version) counts as the same request.
    """
    if record is None:
        return "create"
    if record.fingerprint and request_fingerprint and record.fingerprint != request_fingerprint:
        return "changed"
    if not record.task_id:
        return "unconfirmed"
    return "look"


def after_look(task: RunwayTask | None, *, seen: bool) -> Literal["reattach", "create", "unconfirmed"]:
    """Re-attach to the recorded task, or create anew once it is known to be gone.

    :param task: what a GET of it returned; ``None`` when it answered a plain 404 (the gateway's
        ``task_not_exist`` is not one: it comes back as a PENDING task that is not visible yet).
    :param seen: a GET showed the task before.

    Gone means ended without success (FAILED, CANCELLED), or a 404 after it was seen. A 404 for a task
    never seen cannot tell "deleted" from "not visible yet": ``unconfirmed``. Anything else, a success
    included, is re-attached to: collected, not paid for again.
    """
    if task is None:
        return "create" if seen else "unconfirmed"
    if task.terminal and not task.succeeded:
        return "create"
    return "reattach"


# ----------------------------------------------------------------------------------------------------------
# Where the record lives
# ----------------------------------------------------------------------------------------------------------
class Records(Protocol):
    #: where the record is, for messages a person acts on
    location: str

    def get(self) -> Record | None: ...

    def put(self, record: Record) -> None: ...

    def forget(self) -> None: ...


class StateStoreRecords:
    """Airflow 3.3+: the task state store, shared by every try of the task instance."""

    def __init__(self, store: Any, where: str) -> None:
        self._store = store
        self.location = f"the task state store of {where}, key {STATE_KEY!r}"

    def get(self) -> Record | None:
        return Record.from_json(self._store.get(STATE_KEY))

    def put(self, record: Record) -> None:
        self._store.set(STATE_KEY, record.to_json())

    def forget(self) -> None:
        self._store.delete(STATE_KEY)


def variable_key(dag_id: str, run_id: str, task_id: str, map_index: int | None) -> str:
    """The Variable of one logical generation: a digest, since run ids are long and free-form."""
    ident = "\x00".join((dag_id, run_id, task_id, str(-1 if map_index is None else map_index)))
    return VARIABLE_PREFIX + hashlib.sha256(ident.encode("utf-8")).hexdigest()[:32]


class VariableRecords:
    """Airflow 3.1 and 3.2: an Airflow Variable per logical generation (:func:`variable_key`)."""

    def __init__(self, variables: Any, key: str, where: str) -> None:
        self._variables = variables
        self.key = key
        self._description = (
            f"airflow-provider-runway: the Runway task of {where} (deleted once the generation is handled)"
        )
        self.location = f"the Airflow Variable {key!r} ({where})"

    def get(self) -> Record | None:
        return Record.from_json(self._variables.get(self.key, default=None, deserialize_json=True))

    def put(self, record: Record) -> None:
        self._variables.set(self.key, record.to_json(), description=self._description, serialize_json=True)

    def forget(self) -> None:
        self._variables.delete(self.key)


def _task_runner_attached() -> bool:
    """Whether this process runs under an Airflow supervisor (a real task, or ``airflow dags test``)."""
    try:
        from airflow.sdk.execution_time import task_runner
    except ImportError:  # pragma: no cover - the Task SDK is part of every supported Airflow
        return False
    return getattr(task_runner, "SUPERVISOR_COMMS", None) is not None


def records_for(context: Mapping[str, Any], *, variables: Any = None) -> Records | None:
    """The record of the task instance this context runs; ``None`` when there is nowhere to keep one.

    :param variables: the Variable API to use on Airflow 3.1/3.2 (default ``airflow.sdk.Variable``, when a
        supervisor is attached; tests pass a stand-in).
    """
    ti = context.get("ti")
    where = _describe_ti(ti)
    store = context.get("task_state_store")
    if store is not None:
        return StateStoreRecords(store, where)
    if ti is None or not all(hasattr(ti, name) for name in ("dag_id", "run_id", "task_id")):
        return None
    if variables is None:
        if not _task_runner_attached():
            return None
        from airflow.sdk import Variable

        variables = Variable
    return VariableRecords(
        variables, variable_key(ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1)), where
    )


def _describe_ti(ti: Any) -> str:
    if ti is None:
        return "this task instance"
    map_index = getattr(ti, "map_index", -1)
    suffix = f"[{map_index}]" if isinstance(map_index, int) and map_index >= 0 else ""
    return (
        f"{getattr(ti, 'dag_id', '?')}.{getattr(ti, 'task_id', '?')}{suffix} "
        f"in run {getattr(ti, 'run_id', '?')}"
    )


# ----------------------------------------------------------------------------------------------------------
# The task instance's own state, for on_kill (the trigger's and the synchronous wait's)
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TIKey:
    """What identifies a task instance to Airflow's ``GetTaskStates`` (plain JSON, no secret)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1

    @classmethod
    def of(cls, ti: Any) -> TIKey | None:
        try:
            map_index = getattr(ti, "map_index", -1)
            return cls(
                str(ti.dag_id), str(ti.run_id), str(ti.task_id), -1 if map_index is None else int(map_index)
            )
        except (AttributeError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class TIState:
    known: bool
    state: str | None = None
    detail: str = ""


def read_ti_state(key: TIKey | None, *, lookup: Any = None) -> TIState:
    """The task instance's state in Airflow's database, asked of the supervisor (the Task SDK's
    ``GetTaskStates``: the worker's or the triggerer's, neither of which has database access itself).

    Never raises: a state that cannot be learnt is ``known=False``.

    :param lookup: ``RuntimeTaskInstance.get_task_states`` by default; tests pass a stand-in.
    """
    if key is None:
        return TIState(False, detail="the trigger or task knows no task instance")
    try:
        if lookup is None:
            if not _task_runner_attached():
                return TIState(False, detail="no Airflow supervisor to ask")
            from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

            lookup = RuntimeTaskInstance.get_task_states
        states = lookup(
            dag_id=key.dag_id,
            run_ids=[key.run_id],
            task_ids=[key.task_id],
            map_index=key.map_index if key.map_index >= 0 else None,
        )
    except Exception as err:  # an older supervisor, a closed socket: unknown, so nothing is cancelled
        return TIState(False, detail=f"{type(err).__name__}: {err}")
    name = key.task_id if key.map_index < 0 else f"{key.task_id}_{key.map_index}"
    run = states.get(key.run_id) if isinstance(states, Mapping) else None
    if not isinstance(run, Mapping) or name not in run:
        return TIState(False, detail=f"Airflow returned no state for {name} in run {key.run_id}")
    value = run[name]
    state = getattr(value, "value", value)
    return TIState(True, None if state is None else str(state))
