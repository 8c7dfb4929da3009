"""Every example DAG imports cleanly and runs under `airflow dags test` against the simulator.

The examples are what README snippets are taken from and what `make demo` runs: they must keep working.
One migrated AIRFLOW_HOME serves all of them; each DAG runs with deferrable operators (as in production
and in the demo) against a gateway-flavor simulator in this process.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from airflow_provider_runway.testing.simulator import Simulator
from tests.integration.test_dags_test import AIRFLOW, airflow_env, migrate_db, run

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "example_dags"
API_KEY = "sk-examples-test"
#: dag id -> (creates it makes, output files it must leave: glob under the output folder)
EXPECTED = {
    "runway_image_to_video_pipeline": (3, "videos/**/*.mp4"),
    "runway_video_to_video": (1, "restyled/**/*.mp4"),
    "runway_submit_then_sense": (1, "sensed/**/*.mp4"),
    "runway_on_new_videos": (0, None),
}


def test_every_example_dag_imports_without_errors(monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    try:  # Airflow 3.2+ (the old path warns there)
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow 3.1
        from airflow.models.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLES))
    assert bag.import_errors == {}
    assert set(EXPECTED) <= set(bag.dag_ids)
    for dag_id, dag in bag.dags.items():
        assert "example" in dag.tags, dag_id


@pytest.fixture(scope="module")
def simulator():
    with Simulator("gateway", api_key=API_KEY, running_seconds=1.0, task_not_exist_seconds=0.5) as sim:
        yield sim


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory, simulator):
    home = tmp_path_factory.mktemp("examples_home")
    shutil.copytree(EXAMPLES, home / "dags")
    env = airflow_env(home, simulator.base_url, API_KEY)
    env["AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE"] = "True"
    env["RUNWAY_EXAMPLE_OUTPUT"] = str(home / "output")
    migrate_db(env, 300)
    return home, env


@pytest.mark.skipif(shutil.which("timeout") is None, reason="needs coreutils timeout")
@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_example_dag_runs_under_airflow_dags_test(dag_id, airflow_home, simulator):
    home, env = airflow_home
    creates_before = len(simulator.accounting()["creates"])
    result = run([str(AIRFLOW), "dags", "test", dag_id], env, 300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert API_KEY not in output
    creates, pattern = EXPECTED[dag_id]
    accounting = simulator.accounting()
    assert len(accounting["creates"]) - creates_before == creates, accounting["creates"][creates_before:]
    assert accounting["orphans"] == []
    if pattern:
        files = sorted((home / "output").glob(pattern))
        assert len(files) >= creates, files
        # Real MP4s (the simulator serves a valid one): the ISO base media "ftyp" box comes first.
        assert all(path.read_bytes()[4:8] == b"ftyp" for path in files)
    if dag_id == "runway_image_to_video_pipeline":
        page = (home / "output" / "summary.html").read_text(encoding="utf-8")
        assert page.count("<video") == 3 and "Runway generations (3)" in page
