"""The simulator's model of the service: :class:`SimState`, the one thread-safe door to its rooms.

Nothing here does I/O; :mod:`airflow_provider_runway.testing._routes` turns HTTP requests into calls on
:class:`SimState` and its answers back into bytes. Every public method takes the state lock, so the in-process
:class:`~airflow_provider_runway.testing.simulator.Simulator` can be driven from the test thread while the
server thread answers requests. The rooms behind it, one concern each, neither lock nor read the clock:

========================  =========================================================================
``_config.py``            the knobs (:class:`SimConfig`)
``_endpoints.py``         flavors and the create endpoints each serves
``_tasks.py``             the task store, its timeline and "status at an instant"
``_faults.py``            the fault catalogue, which faults fire, what each one does
``_billing.py``           prices, charges and refunds, the organization's balance
``_accounting.py``        what clients did (``GET /_sim/accounting``)
``_validation.py``        create bodies, upload requests and task ids against the contract
``_uploads.py``           presigned uploads and ``runway://`` URIs
``_files.py``             signed output URLs and their bytes
``_outputs.py``           what each output holds (rendered for its request, cached), or the samples
``_shapes.py``            each flavor's wire shapes (tasks, envelope, errors)
========================  =========================================================================
"""

from __future__ import annotations

import copy
import random
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from airflow_provider_runway.testing._accounting import Ledger, peak_in_flight
from airflow_provider_runway.testing._accounting import short as _short
from airflow_provider_runway.testing._billing import (
    CREDITS_PER_IMAGE,
    CREDITS_PER_SECOND,
    TIER_MODELS,
    Wallet,
    estimate,
    final_credits,
)
from airflow_provider_runway.testing._config import SimConfig
from airflow_provider_runway.testing._endpoints import (
    ACTIONS,
    API_VERSION,
    ENDPOINTS,
    FLAVORS,
    GATEWAY_ENDPOINTS,
    OUTPUT_EXT,
    RUNWAY_ENDPOINTS,
    SimEndpoint,
)
from airflow_provider_runway.testing._errors import SimError
from airflow_provider_runway.testing._faults import (
    CREATE_KINDS,
    FAULT_KINDS,
    PATH_GROUPS,
    REPLACING_KINDS,
    Fault,
    FaultBook,
    task_shape,
)
from airflow_provider_runway.testing._files import Signer, check_file, file_index, output_urls
from airflow_provider_runway.testing._outputs import OutputCache, output_bytes, output_ext
from airflow_provider_runway.testing._shapes import created_body as _created_body
from airflow_provider_runway.testing._shapes import envelope_body, iso, task_body
from airflow_provider_runway.testing._tasks import ACTIVE, QUEUED, TERMINAL, Task, TaskStore
from airflow_provider_runway.testing._uploads import (
    UPLOAD_EXTENSIONS,
    UPLOAD_MAX_BYTES,
    UPLOAD_MIN_BYTES,
    UploadStore,
)
from airflow_provider_runway.testing._validation import (
    ASSET_KEYS,
    ASSET_LIST_KEYS,
    GENERIC_REQUIRED,
    _kind_of_key,
    check_upload_request,
    validate_create,
)
from airflow_provider_runway.testing._validation import asset_fields as _asset_fields

