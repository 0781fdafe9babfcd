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
DICT_CACHE_BYTES = 48 * 1024 * 1024
"""Bases held by each thread's cache of dictionary-bound (de)compressors."""

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
    orchestrator triggers (and retriggers) the same few hundred pipelines over
    and over. A decompressor bound to a base also spares a read of the base:
    a delta whose base's decompressor is here is decoded from its own bytes.
    Bounded by the bytes of the bases held (each entry keeps its base, plus
    zstd's digested form of about the same size).
    """

    def __init__(self, budget: int = DICT_CACHE_BYTES) -> None:
        self.budget = budget
        self.held = 0
        self.entries: collections.OrderedDict[tuple[str, str, int], tuple[object, int]] = (
            collections.OrderedDict()
        )

    def find(self, key: tuple[str, str, int]) -> object | None:
        found = self.entries.get(key)
        if found is None:
            return None
        self.entries.move_to_end(key)
        return found[0]

    def get(self, key: tuple[str, str, int], make: Callable[[], object], weight: int) -> object:
        found = self.find(key)
        if found is None:
            found = make()
            self.entries[key] = (found, weight)
            self.held += weight
            while self.held > self.budget and len(self.entries) > 1:
                _, (_, dropped) = self.entries.popitem(last=False)
                self.held -= dropped
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
        len(base),
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
                ("d", base_hash, 0),
                lambda: zstandard.ZstdDecompressor(dict_data=_dictionary(base)),
                len(base),
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
    bound = _dicts().find(("d", blob.base, 0))
    if isinstance(bound, zstandard.ZstdDecompressor):
        # The base was read (and its dictionary loaded) before: no second read.
        try:
            return bound.decompress(blob.data, max_output_size=_MAX_OUTPUT)
        except zstandard.ZstdError as exc:
            raise StoreError(f"blob is corrupt: {exc}") from None
    base_blob = get_blob(blob.base)
    if base_blob is None:
        raise StoreError(
            f"delta blob {blob.content_hash[:12]}: its base {blob.base[:12]} is missing"
        )
    if base_blob.codec != ZSTD:
        raise StoreError(f"delta blob {blob.content_hash[:12]}: its base is itself a delta")
    base = decompress(base_blob.codec, base_blob.data)
    return decompress(blob.codec, blob.data, blob.base, base)
