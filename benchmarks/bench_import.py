"""Parse cost: extra import time of operator/sensor modules over ``airflow.sdk`` alone, in cold processes.

Each sample is a fresh interpreter that imports ``airflow.sdk`` (timed), then the module(s) under test
(timed): the second figure is what a DAG file using the operator adds to the parse. The candidates run
interleaved, round after round, so drift hits them all alike; medians over the rounds. Bytecode caches are
warm (as on a scheduler that has parsed before); AIRFLOW_HOME is a throwaway directory.

    benchmarks/.venv/bin/python benchmarks/bench_import.py [--rounds 15]
    .venv/bin/python benchmarks/bench_import.py --quick     # the provider's candidates only, 7 rounds

A candidate ``module:Name,...`` also reads those names, as ``from module import Name`` in a DAG file does:
the named operators are made from their endpoint declarations on first access.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine, median, save

CANDIDATES = {
    "runway operators+sensors": [
        "airflow_provider_runway.operators.runway",
        "airflow_provider_runway.sensors.runway",
    ],
    "runway operators": ["airflow_provider_runway.operators.runway"],
    "runway DAG file (2 operators+sensor)": [
        "airflow_provider_runway.operators.runway:RunwayImageToVideoOperator,RunwayTextToImageOperator",
        "airflow_provider_runway.sensors.runway:RunwayTaskSensor",
    ],
    "http operators": ["airflow.providers.http.operators.http"],
    "http operators+sensors": [
        "airflow.providers.http.operators.http",
        "airflow.providers.http.sensors.http",
    ],
    "dbt-cloud operators": ["airflow.providers.dbt.cloud.operators.dbt"],
    "dbt-cloud operators+sensors": [
        "airflow.providers.dbt.cloud.operators.dbt",
        "airflow.providers.dbt.cloud.sensors.dbt",
    ],
}

PROBE = r"""
import importlib, json, sys, time
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
for name in sys.argv[1:]:
    module_name, _, attributes = name.partition(":")
    module = importlib.import_module(module_name)
    for attribute in filter(None, attributes.split(",")):
        getattr(module, attribute)
t2 = time.perf_counter()
print(json.dumps({"sdk_ms": (t1 - t0) * 1000, "extra_ms": (t2 - t1) * 1000}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out", default="import")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the provider's candidates only (no other providers needed), 7 rounds",
    )
    args = parser.parse_args()
    candidates = {n: m for n, m in CANDIDATES.items() if n.startswith("runway")} if args.quick else CANDIDATES
    if args.quick:
        args.rounds, args.out = min(args.rounds, 7), "import_quick"
    home = tempfile.mkdtemp(prefix="runway-bench-import-")
    env = {**os.environ, "AIRFLOW_HOME": home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    # Installed packages carry bytecode (pip compiles it); a PYTHONDONTWRITEBYTECODE inherited from the
    # shell (this sandbox sets it) would make every "cold" process recompile every module from source.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in candidates}
    # One warm-up each: compiles bytecode and creates the config once.
    for modules in candidates.values():
        subprocess.run([sys.executable, "-c", PROBE, *modules], env=env, check=True, capture_output=True)
    for _ in range(args.rounds):
        for name, modules in candidates.items():
            out = subprocess.run(
                [sys.executable, "-c", PROBE, *modules], env=env, check=True, capture_output=True, text=True
            )
            samples[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
    summary = {
        name: {
            "extra_ms_median": round(median([s["extra_ms"] for s in runs]), 1),
            "sdk_ms_median": round(median([s["sdk_ms"] for s in runs]), 1),
            "modules": candidates[name],
        }
        for name, runs in samples.items()
    }
    save(args.out, {"machine": machine(), "rounds": args.rounds, "summary": summary, "samples": samples})
    for name, row in summary.items():
        print(
            f"import {name:<28} +{row['extra_ms_median']:6.1f} ms over airflow.sdk "
            f"({row['sdk_ms_median']:.0f} ms), median of {args.rounds} cold processes"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
