"""The Runway operators: one per endpoint (made from its declaration in endpoints/), the generic
:class:`RunwayGenerateOperator`, and :class:`RunwayDownloadOperator`.

Every operator is a :class:`~airflow_provider_runway.operators.base.RunwayBaseOperator`: create one task,
then wait for it (deferrable, synchronously, or not at all). The names this module has always had are
kept here; DAG files import it on every parse, so everything heavier loads when a task runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_runway.core import defaults
from airflow_provider_runway.exceptions import RunwayError, RunwayValidationError

# The names this module has always had (re-exported: they live where they are used).
from airflow_provider_runway.links.runway import XCOM_TASK_URL as XCOM_TASK_URL
from airflow_provider_runway.links.runway import RunwayTaskLink as RunwayTaskLink
from airflow_provider_runway.links.runway import expect_task_link, push_task_link
from airflow_provider_runway.operators.base import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
from airflow_provider_runway.operators.base import DEFER_TIMEOUT_MARGIN as DEFER_TIMEOUT_MARGIN
from airflow_provider_runway.operators.base import ESTIMATED_CREDITS_KEY as ESTIMATED_CREDITS_KEY
from airflow_provider_runway.operators.base import STATE_KEY as STATE_KEY
from airflow_provider_runway.operators.base import XCOM_ESTIMATED_CREDITS as XCOM_ESTIMATED_CREDITS
from airflow_provider_runway.operators.base import XCOM_TASK_ID as XCOM_TASK_ID
from airflow_provider_runway.operators.base import RunwayBaseOperator, annotate_outlets, warn_once

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_runway.hooks.runway import RunwayHook

# GATEWAY_ENDPOINTS (the endpoints the CometAPI gateway documents; any other is left to the server, with a
# clearer 404 message) and the named operators come from endpoints/ through __getattr__ below.


def __getattr__(name: str) -> Any:
    """The generated operators (one per endpoint module with arguments), and ``GATEWAY_ENDPOINTS``."""
    if name == "GATEWAY_ENDPOINTS":
        from airflow_provider_runway.endpoints import _registry

        return _registry.gateway_endpoints()
    if name == "RunwayEndpointOperator":
        from airflow_provider_runway.operators.endpoint import RunwayEndpointOperator

        return RunwayEndpointOperator
    from airflow_provider_runway.operators.endpoint import generated

    found = generated(name)
    if found is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = found
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
        from airflow_provider_runway.core.fields import check_generic_body
        from airflow_provider_runway.core.urls import endpoint_path
        from airflow_provider_runway.endpoints import _body, _rules

        path = endpoint_path(self.endpoint)[len("/v1/") :]
        self.output_extension()
        body = check_generic_body(self.body)
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
        warn_once(self, self._notes, self._rules)
        return body

    def lineage_input_values(self) -> list[Any]:
        from airflow_provider_runway import lineage

        return list(lineage.asset_like_strings(self.body))


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
        runway_conn_id: str = defaults.DEFAULT_CONN_ID,
        output_conn_id: str | None = None,
        default_output_ext: str = "mp4",
        max_download_bytes: int = defaults.DEFAULT_MAX_DOWNLOAD_BYTES,
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
        from airflow_provider_runway import media
        from airflow_provider_runway.core import outcome
        from airflow_provider_runway.core.urls import task_path

        expect_task_link(self)
        task_path(self.runway_task_id)
        media.ensure_output_path(self.output_path, self.output_conn_id)
        task = self.hook.get_task(self.runway_task_id)
        push_task_link(context["ti"], self.hook.settings.task_link(task.id), self)
        if not task.terminal:
            raise RunwayError(
                f"Runway task {task.id} has not finished yet ({task.describe()}); wait for it first"
            )
        manifest = outcome.finish_event(outcome.event(task.status.lower(), task.id, task=task))
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
