"""The approval example (example_dags/runway_generate_and_approve.py) under a real `airflow dags test`,
answered the way a person answers it: through Airflow's own API.

How the answer is given. On Airflow 3.3 the approval task parks in ``awaiting_input`` (no trigger), and
``airflow dags test`` keeps the run alive until a response recorded from outside resumes it: the
"Required Actions" page of the UI, or the HITL REST API of an api-server on the same metadata database
(apache/airflow#68492). This test starts that api-server (``airflow api-server --apps core``) on
loopback beside ``dags test``, logs in as a simple-auth-manager user ``reviewer`` and sends what the UI's
Approve / Reject buttons send: ``PATCH /api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{task}/-1/hitlDetails``
with ``{"chosen_options": [...]}``. That route records the response and moves the task instance back
to SCHEDULED; ``dags test`` then runs ``execute_complete``. Nothing in the test writes to Airflow's
tables: it only reads them (task states, the recorded response).

Before answering, the test reads the request as the UI shows it (``GET`` on the same route): the body
must carry the prompt, the Runway task and the saved file's path, rendered from the manifest in XCom.

Not covered here: the timeout default. Under ``dags test`` nothing applies it (on 3.3 the scheduler's
sweep does), so an unanswered approval waits for ever there; ``test_nobody_answering_rejects_*`` checks
the DAG declares the default and a timeout shorter than its schedule.

Airflow 3.1 and 3.2 wait for the answer in ``HITLTrigger``, which ``dags test`` runs inline. On 3.1.8 its
in-process supervisor does not answer the trigger's ``GetHITLDetailResponse`` request ("Unhandled
request"), so the approval fails under ``dags test`` there (a real triggerer answers it): the run test is
skipped below 3.3. 3.2 was not tried.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import airflow
import pytest
from packaging.version import Version

from airflow_provider_runway.testing.simulator import Simulator
from tests.integration.test_dags_test import AIRFLOW, airflow_env, migrate_db

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "example_dags" / "runway_generate_and_approve.py"
DAG_ID = "runway_generate_and_approve"
API_KEY = "sk-approval-test"
REVIEWER, REVIEWER_PASSWORD = "reviewer", "reviewer-password-for-tests"
NEEDS_3_3 = pytest.mark.skipif(
    Version(airflow.__version__).release < (3, 3),
    reason="Airflow 3.1.8's `airflow dags test` runs HITLTrigger inline in a supervisor that does not "
    "answer its GetHITLDetailResponse request, so the approval fails there; 3.3 parks it in awaiting_input",
)
NEEDS_TIMEOUT = pytest.mark.skipif(shutil.which("timeout") is None, reason="needs coreutils timeout")


def load_dag() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("example_runway_generate_and_approve", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, module.runway_generate_and_approve()


def test_nobody_answering_rejects_before_the_next_run():
    """What the docs promise for an unanswered approval: Reject (publish skipped) within one schedule
    interval, and never a second run waiting beside the first."""
    _, dag = load_dag()
    approve = dag.get_task("approve_video")
    assert approve.defaults == ["Reject"]
    assert approve.options == ["Approve", "Reject"]
    assert approve.response_timeout is not None and approve.response_timeout < timedelta(days=1)
    assert dag.max_active_runs == 1
    assert approve.downstream_task_ids == {"publish"}
    assert not approve.fail_on_reject  # a rejection is an answer, not a failed run


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Reviewer:
    """A person at Airflow's UI: logs in to the api-server and answers through the HITL route."""

    def __init__(self, base_url: str, server: subprocess.Popen[bytes], log: Path) -> None:
        self.base_url = base_url
        self.server = server
        self.log = log
        self.token: str | None = None

    def call(self, method: str, path: str, body: Any = None) -> Any:
        if self.token is None:
            self.token = self._log_in()
        request = urllib.request.Request(
            self.base_url + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def _log_in(self) -> str:
        deadline = time.monotonic() + 90
        while True:  # the api-server was started beside the first run; wait for it here, once
            assert self.server.poll() is None, self.log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(self.base_url + "/api/v2/monitor/health", timeout=2):
                    break
            except OSError:  # refused, reset or not answering yet
                assert time.monotonic() < deadline, self.log.read_text()[-3000:]
                time.sleep(0.3)
        login = urllib.request.Request(
            self.base_url + "/auth/token",
            data=json.dumps({"username": REVIEWER, "password": REVIEWER_PASSWORD}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(login, timeout=30) as response:
            return str(json.loads(response.read())["access_token"])

    def hitl_path(self, run_id: str) -> str:
        run = urllib.parse.quote(run_id, safe="")
        return f"/api/v2/dags/{DAG_ID}/dagRuns/{run}/taskInstances/approve_video/-1/hitlDetails"


@pytest.fixture(scope="module")
def simulator():
    with Simulator("gateway", api_key=API_KEY, running_seconds=1.0, task_not_exist_seconds=0.5) as sim:
        yield sim


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory, simulator):
    """One migrated AIRFLOW_HOME with the example DAG, and an api-server on it (started, not waited for)."""
    home = tmp_path_factory.mktemp("approval_home")
    (home / "dags").mkdir()
    shutil.copy(EXAMPLE, home / "dags")
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({REVIEWER: REVIEWER_PASSWORD}), encoding="utf-8")
    port = free_port()
    env = airflow_env(home, simulator.base_url, API_KEY)
    env.update(
        RUNWAY_EXAMPLE_INPUTS=str(ROOT / "example_dags" / "inputs"),
        RUNWAY_EXAMPLE_OUTPUT=str(home / "output"),
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{REVIEWER}:user",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords),
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{port}",
    )
    migrate_db(env, 180)
    log = home / "api-server.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [str(AIRFLOW), "api-server", "--apps", "core", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=home,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield home, env, Reviewer(f"http://127.0.0.1:{port}", server, log)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def approval_row(home: Path) -> tuple[str, str] | None:
    """(run_id, state) of the approval task once it has written its request, else None."""
    with sqlite3.connect(home / "airflow.db", timeout=10) as db:
        row = db.execute(
            "SELECT ti.run_id, ti.state FROM task_instance ti JOIN hitl_detail h ON h.ti_id = ti.id "
            "WHERE ti.dag_id = ? AND ti.task_id = 'approve_video' ORDER BY h.created_at DESC",
            (DAG_ID,),
        ).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))


