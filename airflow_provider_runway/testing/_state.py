"""The simulator's model of the service: configuration, tasks on a lazy clock, faults and accounting.

Nothing here does I/O; :mod:`airflow_provider_runway.testing.simulator` turns HTTP requests into calls on
:class:`SimState` and its answers back into bytes. Every public method takes the state lock, so the in-process
:class:`~airflow_provider_runway.testing.simulator.Simulator` can be driven from the test thread while the
server thread answers requests.

A task's whole timeline is fixed when it is created (``pending_end``, ``run_start``, ``run_end``): its state at
any instant is computed from timestamps when somebody asks, so ten thousand tasks cost no timers. The
concurrency limit is a FIFO of ``concurrency`` slots: a task that leaves PENDING while every slot is busy is
THROTTLED until the earliest slot frees. (Cancelling a task does not pull later tasks forward.)
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import fnmatch
import hashlib
import heapq
import hmac
import math
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from airflow_provider_runway.testing import _media
from airflow_provider_runway.testing._schema import (
    Issue,
    check_asset,
    gateway_model_schemas,
    model_schemas,
    request_schema,
    validate_schema,
)

API_VERSION = "2024-11-06"
FLAVORS = ("gateway", "runway")
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
ACTIVE = frozenset({"PENDING", "THROTTLED", "RUNNING"})


@dataclass(frozen=True)
class SimEndpoint:
    """A create endpoint the simulator serves: what its outputs are, and whether the gateway has it."""

    output: str  # "video", "image" or "audio"
    gateway: bool = False


#: Every create endpoint served, one entry each: the runway flavor serves them all (validated with the
#: trimmed copy of Runway's spec), the gateway flavor those the CometAPI gateway documents.
ENDPOINTS: dict[str, SimEndpoint] = {
    "image_to_video": SimEndpoint("video", gateway=True),
    "video_to_video": SimEndpoint("video", gateway=True),
    "text_to_image": SimEndpoint("image", gateway=True),
    "video_upscale": SimEndpoint("video", gateway=True),
    "text_to_video": SimEndpoint("video"),
    "character_performance": SimEndpoint("video"),
    "video_to_hdr": SimEndpoint("video"),
    "image_upscale": SimEndpoint("image"),
    "sound_effect": SimEndpoint("audio"),
    "text_to_speech": SimEndpoint("audio"),
    "speech_to_speech": SimEndpoint("audio"),
    "voice_dubbing": SimEndpoint("audio"),
    "voice_isolation": SimEndpoint("audio"),
    "avatar_videos": SimEndpoint("video"),
    "generate/video": SimEndpoint("video"),
    "generate/image": SimEndpoint("image"),
    "generate/audio": SimEndpoint("audio"),
    "recipes/ad_localization": SimEndpoint("image"),
    "recipes/marketing_stock_image": SimEndpoint("image"),
    "recipes/product_ad": SimEndpoint("video"),
    "recipes/product_campaign_image": SimEndpoint("image"),
    "recipes/product_swap": SimEndpoint("video"),
    "recipes/multi_shot_video": SimEndpoint("video"),
    "recipes/product_ugc": SimEndpoint("video"),
}
GATEWAY_ENDPOINTS = tuple(name for name, endpoint in ENDPOINTS.items() if endpoint.gateway)
RUNWAY_ENDPOINTS = tuple(ENDPOINTS)
ACTIONS = {name: name.upper().replace("/", "_") for name in RUNWAY_ENDPOINTS}
OUTPUT_EXT = {"video": "mp4", "image": "png", "audio": "wav"}

#: Fault kinds and the parameters each one reads (besides ``path``, ``method``, ``times``, ``rate``).
FAULT_KINDS: dict[str, tuple[str, ...]] = {
    "rate_limit": ("retry_after", "message"),
    "http_error": ("status", "code", "message", "retry_after"),
    "reset": (),
    "hang": (),
    "slow": ("delay",),
    "malformed_json": ("status",),
    "html": ("status", "location"),
    "create_lost": ("mode",),
    "task_failed": ("failure_code", "failure"),
    "task_cancelled": (),
    "task_stuck_throttled": (),
    "timing": ("pending_seconds", "running_seconds"),
}
#: Kinds that answer instead of the service (the request is not processed).
REPLACING_KINDS = frozenset({"rate_limit", "http_error", "reset", "hang", "malformed_json", "html"})
#: Kinds that shape the task a create makes (they only match create requests).
CREATE_KINDS = frozenset({"task_failed", "task_cancelled", "task_stuck_throttled", "timing"})
#: Request groups a fault's ``path`` may name instead of a glob.
PATH_GROUPS = ("create", "tasks_get", "delete", "files", "organization", "uploads", "upload_post", "any")

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

#: Required fields per endpoint for the models the gateway flavor has no schema for (Runway direct refuses
#: a model its spec does not list; the gateway's model list is open).
GENERIC_REQUIRED = {
    "image_to_video": ("promptImage",),
    "video_to_video": ("promptText",),
    "text_to_image": ("promptText",),
    "video_upscale": ("videoUri",),
}
UPLOAD_MIN_BYTES = 512
UPLOAD_MAX_BYTES = 200 * 1024 * 1024
UPLOAD_EXTENSIONS = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "m4a": "audio/mp4",
}


class SimError(Exception):
    """An error answer: HTTP status, a message, optional validation issues and extra headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        issues: list[Issue] | None = None,
        code: str = "",
        headers: dict[str, str] | None = None,
        gateway_body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.issues = issues or []
        self.code = code
        self.headers = headers or {}
        self.gateway_body = gateway_body


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
        if not isinstance(self.model_durations, dict):
            raise ValueError("model_durations must be an object")


