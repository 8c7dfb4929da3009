"""``make e2e``: the provider in a real Airflow 3 (api-server, scheduler, dag-processor, triggerer,
LocalExecutor) against the Runway simulator, checked through Airflow's REST API, the simulators'
accounting and headless Chromium. The stack is started once per session (see ``conftest.py``).

Airflow 3.3 can fail a deferred task when many resume at once (apache/airflow#71580: the scheduler
logs a "state mismatch"); the e2e DAGs have ``retries=2`` for it. A retried task instance passes only
if its failed try carries that exact signature in Airflow's event log; any other failure fails the test.
"""

from __future__ import annotations

import collections
import json
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import pytest
import runway_e2e_stack as e2e

pytestmark = pytest.mark.e2e

MAPPED_DAG = "runway_e2e_mapped"
CANCEL_DAG = "runway_e2e_cancel"
RESTART_DAG = "runway_e2e_restart"
MAPPED = 50
RESTARTED = 6
ACTIVE = {"PENDING", "THROTTLED", "RUNNING"}
DEFERRED_MARK = "Pausing task as DEFERRED"
FIRED_MARK = "Trigger fired event"
TRIGGER_LOGGER = "airflow_provider_runway.triggers.runway.RunwayTaskTrigger"
SCREENSHOTS = e2e.BUILD


def trigger_lines(text: str) -> list[str]:
    """The events logged through the Runway trigger's logger, from a task log's JSON lines."""
    lines = []
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict) and item.get("logger") == TRIGGER_LOGGER:
            lines.append(str(item.get("event")))
    return lines


def creates_for(control: Any, prefix: str) -> list[dict[str, Any]]:
    """The simulator's accounting of creates whose prompt starts with ``prefix``."""
    return [
        c
        for c in control.accounting()["creates"]
        if str((c.get("body") or {}).get("promptText", "")).startswith(prefix)
    ]


def check_retries(stack: Any, dag_id: str, run_id: str, tis: list[dict[str, Any]]) -> list[str]:
    """Every retried TI must show apache/airflow#71580's signature; returns a description of each."""
    retried = [ti for ti in tis if ti["try_number"] > 1]
    notes = []
    for ti in retried:
        events = stack.api(
            "GET",
            f"/eventLogs?dag_id={dag_id}&task_id={ti['task_id']}&run_id={e2e._q(run_id)}"
            f"&map_index={ti['map_index']}&event={e2e._q('state mismatch')}&limit=100",
        )["event_logs"]
        assert events, (
            f"{dag_id} {ti['task_id']}[{ti['map_index']}] was retried (try {ti['try_number']}) without the "
            f"#71580 'state mismatch' signature: a real failure. Log of try 1:\n"
            + stack.task_log(dag_id, run_id, ti["task_id"], 1, ti["map_index"])[-4000:]
        )
        notes.append(f"{ti['task_id']}[{ti['map_index']}] try {ti['try_number']}: {events[0]['extra'][:160]}")
    if notes:
        message = f"{dag_id}: {len(notes)} task instance(s) retried after apache/airflow#71580: " + "; ".join(
            notes
        )
        warnings.warn(message, stacklevel=2)
        e2e.log(message)
    return notes


# ----------------------------------------------------------------------------------------------------------
# 1. fifty mapped generations, all deferred
# ----------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def mapped_run(stack: Any) -> dict[str, Any]:
    """Run the 50-generation mapped DAG once, sampling Airflow and the simulator every second."""
    control = stack.gateway.control
    samples: list[dict[str, Any]] = []

    def sample() -> None:
        tis = stack.task_instances(MAPPED_DAG, run_id)
        statuses = control.accounting()["statuses"]
        samples.append(
            {
                "deferred": sum(ti["state"] == "deferred" for ti in tis),
                "running_tis": sum(ti["state"] == "running" for ti in tis),
                "remote_active": sum(status in ACTIVE for status in statuses.values()),
                "remote": dict(collections.Counter(statuses.values())),
            }
        )

    started = time.monotonic()
    run_id = stack.trigger(MAPPED_DAG)
    state = stack.wait_run(MAPPED_DAG, run_id, timeout=420, on_poll=sample)
    e2e.log(f"{MAPPED_DAG}: {state} in {time.monotonic() - started:.0f} s")
    e2e.record(MAPPED_DAG, state=state, seconds=round(time.monotonic() - started, 1))
    (e2e.BUILD / "mapped-samples.json").write_text(json.dumps(samples, indent=1))
    return {"run_id": run_id, "state": state, "samples": samples}


