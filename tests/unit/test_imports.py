"""Import cost and import-time side effects, measured in a fresh interpreter.

Importing Airflow itself already brings httpx and SQLAlchemy, so "does not import httpx" means nothing here.
What can break, and is checked: the core (all of it, through models.py) adds nothing but the standard library to what the error module
(hence Airflow) already loaded; the hook module leaves requests/urllib3 unimported until a sync call needs
them, and aiohttp until an async one does; and neither import opens a socket, reads a data file, starts a
process or a thread.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

PROBE = textwrap.dedent(
    """
    import json, sys, threading
    import airflow_provider_runway.exceptions  # the baseline: Airflow's exception module, hence Airflow
    import airflow.sdk
    before = set(sys.modules)
    threads = threading.active_count()
    events = []

    def audit(event, args):
        if event.startswith(("socket.", "subprocess.", "os.system", "os.exec", "os.spawn", "urllib.")):
            events.append([event, repr(args)[:200]])
        elif event == "open":
            path = str(args[0])
            if not path.endswith((".py", ".pyc", ".so", ".pth")):
                events.append([event, path])

    sys.addaudithook(audit)
    import airflow_provider_runway.models
    after_models = set(sys.modules)
    import airflow_provider_runway.hooks.runway as hook_module
    after_hook = set(sys.modules)
    hook = hook_module.RunwayHook("a_connection_that_does_not_exist")  # no lookup, no I/O in __init__
    after_init = set(sys.modules)
    result = {
        "models_new": sorted(after_models - before),
        "hook_new": sorted(after_hook - after_models),
        "init_new": sorted(after_init - after_hook),
        "requests_after_init": "requests" in sys.modules,
        "urllib3_after_init": "urllib3" in sys.modules,
        "aiohttp_after_init": "aiohttp" in sys.modules,
        "events": list(events),  # a copy: importing requests later probes IPv6 with a socket
        "threads_started": threading.active_count() - threads,
        "stdlib": sorted(sys.stdlib_module_names),
    }
    hook.session  # the sync half's session is created (and requests imported) on first use
    result["requests_after_session"] = "requests" in sys.modules
    print("RESULT" + json.dumps(result))
    """
)


@pytest.fixture(scope="module")
def probe() -> dict:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr[-3000:]
    (line,) = [line for line in out.stdout.splitlines() if line.startswith("RESULT")]
    return json.loads(line[len("RESULT") :])


def top(name: str) -> str:
    return name.split(".", 1)[0]


def test_models_adds_only_stdlib_and_itself(probe):
    stdlib = set(probe["stdlib"])
    foreign = [m for m in probe["models_new"] if top(m) not in stdlib and top(m) != "airflow_provider_runway"]
    assert foreign == []
    assert "airflow_provider_runway.models" in probe["models_new"]


def test_hook_module_does_not_import_requests_eagerly(probe):
    assert probe["requests_after_init"] is False
    assert probe["urllib3_after_init"] is False
    assert probe["aiohttp_after_init"] is False  # a worker that never defers never loads the async half
    assert probe["requests_after_session"] is True  # the check above is not vacuous


def test_hook_module_adds_only_airflow_and_its_own_modules(probe):
    stdlib = set(probe["stdlib"])
    foreign = [
        m
        for m in probe["hook_new"] + probe["init_new"]
        if top(m) not in stdlib and top(m) not in {"airflow", "airflow_provider_runway"}
    ]
    assert foreign == []


def test_no_network_file_process_or_thread_at_import(probe):
    assert probe["events"] == []
    assert probe["threads_started"] == 0


def test_operator_and_sensor_modules_leave_runtime_machinery_unimported():
    """DAG files import these on every parse: the trigger machinery, the hook, media (fsspec), the wait loop,
    and the endpoint registry, its request rules and the spec they come from must load only when a task
    runs. Using a named operator loads its own endpoint module (its declaration) and nothing more."""
    code = (
        "import sys, json\n"
        "import airflow.sdk\n"
        "from airflow.sdk import BaseOperator, BaseSensorOperator\n"
        "opened = []\n"
        "sys.addaudithook(lambda e, a: opened.append(str(a[0])) if e == 'open' else None)\n"
        "before = set(sys.modules)\n"
        "import airflow_provider_runway.operators.runway, airflow_provider_runway.sensors.runway\n"
        "from airflow_provider_runway.operators.runway import (\n"
        "    RunwayImageToVideoOperator, RunwayTextToSpeechOperator, RunwayGenerateOperator)\n"
        "RunwayImageToVideoOperator(task_id='parse', prompt_image='/data/a.png', model='{{ params.m }}')\n"
        "data = [path for path in opened if not path.endswith(('.py', '.pyc', '.so', '.pth'))]\n"
        "print(json.dumps([sorted(set(sys.modules) - before), data]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    added_list, opened = json.loads(out.stdout.strip().splitlines()[-1])
    added = set(added_list)
    for lazy in (
        "airflow.triggers.base",
        "airflow_provider_runway.triggers.runway",
        "airflow_provider_runway.hooks.runway",
        "airflow_provider_runway.media",
        "airflow_provider_runway.polling",
        "airflow_provider_runway.durable",
        # the core beyond the operators' defaults: its dataclasses and enums cost ~6 ms a parse
        "airflow_provider_runway.models",
        "airflow_provider_runway.core.task",
        "airflow_provider_runway.core.exchange",
        "airflow_provider_runway.core.settings",
        "airflow_provider_runway.core.urls",
        "airflow_provider_runway.operators.generation",
        "airflow_provider_runway.lineage",
        "airflow_provider_runway.endpoints._registry",
        "airflow_provider_runway.endpoints._rules",
        "airflow_provider_runway.endpoints._body",
        "airflow_provider_runway.endpoints.video_to_video",  # only the modules of the operators used
    ):
        assert lazy not in added, f"{lazy} is imported when a DAG file is parsed"
    assert "airflow_provider_runway.operators.runway" in added
    assert {
        "airflow_provider_runway.endpoints.image_to_video",
        "airflow_provider_runway.endpoints.text_to_speech",
    } <= added
    # the spec copy and the overlay are not read (Airflow 3.1's own operator init reads jsonschema's)
    assert [path for path in opened if "airflow_provider_runway" in path and path.endswith(".json")] == []
