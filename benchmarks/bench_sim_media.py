"""The simulator's rendered outputs: CPU seconds to draw and encode a 5 s 1280x720 clip (the target: well
under one second), and the wall time of a first download over a real socket.

Each round renders a new request (another seed, so nothing is cached) in this process and counts
``time.process_time()`` (every thread of the process: libx264 encodes on several); ``--source`` picks a
generated frame (``text_to_video``), a prompt image (``image_to_video`` from the demo's PNG), or both.
Medians over the rounds. Then one simulator downloads one such output, first (rendered) and again (cached).

    .venv/bin/python benchmarks/bench_sim_media.py [--rounds 7] [--seconds 5] [--ratio 1280:720]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import median, save

ROOT = Path(__file__).resolve().parent.parent
PNG = ROOT / "example_dags" / "inputs" / "ocean_waves.png"


def requests(source: str, ratio: str, seconds: float, seed: int) -> tuple[str, dict]:
    if source == "generated":
        return "text_to_video", {
            "model": "gen4.5",
            "promptText": "a cat",
            "ratio": ratio,
            "duration": seconds,
            "seed": seed,
        }
    image = "data:image/png;base64," + base64.b64encode(PNG.read_bytes()).decode()
    return "image_to_video", {
        "model": "gen4_turbo",
        "promptImage": image,
        "ratio": ratio,
        "duration": seconds,
        "seed": seed,
    }


def cpu_rounds(source: str, ratio: str, seconds: float, rounds: int) -> dict:
    from airflow_provider_runway.testing._output_plan import plan_for
    from airflow_provider_runway.testing._render import render

    cpu, wall, sizes = [], [], []
    for seed in range(rounds + 1):
        endpoint, body = requests(source, ratio, seconds, seed)
        started_cpu, started = time.process_time(), time.perf_counter()
        data = render(plan_for(endpoint, body))
        if seed == 0:
            continue  # warm-up: imports, codec tables
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started)
        sizes.append(len(data))
    return {"cpu_s": median(cpu), "wall_s": median(wall), "bytes": median(sizes), "cpu_all": cpu}


def download(ratio: str, seconds: float) -> dict:
    import httpx

    from airflow_provider_runway.testing import Simulator

    headers = {"Authorization": "Bearer k", "X-Runway-Version": "2024-11-06"}
    with Simulator("runway") as sim:
        endpoint, body = requests("generated", ratio, seconds, 10_000)
        task = httpx.post(f"{sim.base_url}/v1/{endpoint}", json=body, headers=headers).json()
        url = httpx.get(f"{sim.base_url}/v1/tasks/{task['id']}", headers=headers).json()["output"][0]
        times = []
        for _ in range(2):
            started = time.perf_counter()
            assert httpx.get(url, timeout=60).status_code == 200
            times.append(time.perf_counter() - started)
    return {"first_s": times[0], "cached_s": times[1]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--ratio", default="1280:720")
    parser.add_argument("--source", choices=("generated", "image", "both"), default="both")
    parser.add_argument("--out", default="sim_media")
    args = parser.parse_args()
    sources = ("generated", "image") if args.source == "both" else (args.source,)
    result: dict = {
        "ratio": args.ratio,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "nproc": os.cpu_count(),
        "cpu_model": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "?",
        ),
        "load_before": os.getloadavg()[0],
    }
    for source in sources:
        result[source] = cpu_rounds(source, args.ratio, args.seconds, args.rounds)
        print(
            f"{source:9s} {args.ratio} {args.seconds:g} s: median {result[source]['cpu_s']:.3f} s CPU, "
            f"{result[source]['wall_s']:.3f} s wall, {result[source]['bytes'] / 1e6:.2f} MB",
            flush=True,
        )
    result["download"] = download(args.ratio, args.seconds)
    print(
        f"download over loopback: first {result['download']['first_s']:.3f} s (rendered), "
        f"again {result['download']['cached_s']:.3f} s (cached); load average before {result['load_before']:.2f}"
    )
    print(json.dumps({"saved": str(save(args.out, result))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
