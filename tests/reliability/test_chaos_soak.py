"""Chaos soak: many generations through the real operator and trigger code while about 10% of all requests
(creates, polls, cancels, downloads) fail at random: 429 with and without Retry-After, 500/502/503, resets,
answers slower than the client's timeout, and broken JSON on API calls. A few creates also end FAILED.

A short run (30 generations) is part of the normal suite; ``make soak`` runs 300 (``pytest --soak``).

Each generation runs once, on one of several simulators (one per worker thread, so what happened to a
generation can be read back from its own simulator), alternating sync and deferred modes, and is judged:

* **correct outcome**: the operator returned a manifest and the output file holds exactly the bytes the
  service served (size and sha256), or it raised the error the injected fault implies: a fault that
  replaced or cut off the create's answer -> ``RunwaySubmitUncertainError`` (never retried); a create that
  the simulator made FAILED -> ``RunwayTaskFailedError``. Any other failure is an incorrect outcome: every
  other fault is transient and must be absorbed by the retries and the poll-failure budget.
* **duplicate creates**: more than one create reached the service during one generation.
* **orphaned remote tasks**: a task whose id the provider had (pushed to XCom) that was still unfinished,
  and not cancelled, when its generation ended.
* **lost outputs**: a generation whose remote task SUCCEEDED but whose output file is missing, partial or
  different from what the service served.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_runway.exceptions import RunwaySubmitUncertainError, RunwayTaskFailedError
from airflow_provider_runway.hooks.runway import aclose_shared_clients
from airflow_provider_runway.operators.runway import XCOM_TASK_ID, RunwayImageToVideoOperator
from airflow_provider_runway.testing import Simulator
from airflow_provider_runway.testing._media import sample_mp4

from .conftest import FakeStateStore, make_context, outcome_of, partial_files, run_op

FAULT_RATE = 0.10
WORKERS = 6
API_KEY = "key_soak_test"
SAMPLE_SHA256 = hashlib.sha256(sample_mp4()).hexdigest()
#: What a fault on the create request implies (faults that replace the answer, or cut it off).
CREATE_UNCERTAIN = {"http_error", "reset", "slow", "malformed_json"}
#: The mix: (kind, params, groups); each group's share of FAULT_RATE is split evenly across its kinds.
API_MIX: list[tuple[str, dict[str, Any]]] = [
    ("rate_limit", {"retry_after": 0.2}),
    ("rate_limit", {}),
    ("http_error", {"status": 500}),
    ("http_error", {"status": 502}),
    ("http_error", {"status": 503}),
    ("reset", {}),
    ("slow", {"delay": 0.8}),
    ("malformed_json", {}),
]
FILE_MIX = [kind for kind in API_MIX if kind[0] != "malformed_json"]  # a CDN does not answer JSON


@dataclass
class Verdict:
    index: int
    mode: str
    outcome: str
    correct: bool
    creates: int
    orphaned: bool
    lost_output: bool
    untracked: int = 0
    faults: list[str] = field(default_factory=list)
    note: str = ""


def start_simulator(seed: int) -> Simulator:
    # The shipped sample for every output, so each generation's file is checked against the exact bytes.
    sim = Simulator("runway", api_key=API_KEY, seed=seed, running_seconds=0.2, outputs="sample")
    sim.start()
    per_kind = FAULT_RATE / len(API_MIX)
    for group in ("create", "tasks_get", "delete"):
        for kind, params in API_MIX:
            sim.add_fault(kind, path=group, rate=per_kind, **params)
    for kind, params in FILE_MIX:
        sim.add_fault(kind, path="files", rate=FAULT_RATE / len(FILE_MIX), **params)
    sim.add_fault("task_failed", rate=0.03, failure_code="INTERNAL", failure="Chaos: the GPU fell over.")
    return sim


def judge(
    index: int,
    mode: str,
    sim: Simulator,
    before: dict[str, Any],
    kind: str,
    value: Any,
    context: dict[str, Any],
    output: Path,
) -> Verdict:
    after = sim.accounting()
    creates = after["creates"][len(before["creates"]) :]
    fired = after["faults_fired"][len(before["faults_fired"]) :]
    create_faults = {f["kind"] for f in fired if f["method"] == "POST" and "/v1/" in f["path"]}
    verdict = Verdict(
        index,
        mode,
        kind,
        correct=False,
        creates=len(creates),
        orphaned=False,
        lost_output=False,
        faults=sorted(f["kind"] for f in fired),
    )
    known = context["ti"].pushed(XCOM_TASK_ID)
    # Made and billed, but the create's answer never arrived: the provider said so (SubmitUncertain).
    verdict.untracked = len([c for c in creates if c["task_id"] not in known])
    for task_id in known:
        status = after["statuses"].get(task_id)
        cancelled = any(c["task_id"] == task_id for c in after["cancels"])
        if status in ("PENDING", "THROTTLED", "RUNNING") and not cancelled:
            verdict.orphaned = True
    files = [p for p in output.rglob("*") if p.is_file()] if output.exists() else []
    intact = (
        len(files) == 1
        and ".partial-" not in files[0].name
        and hashlib.sha256(files[0].read_bytes()).hexdigest() == SAMPLE_SHA256
    )
    succeeded_remotely = [t for t in known if after["statuses"].get(t) == "SUCCEEDED"]
    if kind == "success":
        verdict.correct = intact and value["outputs"][0]["sha256"] == SAMPLE_SHA256
        verdict.lost_output = not intact
    elif succeeded_remotely:
        verdict.lost_output = True  # it finished remotely, yet this generation failed to keep it
        verdict.note = f"{kind}: {str(value)[:300]}"
    elif isinstance(value, RunwaySubmitUncertainError):
        verdict.correct = bool(create_faults & CREATE_UNCERTAIN) and not files
    elif isinstance(value, RunwayTaskFailedError):
        verdict.correct = "task_failed" in create_faults and value.failure_code == "INTERNAL" and not files
    if not verdict.correct and not verdict.note:
        verdict.note = f"{kind}: {str(value)[:300]}"
    verdict.lost_output = verdict.lost_output or bool(partial_files(output))
    return verdict


def run_generations(total: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Verdict]:
    sims = [start_simulator(seed) for seed in range(WORKERS)]
    try:
        for n, sim in enumerate(sims):
            conn = {
                "conn_type": "runway",
                "host": sim.base_url,
                "password": API_KEY,
                # a short read timeout so "slow" answers are read timeouts; retries as shipped
                "extra": {"allow_insecure_loopback": True, "timeout": 0.4},
            }
            monkeypatch.setenv(f"AIRFLOW_CONN_RUNWAY_SOAK_{n}", json.dumps(conn))
        lock = threading.Lock()
        verdicts: list[Verdict] = []

        def worker(n: int) -> None:
            sim = sims[n]
            for index in range(n, total, WORKERS):
                mode = "deferred" if index % 2 else "sync"
                output = tmp_path / f"gen{index}"
                context = make_context(FakeStateStore())
                op = RunwayImageToVideoOperator(
                    task_id=f"gen{index}",
                    runway_conn_id=f"runway_soak_{n}",
                    prompt_image="https://example.com/cat.jpg",
                    prompt_text="chaos",
                    ratio="1280:720",
                    duration=5,
                    poll_interval=0.05,
                    max_poll_interval=0.5,
                    timeout=60,
                    output_path=str(output),
                )
                before = sim.accounting()
                kind, value = outcome_of(lambda op=op, context=context, mode=mode: run_op(op, context, mode))
                verdict = judge(index, mode, sim, before, kind, value, context, output)
                with lock:
                    verdicts.append(verdict)

        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(worker, range(WORKERS)))
        return sorted(verdicts, key=lambda v: v.index)
    finally:
        for sim in sims:
            sim.stop()


def summarize(verdicts: list[Verdict]) -> dict[str, Any]:
    return {
        "generations": len(verdicts),
        "succeeded": sum(v.outcome == "success" for v in verdicts),
        "correct_outcomes": sum(v.correct for v in verdicts),
        "incorrect_outcomes": sum(not v.correct for v in verdicts),
        "duplicate_creates": sum(max(0, v.creates - 1) for v in verdicts),
        "orphaned_remote_tasks": sum(v.orphaned for v in verdicts),
        "lost_outputs": sum(v.lost_output for v in verdicts),
        "billed_tasks_with_lost_create_answer": sum(v.untracked for v in verdicts),
        "outcomes": dict(Counter(v.outcome for v in verdicts)),
        "faults_injected": sum(len(v.faults) for v in verdicts),
        "fault_kinds": dict(Counter(k for v in verdicts for k in v.faults)),
        "wrong": [v.__dict__ for v in verdicts if not v.correct or v.orphaned or v.lost_output][:20],
    }


def check(summary: dict[str, Any], total: int) -> None:
    target = os.environ.get("RUNWAY_SOAK_RESULTS")
    if target:
        Path(target).write_text(json.dumps(summary, indent=1, default=str))
    print(json.dumps({k: v for k, v in summary.items() if k != "wrong"}, indent=1))
    assert summary["generations"] == total
    assert summary["faults_injected"] >= total * 0.3  # the chaos really happened (about 0.6 per generation)
    assert summary["incorrect_outcomes"] == 0, summary["wrong"]
    assert summary["duplicate_creates"] == 0, summary["wrong"]
    assert summary["orphaned_remote_tasks"] == 0, summary["wrong"]
    assert summary["lost_outputs"] == 0, summary["wrong"]
    assert summary["succeeded"] >= total * 0.6


@pytest.mark.timeout(120)
def test_chaos_soak_short(tmp_path, monkeypatch):
    total = 30
    check(summarize(run_generations(total, tmp_path, monkeypatch)), total)


@pytest.mark.soak
@pytest.mark.timeout(1800)
def test_chaos_soak(tmp_path, monkeypatch, pytestconfig):
    total = pytestconfig.getoption("--soak-generations")
    check(summarize(run_generations(total, tmp_path, monkeypatch)), total)


def test_the_mix_is_about_ten_percent_per_request():
    per_kind = FAULT_RATE / len(API_MIX)
    assert 1 - (1 - per_kind) ** len(API_MIX) == pytest.approx(FAULT_RATE, abs=0.006)
    asyncio.run(aclose_shared_clients())  # nothing left open by this module's imports
