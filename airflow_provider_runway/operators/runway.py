"""Operators that create Runway generations and wait for them (deferrable, synchronous, or not at all)."""

from __future__ import annotations

import importlib
import inspect
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator, BaseOperatorLink

from airflow_provider_runway import lineage, models
from airflow_provider_runway._compat import conf
from airflow_provider_runway.exceptions import (
    RunwayAPIError,
    RunwayConfigurationError,
    RunwayCreateUnconfirmedError,
    RunwayError,
    RunwayNotFoundError,
    RunwayValidationError,
)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.types import TaskInstanceKey

    from airflow_provider_runway import durable, media
    from airflow_provider_runway.durable import TIKey
    from airflow_provider_runway.endpoints._declare import Endpoint
    from airflow_provider_runway.hooks.runway import RunwayHook

# media, polling, the hook and the trigger are imported where they are used: DAG files import this module
# on every parse, and those pull in fsspec, Airflow's trigger machinery and more (BENCHMARKS.md, import cost).

#: task_state_store key holding the remote task of the current logical generation (durable execution).
STATE_KEY = "runway_task"  # = durable.STATE_KEY (durable loads when a task runs; a test checks the two)
XCOM_TASK_ID = "runway_task_id"
XCOM_TASK_URL = "runway_task_url"
#: the create answer's ``estimatedCost.credits`` (Runway direct), pushed right after the create: the
#: manifest is built by ``execute_complete`` on another worker in deferred mode, and reads it back from
#: here (XComs are kept across a deferral). The durable record carries it too, for a retry that
#: re-attaches (a new try clears XComs).
XCOM_ESTIMATED_CREDITS = "runway_estimated_credits"
ESTIMATED_CREDITS_KEY = "estimated_credits"
# GATEWAY_ENDPOINTS (the endpoints the CometAPI gateway documents; any other is left to the server, with a
# clearer 404 message) and the named operators come from endpoints/ through __getattr__ below.
#: the framework's defer timeout is this much later than the trigger's own deadline (the value lives in
#: ``triggers.runway``, imported there only when a task runs; a test checks the two agree).
DEFER_TIMEOUT_MARGIN = 300.0
DEFAULT_TIMEOUT = timedelta(hours=3)


class RunwayTaskLink(BaseOperatorLink):
    """The "Runway task" button on the task in the Airflow UI; set as soon as the task is created."""

    name = "Runway task"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        from airflow.sdk.bases.xcom import BaseXCom

        value = BaseXCom.get_value(ti_key=ti_key, key=XCOM_TASK_URL)  # type: ignore[arg-type]
        return value if isinstance(value, str) else ""


