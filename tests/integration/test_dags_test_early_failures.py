"""`airflow dags test` on tries that fail before their create: the log of each ends with the error that
matters, in one line (what happened, that nothing was billed, what to do), with no ERROR after it about a
``runway_task_url`` XCom that was never pushed; the task that did create keeps its "Runway task" button.

Two simulators run in this process on threads: the gateway (``runway_default``) and Runway direct with a
20-credit balance (``runway_direct``), reached by the ``airflow dags test`` subprocess through
``AIRFLOW_CONN_*``.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from airflow_provider_runway.links.runway import RunwayTaskLink
from airflow_provider_runway.testing.simulator import Simulator

from .test_dags_test import AIRFLOW, API_KEY, airflow_env, migrate_db, run

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

DAG_ID = "runway_early_failures"
DAGS = Path(__file__).parent / "dags_early_failures"
DIRECT_KEY = "key_integration_direct"
#: the line the traceback of a provider error ends with
ERROR_LINE = re.compile(r"^airflow_provider_runway\.exceptions\.(?P<cls>\w+): (?P<message>.*)$")


def task_logs(output: str) -> list[list[str]]:
    """The log of each run of a task in ``airflow dags test``'s output: from the execution API's "Task
    started" to its "Task instance state updated ... new_state=" (both Airflow 3.1 and 3.3 log them; a
    deferred task runs twice)."""
    logs: list[list[str]] = []
    current: list[str] | None = None
    for line in output.splitlines():
        if "Task started" in line:
            current = []
            logs.append(current)
        if current is not None:
            current.append(line)
            if "Task instance state updated" in line and "new_state=" in line:
                current = None
    return logs


def failure_of(logs: list[list[str]], error_class: str) -> tuple[str, list[str], list[str]]:
    """The one task log whose traceback ends with ``error_class``: its message, the log, what follows it."""
    found = [
        (lines, n)
        for lines in logs
        for n, line in enumerate(lines)
        if (match := ERROR_LINE.match(line)) and match["cls"] == error_class
    ]
    assert len(found) == 1, [line for lines in logs for line in lines if ERROR_LINE.match(line)]
    lines, n = found[0]
    match = ERROR_LINE.match(lines[n])
    assert match is not None
    return match["message"], lines, lines[n + 1 :]


@pytest.mark.skipif(shutil.which("timeout") is None, reason="needs coreutils timeout")
def test_a_try_that_fails_before_its_create_ends_with_one_clear_line(tmp_path):
    home = tmp_path / "airflow_home"
    shutil.copytree(DAGS, home / "dags", ignore=shutil.ignore_patterns("__pycache__"))
    with (
        Simulator("gateway", api_key=API_KEY, running_seconds=0.5) as gateway,
        Simulator("runway", api_key=DIRECT_KEY, credits=20) as direct,
    ):
        env = airflow_env(home, gateway.base_url, API_KEY)
        env["AIRFLOW_CONN_RUNWAY_DIRECT"] = json.dumps(
            {
                "conn_type": "runway",
                "host": direct.base_url,
                "password": DIRECT_KEY,
                "extra": {"allow_insecure_loopback": True},
            }
        )
        migrate_db(env, 180)
        result = run([str(AIRFLOW), "dags", "test", DAG_ID], env, 240)
        on_gateway, on_direct = gateway.accounting(), direct.accounting()
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-6000:]  # two of its tasks failed
    assert API_KEY not in output and DIRECT_KEY not in output
    # Airflow's Task SDK logs each read of an XCom never pushed as an ERROR: the link reads none, and no
    # other read misses either (the estimate is pushed even when the gateway gives none)
    assert "runway_task_url" not in output and "XCom not found" not in output, output[-6000:]
    logs = task_logs(result.stdout)

    with sqlite3.connect(home / "airflow.db") as db:
        states = dict(db.execute("SELECT task_id, state FROM task_instance WHERE dag_id = ?", (DAG_ID,)))
        links = dict(
            db.execute(
                "SELECT task_id, value FROM xcom WHERE dag_id = ? AND key = ?",
                (DAG_ID, RunwayTaskLink().xcom_key),
            )
        )
    assert states == {"bad_seed": "failed", "below_credit_floor": "failed", "generated": "success"}, states

    # Nothing was created for the failed tries; the one that succeeded created once.
    assert [c["body"]["promptText"] for c in on_gateway["creates"]] == ["a cat walks"]
    assert on_direct["creates"] == []
    assert [(r["method"], r["path"]) for r in on_direct["requests"]] == [("GET", "/v1/organization")]

    for error_class, argument, step in [
        ("RunwayValidationError", "Invalid seed:", "fix seed, then run the task again."),
        (
            "RunwayCreditBalanceError",
            "min_credit_balance=500",
            "add credits, or lower min_credit_balance, then run the task again.",
        ),
    ]:
        message, lines, after = failure_of(logs, error_class)
        assert argument in message, message
        assert message.endswith(f"No task was created, so nothing was billed: {step}"), message
        # it is the last error of the task's log: only Airflow's bookkeeping (info lines) follows it
        assert [line for line in after if "[error" in line or "Traceback" in line] == [], "\n".join(lines)

    # The try that created its task still has its button, set from the URL it pushed.
    link = f"{gateway.base_url}/v1/tasks/{on_gateway['creates'][0]['task_id']}"
    assert json.loads(links["generated"]) == link, links
    assert json.loads(links["bad_seed"]) == "" == json.loads(links["below_credit_floor"])
