"""Archiving, archive expiry and restore: :class:`ArchiveKeeper`, the part of a
:class:`~wfaudit.retention.sweeper.Sweeper` that writes, dates, expires and reads
archive objects."""

from __future__ import annotations

import datetime as _dt
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import attrs

from wfaudit import codec
from wfaudit.archive import (
    ArchiveObject,
    archive_key,
    build_object,
    object_sha256,
    parse_object,
    snapshot_id_of_key,
    tenant_prefix,
)
from wfaudit_hookspecs import (
    ConfigurationError,
    EventKind,
    InvalidRequest,
    SnapshotNotFound,
    SnapshotRecord,
    StoreError,
    StoreUnavailable,
    canonical_json,
    utcnow,
)
from wfaudit_hookspecs.retention import (
    ArchiveRecord,
    ArchiveRetention,
    ArchiveStore,
    ExportedSnapshot,
    LegalHold,
    RetentionCandidate,
    hold_covers,
)

__all__ = ["ArchiveAction", "ArchiveItem", "ArchiveKeeper", "ExpiryReport", "RestoreResult"]

if TYPE_CHECKING:
    pass
from .common import MAX_REPORTED_FAILURES, Notify, RetentionStore, StepCallback, _owner
from .policy import Archive, ArchiveVerdict, RetentionPolicy
from .steps import expire_archive, record_archive, restore_snapshot, set_archive_retention

log = logging.getLogger("wfaudit.retention")


class ArchiveAction(StrEnum):
    """What an archive expiry sweep does with one archive record."""

    KEEP = "keep"
    """Not expired yet (or kept indefinitely)."""
    EXPIRE = "expire"
    """Past its retention date: the object and its record are deleted."""
    HOLD = "hold"
    """Past its date, but an active legal hold covers it."""
    IN_STORE = "in-store"
    """Past its date, but the snapshot is back in the store (restored, or not
    deleted yet): the archive stays while the snapshot does."""
    UNREADABLE = "unreadable"
    """Its labels are unknown and its object cannot be read: left, reported."""


@attrs.frozen(kw_only=True)
class ArchiveItem:
    """One archive record in an expiry sweep: what happens to it and why."""

    snapshot_id: str
    tenant: str | None
    pipeline_id: str
    workflow_type: str
    object_key: str
    object_size: int
    expires_on: _dt.datetime | None
    retention_reason: str
    action: ArchiveAction
    reason: str


@attrs.frozen(kw_only=True)
class ExpiryReport:
    """What an archive expiry sweep did (or, with ``dry_run``, would do).

    :ivar expired: archive objects deleted (would be, in a dry run).
    :ivar bytes_freed: their bytes.
    :ivar dated: records whose retention date the sweep set or refreshed from
        the policy (records made before revision 0009 get theirs so).
    :ivar items: the records past their date (expired, held, in the store,
        unreadable), the first :data:`MAX_REPORTED_FAILURES` x 10 of them.
    """

    as_of: _dt.datetime
    dry_run: bool
    examined: int = 0
    expired: int = 0
    bytes_freed: int = 0
    held: int = 0
    in_store: int = 0
    kept: int = 0
    dated: int = 0
    failed: int = 0
    items: tuple[ArchiveItem, ...] = ()


@attrs.frozen(kw_only=True)
class RestoreResult:
    """What :meth:`Sweeper.restore` did.

    :ivar restored: the row was put back (False: it was in the store already).
    """

    snapshot_id: str
    restored: bool
    object_key: str
    content_hash: str


