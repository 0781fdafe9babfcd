"""The retention contract: legal holds, archive records, sweeps and archive stores.

The engine's retention module (``wfaudit.retention``) decides what a sweep does;
a store that implements :class:`StoreRetention` carries it out, a batch of
snapshots (and the sweep's progress) per transaction, recording every change in
the audit trail; an :class:`ArchiveStore` (opened by ``wfaudit_open_archive``)
keeps the archive objects. Nothing here depends on the engine.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar, runtime_checkable

import attrs

from .errors import InvalidRequest, StoreError
from .model import Blob
from .util import parse_key_value

__all__ = [
    "ArchiveFilter",
    "ArchiveRecord",
    "ArchiveRetention",
    "ArchiveStore",
    "ArchivedRow",
    "DeleteOutcome",
    "ExportedSnapshot",
    "HoldScope",
    "LegalHold",
    "LockedSnapshot",
    "RetentionCandidate",
    "RetentionRun",
    "RetentionWork",
    "StepDone",
    "StoreRetention",
    "StoredArchive",
    "SweepBusy",
    "SweepProgress",
    "SweepState",
    "SweepStep",
    "check_hold",
    "check_retention_reason",
    "hold_covers",
    "parse_selector",
    "selector_matches",
]


class SweepBusy(StoreError):
    """Another retention sweep holds the store's sweep lock."""


class HoldScope:
    """What a legal hold covers."""

    SNAPSHOT = "snapshot"
    """One snapshot, by id."""
    PIPELINE = "pipeline"
    """Every snapshot of a pipeline (in the hold's tenant)."""
    SELECTOR = "selector"
    """Every snapshot whose labels match a selector (``key=value,key2=value2``)."""

    ALL = (SNAPSHOT, PIPELINE, SELECTOR)


def parse_selector(text: str) -> tuple[tuple[str, str], ...]:
    """A label selector ``key=value[,key2=value2...]`` as sorted ``(key, value)`` pairs.

    Every pair must match (AND). Whitespace around keys and values is ignored.

    :raises InvalidRequest: an empty selector, a pair without ``=`` or a key given twice.
    """
    pairs: dict[str, str] = {}
    for part in str(text).split(","):
        try:
            key, value = parse_key_value(part, strip_value=True)
        except InvalidRequest:
            raise InvalidRequest(
                f"label selector {text!r}: {part.strip()!r} is not KEY=VALUE "
                "(write key=value,key2=value2)"
            ) from None
        if key in pairs:
            raise InvalidRequest(f"label selector {text!r} names {key!r} twice")
        pairs[key] = value
    return tuple(sorted(pairs.items()))


def check_hold(scope: str, target: object) -> str:
    """A legal hold's scope and target, checked; returns the target as stored
    (stripped; a selector's pairs sorted, ``key=value,key2=value2``).

    :raises InvalidRequest: an unknown scope, an empty or too long target, or a
        bad selector.
    """
    if scope not in HoldScope.ALL:
        raise InvalidRequest(f"a legal hold covers a {', a '.join(HoldScope.ALL)}, not {scope!r}")
    text = str(target).strip()
    if not text or len(text) > 1024:
        raise InvalidRequest("a legal hold needs a target of 1 to 1024 characters")
    if scope == HoldScope.SELECTOR:
        text = ",".join(f"{key}={value}" for key, value in parse_selector(text))
    return text


def check_retention_reason(reason: str) -> None:
    """:raises InvalidRequest: ``reason`` is not one of :class:`ArchiveRetention`'s values."""
    if reason not in ArchiveRetention.ALL:
        raise InvalidRequest(
            f"an archive's retention reason is one of {', '.join(ArchiveRetention.ALL)}, "
            f"not {reason!r}"
        )


def selector_matches(selector: tuple[tuple[str, str], ...], labels: Mapping[str, str]) -> bool:
    """True when every ``(key, value)`` of ``selector`` is among ``labels``."""
    return all(labels.get(key) == value for key, value in selector)


