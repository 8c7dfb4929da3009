"""The provider dict: valid for Airflow's own schemas, discovered by ProvidersManager and the CLI."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import airflow
import jsonschema
import pytest
from airflow import __version__ as airflow_version

from airflow_provider_runway import __version__, models
from airflow_provider_runway.get_provider_info import get_provider_info

AIRFLOW_DIR = Path(airflow.__file__).parent
DISTRIBUTION = "airflow-provider-runway"
HOOK_CLASS = "airflow_provider_runway.hooks.runway.RunwayHook"


def load_schema(name: str) -> dict:
    return json.loads((AIRFLOW_DIR / name).read_text())


@pytest.fixture(scope="module")
def info() -> dict:
    return get_provider_info()


@pytest.fixture(scope="module")
def conn_type(info) -> dict:
    (entry,) = [c for c in info["connection-types"] if c["connection-type"] == "runway"]
    return entry


def test_valid_against_airflows_provider_info_schema(info):
    schema = load_schema("provider_info.schema.json")
    jsonschema.validators.validator_for(schema)(schema).validate(info)


def test_connection_type_valid_against_provider_yaml_schema(conn_type):
    """conn-fields and ui-field-behaviour are only described by provider.yaml.schema.json."""
    schema = load_schema("provider.yaml.schema.json")
    item = schema["properties"]["connection-types"]["items"]
    jsonschema.validators.validator_for(schema)(item).validate(conn_type)


def test_ui_field_behaviour_valid_against_form_schema(conn_type):
    behaviour = conn_type["ui-field-behaviour"]
    converted = {key.replace("-", "_"): value for key, value in behaviour.items()}
    schema = load_schema("customized_form_field_behaviours.schema.json")
    jsonschema.validators.validator_for(schema)(schema).validate(converted)


def test_package_name_and_version_match_the_distribution(info):
    assert info["package-name"] == DISTRIBUTION
    assert importlib.metadata.version(DISTRIBUTION) == __version__
    assert info["versions"][0] == __version__


def test_entry_point_points_at_get_provider_info():
    (entry,) = [
        ep
        for ep in importlib.metadata.entry_points(group="apache_airflow_provider")
        if ep.dist is not None and ep.dist.name == DISTRIBUTION
    ]
    assert entry.load() is get_provider_info


def test_form_labels_and_placeholders(conn_type):
    behaviour = conn_type["ui-field-behaviour"]
    assert behaviour["relabeling"]["password"] == "API key"
    assert behaviour["relabeling"]["host"] == "Base URL"
    assert behaviour["placeholders"]["host"].startswith("https://")
    assert models.GATEWAY_BASE_URL in behaviour["placeholders"]["host"]
    assert "host" not in behaviour["hidden-fields"] and "password" not in behaviour["hidden-fields"]
    assert conn_type["hook-class-name"] == HOOK_CLASS


def test_conn_field_defaults_agree_with_the_code(conn_type):
    fields = conn_type["conn-fields"]
    assert fields["api_version"]["schema"]["default"] == models.DEFAULT_API_VERSION
    assert fields["timeout"]["schema"]["default"] == models.DEFAULT_READ_TIMEOUT
    assert fields["max_retries"]["schema"]["default"] == models.DEFAULT_MAX_RETRIES
    assert fields["allow_insecure_loopback"]["schema"]["default"] is False
    defaults = {}
    for name, spec in fields.items():  # each default is valid for its own schema
        if "default" in spec["schema"]:
            jsonschema.Draft202012Validator(spec["schema"]).validate(spec["schema"]["default"])
        defaults[f"extra__runway__{name}"] = spec["schema"].get("default")
    # and a connection carrying exactly what the form stores by default is accepted
    settings = models.settings_from_connection("form", host=None, password="k", extra=defaults)
    assert settings.max_retries == models.DEFAULT_MAX_RETRIES and settings.verify is True


def test_every_listed_module_and_class_imports(info, conn_type):
    modules = [
        m
        for key in ("hooks", "operators", "sensors", "triggers")
        for e in info[key]
        for m in e["python-modules"]
    ]
    for name in modules:
        importlib.import_module(name)
    for dotted in [*info.get("extra-links", []), conn_type["hook-class-name"]]:
        module, _, cls = dotted.rpartition(".")
        assert isinstance(getattr(importlib.import_module(module), cls), type)


def test_hook_class_attributes_agree_with_the_dict(conn_type):
    from airflow_provider_runway.hooks.runway import RunwayHook

    assert RunwayHook.conn_type == conn_type["connection-type"]
    assert RunwayHook.hook_name == conn_type["hook-name"]
    assert RunwayHook.default_conn_name == models.DEFAULT_CONN_ID


# ========================================================================================================
# Discovery by Airflow itself
# ========================================================================================================
@pytest.fixture(scope="module")
def providers_manager():
    from airflow.providers_manager import ProvidersManager

    return ProvidersManager()


def test_providers_manager_lists_the_provider(providers_manager):
    provider = providers_manager.providers[DISTRIBUTION]
    assert provider.version == __version__
    assert provider.data["package-name"] == DISTRIBUTION


AIRFLOW_3_2 = pytest.mark.skipif(
    tuple(int(x) for x in airflow_version.split(".")[:2]) < (3, 2),
    reason="conn-fields metadata and the task-runtime providers manager arrived in Airflow 3.2",
)


@AIRFLOW_3_2
def test_providers_manager_knows_the_connection_type(providers_manager):
    (meta,) = [
        m for m in providers_manager.iter_connection_type_hook_ui_metadata() if m.connection_type == "runway"
    ]
    assert meta.hook_class_name == HOOK_CLASS and meta.hook_name == "Runway"
    assert meta.field_behaviour["relabeling"]["password"] == "API key"
    assert "host" in meta.field_behaviour["placeholders"]
    widgets = providers_manager._connection_form_widgets_from_metadata
    assert {"extra__runway__api_version", "extra__runway__timeout", "extra__runway__max_retries"} <= set(
        widgets
    )


@AIRFLOW_3_2
def test_task_runtime_hooks_contain_runway():
    """Airflow 3.3 moved ProvidersManager.hooks (now deprecated) to the task SDK's runtime manager."""
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    hook_info = ProvidersManagerTaskRuntime().hooks["runway"]
    assert hook_info is not None
    assert hook_info.hook_class_name == HOOK_CLASS
    assert hook_info.connection_id_attribute_name == "runway_conn_id"
    assert hook_info.package_name == DISTRIBUTION
    assert hook_info.connection_testable is True


def test_ui_field_behaviour_for_airflow_3_1_matches_the_declared_form():
    """3.1 builds the form from the hook: same labels and placeholders, raw extra left visible."""
    from airflow_provider_runway.hooks.runway import RunwayHook

    behaviour = RunwayHook.get_ui_field_behaviour()
    (conn_type,) = get_provider_info()["connection-types"]
    assert behaviour["relabeling"] == conn_type["ui-field-behaviour"]["relabeling"]
    assert "extra" not in behaviour["hidden_fields"]
    assert set(behaviour["hidden_fields"]) == set(conn_type["ui-field-behaviour"]["hidden-fields"]) - {
        "extra"
    }
    assert behaviour["placeholders"]["host"] == conn_type["ui-field-behaviour"]["placeholders"]["host"]


def test_airflow_providers_hooks_cli(tmp_path):
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "false"}
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "hooks", "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    hooks = json.loads(result.stdout[result.stdout.index("[") :])
    (runway,) = [h for h in hooks if h.get("connection_type") == "runway"]
    assert runway["class"] == HOOK_CLASS and runway["package_name"] == DISTRIBUTION
