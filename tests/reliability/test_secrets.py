"""Secrets: run the example DAGs under ``airflow dags test`` (fresh AIRFLOW_HOME, SQLite, the connection
from ``AIRFLOW_CONN_RUNWAY_DEFAULT`` JSON with a canary key, the simulator requiring that key), then scan
every place Airflow keeps something for the key: every file under AIRFLOW_HOME (task logs, the config,
the metadata DB's raw bytes), the xcom, trigger (decrypted), rendered_task_instance_fields, task_instance
and log tables, the outputs, and the subprocess's own output. Signed output URLs may appear in logs only
redacted (no ``Signature=`` token).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

from airflow_provider_runway.testing.simulator import Simulator
from tests.integration.test_dags_test import AIRFLOW, airflow_env, migrate_db, run

#: About 100 s (a migrate and three DAG runs): too long for the normal suite, so it runs from `make soak`.
pytestmark = [pytest.mark.integration, pytest.mark.soak, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
CANARY = "sk-CANARY-5e1f0c2a-never-log-this-9d8b7a6f"
DAGS = ["runway_image_to_video_pipeline", "runway_submit_then_sense", "runway_video_to_video"]
TABLES = ["xcom", "trigger", "rendered_task_instance_fields", "task_instance", "log"]


@pytest.mark.skipif(shutil.which("timeout") is None, reason="needs coreutils timeout")
def test_example_dags_leave_the_key_nowhere(tmp_path):
    home = tmp_path / "airflow_home"
    output = tmp_path / "output"
    home.mkdir()
    sim = Simulator("gateway", api_key=CANARY, running_seconds=0.5, task_not_exist_seconds=0.3)
    sim.start()
    try:
        # INFO logging: the level users run at. (At DEBUG, Airflow 3.3.2's own supervisor logs every
        # MaskSecret message it relays, key included: an Airflow issue.)
        env = airflow_env(home, sim.base_url, CANARY)
        env.update(
            AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "example_dags"),
            AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE="True",
            RUNWAY_EXAMPLE_OUTPUT=str(output),
        )
        migrate_db(env, 240)
        texts = []
        for dag_id in DAGS:
            result = run([str(AIRFLOW), "dags", "test", dag_id], env, 240)
            texts.append(result.stdout + result.stderr)
            assert result.returncode == 0, (dag_id, (result.stdout + result.stderr)[-5000:])
        accounting = sim.accounting()
    finally:
        sim.stop()
    # The DAGs really ran against the simulator, with the key (it answers 401 to anything else).
    assert len(accounting["creates"]) >= 5
    assert all(r["status"] != 401 for r in accounting["requests"])

    hits: list[str] = []
    for text, dag_id in zip(texts, DAGS, strict=True):
        if CANARY in text:
            at = text.index(CANARY)
            hits.append(f"output of airflow dags test {dag_id}: ...{text[max(0, at - 300) : at + 60]!r}")
        if "Signature=" in text:
            at = text.index("Signature=")
            hits.append(
                f"an unredacted signed URL in the output of {dag_id}: ...{text[max(0, at - 300) : at + 60]!r}"
            )
    for path in [*home.rglob("*"), *output.rglob("*")]:
        if path.is_file():
            data = path.read_bytes()
            if CANARY.encode() in data:
                at = data.index(CANARY.encode())
                hits.append(f"{path}: ...{data[max(0, at - 200) : at + 60]!r}")
            if path.suffix == ".log" or "logs" in path.parts:
                if b"Signature=" in data:
                    hits.append(f"an unredacted signed URL in {path}")
    # `airflow dags test` writes the task logs to its own output: they were scanned above.
    assert all("Created Runway task" in text for text in texts), "no task log lines: nothing was scanned"
    assert any("?<signature redacted>" in text for text in texts)  # URLs were logged, redacted

    with sqlite3.connect(home / "airflow.db") as db:
        rows = {table: db.execute(f"SELECT * FROM {table}").fetchall() for table in TABLES}
    assert rows["xcom"] and rows["task_instance"], "the runs left no XCom or task instances to scan"
    for table, table_rows in rows.items():
        if CANARY in repr(table_rows):
            hits.append(f"table {table}")
    # Trigger kwargs are stored encrypted: decrypt them with the run's own Fernet key, then scan.
    decrypt = (
        "import json,sys\n"
        "from airflow.models.trigger import Trigger\n"
        "from airflow.utils.session import create_session\n"
        "with create_session() as s:\n"
        "    print('TRIGGERS=' + json.dumps([repr(t.kwargs) for t in s.query(Trigger).all()]))\n"
    )
    triggers = run([sys.executable, "-c", decrypt], env, 120)
    assert triggers.returncode == 0, triggers.stderr[-3000:]
    (line,) = [x for x in triggers.stdout.splitlines() if x.startswith("TRIGGERS=")]
    kwargs = json.loads(line[len("TRIGGERS=") :])
    assert kwargs, "no trigger rows were stored: nothing was scanned"
    if any(CANARY in k for k in kwargs):
        hits.append("decrypted trigger kwargs")
    assert hits == [], "\n".join(hits)
