"""RunwayHook: the Runway connection, with a sync half (requests) and an async half (aiohttp).

Both halves are thin: they turn :class:`~airflow_provider_runway.core.exchange.Send` actions into HTTP
requests and feed what came back into :func:`~airflow_provider_runway.core.exchange.exchange`, which makes
every decision (retry or not, how long to wait, which exception); the waits drive
:func:`~airflow_provider_runway.polling.watch` the same way. Beside it:

- :mod:`.transport`: each library's failures, and the drivers of the core's generators;
- :mod:`.files`: uploads of inputs, downloads of outputs, and reading output URLs back;
- :mod:`.kill`: what ``on_kill`` does to the remote task; :mod:`.connection`: the connection's UI.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Coroutine, Generator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from airflow_provider_runway import __version__, durable, polling
from airflow_provider_runway.core import defaults, fields, organization, urls
from airflow_provider_runway.core.exchange import (
    ApiRequest,
    HttpResponse,
    RetryPolicy,
    Send,
    TransportFailure,
    Wait,
    exchange,
)
from airflow_provider_runway.core.kill import cancel_result
from airflow_provider_runway.core.settings import ConnectionSettings, settings_from_connection, user_agent
from airflow_provider_runway.core.task import RunwayTask, parse_created, parse_task, task_when_missing
from airflow_provider_runway.exceptions import (
    RunwayAPIError,
    RunwayAuthError,
    RunwayNotFoundError,
)
from airflow_provider_runway.hooks import connection, files, kill, pool
from airflow_provider_runway.hooks.connection import PROBE_TASK_ID as PROBE_TASK_ID
from airflow_provider_runway.hooks.pool import SETTINGS_TTL as SETTINGS_TTL
from airflow_provider_runway.hooks.pool import aclose_shared_clients as aclose_shared_clients
from airflow_provider_runway.hooks.pool import shared_async_client as shared_async_client
from airflow_provider_runway.hooks.transport import (
    adrive_watch,
    drive,
    drive_watch,
    send_with_aiohttp,
    send_with_requests,
)
from airflow_provider_runway.hooks.transport import requests_failure as requests_failure

if TYPE_CHECKING:
    from typing import BinaryIO

    import requests

    from airflow_provider_runway.media import LocalAsset


def _user_agent() -> str:
    try:
        from airflow import __version__ as airflow_version
    except ImportError:  # pragma: no cover
        airflow_version = "unknown"
    return user_agent(__version__, airflow_version, "{}.{}".format(*sys.version_info[:2]))


USER_AGENT = _user_agent()


@dataclass(frozen=True)
class SubmittedTask:
    """What a create returned: the remote id, when it was made, and the cost estimate if reported."""

    id: str
    endpoint: str
    submitted_at: float
    estimated_credits: float | None = None


class RunwayHook(BaseHook):
    """Talk to Runway's task API, directly or through the CometAPI gateway.

    :param runway_conn_id: the ``runway`` connection: host = base URL (default the gateway
        ``https://api.cometapi.com/runwayml``; Runway direct is ``https://api.dev.runwayml.com``),
        password = API key, extras ``api_version``, ``timeout``, ``max_retries``, ``verify``.
    :param retry_policy: overrides the backoff (the count still defaults to the connection's max_retries).
    """

    conn_name_attr = "runway_conn_id"
    default_conn_name = defaults.DEFAULT_CONN_ID
    conn_type = "runway"
    hook_name = "Runway"

    def __init__(
        self,
        runway_conn_id: str = defaults.DEFAULT_CONN_ID,
        *,
        retry_policy: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.runway_conn_id = runway_conn_id
        self._retry_policy = retry_policy
        self._async_settings: ConnectionSettings | None = None
        self._sleep: Callable[[float], None] = time.sleep

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form on Airflow 3.1 (3.2+ reads ``conn-fields`` from get_provider_info instead)."""
        return connection.ui_field_behaviour()

    # ----------------------------------------------------------------------------------------------------
    # Connection
    # ----------------------------------------------------------------------------------------------------
    @staticmethod
    def _settings_from(conn: Any, conn_id: str) -> ConnectionSettings:
        return settings_from_connection(
            conn_id,
            host=conn.host,
            password=conn.password,
            extra=conn.extra_dejson,
            schema=conn.schema,
            port=conn.port,
        )

    @cached_property
    def settings(self) -> ConnectionSettings:
        """The validated connection (sync lookup)."""
        return self._settings_from(self.get_connection(self.runway_conn_id), self.runway_conn_id)

    async def asettings(self) -> ConnectionSettings:
        """The validated connection, looked up without blocking the event loop (shared by the loop's hooks
        for :data:`SETTINGS_TTL` seconds)."""
        if self._async_settings is None:
            if "settings" in self.__dict__:
                self._async_settings = self.__dict__["settings"]
            else:
                self._async_settings = await pool.shared_settings(self.runway_conn_id, self._alookup)
        return self._async_settings

    async def _alookup(self) -> ConnectionSettings:
        aget = getattr(BaseHook, "aget_connection", None)
        if aget is not None:
            conn = await aget(self.runway_conn_id)
        else:  # pragma: no cover - Airflow without the async lookup
            conn = await asyncio.to_thread(self.get_connection, self.runway_conn_id)
        return self._settings_from(conn, self.runway_conn_id)

    def get_conn(self) -> requests.Session:
        return self.session

    @cached_property
    def session(self) -> requests.Session:
        import requests

        session = requests.Session()
        session.trust_env = True
        return session

    def close(self) -> None:
        if "session" in self.__dict__:
            self.session.close()
            del self.__dict__["session"]

    def _policy(self, settings: ConnectionSettings) -> RetryPolicy:
        if self._retry_policy is None:
            return RetryPolicy(max_retries=settings.max_retries)
        return self._retry_policy

    # ----------------------------------------------------------------------------------------------------
    # The two runners: the only I/O in this class
    # ----------------------------------------------------------------------------------------------------
    def _exchange(self, settings: ConnectionSettings, request: ApiRequest) -> Generator[Any, Any, Any]:
        return exchange(settings, request, agent=USER_AGENT, policy=self._policy(settings))

    def _run(self, request: ApiRequest) -> Any:
        return drive(self._exchange(self.settings, request), self._send, sleep=self._sleep, log=self.log)

    async def _arun(self, request: ApiRequest) -> Any:
        settings = await self.asettings()
        try:
            return await self._adrive(settings, request)
        except RunwayAuthError:
            # Settings can be up to SETTINGS_TTL old: a key rotated since then shows up as a 401. Look the
            # connection up afresh, and send once more only if it changed (a request refused with 401 or
            # 403 did nothing, so resending a create cannot bill twice).
            pool.forget_settings(self.runway_conn_id, settings)
            self._async_settings = None
            fresh = await self.asettings()
            if fresh == settings:
                raise
            self.log.info("Connection %r changed since it was read; retrying with it", self.runway_conn_id)
            return await self._adrive(fresh, request)

    async def _adrive(self, settings: ConnectionSettings, request: ApiRequest) -> Any:
        steps = self._exchange(settings, request)
        outcome: HttpResponse | TransportFailure | None = None
        try:
            while True:
                action = steps.send(outcome)
                if isinstance(action, Wait):
                    self.log.warning("%s; waiting %.1f s", action.reason, action.seconds)
                    await asyncio.sleep(action.seconds)
                    outcome = None
                else:
                    outcome = await self._asend(action)
        except StopIteration as done:
            return done.value

    def _send(self, action: Send) -> HttpResponse | TransportFailure:
        return send_with_requests(self.session, action.request)[0]

    async def _asend(self, action: Send) -> HttpResponse | TransportFailure:
        lanes = pool.lanes_for(action.request.verify)
        lane = await lanes.acquire()
        try:
            return await send_with_aiohttp(lanes.client(lane), action.request)
        finally:
            lanes.release(lane)

    # ----------------------------------------------------------------------------------------------------
    # Creating tasks
    # ----------------------------------------------------------------------------------------------------
    @staticmethod
    def _create_request(endpoint: str, body: Mapping[str, Any]) -> ApiRequest:
        return ApiRequest("POST", urls.endpoint_path(endpoint), fields.check_generic_body(body), billed=True)

    def _created(self, request: ApiRequest, payload: Any, submitted_at: float) -> SubmittedTask:
        task_id, credits = parse_created(payload, request.path)
        self.log.info("Created Runway task %s on %s", task_id, request.path)
        return SubmittedTask(task_id, request.path, submitted_at, credits)

    def submit(self, endpoint: str, body: Mapping[str, Any]) -> SubmittedTask:
        """Create a task on any generation endpoint (``image_to_video``, ``text_to_image``, ...).

        Never retried once the request may have reached the server: a second POST bills twice.
        """
        request = self._create_request(endpoint, body)
        submitted_at = time.time()
        return self._created(request, self._run(request), submitted_at)

    async def asubmit(self, endpoint: str, body: Mapping[str, Any]) -> SubmittedTask:
        request = self._create_request(endpoint, body)
        submitted_at = time.time()
        return self._created(request, await self._arun(request), submitted_at)

    def submit_image_to_video(self, **arguments: Any) -> SubmittedTask:
        """Validate (before any request) and create an image-to-video task.

        Arguments are those of
        :class:`~airflow_provider_runway.operators.runway.RunwayImageToVideoOperator` that go in the body
        (``prompt_image``, ``model``, ``prompt_text``, ``seed``, ``duration``, ``ratio``, ...,
        ``extra_body``), as URIs: files are the operator's to read or upload.
        """
        from airflow_provider_runway.endpoints import _body

        return self.submit("image_to_video", _body.build_for("image_to_video", **arguments))

    async def asubmit_image_to_video(self, **arguments: Any) -> SubmittedTask:
        from airflow_provider_runway.endpoints import _body

        return await self.asubmit("image_to_video", _body.build_for("image_to_video", **arguments))

    def submit_video_to_video(self, **arguments: Any) -> SubmittedTask:
        """Validate and create a video-to-video task (``video_uri``, ``prompt_text``, ``model``, ...)."""
        from airflow_provider_runway.endpoints import _body

        return self.submit("video_to_video", _body.build_for("video_to_video", **arguments))

    async def asubmit_video_to_video(self, **arguments: Any) -> SubmittedTask:
        from airflow_provider_runway.endpoints import _body

        return await self.asubmit("video_to_video", _body.build_for("video_to_video", **arguments))

    # ----------------------------------------------------------------------------------------------------
    # Reading, cancelling, organization
    # ----------------------------------------------------------------------------------------------------
    def get_task(self, task_id: str) -> RunwayTask:
        """The task's current state. The gateway's ``task_not_exist`` gives a PENDING task with
        ``visible=False`` (not visible yet; see :func:`~airflow_provider_runway.core.task.task_when_missing`);
        a plain 404 raises :class:`RunwayNotFoundError`."""
        request = ApiRequest("GET", urls.task_path(task_id), task_id=task_id)
        try:
            payload = self._run(request)
        except RunwayNotFoundError as err:
            return task_when_missing(task_id, err)
        return parse_task(payload, task_id=task_id)

    async def aget_task(self, task_id: str) -> RunwayTask:
        request = ApiRequest("GET", urls.task_path(task_id), task_id=task_id)
        try:
            payload = await self._arun(request)
        except RunwayNotFoundError as err:
            return task_when_missing(task_id, err)
        return parse_task(payload, task_id=task_id)

    def cancel_task(self, task_id: str) -> str:
        """``DELETE /v1/tasks/{id}``. Callers must only cancel a task last seen non-terminal: on a finished
        task Runway deletes it and purges its outputs.

        :return: ``"cancelled"``, ``"gone"`` (already cancelled or deleted) or ``"unsupported"`` (the
            gateway has no cancel).
        """
        request = ApiRequest("DELETE", urls.task_path(task_id), task_id=task_id)
        try:
            self._run(request)
        except RunwayAPIError as err:
            return self._cancel_result(task_id, err)
        self.log.info("Cancelled Runway task %s", task_id)
        return "cancelled"

    async def acancel_task(self, task_id: str) -> str:
        request = ApiRequest("DELETE", urls.task_path(task_id), task_id=task_id)
        try:
            await self._arun(request)
        except RunwayAPIError as err:
            return self._cancel_result(task_id, err)
        self.log.info("Cancelled Runway task %s", task_id)
        return "cancelled"

    def cancel_on_kill(
        self, task_id: str, ti: durable.TIKey | None, *, reattachable: bool, log: Any = None
    ) -> str:
        """What ``on_kill`` does while a task waits (:func:`.kill.cancel_on_kill`); never raises.

        :return: ``"kept"``, ``"finished"``, ``"failed"`` or what :meth:`cancel_task` returned.
        """
        return kill.cancel_on_kill(self, task_id, ti, reattachable=reattachable, log=log or self.log)

    async def acancel_on_kill(
        self, task_id: str, ti: durable.TIKey | None, *, reattachable: bool, log: Any = None
    ) -> str:
        """The async twin of :meth:`cancel_on_kill`, for the trigger."""
        return await kill.acancel_on_kill(self, task_id, ti, reattachable=reattachable, log=log or self.log)

    def _cancel_result(self, task_id: str, err: RunwayAPIError) -> str:
        result = cancel_result(err)
        if result == "unsupported":
            self.log.warning(
                "Could not cancel Runway task %s: this endpoint has no cancel (%s). It keeps running and "
                "is billed.",
                task_id,
                err,
            )
        else:
            self.log.info("Runway task %s was already cancelled or deleted", task_id)
        return result

    def get_organization(self) -> dict[str, Any]:
        """``GET /v1/organization`` (Runway direct only): credit balance, tier limits and usage."""
        return organization.parse_organization(self._run(ApiRequest("GET", "/v1/organization")))

    async def aget_organization(self) -> dict[str, Any]:
        return organization.parse_organization(await self._arun(ApiRequest("GET", "/v1/organization")))

    def get_credit_balance(self) -> float:
        """The organization's ``creditBalance`` (Runway direct only; the gateway answers 404:
        :class:`~airflow_provider_runway.exceptions.RunwayNotFoundError`)."""
        return organization.credit_balance(self.get_organization())

    async def aget_credit_balance(self) -> float:
        return organization.credit_balance(await self.aget_organization())

    # ----------------------------------------------------------------------------------------------------
    # Files: uploads of inputs (Runway direct), downloads of outputs
    # ----------------------------------------------------------------------------------------------------
    def download(
        self, url: str, handle: BinaryIO, *, max_bytes: int, chunk_size: int = 1024 * 1024
    ) -> tuple[int, str, str | None]:
        """Stream a signed output URL into ``handle`` in constant memory.

        No API key is sent (the URL carries its own signature). Redirects are followed by hand, each hop
        checked like the first (https, or http to loopback when the connection allows it). Retries follow
        the API's rule (:func:`~airflow_provider_runway.core.exchange.decide_retry`).

        :return: bytes written, their sha256, the Content-Type.
        :raises RunwayOutputExpiredError: 403 or 410: fetch the task again for fresh URLs.
        """
        return files.download(
            self.session,
            self.settings,
            url,
            handle,
            max_bytes=max_bytes,
            chunk_size=chunk_size,
            policy=self._policy(self.settings),
            user_agent=USER_AGENT,
            sleep=self._sleep,
            log=self.log,
        )

    def upload_file(self, asset: LocalAsset) -> str:
        """Upload a local or object-storage file through ``POST /v1/uploads`` (Runway direct).

        :return: the ``runway://`` URI to use in a create (valid 24 h).
        """
        return files.upload(
            self.session, self.settings, asset, run=self._run, user_agent=USER_AGENT, log=self.log
        )

    # ----------------------------------------------------------------------------------------------------
    # Waiting: two drivers of the one wait loop in polling.watch
    # ----------------------------------------------------------------------------------------------------
    def wait_for_task(
        self,
        task_id: str,
        *,
        deadline: float,
        plan: polling.PollPlan,
        first: RunwayTask | None = None,
        visible_by: float | None = None,
        owned: bool = True,
        max_poll_failures: int = polling.DEFAULT_MAX_POLL_FAILURES,
        cancel_on_timeout: bool = True,
    ) -> dict[str, Any]:
        """Block until the task ends or the deadline (epoch seconds) passes; returns the final event dict."""
        steps = polling.watch(
            task_id,
            deadline=deadline,
            plan=plan,
            first=first,
            max_poll_failures=max_poll_failures,
            cancel_on_timeout=cancel_on_timeout,
            visible_by=visible_by,
            owned=owned,
        )
        return drive_watch(steps, task_id, self, sleep=self._sleep, log=self.log)

    def await_task(
        self,
        task_id: str,
        *,
        deadline: float,
        plan: polling.PollPlan,
        first: RunwayTask | None = None,
        visible_by: float | None = None,
        owned: bool = True,
        max_poll_failures: int = polling.DEFAULT_MAX_POLL_FAILURES,
        cancel_on_timeout: bool = True,
        log: Any = None,
        first_poll_spread: float = 0.0,
    ) -> Coroutine[Any, Any, dict[str, Any]]:
        """The async twin of :meth:`wait_for_task`, for triggers: await it. A plain method handing back the
        driver's coroutine: a sleeping trigger holds one coroutine less for the collector to walk."""
        logger = log or self.log
        steps = polling.watch(
            task_id,
            deadline=deadline,
            plan=plan,
            first=first,
            max_poll_failures=max_poll_failures,
            cancel_on_timeout=cancel_on_timeout,
            first_poll_spread=first_poll_spread,
            visible_by=visible_by,
            owned=owned,
        )
        return adrive_watch(steps, task_id, self, log=logger)

    def restore_outputs(
        self, event: Any, *, max_poll_failures: int = defaults.DEFAULT_MAX_POLL_FAILURES
    ) -> Any:
        """Put back the signed output URLs a trigger withheld from its event (one GET of the task, within
        the poll failure budget): :func:`.files.restore_outputs`. Any other event is returned as it is."""
        return files.restore_outputs(
            event, self.get_task, max_poll_failures=max_poll_failures, sleep=self._sleep, log=self.log
        )

    def test_connection(self) -> tuple[bool, str]:
        """Check the base URL and the key without creating a task or spending credits (the UI's button,
        ``airflow connections test``)."""
        return connection.test(self)