@NEEDS_3_3
@NEEDS_TIMEOUT
@pytest.mark.parametrize(("answer", "publish_state"), [("Approve", "success"), ("Reject", "skipped")])
def test_the_approval_decides_whether_the_video_is_published(answer, publish_state, airflow_home, simulator):
    home, env, reviewer = airflow_home
    module, _ = load_dag()
    creates_before = len(simulator.accounting()["creates"])
    known_runs = {row[0] for row in [approval_row(home)] if row}
    output_file = home / f"dags-test-{answer}.log"
    with output_file.open("wb") as sink:
        dags_test = subprocess.Popen(
            ["timeout", "-k", "10", "150", str(AIRFLOW), "dags", "test", DAG_ID],
            env=env,
            cwd=home,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        # The run generates, then waits for a person.
        deadline = time.monotonic() + 120
        while (row := approval_row(home)) is None or row[0] in known_runs or row[1] != "awaiting_input":
            assert dags_test.poll() is None, output_file.read_text()[-6000:]
            assert time.monotonic() < deadline, (row, output_file.read_text()[-6000:])
            time.sleep(0.2)
        run_id = row[0]
        run_folder = run_id.replace(":", "_").replace("+", "_")

        # What the UI shows the reviewer: the prompt, the Runway task and the saved video, from XCom.
        request = reviewer.call("GET", reviewer.hitl_path(run_id))
        (video,) = sorted((home / "output" / "review" / run_folder).glob("*.mp4"))
        assert video.read_bytes()[4:8] == b"ftyp"
        assert module.PROMPT in request["body"]
        assert f"`{video}`" in request["body"]
        assert video.stem.removesuffix("_0") in request["body"]  # the Runway task id
        assert request["subject"].startswith("Publish the Runway video of ")
        assert (request["options"], request["defaults"]) == (["Approve", "Reject"], ["Reject"])
        assert request["response_received"] is False

        answered = reviewer.call("PATCH", reviewer.hitl_path(run_id), {"chosen_options": [answer]})
        assert answered["responded_by"]["name"] == REVIEWER

        returncode = dags_test.wait(timeout=120)
    finally:
        if dags_test.poll() is None:
            os.killpg(dags_test.pid, signal.SIGKILL)
            dags_test.wait()
    output = output_file.read_text()
    assert returncode == 0, output[-6000:]
    assert API_KEY not in output
    assert "Waiting for Human-in-the-loop input for tasks: ['approve_video']" in output

    with sqlite3.connect(home / "airflow.db", timeout=10) as db:
        states = dict(
            db.execute(
                "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?", (DAG_ID, run_id)
            )
        )
        (chosen, responded_by) = db.execute(
            "SELECT h.chosen_options, h.responded_by FROM hitl_detail h JOIN task_instance ti "
            "ON h.ti_id = ti.id WHERE ti.run_id = ? AND ti.task_id = 'approve_video'",
            (run_id,),
        ).fetchone()
    assert states == {"generate_video": "success", "approve_video": "success", "publish": publish_state}
    assert (json.loads(chosen), json.loads(responded_by)["name"]) == ([answer], REVIEWER)

    published = sorted((home / "output" / "published" / run_folder).glob("*"))
    if answer == "Approve":
        assert [p.name for p in published] == [video.name]
        assert published[0].read_bytes() == video.read_bytes()
    else:
        assert published == []
        assert video.exists()  # a rejected video is kept, only not published

    # One paid generation per run, nothing cancelled: waiting for a person costs no Runway call.
    accounting = simulator.accounting()
    assert len(accounting["creates"]) - creates_before == 1, accounting["creates"][creates_before:]
    assert accounting["cancels"] == []
    assert accounting["orphans"] == []