def _credits(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


class RunwayBaseOperator(BaseOperator):
    """Create one Runway task and wait for it; subclasses only build the request body.

    :param runway_conn_id: the ``runway`` connection (templated).
    :param wait_for_completion: ``False``: create the task, push its id, return (wait elsewhere with
        :class:`~airflow_provider_runway.sensors.runway.RunwayTaskSensor`).
    :param deferrable: wait in the triggerer, holding no worker slot. Default: ``[operators]
        default_deferrable``.
    :param poll_interval: the shortest gap between polls, in seconds (default 6; below 5 only against a
        loopback simulator, since Runway updates tasks every 5 s at most).
    :param max_poll_interval: the longest gap between polls.
    :param polling_mode: ``adaptive`` (poll near the expected finish; back off while queued) or ``fixed``.
    :param timeout: how long to wait from the create, including queue time (default 3 h). At the deadline
        the task is polled once more, then cancelled if unfinished (``cancel_on_timeout``).
    :param cancel_on_kill: cancel the remote task when this Airflow task is killed or marked while waiting.
    :param cancel_on_timeout: cancel the remote task when ``timeout`` passes.
    :param not_exist_grace: how long one try waits for a task of its own create that the gateway still
        answers ``task_not_exist`` for (default 600 s), with a warning every minute. Past it the try fails
        without cancelling, and a retry re-attaches to the same task: ``task_not_exist`` never makes the
        provider create again.
    :param max_poll_failures: consecutive transient poll failures tolerated.
    :param durable: keep a record of the remote task per logical generation (Airflow's task state store
        on 3.3+, an Airflow Variable on 3.1 and 3.2) so a retry or a clear re-attaches to the same remote
        task instead of paying for a new one. A record is written before the create too (an intent), so a
        try that finds an intent without a task id knows an earlier create may have been billed.
    :param recreate_unconfirmed: when an earlier try's create cannot be confirmed (the worker died during
        it, or the task it recorded answers 404 without ever having been seen), create anew instead of
        failing with :class:`~airflow_provider_runway.exceptions.RunwayCreateUnconfirmedError`. Default
        False: a second generation may be billed.
    :param output_path: where to save the outputs before their signed URLs expire (templated): a local
        path or any object-storage URL, e.g. ``s3://bucket/videos/{{ ds }}/``. Files are named
        ``<runway_task_id>_<n>.<ext>``; size and sha256 go into the manifest. ``None``: not saved.
    :param output_conn_id: the Airflow connection for ``output_path`` and file inputs (e.g. ``aws_default``).
    :param max_download_bytes: refuse outputs larger than this.
    :param min_credit_balance: refuse to create the task when the organization's ``creditBalance``
        (``GET /v1/organization``, read just before the create) is below this many credits (templated).
        Runway has no pre-create price quote, so this is a floor on the balance, not a price cap. ``None``:
        no check. Only Runway direct has the endpoint: on the gateway the check is skipped with a warning,
        or fails when ``require_credit_check=True``.
    :param require_credit_check: fail (before the create) instead of warning when the balance cannot be
        read because the connection has no organization endpoint.
    """

    endpoint: str
    #: extension for outputs whose URL does not say
    default_output_ext: ClassVar[str] = "mp4"
    #: arguments that may name files: attribute -> kind ("image" or "video")
    input_fields: ClassVar[dict[str, media.AssetKind]] = {}
    template_fields: Sequence[str] = ("runway_conn_id", "output_path", "min_credit_balance")
    operator_extra_links = (RunwayTaskLink(),)
    ui_color = "#d9f0ff"

    def __init__(
        self,
        *,
        runway_conn_id: str = models.DEFAULT_CONN_ID,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = models.DEFAULT_POLL_INTERVAL,
        max_poll_interval: float = models.DEFAULT_MAX_POLL_INTERVAL,
        polling_mode: str = "adaptive",
        timeout: timedelta | float = DEFAULT_TIMEOUT,
        cancel_on_kill: bool = True,
        cancel_on_timeout: bool = True,
        not_exist_grace: float = models.DEFAULT_NOT_EXIST_GRACE,
        max_poll_failures: int = models.DEFAULT_MAX_POLL_FAILURES,
        durable: bool = True,
        recreate_unconfirmed: bool = False,
        output_path: Any = None,
        output_conn_id: str | None = None,
        max_download_bytes: int = models.DEFAULT_MAX_DOWNLOAD_BYTES,
        min_credit_balance: float | str | None = None,
        require_credit_check: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.runway_conn_id = runway_conn_id
        self.min_credit_balance = min_credit_balance
        self.require_credit_check = require_credit_check
        self.output_path = output_path
        self.output_conn_id = output_conn_id
        self.max_download_bytes = max_download_bytes
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.max_poll_interval = max_poll_interval
        self.polling_mode = polling_mode
        self.timeout = timeout
        self.cancel_on_kill = cancel_on_kill
        self.cancel_on_timeout = cancel_on_timeout
        self.not_exist_grace = not_exist_grace
        self.max_poll_failures = max_poll_failures
        self.durable = durable
        self.recreate_unconfirmed = recreate_unconfirmed
        self._waiting_on: str | None = None
        self._ti_key: TIKey | None = None  # (``durable`` is the argument in here, not the module)
        self._reattachable = False
        self._resolved: dict[str, Any] = {}
        self._manifest: dict[str, Any] | None = None

    # ----------------------------------------------------------------------------------------------------
    # What subclasses provide
    # ----------------------------------------------------------------------------------------------------
    #: the pure builder of this endpoint's body (in models.py), called with ``body_arguments``
    body_builder: ClassVar[Callable[..., dict[str, Any]] | None] = None
    #: the operator arguments passed to ``body_builder``, by the same names
    body_arguments: ClassVar[tuple[str, ...]] = ()

    def build_body(self, context: Context) -> dict[str, Any]:
        """The validated JSON body; raises RunwayValidationError naming the field. No I/O.

        By default ``body_builder(**{name: value})`` over ``body_arguments``, with file inputs already
        turned into URIs; an operator whose body is not a plain mapping of its arguments overrides this.
        """
        builder = type(self).body_builder
        if builder is None:
            raise NotImplementedError(f"{type(self).__name__} declares no body_builder")
        return builder(**{name: self.input_value(name) for name in self.body_arguments})

    @property
    def model_name(self) -> str | None:
        model = getattr(self, "model", None)
        return model if isinstance(model, str) else None

    def input_kinds(self) -> dict[str, media.AssetKind]:
        """Arguments that may name files, and their kind (``input_fields`` unless the kind depends on a
        rendered value)."""
        return dict(self.input_fields)

    def output_extension(self) -> str:
        """Extension for outputs whose URL does not say."""
        return self.default_output_ext

    def input_value(self, name: str) -> Any:
        """An input argument as the request should carry it (files already turned into URIs)."""
        return self._resolved.get(name, getattr(self, name))

    def check_request(self, context: Context) -> dict[str, Any]:
        """Validate the whole request with file inputs stood in by placeholders: no file is read, uploaded
        or created before every argument has been checked. Returns that stand-in body."""
        from airflow_provider_runway import media

        kinds = self.input_kinds()
        self._resolved = {
            name: media.placeholder_assets(getattr(self, name), kind) for name, kind in kinds.items()
        }
        body = self.build_body(context)
        if self.output_path is not None:
            media.ensure_output_path(self.output_path, self.output_conn_id)
        return body

    def input_digests(self) -> dict[str, Any]:
        """Each file argument with its files' contents as digests, for the durable record's fingerprint."""
        from airflow_provider_runway import media

        return {
            name: media.asset_digests(getattr(self, name), kind, name, conn_id=self.output_conn_id)
            for name, kind in self.input_kinds().items()
        }

    def resolve_inputs(self, context: Context) -> dict[str, Any]:
        """Read or upload the file inputs (after :meth:`check_request`); the body to create with."""
        from airflow_provider_runway import media

        settings = self.hook.settings
        uploader = None if settings.looks_like_gateway else self.hook.upload_file
        self._resolved = {
            name: media.resolve_assets(
                getattr(self, name),
                kind,
                name,
                uploader=uploader,
                limit=self.data_uri_limit(name, kind),
                conn_id=self.output_conn_id,
            )
            for name, kind in self.input_kinds().items()
        }
        return self.build_body(context)

    def data_uri_limit(self, name: str, kind: media.AssetKind) -> int:
        """The longest data URI (the whole string, as Runway's spec counts it) a file argument may become;
        a larger file is uploaded (Runway direct) or refused."""
        from airflow_provider_runway.endpoints import _body

        return _body.DEFAULT_DATA_URI_LIMIT

    def prepare_inputs(self, context: Context) -> dict[str, Any]:
        """:meth:`check_request`, then :meth:`resolve_inputs`: the body a create would send."""
        self.check_request(context)
        return self.resolve_inputs(context)

    def save_outputs(self, context: Context, manifest: dict[str, Any]) -> dict[str, Any]:
        """Store the outputs before their signed URLs expire, and describe them on the outlet Assets."""
        from airflow_provider_runway import media

        if self.output_path is not None and manifest["outputs"]:
            task = models.RunwayTask(
                id=manifest["runway_task_id"],
                status=manifest["status"],
                outputs=tuple(o["url"] for o in manifest["outputs"]),
            )
            manifest = media.save_into_manifest(
                self.hook,
                task,
                manifest,
                self.output_path,
                conn_id=self.output_conn_id,
                default_ext=self.output_extension(),
                max_bytes=self.max_download_bytes,
            )
        annotate_outlets(self, context, manifest)
        return manifest

    # ----------------------------------------------------------------------------------------------------
    # The flow
    # ----------------------------------------------------------------------------------------------------
    @cached_property
    def hook(self) -> RunwayHook:
        from airflow_provider_runway.hooks.runway import RunwayHook

        return RunwayHook(self.runway_conn_id)

    def execute(self, context: Context) -> Any:
        from airflow_provider_runway import durable, polling
        from airflow_provider_runway.triggers.runway import deferral

        # Everything that can be checked without a request is checked before the (paid) create.
        timeout = polling.positive_seconds(self.timeout, "timeout")
        grace = polling.positive_seconds(self.not_exist_grace, "not_exist_grace")
        minimum = self._min_credit_balance()
        settings = self.hook.settings
        plan = polling.plan_for(
            self.poll_interval, self.max_poll_interval, self.polling_mode, on_loopback=settings.on_loopback
        )
        checked = self.check_request(context)

        records = self._records(context)
        request = (
            durable.fingerprint(self.endpoint, checked, self.input_digests()) if records is not None else None
        )
        record, first = self._resume(records, request)
        if record is None:
            body = self.resolve_inputs(context)
            if minimum is not None:
                self._check_credit_balance(minimum)
            record = self._create(records, body, request)
        task_id = str(record.task_id)
        estimated = record.estimated_credits
        submitted_at = record.submitted_at or time.time()
        link = settings.task_link(task_id)
        ti = context["ti"]
        ti.xcom_push(key=XCOM_TASK_ID, value=task_id)
        ti.xcom_push(key=XCOM_TASK_URL, value=link)
        ti.xcom_push(key=RunwayTaskLink().xcom_key, value=link)
        if estimated is not None:
            ti.xcom_push(key=XCOM_ESTIMATED_CREDITS, value=estimated)

        if not self.wait_for_completion:
            # Handed on (to a sensor, a download): this task's part is done, and its record with it, so a clear
            # creates anew and no Variable outlives it on Airflow 3.1/3.2.
            self._forget(records)
            self.log.info("Created Runway task %s; not waiting for it (wait_for_completion=False)", task_id)
            return {
                "runway_task_id": task_id,
                "endpoint": self.endpoint,
                "model": self.model_name,
                "status": "SUBMITTED",
            }

        # From here on a kill of this worker may cancel the (paid, unfinished) remote task: see on_kill.
        self._waiting_on, self._ti_key = task_id, durable.TIKey.of(ti)
        self._reattachable = records is not None
        # This try waits not_exist_grace for a task the gateway still hides, counted from now: a retry that
        # re-attaches to a hidden task gets a whole window of its own.
        visible_by = time.time() + grace
        try:
            if first is None:
                try:
                    first = self.hook.get_task(task_id)
                except RunwayError as err:
                    # The task exists and is paid for: a blip here must not fail (and, without durable state,
                    # resubmit) it. The wait loop polls again within its failure budget.
                    if not polling.is_transient_poll_error(err):
                        raise
                    self.log.warning("Could not check Runway task %s right after submit: %s", task_id, err)
                if first is not None and first.visible and records is not None:
                    self._mark_seen(records, record)
            deadline = submitted_at + timeout
            if first is not None:
                self.log.info("Runway task %s: %s", task_id, first.describe())
                if first.terminal:
                    return self._complete(
                        context,
                        polling.event(first.status.lower(), task_id, task=first),
                        estimated_credits=estimated,
                    )
            if self.deferrable:
                self.defer(
                    **deferral(
                        runway_task_id=task_id,
                        runway_conn_id=self.runway_conn_id,
                        deadline=deadline,
                        plan=plan,
                        visible_by=visible_by,
                        owned=True,
                        durable=records is not None,
                        max_poll_failures=self.max_poll_failures,
                        cancel_on_kill=self.cancel_on_kill,
                        cancel_on_timeout=self.cancel_on_timeout,
                    )
                )
            event = self.hook.wait_for_task(
                task_id,
                deadline=deadline,
                plan=plan,
                first=first,
                visible_by=visible_by,
                owned=True,
                max_poll_failures=self.max_poll_failures,
                cancel_on_timeout=self.cancel_on_timeout,
            )
            return self._complete(context, event, estimated_credits=estimated)
        finally:
            self._waiting_on = None

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger fired (on a worker)."""
        return self._complete(context, event, estimated_credits=self._pushed_estimate(context))

    def _records(self, context: Context) -> durable.Records | None:
        from airflow_provider_runway import durable

        return durable.records_for(context) if self.durable else None

    def _pushed_estimate(self, context: Context) -> float | None:
        """The estimate pushed by ``execute`` in this try (before the deferral), if any."""
        ti: Any = context.get("ti")
        if ti is None or not hasattr(ti, "xcom_pull"):
            return None
        try:
            value = ti.xcom_pull(
                task_ids=ti.task_id, key=XCOM_ESTIMATED_CREDITS, map_indexes=getattr(ti, "map_index", None)
            )
        except Exception as err:  # the manifest loses a number, the generation is not lost
            self.log.warning("Could not read the estimated credits back from XCom: %s", err)
            return None
        return _credits(value)

    def _complete(self, context: Context, event: Any, *, estimated_credits: Any = None) -> Any:
        from airflow_provider_runway import polling

        # Outside the try below: failing to read the URLs back must not forget the task (a retry re-attaches).
        event = self.hook.restore_outputs(event, max_poll_failures=self.max_poll_failures)
        try:
            manifest = polling.finish_event(event, endpoint=self.endpoint, model=self.model_name)
        except RunwayError as err:
            # A finished, timed-out-and-cancelled or vanished task ends this logical generation: a retry
            # submits anew. A poll error does not (the remote task may still run: a retry re-attaches).
            status = event.get("status") if isinstance(event, dict) else None
            if status in ("failed", "cancelled") or (
                status == "timeout" and event.get("cancelled") == "cancelled"
            ):
                self._forget(self._records(context))
            raise err from None
        if manifest.get("estimated_credits") is None:
            manifest["estimated_credits"] = _credits(estimated_credits)
        for output in manifest["outputs"]:
            self.log.info("Runway output %d: %s", output["index"], models.redact_url(output["url"]))
        manifest = self.save_outputs(context, manifest)
        self._forget(self._records(context))
        self._manifest = manifest
        return manifest

    # ----------------------------------------------------------------------------------------------------
    # Creating, and the credit guard
    # ----------------------------------------------------------------------------------------------------
    def _submit(self, body: dict[str, Any]) -> Any:
        """The (paid) create; a 404 or 405 (nothing was created) names the endpoint the URL lacks."""
        try:
            return self.hook.submit(self.endpoint, body)
        except RunwayAPIError as err:
            if not models.is_missing_endpoint(err):
                raise
            from airflow_provider_runway.endpoints import _registry

            settings = self.hook.settings
            name = models.endpoint_path(self.endpoint)[len("/v1/") :]
            hint = ""
            documented = _registry.gateway_endpoints()
            if settings.looks_like_gateway and name not in documented:
                hint = (
                    f" The CometAPI gateway documents only {', '.join(documented)}: use a Runway "
                    f"direct connection ({models.RUNWAY_DIRECT_BASE_URL}) for {name}."
                )
            raise RunwayConfigurationError(
                f"Connection {settings.conn_id!r} ({settings.base_url}) has no POST /v1/{name} endpoint "
                f"(HTTP {err.http_status}: {err}).{hint} No task was created."
            ) from None

    def _min_credit_balance(self) -> float | None:
        value = self.min_credit_balance
        if value is None or value == "":
            return None
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if isinstance(value, bool) or not number >= 0 or number == float("inf"):
            raise RunwayValidationError(
                "min_credit_balance", f"must be a number of credits >= 0 (or None), got {value!r:.40}"
            )
        return number

    def _check_credit_balance(self, minimum: float) -> float | None:
        """Refuse to create when the credit balance is below ``minimum``; the balance, or None when this
        connection has no organization endpoint (and the check is not required)."""
        try:
            balance = self.hook.get_credit_balance()
        except RunwayAPIError as err:
            if not models.is_missing_endpoint(err):
                raise
            settings = self.hook.settings
            message = (
                f"Connection {settings.conn_id!r} ({settings.base_url}) has no organization endpoint "
                f"(GET /v1/organization answered HTTP {err.http_status}; the CometAPI gateway has none), "
                f"so the credit balance cannot be compared with min_credit_balance={minimum:g}"
            )
            if self.require_credit_check:
                raise RunwayConfigurationError(
                    f"{message}. require_credit_check=True: no task was created."
                ) from None
            self.log.warning(
                "%s; creating the task unchecked (require_credit_check=True refuses instead)", message
            )
            return None
        if balance < minimum:
            raise RunwayError(
                f"The Runway credit balance is {balance:g} credits, below min_credit_balance={minimum:g}: "
                f"the {self.endpoint} task was NOT created. Add credits, or lower min_credit_balance."
            )
        self.log.info("Runway credit balance %g >= min_credit_balance %g", balance, minimum)
        return balance

    # ----------------------------------------------------------------------------------------------------
    # OpenLineage (only when apache-airflow-providers-openlineage is installed; imported lazily)
    # ----------------------------------------------------------------------------------------------------
    def lineage_input_values(self) -> list[Any]:
        """The input references as the DAG author gave them (paths, URLs), not their data URIs."""
        return [getattr(self, name, None) for name in self.input_kinds()]

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Inputs (prompt images and videos) and outputs (saved files, else output URLs without their
        signature) as OpenLineage datasets; a data URI is named by its hash, never by its content."""
        try:
            from airflow.providers.common.compat.openlineage.facet import Dataset, ExternalQueryRunFacet
            from airflow.providers.openlineage.extractors import OperatorLineage
        except ImportError:  # pragma: no cover - only called by the OpenLineage provider itself
            return None
        manifest = self._manifest
        if manifest is None:
            try:
                pulled = task_instance.xcom_pull(task_ids=task_instance.task_id, key="return_value")
            except Exception:
                pulled = None
            manifest = pulled if isinstance(pulled, dict) else None
        try:
            values = self.lineage_input_values()
        except RunwayError:
            values = []
        inputs = [Dataset(namespace=ns, name=name) for ns, name in lineage.input_datasets(values)]
        outputs = [Dataset(namespace=ns, name=name) for ns, name in lineage.output_datasets(manifest)]
        run_facets: dict[str, Any] = {}
        if manifest and manifest.get("runway_task_id"):
            run_facets["externalQuery"] = ExternalQueryRunFacet(
                externalQueryId=str(manifest["runway_task_id"]), source=lineage.RUNWAY_NAMESPACE
            )
        return OperatorLineage(inputs=inputs, outputs=outputs, run_facets=run_facets)

    # ----------------------------------------------------------------------------------------------------
    # Durable execution: re-attach instead of paying twice
    # ----------------------------------------------------------------------------------------------------
    def _resume(
        self, records: durable.Records | None, request: str | None
    ) -> tuple[durable.Record | None, models.RunwayTask | None]:
        """What an earlier try left: the record and task to re-attach to, or ``(None, None)`` to create."""
        from airflow_provider_runway import durable

        if records is None:
            return None, None
        record = records.get()
        decision = durable.resume(record, request)
        if record is None or decision == "create":
            return None, None
        if decision == "changed":
            self.log.warning(
                "The request differs from the one an earlier try made (%s): a new generation. The earlier "
                "Runway task %s is not re-attached to, and is left as it is.",
                record.fingerprint,
                record.task_id or "(its create was never confirmed)",
            )
            return None, None
        if decision == "unconfirmed":
            self._unconfirmed(
                records,
                f"An earlier try of this task began a {record.endpoint or self.endpoint} create"
                f"{_when(record.intent_at)} whose answer was never recorded (the worker died during it, or "
                "the answer was lost)",
            )
            return None, None
        task_id = str(record.task_id)
        try:
            task: models.RunwayTask | None = self.hook.get_task(task_id)
        except RunwayNotFoundError:
            task = None
        outcome = durable.after_look(task, seen=record.seen)
        if outcome == "unconfirmed":
            self._unconfirmed(
                records,
                f"Runway task {task_id} from an earlier try{_when(record.submitted_at)} answers 404 and was never "
                "seen, so whether it still runs cannot be told",
            )
            return None, None
        if outcome == "create" or task is None:
            self.log.warning(
                "Runway task %s from an earlier try %s; submitting a new one",
                task_id,
                f"ended {task.status}" if task else "is gone (404 after it was seen)",
            )
            return None, None
        self.log.info(
            "Re-attaching to Runway task %s from an earlier try (%s) instead of creating a new one",
            task_id,
            task.describe(),
        )
        if task.visible:
            record = self._mark_seen(records, record)
        return record, task

    def _unconfirmed(self, records: durable.Records, what: str) -> None:
        """An earlier create may have been billed: fail (not retried), unless told to create anew."""
        if self.recreate_unconfirmed:
            self.log.warning(
                "%s. recreate_unconfirmed=True: creating a new task; the earlier one, if it exists, is billed "
                "too.",
                what,
            )
            return
        raise RunwayCreateUnconfirmedError(
            f"{what}. A Runway task may exist and be billed, so this try does NOT create another: check "
            "Runway's dashboard (or the gateway's logs). To create anew anyway, set "
            f"recreate_unconfirmed=True on the operator, or delete {records.location}.",
            record_location=records.location,
        )

    def _create(
        self, records: durable.Records | None, body: dict[str, Any], request: str | None
    ) -> durable.Record:
        """The intent, the (paid) create, then its task id: a crash between any two is recognised later."""
        from airflow_provider_runway import durable

        planned = durable.intent(request, self.endpoint)
        if records is not None:
            records.put(planned)  # fails before the paid call if the record cannot be kept
        try:
            submitted = self._submit(body)
        except BaseException as err:
            if records is not None and not models.create_may_have_billed(err):
                self._forget(records)  # refused: nothing was created
            raise
        record = planned.with_task(submitted.id, submitted.submitted_at, submitted.estimated_credits)
        if records is not None:
            try:
                records.put(record)
            except Exception as err:  # the task exists: wait for it all the same
                self.log.error(
                    "Could not record Runway task %s in %s (%s): a try after a crash will not re-attach to it",
                    submitted.id,
                    records.location,
                    err,
                )
        return record

    def _mark_seen(self, records: durable.Records, record: durable.Record) -> durable.Record:
        """Note that a GET showed the task: from now on a 404 means it is gone, not hidden."""
        if record.seen:
            return record
        seen = record.marked_seen()
        try:
            records.put(seen)
        except Exception as err:  # only the meaning of a later 404 is at stake
            self.log.warning("Could not update %s: %s", records.location, err)
        return seen

    def _forget(self, records: durable.Records | None) -> None:
        if records is None:
            return
        try:
            records.forget()
        except Exception as err:  # a stale record costs one GET on a later clear, nothing more
            self.log.warning("Could not delete %s: %s", records.location, err)

    def on_kill(self) -> None:
        """The worker is being killed while waiting synchronously: cancel, if a person ended the task
        instance and the task is unfinished (:meth:`RunwayHook.cancel_on_kill`)."""
        if self._waiting_on and self.cancel_on_kill:
            self.hook.cancel_on_kill(self._waiting_on, self._ti_key, reattachable=self._reattachable)


def _when(epoch: float | None) -> str:
    if not epoch:
        return ""
    return " at " + time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


class RunwayEndpointOperator(RunwayBaseOperator):
    """The operator of one endpoint declared in :mod:`airflow_provider_runway.endpoints`.

    Not used directly: each endpoint module that declares arguments gets its own subclass, made on first
    import (``from airflow_provider_runway.operators.runway import RunwayImageToVideoOperator``) from its
    declaration: the keyword-only signature, template fields (every argument, and ``extra_body``), file
    inputs and output extension. The body is shaped and validated by
    :func:`airflow_provider_runway.endpoints._body.build` against the model's rules from Runway's spec (or
    the gateway overlay); a model neither lists is passed through with one warning.
    """

    declared: ClassVar[Endpoint]
    template_fields_renderers = {"extra_body": "json", "content_moderation": "json"}

    def __init__(self, **kwargs: Any) -> None:
        declared = type(self).declared
        own: dict[str, Any] = {}
        for arg in declared.arguments:
            if arg.name in kwargs:
                own[arg.name] = kwargs.pop(arg.name)
            elif arg.required:
                raise TypeError(f"missing keyword argument {arg.name!r}")
            else:
                own[arg.name] = arg.default
        extra_body = kwargs.pop("extra_body", None)
        super().__init__(**kwargs)
        for name, value in own.items():
            setattr(self, name, value)
        self.extra_body = extra_body
        self._notes: tuple[str, ...] = ()
        self._rules: Any = None  # the rules the last body was checked by (None: the server's to judge)

    def _values(self) -> dict[str, Any]:
        values = {arg.name: self.input_value(arg.name) for arg in type(self).declared.arguments}
        values["extra_body"] = self.extra_body
        return values

    def input_kinds(self) -> dict[str, media.AssetKind]:
        from airflow_provider_runway.endpoints import _body

        values = {arg.name: getattr(self, arg.name) for arg in type(self).declared.arguments}
        kinds: dict[str, media.AssetKind] = {}
        for arg in type(self).declared.arguments:
            if not arg.file or values[arg.name] is None:
                continue
            if arg.form == "typed_media":
                kinds[arg.name] = _body.typed_media_kind(arg, values[arg.name], values)[0]
            else:
                kinds[arg.name] = arg.kinds()[0]
        return kinds

    def data_uri_limit(self, name: str, kind: media.AssetKind) -> int:
        from airflow_provider_runway.endpoints import _body

        declared = type(self).declared
        arg = declared.argument(name)
        return _body.data_uri_limit(declared.path, self.model_name, arg.wire if arg else (), kind)

    def build_body(self, context: Context) -> dict[str, Any]:
        from airflow_provider_runway.endpoints import _body

        built = _body.build(type(self).declared, self._values())
        self._notes = built.notes
        self._rules = built.rules
        return built.body

    def check_request(self, context: Context) -> dict[str, Any]:
        body = super().check_request(context)
        _warn_once(self, self._notes, self._rules)
        return body


def _warn_once(operator: RunwayBaseOperator, notes: Sequence[str], rules: Any) -> None:
    """The one warning of a request the provider could not check whole, or sends to the wrong service."""
    for note in notes:
        operator.log.warning("%s", note)
    if rules is not None and rules.gateway_only and not operator.hook.settings.looks_like_gateway:
        operator.log.warning(
            "Model %s is documented by the CometAPI gateway, not by Runway's spec: a connection to Runway "
            "direct (%s) will likely refuse it (HTTP 400, no task created, nothing billed)",
            rules.model,
            operator.hook.settings.base_url,
        )


_GENERATED: dict[str, type[RunwayEndpointOperator]] = {}
_GENERATED_LOCK = threading.Lock()


def operator_class(declared: Endpoint) -> type[RunwayEndpointOperator]:
    """The operator class of a declared endpoint (made once, then cached)."""
    name = declared.operator_name
    if name is None:
        raise ValueError(f"{declared.path} declares no arguments, so it has no operator of its own")
    with _GENERATED_LOCK:
        if name in _GENERATED:
            return _GENERATED[name]
        parameters = [
            inspect.Parameter(
                arg.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=inspect.Parameter.empty if arg.required else arg.default,
            )
            for arg in declared.arguments
        ]
        parameters.append(inspect.Parameter("extra_body", inspect.Parameter.KEYWORD_ONLY, default=None))
        parameters.append(inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD))

        def __init__(self: RunwayEndpointOperator, **kwargs: Any) -> None:
            RunwayEndpointOperator.__init__(self, **kwargs)

        __init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD), *parameters]
        )
        __init__.__qualname__ = f"{name}.__init__"
        namespace = {
            "__module__": __name__,
            "__qualname__": name,
            "__doc__": _docstring(declared),
            "__init__": __init__,
            "declared": declared,
            "endpoint": declared.path,
            "default_output_ext": declared.output_ext,
            "input_fields": {
                a.name: a.kinds()[0] for a in declared.arguments if a.file and len(a.kinds()) == 1
            },
            "template_fields": (*RunwayBaseOperator.template_fields, *declared.template_fields),
        }
        metaclass: Any = type(RunwayEndpointOperator)  # Airflow's BaseOperatorMeta wraps __init__
        cls = metaclass(name, (RunwayEndpointOperator,), namespace)
        _GENERATED[name] = cls
        globals()[name] = cls
        return cls


