"""What a retention transaction may do: archive records, deletions and a sweep's counts.

The policy of one retention transaction lives here, once, for every backend: a
deletion is refused while an active legal hold covers the snapshot, while a
retrigger or a tag references it, or (with ``require_archive``) while it has no
archive record or was archived before its status last changed; a step records
its archive before it deletes; each change appends its audit-trail event
(``snapshot.archived``, ``snapshot.deleted``); a sweep's counters add what the
batch did. A store only offers the primitives (:class:`RetentionWork`) inside
one transaction (:meth:`StoreRetention.retention_work`).

The order is the store's locking order: the snapshot rows are locked first, the
events appended last (the chain head is then locked only for the appends and the
commit) and the sweep's progress saved in the same transaction, so a sweep killed
anywhere resumes with counts that agree with what the store holds.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from wfaudit_hookspecs import Blob, EventKind, InvalidRequest, SnapshotNotFound, StoreError, utcnow
from wfaudit_hookspecs.retention import (
    ArchiveRecord,
    DeleteOutcome,
    HoldScope,
    LegalHold,
    LockedSnapshot,
    RetentionWork,
    StepDone,
    StoredArchive,
    StoreRetention,
    SweepProgress,
    SweepStep,
    check_hold,
    check_retention_reason,
    hold_covers,
)

__all__ = [
    "add_hold",
    "apply_steps",
    "archived_event_data",
    "delete_snapshot",
    "expire_archive",
    "record_archive",
    "release_hold",
    "restore_snapshot",
    "set_archive_retention",
    "step_counts",
]


def step_counts(steps: Sequence[SweepStep], done: Sequence[StepDone]) -> dict[str, int]:
    """What a batch of steps did, as a sweep counts it: ``done_archived`` (archive
    records made), ``done_deleted`` (rows deleted) and ``done_blocked`` (deletions
    refused). The counts saved with a batch (:class:`SweepProgress`) and the
    sweeper's own are both this function's."""
    counts = {"done_archived": 0, "done_deleted": 0, "done_blocked": 0}
    for step, result in zip(steps, done, strict=True):
        counts["done_archived"] += bool(result.archived)
        if result.outcome.deleted:
            counts["done_deleted"] += 1
        elif step.delete and result.outcome.blocked is not None:
            counts["done_blocked"] += 1
    return counts


def _timestamp(value: _dt.datetime) -> str:
    """A timestamp as the audit trail hashes it: UTC, ISO 8601, with microseconds."""
    utc = value.replace(tzinfo=_dt.UTC) if value.tzinfo is None else value.astimezone(_dt.UTC)
    return utc.isoformat(timespec="microseconds")


def archived_event_data(record: ArchiveRecord) -> dict[str, Any]:
    """The ``snapshot.archived`` event's data: every field of the archive record
    that carries meaning (``wfaudit verify`` and restore check the record against it)."""
    return {
        "archive_url": record.archive_url,
        "object_key": record.object_key,
        "object_sha256": record.object_sha256,
        "object_size": record.object_size,
        "content_hash": record.content_hash,
        "record_digest": record.record_digest,
        "workflow_id": record.workflow_id,
        "workflow_type": record.workflow_type,
        "pipeline_id": record.pipeline_id,
        "status": record.status,
        "created_on": _timestamp(record.created_on),
        "archived_on": _timestamp(record.archived_on),
        # Not compared with the record: a sweep refreshes a policy date in place,
        # and an operator's change is its own archive.retention_set event.
        "expires_on": None if record.expires_on is None else _timestamp(record.expires_on),
        "retention_reason": record.retention_reason,
    }


class _Batch:
    """One transaction's steps over one unit of work (built afresh if the store
    runs the transaction again)."""

    def __init__(self, work: RetentionWork, *, require_archive: bool) -> None:
        self.work = work
        self.require_archive = require_archive
        self.holds: dict[str | None, list[LegalHold]] = {}
        self.deleted: set[str] = set()
        self.events: list[dict[str, Any]] = []

    def run(self, steps: Sequence[SweepStep]) -> list[StepDone]:
        locked = self.work.lock_snapshots(sorted({step.snapshot_id for step in steps}))
        return [self.step(step, locked.get(step.snapshot_id)) for step in steps]

    def step(self, step: SweepStep, snapshot: LockedSnapshot | None) -> StepDone:
        snapshot_id = step.snapshot_id
        if snapshot is None or snapshot_id in self.deleted:
            return StepDone(snapshot_id=snapshot_id, outcome=DeleteOutcome(deleted=False))
        archived: bool | None = None
        stored = self.work.stored_archive(snapshot_id)
        if step.archive is not None:
            archived = stored is None
            if archived:
                self.work.insert_archive(step.archive, snapshot)
                self._event(snapshot, EventKind.ARCHIVED, archived_event_data(step.archive))
                stored = StoredArchive(
                    object_key=step.archive.object_key, status=step.archive.status
                )
        if not step.delete:
            return StepDone(
                snapshot_id=snapshot_id, archived=archived, outcome=DeleteOutcome(deleted=False)
            )
        blocked = self.blocked(snapshot, stored)
        if blocked is not None:
            return StepDone(
                snapshot_id=snapshot_id,
                archived=archived,
                outcome=DeleteOutcome(deleted=False, blocked=blocked),
            )
        dropped = self.work.delete_snapshot(snapshot)
        self.deleted.add(snapshot_id)
        self._event(
            snapshot,
            EventKind.DELETED,
            {
                "content_hash": snapshot.content_hash,
                "archived": None if stored is None else stored.object_key,
                **dict(step.reason),
            },
        )
        return StepDone(
            snapshot_id=snapshot_id,
            archived=archived,
            outcome=DeleteOutcome(deleted=True, blobs_deleted=tuple(dropped)),
        )

    def blocked(self, snapshot: LockedSnapshot, stored: StoredArchive | None) -> str | None:
        """Why a snapshot may not be deleted now, or None."""
        tenant = snapshot.tenant or None
        if tenant not in self.holds:
            self.holds[tenant] = self.work.active_holds(tenant)
        for hold in self.holds[tenant]:
            if hold_covers(
                hold,
                snapshot_id=snapshot.id,
                tenant=tenant,
                pipeline_id=snapshot.pipeline_id,
                labels=snapshot.labels,
            ):
                return f"legal hold {hold.id}"
        referenced = self.work.references(snapshot.id, limit=1)
        if referenced:
            return f"{referenced[0]} references it"
        if self.require_archive:
            if stored is None:
                return "not archived"
            if stored.status != snapshot.status:
                return "its status changed after it was archived"
        return None

    def _event(self, snapshot: LockedSnapshot, kind: str, data: Mapping[str, Any]) -> None:
        self.events.append(
            {"tenant": snapshot.tenant, "subject": snapshot.id, "kind": kind, "data": data}
        )

    def finish(self, *, by: str | None) -> None:
        """Append the batch's events, last (one time for all of them)."""
        now = utcnow()
        for event in self.events:
            self.work.append_event(at=now, actor=by, **event)


