"""The hook's file half: uploads of local inputs (Runway direct) and downloads of signed output URLs.

Neither carries the API key to the file host. Downloads retry by the core's one retry loop
(:func:`~airflow_provider_runway.core.exchange.attempts`), as API calls do; every URL fetched, and every
redirect hop, is checked by :func:`~airflow_provider_runway.media.check_download_url` first.
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urljoin

from airflow_provider_runway import media, polling
from airflow_provider_runway.core.exchange import ApiRequest, PreparedRequest, RetryPolicy, Send, attempts
from airflow_provider_runway.core.settings import ConnectionSettings
from airflow_provider_runway.core.urls import redact_url
from airflow_provider_runway.exceptions import (
    RunwayAPIError,
    RunwayError,
    RunwayNotFoundError,
    RunwayOutputExpiredError,
    RunwayTransportError,
)
from airflow_provider_runway.hooks.transport import (
    HttpResponse,
    TransportFailure,
    describe,
    drive,
    send_with_requests,
)

if TYPE_CHECKING:
    import requests

    from airflow_provider_runway.core.task import RunwayTask

#: Redirects followed by hand (each hop checked like the first) before a download gives up.
MAX_REDIRECTS = 3


def download(
    session: requests.Session,
    settings: ConnectionSettings,
    url: str,
    handle: BinaryIO,
    *,
    max_bytes: int,
    chunk_size: int,
    policy: RetryPolicy,
    user_agent: str,
    sleep: Callable[[float], None],
    log: Any,
) -> tuple[int, str, str | None]:
    """Stream a signed output URL into ``handle`` in constant memory: see :meth:`RunwayHook.download`."""
    import requests

    current = url
    for _hop in range(MAX_REDIRECTS + 1):
        media.check_download_url(current, allow_loopback_http=settings.allow_insecure_loopback)
        shown = redact_url(current)
        prepared = PreparedRequest(
            "GET",
            current,
            {"User-Agent": user_agent},
            None,
            settings.connect_timeout,
            settings.read_timeout,
            settings.verify,
        )
        held: list[requests.Response] = []

        def send(action: Send, held: list[requests.Response] = held) -> HttpResponse | TransportFailure:
            while held:  # an answer that is retried is not read
                held.pop().close()
            outcome, response = send_with_requests(session, action.request, stream=True)
            if response is not None:
                held.append(response)
            return outcome

        # The same retry rule as API GETs: 429 honouring Retry-After, 5xx and transport errors, bounded in
        # count and in total wait.
        steps = attempts(ApiRequest("GET", shown), prepared, policy=policy)
        outcome, _ = drive(steps, send, sleep=sleep, log=log)
        if isinstance(outcome, TransportFailure):
            raise RunwayTransportError(f"Download of {shown} failed: {outcome.detail}")
        with held.pop() as response:
            status = response.status_code
            if status in (301, 302, 303, 307, 308) and response.headers.get("Location"):
                current = urljoin(current, response.headers["Location"])
                continue
            if status in (401, 403, 410):
                raise RunwayOutputExpiredError(
                    f"the signed output URL {shown} was refused (expired?)", status_code=status, method="GET"
                )
            if status == 404:
                raise RunwayNotFoundError(
                    f"output {shown} not found (deleted?)", status_code=404, method="GET"
                )
            if status != 200:
                raise RunwayAPIError(f"download of {shown} failed", status_code=status, method="GET")
            expected = response.headers.get("Content-Length")
            if expected is not None and expected.isdigit() and int(expected) > max_bytes:
                raise RunwayError(f"Output {shown} is {expected} bytes, over the {max_bytes} byte limit")
            try:
                size, digest = media.sha256_writer(
                    handle, response.iter_content(chunk_size), max_bytes=max_bytes, url=current
                )
            except requests.RequestException as exc:
                raise RunwayTransportError(f"Download of {shown} broke off: {describe(exc)}") from None
            if expected is not None and expected.isdigit() and int(expected) != size:
                raise RunwayTransportError(f"Download of {shown} was truncated: {size} of {expected} bytes")
            return size, digest, response.headers.get("Content-Type")
    raise RunwayError(f"Too many redirects downloading {redact_url(url)}")


def upload(
    session: requests.Session,
    settings: ConnectionSettings,
    asset: media.LocalAsset,
    *,
    run: Callable[[ApiRequest], Any],
    user_agent: str,
    log: Any,
) -> str:
    """Upload a local or object-storage file through ``POST /v1/uploads``: see :meth:`RunwayHook.upload_file`.

    :param run: the hook's runner of one API call.
    """
    name = posixpath.basename(asset.location.path) or "upload"
    payload = run(ApiRequest("POST", "/v1/uploads", {"filename": name, "type": "ephemeral"}))
    if not isinstance(payload, dict) or not payload.get("uploadUrl") or not payload.get("runwayUri"):
        raise RunwayAPIError(f"unexpected answer to POST /v1/uploads: {str(payload)[:200]}", method="POST")
    upload_url = str(payload["uploadUrl"])
    media.check_download_url(upload_url, allow_loopback_http=settings.allow_insecure_loopback)
    fields = {str(k): str(v) for k, v in (payload.get("fields") or {}).items()}
    with asset.location.fs.open(asset.location.path, "rb") as source:
        body = MultipartStream(fields, name, asset.mime, source, asset.size)
        response = session.post(
            upload_url,
            data=body,
            headers={
                "Content-Type": body.content_type,
                "Content-Length": str(len(body)),
                "User-Agent": user_agent,
            },
            timeout=(settings.connect_timeout, max(settings.read_timeout, 300.0)),
            verify=settings.verify,
            allow_redirects=False,
        )
    if response.status_code not in (200, 201, 204):
        raise RunwayAPIError(
            f"upload of {asset.location.url} failed: {response.text[:200]}",
            status_code=response.status_code,
            method="POST",
            path="(upload URL)",
        )
    log.info("Uploaded %s (%d bytes) as %s", asset.location.url, asset.size, payload["runwayUri"])
    return str(payload["runwayUri"])


def restore_outputs(
    event: Any,
    get_task: Callable[[str], RunwayTask],
    *,
    max_poll_failures: int,
    sleep: Callable[[float], None],
    log: Any,
) -> Any:
    """Put back the signed output URLs a trigger withheld from its event (one GET of the task).

    Any other event is returned as it is. The GET has the same budget of transient failures as a poll
    (a broken body, retries used up). The task must still be in the event's state with outputs: a task
    deleted or purged since is an error that names it, and the URLs are never made up.
    """
    if not isinstance(event, dict) or not event.get("outputs_withheld"):
        return event
    task_id = str(event.get("runway_task_id"))
    log.info(
        "Runway task %s %s; reading its %s output URL(s) afresh (trigger events carry none)",
        task_id,
        event.get("status"),
        event["outputs_withheld"],
    )
    failures = 0
    while True:
        try:
            task = get_task(task_id)
            break
        except RunwayError as err:
            failures += 1
            if not polling.within_failure_budget(err, failures, max_poll_failures):
                raise
            delay = polling.failure_delay(1.0, 10.0, failures)
            log.warning(
                "Reading Runway task %s failed (%d/%d): %s; again in %.0f s",
                task_id,
                failures,
                max_poll_failures,
                err,
                delay,
            )
            sleep(delay)
    if task.status.lower() != event.get("status") or not task.outputs:
        raise RunwayError(
            f"Runway task {task_id} was {event.get('status')} with {event['outputs_withheld']} output(s) "
            f"when the trigger fired, but reads {task.describe()} now: its outputs are gone"
        )
    return {**event, "task": task.to_dict()}


class MultipartStream:
    """A multipart/form-data body (fields, then one file) read in chunks, with a known length, so a
    200 MB upload never sits in memory and is sent with Content-Length (presigned POSTs refuse chunked)."""

    def __init__(self, fields: Mapping[str, str], filename: str, mime: str, source: Any, size: int) -> None:
        self.boundary = f"runway-{uuid.uuid4().hex}"
        self.content_type = f"multipart/form-data; boundary={self.boundary}"
        head = b"".join(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode()
            for key, value in fields.items()
        )
        safe_name = filename.replace('"', "_").replace("\r", "_").replace("\n", "_")
        head += (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="file"; filename="{safe_name}"\r\n'
            f"Content-Type: {mime}\r\n\r\n"
        ).encode()
        self._parts: list[Any] = [head, source, f"\r\n--{self.boundary}--\r\n".encode()]
        self._length = len(head) + size + len(self._parts[2])
        self._index = 0

    def __len__(self) -> int:
        return self._length

    def read(self, amount: int = -1) -> bytes:
        chunks: list[bytes] = []
        wanted = amount if amount and amount > 0 else 1 << 62
        while wanted > 0 and self._index < len(self._parts):
            part = self._parts[self._index]
            if isinstance(part, bytes):
                piece, rest = part[:wanted], part[wanted:]
                self._parts[self._index] = rest
                if not rest:
                    self._index += 1
            else:
                piece = part.read(min(wanted, 1024 * 1024))
                if not piece:
                    self._index += 1
                    continue
            chunks.append(piece)
            wanted -= len(piece)
        return b"".join(chunks)
