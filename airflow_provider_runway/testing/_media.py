"""Output media for the simulator: a tiny real H.264 MP4, a real PNG, a real WAV, and MP4s padded to any size.

``assets/sample.mp4`` is 1.5 s of 160x96 H.264 at 24 fps (under 4 KB, ``moov`` first): what every video
output is without PyAV (see :mod:`~airflow_provider_runway.testing._outputs`). A large output is an MP4 (the
sample, or the output rendered for the request) followed by one ``free`` box (ISO/IEC 14496-12 lets
readers skip it), so it stays a valid MP4 of exactly the requested size while being streamed in constant
memory.
"""

from __future__ import annotations

import io
import math
import struct
import wave
import zlib
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ASSETS = Path(__file__).with_name("assets")
CHUNK = 1024 * 1024
_ZEROS = bytes(CHUNK)


@cache
def sample_mp4() -> bytes:
    """Bytes of the shipped sample MP4."""
    return (ASSETS / "sample.mp4").read_bytes()


@cache
def sample_png() -> bytes:
    """Bytes of the shipped sample PNG."""
    return (ASSETS / "sample.png").read_bytes()


@cache
def sample_wav() -> bytes:
    """Half a second of a 440 Hz tone, 16-bit mono at 8 kHz (the audio endpoints' output)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(
            b"".join(
                struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * n / 8000))) for n in range(4000)
            )
        )
    return buffer.getvalue()


def make_png(width: int = 64, height: int = 36) -> bytes:
    """Build an RGB gradient PNG with zlib (how ``assets/sample.png`` was made)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 4 % 256, y * 7 % 256, 160)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def mp4_size(target: int | None, base: bytes | None = None) -> int:
    """Size in bytes of the MP4 served for a requested ``target`` size (``None`` or too small: ``base``
    itself, by default the sample)."""
    length = len(sample_mp4() if base is None else base)
    if target is None or target < length + 8:
        return length
    return target


def free_box_header(padding_total: int) -> bytes:
    """Header of a ``free`` box whose total size (header included) is ``padding_total``."""
    if padding_total < 2**32:
        return struct.pack(">I4s", padding_total, b"free")
    return struct.pack(">I4sQ", 1, b"free", padding_total)


def iter_mp4(
    target: int | None, start: int = 0, end: int | None = None, base: bytes | None = None
) -> Iterator[bytes]:
    """Yield the bytes ``[start, end)`` of ``base`` (by default the sample) padded to :func:`mp4_size`
    (``target``), in chunks of 1 MB."""
    base = sample_mp4() if base is None else base
    total = mp4_size(target, base)
    end = total if end is None else min(end, total)
    head = base
    if total > len(base):
        padding = total - len(base)
        head = base + free_box_header(padding)
    pos = start
    if pos < len(head):
        piece = head[pos:end]
        if piece:
            yield piece
        pos = min(len(head), end)
    while pos < end:
        size = min(CHUNK, end - pos)
        yield _ZEROS if size == CHUNK else _ZEROS[:size]
        pos += size
