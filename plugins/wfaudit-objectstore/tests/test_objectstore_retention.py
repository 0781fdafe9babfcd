"""Archive → delete → restore against a real SeaweedFS server, on SQLite and PostgreSQL.

The restored snapshots must be byte-identical (same content hash, same record),
and ``wfaudit verify`` must pass before the sweep, after the deletion and after
the restore. The command line is run as a user runs it: a real process.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import zstandard

from wfaudit import Auditor, RetentionPolicy, Sweeper, add_hold, verify_store
from wfaudit.testing import find_secrets
from wfaudit.testing.clock import Clock
from wfaudit_hookspecs import EventKind, TriggerRequest, canonical_json, content_hash
from wfaudit_hookspecs.retention import HoldScope
from wfaudit_objectstore.testing import S3Endpoint

ENDPOINT_SECRET = "sekrit2-endpoint-password"
DAY = dt.timedelta(days=1)


@pytest.fixture
def auditor(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Auditor]:
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", "sql,objectstore")
    with Auditor.from_url(store_url, strict=True, allow_unmasked=True) as opened:
        yield opened


def trigger(auditor: Auditor, number: int, status: str = "succeeded", **fields: Any) -> str:
    config = {
        "pipeline": {"name": "deploy", "stages": ["build", "test", "ship"] * 20},
        "image": "registry.example/app:1.4",
        "commit": f"{number:040x}",
        "run": number,
    }
    result = auditor.audit_trigger(
        TriggerRequest(
            workflow_id=f"wf-{number}",
            workflow_type="CI",
            pipeline_id=fields.pop("pipeline_id", "deploy"),
            config=config,
            **fields,
        )
    )
    assert result.ok and result.ref is not None
    auditor.record_outcome(f"wf-{number}", "CI", status)
    return result.ref.id


def assert_verified(auditor: Auditor) -> None:
    report = verify_store(auditor)
    assert report.ok, report.findings


def test_archive_delete_restore_round_trip(
    auditor: Auditor, seaweedfs: S3Endpoint, wfaudit_clock: Clock
) -> None:
    ids = [trigger(auditor, n, labels={"environment": "staging"}) for n in range(6)]
    ids.append(trigger(auditor, 99, tenant="acme", pipeline_id="other/pipe"))
    originals = {sid: auditor.get_snapshot_by_id(sid) for sid in ids}
    blobs = {sid: auditor.store.get_blob(originals[sid].content_hash) for sid in ids}
    # Successive triggers of a pipeline are stored as deltas against a base blob.
    assert any(blob is not None and blob.base is not None for blob in blobs.values())
    assert_verified(auditor)

    archive = seaweedfs.archive(f"round-trip-{uuid.uuid4().hex[:8]}")
    sweeper = Sweeper(auditor.store, RetentionPolicy(), archive=archive)
    try:
        wfaudit_clock.advance(days=31)
        report = sweeper.apply()
        assert report.archived == len(ids) and report.deleted == len(ids)
        for sid in ids:
            assert auditor.store.get_record_by_id(sid) is None
        store: Any = auditor.store
        assert store.stats().blobs == 0  # no snapshot needs a blob any more
        assert_verified(auditor)

        archived = list(store.iter_archives(present=False))
        assert sorted(record.snapshot_id for record in archived) == sorted(ids)
        keys = sorted(archive.iter_keys("wfaudit/v1/"))
        assert keys == sorted(record.object_key for record in archived)
        assert any(key.startswith("wfaudit/v1/acme/other%2Fpipe/") for key in keys)
        first = originals[ids[0]]
        assert (
            f"wfaudit/v1/-/deploy/{first.created_on:%Y}/{first.created_on:%m}/{ids[0]}.wfa" in keys
        )

        # Restore the delta-compressed snapshots first: their base blob is gone.
        for sid in reversed(ids):
            result = sweeper.restore(sid, by="ops")
            assert result.restored
            restored = auditor.get_snapshot_by_id(sid)
            assert restored == originals[sid]
            assert content_hash(canonical_json(restored.config)) == originals[sid].content_hash
            events = auditor.store.list_events(subject=sid)
            assert [event.kind for event in events][-3:] == [
                EventKind.ARCHIVED,
                EventKind.DELETED,
                EventKind.RESTORED,
            ]
        assert_verified(auditor)
    finally:
        archive.close()


def _decompressed(data: bytes) -> str:
    return zstandard.ZstdDecompressor().decompress(data).decode("utf-8", "replace")


def test_two_stores_share_a_bucket(
    auditor: Auditor,
    seaweedfs: S3Endpoint,
    wfaudit_clock: Clock,
    tmp_path: pathlib.Path,
) -> None:
    """Two stores archive to the same bucket and prefix: each one's orphan cleanup
    removes only its own unrecorded objects, once they are past the grace period."""
    prefix = f"shared-{uuid.uuid4().hex[:8]}"
    with Auditor.from_url(
        f"sqlite:///{tmp_path / 'other.sqlite3'}", strict=True, allow_unmasked=True
    ) as other:
        stores = {"mine": auditor, "other": other}
        gone = {name: trigger(store, 1) for name, store in stores.items()}
        stuck = {name: trigger(store, 2) for name, store in stores.items()}
        archives = {name: seaweedfs.archive(prefix) for name in stores}
        try:
            sweepers = {
                name: Sweeper(store.store, RetentionPolicy(), archive=archives[name])
                for name, store in stores.items()
            }
            wfaudit_clock.advance(days=31)
            for name, sweeper in sweepers.items():

                def crash(kind: str, candidate: Any, name: str = name) -> None:
                    if kind == "object-written" and candidate.id == stuck[name]:
                        raise RuntimeError("killed")

                with pytest.raises(RuntimeError, match="killed"):
                    sweeper.apply(on_step=crash)
                retention: Any = stores[name].store
                add_hold(
                    retention,
                    scope=HoldScope.SNAPSHOT,
                    target=stuck[name],
                    tenant=None,
                    reason=None,
                    by="x",
                )
                report = sweeper.apply()
                assert report.archived == report.deleted == 1
                assert report.orphan_objects == 0
            keys = set(archives["mine"].iter_keys())
            assert len(keys) == 4  # a recorded object and an orphan of each store

            wfaudit_clock.advance(days=2)  # past orphan_grace
            assert sweepers["mine"].clean_orphans()["orphan_objects"] == 1
            left = set(archives["mine"].iter_keys())
            assert keys - left == {k for k in keys if k.endswith(f"/{stuck['mine']}.wfa")}
            assert sweepers["other"].restore(gone["other"]).restored
            assert sweepers["other"].clean_orphans()["orphan_objects"] == 1
            assert sweepers["mine"].restore(gone["mine"]).restored
            for store in stores.values():
                assert_verified(store)
        finally:
            for archive in archives.values():
                archive.close()


def _cli(*args: str, env: dict[str, str], cwd: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wfaudit", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=cwd,
        timeout=180,
        check=False,
    )


def test_the_commands(
    auditor: Auditor, seaweedfs: S3Endpoint, store_url: str, tmp_path: pathlib.Path
) -> None:
    kept = trigger(auditor, 1)
    gone = trigger(auditor, 2)
    held = trigger(auditor, 3, labels={"case": "7"})
    (tmp_path / "wfaudit.toml").write_text('[retention]\nsucceeded = "0d"\n', encoding="utf-8")
    prefix = f"cli-{uuid.uuid4().hex[:8]}"
    env = {
        **seaweedfs.environment(),
        "WFAUDIT_STORE_URL": store_url,
        "WFAUDIT_ARCHIVE_URL": seaweedfs.archive_url(prefix),
        "WFAUDIT_CONFIG": str(tmp_path / "wfaudit.toml"),
        "WFAUDIT_LOAD_PLUGINS": "sql,objectstore",
    }
    outputs: list[tuple[str, str]] = []  # every line any command printed

    def cli(*args: str, **more: str) -> subprocess.CompletedProcess[str]:
        result = _cli(*args, env={**env, **more}, cwd=tmp_path)
        outputs.append((f"wfaudit {' '.join(args)}", result.stdout + result.stderr))
        return result

    def ok(*args: str) -> str:
        result = cli(*args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    # Credentials in the archive URL, in the bucket part or in the endpoint, are
    # refused before anything is archived, and no message quotes them.
    host = seaweedfs.url.removeprefix("http://")
    for url in (
        f"s3://{seaweedfs.bucket}/{prefix}?endpoint=http://u:{ENDPOINT_SECRET}@{host}",
        f"s3://u:{ENDPOINT_SECRET}@{seaweedfs.bucket}/{prefix}?endpoint={seaweedfs.url}",
    ):
        for args in (("archive", kept), ("retention", "apply"), ("restore", kept)):
            refused = cli(*args, WFAUDIT_ARCHIVE_URL=url)
            assert refused.returncode == 1, refused.stdout + refused.stderr
            assert "must not hold credentials" in refused.stderr
            assert "Traceback" not in refused.stderr
    assert json.loads(ok("log", "--archived", "--json")) == []

    added = json.loads(ok("hold", "add", "--selector", "case=7", "--reason", "LIT-1", "--json"))
    assert "LIT-1" in ok("hold", "list")
    archived = json.loads(ok("archive", kept, "--json"))
    assert archived["object_key"].endswith(f"/{kept}.wfa")

    report = json.loads(ok("retention", "plan", "--json"))
    actions = {item["snapshot_id"]: item["action"] for item in report["items"]}
    assert actions == {kept: "delete", gone: "delete", held: "hold"}
    assert report["summary"]["counts"] == {"delete": 2, "hold": 1}
    table = ok("retention", "plan")
    assert "Retention plan" in table and "legal hold" in table

    applied = json.loads(ok("retention", "apply", "--json"))
    assert applied["deleted"] == 2 and applied["archived"] == 1
    listing = json.loads(ok("log", "--archived", "--json"))
    assert {row["snapshot_id"]: row["present"] for row in listing} == {kept: False, gone: False}
    assert "Archived snapshots" in ok("log", "--archived")

    assert "verify: OK" in ok("verify")
    assert "verified" in ok("restore", gone, "--by", "ops")
    assert "in the store already" in ok("restore", gone)
    assert auditor.get_snapshot_by_id(gone).content_hash
    assert "verify: OK" in ok("verify")

    ok("hold", "release", added["id"], "--reason", "closed")
    assert json.loads(ok("hold", "list", "--json")) == []

    missing = cli("restore", "01NOSUCHSNAPSHOT0000000000")
    assert missing.returncode == 1
    assert missing.stderr.startswith("Error: snapshot '01NOSUCHSNAPSHOT0000000000' has no archive")
    assert "Traceback" not in missing.stderr

    # No secret anywhere: not in any command's output, not in any row of the
    # database (archive records, events), not in any archive object.
    archive = seaweedfs.archive(prefix)
    try:
        objects = [
            (f"archive object {key}", _decompressed(archive.get(key)))
            for key in archive.iter_keys()
        ]
    finally:
        archive.close()
    assert len(objects) == 2
    secrets = [ENDPOINT_SECRET, seaweedfs.secret_access_key]
    assert find_secrets(secrets, database_url=store_url, texts=[*outputs, *objects]) == []


def test_long_identities_archive_and_restore_on_s3(
    auditor: Auditor, seaweedfs: S3Endpoint, wfaudit_clock: Clock
) -> None:
    """The longest valid identities give keys within S3's 1,024 bytes (long segments
    are hashed): every snapshot is archived, listed and restored."""
    long_ids = {
        trigger(auditor, 1, pipeline_id="é" * 255, tenant="é" * 255): "é" * 255,
        trigger(auditor, 2, pipeline_id="\U0001f680" * 255): "\U0001f680" * 255,
        trigger(auditor, 3, pipeline_id="é" * 254 + "x"): "é" * 254 + "x",
    }
    originals = {sid: auditor.get_snapshot_by_id(sid) for sid in long_ids}
    archive = seaweedfs.archive(f"long-{uuid.uuid4().hex[:8]}")
    sweeper = Sweeper(auditor.store, RetentionPolicy(), archive=archive)
    try:
        wfaudit_clock.advance(days=31)
        report = sweeper.apply()
        assert (report.archived, report.deleted, report.failed) == (3, 3, 0)
        store: Any = auditor.store
        records = {r.snapshot_id: r for r in store.iter_archives(present=False)}
        assert set(records) == set(long_ids)
        assert all(len(r.object_key.encode()) <= 1024 for r in records.values())
        assert len({r.object_key for r in records.values()}) == 3
        assert sorted(archive.iter_keys("wfaudit/v1/")) == sorted(
            r.object_key for r in records.values()
        )
        for sid, pipeline in long_ids.items():
            assert sweeper.restore(sid, by="ops").restored
            restored = auditor.get_snapshot_by_id(sid)
            assert restored == originals[sid] and restored.pipeline_id == pipeline
        assert_verified(auditor)
    finally:
        archive.close()


def test_archive_objects_expire_on_s3_never_under_a_hold(
    auditor: Auditor, seaweedfs: S3Endpoint, wfaudit_clock: Clock
) -> None:
    """The expiry sweep against SeaweedFS: objects past their date are deleted from
    the bucket (bytes freed as the bucket counts them), a held one stays, a dry
    run deletes nothing, and ``wfaudit verify`` passes throughout."""
    ids = [trigger(auditor, n, labels={"case": "hold-me"} if n == 0 else {}) for n in range(4)]
    archive = seaweedfs.archive(f"expiry-{uuid.uuid4().hex[:8]}")
    sweeper = Sweeper(auditor.store, RetentionPolicy(archive_keep=10 * DAY), archive=archive)
    store: Any = auditor.store
    try:
        wfaudit_clock.advance(days=31)
        assert sweeper.apply().deleted == 4
        add_hold(
            store,
            scope=HoldScope.SELECTOR,
            target="case=hold-me",
            tenant=None,
            reason="x",
            by="legal",
        )
        keys = {record.snapshot_id: record.object_key for record in store.iter_archives()}
        sizes = {sid: archive.size(key) for sid, key in keys.items()}
        assert all(sizes.values())

        wfaudit_clock.advance(days=11)
        dry = sweeper.expire(dry_run=True)
        assert (dry.expired, dry.held) == (3, 1)
        assert sorted(archive.iter_keys("wfaudit/v1/")) == sorted(keys.values())

        done = sweeper.expire()
        assert (done.expired, done.held) == (3, 1)
        assert done.bytes_freed == sum(size or 0 for sid, size in sizes.items() if sid != ids[0])
        assert list(archive.iter_keys("wfaudit/v1/")) == [keys[ids[0]]]
        assert [record.snapshot_id for record in store.iter_archives()] == [ids[0]]
        assert_verified(auditor)
        # The held one is still restorable, byte for byte.
        assert sweeper.restore(ids[0]).restored
        assert_verified(auditor)
    finally:
        archive.close()