def _docstring(declared: Endpoint) -> str:
    lines = [declared.summary, ""]
    for arg in declared.arguments:
        lines.append(f":param {arg.name}: {arg.doc or 'see Runway API reference'}.")
    lines.append(":param extra_body: more JSON fields the operator does not name yet (templated).")
    lines += [
        "",
        f"Declared in :mod:`airflow_provider_runway.endpoints.{declared.path}`. What each model takes "
        "(fields, ranges, required arguments) is checked before the create against Runway's spec, or the "
        "CometAPI gateway's documentation for its own models; other models are passed through for the "
        "server to judge, with one warning. The base operator's arguments (waiting, outputs, credits) are "
        "those of :class:`RunwayBaseOperator`.",
    ]
    return "\n".join(lines)


def _generated(name: str) -> type[RunwayEndpointOperator] | None:
    """``RunwayImageToVideoOperator`` from ``endpoints/image_to_video.py``: only that module is imported."""
    from airflow_provider_runway.endpoints._declare import module_of_operator

    module_name = module_of_operator(name)
    if module_name is None:
        return None
    qualified = f"airflow_provider_runway.endpoints.{module_name}"
    try:
        module = importlib.import_module(qualified)
    except ModuleNotFoundError as err:
        if err.name != qualified:
            raise
        return None
    for declared in getattr(module, "ENDPOINTS", ()):
        if declared.operator_name == name:
            return operator_class(declared)
    return None