def hold_covers(
    hold: LegalHold,
    *,
    snapshot_id: str,
    tenant: str | None,
    pipeline_id: str,
    labels: Mapping[str, str],
) -> bool:
    """True when the (active) ``hold`` covers this snapshot."""
    if not hold.active or (hold.tenant or None) != (tenant or None):
        return False
    if hold.scope == HoldScope.SNAPSHOT:
        return hold.target == snapshot_id
    if hold.scope == HoldScope.PIPELINE:
        return hold.target == pipeline_id
    return selector_matches(parse_selector(hold.target), labels)


@attrs.frozen(kw_only=True)
class LegalHold:
    """A legal hold: while active (not released) it blocks deletion of what it covers.

    :ivar id: the hold's id.
    :ivar scope: one of :class:`HoldScope`'s values.
    :ivar target: a snapshot id, a pipeline id, or a label selector.
    :ivar tenant: the tenant it applies to (None: no tenant).
    """

    id: str
    scope: str
    target: str
    tenant: str | None = None
    reason: str | None = None
    created_on: _dt.datetime
    created_by: str | None = None
    released_on: _dt.datetime | None = None
    released_by: str | None = None
    release_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.released_on is None


@attrs.frozen(kw_only=True)
class RetentionCandidate:
    """What a sweep needs to know of one snapshot (no config, no manifest).

    :ivar archived: the snapshot has an archive record.
    :ivar restored_on: when it was last restored from its archive, if ever.
    :ivar referenced_by: what still references it (``retrigger <id>``,
        ``tag <name>``); empty when nothing does.
    """

    id: str
    tenant: str | None
    workflow_id: str
    workflow_type: str
    pipeline_id: str
    status: str
    labels: Mapping[str, str]
    parent: str | None
    content_hash: str
    created_on: _dt.datetime
    updated_on: _dt.datetime
    archived: bool = False
    restored_on: _dt.datetime | None = None


@attrs.frozen(kw_only=True)
class ArchiveRecord:
    """Where an archived snapshot's archive object is, and the hashes that check it.

    The record outlives the snapshot row: an archived snapshot stays listed
    (``wfaudit log --archived``) after retention deleted it from the store.

    :ivar archive_url: the archive store's URL (no credentials).
    :ivar object_key: the object's key in that store.
    :ivar object_sha256: SHA-256 of the object's bytes as stored.
    :ivar content_hash: the snapshot's content hash (of its masked config).
    :ivar record_digest: the digest of the snapshot row's sealed columns, as its
        ``snapshot.audited`` event recorded it.
    :ivar present: the snapshot row is in the store (False once deleted).
    """

    snapshot_id: str
    tenant: str | None
    workflow_id: str
    workflow_type: str
    pipeline_id: str
    status: str
    created_on: _dt.datetime
    archived_on: _dt.datetime
    archive_url: str
    object_key: str
    object_sha256: str
    object_size: int
    content_hash: str
    record_digest: str
    restored_on: _dt.datetime | None = None
    present: bool = True
    labels: Mapping[str, str] | None = None
    """The snapshot's labels; None when unknown (a record made before revision 0009
    of a snapshot deleted by then, until the expiry sweep reads its object)."""
    started_on: _dt.datetime | None = None
    """When the run was reported running (else when it was triggered)."""
    finished_on: _dt.datetime | None = None
    """When the run ended (its terminal outcome); None if it never reported one."""
    expires_on: _dt.datetime | None = None
    """When the archive object may be deleted; None: kept indefinitely (or, with
    no ``retention_reason``, not given a date yet)."""
    retention_reason: str | None = None
    """Why ``expires_on``: one of :class:`ArchiveRetention`'s values; None for a
    record made before revision 0009 that no expiry sweep has dated yet."""

    @property
    def duration_seconds(self) -> float | None:
        """How long the run took (``finished_on - started_on``), if it ended."""
        if self.finished_on is None or self.started_on is None:
            return None
        return max(0.0, (self.finished_on - self.started_on).total_seconds())


class ArchiveRetention:
    """Why an archive record has the retention date it has."""

    TTL = "ttl"
    """The policy's ``archive_keep``, counted from the archiving (or forever)."""
    POLICY = "policy"
    """A label rule's ``archive_keep`` (the longest of the rules that match)."""
    MANUAL = "manual"
    """Set by an operator (``wfaudit archive keep``); sweeps leave it as it is."""

    ALL = (TTL, POLICY, MANUAL)


