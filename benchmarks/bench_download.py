"""Downloads: a 500 MB output through ``media.save_task_outputs`` (``RunwayHook.download``) against ``curl``.

The simulator (its own process, ``--output-size 524288000``) serves one finished task. Each round, in turn:
``curl -o`` of the signed URL, then ``save_task_outputs`` to a local ``ObjectStoragePath`` in a fresh Python
process that reports its wall time and its peak RSS growth (the larger of VmHWM, reset just before the
download, and RSS sampled every 5 ms; the sampler thread itself costs a little throughput). Both
write to the same directory; each file is deleted after its run, dirty pages are flushed (``os.sync``)
before each run, and the order alternates round by round. Medians over the rounds.

    benchmarks/.venv/bin/python benchmarks/bench_download.py [--rounds 3] [--size 524288000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import API_KEY, conn_json, machine, median, save, simulator

CHILD = r"""
import json, sys, time
from pathlib import Path

def kb(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])

from airflow.sdk import ObjectStoragePath
from airflow_provider_runway.hooks.runway import RunwayHook
from airflow_provider_runway.media import save_task_outputs

hook = RunwayHook()
task = hook.get_task(sys.argv[1])
target = ObjectStoragePath("file://" + sys.argv[2])
import threading
Path("/proc/self/clear_refs").write_text("5")
base = kb("VmRSS")
peak = [base]
done = threading.Event()

def sample():  # a second witness beside VmHWM: RSS every 5 ms
    while not done.is_set():
        peak[0] = max(peak[0], kb("VmRSS"))
        time.sleep(0.005)

sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
started = time.perf_counter()
saved = save_task_outputs(hook, task, target)
elapsed = time.perf_counter() - started
done.set()
sampler.join()
growth = max(kb("VmHWM"), peak[0]) - base
print(json.dumps({"seconds": elapsed, "bytes": saved[0].size, "rss_growth_kb": growth,
                  "rss_base_kb": base, "rss_sampled_peak_growth_kb": peak[0] - base}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=524_288_000)
    parser.add_argument("--out", default="download")
    args = parser.parse_args()
    if shutil.which("curl") is None:
        raise SystemExit("curl is missing: apt-get install -y curl")
    import httpx

    workdir = Path(tempfile.mkdtemp(prefix="runway-bench-download-"))
    curl_runs: list[dict[str, float]] = []
    hook_runs: list[dict[str, float]] = []
    try:
        with simulator("--output-size", str(args.size)) as (base, _root, _pid):
            headers = {"Authorization": f"Bearer {API_KEY}", "X-Runway-Version": "2024-11-06"}
            created = httpx.post(
                f"{base}/v1/image_to_video",
                json={"model": "gen4_turbo", "promptImage": "https://example.com/a.jpg", "ratio": "1280:720"},
                headers=headers,
            ).json()
            task_id = created["id"]
            env = {**os.environ, "AIRFLOW_CONN_RUNWAY_DEFAULT": conn_json(base)}

            def run_curl() -> None:
                url = httpx.get(f"{base}/v1/tasks/{task_id}", headers=headers).json()["output"][0]
                target = workdir / "curl.mp4"
                started = time.perf_counter()
                subprocess.run(["curl", "-sS", "-f", "-o", str(target), url], check=True)
                seconds = time.perf_counter() - started
                curl_runs.append({"seconds": seconds, "bytes": target.stat().st_size})
                target.unlink()

            def run_hook() -> None:
                out = subprocess.run(
                    [sys.executable, "-c", CHILD, task_id, str(workdir / "hook") + "/"],
                    env=env,
                    capture_output=True,
                    text=True,
                )
                if out.returncode != 0:
                    raise RuntimeError(out.stderr[-2000:])
                hook_runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
                shutil.rmtree(workdir / "hook", ignore_errors=True)

            for round_ in range(args.rounds):
                # Alternate who goes first, and flush the previous writer's dirty pages before each one, so
                # neither pays for the other's writeback.
                for run in (run_curl, run_hook) if round_ % 2 == 0 else (run_hook, run_curl):
                    os.sync()
                    run()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    mb = args.size / 1e6
    curl_mbs = median([mb / r["seconds"] for r in curl_runs])
    hook_mbs = median([mb / r["seconds"] for r in hook_runs])
    rss_mb = median([r["rss_growth_kb"] / 1024 for r in hook_runs])
    result = {
        "machine": machine(),
        "size_bytes": args.size,
        "curl": curl_runs,
        "hook": hook_runs,
        "curl_mb_s": round(curl_mbs, 1),
        "hook_mb_s": round(hook_mbs, 1),
        "ratio": round(hook_mbs / curl_mbs, 3),
        "hook_rss_growth_mb_median": round(rss_mb, 1),
        "hook_rss_growth_mb_max": round(max(r["rss_growth_kb"] for r in hook_runs) / 1024, 1),
    }
    save(args.out, result)
    print(
        f"download {args.size / 1e6:.0f} MB: save_task_outputs {hook_mbs:,.0f} MB/s, curl {curl_mbs:,.0f} MB/s "
        f"(ratio {hook_mbs / curl_mbs:.2f}, median of {args.rounds}); peak RSS growth {rss_mb:.1f} MB "
        f"(max {result['hook_rss_growth_mb_max']} MB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
