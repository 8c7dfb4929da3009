"""End-to-end overhead: ``airflow dags test`` of a one-task Runway DAG against a minimal deferring DAG.

A fresh AIRFLOW_HOME (SQLite), ``airflow db migrate`` once, a dags folder with two one-task DAGs:

``bench_runway``      ``RunwayImageToVideoOperator(deferrable=True)`` on the simulator (its own process,
                      generations finish at once, so the operator's check right after submit already
                      sees SUCCEEDED; nothing is downloaded)
``bench_runway_defer`` the same, on a simulator whose tasks stay PENDING 0.2 s: the check sees the task
                      unfinished, so the operator defers and ``dags test`` runs the trigger inline
``bench_baseline``    a minimal operator that defers to ``TimeDeltaTrigger(0 s)`` and returns

The two runway DAGs get their own simulator process, started before the timing. Every ``dags test`` is a
whole process, timed from start to exit; the runs alternate, medians over the rounds. The provider's
overhead is the median of a runway DAG minus the median of the baseline.

    benchmarks/.venv/bin/python benchmarks/bench_e2e.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import conn_json, machine, median, save, simulator

RUNWAY_DAG = """
import pendulum
from airflow.sdk import dag
from airflow_provider_runway.operators.runway import RunwayImageToVideoOperator


@dag(dag_id="{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def bench():
    RunwayImageToVideoOperator(
        task_id="generate",
        runway_conn_id="{conn_id}",
        prompt_image="https://example.com/a.jpg",
        model="gen4_turbo",
        ratio="1280:720",
        deferrable=True,
        poll_interval=0.1,
    )


bench()
"""

BASELINE_DAG = """
from datetime import timedelta

import pendulum
from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
from airflow.sdk import BaseOperator, dag


class DeferZero(BaseOperator):
    def execute(self, context):
        self.defer(trigger=TimeDeltaTrigger(timedelta(seconds=0)), method_name="execute_complete")

    def execute_complete(self, context, event=None):
        return {"done": True}


@dag(dag_id="bench_baseline", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def bench():
    DeferZero(task_id="generate")


bench()
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default="e2e")
    args = parser.parse_args()
    airflow = str(Path(sys.executable).parent / "airflow")
    home = Path(tempfile.mkdtemp(prefix="runway-bench-e2e-"))
    dags = home / "dags"
    dags.mkdir()
    (dags / "bench_runway.py").write_text(RUNWAY_DAG.format(dag_id="bench_runway", conn_id="runway_default"))
    (dags / "bench_runway_defer.py").write_text(
        RUNWAY_DAG.format(dag_id="bench_runway_defer", conn_id="runway_defer")
    )
    (dags / "bench_baseline.py").write_text(BASELINE_DAG)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }
    times: dict[str, list[float]] = {"bench_baseline": [], "bench_runway": [], "bench_runway_defer": []}
    try:
        with ExitStack() as stack:
            base, _, _ = stack.enter_context(simulator())
            base_defer, _, _ = stack.enter_context(simulator("--pending-seconds", "0.2"))
            env["AIRFLOW_CONN_RUNWAY_DEFAULT"] = conn_json(base)
            env["AIRFLOW_CONN_RUNWAY_DEFER"] = conn_json(base_defer)
            subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
            for round_ in range(args.rounds + 1):  # the first round warms caches and is dropped
                for dag_id in times:
                    started = time.perf_counter()
                    out = subprocess.run(
                        ["timeout", "-k", "10", "300", airflow, "dags", "test", dag_id],
                        env=env,
                        capture_output=True,
                        text=True,
                    )
                    elapsed = time.perf_counter() - started
                    if out.returncode != 0 or "success" not in (out.stdout + out.stderr).lower():
                        raise RuntimeError(f"dags test {dag_id} failed:\n{(out.stdout + out.stderr)[-3000:]}")
                    if round_:
                        times[dag_id].append(elapsed)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    medians = {dag_id: median(values) for dag_id, values in times.items()}
    result = {
        "machine": machine(),
        "rounds": args.rounds,
        "seconds": times,
        "median_s": {k: round(v, 3) for k, v in medians.items()},
        "overhead_s": round(medians["bench_runway"] - medians["bench_baseline"], 3),
        "overhead_defer_s": round(medians["bench_runway_defer"] - medians["bench_baseline"], 3),
    }
    save(args.out, result)
    print(
        f"dags test median: baseline (defer 0 s) {medians['bench_baseline']:.2f} s, runway (instant, no defer) "
        f"{medians['bench_runway']:.2f} s, runway (deferred) {medians['bench_runway_defer']:.2f} s; "
        f"provider overhead {result['overhead_s']:+.2f} s / {result['overhead_defer_s']:+.2f} s "
        f"(median of {args.rounds})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
