"""`airflow dags test` on a DAG that uses both generation operators and the sensor, against the simulator.

A fresh ``AIRFLOW_HOME`` (SQLite), ``airflow db migrate``, then ``airflow dags test`` under ``timeout -k``
(it ignores SIGTERM while it runs a trigger inline). The simulator runs in this process on a thread; the
subprocess reaches it through ``AIRFLOW_CONN_RUNWAY_DEFAULT``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_runway.testing.simulator import Simulator

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

DAG_ID = "runway_integration"
DAGS = Path(__file__).parent / "dags"
AIRFLOW = Path(sys.executable).parent / "airflow"
API_KEY = "sk-integration-test"
EXPECTED_TASKS = {"image_to_video_deferred", "video_to_video_sync", "submit_only", "wait_for_submit"}


def airflow_env(home: Path, base_url: str, api_key: str) -> dict[str, str]:
    """A fresh AIRFLOW_HOME's environment, with ``runway_default`` pointing at the simulator at ``base_url``."""
    conn = {
        "conn_type": "runway",
        "host": base_url,
        "password": api_key,
        "extra": {"allow_insecure_loopback": True},
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
        AIRFLOW_CONN_RUNWAY_DEFAULT=json.dumps(conn),
        PYTHONWARNINGS="ignore",
    )
    return env


def run(command: list[str], env: dict[str, str], seconds: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["timeout", "-k", "10", str(seconds), *command],
        env=env,
        cwd=env["AIRFLOW_HOME"],
        capture_output=True,
        text=True,
        check=False,
    )


def migrate_db(env: dict[str, str], seconds: int) -> None:
    migrate = run([str(AIRFLOW), "db", "migrate"], env, seconds)
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]


@pytest.fixture
def simulator():
    # The gateway flavor (the default way in), with its task_not_exist window right after each create.
    with Simulator("gateway", api_key=API_KEY, running_seconds=1.0, task_not_exist_seconds=0.5) as sim:
        yield sim


@pytest.mark.skipif(shutil.which("timeout") is None, reason="needs coreutils timeout")
def test_airflow_dags_test_runs_both_operators_and_the_sensor(tmp_path, simulator):
    assert AIRFLOW.exists(), AIRFLOW
    home = tmp_path / "airflow_home"
    shutil.copytree(DAGS, home / "dags", ignore=shutil.ignore_patterns("__pycache__"))
    env = airflow_env(home, simulator.base_url, API_KEY)
    migrate_db(env, 180)

    result = run([str(AIRFLOW), "dags", "test", DAG_ID], env, 180)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert API_KEY not in output
    # The deferrable operator always defers (its task takes seconds), and dags test ran its trigger inline.
    # The sensor defers too unless its task had already finished by its first check (it then ends at
    # once, by design): on a slower Airflow that happens, so it is 1 or 2.
    assert 1 <= output.count("running trigger in line") <= 2, output[-6000:]

    # Every task instance of the run succeeded, as recorded by Airflow itself.
    with sqlite3.connect(home / "airflow.db") as db:
        states = dict(db.execute("SELECT task_id, state FROM task_instance WHERE dag_id = ?", (DAG_ID,)))
    assert states == dict.fromkeys(EXPECTED_TASKS, "success"), output[-6000:]

    # Exactly three paid generations: the sensor and the inline trigger never create anything.
    accounting = simulator.accounting()
    creates = accounting["creates"]
    assert len(creates) == 3, creates
    assert sorted(c["endpoint"] for c in creates) == ["image_to_video", "image_to_video", "video_to_video"]
    assert accounting["cancels"] == []
    assert set(accounting["statuses"].values()) == {"SUCCEEDED"}
    assert accounting["orphans"] == []
    # Each task was watched to its end (the sensor followed the id pushed by submit_only).
    assert all(n >= 1 for n in accounting["gets"].values()), accounting["gets"]
    assert accounting["unobserved"] == []
