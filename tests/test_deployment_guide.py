"""docs/deployment.md against the profile it documents (``make e2e-distributed``), so the two cannot drift:

* every command in the guide's ``bash`` blocks is one of the harness's ``COMMANDS`` (the commands the
  profile runs; its last test checks that it ran each one), and the guide shows every one of them;
* every row of its settings table has the value the profile gives its components (``airflow_env``);
* every figure it quotes from BENCHMARKS.md is in BENCHMARKS.md.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "deployment.md"
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import runway_e2e_stack as e2e  # noqa: E402

#: figures the guide quotes from BENCHMARKS.md, as BENCHMARKS.md writes them (its en dashes included)
FIGURES = [
    "2 vCPUs (`nproc` = 2)",
    "`AMD EPYC`",
    "5,000",
    "4.35 KB",
    "3.97 ms",
    "5.95 s",
    "24,236 trigger log lines",
]
#: settings the guide must list (the distributed profile's own, and those HA and crash recovery depend on)
REQUIRED_SETTINGS = [
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CELERY__WORKER_CONCURRENCY",
    "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT",
    "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL",
    "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE",
    "AIRFLOW__TRIGGERER__CAPACITY",
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT",
    "AIRFLOW__SECRETS__BACKEND",
    "AIRFLOW__SECRETS__BACKEND_KWARGS",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
]


def guide_commands() -> list[str]:
    """The command lines of the guide's ``bash`` blocks (continuations joined, comments dropped)."""
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", GUIDE.read_text(), flags=re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def template_matches(template: str, line: str) -> bool:
    """Does a command line fill in a ``COMMANDS`` template? Word by word; a ``{field}`` is any value."""
    words, wanted = shlex.split(line), template.split()
    if len(words) != len(wanted):
        return False
    for word, pattern in zip(words, wanted, strict=True):
        regex = "".join(
            ".+" if part.startswith("{") else re.escape(part) for part in re.split(r"(\{\w+\})", pattern)
        )
        if not re.fullmatch(regex, word):
            return False
    return True


def settings_table() -> dict[str, str]:
    """``setting -> e2e value`` from the guide's settings table."""
    rows = re.findall(r"^\| `(AIRFLOW__\w+)` \| `([^`]*)` \|", GUIDE.read_text(), flags=re.M)
    assert rows, "no settings table in docs/deployment.md"
    return dict(rows)


def profile_env() -> dict[str, str]:
    return e2e.airflow_env(
        Path("/opt/airflow"),
        8080,
        {},
        e2e.postgres_url(5432),
        executor="CeleryExecutor",
        broker_url=e2e.redis_url(6379),
    )


def test_the_guide_shows_only_commands_the_profile_runs() -> None:
    commands = guide_commands()
    assert commands, "no bash blocks in docs/deployment.md"
    strangers = [c for c in commands if not any(template_matches(t, c) for t in e2e.COMMANDS.values())]
    assert strangers == [], (
        f"commands in docs/deployment.md that make e2e-distributed never runs: {strangers}"
    )


def test_the_guide_shows_every_command_the_profile_runs() -> None:
    commands = guide_commands()
    missing = [k for k, t in e2e.COMMANDS.items() if not any(template_matches(t, c) for c in commands)]
    assert missing == [], f"docs/deployment.md leaves out these commands of the profile: {missing}"


@pytest.mark.parametrize(
    ("template", "line", "matches"),
    [
        ("airflow triggerer", "airflow triggerer", True),
        ("airflow triggerer", "airflow triggerer --capacity 5000", False),
        (
            "airflow celery worker --celery-hostname {name}@%h",
            "airflow celery worker --celery-hostname a@%h",
            True,
        ),
        (
            "airflow celery worker --celery-hostname {name}@%h",
            "airflow celery worker --celery-hostname a@b",
            False,
        ),
        ("airflow pools set {pool} {slots} {description} --x", 'airflow pools set p 2 "two words" --x', True),
        ("A=B airflow connections test {id}", "airflow connections test c", False),
    ],
)
def test_template_matching(template: str, line: str, matches: bool) -> None:
    assert template_matches(template, line) is matches


def test_every_setting_in_the_guide_is_what_the_profile_runs_with() -> None:
    env = profile_env()
    table = settings_table()
    for name, shown in table.items():
        assert name in env, f"docs/deployment.md lists {name}, which the profile does not set"
        regex = "".join(".+" if p.startswith("<") else re.escape(p) for p in re.split(r"(<[^>]+>)", shown))
        assert re.fullmatch(regex, env[name]), (
            f"{name}: the guide says {shown!r}, the profile sets {env[name]!r}"
        )
    assert [s for s in REQUIRED_SETTINGS if s not in table] == []


def test_the_guide_quotes_benchmarks_md_as_it_stands() -> None:
    guide = GUIDE.read_text()
    benchmarks = (ROOT / "BENCHMARKS.md").read_text()
    for figure in FIGURES:
        assert figure in guide, f"docs/deployment.md no longer quotes {figure!r}: update FIGURES"
        assert figure in benchmarks, f"BENCHMARKS.md no longer says {figure!r}: update docs/deployment.md"
