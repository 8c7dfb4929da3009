"""`make demo`: run example 1 end to end through `airflow dags test`, on the bundled simulator.

1. an Airflow home inside the repository (``airflow_home/``), migrated;
2. the Runway simulator on a free loopback port, in its own process (always stopped afterwards);
3. ``airflow dags test runway_image_to_video_pipeline`` with deferrable operators, so the generations
   wait in the (inline) triggerer as they would in production;
4. prints where the videos are, how long it took, and last where to open the summary page (a ``file://``
   URL): each clip, rendered by the simulator at the size and length the DAG asked for, beside its source
   image.

``RUNWAY_DEMO_HOME`` and ``RUNWAY_DEMO_OUTPUT`` move the Airflow home and the outputs elsewhere (the demo's
test runs it in a temporary folder). With ``RUNWAY_API_KEY`` set (and optionally ``RUNWAY_BASE_URL``, default the CometAPI gateway) it runs
against the real service instead, spending real credits.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = "runway_image_to_video_pipeline"
BIN = Path(sys.executable).parent


def log(message: str) -> None:
    print(f"[demo] {message}", flush=True)


def start_simulator() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            str(BIN / "runway-simulator"),
            "--port",
            "0",
            "--flavor",
            "gateway",
            "--api-key",
            "sk-demo-simulator",
            "--pending-seconds",
            "2",
            "--running-seconds",
            "8",
            "--concurrency",
            "2",
            "--task-not-exist-seconds",
            "2",
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    base_url = process.stdout.readline().strip()
    if not base_url.startswith("http"):
        process.kill()
        raise SystemExit(f"the simulator did not start (said {base_url!r})")
    return process, base_url


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def main() -> int:
    started = time.monotonic()
    home = Path(os.environ.get("RUNWAY_DEMO_HOME", ROOT / "airflow_home"))
    output = Path(os.environ.get("RUNWAY_DEMO_OUTPUT", ROOT / "demo_output"))
    shutil.rmtree(output, ignore_errors=True)
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
        "RUNWAY_EXAMPLE_OUTPUT": str(output),
    }
    simulator = None
    real_key = os.environ.get("RUNWAY_API_KEY")
    try:
        if real_key:
            base_url = os.environ.get("RUNWAY_BASE_URL", "https://api.cometapi.com/runwayml")
            log(
                f"RUNWAY_API_KEY is set: running against the real service at {base_url} (this spends credits)"
            )
            conn = {"conn_type": "runway", "host": base_url, "password": real_key}
        else:
            simulator, base_url = start_simulator()
            log(f"Runway simulator (gateway flavor) at {base_url}")
            conn = {
                "conn_type": "runway",
                "host": base_url,
                "password": "sk-demo-simulator",
                "extra": {"allow_insecure_loopback": True},
            }
        env["AIRFLOW_CONN_RUNWAY_DEFAULT"] = json.dumps(conn)
        log("Migrating the Airflow database in airflow_home/ ...")
        subprocess.run(
            [str(BIN / "airflow"), "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL
        )
        log(f"Running `airflow dags test {DAG_ID}` ...")
        result = subprocess.run(
            ["timeout", "-k", "10", "900", str(BIN / "airflow"), "dags", "test", DAG_ID],
            env=env,
            check=False,
        )
        if result.returncode != 0:
            log(f"airflow dags test failed (exit {result.returncode})")
            return result.returncode
    finally:
        if simulator is not None:
            stop(simulator)
    videos = sorted(output.glob("videos/**/*.mp4"))
    summary = output / "summary.html"
    if not videos or not summary.exists():
        log(f"the DAG ran but left no videos or summary under {output}")
        return 1
    log(f"{len(videos)} video(s):")
    for path in videos:
        log(f"  {_shown(path)}  ({path.stat().st_size} bytes)")
    log(f"Done in {time.monotonic() - started:.1f} s")
    log(f"Open the summary page (each clip beside its source image): {summary.resolve().as_uri()}")
    return 0


def _shown(path: Path) -> Path:
    """``path`` relative to the repository when it is inside it."""
    try:
        return path.relative_to(ROOT)
    except ValueError:
        return path


if __name__ == "__main__":
    sys.exit(main())
