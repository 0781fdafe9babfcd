"""The hash-chained audit trail of SqlStore, and its maintenance methods."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from wfaudit_hookspecs import (
    EventKind,
    InvalidRequest,
    Status,
    StoreError,
    StoreMaintenance,
    StoreUnavailable,
    canonical_json,
    content_hash,
)
from wfaudit_sql import SqlStore
from wfaudit_sql.chain import GENESIS, event_form, event_hash, record_digest
from wfaudit_sql.migrate import HEAD_REVISION, MIGRATIONS_DIR
from wfaudit_sql.schema import chain_heads, events


def at(minute: int) -> dt.datetime:
    return dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=minute)


def chain(sql: Engine, tenant: str = "") -> list[Any]:
    with sql.connect() as connection:
        return list(
            # The table's columns, so the digests read back as hex (revision 0010).
            connection.execute(
                select(events).where(events.c.tenant == tenant).order_by(events.c.chain_seq)
            )
        )


def outcome(store: SqlStore, workflow_id: str, status: Status, **kwargs: Any) -> Any:
    return store.set_status(
        workflow_id=workflow_id,
        workflow_type=kwargs.pop("workflow_type", "CI"),
        tenant=kwargs.pop("tenant", None),
        status=status,
        reason=kwargs.pop("reason", None),
        by=kwargs.pop("by", None),
    )


def test_every_recorded_write_extends_the_chain(
    store: SqlStore, make_snapshot: Any, sql: Engine
) -> None:
    saved = [make_snapshot() for _ in range(3)]
    for record, blob in saved:
        store.save(record, blob)
    outcome(store, saved[0][0].workflow_id, Status.FAILED, reason="exit 1", by="runner")
    store.save(*saved[1])  # a repeated audit records nothing

    rows = chain(sql)
    assert [row.chain_seq for row in rows] == [1, 2, 3, 4]
    assert [row.kind for row in rows] == [EventKind.AUDITED] * 3 + [EventKind.OUTCOME]
    previous = GENESIS
    for row in rows:
        form = event_form(
            tenant=row.tenant,
            subject=row.subject,
            seq=row.seq,
            kind=row.kind,
            at=row.at if isinstance(row.at, dt.datetime) else dt.datetime.fromisoformat(row.at),
            actor=row.actor,
            data=row.data,
        )
        assert row.prev_hash == previous
        assert row.hash == event_hash(previous, form)
        previous = row.hash
    with sql.connect() as connection:
        head = connection.execute(select(chain_heads.c.seq, chain_heads.c.hash)).one()
    assert (head.seq, head.hash) == (4, previous)

    check = store.check_trail()
    assert check.findings == () and check.findings_total == 0
    assert (check.chains, check.events, check.snapshots) == (1, 4, 3)
    assert [(h.tenant, h.seq, h.hash) for h in check.heads] == [(None, 4, previous)]


def test_audited_event_seals_the_row(store: SqlStore, make_snapshot: Any) -> None:
    record, blob = make_snapshot(labels={"app": "x"}, created_on=at(0), updated_on=at(0))
    store.save(record, blob)
    (event,) = store.list_events(subject=record.id)
    assert event.kind == EventKind.AUDITED and event.seq == 1 and event.chain_seq == 1
    from wfaudit_sql.records import snapshot_row

    assert event.data["record_digest"] == record_digest(snapshot_row(record))
    assert event.data["state"] == {
        "status": "triggered",
        "status_reason": None,
        "updated_on": "2026-05-01T12:00:00.000000+00:00",
        "updated_by": None,
    }


def test_chains_are_per_tenant(store: SqlStore, make_snapshot: Any, sql: Engine) -> None:
    for tenant in ("a", "b", "a", None):
        store.save(*make_snapshot(tenant=tenant))
    assert [row.chain_seq for row in chain(sql, "a")] == [1, 2]
    assert [row.chain_seq for row in chain(sql, "b")] == [1]
    assert [row.chain_seq for row in chain(sql, "")] == [1]
    check = store.check_trail()
    assert check.findings == ()
    assert [(h.tenant, h.seq) for h in check.heads] == [(None, 1), ("a", 2), ("b", 1)]
    scoped = store.check_trail(tenant="a")
    assert (scoped.chains, scoped.events, scoped.snapshots) == (1, 2, 2)


def test_append_event(store: SqlStore, make_snapshot: Any) -> None:
    record, blob = make_snapshot(tenant="acme")
    store.save(record, blob)
    tagged = store.append_event(
        subject=record.id, kind=EventKind.TAGGED, tenant="acme", actor="ana", data={"tag": "v1"}
    )
    assert (tagged.seq, tagged.chain_seq, tagged.tenant) == (2, 2, "acme")
    assert tagged.data == {"tag": "v1"} and tagged.actor == "ana"
    hold = store.append_event(subject="pipeline:7", kind=EventKind.HOLD_SET, tenant="acme")
    assert (hold.seq, hold.chain_seq) == (1, 3)
    assert [e.kind for e in store.list_events(subject=record.id)] == [
        EventKind.AUDITED,
        EventKind.TAGGED,
    ]
    assert [e.kind for e in store.list_events(tenant="acme", limit=2)] == [
        EventKind.HOLD_SET,
        EventKind.TAGGED,
    ]
    assert store.list_events(tenant="other") == []
    assert store.check_trail().findings == ()

    for kind in (EventKind.AUDITED, EventKind.OUTCOME):
        with pytest.raises(InvalidRequest, match="recorded by the store itself"):
            store.append_event(subject=record.id, kind=kind, tenant="acme")
    with pytest.raises(InvalidRequest, match="kind"):
        store.append_event(subject=record.id, kind="", tenant="acme")
    with pytest.raises(InvalidRequest, match="subject"):
        store.append_event(subject="x" * 65, kind="snapshot.tagged", tenant="acme")
    with pytest.raises(InvalidRequest):
        store.append_event(
            subject=record.id, kind="snapshot.tagged", tenant="acme", data={"x": float("nan")}
        )


def test_deleted_snapshot_with_its_event_is_not_reported(
    store: SqlStore, make_snapshot: Any, sql: Engine
) -> None:
    record, blob = make_snapshot()
    store.save(record, blob)
    store.append_event(subject=record.id, kind=EventKind.DELETED, tenant=None, data={"why": "ttl"})
    with sql.begin() as connection:
        connection.execute(text("DELETE FROM snapshots WHERE id = :id"), {"id": record.id})
    assert store.check_trail().findings == ()
    store.append_event(subject=record.id, kind=EventKind.RESTORED, tenant=None)
    (finding,) = store.check_trail().findings
    assert (finding.problem, finding.table, finding.key) == ("deleted", "snapshots", record.id)


def test_concurrent_appends_keep_one_chain(
    store: SqlStore, make_snapshot: Any, sql: Engine
) -> None:
    """Threads saving, recording outcomes and appending events at once."""
    errors: list[BaseException] = []
    pairs = [make_snapshot(config={"n": n % 5}) for n in range(60)]

    def worker(chunk: list[Any]) -> None:
        try:
            for record, blob in chunk:
                store.save(record, blob)
                outcome(store, record.workflow_id, Status.RUNNING)
                store.append_event(subject=record.id, kind=EventKind.TAGGED, tenant=None)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(pairs[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [row.chain_seq for row in chain(sql)] == list(range(1, 181))
    check = store.check_trail()
    assert check.findings == ()
    assert check.events == 180


# -- the latest failure, statistics ------------------------------------------------------


def test_find_latest_failed(store: SqlStore, make_snapshot: Any) -> None:
    def run(minute: int, status: Status, **fields: Any) -> str:
        record, blob = make_snapshot(created_on=at(minute), updated_on=at(minute), **fields)
        store.save(record, blob)
        if status is not Status.TRIGGERED:
            outcome(
                store,
                record.workflow_id,
                status,
                tenant=record.tenant,
                workflow_type=record.workflow_type,
            )
        return record.id

    old_failure = run(0, Status.FAILED, pipeline_id="7")
    errored = run(1, Status.ERROR, pipeline_id="7", workflow_type="PRE_CD")
    run(2, Status.SUCCEEDED, pipeline_id="7")
    run(3, Status.FAILED, pipeline_id="8")
    other_tenant = run(4, Status.FAILED, pipeline_id="7", tenant="globex")
    run(5, Status.TRIGGERED, pipeline_id="7")

    def latest(**query: Any) -> str | None:
        found = store.find_latest_failed(**query)
        return None if found is None else found.id

    assert latest(pipeline_id="7") == other_tenant
    assert latest(pipeline_id="7", tenant="") in (None, errored)  # '' is "no tenant" stored
    assert latest(pipeline_id="7", workflow_type="CI", tenant="globex") == other_tenant
    assert latest(pipeline_id="7", workflow_type="CI") == other_tenant
    assert latest(pipeline_id="9") is None
    found = store.find_latest_failed(pipeline_id="7", tenant="globex")
    assert found is not None and found.status is Status.FAILED
    with pytest.raises(InvalidRequest):
        store.find_latest_failed()
    record = store.get_record_by_id(old_failure)
    assert record is not None
    assert latest(workflow_id=record.workflow_id) == old_failure


def test_latest_failed_uses_the_partial_index(store: SqlStore, make_snapshot: Any) -> None:
    store.save(*make_snapshot(pipeline_id="7"))
    compiled = None
    with store._engine.connect() as connection:
        if store.backend == "sqlite":
            plan = connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT * FROM snapshots WHERE status IN ('failed', 'error') "
                "AND pipeline_id = '7' ORDER BY created_on DESC, id DESC LIMIT 1"
            ).all()
            compiled = " ".join(str(row[-1]) for row in plan)
        else:
            connection.exec_driver_sql("SET enable_seqscan = off")
            plan = connection.exec_driver_sql(
                "EXPLAIN SELECT * FROM snapshots WHERE status IN ('failed', 'error') "
                "AND pipeline_id = '7' ORDER BY created_on DESC, id DESC LIMIT 1"
            ).all()
            compiled = " ".join(str(row[0]) for row in plan)
    assert "ix_snapshots_failed" in compiled


def test_stats(store: SqlStore, make_snapshot: Any) -> None:
    assert isinstance(store, StoreMaintenance)
    empty = store.stats()
    assert (empty.snapshots, empty.blobs, empty.events, empty.raw_bytes) == (0, 0, 0, 0)
    assert empty.compression_ratio == empty.dedup_ratio == 0.0
    shared = {"image": "app", "steps": ["build"] * 50}
    pairs = [make_snapshot(config=shared) for _ in range(4)]
    pairs.append(make_snapshot(config={"other": 1}, tenant="globex"))
    for record, blob in pairs:
        store.save(record, blob)
    outcome(store, pairs[0][0].workflow_id, Status.FAILED)
    stats = store.stats()
    size = len(canonical_json(shared))
    assert (stats.snapshots, stats.blobs, stats.events, stats.tenants) == (5, 2, 6, 2)
    assert stats.by_status == {"failed": 1, "triggered": 4}
    assert stats.raw_bytes == 4 * size + pairs[-1][0].config_size
    assert stats.unique_raw_bytes == size + pairs[-1][0].config_size
    assert stats.stored_bytes == pairs[0][1].stored_size + pairs[-1][1].stored_size
    assert stats.dedup_ratio == pytest.approx(stats.raw_bytes / stats.unique_raw_bytes)
    scoped = store.stats(tenant="globex")
    assert (scoped.snapshots, scoped.blobs, scoped.events, scoped.tenants) == (1, 1, 1, 1)


def test_iter_blobs(store: SqlStore, make_snapshot: Any) -> None:
    pairs = [make_snapshot(config={"n": n}, tenant="a" if n % 2 else None) for n in range(250)]
    for record, blob in pairs:
        store.save(record, blob)
    everything = list(store.iter_blobs())
    assert sorted(b.content_hash for b in everything) == sorted(b.content_hash for _, b in pairs)
    assert {b.data for b in everything} == {b.data for _, b in pairs}
    assert len(list(store.iter_blobs(tenant="a"))) == 125


# -- ping, backup ------------------------------------------------------------------------


def test_ping(store: SqlStore) -> None:
    store.ping()
    store.ping(write=True)


@pytest.mark.wfaudit_backends("sqlite")
def test_write_ping_fails_while_sqlite_is_locked(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    with SqlStore(f"sqlite:///{path}?busy_timeout=20&retry_deadline=0.2") as store:
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            store.ping()  # readers are not blocked in WAL mode
            with pytest.raises(StoreUnavailable, match="busy"):
                store.ping(write=True)
        finally:
            holder.execute("COMMIT")
            holder.close()


@pytest.mark.wfaudit_backends("sqlite")
def test_sqlite_online_backup(store: SqlStore, make_snapshot: Any, tmp_path: Path) -> None:
    for _ in range(5):
        store.save(*make_snapshot())
    # A writer keeps going during the backup: the copy is one consistent snapshot.
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            store.save(*make_snapshot())

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        result = store.backup(str(tmp_path / "copy" / "backup.sqlite3"))
    finally:
        stop.set()
        thread.join()
    assert result.integrity == "ok" and result.snapshots >= 5
    assert Path(result.path).stat().st_size == result.bytes
    with SqlStore(f"sqlite:///{result.path}") as copy:
        assert copy.check_trail().findings == ()
        assert copy.stats().snapshots == result.snapshots
    with pytest.raises(StoreError, match="does not overwrite"):
        store.backup(result.path)
    assert not list((tmp_path / "copy").glob(".*partial"))


@pytest.mark.wfaudit_backends("postgresql")
def test_postgresql_backup_points_to_pg_dump(store: SqlStore, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="pg_dump --format=custom"):
        store.backup(str(tmp_path / "x"))


@pytest.mark.wfaudit_backends("postgresql")
def test_a_stuck_transaction_holding_the_chain_head_times_out(
    store_url: str, make_snapshot: Any, sql: Engine
) -> None:
    """A session holding the head lock does not block writers past the deadline."""
    url = store_url + "&retry_deadline=0.5"
    with SqlStore(url) as store:
        store.save(*make_snapshot())
        with sql.connect() as blocker:
            blocker.execute(text("SELECT * FROM chain_heads FOR UPDATE")).all()
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match="busy"):
                store.save(*make_snapshot())
            assert time.monotonic() - started < 3
            blocker.rollback()
        assert store.save(*make_snapshot()).created


# -- migrating a store of revision 0001 ---------------------------------------------------


def test_upgrade_from_0001_chains_the_existing_events(store_url: str, sql: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with sql.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001_initial")
        raw = canonical_json({"old": True})
        digest = content_hash(raw)
        packed = zlib.compress(raw)
        connection.execute(
            text(
                "INSERT INTO blobs VALUES (:h, 'zlib', :n, :s, :d, :t)",
            ),
            {"h": digest, "n": len(raw), "s": len(packed), "d": packed, "t": at(0)},
        )
        for n, tenant in enumerate(["", "", "acme"]):
            connection.execute(
                text(
                    "INSERT INTO snapshots (id, tenant, workflow_id, workflow_type, pipeline_id, "
                    "trigger_kind, labels, attempt, schema_version, content_hash, manifest, "
                    "status, config_size, created_on, updated_on) VALUES (:id, :tenant, :w, 'CI', "
                    "'7', 'manual', '{}', 1, 1, :h, '{}', 'triggered', :n, :t, :t)"
                ),
                {
                    "id": f"OLD{n}",
                    "tenant": tenant,
                    "w": str(n),
                    "h": digest,
                    "n": len(raw),
                    "t": at(n),
                },
            )
            connection.execute(
                text(
                    "INSERT INTO events (tenant, subject, seq, kind, at, actor, data) VALUES "
                    "(:tenant, :id, 1, 'snapshot.audited', :t, NULL, :data)"
                ),
                {
                    "tenant": tenant,
                    "id": f"OLD{n}",
                    "t": at(n),
                    "data": (
                        '{"attempt":1,"content_hash":"' + digest + '","parent":null,'
                        '"pipeline_id":"7","trigger_kind":"manual","workflow_id":"' + str(n) + '",'
                        '"workflow_type":"CI"}'
                    ),
                },
            )
        connection.execute(
            text(
                "INSERT INTO events (tenant, subject, seq, kind, at, actor, data) VALUES "
                "('', 'OLD0', 2, 'outcome.recorded', :t, 'runner', :data)"
            ),
            {"t": at(9), "data": '{"reason":null,"status":"failed"}'},
        )
        connection.execute(
            text(
                "UPDATE snapshots SET status = 'failed', updated_on = :t, updated_by = 'runner' "
                "WHERE id = 'OLD0'"
            ),
            {"t": at(9)},
        )

    with SqlStore(store_url) as store:
        assert store.current_revision() == HEAD_REVISION
        check = store.check_trail()
        assert check.findings == (), check.findings
        assert [(h.tenant, h.seq) for h in check.heads] == [(None, 3), ("acme", 1)]
        assert [row.chain_seq for row in chain(sql)] == [1, 2, 3]
        # New events continue the migrated chain.
        outcome(store, "1", Status.SUCCEEDED, tenant="")
        assert store.check_trail().findings == ()
        # Rows of that time are still checked on the fields their events carry.
        with sql.begin() as connection:
            connection.execute(text("UPDATE snapshots SET pipeline_id = '8' WHERE id = 'OLD2'"))
        (finding,) = store.check_trail().findings
        assert (finding.problem, finding.key) == ("modified", "OLD2")
        assert "pipeline_id" in finding.detail


def test_verification_survives_values_of_the_wrong_type(
    store: SqlStore, make_snapshot: Any, sql: Engine
) -> None:
    if store.backend != "sqlite":
        pytest.skip("PostgreSQL enforces column types")
    store.save(*make_snapshot())
    store.save(*make_snapshot())
    with sql.begin() as connection:
        connection.execute(
            text("UPDATE events SET data = CAST(x'ff00fe' AS TEXT) WHERE chain_seq = 1")
        )
        connection.execute(text("UPDATE events SET seq = 'one' WHERE chain_seq = 2"))
    problems = {(f.problem, f.key) for f in store.check_trail().findings}
    assert ("modified", "-#1") in problems and ("modified", "-#2") in problems
