"""Accounting: what clients did to the simulator (creates, GETs, cancels, downloads, uploads, faults, requests).

:class:`Ledger` keeps the logs; :meth:`Ledger.report` adds what follows from the tasks: their statuses, the
orphans (active and never cancelled), the unobserved (never seen terminal by a client) and ``peak_in_flight``.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Iterable
from typing import Any

from airflow_provider_runway.testing._tasks import ACTIVE, TERMINAL, Task

#: Request log lines kept (the oldest are dropped).
REQUESTS_KEPT = 10_000


def short(value: Any) -> Any:
    """Copy of a request body with long strings (data URIs) abbreviated, for accounting."""
    if isinstance(value, str) and len(value) > 512:
        return f"{value[:64]}...<{len(value)} chars>"
    if isinstance(value, list):
        return [short(item) for item in value]
    if isinstance(value, dict):
        return {key: short(item) for key, item in value.items()}
    return value


def peak_in_flight(spans: Iterable[tuple[float, float]]) -> int:
    """The most spans ``[start, end)`` open at one moment; at one instant, spans ending there close before
    spans starting there open, and an empty span never counts."""
    events: list[tuple[float, int]] = []
    for start, end in spans:
        if end > start:
            events += [(start, 1), (end, -1)]
    peak = current = 0
    for _, delta in sorted(events):
        current += delta
        peak = max(peak, current)
    return peak


class Ledger:
    """The logs of one run (cleared by a reset)."""

    def __init__(self) -> None:
        self.creates: list[dict[str, Any]] = []
        self.cancels: list[dict[str, Any]] = []
        self.downloads: list[dict[str, Any]] = []
        self.uploads: list[dict[str, Any]] = []
        self.faults: list[dict[str, Any]] = []
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUESTS_KEPT)
        self.request_count = 0

    def create(self, task: Task) -> None:
        """A task was created (its body abbreviated)."""
        self.creates.append(
            {
                "task_id": task.id,
                "endpoint": task.endpoint,
                "model": task.model,
                "body": short(task.body),
                "time": task.created,
                "estimated_credits": task.estimated_credits,
                "response_lost": False,
            }
        )

    def create_lost(self, task_id: str) -> None:
        """The create answer for ``task_id`` never reached the client."""
        for entry in self.creates:
            if entry["task_id"] == task_id:
                entry["response_lost"] = True

    def cancel(self, task_id: str, kind: str, status: str, now: float) -> None:
        """A client's DELETE: ``kind`` is ``cancel`` or ``delete``, ``status`` the task's before it."""
        self.cancels.append({"task_id": task_id, "kind": kind, "status": status, "time": now})

    def download(self, task_id: str, name: str, status: int, size: int, method: str) -> None:
        """An output download served (or refused)."""
        self.downloads.append(
            {"task_id": task_id, "file": name, "status": status, "bytes": size, "method": method}
        )

    def upload(self, upload_id: str, size: int, status: int, filename: str | None) -> None:
        """An upload's form POST (``filename`` is ``None`` for an unknown upload)."""
        self.uploads.append({"upload_id": upload_id, "size": size, "status": status, "filename": filename})

    def fault(self, fault_id: int, kind: str, method: str, path: str, now: float) -> None:
        """A fault fired."""
        self.faults.append({"id": fault_id, "kind": kind, "method": method, "path": path, "time": now})

    def request(self, method: str, path: str, status: int, fault: str | None) -> None:
        """One line of the request log (``status`` 0: no answer was sent)."""
        self.request_count += 1
        self.requests.append({"method": method, "path": path, "status": status, "fault": fault})

    def report(
        self, tasks: Iterable[Task], statuses: dict[str, str], peak: int, credit_balance: int
    ) -> dict[str, Any]:
        """The ``GET /_sim/accounting`` body; ``statuses`` holds every task's status now."""
        tasks = list(tasks)
        by_id = {task.id: task for task in tasks}
        return {
            "creates": copy.deepcopy(self.creates),
            "gets": {task.id: task.gets for task in tasks},
            "cancels": list(self.cancels),
            "downloads": list(self.downloads),
            "uploads": list(self.uploads),
            "faults_fired": list(self.faults),
            "requests": list(self.requests),
            "request_count": self.request_count,
            "statuses": {
                task_id: ("DELETED" if by_id[task_id].deleted else status)
                for task_id, status in statuses.items()
            },
            "orphans": [
                task_id
                for task_id, status in statuses.items()
                if status in ACTIVE and by_id[task_id].cancelled_at is None
            ],
            "unobserved": [
                task.id
                for task in tasks
                if not task.deleted and task.cancelled_at is None and task.last_seen not in TERMINAL
            ],
            "peak_in_flight": peak,
            "credit_balance": credit_balance,
        }