# Names this module held before it was split into rooms; importable here still.
__all__ = [
    "ACTIONS",
    "ACTIVE",
    "API_VERSION",
    "ASSET_KEYS",
    "ASSET_LIST_KEYS",
    "CREATE_KINDS",
    "CREDITS_PER_IMAGE",
    "CREDITS_PER_SECOND",
    "ENDPOINTS",
    "FAULT_KINDS",
    "FLAVORS",
    "GATEWAY_ENDPOINTS",
    "GENERIC_REQUIRED",
    "OUTPUT_EXT",
    "PATH_GROUPS",
    "REPLACING_KINDS",
    "RUNWAY_ENDPOINTS",
    "TERMINAL",
    "TIER_MODELS",
    "UPLOAD_EXTENSIONS",
    "UPLOAD_MAX_BYTES",
    "UPLOAD_MIN_BYTES",
    "Fault",
    "SimConfig",
    "SimEndpoint",
    "SimError",
    "SimState",
    "Task",
    "_asset_fields",
    "_kind_of_key",
    "_short",
    "iso",
]


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
        self._initial_faults: list[Fault] = []
        self._seed = seed
        self._signer = Signer(seed)
        self.clock = time.time
        #: Rendered outputs, by request: kept across resets (the same request renders the same bytes).
        self.outputs = OutputCache()
        self._reset_locked(seed)

    # ----------------------------------------------------------------------------------------- admin
    def _reset_locked(self, seed: int) -> None:
        self._seed = seed
        self.config = copy.deepcopy(self._initial_config)
        self._tasks = TaskStore(self.config)
        self._faults = FaultBook(seed, self._initial_faults)
        self._id_rng = random.Random(seed + 1)
        self._envelope_rng = random.Random(seed + 2)
        self._wallet = Wallet(self.config)
        self._uploads = UploadStore()
        self.ledger = Ledger()

    def reset(self, seed: int | None = None) -> None:
        """Forget tasks, uploads, faults and accounting; restore the start-up config; reseed."""
        with self.lock:
            self._reset_locked(self._seed if seed is None else seed)

    def keep_faults_on_reset(self) -> None:
        """Make the faults registered now start-up faults: a reset restores them (``fired`` at 0)."""
        with self.lock:
            self._initial_faults = list(self._faults.faults)

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change knobs (see :class:`SimConfig`) and return the whole config."""
        with self.lock:
            old_concurrency = self.config.concurrency
            self.config.update(**changes)
            if "credits" in changes:
                self._wallet.balance = self.config.credits
            if self.config.concurrency != old_concurrency:
                self._tasks.slots = []
            return asdict(self.config)

    def get_config(self) -> dict[str, Any]:
        """The current knobs."""
        with self.lock:
            return asdict(self.config)

    @property
    def tasks(self) -> dict[str, Task]:
        """Every task by id (deleted ones included)."""
        return self._tasks.tasks

    @property
    def faults(self) -> list[Fault]:
        """The registered faults."""
        return self._faults.faults

    @property
    def credit_balance(self) -> int:
        """The organization's credits."""
        return self._wallet.balance

    # ----------------------------------------------------------------------------------------- faults
    def add_fault(self, kind: str, **options: Any) -> int:
        """Register a fault and return its id: ``path``, ``method``, ``times``, ``rate`` and the kind's
        parameters (see ``FAULT_KINDS`` and :class:`~airflow_provider_runway.testing._faults.Fault`)."""
        with self.lock:
            return self._faults.add(kind, **options)

    def clear_faults(self, fault_id: int | None = None) -> None:
        """Remove one fault, or all of them."""
        with self.lock:
            self._faults.clear(fault_id)

    def list_faults(self) -> list[dict[str, Any]]:
        """The registered faults with how often each fired."""
        with self.lock:
            return self._faults.listing()

    def pick_faults(self, method: str, path: str, group: str) -> list[Fault]:
        """Faults that fire for this request (consumes ``times``, draws ``rate`` from the seeded RNG)."""
        if not self._faults.faults:
            return []
        with self.lock:
            fired = self._faults.pick(method, path, group)
            for fault in fired:
                self.ledger.fault(fault.id, fault.kind, method, path, self.clock())
        return fired

    # ----------------------------------------------------------------------------------------- tasks
    def _new_id(self) -> str:
        return str(uuid.UUID(int=self._id_rng.getrandbits(128), version=4))

    def create_task(
        self,
        endpoint: str,
        body: dict[str, Any],
        *,
        faults: Sequence[Fault] = (),
        overrides: dict[str, Any] | None = None,
    ) -> Task:
        """Validate a create body, charge it and make the task; raises :class:`SimError` when refused."""
        with self.lock:
            issues = validate_create(self.flavor, endpoint, body, self.upload_exists)
            if issues:
                raise SimError(400, "Validation of body failed", issues=issues, code="invalid_request")
            # Recipes and the Model Router name no model: they are accounted under the endpoint.
            model = body["model"] if isinstance(body.get("model"), str) else endpoint
            credits = estimate(endpoint, model, body)
            self._wallet.charge(model, credits)
            shape = task_shape(faults, overrides)
            task = self._tasks.add(
                self._new_id(), endpoint, model, body, now=self.clock(), credits=credits, shape=shape
            )
            self.ledger.create(task)
            return task

    def mark_create_lost(self, task_id: str) -> None:
        """Record that the create response for ``task_id`` never reached the client."""
        with self.lock:
            self.ledger.create_lost(task_id)

    def status_of(self, task: Task, now: float | None = None) -> tuple[str, float]:
        """``(status, progress)`` of a task at ``now`` (default: the clock)."""
        return self._tasks.status_of(task, self.clock() if now is None else now)

    def terminal_at(self, task: Task) -> float:
        """The first moment at which :meth:`status_of` calls ``task`` terminal (``inf``: not foreseeable)."""
        with self.lock:
            return self._tasks.terminal_at(task)

    def lookup(self, task_id: str) -> Task | None:
        """The task with this id unless it was deleted (or cancelled while cancelled tasks answer 404)."""
        return self._tasks.lookup(task_id)

    def get_task(self, task_id: str) -> tuple[Task, str, float] | None:
        """Look a task up for a client GET, counting the GET; ``None`` when unknown or deleted."""
        with self.lock:
            return self._tasks.observe(task_id, self.clock())

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
            if self.config.envelope_while_queued and status in QUEUED:
                return True
            fraction = self.config.envelope_fraction
            return fraction > 0 and self._envelope_rng.random() < fraction

    def delete_task(self, task_id: str) -> str:
        """Cancel (active, credits refunded) or delete (finished) a task; returns ``"cancel"`` or ``"delete"``."""
        with self.lock:
            now = self.clock()
            task, kind, status = self._tasks.delete(task_id, now)
            if kind == "cancel":
                self._wallet.refund(task.estimated_credits)
            self.ledger.cancel(task_id, kind, status, now)
            return kind

    def force_outcome(self, task_id: str, status: str, **how: Any) -> dict[str, Any]:
        """Decide how a task ends: ``SUCCEEDED``, ``FAILED``, ``CANCELLED`` or ``THROTTLED`` (stuck); ``how`` is
        ``failure_code``, ``failure`` and ``immediate`` (see
        :meth:`~airflow_provider_runway.testing._controls.ControlMethods.force_outcome`).

        With ``immediate`` (the default) the task is terminal from now on; otherwise the outcome applies when
        its run ends. Raises :class:`ValueError` for another status, :class:`KeyError` for an unknown task.
        """
        with self.lock:
            return self.describe(self._tasks.force(task_id, status, now=self.clock(), **how))

    def describe(self, task: Task) -> dict[str, Any]:
        """Internal view of a task for ``GET /_sim/tasks``."""
        return self._tasks.describe(task, self.clock())

    def list_tasks(self) -> list[dict[str, Any]]:
        """Internal view of every task."""
        with self.lock:
            return [self.describe(task) for task in self.tasks.values()]

    def task_info(self, task_id: str) -> dict[str, Any]:
        """Internal view of one task; raises :class:`KeyError`."""
        with self.lock:
            return self.describe(self.tasks[task_id])

    # ----------------------------------------------------------------------------------------- wire
    def created_json(self, task: Task) -> dict[str, Any]:
        """The flavor's answer to a create."""
        return _created_body(self.flavor, task)

    def task_json(self, task: Task, status: str, progress: float, root: str) -> dict[str, Any]:
        """The plain task as the flavor's ``GET /v1/tasks/{id}`` returns it."""
        output = self.output_urls(task, root) if status == "SUCCEEDED" else []
        cost = final_credits(task, status)
        return task_body(self.flavor, task, status, progress, output=output, cost=cost)

    def envelope_json(
        self, task: Task, plain: dict[str, Any], status: str, progress: float
    ) -> dict[str, Any]:
        """The gateway's envelope around a task."""
        return envelope_body(self.config, task, plain, status, progress, self.clock())

    def estimate(self, endpoint: str, model: str, body: dict[str, Any]) -> int:
        """Credits a create costs."""
        return estimate(endpoint, model, body)

    def final_credits(self, task: Task, status: str) -> int:
        """Credits charged for a finished task: moderation failures are billed, other failures refunded."""
        return final_credits(task, status)

    def organization(self) -> dict[str, Any]:
        """``GET /v1/organization`` body."""
        with self.lock:
            return self._wallet.organization()

    # ----------------------------------------------------------------------------------------- files
    def sign(self, message: str) -> str:
        """HMAC signature used in output URLs and upload policies."""
        return self._signer.sign(message)

    def output_ext(self, task: Task) -> str:
        """The extension of a task's outputs: what its request asks for, or the sample's."""
        return output_ext(task.endpoint, task.body, self.config.outputs)

    def output_urls(self, task: Task, root: str) -> list[str]:
        """Fresh signed output URLs for a succeeded task."""
        return output_urls(
            task,
            root,
            now=self.clock(),
            ttl=self.config.output_ttl_seconds,
            signer=self._signer,
            ext=self.output_ext(task),
        )

    def open_file(self, name: str, query: dict[str, str], method: str) -> tuple[Task, str]:
        """Check a file request; returns ``(task, content_type)`` or raises :class:`SimError`."""
        with self.lock:
            task_id = name.partition("/")[0]
            task = self.tasks.get(task_id)
            succeeded = task is not None and self.status_of(task)[0] == "SUCCEEDED"
            try:
                content_type = check_file(
                    task,
                    name,
                    query,
                    succeeded=succeeded,
                    now=self.clock(),
                    signer=self._signer,
                    ext=self.output_ext(task) if task is not None else None,
                )
            except SimError as exc:
                self.ledger.download(task_id, name, exc.status, 0, method)
                raise
            assert task is not None
            return task, content_type

    def file_bytes(self, task: Task, name: str) -> bytes:
        """The content of a checked output file (see :meth:`open_file`): rendered for its request on first
        download and cached, without the state lock; call it off the server's loop, it may take a second."""
        with self.lock:
            mode = self.config.outputs
        return output_bytes(self.outputs, task.endpoint, task.body, file_index(name), mode)

    def record_download(self, task_id: str, name: str, status: int, size: int, method: str) -> None:
        """Account one served (or refused) output download."""
        with self.lock:
            self.ledger.download(task_id, name, status, size, method)

    # ----------------------------------------------------------------------------------------- uploads
    def create_upload(self, body: Any, root: str) -> dict[str, Any]:
        """First step of an upload: validate ``{filename, type}`` and hand out the presigned form."""
        filename = check_upload_request(body)
        with self.lock:
            return self._uploads.open(self._new_id(), filename, now=self.clock(), root=root, sign=self.sign)

    def finish_upload(self, upload_id: str, fields_seen: dict[str, str], size: int) -> None:
        """Second step: the multipart POST arrived with a file of ``size`` bytes; raises :class:`SimError`."""
        with self.lock:
            status = 204
            try:
                self._uploads.finish(upload_id, fields_seen, size)
            except SimError as exc:
                status = exc.status
                raise
            finally:
                self.ledger.upload(upload_id, size, status, self._uploads.filename(upload_id))

    def upload_exists(self, uri: str) -> bool:
        """Whether a ``runway://`` URI names a finished, unexpired upload."""
        return self._uploads.exists(uri, now=self.clock(), ttl=self.config.upload_ttl_seconds)

    # ----------------------------------------------------------------------------------------- accounting
    def peak_in_flight(self) -> int:
        """The most tasks that were created and not yet terminal at one moment, over the whole run.

        Each task is in flight on ``[created, terminal_at)``; a task that was already terminal when it was
        created never counts. At one instant, tasks ending there leave before tasks created there arrive.
        """
        with self.lock:
            return peak_in_flight(
                (task.created, self._tasks.terminal_at(task)) for task in self.tasks.values()
            )

    def accounting(self) -> dict[str, Any]:
        """What clients did: creates, GETs per task, cancels/deletes, downloads, uploads, faults, orphans."""
        with self.lock:
            now = self.clock()
            statuses = {task.id: self.status_of(task, now)[0] for task in self.tasks.values()}
            return self.ledger.report(
                self.tasks.values(), statuses, self.peak_in_flight(), self.credit_balance
            )

    def record_request(self, method: str, path: str, status: int, fault: str | None) -> None:
        """Append one line to the request log (the last 10,000 are kept)."""
        with self.lock:
            self.ledger.request(method, path, status, fault)
