"""The ``runway-simulator`` process: start-up line, flags, clean shutdown; and import hygiene."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.testing.conftest import I2V, VERSION


def _start(*args: str) -> tuple[subprocess.Popen[str], str, float]:
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_runway.testing.simulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    base_url = process.stdout.readline().strip()
    return process, base_url, time.monotonic() - started


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_process_prints_url_serves_and_stops_cleanly(signum):
    process, base_url, startup = _start(
        "--flavor",
        "gateway",
        "--api-key",
        "sk-cli",
        "--running-seconds",
        "60",
        "--fault",
        "rate_limit:path=tasks_get,times=1,retry_after=3",
    )
    try:
        assert base_url.startswith("http://127.0.0.1:")
        assert base_url.endswith("/runwayml")
        assert startup < 1.5
        headers = {"Authorization": "Bearer sk-cli", **VERSION}
        task_id = httpx.post(f"{base_url}/v1/image_to_video", json=I2V, headers=headers).json()["id"]
        limited = httpx.get(f"{base_url}/v1/tasks/{task_id}", headers=headers)
        assert (limited.status_code, limited.headers["retry-after"]) == (429, "3")
        assert httpx.get(f"{base_url}/v1/tasks/{task_id}", headers=headers).json()["status"] == "RUNNING"
        assert (
            httpx.get(f"{base_url}/v1/tasks/{task_id}", headers={"Authorization": "Bearer other"}).status_code
            == 401
        )
    finally:
        process.send_signal(signum)
        code = process.wait(5)
    assert code == 0
    assert "Traceback" not in (process.stderr.read() if process.stderr else "")


def test_cli_faults_survive_reset_and_knobs_apply():
    process, base_url, _ = _start(
        "--flavor", "runway", "--pending-seconds", "60", "--fault", "http_error:path=organization,status=502"
    )
    try:
        headers = {"Authorization": "Bearer key_any", **VERSION}
        root = base_url
        assert httpx.get(f"{base_url}/v1/organization", headers=headers).status_code == 502
        httpx.post(f"{root}/_sim/reset")
        assert httpx.get(f"{base_url}/v1/organization", headers=headers).status_code == 502
        config = httpx.get(f"{root}/_sim/config").json()
        assert config["pending_seconds"] == 60
    finally:
        process.terminate()
        process.wait(5)


def test_bad_flags_exit_nonzero():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow_provider_runway.testing.simulator",
            "--port",
            "0",
            "--fault",
            "volcano",
        ],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert result.returncode == 2
    assert "unknown fault kind" in result.stderr


def test_simulator_and_plugin_import_no_airflow_and_plugin_is_cheap():
    code = (
        "import sys, json\n"
        "import airflow_provider_runway.testing.pytest_plugin\n"
        "plugin_mods = set(sys.modules)\n"
        "import airflow_provider_runway.testing.simulator\n"
        "print(json.dumps({'airflow': any(m == 'airflow' or m.startswith('airflow.') for m in sys.modules),"
        " 'client': [m for m in sys.modules if m.startswith('airflow_provider_runway.') and 'testing' not in m],"
        " 'plugin_loaded_sim': 'airflow_provider_runway.testing.simulator' in plugin_mods,"
        " 'plugin_loaded_asyncio': 'asyncio' in plugin_mods}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert json.loads(result.stdout) == {
        "airflow": False,
        "client": [],
        "plugin_loaded_sim": False,
        "plugin_loaded_asyncio": False,
    }
