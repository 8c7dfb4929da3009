"""Stand-ins for the parts of an Airflow task context the operators touch, shared by the test modules."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any


class FakeTI:
    """Records XCom pushes (checking they are JSON, as XCom requires) and answers pulls of its own keys,
    like a TaskInstance within one try."""

    task_id = "generate"
    map_index = -1

    def __init__(self) -> None:
        self.pushes: list[tuple[str, Any]] = []

    def xcom_push(self, key: str, value: Any) -> None:
        json.dumps(value)  # XCom values must be JSON
        self.pushes.append((key, value))

    def xcom_pull(self, task_ids: Any = None, key: str = "return_value", map_indexes: Any = None) -> Any:
        values = self.pushed(key)
        return values[-1] if values else None

    def pushed(self, key: str) -> list[Any]:
        return [value for k, value in self.pushes if k == key]


class FakeStateStore:
    """The get/set/delete surface of Airflow 3.3's ``context["task_state_store"]``, kept in a dict."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return copy.deepcopy(self.data.get(key, default))

    def set(self, key: str, value: Any, *, retention: timedelta | None = None) -> None:
        if value is None:
            raise ValueError("Cannot set value as None")
        self.data[key] = json.loads(json.dumps(value))  # stored as JSON, as the real store does

    def delete(self, key: str) -> None:
        self.data.pop(key, None)


class FakeTaskInstance:
    """What the triggerer sets as a trigger's ``task_instance`` (and a worker's ``context["ti"]``): the
    fields that name the task instance."""

    def __init__(
        self,
        dag_id: str = "runway_dag",
        run_id: str = "manual__1",
        task_id: str = "generate",
        map_index: int = -1,
    ) -> None:
        self.dag_id, self.run_id, self.task_id, self.map_index = dag_id, run_id, task_id, map_index
        self.pushes: list[tuple[str, Any]] = []

    def xcom_push(self, key: str, value: Any) -> None:
        json.dumps(value)
        self.pushes.append((key, value))

    def xcom_pull(self, task_ids: Any = None, key: str = "return_value", map_indexes: Any = None) -> Any:
        values = [v for k, v in self.pushes if k == key]
        return values[-1] if values else None


class FakeSupervisor:
    """Stands in for the supervisor a task or trigger talks to (``task_runner.SUPERVISOR_COMMS``), answering
    the Task SDK's ``GetTaskStates`` from ``states`` the way Airflow's execution API does
    (``{run_id: {task_id or task_id_<map_index>: state}}``), so the Task SDK's own
    ``RuntimeTaskInstance.get_task_states`` runs unchanged. Use as a context manager.

    :param delay: seconds each answer takes (a slow supervisor: the triggerer's re-sent cancels land then).
    """

    def __init__(self, states: dict[tuple[str, str, str, int], str | None] | None = None, delay: float = 0.0):
        self.states = dict(states or {})
        self.delay = delay
        self.asked: list[Any] = []
        self.fail: BaseException | None = None

    def send(self, msg: Any) -> Any:
        import time

        from airflow.sdk.execution_time.comms import TaskStatesResult

        if type(msg).__name__ == "MaskSecret":  # the connection lookup registers the key for masking
            return None
        if type(msg).__name__ != "GetTaskStates":
            raise NotImplementedError(f"FakeSupervisor answers GetTaskStates only, not {type(msg).__name__}")
        self.asked.append(msg)
        if self.delay:
            time.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        runs: dict[str, dict[str, Any]] = {}
        for (dag_id, run_id, task_id, map_index), state in self.states.items():
            if dag_id != msg.dag_id or (msg.run_ids and run_id not in msg.run_ids):
                continue
            if (msg.task_ids and task_id not in msg.task_ids) or (
                msg.map_index is not None and map_index != msg.map_index
            ):
                continue
            name = task_id if map_index < 0 else f"{task_id}_{map_index}"
            runs.setdefault(run_id, {})[name] = state
        return TaskStatesResult(task_states=runs)

    def __enter__(self) -> FakeSupervisor:
        from airflow.sdk.execution_time import task_runner

        self._had = hasattr(task_runner, "SUPERVISOR_COMMS")
        self._old = getattr(task_runner, "SUPERVISOR_COMMS", None)
        task_runner.SUPERVISOR_COMMS = self  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: Any) -> None:
        from airflow.sdk.execution_time import task_runner

        if self._had:
            task_runner.SUPERVISOR_COMMS = self._old  # type: ignore[assignment]
        else:
            del task_runner.SUPERVISOR_COMMS


class FakeAiohttpSession:
    """Stands in for a lane's ``aiohttp.ClientSession`` without a socket: ``answer(method, url, headers,
    data, timeout)`` is awaited inside ``async with session.request(...)`` and returns ``(status, headers,
    body)``, or raises (aiohttp's own exceptions, to test how the hook classifies them)."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.closed = False

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        answer = self.answer

        class Answer:
            async def __aenter__(self) -> Any:
                status, headers, body = await answer(
                    method, url, kwargs.get("headers") or {}, kwargs.get("data"), kwargs.get("timeout")
                )

                class Response:
                    async def read(self) -> bytes:
                        return body

                response = Response()
                response.status, response.headers = status, headers  # type: ignore[attr-defined]
                return response

            async def __aexit__(self, *exc: Any) -> None:
                return None

        return Answer()

    async def close(self) -> None:
        self.closed = True
