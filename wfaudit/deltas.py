"""Choosing how to compress a snapshot: on its own, or as a delta.

Successive triggers of a pipeline repeat most of their request: a new commit SHA,
run id and timestamps, now and then a real change. Compressed against the
pipeline's *base* (an earlier snapshot of it, stored as a plain ``zstd`` blob),
a snapshot takes a few hundred bytes instead of kilobytes.

A delta's base is always a whole blob, by construction: the encoder compresses
only against a :class:`~wfaudit.codec.WholeBase`, made from the blob *as the
store holds it*. Content is stored once per hash whatever its codec (the store
keeps the first blob of a hash), so a new keyframe whose content another
pipeline, another tenant or an earlier run already stored as a delta is *not*
adopted as a base: :meth:`DeltaEncoder.stored` reads the stored blob back after
the save and adopts it only if it is whole. Every way a base is chosen goes
through that check:

- a keyframe just saved (:meth:`DeltaEncoder.stored`, never before the save
  succeeded: a refused or spooled audit is no base);
- a process that has not seen a pipeline yet asks the store for the pipeline's
  latest snapshot and takes its blob, or that blob's base, only if it is whole;
- the store itself refuses a delta whose base is not stored whole now (a base
  that retention deleted since this process remembered it); the auditor then
  forgets the base and stores the snapshot whole
  (:class:`~wfaudit_hookspecs.DeltaBaseUnavailable`);
- the spool holds whole blobs only (:meth:`DeltaEncoder.standalone`), so a
  drain never depends on a base that may be gone by then;
- a restore from an archive stores a whole blob.

A pipeline gets a new base (a keyframe) after :attr:`DeltaEncoder.rebase_after`
deltas, or as soon as a delta would not save enough (a large change of
definition). The encoder remembers each pipeline's base in process memory (a
bounded LRU), so that most audits cost no read.
"""

from __future__ import annotations

import attrs

from wfaudit_hookspecs import Blob, HistoryQuery, SnapshotRecord, Store, StoreError
from wfaudit_hookspecs.util import LRU

from . import codec
from .codec import WholeBase

__all__ = ["DELTA_MAX_SHARE", "DeltaEncoder"]

DELTA_MAX_SHARE = 0.08
"""A delta is kept when it is smaller than this share of the canonical JSON."""


@attrs.define
class _Base:
    whole: WholeBase
    deltas: int = 0

    @property
    def content_hash(self) -> str:
        return self.whole.content_hash


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
        self._bases: LRU[tuple[str, str, str], _Base] = LRU(cache_size)

    def encode(self, record: SnapshotRecord, canonical: bytes) -> Blob:
        """The blob for ``record``, whose masked config is ``canonical``."""
        key = self._key(record)
        base = self._base(key, record) if self.rebase_after > 0 else None
        if (
            base is not None
            and base.deltas < self.rebase_after
            and base.content_hash != record.content_hash
        ):
            data = codec.compress_against(canonical, base.whole, self.level)
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
        return self.whole(record, canonical)

    def whole(self, record: SnapshotRecord, canonical: bytes) -> Blob:
        """The blob for ``record`` compressed on its own (a keyframe)."""
        codec_name, data = codec.compress(canonical, self.level)
        return Blob(
            content_hash=record.content_hash, codec=codec_name, raw_size=len(canonical), data=data
        )

    def stored(self, record: SnapshotRecord, blob: Blob, canonical: bytes) -> None:
        """Called after the store took ``record`` with ``blob``: a whole blob
        becomes its pipeline's base, if the store holds that content whole.

        The store keeps the first blob of a content hash: when the same content
        was stored as a delta before (by another pipeline or tenant, or by an
        earlier run), this audit's whole blob was not kept and is no base.
        """
        if self.rebase_after <= 0 or not codec.is_whole(blob):
            return
        key = self._key(record)
        current = self._bases.get(key)
        if current is not None and current.content_hash == record.content_hash:
            return
        try:
            kept = self.store.get_blob(record.content_hash)
            if kept is None or not codec.is_whole(kept):
                return
            whole = WholeBase.of(kept, canonical)
        except StoreError:
            return  # no new base: the next audit makes a keyframe again
        self._remember(key, _Base(whole))

    def unusable(self, record: SnapshotRecord, blob: Blob) -> None:
        """The store refused ``blob``, a delta, because its base is not stored
        whole (any more): forget that base."""
        key = self._key(record)
        current = self._bases.get(key)
        if current is not None and current.content_hash == blob.base:
            self._bases.discard(key, current)

    def standalone(self, blob: Blob) -> Blob:
        """``blob`` as a whole blob (a delta decoded with its base, recompressed),
        for the spool: a spooled snapshot must not depend on a base that may be
        gone when it is replayed. A blob that cannot be decoded is returned as is.
        """
        if codec.is_whole(blob) or blob.base is None:
            return blob
        base = next((b.whole for b in self._bases.values() if b.content_hash == blob.base), None)
        try:
            if base is not None:
                canonical = codec.decompress(
                    blob.codec, blob.data, base.content_hash, base.canonical
                )
            else:
                canonical = codec.decode_blob(blob, self.store.get_blob)
        except StoreError:
            return blob
        codec_name, data = codec.compress(canonical, self.level)
        return Blob(
            content_hash=blob.content_hash, codec=codec_name, raw_size=len(canonical), data=data
        )

    @staticmethod
    def _key(record: SnapshotRecord) -> tuple[str, str, str]:
        return (record.tenant or "", record.pipeline_id, record.workflow_type)

    def _base(self, key: tuple[str, str, str], record: SnapshotRecord) -> _Base | None:
        base = self._bases.get(key)
        if base is not None:
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
            base_blob = blob if blob.base is None else self.store.get_blob(blob.base)
            if base_blob is None or not codec.is_whole(base_blob):
                return None  # a delta on a delta (an old store): start a new base
            return _Base(WholeBase.of(base_blob))
        except StoreError:
            return None  # no base: this audit stores a plain blob, and becomes the base

    def _remember(self, key: tuple[str, str, str], base: _Base) -> None:
        self._bases.put(key, base)

    def forget(self) -> None:
        """Drop every remembered base (after retention removed snapshots, say)."""
        self._bases.clear()