@dataclass
class Fault:
    """One injected fault. ``path`` is a request group (see ``PATH_GROUPS``) or a glob on the URL path."""

    id: int
    kind: str
    path: str = "any"
    method: str | None = None
    times: int | None = None
    rate: float = 1.0
    params: dict[str, Any] = field(default_factory=dict)
    fired: int = 0

    def matches(self, method: str, path: str, group: str) -> bool:
        """Whether this fault applies to a request (ignoring ``times`` and ``rate``)."""
        if self.method and self.method.upper() != method:
            return False
        if self.path in PATH_GROUPS:
            return self.path in ("any", group)
        return fnmatch.fnmatchcase(path, self.path)


@dataclass
class Task:
    """A task and its precomputed timeline (seconds since the epoch)."""

    id: str
    endpoint: str
    model: str
    body: dict[str, Any]
    created: float
    pending_end: float
    run_start: float
    run_end: float
    estimated_credits: float
    outcome: str = "SUCCEEDED"
    failure_code: str | None = None
    failure: str | None = None
    forced_at: float | None = None
    cancelled_at: float | None = None
    deleted: bool = False
    output_count: int = 1
    gets: int = 0
    last_seen: str | None = None

    @property
    def output_ext(self) -> str:
        """File extension of this task's outputs."""
        endpoint = ENDPOINTS.get(self.endpoint)
        return OUTPUT_EXT[endpoint.output] if endpoint else "mp4"


def iso(ts: float) -> str:
    """ISO 8601 UTC with milliseconds and ``Z``, the service's ``createdAt`` format."""
    moment = dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _short(value: Any) -> Any:
    """Copy of a request body with long strings (data URIs) abbreviated, for accounting."""
    if isinstance(value, str) and len(value) > 512:
        return f"{value[:64]}...<{len(value)} chars>"
    if isinstance(value, list):
        return [_short(item) for item in value]
    if isinstance(value, dict):
        return {key: _short(item) for key, item in value.items()}
    return value


