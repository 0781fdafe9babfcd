"""The spool's files and its drain: format, crash safety, quarantine, idempotent replay."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import KeyNameMasker
from wfaudit import Auditor
from wfaudit.spool import (
    SPOOL_FORMAT,
    CorruptSpoolFile,
    Spool,
    SpoolFileTooNew,
    sanitize_url,
    store_key,
)
from wfaudit.testing.kit_store import make_record
from wfaudit_hookspecs import SnapshotRecord


def test_sanitized_urls_hide_passwords_and_share_a_key() -> None:
    url = "postgresql://wf:topsecret@db.internal:5432/audit?sslmode=require&password=x"
    clean = sanitize_url(url)
    assert "topsecret" not in clean and "password=%2A%2A%2A" in clean
    assert store_key(url) == store_key(
        "postgres://wf:other@db.internal:5432/audit?password=y&sslmode=require"
    )
    assert store_key(url) != store_key("postgresql://wf@db.internal:5432/other")
    assert store_key(url).startswith("postgresql-")
    relative = "sqlite:///store.db"
    assert sanitize_url(relative) == f"sqlite:///{os.path.abspath('store.db')}"
    assert store_key(relative) == store_key(f"sqlite:///{os.path.abspath('store.db')}")


def test_write_and_read_back(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", "sqlite:////data/a.db")
    record, blob = make_record(1, tenant="acme")
    path = spool.write(record, blob)

    assert path.name == f"{record.id}.wfspool"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    header = json.loads(path.read_bytes().split(b"\n", 1)[0])
    assert header["format"] == SPOOL_FORMAT and header["version"] == 1
    entry = spool.read(path)
    assert entry.record == record and entry.blob == blob
    assert spool.paths() == [path] == spool.paths("acme")
    assert spool.paths("other") == [] and spool.depth() == 1
    assert not list(path.parent.glob(".*.tmp"))


def test_damaged_and_future_files(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", "sqlite:////data/a.db")
    record, blob = make_record(1)
    path = spool.write(record, blob)
    whole = path.read_bytes()

    path.write_bytes(whole[:-10])  # truncated
    with pytest.raises(CorruptSpoolFile, match="truncated"):
        spool.read(path)
    edited = whole.replace(b'"workflow_id":"1"', b'"workflow_id":"2"')
    assert edited != whole
    path.write_bytes(edited)
    with pytest.raises(CorruptSpoolFile, match="checksum"):
        spool.read(path)
    path.write_bytes(b"not a spool file")
    with pytest.raises(CorruptSpoolFile, match="not a wfaudit spool file"):
        spool.read(path)
    path.write_bytes(whole.replace(b'"version": 1', b'"version": 9'))
    with pytest.raises(SpoolFileTooNew, match="upgrade wfaudit"):
        spool.read(path)


def audit(auditor: Auditor, n: int) -> None:
    result = auditor.audit_trigger(
        workflow_id=n, workflow_type="CI", pipeline_id="p", config={"n": n, "password": "pw"}
    )
    assert result.ok, result.error


def spooled_copy(auditor: Auditor, n: int) -> SnapshotRecord:
    """Audit ``n`` and put a copy of what was saved into the spool, as if it had
    been spooled and the process had died before removing it."""
    audit(auditor, n)
    record = auditor.store.get_record(workflow_id=str(n), workflow_type="CI")
    assert record is not None
    blob = auditor.store.get_blob(record.content_hash)
    assert blob is not None
    auditor.spool.write(record, blob)
    return record


def test_drain_replays_quarantines_and_skips(
    make_auditor: Callable[..., Auditor], tmp_path: Path
) -> None:
    auditor = make_auditor(KeyNameMasker())
    spool = auditor.spool
    # 1. already in the store (a crash between the save and the unlink)
    spooled_copy(auditor, 1)
    # 2. not in the store yet
    fresh, fresh_blob = make_record(2, content={"n": 2})
    spool.write(fresh, fresh_blob)
    # 3. refused: the store has run 3 with another content
    audit(auditor, 3)
    conflicting, conflicting_blob = make_record(3, workflow_type="CI", pipeline_id="p")
    spool.write(conflicting, conflicting_blob)
    # 4. damaged, 5. from a newer wfaudit
    broken = spool.write(*make_record(4, content={"n": 4}))
    broken.write_bytes(broken.read_bytes()[:-1])
    future = spool.write(*make_record(5, content={"n": 5}))
    future.write_bytes(future.read_bytes().replace(b'"version": 1', b'"version": 2'))
    # 6. a writer killed mid-write left a temporary file (of a pid that is gone)
    leftover = spool.directory / "default" / ".01ABC.999999999.deadbeef.tmp"
    leftover.write_bytes(b"half a reco")

    report = auditor.drain_spool()

    assert (report.replayed, report.already_stored) == (1, 1)
    assert (report.rejected, report.corrupt, report.too_new) == (1, 1, 1)
    assert report.remaining == 1 and not report.ok
    assert spool.paths() == [future]
    assert not leftover.exists()
    quarantine = spool.directory / "quarantine"
    assert len(list((quarantine / "rejected").glob("*.wfspool"))) == 1
    reason = next((quarantine / "rejected").glob("*.reason")).read_text()
    assert "already audited with a different" in reason
    assert len(list((quarantine / "corrupt").glob("*.wfspool"))) == 1
    assert spool.quarantined() == 2
    assert auditor.store.get_record(workflow_id="2", workflow_type="CI") is not None
    # Drain again: nothing new happens, nothing is replayed twice.
    again = auditor.drain_spool()
    assert (again.replayed, again.already_stored, again.too_new) == (0, 0, 1)


def test_one_drainer_at_a_time(make_auditor: Callable[..., Auditor]) -> None:
    auditor = make_auditor(KeyNameMasker())
    auditor.spool.write(*make_record(1))
    with auditor.spool.drain_lock(wait=0) as got:
        assert got
        report = auditor.drain_spool(wait=0.1)
    assert report.busy and report.remaining == 1 and not report.ok
    assert auditor.drain_spool().replayed == 1


def test_a_scoped_auditor_drains_only_its_tenant(
    make_auditor: Callable[..., Auditor], store_url: str
) -> None:
    acme = make_auditor(KeyNameMasker(), tenant="acme")
    acme.spool.write(*make_record(1, tenant="acme"))
    acme.spool.write(*make_record(1, tenant="globex"))
    report = acme.drain_spool()
    assert (report.replayed, report.remaining) == (1, 0)
    assert acme.spool.depth() == 1  # globex's file is still there
    everyone = make_auditor(KeyNameMasker())
    assert everyone.drain_spool().replayed == 1


def test_background_drain_after_a_successful_audit(make_auditor: Callable[..., Auditor]) -> None:
    """A spool left by an earlier process drains once an audit succeeds."""
    auditor = make_auditor(KeyNameMasker())
    for n in range(5):
        auditor.spool.write(*make_record(n, content={"n": n}))
    audit(auditor, 100)
    deadline = time.monotonic() + 10
    while auditor.spool.depth() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert auditor.spool.depth() == 0
    assert len(auditor.history(limit=10)) == 6