class ArchiveKeeper:
    """Writes archive objects and records them, dates and expires them, restores
    snapshots from them and deletes this store's orphan objects."""

    store: RetentionStore
    policy: RetentionPolicy
    archive: ArchiveStore | None
    tenant: str | None
    actor: str | None
    _open_other: Callable[[str], ArchiveStore] | None
    _notify: Notify | None
    _others: dict[str, ArchiveStore]

    def _tell(self, kind: str, record: SnapshotRecord | None, data: Mapping[str, Any]) -> None:
        if self._notify is not None and record is not None:
            self._notify(kind, record, data)

    def archive_one(self, snapshot_id: str) -> ArchiveRecord:
        """Archive one snapshot now (it stays in the store); returns its archive record."""
        existing = self.store.get_archive(snapshot_id, tenant=self.tenant)
        if existing is not None:
            return existing
        candidate = self.store.get_candidate(snapshot_id, tenant=self.tenant)
        if candidate is None:
            raise SnapshotNotFound(f"no snapshot with id {snapshot_id!r}")
        self._require_archive()
        with self.store.sweep_lock(owner=_owner()):
            record = self._write_archive(candidate, None, reuse=True)
            if record_archive(self.store, record, by=self.actor):
                self._tell(
                    EventKind.ARCHIVED,
                    self.store.get_record_by_id(snapshot_id),
                    {"object_key": record.object_key, "archive_url": record.archive_url},
                )
        found = self.store.get_archive(snapshot_id)
        if found is None:  # pragma: no cover - recorded just above
            raise StoreError(f"snapshot {snapshot_id}: its archive record is missing")
        return found

    def _write_archive(
        self, candidate: RetentionCandidate, on_step: StepCallback | None, *, reuse: bool = False
    ) -> ArchiveRecord:
        """Write a snapshot's archive object; returns the record to store for it.

        :param reuse: first look for an object an interrupted run wrote at the
            snapshot's key for the same row, and record it instead of a new one.
        """
        archive = self._require_archive()
        exported = self.store.export_snapshot(candidate.id)
        key = archive_key(
            prefix=self.policy.archive_prefix,
            tenant=candidate.tenant,
            pipeline_id=candidate.pipeline_id,
            created_on=candidate.created_on,
            snapshot_id=candidate.id,
        )
        earlier = _written_before(archive, key, exported) if reuse else None
        if earlier is not None:
            data, archived_on = earlier
        else:
            base = exported.base

            def get_blob(content_hash: str) -> Any:
                if base is not None and base.content_hash == content_hash:
                    return base
                # a chain of deltas written before bases had to be whole blobs
                return self.store.get_blob(content_hash)

            canonical = codec.decode_blob(exported.blob, get_blob)
            archived_on = utcnow()
            data = build_object(exported, canonical, archived_on=archived_on)
            archive.put(key, data)
            if on_step is not None:
                on_step("object-written", candidate)
        verdict = self.policy.archive_verdict(candidate.labels, archived_on)
        return ArchiveRecord(
            snapshot_id=candidate.id,
            tenant=candidate.tenant,
            workflow_id=candidate.workflow_id,
            workflow_type=candidate.workflow_type,
            pipeline_id=candidate.pipeline_id,
            status=str(exported.row["status"]),
            created_on=candidate.created_on,
            archived_on=archived_on,
            archive_url=archive.url,
            object_key=key,
            object_sha256=object_sha256(data),
            object_size=len(data),
            content_hash=candidate.content_hash,
            record_digest=exported.record_digest,
            labels=dict(candidate.labels),
            expires_on=verdict.expires_on,
            retention_reason=verdict.reason,
        )

    def _check_archive(self) -> None:
        """Before a sweep starts: an archive is configured if the policy archives."""
        if self.policy.archive_before_delete or any(
            rule.archive == Archive.IMMEDIATELY for rule in self.policy.rules
        ):
            self._require_archive()

    def _require_archive(self) -> ArchiveStore:
        if self.archive is None:
            raise ConfigurationError(
                "retention must archive snapshots but no archive is configured: set "
                "archive_url in [tool.wfaudit.retention] (or WFAUDIT_ARCHIVE_URL), or "
                "archive_before_delete = false to delete without archiving"
            )
        return self.archive

    # -- archive expiry ------------------------------------------------------------------

    def judge_archive(
        self,
        record: ArchiveRecord,
        labels: Mapping[str, str] | None,
        as_of: _dt.datetime,
        holds: list[LegalHold],
    ) -> tuple[ArchiveItem, ArchiveVerdict | None]:
        """The fate of one archive record at ``as_of``, and the policy's verdict on
        it (None for a manual date, which sweeps leave as it is)."""
        verdict = None
        expires_on, why = record.expires_on, "set by an operator"
        reason = record.retention_reason or ArchiveRetention.TTL
        if labels is None:
            return self._archive_item(
                record,
                expires_on,
                reason,
                ArchiveAction.UNREADABLE,
                "its labels are unknown and its object does not read",
            ), None
        if record.retention_reason != ArchiveRetention.MANUAL:
            verdict = self.policy.archive_verdict(labels, record.archived_on)
            expires_on, reason, why = verdict.expires_on, verdict.reason, verdict.basis
        if expires_on is None or expires_on > as_of:
            until = "indefinitely" if expires_on is None else f"until {expires_on:%Y-%m-%d}"
            item = self._archive_item(
                record, expires_on, reason, ArchiveAction.KEEP, f"kept {until} ({why})"
            )
            return item, verdict
        due = f"expired {expires_on:%Y-%m-%d} ({why})"
        if record.present:
            action, text = ArchiveAction.IN_STORE, f"the snapshot is in the store; {due}"
        else:
            action, text = ArchiveAction.EXPIRE, due
            for hold in holds:
                if hold_covers(
                    hold,
                    snapshot_id=record.snapshot_id,
                    tenant=record.tenant,
                    pipeline_id=record.pipeline_id,
                    labels=labels,
                ):
                    action = ArchiveAction.HOLD
                    text = f"legal hold {hold.id} ({hold.scope} {hold.target}); {due}"
                    break
        return self._archive_item(record, expires_on, reason, action, text), verdict

    @staticmethod
    def _archive_item(
        record: ArchiveRecord,
        expires_on: _dt.datetime | None,
        reason: str,
        action: ArchiveAction,
        text: str,
    ) -> ArchiveItem:
        return ArchiveItem(
            snapshot_id=record.snapshot_id,
            tenant=record.tenant,
            pipeline_id=record.pipeline_id,
            workflow_type=record.workflow_type,
            object_key=record.object_key,
            object_size=record.object_size,
            expires_on=expires_on,
            retention_reason=reason,
            action=action,
            reason=text,
        )

    def expire(
        self, *, dry_run: bool = False, on_item: Callable[[ArchiveItem], None] | None = None
    ) -> ExpiryReport:
        """Delete the archive objects past their retention date, holding the sweep lock.

        Every archive record (of the tenant) is judged: a manual date stays as
        it is; any other gets the date the policy says now (``archive_keep``, or
        the longest of the matching rules'), refreshed in its record when it
        changed. A record past its date is expired, unless an active legal hold
        covers it or its snapshot is in the store: one store transaction checks
        both again, deletes the record and appends ``archive.expired``; then the
        object is deleted (an object left by a kill in between is an orphan that
        the cleanup deletes). With ``dry_run`` nothing is written.

        :raises SweepBusy: another sweep is running.
        """
        with self.store.sweep_lock(owner=_owner()):
            return self._expire_locked(dry_run=dry_run, on_item=on_item)

    def _expire_locked(
        self, *, dry_run: bool, on_item: Callable[[ArchiveItem], None] | None = None
    ) -> ExpiryReport:
        as_of = utcnow()
        holds = self.store.list_holds(tenant=self.tenant)
        counts: Counter[str] = Counter()
        items: list[ArchiveItem] = []
        for record in self.store.iter_archives(tenant=self.tenant):
            counts["examined"] += 1
            labels = record.labels
            learnt = False
            if labels is None:
                labels = self._labels_from_object(record)
                learnt = labels is not None
            item, verdict = self.judge_archive(record, labels, as_of, holds)
            if on_item is not None:
                on_item(item)
            if (
                not dry_run
                and verdict is not None
                and (
                    learnt
                    or verdict.expires_on != record.expires_on
                    or verdict.reason != record.retention_reason
                )
            ):
                set_archive_retention(
                    self.store,
                    record.snapshot_id,
                    expires_on=verdict.expires_on,
                    reason=verdict.reason,
                    by=self.actor,
                    labels=labels if learnt else None,
                    event=False,
                )
                counts["dated"] += 1
            if item.action == ArchiveAction.KEEP:
                counts["kept"] += 1
                continue
            if item.action == ArchiveAction.EXPIRE and not dry_run:
                target = self._archive_for(record.archive_url)  # before anything is written
                blocked = expire_archive(
                    self.store,
                    record.snapshot_id,
                    object_key=record.object_key,
                    by=self.actor,
                    data={"reason": item.reason},
                )
                if blocked is not None:
                    # Found in the transaction: a hold placed, a snapshot restored, or
                    # the record changed since it was read (then the next sweep judges it).
                    if blocked.startswith("legal hold"):
                        action = ArchiveAction.HOLD
                    elif blocked.startswith("the snapshot is in the store"):
                        action = ArchiveAction.IN_STORE
                    else:
                        action = ArchiveAction.KEEP
                    item = attrs.evolve(item, action=action, reason=f"{blocked}; {item.reason}")
                else:
                    try:
                        target.delete(record.object_key)
                    except StoreUnavailable:
                        raise
                    except StoreError as error:
                        # The record is gone: the object is an orphan the cleanup retries.
                        log.error("archive object %s not deleted: %s", record.object_key, error)
            counts["kept" if item.action == ArchiveAction.KEEP else item.action.value] += 1
            if item.action == ArchiveAction.EXPIRE:
                counts["bytes_freed"] += record.object_size
            if len(items) < MAX_REPORTED_FAILURES * 10:
                items.append(item)
        return ExpiryReport(
            as_of=as_of,
            dry_run=dry_run,
            examined=counts["examined"],
            expired=counts[ArchiveAction.EXPIRE.value],
            bytes_freed=counts["bytes_freed"],
            held=counts[ArchiveAction.HOLD.value],
            in_store=counts[ArchiveAction.IN_STORE.value],
            kept=counts["kept"],
            dated=counts["dated"],
            failed=counts[ArchiveAction.UNREADABLE.value],
            items=tuple(items),
        )

    def _labels_from_object(self, record: ArchiveRecord) -> dict[str, str] | None:
        """The labels an archive object's header keeps (checked against its record's
        SHA-256), for a record made before the records kept them; None if unreadable."""
        try:
            data = self._archive_for(record.archive_url).get(record.object_key)
        except StoreUnavailable:
            raise
        except (StoreError, ConfigurationError):
            return None
        if object_sha256(data) != record.object_sha256:
            return None
        try:
            labels = parse_object(data, where=record.object_key).row.get("labels")
        except StoreError:
            return None
        if not isinstance(labels, Mapping):
            return None
        return {str(key): str(value) for key, value in labels.items()}

    def keep_archive(
        self,
        snapshot_id: str,
        *,
        until: _dt.datetime | None = None,
        forever: bool = False,
        note: str | None = None,
        by: str | None = None,
    ) -> ArchiveRecord:
        """Set an archive's retention date by hand (``until``, or ``forever``: reason
        ``manual``, which sweeps leave as it is), or, with neither, give it back to
        the policy; appends ``archive.retention_set`` to the trail.

        :raises SnapshotNotFound: the snapshot has no archive record.
        """
        if until is not None and forever:
            raise InvalidRequest("an archive is kept until a date or forever, not both")
        record = self.store.get_archive(snapshot_id, tenant=self.tenant)
        if record is None:
            raise SnapshotNotFound(
                f"snapshot {snapshot_id!r} has no archive record "
                "(`wfaudit log --archived` lists the archived snapshots)"
            )
        labels = record.labels
        if until is not None or forever:
            expires_on, reason = until, ArchiveRetention.MANUAL
        else:
            if labels is None:
                labels = self._labels_from_object(record)
            verdict = self.policy.archive_verdict(labels or {}, record.archived_on)
            expires_on, reason = verdict.expires_on, verdict.reason
        return set_archive_retention(
            self.store,
            snapshot_id,
            expires_on=expires_on,
            reason=reason,
            by=by or self.actor,
            note=note,
            tenant=self.tenant,
            labels=labels if record.labels is None else None,
        )

    # -- restoring and cleaning up ------------------------------------------------------

    def restore(self, snapshot_id: str, *, by: str | None = None) -> RestoreResult:
        """Bring an archived snapshot back into the store, checking every hash.

        The object's SHA-256 must match its archive record, the config its content
        hash, and the row the digest its ``snapshot.audited`` event sealed.

        :raises SnapshotNotFound: the snapshot has no archive record (or object).
        :raises StoreError: a hash does not match: the object was changed.
        """
        record = self.store.get_archive(snapshot_id, tenant=self.tenant)
        if record is None:
            raise SnapshotNotFound(
                f"snapshot {snapshot_id!r} has no archive record "
                "(`wfaudit log --archived` lists the archived snapshots)"
            )
        if record.present:
            return RestoreResult(
                snapshot_id=snapshot_id,
                restored=False,
                object_key=record.object_key,
                content_hash=record.content_hash,
            )
        archive = self._archive_for(record.archive_url)
        data = archive.get(record.object_key)
        if object_sha256(data) != record.object_sha256:
            raise StoreError(
                f"archive object {record.object_key} does not match the SHA-256 its record "
                "keeps: it was changed after archiving"
            )
        parsed = parse_object(data, where=record.object_key)
        if (
            parsed.content_hash != record.content_hash
            or parsed.record_digest != record.record_digest
        ):
            raise StoreError(
                f"archive object {record.object_key} is not the one recorded for {snapshot_id}"
            )
        restored = restore_snapshot(
            self.store,
            parsed.row,
            parsed.blob(),
            record_digest=parsed.record_digest,
            by=by or self.actor,
        )
        if restored:
            self._tell(
                EventKind.RESTORED,
                self.store.get_record_by_id(snapshot_id),
                {"object_key": record.object_key},
            )
        return RestoreResult(
            snapshot_id=snapshot_id,
            restored=restored,
            object_key=record.object_key,
            content_hash=record.content_hash,
        )

    def _archive_for(self, url: str) -> ArchiveStore:
        if self.archive is not None and self.archive.url == url:
            return self.archive
        if self._open_other is None:
            raise ConfigurationError(
                f"the snapshot was archived to {url}, which is not the configured archive"
            )
        opened = self._others.get(url)
        if opened is None:
            opened = self._others[url] = self._open_other(url)
        return opened

    def _clean_objects(self, archive: ArchiveStore) -> int:
        prefix = tenant_prefix(self.policy.archive_prefix, self.tenant)
        cutoff = utcnow() - self.policy.orphan_grace
        removed = 0
        chunk: list[tuple[str, str]] = []

        def flush() -> int:
            known = self.store.known_archive_keys(
                [key for key, _ in chunk], snapshot_ids=[sid for _, sid in chunk]
            )
            unrecorded = [(key, sid) for key, sid in chunk if key not in known]
            chunk.clear()
            if not unrecorded:
                return 0
            ours = self.store.known_snapshot_ids([sid for _, sid in unrecorded], tenant=self.tenant)
            gone = 0
            for key, sid in unrecorded:
                if sid in ours and _stale_object(archive, key, sid, cutoff):
                    archive.delete(key)
                    gone += 1
            return gone

        for key in archive.iter_keys(prefix):
            snapshot_id = snapshot_id_of_key(key)
            if snapshot_id is None:
                continue  # outside the layout: not ours to judge
            chunk.append((key, snapshot_id))
            if len(chunk) >= 500:
                removed += flush()
        if chunk:
            removed += flush()
        return removed


