"""Operators that create Runway generations and wait for them (deferrable, synchronous, or not at all)."""

from __future__ import annotations

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
    RunwayError,
    RunwayNotFoundError,
    RunwayValidationError,
)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.types import TaskInstanceKey

    from airflow_provider_runway import media, polling
    from airflow_provider_runway.hooks.runway import RunwayHook

# media, polling, the hook and the trigger are imported where they are used: DAG files import this module
# on every parse, and those pull in fsspec, Airflow's trigger machinery and more (BENCHMARKS.md, import cost).

#: task_state_store key holding the remote task of the current logical generation (durable execution).
STATE_KEY = "runway_task"
XCOM_TASK_ID = "runway_task_id"
XCOM_TASK_URL = "runway_task_url"
#: the create answer's ``estimatedCost.credits`` (Runway direct), pushed right after the create: the
#: manifest is built by ``execute_complete`` on another worker in deferred mode, and reads it back from
#: here (XComs are kept across a deferral). The durable record carries it too, for a retry that
#: re-attaches (a new try clears XComs).
XCOM_ESTIMATED_CREDITS = "runway_estimated_credits"
ESTIMATED_CREDITS_KEY = "estimated_credits"
#: endpoints the CometAPI gateway documents; any other is left to the server, with a clearer 404 message.
GATEWAY_ENDPOINTS = ("image_to_video", "video_to_video", "text_to_image", "video_upscale")
#: the framework's defer timeout is this much later than the trigger's own deadline, so the trigger's
#: deadline (one final poll, then a cancel) always fires first.
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