@attrs.frozen(kw_only=True)
class ArchiveFilter:
    """Which archive records a listing wants (every given filter must match).

    :ivar labels: ``(key, value)`` pairs that must all be among the labels (a
        record whose labels are unknown matches no label filter).
    :ivar since: created at or after; :ivar until: created before.
    :ivar before: the next page: records after this snapshot id's, in listing
        order (newest archive first).
    """

    pipeline_id: str | None = None
    workflow_id: str | None = None
    workflow_type: str | None = None
    status: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    since: _dt.datetime | None = None
    until: _dt.datetime | None = None
    before: str | None = None
    present: bool | None = None


@attrs.frozen(kw_only=True)
class RetentionRun:
    """One cycle of ``wfaudit retention run``: sweep, archive expiry, orphans.

    :ivar ok: the cycle ended without error and every snapshot and object it
        judged was handled (none failed).
    :ivar counts: what it did: ``archived``, ``deleted``, ``blocked``,
        ``expired``, ``bytes_freed``, ``failed`` ...
    :ivar error: why a failed cycle failed (a message, never data).
    """

    id: str
    tenant: str | None
    started_on: _dt.datetime
    finished_on: _dt.datetime | None
    ok: bool
    owner: str
    counts: Mapping[str, int] = attrs.field(factory=dict)
    error: str | None = None


@attrs.frozen(kw_only=True)
class ExportedSnapshot:
    """A snapshot row as JSON data, with its blob (and a delta's base), for an archive.

    :ivar row: every column of the store's snapshot row, timestamps as ISO 8601
        text; ``labels`` and ``manifest`` as JSON data.
    :ivar record_digest: the digest of the row's sealed columns.
    """

    row: Mapping[str, Any]
    record_digest: str
    blob: Blob
    base: Blob | None = None


@attrs.frozen(kw_only=True)
class DeleteOutcome:
    """What deleting one snapshot did (``wfaudit.retention.steps.delete_snapshot``).

    :ivar deleted: the row was deleted (False: it was not there, or blocked).
    :ivar blocked: why it was not deleted (a hold, a reference, no archive).
    :ivar blobs_deleted: content hashes of blobs that no snapshot needed any more.
    """

    deleted: bool
    blocked: str | None = None
    blobs_deleted: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class SweepStep:
    """One snapshot's part of a sweep batch (``wfaudit.retention.steps.apply_steps``).

    :ivar archive: record this archive (its object is written already), unless
        the snapshot has an archive record.
    :ivar delete: then delete the snapshot, unless something blocks it.
    :ivar reason: JSON data for the ``snapshot.deleted`` event (the policy's why).
    """

    snapshot_id: str
    archive: ArchiveRecord | None = None
    delete: bool = False
    reason: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class StepDone:
    """What one :class:`SweepStep` did.

    :ivar archived: True when the archive was recorded, False when the snapshot
        had a record already, None when the step had no archive or no snapshot.
    """

    snapshot_id: str
    outcome: DeleteOutcome
    archived: bool | None = None


@attrs.frozen(kw_only=True)
class SweepProgress:
    """A sweep's progress, saved in the same transaction as a batch of steps
    (``wfaudit.retention.steps.apply_steps``), so that a sweep killed anywhere resumes
    with counts that agree with what the store holds.

    :ivar cursor: the last snapshot id the batch completes (see :class:`SweepState`).
    :ivar counts: the sweep's counters *before* the batch's own results; the store
        adds what the batch did to them (``done_archived``, ``done_deleted``,
        ``done_blocked``).
    """

    sweep_id: str
    cursor: str | None
    counts: Mapping[str, int] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class SweepState:
    """A retention sweep's progress, kept in the store so an interrupted sweep resumes.

    :ivar as_of: the time the sweep judges ages at (kept when it resumes, so the
        resumed sweep makes the decisions the first run would have made).
    :ivar cursor: the last snapshot id fully processed (snapshots are processed
        in descending id order); None before the first.
    """

    id: str
    tenant: str | None
    as_of: _dt.datetime
    started_on: _dt.datetime
    finished_on: _dt.datetime | None = None
    cursor: str | None = None
    counts: Mapping[str, int] = attrs.field(factory=dict)
    resumed: bool = False
    """An unfinished sweep was found (and is resumed), rather than a new one started."""


