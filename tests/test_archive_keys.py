"""Archive keys fit file-name and S3 limits for every valid identity, and one
snapshot that cannot be archived never stops a sweep of the others.

A pipeline id of 200 ``é`` is 1,200 bytes percent-encoded, over the 255 bytes a
file name may have: on a ``file://`` archive its object could not be written and
the whole sweep stopped there. Long segments are now shortened with a hash of
their value (stable, collision-resistant), and a snapshot whose archive object
cannot be written or whose blob does not read is reported and skipped.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, update

from tests.conftest import KeyNameMasker
from wfaudit import Auditor
from wfaudit.archive import MAX_SEGMENT, FileArchive, archive_key, snapshot_id_of_key
from wfaudit.retention import DEFAULT_KEEP, RetentionPolicy, Sweeper
from wfaudit.verify import verify
from wfaudit_sql.schema import blobs
from wfaudit_sql.urls import parse_store_url

WHEN = dt.datetime(2026, 3, 10, 4, 30, tzinfo=dt.UTC)
NAME_MAX = 255
S3_KEY_MAX = 1024

LONG_IDS = [
    "é" * 200,  # 1,200 bytes encoded
    "\U0001f680" * 255,  # the longest identity of four-byte characters: 3,060 bytes encoded
    "a" * 1000,
    "." + "b" * 400,  # a leading dot, hashed or not, never a "." segment
    "%" * 60,  # 180 bytes encoded: just over the limit
    "team/" * 100,
]
SHORT_IDS = ["deploy", "é" * 25, "x" * MAX_SEGMENT, "..", "-", "a~b"]


def key_of(
    tenant: str | None, pipeline: str, snapshot_id: str = "01J0000000000000000000000A"
) -> str:
    return archive_key(
        prefix="wfaudit/archives",
        tenant=tenant,
        pipeline_id=pipeline,
        created_on=WHEN,
        snapshot_id=snapshot_id,
    )


def test_every_key_fits_file_name_and_s3_limits() -> None:
    for tenant in (None, "acme", *LONG_IDS):
        for pipeline in SHORT_IDS + LONG_IDS:
            key = key_of(tenant, pipeline)
            assert len(key.encode()) <= S3_KEY_MAX, (tenant, pipeline)
            segments = key.split("/")
            assert all(0 < len(s.encode()) <= NAME_MAX for s in segments), key
            assert not any(s in (".", "..") for s in segments), key
            assert key.isascii()
            assert key == key_of(tenant, pipeline)  # stable: same identity, same key
            assert snapshot_id_of_key(key) == "01J0000000000000000000000A"


def test_long_segments_do_not_collide() -> None:
    pipelines = SHORT_IDS + LONG_IDS + ["é" * 200 + "x", "é" * 201, "a" * 1001]
    # Same first bytes, different values: different keys.
    pipelines += [f"{'p' * 300}-{n}" for n in range(50)]
    keys = {key_of(None, p) for p in pipelines}
    assert len(keys) == len(set(pipelines))
    # A hashed segment is longer than any segment kept as it is: it can equal no
    # other value's segment, whatever that value holds.
    long_segment = key_of(None, "é" * 200).split("/")[4]
    assert len(long_segment) > MAX_SEGMENT and "~" in long_segment
    assert long_segment.startswith("%C3%A9" * 16)  # still readable at a glance
    # Tenants too, and a long snapshot id (its key no longer names it).
    assert key_of("t" * 500, "p") != key_of("t" * 501, "p")
    long_id = key_of(None, "p", snapshot_id="s" * 400)
    assert len(long_id.rsplit("/", 1)[1]) <= NAME_MAX and snapshot_id_of_key(long_id) is None


def test_keys_of_ordinary_identities_are_unchanged() -> None:
    assert (
        key_of(None, "deploy")
        == "wfaudit/archives/v1/-/deploy/2026/03/01J0000000000000000000000A.wfa"
    )
    assert key_of("acme corp", "é" * 25).split("/")[3:5] == ["acme%20corp", "%C3%A9" * 25]


def trigger(auditor: Auditor, workflow_id: str, pipeline: str, tenant: str | None = None) -> str:
    result = auditor.audit_trigger(
        workflow_id=workflow_id,
        workflow_type="CI",
        pipeline_id=pipeline,
        tenant=tenant,
        config={"step": workflow_id, "image": "app:1"},
    )
    assert result.ok, result.error
    record = auditor.store.get_record(workflow_id=workflow_id, workflow_type="CI", tenant=tenant)
    assert record is not None
    return record.id


def due_now() -> RetentionPolicy:
    return RetentionPolicy(by_status=dict.fromkeys(DEFAULT_KEEP, dt.timedelta(0)))


def test_a_sweep_archives_long_identities_and_skips_a_bad_snapshot(
    make_auditor: Callable[..., Auditor], store_url: str, tmp_path: Path
) -> None:
    auditor = make_auditor(KeyNameMasker())
    ids = {
        "before": trigger(auditor, "1", "ordinary"),
        "long": trigger(auditor, "2", "é" * 200),
        "rocket": trigger(auditor, "3", "\U0001f680" * 255, tenant="\U0001f680" * 100),
        "bad": trigger(auditor, "4", "damaged"),
        "after": trigger(auditor, "5", "ordinary-too"),
    }
    bad = auditor.store.get_record_by_id(ids["bad"])
    assert bad is not None
    engine = create_engine(parse_store_url(store_url).url)
    with engine.begin() as connection:  # the bad snapshot's blob no longer reads
        connection.execute(
            update(blobs).where(blobs.c.content_hash == bad.content_hash).values(data=b"garbage")
        )
    engine.dispose()

    archive = FileArchive(tmp_path / "archive")
    report = Sweeper(auditor.store, due_now(), archive=archive).apply()  # type: ignore[arg-type]

    assert report.failed == 1
    assert [f.snapshot_id for f in report.failures] == [ids["bad"]]
    assert "corrupt" in report.failures[0].error
    assert report.archived == 4 and report.deleted == 4
    assert auditor.store.get_record_by_id(ids["bad"]) is not None  # skipped, kept
    for name in ("before", "long", "rocket", "after"):
        assert auditor.store.get_record_by_id(ids[name]) is None
        record = auditor.store.get_archive(ids[name])
        assert record is not None and archive.size(record.object_key) == record.object_size
    # Restored from the hashed keys, the snapshots read back.
    restorer = Sweeper(auditor.store, due_now(), archive=archive)  # type: ignore[arg-type]
    assert restorer.restore(ids["long"]).restored
    assert auditor.get_snapshot("2", "CI").pipeline_id == "é" * 200
    assert not verify(auditor).findings or all(
        f.key == bad.content_hash for f in verify(auditor).findings
    )


def test_the_command_reports_the_skipped_snapshot_and_exits_1(
    make_auditor: Callable[..., Auditor], store_url: str, tmp_path: Path
) -> None:
    auditor = make_auditor(KeyNameMasker())
    good = trigger(auditor, "1", "é" * 200)
    bad_id = trigger(auditor, "2", "damaged")
    bad = auditor.store.get_record_by_id(bad_id)
    assert bad is not None
    engine = create_engine(parse_store_url(store_url).url)
    with engine.begin() as connection:
        connection.execute(
            update(blobs).where(blobs.c.content_hash == bad.content_hash).values(data=b"garbage")
        )
    engine.dispose()
    auditor.close()
    config = tmp_path / "wfaudit.toml"
    config.write_text(
        "[retention]\n" + "".join(f'{status} = "0d"\n' for status in DEFAULT_KEEP),
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "WFAUDIT_STORE_URL": store_url,
        "WFAUDIT_ARCHIVE_URL": (tmp_path / "archive").as_uri(),
        "WFAUDIT_CONFIG": str(config),
        "WFAUDIT_LOAD_PLUGINS": "sql",
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "wfaudit", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=180,
            check=False,
        )

    applied = run("retention", "apply")
    assert applied.returncode == 1, applied.stdout + applied.stderr
    assert "Traceback" not in applied.stderr
    assert "archived 1, deleted 1" in applied.stdout
    assert f"failed 1 (skipped, left in the store):\n  {bad_id}: " in applied.stdout
    again = run("retention", "apply", "--json")
    assert again.returncode == 1
    report = json.loads(again.stdout)
    assert report["failed"] == 1 and report["failures"][0]["snapshot_id"] == bad_id
    assert good not in again.stdout


@pytest.mark.parametrize("pipeline", ["é" * 255, "\U0001f680" * 255])
def test_file_archive_takes_the_object_of_a_long_identity(tmp_path: Path, pipeline: str) -> None:
    archive = FileArchive(tmp_path, fsync=False)
    key = key_of("é" * 300, pipeline)
    archive.put(key, b"object")
    assert archive.get(key) == b"object"
    assert list(archive.iter_keys()) == [key]
