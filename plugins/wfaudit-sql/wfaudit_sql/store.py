"""``SqlStore``: the :class:`~wfaudit_hookspecs.Store` on SQLAlchemy Core.

One short transaction per call. Writes on SQLite start with ``BEGIN IMMEDIATE``
and are retried with backoff while another process holds the write lock; on
PostgreSQL the unique constraints and ``ON CONFLICT DO NOTHING`` make concurrent
saves of the same run (and of the same content) safe.

Every write that the audit trail records appends its event in the same
transaction (:meth:`SqlStore._append`): the tenant's chain head row is locked
last, just before the event is inserted, so the lock is held only for the few
statements and the commit that follow, and no transaction ever waits for another
lock while holding it (which rules out deadlocks between appends).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from sqlalchemy import LargeBinary, bindparam, cast, func, insert, select, text, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.selectable import Select

from wfaudit_hookspecs import (
    AmbiguousSnapshot,
    Annotation,
    AuditEvent,
    BackupResult,
    Blob,
    ChainHead,
    DeltaBaseUnavailable,
    EventKind,
    HistoryQuery,
    InvalidRequest,
    SaveResult,
    SnapshotConflict,
    SnapshotNotFound,
    SnapshotRecord,
    Status,
    StoreError,
    StoreNotFound,
    StoreRejected,
    StoreStats,
    StoreUnavailable,
    Tag,
    TrailCheck,
    utcnow,
)
from wfaudit_hookspecs.protocols import check_event
from wfaudit_hookspecs.util import fsync_directory as _fsync_directory

from . import migrate, tags, trail
from .chain import (
    GENESIS,
    column_signature,
    event_form,
    event_hash,
    record_digest,
    state_of,
)
from .connect import create_store_engine, session_settings
from .errors import is_disconnect, is_transient, translate
from .manifests import (
    PATCH_LIMIT,
    ManifestCache,
    make_patch,
    manifest_hash,
    record_query,
)
from .manifests import decode as decode_manifest
from .records import (
    blob_from_row,
    blob_row,
    differing_fields,
    dump_json,
    event_from_row,
    record_from_row,
    ref_from_row,
    snapshot_row,
    stored_tenant,
)
from .retention import RetentionMixin
from .retry import backoff
from .schema import (
    FAILED_PREDICATE,
    FAILED_STATUSES,
    blobs,
    chain_heads,
    events,
    manifests,
    snapshots,
    store_meta,
)
from .sqlite import (
    SINGLE_READ_OPTION,
    WRITE_OPTION,
    create_private_file,
    database_path,
    make_private_directories,
)
from .urls import StoreTarget, parse_store_url

__all__ = ["SqlStore"]

T = TypeVar("T")

EVENT_AUDITED = EventKind.AUDITED
EVENT_OUTCOME = EventKind.OUTCOME
"""Event kinds only the store itself appends (with the rows they describe)."""

_DB_ERRORS = (sa_exc.SQLAlchemyError, sqlite3.Error)
_DISCONNECT_RETRIES = 2
"""Immediate re-runs of a transaction whose connection the server dropped (a
restart, ``pg_terminate_backend``): the pool hands out a fresh connection."""
_PAGE = 500


def _refuse_missing_file(target: StoreTarget) -> None:
    """:class:`StoreNotFound` when ``target`` is a SQLite file that is not there."""
    path = database_path(target)
    if path is None or path.is_file():
        return
    if path.exists():
        what = "is not a file"
    elif path.parent.is_dir():
        what = "does not exist"
    elif path.parent.exists():
        what = f"does not exist ({path.parent} is not a directory)"
    else:
        what = f"does not exist (nor does its directory {path.parent})"
    raise StoreNotFound(
        f"no wfaudit store at {target.display}: {path} {what} (a command that only reads "
        "never creates a store); check the path, or create the store with "
        "`wfaudit db upgrade --store URL` (or by auditing a trigger)"
    )


class SqlStore(RetentionMixin):
    """A wfaudit store in a SQLite file or a PostgreSQL database.

    :param url: a SQLAlchemy URL: ``sqlite:///path.db``, ``sqlite://`` (in memory),
        ``postgresql://user@host/dbname``. Query options of wfaudit's own:
        ``synchronous`` and ``busy_timeout`` (SQLite), ``retry_deadline`` (seconds).
    :param check_schema: check the schema revision when opening (and create or
        upgrade the schema as ``auto_upgrade`` allows). The ``db`` commands turn it
        off to look at, or upgrade, a store as it is.
    :param auto_upgrade: upgrade a store behind the head revision when opening;
        None reads ``WFAUDIT_DB_AUTO_UPGRADE`` (default yes).
    :param create: a store that does not exist yet may be created (the SQLite
        file and its directories, the tables). When False a missing store
        raises :class:`StoreNotFound` and nothing is created: the SQLite file is
        opened with ``mode=rw`` and no directory is made; a database without the
        wfaudit tables is refused (with ``check_schema``) rather than given them.
    :raises BadStoreURL: the URL is malformed.
    :raises StoreUnavailable: the database cannot be reached.
    :raises StoreNotFound: ``create`` is False and there is no store at the URL.
    :raises SchemaMismatch: the schema is newer than this code, or behind it and
        automatic upgrades are off.
    """

    url: str
    """The store's URL with the password hidden."""

    def __init__(
        self,
        url: str,
        *,
        check_schema: bool = True,
        auto_upgrade: bool | None = None,
        create: bool = True,
    ) -> None:
        target = parse_store_url(url)
        self.url = target.display
        if not create:
            _refuse_missing_file(target)
        self.backend: Literal["sqlite", "postgresql"] = target.backend
        self._target = target
        self._retry_deadline = target.retry_deadline
        # An in-memory database is a single shared connection: one call at a time.
        self._serial: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if target.memory else contextlib.nullcontext()
        )
        try:
            self._engine = create_store_engine(target, create=create)
        except OSError as error:
            raise StoreUnavailable(
                f"cannot create the store at {self.url}: {error.strerror or error}"
            ) from None
        self._writer = self._engine.execution_options(**{WRITE_OPTION: True})
        # A read is one statement (or several that need no common snapshot): on
        # PostgreSQL it runs without BEGIN and COMMIT, two network round trips
        # fewer; on SQLite without them too (each statement is its own read
        # transaction). Reads that need one snapshot use _read_consistently.
        self._reader = (
            self._engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.backend == "postgresql"
            else self._engine.execution_options(**{SINGLE_READ_OPTION: True})
        )
        # The hot reads, built once (a retrigger reads a record and a blob or two).
        self._blob_by_hash = select(blobs).where(blobs.c.content_hash == bindparam("key"))
        self._record_by_id = record_query().where(snapshots.c.id == bindparam("key"))
        self._insert_blob = _insert_ignoring_conflicts(self.backend, blobs)
        # Content-addressed manifests (wfaudit_sql.manifests), decoded once per process.
        self._manifests = ManifestCache()
        self._insert_manifest = _insert_ignoring_conflicts(self.backend, manifests)
        # rowcount tells whether the snapshot was new; SQLAlchemy keeps it for an
        # INSERT only when asked to.
        self._insert_snapshot = _insert_ignoring_conflicts(
            self.backend, snapshots
        ).execution_options(preserve_rowcount=True)
        self._insert_event = insert(events)
        self._insert_head = _insert_ignoring_conflicts(self.backend, chain_heads)
        # Built once: every audit runs them (building one costs more than running it).
        self._head_for_update = (
            select(chain_heads.c.seq, chain_heads.c.hash)
            .where(chain_heads.c.tenant == bindparam("key"))
            .with_for_update()  # nothing on SQLite, whose writers hold the database lock
        )
        self._move_head = (
            update(chain_heads)
            .where(chain_heads.c.tenant == bindparam("key"))
            .values(
                seq=bindparam("seq"), hash=bindparam("hash"), updated_on=bindparam("updated_on")
            )
        )
        # PostgreSQL pays a network round trip per statement: there, the blob and
        # the snapshot go in one statement, and so do the event and the chain
        # head's move (data-modifying CTEs); SQLite runs them one by one.
        self._save_both = _save_both_statement() if self.backend == "postgresql" else None
        self._append_both = _append_both_statement() if self.backend == "postgresql" else None
        # The chain key (use_chain_key): None appends plain SHA-256 links.
        self._chain_key: bytes | None = None
        self._chain_key_id: str | None = None
        self._retired_chain_keys: dict[str, bytes] = {}
        try:
            if check_schema:
                revision = self.current_revision()
                if revision is None and not create:
                    raise StoreNotFound(
                        f"no wfaudit store at {self.url}: the database has no wfaudit tables "
                        "(a command that only reads never creates them); check the URL "
                        "(database, schema, search_path), or create the store with "
                        "`wfaudit db upgrade --store URL`"
                    )
                upgrade = migrate.auto_upgrade_from_env() if auto_upgrade is None else auto_upgrade
                if migrate.check_revision(revision, self.url, auto_upgrade=upgrade):
                    self.upgrade()
        except BaseException:
            self._engine.dispose()
            raise

    def __repr__(self) -> str:
        return f"SqlStore({self.url!r})"

    def use_chain_key(
        self, key: bytes, *, key_id: str, retired: Mapping[str, bytes] | None = None
    ) -> None:
        """Hash every event appended from now on with HMAC-SHA256 under ``key``
        (see :mod:`wfaudit_sql.chain`), and verify keyed events with it; events
        keyed before a rotation are verified with their key in ``retired``.

        :raises InvalidRequest: a key shorter than 16 bytes or a malformed id.
        """
        if not isinstance(key, bytes) or len(key) < 16:
            raise InvalidRequest("a chain key is at least 16 bytes")
        if not isinstance(key_id, str) or not 1 <= len(key_id) <= 32:
            raise InvalidRequest("a chain key id is 1 to 32 characters")
        self._chain_key, self._chain_key_id = bytes(key), key_id
        self._retired_chain_keys = {str(name): bytes(old) for name, old in (retired or {}).items()}

    def __enter__(self) -> SqlStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- the Store protocol ---------------------------------------------------

    def save(self, record: SnapshotRecord, blob: Blob) -> SaveResult:
        """Store ``blob`` (once per content hash) and ``record`` in one transaction.

        :returns: ``created=False`` with the stored reference when the same audit
            of this run is already stored.
        :raises SnapshotConflict: the run is stored with a different audit (or the
            snapshot id is taken); nothing is written.
        """
        if blob.content_hash != record.content_hash:
            raise InvalidRequest(
                f"the blob's content hash does not match the snapshot {record.id!r}'s"
            )
        now = utcnow()
        row = snapshot_row(record)
        blob_values = blob_row(blob, now)
        # The event seals the row: a digest of its fixed columns and its state.
        # Only what verification needs (revision 0010): the row's digest, a short
        # digest per sealed column (to name a changed one) and its initial state.
        # The row itself holds the values; a copy of them here was most of the event.
        audited = {
            "record_digest": record_digest(row),
            "columns": column_signature(row),
            "state": state_of(row),
        }
        actor = record.created_by or record.triggered_by
        # The row names its manifest, stored once per distinct text (the digest
        # above covers the text itself).
        manifest_values = self._manifest_values(row, now)

        def insert_both(connection: Connection) -> bool:
            """Insert the blob and the snapshot unless there; True if the snapshot is new."""
            if self._save_both is not None:
                params = {
                    **row,
                    **{f"blob_{key}": value for key, value in blob_values.items()},
                    **{f"manifest_{key}": value for key, value in manifest_values.items()},
                }
                return bool(connection.execute(self._save_both, params).rowcount == 1)
            connection.execute(self._insert_manifest, manifest_values)
            connection.execute(self._insert_blob, blob_values)
            return bool(connection.execute(self._insert_snapshot, row).rowcount == 1)

        def work(connection: Connection) -> SaveResult:
            if blob.base is not None:
                _check_delta_base(connection, blob)
            if insert_both(connection):
                self._append(
                    connection,
                    tenant=row["tenant"],
                    subject=record.id,
                    seq=1,
                    kind=EVENT_AUDITED,
                    at=now,
                    actor=actor,
                    data=audited,
                )
                return SaveResult(ref=ref_from_row(row), created=True)
            stored = (
                connection.execute(
                    _identity_query(record.workflow_id, record.workflow_type, row["tenant"])
                )
                .mappings()
                .first()
            )
            if stored is None:
                if record.parent is not None and _has_child(connection, record.parent):
                    raise SnapshotConflict(
                        f"snapshot {record.parent} is retriggered already (by another "
                        "retrigger); a run is retriggered once"
                    )
                raise SnapshotConflict(
                    f"snapshot id {record.id!r} is already used by another workflow run"
                )
            differing = differing_fields(stored, row)
            if differing:
                raise SnapshotConflict(
                    f"workflow {record.workflow_id!r} of type {record.workflow_type}"
                    f"{_in_tenant(record.tenant)} is already audited with a different "
                    f"{', '.join(differing)}; a workflow run is audited once"
                )
            return SaveResult(ref=ref_from_row(stored), created=False)

        return self._run(work, write=True)

    def get_record(
        self, *, workflow_id: str, workflow_type: str, tenant: str | None = None
    ) -> SnapshotRecord | None:
        """The record of a workflow run, or None; ``tenant=None`` searches every tenant.

        :raises AmbiguousSnapshot: ``tenant`` is None and several tenants have the run.
        """

        def work(connection: Connection) -> RowMapping | None:
            return _find_run(connection, workflow_id, workflow_type, tenant)

        row = self._run(work, write=False)
        return None if row is None else self._record(row)

    def get_record_by_id(
        self, snapshot_id: str, *, tenant: str | None = None
    ) -> SnapshotRecord | None:
        """The record with this snapshot id (in ``tenant``, when given), or None."""
        query = self._record_by_id
        if tenant is not None:
            query = query.where(snapshots.c.tenant == stored_tenant(tenant))

        def work(connection: Connection) -> RowMapping | None:
            return connection.execute(query, {"key": snapshot_id}).mappings().first()

        row = self._run(work, write=False)
        return None if row is None else self._record(row)

    def get_blob(self, content_hash: str) -> Blob | None:
        """The blob with this content hash, or None."""

        def work(connection: Connection) -> RowMapping | None:
            return connection.execute(self._blob_by_hash, {"key": content_hash}).mappings().first()

        row = self._run(work, write=False)
        return None if row is None else blob_from_row(row)

    def history(self, query: HistoryQuery) -> list[SnapshotRecord]:
        """Records matching ``query``, newest first (``created_on``, then id)."""
        if query.limit <= 0:
            return []
        statement = record_query()
        c = snapshots.c
        if query.tenant is not None:
            statement = statement.where(c.tenant == stored_tenant(query.tenant))
        if query.pipeline_id is not None:
            statement = statement.where(c.pipeline_id == query.pipeline_id)
        if query.workflow_id is not None:
            statement = statement.where(c.workflow_id == query.workflow_id)
        if query.workflow_type is not None:
            statement = statement.where(c.workflow_type == query.workflow_type)
        if query.status is not None:
            value = Status(query.status).value
            statement = statement.where(c.status == value)
            if value in FAILED_STATUSES:
                # Lets the planners use the partial index of failed runs.
                statement = statement.where(text(FAILED_PREDICATE))
        if query.before is not None and query.before_id is None:
            statement = statement.where(c.created_on < query.before)
        # Labels, since, and the (before, before_id) cursor (wfaudit_sql.tags).
        statement = statement.where(*tags.history_conditions(self.backend, query))
        statement = statement.order_by(c.created_on.desc(), c.id.desc()).limit(query.limit)
        if query.offset > 0:
            statement = statement.offset(query.offset)

        def work(connection: Connection) -> list[RowMapping]:
            return list(connection.execute(statement).mappings().all())

        return [self._record(row) for row in self._run(work, write=False)]

    def set_status(
        self,
        *,
        workflow_id: str,
        workflow_type: str,
        tenant: str | None,
        status: Status,
        reason: str | None,
        by: str | None,
    ) -> SnapshotRecord:
        """Record a run's outcome and append an ``outcome.recorded`` event.

        ``tenant=None`` finds the run in any tenant, as the reads do.

        :raises SnapshotNotFound: there is no such run.
        :raises AmbiguousSnapshot: ``tenant`` is None and several tenants have the run.
        """
        value = Status(status).value

        def work(connection: Connection) -> RowMapping:
            found = _find_run(connection, workflow_id, workflow_type, tenant)
            if found is None:
                raise SnapshotNotFound(
                    f"no snapshot of workflow {workflow_id!r} of type {workflow_type}"
                    f"{_in_tenant(tenant)}; was its trigger audited?"
                )
            now = utcnow()
            # The UPDATE comes first: on PostgreSQL its row lock orders concurrent
            # outcomes of one run, so each reads the other's event when numbering.
            connection.execute(
                update(snapshots)
                .where(snapshots.c.id == found["id"])
                .values(status=value, status_reason=reason, updated_on=now, updated_by=by)
            )
            state = {"status": value, "status_reason": reason, "updated_on": now, "updated_by": by}
            self._append(
                connection,
                tenant=found["tenant"],
                subject=found["id"],
                kind=EVENT_OUTCOME,
                at=now,
                actor=by,
                data={"status": value, "reason": reason, "state": state_of(state)},
            )
            return (
                connection.execute(record_query().where(snapshots.c.id == found["id"]))
                .mappings()
                .one()
            )

        return self._record(self._run(work, write=True))

    def find_latest_failed(
        self,
        *,
        pipeline_id: str | None = None,
        workflow_id: str | None = None,
        workflow_type: str | None = None,
        tenant: str | None = None,
    ) -> SnapshotRecord | None:
        """The newest failed or errored record of a pipeline (or of a workflow run).

        Served by the partial index ``ix_snapshots_failed``: the predicate is
        spelt exactly as the index's, with literals, because SQLite (and a generic
        PostgreSQL plan) only use a partial index whose predicate the query
        visibly implies.
        """
        if pipeline_id is None and workflow_id is None:
            raise InvalidRequest("find_latest_failed needs a pipeline_id or a workflow_id")
        c = snapshots.c
        query = record_query().where(text(FAILED_PREDICATE))
        if pipeline_id is not None:
            query = query.where(c.pipeline_id == pipeline_id)
        if workflow_id is not None:
            query = query.where(c.workflow_id == workflow_id)
        if workflow_type is not None:
            query = query.where(c.workflow_type == workflow_type)
        if tenant is not None:
            query = query.where(c.tenant == stored_tenant(tenant))
        query = query.order_by(c.created_on.desc(), c.id.desc()).limit(1)

        row = self._read_first(query)
        return None if row is None else self._record(row)

    # -- tags, annotations, id prefixes (StoreHistory; wfaudit_sql.tags) ------------

    def find_by_id_prefix(
        self, prefix: str, *, tenant: str | None = None, limit: int = 2
    ) -> list[SnapshotRecord]:
        """Records whose id starts with ``prefix`` (at most ``limit``, by id)."""
        found = []
        for snapshot_id in tags.find_ids_by_prefix(self, prefix, tenant=tenant, limit=limit):
            record = self.get_record_by_id(snapshot_id, tenant=tenant)
            if record is not None:
                found.append(record)
        return found

    def add_tag(
        self,
        *,
        snapshot_id: str,
        name: str,
        tenant: str | None,
        by: str | None = None,
        move: bool = False,
    ) -> Tag:
        """Put tag ``name`` on a snapshot (unique within its pipeline); see StoreHistory."""
        return tags.add_tag(
            self, snapshot_id=snapshot_id, name=name, tenant=tenant, by=by, move=move
        )

    def remove_tag(
        self, *, name: str, pipeline_id: str, tenant: str | None, by: str | None = None
    ) -> Tag:
        """Remove tag ``name`` from the pipeline; returns the tag as it was."""
        return tags.remove_tag(self, name=name, pipeline_id=pipeline_id, tenant=tenant, by=by)

    def list_tags(
        self,
        *,
        snapshot_ids: Sequence[str] | None = None,
        pipeline_id: str | None = None,
        name: str | None = None,
        tenant: str | None = None,
    ) -> list[Tag]:
        """Tags matching every filter given, by pipeline and name."""
        return tags.list_tags(
            self, snapshot_ids=snapshot_ids, pipeline_id=pipeline_id, name=name, tenant=tenant
        )

    def add_annotation(
        self,
        *,
        snapshot_id: str,
        note: str,
        author: str,
        tenant: str | None,
        path: str | None = None,
    ) -> Annotation:
        """Add a note to a snapshot (or to the node at ``path``); see StoreHistory."""
        return tags.add_annotation(
            self, snapshot_id=snapshot_id, note=note, author=author, tenant=tenant, path=path
        )

    def list_annotations(
        self, *, snapshot_ids: Sequence[str], tenant: str | None = None
    ) -> list[Annotation]:
        """The notes on these snapshots, oldest first."""
        return tags.list_annotations(self, snapshot_ids=snapshot_ids, tenant=tenant)

    def get_blobs(self, content_hashes: Sequence[str]) -> list[Blob]:
        """The blobs with these content hashes (those that exist), in one read."""
        return tags.get_blobs(self, content_hashes)

    # -- the audit trail ----------------------------------------------------------

    def append_event(
        self,
        *,
        subject: str,
        kind: str,
        tenant: str | None,
        actor: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> AuditEvent:
        """Append an event to ``tenant``'s chain; its ``seq`` follows the subject's last.

        :raises InvalidRequest: a kind the store records itself, a malformed kind
            or subject, or data that is not a JSON object.
        """
        payload = check_event(subject=subject, kind=kind, data=data)
        stored = stored_tenant(tenant)

        def work(connection: Connection) -> dict[str, Any]:
            return self._append(
                connection,
                tenant=stored,
                subject=subject,
                kind=kind,
                at=utcnow(),
                actor=actor,
                data=payload,
            )

        return event_from_row(self._run(work, write=True))

    def list_events(
        self, *, subject: str | None = None, tenant: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        """A subject's events in order (``seq``), or else the newest ``limit`` events."""
        c = events.c
        query = select(events)
        if tenant is not None:
            query = query.where(c.tenant == stored_tenant(tenant))
        if subject is not None:
            query = query.where(c.subject == subject).order_by(c.seq)
        else:
            query = query.order_by(c.id.desc())
        query = query.limit(max(0, limit))

        return [event_from_row(row) for row in self._read_all(query)]

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
    ) -> dict[str, Any]:
        """Append one event inside the caller's write transaction; returns its row.

        The head row is locked *last* in every transaction that appends, so it is
        held only for this call and the commit, and a transaction holding it
        never waits for another lock.
        """
        position, prev_hash = self._lock_head(connection, tenant)
        if seq is None:
            # Under the head lock: no other append of this chain can interleave.
            seq = connection.execute(
                select(func.coalesce(func.max(events.c.seq), 0) + 1).where(
                    events.c.subject == subject
                )
            ).scalar_one()
        data_text = dump_json(data)
        form = event_form(
            tenant=tenant, subject=subject, seq=seq, kind=kind, at=at, actor=actor, data=data_text
        )
        digest = event_hash(prev_hash, form, self._chain_key)
        values = {
            "tenant": tenant,
            "subject": subject,
            "seq": seq,
            "kind": kind,
            "at": at,
            "actor": actor,
            "data": data_text,
            "chain_seq": position + 1,
            "prev_hash": prev_hash,
            "hash": digest,
            "key_id": self._chain_key_id,
        }
        if self._append_both is not None:
            connection.execute(
                self._append_both,
                {**{f"event_{key}": value for key, value in values.items()}, "head_updated_on": at},
            )
            return values
        connection.execute(self._insert_event, values)
        connection.execute(
            self._move_head, {"key": tenant, "seq": position + 1, "hash": digest, "updated_on": at}
        )
        return values

    def _lock_head(self, connection: Connection, tenant: str) -> tuple[int, str]:
        """Lock a chain's head row (creating it for a new tenant): (position, hash)."""
        row = connection.execute(self._head_for_update, {"key": tenant}).first()
        if row is None:
            # Two first appends of a tenant race here: one inserts, the other
            # waits for its commit and then finds (and locks) the row.
            connection.execute(
                self._insert_head,
                {"tenant": tenant, "seq": 0, "hash": GENESIS, "updated_on": utcnow()},
            )
            row = connection.execute(self._head_for_update, {"key": tenant}).one()
        return int(row[0]), str(row[1])

    # -- store facts (the StoreMeta protocol) ---------------------------------------

    def read_meta(self, name: str) -> str | None:
        """The value recorded under ``name`` in ``store_meta``, or None."""
        query = select(store_meta.c.value).where(store_meta.c.name == name)

        def work(connection: Connection) -> str | None:
            value: str | None = connection.execute(query).scalar()
            return value

        return self._run(work, write=False)

    def claim_meta(self, name: str, value: str, *, replace: str | None = None) -> str:
        """Record ``value`` under ``name`` unless another value is recorded (that is
        not ``replace``); one transaction. Returns what is recorded afterwards."""
        insert_row = _insert_ignoring_conflicts(self.backend, store_meta)

        def work(connection: Connection) -> str:
            now = utcnow()
            connection.execute(insert_row.values(name=name, value=value, updated_on=now))
            if replace is not None and replace != value:
                connection.execute(
                    update(store_meta)
                    .where(store_meta.c.name == name, store_meta.c.value == replace)
                    .values(value=value, updated_on=now)
                )
            recorded: str = connection.execute(
                select(store_meta.c.value).where(store_meta.c.name == name)
            ).scalar_one()
            return recorded

        return self._run(work, write=True)

    # -- maintenance ----------------------------------------------------------------

    def ping(self, *, write: bool = False) -> None:
        """Raise :class:`StoreUnavailable` unless the database answers.

        With ``write``, the probe runs as a write transaction (on SQLite it takes
        the write lock), so it fails while another connection holds the database
        locked, as a save would.
        """

        def work(connection: Connection) -> None:
            connection.execute(select(1)).scalar()

        self._run(work, write=write)

    def check_trail(
        self,
        *,
        tenant: str | None = None,
        max_findings: int = 1000,
        anchors: Sequence[ChainHead] = (),
    ) -> TrailCheck:
        """Verify the chains, every snapshot row against its events, the tables
        the events describe (holds, tags, annotations, archives) and the blob rows.

        Runs in one read transaction (``REPEATABLE READ`` on PostgreSQL) so that
        writes made meanwhile are not mistaken for tampering. Keyed events are
        checked with the chain key (:meth:`use_chain_key`). With ``anchors``
        (heads recorded earlier, kept outside the database), each chain must
        still pass through its anchored head. See :mod:`wfaudit_sql.trail` for
        what is reported.
        """
        scope = None if tenant is None else stored_tenant(tenant)
        key = trail.ChainKey(self._chain_key, self._chain_key_id, self._retired_chain_keys)
        anchored = {stored_tenant(head.tenant): head for head in anchors}

        def check(connection: Connection) -> TrailCheck:
            return trail.check(
                connection, tenant=scope, max_findings=max_findings, key=key, anchors=anchored
            )

        def work(connection: Connection) -> TrailCheck:
            if self.backend != "sqlite":
                return check(connection)
            # SQLite keeps any bytes written into a TEXT column; text that is not
            # UTF-8 must show up as a modified row, not stop the verification.
            raw: Any = connection.connection.dbapi_connection
            previous = raw.text_factory
            raw.text_factory = _lenient_text
            try:
                return check(connection)
            finally:
                raw.text_factory = previous

        return self._read_consistently(work)

    def iter_blobs(self, *, tenant: str | None = None) -> Iterator[Blob]:
        """Every blob (referenced by ``tenant``'s snapshots), a page at a time."""
        last: str | None = None
        # The bytes cast to binary: a value written behind the store's back as
        # text still comes back, to fail its hash check.
        columns = [
            *(c for c in blobs.c if c.name != "data"),
            cast(blobs.c.data, LargeBinary).label("data"),
        ]
        while True:
            query = select(*columns).order_by(blobs.c.content_hash).limit(_PAGE // 5)
            if last is not None:
                query = query.where(blobs.c.content_hash > last)
            if tenant is not None:
                query = query.where(
                    blobs.c.content_hash.in_(
                        select(snapshots.c.content_hash).where(
                            snapshots.c.tenant == stored_tenant(tenant)
                        )
                    )
                )

            rows = self._read_all(query)
            if not rows:
                return
            for row in rows:
                yield blob_from_row(row)
            last = rows[-1]["content_hash"]

    def stats(self, *, tenant: str | None = None) -> StoreStats:
        """Counts and sizes of the store (or of one tenant's snapshots and blobs)."""
        c = snapshots.c
        scoped = None if tenant is None else stored_tenant(tenant)

        def where(query: Any, column: Any) -> Any:
            return query if scoped is None else query.where(column == scoped)

        def work(connection: Connection) -> StoreStats:
            count, raw, tenants = connection.execute(
                where(
                    select(
                        func.count(),
                        func.coalesce(func.sum(c.config_size), 0),
                        func.count(c.tenant.distinct()),
                    ),
                    c.tenant,
                )
            ).one()
            by_status = {
                str(status): int(n)
                for status, n in connection.execute(
                    where(select(c.status, func.count()), c.tenant).group_by(c.status)
                )
            }
            by_type = {
                str(kind): int(n)
                for kind, n in connection.execute(
                    where(select(c.workflow_type, func.count()), c.tenant).group_by(c.workflow_type)
                )
            }
            blob_query = select(
                func.count(),
                func.coalesce(func.sum(blobs.c.raw_size), 0),
                func.coalesce(func.sum(blobs.c.stored_size), 0),
            )
            if scoped is not None:
                blob_query = blob_query.where(
                    blobs.c.content_hash.in_(select(c.content_hash).where(c.tenant == scoped))
                )
            blob_count, unique_raw, stored = connection.execute(blob_query).one()
            event_count = connection.execute(
                where(select(func.count()).select_from(events), events.c.tenant)
            ).scalar_one()
            return StoreStats(
                snapshots=int(count),
                blobs=int(blob_count),
                events=int(event_count),
                tenants=int(tenants),
                by_status=dict(sorted(by_status.items())),
                by_workflow_type=dict(sorted(by_type.items())),
                raw_bytes=int(raw),
                unique_raw_bytes=int(unique_raw),
                stored_bytes=int(stored),
            )

        return self._read_consistently(work)

    def backup(self, destination: str) -> BackupResult:
        """Copy a live SQLite store to ``destination`` with SQLite's online backup API.

        The copy is one consistent snapshot (one backup step, inside a read
        transaction: in WAL mode writers go on meanwhile), written to a temporary
        file next to ``destination``, checked with ``PRAGMA integrity_check``,
        fsynced and renamed into place. An existing file is not overwritten.

        :raises StoreError: for PostgreSQL, with the ``pg_dump`` recipe to use.
        """
        if self.backend == "postgresql":
            raise StoreError(
                "a PostgreSQL store is backed up with pg_dump, not wfaudit: "
                "pg_dump --format=custom --file=DEST '<store URL>' "
                "(then check the copy as docs/operations.md describes)"
            )
        target = Path(destination).expanduser().resolve()
        if target.exists():
            raise StoreError(f"{target} exists; wfaudit backup does not overwrite files")
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        try:
            # A backup holds every snapshot: the owner's only, as the store is.
            make_private_directories(target.parent)
            with contextlib.suppress(FileNotFoundError):  # left by a killed run
                partial.unlink()
            create_private_file(partial)
            with self._serial, self._engine.connect() as connection:
                # The pooled DBAPI connection: a sqlite3.Connection for this backend.
                source: Any = connection.connection.dbapi_connection
                copy = sqlite3.connect(partial)
                try:
                    source.backup(copy)
                    integrity = str(copy.execute("PRAGMA integrity_check").fetchone()[0])
                    count = int(copy.execute("SELECT count(*) FROM snapshots").fetchone()[0])
                finally:
                    copy.close()
            if integrity != "ok":
                raise StoreError(f"the backup failed its integrity check: {integrity}")
            _fsync_file(partial)
            os.replace(partial, target)
            _fsync_directory(target.parent)
        except _DB_ERRORS as error:
            raise translate(error, self.url) from error
        except OSError as error:
            raise StoreError(
                f"cannot write the backup {target}: {error.strerror or error}"
            ) from None
        finally:
            with contextlib.suppress(OSError):
                partial.unlink()
        return BackupResult(
            path=str(target), bytes=target.stat().st_size, snapshots=count, integrity=integrity
        )

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    # -- schema -----------------------------------------------------------------

    def current_revision(self) -> str | None:
        """The database's schema revision, or None when it has no wfaudit schema."""
        return self._run(migrate.read_revision, write=False)

    def head_revision(self) -> str:
        """The schema revision this code writes."""
        return migrate.HEAD_REVISION

    def upgrade(self) -> tuple[str | None, str]:
        """Migrate the schema to the head revision; safe to run from several processes.

        :returns: the revision before (None for a new database) and after.
        :raises SchemaMismatch: the database is at a revision this code does not know.
        """
        if self.backend == "postgresql":
            return self._upgrade_postgresql(), migrate.HEAD_REVISION
        return self._upgrade_sqlite(), migrate.HEAD_REVISION

    def _upgrade_sqlite(self) -> str | None:
        def work(connection: Connection) -> str | None:
            return migrate.upgrade_in(connection, self.url)

        try:
            # BEGIN IMMEDIATE: a second process waits for the first to finish,
            # then finds the schema at head and does nothing.
            return self._run(work, write=True)
        except StoreError:
            # Belt and braces: if another process created the schema in a way
            # that made this attempt fail, the store is usable all the same.
            if self.current_revision() == migrate.HEAD_REVISION:
                return migrate.HEAD_REVISION
            raise

    def _upgrade_postgresql(self) -> str | None:
        def work() -> str | None:
            with self._engine.connect() as connection:
                # A migration waits for other processes' migrations and for the
                # locks its DDL needs as long as it takes: no lock_timeout here.
                connection.exec_driver_sql("SET lock_timeout = 0")
                migrate.lock_postgresql(connection)
                connection.commit()
                try:
                    with connection.begin():
                        return migrate.upgrade_in(connection, self.url)
                finally:
                    try:
                        migrate.unlock_postgresql(connection)
                        connection.exec_driver_sql(
                            f"SET lock_timeout = '{session_settings(self._target)['lock_timeout']}'"
                        )
                        connection.commit()
                    except _DB_ERRORS:
                        # A session lock must not go back to the pool still held.
                        connection.invalidate()

        return self._translated(work)

    # -- plumbing ---------------------------------------------------------------

    def _manifest_values(self, row: dict[str, Any], now: _dt.datetime) -> dict[str, Any]:
        """Name the row's manifest: its pipeline's base (stored once) and, when the
        run's text differs from the base, the run's patch against it in the row
        (:mod:`wfaudit_sql.manifests`, revision 0010). Returns the base's
        ``manifests`` row, inserted unless there (a base retention removed in the
        meantime comes back)."""
        text = str(row.pop("manifest"))
        tenant, pipeline = str(row["tenant"]), str(row["pipeline_id"])
        base = self._manifests.base(tenant, pipeline)
        if base is None:
            base = self._stored_base(tenant, pipeline)
        patch = None
        if base is not None and base != text:
            patch = make_patch(base, text)
            if len(patch) > PATCH_LIMIT:
                patch = None
                base = None
        if base is None:
            base = text
        self._manifests.remember_base(tenant, pipeline, base)
        values = self._manifests.row(base, now)
        row["manifest_hash"] = values["manifest_hash"]
        row["manifest_patch"] = patch
        return values

    def _stored_base(self, tenant: str, pipeline: str) -> str | None:
        """The base manifest of the pipeline's newest snapshot (None: no snapshot)."""
        s, m = snapshots.c, manifests.c
        query = (
            select(m.manifest_hash, m.codec, m.data)
            .select_from(snapshots.join(manifests, m.manifest_hash == s.manifest_hash))
            .where(s.pipeline_id == pipeline, s.tenant == tenant)
            .order_by(s.created_on.desc(), s.id.desc())
            .limit(1)
        )
        found = self._read_first(query)
        if found is None:
            return None
        try:
            text = decode_manifest(found["codec"], found["data"])
        except StoreError:
            return None
        return text if manifest_hash(text) == found["manifest_hash"] else None

    def _record(self, row: RowMapping) -> SnapshotRecord:
        """The record of a :func:`~wfaudit_sql.manifests.record_query` row."""
        return record_from_row(row, manifest=self._manifests.parsed(row))

    def _run(self, work: Callable[[Connection], T], *, write: bool, consistent: bool = False) -> T:
        """Run ``work`` in one transaction, retrying while the store is busy.

        A read (``write=False``) runs each statement on its own unless
        ``consistent`` asks for one transaction around them all.
        """
        engine = self._writer if write else self._engine if consistent else self._reader
        started = time.monotonic()
        delays = backoff(self._retry_deadline)
        disconnects = 0
        while True:
            try:
                with self._serial, engine.begin() as connection:
                    return work(connection)
            except OverflowError as error:
                # pysqlite refuses an int beyond 64 bits while binding it: the data,
                # not the store, is at fault (PostgreSQL says so with a DataError).
                raise StoreRejected(
                    f"the store at {self.url} refused the data (an integer too large "
                    "for the database); retrying cannot help"
                ) from error
            except _DB_ERRORS as error:
                if is_disconnect(error) and disconnects < _DISCONNECT_RETRIES:
                    # The server dropped this connection (it was terminated or
                    # restarted); the transaction never committed, so run it again
                    # on a fresh one. A server that is down fails the reconnect,
                    # which is not a disconnect, and ends the loop at once.
                    disconnects += 1
                    continue
                if not is_transient(error):
                    raise translate(error, self.url) from error
                delay = next(delays, None)
                if delay is None:
                    waited = time.monotonic() - started
                    raise translate(error, self.url, waited=waited) from error
                time.sleep(delay)

    def _read_consistently(self, work: Callable[[Connection], T]) -> T:
        """Run a multi-statement read in one transaction that sees one snapshot.

        SQLite's read transactions already do (in WAL mode a reader keeps its
        snapshot until it ends); PostgreSQL's default READ COMMITTED does not, so
        the transaction is REPEATABLE READ there.
        """
        if self.backend == "sqlite":
            return self._run(work, write=False, consistent=True)

        def run() -> T:
            engine = self._engine.execution_options(isolation_level="REPEATABLE READ")
            for attempt in range(_DISCONNECT_RETRIES + 1):
                try:
                    with engine.begin() as connection:
                        return work(connection)
                except sa_exc.DBAPIError as error:
                    if not is_disconnect(error) or attempt == _DISCONNECT_RETRIES:
                        raise
            raise AssertionError("unreachable")  # pragma: no cover

        return self._translated(run)

    def _translated(self, work: Callable[[], T]) -> T:
        try:
            with self._serial:
                return work()
        except _DB_ERRORS as error:
            raise translate(error, self.url) from error


def _insert_ignoring_conflicts(backend: str, table: Any) -> Insert:
    """``INSERT ... ON CONFLICT DO NOTHING`` in the backend's dialect."""
    if backend == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.postgresql import insert as postgresql_insert

    return postgresql_insert(table).on_conflict_do_nothing()


# Built once: every audit that stores a delta runs the first (building a statement
# costs more than running it). FOR KEY SHARE on PostgreSQL: retention, which locks a
# blob before judging it an orphan, waits for this save and then sees the delta
# naming the base.
_DELTA_BASE = (
    select(blobs.c.codec, blobs.c.base_hash)
    .where(blobs.c.content_hash == bindparam("key"))
    .with_for_update(read=True, key_share=True)
)
_BLOB_STORED = select(blobs.c.content_hash).where(blobs.c.content_hash == bindparam("key"))


def _check_delta_base(connection: Connection, blob: Blob) -> None:
    """Refuse a delta whose base is not stored whole now (inside the save's
    transaction): a delta's base is always a whole blob. A delta whose own content
    is stored already is not written (the first blob of a hash is kept): allowed.

    :raises DeltaBaseUnavailable: the base is missing, or itself a delta.
    """
    base = connection.execute(_DELTA_BASE, {"key": blob.base}).first()
    if base is not None and base.codec == "zstd" and base.base_hash is None:
        return
    own = connection.execute(_BLOB_STORED, {"key": blob.content_hash}).first()
    if own is not None:
        return
    state = "missing" if base is None else "not a whole blob"
    raise DeltaBaseUnavailable(
        f"delta blob {blob.content_hash[:12]}: its base {str(blob.base)[:12]} is {state} "
        "in the store; store the snapshot as a whole blob"
    )


def _save_both_statement() -> Any:
    """PostgreSQL: ``WITH new_blob AS (INSERT INTO blobs ... ON CONFLICT DO NOTHING),
    new_manifest AS (INSERT INTO manifests ...) INSERT INTO snapshots ... ON CONFLICT
    DO NOTHING``; its rowcount tells whether the snapshot was new. The foreign keys
    are checked at the end of the statement, when the blob and manifest rows are there."""
    from sqlalchemy.dialects.postgresql import insert as postgresql_insert

    new_blob = (
        postgresql_insert(blobs)
        .values({c.name: bindparam(f"blob_{c.name}", type_=c.type) for c in blobs.c})
        .on_conflict_do_nothing()
        .cte("new_blob")
    )
    new_manifest = (
        postgresql_insert(manifests)
        .values({c.name: bindparam(f"manifest_{c.name}", type_=c.type) for c in manifests.c})
        .on_conflict_do_nothing()
        .cte("new_manifest")
    )
    return (
        postgresql_insert(snapshots)
        .values({c.name: bindparam(c.name, type_=c.type) for c in snapshots.c})
        .on_conflict_do_nothing()
        .add_cte(new_blob, new_manifest)
        .execution_options(preserve_rowcount=True)
    )


def _append_both_statement() -> Any:
    """PostgreSQL: ``WITH new_event AS (INSERT INTO events ...) UPDATE chain_heads ...``:
    the event and the head that now names it, in one statement."""
    columns = [c for c in events.c if c.name != "id"]
    new_event = (
        insert(events)
        .values({c.name: bindparam(f"event_{c.name}", type_=c.type) for c in columns})
        .cte("new_event")
    )
    return (
        update(chain_heads)
        .where(chain_heads.c.tenant == bindparam("event_tenant"))
        .values(
            seq=bindparam("event_chain_seq"),
            hash=bindparam("event_hash"),
            updated_on=bindparam("head_updated_on", type_=chain_heads.c.updated_on.type),
        )
        .add_cte(new_event)
    )


def _has_child(connection: Connection, parent_id: str) -> bool:
    """Whether a snapshot names ``parent_id`` as its parent (it was retriggered)."""
    found = connection.execute(
        select(snapshots.c.id).where(snapshots.c.parent_id == parent_id).limit(1)
    ).first()
    return found is not None


def _identity_query(workflow_id: str, workflow_type: str, tenant: str | None) -> Select[Any]:
    query = record_query().where(
        snapshots.c.workflow_id == workflow_id, snapshots.c.workflow_type == workflow_type
    )
    if tenant is not None:
        query = query.where(snapshots.c.tenant == tenant)
    return query


def _find_run(
    connection: Connection, workflow_id: str, workflow_type: str, tenant: str | None
) -> RowMapping | None:
    """The row of a run; ``tenant=None`` means any tenant (ambiguity is an error)."""
    stored = None if tenant is None else stored_tenant(tenant)
    rows = (
        connection.execute(_identity_query(workflow_id, workflow_type, stored).limit(2))
        .mappings()
        .all()
    )
    if len(rows) > 1:
        raise AmbiguousSnapshot(
            f"workflow {workflow_id!r} of type {workflow_type} was audited in several "
            "tenants; name the tenant"
        )
    return rows[0] if rows else None


def _in_tenant(tenant: str | None) -> str:
    return f" in tenant {tenant!r}" if tenant else ""


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lenient_text(value: bytes) -> str:
    return value.decode("utf-8", "replace")