T = TypeVar("T")


@attrs.frozen(kw_only=True)
class LockedSnapshot:
    """A snapshot row locked by :meth:`RetentionWork.lock_snapshots`: what the
    engine's retention steps judge it by.

    :ivar tenant: the snapshot's tenant (None: no tenant).
    :ivar status: its status's value (``succeeded``, ``running`` ...).
    """

    id: str
    tenant: str | None
    pipeline_id: str
    status: str
    labels: Mapping[str, str]
    content_hash: str


@attrs.frozen(kw_only=True)
class StoredArchive:
    """What a deletion checks of a snapshot's archive record: its object's key and
    the status the snapshot had when it was archived."""

    object_key: str
    status: str


@attrs.frozen(kw_only=True)
class ArchivedRow:
    """An exported snapshot row (:attr:`ExportedSnapshot.row`) as a store reads it
    back to restore it (:meth:`RetentionWork.read_row`).

    :ivar record_digest: the digest of the row's sealed columns, as this store
        computes it.
    :ivar state: the row's mutable columns, as the store's events record them.
    """

    id: str
    tenant: str | None
    content_hash: str
    record_digest: str
    state: Mapping[str, Any]


@runtime_checkable
class RetentionWork(Protocol):
    """The row-level primitives of one retention transaction
    (:meth:`StoreRetention.retention_work`).

    The engine decides (what blocks a deletion, which events to append, how a
    sweep counts); the store carries out. The engine calls
    :meth:`lock_snapshots` first and :meth:`append_event` last, so the rows are
    locked before anything else and the audit-trail head only for the appends
    and the commit, as in every other write.
    """

    def lock_snapshots(self, snapshot_ids: Sequence[str]) -> Mapping[str, LockedSnapshot]:
        """Lock the rows of these snapshots (in id order) for the transaction; the
        ones in the store, by id (an id not in the store is left out)."""
        ...

    def active_holds(self, tenant: str | None) -> list[LegalHold]:
        """The legal holds in force in ``tenant`` (None: no tenant; not every tenant)."""
        ...

    def references(self, snapshot_id: str, *, limit: int) -> list[str]:
        """At most ``limit`` of what references a snapshot (``retrigger <id>``,
        ``tag <name>``), as :meth:`StoreRetention.references` lists them."""
        ...

    def stored_archive(self, snapshot_id: str) -> StoredArchive | None:
        """The snapshot's archive record, or None."""
        ...

    def insert_archive(self, record: ArchiveRecord, snapshot: LockedSnapshot) -> None:
        """Store an archive record of a locked snapshot (it has none), with the
        snapshot's tenant and labels and its run's start and end."""
        ...

    def delete_snapshot(self, snapshot: LockedSnapshot) -> tuple[str, ...]:
        """Delete a locked snapshot's row, then what nothing needs any more: its
        stored manifest, its blob and then a delta's base; returns the content
        hashes of the blobs deleted."""
        ...

    def lock_archive(self, snapshot_id: str) -> ArchiveRecord | None:
        """Lock a snapshot's archive record for the transaction and return it
        (``present``: the snapshot row is in the store), or None."""
        ...

    def delete_archive(self, snapshot_id: str) -> None:
        """Delete a locked archive record (its object is the engine's business)."""
        ...

    def update_archive(
        self,
        snapshot_id: str,
        *,
        expires_on: _dt.datetime | None,
        retention_reason: str,
        labels: Mapping[str, str] | None,
    ) -> None:
        """Set a locked archive record's retention date and reason, and, when
        ``labels`` is not None, its labels (the engine decides when)."""
        ...

    def read_row(self, row: Mapping[str, Any]) -> ArchivedRow:
        """An exported row (:attr:`ExportedSnapshot.row`) read back and digested;
        nothing is written.

        :raises StoreError: the row is malformed, or has columns this store does
            not have (or lacks some it needs).
        """
        ...

    def sealed_digest(self, snapshot_id: str) -> str | None:
        """The record digest the store sealed the snapshot's row with (its
        ``snapshot.audited`` event's, or its archive record's), if it knows one."""
        ...

    def insert_row(self, row: Mapping[str, Any], blob: Blob, *, restored_on: _dt.datetime) -> None:
        """Put an exported row back (one the store does not hold), with its blob
        unless stored, and mark the snapshot's archive record restored.

        :raises SnapshotConflict: the store holds another snapshot of the row's run.
        """
        ...

    def snapshot_tenants(self, snapshot_id: str) -> list[str | None]:
        """The tenants (None: no tenant) of the snapshot's row, then of its archive
        record, those that exist: empty when the store has neither."""
        ...

    def insert_hold(self, hold: LegalHold) -> None:
        """Store a new legal hold, as it is."""
        ...

    def lock_hold(self, hold_id: str) -> LegalHold | None:
        """Lock a legal hold's row for the transaction and return it as stored, or None."""
        ...

    def update_hold(self, hold: LegalHold) -> None:
        """Store a locked hold's release (``released_on``, ``released_by``,
        ``release_reason``)."""
        ...

    def append_event(
        self,
        *,
        tenant: str | None,
        subject: str,
        kind: str,
        at: _dt.datetime,
        actor: str | None,
        data: Mapping[str, Any],
    ) -> None:
        """Append an event to ``tenant``'s audit-trail chain (any kind, the store's
        own included: it describes a change of this transaction)."""
        ...

    def save_sweep(self, sweep_id: str, *, cursor: str | None, counts: Mapping[str, int]) -> None:
        """Record an unfinished sweep's progress (as :meth:`StoreRetention.save_sweep`)."""
        ...