def test_mapped_dag_of_50_generations_defers_every_task(stack: Any, mapped_run: dict[str, Any]) -> None:
    run_id = mapped_run["run_id"]
    tis = stack.task_instances(MAPPED_DAG, run_id)
    assert mapped_run["state"] == "success", collections.Counter(ti["state"] for ti in tis)
    assert sorted(ti["map_index"] for ti in tis) == list(range(MAPPED))
    assert {ti["state"] for ti in tis} == {"success"}

    # Exactly one paid create per generation, each prompt once, nothing left running remotely.
    accounting = stack.gateway.control.accounting()
    creates = creates_for(stack.gateway.control, "e2e-mapped")
    assert len(accounting["creates"]) == MAPPED
    assert sorted(c["body"]["promptText"] for c in creates) == sorted(
        f"e2e-mapped clip {i}" for i in range(MAPPED)
    )
    assert accounting["orphans"] == []
    assert accounting["cancels"] == []
    assert set(accounting["statuses"].values()) == {"SUCCEEDED"}

    # Per task instance: its try went through DEFERRED (the worker let go of the slot), the trigger
    # fired in the triggerer for the very remote task it created, and the resumed part finished.
    remote_ids = {c["task_id"] for c in accounting["creates"]}
    seen_ids = set()
    throttled_seen = False
    for ti in tis:
        text = "\n".join(
            stack.task_log(MAPPED_DAG, run_id, "generate", n, ti["map_index"])
            for n in range(1, ti["try_number"] + 1)
        )
        assert DEFERRED_MARK in text, f"generate[{ti['map_index']}] never deferred:\n{text[-3000:]}"
        assert FIRED_MARK in text, f"generate[{ti['map_index']}]: no trigger event:\n{text[-3000:]}"
        ids = [rid for rid in remote_ids if rid in text]
        assert len(ids) == 1, f"generate[{ti['map_index']}] names remote tasks {ids}"
        # The provider's own progress lines, written in the triggerer, reach this task's log too.
        progress = trigger_lines(text)
        assert f"Runway task {ids[0]}: SUCCEEDED 1 output(s)" in progress, progress[-10:]
        # The triggerer logs every event whole: the event must carry no signed output URL.
        assert "Signature=" not in text, f"generate[{ti['map_index']}] logs a signed URL"
        seen_ids.update(ids)
        throttled_seen = throttled_seen or "THROTTLED" in text
    assert seen_ids == remote_ids
    throttled_seen = throttled_seen or any("THROTTLED" in s["remote"] for s in mapped_run["samples"])
    assert throttled_seen, "the simulator's concurrency limit never THROTTLED a task"

    # Waiting held no worker slot: far more generations waited at once than there are worker slots.
    samples = mapped_run["samples"]
    peak_deferred = max(s["deferred"] for s in samples)
    peak_remote = max(s["remote_active"] for s in samples)
    e2e.log(
        f"peaks: {peak_deferred} TIs deferred at once, {peak_remote} remote tasks in flight, "
        f"{e2e.PARALLELISM} worker slots; {len(samples)} samples"
    )
    e2e.record(
        MAPPED_DAG,
        peak_deferred_tis=peak_deferred,
        peak_remote_in_flight=peak_remote,
        worker_slots=e2e.PARALLELISM,
        creates=len(accounting["creates"]),
        throttled_seen=throttled_seen,
    )
    assert max(s["running_tis"] for s in samples) <= e2e.PARALLELISM
    assert peak_deferred > 2 * e2e.PARALLELISM
    assert peak_remote > 2 * e2e.PARALLELISM

    e2e.record(MAPPED_DAG, retried_after_71580=check_retries(stack, MAPPED_DAG, run_id, tis))


