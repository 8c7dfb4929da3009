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
