"""Run every benchmark of BENCHMARKS.md, one script per figure, and print their result lines.

    benchmarks/.venv/bin/python benchmarks/run_all.py [--quick] [--only triggerer,import,...]

``make bench`` builds ``benchmarks/.venv`` (the package plus the benchmark-only packages) and runs this;
``make bench BENCH_ARGS=--quick`` runs the short version (about 8 minutes instead of about 25). Raw results
land in ``benchmarks/results/*.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name -> (script, full arguments, quick arguments)
FIGURES: dict[str, tuple[str, list[str], list[str]]] = {
    "simulator": ("bench_simulator.py", ["--seconds", "5"], ["--seconds", "3"]),
    "schedule": (
        "bench_schedule.py",
        ["--tasks", "3000", "--stretch"],
        ["--tasks", "1000", "--stretch", "--out", "schedule_quick"],
    ),
    "import": ("bench_import.py", ["--rounds", "15"], ["--rounds", "10", "--out", "import_quick"]),
    "download": ("bench_download.py", ["--rounds", "3"], ["--rounds", "2", "--out", "download_quick"]),
    "e2e": ("bench_e2e.py", ["--rounds", "5"], ["--rounds", "3", "--out", "e2e_quick"]),
    "triggerer": (
        "bench_triggerer.py",
        [
            "--designs",
            "provider-adaptive,provider-fixed,new-client,to-thread,floor",
            "--designs-small",
            "provider-adaptive,provider-fixed,floor",
            "--ramp-step",
            "1000",
            "--ramp-max",
            "8000",
            "--ramp-window",
            "15",
        ],
        ["--quick"],
    ),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", default=",".join(FIGURES))
    args = parser.parse_args()
    failed = []
    started = time.monotonic()
    for name in args.only.split(","):
        script, full, quick = FIGURES[name]
        command = [sys.executable, str(HERE / script), *(quick if args.quick else full)]
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        t0 = time.monotonic()
        if subprocess.run(command).returncode != 0:
            failed.append(name)
        print(f"   ({time.monotonic() - t0:.0f} s)", flush=True)
    print(f"== all done in {(time.monotonic() - started) / 60:.1f} min; failed: {failed or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