# ----------------------------------------------------------------------------------------------------------
# 2. mark failed while deferred -> the trigger's on_kill cancels the remote task
# ----------------------------------------------------------------------------------------------------------
def test_marking_a_deferred_task_failed_cancels_the_remote_task(stack: Any) -> None:
    control = stack.direct.control
    # The next create runs for 10 minutes: it can only end by the cancel under test.
    control.add_fault("timing", path="create", times=1, pending_seconds=1, running_seconds=600)
    run_id = stack.trigger(CANCEL_DAG)
    ti_path = f"/dags/{CANCEL_DAG}/dagRuns/{e2e._q(run_id)}/taskInstances/generate"

    def deferred_and_running() -> str | None:
        stack.check_alive()
        ti = stack.api("GET", ti_path)
        creates = creates_for(control, "e2e-cancel")
        if ti["state"] == "deferred" and ti["trigger"] and creates:
            remote_id = str(creates[0]["task_id"])
            if control.task(remote_id)["status"] == "RUNNING":
                return remote_id
        assert ti["state"] in ("scheduled", "queued", "running", "deferred", None), ti["state"]
        return None

    remote_id = e2e.wait_for("the cancel DAG's task to be deferred", deferred_and_running, 120)
    # Let the triggerer pick the trigger up (it is what runs on_kill).
    e2e.wait_for(
        "the triggerer to poll the task",
        lambda: stack.api("GET", ti_path)["triggerer_job"] and control.task(remote_id)["gets"] >= 2,
        60,
    )
    assert control.accounting()["cancels"] == []

    stack.api("PATCH", ti_path, {"new_state": "failed"})
    e2e.log(f"marked {CANCEL_DAG}.generate failed; waiting for the remote cancel of {remote_id}")

    cancels = e2e.wait_for(
        "the trigger's on_kill to cancel the remote task",
        lambda: [c for c in control.accounting()["cancels"] if c["task_id"] == remote_id],
        90,
    )
    assert len(cancels) == 1, cancels
    assert cancels[0]["kind"] == "cancel", cancels  # cancelled while unfinished, not a DELETE of outputs
    assert cancels[0]["status"] in ACTIVE, cancels
    assert control.task(remote_id)["status"] == "CANCELLED"
    assert stack.api("GET", ti_path)["state"] == "failed"
    assert stack.wait_run(CANCEL_DAG, run_id, timeout=60) == "failed"
    assert len(creates_for(control, "e2e-cancel")) == 1
    assert remote_id not in control.accounting()["orphans"]
    e2e.record(CANCEL_DAG, remote_task=remote_id, cancel=cancels[0])


# ----------------------------------------------------------------------------------------------------------
# 3. the triggerer is killed mid-run and replaced: no new create, every task still finishes
# ----------------------------------------------------------------------------------------------------------
def test_triggerer_killed_mid_run_resumes_without_new_creates(stack: Any) -> None:
    control = stack.direct.control
    control.add_fault("timing", path="create", times=RESTARTED, pending_seconds=1, running_seconds=40)
    run_id = stack.trigger(RESTART_DAG)

    def all_deferred_in_the_triggerer() -> bool:
        stack.check_alive()
        tis = stack.task_instances(RESTART_DAG, run_id)
        return len(tis) == RESTARTED and all(ti["state"] == "deferred" and ti["triggerer_job"] for ti in tis)

    e2e.wait_for("every restart task to wait in the triggerer", all_deferred_in_the_triggerer, 180)
    creates = creates_for(control, "e2e-restart")
    assert len(creates) == RESTARTED
    remote_ids = {str(c["task_id"]) for c in creates}
    # Let the old triggerer poll each task at least once, so it really had them.
    e2e.wait_for(
        "the first triggerer to poll every task",
        lambda: all(control.task(rid)["gets"] >= 2 for rid in remote_ids),
        60,
    )

    old_pgid = stack.procs["triggerer"].popen.pid
    stack.kill_triggerer()
    assert e2e.group_members(old_pgid) == [], "the old triggerer's process group survived"
    statuses = {rid: control.task(rid)["status"] for rid in remote_ids}
    assert set(statuses.values()) <= ACTIVE, f"the remote tasks should still run: {statuses}"
    time.sleep(3)  # a few seconds with no triggerer at all
    stack.start_triggerer()

    assert stack.wait_run(RESTART_DAG, run_id, timeout=240) == "success"
    tis = stack.task_instances(RESTART_DAG, run_id)
    assert {ti["state"] for ti in tis} == {"success"}
    assert len(creates_for(control, "e2e-restart")) == RESTARTED, "a restart created a new remote task"
    accounting = control.accounting()
    assert not [c for c in accounting["cancels"] if c["task_id"] in remote_ids], "a restart cancelled"
    assert {accounting["statuses"][rid] for rid in remote_ids} == {"SUCCEEDED"}
    # The second triggerer finished what the first had started: each log has trigger output from two jobs.
    for ti in tis:
        text = "\n".join(
            stack.task_log(RESTART_DAG, run_id, "generate", n, ti["map_index"])
            for n in range(1, ti["try_number"] + 1)
        )
        jobs = {
            part.split(".log.trigger.")[1].split(".")[0]
            for part in text.split('"')
            if ".log.trigger." in part
        }
        assert len(jobs) >= 2, f"generate[{ti['map_index']}]: trigger logs from jobs {jobs} only"
        assert FIRED_MARK in text
    e2e.record(
        RESTART_DAG,
        creates=RESTARTED,
        remote_statuses_at_kill=sorted(statuses.values()),
        retried_after_71580=check_retries(stack, RESTART_DAG, run_id, tis),
    )


