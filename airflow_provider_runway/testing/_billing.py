"""Credits and quotas: what a create costs, what a finished task is charged, and the organization's balance.

Prices are rough (credits per second of output, or per image) so that balance guards can be exercised; the
rule that matters is the contract's: moderation failures are billed, other failures and cancels are refunded.
"""

from __future__ import annotations

import math
from typing import Any

from airflow_provider_runway.testing._config import SimConfig
from airflow_provider_runway.testing._errors import SimError
from airflow_provider_runway.testing._tasks import Task

#: Rough credit prices (credits per second of output, or per image) so balance guards can be exercised.
CREDITS_PER_SECOND = {
    "gen4_turbo": 5,
    "gen3a_turbo": 5,
    "gen4.5": 12,
    "gen4_aleph": 15,
    "aleph2": 15,
    "veo3": 40,
    "veo3.1": 40,
    "veo3.1_fast": 15,
    "act_two": 5,
}
CREDITS_PER_IMAGE = {"gen4_image": 5, "gen4_image_turbo": 2}
#: Models the organization endpoint reports limits for (all in the spec's ``ModelVariant`` enum).
TIER_MODELS = (
    "gen4.5",
    "gen4_turbo",
    "gen3a_turbo",
    "gen4_aleph",
    "aleph2",
    "veo3",
    "veo3.1",
    "veo3.1_fast",
    "gen4_image",
    "gen4_image_turbo",
    "act_two",
)


def estimate(endpoint: str, model: str, body: dict[str, Any]) -> int:
    """Credits a create costs (a rough price table; unknown models cost 10 credits per second)."""
    if endpoint == "text_to_image":
        count = body.get("outputCount", 1) if isinstance(body.get("outputCount"), int) else 1
        return CREDITS_PER_IMAGE.get(model, 5) * max(1, count)
    duration = body.get("duration")
    seconds = duration if isinstance(duration, int | float) and not isinstance(duration, bool) else 5
    return math.ceil(CREDITS_PER_SECOND.get(model, 10) * seconds)


def is_moderation(code: str | None) -> bool:
    """Whether a failure code is a moderation failure (``SAFETY.*``, ``INPUT_PREPROCESSING.SAFETY.*``)."""
    code = code or ""
    return code.startswith("SAFETY") or code.startswith("INPUT_PREPROCESSING.SAFETY")


def final_credits(task: Task, status: str) -> int:
    """Credits charged for a finished task: moderation failures are billed, other failures refunded."""
    if status == "SUCCEEDED" or (status == "FAILED" and is_moderation(task.failure_code)):
        return int(task.estimated_credits)
    return 0


class Wallet:
    """The organization's credit balance and today's generations per model.

    :param config: the live knobs (``credits`` is the starting balance, ``daily_limit`` the quota).
    """

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.balance: int = config.credits
        self.daily: dict[str, int] = {}

    def charge(self, model: str, credits: int) -> None:
        """Take a create's credits and count it; raises :class:`SimError` (429 quota, 400 no credits)."""
        if self.daily.get(model, 0) >= self.config.daily_limit:
            raise SimError(
                429,
                "You have exceeded the daily generation limit for this model.",
                code="rate_limit_exceeded",
            )
        if credits > self.balance:
            raise SimError(400, "You do not have enough credits to run this task.", code="insufficient_quota")
        self.balance -= credits
        self.daily[model] = self.daily.get(model, 0) + 1

    def refund(self, credits: float) -> None:
        """Give back a cancelled task's credits."""
        self.balance += int(credits)

    def organization(self) -> dict[str, Any]:
        """``GET /v1/organization`` body."""
        limit = self.config.concurrency or 10
        return {
            "creditBalance": max(0, int(self.balance)),
            "tier": {
                "maxMonthlyCreditSpend": 1_000_000,
                "models": {
                    model: {
                        "maxConcurrentGenerations": limit,
                        "maxDailyGenerations": self.config.daily_limit,
                    }
                    for model in TIER_MODELS
                },
            },
            "usage": {
                "models": {
                    model: {"dailyGenerations": count}
                    for model, count in self.daily.items()
                    if model in TIER_MODELS
                }
            },
        }