@runtime_checkable
class StoreRetention(Protocol):
    """What retention sweeps, legal holds, archives and restores need of a store.

    Optional, like :class:`~wfaudit_hookspecs.protocols.StoreMaintenance`. Every
    method that changes data appends its audit-trail event in the same
    transaction; deleting a snapshot never deletes its events.
    """

    def iter_candidates(
        self, *, tenant: str | None = None, before_id: str | None = None, batch: int = 500
    ) -> Iterator[RetentionCandidate]:
        """Every snapshot (of ``tenant``), newest id first, after ``before_id``
        (exclusive), a page at a time: memory stays flat."""
        ...

    def count_snapshots(self, *, tenant: str | None = None) -> int:
        """How many snapshots (of ``tenant``) there are (for a progress bar)."""
        ...

    def known_archive_keys(
        self, keys: Sequence[str], *, snapshot_ids: Sequence[str] = ()
    ) -> set[str]:
        """Which of these archive object keys an archive record names (or, for the
        ``snapshot_ids`` the keys belong to, a ``snapshot.archived`` event does:
        an object the trail records is never an orphan, whatever its record says)."""
        ...

    def known_snapshot_ids(
        self, snapshot_ids: Sequence[str], *, tenant: str | None = None
    ) -> set[str]:
        """Which of these ids are snapshots of this store (of ``tenant``): rows it
        holds, or subjects of its audit trail (a deleted snapshot's events stay).
        Snapshot ids are unique to the store that audited them, so an archive object
        whose snapshot this store does not know belongs to another store."""
        ...

    def children(self, snapshot_id: str) -> list[RetentionCandidate]:
        """The snapshots whose ``parent`` is ``snapshot_id`` (its retriggers)."""
        ...

    def get_candidate(
        self, snapshot_id: str, *, tenant: str | None = None
    ) -> RetentionCandidate | None:
        """One snapshot as a sweep sees it, or None."""
        ...

    def references(self, snapshot_id: str) -> list[str]:
        """What still references the snapshot: ``retrigger <id>``, ``tag <name>``."""
        ...

    def list_holds(self, *, tenant: str | None = None, active: bool = True) -> list[LegalHold]:
        """Holds (of ``tenant``), oldest first; only active ones by default."""
        ...

    def export_snapshot(self, snapshot_id: str) -> ExportedSnapshot:
        """The snapshot's row and blob(s), for an archive object."""
        ...

    def get_archive(self, snapshot_id: str, *, tenant: str | None = None) -> ArchiveRecord | None:
        """The archive record of a snapshot, or None."""
        ...

    def iter_archives(
        self,
        *,
        tenant: str | None = None,
        present: bool | None = None,
        batch: int = 500,
        where: ArchiveFilter | None = None,
    ) -> Iterator[ArchiveRecord]:
        """Archive records, newest archive first, a page at a time; ``present``
        filters on whether the snapshot row is still in the store, ``where`` on
        the rest (and pages with its ``before``)."""
        ...

    def archive_totals(self, *, tenant: str | None = None) -> tuple[int, int]:
        """How many archive records there are (of ``tenant``) and their objects' bytes."""
        ...

    def record_run(self, run: RetentionRun) -> None:
        """Record (insert or update) a retention run."""
        ...

    def last_run(self, *, tenant: str | None = None, ok: bool | None = True) -> RetentionRun | None:
        """The latest finished run (of ``tenant``'s scope; None: every tenant's),
        only successful ones by default."""
        ...

    def retention_work(self, work: Callable[[RetentionWork], T]) -> T:
        """Run ``work`` over a :class:`RetentionWork` in one transaction and return
        what it returns.

        The engine's retention steps (``wfaudit.retention.steps``: archive records
        and their retention dates, deletions, restores, legal holds, the sweep's
        progress)
        run as ``work``; the store only offers the
        primitives. A store that retries a transaction (a serialization failure, a
        dropped connection) may call ``work`` again on a fresh unit of work: it
        keeps no state between calls. An exception raised by ``work`` rolls every
        change back and propagates.
        """
        ...

    def orphan_blobs(self, *, batch: int = 500) -> Iterator[str]:
        """Content hashes of blobs that no snapshot uses and no blob has as base."""
        ...

    def delete_orphan_blob(self, content_hash: str) -> bool:
        """Delete one blob if it is still an orphan (checked in the transaction)."""
        ...

    def delete_orphan_manifests(self, *, batch: int = 500) -> int:
        """Delete stored manifests that no snapshot names any more; returns how many."""
        ...

    def sweep_lock(self, *, owner: str) -> AbstractContextManager[None]:
        """Hold the store's sweep lock (an advisory lock on PostgreSQL, a lock row on
        SQLite) for the ``with`` block; :class:`SweepBusy` when another sweep has it."""
        ...

    def open_sweep(self, *, tenant: str | None, as_of: _dt.datetime) -> SweepState:
        """The unfinished sweep of ``tenant`` to resume, or a new one starting at ``as_of``."""
        ...

    def save_sweep(
        self, sweep_id: str, *, cursor: str | None, counts: Mapping[str, int], finished: bool
    ) -> None:
        """Record a sweep's progress (and its end)."""
        ...

    def get_sweep(self, sweep_id: str) -> SweepState | None:
        """A sweep's recorded progress (``resumed`` is False), or None."""
        ...


@runtime_checkable
class ArchiveStore(Protocol):
    """Object storage for archive objects, opened by ``wfaudit_open_archive``.

    Keys are ``/``-separated. Errors are
    :class:`~wfaudit_hookspecs.errors.StoreError` subclasses whose messages name
    the key and never a credential.
    """

    url: str
    """The archive's URL, without credentials (safe to print and to record)."""

    def put(self, key: str, data: bytes) -> None:
        """Write an object, replacing one of the same key.

        Keys are deterministic (one per snapshot), but the bytes are not: an
        object's header says when it was archived. A sweep therefore does not
        write a key twice: a resumed sweep first reads the key and, when it holds
        an object of the same snapshot row (written before the interruption),
        records that object rather than writing a new one. A replaced object is
        one that no archive record names."""
        ...

    def get(self, key: str) -> bytes:
        """An object's bytes; :class:`~wfaudit_hookspecs.errors.SnapshotNotFound` if absent."""
        ...

    def size(self, key: str) -> int | None:
        """An object's size, or None when there is no such object."""
        ...

    def delete(self, key: str) -> None:
        """Delete an object (no error if it is gone already)."""
        ...

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Every key under ``prefix``, a listing page at a time."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
