"""Choosing how to compress a snapshot: on its own, or as a delta.

Successive triggers of a pipeline repeat most of their request: a new commit SHA,
run id and timestamps, now and then a real change. Compressed against the
pipeline's *base* (an earlier snapshot of it, stored as a plain ``zstd`` blob),
a snapshot takes a few hundred bytes instead of kilobytes.

Chains are bounded by construction: a delta's base is always a plain blob, so a
read needs two blobs at most. A pipeline gets a new base (a plain blob, its
"keyframe") after :attr:`DeltaEncoder.rebase_after` deltas, or as soon as a delta
would not save at least half of the plain size (a large change of definition).

The encoder remembers each pipeline's base in process memory (a bounded LRU); a
process that has not seen a pipeline yet asks the store for the pipeline's
latest snapshot, so that bases carry over process restarts. Identical content is
stored once whatever its codec: the store keeps the first blob of a content hash.
"""

from __future__ import annotations

import collections
import threading

import attrs

from wfaudit_hookspecs import Blob, HistoryQuery, SnapshotRecord, Store, StoreError

from . import codec

__all__ = ["DELTA_MAX_SHARE", "DeltaEncoder"]

DELTA_MAX_SHARE = 0.08
"""A delta is kept when it is smaller than this share of the canonical JSON."""


@attrs.define
class _Base:
    content_hash: str
    canonical: bytes
    deltas: int = 0


class DeltaEncoder:
    """Makes the blob of each audit, as a delta against its pipeline's base when
    that pays. Thread-safe; one per auditor."""

    def __init__(
        self, store: Store, *, level: int = 3, rebase_after: int = 64, cache_size: int = 2048
    ) -> None:
        self.store = store
        self.level = level
        self.rebase_after = rebase_after
        self.cache_size = cache_size
        self._bases: collections.OrderedDict[tuple[str, str, str], _Base] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()

    def encode(self, record: SnapshotRecord, canonical: bytes) -> Blob:
        """The blob for ``record``, whose masked config is ``canonical``."""
        key = (record.tenant or "", record.pipeline_id, record.workflow_type)
        base = self._base(key, record) if self.rebase_after > 0 else None
        if (
            base is not None
            and base.deltas < self.rebase_after
            and base.content_hash != record.content_hash
        ):
            data = codec.compress_against(canonical, base.content_hash, base.canonical, self.level)
            # A delta must pay for itself (plain zstd takes 15-30% of canonical JSON):
            # a large change of definition gets a new base instead.
            if len(data) < len(canonical) * DELTA_MAX_SHARE or len(data) < 512:
                base.deltas += 1
                return Blob(
                    content_hash=record.content_hash,
                    codec=codec.ZSTD_DELTA,
                    raw_size=len(canonical),
                    data=data,
                    base=base.content_hash,
                )
        codec_name, data = codec.compress(canonical, self.level)
        self._remember(key, _Base(record.content_hash, canonical))
        return Blob(
            content_hash=record.content_hash, codec=codec_name, raw_size=len(canonical), data=data
        )

    def _base(self, key: tuple[str, str, str], record: SnapshotRecord) -> _Base | None:
        with self._lock:
            base = self._bases.get(key)
            if base is not None:
                self._bases.move_to_end(key)
                return base
        base = self._load_base(record)
        if base is not None:
            self._remember(key, base)
        return base

    def _load_base(self, record: SnapshotRecord) -> _Base | None:
        """The base of the pipeline's latest stored snapshot, if any."""
        query = HistoryQuery(
            tenant=record.tenant,
            pipeline_id=record.pipeline_id,
            workflow_type=record.workflow_type,
            limit=1,
        )
        try:
            latest = self.store.history(query)
            if not latest:
                return None
            blob = self.store.get_blob(latest[0].content_hash)
            if blob is None:
                return None
            base_hash = blob.base or blob.content_hash
            base_blob = blob if blob.base is None else self.store.get_blob(base_hash)
            if base_blob is None or base_blob.codec != codec.ZSTD:
                return None
            return _Base(base_hash, codec.decompress(base_blob.codec, base_blob.data))
        except StoreError:
            return None  # no base: this audit stores a plain blob, and becomes the base

    def _remember(self, key: tuple[str, str, str], base: _Base) -> None:
        with self._lock:
            self._bases[key] = base
            self._bases.move_to_end(key)
            while len(self._bases) > self.cache_size:
                self._bases.popitem(last=False)

    def forget(self) -> None:
        """Drop every remembered base (after retention removed snapshots, say)."""
        with self._lock:
            self._bases.clear()
