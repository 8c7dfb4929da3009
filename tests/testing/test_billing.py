"""``testing/_billing.py``: prices, the moderation-billing rule, and the organization's wallet."""

from __future__ import annotations

import pytest

from airflow_provider_runway.testing._billing import (
    TIER_MODELS,
    Wallet,
    estimate,
    final_credits,
    is_moderation,
)
from airflow_provider_runway.testing._config import SimConfig
from airflow_provider_runway.testing._errors import SimError
from airflow_provider_runway.testing._tasks import Task


def task(failure_code: str | None = None) -> Task:
    return Task("t", "image_to_video", "gen4_turbo", {}, 0, 0, 0, 0, 25, failure_code=failure_code)


def test_estimate_by_duration_or_image_count() -> None:
    assert estimate("image_to_video", "gen4_turbo", {"duration": 10}) == 50
    assert estimate("image_to_video", "gen4_turbo", {"duration": True}) == 25  # not a number: 5 s
    assert estimate("image_to_video", "brand_new", {}) == 50
    assert estimate("text_to_image", "gen4_image_turbo", {"outputCount": 3}) == 6


@pytest.mark.parametrize(
    ("code", "moderation"),
    [
        ("SAFETY.INPUT.TEXT", True),
        ("INPUT_PREPROCESSING.SAFETY.TEXT", True),
        ("INTERNAL", False),
        (None, False),
    ],
)
def test_moderation_failures_are_billed_others_refunded(code: str | None, moderation: bool) -> None:
    assert is_moderation(code) is moderation
    assert final_credits(task(code), "FAILED") == (25 if moderation else 0)
    assert final_credits(task(), "SUCCEEDED") == 25
    assert final_credits(task(code), "CANCELLED") == 0


def test_the_wallet_charges_counts_and_refunds() -> None:
    config = SimConfig(credits=30, daily_limit=2)
    wallet = Wallet(config)
    wallet.charge("gen4_turbo", 25)
    with pytest.raises(SimError) as poor:
        wallet.charge("gen4_turbo", 25)
    assert (poor.value.status, poor.value.code) == (400, "insufficient_quota")
    wallet.refund(25.0)
    wallet.charge("gen4_turbo", 25)
    with pytest.raises(SimError) as quota:
        wallet.charge("gen4_turbo", 1)
    assert (quota.value.status, quota.value.code) == (429, "rate_limit_exceeded")
    organization = wallet.organization()
    assert organization["creditBalance"] == 5
    assert organization["usage"]["models"] == {"gen4_turbo": {"dailyGenerations": 2}}
    assert set(organization["tier"]["models"]) == set(TIER_MODELS)
