"""Compression of canonical JSON for blobs.

Two codecs:

``zstd``
    The blob's canonical JSON compressed on its own (level 3 by default).
``zstd-delta``
    Compressed with another blob's canonical JSON as a zstd raw-content
    dictionary (its ``base``): successive triggers of a pipeline repeat most of
    their request, so a delta holds little more than what changed. A base is
    always a whole (plain ``zstd``) blob, so reading a delta takes two blobs.

The invariant "a delta's base is a whole blob" holds by construction:
:func:`compress_against` takes only a :class:`WholeBase`, which can be made only
from a blob stored as plain ``zstd`` (see :mod:`wfaudit.deltas` for where bases
are chosen), and the store refuses a delta whose base is not stored whole.
Stores written before this rule may hold a delta whose base is a delta: reads
follow such a chain up to :data:`MAX_DELTA_DEPTH` bases and refuse longer
chains (or loops) with :class:`~wfaudit_hookspecs.BlobUnreadable`, which
``wfaudit verify`` reports as an unreadable blob.

Decompression is bounded by bytes before anything is allocated: a frame that
declares a content size above the cap is refused at once, and a frame that
declares none is streamed and stopped at the cap
(:class:`~wfaudit_hookspecs.DecompressionBomb`).

A blob records its codec, so that new codecs can be added while old blobs stay
readable.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import attrs
import zstandard

from wfaudit_hookspecs import (
    Blob,
    BlobUnreadable,
    DecompressionBomb,
    DeltaBaseUnavailable,
    StoreError,
)
from wfaudit_hookspecs.util import LRU

__all__ = [
    "MAX_BLOB_BYTES",
    "MAX_DELTA_DEPTH",
    "ZSTD",
    "ZSTD_DELTA",
    "WholeBase",
    "bounded_decompress",
    "compress",
    "compress_against",
    "decode_blob",
    "decompress",
    "is_whole",
]

ZSTD = "zstd"
ZSTD_DELTA = "zstd-delta"
MAX_BLOB_BYTES = 256 * 1024 * 1024
"""The most canonical JSON one blob may decompress to (a decompression bomb stops here)."""
MAX_DELTA_DEPTH = 4
"""The longest chain of delta bases a read follows (only stores written before
bases had to be whole blobs hold chains longer than one)."""
_STREAM_CHUNK = 1024 * 1024
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


def _dicts() -> LRU[tuple[str, str, int], object]:
    """This thread's compressors and decompressors bound to a base, most recent first.

    Loading a 50 KB dictionary costs more than compressing a delta, and a busy
    orchestrator triggers (and retriggers) the same few hundred pipelines over
    and over. A decompressor bound to a base also spares a read of the base:
    a delta whose base's decompressor is here is decoded from its own bytes.
    Bounded by the bytes of the bases held (each entry keeps its base, plus
    zstd's digested form of about the same size).
    """
    cache: LRU[tuple[str, str, int], object] | None = _local.__dict__.get("dicts")
    if cache is None:
        cache = _local.dicts = LRU(max_weight=DICT_CACHE_BYTES)
    return cache


def _dictionary(base: bytes) -> zstandard.ZstdCompressionDict:
    return zstandard.ZstdCompressionDict(base, dict_type=zstandard.DICT_TYPE_RAWCONTENT)


def is_whole(blob: Blob) -> bool:
    """True for a blob that decodes on its own (no base): the only kind a delta
    may be compressed against."""
    return blob.codec == ZSTD and blob.base is None


@attrs.frozen(repr=False)
class WholeBase:
    """The content of a blob stored whole, to compress deltas against.

    Made only by :meth:`of` from the stored blob itself, so a delta can never be
    compressed against content the store holds as a delta (or does not hold).
    """

    content_hash: str
    canonical: bytes

    def __repr__(self) -> str:  # never the content
        return f"WholeBase({self.content_hash[:12]}, {len(self.canonical)} bytes)"

    @classmethod
    def of(cls, stored: Blob, canonical: bytes | None = None) -> WholeBase:
        """The base made of ``stored``, a blob read from the store.

        :param canonical: its content when the caller has it (spares decompressing).
        :raises DeltaBaseUnavailable: ``stored`` is not a whole blob.
        """
        if not is_whole(stored):
            raise DeltaBaseUnavailable(
                f"blob {stored.content_hash[:12]} is stored as {stored.codec!r}"
                f"{' against a base' if stored.base else ''}: not a whole blob, so no "
                "delta may use it as its base"
            )
        if canonical is None:
            canonical = decompress(stored.codec, stored.data)
        return cls(stored.content_hash, canonical)


def compress(data: bytes, level: int = 3) -> tuple[str, bytes]:
    """Compress canonical JSON on its own; returns ``(codec, bytes)``."""
    return ZSTD, _compressor(level).compress(data)


def compress_against(data: bytes, base: WholeBase, level: int = 3) -> bytes:
    """Compress canonical JSON with ``base`` (a whole blob's content) as dictionary."""
    if not isinstance(base, WholeBase):  # the invariant, for callers without mypy
        raise TypeError("a delta is compressed against a WholeBase only")
    compressor = _dicts().get_or_make(
        ("c", base.content_hash, level),
        lambda: zstandard.ZstdCompressor(
            level=level, dict_data=_dictionary(base.canonical), write_content_size=True
        ),
        len(base.canonical),
    )
    assert isinstance(compressor, zstandard.ZstdCompressor)
    return compressor.compress(data)


def bounded_decompress(
    decompressor: zstandard.ZstdDecompressor, data: bytes, limit: int, *, what: str = "blob"
) -> bytes:
    """Decompress one zstd frame, never producing (or allocating) more than ``limit`` bytes.

    python-zstandard ignores ``max_output_size`` when the frame declares its
    content size and allocates what the frame declares: the declared size is
    checked first. A frame that declares none is streamed and stopped at the cap.

    :raises DecompressionBomb: the output is (or declares to be) over ``limit``.
    :raises zstandard.ZstdError: the bytes are not a valid frame.
    """
    declared = zstandard.frame_content_size(data)
    if declared > limit:
        raise DecompressionBomb(
            f"{what} declares {declared:,} bytes once decompressed, over the "
            f"{limit:,}-byte cap: refused (a decompression bomb, or tampered bytes)"
        )
    if declared >= 0:
        return decompressor.decompress(data)
    chunks: list[bytes] = []
    total = 0
    with decompressor.stream_reader(data, read_across_frames=False) as reader:
        while True:
            chunk = reader.read(_STREAM_CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise DecompressionBomb(
                    f"{what} decompresses past the {limit:,}-byte cap: refused "
                    "(a decompression bomb, or tampered bytes)"
                )
            chunks.append(chunk)
    return b"".join(chunks)


def decompress(
    codec: str, data: bytes, base_hash: str | None = None, base: bytes | None = None
) -> bytes:
    """Decompress a blob's bytes written with ``codec`` (and ``base`` for a delta).

    :raises DecompressionBomb: the output would pass :data:`MAX_BLOB_BYTES`.
    :raises StoreError: the bytes are corrupt, or the codec is unknown.
    """
    try:
        if codec == ZSTD:
            return bounded_decompress(_decompressor(), data, MAX_BLOB_BYTES)
        if codec == ZSTD_DELTA and base is not None and base_hash is not None:
            decompressor = _dicts().get_or_make(
                ("d", base_hash, 0),
                lambda: zstandard.ZstdDecompressor(dict_data=_dictionary(base)),
                len(base),
            )
            assert isinstance(decompressor, zstandard.ZstdDecompressor)
            return bounded_decompress(decompressor, data, MAX_BLOB_BYTES)
    except zstandard.ZstdError as exc:
        raise StoreError(f"blob is corrupt: {exc}") from None
    if codec == ZSTD_DELTA:
        raise StoreError("a delta blob was read without its base")
    raise StoreError(f"blob codec {codec!r} is not known to this wfaudit; upgrade wfaudit")


def decode_blob(blob: Blob, get_blob: Callable[[str], Blob | None]) -> bytes:
    """A blob's canonical JSON, fetching its base with ``get_blob`` for a delta.

    A base is a whole blob; a chain of deltas written before that rule is
    followed up to :data:`MAX_DELTA_DEPTH` bases.

    :raises BlobUnreadable: a base is missing, or the chain is too long or loops.
    :raises DecompressionBomb: the blob would decompress past the cap.
    :raises StoreError: the bytes are corrupt.
    """
    return _decode(blob, get_blob, ())


def _decode(blob: Blob, get_blob: Callable[[str], Blob | None], above: tuple[str, ...]) -> bytes:
    """Decode ``blob``, a base of the deltas ``above`` (none for the blob read)."""
    if blob.codec != ZSTD_DELTA:
        return decompress(blob.codec, blob.data)
    name = (above[0] if above else blob.content_hash)[:12]
    if blob.content_hash in above:
        raise BlobUnreadable(f"delta blob {name}: its chain of bases loops")
    if len(above) >= MAX_DELTA_DEPTH:
        raise BlobUnreadable(
            f"delta blob {name}: its chain of bases is longer than {MAX_DELTA_DEPTH}"
        )
    if blob.base is None:
        raise BlobUnreadable(f"delta blob {name} names no base")
    bound = _dicts().get(("d", blob.base, 0))
    if isinstance(bound, zstandard.ZstdDecompressor):
        # The base was read (and its dictionary loaded) before: no second read.
        try:
            return bounded_decompress(bound, blob.data, MAX_BLOB_BYTES)
        except zstandard.ZstdError as exc:
            raise StoreError(f"blob is corrupt: {exc}") from None
    base_blob = get_blob(blob.base)
    if base_blob is None:
        raise BlobUnreadable(f"delta blob {name}: its base {blob.base[:12]} is missing")
    base = _decode(base_blob, get_blob, (*above, blob.content_hash))
    if is_whole(base_blob):
        return decompress(blob.codec, blob.data, blob.base, base)
    # A base that is a delta is never cached as one: the shortcut above must
    # not hide a chain that a process reading it afresh would have to follow.
    try:
        decompressor = zstandard.ZstdDecompressor(dict_data=_dictionary(base))
        return bounded_decompress(decompressor, blob.data, MAX_BLOB_BYTES)
    except zstandard.ZstdError as exc:
        raise StoreError(f"blob is corrupt: {exc}") from None