def apply_steps(
    store: StoreRetention,
    steps: Sequence[SweepStep],
    *,
    require_archive: bool,
    by: str | None,
    progress: SweepProgress | None = None,
) -> list[StepDone]:
    """Record archives and delete snapshots, for many snapshots in one transaction.

    Steps run in order, each seeing the ones before (a retrigger deleted by an
    earlier step no longer blocks its parent). With ``progress``, the sweep's
    progress is saved in the same transaction: its counts plus the batch's
    :func:`step_counts`.
    """
    if not steps:
        if progress is not None:
            store.save_sweep(
                progress.sweep_id, cursor=progress.cursor, counts=progress.counts, finished=False
            )
        return []

    def work(unit: RetentionWork) -> list[StepDone]:
        batch = _Batch(unit, require_archive=require_archive)
        done = batch.run(steps)
        batch.finish(by=by)
        if progress is not None:
            counts = dict(progress.counts)
            for name, value in step_counts(steps, done).items():
                counts[name] = counts.get(name, 0) + value
            unit.save_sweep(progress.sweep_id, cursor=progress.cursor, counts=counts)
        return done

    return store.retention_work(work)


def delete_snapshot(
    store: StoreRetention,
    snapshot_id: str,
    *,
    require_archive: bool,
    reason: Mapping[str, Any],
    by: str | None,
) -> DeleteOutcome:
    """Delete one snapshot (its row, the blobs nothing needs any more) and append
    ``snapshot.deleted``, unless something blocks it (see :func:`apply_steps`)."""
    step = SweepStep(snapshot_id=snapshot_id, delete=True, reason=reason)
    return apply_steps(store, [step], require_archive=require_archive, by=by)[0].outcome


