"""Shared helpers of the benchmark scripts: the simulator as a child process, percentiles, machine facts.

Nothing here imports Airflow, so importing it never skews an import-time figure.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any

API_KEY = "key_bench"
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        return float("nan")
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


@contextmanager
def simulator(*args: str, flavor: str = "runway", python: str | None = None) -> Any:
    """Run ``runway-simulator`` in its own process; yields ``(base_url, root_url, pid)``."""
    command = [
        python or sys.executable,
        "-m",
        "airflow_provider_runway.testing.simulator",
        "--flavor",
        flavor,
        "--port",
        "0",
        "--api-key",
        API_KEY,
        *args,
    ]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        if not base_url.startswith("http"):
            raise RuntimeError(f"simulator did not start: {base_url!r}")
        root = base_url.split("/runwayml")[0]
        yield base_url, root, server.pid
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)


def conn_json(base_url: str) -> str:
    """The Airflow connection of the simulator, as ``AIRFLOW_CONN_RUNWAY_DEFAULT`` wants it."""
    return json.dumps(
        {
            "conn_type": "runway",
            "host": base_url,
            "password": API_KEY,
            "extra": {"allow_insecure_loopback": True},
        }
    )


def sim_get(root: str, path: str, timeout: float = 60) -> Any:
    with urllib.request.urlopen(f"{root}{path}", timeout=timeout) as response:
        return json.loads(response.read())


def sim_post(root: str, path: str, body: Any, timeout: float = 60) -> Any:
    request = urllib.request.Request(
        f"{root}{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def _first_line(path: str, prefix: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def machine(python: str | None = None) -> dict[str, Any]:
    """The facts BENCHMARKS.md quotes beside every figure."""
    python = python or sys.executable
    versions = subprocess.run(
        [
            python,
            "-c",
            "import sys, httpx, airflow; from importlib.metadata import version as v; "
            "print(sys.version.split()[0], airflow.__version__, httpx.__version__, v('requests'), v('aiohttp'))",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"},
    ).stdout.split()
    free = subprocess.run(["free", "-g"], capture_output=True, text=True).stdout.strip()
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu_model": _first_line("/proc/cpuinfo", "model name"),
        "free_g": free,
        "kernel": platform.release(),
        "python": versions[0] if versions else "?",
        "airflow": versions[1] if len(versions) > 1 else "?",
        "httpx": versions[2] if len(versions) > 2 else "?",
        "requests": versions[3] if len(versions) > 3 else "?",
        "aiohttp": versions[4] if len(versions) > 4 else "?",
    }


def save(name: str, data: Any) -> Path:
    """Write one figure's raw result as JSON under benchmarks/results/ (git-ignored)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


def wait_until(predicate: Any, timeout: float, step: float = 0.1) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return False


def py_spy(pid: int, output: str, *extra: str) -> subprocess.Popen[bytes]:
    """Sample ``pid`` from outside with py-spy (100 Hz, "raw" collapsed stacks to ``output``), so the process
    runs unprofiled; ``extra``: more py-spy options (``--subprocesses``, ``--nonblocking``)."""
    return subprocess.Popen(
        [
            str(Path(sys.executable).with_name("py-spy")),
            "record",
            "--rate",
            "100",
            "--format",
            "raw",
            *extra,
            "--output",
            output,
            "--pid",
            str(pid),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
