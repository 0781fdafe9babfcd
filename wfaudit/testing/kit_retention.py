"""The conformance kit for :class:`~wfaudit_hookspecs.retention.StoreRetention`:
what retention sweeps, legal holds, archives and restores need of a store.

Subclass :class:`StoreRetentionConformance` and override its ``store`` fixture
to return a fresh, empty store of your backend (as for
:class:`~wfaudit.testing.StoreConformance`). The kit writes no archive objects:
it records archive records for keys of its own, as a sweep does after writing
the object.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import attrs
import pytest

from wfaudit.retention.steps import (
    add_hold,
    apply_steps,
    archived_event_data,
    delete_snapshot,
    expire_archive,
    record_archive,
    release_hold,
    restore_snapshot,
    set_archive_retention,
)
from wfaudit_hookspecs import (
    EventKind,
    InvalidRequest,
    SnapshotNotFound,
    SnapshotRecord,
    Status,
    Store,
    StoreError,
    StoreHistory,
    TriggerKind,
)
from wfaudit_hookspecs.retention import (
    ArchiveFilter,
    ArchiveRecord,
    ArchiveRetention,
    HoldScope,
    LegalHold,
    RetentionRun,
    RetentionWork,
    StoredArchive,
    StoreRetention,
    SweepBusy,
    SweepProgress,
    SweepStep,
)

from .kit_store import make_record

__all__ = ["StoreRetentionConformance", "kit_archive_record"]

_AT = dt.datetime(2026, 4, 1, 12, 0, tzinfo=dt.UTC)


def kit_archive_record(store: Any, snapshot_id: str, *, key: str | None = None) -> ArchiveRecord:
    """An archive record of a stored snapshot, as a sweep makes it after writing
    the object (the kit names a key of its own and writes no object)."""
    exported = store.export_snapshot(snapshot_id)
    row = exported.row
    candidate = store.get_candidate(snapshot_id)
    assert candidate is not None, f"get_candidate does not find stored snapshot {snapshot_id}"
    return ArchiveRecord(
        snapshot_id=snapshot_id,
        tenant=candidate.tenant,
        workflow_id=candidate.workflow_id,
        workflow_type=candidate.workflow_type,
        pipeline_id=candidate.pipeline_id,
        status=str(row["status"]),
        created_on=candidate.created_on,
        archived_on=_AT,
        archive_url="file:///kit-archive",
        object_key=key or f"kit/{snapshot_id}.wfa",
        object_sha256="a" * 64,
        object_size=100,
        content_hash=candidate.content_hash,
        record_digest=exported.record_digest,
        labels=dict(candidate.labels),
        expires_on=None,
        retention_reason=ArchiveRetention.TTL,
    )


def _kinds(store: Any, subject: str) -> list[str]:
    return [event.kind for event in store.list_events(subject=subject, limit=1000)]


class _KitAbort(Exception):
    """Raised by the kit inside a unit of work, to see it rolled back."""


def _save(store: Any, *records: tuple[SnapshotRecord, Any]) -> None:
    for record, blob in records:
        store.save(record, blob)


def _retrigger(of: SnapshotRecord, workflow_id: str) -> tuple[SnapshotRecord, Any]:
    record, blob = make_record(workflow_id, content={"retrigger": workflow_id}, minutes=5)
    return attrs.evolve(record, parent=of.id, trigger_kind=TriggerKind.RETRY), blob


class StoreRetentionConformance:
    """Candidates, references, legal holds, archive records, deletion, restore,
    orphans, sweeps and their lock, each change on the audit trail, deletion never
    of what a hold or a reference protects. Override :meth:`store`."""

    @pytest.fixture
    def store(self) -> Store:
        """A fresh, empty store. Override this fixture in your subclass."""
        pytest.fail("override the `store` fixture to return a fresh store of your backend")

    def test_retention_implements_the_protocol(self, store: Any) -> None:
        assert isinstance(store, StoreRetention), (
            "the store lacks methods of wfaudit_hookspecs.retention.StoreRetention"
        )

    # -- reading for a sweep ----------------------------------------------------------

    def test_retention_candidates_are_paged_newest_id_first(self, store: Any) -> None:
        records = [make_record(i, content={"i": i}, minutes=i) for i in range(7)]
        _save(store, *records)
        other, other_blob = make_record(99, tenant="team-b")
        _save(store, (other, other_blob))
        ids = sorted((r.id for r, _ in records), reverse=True)
        listed = [c.id for c in store.iter_candidates(tenant=None, batch=2)]
        assert listed == sorted([*ids, other.id], reverse=True), (
            "iter_candidates must yield every snapshot once, newest id first, across pages"
        )
        mine = [c.id for c in store.iter_candidates(tenant="team-b")]
        assert mine == [other.id], "iter_candidates(tenant=...) shows other tenants' snapshots"
        every = sorted([*ids, other.id], reverse=True)
        after = [c.id for c in store.iter_candidates(before_id=ids[2], batch=3)]
        assert after == [i for i in every if i < ids[2]], (
            "iter_candidates(before_id=X) must start after X (exclusive)"
        )
        assert store.count_snapshots() == 8 and store.count_snapshots(tenant="team-b") == 1
        first = store.get_candidate(records[0][0].id)
        assert first is not None, "get_candidate does not find a stored snapshot"
        assert (first.workflow_id, first.pipeline_id, first.status) == ("0", "7", "triggered")
        assert dict(first.labels) == {"app": "payments", "env": "prod"}
        assert (first.archived, first.restored_on, first.parent) == (False, None, None)
        assert store.get_candidate(records[0][0].id, tenant="team-b") is None
        assert store.get_candidate("nope") is None

    def test_retention_references_are_retriggers_and_tags(self, store: Any) -> None:
        parent, blob = make_record(1)
        child, child_blob = _retrigger(parent, "2")
        _save(store, (parent, blob), (child, child_blob))
        assert [c.id for c in store.children(parent.id)] == [child.id], (
            "children() must list the snapshots whose parent is the snapshot"
        )
        assert store.children(child.id) == []
        assert store.references(parent.id) == [f"retrigger {child.id}"], (
            "references() must name a retrigger as `retrigger <id>`"
        )
        assert store.references(child.id) == []
        references = store.references
        if not isinstance(store, StoreHistory):
            return  # no tags to reference it
        store.add_tag(snapshot_id=child.id, name="baseline", tenant=None)
        assert references(child.id) == ["tag baseline"], (
            "references() must name a tag as `tag <name>`"
        )

    def test_retention_knows_its_snapshot_ids_even_when_deleted(self, store: Any) -> None:
        a, blob_a = make_record(1)
        b, blob_b = make_record(2, content={"i": 2}, tenant="team-b")
        _save(store, (a, blob_a), (b, blob_b))
        done = delete_snapshot(store, a.id, require_archive=False, reason={}, by="kit")
        assert done.deleted
        assert store.known_snapshot_ids([a.id, b.id, "01NOTASNAPSHOT"]) == {a.id, b.id}, (
            "known_snapshot_ids must know stored snapshots and deleted ones (their events stay)"
        )
        assert store.known_snapshot_ids([a.id, b.id], tenant="team-b") == {b.id}
        assert store.known_snapshot_ids([]) == set()

    # -- legal holds ------------------------------------------------------------------

    def test_retention_holds_are_set_listed_and_released(self, store: Any) -> None:
        record, blob = make_record(1, tenant="team-a")
        _save(store, (record, blob))
        held = add_hold(
            store,
            scope=HoldScope.SNAPSHOT,
            target=record.id,
            tenant=None,
            reason="case 7",
            by="ana",
        )
        assert (held.scope, held.target, held.tenant) == ("snapshot", record.id, "team-a"), (
            "a snapshot hold takes its snapshot's tenant"
        )
        assert held.active and held.created_by == "ana"
        selector = add_hold(
            store,
            scope=HoldScope.SELECTOR,
            target=" env = prod ,app=x",
            tenant="team-a",
            reason=None,
            by=None,
        )
        assert selector.target == "app=x,env=prod", "a selector hold is stored normalised"
        assert [h.id for h in store.list_holds(tenant="team-a")] == [held.id, selector.id]
        assert EventKind.HOLD_SET in _kinds(store, record.id), (
            "a snapshot hold appends legal_hold.set on the snapshot"
        )
        released = release_hold(store, held.id, tenant="team-a", reason="closed", by="bo")
        assert not released.active and released.released_by == "bo"
        assert released.release_reason == "closed"
        assert [h.id for h in store.list_holds(tenant="team-a")] == [selector.id], (
            "list_holds lists only active holds by default"
        )
        everything = store.list_holds(tenant="team-a", active=False)
        assert [h.id for h in everything] == [held.id, selector.id]
        assert _kinds(store, record.id)[-1] == EventKind.HOLD_RELEASED
        with pytest.raises(InvalidRequest):
            release_hold(store, held.id, tenant=None, reason=None, by=None)
        with pytest.raises(SnapshotNotFound):
            release_hold(store, "hold-nope", tenant=None, reason=None, by=None)
        for scope, target in (("cabinet", "x"), (HoldScope.PIPELINE, " "), ("selector", "a")):
            with pytest.raises(InvalidRequest):
                add_hold(store, scope=scope, target=target, tenant=None, reason=None, by=None)
        with pytest.raises(SnapshotNotFound):
            add_hold(store, scope="snapshot", target="nope", tenant=None, reason=None, by=None)

    # -- deletion -----------------------------------------------------------------------

    def test_retention_deletes_a_snapshot_and_keeps_its_events(self, store: Any) -> None:
        record, blob = make_record(1)
        sharing, same_blob = make_record(2)  # same content: the blob is shared
        _save(store, (record, blob), (sharing, same_blob))
        done = delete_snapshot(
            store, record.id, require_archive=False, reason={"rule": "kit"}, by="kit"
        )
        assert done.deleted and done.blocked is None, f"an unprotected delete failed: {done}"
        assert done.blobs_deleted == (), "a blob another snapshot uses was deleted"
        assert store.get_record_by_id(record.id) is None, "the deleted row is still there"
        assert store.get_blob(record.content_hash) is not None
        kinds = _kinds(store, record.id)
        assert kinds[0] == EventKind.AUDITED and kinds[-1] == EventKind.DELETED, (
            f"deleting keeps the snapshot's events and appends snapshot.deleted: {kinds}"
        )
        deleted = store.list_events(subject=record.id)[-1]
        assert deleted.data.get("rule") == "kit" and deleted.actor == "kit", (
            "the snapshot.deleted event carries the reason given and who deleted"
        )
        last = delete_snapshot(store, sharing.id, require_archive=False, reason={}, by=None)
        assert last.blobs_deleted == (record.content_hash,), (
            "deleting the last snapshot of a blob must delete the blob too"
        )
        assert store.get_blob(record.content_hash) is None
        again = delete_snapshot(store, sharing.id, require_archive=False, reason={}, by=None)
        assert not again.deleted and again.blocked is None, "a gone snapshot is not deleted twice"
        assert store.get_record(workflow_id="1", workflow_type="CI") is None
        fresh, fresh_blob = make_record(1)
        assert store.save(fresh, fresh_blob).created, (
            "a deleted run can be audited again (its run key is free)"
        )

    def test_retention_never_deletes_what_a_hold_protects(self, store: Any) -> None:
        a, blob_a = make_record(1, content={"i": 1})
        b, blob_b = make_record(2, content={"i": 2}, pipeline_id="8")
        c, blob_c = make_record(3, content={"i": 3}, pipeline_id="9")
        _save(store, (a, blob_a), (b, blob_b), (c, blob_c))
        holds = [
            add_hold(store, scope="snapshot", target=a.id, tenant=None, reason=None, by=None),
            add_hold(store, scope="pipeline", target="8", tenant=None, reason=None, by=None),
            add_hold(store, scope="selector", target="env=prod", tenant=None, reason=None, by=None),
        ]
        for record in (a, b, c):
            done = delete_snapshot(store, record.id, require_archive=False, reason={}, by=None)
            assert not done.deleted, f"a held snapshot ({record.workflow_id}) was deleted"
            assert done.blocked is not None and done.blocked.startswith("legal hold "), (
                f"a hold's refusal must say `legal hold <id>`, not {done.blocked!r}"
            )
        for hold in holds:
            release_hold(store, hold.id, tenant=None, reason=None, by=None)
        done = delete_snapshot(store, a.id, require_archive=False, reason={}, by=None)
        assert done.deleted, f"a released hold still blocks: {done.blocked}"

    def test_retention_holds_keep_to_their_tenant(self, store: Any) -> None:
        a, blob_a = make_record(1, tenant="team-a")
        b, blob_b = make_record(1, tenant="team-b")
        _save(store, (a, blob_a), (b, blob_b))
        add_hold(store, scope="pipeline", target="7", tenant="team-a", reason=None, by=None)
        assert delete_snapshot(store, b.id, require_archive=False, reason={}, by=None).deleted, (
            "a hold of tenant A blocked the deletion of tenant B's snapshot"
        )
        assert not delete_snapshot(store, a.id, require_archive=False, reason={}, by=None).deleted

    def test_retention_never_deletes_a_referenced_snapshot(self, store: Any) -> None:
        parent, blob = make_record(1)
        child, child_blob = _retrigger(parent, "2")
        _save(store, (parent, blob), (child, child_blob))
        done = delete_snapshot(store, parent.id, require_archive=False, reason={}, by=None)
        assert not done.deleted, "a snapshot a retrigger references was deleted"
        assert done.blocked == f"retrigger {child.id} references it", done.blocked
        steps = [
            SweepStep(snapshot_id=child.id, delete=True),
            SweepStep(snapshot_id=parent.id, delete=True),
        ]
        results = apply_steps(store, steps, require_archive=False, by="kit")
        assert [r.outcome.deleted for r in results] == [True, True], (
            "apply_steps must run steps in order: the retrigger deleted first no longer "
            f"blocks its parent ({[r.outcome.blocked for r in results]})"
        )

    def test_retention_keeps_the_base_of_a_delta(self, store: Any) -> None:
        from wfaudit import codec
        from wfaudit_hookspecs import Blob, canonical_json

        content = {"i": 1, "pad": "x" * 300}
        base_record, whole = make_record(1, content=content)
        raw = canonical_json({"i": 2, "pad": "x" * 300})
        delta_record, _ = make_record(2, content={"i": 2, "pad": "x" * 300})
        delta = Blob(
            content_hash=delta_record.content_hash,
            codec=codec.ZSTD_DELTA,
            raw_size=len(raw),
            data=codec.compress_against(raw, codec.WholeBase.of(whole)),
            base=whole.content_hash,
        )
        _save(store, (base_record, whole), (delta_record, delta))
        done = delete_snapshot(store, base_record.id, require_archive=False, reason={}, by=None)
        assert done.deleted and done.blobs_deleted == (), (
            "a blob that a stored delta is based on must stay when its snapshot goes"
        )
        assert store.get_blob(whole.content_hash) is not None
        assert list(store.orphan_blobs()) == [], "a delta's base is not an orphan"
        assert not store.delete_orphan_blob(whole.content_hash)
        last = delete_snapshot(store, delta_record.id, require_archive=False, reason={}, by=None)
        assert set(last.blobs_deleted) == {delta.content_hash, whole.content_hash}, (
            "deleting the last snapshot of a delta must delete the delta, then its unused base"
        )

    def test_retention_orphan_primitives_spare_used_blobs(self, store: Any) -> None:
        record, blob = make_record(1)
        _save(store, (record, blob))
        assert list(store.orphan_blobs(batch=1)) == [], "a blob a snapshot uses is no orphan"
        assert store.delete_orphan_blob(record.content_hash) is False, (
            "delete_orphan_blob deleted a blob a snapshot uses"
        )
        assert store.delete_orphan_blob("0" * 64) is False
        assert store.get_blob(record.content_hash) is not None
        assert store.delete_orphan_manifests(batch=1) == 0, (
            "a manifest a snapshot names is no orphan"
        )

    # -- archives and restore -------------------------------------------------------------

    def test_retention_archive_records(self, store: Any) -> None:
        a, blob_a = make_record(1, content={"i": 1}, minutes=1)
        b, blob_b = make_record(2, content={"i": 2}, minutes=2, pipeline_id="8")
        _save(store, (a, blob_a), (b, blob_b))
        exported = store.export_snapshot(a.id)
        assert exported.blob.content_hash == a.content_hash and exported.base is None
        assert exported.row["id"] == a.id and exported.row["status"] == "triggered", (
            "export_snapshot's row holds the snapshot's columns (id, status, ...)"
        )
        json.dumps(dict(exported.row))  # JSON data, or this raises
        with pytest.raises(SnapshotNotFound):
            store.export_snapshot("nope")
        record_a = kit_archive_record(store, a.id)
        assert record_archive(store, record_a, by="kit") is True
        assert record_archive(store, record_a, by="kit") is False, (
            "recording an archive twice must be a no-op returning False"
        )
        assert _kinds(store, a.id).count(EventKind.ARCHIVED) == 1
        with pytest.raises(SnapshotNotFound):
            record_archive(store, attrs.evolve(record_a, snapshot_id="nope"), by=None)
        got = store.get_archive(a.id)
        assert got is not None, "get_archive does not find a recorded archive"
        assert (got.object_key, got.record_digest, got.present) == (
            record_a.object_key,
            record_a.record_digest,
            True,
        )
        assert got.started_on is not None, "an archive record knows when its run started"
        assert store.get_archive(b.id) is None
        assert store.get_archive(a.id, tenant="team-x") is None
        assert store.get_candidate(a.id).archived, "a candidate knows it is archived"
        record_archive(
            store,
            attrs.evolve(kit_archive_record(store, b.id), archived_on=_AT + dt.timedelta(hours=1)),
            by=None,
        )
        listed = [r.snapshot_id for r in store.iter_archives(batch=1)]
        assert listed == [b.id, a.id], "iter_archives lists newest archive first, across pages"
        delete_snapshot(store, a.id, require_archive=True, reason={}, by=None)
        assert [r.snapshot_id for r in store.iter_archives(present=False)] == [a.id], (
            "iter_archives(present=False) lists the archives whose row was deleted"
        )
        assert [r.snapshot_id for r in store.iter_archives(present=True)] == [b.id]
        assert [
            r.snapshot_id for r in store.iter_archives(where=ArchiveFilter(pipeline_id="8"))
        ] == [b.id]
        labelled = ArchiveFilter(labels=(("env", "prod"),))
        assert len(list(store.iter_archives(where=labelled))) == 2
        page = ArchiveFilter(before=b.id)
        assert [r.snapshot_id for r in store.iter_archives(where=page)] == [a.id]
        with pytest.raises(SnapshotNotFound):
            list(store.iter_archives(where=ArchiveFilter(before="nope")))
        assert store.archive_totals() == (2, 200)
        assert store.archive_totals(tenant="team-x") == (0, 0)
        assert store.known_archive_keys([record_a.object_key, "kit/other.wfa"]) == {
            record_a.object_key
        }, "known_archive_keys must know the keys its archive records name"

    def test_retention_requires_an_archive_when_asked(self, store: Any) -> None:
        record, blob = make_record(1)
        _save(store, (record, blob))
        done = delete_snapshot(store, record.id, require_archive=True, reason={}, by=None)
        assert not done.deleted and done.blocked == "not archived", done.blocked
        record_archive(store, kit_archive_record(store, record.id), by=None)
        store.set_status(
            workflow_id="1",
            workflow_type="CI",
            tenant=None,
            status=Status.FAILED,
            reason=None,
            by=None,
        )
        done = delete_snapshot(store, record.id, require_archive=True, reason={}, by=None)
        assert not done.deleted, "a snapshot whose status changed after archiving was deleted"
        assert done.blocked == "its status changed after it was archived", done.blocked

    def test_retention_restores_an_archived_snapshot(self, store: Any) -> None:
        record, blob = make_record(1)
        _save(store, (record, blob))
        exported = store.export_snapshot(record.id)
        row = json.loads(json.dumps(dict(exported.row)))  # as an archive object holds it
        record_archive(store, kit_archive_record(store, record.id), by=None)
        assert (
            restore_snapshot(store, row, blob, record_digest=exported.record_digest, by=None)
            is False
        ), "restoring a snapshot that is in the store must be a no-op returning False"
        assert delete_snapshot(store, record.id, require_archive=True, reason={}, by=None).deleted
        with pytest.raises(StoreError):
            restore_snapshot(store, row, blob, record_digest="0" * 64, by=None)
        tampered = {**row, "pipeline_id": "666"}
        with pytest.raises(StoreError):
            restore_snapshot(store, tampered, blob, record_digest=exported.record_digest, by=None)
        assert restore_snapshot(store, row, blob, record_digest=exported.record_digest, by="ana")
        back = store.get_record_by_id(record.id)
        assert back == record, "the restored record differs from the one archived"
        stored = store.get_blob(record.content_hash)
        assert stored is not None and stored.data == blob.data, "the restore lost the blob"
        assert _kinds(store, record.id)[-1] == EventKind.RESTORED
        candidate = store.get_candidate(record.id)
        assert candidate is not None and candidate.restored_on is not None, (
            "a restored snapshot's candidate says when it was restored"
        )
        archive = store.get_archive(record.id)
        assert archive is not None and archive.present and archive.restored_on is not None

    def test_retention_archive_retention_and_expiry(self, store: Any) -> None:
        record, blob = make_record(1)
        _save(store, (record, blob))
        archived = kit_archive_record(store, record.id)
        record_archive(store, archived, by=None)
        when = _AT + dt.timedelta(days=30)
        kept = set_archive_retention(
            store,
            record.id,
            expires_on=when,
            reason=ArchiveRetention.MANUAL,
            by="ana",
            note="audit",
        )
        assert (kept.expires_on, kept.retention_reason) == (when, "manual")
        assert _kinds(store, record.id)[-1] == EventKind.ARCHIVE_RETENTION_SET
        set_archive_retention(
            store, record.id, expires_on=None, reason=ArchiveRetention.TTL, by=None, event=False
        )
        assert _kinds(store, record.id)[-1] == EventKind.ARCHIVE_RETENTION_SET, (
            "event=False must not append an event"
        )
        with pytest.raises(InvalidRequest):
            set_archive_retention(store, record.id, expires_on=None, reason="whim", by=None)
        with pytest.raises(SnapshotNotFound):
            set_archive_retention(store, "nope", expires_on=None, reason="ttl", by=None)
        key = archived.object_key
        assert expire_archive(store, record.id, object_key=key, by=None, data={}) == (
            "the snapshot is in the store"
        ), "an archive whose snapshot is in the store must not expire"
        delete_snapshot(store, record.id, require_archive=True, reason={}, by=None)
        hold = add_hold(
            store, scope="snapshot", target=record.id, tenant=None, reason=None, by=None
        )
        why = expire_archive(store, record.id, object_key=key, by=None, data={})
        assert why == f"legal hold {hold.id}", f"a held archive expired (or said {why!r})"
        release_hold(store, hold.id, tenant=None, reason=None, by=None)
        assert expire_archive(store, record.id, object_key="kit/other", by=None, data={}) == (
            "its archive record changed"
        )
        assert (
            expire_archive(store, record.id, object_key=key, by="kit", data={"why": "ttl"}) is None
        )
        assert store.get_archive(record.id) is None, "an expired archive record is still there"
        assert _kinds(store, record.id)[-1] == EventKind.ARCHIVE_EXPIRED
        assert store.archive_totals() == (0, 0)
        assert store.known_archive_keys([key], snapshot_ids=[record.id]) == set(), (
            "an expired archive's object is an orphan"
        )

    def test_retention_known_archive_keys_trust_the_trail(self, store: Any) -> None:
        record, blob = make_record(1)
        _save(store, (record, blob))
        archived = kit_archive_record(store, record.id)
        record_archive(store, archived, by=None)
        assert store.known_archive_keys(["kit/x"], snapshot_ids=[record.id]) == set()
        assert store.known_archive_keys([archived.object_key], snapshot_ids=[record.id]) == {
            archived.object_key
        }

    # -- runs and sweeps ------------------------------------------------------------------

    def test_retention_runs_are_recorded(self, store: Any) -> None:
        assert store.last_run() is None
        run = RetentionRun(
            id="run-1", tenant=None, started_on=_AT, finished_on=None, ok=False, owner="kit"
        )
        store.record_run(run)
        assert store.last_run() is None, "an unfinished run is not the last run"
        store.record_run(attrs.evolve(run, finished_on=_AT, ok=True, counts={"deleted": 2}))
        store.record_run(
            RetentionRun(
                id="run-2",
                tenant=None,
                started_on=_AT,
                finished_on=_AT + dt.timedelta(hours=1),
                ok=False,
                owner="kit",
                error="boom",
            )
        )
        last = store.last_run()
        assert last is not None and last.id == "run-1", "last_run() is the latest successful run"
        assert dict(last.counts) == {"deleted": 2}, "record_run must update a run in place"
        failed = store.last_run(ok=False)
        assert failed is not None and failed.error == "boom"
        assert store.last_run(ok=None).id == "run-2"
        assert store.last_run(tenant="team-a") is None, "a tenant's runs are its own scope"

    def test_retention_sweeps_resume_with_their_counts(self, store: Any) -> None:
        records = [make_record(i, content={"i": i}) for i in range(3)]
        _save(store, *records)
        sweep = store.open_sweep(tenant=None, as_of=_AT)
        assert not sweep.resumed and sweep.cursor is None and sweep.as_of == _AT
        ids = sorted((r.id for r, _ in records), reverse=True)
        steps = [SweepStep(snapshot_id=i, delete=True, reason={"rule": "kit"}) for i in ids[:2]]
        progress = SweepProgress(sweep_id=sweep.id, cursor=ids[1], counts={"seen": 2})
        done = apply_steps(store, steps, require_archive=False, by="kit", progress=progress)
        assert [d.outcome.deleted for d in done] == [True, True]
        saved = store.get_sweep(sweep.id)
        assert saved is not None and saved.cursor == ids[1], (
            "apply_steps(progress=...) must save the sweep's cursor in the same transaction"
        )
        assert dict(saved.counts) == {
            "seen": 2,
            "done_archived": 0,
            "done_deleted": 2,
            "done_blocked": 0,
        }, f"the saved counts must add the batch's step_counts: {dict(saved.counts)}"
        resumed = store.open_sweep(tenant=None, as_of=_AT + dt.timedelta(days=1))
        assert resumed.resumed and resumed.id == sweep.id, "an unfinished sweep must be resumed"
        assert resumed.as_of == _AT, "a resumed sweep keeps the time it judges ages at"
        other = store.open_sweep(tenant="team-a", as_of=_AT)
        assert other.id != sweep.id, "each tenant scope has its own sweep"
        store.save_sweep(sweep.id, cursor=ids[2], counts={"seen": 3}, finished=True)
        finished = store.get_sweep(sweep.id)
        assert finished is not None and finished.finished_on is not None
        assert dict(finished.counts) == {"seen": 3}
        assert store.open_sweep(tenant=None, as_of=_AT).id != sweep.id, (
            "a finished sweep is not resumed"
        )
        assert store.get_sweep("sweep-nope") is None

    def test_retention_apply_steps_archives_then_deletes(self, store: Any) -> None:
        a, blob_a = make_record(1, content={"i": 1})
        b, blob_b = make_record(2, content={"i": 2})
        _save(store, (a, blob_a), (b, blob_b))
        steps = [
            SweepStep(snapshot_id=a.id, archive=kit_archive_record(store, a.id), delete=True),
            SweepStep(snapshot_id=b.id, delete=True),
            SweepStep(snapshot_id="nope", delete=True),
        ]
        done = apply_steps(store, steps, require_archive=True, by="kit")
        assert [d.snapshot_id for d in done] == [a.id, b.id, "nope"]
        assert (done[0].archived, done[0].outcome.deleted) == (True, True), (
            "a step's archive is recorded before its deletion is judged"
        )
        assert (done[1].archived, done[1].outcome.blocked) == (None, "not archived")
        assert (done[2].archived, done[2].outcome.deleted, done[2].outcome.blocked) == (
            None,
            False,
            None,
        ), "a step on a missing snapshot does nothing and is not blocked"
        assert apply_steps(store, [], require_archive=True, by=None) == []

    def test_retention_work_offers_the_row_primitives(self, store: Any) -> None:
        a, blob_a = make_record(1, content={"i": 1})
        a = attrs.evolve(a, labels={"env": "prod"})
        child = _retrigger(a, "2")
        other, blob_other = make_record(3, content={"i": 3}, tenant="team-a")
        _save(store, (a, blob_a), child, (other, blob_other))
        hold = add_hold(
            store, scope=HoldScope.PIPELINE, target="7", tenant=None, reason=None, by=None
        )
        released = add_hold(
            store, scope=HoldScope.SELECTOR, target="env=prod", tenant=None, reason=None, by=None
        )
        release_hold(store, released.id, tenant=None, reason=None, by=None)
        team_hold = add_hold(
            store, scope=HoldScope.PIPELINE, target="7", tenant="team-a", reason=None, by=None
        )
        archive = kit_archive_record(store, a.id)

        def work(unit: RetentionWork) -> str:
            assert isinstance(unit, RetentionWork), "retention_work must pass a RetentionWork"
            locked = unit.lock_snapshots([a.id, "nope", a.id])
            assert set(locked) == {a.id}, "lock_snapshots returns the rows in the store, by id"
            mine = locked[a.id]
            assert (mine.tenant, mine.pipeline_id, mine.content_hash) == (
                None,
                "7",
                a.content_hash,
            )
            assert (mine.status, dict(mine.labels)) == (a.status.value, {"env": "prod"})
            assert [h.id for h in unit.active_holds(None)] == [hold.id], (
                "active_holds(tenant) lists the holds in force in that tenant only"
            )
            assert [h.id for h in unit.active_holds("team-a")] == [team_hold.id]
            assert unit.references(a.id, limit=1) == [f"retrigger {child[0].id}"]
            assert unit.references(child[0].id, limit=1) == []
            assert unit.stored_archive(a.id) is None
            unit.insert_archive(archive, mine)
            assert unit.stored_archive(a.id) == StoredArchive(
                object_key=archive.object_key, status=archive.status
            ), "stored_archive sees the archive inserted in the same unit of work"
            unit.append_event(
                tenant=None,
                subject=a.id,
                kind=EventKind.ARCHIVED,
                at=_AT,
                actor="kit",
                data=archived_event_data(archive),
            )
            kid = unit.lock_snapshots([child[0].id])[child[0].id]
            assert unit.delete_snapshot(kid) == (child[0].content_hash,), (
                "delete_snapshot drops the blob nothing needs any more and says so"
            )
            return "done"

        assert store.retention_work(work) == "done", "retention_work returns what work returns"
        stored = store.get_archive(a.id)
        assert stored is not None and stored.tenant is None
        assert dict(stored.labels or {}) == {"env": "prod"}, (
            "insert_archive stores the snapshot's labels with the record"
        )
        assert store.get_record_by_id(child[0].id) is None
        assert store.get_blob(child[0].content_hash) is None

        def archive_work(unit: RetentionWork) -> None:
            assert unit.lock_archive("nope") is None
            locked = unit.lock_archive(a.id)
            assert locked is not None and locked.object_key == archive.object_key
            assert locked.present, "lock_archive says whether the snapshot row is in the store"
            unit.delete_archive(a.id)
            assert unit.lock_archive(a.id) is None, "delete_archive deletes the record"
            raise _KitAbort

        with pytest.raises(_KitAbort):
            store.retention_work(archive_work)
        assert store.get_archive(a.id) is not None, "a failed unit of work deleted an archive"
        assert _kinds(store, a.id)[-1] == EventKind.ARCHIVED

    def test_retention_work_offers_the_hold_and_archive_date_primitives(self, store: Any) -> None:
        a, blob_a = make_record(1, content={"i": 1}, tenant="team-a")
        gone, blob_gone = make_record(2, content={"i": 2})
        _save(store, (a, blob_a), (gone, blob_gone))
        archive = kit_archive_record(store, gone.id)
        assert record_archive(store, archive, by=None)
        delete_snapshot(store, gone.id, require_archive=True, reason={}, by=None)
        hold = LegalHold(
            id="hold-kit-1",
            scope=HoldScope.PIPELINE,
            target="7",
            tenant="team-a",
            reason="case 9",
            created_on=_AT,
            created_by="ana",
        )
        until = _AT + dt.timedelta(days=30)

        def work(unit: RetentionWork) -> None:
            assert unit.snapshot_tenants(a.id) == ["team-a"], (
                "snapshot_tenants gives the row's tenant"
            )
            assert unit.snapshot_tenants(gone.id) == [None], (
                "snapshot_tenants gives a deleted snapshot's archive record's tenant"
            )
            assert unit.snapshot_tenants("nope") == []
            assert unit.lock_hold(hold.id) is None
            unit.insert_hold(hold)
            assert unit.lock_hold(hold.id) == hold, "lock_hold returns the hold as stored"
            released = attrs.evolve(
                hold, released_on=until, released_by="bo", release_reason="closed"
            )
            unit.update_hold(released)
            assert unit.lock_hold(hold.id) == released, "update_hold stores the release"
            unit.update_archive(
                gone.id,
                expires_on=until,
                retention_reason=ArchiveRetention.MANUAL,
                labels={"env": "prod"},
            )
            dated = unit.lock_archive(gone.id)
            assert dated is not None
            assert (dated.expires_on, dated.retention_reason) == (until, "manual")
            assert dict(dated.labels or {}) == {"env": "prod"}
            unit.update_archive(
                gone.id, expires_on=None, retention_reason=ArchiveRetention.TTL, labels=None
            )
            kept = unit.lock_archive(gone.id)
            assert kept is not None and kept.expires_on is None
            assert dict(kept.labels or {}) == {"env": "prod"}, (
                "update_archive without labels keeps the record's labels"
            )
            raise _KitAbort

        before = store.get_archive(gone.id)
        with pytest.raises(_KitAbort):
            store.retention_work(work)
        assert store.list_holds(active=False) == [], "a failed unit of work kept a hold"
        assert store.get_archive(gone.id) == before, "a failed unit of work dated an archive"

        def commit(unit: RetentionWork) -> None:
            unit.insert_hold(hold)
            unit.update_archive(
                gone.id, expires_on=until, retention_reason=ArchiveRetention.MANUAL, labels=None
            )

        store.retention_work(commit)
        assert [h.id for h in store.list_holds(tenant="team-a")] == [hold.id]
        stored = store.get_archive(gone.id)
        assert stored is not None and stored.expires_on == until

        def release(unit: RetentionWork) -> None:
            unit.update_hold(attrs.evolve(hold, released_on=until, released_by="bo"))
            raise _KitAbort

        with pytest.raises(_KitAbort):
            store.retention_work(release)
        assert [h.id for h in store.list_holds(tenant="team-a")] == [hold.id], (
            "a failed unit of work released a hold"
        )

    def test_retention_work_offers_the_restore_primitives(self, store: Any) -> None:
        record, blob = make_record(1, tenant="team-a")
        _save(store, (record, blob))
        exported = store.export_snapshot(record.id)
        assert record_archive(store, kit_archive_record(store, record.id), by=None)
        assert delete_snapshot(store, record.id, require_archive=True, reason={}, by=None).deleted
        row = dict(exported.row)

        def work(unit: RetentionWork) -> None:
            read = unit.read_row(row)
            assert (read.id, read.tenant, read.content_hash) == (
                record.id,
                "team-a",
                record.content_hash,
            ), "read_row reads the row's id, tenant and content hash"
            assert read.record_digest == exported.record_digest, (
                "read_row digests the row as export_snapshot did"
            )
            assert read.state["status"] == record.status.value
            assert unit.sealed_digest(record.id) == exported.record_digest, (
                "sealed_digest gives the digest the row was sealed with"
            )
            assert unit.sealed_digest("nope") is None
            assert not unit.lock_snapshots([record.id])
            unit.insert_row(row, exported.blob, restored_on=_AT)
            assert set(unit.lock_snapshots([record.id])) == {record.id}, (
                "insert_row puts the row back, seen in the same unit of work"
            )
            raise _KitAbort

        with pytest.raises(_KitAbort):
            store.retention_work(work)
        assert store.get_record_by_id(record.id) is None, "a failed unit of work restored a row"
        assert store.get_blob(record.content_hash) is None, "a failed unit of work kept a blob"
        after = store.get_archive(record.id)
        assert after is not None and after.restored_on is None and not after.present
        lacking = {name: value for name, value in row.items() if name != "workflow_id"}
        with pytest.raises(StoreError):
            store.retention_work(lambda unit: unit.read_row(lacking))

        def commit(unit: RetentionWork) -> None:
            unit.insert_row(row, exported.blob, restored_on=_AT)

        store.retention_work(commit)
        assert store.get_record_by_id(record.id) == record, "insert_row changed the row"
        back = store.get_archive(record.id)
        assert back is not None and back.present and back.restored_on == _AT, (
            "insert_row marks the archive record restored"
        )

    def test_retention_work_is_one_transaction(self, store: Any) -> None:
        a, blob_a = make_record(1, content={"i": 1})
        _save(store, (a, blob_a))
        before = _kinds(store, a.id)
        archive = kit_archive_record(store, a.id)
        sweep = store.open_sweep(tenant=None, as_of=_AT)

        def work(unit: RetentionWork) -> None:
            locked = unit.lock_snapshots([a.id])[a.id]
            unit.insert_archive(archive, locked)
            unit.delete_snapshot(locked)
            unit.append_event(
                tenant=None, subject=a.id, kind=EventKind.DELETED, at=_AT, actor=None, data={}
            )
            unit.save_sweep(sweep.id, cursor=a.id, counts={"seen": 1})
            raise _KitAbort

        with pytest.raises(_KitAbort):
            store.retention_work(work)
        assert store.get_record_by_id(a.id) is not None, "a failed unit of work deleted a row"
        assert store.get_blob(a.content_hash) is not None, "a failed unit of work deleted a blob"
        assert store.get_archive(a.id) is None, "a failed unit of work kept an archive record"
        assert _kinds(store, a.id) == before, "a failed unit of work appended an event"
        saved = store.get_sweep(sweep.id)
        assert saved is not None and saved.cursor is None and not dict(saved.counts), (
            "a failed unit of work saved the sweep's progress"
        )

    def test_retention_sweep_lock_is_exclusive(self, store: Any) -> None:
        with store.sweep_lock(owner="kit-1"):
            busy = None
            try:
                with store.sweep_lock(owner="kit-2"):
                    pass
            except SweepBusy as error:
                busy = error
            assert busy is not None, "a second sweep took the lock a first one holds"
        with store.sweep_lock(owner="kit-2"):
            pass  # released at the end of the block