class SimState:
    """Everything the simulator knows; thread-safe."""

    def __init__(self, flavor: str, *, api_key: str | None = None, seed: int = 0, **config: Any) -> None:
        if flavor not in FLAVORS:
            raise ValueError(f"flavor must be one of {FLAVORS}, not {flavor!r}")
        self.flavor = flavor
        self.api_key = api_key
        self.lock = threading.RLock()
        self._initial_config = SimConfig()
        self._initial_config.update(**config)
        self._seed = seed
        self._secret = hashlib.sha256(f"runway-simulator-{seed}".encode()).digest()
        self.clock = time.time
        self._reset_locked(seed)

    # ----------------------------------------------------------------------------------------- admin
    def _reset_locked(self, seed: int) -> None:
        self._seed = seed
        self.config = copy.deepcopy(self._initial_config)
        self.tasks: dict[str, Task] = {}
        self.faults: list[Fault] = []
        self._fault_ids = 0
        self._slots: list[float] = []
        self._fault_rng = random.Random(seed)
        self._id_rng = random.Random(seed + 1)
        self._envelope_rng = random.Random(seed + 2)
        self.credit_balance = self.config.credits
        self.daily: dict[str, int] = {}
        self.uploads: dict[str, dict[str, Any]] = {}
        self.acc_creates: list[dict[str, Any]] = []
        self.acc_cancels: list[dict[str, Any]] = []
        self.acc_downloads: list[dict[str, Any]] = []
        self.acc_uploads: list[dict[str, Any]] = []
        self.acc_faults: list[dict[str, Any]] = []
        self.acc_requests: deque[dict[str, Any]] = deque(maxlen=10_000)
        self.request_count = 0

    def reset(self, seed: int | None = None) -> None:
        """Forget tasks, uploads, faults and accounting; restore the start-up config; reseed."""
        with self.lock:
            self._reset_locked(self._seed if seed is None else seed)

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change knobs (see :class:`SimConfig`) and return the whole config."""
        with self.lock:
            old_concurrency = self.config.concurrency
            self.config.update(**changes)
            if "credits" in changes:
                self.credit_balance = self.config.credits
            if self.config.concurrency != old_concurrency:
                self._slots = []
            return asdict(self.config)

    def get_config(self) -> dict[str, Any]:
        """The current knobs."""
        with self.lock:
            return asdict(self.config)

    def add_fault(
        self,
        kind: str,
        *,
        path: str = "any",
        method: str | None = None,
        times: int | None = None,
        rate: float = 1.0,
        **params: Any,
    ) -> int:
        """Register a fault and return its id (see ``FAULT_KINDS`` for kinds and their parameters)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
        unknown = sorted(set(params) - set(FAULT_KINDS[kind]))
        if unknown:
            raise ValueError(f"fault {kind!r} takes {list(FAULT_KINDS[kind])}, not {unknown}")
        if times is not None and (not isinstance(times, int) or times < 0):
            raise ValueError("times must be null or an integer >= 0")
        if not 0.0 <= float(rate) <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        if kind in CREATE_KINDS and path == "any":
            path = "create"
        with self.lock:
            self._fault_ids += 1
            self.faults.append(
                Fault(
                    self._fault_ids,
                    kind,
                    path,
                    method.upper() if method else None,
                    times,
                    float(rate),
                    params,
                )
            )
            return self._fault_ids

    def clear_faults(self, fault_id: int | None = None) -> None:
        """Remove one fault, or all of them."""
        with self.lock:
            self.faults = [f for f in self.faults if fault_id is not None and f.id != fault_id]

    def list_faults(self) -> list[dict[str, Any]]:
        """The registered faults with how often each fired."""
        with self.lock:
            return [asdict(f) for f in self.faults]

    def pick_faults(self, method: str, path: str, group: str) -> list[Fault]:
        """Faults that fire for this request (consumes ``times``, draws ``rate`` from the seeded RNG)."""
        if not self.faults:
            return []
        fired: list[Fault] = []
        with self.lock:
            for fault in self.faults:
                if not fault.matches(method, path, group):
                    continue
                if fault.kind in CREATE_KINDS and group != "create":
                    continue
                if fault.times is not None and fault.fired >= fault.times:
                    continue
                if fault.rate < 1.0 and self._fault_rng.random() >= fault.rate:
                    continue
                fault.fired += 1
                fired.append(fault)
                self.acc_faults.append(
                    {"id": fault.id, "kind": fault.kind, "method": method, "path": path, "time": self.clock()}
                )
        return fired

    # ----------------------------------------------------------------------------------------- tasks
    def _new_id(self) -> str:
        return str(uuid.UUID(int=self._id_rng.getrandbits(128), version=4))

    def _durations(self, model: str, overrides: dict[str, Any]) -> tuple[float, float]:
        per_model = self.config.model_durations.get(model, {})
        pending = overrides.get(
            "pending_seconds", per_model.get("pending_seconds", self.config.pending_seconds)
        )
        running = overrides.get(
            "running_seconds", per_model.get("running_seconds", self.config.running_seconds)
        )
        return max(0.0, float(pending)), max(0.0, float(running))

    def estimate(self, endpoint: str, model: str, body: dict[str, Any]) -> int:
        """Credits a create costs (a rough price table; unknown models cost 10 credits per second)."""
        if endpoint == "text_to_image":
            count = body.get("outputCount", 1) if isinstance(body.get("outputCount"), int) else 1
            return CREDITS_PER_IMAGE.get(model, 5) * max(1, count)
        duration = body.get("duration")
        seconds = duration if isinstance(duration, int | float) and not isinstance(duration, bool) else 5
        return math.ceil(CREDITS_PER_SECOND.get(model, 10) * seconds)

    def create_task(
        self,
        endpoint: str,
        body: dict[str, Any],
        *,
        faults: Sequence[Fault] = (),
        overrides: dict[str, Any] | None = None,
    ) -> Task:
        """Validate a create body and make the task; raises :class:`SimError` for a rejected request."""
        with self.lock:
            issues = self.validate_create(endpoint, body)
            if issues:
                raise SimError(400, "Validation of body failed", issues=issues, code="invalid_request")
            # Recipes and the Model Router name no model: they are accounted under the endpoint.
            model = body["model"] if isinstance(body.get("model"), str) else endpoint
            credits = self.estimate(endpoint, model, body)
            if self.daily.get(model, 0) >= self.config.daily_limit:
                raise SimError(
                    429,
                    "You have exceeded the daily generation limit for this model.",
                    code="rate_limit_exceeded",
                )
            if credits > self.credit_balance:
                raise SimError(
                    400, "You do not have enough credits to run this task.", code="insufficient_quota"
                )
            self.credit_balance -= credits
            self.daily[model] = self.daily.get(model, 0) + 1
            timing = dict(overrides or {})
            outcome, failure_code, failure, stuck = "SUCCEEDED", None, None, False
            for fault in faults:
                if fault.kind == "timing":
                    timing.update(fault.params)
                elif fault.kind == "task_failed":
                    outcome = "FAILED"
                    failure_code = fault.params.get("failure_code", "INTERNAL")
                    failure = fault.params.get("failure", "An unexpected error occurred.")
                elif fault.kind == "task_cancelled":
                    outcome = "CANCELLED"
                elif fault.kind == "task_stuck_throttled":
                    stuck = True
            now = self.clock()
            pending, running = self._durations(model, timing)
            pending_end = now + pending
            if stuck:
                run_start = run_end = math.inf
            else:
                run_start = pending_end
                if self.config.concurrency > 0:
                    if len(self._slots) >= self.config.concurrency:
                        run_start = max(run_start, heapq.heappop(self._slots))
                    heapq.heappush(self._slots, run_start + running)
                run_end = run_start + running
            count = body.get("outputCount") if endpoint == "text_to_image" else 1
            task = Task(
                id=self._new_id(),
                endpoint=endpoint,
                model=model,
                body=body,
                created=now,
                pending_end=pending_end,
                run_start=run_start,
                run_end=run_end,
                estimated_credits=credits,
                outcome=outcome,
                failure_code=failure_code,
                failure=failure,
                output_count=count if isinstance(count, int) and 1 <= count <= 10 else 1,
            )
            self.tasks[task.id] = task
            self.acc_creates.append(
                {
                    "task_id": task.id,
                    "endpoint": endpoint,
                    "model": model,
                    "body": _short(body),
                    "time": now,
                    "estimated_credits": credits,
                    "response_lost": False,
                }
            )
            return task

    def mark_create_lost(self, task_id: str) -> None:
        """Record that the create response for ``task_id`` never reached the client."""
        with self.lock:
            for entry in self.acc_creates:
                if entry["task_id"] == task_id:
                    entry["response_lost"] = True

    def _effective_time(self, task: Task, now: float) -> float:
        step = self.config.update_interval
        if step <= 0:
            return now
        return task.created + math.floor((now - task.created) / step) * step

    def status_of(self, task: Task, now: float | None = None) -> tuple[str, float]:
        """``(status, progress)`` of a task at ``now`` (default: the clock)."""
        now = self.clock() if now is None else now
        if task.cancelled_at is not None and now >= task.cancelled_at:
            return "CANCELLED", 0.0
        if task.forced_at is not None and now >= task.forced_at:
            return task.outcome, 1.0
        t = self._effective_time(task, now)
        if t < task.pending_end:
            return "PENDING", 0.0
        if t < task.run_start:
            return "THROTTLED", 0.0
        if t < task.run_end:
            span = task.run_end - task.run_start
            return "RUNNING", round(min(0.99, max(0.0, (t - task.run_start) / span)), 4)
        if task.outcome == "THROTTLED":
            return "THROTTLED", 0.0
        return task.outcome, 1.0

    def final_credits(self, task: Task, status: str) -> int:
        """Credits charged for a finished task: moderation failures are billed, other failures refunded."""
        if status == "SUCCEEDED":
            return int(task.estimated_credits)
        code = task.failure_code or ""
        if status == "FAILED" and (
            code.startswith("SAFETY") or code.startswith("INPUT_PREPROCESSING.SAFETY")
        ):
            return int(task.estimated_credits)
        return 0

    def lookup(self, task_id: str) -> Task | None:
        """The task with this id unless it was deleted (or cancelled while cancelled tasks answer 404)."""
        task = self.tasks.get(task_id)
        if task is None or task.deleted:
            return None
        if task.cancelled_at is not None and self.config.cancelled_get == "404":
            return None
        return task

    def get_task(self, task_id: str) -> tuple[Task, str, float] | None:
        """Look a task up for a client GET, counting the GET; ``None`` when unknown or deleted."""
        with self.lock:
            task = self.lookup(task_id)
            if task is None:
                return None
            status, progress = self.status_of(task)
            task.gets += 1
            task.last_seen = status
            return task, status, progress

    def in_not_exist_window(self, task_id: str) -> bool:
        """Gateway: whether a GET for ``task_id`` falls inside the ``task_not_exist`` window."""
        with self.lock:
            task = self.tasks.get(task_id)
            if task is None:
                return True
            return self.clock() - task.created < self.config.task_not_exist_seconds

    def want_envelope(self, status: str) -> bool:
        """Gateway: whether this GET is answered with the envelope."""
        with self.lock:
            if self.config.envelope_while_queued and status in ("PENDING", "THROTTLED"):
                return True
            fraction = self.config.envelope_fraction
            return fraction > 0 and self._envelope_rng.random() < fraction

    def delete_task(self, task_id: str) -> str:
        """Cancel (active) or delete (finished) a task; returns ``"cancel"`` or ``"delete"``."""
        with self.lock:
            task = self.tasks.get(task_id)
            if task is None or task.deleted or task.cancelled_at is not None:
                raise SimError(404, "Task not found.", code="not_found")
            now = self.clock()
            status, _ = self.status_of(task, now)
            kind = "cancel" if status in ACTIVE else "delete"
            if kind == "cancel":
                task.cancelled_at = now
                self.credit_balance += int(task.estimated_credits)
            else:
                task.deleted = True
            self.acc_cancels.append({"task_id": task_id, "kind": kind, "status": status, "time": now})
            return kind

    def force_outcome(
        self,
        task_id: str,
        status: str,
        *,
        failure_code: str | None = None,
        failure: str | None = None,
        immediate: bool = True,
    ) -> dict[str, Any]:
        """Decide how a task ends: ``SUCCEEDED``, ``FAILED``, ``CANCELLED`` or ``THROTTLED`` (stuck).

        With ``immediate`` the task is terminal from now on; otherwise the outcome applies when its run ends.
        """
        if status not in ("SUCCEEDED", "FAILED", "CANCELLED", "THROTTLED"):
            raise ValueError("status must be SUCCEEDED, FAILED, CANCELLED or THROTTLED")
        with self.lock:
            task = self.tasks.get(task_id)
            if task is None:
                raise KeyError(task_id)
            task.outcome = status
            if status == "FAILED":
                task.failure_code = failure_code if failure_code is not None else "INTERNAL"
                task.failure = failure or "An unexpected error occurred."
            if status == "THROTTLED":
                now = self.clock()
                task.pending_end = min(task.pending_end, now)
                task.run_start = task.run_end = math.inf
                task.forced_at = None
            elif immediate:
                task.forced_at = self.clock()
            return self.describe(task)

    def describe(self, task: Task) -> dict[str, Any]:
        """Internal view of a task for ``GET /_sim/tasks``."""
        status, progress = self.status_of(task)
        return {
            "id": task.id,
            "endpoint": task.endpoint,
            "model": task.model,
            "status": "DELETED" if task.deleted else status,
            "progress": progress,
            "outcome": task.outcome,
            "failure_code": task.failure_code,
            "gets": task.gets,
            "last_seen": task.last_seen,
            "cancelled": task.cancelled_at is not None,
            "deleted": task.deleted,
            "created": task.created,
        }

    def list_tasks(self) -> list[dict[str, Any]]:
        """Internal view of every task."""
        with self.lock:
            return [self.describe(task) for task in self.tasks.values()]

    def task_info(self, task_id: str) -> dict[str, Any]:
        """Internal view of one task; raises :class:`KeyError`."""
        with self.lock:
            return self.describe(self.tasks[task_id])

    # ----------------------------------------------------------------------------------------- JSON
    def created_json(self, task: Task) -> dict[str, Any]:
        """Runway direct's answer to a create: the id and the estimate (under ``routing`` for the Model
        Router, which also says which model it chose; none at all for ``avatar_videos``)."""
        cost = {"credits": task.estimated_credits}
        if task.endpoint == "avatar_videos":
            return {"id": task.id}
        if not task.endpoint.startswith("generate/"):
            return {"id": task.id, "estimatedCost": cost}
        given = task.body.get("input")
        body_input: dict[str, Any] = given if isinstance(given, dict) else {}
        resolved: dict[str, Any] = {
            "generate/video": {
                "duration": body_input.get("duration", 5),
                "ratio": "1280:720",
                "resolution": "720p",
            },
            "generate/image": {"ratio": "1920:1080", "aspectRatio": "16:9", "resolution": "1k"},
            "generate/audio": {"type": body_input.get("type", "speech"), "voice": "default"},
        }[task.endpoint]
        return {
            "id": task.id,
            "routing": {
                "model": "sim_routed_model",
                "provider": "runway",
                "configId": str(task.body.get("configId", "")),
                "resolvedSettings": {"optimizeFor": "quality", "priceCeiling": None},
                "resolvedInput": resolved,
                "estimatedCost": cost,
            },
        }

    def task_json(self, task: Task, status: str, progress: float, root: str) -> dict[str, Any]:
        """The plain task as the flavor's ``GET /v1/tasks/{id}`` returns it."""
        out: dict[str, Any] = {"id": task.id, "status": status, "createdAt": iso(task.created)}
        runway = self.flavor == "runway"
        if status == "RUNNING":
            out["progress"] = progress
        if status in ACTIVE:
            if runway:
                out["estimatedCost"] = {"credits": task.estimated_credits}
            return out
        if status == "SUCCEEDED":
            out["output"] = self.output_urls(task, root)
        elif status == "FAILED":
            out["failure"] = task.failure or "An unexpected error occurred."
            if task.failure_code:
                out["failureCode"] = task.failure_code
        if runway:
            out["cost"] = {"credits": self.final_credits(task, status)}
        return out

    def envelope_json(
        self, task: Task, plain: dict[str, Any], status: str, progress: float
    ) -> dict[str, Any]:
        """The gateway's envelope around a task."""
        outer = {
            "PENDING": self.config.envelope_queued_status,
            "THROTTLED": "QUEUED",
            "RUNNING": "IN_PROGRESS",
            "SUCCEEDED": "SUCCESS",
            "FAILED": "FAILURE",
            "CANCELLED": "FAILURE",
        }.get(status, "UNKNOWN")
        now = self.clock()
        start = task.run_start if task.run_start <= now else None
        finish = task.run_end if status in TERMINAL and task.run_end <= now else None
        if status in TERMINAL and finish is None:
            finish = task.forced_at or task.cancelled_at or now
        fail_reason = ""
        if status == "FAILED":
            fail_reason = task.failure or "generation failed"
        elif status == "CANCELLED":
            fail_reason = "task cancelled"
        percent = {"SUCCEEDED": 100, "FAILED": 100, "CANCELLED": 100}.get(status, int(progress * 100))
        data: dict[str, Any] = {
            "task_id": task.id,
            "action": ACTIONS.get(task.endpoint, task.endpoint.upper()),
            "status": outer,
            "fail_reason": fail_reason,
            "submit_time": self._gateway_time(task.created),
            "start_time": self._gateway_time(start),
            "finish_time": self._gateway_time(finish),
            "progress": f"{percent}%",
            "result_url": (plain.get("output") or [""])[0],
        }
        if self.config.envelope_inner:
            inner = dict(plain)
            if self.config.envelope_inner_id == "upstream":
                inner["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"runway-upstream/{task.id}"))
            data["data"] = inner
        return {"code": "success", "message": "", "data": data}

    def _gateway_time(self, ts: float | None) -> int | str | None:
        if self.config.envelope_time_format == "unix":
            return int(ts) if ts is not None else 0
        if ts is None:
            return None
        zone = dt.timezone(dt.timedelta(hours=8))
        return dt.datetime.fromtimestamp(ts, tz=zone).isoformat(timespec="seconds")

    # ----------------------------------------------------------------------------------------- files
    def sign(self, message: str) -> str:
        """HMAC signature used in output URLs and upload policies."""
        return hmac.new(self._secret, message.encode(), hashlib.sha256).hexdigest()[:40]

    def output_urls(self, task: Task, root: str) -> list[str]:
        """Fresh signed output URLs for a succeeded task."""
        expires = math.ceil(self.clock() + self.config.output_ttl_seconds)
        urls = []
        for index in range(task.output_count):
            name = f"{task.id}/{index}.{task.output_ext}"
            urls.append(f"{root}/_files/{name}?Expires={expires}&Signature={self.sign(f'{name}:{expires}')}")
        return urls

    def open_file(self, name: str, query: dict[str, str], method: str) -> tuple[Task, str, int]:
        """Check a file request; returns ``(task, content_type, size)`` or raises :class:`SimError`."""
        with self.lock:
            task_id, _, filename = name.partition("/")
            index_text, _, ext = filename.partition(".")
            task = self.tasks.get(task_id)
            ok_name = task is not None and index_text.isdigit() and ext == task.output_ext
            if task is None or task.deleted or not ok_name or int(index_text) >= task.output_count:
                self._download(task_id, name, 404, 0, method)
                raise SimError(404, "NoSuchKey", code="NoSuchKey")
            if self.status_of(task)[0] != "SUCCEEDED":
                self._download(task_id, name, 404, 0, method)
                raise SimError(404, "NoSuchKey", code="NoSuchKey")
            expires_text = query.get("Expires", "")
            signature = query.get("Signature", "")
            valid = expires_text.isdigit() and hmac.compare_digest(
                signature, self.sign(f"{name}:{expires_text}")
            )
            if not valid:
                self._download(task_id, name, 403, 0, method)
                raise SimError(403, "SignatureDoesNotMatch", code="SignatureDoesNotMatch")
            if int(expires_text) < self.clock():
                self._download(task_id, name, 403, 0, method)
                raise SimError(403, "Request has expired", code="AccessDenied")
            if ext == "png":
                return task, "image/png", len(_media.sample_png())
            if ext == "wav":
                return task, "audio/wav", len(_media.sample_wav())
            return task, "video/mp4", _media.mp4_size(self.config.output_size)

    def _download(self, task_id: str, name: str, status: int, size: int, method: str) -> None:
        self.acc_downloads.append(
            {"task_id": task_id, "file": name, "status": status, "bytes": size, "method": method}
        )

    def record_download(self, task_id: str, name: str, status: int, size: int, method: str) -> None:
        """Account one served (or refused) output download."""
        with self.lock:
            self._download(task_id, name, status, size, method)

    # ----------------------------------------------------------------------------------------- uploads
    def create_upload(self, body: Any, root: str) -> dict[str, Any]:
        """First step of an upload: validate ``{filename, type}`` and hand out the presigned form."""
        issues: list[Issue] = []
        if not isinstance(body, dict):
            raise SimError(
                400, "Validation of body failed", issues=[Issue("invalid_type", (), "Expected object")]
            )
        filename = body.get("filename")
        if not isinstance(filename, str):
            issues.append(
                Issue("invalid_type", ("filename",), "Required" if filename is None else "Expected string")
            )
        elif not 3 <= len(filename) <= 255:
            issues.append(
                Issue("too_big", ("filename",), "String must contain between 3 and 255 character(s)")
            )
        elif filename.rsplit(".", 1)[-1].lower() not in UPLOAD_EXTENSIONS or "." not in filename:
            issues.append(Issue("custom", ("filename",), "Unsupported file extension"))
        if body.get("type") != "ephemeral":
            issues.append(Issue("invalid_enum_value", ("type",), "Invalid enum value. Expected 'ephemeral'"))
        if issues:
            raise SimError(400, "Validation of body failed", issues=issues)
        with self.lock:
            upload_id = self._new_id()
            key = f"uploads/{upload_id}/{filename}"
            policy = base64.b64encode(f'{{"key":"{key}","max":{UPLOAD_MAX_BYTES}}}'.encode()).decode()
            assert isinstance(filename, str)
            self.uploads[upload_id] = {
                "id": upload_id,
                "filename": filename,
                "key": key,
                "created": self.clock(),
                "size": None,
                "done": False,
            }
            return {
                "uploadUrl": f"{root}/_uploads/{upload_id}",
                "fields": {
                    "key": key,
                    "Content-Type": UPLOAD_EXTENSIONS[filename.rsplit(".", 1)[-1].lower()],
                    "policy": policy,
                    "x-amz-signature": self.sign(policy),
                },
                "runwayUri": f"runway://{upload_id}",
            }

    def finish_upload(self, upload_id: str, fields_seen: dict[str, str], size: int) -> None:
        """Second step: the multipart POST arrived with a file of ``size`` bytes; raises :class:`SimError`."""
        with self.lock:
            upload = self.uploads.get(upload_id)
            entry = {"upload_id": upload_id, "size": size, "status": 204, "filename": None}
            self.acc_uploads.append(entry)
            if upload is None:
                entry["status"] = 404
                raise SimError(404, "NoSuchUpload", code="NoSuchUpload")
            entry["filename"] = upload["filename"]
            if fields_seen.get("key") != upload["key"] or fields_seen.get("policy") is None:
                entry["status"] = 403
                raise SimError(
                    403, "Invalid according to Policy: Policy Condition failed", code="AccessDenied"
                )
            if size < UPLOAD_MIN_BYTES:
                entry["status"] = 400
                raise SimError(
                    400,
                    "Your proposed upload is smaller than the minimum allowed size",
                    code="EntityTooSmall",
                )
            if size > UPLOAD_MAX_BYTES:
                entry["status"] = 400
                raise SimError(
                    400, "Your proposed upload exceeds the maximum allowed size", code="EntityTooLarge"
                )
            upload["size"] = size
            upload["done"] = True

    def upload_exists(self, uri: str) -> bool:
        """Whether a ``runway://`` URI names a finished, unexpired upload."""
        upload = self.uploads.get(uri[len("runway://") :])
        if upload is None or not upload["done"]:
            return False
        return bool(self.clock() - upload["created"] < self.config.upload_ttl_seconds)

    # ----------------------------------------------------------------------------------------- validation
    def validate_create(self, endpoint: str, body: Any) -> list[Issue]:
        """All issues with a create body: the model's schema from Runway's spec (and, in the gateway flavor,
        the gateway's own models), then the rules that hold for every model."""
        if not isinstance(body, dict):
            return [Issue("invalid_type", (), f"Expected object, received {type(body).__name__}")]
        listed = model_schemas(endpoint)
        own = gateway_model_schemas(endpoint) if self.flavor == "gateway" else {}
        issues: list[Issue] = []
        if listed or own:  # a union keyed on model
            model = body.get("model")
            if not isinstance(model, str) or not model:
                return [Issue("invalid_type", ("model",), "Required" if model is None else "Expected string")]
            schema = listed.get(model) or own.get(model)
            if schema is not None:
                issues.extend(validate_schema(schema, body))
            elif self.flavor == "runway":
                expected = " | ".join(f"'{name}'" for name in listed)
                return [
                    Issue(
                        "invalid_union_discriminator",
                        ("model",),
                        f"Invalid discriminator value. Expected {expected}",
                    )
                ]
            else:
                issues.extend(self._generic_checks(endpoint, body))
        elif (whole := request_schema(endpoint)) is not None:  # recipes, the Model Router
            issues.extend(validate_schema(whole, body))
        else:
            issues.extend(self._generic_checks(endpoint, body))
        flagged = {issue.path for issue in issues}
        for path, kind, value in _asset_fields(body):
            if any(path[: len(bad)] == bad for bad in flagged if bad):
                continue
            issues.extend(check_asset(value, kind, path, self.upload_exists))
        return issues

    def _generic_checks(self, endpoint: str, body: dict[str, Any]) -> list[Issue]:
        """The gateway flavor's checks of a model it has no schema for: what holds for every model."""
        issues: list[Issue] = []
        for name in GENERIC_REQUIRED.get(endpoint, ()):
            if name not in body:
                issues.append(Issue("invalid_type", (name,), "Required"))
        if endpoint == "video_to_video" and "videoUri" not in body and "promptVideo" not in body:
            issues.append(Issue("invalid_type", ("videoUri",), "Required"))
        text = body.get("promptText")
        if text is not None:
            issues.extend(
                validate_schema({"type": "string", "minLength": 1, "maxLength": 1000}, text, ("promptText",))
            )
        if "seed" in body:
            issues.extend(
                validate_schema(
                    {"type": "integer", "minimum": 0, "maximum": 4294967295}, body["seed"], ("seed",)
                )
            )
        if "duration" in body:
            issues.extend(
                validate_schema({"type": "number", "exclusiveMinimum": 0}, body["duration"], ("duration",))
            )
        for name, kind in (("ratio", "string"), ("watermark", "boolean"), ("contentModeration", "object")):
            if name in body:
                issues.extend(validate_schema({"type": kind}, body[name], (name,)))
        if "contentModeration" in body and isinstance(body["contentModeration"], dict):
            threshold = body["contentModeration"].get("publicFigureThreshold")
            if threshold is not None:
                issues.extend(
                    validate_schema(
                        {"type": "string", "enum": ["auto", "low"]},
                        threshold,
                        ("contentModeration", "publicFigureThreshold"),
                    )
                )
        prompt_image = body.get("promptImage")
        if isinstance(prompt_image, list):
            if not prompt_image:
                issues.append(
                    Issue("too_small", ("promptImage",), "Array must contain at least 1 element(s)")
                )
            for index, item in enumerate(prompt_image):
                item_schema = {
                    "type": "object",
                    "required": ["uri", "position"],
                    "properties": {"position": {"type": "string", "enum": ["first", "last"]}},
                }
                issues.extend(validate_schema(item_schema, item, ("promptImage", index)))
        elif prompt_image is not None and not isinstance(prompt_image, str):
            issues.append(
                Issue("invalid_union", ("promptImage",), "Expected a URI string or a list of {uri, position}")
            )
        return issues

    # ----------------------------------------------------------------------------------------- accounting
    def organization(self) -> dict[str, Any]:
        """``GET /v1/organization`` body."""
        with self.lock:
            limit = self.config.concurrency or 10
            return {
                "creditBalance": max(0, int(self.credit_balance)),
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

    def terminal_at(self, task: Task) -> float:
        """The first moment at which :meth:`status_of` calls ``task`` terminal (``inf``: not foreseeable).

        The earliest of its cancel, an immediate forced outcome, and the natural end of its run (rounded up
        to the ``update_interval`` grid, as :meth:`_effective_time` rounds down). A stuck task never ends.
        """
        ends = []
        with self.lock:
            if task.cancelled_at is not None:
                ends.append(task.cancelled_at)
            if task.outcome in TERMINAL:
                if task.forced_at is not None:
                    ends.append(task.forced_at)
                if math.isfinite(task.run_end):
                    natural = task.run_end
                    step = self.config.update_interval
                    if step > 0:
                        natural = task.created + math.ceil((task.run_end - task.created) / step) * step
                    ends.append(natural)
        return min(ends, default=math.inf)

    def peak_in_flight(self) -> int:
        """The most tasks that were created and not yet terminal at one moment, over the whole run.

        Each task is in flight on ``[created, terminal_at)``; a task that was already terminal when it was
        created never counts. At one instant, tasks ending there leave before tasks created there arrive.
        """
        events: list[tuple[float, int]] = []
        with self.lock:
            for task in self.tasks.values():
                end = self.terminal_at(task)
                if end > task.created:
                    events += [(task.created, 1), (end, -1)]
        peak = current = 0
        for _, delta in sorted(events):
            current += delta
            peak = max(peak, current)
        return peak

    def accounting(self) -> dict[str, Any]:
        """What clients did: creates, GETs per task, cancels/deletes, downloads, uploads, faults, orphans."""
        with self.lock:
            now = self.clock()
            statuses = {task.id: self.status_of(task, now)[0] for task in self.tasks.values()}
            orphans = [
                task_id
                for task_id, status in statuses.items()
                if status in ACTIVE and self.tasks[task_id].cancelled_at is None
            ]
            unobserved = [
                task.id
                for task in self.tasks.values()
                if not task.deleted and task.cancelled_at is None and task.last_seen not in TERMINAL
            ]
            return {
                "creates": copy.deepcopy(self.acc_creates),
                "gets": {task.id: task.gets for task in self.tasks.values()},
                "cancels": list(self.acc_cancels),
                "downloads": list(self.acc_downloads),
                "uploads": list(self.acc_uploads),
                "faults_fired": list(self.acc_faults),
                "requests": list(self.acc_requests),
                "request_count": self.request_count,
                "statuses": {
                    task_id: ("DELETED" if self.tasks[task_id].deleted else status)
                    for task_id, status in statuses.items()
                },
                "orphans": orphans,
                "unobserved": unobserved,
                "peak_in_flight": self.peak_in_flight(),
                "credit_balance": self.credit_balance,
            }

    def record_request(self, method: str, path: str, status: int, fault: str | None) -> None:
        """Append one line to the request log (the last 10,000 are kept)."""
        with self.lock:
            self.request_count += 1
            self.acc_requests.append({"method": method, "path": path, "status": status, "fault": fault})


#: Body fields that are an input URI themselves (besides ``uri`` and any ``...Uri``).
ASSET_KEYS = frozenset({"promptImage", "promptVideo", "audio"})
#: Body fields that are a list of bare input URIs.
ASSET_LIST_KEYS = frozenset({"referenceAudios"})


def _kind_of_key(key: str) -> str | None:
    lowered = key.lower()
    for word, kind in (("video", "video"), ("audio", "audio"), ("image", "image"), ("frame", "image")):
        if word in lowered:
            return kind
    return None


def _asset_fields(body: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str, Any]]:
    """Every input URI in a create body as ``(path, kind, value)``: ``uri``, ``*Uri`` and the fields that are
    URIs themselves, at any depth; the kind from the field's name, the enclosing ``type``, or ``image``."""
    found: list[tuple[tuple[str | int, ...], str, Any]] = []

    def walk(node: Any, path: tuple[str | int, ...], hint: str | None) -> None:
        if isinstance(node, dict):
            typed = node.get("type") if node.get("type") in ("image", "video", "audio") else None
            for key, value in node.items():
                kind = typed or _kind_of_key(key) or hint
                if key == "uri" or key.endswith("Uri") or (key in ASSET_KEYS and isinstance(value, str)):
                    found.append(((*path, key), kind or "image", value))
                elif key in ASSET_LIST_KEYS and isinstance(value, list):
                    for index, item in enumerate(value):
                        if isinstance(item, str):  # sound_effect's bare URIs (generate/audio's are {uri})
                            found.append(((*path, key, index), kind or "image", item))
                        else:
                            walk(item, (*path, key, index), kind)
                else:
                    walk(value, (*path, key), kind)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, (*path, index), hint)

    walk(body, (), None)
    return found
