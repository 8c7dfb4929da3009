"""The simulator's run-time knobs (:class:`SimConfig`), checked before any of them changes."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class SimConfig:
    """Run-time knobs; every field can be changed with :meth:`SimState.configure` or ``POST /_sim/config``.

    :param pending_seconds: time a new task spends PENDING (0 = none).
    :param running_seconds: time a task spends RUNNING once it has a slot (0 = finishes at once).
    :param concurrency: RUNNING slots; tasks beyond it are THROTTLED (0 = unlimited).
    :param output_ttl_seconds: lifetime of signed output URLs; an expired URL answers 403.
    :param output_size: byte size of every MP4 output (``None`` = the 3.8 KB sample); padded with a
        ``free`` box and streamed in constant memory.
    :param update_interval: tasks change state no more often than this (Runway: 5 s; 0 = continuously).
    :param task_not_exist_seconds: gateway: GETs this soon after create answer ``task_not_exist``.
    :param envelope_fraction: gateway: fraction of task GETs answered with the gateway envelope.
    :param envelope_while_queued: gateway: always use the envelope while PENDING or THROTTLED.
    :param envelope_inner: gateway: include the plain task as ``data.data`` in envelopes.
    :param envelope_time_format: gateway: ``"unix"`` (integers) or ``"string"`` (``+08:00`` offsets).
    :param envelope_queued_status: gateway: outer status while queued (``QUEUED``, ``SUBMITTED``, ``NOT_START``).
    :param envelope_inner_id: gateway: ``"upstream"`` gives the inner task Runway's own (different) id, as a
        relaying gateway would; ``"same"`` repeats the polled id.
    :param cancelled_get: what GET answers for a cancelled task: ``"CANCELLED"`` or ``"404"``.
    :param credits: starting credit balance of the organization.
    :param daily_limit: generations per model per day before creates answer 429.
    :param model_durations: per-model ``{"pending_seconds", "running_seconds"}`` overrides.
    :param upload_ttl_seconds: how long a ``runway://`` URI stays valid.
    :param outputs: ``"request"``: each output follows its request (size, length, file type, drawn from its
        input image or clip), rendered on first download with PyAV; ``"sample"``: every output is the
        shipped sample of its kind (a 1.5 s 160x96 MP4, a PNG, a WAV), as without PyAV.
    """

    pending_seconds: float = 0.0
    running_seconds: float = 0.0
    concurrency: int = 0
    output_ttl_seconds: float = 3600.0
    output_size: int | None = None
    update_interval: float = 0.0
    task_not_exist_seconds: float = 0.0
    envelope_fraction: float = 0.0
    envelope_while_queued: bool = False
    envelope_inner: bool = True
    envelope_time_format: str = "unix"
    envelope_queued_status: str = "QUEUED"
    envelope_inner_id: str = "upstream"
    cancelled_get: str = "CANCELLED"
    credits: int = 100_000
    daily_limit: int = 10_000
    model_durations: dict[str, dict[str, float]] = field(default_factory=dict)
    upload_ttl_seconds: float = 86_400.0
    outputs: str = "request"

    @classmethod
    def names(cls) -> list[str]:
        """Names of all knobs."""
        return [f.name for f in fields(cls)]

    def update(self, **changes: Any) -> None:
        """Apply ``changes`` after checking names and values; raises :class:`ValueError`."""
        unknown = sorted(set(changes) - set(self.names()))
        if unknown:
            raise ValueError(
                f"unknown config knob(s): {', '.join(unknown)}; known: {', '.join(self.names())}"
            )
        candidate = copy.deepcopy(self)
        for key, value in changes.items():
            setattr(candidate, key, value)
        candidate.check()
        for key in changes:
            setattr(self, key, getattr(candidate, key))

    def check(self) -> None:
        """Raise :class:`ValueError` when a knob holds an impossible value."""
        for name in ("pending_seconds", "running_seconds", "output_ttl_seconds", "update_interval"):
            if not isinstance(getattr(self, name), int | float) or getattr(self, name) < 0:
                raise ValueError(f"{name} must be a number >= 0")
        if not isinstance(self.concurrency, int) or self.concurrency < 0:
            raise ValueError("concurrency must be an integer >= 0")
        if self.output_size is not None and (not isinstance(self.output_size, int) or self.output_size < 0):
            raise ValueError("output_size must be null or an integer >= 0")
        if not 0.0 <= float(self.envelope_fraction) <= 1.0:
            raise ValueError("envelope_fraction must be between 0 and 1")
        if self.envelope_time_format not in ("unix", "string"):
            raise ValueError("envelope_time_format must be 'unix' or 'string'")
        if self.envelope_inner_id not in ("upstream", "same"):
            raise ValueError("envelope_inner_id must be 'upstream' or 'same'")
        if self.cancelled_get not in ("CANCELLED", "404"):
            raise ValueError("cancelled_get must be 'CANCELLED' or '404'")
        if self.outputs not in ("request", "sample"):
            raise ValueError("outputs must be 'request' or 'sample'")
        if not isinstance(self.model_durations, dict):
            raise ValueError("model_durations must be an object")