def record_archive(store: StoreRetention, record: ArchiveRecord, *, by: str | None) -> bool:
    """Record an archive object and append ``snapshot.archived``.

    :returns: False, writing nothing, when the snapshot has an archive record.
    :raises SnapshotNotFound: the snapshot is not in the store.
    """
    step = SweepStep(snapshot_id=record.snapshot_id, archive=record)
    done = apply_steps(store, [step], require_archive=False, by=by)[0]
    if done.archived is None:
        raise SnapshotNotFound(f"no snapshot with id {record.snapshot_id!r} to archive")
    return done.archived


def expire_archive(
    store: StoreRetention,
    snapshot_id: str,
    *,
    object_key: str,
    by: str | None,
    data: Mapping[str, Any],
) -> str | None:
    """Delete an expired archive record and append ``archive.expired`` (with
    ``data``), in one transaction; returns why not, or None once done.

    Refused when the record changed (another object key, or gone), while its
    snapshot is in the store, while its labels are unknown (a label hold could
    cover it) and while an active legal hold covers it.
    """

    def work(unit: RetentionWork) -> str | None:
        record = unit.lock_archive(snapshot_id)
        if record is None or record.object_key != object_key:
            return "its archive record changed"
        if record.present:
            return "the snapshot is in the store"
        if record.labels is None:
            return "its labels are unknown"
        tenant = record.tenant or None
        for hold in unit.active_holds(tenant):
            if hold_covers(
                hold,
                snapshot_id=snapshot_id,
                tenant=tenant,
                pipeline_id=record.pipeline_id,
                labels=record.labels,
            ):
                return f"legal hold {hold.id}"
        unit.delete_archive(snapshot_id)
        unit.append_event(
            tenant=record.tenant,
            subject=snapshot_id,
            kind=EventKind.ARCHIVE_EXPIRED,
            at=utcnow(),
            actor=by,
            data={
                "object_key": object_key,
                "object_size": record.object_size,
                "expires_on": None if record.expires_on is None else _timestamp(record.expires_on),
                "retention_reason": record.retention_reason,
                **dict(data),
            },
        )
        return None

    return store.retention_work(work)


def set_archive_retention(
    store: StoreRetention,
    snapshot_id: str,
    *,
    expires_on: _dt.datetime | None,
    reason: str,
    by: str | None,
    note: str | None = None,
    tenant: str | None = None,
    labels: Mapping[str, str] | None = None,
    event: bool = True,
) -> ArchiveRecord:
    """Give an archive record its retention date and reason (and ``labels``, when
    it did not know its labels); with ``event`` (an operator's change), append
    ``archive.retention_set`` in the same transaction.

    :raises InvalidRequest: an unknown reason.
    :raises SnapshotNotFound: no archive record of that snapshot (in ``tenant``).
    """
    check_retention_reason(reason)

    def work(unit: RetentionWork) -> ArchiveRecord:
        record = unit.lock_archive(snapshot_id)
        if record is None or (tenant is not None and (record.tenant or None) != tenant):
            raise SnapshotNotFound(
                f"snapshot {snapshot_id!r} has no archive record "
                "(`wfaudit log --archived` lists the archived snapshots)"
            )
        unit.update_archive(
            snapshot_id,
            expires_on=expires_on,
            retention_reason=reason,
            labels=dict(labels) if labels is not None and record.labels is None else None,
        )
        if event:
            unit.append_event(
                tenant=record.tenant,
                subject=snapshot_id,
                kind=EventKind.ARCHIVE_RETENTION_SET,
                at=utcnow(),
                actor=by,
                data={
                    "object_key": record.object_key,
                    "expires_on": None if expires_on is None else _timestamp(expires_on),
                    "reason": reason,
                    "previous": None
                    if record.expires_on is None
                    else _timestamp(record.expires_on),
                    "note": note,
                },
            )
        updated = unit.lock_archive(snapshot_id)
        if updated is None:
            raise SnapshotNotFound(f"snapshot {snapshot_id!r}: its archive record was not stored")
        return updated

    return store.retention_work(work)


def _hold_subject(hold: LegalHold) -> str:
    """A snapshot hold is an event of the snapshot; other holds have their own subject."""
    return hold.target if hold.scope == HoldScope.SNAPSHOT else hold.id


def _hold_event_data(hold: LegalHold, reason: str | None) -> dict[str, Any]:
    return {"hold": hold.id, "scope": hold.scope, "target": hold.target, "reason": reason}