def _seconds(value: timedelta | float | int, name: str) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
        raise RunwayValidationError(
            name, f"must be a positive number of seconds or a timedelta, got {value!r}"
        )
    return float(seconds)


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
    :param not_exist_grace: seconds after the create during which the gateway's ``task_not_exist`` means
        "not visible yet".
    :param max_poll_failures: consecutive transient poll failures tolerated.
    :param durable: keep the remote task id in Airflow's task state store (Airflow 3.3+) so a retry after
        a crash re-attaches to the same remote task instead of paying for a new one.
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
        self._waiting_on: str | None = None
        self._submitted_at: float | None = None
        self._last_seen: models.RunwayTask | None = None
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

    def prepare_inputs(self, context: Context) -> dict[str, Any]:
        """Validate the whole request with file inputs stood in by placeholders, then read or upload the
        files: nothing is read, uploaded or created before every argument has been checked."""
        from airflow_provider_runway import media

        kinds = self.input_kinds()
        self._resolved = {
            name: media.placeholder_assets(getattr(self, name), kind) for name, kind in kinds.items()
        }
        self.build_body(context)
        if self.output_path is not None:
            media.ensure_output_path(self.output_path, self.output_conn_id)
        settings = self.hook.settings
        uploader = None if settings.looks_like_gateway else self.hook.upload_file
        self._resolved = {
            name: media.resolve_assets(
                getattr(self, name), kind, name, uploader=uploader, conn_id=self.output_conn_id
            )
            for name, kind in kinds.items()
        }
        return self.build_body(context)

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

    def _plan(self, settings: models.ConnectionSettings) -> polling.PollPlan:
        from airflow_provider_runway import polling

        interval = _seconds(self.poll_interval, "poll_interval")
        longest = _seconds(self.max_poll_interval, "max_poll_interval")
        if self.polling_mode not in ("adaptive", "fixed"):
            raise RunwayValidationError(
                "polling_mode", f"must be 'adaptive' or 'fixed', got {self.polling_mode!r}"
            )
        if interval < models.MIN_REAL_POLL_INTERVAL and not settings.on_loopback:
            raise RunwayValidationError(
                "poll_interval",
                f"must be at least {models.MIN_REAL_POLL_INTERVAL:g} s against a real service "
                f"(Runway updates tasks every 5 s at most), got {interval:g}",
            )
        mode: polling.PollMode = "fixed" if self.polling_mode == "fixed" else "adaptive"
        return polling.PollPlan(min_interval=interval, max_interval=max(longest, interval), mode=mode)

    def execute(self, context: Context) -> Any:
        from airflow_provider_runway import polling
        from airflow_provider_runway.triggers.runway import RunwayTaskTrigger

        # Everything that can be checked without a request is checked before the (paid) create.
        timeout = _seconds(self.timeout, "timeout")
        minimum = self._min_credit_balance()
        settings = self.hook.settings
        plan = self._plan(settings)
        body = self.prepare_inputs(context)

        record, first = self._reattach(context)
        if record is None:
            if minimum is not None:
                self._check_credit_balance(minimum)
            submitted = self._submit(body)
            record = {
                "id": submitted.id,
                "submitted_at": submitted.submitted_at,
                "endpoint": submitted.endpoint,
                ESTIMATED_CREDITS_KEY: submitted.estimated_credits,
            }
            self._remember(context, record)
        task_id = str(record["id"])
        estimated = _credits(record.get(ESTIMATED_CREDITS_KEY))
        submitted_at = float(record.get("submitted_at") or time.time())
        link = settings.task_link(task_id)
        ti = context["ti"]
        ti.xcom_push(key=XCOM_TASK_ID, value=task_id)
        ti.xcom_push(key=XCOM_TASK_URL, value=link)
        ti.xcom_push(key=RunwayTaskLink().xcom_key, value=link)
        if estimated is not None:
            ti.xcom_push(key=XCOM_ESTIMATED_CREDITS, value=estimated)

        if not self.wait_for_completion:
            self.log.info("Created Runway task %s; not waiting for it (wait_for_completion=False)", task_id)
            return {
                "runway_task_id": task_id,
                "endpoint": self.endpoint,
                "model": self.model_name,
                "status": "SUBMITTED",
            }

        # From here on a kill of this worker cancels the (paid, unfinished) remote task.
        self._waiting_on, self._submitted_at = task_id, submitted_at
        try:
            if first is None:
                try:
                    first = self.hook.get_task(
                        task_id, submitted_at=submitted_at, not_exist_grace=self.not_exist_grace
                    )
                except RunwayError as err:
                    # The task exists and is paid for: a blip here must not fail (and, without durable state,
                    # resubmit) it. The wait loop polls again within its failure budget.
                    if not polling.is_transient_poll_error(err):
                        raise
                    self.log.warning("Could not check Runway task %s right after submit: %s", task_id, err)
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
                    trigger=RunwayTaskTrigger(
                        runway_task_id=task_id,
                        runway_conn_id=self.runway_conn_id,
                        deadline=deadline,
                        poll_interval=plan.min_interval,
                        max_poll_interval=plan.max_interval,
                        polling_mode=plan.mode,
                        submitted_at=submitted_at,
                        not_exist_grace=self.not_exist_grace,
                        max_poll_failures=self.max_poll_failures,
                        cancel_on_kill=self.cancel_on_kill,
                        cancel_on_timeout=self.cancel_on_timeout,
                    ),
                    method_name="execute_complete",
                    timeout=timedelta(seconds=max(0.0, deadline - time.time()) + DEFER_TIMEOUT_MARGIN),
                )
            self._last_seen = first
            event = self.hook.wait_for_task(
                task_id,
                deadline=deadline,
                plan=plan,
                first=first,
                submitted_at=submitted_at,
                not_exist_grace=self.not_exist_grace,
                max_poll_failures=self.max_poll_failures,
                cancel_on_timeout=self.cancel_on_timeout,
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
                self._forget(context)
            raise err from None
        if manifest.get("estimated_credits") is None:
            manifest["estimated_credits"] = _credits(estimated_credits)
        for output in manifest["outputs"]:
            self.log.info("Runway output %d: %s", output["index"], models.redact_url(output["url"]))
        manifest = self.save_outputs(context, manifest)
        self._forget(context)
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
            settings = self.hook.settings
            name = models.endpoint_path(self.endpoint)[len("/v1/") :]
            hint = ""
            if settings.looks_like_gateway and name not in GATEWAY_ENDPOINTS:
                hint = (
                    f" The CometAPI gateway documents only {', '.join(GATEWAY_ENDPOINTS)}: use a Runway "
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
    def _store(self, context: Context) -> Any:
        if not self.durable:
            return None
        try:
            return context.get("task_state_store")  # Airflow 3.3+
        except Exception:  # pragma: no cover - a context without it
            return None

    def _reattach(self, context: Context) -> tuple[dict[str, Any] | None, models.RunwayTask | None]:
        store = self._store(context)
        if store is None:
            return None, None
        record = store.get(STATE_KEY)
        if not isinstance(record, dict) or not record.get("id"):
            return None, None
        task_id = str(record["id"])
        try:
            task = self.hook.get_task(
                task_id, submitted_at=record.get("submitted_at"), not_exist_grace=self.not_exist_grace
            )
        except RunwayNotFoundError:
            self.log.warning(
                "Runway task %s from an earlier try no longer exists; submitting a new one", task_id
            )
            return None, None
        if task.terminal and not task.succeeded:
            self.log.warning(
                "Runway task %s from an earlier try ended %s; submitting a new one", task_id, task.status
            )
            return None, None
        self.log.info(
            "Re-attaching to Runway task %s from an earlier try (%s) instead of creating a new one",
            task_id,
            task.describe(),
        )
        return record, task

    def _remember(self, context: Context, record: dict[str, Any]) -> None:
        store = self._store(context)
        if store is not None:
            store.set(STATE_KEY, record)

    def _forget(self, context: Context) -> None:
        store = self._store(context)
        if store is not None:
            store.delete(STATE_KEY)

    def on_kill(self) -> None:
        """The worker is being killed while waiting synchronously: cancel, if the task is unfinished."""
        task_id = self._waiting_on
        if not task_id or not self.cancel_on_kill:
            return
        try:
            task = self.hook.get_task(
                task_id, submitted_at=self._submitted_at, not_exist_grace=self.not_exist_grace
            )
            if models.may_cancel(task):
                self.log.info("Cancelling Runway task %s (%s) on kill", task_id, task.status)
                self.hook.cancel_task(task_id)
        except RunwayError as err:
            self.log.warning("Could not cancel Runway task %s on kill: %s", task_id, err)


class RunwayImageToVideoOperator(RunwayBaseOperator):
    """Generate a video from an image (``POST /v1/image_to_video``).

    :param prompt_image: an https URL, a data URI, a ``runway://`` upload URI, or a list of
        ``{"uri": ..., "position": "first"|"last"}`` frames (templated).
    :param model: e.g. ``gen4_turbo``, ``gen4.5``, ``gen3a_turbo``, ``veo3``; unknown models are passed
        through for the server to judge (templated).
    :param prompt_text: what should happen (up to 1000 characters; templated).
    :param seed: 0 to 4294967295 (templated).
    :param duration: seconds (templated).
    :param ratio: e.g. ``1280:720`` (templated).
    :param watermark: add Runway's watermark.
    :param content_moderation: e.g. ``{"publicFigureThreshold": "low"}``.
    :param extra_body: more JSON fields the provider does not name yet (templated).
    """

    endpoint = "image_to_video"
    input_fields: ClassVar[dict[str, media.AssetKind]] = {"prompt_image": "image"}
    template_fields: Sequence[str] = (
        *RunwayBaseOperator.template_fields,
        "prompt_image",
        "model",
        "prompt_text",
        "seed",
        "duration",
        "ratio",
        "watermark",
        "content_moderation",
        "extra_body",
    )

    def __init__(
        self,
        *,
        prompt_image: Any,
        model: str = "gen4_turbo",
        prompt_text: str | None = None,
        seed: int | str | None = None,
        duration: int | str | None = None,
        ratio: str | None = None,
        watermark: bool | None = None,
        content_moderation: dict[str, Any] | None = None,
        extra_body: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.prompt_image = prompt_image
        self.model = model
        self.prompt_text = prompt_text
        self.seed = seed
        self.duration = duration
        self.ratio = ratio
        self.watermark = watermark
        self.content_moderation = content_moderation
        self.extra_body = extra_body

    body_builder = staticmethod(models.build_image_to_video_body)
    body_arguments = (
        "prompt_image",
        "model",
        "prompt_text",
        "seed",
        "duration",
        "ratio",
        "watermark",
        "content_moderation",
        "extra_body",
    )


class RunwayVideoToVideoOperator(RunwayBaseOperator):
    """Transform a video with a prompt (``POST /v1/video_to_video``).

    :param video_uri: an https URL, a data URI or a ``runway://`` upload URI (templated).
    :param prompt_text: what to change (required; templated).
    :param model: e.g. ``gen4_aleph``, ``aleph2``; the seedance and hailuo models get ``promptVideo``.
    :param seed: 0 to 4294967295 (templated).
    :param references: image references: URIs or ``{"type": "image", "uri": ...}`` (templated).
    :param ratio: output ratio (ignored by gen4_aleph, whose output follows the input).
    :param content_moderation: e.g. ``{"publicFigureThreshold": "low"}``.
    :param extra_body: more JSON fields the provider does not name yet (templated).
    """

    endpoint = "video_to_video"
    input_fields: ClassVar[dict[str, media.AssetKind]] = {"video_uri": "video", "references": "image"}
    template_fields: Sequence[str] = (
        *RunwayBaseOperator.template_fields,
        "video_uri",
        "prompt_text",
        "model",
        "seed",
        "references",
        "ratio",
        "content_moderation",
        "extra_body",
    )

    def __init__(
        self,
        *,
        video_uri: str,
        prompt_text: str,
        model: str = "gen4_aleph",
        seed: int | str | None = None,
        references: list[Any] | None = None,
        ratio: str | None = None,
        content_moderation: dict[str, Any] | None = None,
        extra_body: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.video_uri = video_uri
        self.prompt_text = prompt_text
        self.model = model
        self.seed = seed
        self.references = references
        self.ratio = ratio
        self.content_moderation = content_moderation
        self.extra_body = extra_body

    body_builder = staticmethod(models.build_video_to_video_body)
    body_arguments = (
        "video_uri",
        "prompt_text",
        "model",
        "seed",
        "references",
        "ratio",
        "content_moderation",
        "extra_body",
    )


class RunwayTextToImageOperator(RunwayBaseOperator):
    """Generate images from a prompt (``POST /v1/text_to_image``; on Runway direct and the gateway).

    :param prompt_text: what the image shows (required; templated).
    :param model: e.g. ``gen4_image``, ``gen4_image_turbo`` (needs ``reference_images``), ``gpt_image_2``;
        unknown models are passed through for the server to judge (templated).
    :param ratio: output resolution, e.g. ``1920:1080`` (every model Runway lists requires it; templated).
    :param reference_images: up to a few images: URIs, local paths or object-storage URLs, or
        ``{"uri": ..., "tag": "name"}`` dicts (refer to a tag as ``@name`` in the prompt; templated).
    :param seed: 0 to 4294967295 (templated).
    :param content_moderation: e.g. ``{"publicFigureThreshold": "low"}``.
    :param extra_body: more JSON fields the provider does not name yet, e.g. ``{"outputCount": 2}``.
    """

    endpoint = "text_to_image"
    default_output_ext = "png"
    input_fields: ClassVar[dict[str, media.AssetKind]] = {"reference_images": "image"}
    template_fields: Sequence[str] = (
        *RunwayBaseOperator.template_fields,
        "prompt_text",
        "model",
        "ratio",
        "reference_images",
        "seed",
        "content_moderation",
        "extra_body",
    )

    def __init__(
        self,
        *,
        prompt_text: str,
        model: str = "gen4_image",
        ratio: str | None = None,
        reference_images: list[Any] | None = None,
        seed: int | str | None = None,
        content_moderation: dict[str, Any] | None = None,
        extra_body: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.prompt_text = prompt_text
        self.model = model
        self.ratio = ratio
        self.reference_images = reference_images
        self.seed = seed
        self.content_moderation = content_moderation
        self.extra_body = extra_body

    body_builder = staticmethod(models.build_text_to_image_body)
    body_arguments = (
        "prompt_text",
        "model",
        "ratio",
        "reference_images",
        "seed",
        "content_moderation",
        "extra_body",
    )


class RunwayVideoUpscaleOperator(RunwayBaseOperator):
    """Upscale a video (``POST /v1/video_upscale``; on Runway direct and the gateway).

    :param video_uri: an https URL, a data URI, a ``runway://`` upload URI, a local path or an
        object-storage URL (templated).
    :param model: ``magnific_video_upscaler_creative`` (Runway's spec); another name (such as the one a
        gateway documents) is passed through for the server to judge (templated).
    :param resolution: e.g. ``2k`` or ``4k`` (templated).
    :param extra_body: the model's other knobs, e.g. ``{"creativity": 20, "flavor": "natural"}``.
    """

    endpoint = "video_upscale"
    input_fields: ClassVar[dict[str, media.AssetKind]] = {"video_uri": "video"}
    template_fields: Sequence[str] = (
        *RunwayBaseOperator.template_fields,
        "video_uri",
        "model",
        "resolution",
        "extra_body",
    )

    def __init__(
        self,
        *,
        video_uri: Any,
        model: str = "magnific_video_upscaler_creative",
        resolution: str | None = None,
        extra_body: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.video_uri = video_uri
        self.model = model
        self.resolution = resolution
        self.extra_body = extra_body

    body_builder = staticmethod(models.build_video_upscale_body)
    body_arguments = ("video_uri", "model", "resolution", "extra_body")


class RunwayTextToVideoOperator(RunwayBaseOperator):
    """Generate a video from a prompt (``POST /v1/text_to_video``; Runway direct: the gateway does not
    document it, so it answers 404 there and the task fails before anything is created or billed).

    :param prompt_text: what should happen (templated; required by every model but ``seedance2_5``).
    :param model: e.g. ``gen4.5`` (needs ``ratio`` 1280:720 or 720:1280 and ``duration``), ``veo3.1``;
        unknown models are passed through (templated).
    :param ratio: e.g. ``1280:720`` (templated).
    :param duration: seconds (``"auto"`` for the seedance models; templated).
    :param seed: 0 to 4294967295 (templated).
    :param content_moderation: e.g. ``{"publicFigureThreshold": "low"}``.
    :param extra_body: more JSON fields the provider does not name yet, e.g. ``{"audio": true}``.
    """

    endpoint = "text_to_video"
    template_fields: Sequence[str] = (
        *RunwayBaseOperator.template_fields,
        "prompt_text",
        "model",
        "ratio",
        "duration",
        "seed",
        "content_moderation",
        "extra_body",
    )

    def __init__(
        self,
        *,
        prompt_text: str | None,
        model: str = "gen4.5",
        ratio: str | None = None,
        duration: int | str | None = None,
        seed: int | str | None = None,
        content_moderation: dict[str, Any] | None = None,
        extra_body: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.prompt_text = prompt_text
        self.model = model
        self.ratio = ratio
        self.duration = duration
        self.seed = seed
        self.content_moderation = content_moderation
        self.extra_body = extra_body

    body_builder = staticmethod(models.build_text_to_video_body)
    body_arguments = ("prompt_text", "model", "ratio", "duration", "seed", "content_moderation", "extra_body")


class RunwayCharacterPerformanceOperator(RunwayBaseOperator):
    """Make a character act out a reference performance (``POST /v1/character_performance``, Act-Two;
    Runway direct: the gateway does not document it, so it answers 404 there before anything is billed).

    :param character: ``{"type": "image"|"video", "uri": ...}``, or a URI / path whose data-URI type or
        file extension says which (else give ``character_type``); files are read or uploaded (templated).
    :param reference: the performance video: ``{"type": "video", "uri": ...}`` or a URI / path (templated).
    :param character_type: ``image`` or ``video`` when ``character`` is a bare URI that does not say.
    :param model: ``act_two`` (templated).
    :param seed: 0 to 4294967295 (templated).
    :param body_control: apply body movement too, not only the face.
    :param expression_intensity: 1 to 5 (templated).
    :param ratio: e.g. ``1280:720`` (templated).
    :param content_moderation: e.g. ``{"publicFigureThreshold": "low"}``.
    :param extra_body: more JSON fields the provider does not name yet (templated).
    """

    endpoint = "character_performance"
    template_fields: Sequence[str] = (
        *RunwayBaseOperator.template_fields,
        "character",
        "reference",
        "character_type",
        "model",
        "seed",
        "body_control",
        "expression_intensity",
        "ratio",
        "content_moderation",
        "extra_body",
    )

    def __init__(
        self,
        *,
        character: Any,
        reference: Any,
        character_type: str | None = None,
        model: str = "act_two",
        seed: int | str | None = None,
        body_control: bool | None = None,
        expression_intensity: int | str | None = None,
        ratio: str | None = None,
        content_moderation: dict[str, Any] | None = None,
        extra_body: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.character = character
        self.reference = reference
        self.character_type = character_type
        self.model = model
        self.seed = seed
        self.body_control = body_control
        self.expression_intensity = expression_intensity
        self.ratio = ratio
        self.content_moderation = content_moderation
        self.extra_body = extra_body

    # The URIs inside the {"type", "uri"} shapes are what may name files; their kind is the character's.
    @property
    def character_uri(self) -> Any:
        return models.split_character(self.character, self.character_type or None)[1]

    @property
    def reference_uri(self) -> Any:
        return models.split_character(self.reference, "video", "reference")[1]

    def input_kinds(self) -> dict[str, media.AssetKind]:
        kind = models.split_character(self.character, self.character_type or None)[0]
        return {"character_uri": "video" if kind == "video" else "image", "reference_uri": "video"}

    def build_body(self, context: Context) -> dict[str, Any]:
        kind = models.split_character(self.character, self.character_type or None)[0]
        reference_kind = models.split_character(self.reference, "video", "reference")[0]
        return models.build_character_performance_body(
            character={"type": kind, "uri": self.input_value("character_uri")},
            reference={"type": reference_kind, "uri": self.input_value("reference_uri")},
            model=self.model,
            seed=self.seed,
            body_control=self.body_control,
            expression_intensity=self.expression_intensity,
            ratio=self.ratio,
            content_moderation=self.content_moderation,
            extra_body=self.extra_body,
        )


class RunwayGenerateOperator(RunwayBaseOperator):
    """Create a task on any Runway generation endpoint, including one the provider does not name yet.

    The body goes to the server as given (checked: a JSON object, a valid ``model`` name when present);
    the server judges the rest. Inputs must already be URIs (https, data or ``runway://``): files are
    not read here. Everything else (waiting, deferring, saving outputs, the manifest) is the same as for
    the named operators.

    :param endpoint: e.g. ``text_to_speech`` or ``/v1/sound_effect`` (templated).
    :param body: the JSON body, camelCase as on the wire (templated: every string in it is rendered).
    :param output_ext: extension for outputs whose URL does not say (``mp4``; ``png``, ``mp3``...).
    """

    template_fields: Sequence[str] = (*RunwayBaseOperator.template_fields, "endpoint", "body", "output_ext")
    template_fields_renderers = {"body": "json"}

    def __init__(
        self, *, endpoint: str, body: dict[str, Any], output_ext: str = "mp4", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.endpoint = endpoint
        self.body = body
        self.output_ext = output_ext

    @property
    def model_name(self) -> str | None:
        model = self.body.get("model") if isinstance(self.body, dict) else None
        return model if isinstance(model, str) else None

    def output_extension(self) -> str:
        ext = str(self.output_ext or "").strip().lstrip(".").lower()
        if not ext.isalnum() or len(ext) > 8:
            raise RunwayValidationError(
                "output_ext", f"must be a file extension such as 'mp4', got {ext!r:.20}"
            )
        return ext

    def build_body(self, context: Context) -> dict[str, Any]:
        models.endpoint_path(self.endpoint)
        self.output_extension()
        return models.check_generic_body(self.body)

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
