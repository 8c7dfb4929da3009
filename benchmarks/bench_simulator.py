"""Capacity of the Runway simulator: task GETs per second on loopback, server in its own process.

Starts ``python -m airflow_provider_runway.testing.simulator --port 0`` (runway flavor, so every GET carries
the full header check), creates a few tasks, then runs keep-alive connections from one asyncio client for a
fixed time, each issuing ``GET /v1/tasks/{id}`` one after another and reading the whole answer. Prints one
result line and writes nothing else.

    .venv/bin/python benchmarks/bench_simulator.py [--seconds 5] [--connections 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from urllib.parse import urlsplit

API_KEY = "key_bench"
HEADERS = f"Authorization: Bearer {API_KEY}\r\nX-Runway-Version: 2024-11-06\r\n"


def _create_tasks(base_url: str, count: int) -> list[str]:
    ids = []
    body = json.dumps(
        {"model": "gen4_turbo", "promptImage": "https://example.com/a.jpg", "ratio": "1280:720"}
    ).encode()
    for _ in range(count):
        request = urllib.request.Request(
            f"{base_url}/v1/image_to_video",
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {API_KEY}",
                "X-Runway-Version": "2024-11-06",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            ids.append(json.loads(response.read())["id"])
    return ids


async def _worker(host: str, port: int, task_ids: list[str], deadline: float, counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    index = 0
    done = 0
    try:
        while time.perf_counter() < deadline:
            task_id = task_ids[index % len(task_ids)]
            index += 1
            writer.write(f"GET /v1/tasks/{task_id} HTTP/1.1\r\nHost: {host}:{port}\r\n{HEADERS}\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"unexpected answer: {head[:80]!r}")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            done += 1
    finally:
        counts.append(done)
        writer.close()


async def _run(host: str, port: int, task_ids: list[str], seconds: float, connections: int) -> int:
    counts: list[int] = []
    deadline = time.perf_counter() + seconds
    await asyncio.gather(*(_worker(host, port, task_ids, deadline, counts) for _ in range(connections)))
    return sum(counts)


def main() -> int:
    """Run the benchmark and print one line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--tasks", type=int, default=50)
    args = parser.parse_args()
    command = [
        sys.executable,
        "-m",
        "airflow_provider_runway.testing.simulator",
        "--flavor",
        "runway",
        "--port",
        "0",
        "--api-key",
        API_KEY,
        "--running-seconds",
        "3600",
    ]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        parts = urlsplit(base_url)
        task_ids = _create_tasks(base_url, args.tasks)
        started = time.perf_counter()
        total = asyncio.run(
            _run(parts.hostname or "127.0.0.1", parts.port or 80, task_ids, args.seconds, args.connections)
        )
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(10)
    print(
        f"simulator task GETs: {total / elapsed:,.0f} per second "
        f"({total} GETs in {elapsed:.1f} s, {args.connections} keep-alive connections, server in its own process)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