# ----------------------------------------------------------------------------------------------------------
# 4. the UI in headless Chromium: the connection form, and a finished task's "Runway task" link
# ----------------------------------------------------------------------------------------------------------
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser_page(chromium: str) -> Any:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the test extra) is missing")
    with (
        sync_api.sync_playwright() as playwright,
        tempfile.TemporaryDirectory(prefix="e2e-chromium-") as profile,
    ):
        context = playwright.chromium.launch_persistent_context(
            profile,  # a fresh user-data-dir
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        context.set_default_timeout(30_000)
        try:
            yield context
        finally:
            context.close()


def shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path), full_page=True)
    e2e.log(f"screenshot {path.relative_to(e2e.ROOT)}")
    return path


def test_ui_connection_form_and_runway_task_link(
    stack: Any, mapped_run: dict[str, Any], browser_page: Any
) -> None:
    from playwright.sync_api import expect

    from airflow_provider_runway.get_provider_info import get_provider_info

    behaviour = get_provider_info()["connection-types"][0]["ui-field-behaviour"]
    page = browser_page.new_page()

    # --- create a Runway connection through the form
    page.goto(f"{stack.api_url}/connections")
    page.get_by_role("button", name="Add Connection").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Connection ID").fill("runway_ui")
    dialog.get_by_role("combobox").click()
    page.keyboard.type("Runway")
    page.get_by_role("option", name="Runway", exact=True).click()
    base_url = dialog.get_by_label("Base URL", exact=True)
    api_key = dialog.get_by_label("API key", exact=True)
    expect(base_url).to_be_visible()
    expect(api_key).to_be_visible()
    expect(base_url).to_have_attribute("placeholder", behaviour["placeholders"]["host"])
    expect(api_key).to_have_attribute("placeholder", behaviour["placeholders"]["password"])
    expect(api_key).to_have_attribute("type", "password")
    for hidden in ("Login", "Port", "Schema", "Host", "Password"):
        expect(dialog.get_by_label(hidden, exact=True)).to_have_count(0)
    shot(page, "01-connection-form-empty.png")

    base_url.fill(stack.gateway.base_url)
    api_key.fill(e2e.GATEWAY_KEY)
    expect(base_url).to_have_value(stack.gateway.base_url)
    shot(page, "02-connection-form-filled.png")
    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    loopback = dialog.get_by_label("Allow plain http on loopback (the Runway simulator)")
    expect(loopback).not_to_be_checked()
    dialog.get_by_text("Allow plain http on loopback (the Runway simulator)").click()
    expect(loopback).to_be_checked()
    page.wait_for_timeout(500)  # let the switch finish its animation before the screenshot
    shot(page, "03-connection-form-extra-fields.png")
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_text("runway_ui", exact=True)).to_be_visible()
    shot(page, "04-connection-list.png")

    saved = stack.api("GET", "/connections/runway_ui")
    assert saved["conn_type"] == "runway"
    assert saved["host"] == stack.gateway.base_url
    assert json.loads(saved["extra"] or "{}").get("allow_insecure_loopback") is True
    stored = subprocess.run(
        [str(e2e.BIN / "airflow"), "connections", "get", "runway_ui", "-o", "json"],
        env=stack.env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(stored.stdout)[0]["password"] == e2e.GATEWAY_KEY

    # --- a finished task's extra link
    run_id = mapped_run["run_id"]
    links = stack.api(
        "GET", f"/dags/{MAPPED_DAG}/dagRuns/{e2e._q(run_id)}/taskInstances/generate/links?map_index=0"
    )["extra_links"]
    remote_id = stack.api(
        "GET",
        f"/dags/{MAPPED_DAG}/dagRuns/{e2e._q(run_id)}/taskInstances/generate/xcomEntries/runway_task_id"
        "?map_index=0",
    )["value"]
    assert links["Runway task"].endswith(f"/_sim/tasks/{remote_id}")

    page.goto(f"{stack.api_url}/dags/{MAPPED_DAG}/runs/{run_id}/tasks/generate/mapped/0/details")
    link = page.get_by_role("link", name="Runway task")
    expect(link).to_be_visible()
    expect(link).to_have_attribute("href", links["Runway task"])
    shot(page, "05-task-details-extra-link.png")
    with browser_page.expect_page() as opened:
        link.click()
    remote = opened.value
    remote.wait_for_load_state()
    expect(remote.locator("body")).to_contain_text(remote_id)
    expect(remote.locator("body")).to_contain_text("SUCCEEDED")
    shot(remote, "06-runway-task-link-opened.png")
    e2e.record("ui", screenshots=sorted(p.name for p in SCREENSHOTS.glob("*.png")), extra_link=remote.url)
