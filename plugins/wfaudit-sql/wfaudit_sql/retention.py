"""Retention in the SQL store: legal holds, archive records, deletion, restore, sweeps.

:class:`RetentionMixin` is a base of :class:`~wfaudit_sql.store.SqlStore` and
implements :class:`~wfaudit_hookspecs.retention.StoreRetention`. What may be
deleted, and which events a sweep appends, the engine decides
(``wfaudit.retention.steps``) over :class:`_RetentionWork`, this store's
row-level primitives in one write transaction. Each change is
one transaction that also appends its audit-trail event (``legal_hold.set``,
``legal_hold.released``, ``snapshot.archived``, ``snapshot.deleted``,
``snapshot.restored``): deleting a snapshot removes its row and perhaps its
blob, never an event, so the hash chain stays whole and ``wfaudit verify`` knows
the row went on purpose.

Reads that cover the whole store go a page at a time with keyset pagination
(each page its own short read), so a sweep over millions of snapshots holds one
page in memory.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from sqlalchemy import and_, delete, exists, func, insert, select, text, update
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.sql.elements import ColumnElement

from wfaudit_hookspecs import (
    Blob,
    EventKind,
    SnapshotNotFound,
    StoreError,
    utcnow,
)
from wfaudit_hookspecs.retention import (
    ArchivedRow,
    ArchiveFilter,
    ArchiveRecord,
    ExportedSnapshot,
    LegalHold,
    LockedSnapshot,
    RetentionCandidate,
    RetentionRun,
    RetentionWork,
    StoredArchive,
    SweepBusy,
    SweepState,
    selector_matches,
)

from .chain import record_digest, state_of, timestamp_text
from .manifests import apply_patch, manifest_hash
from .manifests import decode as decode_manifest
from .manifests import encode as encode_manifest
from .manifests import orphans as orphan_manifests
from .records import blob_from_row, blob_row, dump_json, stored_tenant
from .schema import (
    HOLD_EVENT_PREDICATE,
    UTCDateTime,
    archives,
    blobs,
    events,
    legal_holds,
    manifests,
    metadata,
    retention_runs,
    retention_sweeps,
    snapshots,
    sweep_locks,
)
from .trail import archive_differences

__all__ = ["ALL_TENANTS", "RetentionMixin"]

T = TypeVar("T")

ALL_TENANTS = "*"
"""``retention_sweeps.tenant`` of a sweep over every tenant."""

_LOCK_NAME = "retention"
_LEASE_SECONDS = 600
"""A SQLite lock row whose heartbeat is older than this is taken over (its
sweeper hung or died on another host); a dead owner on this host at once."""
# One lock per database and schema, as for migrations.
_PG_LOCK_KEY = "hashtextextended('wfaudit-sql retention ' || current_schema(), 0)"
_JSON_COLUMNS = ("labels", "manifest")


def _datetime_columns() -> frozenset[str]:
    return frozenset(c.name for c in snapshots.c if isinstance(c.type, UTCDateTime))


class RetentionMixin:
    """The :class:`~wfaudit_hookspecs.retention.StoreRetention` methods of ``SqlStore``."""

    url: str
    backend: Literal["sqlite", "postgresql"]
    _engine: Engine

    if TYPE_CHECKING:

        def _run(
            self, work: Callable[[Connection], T], *, write: bool, consistent: bool = False
        ) -> T: ...

        def _append(
            self,
            connection: Connection,
            *,
            tenant: str,
            subject: str,
            kind: str,
            at: _dt.datetime,
            actor: str | None,
            data: Mapping[str, Any],
            seq: int | None = None,
        ) -> dict[str, Any]: ...

    def _read_first(self, query: Any) -> RowMapping | None:
        """The first row of a read-only ``query``, or None."""

        def work(connection: Connection) -> RowMapping | None:
            return connection.execute(query).mappings().first()

        return self._run(work, write=False)

    def _read_all(self, query: Any) -> list[RowMapping]:
        """Every row of a read-only ``query``."""

        def work(connection: Connection) -> list[RowMapping]:
            return list(connection.execute(query).mappings().all())

        return self._run(work, write=False)

    # -- reading for a sweep ------------------------------------------------------

    def iter_candidates(
        self, *, tenant: str | None = None, before_id: str | None = None, batch: int = 500
    ) -> Iterator[RetentionCandidate]:
        """Every snapshot (of ``tenant``), newest id first, after ``before_id`` (exclusive).

        Retriggers have newer ids than their parents (ids are time-ordered), so
        a sweep meets a retrigger before the snapshot it references.
        """
        s = snapshots.c
        last = before_id
        size = max(1, batch)
        while True:
            query = _candidate_query().order_by(s.id.desc()).limit(size)
            if tenant is not None:
                query = query.where(s.tenant == stored_tenant(tenant))
            if last is not None:
                query = query.where(s.id < last)

            rows = self._read_all(query)
            for row in rows:
                yield _candidate(row)
            if len(rows) < size:
                return
            last = rows[-1]["id"]

    def count_snapshots(self, *, tenant: str | None = None) -> int:
        """How many snapshots (of ``tenant``) the store has."""
        query = select(func.count()).select_from(snapshots)
        if tenant is not None:
            query = query.where(snapshots.c.tenant == stored_tenant(tenant))

        def work(connection: Connection) -> int:
            return int(connection.execute(query).scalar_one())

        return self._run(work, write=False)

    def known_archive_keys(
        self, keys: Sequence[str], *, snapshot_ids: Sequence[str] = ()
    ) -> set[str]:
        """Which of ``keys`` an archive record names, or a ``snapshot.archived``
        event of one of ``snapshot_ids`` (read by the events' subject key): a
        record deleted behind the store's back does not make its object an orphan."""
        wanted = list(dict.fromkeys(keys))
        subjects = list(dict.fromkeys(snapshot_ids))
        e = events.c

        def work(connection: Connection) -> set[str]:
            found: set[str] = set()
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                found.update(
                    str(row[0])
                    for row in connection.execute(
                        select(archives.c.object_key).where(archives.c.object_key.in_(chunk))
                    )
                )
            asked = set(wanted)
            recorded = set(found)
            for start in range(0, len(subjects), 500):
                chunk = subjects[start : start + 500]
                query = (
                    select(e.kind, e.data)
                    .where(
                        e.subject.in_(chunk),
                        e.kind.in_((EventKind.ARCHIVED, EventKind.ARCHIVE_EXPIRED)),
                    )
                    .order_by(e.subject, e.seq)
                )
                for kind, data in connection.execute(query):
                    fact = _json_object(data) or {}
                    key = fact.get("object_key")
                    if not isinstance(key, str) or key not in asked:
                        continue
                    if kind == EventKind.ARCHIVED:
                        found.add(key)
                    elif key not in recorded:  # expired: its object is an orphan if left
                        found.discard(key)
            return found

        return self._run(work, write=False, consistent=True) if wanted else set()

    def known_snapshot_ids(
        self, snapshot_ids: Sequence[str], *, tenant: str | None = None
    ) -> set[str]:
        """Which of ``snapshot_ids`` this store holds, or has audit-trail events of."""
        wanted = list(dict.fromkeys(snapshot_ids))

        def work(connection: Connection) -> set[str]:
            found: set[str] = set()
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                rows = select(snapshots.c.id).where(snapshots.c.id.in_(chunk))
                trail = select(events.c.subject).where(events.c.subject.in_(chunk)).distinct()
                if tenant is not None:
                    rows = rows.where(snapshots.c.tenant == stored_tenant(tenant))
                    trail = trail.where(events.c.tenant == stored_tenant(tenant))
                for query in (rows, trail):
                    found.update(str(row[0]) for row in connection.execute(query))
            return found

        return self._run(work, write=False) if wanted else set()

    def children(self, snapshot_id: str) -> list[RetentionCandidate]:
        """The retriggers of a snapshot (rows whose ``parent_id`` names it)."""
        query = _candidate_query().where(snapshots.c.parent_id == snapshot_id)

        rows = sorted(self._read_all(query), key=lambda row: str(row["id"]))
        return [_candidate(row) for row in rows]

    def get_candidate(
        self, snapshot_id: str, *, tenant: str | None = None
    ) -> RetentionCandidate | None:
        """One snapshot as a sweep sees it, or None."""
        query = _candidate_query().where(snapshots.c.id == snapshot_id)
        if tenant is not None:
            query = query.where(snapshots.c.tenant == stored_tenant(tenant))

        row = self._read_first(query)
        return None if row is None else _candidate(row)

    def references(self, snapshot_id: str) -> list[str]:
        """What still references a snapshot: its retriggers and its tags."""

        def work(connection: Connection) -> list[str]:
            return _references(connection, snapshot_id)

        return self._run(work, write=False)

    # -- legal holds ----------------------------------------------------------------

    def list_holds(self, *, tenant: str | None = None, active: bool = True) -> list[LegalHold]:
        """Holds, oldest first (only the active ones unless ``active=False``).

        A hold the audit trail records as in force is listed (and counts for a
        sweep) even when its row was deleted or released behind the store's back.
        """
        query = select(legal_holds).order_by(legal_holds.c.created_on, legal_holds.c.id)
        if tenant is not None:
            query = query.where(legal_holds.c.tenant == stored_tenant(tenant))
        scope = None if tenant is None else stored_tenant(tenant)

        def work(connection: Connection) -> list[LegalHold]:
            rows = {str(row["id"]): _hold(row) for row in connection.execute(query).mappings()}
            in_force = _active_holds(connection, scope)
            found = dict(rows) if not active else {h.id: h for h in in_force}
            for hold in in_force:
                found.setdefault(hold.id, hold)
            return sorted(found.values(), key=lambda h: (h.created_on, h.id))

        return self._run(work, write=False, consistent=True)

    # -- archives ---------------------------------------------------------------------

    def export_snapshot(self, snapshot_id: str) -> ExportedSnapshot:
        """The row (as JSON data) and the blob(s) of a snapshot, for its archive object.

        :raises SnapshotNotFound: no such snapshot.
        :raises StoreError: its blob (or a delta's base) is missing.
        """

        def work(connection: Connection) -> ExportedSnapshot:
            row = (
                connection.execute(select(snapshots).where(snapshots.c.id == snapshot_id))
                .mappings()
                .first()
            )
            if row is None:
                raise SnapshotNotFound(f"no snapshot with id {snapshot_id!r}")
            blob = _blob(connection, row["content_hash"])
            if blob is None:
                raise StoreError(f"snapshot {snapshot_id}: its blob is missing")
            base = None
            if blob.base is not None:
                base = _blob(connection, blob.base)
                if base is None:
                    raise StoreError(f"snapshot {snapshot_id}: the base of its blob is missing")
            sealed = _with_manifest_text(connection, row)
            return ExportedSnapshot(
                row=_row_to_json(sealed), record_digest=_digest(sealed), blob=blob, base=base
            )

        return self._run(work, write=False)

    def get_archive(self, snapshot_id: str, *, tenant: str | None = None) -> ArchiveRecord | None:
        """The archive record of a snapshot, or None, checked against the
        ``snapshot.archived`` event that recorded it: restore decides from the
        chained facts, not from a row anyone with write access can edit.

        :raises StoreError: the record has no such event, or differs from it.
        """
        query = _archive_query().where(archives.c.snapshot_id == snapshot_id)
        if tenant is not None:
            query = query.where(archives.c.tenant == stored_tenant(tenant))
        e = events.c
        chained = (
            select(e.tenant, e.data)
            .where(e.subject == snapshot_id, e.kind == EventKind.ARCHIVED)
            .order_by(e.seq.desc())
        )

        def work(connection: Connection) -> tuple[RowMapping | None, Any]:
            row = connection.execute(query).mappings().first()
            if row is None:
                return None, None
            return row, connection.execute(chained).first()

        row, event = self._run(work, write=False, consistent=True)
        if row is None:
            return None
        fact = _json_object(event[1]) if event is not None else None
        if event is None or fact is None or "object_key" not in fact:
            raise StoreError(
                f"the archive record of snapshot {snapshot_id} has no snapshot.archived "
                "event on the audit trail: it was written behind the store's back "
                "(run `wfaudit verify`)"
            )
        differing = archive_differences(row, fact)
        if event[0] != row["tenant"]:
            differing.insert(0, "tenant")
        if differing:
            raise StoreError(
                f"the archive record of snapshot {snapshot_id} differs from its "
                f"snapshot.archived event ({', '.join(differing)}): it was changed behind "
                "the store's back (run `wfaudit verify`)"
            )
        return _archive(row)

    def iter_archives(
        self,
        *,
        tenant: str | None = None,
        present: bool | None = None,
        batch: int = 500,
        where: ArchiveFilter | None = None,
    ) -> Iterator[ArchiveRecord]:
        """Archive records, newest archive first, a page at a time, with every filter
        of ``where`` applied (labels after reading a page: they are JSON text)."""
        a = archives.c
        wanted = where or ArchiveFilter()
        if present is None:
            present = wanted.present
        after: tuple[_dt.datetime, str] | None = None
        if wanted.before is not None:
            start = self._read_first(
                select(a.archived_on, a.snapshot_id).where(a.snapshot_id == wanted.before)
            )
            if start is None:
                raise SnapshotNotFound(
                    f"no archived snapshot {wanted.before!r} to page from "
                    "(--before takes the last id of the previous page)"
                )
            after = (start["archived_on"], start["snapshot_id"])
        size = max(1, batch)
        while True:
            query = _archive_query().order_by(a.archived_on.desc(), a.snapshot_id.desc())
            if tenant is not None:
                query = query.where(a.tenant == stored_tenant(tenant))
            if present is True:
                query = query.where(snapshots.c.id.is_not(None))
            elif present is False:
                query = query.where(snapshots.c.id.is_(None))
            for column, value in (
                (a.pipeline_id, wanted.pipeline_id),
                (a.workflow_id, wanted.workflow_id),
                (a.workflow_type, wanted.workflow_type),
                (a.status, wanted.status),
            ):
                if value is not None:
                    query = query.where(column == value)
            if wanted.since is not None:
                query = query.where(a.created_on >= wanted.since)
            if wanted.until is not None:
                query = query.where(a.created_on < wanted.until)
            if wanted.labels:
                query = query.where(a.labels.is_not(None))
            if after is not None:
                query = query.where(
                    (a.archived_on < after[0])
                    | and_(a.archived_on == after[0], a.snapshot_id < after[1])
                )

            page = query.limit(size)

            rows = self._read_all(page)
            for row in rows:
                record = _archive(row)
                if wanted.labels and not selector_matches(wanted.labels, record.labels or {}):
                    continue
                yield record
            if len(rows) < size:
                return
            after = (rows[-1]["archived_on"], rows[-1]["snapshot_id"])

    def archive_totals(self, *, tenant: str | None = None) -> tuple[int, int]:
        """Archive records (of ``tenant``) and the bytes of their objects."""
        query = select(func.count(), func.coalesce(func.sum(archives.c.object_size), 0))
        if tenant is not None:
            query = query.where(archives.c.tenant == stored_tenant(tenant))

        def work(connection: Connection) -> tuple[int, int]:
            count, size = connection.execute(query).one()
            return int(count), int(size)

        return self._run(work, write=False)

    def record_run(self, run: RetentionRun) -> None:
        """Insert or update a retention run's row."""
        values = {
            "tenant": ALL_TENANTS if run.tenant is None else stored_tenant(run.tenant),
            "started_on": run.started_on,
            "finished_on": run.finished_on,
            "ok": run.ok,
            "owner": run.owner[:255],
            "counts": dump_json(dict(run.counts)),
            "error": run.error,
        }

        def work(connection: Connection) -> None:
            done = connection.execute(
                update(retention_runs)
                .where(retention_runs.c.id == run.id)
                .values(values)
                .execution_options(preserve_rowcount=True)
            )
            if done.rowcount != 1:
                connection.execute(insert(retention_runs).values(id=run.id, **values))

        self._run(work, write=True)

    def last_run(self, *, tenant: str | None = None, ok: bool | None = True) -> RetentionRun | None:
        """The latest finished retention run of a scope (successful ones by default)."""
        r = retention_runs.c
        key = ALL_TENANTS if tenant is None else stored_tenant(tenant)
        query = (
            select(retention_runs)
            .where(r.tenant == key, r.finished_on.is_not(None))
            .order_by(r.finished_on.desc())
            .limit(1)
        )
        if ok is not None:
            query = query.where(r.ok == ok)
        row = self._read_first(query)
        if row is None:
            return None
        return RetentionRun(
            id=row["id"],
            tenant=None if row["tenant"] == ALL_TENANTS else (row["tenant"] or None),
            started_on=row["started_on"],
            finished_on=row["finished_on"],
            ok=bool(row["ok"]),
            owner=row["owner"],
            counts=json.loads(row["counts"]),
            error=row["error"],
        )

    # -- deletion and restore ---------------------------------------------------------

    def retention_work(self, work: Callable[[RetentionWork], T]) -> T:
        """Run the engine's retention ``work`` over this store's primitives, in one
        write transaction (run again, on a fresh unit of work, when the store is busy)."""

        def transaction(connection: Connection) -> T:
            return work(_RetentionWork(self, connection))

        return self._run(transaction, write=True)

    # -- orphans ----------------------------------------------------------------------

    def orphan_blobs(self, *, batch: int = 500) -> Iterator[str]:
        """Blobs that no snapshot uses and that are no delta's base, a page at a time."""
        last: str | None = None
        size = max(1, batch)
        while True:
            query = select(blobs.c.content_hash).where(_orphan()).order_by(blobs.c.content_hash)
            if last is not None:
                query = query.where(blobs.c.content_hash > last)

            page = query.limit(size)

            def work(connection: Connection, query: Any = page) -> list[str]:
                return [str(row[0]) for row in connection.execute(query)]

            hashes = self._run(work, write=False)
            yield from hashes
            if len(hashes) < size:
                return
            last = hashes[-1]

    def delete_orphan_blob(self, content_hash: str) -> bool:
        """Delete a blob if it is still an orphan now (checked in the transaction)."""

        def work(connection: Connection) -> bool:
            _lock_blob(connection, content_hash)
            result = connection.execute(
                delete(blobs)
                .where(blobs.c.content_hash == content_hash, _orphan())
                .execution_options(preserve_rowcount=True)
            )
            return bool(result.rowcount == 1)

        return self._run(work, write=True)

    def delete_orphan_manifests(self, *, batch: int = 500) -> int:
        """Delete the manifests no snapshot names, a batch per transaction; how many."""
        total = 0
        size = max(1, batch)

        def work(connection: Connection) -> int:
            keys = [str(row[0]) for row in connection.execute(orphan_manifests().limit(size))]
            if not keys:
                return 0
            result = connection.execute(
                delete(manifests)
                .where(
                    manifests.c.manifest_hash.in_(keys),
                    ~exists().where(snapshots.c.manifest_hash == manifests.c.manifest_hash),
                )
                .execution_options(preserve_rowcount=True)
            )
            return len(keys) if result.rowcount is None else int(result.rowcount)

        while True:
            done = self._run(work, write=True)
            total += done
            if done < size:
                return total

    # -- sweeps -----------------------------------------------------------------------

    @contextlib.contextmanager
    def sweep_lock(self, *, owner: str) -> Iterator[None]:
        """Hold the sweep lock for the ``with`` block.

        PostgreSQL: a session advisory lock on a connection kept for the block
        (released by the server if the sweeper dies). SQLite: a row in
        ``sweep_locks``, taken over when its owner process is gone or its
        heartbeat is older than the lease.

        :raises SweepBusy: another sweep holds it.
        """
        if self.backend == "postgresql":
            with self._pg_sweep_lock():
                yield
            return
        self._take_lock_row(owner)
        try:
            yield
        finally:
            pid = os.getpid()

            def release(connection: Connection) -> None:
                connection.execute(
                    delete(sweep_locks).where(
                        sweep_locks.c.name == _LOCK_NAME, sweep_locks.c.pid == pid
                    )
                )

            self._run(release, write=True)

    @contextlib.contextmanager
    def _pg_sweep_lock(self) -> Iterator[None]:
        connection = self._engine.connect()
        try:
            got = connection.execute(text(f"SELECT pg_try_advisory_lock({_PG_LOCK_KEY})")).scalar()
            connection.commit()
            if not got:
                raise SweepBusy(
                    f"another retention sweep is running on {self.url}; "
                    "wait for it to finish (or stop it) and run again"
                )
            try:
                yield
            finally:
                try:
                    connection.execute(text(f"SELECT pg_advisory_unlock({_PG_LOCK_KEY})"))
                    connection.commit()
                except Exception:
                    # A session lock must not go back to the pool still held.
                    connection.invalidate()
        finally:
            connection.close()

    def _take_lock_row(self, owner: str) -> None:
        host, pid = socket.gethostname(), os.getpid()

        def work(connection: Connection) -> None:
            row = (
                connection.execute(select(sweep_locks).where(sweep_locks.c.name == _LOCK_NAME))
                .mappings()
                .first()
            )
            now = int(time.time())
            if row is not None:
                if not _stale(row, host, now):
                    raise SweepBusy(
                        f"another retention sweep is running on {self.url} "
                        f"(process {row['pid']} on {row['host']}); wait for it to finish"
                    )
                connection.execute(delete(sweep_locks).where(sweep_locks.c.name == _LOCK_NAME))
            connection.execute(
                insert(sweep_locks).values(
                    name=_LOCK_NAME, owner=owner[:255], host=host[:255], pid=pid, heartbeat=now
                )
            )

        self._run(work, write=True)

    def open_sweep(self, *, tenant: str | None, as_of: _dt.datetime) -> SweepState:
        """The unfinished sweep of this scope (to resume), else a new one at ``as_of``."""
        key = ALL_TENANTS if tenant is None else stored_tenant(tenant)
        r = retention_sweeps.c

        def work(connection: Connection) -> tuple[RowMapping, bool]:
            row = (
                connection.execute(
                    select(retention_sweeps)
                    .where(r.tenant == key, r.finished_on.is_(None))
                    .order_by(r.started_on.desc())
                    .limit(1)
                )
                .mappings()
                .first()
            )
            if row is not None:
                return row, True
            now = utcnow()
            sweep_id = f"sweep-{uuid.uuid4().hex[:20]}"
            connection.execute(
                insert(retention_sweeps).values(
                    id=sweep_id,
                    tenant=key,
                    as_of=as_of,
                    started_on=now,
                    finished_on=None,
                    cursor=None,
                    counts="{}",
                    updated_on=now,
                )
            )
            return (
                connection.execute(select(retention_sweeps).where(r.id == sweep_id))
                .mappings()
                .one()
            ), False

        row, resumed = self._run(work, write=True)
        return _sweep_state(row, resumed=resumed)

    def save_sweep(
        self, sweep_id: str, *, cursor: str | None, counts: Mapping[str, int], finished: bool
    ) -> None:
        """Record a sweep's progress (and, on SQLite, renew the lock's heartbeat)."""

        def work(connection: Connection) -> None:
            self._save_sweep(connection, sweep_id, cursor=cursor, counts=counts, finished=finished)

        self._run(work, write=True)

    def _save_sweep(
        self,
        connection: Connection,
        sweep_id: str,
        *,
        cursor: str | None,
        counts: Mapping[str, int],
        finished: bool = False,
    ) -> None:
        now = utcnow()
        connection.execute(
            update(retention_sweeps)
            .where(retention_sweeps.c.id == sweep_id)
            .values(
                cursor=cursor,
                counts=dump_json(dict(counts)),
                updated_on=now,
                finished_on=now if finished else None,
            )
        )
        self._renew_lock(connection)

    def _renew_lock(self, connection: Connection) -> None:
        """Renew this process's SQLite lock row (its heartbeat), in a write that a
        sweep or an expiry makes anyway: a long sweep keeps its lease."""
        if self.backend == "sqlite":
            connection.execute(
                update(sweep_locks)
                .where(sweep_locks.c.name == _LOCK_NAME, sweep_locks.c.pid == os.getpid())
                .values(heartbeat=int(time.time()))
            )

    def get_sweep(self, sweep_id: str) -> SweepState | None:
        """A sweep's recorded progress, or None."""
        query = select(retention_sweeps).where(retention_sweeps.c.id == sweep_id)

        row = self._read_first(query)
        return None if row is None else _sweep_state(row, resumed=False)


# -- helpers ------------------------------------------------------------------------------


class _RetentionWork:
    """:class:`~wfaudit_hookspecs.retention.RetentionWork` over one write transaction."""

    def __init__(self, store: RetentionMixin, connection: Connection) -> None:
        self._store = store
        self._connection = connection
        self._rows: dict[str, RowMapping] = {}

    def lock_snapshots(self, snapshot_ids: Sequence[str]) -> dict[str, LockedSnapshot]:
        ids = sorted(set(snapshot_ids))
        locked: dict[str, LockedSnapshot] = {}
        for start in range(0, len(ids), 500):
            for row in self._connection.execute(
                select(snapshots)
                .where(snapshots.c.id.in_(ids[start : start + 500]))
                .order_by(snapshots.c.id)
                .with_for_update()
            ).mappings():
                self._rows[row["id"]] = row
                locked[row["id"]] = LockedSnapshot(
                    id=row["id"],
                    tenant=row["tenant"] or None,
                    pipeline_id=row["pipeline_id"],
                    status=row["status"],
                    labels=json.loads(row["labels"]),
                    content_hash=row["content_hash"],
                )
        return locked

    def active_holds(self, tenant: str | None) -> list[LegalHold]:
        return _active_holds(self._connection, stored_tenant(tenant))

    def references(self, snapshot_id: str, *, limit: int) -> list[str]:
        return _references(self._connection, snapshot_id, limit=limit)

    def stored_archive(self, snapshot_id: str) -> StoredArchive | None:
        found = self._connection.execute(
            select(archives.c.object_key, archives.c.status).where(
                archives.c.snapshot_id == snapshot_id
            )
        ).first()
        return None if found is None else StoredArchive(object_key=found[0], status=found[1])

    def insert_archive(self, record: ArchiveRecord, snapshot: LockedSnapshot) -> None:
        row = self._rows[snapshot.id]
        values = _archive_values(record, row["tenant"])
        values.update(_run_times(self._connection, row))
        values["labels"] = row["labels"]
        self._connection.execute(insert(archives).values(values))

    def delete_snapshot(self, snapshot: LockedSnapshot) -> tuple[str, ...]:
        row = self._rows[snapshot.id]
        self._connection.execute(delete(snapshots).where(snapshots.c.id == snapshot.id))
        _drop_unused_manifest(self._connection, row)
        return tuple(_drop_unused_blobs(self._connection, row["content_hash"]))

    def lock_archive(self, snapshot_id: str) -> ArchiveRecord | None:
        row = (
            self._connection.execute(
                select(archives).where(archives.c.snapshot_id == snapshot_id).with_for_update()
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        present = self._connection.execute(
            select(snapshots.c.id).where(snapshots.c.id == snapshot_id)
        ).first()
        return _archive({**row, "present_id": None if present is None else present[0]})

    def delete_archive(self, snapshot_id: str) -> None:
        self._connection.execute(delete(archives).where(archives.c.snapshot_id == snapshot_id))
        self._store._renew_lock(self._connection)

    def update_archive(
        self,
        snapshot_id: str,
        *,
        expires_on: _dt.datetime | None,
        retention_reason: str,
        labels: Mapping[str, str] | None,
    ) -> None:
        values: dict[str, Any] = {"expires_on": expires_on, "retention_reason": retention_reason}
        if labels is not None:
            values["labels"] = dump_json(dict(labels))
        self._connection.execute(
            update(archives).where(archives.c.snapshot_id == snapshot_id).values(values)
        )
        self._store._renew_lock(self._connection)

    def read_row(self, row: Mapping[str, Any]) -> ArchivedRow:
        values = _row_from_json(row)
        return ArchivedRow(
            id=values["id"],
            tenant=values["tenant"] or None,
            content_hash=values["content_hash"],
            record_digest=_digest(values),
            state=state_of(values),
        )

    def sealed_digest(self, snapshot_id: str) -> str | None:
        return _sealed_digest(self._connection, snapshot_id)

    def insert_row(self, row: Mapping[str, Any], blob: Blob, *, restored_on: _dt.datetime) -> None:
        connection = self._connection
        values = _row_from_json(row)
        if _blob(connection, blob.content_hash) is None:
            connection.execute(insert(blobs).values(blob_row(blob, utcnow())))
        connection.execute(insert(snapshots).values(_stored_values(connection, values)))
        connection.execute(
            update(archives)
            .where(archives.c.snapshot_id == values["id"])
            .values(restored_on=restored_on)
        )

    def snapshot_tenants(self, snapshot_id: str) -> list[str | None]:
        found: list[str | None] = []
        for table, column in ((snapshots, snapshots.c.id), (archives, archives.c.snapshot_id)):
            row = self._connection.execute(select(table.c.tenant).where(column == snapshot_id))
            found.extend(tenant or None for (tenant,) in row)
        return found

    def insert_hold(self, hold: LegalHold) -> None:
        self._connection.execute(
            insert(legal_holds).values(
                id=hold.id,
                tenant=stored_tenant(hold.tenant),
                scope=hold.scope,
                target=hold.target,
                reason=hold.reason,
                created_on=hold.created_on,
                created_by=hold.created_by,
                released_on=hold.released_on,
                released_by=hold.released_by,
                release_reason=hold.release_reason,
            )
        )

    def lock_hold(self, hold_id: str) -> LegalHold | None:
        row = (
            self._connection.execute(
                select(legal_holds).where(legal_holds.c.id == hold_id).with_for_update()
            )
            .mappings()
            .first()
        )
        return None if row is None else _hold(row)

    def update_hold(self, hold: LegalHold) -> None:
        self._connection.execute(
            update(legal_holds)
            .where(legal_holds.c.id == hold.id)
            .values(
                released_on=hold.released_on,
                released_by=hold.released_by,
                release_reason=hold.release_reason,
            )
        )

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
        self._store._append(
            self._connection,
            tenant=stored_tenant(tenant),
            subject=subject,
            kind=kind,
            at=at,
            actor=actor,
            data=data,
        )

    def save_sweep(self, sweep_id: str, *, cursor: str | None, counts: Mapping[str, int]) -> None:
        self._store._save_sweep(self._connection, sweep_id, cursor=cursor, counts=counts)


def _sweep_state(row: RowMapping, *, resumed: bool) -> SweepState:
    return SweepState(
        id=row["id"],
        tenant=None if row["tenant"] == ALL_TENANTS else (row["tenant"] or None),
        as_of=row["as_of"],
        started_on=row["started_on"],
        finished_on=row["finished_on"],
        cursor=row["cursor"],
        counts=json.loads(row["counts"]),
        resumed=resumed,
    )


def _candidate_query() -> Any:
    s = snapshots.c
    return select(
        s.id,
        s.tenant,
        s.workflow_id,
        s.workflow_type,
        s.pipeline_id,
        s.status,
        s.labels,
        s.parent_id,
        s.content_hash,
        s.created_on,
        s.updated_on,
        archives.c.snapshot_id.label("archived_id"),
        archives.c.restored_on,
    ).select_from(snapshots.outerjoin(archives, archives.c.snapshot_id == s.id))


def _candidate(row: RowMapping) -> RetentionCandidate:
    return RetentionCandidate(
        id=row["id"],
        tenant=row["tenant"] or None,
        workflow_id=row["workflow_id"],
        workflow_type=row["workflow_type"],
        pipeline_id=row["pipeline_id"],
        status=row["status"],
        labels=json.loads(row["labels"]),
        parent=row["parent_id"],
        content_hash=row["content_hash"],
        created_on=row["created_on"],
        updated_on=row["updated_on"],
        archived=row["archived_id"] is not None,
        restored_on=row["restored_on"],
    )


def _chained_tags(connection: Connection, snapshot_id: str) -> list[str]:
    """The tags a snapshot carries according to its own events (tagged, then not
    untagged): the subject's events, read by the ``(subject, seq)`` key."""
    e = events.c
    current: dict[str, None] = {}
    query = (
        select(e.kind, e.data)
        .where(e.subject == snapshot_id, e.kind.in_((EventKind.TAGGED, EventKind.UNTAGGED)))
        .order_by(e.seq)
    )
    for kind, data in connection.execute(query):
        try:
            fact = json.loads(data)
        except (TypeError, ValueError):
            continue
        name = fact.get("tag") if isinstance(fact, dict) else None
        if not isinstance(name, str):
            continue
        if kind == EventKind.TAGGED and "pipeline_id" in fact:
            current[name] = None
        elif kind == EventKind.UNTAGGED:
            current.pop(name, None)
    return sorted(current)


def _references(connection: Connection, snapshot_id: str, limit: int = 10) -> list[str]:
    """What references a snapshot: its retriggers, its tag rows, and the tags its
    events say it carries (a tag row deleted behind the store's back still counts)."""
    found = sorted(
        f"retrigger {row[0]}"
        for row in connection.execute(
            select(snapshots.c.id).where(snapshots.c.parent_id == snapshot_id).limit(limit)
        )
    )
    tags = metadata.tables.get("tags")
    if tags is not None and "snapshot_id" in tags.c and len(found) < limit:
        name = tags.c["name"] if "name" in tags.c else tags.c["snapshot_id"]
        found.extend(
            f"tag {row[0]}"
            for row in connection.execute(
                select(name).where(tags.c["snapshot_id"] == snapshot_id).limit(limit - len(found))
            )
        )
    if len(found) < limit:
        named = set(found)
        found.extend(
            f"tag {name}"
            for name in _chained_tags(connection, snapshot_id)
            if f"tag {name}" not in named
        )
    return found[:limit]


def _hold(row: RowMapping) -> LegalHold:
    return LegalHold(
        id=row["id"],
        scope=row["scope"],
        target=row["target"],
        tenant=row["tenant"] or None,
        reason=row["reason"],
        created_on=row["created_on"],
        created_by=row["created_by"],
        released_on=row["released_on"],
        released_by=row["released_by"],
        release_reason=row["release_reason"],
    )


def _active_holds(connection: Connection, tenant: str | None) -> list[LegalHold]:
    """The holds in force in a tenant: the active ``legal_holds`` rows, and the
    holds the audit trail records as set and not released.

    Both, so that neither a hold row deleted (or released) behind the store's
    back, nor a release event appended without its row, lets a sweep delete a
    held snapshot; ``wfaudit verify`` reports the disagreement.
    """
    query = select(legal_holds).where(legal_holds.c.released_on.is_(None))
    e = events.c
    trail = select(e.tenant, e.kind, e.at, e.actor, e.data).where(text(HOLD_EVENT_PREDICATE))
    if tenant is not None:
        query = query.where(legal_holds.c.tenant == tenant)
        trail = trail.where(e.tenant == tenant)
    found = {str(row["id"]): _hold(row) for row in connection.execute(query).mappings()}
    chained: dict[str, LegalHold | None] = {}
    for chain, kind, at, actor, data in connection.execute(trail.order_by(e.tenant, e.chain_seq)):
        try:
            fact = json.loads(data)
        except (TypeError, ValueError):
            fact = None
        if not isinstance(fact, dict) or not isinstance(fact.get("hold"), str):
            continue
        hold_id = fact["hold"]
        if kind == EventKind.HOLD_RELEASED:
            chained[hold_id] = None
            continue
        try:
            chained.setdefault(
                hold_id,
                LegalHold(
                    id=hold_id,
                    scope=str(fact["scope"]),
                    target=str(fact["target"]),
                    tenant=chain or None,
                    reason=fact.get("reason"),
                    created_on=at,
                    created_by=actor,
                ),
            )
        except (KeyError, TypeError, ValueError):
            continue
    for hold_id, hold in chained.items():
        if hold is not None and hold_id not in found:
            found[hold_id] = hold
    return list(found.values())


def _archive_values(record: ArchiveRecord, tenant: str) -> dict[str, Any]:
    return {
        "snapshot_id": record.snapshot_id,
        "tenant": tenant,
        "workflow_id": record.workflow_id,
        "workflow_type": record.workflow_type,
        "pipeline_id": record.pipeline_id,
        "status": record.status,
        "created_on": record.created_on,
        "archived_on": record.archived_on,
        "archive_url": record.archive_url,
        "object_key": record.object_key,
        "object_sha256": record.object_sha256,
        "object_size": record.object_size,
        "content_hash": record.content_hash,
        "record_digest": record.record_digest,
        "restored_on": None,
        "labels": None if record.labels is None else dump_json(dict(record.labels)),
        "started_on": record.started_on,
        "finished_on": record.finished_on,
        "expires_on": record.expires_on,
        "retention_reason": record.retention_reason,
    }


_TERMINAL = frozenset({"succeeded", "failed", "error", "cancelled"})


def _run_times(connection: Connection, row: RowMapping) -> dict[str, Any]:
    """When a run started (reported running, else triggered) and ended (its
    terminal outcome), from the snapshot row and its ``outcome.recorded`` events."""
    e = events.c
    started = row["created_on"]
    query = (
        select(e.at, e.data)
        .where(e.subject == row["id"], e.kind == EventKind.OUTCOME)
        .order_by(e.seq)
    )
    for at, data in connection.execute(query):
        if (_json_object(data) or {}).get("status") == "running":
            started = at
            break
    finished = row["updated_on"] if row["status"] in _TERMINAL else None
    return {"started_on": started, "finished_on": finished}


def _archive_query() -> Any:
    return select(*archives.c, snapshots.c.id.label("present_id")).select_from(
        archives.outerjoin(snapshots, snapshots.c.id == archives.c.snapshot_id)
    )


def _archive(row: Mapping[Any, Any]) -> ArchiveRecord:
    return ArchiveRecord(
        snapshot_id=row["snapshot_id"],
        tenant=row["tenant"] or None,
        workflow_id=row["workflow_id"],
        workflow_type=row["workflow_type"],
        pipeline_id=row["pipeline_id"],
        status=row["status"],
        created_on=row["created_on"],
        archived_on=row["archived_on"],
        archive_url=row["archive_url"],
        object_key=row["object_key"],
        object_sha256=row["object_sha256"],
        object_size=int(row["object_size"]),
        content_hash=row["content_hash"],
        record_digest=row["record_digest"],
        restored_on=row["restored_on"],
        present=row["present_id"] is not None,
        labels=_json_object(row["labels"]),
        started_on=row["started_on"],
        finished_on=row["finished_on"],
        expires_on=row["expires_on"],
        retention_reason=row["retention_reason"],
    )


def _blob(connection: Connection, content_hash: str) -> Blob | None:
    row = (
        connection.execute(select(blobs).where(blobs.c.content_hash == content_hash))
        .mappings()
        .first()
    )
    return None if row is None else blob_from_row(row)


def _orphan() -> ColumnElement[bool]:
    """A blob that no snapshot uses and no other blob names as its base."""
    other = blobs.alias("other")
    return and_(
        ~exists().where(snapshots.c.content_hash == blobs.c.content_hash),
        ~exists().where(other.c.base_hash == blobs.c.content_hash),
    )


def _lock_blob(connection: Connection, content_hash: str) -> None:
    """Lock a blob row before judging it an orphan (PostgreSQL; SQLite has one
    writer at a time). A save storing a delta on this blob holds a share lock on
    it until it commits: the check that follows the lock sees that delta, so a
    base is never deleted under a delta being saved."""
    connection.execute(
        select(blobs.c.content_hash).where(blobs.c.content_hash == content_hash).with_for_update()
    )


def _drop_unused_blobs(connection: Connection, content_hash: str) -> list[str]:
    """Delete a blob nothing needs any more, then its base if that is now unneeded."""
    dropped: list[str] = []
    current: str | None = content_hash
    while current is not None:
        _lock_blob(connection, current)
        row = connection.execute(
            select(blobs.c.base_hash).where(blobs.c.content_hash == current, _orphan())
        ).first()
        if row is None:
            break
        connection.execute(delete(blobs).where(blobs.c.content_hash == current))
        dropped.append(current)
        current = row[0]
    return dropped


def _with_manifest_text(connection: Connection, row: RowMapping) -> dict[str, Any]:
    """A snapshot row with its manifest's text under ``manifest`` (what the seal
    covers), whether the row carries the text or names a ``manifests`` row."""
    values = dict(row)
    if "manifest_hash" not in values:
        return values
    key = values.pop("manifest_hash")
    patch = values.pop("manifest_patch", None)
    stored = (
        connection.execute(
            select(manifests.c.codec, manifests.c.data).where(manifests.c.manifest_hash == key)
        )
        .mappings()
        .first()
    )
    if key is None or stored is None:
        raise StoreError(f"snapshot {values['id']}: its manifest is missing from the store")
    manifest = decode_manifest(stored["codec"], stored["data"])
    if manifest_hash(manifest) != key:
        raise StoreError(f"snapshot {values['id']}: its manifest does not match its hash")
    values["manifest"] = manifest if patch is None else apply_patch(manifest, patch)
    return values


def _stored_values(connection: Connection, values: Mapping[str, Any]) -> dict[str, Any]:
    """The ``snapshots`` row of restored values: the manifest's text goes to the
    ``manifests`` table (unless there) and the row names it."""
    row = dict(values)
    if "manifest_hash" not in snapshots.c:
        return row
    text_value = str(row.pop("manifest"))
    key = manifest_hash(text_value)
    found = connection.execute(
        select(manifests.c.manifest_hash).where(manifests.c.manifest_hash == key)
    ).first()
    if found is None:
        codec, data = encode_manifest(text_value)
        connection.execute(
            insert(manifests).values(
                manifest_hash=key,
                codec=codec,
                raw_size=len(text_value.encode("utf-8")),
                data=data,
                created_on=utcnow(),
            )
        )
    row["manifest_hash"] = key
    return row


def _drop_unused_manifest(connection: Connection, row: RowMapping) -> None:
    key = row.get("manifest_hash")
    if key is None:
        return
    connection.execute(
        delete(manifests).where(
            manifests.c.manifest_hash == key,
            ~exists().where(snapshots.c.manifest_hash == key),
        )
    )


def _row_to_json(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in row.items():
        if isinstance(value, _dt.datetime):
            out[name] = timestamp_text(value)
        elif name in _JSON_COLUMNS and isinstance(value, str):
            out[name] = json.loads(value)
        else:
            out[name] = value
    return out


def _row_from_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """The ``snapshots`` values of an exported row (unknown keys are refused)."""
    names = {c.name for c in snapshots.c} - {"manifest_hash", "manifest_patch"} | {"manifest"}
    unknown = sorted(set(row) - names)
    if unknown:
        raise StoreError(
            f"the archived row has columns this store does not have: {', '.join(unknown)}"
        )
    dates = _datetime_columns()
    values: dict[str, Any] = {}
    for name, value in row.items():
        if name in dates and value is not None:
            values[name] = _dt.datetime.fromisoformat(str(value))
        elif name in _JSON_COLUMNS:
            values[name] = dump_json(value)
        else:
            values[name] = value
    optional = {c.name for c in snapshots.c if c.nullable}
    missing = sorted(names - set(values) - optional)
    if missing:
        raise StoreError(f"the archived row lacks the columns {', '.join(missing)}")
    return values


def _digest(values: Mapping[str, Any]) -> str:
    try:
        return record_digest(values)
    except KeyError as error:
        raise StoreError(f"the archived row lacks the column {error}") from None


def _sealed_digest(connection: Connection, snapshot_id: str) -> str | None:
    """The record digest the snapshot's ``snapshot.audited`` event sealed, if any."""
    data = connection.execute(
        select(events.c.data).where(
            events.c.subject == snapshot_id, events.c.kind == EventKind.AUDITED
        )
    ).scalar()
    if data is None:
        return None
    try:
        value = json.loads(data).get("record_digest")
    except (TypeError, ValueError, AttributeError):
        return None
    return None if value is None else str(value)


def _json_object(text_value: Any) -> dict[str, Any] | None:
    try:
        value = json.loads(text_value)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _stale(row: RowMapping, host: str, now: int) -> bool:
    if now - int(row["heartbeat"]) > _LEASE_SECONDS:
        return True
    if row["host"] != host:
        return False
    try:
        os.kill(int(row["pid"]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
