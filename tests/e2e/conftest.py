"""End-to-end tests: a real Airflow against the Runway simulators, checked through the REST API, the
simulators' accounting and headless Chromium. Run them with ``make e2e``.

They are skipped unless ``RUNWAY_E2E=1`` is set or pytest is given ``-m e2e``, so the ordinary
``pytest`` / ``make test`` run never starts Airflow.

Each test runs in the profiles its ``profile`` marker names (``local`` when it has none): ``make e2e``
is the local profile (LocalExecutor), ``make e2e-distributed`` (``RUNWAY_E2E_EXECUTOR=CeleryExecutor``)
the distributed one. Tests of the other profile are deselected.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

E2E_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(E2E_DIR))

import runway_e2e_stack as e2e  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
_apt: subprocess.Popen[bytes] | None = None


def _enabled(config: pytest.Config) -> bool:
    return os.environ.get("RUNWAY_E2E") == "1" or (config.getoption("markexpr", "") or "").strip() == "e2e"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: end-to-end test on a real Airflow and the simulator (make e2e; needs RUNWAY_E2E=1)"
    )
    config.addinivalue_line(
        "markers",
        "profile(*names): the e2e profiles a test runs in: local (make e2e, the default) and/or distributed "
        "(make e2e-distributed)",
    )


def profiles(item: pytest.Item) -> tuple[str, ...]:
    marker = item.get_closest_marker("profile")
    return tuple(marker.args) if marker is not None else ("local",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [item for item in items if E2E_DIR in Path(str(item.path)).resolve().parents]
    if not _enabled(config):
        skip = pytest.mark.skip(reason="end-to-end test: run `make e2e` (or set RUNWAY_E2E=1)")
        for item in ours:
            item.add_marker(skip)
        return
    other = [item for item in ours if e2e.PROFILE not in profiles(item)]
    if other:
        config.hook.pytest_deselected(items=other)
        items[:] = [item for item in items if item not in other]
        ours = [item for item in ours if item not in other]
    if ours and e2e.postgres_bindir() is None:
        _apt_install("postgresql")
    if ours and e2e.PROFILE == "distributed" and not Path(e2e.REDIS_SERVER).exists():
        _apt_install("redis-server")
    if ours and e2e.PROFILE == "local" and not Path(CHROMIUM).exists():
        _start_chromium_install()


def _apt_install(package: str) -> None:
    """Install a Debian package (apt-get, as root) before the stack needs it."""
    if not shutil.which("apt-get") or os.geteuid() != 0:
        return  # start_postgres() / start_redis() then say what is missing
    e2e.BUILD.mkdir(parents=True, exist_ok=True)
    e2e.log(f"{package} is missing: installing Debian's {package} (apt-get)")
    with (e2e.BUILD / f"apt-{package}.log").open("wb") as out:
        subprocess.run(
            [
                "sh",
                "-c",
                "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
                f"-o DPkg::Lock::Timeout=300 {package}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=900,
            check=False,
        )


def _start_chromium_install() -> None:
    """Install Debian's chromium in the background while Airflow starts (apt-get, as root)."""
    global _apt
    if _apt is not None or not shutil.which("apt-get") or os.geteuid() != 0:
        return
    e2e.BUILD.mkdir(parents=True, exist_ok=True)
    e2e.log(f"{CHROMIUM} is missing: installing Debian's chromium in the background (apt-get)")
    out = (e2e.BUILD / "apt-chromium.log").open("wb")
    _apt = subprocess.Popen(
        [
            "sh",
            "-c",
            "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
            "-o DPkg::Lock::Timeout=300 chromium",
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    out.close()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    summary = e2e.BUILD / "summary.json"
    if _enabled(config) and summary.exists():
        terminalreporter.write_sep("-", f"e2e facts ({summary.relative_to(e2e.ROOT)})")
        terminalreporter.write_line(summary.read_text())


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of Debian's chromium; skips (saying why) only when it cannot be installed."""
    if _apt is not None:
        try:
            _apt.wait(900)
        except subprocess.TimeoutExpired:
            os.killpg(_apt.pid, signal.SIGKILL)
    if not Path(CHROMIUM).exists():
        if _apt is None:
            _start_chromium_install()
            if _apt is not None:
                _apt.wait(900)
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"browser checks skipped: {CHROMIUM} is missing and `apt-get install chromium` was impossible "
            f"(not root, no apt-get, or it failed: see {e2e.BUILD / 'apt-chromium.log'})"
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def stack() -> Any:
    """Airflow + PostgreSQL + simulators for the whole session; every process group is stopped and the
    database removed afterwards, also when a test fails, pytest is interrupted or the run gets SIGTERM
    (even while the stack is still starting)."""
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        started = e2e.start_stack()  # stops what it started when it fails or is interrupted
        atexit.register(started.stop)  # a last resort if the teardown below never runs
        try:
            yield started
        finally:
            e2e.finish_stack(started)
    finally:
        signal.signal(signal.SIGTERM, previous)
