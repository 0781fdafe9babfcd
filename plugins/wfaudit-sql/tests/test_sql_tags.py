"""SqlStore's StoreHistory side: tags, annotations, id prefixes and history filters,
on SQLite and PostgreSQL, with the audit-trail events each change records."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from sqlalchemy import delete, inspect, select
from sqlalchemy.engine import Engine

from wfaudit_hookspecs import (
    AmbiguousSnapshot,
    EventKind,
    HistoryQuery,
    InvalidRequest,
    SnapshotNotFound,
    StoreHistory,
    TagConflict,
    UnknownReference,
)
from wfaudit_sql import SqlStore
from wfaudit_sql.schema import snapshots, tags

BASE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def saved(store: SqlStore, make_snapshot: Any, **fields: Any) -> Any:
    record, blob = make_snapshot(**fields)
    store.save(record, blob)
    return record


def test_the_store_implements_store_history(store: SqlStore) -> None:
    assert isinstance(store, StoreHistory)


def test_tag_is_unique_per_pipeline_and_moves_only_when_asked(
    store: SqlStore, make_snapshot: Any
) -> None:
    first = saved(store, make_snapshot, pipeline_id="p1")
    second = saved(store, make_snapshot, pipeline_id="p1")
    other = saved(store, make_snapshot, pipeline_id="p2")

    tag = store.add_tag(snapshot_id=first.id, name="baseline", tenant=None, by="ana")
    assert (tag.name, tag.snapshot_id, tag.pipeline_id, tag.created_by) == (
        "baseline",
        first.id,
        "p1",
        "ana",
    )
    # The same name in another pipeline is another tag.
    store.add_tag(snapshot_id=other.id, name="baseline", tenant=None)
    # Tagging the snapshot that has it again is a no-op (no new event).
    events_before = len(store.list_events(subject=first.id))
    assert store.add_tag(snapshot_id=first.id, name="baseline", tenant=None).snapshot_id == first.id
    assert len(store.list_events(subject=first.id)) == events_before

    with pytest.raises(TagConflict, match=f"is on snapshot {first.id}"):
        store.add_tag(snapshot_id=second.id, name="baseline", tenant=None)
    moved = store.add_tag(snapshot_id=second.id, name="baseline", tenant=None, by="bob", move=True)
    assert moved.snapshot_id == second.id

    assert [(t.pipeline_id, t.snapshot_id) for t in store.list_tags(name="baseline")] == [
        ("p1", second.id),
        ("p2", other.id),
    ]
    assert [t.name for t in store.list_tags(snapshot_ids=[second.id, first.id])] == ["baseline"]
    assert store.list_tags(pipeline_id="p2", name="nope") == []

    tagged = [e for e in store.list_events(subject=second.id) if e.kind == EventKind.TAGGED]
    assert tagged[-1].data == {"tag": "baseline", "pipeline_id": "p1", "moved_from": first.id}
    assert tagged[-1].actor == "bob"
    untagged = [e for e in store.list_events(subject=first.id) if e.kind == EventKind.UNTAGGED]
    assert untagged[-1].data == {"tag": "baseline", "moved_to": second.id}
    assert store.check_trail().findings == ()


def test_remove_tag(store: SqlStore, make_snapshot: Any) -> None:
    record = saved(store, make_snapshot, pipeline_id="p1")
    store.add_tag(snapshot_id=record.id, name="production", tenant=None)
    removed = store.remove_tag(name="production", pipeline_id="p1", tenant=None, by="ana")
    assert removed.snapshot_id == record.id
    assert store.list_tags() == []
    assert store.list_events(subject=record.id)[-1].kind == EventKind.UNTAGGED
    with pytest.raises(UnknownReference, match="has no tag 'production'"):
        store.remove_tag(name="production", pipeline_id="p1", tenant=None)


def test_tags_are_scoped_by_tenant(store: SqlStore, make_snapshot: Any) -> None:
    a = saved(store, make_snapshot, pipeline_id="p", tenant="acme")
    b = saved(store, make_snapshot, pipeline_id="p", tenant="globex")
    store.add_tag(snapshot_id=a.id, name="baseline", tenant="acme")
    store.add_tag(snapshot_id=b.id, name="baseline", tenant="globex")
    with pytest.raises(SnapshotNotFound):
        store.add_tag(snapshot_id=a.id, name="other", tenant="globex")
    assert [t.snapshot_id for t in store.list_tags(tenant="acme")] == [a.id]
    with pytest.raises(AmbiguousSnapshot, match="several tenants"):
        store.remove_tag(name="baseline", pipeline_id="p", tenant=None)
    assert store.remove_tag(name="baseline", pipeline_id="p", tenant="globex").tenant == "globex"


@pytest.mark.parametrize("name", ["", "HEAD", "head", "a~1", "x:CI", "a/b", "-x", "n" * 64, 7])
def test_bad_tag_names_are_refused(store: SqlStore, make_snapshot: Any, name: Any) -> None:
    record = saved(store, make_snapshot)
    with pytest.raises(InvalidRequest):
        store.add_tag(snapshot_id=record.id, name=name, tenant=None)
    assert store.list_tags() == []


def test_tag_of_an_unknown_snapshot(store: SqlStore) -> None:
    with pytest.raises(SnapshotNotFound):
        store.add_tag(snapshot_id="01NOPE", name="baseline", tenant=None)


def test_annotations(store: SqlStore, make_snapshot: Any) -> None:
    record = saved(store, make_snapshot, tenant="acme")
    other = saved(store, make_snapshot, tenant="acme")
    first = store.add_annotation(
        snapshot_id=record.id, note="  flaky since the cache bump ", author="ana", tenant="acme"
    )
    second = store.add_annotation(
        snapshot_id=record.id, note="image pinned", author="bob", tenant="acme", path="/image"
    )
    store.add_annotation(snapshot_id=other.id, note="other", author="ana", tenant="acme")
    assert (first.note, first.path, first.tenant) == ("flaky since the cache bump", None, "acme")
    assert second.id > first.id
    notes = store.list_annotations(snapshot_ids=[record.id])
    assert [(n.id, n.author, n.path) for n in notes] == [
        (first.id, "ana", None),
        (second.id, "bob", "/image"),
    ]
    assert len(store.list_annotations(snapshot_ids=[record.id, other.id], tenant="acme")) == 3
    assert store.list_annotations(snapshot_ids=[record.id], tenant="globex") == []

    event = store.list_events(subject=record.id)[-1]
    assert event.kind == EventKind.ANNOTATED and event.actor == "bob"
    digest = hashlib.sha256(b"image pinned").hexdigest()
    assert event.data == {"annotation": second.id, "path": "/image", "note_sha256": digest}
    assert store.check_trail().findings == ()

    for bad in (
        {"note": " ", "author": "ana"},
        {"note": "x" * 4001, "author": "ana"},
        {"note": "x", "author": ""},
        {"note": "x", "author": "ana", "path": "image"},
    ):
        with pytest.raises(InvalidRequest):
            store.add_annotation(snapshot_id=record.id, tenant=None, **bad)
    with pytest.raises(SnapshotNotFound):
        store.add_annotation(snapshot_id=record.id, note="x", author="a", tenant="globex")


def test_tags_and_annotations_go_with_their_snapshot(store: SqlStore, make_snapshot: Any) -> None:
    record = saved(store, make_snapshot)
    store.add_tag(snapshot_id=record.id, name="baseline", tenant=None)
    store.add_annotation(snapshot_id=record.id, note="n", author="a", tenant=None)
    # As retention deletes a snapshot row (on the store's connections: foreign
    # keys are on there, as SQLite needs to be told).
    with store._engine.begin() as connection:
        connection.execute(delete(snapshots).where(snapshots.c.id == record.id))
        assert connection.execute(select(tags)).all() == []
    assert store.list_annotations(snapshot_ids=[record.id]) == []


def test_find_by_id_prefix(store: SqlStore, make_snapshot: Any) -> None:
    a = saved(store, make_snapshot, snapshot_id="01ABCDEF0000000000000000AA")
    b = saved(store, make_snapshot, snapshot_id="01ABCDEF0000000000000000AB")
    saved(store, make_snapshot, snapshot_id="01ABCDEG0000000000000000AA", tenant="acme")
    assert [r.id for r in store.find_by_id_prefix("01ABCDEF", limit=5)] == [a.id, b.id]
    assert [r.id for r in store.find_by_id_prefix("01ABCDEF00000000000000000AB")] == []
    assert [r.id for r in store.find_by_id_prefix("01ABCDEF0000000000000000AB")] == [b.id]
    assert [r.id for r in store.find_by_id_prefix("01ABCDE", tenant="acme")] == [
        "01ABCDEG0000000000000000AA"
    ]
    assert store.find_by_id_prefix("01abcdef") == []  # ids are case-sensitive
    with pytest.raises(InvalidRequest):
        store.find_by_id_prefix("")


def test_history_filters_labels_time_and_cursor(store: SqlStore, make_snapshot: Any) -> None:
    made = []
    for i in range(12):
        made.append(
            saved(
                store,
                make_snapshot,
                pipeline_id="p",
                labels={"env": "prod" if i % 3 == 0 else "dev", "team": "a" if i < 6 else "b"},
                created_on=BASE + dt.timedelta(minutes=i // 2),  # pairs share a time
                config={"i": i},
            )
        )
    newest_first = sorted(made, key=lambda r: (r.created_on, r.id), reverse=True)

    def ids(**filters: Any) -> list[str]:
        return [r.id for r in store.history(HistoryQuery(pipeline_id="p", **filters))]

    assert ids(labels={"env": "prod"}) == [r.id for r in newest_first if r.labels["env"] == "prod"]
    assert ids(labels={"env": "prod", "team": "b"}) == [
        r.id for r in newest_first if r.labels == {"env": "prod", "team": "b"}
    ]
    assert ids(labels={"env": "qa"}) == []
    since, until = BASE + dt.timedelta(minutes=2), BASE + dt.timedelta(minutes=4)
    assert ids(since=since, before=until) == [
        r.id for r in newest_first if since <= r.created_on < until
    ]
    # Keyset paging through records that share a timestamp: every record once, in order.
    pages: list[str] = []
    cursor: Any = None
    while True:
        extra = {} if cursor is None else {"before": cursor.created_on, "before_id": cursor.id}
        page = store.history(HistoryQuery(pipeline_id="p", limit=5, **extra))
        pages += [r.id for r in page]
        if len(page) < 5:
            break
        cursor = page[-1]
    assert pages == [r.id for r in newest_first]
    assert ids(offset=3, limit=2) == [r.id for r in newest_first[3:5]]


def _alembic(sql: Engine, action: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    from wfaudit_sql.migrate import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with sql.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def test_migration_0004_up_and_down(store_url: str, sql: Engine, make_snapshot: Any) -> None:
    _alembic(sql, "upgrade", "0003_blob_base")
    assert not {"tags", "annotations"} & set(inspect(sql).get_table_names())
    _alembic(sql, "upgrade", "0004_tags_annotations")
    assert {"tags", "annotations"} <= set(inspect(sql).get_table_names())
    foreign = {fk["referred_table"] for fk in inspect(sql).get_foreign_keys("tags")}
    assert foreign == {"snapshots"}
    _alembic(sql, "downgrade", "0003_blob_base")
    assert not {"tags", "annotations"} & set(inspect(sql).get_table_names())
    # A store opened on the 0003 database upgrades it to head, tags included.
    with SqlStore(store_url) as store:
        record = saved(store, make_snapshot)
        assert store.add_tag(snapshot_id=record.id, name="v1", tenant=None).name == "v1"


def test_get_blobs_reads_many_at_once(store: SqlStore, make_snapshot: Any) -> None:
    made = [make_snapshot(config={"n": n}) for n in range(3)]
    for record, blob in made:
        store.save(record, blob)
    wanted = [made[2][1].content_hash, made[0][1].content_hash, "0" * 64]
    found = {b.content_hash: b for b in store.get_blobs(wanted)}
    assert found == {made[2][1].content_hash: made[2][1], made[0][1].content_hash: made[0][1]}
    assert store.get_blobs([]) == []