def __getattr__(name: str) -> Any:
    """The generated operators (one per endpoint module with arguments), and ``GATEWAY_ENDPOINTS``."""
    if name == "GATEWAY_ENDPOINTS":
        from airflow_provider_runway.endpoints import _registry

        return _registry.gateway_endpoints()
    found = _generated(name)
    if found is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return found


def __dir__() -> list[str]:
    from airflow_provider_runway.endpoints import _registry

    return sorted({*globals(), "GATEWAY_ENDPOINTS", *_registry.operators()})


class RunwayGenerateOperator(RunwayBaseOperator):
    """Create a task on any Runway generation endpoint, with its body as it goes on the wire.

    For the endpoints a DAG author rarely reaches for (the Model Router's ``generate/video``,
    ``generate/image`` and ``generate/audio``, the recipes, ``avatar_videos``) and for those the provider
    does not know yet. When Runway's spec (or the gateway overlay) has the endpoint, the body is validated
    against it before the create, with errors naming ``body.<field>``; otherwise it goes as given (a JSON
    object, a valid ``model`` name when present), with one warning, for the server to judge. Inputs must
    already be URIs (https, data or ``runway://``): files are not read here. Everything else (waiting,
    deferring, saving outputs, the manifest) is the same as for the named operators.

    :param endpoint: e.g. ``generate/video`` or ``/v1/recipes/product_ad`` (templated).
    :param body: the JSON body, camelCase as on the wire (templated: every string in it is rendered).
    :param output_ext: extension for outputs whose URL does not say (default: the endpoint's, else ``mp4``).
    """

    template_fields: Sequence[str] = (*RunwayBaseOperator.template_fields, "endpoint", "body", "output_ext")
    template_fields_renderers = {"body": "json"}

    def __init__(
        self, *, endpoint: str, body: dict[str, Any], output_ext: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.endpoint = endpoint
        self.body = body
        self.output_ext = output_ext
        self._notes: tuple[str, ...] = ()
        self._rules: Any = None

    @property
    def model_name(self) -> str | None:
        model = self.body.get("model") if isinstance(self.body, dict) else None
        return model if isinstance(model, str) else None

    def output_extension(self) -> str:
        ext = str(self.output_ext or "").strip().lstrip(".").lower()
        if not ext:
            from airflow_provider_runway.endpoints import _registry

            declared = _registry.find(self.endpoint)
            ext = declared.output_ext if declared is not None else "mp4"
        if not ext.isalnum() or len(ext) > 8:
            raise RunwayValidationError(
                "output_ext", f"must be a file extension such as 'mp4', got {ext!r:.20}"
            )
        return ext

    def build_body(self, context: Context) -> dict[str, Any]:
        from airflow_provider_runway.endpoints import _body, _rules

        path = models.endpoint_path(self.endpoint)[len("/v1/") :]
        self.output_extension()
        body = models.check_generic_body(self.body)
        if _rules.variants(path):
            built = _body.check_wire_body(path, body)
            self._notes, self._rules = built.notes, built.rules
        else:
            self._notes, self._rules = (
                (
                    f"Endpoint {path} is not in {_rules.spec_source()}: its body goes as given, for the "
                    "server to judge",
                ),
                None,
            )
        return body

    def check_request(self, context: Context) -> dict[str, Any]:
        body = super().check_request(context)
        _warn_once(self, self._notes, self._rules)
        return body

    def lineage_input_values(self) -> list[Any]:
        return list(lineage.asset_like_strings(self.body))


def annotate_outlets(operator: BaseOperator, context: Context, manifest: dict[str, Any]) -> None:
    """Put the task id, model and saved paths on each outlet Asset's event, for Asset-scheduled DAGs."""
    outlets = [o for o in (operator.outlets or []) if type(o).__name__ == "Asset"]
    if not outlets:
        return
    events = context.get("outlet_events")
    if events is None:
        return
    extra = {
        "runway_task_id": manifest.get("runway_task_id"),
        "model": manifest.get("model"),
        "endpoint": manifest.get("endpoint"),
        "paths": [o["path"] for o in manifest.get("outputs", []) if o.get("path")],
    }
    for outlet in outlets:
        events[outlet].extra.update(extra)


class RunwayDownloadOperator(BaseOperator):
    """Save the outputs of a finished Runway task to object storage (for DAGs that split generation and
    storage). Fresh signed URLs are fetched at run time, so it works long after the generation.

    :param runway_task_id: the task (templated), e.g. from ``ti.xcom_pull(key='runway_task_id')``.
    :param output_path: local path or object-storage URL (templated).
    :param runway_conn_id: the ``runway`` connection (templated).
    :param output_conn_id: the connection for ``output_path``.
    :param default_output_ext: extension when an output URL has none (``mp4``; ``png`` for images).
    :param max_download_bytes: refuse outputs larger than this.
    """

    template_fields: Sequence[str] = ("runway_task_id", "output_path", "runway_conn_id")
    operator_extra_links = (RunwayTaskLink(),)
    ui_color = "#d9f0ff"

    def __init__(
        self,
        *,
        runway_task_id: str,
        output_path: Any,
        runway_conn_id: str = models.DEFAULT_CONN_ID,
        output_conn_id: str | None = None,
        default_output_ext: str = "mp4",
        max_download_bytes: int = models.DEFAULT_MAX_DOWNLOAD_BYTES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.runway_task_id = runway_task_id
        self.output_path = output_path
        self.runway_conn_id = runway_conn_id
        self.output_conn_id = output_conn_id
        self.default_output_ext = default_output_ext
        self.max_download_bytes = max_download_bytes

    @cached_property
    def hook(self) -> RunwayHook:
        from airflow_provider_runway.hooks.runway import RunwayHook

        return RunwayHook(self.runway_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_runway import media, polling

        models.task_path(self.runway_task_id)
        media.ensure_output_path(self.output_path, self.output_conn_id)
        task = self.hook.get_task(self.runway_task_id)
        if not task.terminal:
            raise RunwayError(
                f"Runway task {task.id} has not finished yet ({task.describe()}); wait for it first"
            )
        manifest = polling.finish_event(polling.event(task.status.lower(), task.id, task=task))
        manifest = media.save_into_manifest(
            self.hook,
            task,
            manifest,
            self.output_path,
            conn_id=self.output_conn_id,
            default_ext=self.default_output_ext,
            max_bytes=self.max_download_bytes,
        )
        annotate_outlets(self, context, manifest)
        return manifest
