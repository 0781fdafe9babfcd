"""Content-addressed manifests (revision 0005): dedup, integrity, and the migration
that carries existing snapshots' manifests over (and back)."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from wfaudit import restore_snapshot
from wfaudit_hookspecs import (
    Manifest,
    MaskedField,
    RestoreRef,
    SecretReference,
    StoreError,
    canonical_json,
    content_hash,
)
from wfaudit_hookspecs.converter import get_converter
from wfaudit_sql import SqlStore
from wfaudit_sql.manifests import decode, manifest_hash, orphans
from wfaudit_sql.migrate import HEAD_REVISION, MIGRATIONS_DIR
from wfaudit_sql.records import dump_json
from wfaudit_sql.schema import digest_bytes, digest_text


def manifest(seed: str = "a", *, path: str = "/dockerPassword") -> Manifest:
    return Manifest(
        fields=(
            MaskedField(path=path, rule="known-field", fingerprint=content_hash(seed.encode())),
            MaskedField(
                path="/env/TOKEN",
                rule="keyword",
                fingerprint="f" * 64,
                span=(3, 9),
                restore=RestoreRef(kind="env", target="TOKEN"),
            ),
        ),
        references=(SecretReference(path="/env/NPM", kind="github-secret", name="NPM_TOKEN"),),
        adapter="devtron",
        maskers=("maskers",),
    )


def text_of(value: Manifest) -> str:
    return dump_json(get_converter().unstructure(value))


def scalar(sql: Engine, statement: str, **params: Any) -> Any:
    with sql.connect() as connection:
        return connection.execute(text(statement), params).scalar()


def alembic(connection: Connection, action: str, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    getattr(command, action)(config, revision)


def test_identical_manifests_are_stored_once(
    store: SqlStore, store_url: str, make_snapshot: Any, sql: Engine
) -> None:
    saved = []
    for n in range(6):
        record, blob = make_snapshot(config={"run": n}, manifest=manifest("a"))
        store.save(record, blob)
        saved.append(record)
    # Another pipeline and another tenant with the same manifest share the row too.
    shared, blob = make_snapshot(pipeline_id="other", tenant="acme", manifest=manifest("a"))
    store.save(shared, blob)
    rotated, blob = make_snapshot(config={"run": 99}, manifest=manifest("rotated"))
    store.save(rotated, blob)

    # The rotated fingerprint is a patch in its row against the pipeline's base
    # (revision 0010): still one manifest row.
    assert scalar(sql, "SELECT count(*) FROM manifests") == 1
    key = manifest_hash(text_of(manifest("a")))
    assert (
        scalar(sql, "SELECT count(*) FROM snapshots WHERE manifest_hash = :k", k=digest_bytes(key))
        == 8
    )
    assert scalar(sql, "SELECT count(*) FROM snapshots WHERE manifest_patch IS NOT NULL") == 1
    patch = scalar(sql, "SELECT manifest_patch FROM snapshots WHERE id = :i", i=rotated.id)
    assert len(bytes(patch)) < 100
    with sql.connect() as connection:
        codec, data, size = connection.execute(
            text("SELECT codec, data, raw_size FROM manifests WHERE manifest_hash = :k"),
            {"k": digest_bytes(key)},
        ).one()
    # Stored compressed, smaller than the text, and decoding to exactly that text.
    assert codec == "zstd" and len(data) < size == len(text_of(manifest("a")))
    assert decode(codec, data) == text_of(manifest("a"))

    # Reads give every record its own manifest back, whichever query reads it.
    assert store.get_record_by_id(saved[0].id) == saved[0]
    assert store.get_record_by_id(rotated.id).manifest == manifest("rotated")
    assert store.get_record(workflow_id=shared.workflow_id, workflow_type="CI") == shared
    # A fresh store (nothing cached) reads the same.
    with SqlStore(store_url) as again:
        assert again.get_record_by_id(saved[3].id) == saved[3]
        assert again.check_trail().findings == ()


def test_a_patched_manifest_is_sealed_and_read_back(
    store: SqlStore, store_url: str, make_snapshot: Any, sql: Engine
) -> None:
    base, blob = make_snapshot(config={"n": 1}, manifest=manifest("a"))
    store.save(base, blob)
    runs = []
    for n in range(2, 6):
        record, blob = make_snapshot(config={"n": n}, manifest=manifest(f"rotated-{n}"))
        store.save(record, blob)
        runs.append(record)
    assert scalar(sql, "SELECT count(*) FROM manifests") == 1
    # A fresh process (nothing cached) reads every run's own manifest, and finds
    # the pipeline's base for its next audit in the store.
    with SqlStore(store_url) as fresh:
        for record in runs:
            assert fresh.get_record_by_id(record.id) == record
        later, blob = make_snapshot(config={"n": 9}, manifest=manifest("rotated-9"))
        fresh.save(later, blob)
        assert fresh.check_trail().findings == ()
    assert scalar(sql, "SELECT count(*) FROM manifests") == 1
    # A patch changed behind the store's back: the row's seal no longer holds.
    with sql.begin() as connection:
        connection.execute(
            text("UPDATE snapshots SET manifest_patch = :p WHERE id = :id"),
            {
                "p": bytes(
                    scalar(sql, "SELECT manifest_patch FROM snapshots WHERE id = :i", i=runs[1].id)
                ),
                "id": runs[0].id,
            },
        )
    found = {(f.problem, f.table, f.key) for f in store.check_trail().findings}
    assert ("modified", "snapshots", runs[0].id) in found


def test_a_small_manifest_is_stored_as_json(
    store: SqlStore, make_snapshot: Any, sql: Engine
) -> None:
    record, blob = make_snapshot()  # the empty manifest: '{"adapter":null,...}'
    store.save(record, blob)
    with sql.connect() as connection:
        codec, data = connection.execute(text("SELECT codec, data FROM manifests")).one()
    assert codec == "json"
    assert bytes(data).decode() == text_of(Manifest())
    assert store.get_record_by_id(record.id) == record


def test_verify_finds_a_changed_swapped_or_missing_manifest(
    store: SqlStore, store_url: str, make_snapshot: Any, sql: Engine
) -> None:
    first, blob = make_snapshot(config={"n": 1}, manifest=manifest("a"))
    store.save(first, blob)
    # Another pipeline: its own base manifest row (in one pipeline, b would be a
    # patch against a, revision 0010).
    second, blob = make_snapshot(config={"n": 2}, pipeline_id="p2", manifest=manifest("b"))
    store.save(second, blob)
    assert store.check_trail().findings == ()
    key_a, key_b = (manifest_hash(text_of(manifest(s))) for s in "ab")

    # A manifest's bytes rewritten: its row, and the snapshot sealed with it.
    forged = text_of(manifest("forged")).encode()
    with sql.begin() as connection:
        connection.execute(
            text("UPDATE manifests SET codec = 'json', data = :d WHERE manifest_hash = :k"),
            {"d": forged, "k": digest_bytes(key_a)},
        )
    found = {(f.problem, f.table, f.key) for f in store.check_trail().findings}
    assert found == {("modified", "manifests", key_a), ("modified", "snapshots", first.id)}

    # A snapshot pointed at another (valid) manifest: the seal catches it.
    with sql.begin() as connection:
        connection.execute(
            text("UPDATE snapshots SET manifest_hash = :b WHERE id = :id"),
            {"b": digest_bytes(key_b), "id": first.id},
        )
    found = {(f.problem, f.table, f.key) for f in store.check_trail().findings}
    assert ("modified", "snapshots", first.id) in found

    # A manifest deleted behind the store's back (the foreign key switched off).
    with sql.begin() as connection:
        if store.backend == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(
            text("DELETE FROM manifests WHERE manifest_hash = :b"), {"b": digest_bytes(key_b)}
        )
    found = {(f.problem, f.table, f.key) for f in store.check_trail().findings}
    assert ("deleted", "manifests", key_b) in found
    with SqlStore(store_url) as fresh, pytest.raises(StoreError, match="manifest is missing"):
        fresh.get_record_by_id(second.id)


def test_orphans_are_the_manifests_no_snapshot_names(
    store: SqlStore, make_snapshot: Any, sql: Engine
) -> None:
    kept, blob = make_snapshot(config={"n": 1}, manifest=manifest("a"))
    store.save(kept, blob)
    gone, blob = make_snapshot(config={"n": 2}, pipeline_id="p2", manifest=manifest("b"))
    store.save(gone, blob)
    with sql.begin() as connection:
        connection.execute(text("DELETE FROM events WHERE subject = :id"), {"id": gone.id})
        connection.execute(text("DELETE FROM snapshots WHERE id = :id"), {"id": gone.id})
        assert list(connection.execute(orphans()).scalars()) == [
            manifest_hash(text_of(manifest("b")))
        ]
        if store.backend == "postgresql":
            # A manifest still named cannot be deleted.
            with pytest.raises(IntegrityError, match="foreign key"), connection.begin_nested():
                connection.execute(text("DELETE FROM manifests"))


@pytest.mark.parametrize("rows", [3, 1200])
def test_migration_carries_manifests_over_and_back(
    store_url: str, sql: Engine, make_snapshot: Any, rows: int
) -> None:
    """Snapshots written at head go down to 0004 (each manifest back in its row,
    the exact text the audit sealed) and up again (deduplicated, verified)."""
    records = []
    with SqlStore(store_url) as store:
        for n in range(rows):
            tenant = "acme" if n % 3 == 0 else None
            record, blob = make_snapshot(
                config={"n": n}, tenant=tenant, manifest=manifest(f"s{n % 4}")
            )
            store.save(record, blob)
            records.append(record)
        # Rows of many pages: whatever store.save wrote first.
        assert store.check_trail().findings == ()

    with sql.begin() as connection:
        alembic(connection, "downgrade", "0004_tags_annotations")
    with sql.connect() as connection:
        columns = set(_columns(connection, "snapshots"))
        assert "manifest" in columns and "manifest_hash" not in columns
        stored = dict(connection.execute(text("SELECT id, manifest FROM snapshots")).all())
    assert stored == {r.id: text_of(r.manifest) for r in records}

    # A row as revision 0001 wrote it (legacy text) travels with the others.
    with sql.begin() as connection:
        legacy = records[0]
        connection.execute(
            text("UPDATE snapshots SET manifest = :m WHERE id = :id"),
            {"m": '{"fields": []}', "id": legacy.id},
        )
    with sql.begin() as connection:
        alembic(connection, "upgrade", HEAD_REVISION)
    distinct = {text_of(r.manifest) for r in records[1:]} | {'{"fields": []}'}
    assert scalar(sql, "SELECT count(*) FROM manifests") == len(distinct)
    with SqlStore(store_url) as store:
        assert store.current_revision() == HEAD_REVISION
        for record in records[1:40]:
            assert store.get_record_by_id(record.id) == record
        assert store.get_record_by_id(legacy.id).manifest == Manifest()
        check = store.check_trail()
        # The one row changed while downgraded no longer matches its seal; the
        # others all do, their manifests carried over byte for byte.
        assert [(f.problem, f.table, f.key) for f in check.findings] == [
            ("modified", "snapshots", legacy.id)
        ]
        # New audits after the migration reuse the carried-over rows.
        again, blob = make_snapshot(config={"new": True}, manifest=manifest("s1"))
        store.save(again, blob)
        assert store.get_record_by_id(again.id) == again
    assert scalar(sql, "SELECT count(*) FROM manifests") == len(
        distinct | {text_of(manifest("s1"))}
    )


def _columns(connection: Connection, table: str) -> list[str]:
    from sqlalchemy import inspect

    return [column["name"] for column in inspect(connection).get_columns(table)]


def test_manifest_key_is_the_hash_of_the_sealed_text(
    store: SqlStore, make_snapshot: Any, sql: Engine
) -> None:
    """The key is the SHA-256 of the canonical text that ``record_digest`` seals."""
    record, blob = make_snapshot(manifest=manifest("x"))
    store.save(record, blob)
    sealed = text_of(record.manifest)
    assert canonical_json(json.loads(sealed)).decode() == sealed
    stored = scalar(sql, "SELECT manifest_hash FROM snapshots WHERE id = :id", id=record.id)
    assert digest_text(stored) == content_hash(sealed.encode())
    same = attrs.evolve(record, id="01OTHER", workflow_id="other")
    store.save(same, blob)
    assert store.get_record_by_id("01OTHER") == same


def _indexes(connection: Connection, table: str) -> set[str]:
    from sqlalchemy import inspect

    return {str(index["name"]) for index in inspect(connection).get_indexes(table)}


_DIGEST_COLUMNS = (
    ("blobs", "content_hash"),
    ("manifests", "manifest_hash"),
    ("snapshots", "content_hash"),
    ("snapshots", "manifest_hash"),
    ("events", "prev_hash"),
    ("events", "hash"),
    ("chain_heads", "hash"),
)


def _lengths(sql: Engine, table: str, column: str) -> set[int]:
    """The stored lengths of a column's values (characters of text, bytes of binary)."""
    query = f"SELECT DISTINCT length({column}) FROM {table}"  # noqa: S608 (fixed names)
    with sql.connect() as connection:
        return {int(n) for (n,) in connection.execute(text(query))}


