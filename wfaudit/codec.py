"""Compression of canonical JSON for blobs.

A blob records the codec it was written with, so that new codecs (a trained
dictionary, a delta against a pipeline's earlier snapshot) can be added while
old blobs stay readable.
"""

from __future__ import annotations

import threading

import zstandard

from wfaudit_hookspecs import StoreError

__all__ = ["ZSTD", "compress", "decompress"]

ZSTD = "zstd"
_MAX_OUTPUT = 256 * 1024 * 1024  # a decompression bomb stops here

_local = threading.local()


def _compressor(level: int) -> zstandard.ZstdCompressor:
    # zstandard objects are not safe to share between threads; one per thread
    # and level avoids re-allocating the compression context on every audit.
    cache: dict[int, zstandard.ZstdCompressor] = _local.__dict__.setdefault("c", {})
    compressor = cache.get(level)
    if compressor is None:
        compressor = cache[level] = zstandard.ZstdCompressor(level=level, write_content_size=True)
    return compressor


def _decompressor() -> zstandard.ZstdDecompressor:
    decompressor: zstandard.ZstdDecompressor | None = _local.__dict__.get("d")
    if decompressor is None:
        decompressor = _local.d = zstandard.ZstdDecompressor()
    return decompressor


def compress(data: bytes, level: int = 3) -> tuple[str, bytes]:
    """Compress canonical JSON; returns ``(codec, bytes)``."""
    return ZSTD, _compressor(level).compress(data)


def decompress(codec: str, data: bytes) -> bytes:
    """Decompress a blob's bytes written with ``codec``."""
    if codec != ZSTD:
        raise StoreError(f"blob codec {codec!r} is not known to this wfaudit; upgrade wfaudit")
    try:
        return _decompressor().decompress(data, max_output_size=_MAX_OUTPUT)
    except zstandard.ZstdError as exc:
        raise StoreError(f"blob is corrupt: {exc}") from None