def _read_object(archive: ArchiveStore, key: str) -> ArchiveObject | None:
    """The archive object at ``key``, or None: no object, or not a whole archive object."""
    try:
        return parse_object(archive.get(key), where=key)
    except StoreError:  # SnapshotNotFound too
        return None


def _written_before(
    archive: ArchiveStore, key: str, exported: ExportedSnapshot
) -> tuple[bytes, _dt.datetime] | None:
    """The bytes and ``archived_on`` of an object an interrupted run wrote at ``key``
    for this very snapshot row, or None (then the object is written anew)."""
    try:
        data = archive.get(key)
    except SnapshotNotFound:
        return None
    try:
        parsed = parse_object(data, where=key)
    except StoreError:
        return None
    when = parsed.archived_on
    if when is None or parsed.record_digest != exported.record_digest:
        return None
    if canonical_json(dict(parsed.row)) != canonical_json(dict(exported.row)):
        return None  # the row changed since (its status, say): write it anew
    return data, when


def _stale_object(archive: ArchiveStore, key: str, snapshot_id: str, cutoff: _dt.datetime) -> bool:
    """The object at ``key`` is an archive object of ``snapshot_id`` written before
    ``cutoff`` (a newer one may be a sweep's, about to be recorded)."""
    parsed = _read_object(archive, key)
    if parsed is None or parsed.row.get("id") != snapshot_id:
        return False
    when = parsed.archived_on
    return when is not None and when < cutoff