@pytest.mark.parametrize(
    "key",
    ["a" * 64, "0" * 64, "A" * 64, "abc", "", "x" * 32, "é" * 16, "f" * 63, "g" * 64],
)
def test_digest_keys_round_trip(key: str) -> None:
    """A SHA-256 in lowercase hex is stored as 32 bytes; any other key as its text,
    never 32 bytes long; each reads back as written."""
    stored = digest_bytes(key)
    assert digest_text(stored) == key
    is_digest = len(key) == 64 and key == key.lower() and all(c in "0123456789abcdef" for c in key)
    assert (len(stored) == 32) is is_digest


def test_migration_0010_carries_a_0009_store_forward(
    store_url: str, sql: Engine, make_snapshot: Any
) -> None:
    """A store in the 0009 shape (every run's manifest a whole row, the two
    dropped indexes there) goes up to 0010: nothing rewritten, every record and
    seal as before, and the next audit of a pipeline patches against its base."""
    records = []
    with SqlStore(store_url) as store:
        for n in range(8):
            record, blob = make_snapshot(
                config={"n": n}, pipeline_id=f"p{n % 2}", manifest=manifest(f"rotated-{n}")
            )
            store.save(record, blob)
            records.append(record)
        assert scalar(sql, "SELECT count(*) FROM snapshots WHERE manifest_patch IS NOT NULL") == 6

    with sql.begin() as connection:
        alembic(connection, "downgrade", "0009_archive_expiry")
    with sql.connect() as connection:
        assert "manifest_patch" not in _columns(connection, "snapshots")
        assert {"ix_snapshots_pipeline_history", "ix_snapshots_latest_failed"} <= _indexes(
            connection, "snapshots"
        )
        # The 0009 shape: each run names a whole manifest, the text its audit sealed.
        named = dict(connection.execute(text("SELECT id, manifest_hash FROM snapshots")).all())
    assert named == {r.id: manifest_hash(text_of(r.manifest)) for r in records}
    assert scalar(sql, "SELECT count(*) FROM manifests") == 8
    # 0009 kept digest keys as 64 hex characters.
    for table, column in _DIGEST_COLUMNS:
        assert _lengths(sql, table, column) == {64}, (table, column)

    with sql.begin() as connection:
        alembic(connection, "upgrade", HEAD_REVISION)
    # 0010 stores each as its 32 bytes, the same digest.
    for table, column in _DIGEST_COLUMNS:
        assert _lengths(sql, table, column) == {32}, (table, column)
    with sql.connect() as connection:
        stored = dict(connection.execute(text("SELECT id, manifest_hash FROM snapshots")).all())
    assert {k: digest_text(v) for k, v in stored.items()} == named
    with sql.begin() as connection:
        alembic(connection, "downgrade", "0009_archive_expiry")
    for table, column in _DIGEST_COLUMNS:
        assert _lengths(sql, table, column) == {64}, (table, column)

    with sql.begin() as connection:
        alembic(connection, "upgrade", HEAD_REVISION)
    with sql.connect() as connection:
        assert "manifest_patch" in _columns(connection, "snapshots")
        indexes = _indexes(connection, "snapshots")
        assert not {"ix_snapshots_pipeline_history", "ix_snapshots_latest_failed"} & indexes
    assert scalar(sql, "SELECT count(*) FROM snapshots WHERE manifest_patch IS NOT NULL") == 0
    with SqlStore(store_url) as store:
        assert store.current_revision() == HEAD_REVISION
        for record in records:
            assert store.get_record_by_id(record.id) == record
        check = store.check_trail()
        assert check.findings == () and check.snapshots == 8
        # The next run of p0 is a patch against p0's newest manifest, now its base.
        later, blob = make_snapshot(config={"n": 99}, pipeline_id="p0", manifest=manifest("x"))
        store.save(later, blob)
        assert store.get_record_by_id(later.id) == later
        assert store.check_trail().findings == ()
    assert scalar(sql, "SELECT count(*) FROM snapshots WHERE manifest_patch IS NOT NULL") == 1
    assert scalar(sql, "SELECT count(*) FROM manifests") == 8


def test_a_patched_run_is_archived_and_restored_whole(
    store: SqlStore, make_snapshot: Any, sql: Engine
) -> None:
    base, blob = make_snapshot(config={"n": 1}, manifest=manifest("a"))
    store.save(base, blob)
    run, blob = make_snapshot(config={"n": 2}, manifest=manifest("rotated"))
    store.save(run, blob)
    assert scalar(sql, "SELECT manifest_patch FROM snapshots WHERE id = :i", i=run.id) is not None

    exported = store.export_snapshot(run.id)
    # The archive carries the run's whole manifest text (what the seal covers), no patch.
    assert "manifest_patch" not in exported.row and "manifest_hash" not in exported.row
    assert exported.row["manifest"] == json.loads(text_of(manifest("rotated")))
    with sql.begin() as connection:
        connection.execute(text("DELETE FROM snapshots WHERE id = :i"), {"i": run.id})
    assert restore_snapshot(
        store, exported.row, exported.blob, record_digest=exported.record_digest, by="ops"
    )
    assert store.get_record_by_id(run.id) == run
    assert store.check_trail().findings == ()
