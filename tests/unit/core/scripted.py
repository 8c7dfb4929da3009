"""A scripted exchange: settings, requests and answers to drive core.exchange with, no I/O (shared by the
core's tests)."""

from __future__ import annotations

from airflow_provider_runway.core.exchange import ApiRequest, HttpResponse, RetryPolicy, Send, Wait, exchange
from airflow_provider_runway.core.settings import settings_from_connection
from airflow_provider_runway.exceptions import RunwayError
from tests.conftest import FAKE_RUNWAY_KEY

TASK_ID = "17f20503-6c24-4c16-946b-35dbbce2af2f"


GET = ApiRequest("GET", f"/v1/tasks/{TASK_ID}")
DELETE = ApiRequest("DELETE", f"/v1/tasks/{TASK_ID}")
POST = ApiRequest("POST", "/v1/image_to_video", {"model": "gen4_turbo"}, billed=True)
POLICY = RetryPolicy(
    max_retries=5, base_delay=1.0, max_delay=30.0, max_total_wait=120.0, max_retry_after=60.0
)


def resp(status, body=b"", **headers):
    return HttpResponse(status, {k.replace("_", "-").lower(): v for k, v in headers.items()}, body)


def ok(body=b'{"id": "x"}'):
    return HttpResponse(200, {"content-type": "application/json"}, body)


def settings_for(base="https://api.dev.runwayml.com", **extra):
    return settings_from_connection(
        "runway_test", host=base, password=FAKE_RUNWAY_KEY, extra={"max_retries": 3, **extra}
    )


def drive(settings_, request, outcomes, policy=None):
    """Run exchange() against scripted outcomes. Returns (actions, result, error)."""
    script = list(outcomes)
    steps = exchange(settings_, request, agent="test-agent/1", policy=policy, rng=lambda: 0.5)
    actions: list = []
    sent = None
    try:
        while True:
            action = steps.send(sent)
            actions.append(action)
            if isinstance(action, Send):
                assert script, "exchange sent more requests than scripted"
                sent = script.pop(0)
            else:
                assert isinstance(action, Wait)
                sent = None
    except StopIteration as done:
        assert not script, "exchange stopped before using every scripted outcome"
        return actions, done.value, None
    except RunwayError as err:
        assert not script, "exchange stopped before using every scripted outcome"
        return actions, None, err
