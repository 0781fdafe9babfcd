"""Tags, annotations and history filters of :class:`~wfaudit_sql.SqlStore`.

The :class:`~wfaudit_hookspecs.StoreHistory` half of the store. Each change is
one write transaction that also appends its audit-trail event (subject: the
snapshot id), through the store's own ``_append``, so a tag never exists
without the event that recorded it.

A tag name is unique within a pipeline of a tenant (the primary key of
``tags``): re-tagging moves it, but only when asked to (``move=True``), and a
move records an ``untagged`` event on the snapshot it leaves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.sql.elements import ColumnElement

from wfaudit_hookspecs import (
    AmbiguousSnapshot,
    Annotation,
    Blob,
    EventKind,
    HistoryQuery,
    InvalidRequest,
    SnapshotNotFound,
    Tag,
    TagConflict,
    UnknownReference,
    check_tag_name,
    utcnow,
)

from .records import blob_from_row, stored_tenant
from .schema import blobs, snapshots, tags
from .schema import snapshot_annotations as notes

if TYPE_CHECKING:
    from .store import SqlStore

__all__ = [
    "MAX_NOTE_LENGTH",
    "add_annotation",
    "add_tag",
    "find_ids_by_prefix",
    "get_blobs",
    "history_conditions",
    "list_annotations",
    "list_tags",
    "remove_tag",
]

MAX_NOTE_LENGTH = 4000
"""The longest note an annotation may carry, in characters."""

_MAX_IDS = 1000
"""Snapshot ids per ``IN (...)`` list (a timeline page asks for far fewer)."""


# -- history filters ---------------------------------------------------------------


def history_conditions(backend: str, query: HistoryQuery) -> list[ColumnElement[bool]]:
    """The WHERE conditions of a history query's labels, time range and cursor.

    Labels are matched in the stored JSON: ``json_each`` on SQLite (any key, as
    a bound parameter), ``@>`` containment on PostgreSQL. The cursor
    ``(before, before_id)`` is spelt with a plain ``created_on <= before`` as
    well, so the planners can use the pipeline's ``created_on`` index.
    """
    c = snapshots.c
    conditions: list[ColumnElement[bool]] = []
    if query.labels:
        if backend == "postgresql":
            # Imported here: the PostgreSQL dialect weighs on every SQLite process (#18).
            from sqlalchemy.dialects.postgresql import JSONB

            conditions.append(c.labels.cast(JSONB).contains(dict(query.labels)))
        else:
            for key, value in sorted(query.labels.items()):
                label = func.json_each(c.labels).table_valued("key", "value").alias("label")
                conditions.append(
                    exists(
                        select(1)
                        .select_from(label)
                        .where(label.c.key == key, label.c.value == value)
                    )
                )
    if query.since is not None:
        conditions.append(c.created_on >= query.since)
    if query.before is not None and query.before_id is not None:
        conditions.append(c.created_on <= query.before)
        conditions.append(
            or_(
                c.created_on < query.before,
                and_(c.created_on == query.before, c.id < query.before_id),
            )
        )
    return conditions


def find_ids_by_prefix(
    store: SqlStore, prefix: str, *, tenant: str | None, limit: int
) -> list[str]:
    """Snapshot ids starting with ``prefix``, in id order (at most ``limit``).

    A range on the primary key (``id >= prefix AND id < next``), so both
    backends answer from the index whatever their LIKE rules or collation, and
    an exact ``substr`` test on top.
    """
    if not prefix or len(prefix) > 64:
        raise InvalidRequest("an id prefix is 1 to 64 characters")
    c = snapshots.c
    query = select(c.id).where(c.id >= prefix, func.substr(c.id, 1, len(prefix)) == prefix)
    query = query.where(c.id < prefix[:-1] + chr(ord(prefix[-1]) + 1))
    if tenant is not None:
        query = query.where(c.tenant == stored_tenant(tenant))
    query = query.order_by(c.id).limit(max(1, limit))

    def work(connection: Connection) -> list[str]:
        return [str(row[0]) for row in connection.execute(query)]

    return store._run(work, write=False)


# -- tags ------------------------------------------------------------------------------


def _snapshot(connection: Connection, snapshot_id: str, tenant: str | None) -> RowMapping:
    c = snapshots.c
    query = select(c.id, c.tenant, c.pipeline_id).where(c.id == snapshot_id)
    if tenant is not None:
        query = query.where(c.tenant == stored_tenant(tenant))
    row = connection.execute(query).mappings().first()
    if row is None:
        raise SnapshotNotFound(f"no snapshot with id {snapshot_id!r}")
    return row


def _tag(row: Mapping[Any, Any]) -> Tag:
    return Tag(
        name=row["name"],
        snapshot_id=row["snapshot_id"],
        pipeline_id=row["pipeline_id"],
        tenant=row["tenant"] or None,
        created_on=row["created_on"],
        created_by=row["created_by"],
    )


def add_tag(
    store: SqlStore,
    *,
    snapshot_id: str,
    name: str,
    tenant: str | None,
    by: str | None,
    move: bool,
) -> Tag:
    """See :meth:`wfaudit_hookspecs.StoreHistory.add_tag`."""
    name = check_tag_name(name)

    def work(connection: Connection) -> dict[str, Any]:
        target = _snapshot(connection, snapshot_id, tenant)
        key = and_(
            tags.c.tenant == target["tenant"],
            tags.c.pipeline_id == target["pipeline_id"],
            tags.c.name == name,
        )
        # FOR UPDATE: two moves of one tag at once are ordered (PostgreSQL);
        # SQLite's writer already holds the database lock.
        current = connection.execute(select(tags).where(key).with_for_update()).mappings().first()
        now = utcnow()
        values = {
            "tenant": target["tenant"],
            "pipeline_id": target["pipeline_id"],
            "name": name,
            "snapshot_id": target["id"],
            "created_on": now,
            "created_by": by,
        }
        if current is not None and current["snapshot_id"] == target["id"]:
            return dict(current)  # already there: nothing to record
        if current is not None and not move:
            raise TagConflict(
                f"tag {name!r} of pipeline {target['pipeline_id']!r} is on snapshot "
                f"{current['snapshot_id']}; tag with --move (move=True in Python) to move it"
            )
        if current is None:
            connection.execute(insert(tags).values(values))
        else:
            connection.execute(update(tags).where(key).values(values))
            store._append(
                connection,
                tenant=target["tenant"],
                subject=current["snapshot_id"],
                kind=EventKind.UNTAGGED,
                at=now,
                actor=by,
                data={"tag": name, "moved_to": target["id"]},
            )
        data: dict[str, Any] = {"tag": name, "pipeline_id": target["pipeline_id"]}
        if current is not None:
            data["moved_from"] = current["snapshot_id"]
        store._append(
            connection,
            tenant=target["tenant"],
            subject=target["id"],
            kind=EventKind.TAGGED,
            at=now,
            actor=by,
            data=data,
        )
        return values

    return _tag(store._run(work, write=True))


def remove_tag(
    store: SqlStore, *, name: str, pipeline_id: str, tenant: str | None, by: str | None
) -> Tag:
    """See :meth:`wfaudit_hookspecs.StoreHistory.remove_tag`."""
    name = check_tag_name(name)

    def work(connection: Connection) -> dict[str, Any]:
        query = select(tags).where(tags.c.pipeline_id == pipeline_id, tags.c.name == name)
        if tenant is not None:
            query = query.where(tags.c.tenant == stored_tenant(tenant))
        rows = connection.execute(query.with_for_update()).mappings().all()
        if not rows:
            raise UnknownReference(f"pipeline {pipeline_id!r} has no tag {name!r}")
        if len(rows) > 1:
            raise AmbiguousSnapshot(
                f"tag {name!r} of pipeline {pipeline_id!r} exists in several tenants; "
                "name the tenant"
            )
        row = dict(rows[0])
        connection.execute(
            delete(tags).where(
                tags.c.tenant == row["tenant"],
                tags.c.pipeline_id == pipeline_id,
                tags.c.name == name,
            )
        )
        store._append(
            connection,
            tenant=row["tenant"],
            subject=row["snapshot_id"],
            kind=EventKind.UNTAGGED,
            at=utcnow(),
            actor=by,
            data={"tag": name},
        )
        return row

    return _tag(store._run(work, write=True))


def _chunks(ids: Sequence[str]) -> list[list[str]]:
    unique = list(dict.fromkeys(ids))
    return [unique[i : i + _MAX_IDS] for i in range(0, len(unique), _MAX_IDS)]


def list_tags(
    store: SqlStore,
    *,
    snapshot_ids: Sequence[str] | None,
    pipeline_id: str | None,
    name: str | None,
    tenant: str | None,
) -> list[Tag]:
    """See :meth:`wfaudit_hookspecs.StoreHistory.list_tags`."""
    c = tags.c
    base = select(tags)
    if pipeline_id is not None:
        base = base.where(c.pipeline_id == pipeline_id)
    if name is not None:
        base = base.where(c.name == name)
    if tenant is not None:
        base = base.where(c.tenant == stored_tenant(tenant))
    base = base.order_by(c.tenant, c.pipeline_id, c.name)
    queries = (
        [base]
        if snapshot_ids is None
        else [base.where(c.snapshot_id.in_(chunk)) for chunk in _chunks(snapshot_ids)]
    )

    def work(connection: Connection) -> list[RowMapping]:
        return [row for query in queries for row in connection.execute(query).mappings().all()]

    found = [_tag(row) for row in store._run(work, write=False)]
    return sorted(found, key=lambda t: (t.tenant or "", t.pipeline_id, t.name))


def get_blobs(store: SqlStore, content_hashes: Sequence[str]) -> list[Blob]:
    """See :meth:`wfaudit_hookspecs.StoreHistory.get_blobs`."""
    queries = [
        select(blobs).where(blobs.c.content_hash.in_(chunk)) for chunk in _chunks(content_hashes)
    ]

    def work(connection: Connection) -> list[RowMapping]:
        return [row for query in queries for row in connection.execute(query).mappings().all()]

    return [blob_from_row(row) for row in store._run(work, write=False)]


# -- annotations ----------------------------------------------------------------------


def _annotation(row: Mapping[Any, Any]) -> Annotation:
    return Annotation(
        id=int(row["id"]),
        snapshot_id=row["snapshot_id"],
        note=row["note"],
        author=row["author"],
        path=row["path"],
        tenant=row["tenant"] or None,
        created_on=row["created_on"],
    )


def add_annotation(
    store: SqlStore,
    *,
    snapshot_id: str,
    note: str,
    author: str,
    tenant: str | None,
    path: str | None,
) -> Annotation:
    """See :meth:`wfaudit_hookspecs.StoreHistory.add_annotation`."""
    if not isinstance(note, str) or not note.strip():
        raise InvalidRequest("an annotation needs a non-empty note")
    if len(note) > MAX_NOTE_LENGTH:
        raise InvalidRequest(f"a note is at most {MAX_NOTE_LENGTH} characters")
    if not isinstance(author, str) or not author.strip() or len(author) > 255:
        raise InvalidRequest("an annotation needs an author (1 to 255 characters)")
    if path is not None and path != "" and not path.startswith("/"):
        raise InvalidRequest(f"the path {path!r} is not a JSON pointer (it starts with '/')")

    def work(connection: Connection) -> dict[str, Any]:
        target = _snapshot(connection, snapshot_id, tenant)
        now = utcnow()
        values: dict[str, Any] = {
            "tenant": target["tenant"],
            "snapshot_id": target["id"],
            "path": path or None,
            "author": author.strip(),
            "note": note.strip(),
            "created_on": now,
        }
        new_id = connection.execute(insert(notes).values(values).returning(notes.c.id)).scalar_one()
        values["id"] = int(new_id)
        # The event names the note and where it is, and seals its text with a
        # digest (a later edit of the row shows), without repeating free text.
        digest = hashlib.sha256(values["note"].encode("utf-8")).hexdigest()
        store._append(
            connection,
            tenant=target["tenant"],
            subject=target["id"],
            kind=EventKind.ANNOTATED,
            at=now,
            actor=values["author"],
            data={"annotation": values["id"], "path": values["path"], "note_sha256": digest},
        )
        return values

    return _annotation(store._run(work, write=True))


def list_annotations(
    store: SqlStore, *, snapshot_ids: Sequence[str], tenant: str | None
) -> list[Annotation]:
    """See :meth:`wfaudit_hookspecs.StoreHistory.list_annotations`."""
    c = notes.c
    queries = []
    for chunk in _chunks(snapshot_ids):
        query = select(notes).where(c.snapshot_id.in_(chunk))
        if tenant is not None:
            query = query.where(c.tenant == stored_tenant(tenant))
        queries.append(query)

    def work(connection: Connection) -> list[RowMapping]:
        return [row for query in queries for row in connection.execute(query).mappings().all()]

    found = [_annotation(row) for row in store._run(work, write=False)]
    return sorted(found, key=lambda a: (a.created_on, a.id))
