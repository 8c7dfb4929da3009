"""models.py, the compatibility module: every name the one-module core had is still importable from it,
and is the very object its home in core/ defines (so an old import cannot see a stale copy)."""

from __future__ import annotations

import importlib

from airflow_provider_runway import models

#: A sample of the names importers used (the README, example DAGs and earlier tests).
NAMES = (
    "DEFAULT_CONN_ID",
    "DEFAULT_POLL_INTERVAL",
    "RunwayTask",
    "TaskStatus",
    "parse_task",
    "ConnectionSettings",
    "settings_from_connection",
    "ApiRequest",
    "HttpResponse",
    "TransportKind",
    "RetryPolicy",
    "exchange",
    "decide_retry",
    "error_for",
    "create_may_have_billed",
    "FailureCategory",
    "outcome_error",
    "redact_url",
    "task_path",
    "check_asset_uri",
    "MIME_TYPES",
    "kill_decision",
    "credit_balance",
)


CORE = (
    "defaults",
    "task",
    "outcome",
    "settings",
    "urls",
    "filetypes",
    "fields",
    "exchange",
    "kill",
    "organization",
)


def test_every_old_name_is_importable():
    for name in NAMES:
        assert name in models.__all__
        assert getattr(models, name) is not None


def test_each_name_is_the_object_of_its_home_in_core():
    for name in models.__all__:
        value = getattr(models, name)
        homes = [
            m for m in CORE if hasattr(importlib.import_module(f"airflow_provider_runway.core.{m}"), name)
        ]
        assert homes, f"{name} has no home in core/"
        assert all(
            getattr(importlib.import_module(f"airflow_provider_runway.core.{m}"), name) is value
            for m in homes
        ), name