def add_hold(
    store: StoreRetention,
    *,
    scope: str,
    target: str,
    tenant: str | None,
    reason: str | None,
    by: str | None,
) -> LegalHold:
    """Place a legal hold and append ``legal_hold.set``, in one transaction; a
    snapshot hold takes its snapshot's tenant.

    :raises InvalidRequest: an unknown scope, an empty target or a bad selector.
    :raises SnapshotNotFound: a snapshot hold on a snapshot the store does not
        have (nor has archived), in ``tenant`` when given.
    """
    target = check_hold(scope, target)
    hold_id = f"hold-{uuid.uuid4().hex[:20]}"

    def work(unit: RetentionWork) -> LegalHold:
        held_tenant = tenant
        if scope == HoldScope.SNAPSHOT:
            found = [
                of
                for of in unit.snapshot_tenants(target)
                if tenant is None or (of or None) == (tenant or None)
            ]
            if not found:
                raise SnapshotNotFound(f"no snapshot with id {target!r} to hold")
            held_tenant = found[0]
        hold = LegalHold(
            id=hold_id,
            scope=scope,
            target=target,
            tenant=held_tenant,
            reason=reason,
            created_on=utcnow(),
            created_by=by,
        )
        unit.insert_hold(hold)
        unit.append_event(
            tenant=held_tenant,
            subject=_hold_subject(hold),
            kind=EventKind.HOLD_SET,
            at=hold.created_on,
            actor=by,
            data=_hold_event_data(hold, reason),
        )
        return _stored_hold(unit, hold_id)

    return store.retention_work(work)


def release_hold(
    store: StoreRetention,
    hold_id: str,
    *,
    tenant: str | None,
    reason: str | None,
    by: str | None,
) -> LegalHold:
    """Release an active hold and append ``legal_hold.released``, in one transaction.

    :raises SnapshotNotFound: no such hold (in ``tenant``, when given).
    :raises InvalidRequest: the hold is released already.
    """

    def work(unit: RetentionWork) -> LegalHold:
        hold = unit.lock_hold(hold_id)
        if hold is None or (tenant is not None and (hold.tenant or None) != (tenant or None)):
            raise SnapshotNotFound(f"no legal hold {hold_id!r}; see `wfaudit hold list`")
        if not hold.active:
            raise InvalidRequest(f"legal hold {hold_id!r} is released already")
        now = utcnow()
        unit.update_hold(attrs.evolve(hold, released_on=now, released_by=by, release_reason=reason))
        unit.append_event(
            tenant=hold.tenant,
            subject=_hold_subject(hold),
            kind=EventKind.HOLD_RELEASED,
            at=now,
            actor=by,
            data=_hold_event_data(hold, reason),
        )
        return _stored_hold(unit, hold_id)

    return store.retention_work(work)


def _stored_hold(unit: RetentionWork, hold_id: str) -> LegalHold:
    """A hold as this transaction stored it."""
    hold = unit.lock_hold(hold_id)
    if hold is None:
        raise SnapshotNotFound(f"legal hold {hold_id!r} was not stored")
    return hold


def restore_snapshot(
    store: StoreRetention,
    row: Mapping[str, Any],
    blob: Blob,
    *,
    record_digest: str,
    by: str | None,
) -> bool:
    """Put an archived snapshot back: its blob (unless stored), its row, and a
    ``snapshot.restored`` event, in one transaction.

    :returns: False, writing nothing, when the row is in the store already.
    :raises StoreError: the row does not hash to ``record_digest``, or not to the
        digest the store sealed it with, or ``blob`` is not the snapshot's.
    :raises SnapshotConflict: the store holds another snapshot of the row's run.
    """

    def work(unit: RetentionWork) -> bool:
        archived = unit.read_row(row)
        if archived.record_digest != record_digest:
            raise StoreError(f"snapshot {archived.id}: the archived row does not match its digest")
        if archived.content_hash != blob.content_hash:
            raise StoreError(f"snapshot {archived.id}: the blob is not the snapshot's")
        if unit.lock_snapshots([archived.id]):
            return False
        sealed = unit.sealed_digest(archived.id)
        if sealed is not None and sealed != archived.record_digest:
            raise StoreError(
                f"snapshot {archived.id}: the archived row differs from the one its "
                "audit sealed; the archive object was changed"
            )
        now = utcnow()
        unit.insert_row(row, blob, restored_on=now)
        unit.append_event(
            tenant=archived.tenant,
            subject=archived.id,
            kind=EventKind.RESTORED,
            at=now,
            actor=by,
            data={
                "content_hash": archived.content_hash,
                "record_digest": archived.record_digest,
                "state": dict(archived.state),
            },
        )
        return True

    return store.retention_work(work)
