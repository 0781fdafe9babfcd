"""Compression of canonical JSON for blobs.

Two codecs:

``zstd``
    The blob's canonical JSON compressed on its own (level 3 by default).
``zstd-delta``
    Compressed with another blob's canonical JSON as a zstd raw-content
    dictionary (its ``base``): successive triggers of a pipeline repeat most of
    their request, so a delta holds little more than what changed. A base is
    always a plain ``zstd`` blob, so reading a delta takes two blobs at most.

A blob records its codec, so that new codecs can be added while old blobs stay
readable.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable

import zstandard

from wfaudit_hookspecs import Blob, StoreError

__all__ = ["ZSTD", "ZSTD_DELTA", "compress", "compress_against", "decode_blob", "decompress"]

ZSTD = "zstd"
ZSTD_DELTA = "zstd-delta"
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


class _DictCache:
    """Per-thread compressors and decompressors bound to a base, most recent first.

    Loading a 50 KB dictionary costs more than compressing a delta, and a busy
    orchestrator triggers the same few hundred pipelines over and over.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.entries: collections.OrderedDict[tuple[str, str, int], object] = (
            collections.OrderedDict()
        )

    def get(self, key: tuple[str, str, int], make: Callable[[], object]) -> object:
        found = self.entries.get(key)
        if found is None:
            found = self.entries[key] = make()
            if len(self.entries) > self.size:
                self.entries.popitem(last=False)
        else:
            self.entries.move_to_end(key)
        return found


def _dicts() -> _DictCache:
    cache: _DictCache | None = _local.__dict__.get("dicts")
    if cache is None:
        cache = _local.dicts = _DictCache()
    return cache


def _dictionary(base: bytes) -> zstandard.ZstdCompressionDict:
    return zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)


def compress(data: bytes, level: int = 3) -> tuple[str, bytes]:
    """Compress canonical JSON on its own; returns ``(codec, bytes)``."""
    return ZSTD, _compressor(level).compress(data)


def compress_against(data: bytes, base_hash: str, base: bytes, level: int = 3) -> bytes:
    """Compress canonical JSON with ``base`` (another blob's content) as dictionary."""
    compressor = _dicts().get(
        ("c", base_hash, level),
        lambda: zstandard.ZstdCompressor(
            level=level, dict_data=_dictionary(base), write_content_size=True
        ),
    )
    assert isinstance(compressor, zstandard.ZstdCompressor)
    return compressor.compress(data)


def decompress(
    codec: str, data: bytes, base_hash: str | None = None, base: bytes | None = None
) -> bytes:
    """Decompress a blob's bytes written with ``codec`` (and ``base`` for a delta)."""
    try:
        if codec == ZSTD:
            return _decompressor().decompress(data, max_output_size=_MAX_OUTPUT)
        if codec == ZSTD_DELTA and base is not None and base_hash is not None:
            decompressor = _dicts().get(
                ("d", base_hash, 0), lambda: zstandard.ZstdDecompressor(dict_data=_dictionary(base))
            )
            assert isinstance(decompressor, zstandard.ZstdDecompressor)
            return decompressor.decompress(data, max_output_size=_MAX_OUTPUT)
    except zstandard.ZstdError as exc:
        raise StoreError(f"blob is corrupt: {exc}") from None
    if codec == ZSTD_DELTA:
        raise StoreError("a delta blob was read without its base")
    raise StoreError(f"blob codec {codec!r} is not known to this wfaudit; upgrade wfaudit")


def decode_blob(blob: Blob, get_blob: Callable[[str], Blob | None]) -> bytes:
    """A blob's canonical JSON, fetching its base with ``get_blob`` for a delta."""
    if blob.codec != ZSTD_DELTA:
        return decompress(blob.codec, blob.data)
    if blob.base is None:
        raise StoreError(f"delta blob {blob.content_hash[:12]} names no base")
    base_blob = get_blob(blob.base)
    if base_blob is None:
        raise StoreError(
            f"delta blob {blob.content_hash[:12]}: its base {blob.base[:12]} is missing"
        )
    if base_blob.codec != ZSTD:
        raise StoreError(f"delta blob {blob.content_hash[:12]}: its base is itself a delta")
    base = decompress(base_blob.codec, base_blob.data)
    return decompress(blob.codec, blob.data, blob.base, base)
