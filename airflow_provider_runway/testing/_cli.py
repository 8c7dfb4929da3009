"""The ``runway-simulator`` command: serve the simulator until SIGTERM or SIGINT.

The first line on stdout is the base URL; knobs and faults come from the options (``--fault`` is repeatable,
``KIND[:key=value,...]``), and faults given here survive ``POST /_sim/reset``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from typing import Any

from airflow_provider_runway.testing._config import SimConfig
from airflow_provider_runway.testing._endpoints import FLAVORS
from airflow_provider_runway.testing._faults import FAULT_KINDS
from airflow_provider_runway.testing._routes import SimServer
from airflow_provider_runway.testing._state import SimState


def parse_fault(spec: str) -> dict[str, Any]:
    """Parse ``KIND[:key=value,...]`` (values are JSON when they parse as JSON, else strings)."""
    kind, _, rest = spec.partition(":")
    out: dict[str, Any] = {"kind": kind.strip()}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"bad fault parameter {item!r} (expected key=value)")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="runway-simulator",
        description="Serve a Runway task API stand-in (prints the base URL as the first line of stdout).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--flavor", choices=FLAVORS, default="gateway")
    parser.add_argument("--api-key", default=None, help="require exactly this Bearer key")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pending-seconds", type=float)
    parser.add_argument("--running-seconds", type=float)
    parser.add_argument("--concurrency", type=int)
    parser.add_argument("--output-ttl-seconds", "--output-ttl", type=float)
    parser.add_argument("--output-size", type=int, help="bytes of each MP4 output (padded, streamed)")
    parser.add_argument(
        "--outputs",
        choices=("request", "sample"),
        help="outputs that follow each request (default; needs PyAV), or the fixed samples",
    )
    parser.add_argument("--update-interval", type=float)
    parser.add_argument("--task-not-exist-seconds", type=float)
    parser.add_argument("--envelope-fraction", type=float)
    parser.add_argument("--envelope-while-queued", action="store_true", default=None)
    parser.add_argument("--no-envelope-inner", dest="envelope_inner", action="store_false", default=None)
    parser.add_argument("--envelope-time-format", choices=("unix", "string"))
    parser.add_argument("--envelope-queued-status")
    parser.add_argument("--envelope-inner-id", choices=("upstream", "same"))
    parser.add_argument("--cancelled-get", choices=("CANCELLED", "404"))
    parser.add_argument("--credits", type=int)
    parser.add_argument("--daily-limit", type=int)
    parser.add_argument(
        "--fault",
        action="append",
        type=parse_fault,
        default=[],
        metavar="KIND[:k=v,...]",
        help=f"inject a fault; kinds: {', '.join(FAULT_KINDS)} (repeatable)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``runway-simulator`` console script."""
    args = _build_parser().parse_args(argv)
    knobs = {
        name: getattr(args, name)
        for name in SimConfig.names()
        if hasattr(args, name) and getattr(args, name) is not None
    }
    try:
        state = SimState(args.flavor, api_key=args.api_key, seed=args.seed, **knobs)
        for fault in args.fault:
            state.add_fault(**fault)
    except (TypeError, ValueError) as exc:
        print(f"runway-simulator: {exc}", file=sys.stderr)
        return 2
    state.keep_faults_on_reset()  # faults given on the command line survive /_sim/reset
    server = SimServer(state, args.host, args.port)

    async def run() -> None:
        await server.start()
        print(server.base_url, flush=True)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, server.request_stop)
        await server.serve_until_stopped()

    try:
        asyncio.run(run())
    except OSError as exc:
        print(f"runway-simulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0
