"""``SqlStore``: the :class:`~wfaudit_hookspecs.Store` on SQLAlchemy Core.

One short transaction per call. Writes on SQLite start with ``BEGIN IMMEDIATE``
and are retried with backoff while another process holds the write lock; on
PostgreSQL the unique constraints and ``ON CONFLICT DO NOTHING`` make concurrent
saves of the same run safe without explicit locks.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.selectable import Select

from wfaudit_hookspecs import (
    AmbiguousSnapshot,
    Blob,
    HistoryQuery,
    InvalidRequest,
    SaveResult,
    SnapshotConflict,
    SnapshotNotFound,
    SnapshotRecord,
    Status,
    StoreError,
    StoreUnavailable,
    utcnow,
)

from . import migrate
from .connect import create_store_engine
from .errors import is_transient, translate
from .records import (
    blob_from_row,
    blob_row,
    differing_fields,
    dump_json,
    record_from_row,
    ref_from_row,
    snapshot_row,
    stored_tenant,
)
from .retry import backoff
from .schema import blobs, events, snapshots
from .sqlite import WRITE_OPTION
from .urls import parse_store_url

__all__ = ["SqlStore"]

T = TypeVar("T")

EVENT_AUDITED = "snapshot.audited"
EVENT_OUTCOME = "outcome.recorded"

_DB_ERRORS = (sa_exc.SQLAlchemyError, sqlite3.Error)


class SqlStore:
    """A wfaudit store in a SQLite file or a PostgreSQL database.

    :param url: a SQLAlchemy URL: ``sqlite:///path.db``, ``sqlite://`` (in memory),
        ``postgresql://user@host/dbname``. Query options of wfaudit's own:
        ``synchronous`` and ``busy_timeout`` (SQLite), ``retry_deadline`` (seconds).
    :param check_schema: check the schema revision when opening (and create or
        upgrade the schema as ``auto_upgrade`` allows). The ``db`` commands turn it
        off to look at, or upgrade, a store as it is.
    :param auto_upgrade: upgrade a store behind the head revision when opening;
        None reads ``WFAUDIT_DB_AUTO_UPGRADE`` (default yes).
    :raises BadStoreURL: the URL is malformed.
    :raises StoreUnavailable: the database cannot be reached.
    :raises SchemaMismatch: the schema is newer than this code, or behind it and
        automatic upgrades are off.
    """

    url: str
    """The store's URL with the password hidden."""

    def __init__(
        self, url: str, *, check_schema: bool = True, auto_upgrade: bool | None = None
    ) -> None:
        target = parse_store_url(url)
        self.url = target.display
        self.backend: Literal["sqlite", "postgresql"] = target.backend
        self._retry_deadline = target.retry_deadline
        # An in-memory database is a single shared connection: one call at a time.
        self._serial: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if target.memory else contextlib.nullcontext()
        )
        try:
            self._engine = create_store_engine(target)
        except OSError as error:
            raise StoreUnavailable(
                f"cannot create the store at {self.url}: {error.strerror or error}"
            ) from None
        self._writer = self._engine.execution_options(**{WRITE_OPTION: True})
        self._insert_blob = _insert_ignoring_conflicts(self.backend, blobs)
        # rowcount tells whether the snapshot was new; SQLAlchemy keeps it for an
        # INSERT only when asked to.
        self._insert_snapshot = _insert_ignoring_conflicts(
            self.backend, snapshots
        ).execution_options(preserve_rowcount=True)
        self._insert_event = insert(events)
        try:
            if check_schema:
                upgrade = migrate.auto_upgrade_from_env() if auto_upgrade is None else auto_upgrade
                if migrate.check_revision(self.current_revision(), self.url, auto_upgrade=upgrade):
                    self.upgrade()
        except BaseException:
            self._engine.dispose()
            raise

    def __repr__(self) -> str:
        return f"SqlStore({self.url!r})"

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
        event_values = {
            "tenant": row["tenant"],
            "subject": record.id,
            "seq": 1,
            "kind": EVENT_AUDITED,
            "at": now,
            "actor": record.created_by or record.triggered_by,
            "data": dump_json(
                {
                    "content_hash": record.content_hash,
                    "workflow_id": record.workflow_id,
                    "workflow_type": record.workflow_type,
                    "pipeline_id": record.pipeline_id,
                    "trigger_kind": row["trigger_kind"],
                    "attempt": record.attempt,
                    "parent": record.parent,
                }
            ),
        }

        def work(connection: Connection) -> SaveResult:
            connection.execute(self._insert_blob, blob_values)
            if connection.execute(self._insert_snapshot, row).rowcount == 1:
                connection.execute(self._insert_event, event_values)
                return SaveResult(ref=ref_from_row(row), created=True)
            stored = (
                connection.execute(
                    _identity_query(record.workflow_id, record.workflow_type, row["tenant"])
                )
                .mappings()
                .first()
            )
            if stored is None:
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
        return None if row is None else record_from_row(row)

    def get_record_by_id(
        self, snapshot_id: str, *, tenant: str | None = None
    ) -> SnapshotRecord | None:
        """The record with this snapshot id (in ``tenant``, when given), or None."""
        query = select(snapshots).where(snapshots.c.id == snapshot_id)
        if tenant is not None:
            query = query.where(snapshots.c.tenant == stored_tenant(tenant))

        def work(connection: Connection) -> RowMapping | None:
            return connection.execute(query).mappings().first()

        row = self._run(work, write=False)
        return None if row is None else record_from_row(row)

    def get_blob(self, content_hash: str) -> Blob | None:
        """The blob with this content hash, or None."""
        query = select(blobs).where(blobs.c.content_hash == content_hash)

        def work(connection: Connection) -> RowMapping | None:
            return connection.execute(query).mappings().first()

        row = self._run(work, write=False)
        return None if row is None else blob_from_row(row)

    def history(self, query: HistoryQuery) -> list[SnapshotRecord]:
        """Records matching ``query``, newest first (``created_on``, then id)."""
        if query.limit <= 0:
            return []
        statement = select(snapshots)
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
            statement = statement.where(c.status == Status(query.status).value)
        if query.before is not None:
            statement = statement.where(c.created_on < query.before)
        statement = statement.order_by(c.created_on.desc(), c.id.desc()).limit(query.limit)

        def work(connection: Connection) -> list[RowMapping]:
            return list(connection.execute(statement).mappings().all())

        return [record_from_row(row) for row in self._run(work, write=False)]

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
            seq = connection.execute(
                select(func.coalesce(func.max(events.c.seq), 0) + 1).where(
                    events.c.subject == found["id"]
                )
            ).scalar_one()
            connection.execute(
                self._insert_event,
                {
                    "tenant": found["tenant"],
                    "subject": found["id"],
                    "seq": seq,
                    "kind": EVENT_OUTCOME,
                    "at": now,
                    "actor": by,
                    "data": dump_json({"status": value, "reason": reason}),
                },
            )
            return (
                connection.execute(select(snapshots).where(snapshots.c.id == found["id"]))
                .mappings()
                .one()
            )

        return record_from_row(self._run(work, write=True))

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
                migrate.lock_postgresql(connection)
                connection.commit()
                try:
                    with connection.begin():
                        return migrate.upgrade_in(connection, self.url)
                finally:
                    try:
                        migrate.unlock_postgresql(connection)
                        connection.commit()
                    except _DB_ERRORS:
                        # A session lock must not go back to the pool still held.
                        connection.invalidate()

        return self._translated(work)

    # -- plumbing ---------------------------------------------------------------

    def _run(self, work: Callable[[Connection], T], *, write: bool) -> T:
        """Run ``work`` in one transaction, retrying while the store is busy."""
        engine = self._writer if write else self._engine
        started = time.monotonic()
        delays = backoff(self._retry_deadline)
        while True:
            try:
                with self._serial, engine.begin() as connection:
                    return work(connection)
            except _DB_ERRORS as error:
                if not is_transient(error):
                    raise translate(error, self.url) from error
                delay = next(delays, None)
                if delay is None:
                    waited = time.monotonic() - started
                    raise translate(error, self.url, waited=waited) from error
                time.sleep(delay)

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


def _identity_query(workflow_id: str, workflow_type: str, tenant: str | None) -> Select[Any]:
    query = select(snapshots).where(
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
