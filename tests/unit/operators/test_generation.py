"""Credits: the estimate from the create reaches the manifest in every mode (deferred: through XCom, read
back on another worker; durable re-attach: through the task state record), the final cost too; the credit
balance from the hook; and the ``min_credit_balance`` guard, checked before any create.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from airflow_provider_runway._compat import TaskDeferred
from airflow_provider_runway.exceptions import (
    RunwayAPIError,
    RunwayConfigurationError,
    RunwayCreditBalanceError,
    RunwayError,
    RunwayNotFoundError,
    RunwaySubmitUncertainError,
    RunwayValidationError,
)
from airflow_provider_runway.hooks.runway import RunwayHook, aclose_shared_clients
from airflow_provider_runway.operators import generation
from airflow_provider_runway.operators.runway import (
    STATE_KEY,
    XCOM_ESTIMATED_CREDITS,
    RunwayImageToVideoOperator,
    RunwayTextToImageOperator,
)
from tests.unit.operators.test_runway import (
    FAST,
    MODES,
    FakeStateStore,
    FakeTI,
    creates,
    make_context,
    run_op,
    run_trigger,
    t2i,
)

pytestmark = pytest.mark.timeout(90)

IMAGE = "https://example.com/cat.jpg"


def i2v(**kwargs: Any) -> RunwayImageToVideoOperator:
    params: dict[str, Any] = {
        "task_id": "generate",
        "prompt_image": IMAGE,
        "ratio": "1280:720",
        "duration": 5,
        **FAST,
    }
    params.update(kwargs)
    return RunwayImageToVideoOperator(**params)


def org_requests(sim: Any) -> list[dict[str, Any]]:
    return [r for r in sim.control.accounting()["requests"] if r["path"].endswith("/v1/organization")]


# --------------------------------------------------------------------------------------------------------
# The manifest carries the estimate and the cost
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_manifest_carries_estimated_and_final_credits(direct, mode):
    context = make_context()
    # Deferred: execute_complete runs on a fresh operator, as on another worker.
    manifest = run_op(i2v(), context, mode, resume_with=i2v())
    (create,) = creates(direct)
    assert create["estimated_credits"] == 25  # gen4_turbo: 5 credits/s x 5 s
    assert manifest["estimated_credits"] == 25.0
    assert manifest["cost_credits"] == 25.0
    assert context["ti"].pushed(XCOM_ESTIMATED_CREDITS) == [25.0]


def test_text_to_image_estimate_counts_images(direct):
    # gen4_image makes one image (Runway's spec lists no outputCount for it); muse_image up to ten
    op = t2i(model="muse_image", ratio="1600:1600", output_count="3")
    manifest = run_op(op, make_context(), "deferred", resume_with=t2i(model="muse_image"))
    assert manifest["estimated_credits"] == 15.0  # 5 credits per image
    assert len(manifest["outputs"]) == 3


def test_deferred_without_the_xcom_still_finishes_without_an_estimate(direct):
    """A resume that cannot read the XCom loses a number, never the generation."""
    op = i2v(deferrable=True)
    with pytest.raises(TaskDeferred) as info:
        op.execute(make_context())
    event = run_trigger(info.value.trigger)

    class BrokenTI(FakeTI):
        def xcom_pull(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("XCom backend down")

    manifest = i2v().execute_complete(make_context(ti=BrokenTI()), event)
    assert manifest["status"] == "SUCCEEDED"
    assert manifest["estimated_credits"] is None and manifest["cost_credits"] == 25.0


def test_durable_retry_reattaches_with_the_estimate_from_the_record(direct):
    store = FakeStateStore()
    with pytest.raises(TaskDeferred):
        i2v(deferrable=True).execute(make_context(store))
    assert store.data[STATE_KEY]["estimated_credits"] == 25.0
    # The worker died; the retry is a new try (its XComs were cleared) and re-attaches.
    retry_context = make_context(store)
    manifest = run_op(i2v(), retry_context, "sync")
    assert len(creates(direct)) == 1
    assert manifest["estimated_credits"] == 25.0
    assert retry_context["ti"].pushed(XCOM_ESTIMATED_CREDITS) == [25.0]


@pytest.mark.parametrize("mode", MODES)
def test_gateway_reports_no_credits(gateway, mode):
    context = make_context()
    manifest = run_op(i2v(), context, mode, resume_with=i2v())
    assert manifest["estimated_credits"] is None and manifest["cost_credits"] is None
    # pushed all the same, so the resumed try finds the key (a miss is an ERROR line in Airflow 3's log)
    assert context["ti"].pushed(XCOM_ESTIMATED_CREDITS) == [None]


# --------------------------------------------------------------------------------------------------------
# The credit balance
# --------------------------------------------------------------------------------------------------------
def test_hook_reads_the_credit_balance_on_both_halves(direct):
    direct.control.configure(credits=500)
    hook = RunwayHook()
    assert hook.get_credit_balance() == 500.0
    hook.submit(
        "image_to_video", {"model": "gen4_turbo", "promptImage": IMAGE, "ratio": "1280:720", "duration": 5}
    )

    async def both() -> float:
        try:
            return await RunwayHook().aget_credit_balance()
        finally:
            await aclose_shared_clients()

    assert asyncio.run(both()) == 475.0 == hook.get_credit_balance()


def test_hook_credit_balance_on_the_gateway_is_not_found(gateway):
    with pytest.raises(RunwayNotFoundError):
        RunwayHook().get_credit_balance()


# --------------------------------------------------------------------------------------------------------
# The guard: min_credit_balance, checked just before the create
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_short_balance_refuses_with_zero_creates(direct, mode):
    direct.control.configure(credits=40)
    op = i2v(min_credit_balance=100, deferrable=mode == "deferred")
    with pytest.raises(RunwayCreditBalanceError) as info:
        op.execute(make_context())
    assert (info.value.balance, info.value.minimum) == (40, 100)
    assert str(info.value) == (
        "The Runway credit balance is 40 credits, below min_credit_balance=100 of the image_to_video task. "
        "No task was created, so nothing was billed: add credits, or lower min_credit_balance, then run "
        "the task again."
    )
    assert creates(direct) == []
    assert len(org_requests(direct)) == 1


@pytest.mark.parametrize("mode", MODES)
def test_enough_balance_creates_once(direct, mode):
    direct.control.configure(credits=1000)
    manifest = run_op(
        i2v(min_credit_balance="100"), make_context(), mode, resume_with=i2v()
    )  # templated: str
    assert manifest["status"] == "SUCCEEDED"
    assert len(creates(direct)) == 1
    assert len(org_requests(direct)) == 1
    assert direct.control.accounting()["credit_balance"] == 975


def test_balance_equal_to_the_floor_is_enough(direct):
    direct.control.configure(credits=100)
    run_op(i2v(min_credit_balance=100), make_context(), "sync")
    assert len(creates(direct)) == 1


def test_no_guard_no_organization_request(direct):
    run_op(i2v(), make_context(), "sync")
    assert org_requests(direct) == []


def test_reattach_does_not_check_the_balance(direct):
    """A retry that re-attaches creates nothing, so a balance spent meanwhile does not stop it."""
    store = FakeStateStore()
    direct.control.configure(credits=125)
    with pytest.raises(TaskDeferred):
        i2v(min_credit_balance=100, deferrable=True).execute(make_context(store))
    assert direct.control.accounting()["credit_balance"] == 100
    direct.control.configure(credits=0)
    manifest = run_op(i2v(min_credit_balance=100), make_context(store), "sync")
    assert manifest["status"] == "SUCCEEDED"
    assert len(creates(direct)) == 1 and len(org_requests(direct)) == 1


def test_gateway_skips_the_check_with_a_warning(gateway, capsys, caplog):
    manifest = run_op(i2v(min_credit_balance=100), make_context(), "sync")
    assert manifest["status"] == "SUCCEEDED"
    assert len(creates(gateway)) == 1
    logged = capsys.readouterr().out + caplog.text  # Airflow's structlog writes to stdout
    assert "no organization endpoint" in logged and "require_credit_check" in logged


def test_gateway_with_require_credit_check_refuses_before_the_create(gateway):
    op = i2v(min_credit_balance=100, require_credit_check=True)
    with pytest.raises(RunwayConfigurationError) as info:
        op.execute(make_context())
    assert "no organization endpoint" in str(info.value)
    assert str(info.value).endswith(
        "(require_credit_check=True). No task was created, so nothing was billed: use a Runway direct "
        "connection, or set require_credit_check=False."
    )
    assert creates(gateway) == []


def test_guard_errors_other_than_not_found_fail_closed(direct):
    direct.control.add_fault("http_error", path="organization", status=401)
    with pytest.raises(RunwayError):
        i2v(min_credit_balance=1).execute(make_context())
    assert creates(direct) == []


@pytest.mark.parametrize("value", ["lots", -1, float("nan"), float("inf"), True])
def test_invalid_floor_fails_before_any_request(direct, value):
    with pytest.raises(RunwayValidationError) as info:
        i2v(min_credit_balance=value).execute(make_context())
    assert info.value.field == "min_credit_balance"
    assert direct.control.accounting()["request_count"] == 0


def test_floor_is_a_template_field():
    assert "min_credit_balance" in RunwayTextToImageOperator.template_fields
    assert "min_credit_balance" in RunwayImageToVideoOperator.template_fields


# --------------------------------------------------------------------------------------------------------
# The last line: a try that created nothing says so, and what to do; one whose create may be billed, not
# --------------------------------------------------------------------------------------------------------
NOTHING_BILLED = "No task was created, so nothing was billed: "


def test_creating_nothing_ends_a_provider_error_and_leaves_others_alone():
    with pytest.raises(RunwayValidationError) as info, generation.creating_nothing():
        raise RunwayValidationError("ratio", "must be one of 1280:720, 720:1280")
    assert str(info.value).endswith(f". {NOTHING_BILLED}fix ratio, then run the task again.")
    with pytest.raises(OSError) as other, generation.creating_nothing():
        raise OSError("disk full")
    assert str(other.value) == "disk full"


@pytest.mark.parametrize("mode", MODES)
def test_a_create_the_server_refused_ends_saying_nothing_was_billed(direct, mode):
    direct.control.configure(credits=10)  # the simulator refuses the create: HTTP 400, not enough credits
    store = FakeStateStore()
    with pytest.raises(RunwayAPIError) as info:
        run_op(i2v(), make_context(store), mode)
    assert info.value.http_status == 400
    assert str(info.value).endswith(
        f"{NOTHING_BILLED}correct what the server named, then run the task again."
    )
    assert creates(direct) == []
    assert store.data == {}  # refused: no intent is kept for a retry to trip over


def test_a_create_whose_answer_was_lost_never_says_nothing_was_billed(direct):
    direct.control.add_fault("create_lost", times=1, mode="reset")
    with pytest.raises(RunwaySubmitUncertainError) as info:
        run_op(i2v(), make_context(FakeStateStore()), "sync")
    assert "nothing was billed" not in str(info.value)
    assert "may exist and be billed" in str(info.value)
    assert len(creates(direct)) == 1  # it was created: the warning is true
