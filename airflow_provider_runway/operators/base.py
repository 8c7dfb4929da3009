"""RunwayBaseOperator: create one Runway task and wait for it, deferrable, synchronously, or not at all.

The flow is here (:meth:`RunwayBaseOperator.execute`, :meth:`~RunwayBaseOperator.execute_complete`);
what happens around the paid create is :mod:`.generation`, the files in and out are :mod:`~airflow_provider_runway.media`,
the wait is :mod:`~airflow_provider_runway.polling`. DAG files import this module on every parse, so it
names its defaults from :mod:`~airflow_provider_runway.core.defaults` and imports the rest when a task
runs (BENCHMARKS.md, "Parse cost").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_provider_runway._compat import conf
from airflow_provider_runway.core import defaults
from airflow_provider_runway.exceptions import RunwayError
from airflow_provider_runway.links.runway import RunwayTaskLink, expect_task_link, push_task_link

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_runway import media
    from airflow_provider_runway.durable import TIKey
    from airflow_provider_runway.hooks.runway import RunwayHook

#: task_state_store key holding the remote task of the current logical generation (durable execution).
STATE_KEY = "runway_task"  # = durable.STATE_KEY (durable loads when a task runs; a test checks the two)
XCOM_TASK_ID = "runway_task_id"
#: the create answer's ``estimatedCost.credits`` (Runway direct), pushed right after the create: the
#: manifest is built by ``execute_complete`` on another worker in deferred mode, and reads it back from
#: here (XComs are kept across a deferral). The durable record carries it too, for a retry that
#: re-attaches (a new try clears XComs).
XCOM_ESTIMATED_CREDITS = "runway_estimated_credits"
ESTIMATED_CREDITS_KEY = "estimated_credits"
DEFER_TIMEOUT_MARGIN = defaults.DEFER_TIMEOUT_MARGIN
DEFAULT_TIMEOUT = timedelta(hours=3)


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
        runway_conn_id: str = defaults.DEFAULT_CONN_ID,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = defaults.DEFAULT_POLL_INTERVAL,
        max_poll_interval: float = defaults.DEFAULT_MAX_POLL_INTERVAL,
        polling_mode: str = "adaptive",
        timeout: timedelta | float = DEFAULT_TIMEOUT,
        cancel_on_kill: bool = True,
        cancel_on_timeout: bool = True,
        not_exist_grace: float = defaults.DEFAULT_NOT_EXIST_GRACE,
        max_poll_failures: int = defaults.DEFAULT_MAX_POLL_FAILURES,
        durable: bool = True,
        recreate_unconfirmed: bool = False,
        output_path: Any = None,
        output_conn_id: str | None = None,
        max_download_bytes: int = defaults.DEFAULT_MAX_DOWNLOAD_BYTES,
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
    #: the pure builder of this endpoint's body, called with ``body_arguments``
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
            from airflow_provider_runway.core.task import RunwayTask

            task = RunwayTask(
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
        from airflow_provider_runway.core import outcome
        from airflow_provider_runway.core.fields import positive_seconds
        from airflow_provider_runway.operators import generation
        from airflow_provider_runway.triggers.runway import wait

        expect_task_link(self)  # no Runway task yet: the link must not look for one at the end
        # Everything that can be checked without a request is checked before the (paid) create.
        with generation.creating_nothing():
            timeout = positive_seconds(self.timeout, "timeout")
            grace = positive_seconds(self.not_exist_grace, "not_exist_grace")
            minimum = generation.min_credit_balance(self)
            settings = self.hook.settings
            plan = polling.plan_for(
                self.poll_interval,
                self.max_poll_interval,
                self.polling_mode,
                on_loopback=settings.on_loopback,
            )
            checked = self.check_request(context)
            records = generation.records_for(self, context)
            digests = self.input_digests() if records is not None else {}
        request = durable.fingerprint(self.endpoint, checked, digests) if records is not None else None
        record, first = generation.resume(self, records, request)
        if record is None:
            with generation.creating_nothing():
                body = self.resolve_inputs(context)
                if minimum is not None:
                    generation.check_credit_balance(self, minimum)
            record = generation.create(self, records, body, request)
        task_id = str(record.task_id)
        estimated = record.estimated_credits
        submitted_at = record.submitted_at or time.time()
        ti = context["ti"]
        ti.xcom_push(key=XCOM_TASK_ID, value=task_id)
        push_task_link(ti, settings.task_link(task_id), self)
        # pushed even when unknown (None): a resumed try reads it back, and Airflow 3 logs a read of a key
        # never pushed as an ERROR
        ti.xcom_push(key=XCOM_ESTIMATED_CREDITS, value=estimated)

        if not self.wait_for_completion:
            # Handed on (to a sensor, a download): this task's part is done, and its record with it, so a clear
            # creates anew and no Variable outlives it on Airflow 3.1/3.2.
            generation.forget(self, records)
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
                    generation.mark_seen(self, records, record)
            deadline = submitted_at + timeout
            if first is not None:
                self.log.info("Runway task %s: %s", task_id, first.describe())
                if first.terminal:
                    return self._complete(
                        context,
                        outcome.event(first.status.lower(), task_id, task=first),
                        estimated_credits=estimated,
                    )
            event = wait(
                self,
                task_id,
                deadline=deadline,
                plan=plan,
                first=first,
                visible_by=visible_by,
                owned=True,
                durable=records is not None,
            )
            return self._complete(context, event, estimated_credits=estimated)
        finally:
            self._waiting_on = None

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger fired (on a worker)."""
        return self._complete(context, event, estimated_credits=self._pushed_estimate(context))

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
        from airflow_provider_runway.core.outcome import finish_event
        from airflow_provider_runway.core.urls import redact_url
        from airflow_provider_runway.operators import generation

        # Outside the try below: failing to read the URLs back must not forget the task (a retry re-attaches).
        event = self.hook.restore_outputs(event, max_poll_failures=self.max_poll_failures)
        try:
            manifest = finish_event(event, endpoint=self.endpoint, model=self.model_name)
        except RunwayError as err:
            # A finished, timed-out-and-cancelled or vanished task ends this logical generation: a retry
            # submits anew. A poll error does not (the remote task may still run: a retry re-attaches).
            status = event.get("status") if isinstance(event, dict) else None
            if status in ("failed", "cancelled") or (
                status == "timeout" and event.get("cancelled") == "cancelled"
            ):
                generation.forget(self, generation.records_for(self, context))
            raise err from None
        if manifest.get("estimated_credits") is None:
            manifest["estimated_credits"] = _credits(estimated_credits)
        for output in manifest["outputs"]:
            self.log.info("Runway output %d: %s", output["index"], redact_url(output["url"]))
        manifest = self.save_outputs(context, manifest)
        generation.forget(self, generation.records_for(self, context))
        self._manifest = manifest
        return manifest

    # ----------------------------------------------------------------------------------------------------
    # Creating, and the credit guard
    # ----------------------------------------------------------------------------------------------------
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
        from airflow_provider_runway import lineage

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

    def on_kill(self) -> None:
        """The worker is being killed while waiting synchronously: cancel, if a person ended the task
        instance and the task is unfinished (:meth:`RunwayHook.cancel_on_kill`)."""
        if self._waiting_on and self.cancel_on_kill:
            self.hook.cancel_on_kill(self._waiting_on, self._ti_key, reattachable=self._reattachable)


def warn_once(operator: RunwayBaseOperator, notes: Sequence[str], rules: Any) -> None:
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
