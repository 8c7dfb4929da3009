"""An Airflow connection, validated: base URL, key, extras, headers (core.settings, and core.urls.normalize_base_url)."""

from __future__ import annotations

import pytest

from airflow_provider_runway.core.defaults import GATEWAY_BASE_URL
from airflow_provider_runway.core.settings import build_headers, settings_from_connection, user_agent
from airflow_provider_runway.exceptions import (
    RunwayConfigurationError,
)
from tests.conftest import FAKE_RUNWAY_KEY

TASK_ID = "17f20503-6c24-4c16-946b-35dbbce2af2f"
OUT_URL = "https://dnznrvs05pmza.cloudfront.net/abc/out.mp4?_jwt=SIGNATURE"
PNG_URI = "https://example.com/frame.png"


# ========================================================================================================
# settings_from_connection / normalize_base_url
# ========================================================================================================
def conn_settings(host="https://api.dev.runwayml.com", password=FAKE_RUNWAY_KEY, extra=None, **kw):
    return settings_from_connection("my_runway", host=host, password=password, extra=extra, **kw)


@pytest.mark.parametrize("password", [None, "", "   "])
def test_missing_key_names_connection(password):
    with pytest.raises(RunwayConfigurationError, match="my_runway") as info:
        conn_settings(password=password)
    assert "API key" in str(info.value)


def test_key_with_whitespace_is_rejected_without_echoing_it():
    with pytest.raises(RunwayConfigurationError, match="my_runway") as info:
        conn_settings(password="key_abc def")
    assert "key_abc" not in str(info.value)


@pytest.mark.parametrize(
    "host",
    [
        "ftp://api.dev.runwayml.com",
        "https://",
        "https://api.dev.runwayml.com:99999",
        "https://api.dev.runwayml.com/?token=abc",
        "https://api.dev.runwayml.com/#frag",
        "http://api.dev.runwayml.com",
        "https://user:pw@api.dev.runwayml.com",
    ],
)
def test_malformed_urls_name_connection_never_key(host):
    with pytest.raises(RunwayConfigurationError) as info:
        conn_settings(host=host)
    assert "my_runway" in str(info.value)
    assert FAKE_RUNWAY_KEY not in str(info.value)


def test_settings_repr_hides_key():
    settings_ = conn_settings()
    assert settings_.api_key == FAKE_RUNWAY_KEY
    assert FAKE_RUNWAY_KEY not in repr(settings_)


@pytest.mark.parametrize(
    ("host", "schema", "port", "expected"),
    [
        (None, None, None, GATEWAY_BASE_URL),
        ("", None, None, GATEWAY_BASE_URL),
        ("https://api.dev.runwayml.com", None, None, "https://api.dev.runwayml.com"),
        ("https://api.dev.runwayml.com/", None, None, "https://api.dev.runwayml.com"),
        ("https://api.dev.runwayml.com/v1", None, None, "https://api.dev.runwayml.com"),
        ("https://api.cometapi.com/runwayml/", None, None, "https://api.cometapi.com/runwayml"),
        ("https://api.cometapi.com/runwayml/v1/", None, None, "https://api.cometapi.com/runwayml"),
        # URI-form connections: runway://api.cometapi.com/runwayml -> host + schema
        ("api.cometapi.com", "runwayml", None, "https://api.cometapi.com/runwayml"),
        ("api.dev.runwayml.com", None, None, "https://api.dev.runwayml.com"),
        ("api.dev.runwayml.com", "", 8443, "https://api.dev.runwayml.com:8443"),
        ("gw.example.com", "/proxy/runwayml/", None, "https://gw.example.com/proxy/runwayml"),
    ],
)
def test_base_url_forms(host, schema, port, expected):
    assert conn_settings(host=host, schema=schema, port=port).base_url == expected


