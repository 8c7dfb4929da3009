"""Regenerate RELIABILITY.md: run the fault matrix (and the chaos soak) and render the results.

    .venv/bin/python scripts/reliability_report.py          # the matrix + the 30-generation soak (~1 min)
    .venv/bin/python scripts/reliability_report.py --soak   # the matrix + the 300-generation soak

The matrix tests write one line per cell (row, mode, outcome, creates, cancels, partial files, pass/fail)
to the file named by RUNWAY_RELIABILITY_RESULTS (see tests/reliability/conftest.py); the soak writes its
summary to RUNWAY_SOAK_RESULTS. Exit status: pytest's, so a failing cell fails the command.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "RELIABILITY.md"
COMMAND = ".venv/bin/python scripts/reliability_report.py"


def run_pytest(args: list[str], env: dict[str, str]) -> int:
    command = [sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider", "-q", "-p", "no:logging"]
    print("$", " ".join(command), flush=True)
    return subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, check=False).returncode


def render(rows: list[dict], soak: dict, soak_generations: int, status: int) -> str:
    lines = [
        "# Reliability: the fault matrix and the chaos soak",
        "",
        f"Regenerate this file with `{COMMAND}` (add `--soak` for the 300-generation soak; `make soak` runs",
        "the long soak and the secrets scan on their own). Tests: `tests/reliability/`.",
        "",
        "## Fault matrix",
        "",
        "Every row runs against the bundled simulator over a real socket, in both modes: `sync` (the operator",
        "waits itself) and `deferred` (the trigger waits; the operator resumes in `execute_complete`). Each cell",
        "asserts the Airflow outcome (the exact exception, or success with the served bytes saved: size and",
        "sha256), the creates the service saw (at most one per logical attempt; a create that may have reached",
        "the server is never sent twice), the remote cancels due (with the status at the time; never a DELETE of",
        "a finished task, which purges its outputs), no partial output file, and that neither the API key nor a",
        "signed URL appears in the error. For the rows without a triggerer or a deferral (`triggerer restart`,",
        "`mark failed while deferred`), the `sync` cell is the synchronous twin: the waiting worker is killed",
        "and the task retried (re-attaching through the task state store), or `on_kill` is called on it.",
        "",
    ]
    matrix = [r for r in rows if r.get("section") != "one bill"]
    one_bill = [r for r in rows if r.get("section") == "one bill"]
    lines += _table(matrix)
    lines += [
        "",
        "## One bill per generation, under the field's conditions",
        "",
        "`tests/reliability/test_one_bill.py`. Each row drives Airflow's retries by hand (every try a fresh",
        "operator on the same durable record, as a new worker would be) and counts what the simulator saw:",
        "*outcome* lists the tries in order. A gateway that hides new tasks past each try's `not_exist_grace`,",
        "a trigger that a stalled triggerer drops after it moved to another (apache/airflow#73454), a worker",
        "that dies during the create, a changed request, a retry that needs no second upload. The same",
        "conditions at full scale (a real scheduler, two triggerers on PostgreSQL, a gateway hiding tasks for",
        "2 minutes, SIGKILLed workers on Airflow 3.1.8 and 3.3.2) run in `make e2e`: see README.",
        "",
    ]
    lines += _table(one_bill)
    passed = sum(r.get("result") == "pass" for r in rows)
    lines += ["", f"{passed} of {len(rows)} cells pass (pytest exit status {status}).", ""]
    lines += [
        "## Chaos soak",
        "",
        f"{soak_generations} generations through the real operator and trigger code (alternating sync and",
        "deferred), six simulators in parallel, with about 10% of all requests failing at random (429 with and",
        "without Retry-After, 500/502/503, connection resets, answers slower than the 0.4 s read timeout, broken",
        "JSON on API calls) and 3% of creates ending FAILED (`INTERNAL`). Definitions:",
        "",
        "* **correct outcome**: success with the output file holding exactly the bytes the service served, or",
        "  the error the injected fault implies: a fault that replaced or cut off the create's answer ->",
        "  `RunwaySubmitUncertainError` (never retried); a create made FAILED -> `RunwayTaskFailedError`. Every",
        "  other fault is transient and must be absorbed (retries, the poll-failure budget, URL refresh).",
        "* **duplicate creates**: more than one create reached the service in one generation.",
        "* **orphaned remote tasks**: a task whose id the provider had that was unfinished and not cancelled",
        "  when its generation ended.",
        "* **lost outputs**: a task that SUCCEEDED remotely whose file is missing, partial or different.",
        "",
        "| measure | value | target |",
        "|---|---|---|",
    ]
    targets = {
        "generations": soak_generations,
        "correct_outcomes": soak_generations,
        "incorrect_outcomes": 0,
        "duplicate_creates": 0,
        "orphaned_remote_tasks": 0,
        "lost_outputs": 0,
    }
    for key in (
        "generations",
        "succeeded",
        "correct_outcomes",
        "incorrect_outcomes",
        "duplicate_creates",
        "orphaned_remote_tasks",
        "lost_outputs",
        "billed_tasks_with_lost_create_answer",
        "faults_injected",
    ):
        lines.append(f"| {key.replace('_', ' ')} | {soak.get(key, 'n/a')} | {targets.get(key, '')} |")
    lines += [
        "",
        f"Outcomes: {json.dumps(soak.get('outcomes', {}))}. Faults fired: {json.dumps(soak.get('fault_kinds', {}))}.",
        "",
        "*Billed tasks with a lost create answer* are creates the server made whose answer timed out: the",
        "provider cannot know their ids (the API takes no idempotency key); it fails with",
        "`RunwaySubmitUncertainError`, says the task may exist and is billed, and never creates a second.",
        "",
        "## What else the suite checks",
        "",
        "* **Secrets** (`test_secrets.py`, from `make soak`, ~100 s): the example DAGs run under `airflow dags",
        "  test` with a canary key; every file under AIRFLOW_HOME (logs, config, the SQLite DB's bytes), the",
        "  xcom, trigger (decrypted), rendered_task_instance_fields, task_instance and log tables, the outputs and",
        "  the command output are scanned: 0 hits expected; signed URLs appear in logs only redacted.",
        "* **Bad input** (`test_bad_input.py`): hypothesis-generated arguments for both generation operators",
        "  are created, or refused with a `RunwayValidationError` naming the argument before any request.",
        "* **SSRF** (`test_ssrf.py`): downloads, redirect hops and upload URLs go over https to public",
        "  addresses only (loopback only with the connection's `allow_insecure_loopback`); file inputs and",
        "  output paths never go through a network fetcher (http, ftp, sftp, `a::b` chains...); sizes capped.",
        "  Limit: the host is resolved before the request and resolved again by the HTTP client to connect, so",
        "  a DNS server that answers differently the second time (DNS rebinding) is not stopped; an",
        "  unresolvable host is left to the connect, which fails. Pinning the checked address in the",
        "  connection would close this.",
        "",
        "## Known gaps",
        "",
        "* Airflow 3.1 and 3.2 never call a trigger's `on_kill`: a deferred task marked failed there leaves its",
        "  remote task running to its end (billed once, not cancelled). The synchronous wait's `on_kill` does run.",
        "* A generation that ended unresolved (its create unconfirmed, its task never visible, its poll budget",
        "  spent) keeps its record on purpose, so a later clear does not pay again; on Airflow 3.1/3.2 that is a",
        "  `runway_generation.*` Variable, which a deleted DAG run does not take with it.",
        "* At `DEBUG` log level, Airflow 3.3.2's own task supervisor logs the `MaskSecret` messages it relays,",
        "  connection password included (seen in the secrets scan); the scan runs at the default `INFO`, where",
        "  there are 0 hits. An Airflow issue, not this provider's: do not run workers at DEBUG with real keys.",
    ]
    return "\n".join(lines) + "\n"


def _table(rows: list[dict]) -> list[str]:
    lines = [
        "| row | mode | outcome | creates | cancels | partial files | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        result = row.get("result", "fail")
        lines.append(
            f"| {row['row']} | {row['mode']} | {row['outcome']} | {row['creates']} | {row['cancels']} "
            f"| {row['partial_files']} | {'pass' if result == 'pass' else '**FAIL**'} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soak", action="store_true", help="run the 300-generation soak")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results, soak_file = Path(tmp) / "matrix.json", Path(tmp) / "soak.json"
        env = {
            **os.environ,
            "RUNWAY_RELIABILITY_RESULTS": str(results),
            "RUNWAY_SOAK_RESULTS": str(soak_file),
        }
        status = run_pytest(
            ["tests/reliability/test_fault_matrix.py", "tests/reliability/test_one_bill.py"], env
        )
        if args.soak:
            soak_status = run_pytest(["tests/reliability/test_chaos_soak.py", "-m", "soak", "--soak"], env)
            generations = 300
        else:
            soak_status = run_pytest(["tests/reliability/test_chaos_soak.py", "-k", "short"], env)
            generations = 30
        rows = json.loads(results.read_text()) if results.exists() else []
        soak = json.loads(soak_file.read_text()) if soak_file.exists() else {}
    TARGET.write_text(render(rows, soak, generations, status))
    print(
        f"wrote {TARGET.relative_to(ROOT)}: {len(rows)} cells, soak {soak.get('correct_outcomes')}/{generations}"
    )
    return status or soak_status


if __name__ == "__main__":
    sys.exit(main())
