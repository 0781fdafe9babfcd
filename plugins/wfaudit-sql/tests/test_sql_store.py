"""The Store contract of SqlStore, on every backend of ``--wfaudit-backends``."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import attrs
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from wfaudit_hookspecs import (
    AmbiguousSnapshot,
    HistoryQuery,
    InvalidRequest,
    Manifest,
    MaskedField,
    RestoreRef,
    SecretReference,
    SnapshotConflict,
    SnapshotNotFound,
    Status,
    Store,
    TriggerKind,
    UnsupportedSchemaVersion,
)
from wfaudit_sql import SqlStore

UTC = dt.UTC


def at(minute: int) -> dt.datetime:
    """A fixed UTC time, ``minute`` minutes after a base time."""
    return dt.datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC) + dt.timedelta(minutes=minute)


def rich_manifest() -> Manifest:
    """A manifest using every field, to check that all of it survives the round trip."""
    return Manifest(
        fields=(
            MaskedField(path="/env/TOKEN", rule="maskers.keyword", fingerprint="ab" * 32),
            MaskedField(
                path="/url",
                rule="maskers.url-password",
                fingerprint="cd" * 32,
                span=(8, 20),
                restore=RestoreRef(kind="env", target="DB_PASSWORD"),
            ),
            MaskedField(path="/port", rule="maskers.field", fingerprint="ef" * 32, encoding="json"),
        ),
        references=(SecretReference(path="/steps/0", kind="github", name="NPM_TOKEN"),),
        adapter="ci.github-actions",
        maskers=("maskers.keyword", "maskers.field"),
    )


def count(sql: Engine, table: str, where: str = "") -> int:
    with sql.connect() as connection:
        query = text(f"SELECT count(*) FROM {table} {where}")  # noqa: S608 - test constants
        return int(connection.execute(query).scalar_one())


def event_rows(sql: Engine, subject: str) -> list[tuple[Any, ...]]:
    with sql.connect() as connection:
        rows = connection.execute(
            text("SELECT seq, kind, actor, tenant FROM events WHERE subject = :s ORDER BY seq"),
            {"s": subject},
        )
        return [tuple(row) for row in rows]


# -- round trip -----------------------------------------------------------------


def test_store_implements_the_protocol(store: SqlStore) -> None:
    assert isinstance(store, Store)
    assert store.head_revision() == store.current_revision()


def test_round_trip_keeps_every_field(store: SqlStore, make_snapshot: Any) -> None:
    record, blob = make_snapshot(
        tenant="acme",
        manifest=rich_manifest(),
        triggered_by="alice",
        trigger_kind=TriggerKind.RETRY,
        labels={"team": "core", "env": "prod"},
        parent="01PARENT",
        attempt=2,
        status_reason=None,
        created_on=at(0),
        created_by="ci-bot",
        updated_on=at(0),
    )
    result = store.save(record, blob)

    assert result.created is True
    assert result.ref == record.ref
    assert (
        store.get_record(workflow_id=record.workflow_id, workflow_type="CI", tenant="acme")
        == record
    )
    assert store.get_record(workflow_id=record.workflow_id, workflow_type="CI") == record
    assert store.get_record_by_id(record.id) == record
    assert store.get_record_by_id(record.id, tenant="acme") == record
    stored_blob = store.get_blob(record.content_hash)
    assert stored_blob == blob
    assert stored_blob is not None
    assert stored_blob.data == blob.data


def test_timestamps_come_back_as_utc(store: SqlStore, make_snapshot: Any) -> None:
    paris = dt.timezone(dt.timedelta(hours=2))
    created = dt.datetime(2024, 5, 1, 14, 30, 0, 5, tzinfo=paris)
    record, blob = make_snapshot(created_on=created, updated_on=created)
    store.save(record, blob)

    read = store.get_record_by_id(record.id)
    assert read is not None
    assert read.created_on == created
    assert read.created_on.tzinfo == UTC
    assert read.created_on.hour == 12
    assert read.updated_on.utcoffset() == dt.timedelta(0)


def test_missing_things_are_none(store: SqlStore) -> None:
    assert store.get_record(workflow_id="nope", workflow_type="CI") is None
    assert store.get_record(workflow_id="nope", workflow_type="CI", tenant="t") is None
    assert store.get_record_by_id("nope") is None
    assert store.get_blob("0" * 64) is None
    assert store.history(HistoryQuery()) == []


def test_record_without_tenant_is_the_empty_tenant(
    store: SqlStore, make_snapshot: Any, sql: Engine
) -> None:
    record, blob = make_snapshot(tenant=None)
    store.save(record, blob)

    assert count(sql, "snapshots", "WHERE tenant = ''") == 1
    read = store.get_record(workflow_id=record.workflow_id, workflow_type="CI", tenant="")
    assert read == record
    assert read is not None
    assert read.tenant is None
    assert store.get_record(workflow_id=record.workflow_id, workflow_type="CI", tenant="x") is None


def test_blob_hash_must_match_record(store: SqlStore, make_snapshot: Any) -> None:
    record, _ = make_snapshot(config={"a": 1})
    _, other_blob = make_snapshot(config={"a": 2})
    with pytest.raises(InvalidRequest, match="content hash"):
        store.save(record, other_blob)


# -- dedup, idempotence, conflicts --------------------------------------------------


def test_identical_configs_share_one_blob(store: SqlStore, make_snapshot: Any, sql: Engine) -> None:
    config = {"image": "app:1", "env": {"A": "1"}, "blob": "x" * 2000}
    hashes = set()
    for _ in range(1000):
        record, blob = make_snapshot(config=config)
        assert store.save(record, blob).created is True
        hashes.add(record.content_hash)

    assert len(hashes) == 1
    assert count(sql, "blobs") == 1
    assert count(sql, "snapshots") == 1000
    assert count(sql, "events") == 1000


def test_repeated_save_is_a_no_op(store: SqlStore, make_snapshot: Any, sql: Engine) -> None:
    record, blob = make_snapshot(labels={"a": "b"})
    first = store.save(record, blob)
    # The engine makes a new id for the repeated trigger; the stored one wins.
    again = attrs.evolve(record, id="01OTHERID", created_on=at(5), manifest=rich_manifest())
    second = store.save(again, blob)

    assert first.created is True
    assert second.created is False
    assert second.ref == first.ref
    assert count(sql, "snapshots") == 1
    assert event_rows(sql, record.id) == [(1, "snapshot.audited", None, "")]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"config": {"image": "registry/app:2"}}, "content_hash"),
        ({"pipeline_id": "pipeline-2"}, "pipeline_id"),
        ({"triggered_by": "mallory"}, "triggered_by"),
        ({"trigger_kind": TriggerKind.SCHEDULE}, "trigger_kind"),
        ({"parent": "01SOMEPARENT"}, "parent"),
        ({"attempt": 3}, "attempt"),
        ({"labels": {"a": "c"}}, "labels"),
    ],
)
def test_different_audit_of_a_stored_run_conflicts(
    store: SqlStore, make_snapshot: Any, sql: Engine, change: dict[str, Any], field: str
) -> None:
    base: dict[str, Any] = {"workflow_id": "build-42", "tenant": "acme", "labels": {"a": "b"}}
    record, blob = make_snapshot(**base)
    store.save(record, blob)
    before = store.get_record_by_id(record.id)

    other, other_blob = make_snapshot(**{**base, **change})
    with pytest.raises(SnapshotConflict) as raised:
        store.save(other, other_blob)

    message = str(raised.value)
    assert "'build-42' of type CI" in message
    assert field in message
    assert "registry/app" not in message
    # Nothing of the failed save is left: no blob, no snapshot, no event.
    assert count(sql, "blobs") == 1
    assert count(sql, "snapshots") == 1
    assert count(sql, "events") == 1
    assert store.get_record_by_id(record.id) == before


def test_snapshot_id_taken_by_another_run_conflicts(store: SqlStore, make_snapshot: Any) -> None:
    record, blob = make_snapshot(snapshot_id="01SAMEID")
    store.save(record, blob)
    other, other_blob = make_snapshot(snapshot_id="01SAMEID")
    with pytest.raises(SnapshotConflict, match="01SAMEID"):
        store.save(other, other_blob)


def test_concurrent_threads_save_exactly_once(
    store: SqlStore, make_snapshot: Any, sql: Engine
) -> None:
    """Threads sharing one store: distinct runs all land, repeats of one run land once."""
    shared_record, shared_blob = make_snapshot(workflow_id="shared-run")
    work = [make_snapshot(config={"n": n % 7}) for n in range(160)]
    errors: list[BaseException] = []
    created: list[bool] = []

    def worker(part: list[Any]) -> None:
        try:
            for record, blob in part:
                store.save(record, blob)
            created.append(store.save(shared_record, shared_blob).created)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(work[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(created) == [False] * 7 + [True]
    assert count(sql, "snapshots") == 161
    assert count(sql, "blobs") == 8
    assert count(sql, "events") == 161


# -- history --------------------------------------------------------------------


def test_history_filters_orders_and_limits(store: SqlStore, make_snapshot: Any) -> None:
    def save(minute: int, **fields: Any) -> str:
        record, blob = make_snapshot(created_on=at(minute), updated_on=at(minute), **fields)
        store.save(record, blob)
        return str(record.id)

    a1 = save(1, pipeline_id="p1")
    a2 = save(2, pipeline_id="p1", workflow_type="PRE_CD")
    b1 = save(3, pipeline_id="p2")
    a3 = save(4, pipeline_id="p1", workflow_id="special")
    t1 = save(5, pipeline_id="p1", tenant="other")
    # Two runs at the same instant: the larger id is the newer.
    tie_low = save(6, pipeline_id="p3", snapshot_id="01TIE0001")
    tie_high = save(6, pipeline_id="p3", snapshot_id="01TIE0002")
    store.set_status(
        workflow_id="special",
        workflow_type="CI",
        tenant=None,
        status=Status.FAILED,
        reason="tests failed",
        by="ci",
    )

    def ids(**query: Any) -> list[str]:
        return [record.id for record in store.history(HistoryQuery(**query))]

    assert ids() == [tie_high, tie_low, t1, a3, b1, a2, a1]
    assert ids(limit=2) == [tie_high, tie_low]
    assert ids(limit=0) == []
    assert ids(pipeline_id="p1") == [t1, a3, a2, a1]
    assert ids(pipeline_id="p1", tenant="") == [a3, a2, a1]
    assert ids(tenant="other") == [t1]
    assert ids(pipeline_id="p1", workflow_type="PRE_CD") == [a2]
    assert ids(workflow_id="special") == [a3]
    assert ids(status=Status.FAILED) == [a3]
    assert ids(status=Status.TRIGGERED, pipeline_id="p1", tenant="") == [a2, a1]
    assert ids(before=at(3)) == [a2, a1]
    assert ids(before=at(3).astimezone(dt.timezone(dt.timedelta(hours=-5)))) == [a2, a1]
    assert ids(pipeline_id="nope") == []


# -- outcomes and events ----------------------------------------------------------


def test_set_status_updates_the_run_and_appends_events(
    store: SqlStore, make_snapshot: Any, sql: Engine
) -> None:
    record, blob = make_snapshot(tenant="acme", created_on=at(0), updated_on=at(0))
    store.save(record, blob)

    running = store.set_status(
        workflow_id=record.workflow_id,
        workflow_type="CI",
        tenant="acme",
        status=Status.RUNNING,
        reason=None,
        by="orchestrator",
    )
    failed = store.set_status(
        workflow_id=record.workflow_id,
        workflow_type="CI",
        tenant=None,
        status=Status.FAILED,
        reason="exit code 2",
        by="runner-7",
    )

    assert running.status is Status.RUNNING
    assert failed.status is Status.FAILED
    assert failed.status_reason == "exit code 2"
    assert failed.updated_by == "runner-7"
    assert failed.updated_on > record.updated_on
    assert failed.updated_on.tzinfo == UTC
    assert (
        attrs.evolve(
            failed,
            status=record.status,
            status_reason=None,
            updated_on=record.updated_on,
            updated_by=None,
        )
        == record
    )
    assert store.get_record_by_id(record.id) == failed
    assert event_rows(sql, record.id) == [
        (1, "snapshot.audited", None, "acme"),
        (2, "outcome.recorded", "orchestrator", "acme"),
        (3, "outcome.recorded", "runner-7", "acme"),
    ]


def test_set_status_of_unknown_run(store: SqlStore, make_snapshot: Any) -> None:
    record, blob = make_snapshot(tenant="acme")
    store.save(record, blob)
    with pytest.raises(SnapshotNotFound, match="nope"):
        store.set_status(
            workflow_id="nope",
            workflow_type="CI",
            tenant=None,
            status=Status.FAILED,
            reason=None,
            by=None,
        )
    with pytest.raises(SnapshotNotFound):
        store.set_status(
            workflow_id=record.workflow_id,
            workflow_type="CI",
            tenant="other",
            status=Status.FAILED,
            reason=None,
            by=None,
        )


def test_concurrent_outcomes_get_distinct_seqs(
    store: SqlStore, make_snapshot: Any, sql: Engine
) -> None:
    record, blob = make_snapshot()
    store.save(record, blob)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(10):
                store.set_status(
                    workflow_id=record.workflow_id,
                    workflow_type="CI",
                    tenant=None,
                    status=Status.RUNNING,
                    reason=None,
                    by=None,
                )
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert [row[0] for row in event_rows(sql, record.id)] == list(range(1, 42))


# -- tenants ----------------------------------------------------------------------


def test_tenants_are_separate(store: SqlStore, make_snapshot: Any) -> None:
    rec_a, blob_a = make_snapshot(workflow_id="build-1", tenant="a", config={"v": "a"})
    rec_b, blob_b = make_snapshot(workflow_id="build-1", tenant="b", config={"v": "b"})
    assert store.save(rec_a, blob_a).created is True
    assert store.save(rec_b, blob_b).created is True

    assert store.get_record(workflow_id="build-1", workflow_type="CI", tenant="a") == rec_a
    assert store.get_record(workflow_id="build-1", workflow_type="CI", tenant="b") == rec_b
    assert store.get_record(workflow_id="build-1", workflow_type="CI", tenant="c") is None
    assert store.get_record_by_id(rec_a.id, tenant="b") is None
    assert [r.id for r in store.history(HistoryQuery(tenant="a"))] == [rec_a.id]

    updated = store.set_status(
        workflow_id="build-1",
        workflow_type="CI",
        tenant="b",
        status=Status.SUCCEEDED,
        reason=None,
        by=None,
    )
    assert updated.id == rec_b.id
    read_a = store.get_record_by_id(rec_a.id)
    assert read_a is not None
    assert read_a.status is Status.TRIGGERED


def test_same_run_in_several_tenants_is_ambiguous(store: SqlStore, make_snapshot: Any) -> None:
    for tenant in ("a", "b"):
        store.save(*make_snapshot(workflow_id="build-1", tenant=tenant))
    with pytest.raises(AmbiguousSnapshot, match="build-1"):
        store.get_record(workflow_id="build-1", workflow_type="CI")
    with pytest.raises(AmbiguousSnapshot):
        store.set_status(
            workflow_id="build-1",
            workflow_type="CI",
            tenant=None,
            status=Status.FAILED,
            reason=None,
            by=None,
        )
    # Other workflow types of the same id are other runs, not ambiguity.
    assert store.get_record(workflow_id="build-1", workflow_type="PRE_CD") is None


# -- schema versions of records -------------------------------------------------------


def test_record_of_a_future_schema_version_is_refused(
    store: SqlStore, make_snapshot: Any, sql: Engine
) -> None:
    record, blob = make_snapshot()
    store.save(record, blob)
    with sql.begin() as connection:
        connection.execute(
            text("UPDATE snapshots SET schema_version = 99 WHERE id = :id"), {"id": record.id}
        )

    with pytest.raises(UnsupportedSchemaVersion, match="99"):
        store.get_record_by_id(record.id)
    with pytest.raises(UnsupportedSchemaVersion):
        store.get_record(workflow_id=record.workflow_id, workflow_type="CI")
    with pytest.raises(UnsupportedSchemaVersion):
        store.history(HistoryQuery())