def test_uri_form_connection_through_airflow():
    from airflow.sdk import Connection

    conn = Connection.from_uri(
        "runway://:key_abc@api.cometapi.com/runwayml?max_retries=2", conn_id="uri_conn"
    )
    settings_ = settings_from_connection(
        "uri_conn",
        host=conn.host,
        password=conn.password,
        extra=conn.extra_dejson,
        schema=conn.schema,
        port=conn.port,
    )
    assert settings_.base_url == "https://api.cometapi.com/runwayml"
    assert settings_.looks_like_gateway
    assert settings_.max_retries == 2
    assert settings_.url("/v1/tasks/x") == "https://api.cometapi.com/runwayml/v1/tasks/x"


def test_looks_like_gateway():
    assert not conn_settings(host="https://api.dev.runwayml.com").looks_like_gateway
    assert conn_settings(host="https://api.cometapi.com/runwayml").looks_like_gateway


@pytest.mark.parametrize(
    "host", ["http://127.0.0.1:8765", "http://localhost:8765", "127.0.0.1:8765", "http://[::1]:8765"]
)
def test_http_allowed_on_loopback_with_flag(host):
    with pytest.raises(RunwayConfigurationError, match="http"):
        conn_settings(host=host if "://" in host else "http://" + host)
    settings_ = conn_settings(host=host, extra={"allow_insecure_loopback": True})
    assert settings_.base_url.startswith("http://") and settings_.allow_insecure_loopback


@pytest.mark.parametrize(
    "host", ["http://10.0.0.5:8765", "http://sim.example.com", "http://127.0.0.1.nip.io"]
)
def test_http_refused_off_loopback_even_with_flag(host):
    with pytest.raises(RunwayConfigurationError, match="my_runway"):
        conn_settings(host=host, extra={"allow_insecure_loopback": "true"})


@pytest.mark.parametrize("prefix", ["", "extra__runway__"])
def test_extras_with_and_without_prefix(prefix):
    extra = {
        f"{prefix}api_version": "2025-01-01",
        f"{prefix}timeout": "45",
        f"{prefix}max_retries": 2,
        f"{prefix}verify": "false",
    }
    settings_ = conn_settings(extra=extra)
    assert settings_.api_version == "2025-01-01"
    assert settings_.read_timeout == 45.0 and settings_.connect_timeout == 10.0
    assert settings_.max_retries == 2
    assert settings_.verify is False


def test_defaults_and_small_timeout_caps_connect_timeout():
    settings_ = conn_settings(extra={})
    assert (settings_.api_version, settings_.read_timeout, settings_.max_retries, settings_.verify) == (
        "2024-11-06",
        30.0,
        5,
        True,
    )
    assert conn_settings(extra={"timeout": 3}).connect_timeout == 3.0


def test_verify_may_name_a_ca_bundle():
    assert conn_settings(extra={"verify": "/etc/ssl/corp.pem"}).verify == "/etc/ssl/corp.pem"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("timeout", "abc"),
        ("timeout", 0),
        ("timeout", -1),
        ("timeout", "nan"),
        ("timeout", "inf"),
        ("timeout", True),
        ("max_retries", -1),
        ("max_retries", 101),
        ("max_retries", "many"),
        ("max_retries", True),
        ("max_retries", "2.5"),
        ("api_version", "latest"),
        ("api_version", 20241106),
        ("api_version", "2024-11-06; drop"),
        ("allow_insecure_loopback", "maybe"),
    ],
)
def test_bad_extras_name_the_field_and_connection(name, value):
    with pytest.raises(RunwayConfigurationError) as info:
        conn_settings(extra={name: value})
    assert name in str(info.value) and "my_runway" in str(info.value)


def test_extra_must_be_mapping():
    with pytest.raises(RunwayConfigurationError, match="my_runway"):
        conn_settings(extra=["not", "a", "dict"])


def test_build_headers_and_user_agent():
    agent = user_agent("1.2.3", "3.3.2", "3.11")
    assert agent.startswith("airflow-provider-runway/1.2.3 ")
    assert "apache-airflow/3.3.2" in agent
    headers = build_headers(conn_settings(), agent, json_body=False)
    assert headers["Authorization"] == f"Bearer {FAKE_RUNWAY_KEY}"
    assert "Content-Type" not in headers
    assert build_headers(conn_settings(), agent, json_body=True)["Content-Type"] == "application/json"
