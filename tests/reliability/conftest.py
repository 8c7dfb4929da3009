"""Shared pieces of the reliability suite: a task context, the two run modes, what the simulator saw, and
the results file that ``scripts/reliability_report.py`` renders into RELIABILITY.md.

Every matrix test calls :func:`record` first; the row (with what was observed, and pass/fail from pytest)
is written to ``$RUNWAY_RELIABILITY_RESULTS`` (a JSON file) at the end of the session when that variable
is set. Tests marked ``soak`` run only with ``--soak`` (``make soak``).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_runway._compat import TaskDeferred
from airflow_provider_runway.hooks.runway import aclose_shared_clients
from airflow_provider_runway.triggers.runway import RunwayTaskTrigger
from tests.fakes import FakeStateStore, FakeTI

RESULTS_ENV = "RUNWAY_RELIABILITY_RESULTS"
_ROWS: list[dict[str, Any]] = []


# --------------------------------------------------------------------------------------------------------
# The soak gate and the results file
# --------------------------------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", default=False, help="run the long chaos soak (make soak)")
    parser.addoption("--soak-generations", type=int, default=300, help="generations in the long soak")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "soak: long chaos soak; runs only with --soak (make soak)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--soak"):
        return
    skip = pytest.mark.skip(reason="long soak: run it with `make soak` (pytest --soak)")
    for item in items:
        if item.get_closest_marker("soak"):
            item.add_marker(skip)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    rows = [value for name, value in report.user_properties if name == "reliability"]
    if not rows:
        return
    failed = report.failed
    for row in rows:
        if report.when == "call" or failed:
            row["result"] = "fail" if failed or row.get("result") == "fail" else "pass"
            if failed and not row.get("failure"):
                row["failure"] = (report.longreprtext or "").strip().splitlines()[-1:] or [""]
                row["failure"] = row["failure"][0][:200]
            if row not in _ROWS:
                _ROWS.append(row)


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get(RESULTS_ENV)
    if target and _ROWS:
        Path(target).write_text(json.dumps(_ROWS, indent=1, default=str))


def record(request: pytest.FixtureRequest, row: str, mode: str, **expected: Any) -> dict[str, Any]:
    """Start the results line of one matrix cell; fill in what was observed as the test goes."""
    line: dict[str, Any] = {
        "row": row,
        "mode": mode,
        "expected": expected,
        "outcome": None,
        "creates": None,
        "cancels": None,
        "partial_files": None,
    }
    request.node.user_properties.append(("reliability", line))
    return line


# --------------------------------------------------------------------------------------------------------
# A minimal task context (the same surface tests/unit/operators/test_base.py uses)
# --------------------------------------------------------------------------------------------------------


def make_context(store: FakeStateStore | None = None) -> dict[str, Any]:
    context: dict[str, Any] = {"ti": FakeTI()}
    if store is not None:
        context["task_state_store"] = store
    return context


# --------------------------------------------------------------------------------------------------------
# Running an operator in either mode
# --------------------------------------------------------------------------------------------------------
async def _collect(trigger: RunwayTaskTrigger) -> list[Any]:
    try:
        return [event async for event in trigger.run()]
    finally:
        await aclose_shared_clients()


def run_trigger(trigger: RunwayTaskTrigger) -> dict[str, Any]:
    """Run a trigger to its end in a fresh event loop, as a triggerer would; exactly one event."""
    events = asyncio.run(_collect(trigger))
    assert len(events) == 1, f"a trigger fires exactly one event, got {len(events)}"
    return events[0].payload


def rebuild(trigger: RunwayTaskTrigger) -> RunwayTaskTrigger:
    """A trigger as a restarted triggerer makes it: from its serialized kwargs only (JSON round trip)."""
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_runway.triggers.runway.RunwayTaskTrigger"
    return RunwayTaskTrigger(**json.loads(json.dumps(kwargs)))


def defer(operator: Any, context: dict[str, Any]) -> TaskDeferred:
    operator.deferrable = True
    with pytest.raises(TaskDeferred) as info:
        operator.execute(context)
    assert info.value.method_name == "execute_complete"
    return info.value


def run_op(operator: Any, context: dict[str, Any], mode: str) -> Any:
    """Run the operator to its outcome. Deferred: execute must defer unless the first check was terminal."""
    if mode == "sync":
        operator.deferrable = False
        return operator.execute(context)
    operator.deferrable = True
    try:
        result = operator.execute(context)
    except TaskDeferred as deferred:
        event = run_trigger(deferred.trigger)
        return getattr(operator, deferred.method_name)(context, event)
    return result


def outcome_of(call: Any) -> tuple[str, Any]:
    """``("success", value)`` or ``(ExceptionClassName, exception)``."""
    try:
        return "success", call()
    except Exception as err:
        return type(err).__name__, err


def partial_files(folder: Path) -> list[str]:
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if ".partial-" in p.name)


def saved_files(folder: Path) -> list[Path]:
    if not folder.exists():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and ".partial-" not in p.name)
