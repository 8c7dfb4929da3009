"""`airflow dags test` with Airflow's own retries against a gateway that keeps new tasks invisible
(``task_not_exist``) for longer than one try waits: every retry re-attaches through the durable record
(the task state store on Airflow 3.3, an Airflow Variable on 3.1 and 3.2), so each task is created once.

This is the field's condition (a gateway hiding tasks for minutes) at test scale: hidden 7 s, each try
waiting 2 s. ``make e2e`` runs it with the field's numbers (2 minutes, the default not_exist_grace).
"""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from airflow_provider_runway.durable import VARIABLE_PREFIX
from airflow_provider_runway.testing.simulator import Simulator

from .test_dags_test import AIRFLOW, API_KEY, DAGS, airflow_env, migrate_db, run

pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

DAG_ID = "runway_integration_hidden"


@pytest.mark.skipif(shutil.which("timeout") is None, reason="needs coreutils timeout")
def test_retries_behind_a_gateway_that_hides_new_tasks_re_attach_and_create_once(tmp_path):
    home = tmp_path / "airflow_home"
    shutil.copytree(DAGS, home / "dags", ignore=shutil.ignore_patterns("__pycache__"))
    with Simulator("gateway", api_key=API_KEY, running_seconds=0.5, task_not_exist_seconds=7.0) as sim:
        env = airflow_env(home, sim.base_url, API_KEY)
        migrate_db(env, 180)
        result = run([str(AIRFLOW), "dags", "test", DAG_ID], env, 240)
        accounting = sim.accounting()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]

    with sqlite3.connect(home / "airflow.db") as db:
        tries = dict(db.execute("SELECT task_id, try_number FROM task_instance WHERE dag_id = ?", (DAG_ID,)))
        states = dict(db.execute("SELECT task_id, state FROM task_instance WHERE dag_id = ?", (DAG_ID,)))
        leftovers = [k for (k,) in db.execute("SELECT key FROM variable") if k.startswith(VARIABLE_PREFIX)]
    assert states == {"hidden_sync": "success", "hidden_deferred": "success"}, output[-6000:]
    # Each task outlived at least one try: the condition really held ...
    assert all(n >= 2 for n in tries.values()), tries
    # ... and still exactly one paid create each, nothing cancelled, both collected.
    prompts = sorted(c["body"]["promptText"] for c in accounting["creates"])
    assert prompts == ["hidden, waited for in sync", "hidden, waited for in the trigger"], prompts
    assert accounting["cancels"] == []
    assert set(accounting["statuses"].values()) == {"SUCCEEDED"}
    # every retry re-attached
    assert output.count("Re-attaching to Runway task") >= sum(tries.values()) - len(tries), output[-6000:]
    assert "is not visible on the gateway yet" in output
    # The records are gone once handled (on 3.1/3.2 they were Variables; none may outlive the run).
    assert leftovers == []
