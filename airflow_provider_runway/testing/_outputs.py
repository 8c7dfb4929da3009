"""The bytes of each output: rendered on first download, cached, or the shipped samples.

With ``outputs="request"`` (the default) an output follows its request
(:mod:`~airflow_provider_runway.testing._output_plan`, drawn by :mod:`~airflow_provider_runway.testing._render`);
with ``outputs="sample"``, or when PyAV is not installed (one warning line, once), every video is the 1.5 s
sample MP4, every image the sample PNG and every sound the sample WAV, as before.

:class:`OutputCache` keeps the last few dozen outputs (by request, so two tasks made from the same request
share one render) and is safe across threads: two downloads of an output that is not rendered yet wait for
one render.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future

from airflow_provider_runway.testing import _media
from airflow_provider_runway.testing._output_plan import extension, fingerprint, kind_of, plan_for

log = logging.getLogger("airflow_provider_runway.testing")

MODES = ("request", "sample")
SAMPLE_EXT = {"video": "mp4", "image": "png", "audio": "wav"}
EXTRA = "airflow-provider-runway[simulator-media]"
_availability: list[bool] = []
_availability_lock = threading.Lock()


def media_available() -> bool:
    """Whether PyAV imports (checked once; the first miss logs one warning line)."""
    with _availability_lock:
        if not _availability:
            try:
                importlib.import_module("av")
                _availability.append(True)
            except ImportError as exc:
                _availability.append(False)
                log.warning(
                    "runway simulator: PyAV is not installed (%s), so outputs are the fixed samples, not "
                    "what each request asked for; pip install '%s'",
                    exc,
                    EXTRA,
                )
        return _availability[0]


def rendering(mode: str) -> bool:
    """Whether outputs are rendered in this mode on this machine."""
    return mode == "request" and media_available()


def output_ext(endpoint: str, body: object, mode: str) -> str:
    """The file extension of an endpoint's outputs for this body (a sample's when not rendering)."""
    if mode == "request" and (kind_of(endpoint) == "video" or extension(endpoint, body) == "png"):
        return extension(endpoint, body)  # the same as the sample's: no need to ask for PyAV yet
    if rendering(mode):
        return extension(endpoint, body)
    return SAMPLE_EXT[kind_of(endpoint)]


def sample(endpoint: str) -> bytes:
    """The shipped sample of an endpoint's kind."""
    kind = kind_of(endpoint)
    if kind == "image":
        return _media.sample_png()
    if kind == "audio":
        return _media.sample_wav()
    return _media.sample_mp4()


class OutputCache:
    """Rendered outputs by request fingerprint: at most ``entries`` of them and ``max_bytes`` in all, the
    least recently used dropped first; one render per output however many downloads ask at once.

    :param entries: how many outputs to keep.
    :param max_bytes: how many bytes to keep (one larger output is kept alone).
    """

    def __init__(self, entries: int = 48, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.entries = entries
        self.max_bytes = max_bytes
        self._done: OrderedDict[str, bytes] = OrderedDict()
        self._pending: dict[str, Future[bytes]] = {}
        self._lock = threading.Lock()
        self.renders = 0

    def get(self, key: str, make: Callable[[], bytes]) -> bytes:
        """The bytes for ``key``, calling ``make`` only when no other thread is rendering them."""
        with self._lock:
            if key in self._done:
                self._done.move_to_end(key)
                return self._done[key]
            future = self._pending.get(key)
            owner = future is None
            if future is None:
                future = self._pending[key] = Future()
                self.renders += 1
        if not owner:
            return future.result()
        try:
            data = make()
        except BaseException as exc:
            with self._lock:
                del self._pending[key]
            future.set_exception(exc)
            raise
        with self._lock:
            del self._pending[key]
            self._done[key] = data
            while len(self._done) > 1 and (
                len(self._done) > self.entries or sum(map(len, self._done.values())) > self.max_bytes
            ):
                self._done.popitem(last=False)
        future.set_result(data)
        return data

    def clear(self) -> None:
        """Forget every finished output."""
        with self._lock:
            self._done.clear()


def output_bytes(cache: OutputCache, endpoint: str, body: object, index: int, mode: str) -> bytes:
    """The bytes of output ``index`` of a task made from ``body``: rendered (cached) or the sample.

    A render that fails (a bug, or an encoder this PyAV lacks) logs the error and serves the sample, so a
    download still gets a valid file.
    """
    if not rendering(mode):
        return sample(endpoint)

    def make() -> bytes:
        from airflow_provider_runway.testing import _render

        return _render.render(plan_for(endpoint, body, index))

    try:
        return cache.get(fingerprint(endpoint, body, index), make)
    except Exception:
        log.exception("runway simulator: rendering an output of %s failed; serving the sample", endpoint)
        return sample(endpoint)
