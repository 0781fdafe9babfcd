"""``memory://``, the reference backend: it passes the store conformance kit and
works wherever a store URL is taken."""

from __future__ import annotations

import datetime as dt
import pathlib
import subprocess
import sys
from collections.abc import Iterator

import pytest

from wfaudit import Auditor
from wfaudit.archive import FileArchive
from wfaudit.retention import RetentionPolicy, Sweeper, add_hold
from wfaudit.testing import (
    ArchiveStoreConformance,
    KeyedTrailConformance,
    MemoryArchive,
    MemoryStore,
    StoreConformance,
    StoreHistoryConformance,
    StoreMaintenanceConformance,
    StoreRetentionConformance,
    StoreSchemaConformance,
    make_record,
)
from wfaudit.verify import verify
from wfaudit_hookspecs import (
    SnapshotNotFound,
    StoreError,
    StoreMaintenance,
    StoreMeta,
    StoreNotFound,
    TriggerRequest,
)


class _Fresh:
    @pytest.fixture
    def store(self) -> Iterator[MemoryStore]:
        store = MemoryStore("memory://")
        yield store
        store.close()


class TestMemoryStoreConformance(_Fresh, StoreConformance):
    """Store and StoreMeta."""


class TestMemoryStoreHistoryConformance(_Fresh, StoreHistoryConformance):
    """StoreHistory."""


class TestMemoryStoreMaintenanceConformance(_Fresh, StoreMaintenanceConformance):
    """StoreMaintenance."""


class TestMemoryStoreSchemaConformance(_Fresh, StoreSchemaConformance):
    """StoreSchema."""


class TestMemoryKeyedTrailConformance(_Fresh, KeyedTrailConformance):
    """KeyedTrail."""


class TestMemoryStoreRetentionConformance(_Fresh, StoreRetentionConformance):
    """StoreRetention."""


class TestMemoryArchiveConformance(ArchiveStoreConformance):
    @pytest.fixture
    def archive(self) -> MemoryArchive:
        return MemoryArchive()


def test_the_memory_store_offers_the_optional_protocols() -> None:
    store = MemoryStore()
    assert isinstance(store, StoreMeta) and isinstance(store, StoreMaintenance)
    record, blob = make_record(1)
    store.save(record, blob)
    assert store.stats().snapshots == 1
    assert [b.content_hash for b in store.iter_blobs()] == [record.content_hash]
    with pytest.raises(StoreError, match="cannot be backed up"):
        store.backup("/tmp/nowhere")


def test_auditor_from_url_memory_audits_and_reads_back() -> None:
    with Auditor.from_url("memory://", allow_unmasked=True, strict=True) as auditor:
        result = auditor.audit_trigger(
            workflow_id=1001, workflow_type="CI", pipeline_id=7, config={"run": "make"}
        )
        assert result.ok and result.created
        assert auditor.get_snapshot(1001, "CI").config == {"run": "make"}
        report = verify(auditor)
        assert report.ok, report


def test_a_named_memory_store_is_shared_in_the_process() -> None:
    name = "memory://shared-by-name-test"
    with Auditor.from_url(name, allow_unmasked=True, strict=True) as writer:
        writer.audit_trigger(workflow_id=1, workflow_type="CI", pipeline_id=1, config={"a": 1})
    with Auditor.from_url(name, allow_unmasked=True, strict=True, create=False) as reader:
        assert reader.get_snapshot(1, "CI").config == {"a": 1}
    with (
        Auditor.from_url("memory://", allow_unmasked=True) as fresh,
        pytest.raises(SnapshotNotFound),
    ):
        fresh.get_snapshot(1, "CI")


def test_reading_a_memory_store_that_does_not_exist_is_refused() -> None:
    with pytest.raises(StoreNotFound, match="no memory store memory://never-made"):
        MemoryStore("memory://never-made", create=False)
    with pytest.raises(StoreNotFound, match="nothing to read"):
        MemoryStore("memory://", create=False)


def test_the_cli_takes_a_memory_store() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "wfaudit", "--store", "memory://", "log"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("Error: memory:// is a new, empty store")
    assert "Traceback" not in done.stderr


def test_the_retention_engine_sweeps_restores_and_verifies_a_memory_store(
    tmp_path: pathlib.Path,
) -> None:
    """The engine's retention (policy, sweep, archive, restore) needs nothing of a
    store but the contract: it runs on memory:// as on SQL."""
    with Auditor.from_url("memory://", allow_unmasked=True, strict=True) as auditor:
        ids = []
        for number in range(4):
            result = auditor.audit_trigger(
                TriggerRequest(
                    workflow_id=str(number),
                    workflow_type="CI",
                    pipeline_id="p",
                    config={"run": number},
                )
            )
            assert result.ok and result.ref is not None
            auditor.record_outcome(str(number), "CI", "succeeded")
            ids.append(result.ref.id)
        add_hold(
            auditor.store, scope="snapshot", target=ids[1], tenant=None, reason="case", by="ana"
        )
        sweeper = Sweeper(
            auditor.store,
            RetentionPolicy(by_status={"succeeded": dt.timedelta(0)}),
            archive=FileArchive(tmp_path / "archive", fsync=False),
        )
        report = sweeper.apply()
        assert (report.archived, report.deleted, report.failed) == (3, 3, 0), report
        assert auditor.store.get_record_by_id(ids[1]) is not None, "a held snapshot went"
        assert sweeper.restore(ids[0]).restored
        assert auditor.get_snapshot("0", "CI").config == {"run": 0}
        cycle = sweeper.run_cycle()
        assert cycle.run.ok, cycle.run.error
        assert verify(auditor).ok
